//! The HTTP honeypot: web applications as data ([`persona`]) on the framing of a real
//! web server ([`server`]: Debian's Apache 2.4, nginx or Tomcat, byte for byte where it
//! was captured), every request captured as an `http.request` event with the attacks
//! it carries ([`classify`]), logins from forms, XML-RPC and Basic/Digest auth as
//! `login.attempt`, files of multipart bodies stored by SHA-256 as `file.upload`.
//!
//! ```no_run
//! # async fn demo(ctx: hpti_core::source::SourceContext) -> Result<(), hpti_core::source::SourceError> {
//! use hpti_core::source::Source;
//! use hpti_sensors::honeypot::HoneypotConfig;
//! use hpti_sensors::http::{HttpConfig, HttpSensor};
//!
//! let metrics = hpti_core::metrics::PipelineMetrics::default();
//! let config = HttpConfig { app: "wordpress".into(), ..HttpConfig::default() };
//! let sensor = HttpSensor::bind(
//!     "web",
//!     std::path::Path::new("./hpti-data"),
//!     config,
//!     &HoneypotConfig::default(),
//!     &metrics,
//! )
//! .await?;
//! println!("listening on {}", sensor.local_addr());
//! sensor.run(ctx).await
//! # }
//! ```
//!
//! # Bounds
//! The request line and each header field at most 8190 bytes, 100 fields (Apache's
//! limits and error pages); a body at most [`HttpLimits::max_body_bytes`] (413 and
//! close past it); [`HttpLimits::header_timeout`] to send a request head (slowloris);
//! the server's keep-alive timeout between requests and its requests per connection;
//! pipelined requests are answered in order from one bounded buffer; requests from one
//! address are paced to [`HttpLimits::requests_per_second`] (answers slow down, as an
//! overloaded server's do: no distinctive refusal).

pub mod classify;
mod login;
pub mod persona;
pub mod request;
pub mod server;
/// HTTPS: the sensors' TLS (kept here too, where it was first).
pub use crate::tls;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use hpti_core::event::{EventKind, HttpDetail, Protocol};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::source::{Source, SourceContext, SourceError};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout, timeout_at};

use crate::honeypot::{Honeypot, HoneypotConfig, accept_loop, take_listener};
use crate::session::Session;
use crate::uploads::Held;
use persona::{App, Content, LoginSpec, PersonaError, Site};
use request::{Body, BodySink, ChunkState, Framing, Head, HeadError, Parsed, RequestLimits};
use server::{Addressed, ErrorCause, Exchange, Reply, ReplyKind, Server, ServerKind};

/// The HTTP sensor's own settings (the fake host's are in [`HoneypotConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to listen (default `127.0.0.1:8081`; `0.0.0.0:80` in production).
    pub listen: SocketAddr,
    /// The persona answering requests no `apps` entry takes (default `apache`: Debian's
    /// stock Apache 2.4). Built in: `apache`, `nginx`, `tomcat`, `wordpress`,
    /// `phpmyadmin`, `router`, and `bait` (the files scanners look for).
    pub app: String,
    /// More personas by virtual host and/or path.
    pub apps: Vec<AppMount>,
    /// A folder of the user's own personas (`<dir>/<name>/routes.yaml`); relative
    /// paths resolve against the data directory.
    pub persona_dir: Option<PathBuf>,
    /// The name the server gives itself in error pages when a request has no `Host`
    /// (Apache's `ServerName`); default the listening address.
    pub server_name: Option<String>,
    /// The `Server` banner instead of the persona's (`Apache/2.4.62 (Debian)`): a
    /// version that matches what the host pretends to run.
    pub banner: Option<String>,
    /// HTTPS: `tls = {}` for a self-signed certificate made once for the persona's host
    /// name, or `tls = { cert = "...", key = "..." }` (PEM files, relative to the data
    /// directory). The client's server name and JA4 fingerprint are captured.
    pub tls: Option<tls::TlsConfig>,
    /// Bounds against hostile clients.
    pub limits: HttpLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            app: "apache".to_owned(),
            apps: Vec::new(),
            persona_dir: None,
            server_name: None,
            banner: None,
            tls: None,
            limits: HttpLimits::default(),
        }
    }
}

/// A persona served for a virtual host and/or under a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppMount {
    /// The persona's name.
    pub app: String,
    /// The `Host` it answers (without port); any host when absent.
    #[serde(default)]
    pub host: Option<String>,
    /// The path it is mounted under (`/phpmyadmin`); the root when absent.
    #[serde(default)]
    pub path: Option<String>,
}

/// Bounds of the HTTP sensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// Largest request body (413 and close past it).
    pub max_body_bytes: u64,
    /// Bytes of a body kept in the event (all of it is hashed).
    pub body_keep_bytes: usize,
    /// Header fields kept in the event.
    pub max_event_headers: usize,
    /// Time to send a whole request head.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Time to send a body without progress.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Requests per second one address may make (paced, not refused).
    pub requests_per_second: u32,
    /// Logins from one address within ten minutes past which its requests are labelled
    /// `credential-stuffing`.
    pub stuffing_threshold: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            body_keep_bytes: 16 * 1024,
            max_event_headers: 64,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(20),
            requests_per_second: 200,
            stuffing_threshold: 20,
        }
    }
}

type AddressLimiter = governor::RateLimiter<
    IpAddr,
    governor::state::keyed::DashMapStateStore<IpAddr>,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// What every connection of the sensor shares.
