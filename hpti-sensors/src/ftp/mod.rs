//! The FTP honeypot: answers as Debian 12's vsftpd 3.0.3 (or ProFTPD 1.3.8) does, byte
//! for byte where it was captured (`testdata/ftp/`), over the same fake filesystem the
//! shells show; captures logins and every upload.
//!
//! ```no_run
//! # async fn demo(ctx: hpti_core::source::SourceContext) -> Result<(), hpti_core::source::SourceError> {
//! use hpti_core::source::Source;
//! use hpti_sensors::ftp::{FtpConfig, FtpSensor};
//! use hpti_sensors::honeypot::HoneypotConfig;
//!
//! let metrics = hpti_core::metrics::PipelineMetrics::default();
//! let sensor = FtpSensor::bind(
//!     "ftp",
//!     std::path::Path::new("./hpti-data"),
//!     FtpConfig::default(),
//!     &HoneypotConfig::default(),
//!     &metrics,
//! )
//! .await?;
//! println!("listening on {}", sensor.local_addr());
//! sensor.run(ctx).await
//! # }
//! ```
//!
//! # What a client of the vsftpd persona sees
//!
//! - `220 (vsFTPd 3.0.3)` at once; before a login only `USER`, `PASS`, `QUIT`, `FEAT`
//!   and `OPTS` are answered, everything else gets `530 Please login with USER and
//!   PASS.`; every user name gets `331` (no enumeration).
//! - A failed login is answered after [`FtpConfig::login_failure_delay`] (vsftpd's 1 s
//!   plus PAM's 2 s, jittered by a quarter as Linux-PAM does) and the third failure
//!   closes the connection, as `max_login_fails=3`.
//! - `anonymous` and `ftp` log in with any password when [`FtpConfig::anonymous`] is
//!   on, into `/srv/ftp` of the fake host (vsftpd's chroot: `/` is that directory);
//!   they may not write. Other names go through the shared credential policy
//!   (`[honeypot.auth]`) and see the whole fake filesystem from their home.
//! - Uploads (`STOR`, `APPE`, `STOU`) land in the session's copy of the fake
//!   filesystem (a later `LIST` shows them), never on the real one, and are stored by
//!   SHA-256 in the artifact store as `file.upload` events.
//! - `PORT`/`EPRT` to any address but the client's, or to a port below 1024, is
//!   refused with `500 Illegal PORT command.` and recorded as a
//!   `port_forward.request` (an FTP bounce); no data connection is ever opened to a
//!   third party, and a passive port accepts only the control connection's address.
//! - Bounded: 4096-byte command lines (longer: `500 Input line too long.` and close,
//!   as vsftpd), the idle timeout (`421 Timeout.`), data timeouts, uploads per
//!   connection (`limits.max_upload_bytes`) and held in memory by the sensor
//!   (`limits.max_upload_memory`), connections per address and in all (refused with
//!   vsftpd's `421` words instead of the greeting).
//!
//! - Explicit FTPS with [`FtpConfig::tls`], as a vsftpd with `ssl_enable=YES` that
//!   does not force it (`testdata/ftp/vsftpd-3.0.3/NOTES.md`, "Explicit FTPS"): `AUTH
//!   TLS` (or `SSL`, `TLS-C`, `TLS-P`) before a login, `PBSZ`, `PROT C|P`, TLS data
//!   connections that must resume the control connection's session, vsftpd's `500
//!   OOPS:` lines when a handshake fails. The client hello's JA4 is recorded.
//!
//! With [`FtpConfig::server`] = [`FtpServer::Proftpd`] the sensor answers as Debian
//! 12's ProFTPD 1.3.8 instead (`proftpd.rs`, `testdata/ftp/proftpd-1.3.8/`).

pub mod command;
mod listing;
mod proftpd;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::event::{AuthMethod, EventKind, Protocol};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::source::{Source, SourceContext, SourceError};
use serde::{Deserialize, Serialize};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

use crate::honeypot::{Honeypot, HoneypotConfig, Refusal, accept_loop_refusing, take_listener};
use crate::policy::Credential;
use crate::session::Session;
use crate::shell::fs::{self, FileSystem, Kind, Node};
use crate::uploads::Held;
use command::{Command, Framed, Target};

/// Most bytes of one file `RETR` serves or `APPE` extends (the fake host's binaries and
/// devices are generated up to this size when read): per connection, so that many
/// connections reading `/dev/zero` cannot make the sensor hold gigabytes.
const MAX_RETR_BYTES: usize = 4 * 1024 * 1024;
/// Bytes read from a data connection at once.
const DATA_CHUNK: usize = 64 * 1024;
/// Names `STOU` tries before giving up.
const MAX_STOU_TRIES: usize = 1000;
/// Listing lines sent for one `LIST`/`NLST`.
const MAX_LISTING: usize = 10_000;
/// The anonymous users' root on the fake host (Debian's `ftp` user's home).
const ANONYMOUS_ROOT: &str = "/srv/ftp";

/// Which real FTP server the sensor imitates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FtpServer {
    /// Debian 12's vsftpd 3.0.3 with its stock configuration and anonymous access.
    #[default]
    Vsftpd,
    /// Debian 12's ProFTPD 1.3.8 (`proftpd-basic`) with its stock configuration and
    /// the `<Anonymous ~ftp>` block it ships commented out turned on.
    Proftpd,
}

/// The FTP sensor's own settings (the fake host's are in [`HoneypotConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FtpConfig {
    /// This sensor's persona file, instead of `[honeypot] persona`.
    pub persona: Option<PathBuf>,
    /// The server imitated: `"vsftpd"` (default) or `"proftpd"`.
    pub server: FtpServer,
    /// Where to listen (default `127.0.0.1:2121`; `0.0.0.0:21` in production).
    pub listen: SocketAddr,
    /// Whether `anonymous` and `ftp` log in (read-only) with any password (default
    /// on: `nmap -sC` then reports an anonymous server, which draws more visitors).
    pub anonymous: bool,
    /// The passive data ports, first and last (default 40000–40100).
    pub passive_ports: [u16; 2],
    /// The address `PASV` announces (behind NAT: the public one); default the address
    /// the client connected to.
    pub passive_address: Option<IpAddr>,
    /// Delay before a failed login is answered, jittered by ±25 % (default 3 s:
    /// vsftpd's `delay_failed_login` plus PAM's fail delay, measured 2.8–3.7 s).
    #[serde(with = "humantime_serde")]
    pub login_failure_delay: Duration,
    /// Failed logins after which the connection is closed (vsftpd's `max_login_fails`).
    pub max_login_fails: usize,
    /// How long a passive port waits for the client (vsftpd's `accept_timeout`).
    #[serde(with = "humantime_serde")]
    pub accept_timeout: Duration,
    /// A data connection without progress for this long fails (vsftpd's
    /// `data_connection_timeout`).
    #[serde(with = "humantime_serde")]
    pub data_timeout: Duration,
    /// Explicit FTPS (`AUTH TLS`, then `PBSZ`/`PROT` for the data connections), as a
    /// vsftpd with `ssl_enable=YES` that does not force it: `tls = {}` for a
    /// self-signed certificate made once for the persona's host name, or
    /// `tls = { cert = "...", key = "..." }` (PEM, relative to the data directory).
    /// Without it (the default, as Debian's vsftpd.conf) `AUTH` is an unknown command.
    pub tls: Option<crate::tls::TlsConfig>,
    /// ProFTPD only: `TimeoutLogin`, the time from connecting to a login (not reset by
    /// commands; default 300 s, ProFTPD's default, which Debian keeps).
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// ProFTPD only: `TimeoutNoTransfer`, the time a logged-in client may go without a
    /// transfer (default 600 s, Debian's `proftpd.conf`).
    #[serde(with = "humantime_serde")]
    pub no_transfer_timeout: Duration,
}

