//! What the interactive sensors (SSH, Telnet) share: the configuration of the fake
//! host, and [`Honeypot`], the per-sensor state every connection uses — persona and
//! base image, credential policy, fetcher and artifact store, recordings, connection
//! limits, kept filesystems and counters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use hpti_core::event::Protocol;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::source::SourceError;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

use crate::fetch::{ArtifactStore, DiskQuota, FetchConfig, Fetcher};
use crate::policy::{CredentialPolicy, PolicyConfig};
use crate::recording::RecordingConfig;
use crate::shell::{BaseImage, FileSystem, Persona};
use crate::uploads::UploadMemory;

/// The fake host and its rules, shared by the SSH and Telnet sensors.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HoneypotConfig {
    /// The persona file (hostname, users, hardware figures). Relative paths resolve
    /// against the data directory; when the file does not exist a plausible persona is
    /// generated and written there, so every install differs and stays the same across
    /// restarts. Default `persona.toml`.
    pub persona: Option<PathBuf>,
    /// Which logins succeed.
    pub auth: PolicyConfig,
    /// Outbound fetches of `wget`, `curl`, `tftp`, `ftpget`.
    pub fetch: FetchConfig,
    /// Session recordings (asciicast v2).
    pub recording: RecordingConfig,
    /// Bounds against hostile clients.
    pub limits: SessionLimits,
    /// Keeping an attacker's fake filesystem between its sessions.
    pub keep_filesystem: KeepFilesystem,
}

impl HoneypotConfig {
    /// Checks what the sensors would refuse at start, without starting anything (for
    /// `hpti config check`): the credential rules (regexes, the userdb file) and the
    /// fetch allow list. The error names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        CredentialPolicy::new(self.auth.clone()).map_err(|e| {
            let key = if self.auth.userdb_file.is_some() {
                "honeypot.auth.userdb_file"
            } else {
                "honeypot.auth.userdb"
            };
            (key, e.to_string())
        })?;
        crate::fetch::check_allow(&self.fetch.allow)
            .map_err(|e| ("honeypot.fetch.allow", e.to_string()))?;
        Ok(())
    }
}

/// Source addresses whose upload budgets are remembered at once.
const MAX_UPLOAD_ADDRESSES: u64 = 100_000;

/// Bounds that keep the sensor up under hostile clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionLimits {
    /// Connections open at once; more are closed at once and counted.
    pub max_sessions: usize,
    /// Connections open at once from one source address.
    pub max_sessions_per_ip: usize,
    /// Authentication attempts per connection.
    pub max_auth_attempts: usize,
    /// Time to complete the handshake and log in.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// A connection with no input for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Longest a connection may last.
    #[serde(with = "humantime_serde")]
    pub max_session_time: Duration,
    /// Longest input line (longer input is cut).
    pub max_line_bytes: usize,
    /// Bytes one connection may upload (SFTP, SCP, FTP, HTTP), all its files and
    /// channels together: past it writes fail as on a full disk (and are counted as
    /// `upload_refused`), so a client opening many handles or channels cannot make the
    /// sensor hold more than this per connection.
    pub max_upload_bytes: u64,
    /// Bytes one source address may upload to the sensor within `upload_window`, all
    /// its connections together: past it the same refusal, so reconnecting does not
    /// reset the budget (the artifact store grows by at most this per address and
    /// window).
    pub max_upload_bytes_per_ip: u64,
    /// The window of `max_upload_bytes_per_ip`, from an address's first upload.
    #[serde(with = "humantime_serde")]
    pub upload_window: Duration,
    /// Bytes of uploads in progress held in memory by all connections of the sensor
    /// together; past it writes fail as on a full disk (`upload_refused`).
    pub max_upload_memory: u64,
    /// Session channels open at once on one connection, as OpenSSH's `MaxSessions`:
    /// more are refused as sshd refuses them (`channel_refused`).
    pub max_channels: usize,
    /// Port-forward requests recorded per connection: later ones are still refused,
    /// and only counted (`forward_unrecorded`).
    pub max_forward_requests: usize,
    /// Longest a session waits for the pipeline to take one of its events (a full
    /// queue: a store that is down, a full disk) before it goes on without it and
    /// counts it (`emit_dropped`). With a disk buffer, also the longest it waits for
    /// the event to be on disk before answering (`emit_late`: it is stored later).
    #[serde(with = "humantime_serde")]
    pub max_emit_wait: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_sessions: 10_000,
            max_sessions_per_ip: 32,
            max_auth_attempts: 6,
            login_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(300),
            max_session_time: Duration::from_secs(3600),
            max_line_bytes: 8192,
            max_upload_bytes: 64 * 1024 * 1024,
            max_upload_bytes_per_ip: 256 * 1024 * 1024,
            upload_window: Duration::from_secs(24 * 3600),
            max_upload_memory: 256 * 1024 * 1024,
            max_channels: 10,
            max_forward_requests: 32,
            max_emit_wait: Duration::from_secs(2),
        }
    }
}