struct Shared {
    honeypot: Arc<Honeypot>,
    site: Site,
    limits: HttpLimits,
    request_limits: RequestLimits,
    classifier: classify::Classifier,
    rate: AddressLimiter,
    logins: moka::sync::Cache<IpAddr, Arc<AtomicU32>>,
    /// When the persona's files were "installed": stable per install, different
    /// between installs (Last-Modified and ETags would otherwise be a signature).
    installed: SystemTime,
    /// HTTPS, when configured.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The HTTP honeypot sensor.
pub struct HttpSensor {
    name: String,
    listener: std::sync::Mutex<Option<TcpListener>>,
    local: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSensor")
            .field("name", &self.name)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// Loads the personas a config names, without binding anything (`hpti config check`).
pub fn check_personas(config: &HttpConfig, data_dir: &Path) -> Result<(), PersonaError> {
    load_site(config, data_dir).map(|_| ())
}

fn load_site(config: &HttpConfig, data_dir: &Path) -> Result<Site, PersonaError> {
    let user_dir = config.persona_dir.as_ref().map(|d| data_dir.join(d));
    let mounts: Vec<_> = config
        .apps
        .iter()
        .map(|m| (m.host.clone(), m.path.clone(), m.app.clone()))
        .collect();
    Site::load(&config.app, &mounts, user_dir.as_deref())
}

impl HttpSensor {
    /// Loads the personas and binds the listening socket.
    pub async fn bind(
        name: &str,
        data_dir: &Path,
        config: HttpConfig,
        honeypot: &HoneypotConfig,
        metrics: &PipelineMetrics,
    ) -> Result<Self, SourceError> {
        let honeypot = Honeypot::open(name, Protocol::Http, data_dir, honeypot, metrics)?;
        let mut site = load_site(&config, data_dir)
            .map_err(|e| SourceError::new(format!("{name}: persona"), e))?;
        let (listener, local) = crate::honeypot::bind_listener(name, config.listen).await?;
        let server_name = config
            .server_name
            .clone()
            .unwrap_or_else(|| local.ip().to_string());
        for app in
            std::iter::once(&mut site.default).chain(site.mounts.iter_mut().map(|m| &mut m.app))
        {
            if let Some(app) = Arc::get_mut(app) {
                app.server.server_name = server_name.clone();
                if let Some(banner) = &config.banner {
                    app.server.banner = banner.clone();
                }
            }
        }
        let per_second =
            NonZeroU32::new(config.limits.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let rate =
            governor::RateLimiter::dashmap(governor::Quota::per_second(per_second).allow_burst(
                per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)),
            ));
        // A year and a bit before the persona's seed says: same on every restart.
        let seed = honeypot.persona().seed;
        let installed = UNIX_EPOCH
            + Duration::from_secs(1_700_000_000 + seed % 50_000_000)
            + Duration::from_micros(seed % 1_000_000);
        let request_limits =
            request_limits_for(site.default.server.kind, config.limits.max_body_bytes);
        let tls = match &config.tls {
            Some(tls_config) => Some(tokio_rustls::TlsAcceptor::from(
                tls::server_config(
                    tls_config,
                    data_dir,
                    name,
                    &honeypot.persona().hostname,
                    &[b"http/1.1"],
                )
                .map_err(|e| SourceError::new(format!("{name}: tls"), e))?,
            )),
            None => None,
        };
        let shared = Shared {
            honeypot,
            site,
            request_limits,
            classifier: classify::Classifier::builtin(),
            rate,
            logins: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
            limits: config.limits,
            installed,
            tls,
        };
        Ok(Self {
            name: name.to_owned(),
            listener: std::sync::Mutex::new(Some(listener)),
            local,
            shared: Arc::new(shared),
        })
    }

    /// The address the sensor listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The shared state (persona, counters, open connections).
    pub fn honeypot(&self) -> &Arc<Honeypot> {
        &self.shared.honeypot
    }
}

#[async_trait]
impl Source for HttpSensor {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let listener = take_listener(&self.listener, &self.name)?;
        tracing::info!(sensor = %self.name, addr = %self.local, "HTTP sensor listening");
        // The per-address pacing state forgets idle addresses.
        let shared = self.shared.clone();
        let shutdown = ctx.shutdown.clone();
        let sweeper = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(10)) => shared.rate.retain_recent(),
                }
            }
        });
        accept_loop(
            &self.shared.honeypot,
            listener,
            &ctx.shutdown,
            |stream, peer| serve(self.shared.clone(), ctx.clone(), stream, peer),
        )
        .await;
        sweeper.abort();
        Ok(())
    }
}

/// How reading a request ended, when it did not give one.
enum ReadEnd {
    /// The client closed, or went idle between requests (closed silently).
    Closed,
    /// The head did not arrive in time.
    Timeout,
    /// A refused head: answer with an error page and close.
    Refused(HeadError, String),
    /// The sensor is stopping.
    Shutdown,
}

/// A connection's byte stream: plain TCP, or TLS over it.
trait ByteStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync> ByteStream for T {}

struct Connection {
    shared: Arc<Shared>,
    session: Session,
    stream: Box<dyn ByteStream>,
    /// The TLS client hello's facts (HTTPS).
    hello: Option<tls::HelloFacts>,
    buf: BytesMut,
    peer: SocketAddr,
    local: SocketAddr,
    served: u32,
    out: Vec<u8>,
    /// Bytes of an unread body still to skip before the next request (nginx answers an
    /// error before a body it was told to wait for, then discards the body).
    discard: u64,
}