impl Default for FtpConfig {
    fn default() -> Self {
        Self {
            persona: None,
            server: FtpServer::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 2121)),
            anonymous: true,
            passive_ports: [40000, 40100],
            passive_address: None,
            login_failure_delay: Duration::from_secs(3),
            max_login_fails: 3,
            accept_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(300),
            tls: None,
            login_timeout: Duration::from_secs(300),
            no_transfer_timeout: Duration::from_secs(600),
        }
    }
}

/// The FTP honeypot sensor.
pub struct FtpSensor {
    name: String,
    listener: std::sync::Mutex<Option<TcpListener>>,
    local: SocketAddr,
    config: Arc<FtpConfig>,
    honeypot: Arc<Honeypot>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for FtpSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpSensor")
            .field("name", &self.name)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl FtpSensor {
    /// Loads (or generates) the persona and binds the listening socket.
    pub async fn bind(
        name: &str,
        data_dir: &Path,
        config: FtpConfig,
        honeypot: &HoneypotConfig,
        metrics: &PipelineMetrics,
    ) -> Result<Self, SourceError> {
        let [first, last] = config.passive_ports;
        if first == 0 || first > last {
            return Err(SourceError::msg(format!(
                "{name}: passive_ports must be [first, last] with 0 < first <= last, not \
                 [{first}, {last}]"
            )));
        }
        if config.server == FtpServer::Proftpd && config.tls.is_some() {
            // Debian's proftpd does not load mod_tls; no FTPS of it was captured.
            return Err(SourceError::msg(format!(
                "{name}: tls: the proftpd persona has no FTPS (Debian's proftpd.conf does not \
                 load mod_tls); remove `tls` or use server = \"vsftpd\""
            )));
        }
        let honeypot = Honeypot::open(name, Protocol::Ftp, data_dir, honeypot, metrics)?;
        let tls = match &config.tls {
            Some(tls) => Some(tokio_rustls::TlsAcceptor::from(
                crate::tls::server_config_with(
                    tls,
                    data_dir,
                    name,
                    &honeypot.persona().hostname,
                    &[],
                    crate::tls::vsftpd_provider(),
                )
                .map_err(|e| SourceError::new(format!("{name}: tls"), e))?,
            )),
            None => None,
        };
        let (listener, local) = crate::honeypot::bind_listener(name, config.listen).await?;
        Ok(Self {
            name: name.to_owned(),
            listener: std::sync::Mutex::new(Some(listener)),
            local,
            config: Arc::new(config),
            honeypot,
            tls,
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
}

#[async_trait]
impl Source for FtpSensor {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let listener = take_listener(&self.listener, &self.name)?;
        tracing::info!(sensor = %self.name, addr = %self.local, "FTP sensor listening");
        accept_loop_refusing(
            &self.honeypot,
            listener,
            &ctx.shutdown,
            match self.config.server {
                FtpServer::Vsftpd => refusal,
                // ProFTPD past MaxInstances closes without a byte (captured).
                FtpServer::Proftpd => |_| None,
            },
            |stream, peer| {
                serve(
                    self.honeypot.clone(),
                    self.config.clone(),
                    self.tls.clone(),
                    ctx.clone(),
                    stream,
                    peer,
                )
            },
        )
        .await;
        Ok(())
    }
}

/// vsftpd's words past `max_per_ip` and `max_clients`, sent instead of the greeting.
fn refusal(refused: Refusal) -> Option<&'static [u8]> {
    Some(match refused {
        Refusal::PerAddress => {
            b"421 There are too many connections from your internet address.\r\n"
        }
        Refusal::Capacity => b"421 There are too many connected users, please try later.\r\n",
    })
}

async fn serve(
    honeypot: Arc<Honeypot>,
    config: Arc<FtpConfig>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: SourceContext,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let local = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    let clients = honeypot.open_connections();
    let session = Session::new(honeypot.clone(), ctx.events.clone(), peer, local);
    let core = session.core().clone();
    core.start().await;
    let fs = honeypot.filesystem_for(peer.ip());
    let now = Instant::now();
    let mut connection = Connection {
        deadline: now + honeypot.limits.max_session_time,
        honeypot,
        config,
        session,
        stream: Control::Plain(stream),
        tls,
        private_data: false,
        buf: Vec::with_capacity(512),
        peer,
        local,
        clients,
        user: None,
        login: None,
        fails: 0,
        cwd: "/".to_owned(),
        fs,
        binary: false,
        data: None,
        epsv_all: false,
        rest: 0,
        rename_from: None,
    };
    let end = connection.converse(&ctx.shutdown).await;
    let counters = &connection.honeypot.counters;
    match end {
        End::Idle => {
            counters.idle_timeout.inc();
        }
        End::SessionTimeout => {
            counters.session_timeout.inc();
        }
        End::TooManyAuth => {
            counters.too_many_auth.inc();
        }
        End::Closed | End::Quit | End::Shutdown | End::TooLong => {}
    }
    tracing::debug!(%peer, ?end, "FTP connection ended");
    let _ = timeout(Duration::from_secs(1), connection.stream.shutdown()).await;
    if connection.login.is_some() {
        let fs = std::mem::replace(
            &mut connection.fs,
            FileSystem::new(connection.honeypot.base.clone()),
        );
        connection.honeypot.keep_filesystem(peer.ip(), fs);
    }
    core.close(None).await;
}

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Closed,
    Quit,
    Idle,
    SessionTimeout,
    TooManyAuth,
    TooLong,
    Shutdown,
}

/// Who is logged in.
struct Login {
    /// The name `STAT` shows (`ftp` for anonymous logins).
    name: String,
    anonymous: bool,
    /// Where the client's `/` is on the fake host (`/` unless anonymous).
    root: String,
    uid: u32,
    gid: u32,
}

/// A stream a connection reads and writes: plain TCP or TLS over it.
trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> ByteStream for T {}

/// The control connection: plain until `AUTH TLS`, TLS after.
enum Control {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<crate::tls::Prefixed<TcpStream>>>),
    /// While the handshake owns the socket (a failed one leaves this: closed).
    Gone,
}