/// Keeping a source address's fake filesystem from one session to its next (off by
/// default): the files a bot dropped are still there when it comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepFilesystem {
    /// Whether filesystems are kept.
    pub enabled: bool,
    /// A filesystem whose changes exceed this many bytes is not kept.
    pub max_bytes_per_ip: u64,
    /// Most addresses remembered (least recently used forgotten first).
    pub max_addresses: u64,
    /// How long a filesystem is remembered after its last session.
    #[serde(with = "humantime_serde")]
    pub keep_for: Duration,
}

impl Default for KeepFilesystem {
    fn default() -> Self {
        Self {
            enabled: false,
            max_bytes_per_ip: 4 * 1024 * 1024,
            max_addresses: 10_000,
            keep_for: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Counters of one sensor, created once (hot paths must not look labels up):
/// `hpti_events_total{stage="sensor", component=<sensor>, outcome=...}`.
#[derive(Clone)]
pub(crate) struct SensorCounters {
    pub connections: Counter,
    pub refused_capacity: Counter,
    pub refused_per_ip: Counter,
    pub bad_handshake: Counter,
    pub login_timeout: Counter,
    pub idle_timeout: Counter,
    pub session_timeout: Counter,
    pub too_many_auth: Counter,
    pub emit_failed: Counter,
    pub emit_dropped: Counter,
    pub emit_late: Counter,
    pub artifact_failed: Counter,
    pub artifact_quota: Counter,
    pub recording_failed: Counter,
    pub recording_quota: Counter,
    pub upload_refused: Counter,
    pub channel_refused: Counter,
    pub forward_unrecorded: Counter,
}

impl SensorCounters {
    fn new(metrics: &PipelineMetrics, sensor: &str) -> Self {
        let counter = |outcome: &str| metrics.counter("sensor", sensor, outcome);
        Self {
            connections: counter("connection"),
            refused_capacity: counter("refused_capacity"),
            refused_per_ip: counter("refused_per_ip"),
            bad_handshake: counter("bad_handshake"),
            login_timeout: counter("login_timeout"),
            idle_timeout: counter("idle_timeout"),
            session_timeout: counter("session_timeout"),
            too_many_auth: counter("too_many_auth"),
            emit_failed: counter("emit_failed"),
            emit_dropped: counter("emit_dropped"),
            emit_late: counter("emit_late"),
            artifact_failed: counter("artifact_failed"),
            artifact_quota: counter("artifact_quota"),
            recording_failed: counter("recording_failed"),
            recording_quota: counter("recording_quota"),
            upload_refused: counter("upload_refused"),
            channel_refused: counter("channel_refused"),
            forward_unrecorded: counter("forward_unrecorded"),
        }
    }
}

/// The state one sensor's connections share.
pub struct Honeypot {
    pub(crate) sensor: String,
    pub(crate) protocol: Protocol,
    pub(crate) persona: Arc<Persona>,
    pub(crate) base: Arc<BaseImage>,
    pub(crate) policy: CredentialPolicy,
    pub(crate) fetcher: Fetcher,
    pub(crate) artifacts: ArtifactStore,
    pub(crate) data_dir: PathBuf,
    pub(crate) recording: RecordingConfig,
    /// Shared by every recording of this sensor (`recording.max_total_bytes`).
    pub(crate) recording_quota: Arc<DiskQuota>,
    pub(crate) limits: SessionLimits,
    /// Uploads in progress, against `limits.max_upload_memory`.
    pub(crate) upload_memory: Arc<UploadMemory>,
    pub(crate) counters: SensorCounters,
    connections: Mutex<Connections>,
    kept: Option<moka::sync::Cache<IpAddr, FileSystem>>,
    /// Bytes each source address uploaded in its current window (bounded: the least
    /// recently used addresses are forgotten first).
    uploaded_by_ip: moka::sync::Cache<IpAddr, Arc<std::sync::atomic::AtomicU64>>,
    keep_max_bytes: u64,
}

impl std::fmt::Debug for Honeypot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Honeypot")
            .field("sensor", &self.sensor)
            .field("hostname", &self.persona.hostname)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Connections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused before anything else happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_sessions` connections are open.
    Capacity,
    /// `max_sessions_per_ip` connections from this address are open.
    PerAddress,
}

/// A connection's place in the limits; frees it when dropped.
pub struct ConnectionSlot {
    honeypot: Arc<Honeypot>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut connections) = self.honeypot.connections.lock() {
            connections.total = connections.total.saturating_sub(1);
            if let Some(count) = connections.per_ip.get_mut(&self.ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    connections.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

impl Honeypot {
    /// Builds the shared state: loads (or generates and saves) the persona, opens the
    /// artifact store under `<data_dir>/artifacts`, builds policy and fetcher.
    pub fn open(
        sensor: &str,
        protocol: Protocol,
        data_dir: &Path,
        config: &HoneypotConfig,
        metrics: &PipelineMetrics,
    ) -> Result<Arc<Self>, SourceError> {
        let persona_path = data_dir.join(
            config
                .persona
                .clone()
                .unwrap_or_else(|| PathBuf::from("persona.toml")),
        );
        let persona = Arc::new(load_or_create_persona(&persona_path)?);
        let base = BaseImage::new(&persona);
        let policy = CredentialPolicy::new(config.auth.clone())
            .map_err(|e| SourceError::new(format!("{sensor}: auth policy"), e))?;
        let counters = SensorCounters::new(metrics, sensor);
        let artifacts = ArtifactStore::open_with_quota(
            data_dir.join("artifacts"),
            config.fetch.max_total_bytes,
            counters.artifact_quota.clone(),
        )
        .map_err(|e| {
            SourceError::new(
                format!(
                    "{sensor}: artifact store {}",
                    data_dir.join("artifacts").display()
                ),
                e,
            )
        })?;
        let fetcher = Fetcher::new(config.fetch.clone(), artifacts.clone())
            .map_err(|e| SourceError::new(format!("{sensor}: fetch"), e))?;
        let keep = &config.keep_filesystem;
        let kept = keep.enabled.then(|| {
            moka::sync::Cache::builder()
                .max_capacity(keep.max_addresses)
                .time_to_idle(keep.keep_for)
                .build()
        });
        Ok(Arc::new(Self {
            sensor: sensor.to_owned(),
            protocol,
            persona,
            base,
            policy,
            fetcher,
            artifacts,
            data_dir: data_dir.to_owned(),
            recording: config.recording.clone(),
            recording_quota: DiskQuota::shared_for_dir(
                &data_dir.join("recordings"),
                config.recording.max_total_bytes,
                counters.recording_quota.clone(),
            ),
            limits: config.limits.clone(),
            upload_memory: UploadMemory::new(config.limits.max_upload_memory),
            counters,
            connections: Mutex::new(Connections::default()),
            kept,
            keep_max_bytes: keep.max_bytes_per_ip,
            uploaded_by_ip: moka::sync::Cache::builder()
                .max_capacity(MAX_UPLOAD_ADDRESSES)
                .time_to_live(config.limits.upload_window.max(Duration::from_secs(1)))
                .build(),
        }))
    }

    /// The persona in use.
    pub fn persona(&self) -> &Persona {
        &self.persona
    }

    /// Where captured files are stored.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    /// Takes a connection slot for `ip`, or says why not (and counts it).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let mut connections = self.connections.lock().map_err(|_| Refusal::Capacity)?;
        if connections.total >= self.limits.max_sessions {
            self.counters.refused_capacity.inc();
            return Err(Refusal::Capacity);
        }
        let per_ip = connections.per_ip.entry(ip).or_insert(0);
        if *per_ip >= self.limits.max_sessions_per_ip {
            self.counters.refused_per_ip.inc();
            return Err(Refusal::PerAddress);
        }
        *per_ip += 1;
        connections.total += 1;
        self.counters.connections.inc();
        Ok(ConnectionSlot {
            honeypot: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.lock().map(|c| c.total).unwrap_or(0)
    }

    /// Room for `bytes` more uploaded by `ip` within `max_upload_bytes_per_ip`; taken
    /// when there is.
    pub(crate) fn admit_ip_upload(&self, ip: IpAddr, bytes: u64) -> bool {
        use std::sync::atomic::Ordering;
        let used = self
            .uploaded_by_ip
            .get_with(ip, || Arc::new(std::sync::atomic::AtomicU64::new(0)));
        let cap = self.limits.max_upload_bytes_per_ip;
        used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            now.checked_add(bytes).filter(|after| *after <= cap)
        })
        .is_ok()
    }

    /// Gives back what [`Honeypot::admit_ip_upload`] took for a write that failed.
    pub(crate) fn undo_ip_upload(&self, ip: IpAddr, bytes: u64) {
        if let Some(used) = self.uploaded_by_ip.get(&ip) {
            let _ = used.fetch_update(
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
                |now| Some(now.saturating_sub(bytes)),
            );
        }
    }

    /// A filesystem for a new session of `ip`: the one kept from its last session, or
    /// a fresh copy of the base image.
    pub(crate) fn filesystem_for(&self, ip: IpAddr) -> FileSystem {
        self.kept
            .as_ref()
            .and_then(|kept| kept.get(&ip))
            .unwrap_or_else(|| FileSystem::new(self.base.clone()))
    }

    /// Keeps `fs` for the next session of `ip`, when enabled and small enough.
    pub(crate) fn keep_filesystem(&self, ip: IpAddr, fs: FileSystem) {
        if let Some(kept) = &self.kept {
            if fs.overlay_bytes() <= self.keep_max_bytes {
                kept.insert(ip, fs);
            } else {
                kept.invalidate(&ip);
            }
        }
    }
}

/// Binds a sensor's listening socket; the error names the sensor and the address.
pub(crate) async fn bind_listener(
    sensor: &str,
    listen: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), SourceError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| SourceError::new(format!("{sensor}: cannot listen on {listen}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| SourceError::new(format!("{sensor}: local address"), e))?;
    Ok((listener, local))
}

/// The listener a sensor's `run` takes (once: a sensor runs once).
pub(crate) fn take_listener(
    slot: &Mutex<Option<tokio::net::TcpListener>>,
    sensor: &str,
) -> Result<tokio::net::TcpListener, SourceError> {
    slot.lock()
        .ok()
        .and_then(|mut l| l.take())
        .ok_or_else(|| SourceError::msg(format!("{sensor}: already running")))
}

/// Accepts connections until `shutdown`, admits each through the limits (a refused one
/// is closed unanswered, as sshd past `MaxStartups` and inetd past its rate do) and
/// serves it on its own task; returns when every connection has ended.
pub(crate) async fn accept_loop<F, Fut>(
    honeypot: &Arc<Honeypot>,
    listener: tokio::net::TcpListener,
    shutdown: &tokio_util::sync::CancellationToken,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    accept_loop_refusing(honeypot, listener, shutdown, |_| None, serve).await;
}

/// [`accept_loop`], telling a refused client why first when `refusal` has words for it
/// (vsftpd's `421 There are too many connections from your internet address.`). The
/// words are written without waiting (a client that does not read gets nothing), so a
/// flood of refused connections costs no task and no buffer.
pub(crate) async fn accept_loop_refusing<F, Fut>(
    honeypot: &Arc<Honeypot>,
    listener: tokio::net::TcpListener,
    shutdown: &tokio_util::sync::CancellationToken,
    refusal: fn(Refusal) -> Option<&'static [u8]>,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(sensor = %honeypot.sensor, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match honeypot.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                if let Some(words) = refusal(refused) {
                    let _ = stream.try_write(words);
                }
                drop(stream);
                continue;
            }
        };
        // `map`, not `async move { served.await; drop(slot) }`: an async block keeps its
        // captured future and the one it awaits in separate fields, doubling the memory
        // of every open connection.
        connections.spawn(serve(stream, peer).map(move |()| drop(slot)));
    }
    connections.close();
    connections.wait().await;
}

/// Reads the persona at `path`, or generates one and writes it there.
fn load_or_create_persona(path: &Path) -> Result<Persona, SourceError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            // Never regenerated silently: a new persona tells returning attackers that
            // this is another machine.
            SourceError::new(
                format!(
                    "persona file {} is damaged (restore it from a backup; or move it aside \
                     and a new persona is generated, which returning attackers will see)",
                    path.display()
                ),
                e,
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut persona = Persona::generate();
            // TOML integers are signed 64-bit.
            persona.seed &= i64::MAX as u64;
            let text = toml::to_string_pretty(&persona)
                .map_err(|e| SourceError::new(format!("persona file {}", path.display()), e))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| SourceError::new(format!("creating {}", parent.display()), e))?;
            }
            let header = "# The fake host this honeypot shows: generated once per install so no two\n\
                          # installs share a tell. Edit freely; delete to generate a new one.\n\n";
            std::fs::write(path, format!("{header}{text}"))
                .map_err(|e| SourceError::new(format!("writing {}", path.display()), e))?;
            tracing::info!(path = %path.display(), hostname = %persona.hostname, "generated a persona");
            Ok(persona)
        }
        Err(e) => Err(SourceError::new(format!("reading {}", path.display()), e)),
    }
}