async fn serve(shared: Arc<Shared>, ctx: SourceContext, stream: TcpStream, peer: SocketAddr) {
    let local = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    let session = Session::new(shared.honeypot.clone(), ctx.events.clone(), peer, local);
    let core = session.core().clone();
    core.start().await;
    let (stream, hello): (Box<dyn ByteStream>, _) = match &shared.tls {
        None => (Box::new(stream), None),
        Some(acceptor) => match handshake(&shared, acceptor, stream).await {
            Ok(pair) => pair,
            Err(hello) => {
                shared.honeypot.counters.bad_handshake.inc();
                if let Some(hello) = hello {
                    session.emit(fingerprint_event(&hello)).await;
                }
                core.close(None).await;
                return;
            }
        },
    };
    if let Some(hello) = &hello {
        session.emit(fingerprint_event(hello)).await;
    }
    let mut connection = Connection {
        shared,
        session,
        stream,
        hello,
        buf: BytesMut::with_capacity(4096),
        peer,
        local,
        served: 0,
        out: Vec::with_capacity(16 * 1024),
        discard: 0,
    };
    let deadline = Instant::now() + connection.shared.honeypot.limits.max_session_time;
    match timeout_at(deadline, connection.converse(&ctx.shutdown)).await {
        Ok(()) => {}
        Err(_) => {
            connection.shared.honeypot.counters.session_timeout.inc();
        }
    }
    let _ = timeout(Duration::from_secs(1), connection.stream.shutdown()).await;
    core.close(None).await;
}

/// Reads the client's hello (its facts), then completes the TLS handshake with it
/// replayed; on failure, the facts if the hello parsed.
async fn handshake(
    shared: &Shared,
    acceptor: &tokio_rustls::TlsAcceptor,
    mut stream: TcpStream,
) -> Result<(Box<dyn ByteStream>, Option<tls::HelloFacts>), Option<tls::HelloFacts>> {
    let wait = shared.limits.header_timeout;
    let (raw, hello) = match timeout(wait, tls::read_client_hello(&mut stream)).await {
        Ok(Ok(read)) => read,
        _ => return Err(None),
    };
    let prefixed = tls::Prefixed::new(raw, stream);
    match timeout(wait, acceptor.accept(prefixed)).await {
        Ok(Ok(tls_stream)) => Ok((Box::new(tls_stream), hello)),
        _ => Err(hello),
    }
}

/// The `client.fingerprint` event of a TLS hello (JA4).
fn fingerprint_event(hello: &tls::HelloFacts) -> EventKind {
    EventKind::ClientFingerprint {
        method: "ja4".to_owned(),
        fingerprint: hello.ja4.clone(),
        algorithms: hello.sni.as_ref().map(|sni| format!("sni={sni}")),
    }
}

impl Connection {
    async fn converse(&mut self, shutdown: &tokio_util::sync::CancellationToken) {
        loop {
            let first = self.served == 0;
            let default_server = self.shared.site.default.server.clone();
            let wait = if first {
                self.shared.limits.header_timeout
            } else {
                default_server.keepalive_timeout
            };
            let (head, used) = match self.read_head(wait, shutdown).await {
                Ok(pair) => pair,
                Err(ReadEnd::Closed | ReadEnd::Shutdown) => return,
                Err(ReadEnd::Timeout) => {
                    self.shared.honeypot.counters.idle_timeout.inc();
                    return;
                }
                Err(ReadEnd::Refused(error, line)) => {
                    self.shared.honeypot.counters.bad_handshake.inc();
                    self.refuse(&default_server, error, line).await;
                    return;
                }
            };
            bytes::Buf::advance(&mut self.buf, used);
            // Pacing per address: a flood is slowed down, not answered differently.
            while self.shared.rate.check_key(&self.peer.ip()).is_err() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            if !self.exchange(head, shutdown).await {
                return;
            }
            self.served += 1;
        }
    }