impl Control {
    fn gone() -> io::Error {
        io::Error::new(io::ErrorKind::NotConnected, "the TLS handshake failed")
    }
}

impl AsyncRead for Control {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Self::Gone => Poll::Ready(Err(Self::gone())),
        }
    }
}

impl AsyncWrite for Control {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Self::Gone => Poll::Ready(Err(Self::gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }

    /// vsftpd closes a TLS control connection without a close_notify (captured): so
    /// does this, closing the TCP connection under it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.get_mut().0.inner_mut()).poll_shutdown(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Why a data connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataFailure {
    /// No `PASV`/`PORT` before the transfer.
    NoPlan,
    /// The connection failed (refused, reset).
    Failed,
    /// Nobody connected to the passive port in time.
    NobodyCame,
}

/// How the next transfer gets its data connection.
enum DataPlan {
    Passive(TcpListener),
    Active(SocketAddr),
}

struct Connection {
    honeypot: Arc<Honeypot>,
    config: Arc<FtpConfig>,
    session: Session,
    stream: Control,
    /// `AUTH TLS`'s certificate, when the sensor offers TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// `PROT P`: data connections are TLS too.
    private_data: bool,
    buf: Vec<u8>,
    peer: SocketAddr,
    local: SocketAddr,
    /// Connections open when this one started (`STAT`'s client count).
    clients: usize,
    /// The name of a `USER` waiting for its `PASS`.
    user: Option<String>,
    login: Option<Login>,
    fails: usize,
    /// The client's working directory (under its root).
    cwd: String,
    fs: FileSystem,
    binary: bool,
    data: Option<DataPlan>,
    epsv_all: bool,
    rest: u64,
    rename_from: Option<String>,
    /// `max_session_time` after the connection opened.
    deadline: Instant,
}

impl Connection {
    async fn converse(&mut self, shutdown: &tokio_util::sync::CancellationToken) -> End {
        if self.config.server == FtpServer::Proftpd {
            return proftpd::converse(self, shutdown).await;
        }
        if self.send("220 (vsFTPd 3.0.3)").await.is_err() {
            return End::Closed;
        }
        loop {
            let line = tokio::select! {
                () = shutdown.cancelled() => return End::Shutdown,
                line = self.read_line() => line,
            };
            let line = match line {
                Ok(line) => line,
                Err(end) => return end,
            };
            // vsftpd ignores empty lines without a word.
            if line.is_empty() {
                continue;
            }
            let command = command::parse(&line);
            if let Err(end) = self.dispatch(command).await {
                return end;
            }
        }
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, End> {
        loop {
            match command::frame(&self.buf) {
                Framed::Line(line, used) => {
                    self.buf.drain(..used);
                    return Ok(line);
                }
                Framed::TooLong => {
                    let _ = self.send("500 Input line too long.").await;
                    return Err(End::TooLong);
                }
                Framed::Incomplete => {}
            }
            let idle = self.honeypot.limits.idle_timeout;
            let deadline = (Instant::now() + idle).min(self.deadline);
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await;
            match read {
                Ok(Ok(0) | Err(_)) => return Err(End::Closed),
                Ok(Ok(n)) => {
                    // `frame` looks at MAX_LINE bytes at most: the buffer never holds
                    // more than that plus one read.
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(_) if Instant::now() >= self.deadline => return Err(End::SessionTimeout),
                Err(_) => {
                    let _ = self.send("421 Timeout.").await;
                    return Err(End::Idle);
                }
            }
        }
    }

    async fn send(&mut self, reply: &str) -> Result<(), End> {
        let mut bytes = Vec::with_capacity(reply.len() + 2);
        bytes.extend_from_slice(reply.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        match timeout(
            self.honeypot.limits.idle_timeout,
            self.stream.write_all(&bytes),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Closed),
            Err(_) => Err(End::Idle),
        }
    }

    async fn dispatch(&mut self, command: Command) -> Result<(), End> {
        let Command { verb, arg } = command;
        if verb != "PASS" && verb != "USER" {
            let line = match &arg {
                Some(arg) => format!("{verb} {arg}"),
                None => verb.clone(),
            };
            self.session
                .emit(EventKind::CommandInput { command: line })
                .await;
        }
        let arg = arg.as_deref();
        match verb.as_str() {
            "USER" => return self.user(arg).await,
            "PASS" => return self.pass(arg).await,
            "QUIT" => {
                let _ = self.send("221 Goodbye.").await;
                return Err(End::Quit);
            }
            "FEAT" if self.tls.is_some() => {
                return self
                    .send(
                        "211-Features:\r\n AUTH TLS\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n \
                         PBSZ\r\n PROT\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End",
                    )
                    .await;
            }
            "FEAT" => {
                return self
                    .send(
                        "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n \
                         SIZE\r\n TVFS\r\n211 End",
                    )
                    .await;
            }
            // With TLS offered (vsftpd's ssl_enable), before the login check: PBSZ and
            // PROT work in every state, AUTH only before a login on a plain connection.
            "AUTH" if self.tls.is_some() && self.login.is_none() && !self.encrypted() => {
                return self.auth(arg).await;
            }
            "AUTH" if self.tls.is_some() && self.login.is_some() => {
                return self.send("500 Unknown command.").await;
            }
            "PBSZ" if self.tls.is_some() => {
                let reply = if self.encrypted() {
                    "200 PBSZ set to 0."
                } else {
                    "503 PBSZ needs a secure connection."
                };
                return self.send(reply).await;
            }
            "PROT" if self.tls.is_some() => return self.protection(arg).await,
            "OPTS" => {
                let reply = if arg.is_some_and(|a| a.eq_ignore_ascii_case("UTF8 ON")) {
                    "200 Always in UTF8 mode."
                } else {
                    "501 Option not understood."
                };
                return self.send(reply).await;
            }
            _ => {}
        }
        if self.login.is_none() {
            return self.send("530 Please login with USER and PASS.").await;
        }
        self.logged_in(&verb, arg).await
    }

    /// Whether data connections are TLS (`PROT P` on a TLS control connection).
    fn data_is_private(&self) -> bool {
        self.tls.is_some() && self.private_data && self.encrypted()
    }

    /// Whether the control connection is TLS.
    fn encrypted(&self) -> bool {
        matches!(self.stream, Control::Tls(_))
    }

    /// `AUTH`: the types vsftpd takes (`SSL` and `TLS-P` also make the data private).
    async fn auth(&mut self, arg: Option<&str>) -> Result<(), End> {
        let kind = arg.unwrap_or_default().to_ascii_uppercase();
        if !matches!(kind.as_str(), "TLS" | "TLS-C" | "SSL" | "TLS-P") {
            return self.send("504 Unknown AUTH type.").await;
        }
        self.send("234 Proceed with negotiation.").await?;
        self.start_tls().await?;
        if kind == "SSL" || kind == "TLS-P" {
            self.private_data = true;
        }
        Ok(())
    }

    /// The server side of the handshake after `234`. A client that does not complete
    /// it gets vsftpd's words (OpenSSL's error, in plain text) and the close.
    async fn start_tls(&mut self) -> Result<(), End> {
        let Some(acceptor) = self.tls.clone() else {
            return Err(End::Closed);
        };
        let Control::Plain(tcp) = std::mem::replace(&mut self.stream, Control::Gone) else {
            return Err(End::Closed);
        };
        // Bytes the client sent after AUTH are the start of its hello.
        let mut early = crate::tls::Prefixed::new(std::mem::take(&mut self.buf), tcp);
        let wait = self
            .honeypot
            .limits
            .idle_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let (raw, hello) = match timeout(wait, crate::tls::read_client_hello(&mut early)).await {
            Ok(Ok(read)) => read,
            Ok(Err(_)) => return Err(End::Closed),
            Err(_) => {
                let (_, mut tcp) = early.into_parts();
                oops(&mut tcp, "error:00000000:lib(0)::reason(0)").await;
                return Err(End::Idle);
            }
        };
        let (unread, mut tcp) = early.into_parts();
        let Some(hello) = hello else {
            let error = if raw.is_empty() {
                "error:0A000126:SSL routines::unexpected eof while reading"
            } else {
                "error:0A00010B:SSL routines::wrong version number"
            };
            oops(&mut tcp, error).await;
            return Err(End::Closed);
        };
        self.session
            .emit(EventKind::ClientFingerprint {
                method: "ja4".to_owned(),
                fingerprint: hello.ja4.clone(),
                algorithms: hello.sni.as_ref().map(|sni| format!("sni={sni}")),
            })
            .await;
        let mut replay = raw;
        replay.extend_from_slice(&unread);
        let accept = acceptor
            .accept(crate::tls::Prefixed::new(replay, tcp))
            .into_fallible();
        match timeout(wait, accept).await {
            Ok(Ok(stream)) => {
                self.stream = Control::Tls(Box::new(stream));
                Ok(())
            }
            Ok(Err((_, mut prefixed))) => {
                oops(
                    prefixed.inner_mut(),
                    "error:0A0000C1:SSL routines::no shared cipher",
                )
                .await;
                Err(End::Closed)
            }
            Err(_) => Err(End::Idle),
        }
    }

    /// `PROT` on a TLS connection: `C`lear or `P`rivate data connections.
    async fn protection(&mut self, arg: Option<&str>) -> Result<(), End> {
        if !self.encrypted() {
            return self.send("503 PROT needs a secure connection.").await;
        }
        let reply = match arg.unwrap_or_default().to_ascii_uppercase().as_str() {
            "C" => {
                self.private_data = false;
                "200 PROT now Clear."
            }
            "P" => {
                self.private_data = true;
                "200 PROT now Private."
            }
            "S" | "E" => "536 PROT not supported.",
            _ => "504 PROT not recognized.",
        };
        self.send(reply).await
    }

    async fn user(&mut self, arg: Option<&str>) -> Result<(), End> {
        if let Some(login) = &self.login {
            let reply = if login.anonymous {
                "530 Can't change from guest user."
            } else {
                "530 Can't change to another user."
            };
            return self.send(reply).await;
        }
        self.user = Some(arg.unwrap_or_default().to_owned());
        self.send("331 Please specify the password.").await
    }

    async fn pass(&mut self, arg: Option<&str>) -> Result<(), End> {
        if self.login.is_some() {
            return self.send("230 Already logged in.").await;
        }
        let Some(user) = self.user.take().filter(|u| !u.is_empty()) else {
            return self.send("503 Login with USER first.").await;
        };
        let password = arg.unwrap_or_default();
        let anonymous = user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp");
        let success = if anonymous && self.config.anonymous {
            self.record_anonymous_login(&user, password).await;
            true
        } else {
            self.session
                .login(&user, Credential::Password(password), AuthMethod::Password)
                .await
        };
        if success {
            self.login = Some(self.login_for(&user, anonymous && self.config.anonymous));
            self.cwd = self.home();
            return self.send("230 Login successful.").await;
        }
        self.fails += 1;
        let jitter = 0.75 + fastrand::f64() * 0.5;
        tokio::time::sleep(self.config.login_failure_delay.mul_f64(jitter)).await;
        self.send("530 Login incorrect.").await?;
        if self.fails >= self.config.max_login_fails.max(1) {
            return Err(End::TooManyAuth);
        }
        Ok(())
    }

    /// An anonymous login: accepted whatever the password, recorded as a successful
    /// `login.attempt` (the credential policy is not asked).
    async fn record_anonymous_login(&mut self, user: &str, password: &str) {
        self.session.auth_attempts += 1;
        self.session
            .emit(EventKind::LoginAttempt {
                username: user.to_owned(),
                password: Some(password.to_owned()),
                key_type: None,
                key_fingerprint: None,
                method: AuthMethod::Password,
                success: true,
            })
            .await;
    }

    fn login_for(&mut self, user: &str, anonymous: bool) -> Login {
        if anonymous {
            // vsftpd refuses to start without the anonymous root; the fake host may not
            // have it (an older persona), so it appears as Debian's package creates it.
            if !self.fs.exists("/", ANONYMOUS_ROOT) {
                let now = chrono::Utc::now().timestamp();
                let _ = self.fs.put("/srv", Node::dir(0o755, 0, 0, now));
                let _ = self.fs.put(ANONYMOUS_ROOT, Node::dir(0o755, 0, 0, now));
            }
            return Login {
                name: "ftp".to_owned(),
                anonymous: true,
                root: ANONYMOUS_ROOT.to_owned(),
                uid: 0,
                gid: 0,
            };
        }
        let (uid, gid) = if user == "root" { (0, 0) } else { (1000, 1000) };
        Login {
            name: user.to_owned(),
            anonymous: false,
            root: "/".to_owned(),
            uid,
            gid,
        }
    }

    /// Where a login starts: `/` for anonymous, else the user's home when the fake
    /// host has it.
    fn home(&self) -> String {
        let Some(login) = &self.login else {
            return "/".to_owned();
        };
        if login.anonymous {
            return "/".to_owned();
        }
        let home = if login.name == "root" {
            "/root".to_owned()
        } else {
            format!("/home/{}", login.name)
        };
        if self.fs.stat("/", &home).is_ok_and(|(_, n)| n.is_dir()) {
            home
        } else {
            "/".to_owned()
        }
    }

    /// The client's path `path` (relative to its working directory) on the fake host,
    /// and as the client sees it.
    fn locate(&self, path: &str) -> (String, String) {
        let visible = fs::normalize(&self.cwd, path);
        let root = self.login.as_ref().map_or("/", |l| l.root.as_str());
        let real = if root == "/" {
            visible.clone()
        } else if visible == "/" {
            root.to_owned()
        } else {
            format!("{root}{visible}")
        };
        (real, visible)
    }

    fn anonymous(&self) -> bool {
        self.login.as_ref().is_some_and(|l| l.anonymous)
    }

    async fn logged_in(&mut self, verb: &str, arg: Option<&str>) -> Result<(), End> {
        const WRITES: [&str; 13] = [
            "STOR", "APPE", "STOU", "DELE", "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO", "SITE",
            "PBSZ", "PROT",
        ];
        if self.anonymous() && WRITES.contains(&verb) {
            return self.send("550 Permission denied.").await;
        }
        match verb {
            "SYST" => self.send("215 UNIX Type: L8").await,
            "NOOP" => self.send("200 NOOP ok.").await,
            "HELP" => {
                self.send(
                    "214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP \
                     CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS \
                     PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT \
                     STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.",
                )
                .await
            }
            "PWD" | "XPWD" => {
                let reply = format!("257 \"{}\" is the current directory", self.cwd);
                self.send(&reply).await
            }
            "CWD" | "XCWD" => {
                let target = arg.unwrap_or_default();
                self.change_dir(target).await
            }
            "CDUP" | "XCUP" => self.change_dir("..").await,
            "TYPE" => {
                let reply = match arg.map(str::to_ascii_uppercase).as_deref() {
                    Some("A" | "A N") => {
                        self.binary = false;
                        "200 Switching to ASCII mode."
                    }
                    Some("I" | "L 8") => {
                        self.binary = true;
                        "200 Switching to Binary mode."
                    }
                    _ => "500 Unrecognised TYPE command.",
                };
                self.send(reply).await
            }
            "MODE" => {
                let ok = arg.is_some_and(|a| a.eq_ignore_ascii_case("S"));
                self.send(if ok {
                    "200 Mode set to S."
                } else {
                    "504 Bad MODE command."
                })
                .await
            }
            "STRU" => {
                let ok = arg.is_some_and(|a| a.eq_ignore_ascii_case("F"));
                self.send(if ok {
                    "200 Structure set to F."
                } else {
                    "504 Bad STRU command."
                })
                .await
            }
            "PASV" => self.passive(false, arg).await,
            "EPSV" => self.passive(true, arg).await,
            "PORT" | "EPRT" => self.active(verb, arg.unwrap_or_default()).await,
            "LIST" | "NLST" => self.list(verb == "LIST", arg).await,
            "RETR" => self.retrieve(arg.unwrap_or_default()).await,
            "STOR" | "APPE" | "STOU" => self.store(verb, arg).await,
            "SIZE" => {
                let (real, _) = self.locate(arg.unwrap_or_default());
                let reply = match self.fs.stat("/", &real) {
                    Ok((_, node)) if node.kind == Kind::File && arg.is_some() => {
                        format!("213 {}", node.size())
                    }
                    _ => "550 Could not get file size.".to_owned(),
                };
                self.send(&reply).await
            }
            "MDTM" => {
                let (real, _) = self.locate(arg.unwrap_or_default());
                let reply = match self.fs.stat("/", &real) {
                    Ok((_, node)) if node.kind == Kind::File && arg.is_some() => {
                        format!("213 {}", listing::mdtm(node.mtime))
                    }
                    _ => "550 Could not get file modification time.".to_owned(),
                };
                self.send(&reply).await
            }
            "STAT" => self.status(arg).await,
            "REST" => {
                self.rest = arg.and_then(|a| a.trim().parse().ok()).unwrap_or(0);
                let reply = format!("350 Restart position accepted ({}).", self.rest);
                self.send(&reply).await
            }
            "ABOR" => self.send("225 No transfer to ABOR.").await,
            "ALLO" => self.send("202 ALLO command ignored.").await,
            "ACCT" | "REIN" | "SMNT" => {
                let reply = format!("502 {verb} not implemented.");
                self.send(&reply).await
            }
            "MKD" | "XMKD" => self.make_dir(arg.unwrap_or_default()).await,
            "RMD" | "XRMD" => self.remove_dir(arg.unwrap_or_default()).await,
            "DELE" => self.delete(arg.unwrap_or_default()).await,
            "RNFR" => {
                let (real, _) = self.locate(arg.unwrap_or_default());
                if arg.is_some() && self.fs.lstat("/", &real).is_ok() {
                    self.rename_from = Some(real);
                    self.send("350 Ready for RNTO.").await
                } else {
                    self.send("550 RNFR command failed.").await
                }
            }
            "RNTO" => self.rename(arg.unwrap_or_default()).await,
            "SITE" => self.site(arg.unwrap_or_default()).await,
            _ => self.send("500 Unknown command.").await,
        }
    }

    async fn change_dir(&mut self, target: &str) -> Result<(), End> {
        let (real, visible) = self.locate(target);
        match self.fs.stat("/", &real) {
            Ok((_, node)) if node.is_dir() => {
                self.cwd = visible;
                self.send("250 Directory successfully changed.").await
            }
            _ => self.send("550 Failed to change directory.").await,
        }
    }

    async fn status(&mut self, arg: Option<&str>) -> Result<(), End> {
        let Some(path) = arg else {
            let login = self.login.as_ref().map_or("ftp", |l| l.name.as_str());
            let reply = format!(
                "211-FTP server status:\r\n     Connected to {}\r\n     Logged in as {login}\r\n     \
                 TYPE: {}\r\n     No session bandwidth limit\r\n     Session timeout in seconds is \
                 {}\r\n     Control connection is {}\r\n     Data connections will be \
                 {}\r\n     At session startup, client count was {}\r\n     vsFTPd 3.0.3 \
                 - secure, fast, stable\r\n211 End of status",
                self.peer.ip(),
                if self.binary { "BINARY" } else { "ASCII" },
                self.honeypot.limits.idle_timeout.as_secs(),
                if self.encrypted() {
                    "encrypted"
                } else {
                    "plain text"
                },
                if self.private_data && self.encrypted() {
                    "encrypted"
                } else {
                    "plain text"
                },
                self.clients.max(1),
            );
            return self.send(&reply).await;
        };
        let mut reply = String::from("213-Status follows:\r\n");
        for line in self.listing(path, true, true) {
            reply.push_str(&line);
        }
        reply.push_str("213 End of status");
        self.send(&reply).await
    }

    /// `LIST`/`NLST` lines of `arg` (options such as `-la` first, then a path).
    fn listing(&self, arg: &str, long: bool, all_by_default: bool) -> Vec<String> {
        let mut all = all_by_default;
        let mut long = long;
        let mut path = "";
        for word in arg.split(' ').filter(|w| !w.is_empty()) {
            if let Some(flags) = word.strip_prefix('-') {
                all |= flags.contains('a');
                long |= flags.contains('l');
            } else if path.is_empty() {
                path = word;
            }
        }
        let now = chrono::Utc::now().timestamp();
        let (real, _) = self.locate(if path.is_empty() { "." } else { path });
        let Ok((_, node)) = self.fs.lstat("/", &real) else {
            return Vec::new();
        };
        if !node.is_dir() {
            let shown = if path.is_empty() { "." } else { path };
            return vec![if long {
                listing::long_line(shown, &node, now)
            } else {
                format!("{shown}\r\n")
            }];
        }
        let mut entries = self.fs.list(&real);
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut lines = Vec::new();
        if all && long {
            lines.push(listing::long_line(".", &node, now));
            let parent = fs::parent(&real).to_owned();
            if let Ok((_, up)) = self.fs.stat("/", &parent) {
                lines.push(listing::long_line("..", &up, now));
            }
        }
        for (name, child) in entries.into_iter().take(MAX_LISTING) {
            if name.starts_with('.') && !all {
                continue;
            }
            lines.push(if long {
                listing::long_line(&name, &child, now)
            } else if path.is_empty() {
                format!("{name}\r\n")
            } else {
                format!("{}/{name}\r\n", path.trim_end_matches('/'))
            });
        }
        lines
    }

    async fn passive(&mut self, extended: bool, arg: Option<&str>) -> Result<(), End> {
        if extended {
            match arg.map(str::to_ascii_uppercase).as_deref() {
                Some("ALL") => {
                    self.epsv_all = true;
                    return self.send("200 EPSV ALL ok.").await;
                }
                None | Some("1") if self.local.is_ipv4() => {}
                None | Some("2") if self.local.is_ipv6() => {}
                _ => return self.send("522 Bad network protocol.").await,
            }
        } else if self.epsv_all {
            return self.send("550 Permission denied.").await;
        }
        self.data = None;
        let Some(listener) = self.bind_passive().await else {
            return self.send("425 Failed to establish connection.").await;
        };
        let port = listener.local_addr().map_or(0, |a| a.port());
        self.data = Some(DataPlan::Passive(listener));
        let reply = if extended {
            format!("229 Entering Extended Passive Mode (|||{port}|)")
        } else {
            let shown = self.config.passive_address.unwrap_or(self.local.ip());
            command::pasv_reply(shown, port)
        };
        self.send(&reply).await
    }

    async fn bind_passive(&self) -> Option<TcpListener> {
        let [first, last] = self.config.passive_ports;
        for _ in 0..32 {
            let port = fastrand::u16(first..=last);
            if let Ok(listener) = TcpListener::bind((self.local.ip(), port)).await {
                return Some(listener);
            }
        }
        None
    }

    async fn active(&mut self, verb: &str, arg: &str) -> Result<(), End> {
        let (target, illegal) = if verb == "PORT" {
            if self.epsv_all {
                return self.send("550 Permission denied.").await;
            }
            (command::port_target(arg), "500 Illegal PORT command.")
        } else {
            (
                command::eprt_target(arg, self.local.is_ipv6()),
                "500 Illegal EPRT command.",
            )
        };
        let address = match target {
            Target::Address(address) => address,
            Target::Malformed if verb == "EPRT" => return self.send("500 Bad EPRT command.").await,
            Target::BadProtocol => return self.send("500 Bad EPRT protocol.").await,
            Target::Malformed => return self.send(illegal).await,
        };
        self.data = None;
        if canonical(address.ip()) != canonical(self.peer.ip()) {
            // An FTP bounce: the server asked to connect to a third party.
            self.session
                .emit(EventKind::PortForward {
                    host: address.ip().to_string(),
                    port: address.port(),
                    accepted: false,
                })
                .await;
            return self.send(illegal).await;
        }
        if address.port() < 1024 {
            return self.send(illegal).await;
        }
        self.data = Some(DataPlan::Active(address));
        let reply = if verb == "PORT" {
            "200 PORT command successful. Consider using PASV."
        } else {
            "200 EPRT command successful. Consider using EPSV."
        };
        self.send(reply).await
    }

    /// The data connection of the next transfer, or vsftpd's reply that refuses it.
    async fn open_data(&mut self) -> Result<TcpStream, &'static str> {
        self.open_data_tcp().await.map_err(|failure| match failure {
            DataFailure::NoPlan => "425 Use PORT or PASV first.",
            DataFailure::Failed | DataFailure::NobodyCame => "425 Failed to establish connection.",
        })
    }

    /// A data connection after its `150`: under `PROT P` the client starts TLS on it
    /// now, and (vsftpd's `require_ssl_reuse`) its handshake must resume a session of
    /// this server, as lftp and curl do; one that does not gets `522` and the whole
    /// connection is closed.
    async fn secure(&mut self, stream: TcpStream) -> Result<Box<dyn ByteStream>, End> {
        let acceptor = match (&self.tls, self.data_is_private()) {
            (Some(acceptor), true) => acceptor.clone(),
            _ => return Ok(Box::new(stream)),
        };
        match timeout(self.config.data_timeout, acceptor.accept(stream)).await {
            Ok(Ok(mut tls)) => {
                let resumed = tls.get_ref().1.handshake_kind()
                    == Some(tokio_rustls::rustls::HandshakeKind::Resumed);
                if resumed {
                    return Ok(Box::new(tls));
                }
                let _ = timeout(Duration::from_secs(5), tls.shutdown()).await;
                let _ = self
                    .send("522 SSL connection failed: session reuse required")
                    .await;
                Err(End::Closed)
            }
            Ok(Err(_)) => {
                let _ = self.send("425 Failed to establish connection.").await;
                Err(End::Closed)
            }
            Err(_) => {
                let _ = self.send("421 Data timeout. Reconnect. Sorry.").await;
                Err(End::Idle)
            }
        }
    }

    /// The TCP connection of the next transfer.
    async fn open_data_tcp(&mut self) -> Result<TcpStream, DataFailure> {
        match self.data.take() {
            None => Err(DataFailure::NoPlan),
            Some(DataPlan::Passive(listener)) => {
                let deadline = Instant::now() + self.config.accept_timeout;
                loop {
                    match tokio::time::timeout_at(deadline, listener.accept()).await {
                        Ok(Ok((stream, from)))
                            if canonical(from.ip()) == canonical(self.peer.ip()) =>
                        {
                            return Ok(stream);
                        }
                        // Someone else: dropped unanswered, as pasv_promiscuous=NO.
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return Err(DataFailure::Failed),
                        Err(_) => return Err(DataFailure::NobodyCame),
                    }
                }
            }
            Some(DataPlan::Active(address)) => {
                match timeout(self.config.accept_timeout, TcpStream::connect(address)).await {
                    Ok(Ok(stream)) => Ok(stream),
                    _ => Err(DataFailure::Failed),
                }
            }
        }
    }

    async fn list(&mut self, long: bool, arg: Option<&str>) -> Result<(), End> {
        let lines = self.listing(arg.unwrap_or_default(), long, false);
        let private = self.data_is_private();
        let data = match self.open_data().await {
            Ok(data) => data,
            Err(reply) => return self.send(reply).await,
        };
        self.send("150 Here comes the directory listing.").await?;
        let mut data = self.secure(data).await?;
        let body: String = lines.concat();
        let sent = timeout(self.config.data_timeout, async {
            data.write_all(body.as_bytes()).await?;
            finish_sending(&mut data, private).await
        })
        .await;
        match sent {
            Ok(Ok(())) => self.send("226 Directory send OK.").await,
            _ => self.send("426 Failure writing network stream.").await,
        }
    }

    async fn retrieve(&mut self, arg: &str) -> Result<(), End> {
        // vsftpd checks the data connection first (`data_transfer_checks_ok`).
        if self.data.is_none() {
            return self.send("425 Use PORT or PASV first.").await;
        }
        let rest = std::mem::take(&mut self.rest);
        if rest > 0 && !self.binary {
            return self
                .send("550 No support for resume of ASCII transfer.")
                .await;
        }
        let (real, _) = self.locate(arg);
        let now = chrono::Utc::now().timestamp();
        let content = match self.fs.stat("/", &real) {
            Ok((_, node)) if node.kind == Kind::File && !arg.is_empty() => {
                self.fs.content_of(&node, now, MAX_RETR_BYTES).ok()
            }
            _ => None,
        };
        let Some(content) = content else {
            return self.send("550 Failed to open file.").await;
        };
        let private = self.data_is_private();
        let data = match self.open_data().await {
            Ok(data) => data,
            Err(reply) => return self.send(reply).await,
        };
        let reply = format!(
            "150 Opening BINARY mode data connection for {arg} ({} bytes).",
            content.len()
        );
        self.send(&reply).await?;
        let mut data = self.secure(data).await?;
        let from = usize::try_from(rest)
            .unwrap_or(usize::MAX)
            .min(content.len());
        let sent = timeout(self.config.data_timeout, async {
            data.write_all(&content[from..]).await?;
            finish_sending(&mut data, private).await
        })
        .await;
        match sent {
            Ok(Ok(())) => self.send("226 Transfer complete.").await,
            _ => self.send("426 Failure writing network stream.").await,
        }
    }

    async fn store(&mut self, verb: &str, arg: Option<&str>) -> Result<(), End> {
        if self.data.is_none() {
            return self.send("425 Use PORT or PASV first.").await;
        }
        let rest = std::mem::take(&mut self.rest);
        let (real, visible) = match (verb, arg) {
            ("STOU", _) => match self.unique_name(arg.unwrap_or("STOU")) {
                Some(names) => names,
                None => return self.send("553 Could not create file.").await,
            },
            (_, Some(arg)) if !arg.is_empty() => self.locate(arg),
            _ => return self.send("553 Could not create file.").await,
        };
        let parent_is_dir = self
            .fs
            .stat("/", fs::parent(&real))
            .is_ok_and(|(_, n)| n.is_dir());
        let existing = self.fs.stat("/", &real).ok().map(|(_, n)| n);
        if !parent_is_dir || existing.as_ref().is_some_and(|n| n.kind != Kind::File) {
            return self.send("553 Could not create file.").await;
        }
        let data = match self.open_data().await {
            Ok(data) => data,
            Err(reply) => return self.send(reply).await,
        };
        let opening = if verb == "STOU" {
            format!("150 FILE: {}", fs::base_name(&visible))
        } else {
            "150 Ok to send data.".to_owned()
        };
        self.send(&opening).await?;
        let mut data = self.secure(data).await?;
        let Received {
            bytes: received,
            held,
            refused,
            stalled,
            broken,
        } = self.receive(&mut data).await;
        drop(data);
        let now = chrono::Utc::now().timestamp();
        let old = match (verb, &existing) {
            ("APPE", Some(node)) => self
                .fs
                .content_of(node, now, MAX_RETR_BYTES)
                .unwrap_or_default(),
            (_, Some(node)) if rest > 0 => {
                let mut old = self
                    .fs
                    .content_of(node, now, MAX_RETR_BYTES)
                    .unwrap_or_default();
                old.truncate(usize::try_from(rest).unwrap_or(usize::MAX));
                old
            }
            _ => Vec::new(),
        };
        // A `REST` past the end writes at the end: zero-filling up to an offset the
        // client chose would let one command allocate without bound.
        let mut whole = old;
        whole.extend_from_slice(&received);
        let (uid, gid) = self.login.as_ref().map_or((0, 0), |l| (l.uid, l.gid));
        // Larger than a session's fake disk: not copied into it (the put would fail).
        let kept = whole.len() as u64 <= fs::DEFAULT_OVERLAY_BYTES
            && self
                .fs
                .put(
                    &real,
                    Node::file(Arc::from(whole.as_slice()), 0o644, uid, gid, now),
                )
                .is_ok();
        // The bytes the attacker sent are captured even when the fake disk is full.
        if !received.is_empty() || verb != "APPE" {
            self.session.core().upload(&visible, whole).await;
        }
        drop(held);
        if stalled {
            self.send("421 Data timeout. Reconnect. Sorry.").await?;
            return Err(End::Idle);
        }
        if refused || !kept {
            return self.send("451 Failure writing to local file.").await;
        }
        if broken {
            return self.send("426 Failure reading network stream.").await;
        }
        self.send("226 Transfer complete.").await
    }

    /// Reads an upload's data connection to its end, within the per-connection and
    /// sensor-wide upload caps.
    async fn receive(&mut self, data: &mut Box<dyn ByteStream>) -> Received {
        let mut received = Received {
            bytes: Vec::new(),
            held: Held::none(&self.honeypot.upload_memory),
            refused: false,
            stalled: false,
            broken: false,
        };
        let mut chunk = vec![0u8; DATA_CHUNK];
        loop {
            match timeout(self.config.data_timeout, data.read(&mut chunk)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    if !self
                        .session
                        .core()
                        .take_upload(&mut received.held, n as u64)
                    {
                        received.refused = true;
                        break;
                    }
                    received.bytes.extend_from_slice(&chunk[..n]);
                }
                // A reset, or TLS ended without its close_notify (vsftpd: "Integrity of
                // upload cannot be asserted").
                Ok(Err(_)) => {
                    received.broken = true;
                    break;
                }
                Err(_) => {
                    received.stalled = true;
                    break;
                }
            }
        }
        if !received.broken && !received.stalled {
            // TLS: answer the client's close_notify with ours, as OpenSSL does.
            let _ = timeout(Duration::from_secs(5), data.shutdown()).await;
        }
        received
    }

