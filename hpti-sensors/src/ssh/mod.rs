//! The SSH honeypot: a russh server that looks like the persona's OpenSSH, captures
//! every authentication attempt, the client's version and HASSH fingerprint, leads
//! logins into the emulated shell, captures SFTP/SCP uploads and refuses forwarding.
//!
//! ```no_run
//! # async fn demo(ctx: hpti_core::source::SourceContext) -> Result<(), hpti_core::source::SourceError> {
//! use hpti_core::source::Source;
//! use hpti_sensors::honeypot::HoneypotConfig;
//! use hpti_sensors::ssh::{SshConfig, SshSensor};
//!
//! let metrics = hpti_core::metrics::PipelineMetrics::default();
//! let sensor = SshSensor::bind(
//!     "ssh",
//!     std::path::Path::new("./hpti-data"),
//!     SshConfig::default(),
//!     &HoneypotConfig::default(),
//!     &metrics,
//! )
//! .await?;
//! println!("listening on {}", sensor.local_addr());
//! sensor.run(ctx).await
//! # }
//! ```

pub mod algorithms;
mod handler;
pub mod handshake;
mod keys;
mod scp;
mod sftp;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::event::{EventKind, Protocol};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::source::{Source, SourceContext, SourceError};
use russh::{Disconnect, SshId};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};

use crate::honeypot::{Honeypot, HoneypotConfig, accept_loop, take_listener};
use crate::session::Session;
use crate::shell::OsFlavor;
use handler::{SshHandler, Terminals};
use handshake::{HandshakeError, Tap, exchange_identification};

/// The SSH sensor's own settings (the fake host's are in [`HoneypotConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// This sensor's persona file, instead of `[honeypot] persona` (two sensors can
    /// show two different hosts). Relative to the data directory.
    pub persona: Option<PathBuf>,
    /// Where to listen (default `127.0.0.1:2222`; `0.0.0.0:22` in production).
    pub listen: SocketAddr,
    /// The identification string, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7`.
    /// Default: the OpenSSH of the persona's distribution.
    pub banner: Option<String>,
    /// Directory of the host keys, relative to the data directory (default `ssh`).
    pub host_keys: PathBuf,
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            persona: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 2222)),
            banner: None,
            host_keys: PathBuf::from("ssh"),
        }
    }
}

/// The identification string of the stock OpenSSH of each distribution.
pub fn default_banner(os: OsFlavor) -> &'static str {
    match os {
        OsFlavor::Debian12 => "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7",
        OsFlavor::Ubuntu2204 => "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.13",
        OsFlavor::Ubuntu2404 => "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.14",
    }
}

/// The SSH honeypot sensor.
pub struct SshSensor {
    name: String,
    listener: std::sync::Mutex<Option<TcpListener>>,
    local: SocketAddr,
    banner: String,
    russh: Arc<russh::server::Config>,
    honeypot: Arc<Honeypot>,
}

impl std::fmt::Debug for SshSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSensor")
            .field("name", &self.name)
            .field("local", &self.local)
            .field("banner", &self.banner)
            .finish_non_exhaustive()
    }
}

impl SshSensor {
    /// Loads (or generates) persona and host keys and binds the listening socket.
    pub async fn bind(
        name: &str,
        data_dir: &Path,
        config: SshConfig,
        honeypot: &HoneypotConfig,
        metrics: &PipelineMetrics,
    ) -> Result<Self, SourceError> {
        let honeypot = Honeypot::open(name, Protocol::Ssh, data_dir, honeypot, metrics)?;
        let keys = keys::load_or_generate(&data_dir.join(&config.host_keys))?;
        let banner = config
            .banner
            .clone()
            .unwrap_or_else(|| default_banner(honeypot.persona().os).to_owned());
        if !banner.starts_with("SSH-2.0-") || banner.len() > 253 || banner.contains(['\r', '\n']) {
            return Err(SourceError::msg(format!(
                "{name}: banner must be one line starting with SSH-2.0- (got {banner:?})"
            )));
        }
        let limits = &honeypot.limits;
        let russh = russh::server::Config {
            server_id: SshId::Standard(Cow::Owned(banner.clone())),
            methods: SshHandler::methods(),
            // sshd's failed-password delay is PAM's: about 2 s, randomised. A fast
            // rejection is a tell and helps brute-forcers.
            auth_rejection_time: Duration::from_millis(1500),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys,
            preferred: algorithms::preferred(honeypot.persona().os),
            ext_info: Some(algorithms::ext_info(honeypot.persona().os)),
            // A backstop only: the handler ends the connection at the limit, after
            // recording the attempt (russh also counts "none" and key probes).
            max_auth_attempts: limits.max_auth_attempts.saturating_add(4),
            inactivity_timeout: Some(limits.idle_timeout),
            nodelay: true,
            ..Default::default()
        };
        let (listener, local) = crate::honeypot::bind_listener(name, config.listen).await?;
        Ok(Self {
            name: name.to_owned(),
            listener: std::sync::Mutex::new(Some(listener)),
            local,
            banner,
            russh: Arc::new(russh),
            honeypot,
        })
    }

    /// The address the sensor listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The shared state (persona, counters, open connections).
    pub fn honeypot(&self) -> &Arc<Honeypot> {
        &self.honeypot
    }