    /// Reads until a whole request head is buffered.
    async fn read_head(
        &mut self,
        wait: Duration,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<(Head, usize), ReadEnd> {
        let deadline = Instant::now() + wait;
        loop {
            if self.discard > 0 {
                let skip = usize::try_from(self.discard)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                bytes::Buf::advance(&mut self.buf, skip);
                self.discard -= skip as u64;
            }
            match request::parse_head(&self.buf, &self.shared.request_limits) {
                Ok(Parsed::Complete(head, used)) => return Ok((head, used)),
                Ok(Parsed::Partial) => {}
                Err(e) => {
                    let line = first_line(&self.buf);
                    return Err(ReadEnd::Refused(e, line));
                }
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(4096);
            }
            let read = tokio::select! {
                () = shutdown.cancelled() => return Err(ReadEnd::Shutdown),
                read = timeout_at(deadline, self.stream.read_buf(&mut self.buf)) => read,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(ReadEnd::Closed),
                Ok(Ok(_)) => {}
                Err(_)
                    if self.buf.iter().all(|b| matches!(b, b'\r' | b'\n')) && self.served > 0 =>
                {
                    return Err(ReadEnd::Closed);
                }
                Err(_) => return Err(ReadEnd::Timeout),
            }
        }
    }

    /// Answers a refused head with the default server's error page and records it.
    async fn refuse(&mut self, server: &Server, error: HeadError, line: String) {
        let cause = match error {
            HeadError::BadRequest => ErrorCause::BadRequest,
            HeadError::LineTooLong => ErrorCause::UriTooLong,
            HeadError::FieldTooLong => ErrorCause::FieldTooLong,
            HeadError::TooManyFields => ErrorCause::TooManyFields,
        };
        let at = Addressed {
            host: None,
            port: self.local.port(),
            method: "",
            path: "",
            location: None,
        };
        let reply = server::error_reply(server, cause, &at);
        let exchange = Exchange {
            version: (1, 1),
            asked_keepalive: false,
            asked_close: true,
            head: false,
            requests_left: 0,
        };
        self.out.clear();
        server::write_reply(server, &reply, &exchange, SystemTime::now(), &mut self.out);
        let _ = timeout(Duration::from_secs(5), self.stream.write_all(&self.out)).await;
        let (method, uri) = match line.split_once(' ') {
            Some((m, rest)) if !m.is_empty() => (m.to_owned(), rest.to_owned()),
            _ => ("-".to_owned(), line.clone()),
        };
        let mut labels = vec!["malformed".to_owned()];
        if self.buf.first() == Some(&0x16) {
            labels.push("tls-on-plain-port".to_owned());
        }
        let mut detail = HttpDetail::new();
        detail.response_size = Some(self.out.len() as u64);
        detail.app = Some(self.shared.site.default.name.to_string());
        self.session
            .emit(EventKind::HttpRequest {
                method: cut(&method, 64),
                uri: if uri.is_empty() { "-".to_owned() } else { uri },
                host: None,
                user_agent: None,
                status: Some(reply.status),
                labels,
                detail: Some(Box::new(detail)),
            })
            .await;
    }

    /// Reads the body, answers one request and records it; whether to go on.
    async fn exchange(
        &mut self,
        head: Head,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> bool {
        let shared = self.shared.clone();
        let host_header = head.header("host").map(str::to_owned);
        let host = host_header.as_deref().map(host_without_port);
        let target_path = path_of(&head.target, shared.site.default.server.kind);
        let (app, mount) = shared.site.route(host.as_deref(), &target_path.decoded);
        let app = app.clone();
        let mount = mount.to_owned();
        let server = &app.server;

        // HTTP/0.9: the page itself, without status line or headers, then close.
        if head.version == (0, 9) {
            let body = if head.method == "GET" {
                let (reply, _) =
                    self.answer(&app, &mount, &head, &Body::default(), host.as_deref());
                Some(reply.body)
            } else {
                None
            };
            self.out.clear();
            match &body {
                Some(body) => self.out.extend_from_slice(body),
                None => {
                    let at = self.addressed(&head, None, "");
                    let reply = server::error_reply(server, ErrorCause::BadRequest, &at);
                    let ex = Exchange {
                        version: (1, 1),
                        asked_keepalive: false,
                        asked_close: true,
                        head: false,
                        requests_left: 0,
                    };
                    server::write_reply(server, &reply, &ex, SystemTime::now(), &mut self.out);
                }
            }
            let _ = timeout(Duration::from_secs(30), self.stream.write_all(&self.out)).await;
            let status = if body.is_some() { 200 } else { 400 };
            self.record(&head, &app, &Body::default(), status, Vec::new())
                .await;
            return false;
        }

        // The body.
        let framing = head.body_framing();
        let multipart = head
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
        let mut held = Held::none(&shared.honeypot.upload_memory);
        let body = match framing {
            Err(_) => None,
            Ok(framing) => {
                if head.header_has_token("expect", "100-continue") && framing != Framing::None {
                    // nginx answers what needs no body at once and discards the body.
                    if server.kind == ServerKind::Nginx {
                        let (reply, _) =
                            self.answer(&app, &mount, &head, &Body::default(), host.as_deref());
                        if reply.kind == ReplyKind::Error {
                            return self.answer_early(&head, &app, reply, framing).await;
                        }
                    }
                    let _ = self
                        .stream
                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .await;
                }
                let mut reserved = 0;
                let keep = if multipart {
                    // Files are captured whole, within the upload bounds.
                    let want = match framing {
                        Framing::Length(n) => n,
                        _ => shared.limits.max_body_bytes,
                    }
                    .min(shared.limits.max_body_bytes);
                    if self.session.take_upload(&mut held, want) {
                        reserved = want;
                        usize::try_from(want).unwrap_or(usize::MAX)
                    } else {
                        shared.limits.body_keep_bytes
                    }
                } else {
                    shared.limits.body_keep_bytes.max(64 * 1024)
                };
                let read = self.read_body(framing, keep, shutdown).await;
                let used = read.as_ref().map_or(0, |body| body.kept.len() as u64);
                if reserved > used {
                    // A chunked body was reserved at the limit: the rest goes back to
                    // the connection's and the address's budgets.
                    self.session.core().give_back_upload(reserved - used);
                }
                match read {
                    Ok(body) => Some(Ok(body)),
                    Err(BodyError::TooLarge) => Some(Err(())),
                    Err(BodyError::Closed) => return false,
                    Err(BodyError::Malformed) => None,
                }
            }
        };
        let (mut reply, logins, body) = match body {
            None => {
                let at = self.addressed(&head, host.as_deref(), &target_path.decoded);
                (
                    server::error_reply(server, ErrorCause::BadRequest, &at),
                    Vec::new(),
                    Body::default(),
                )
            }
            Some(Err(())) => {
                let at = self.addressed(&head, host.as_deref(), &target_path.decoded);
                (
                    server::error_reply(server, ErrorCause::BodyTooLarge, &at),
                    Vec::new(),
                    Body::default(),
                )
            }
            Some(Ok(body)) => {
                let (reply, logins) = self.answer(&app, &mount, &head, &body, host.as_deref());
                (reply, logins, body)
            }
        };

        // Credentials: Basic/Digest on any request, and the route's forms.
        let mut attempts = login::from_authorization(&head);
        attempts.extend(logins);
        let mut labels = Vec::new();
        if !attempts.is_empty() {
            let count = shared
                .logins
                .get_with(self.peer.ip(), || Arc::new(AtomicU32::new(0)));
            let n =
                count.fetch_add(attempts.len() as u32, Ordering::Relaxed) + attempts.len() as u32;
            if n > shared.limits.stuffing_threshold {
                labels.push("credential-stuffing".to_owned());
            }
        }
        if multipart && body.complete {
            self.capture_uploads(&head, &body).await;
        }
        drop(held);

        let requests_left = server.max_keepalive_requests.saturating_sub(self.served);
        let exchange = Exchange {
            version: head.version,
            asked_keepalive: head.header_has_token("connection", "keep-alive"),
            asked_close: head.header_has_token("connection", "close"),
            head: head.method == "HEAD",
            requests_left,
        };
        if head.version.0 == 1 && head.version.1 == 1 && host_header.is_none() {
            let at = self.addressed(&head, None, &target_path.decoded);
            reply = server::error_reply(server, ErrorCause::BadRequest, &at);
        }
        self.out.clear();
        let open = server::write_reply(server, &reply, &exchange, SystemTime::now(), &mut self.out);
        let wrote = timeout(Duration::from_secs(60), self.stream.write_all(&self.out)).await;
        for attempt in attempts {
            self.session
                .emit(EventKind::LoginAttempt {
                    username: attempt.username,
                    password: attempt.password,
                    key_type: None,
                    key_fingerprint: None,
                    method: attempt.method,
                    success: false,
                })
                .await;
        }
        self.record(&head, &app, &body, reply.status, labels).await;
        open && matches!(wrote, Ok(Ok(())))
    }

    /// The port of self-referential URLs and signatures: the one in `Host` (Apache's
    /// `UseCanonicalName Off`), else the one the client connected to.
    fn port_for(&self, head: &Head) -> u16 {
        head.header("host")
            .and_then(|h| h.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(self.local.port())
    }

    /// Answers before the body (which is then skipped as it arrives) and records it.
    async fn answer_early(
        &mut self,
        head: &Head,
        app: &Arc<App>,
        reply: Reply,
        framing: Framing,
    ) -> bool {
        let server = &app.server;
        let exchange = Exchange {
            version: head.version,
            asked_keepalive: head.header_has_token("connection", "keep-alive"),
            asked_close: head.header_has_token("connection", "close"),
            head: head.method == "HEAD",
            requests_left: server.max_keepalive_requests.saturating_sub(self.served),
        };
        self.out.clear();
        let mut open =
            server::write_reply(server, &reply, &exchange, SystemTime::now(), &mut self.out);
        match framing {
            Framing::Length(n) => self.discard = n,
            _ => open = false,
        }
        let wrote = timeout(Duration::from_secs(60), self.stream.write_all(&self.out)).await;
        self.record(head, app, &Body::default(), reply.status, Vec::new())
            .await;
        open && matches!(wrote, Ok(Ok(())))
    }

    fn addressed<'a>(&self, head: &'a Head, host: Option<&'a str>, path: &'a str) -> Addressed<'a> {
        Addressed {
            host,
            port: self.port_for(head),
            method: &head.method,
            path,
            location: None,
        }
    }

    async fn read_body(
        &mut self,
        framing: Framing,
        keep: usize,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<Body, BodyError> {
        let max = self.shared.limits.max_body_bytes;
        let mut sink = BodySink::new(keep);
        match framing {
            Framing::None => Ok(sink.finish()),
            Framing::Length(n) if n > max => Err(BodyError::TooLarge),
            Framing::Length(mut left) => loop {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                sink.push(&self.buf[..take]);
                bytes::Buf::advance(&mut self.buf, take);
                left -= take as u64;
                if left == 0 {
                    return Ok(sink.finish());
                }
                self.fill(shutdown).await?;
            },
            Framing::Chunked => {
                let mut state = ChunkState::Size;
                loop {
                    request::decode_chunked(&mut self.buf, &mut state, &mut sink, max).map_err(
                        |e| match e {
                            request::ChunkError::TooLarge => BodyError::TooLarge,
                            request::ChunkError::Malformed => BodyError::Malformed,
                        },
                    )?;
                    if state == ChunkState::Done {
                        return Ok(sink.finish());
                    }
                    self.fill(shutdown).await?;
                }
            }
        }
    }

    /// Reads more bytes into the buffer (which the body decoder has emptied).
    async fn fill(
        &mut self,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<(), BodyError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(64 * 1024);
        }
        let read = tokio::select! {
            () = shutdown.cancelled() => return Err(BodyError::Closed),
            read = timeout(self.shared.limits.body_timeout, self.stream.read_buf(&mut self.buf)) => read,
        };
        match read {
            Ok(Ok(n)) if n > 0 => Ok(()),
            _ => Err(BodyError::Closed),
        }
    }

    /// Builds the persona's answer and the logins its route took.
    fn answer(
        &self,
        app: &Arc<App>,
        mount: &str,
        head: &Head,
        body: &Body,
        host: Option<&str>,
    ) -> (Reply, Vec<login::Attempt>) {
        let server = &app.server;
        let target = path_of(&head.target, app.server.kind);
        let at = Addressed {
            host,
            port: self.port_for(head),
            method: &head.method,
            path: &target.raw_path,
            location: None,
        };
        // Methods the server itself handles.
        if let Some(reply) = method_reply(server, head, &at) {
            return (reply, Vec::new());
        }
        let path = match &target.normalised {
            Ok(path) => path.clone(),
            Err(cause) => return (server::error_reply(server, *cause, &at), Vec::new()),
        };
        let relative = path.strip_prefix(mount).unwrap_or(&path);
        if relative.is_empty() && !mount.is_empty() {
            // The mount's own directory without its slash (Apache's `Alias /phpmyadmin`).
            let location = self.redirect_location(server, head, host, mount, "/", &target);
            let at = Addressed {
                location: Some(&location),
                ..at
            };
            return (
                server::error_reply(server, ErrorCause::MovedPermanently, &at),
                Vec::new(),
            );
        }
        let relative = if relative.is_empty() { "/" } else { relative };
        let query = target.query.as_deref().unwrap_or("");
        let route = app
            .routes
            .iter()
            .find(|r| r.matches_query(relative, query) && r.allows(&head.method));
        let Some(route) = route else {
            // A known path with another method.
            if app.routes.iter().any(|r| r.matches_query(relative, query)) {
                let cause = match (server.kind, head.method.as_str()) {
                    (ServerKind::Apache, "GET" | "HEAD" | "POST") => None,
                    _ => Some(ErrorCause::MethodNotAllowed),
                };
                if let Some(cause) = cause {
                    return (server::error_reply(server, cause, &at), Vec::new());
                }
            }
            // A directory asked for without its slash.
            let slashed = format!("{relative}/");
            if !relative.ends_with('/')
                && app.routes.iter().any(|r| r.directory && r.path == slashed)
            {
                let location = self.redirect_location(server, head, host, mount, &slashed, &target);
                let at = Addressed {
                    location: Some(&location),
                    ..at
                };
                return (
                    server::error_reply(server, ErrorCause::MovedPermanently, &at),
                    Vec::new(),
                );
            }
            return match &app.not_found {
                Some(answer) => (
                    self.render(
                        app,
                        mount,
                        head,
                        body,
                        host,
                        answer,
                        ReplyKind::Dynamic,
                        None,
                    ),
                    Vec::new(),
                ),
                None => (
                    server::error_reply(server, ErrorCause::NotFound, &at),
                    Vec::new(),
                ),
            };
        };
        let logins = match &route.login {
            Some(LoginSpec::Form { username, password }) => {
                login::from_form(head, body, username, password)
            }
            Some(LoginSpec::Xmlrpc) => login::from_xmlrpc(body),
            None => Vec::new(),
        };
        let form = login::form_fields(head, body);
        let kind = match route.answer.content {
            Content::File(_) => ReplyKind::Static {
                modified: self.shared.installed,
            },
            _ => ReplyKind::Dynamic,
        };
        let reply = self.render(
            app,
            mount,
            head,
            body,
            host,
            &route.answer,
            kind,
            Some(&form),
        );
        let asked = server::Preconditions {
            if_none_match: head.header("if-none-match"),
            if_modified_since: head.header("if-modified-since"),
            range: head.header("range"),
            if_range: head.header("if-range"),
            accept_encoding: head.header("accept-encoding"),
            head: head.method == "HEAD",
        };
        (server::deliver(server, reply, &asked, &at), logins)
    }

    fn redirect_location(
        &self,
        server: &Server,
        head: &Head,
        host: Option<&str>,
        mount: &str,
        slashed: &str,
        target: &TargetPath,
    ) -> String {
        let authority = head
            .header("host")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}:{}", server.server_name, self.local.port()));
        let _ = host;
        let query = match (server.kind, &target.query) {
            (ServerKind::Apache, Some(q)) => format!("?{q}"),
            _ => String::new(),
        };
        let path = format!("{mount}{slashed}");
        match server.kind {
            ServerKind::Tomcat => format!("{path}{query}"),
            _ => format!("http://{authority}{path}{query}"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        app: &App,
        mount: &str,
        head: &Head,
        body: &Body,
        host: Option<&str>,
        answer: &persona::Answer,
        kind: ReplyKind,
        form: Option<&Vec<(String, String)>>,
    ) -> Reply {
        let target = path_of(&head.target, app.server.kind);
        if let Content::Error(error) = &answer.content {
            let cause = match error {
                persona::ServerError::NotFound => ErrorCause::NotFound,
                persona::ServerError::Forbidden => ErrorCause::Forbidden,
            };
            let at = Addressed {
                host,
                port: self.port_for(head),
                method: &head.method,
                path: &target.raw_path,
                location: None,
            };
            return server::error_reply(&app.server, cause, &at);
        }
        let authority = head
            .header("host")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}:{}", app.server.server_name, self.local.port()));
        let base_url = format!("http://{authority}{mount}");
        let empty = Vec::new();
        let form_map: std::collections::BTreeMap<&str, &str> = form
            .unwrap_or(&empty)
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cookies = login::cookies(head);
        let xmlrpc = login::xmlrpc_calls(body);
        let context = minijinja::context! {
            cookies => cookies,
            xmlrpc => xmlrpc,
            sid => [php_session_id(), php_session_id()],
            flush => FLUSH,
            request => minijinja::context! {
                method => &head.method,
                target => &head.target,
                path => &target.decoded,
                query => target.query.as_deref().unwrap_or(""),
                host => host.unwrap_or(""),
                url => format!("http://{authority}{}", head.target),
                user_agent => head.header("user-agent").unwrap_or(""),
                body_size => body.size,
            },
            form => form_map,
            base => mount,
            base_url => base_url,
            server => minijinja::context! {
                banner => &app.server.banner,
                port => self.port_for(head),
            },
            vars => &app.vars,
            nonce => wordpress_nonce(self.shared.honeypot.persona().seed),
            token => pma_token(),
            now => server::http_date(SystemTime::now()),
            ..minijinja::Value::from_serialize(&app.vars)
        };
        let render = |key: &str| -> String {
            app.env
                .get_template(key)
                .and_then(|t| t.render(&context))
                .unwrap_or_else(|e| {
                    tracing::warn!(template = key, error = %e, "persona template failed");
                    String::new()
                })
        };
        let mut flushes = Vec::new();
        let body_bytes = match &answer.content {
            Content::File(bytes) => bytes.clone(),
            Content::Template(key) => {
                let text = render(key);
                if text.contains(FLUSH) {
                    let mut cut = String::with_capacity(text.len());
                    for (i, part) in text.split(FLUSH).enumerate() {
                        if i > 0 {
                            flushes.push(cut.len());
                        }
                        cut.push_str(part);
                    }
                    Bytes::from(cut)
                } else {
                    Bytes::from(text)
                }
            }
            Content::Empty | Content::Error(_) => Bytes::new(),
        };
        let mut reply = Reply::new(answer.status, kind, answer.content_type.clone(), body_bytes);
        reply.chunked = answer.chunked;
        reply.flushes = flushes;
        reply.status_http10 = match answer.status_protocol {
            Some(persona::StatusProtocol::Http10) => true,
            Some(persona::StatusProtocol::Request) => head.version == (1, 0),
            None => false,
        };
        // Apache drops the connection after an application's 400 or 5xx.
        if app.server.kind == ServerKind::Apache
            && kind == ReplyKind::Dynamic
            && (answer.status == 400 || answer.status >= 500)
        {
            reply.close = true;
        }
        let app_headers = if kind == ReplyKind::Dynamic {
            &app.headers[..]
        } else {
            &[]
        };
        for (name, key) in app_headers.iter().chain(&answer.headers) {
            // A header that renders to nothing is not sent (a template's condition).
            let value = header_value(&render(key));
            if !value.is_empty() {
                reply.headers.push((name.clone(), value));
            }
        }
        reply
    }

    async fn capture_uploads(&self, head: &Head, body: &Body) {
        let Some(ct) = head.header("content-type") else {
            return;
        };
        for (filename, content) in login::multipart_files(ct, &body.kept).await {
            self.session.upload(&filename, content).await;
        }
    }

    /// Emits the request's `http.request` event.
    async fn record(
        &self,
        head: &Head,
        app: &App,
        body: &Body,
        status: u16,
        mut labels: Vec<String>,
    ) {
        let shared = &self.shared;
        let parts = classify::RequestParts {
            method: &head.method,
            target: &head.target,
            headers: &head.headers,
            // Bounded: a crafted 64 KiB body costs the regexes milliseconds.
            body: &body.kept[..body.kept.len().min(shared.limits.body_keep_bytes)],
        };
        labels.extend(
            shared
                .classifier
                .classify(&parts)
                .into_iter()
                .map(str::to_owned),
        );
        labels.sort_unstable();
        labels.dedup();
        let mut detail = HttpDetail::new();
        detail.version = head.version_text();
        detail.headers = head
            .headers
            .iter()
            .take(shared.limits.max_event_headers)
            .map(|(n, v)| (cut(n, 256), cut(v, 8192)))
            .collect();
        if !body.kept.is_empty() {
            let keep = body.kept.len().min(shared.limits.body_keep_bytes);
            detail.body = Some(String::from_utf8_lossy(&body.kept[..keep]).into_owned());
        }
        detail.body_size = body.size;
        detail.body_sha256 = body.sha256.clone();
        detail.response_size = Some(self.out.len() as u64);
        detail.app = Some(app.name.to_string());
        if let Some(hello) = &self.hello {
            detail.tls_sni = hello.sni.as_deref().map(|s| cut(s, 255));
            detail.ja4 = Some(hello.ja4.clone());
        }
        self.session
            .emit(EventKind::HttpRequest {
                method: cut(&head.method, 64),
                uri: head.target.clone(),
                host: head.header("host").map(|h| cut(h, 255)),
                user_agent: head.header("user-agent").map(str::to_owned),
                status: Some(status),
                labels,
                detail: Some(Box::new(detail)),
            })
            .await;
    }
}

/// The request limits of `server`'s stock configuration.
fn request_limits_for(server: ServerKind, max_body_bytes: u64) -> RequestLimits {
    match server {
        // large_client_header_buffers 4 8k: no count, only the size.
        ServerKind::Nginx => RequestLimits {
            max_line_bytes: 8192,
            max_headers: 1000,
            max_head_bytes: 32 * 1024,
            max_body_bytes,
            ignore_invalid_headers: true,
        },
        _ => RequestLimits {
            max_body_bytes,
            ..RequestLimits::default()
        },
    }
}

/// Why a body was not read.
enum BodyError {
    TooLarge,
    Malformed,
    Closed,
}

/// Answers of the server itself for methods and targets no application sees.
fn method_reply(server: &Server, head: &Head, at: &Addressed<'_>) -> Option<Reply> {
    let method = head.method.as_str();
    let known = matches!(
        method,
        "GET"
            | "HEAD"
            | "POST"
            | "PUT"
            | "DELETE"
            | "CONNECT"
            | "OPTIONS"
            | "TRACE"
            | "PATCH"
            | "PROPFIND"
            | "PROPPATCH"
            | "MKCOL"
            | "COPY"
            | "MOVE"
            | "LOCK"
            | "UNLOCK"
    );
    let error = |cause| Some(server::error_reply(server, cause, at));
    match server.kind {
        ServerKind::Nginx => {
            if head.version.0 > 1 {
                return error(ErrorCause::VersionNotSupported);
            }
            if !method
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
            {
                return error(ErrorCause::BadRequest);
            }
            if method == "CONNECT" || head.target == "*" {
                return error(ErrorCause::BadRequest);
            }
            // PUT and DELETE go to the routes: 405 on a file, 404 where none is.
            if matches!(method, "TRACE" | "OPTIONS") || !known {
                return error(ErrorCause::MethodNotAllowed);
            }
        }
        ServerKind::Apache => {
            if !known {
                return error(ErrorCause::NotImplemented);
            }
            if method == "TRACE" || method == "CONNECT" || method == "PUT" || method == "DELETE" {
                return error(ErrorCause::MethodNotAllowed);
            }
            if method == "OPTIONS" {
                // Apache's core answers it: its header order is its error pages'.
                let mut reply = Reply::new(200, ReplyKind::Error, None, Bytes::new());
                if head.target != "*" {
                    reply = reply.header("Allow", "OPTIONS,HEAD,GET,POST");
                    reply.content_type = Some("text/html".to_owned());
                }
                return Some(reply);
            }
        }
        ServerKind::Tomcat => {
            if !known {
                return error(ErrorCause::NotImplemented);
            }
            if method == "TRACE" {
                return error(ErrorCause::MethodNotAllowed);
            }
            if method == "OPTIONS" {
                let allow = if head.target == "*" {
                    "GET, HEAD, POST, PUT, DELETE, OPTIONS"
                } else {
                    "OPTIONS, GET, HEAD, POST"
                };
                return Some(
                    Reply::new(200, ReplyKind::Dynamic, None, Bytes::new()).header("Allow", allow),
                );
            }
        }
    }
    None
}

/// A request target's path and query.
struct TargetPath {
    /// The path as sent (for messages).
    raw_path: String,
    /// Percent-decoded path (lossy), for routing.
    decoded: String,
    /// The normalised path, or why the server refuses it.
    normalised: Result<String, ErrorCause>,
    /// The query, without `?`.
    query: Option<String>,
}

fn path_of(target: &str, kind: ServerKind) -> TargetPath {
    // absolute-form: `http://host/path`.
    let origin = match target.find("://") {
        Some(i) if target[..i].bytes().all(|b| b.is_ascii_alphabetic()) => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        _ => target,
    };
    let (raw_path, query) = match origin.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (origin, None),
    };
    let decoded_bytes = percent_decode(raw_path.as_bytes());
    let decoded = String::from_utf8_lossy(&decoded_bytes).into_owned();
    let normalised = if !raw_path.starts_with('/') {
        Err(ErrorCause::InvalidUri)
    } else if decoded_bytes.contains(&0) {
        // A NUL is never in a file name: Apache looks and finds nothing, nginx refuses.
        Err(match kind {
            ServerKind::Nginx => ErrorCause::BadRequest,
            _ => ErrorCause::NotFound,
        })
    } else if kind == ServerKind::Apache && raw_path.to_ascii_lowercase().contains("%2f") {
        // AllowEncodedSlashes Off.
        Err(ErrorCause::NotFound)
    } else {
        normalise(&decoded)
    };
    TargetPath {
        raw_path: raw_path.to_owned(),
        decoded,
        normalised,
        query,
    }
}