    /// `STOU`'s name: `name.1`, `name.2`, … the first that does not exist.
    fn unique_name(&self, name: &str) -> Option<(String, String)> {
        (1..=MAX_STOU_TRIES).find_map(|n| {
            let (real, visible) = self.locate(&format!("{name}.{n}"));
            (!self.fs.exists("/", &real)).then_some((real, visible))
        })
    }

    async fn make_dir(&mut self, arg: &str) -> Result<(), End> {
        let (real, visible) = self.locate(arg);
        let parent_is_dir = self
            .fs
            .stat("/", fs::parent(&real))
            .is_ok_and(|(_, n)| n.is_dir());
        let (uid, gid) = self.login.as_ref().map_or((0, 0), |l| (l.uid, l.gid));
        let now = chrono::Utc::now().timestamp();
        if !arg.is_empty()
            && parent_is_dir
            && !self.fs.exists("/", &real)
            && self.fs.put(&real, Node::dir(0o755, uid, gid, now)).is_ok()
        {
            let reply = format!("257 \"{visible}\" created");
            return self.send(&reply).await;
        }
        self.send("550 Create directory operation failed.").await
    }

    async fn remove_dir(&mut self, arg: &str) -> Result<(), End> {
        let (real, _) = self.locate(arg);
        let removable = !arg.is_empty()
            && self.fs.lstat("/", &real).is_ok_and(|(_, n)| n.is_dir())
            && self.fs.list(&real).is_empty();
        if removable && self.fs.remove_tree(&real).is_ok() {
            return self
                .send("250 Remove directory operation successful.")
                .await;
        }
        self.send("550 Remove directory operation failed.").await
    }

