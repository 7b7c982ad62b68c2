//! The Telnet honeypot: looks like a Debian/Ubuntu host running the stock Linux
//! telnetd (netkit `in.telnetd` started by inetd) in front of util-linux `login`,
//! captures every login attempt and leads logins into the emulated shell.
//!
//! ```no_run
//! # async fn demo(ctx: hpti_core::source::SourceContext) -> Result<(), hpti_core::source::SourceError> {
//! use hpti_core::source::Source;
//! use hpti_sensors::honeypot::HoneypotConfig;
//! use hpti_sensors::telnet::{TelnetConfig, TelnetSensor};
//!
//! let metrics = hpti_core::metrics::PipelineMetrics::default();
//! let sensor = TelnetSensor::bind(
//!     "telnet",
//!     std::path::Path::new("./hpti-data"),
//!     TelnetConfig::default(),
//!     &HoneypotConfig::default(),
//!     &metrics,
//! )
//! .await?;
//! println!("listening on {}", sensor.local_addr());
//! sensor.run(ctx).await
//! # }
//! ```
//!
//! # What the client sees
//!
//! Honeypots are fingerprinted by their first bytes (Cowrie's fixed
//! `IAC WILL ECHO IAC WILL SGA ...` opening is a known tell), so the sensor replays
//! netkit telnetd's own negotiation, in its order and its pauses (`telnetd.c`,
//! `getterminaltype()` then `telnet()`):
//!
//! 1. `FF FD 18  FF FD 20  FF FD 23  FF FD 27`: DO TERMINAL-TYPE, DO TERMINAL-SPEED,
//!    DO X-DISPLAY-LOCATION, DO NEW-ENVIRON; then it waits for the four answers.
//! 2. For each option the client agreed to, in telnetd's order TSPEED, XDISPLOC,
//!    NEW-ENVIRON, TTYPE: `FF FA xx 01 FF F0` (SB option SEND SE), and it waits for
//!    the replies.
//! 3. `FF FB 03  FF FD 01  FF FD 1F  FF FB 05  FF FD 21`: WILL SUPPRESS-GO-AHEAD,
//!    DO ECHO (telnetd's 4.2BSD-client probe), DO NAWS, WILL STATUS, DO
//!    REMOTE-FLOW-CONTROL; then it waits for the NAWS answer.
//! 4. `FF FB 01`: WILL ECHO (the pty echoes; the client must not).
//! 5. `/etc/issue.net` (`Debian GNU/Linux 12`, `Ubuntu 22.04.4 LTS`) and login's
//!    `<hostname> login: `.
//!
//! A client that never answers (a raw TCP script) would hang a real telnetd; the
//! sensor waits at most [`TelnetConfig::negotiation_timeout`] in all, and stops
//! waiting as soon as the client sends data. The client's answers are emitted as a
//! `client.fingerprint` event (method `telnet-options`): bots differ in how they
//! answer (Mirai refuses every DO but NAWS and accepts every WILL).
//!
//! Options asked later are answered by RFC 1143's rule (only a change of state is
//! answered, refusals are capped), so two implementations cannot loop. Input commands
//! become what a pty would see (`IP` → `^C`, `EC` → DEL, `EL` → `^U`, `EOF` → `^D`);
//! `AYT` gets `[Yes]`. Output has `0xFF` doubled and a bare CR sent as CR NUL, as
//! telnetd does outside binary mode.
//!
//! `login` then behaves like util-linux's: the name is echoed, the password is not
//! (the client sees `Password: ` and a line end), a failure is answered after
//! [`TelnetConfig::login_failure_delay`] (PAM's `pam_faildelay`, 3 s on Debian) with
//! `Login incorrect` and a new prompt, and the connection is closed after
//! `max_auth_attempts` failures. A `USER` sent through NEW-ENVIRON (`telnet -l`)
//! skips the first name prompt, as with telnetd's `login -p -h host user`. Input sent
//! ahead (bots send `user\r\npass\r\nenable\r\nsh\r\n` at once) is kept for the shell.

mod protocol;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::event::{AuthMethod, EventKind, Protocol};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::source::{Source, SourceContext, SourceError};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::honeypot::{Honeypot, HoneypotConfig, accept_loop, take_listener};
use crate::policy::Credential;
use crate::session::{Session, Terminal, crlf};
use crate::shell::{EditorEvent, LineEditor, OsFlavor};
use protocol::{
    IAC, OPT_ECHO, OPT_LFLOW, OPT_NAWS, OPT_NEW_ENVIRON, OPT_SGA, OPT_STATUS, OPT_TSPEED,
    OPT_TTYPE, OPT_XDISPLOC, QUAL_SEND, SB, SE, Telnet, encode,
};