    /// Overrides the delay before a rejected login is answered (tests and benchmarks).
    pub fn set_auth_rejection_time(&mut self, delay: Duration) {
        if let Some(config) = Arc::get_mut(&mut self.russh) {
            config.auth_rejection_time = delay;
        }
    }
}

#[async_trait]
impl Source for SshSensor {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let listener = take_listener(&self.listener, &self.name)?;
        tracing::info!(sensor = %self.name, addr = %self.local, banner = %self.banner, "SSH sensor listening");
        accept_loop(&self.honeypot, listener, &ctx.shutdown, |stream, peer| {
            let connection = Connection {
                honeypot: self.honeypot.clone(),
                russh: self.russh.clone(),
                banner: self.banner.clone(),
                ctx: ctx.clone(),
            };
            connection.serve(stream, peer)
        })
        .await;
        Ok(())
    }
}

struct Connection {
    honeypot: Arc<Honeypot>,
    russh: Arc<russh::server::Config>,
    banner: String,
    ctx: SourceContext,
}

impl Connection {
    async fn serve(self, mut stream: TcpStream, peer: SocketAddr) {
        let local = stream.local_addr().unwrap_or(peer);
        // russh sets TCP_NODELAY only on sockets it accepts itself; without it the
        // small authentication replies wait out delayed ACKs (~40 ms each).
        let _ = stream.set_nodelay(true);
        let session = Session::new(self.honeypot.clone(), self.ctx.events.clone(), peer, local);
        let core = session.core().clone();
        core.start().await;
        let limits = self.honeypot.limits.clone();
        let identification =
            // Boxed (as below): this connection's future lives as long as the connection,
            // and its size is that of its largest step.
            match Box::pin(exchange_identification(&mut stream, &self.banner, limits.login_timeout)).await {
                Ok(identification) => identification,
            Err(error) => {
                self.honeypot.counters.bad_handshake.inc();
                if let HandshakeError::Invalid(text) | HandshakeError::MajorVersion(text) = &error
                    && !text.is_empty()
                {
                    core.emit(EventKind::ClientVersion {
                        version: text.clone(),
                    })
                    .await;
                }
                tracing::debug!(%peer, %error, "SSH identification failed");
                core.close(None).await;
                return;
            }
        };
        let version = String::from_utf8_lossy(&identification.line)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        core.emit(EventKind::ClientVersion { version }).await;
        let (tap, kexinit) = Tap::new(stream, identification, self.banner.len() + 2);
        let authenticated = Arc::new(AtomicBool::new(false));
        let terminals: Terminals = Arc::default();
        let handler = SshHandler::new(
            session,
            authenticated.clone(),
            terminals.clone(),
            limits.max_auth_attempts,
        );
        let running =
            match Box::pin(russh::server::run_stream(self.russh.clone(), tap, handler)).await {
                Ok(running) => running,
                Err(error) => {
                    self.honeypot.counters.bad_handshake.inc();
                    tracing::debug!(%peer, %error, "SSH session did not start");
                    core.close(None).await;
                    return;
                }
            };
        let handle = running.handle();
        tokio::pin!(running);
        let mut kexinit = Some(kexinit);
        let login_deadline = tokio::time::sleep(limits.login_timeout);
        let session_deadline = tokio::time::sleep(limits.max_session_time);
        tokio::pin!(login_deadline, session_deadline);
        let mut login_checked = false;
        let mut ending = false;
        loop {
            tokio::select! {
                result = &mut running => {
                    match result {
                        Err(handler::HandlerError::Ssh(russh::Error::InactivityTimeout)) => {
                            self.honeypot.counters.idle_timeout.inc();
                        }
                        // Counted where it was decided (`too_many_auth`).
                        Err(handler::HandlerError::TooManyAuthFailures) => {}
                        Err(error) => tracing::debug!(%peer, %error, "SSH session ended with an error"),
                        Ok(()) => {}
                    }
                    break;
                }
                hello = async {
                    match kexinit.as_mut() {
                        Some(rx) => rx.await,
                        None => std::future::pending().await,
                    }
                }, if kexinit.is_some() => {
                    kexinit = None;
                    if let Ok(hello) = hello {
                        core.emit(EventKind::ClientFingerprint {
                            method: "hassh".into(),
                            fingerprint: hello.hassh(),
                            algorithms: Some(hello.hassh_algorithms()),
                        })
                        .await;
                    }
                }
                () = &mut login_deadline, if !login_checked => {
                    login_checked = true;
                    if !authenticated.load(Ordering::Relaxed) {
                        self.honeypot.counters.login_timeout.inc();
                        let _ = handle
                            .disconnect(Disconnect::ByApplication, String::new(), String::new())
                            .await;
                    }
                }
                () = &mut session_deadline, if !ending => {
                    ending = true;
                    self.honeypot.counters.session_timeout.inc();
                    let _ = handle
                        .disconnect(Disconnect::ByApplication, String::new(), String::new())
                        .await;
                }
                () = self.ctx.shutdown.cancelled(), if !ending => {
                    ending = true;
                    let _ = handle
                        .disconnect(Disconnect::ByApplication, "Server shutting down".into(), String::new())
                        .await;
                }
            }
        }
        // Terminals still open (the client vanished): finish their recordings.
        let open: Vec<_> = terminals.lock().await.drain().map(|(_, t)| t).collect();
        for terminal in open {
            if let Some(recording) = Box::pin(terminal.close(&core)).await {
                core.remember_recording(recording);
            }
        }
        core.close(None).await;
    }
}