/// Resolves `.` and `..` segments; a `..` above the root is a 400, as Apache and nginx
/// answer it.
fn normalise(path: &str) -> Result<String, ErrorCause> {
    let mut segments: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(ErrorCause::InvalidUri);
                }
            }
            s => segments.push(s),
        }
    }
    // Empty segments (`//`) collapse, as both servers merge slashes.
    let mut out = String::with_capacity(path.len());
    for segment in segments.iter().filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    Ok(out)
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                input.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn host_without_port(host: &str) -> String {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    bare.to_ascii_lowercase()
}

/// A header value from a template: CR, LF and NUL removed (no response splitting).
fn header_value(rendered: &str) -> String {
    rendered
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

fn first_line(buf: &[u8]) -> String {
    let start = buf
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len()).min(1024);
    let line = String::from_utf8_lossy(&rest[..end]);
    line.trim_end_matches('\r').to_owned()
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// What a template writes where the application flushed its output (a control
/// character no request value can carry into a template: values are escaped).
const FLUSH: &str = "\u{1}";

/// A PHP session id (`session.sid_bits_per_character = 5`: 26 of `[0-9a-v]`).
fn php_session_id() -> String {
    (0..26)
        .map(|_| char::from_digit(fastrand::u32(0..32), 32).unwrap_or('0'))
        .collect()
}

/// phpMyAdmin's token: the hex of 16 random printable bytes (0x21-0x7e).
fn pma_token() -> String {
    (0..16)
        .map(|_| format!("{:02x}", fastrand::u8(0x21..=0x7e)))
        .collect()
}

/// A WordPress nonce: the same for everyone for a 12-hour tick (as `wp_create_nonce`
/// is for visitors), different per install (from the persona's seed).
fn wordpress_nonce(seed: u64) -> String {
    use sha2::Digest as _;
    let tick = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 43_200);
    let digest = sha2::Sha256::digest(format!("{seed}:{tick}"));
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_like_apache() {
        assert_eq!(normalise("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(normalise("/a//b/").unwrap(), "/a/b/");
        assert_eq!(normalise("/../etc/passwd"), Err(ErrorCause::InvalidUri));
        assert_eq!(normalise("/icons/../../x"), Err(ErrorCause::InvalidUri));
        assert!(
            path_of("/%2e%2e/%2e%2e/etc/passwd", ServerKind::Apache)
                .normalised
                .is_err()
        );
        assert_eq!(
            path_of("/a%2fb", ServerKind::Apache).normalised,
            Err(ErrorCause::NotFound)
        );
        assert_eq!(
            path_of("http://example.com/x?y=1", ServerKind::Apache).decoded,
            "/x"
        );
        assert_eq!(
            path_of("/x?y=1", ServerKind::Apache).query.as_deref(),
            Some("y=1")
        );
    }

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(host_without_port("Example.com:8080"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port("localhost"), "localhost");
    }

    #[test]
    fn header_values_cannot_split_responses() {
        assert_eq!(header_value("/x\r\nSet-Cookie: a=b"), "/xSet-Cookie: a=b");
    }
}