/// Longest configured banner or prompt.
const MAX_TEXT: usize = 16 * 1024;
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 4096;
/// Time given to a last message and the close once a connection is ending.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// The Telnet sensor's own settings (the fake host's are in [`HoneypotConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelnetConfig {
    /// This sensor's persona file, instead of `[honeypot] persona` (two sensors can
    /// show two different hosts). Relative to the data directory.
    pub persona: Option<PathBuf>,
    /// Where to listen (default `127.0.0.1:2323`; `0.0.0.0:23` in production).
    pub listen: SocketAddr,
    /// What is shown before the first prompt, as `/etc/issue.net` (`\n` is sent as
    /// `\r\n`; empty for nothing). Default: the persona's distribution's
    /// `issue.net`, e.g. `Debian GNU/Linux 12\n`.
    pub banner: Option<String>,
    /// The login prompt; `{hostname}` is replaced by the persona's host name.
    /// Default `{hostname} login: `.
    pub login_prompt: Option<String>,
    /// The password prompt (default `Password: `).
    pub password_prompt: String,
    /// Delay before a failed login is answered (default 3 s, Debian's
    /// `pam_faildelay`). A fast rejection is a tell and helps brute-forcers.
    #[serde(with = "humantime_serde")]
    pub login_failure_delay: Duration,
    /// Longest wait for the client's answers to the opening negotiation (default 1 s).
    #[serde(with = "humantime_serde")]
    pub negotiation_timeout: Duration,
}

impl Default for TelnetConfig {
    fn default() -> Self {
        Self {
            persona: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 2323)),
            banner: None,
            login_prompt: None,
            password_prompt: "Password: ".to_owned(),
            login_failure_delay: Duration::from_secs(3),
            negotiation_timeout: Duration::from_secs(1),
        }
    }
}

/// `/etc/issue.net` of each distribution (the emulated shell's file says the same).
pub fn default_banner(os: OsFlavor) -> String {
    let name = match os {
        OsFlavor::Debian12 => "Debian GNU/Linux 12",
        other => other.pretty_name(),
    };
    format!("{name}\n")
}

/// What every connection of a sensor sends, resolved once.
#[derive(Debug)]
struct Settings {
    banner: Vec<u8>,
    login_prompt: Vec<u8>,
    password_prompt: Vec<u8>,
    failure_delay: Duration,
    negotiation_timeout: Duration,
}

/// The Telnet honeypot sensor.
pub struct TelnetSensor {
    name: String,
    listener: std::sync::Mutex<Option<TcpListener>>,
    local: SocketAddr,
    settings: Arc<Settings>,
    honeypot: Arc<Honeypot>,
}