    async fn delete(&mut self, arg: &str) -> Result<(), End> {
        let (real, _) = self.locate(arg);
        let removable =
            !arg.is_empty() && self.fs.lstat("/", &real).is_ok_and(|(_, n)| !n.is_dir());
        if removable && self.fs.remove_tree(&real).is_ok() {
            return self.send("250 Delete operation successful.").await;
        }
        self.send("550 Delete operation failed.").await
    }

    async fn rename(&mut self, arg: &str) -> Result<(), End> {
        let Some(from) = self.rename_from.take() else {
            return self.send("503 RNFR required first.").await;
        };
        let (to, _) = self.locate(arg);
        let moved = match self.fs.lstat("/", &from) {
            // Files, links and empty directories: a rename of a tree would copy it.
            Ok((_, node)) if !node.is_dir() || self.fs.list(&from).is_empty() => {
                self.fs.put(&to, node).is_ok() && self.fs.remove_tree(&from).is_ok()
            }
            _ => false,
        };
        if moved && !arg.is_empty() {
            self.send("250 Rename successful.").await
        } else {
            self.send("550 Rename failed.").await
        }
    }

    async fn site(&mut self, arg: &str) -> Result<(), End> {
        let mut words = arg.split(' ');
        let sub = words.next().unwrap_or_default().to_ascii_uppercase();
        match sub.as_str() {
            "HELP" => self.send("214 CHMOD UMASK HELP").await,
            "UMASK" => match words.next() {
                Some(mask) if !mask.is_empty() => {
                    let reply = format!("200 UMASK set to {mask}");
                    self.send(&reply).await
                }
                _ => self.send("200 Your current UMASK is 022").await,
            },
            "CHMOD" => {
                let (Some(mode), Some(path)) = (words.next(), words.next()) else {
                    return self.send("500 SITE CHMOD needs 2 arguments.").await;
                };
                let (real, _) = self.locate(path);
                let mode = u32::from_str_radix(mode, 8).unwrap_or(0) & 0o7777;
                match self.fs.lstat("/", &real) {
                    Ok((_, mut node)) => {
                        node.mode = mode;
                        if self.fs.put(&real, node).is_ok() {
                            return self.send("200 SITE CHMOD command ok.").await;
                        }
                        self.send("550 SITE CHMOD command failed.").await
                    }
                    Err(_) => self.send("550 SITE CHMOD command failed.").await,
                }
            }
            _ => self.send("500 Unknown SITE command.").await,
        }
    }
}

/// What an upload's data connection brought.
struct Received {
    bytes: Vec<u8>,
    /// The sensor-wide upload memory those bytes hold until they are stored.
    held: Held,
    /// A cap stopped it.
    refused: bool,
    /// No bytes for `data_timeout`.
    stalled: bool,
    /// Reset, or TLS without its close_notify.
    broken: bool,
}

/// Ends a download's data connection: plain, by closing it; TLS, with a close_notify
/// and then (as vsftpd over OpenSSL) waiting for the client's before the `226`.
async fn finish_sending(data: &mut Box<dyn ByteStream>, tls: bool) -> io::Result<()> {
    data.shutdown().await?;
    if !tls {
        return Ok(());
    }
    let mut rest = [0u8; 512];
    // The client's close_notify or its FIN; what else it sends is not read as data.
    while data.read(&mut rest).await.unwrap_or(0) > 0 {}
    Ok(())
}

/// What vsftpd writes when its TLS layer fails: OpenSSL's error, in plain text (even on
/// a connection the client thinks is TLS), before it closes.
async fn oops<S: AsyncWrite + Unpin>(stream: &mut S, error: &str) {
    let line = format!("500 OOPS: {error}\r\n");
    let _ = timeout(Duration::from_secs(5), stream.write_all(line.as_bytes())).await;
}

/// An address as IPv4 when it is an IPv4-mapped IPv6 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