impl std::fmt::Debug for TelnetSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelnetSensor")
            .field("name", &self.name)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl TelnetSensor {
    /// Loads (or generates) the persona and binds the listening socket.
    pub async fn bind(
        name: &str,
        data_dir: &Path,
        config: TelnetConfig,
        honeypot: &HoneypotConfig,
        metrics: &PipelineMetrics,
    ) -> Result<Self, SourceError> {
        let honeypot = Honeypot::open(name, Protocol::Telnet, data_dir, honeypot, metrics)?;
        let persona = honeypot.persona();
        let banner = config
            .banner
            .clone()
            .unwrap_or_else(|| default_banner(persona.os));
        let login_prompt = config
            .login_prompt
            .clone()
            .unwrap_or_else(|| "{hostname} login: ".to_owned())
            .replace("{hostname}", &persona.hostname);
        for (what, text) in [
            ("banner", &banner),
            ("login_prompt", &login_prompt),
            ("password_prompt", &config.password_prompt),
        ] {
            if text.len() > MAX_TEXT {
                return Err(SourceError::msg(format!(
                    "{name}: {what} is longer than {MAX_TEXT} bytes"
                )));
            }
        }
        let settings = Settings {
            banner: crlf(banner.as_bytes()),
            login_prompt: crlf(login_prompt.as_bytes()),
            password_prompt: crlf(config.password_prompt.as_bytes()),
            failure_delay: config.login_failure_delay,
            negotiation_timeout: config.negotiation_timeout,
        };
        let (listener, local) = crate::honeypot::bind_listener(name, config.listen).await?;
        Ok(Self {
            name: name.to_owned(),
            listener: std::sync::Mutex::new(Some(listener)),
            local,
            settings: Arc::new(settings),
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
}

#[async_trait]
impl Source for TelnetSensor {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let listener = take_listener(&self.listener, &self.name)?;
        tracing::info!(sensor = %self.name, addr = %self.local, "Telnet sensor listening");
        accept_loop(&self.honeypot, listener, &ctx.shutdown, |stream, peer| {
            let connection = Connection {
                honeypot: self.honeypot.clone(),
                settings: self.settings.clone(),
                ctx: ctx.clone(),
            };
            connection.serve(stream, peer)
        })
        .await;
        Ok(())
    }
}

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed (or the socket failed).
    Closed,
    /// The shell exited.
    Exit,
    /// No input for `idle_timeout` (or the client stopped reading).
    Idle,
    /// Not logged in within `login_timeout`.
    LoginTimeout,
    /// `max_session_time` reached.
    SessionTimeout,
    /// `max_auth_attempts` failed logins.
    TooManyAuth,
    /// The sensor is stopping.
    Shutdown,
}

/// A line read at the login prompts.
enum LoginLine {
    Line(String),
    Interrupt,
    Eof,
}

struct Connection {
    honeypot: Arc<Honeypot>,
    settings: Arc<Settings>,
    ctx: SourceContext,
}

impl Connection {
    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let local = stream.local_addr().unwrap_or(peer);
        let _ = stream.set_nodelay(true);
        let mut session = Session::new(self.honeypot.clone(), self.ctx.events.clone(), peer, local);
        let core = session.core().clone();
        core.start().await;
        let limits = &self.honeypot.limits;
        let now = Instant::now();
        let mut wire = Wire {
            stream,
            telnet: Telnet::new(),
            pending: Vec::new(),
            buf: vec![0; READ_CHUNK],
            shutdown: self.ctx.shutdown.clone(),
            session_deadline: now + limits.max_session_time,
            login_deadline: Some(now + limits.login_timeout),
            idle: limits.idle_timeout,
            line_ended_with_cr: false,
            skip_lf: false,
        };
        let end = self.converse(&mut wire, &mut session).await;
        let counters = &self.honeypot.counters;
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
            End::LoginTimeout => {
                counters.login_timeout.inc();
                let text = format!(
                    "\r\nLogin timed out after {} seconds.\r\n",
                    limits.login_timeout.as_secs()
                );
                wire.farewell(text.as_bytes()).await;
            }
            End::Closed | End::Exit | End::Shutdown => {}
        }
        tracing::debug!(%peer, ?end, "Telnet connection ended");
        wire.close().await;
        core.close(None).await;
    }

    /// Negotiation, login and shell; returns why the connection ends.
    async fn converse(&self, wire: &mut Wire, session: &mut Session) -> End {
        if let Err(end) = self.negotiate(wire).await {
            return end;
        }
        if wire.telnet.negotiated() {
            let mut algorithms = wire.telnet.trace();
            if let Some(term) = wire.telnet.terminal_type() {
                algorithms.push_str(";ttype=");
                algorithms.push_str(term);
            }
            session
                .emit(EventKind::ClientFingerprint {
                    method: "telnet-options".to_owned(),
                    fingerprint: format!("{:x}", md5::compute(&algorithms)),
                    algorithms: Some(algorithms),
                })
                .await;
        }
        let user = match self.login(wire, session).await {
            Ok(user) => user,
            Err(end) => return end,
        };
        wire.login_deadline = None;
        wire.skip_lf = wire.line_ended_with_cr;
        let core = session.core().clone();
        let (width, height) = wire.telnet.window().unwrap_or((80, 24));
        let term = wire.telnet.terminal_type().map(str::to_owned);
        let (mut terminal, greeting) =
            Terminal::open(&core, &user, width, height, term.as_deref()).await;
        let end = Self::shell(wire, session, &mut terminal, &greeting).await;
        if let Some(recording) = terminal.close(&core).await {
            core.remember_recording(recording);
        }
        end
    }

    /// The opening negotiation of netkit telnetd (see the module documentation).
    async fn negotiate(&self, wire: &mut Wire) -> Result<(), End> {
        let deadline = Instant::now() + self.settings.negotiation_timeout;
        let asked = [OPT_TTYPE, OPT_TSPEED, OPT_XDISPLOC, OPT_NEW_ENVIRON];
        let mut out = Vec::new();
        for option in asked {
            out.extend(wire.telnet.ask_do(option));
        }
        wire.send_raw(&out).await?;
        wire.wait(deadline, |t| asked.iter().all(|&o| t.his_settled(o)))
            .await?;

        let mut out = Vec::new();
        let mut requested = Vec::new();
        for option in [OPT_TSPEED, OPT_XDISPLOC, OPT_NEW_ENVIRON, OPT_TTYPE] {
            if wire.telnet.his(option) {
                out.extend_from_slice(&[IAC, SB, option, QUAL_SEND, IAC, SE]);
                requested.push(option);
            }
        }
        if !out.is_empty() {
            wire.send_raw(&out).await?;
            wire.wait(deadline, |t| {
                requested.iter().all(|&o| t.sub_seen(o) || !t.his(o))
            })
            .await?;
        }

        let mut out = wire.telnet.offer_will(OPT_SGA);
        out.extend(wire.telnet.ask_do(OPT_ECHO));
        out.extend(wire.telnet.ask_do(OPT_NAWS));
        out.extend(wire.telnet.offer_will(OPT_STATUS));
        out.extend(wire.telnet.ask_do(OPT_LFLOW));
        wire.send_raw(&out).await?;
        wire.wait(deadline, |t| t.his_settled(OPT_NAWS)).await?;

        let out = wire.telnet.offer_will(OPT_ECHO);
        wire.send_raw(&out).await?;
        wire.send(&self.settings.banner).await
    }

    /// util-linux `login`: prompts until a login succeeds; returns the user.
    async fn login(&self, wire: &mut Wire, session: &mut Session) -> Result<String, End> {
        let limits = &self.honeypot.limits;
        let mut editor = LineEditor::new(limits.max_line_bytes);
        let mut env_user = wire.telnet.take_env_user();
        loop {
            let user = match env_user.take() {
                Some(user) => user,
                None => {
                    wire.send(&self.settings.login_prompt).await?;
                    match wire.login_line(&mut editor, true).await? {
                        LoginLine::Line(user) => user,
                        LoginLine::Interrupt => continue,
                        LoginLine::Eof => return Err(End::Closed),
                    }
                }
            };
            if user.is_empty() {
                continue;
            }
            wire.send(&self.settings.password_prompt).await?;
            let password = match wire.login_line(&mut editor, false).await? {
                LoginLine::Line(password) => password,
                LoginLine::Interrupt => continue,
                LoginLine::Eof => return Err(End::Closed),
            };
            if session
                .login(&user, Credential::Password(&password), AuthMethod::Password)
                .await
            {
                return Ok(user);
            }
            wire.pause(self.settings.failure_delay).await?;
            wire.send(b"\r\nLogin incorrect\r\n").await?;
            if session.auth_attempts >= limits.max_auth_attempts {
                return Err(End::TooManyAuth);
            }
        }
    }

    /// The logged-in terminal until it exits or the connection ends.
    async fn shell(
        wire: &mut Wire,
        session: &mut Session,
        terminal: &mut Terminal,
        greeting: &[u8],
    ) -> End {
        if let Err(end) = wire.send(greeting).await {
            return end;
        }
        loop {
            if let Some((width, height)) = wire.telnet.take_resize() {
                terminal.resize(width, height).await;
            }
            if !wire.pending.is_empty() {
                let mut data = std::mem::take(&mut wire.pending);
                if std::mem::take(&mut wire.skip_lf) && matches!(data.first(), Some(b'\n' | 0)) {
                    data.remove(0);
                }
                terminal.set_echo(wire.telnet.echo());
                let out = terminal.feed(session, &data).await;
                data.clear();
                wire.pending = data;
                if let Err(end) = wire.send(&out.output).await {
                    return end;
                }
                if out.exit.is_some() {
                    return End::Exit;
                }
            }
            if let Err(end) = wire.fill(None).await {
                return end;
            }
        }
    }
}

/// The socket and the protocol state of one connection, with its deadlines.
struct Wire {
    stream: TcpStream,
    telnet: Telnet,
    /// Data bytes received and not consumed yet (at most one read's worth: nothing is
    /// read while a complete line waits here).
    pending: Vec<u8>,
    buf: Vec<u8>,
    shutdown: CancellationToken,
    session_deadline: Instant,
    login_deadline: Option<Instant>,
    idle: Duration,
    /// The last login line ended with CR (its LF or NUL may follow).
    line_ended_with_cr: bool,
    /// Drop a LF or NUL at the start of the next data (the end of the password line).
    skip_lf: bool,
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Wire {
    /// Reads once: data to `pending`, negotiation answered. `Ok(false)` when the
    /// `soft` deadline came first.
    async fn fill(&mut self, soft: Option<Instant>) -> Result<bool, End> {
        let shutdown = self.shutdown.clone();
        let session_deadline = self.session_deadline;
        let login_deadline = self.login_deadline;
        let idle = self.idle;
        let read = tokio::select! {
            () = shutdown.cancelled() => return Err(End::Shutdown),
            () = tokio::time::sleep_until(session_deadline) => return Err(End::SessionTimeout),
            () = until(login_deadline) => return Err(End::LoginTimeout),
            () = until(soft) => return Ok(false),
            () = tokio::time::sleep(idle) => return Err(End::Idle),
            read = self.stream.read(&mut self.buf) => read,
        };
        let n = match read {
            Ok(0) | Err(_) => return Err(End::Closed),
            Ok(n) => n,
        };
        let input = self.buf.get(..n).unwrap_or_default();
        let reply = self.telnet.receive(input, &mut self.pending);
        self.send_raw(&reply).await?;
        Ok(true)
    }

    /// Reads until `done` holds, data arrives or `deadline` passes.
    async fn wait(&mut self, deadline: Instant, done: impl Fn(&Telnet) -> bool) -> Result<(), End> {
        while !done(&self.telnet) && self.pending.is_empty() {
            if !self.fill(Some(deadline)).await? {
                break;
            }
        }
        Ok(())
    }

    /// One line at a login prompt, echoed or not. Consumes input only up to the end
    /// of the line: what follows stays pending for the next prompt or the shell.
    async fn login_line(&mut self, editor: &mut LineEditor, echo: bool) -> Result<LoginLine, End> {
        loop {
            while !self.pending.is_empty() {
                let cut = self
                    .pending
                    .iter()
                    .position(|&b| matches!(b, b'\r' | b'\n' | 0x03 | 0x04))
                    .map_or(self.pending.len(), |i| i + 1);
                let chunk: Vec<u8> = self.pending.drain(..cut).collect();
                editor.set_echo(echo && self.telnet.echo());
                let out = editor.feed(&chunk);
                self.send(&out.echo).await?;
                if let Some(event) = out.events.into_iter().next() {
                    return Ok(match event {
                        EditorEvent::Line(line) => {
                            self.line_ended_with_cr = chunk.last() == Some(&b'\r');
                            LoginLine::Line(line)
                        }
                        EditorEvent::Interrupt => LoginLine::Interrupt,
                        EditorEvent::Eof => LoginLine::Eof,
                    });
                }
            }
            self.fill(None).await?;
        }
    }

    /// Sends terminal output (encoded for the wire).
    async fn send(&mut self, output: &[u8]) -> Result<(), End> {
        if output.is_empty() {
            return Ok(());
        }
        let bytes = encode(output);
        self.send_raw(&bytes).await
    }

    /// Sends bytes as they are; a client that stops reading for `idle_timeout` is
    /// given up.
    async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), End> {
        if bytes.is_empty() {
            return Ok(());
        }
        let shutdown = self.shutdown.clone();
        let session_deadline = self.session_deadline;
        let idle = self.idle;
        tokio::select! {
            () = shutdown.cancelled() => Err(End::Shutdown),
            () = tokio::time::sleep_until(session_deadline) => Err(End::SessionTimeout),
            () = tokio::time::sleep(idle) => Err(End::Idle),
            written = self.stream.write_all(bytes) => written.map_err(|_| End::Closed),
        }
    }

    /// Waits `delay` unless the connection must end first.
    async fn pause(&mut self, delay: Duration) -> Result<(), End> {
        tokio::select! {
            () = self.shutdown.cancelled() => Err(End::Shutdown),
            () = tokio::time::sleep_until(self.session_deadline) => Err(End::SessionTimeout),
            () = until(self.login_deadline) => Err(End::LoginTimeout),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// A last message, best effort.
    async fn farewell(&mut self, output: &[u8]) {
        let bytes = encode(output);
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, self.stream.write_all(&bytes)).await;
    }

    /// Closes the connection (flushing what was sent).
    async fn close(&mut self) {
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, self.stream.shutdown()).await;
    }
}
