//! The Telnet honeypot: looks like a Debian host running its stock telnetd (GNU
//! inetutils, started by inetd) in front of shadow's `login`,
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
//! Debian 12's telnetd is GNU inetutils 2.4 (`apt install telnetd` installs it; netkit's
//! `in.telnetd` left with Debian 11) in front of shadow's `login` and PAM. The sensor
//! replays that pair as captured from the real packages
//! (`testdata/deception/telnet/`), because honeypots are fingerprinted by their first
//! bytes and by what they do when a client does not answer (a fake telnetd that sends
//! `IAC WILL ECHO` and a prompt after a fixed second of silence is a known signature):
//!
//! 1. `FF FB 25 FF FB 26 FF FD 18 FF FD 20 FF FD 23 FF FD 27 FF FD 24`: WILL
//!    AUTHENTICATION, WILL ENCRYPT, DO TERMINAL-TYPE, TERMINAL-SPEED,
//!    X-DISPLAY-LOCATION, NEW-ENVIRON, OLD-ENVIRON; then it waits for the five answers
//!    with no time limit, discarding data: a client that never negotiates (a raw TCP
//!    script) gets nothing more, as from the real daemon.
//! 2. For each option the client agreed to, in the order TSPEED, XDISPLOC, NEW-ENVIRON
//!    (or OLD-ENVIRON), TTYPE: `FF FA xx 01 FF F0` (SB option SEND SE), all at once,
//!    and it waits for the replies (a client that agreed to both environment options
//!    is also waited on for OLD-ENVIRON, which telnetd never asks for: it hangs).
//! 3. `FF FB 03 FF FD 01 FF FD 22 FF FD 1F FF FB 05 FF FD 21`: WILL SGA, DO ECHO, DO
//!    LINEMODE, DO NAWS, WILL STATUS, DO TOGGLE-FLOW-CONTROL; it waits for the NAWS,
//!    LINEMODE and ECHO answers.
//! 4. A client that refused LINEMODE gets `FF FB 01 FF FD 06 FF FD 00` (WILL ECHO, DO
//!    TIMING-MARK, DO BINARY); one that accepted it gets telnetd's LINEMODE exchange
//!    (MODE, flow control, each followed by a stray NUL, then DONT LINEMODE): the
//!    session runs in character mode either way.
//! 5. The banner `\r\nLinux <kernel release> (<host>) (pts/<n>)\r\n\r\n` (inetutils
//!    does not read `/etc/issue.net`), and about 42 ms later, as login starts,
//!    `<hostname> login: `, preceded by a new offer of SGA and ECHO when the client
//!    refused them.
//!
//! The client's answers are emitted as a `client.fingerprint` event (method
//! `telnet-options`): bots differ in how they answer (Mirai refuses every DO but NAWS
//! and accepts every WILL). [`TelnetConfig::negotiation_timeout`] can bound the waits
//! (so that bots which never negotiate still reach a prompt), at the price of the
//! signature above; by default there is none.
//!
//! Options asked later are answered by RFC 1143's rule (only a change of state is
//! answered, refusals are capped), so two implementations cannot loop. Input commands
//! become what a pty would see (`IP` → `^C`, `EC` → DEL, `EL` → `^U`, `EOF` → `^D`);
//! `AYT` gets `[Yes]`. Output has `0xFF` doubled and a bare CR sent as CR NUL, as
//! telnetd does outside binary mode.
//!
//! `login` then behaves like shadow's on Debian 12: the name is echoed (by the pty,
//! whatever the client said about ECHO), input sent ahead of `Password: ` is flushed
//! (login turns echo off with `TCSAFLUSH`), an empty name still asks for a password, a
//! failure is answered after [`TelnetConfig::login_failure_delay`] randomised as
//! libpam does (× 0.5–1.5, the mean of three uniform draws) with `Login incorrect`,
//! `^C` at a prompt gets `IAC DM ^C` and discards the line, `^D` counts as a failed
//! try, after [`TelnetConfig::login_retries`] failures login says `Maximum number of
//! tries exceeded (5)` and the connection closes, and [`TelnetConfig::login_timeout`]
//! after the first prompt it says `Login timed out after 60 seconds.`. A `USER` sent
//! through NEW-ENVIRON (`telnet -l`) is ignored, as inetutils ignores it.

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
use crate::shell::{EditorEvent, LineEditor};
use protocol::{
    DM, IAC, LM_MODE, OPT_AUTHENTICATION, OPT_BINARY, OPT_ECHO, OPT_ENCRYPT, OPT_LFLOW,
    OPT_LINEMODE, OPT_NAWS, OPT_NEW_ENVIRON, OPT_OLD_ENVIRON, OPT_SGA, OPT_STATUS, OPT_TM,
    OPT_TSPEED, OPT_TTYPE, OPT_XDISPLOC, QUAL_SEND, SB, SE, Telnet, encode,
};

/// Longest configured banner or prompt.
const MAX_TEXT: usize = 16 * 1024;
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 4096;
/// Time given to a last message and the close once a connection is ending.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);
/// telnetd's answer to the special line characters of a LINEMODE client (the Linux
/// pty's: `^C`, `^O`, `^Z`, DEL, `^U`, `^W`, `^R`, `^V`, `^Q`, `^S`), as captured
/// from inetutils telnetd answering Debian's `telnet` client.
const LINEMODE_SLC_ANSWER: &[u8] = &[
    IAC,
    SB,
    OPT_LINEMODE,
    3,
    0x03,
    0xe2,
    0x03,
    0x04,
    0x82,
    0x0f,
    0x07,
    0xe2,
    0x1c,
    0x08,
    0x82,
    0x04,
    0x09,
    0xc2,
    0x1a,
    0x0a,
    0x82,
    0x7f,
    0x0b,
    0x82,
    0x15,
    0x0c,
    0x82,
    0x17,
    0x0d,
    0x82,
    0x12,
    0x0e,
    0x82,
    0x16,
    0x0f,
    0x82,
    0x11,
    0x10,
    0x82,
    0x13,
    IAC,
    SE,
];

/// libpam's randomised failure delay: `base` × (0.5 + the mean of three uniform
/// draws), so 0.5-1.5 × `base`, most often near `base` (`pam_delay.c`).
fn pam_fail_delay(base: Duration) -> Duration {
    let mean = (fastrand::f64() + fastrand::f64() + fastrand::f64()) / 3.0;
    base.mul_f64(0.5 + mean)
}

/// The Telnet sensor's own settings (the fake host's are in [`HoneypotConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelnetConfig {
    /// This sensor's persona file, instead of `[honeypot] persona` (two sensors can
    /// show two different hosts). Relative to the data directory.
    pub persona: Option<PathBuf>,
    /// Where to listen (default `127.0.0.1:2323`; `0.0.0.0:23` in production).
    pub listen: SocketAddr,
    /// What is shown before the first prompt (`\n` is sent as `\r\n`; empty for
    /// nothing; `{n}` is replaced by the session's pty number). Default: inetutils
    /// telnetd's `\nLinux <kernel release> (<hostname>) (pts/{n})\n\n`.
    pub banner: Option<String>,
    /// The login prompt; `{hostname}` is replaced by the persona's host name.
    /// Default `{hostname} login: `.
    pub login_prompt: Option<String>,
    /// The password prompt (default `Password: `).
    pub password_prompt: String,
    /// Delay before a failed login is answered (default 3 s, Debian's
    /// `pam_faildelay`), randomised × 0.5–1.5 as libpam does. A fast or constant
    /// rejection is a tell and helps brute-forcers.
    #[serde(with = "humantime_serde")]
    pub login_failure_delay: Duration,
    /// Failed logins before login gives up and the connection closes (default 5,
    /// `LOGIN_RETRIES` of Debian's `/etc/login.defs`).
    pub login_retries: usize,
    /// Time from the first login prompt to log in (default 60 s, `LOGIN_TIMEOUT`).
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Longest wait for each of the client's answers to the opening negotiation.
    /// Default: none, as telnetd (a client that never answers gets no prompt, and is
    /// closed after `[honeypot.limits] idle_timeout`). A limit lets bots that never
    /// negotiate reach the prompt, but a prompt after a fixed silence is a known
    /// honeypot signature.
    #[serde(with = "humantime_serde")]
    pub negotiation_timeout: Option<Duration>,
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
            login_retries: 5,
            login_timeout: Duration::from_secs(60),
            negotiation_timeout: None,
        }
    }
}

/// The client side of option negotiation as Mirai's scanner answers it (every `DO`
/// refused but NAWS, sent as 80x24; every `WILL` accepted), for load generators and
/// tests: a real telnetd, like the sensor, shows no prompt to a client that does not
/// answer. Bytes that are not negotiation are data.
///
/// ```
/// let mut answers = hpti_sensors::telnet::BotAnswers::default();
/// let mut data = Vec::new();
/// let reply = answers.feed(b"\xff\xfd\x18hi", &mut data);
/// assert_eq!(reply, [255, 252, 24]);
/// assert_eq!(data, b"hi");
/// ```
#[derive(Debug, Default)]
pub struct BotAnswers {
    state: BotState,
}

#[derive(Debug, Default, Clone, Copy)]
enum BotState {
    #[default]
    Data,
    Iac,
    Verb(u8),
    Sb,
    SbIac,
}

impl BotAnswers {
    /// Appends the data bytes of `input` to `data`; returns the answers to send.
    pub fn feed(&mut self, input: &[u8], data: &mut Vec<u8>) -> Vec<u8> {
        use protocol::{DO, DONT, WILL, WONT};
        let mut answer = Vec::new();
        for &byte in input {
            self.state = match (self.state, byte) {
                (BotState::Data, IAC) => BotState::Iac,
                (BotState::Data, _) => {
                    data.push(byte);
                    BotState::Data
                }
                (BotState::Iac, IAC) => {
                    data.push(IAC);
                    BotState::Data
                }
                (BotState::Iac, WILL | WONT | DO | DONT) => BotState::Verb(byte),
                (BotState::Iac, SB) => BotState::Sb,
                (BotState::Iac, _) => BotState::Data,
                (BotState::Verb(verb), option) => {
                    match (verb, option) {
                        (DO, OPT_NAWS) => answer.extend_from_slice(&[
                            IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, 80, 0, 24, IAC, SE,
                        ]),
                        (DO, _) => answer.extend_from_slice(&[IAC, WONT, option]),
                        (WILL, _) => answer.extend_from_slice(&[IAC, DO, option]),
                        _ => {}
                    }
                    BotState::Data
                }
                (BotState::Sb, IAC) => BotState::SbIac,
                (BotState::Sb, _) => BotState::Sb,
                (BotState::SbIac, SE) => BotState::Data,
                (BotState::SbIac, _) => BotState::Sb,
            };
        }
        answer
    }
}

/// What inetutils telnetd prints before login: the kernel release and the host's
/// name, and the pty (`{n}`, filled in per session).
pub fn default_banner(persona: &crate::shell::Persona) -> String {
    format!(
        "\nLinux {} ({}) (pts/{{n}})\n\n",
        persona.kernel_release, persona.hostname
    )
}

/// What every connection of a sensor sends, resolved once.
#[derive(Debug)]
struct Settings {
    banner: String,
    login_prompt: Vec<u8>,
    password_prompt: Vec<u8>,
    failure_delay: Duration,
    login_retries: usize,
    login_timeout: Duration,
    negotiation_timeout: Option<Duration>,
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
            .unwrap_or_else(|| default_banner(persona));
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
        if config.login_retries == 0 {
            return Err(SourceError::msg(format!(
                "{name}: login_retries must be at least 1"
            )));
        }
        let settings = Settings {
            banner,
            login_prompt: crlf(login_prompt.as_bytes()),
            password_prompt: crlf(config.password_prompt.as_bytes()),
            failure_delay: config.login_failure_delay,
            login_retries: config.login_retries,
            login_timeout: config.login_timeout,
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
            // login's own timer starts with its first prompt; before it telnetd has none.
            login_deadline: None,
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
                    self.settings.login_timeout.as_secs()
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

    /// The opening negotiation of inetutils telnetd (see the module documentation).
    async fn negotiate(&self, wire: &mut Wire) -> Result<(), End> {
        let limit = self.settings.negotiation_timeout;
        let mut out = wire.telnet.offer_will(OPT_AUTHENTICATION);
        out.extend(wire.telnet.offer_will(OPT_ENCRYPT));
        let asked = [
            OPT_TTYPE,
            OPT_TSPEED,
            OPT_XDISPLOC,
            OPT_NEW_ENVIRON,
            OPT_OLD_ENVIRON,
        ];
        for option in asked {
            out.extend(wire.telnet.ask_do(option));
        }
        wire.send_raw(&out).await?;
        wire.wait(limit, |t| asked.iter().all(|&o| t.his_settled(o)))
            .await?;

        let mut out = Vec::new();
        let mut awaited = Vec::new();
        let environ = if wire.telnet.his(OPT_NEW_ENVIRON) {
            Some(OPT_NEW_ENVIRON)
        } else if wire.telnet.his(OPT_OLD_ENVIRON) {
            Some(OPT_OLD_ENVIRON)
        } else {
            None
        };
        for option in [
            Some(OPT_TSPEED),
            Some(OPT_XDISPLOC),
            environ,
            Some(OPT_TTYPE),
        ]
        .into_iter()
        .flatten()
        {
            if wire.telnet.his(option) {
                out.extend_from_slice(&[IAC, SB, option, QUAL_SEND, IAC, SE]);
                awaited.push(option);
            }
        }
        // telnetd waits for OLD-ENVIRON's reply as well when the client agreed to both,
        // though it asked only for NEW-ENVIRON.
        if environ == Some(OPT_NEW_ENVIRON) && wire.telnet.his(OPT_OLD_ENVIRON) {
            awaited.push(OPT_OLD_ENVIRON);
        }
        if !out.is_empty() {
            wire.send_raw(&out).await?;
            wire.wait(limit, |t| {
                awaited.iter().all(|&o| t.sub_seen(o) || !t.his(o))
            })
            .await?;
        }

        let mut out = wire.telnet.offer_will(OPT_SGA);
        out.extend(wire.telnet.ask_do(OPT_ECHO));
        out.extend(wire.telnet.ask_do(OPT_LINEMODE));
        out.extend(wire.telnet.ask_do(OPT_NAWS));
        out.extend(wire.telnet.offer_will(OPT_STATUS));
        out.extend(wire.telnet.ask_do(OPT_LFLOW));
        wire.send_raw(&out).await?;
        wire.wait(limit, |t| {
            t.his_settled(OPT_NAWS) && t.his_settled(OPT_LINEMODE) && t.his_settled(OPT_ECHO)
        })
        .await?;
        // login starts now: its prompt comes after the time it takes to exec and start
        // PAM (41-48 ms measured), whatever telnetd still sends meanwhile.
        let login_starts = Instant::now() + Duration::from_micros(fastrand::u64(41_000..48_000));

        if wire.telnet.his(OPT_LINEMODE) {
            // telnetd's LINEMODE exchange, stray NULs included; it then turns
            // LINEMODE off again (the session runs in character mode).
            wire.send_raw(&[IAC, SB, OPT_LINEMODE, LM_MODE, 3, IAC, SE, 0])
                .await?;
            let modes = Instant::now() + Duration::from_millis(44);
            wire.wait_until(modes, |t| t.sub_seen(OPT_LINEMODE)).await?;
            let mut out = vec![IAC, SB, OPT_LFLOW, 3, IAC, SE, 0];
            out.extend(wire.telnet.ask_dont(OPT_ECHO));
            out.extend(wire.telnet.offer_will(OPT_ECHO));
            out.extend(wire.telnet.ask_do(OPT_BINARY));
            out.extend(wire.telnet.ask_dont(OPT_LINEMODE));
            if wire.telnet.linemode_slc() {
                out.extend_from_slice(LINEMODE_SLC_ANSWER);
            }
            wire.send_raw(&out).await?;
        } else {
            let mut out = wire.telnet.ask_dont(OPT_ECHO);
            out.extend(wire.telnet.offer_will(OPT_ECHO));
            out.extend(wire.telnet.ask_do(OPT_TM));
            out.extend(wire.telnet.ask_do(OPT_BINARY));
            wire.send_raw(&out).await?;
        }
        let pty = self.honeypot.open_connections().saturating_sub(1);
        let banner = self.settings.banner.replace("{n}", &pty.to_string());
        wire.send(&crlf(banner.as_bytes())).await?;
        wire.discard_until(login_starts).await?;
        // login resets the terminal: telnetd offers again what the client refused.
        let mut out = Vec::new();
        for option in [OPT_SGA, OPT_ECHO] {
            if wire.telnet.refused_mine(option) {
                out.extend(wire.telnet.offer_will_again(option));
            }
        }
        wire.send_raw(&out).await
    }

    /// shadow's `login` (see the module documentation): prompts until a login
    /// succeeds; returns the user.
    async fn login(&self, wire: &mut Wire, session: &mut Session) -> Result<String, End> {
        let limits = &self.honeypot.limits;
        let mut editor = LineEditor::new(limits.max_line_bytes);
        // Kept for the fingerprint only: inetutils ignores it.
        let _ = wire.telnet.take_env_user();
        wire.login_deadline = Some(Instant::now() + self.settings.login_timeout);
        let mut failures = 0;
        let mut prompt = true;
        loop {
            if std::mem::take(&mut prompt) {
                wire.send(&self.settings.login_prompt).await?;
            }
            // `^C` discards the line and login reads on at the same prompt.
            let user = match wire.login_line(&mut editor, true).await? {
                LoginLine::Line(user) => Some(user),
                LoginLine::Interrupt => continue,
                LoginLine::Eof => None,
            };
            let password = match user {
                Some(_) => {
                    // login turns echo off with TCSAFLUSH: input sent ahead is lost.
                    wire.pending.clear();
                    wire.send(&self.settings.password_prompt).await?;
                    loop {
                        match wire.login_line(&mut editor, false).await? {
                            LoginLine::Line(password) => break Some(password),
                            LoginLine::Interrupt => {}
                            LoginLine::Eof => break None,
                        }
                    }
                }
                None => None,
            };
            if password.is_none() {
                // `^D`: the end of the line, and a failed try.
                wire.send(b"\r\n").await?;
            }
            let user = user.unwrap_or_default();
            if let Some(password) = &password
                && session
                    .login(&user, Credential::Password(password), AuthMethod::Password)
                    .await
            {
                return Ok(user);
            }
            failures += 1;
            wire.pause(pam_fail_delay(self.settings.failure_delay))
                .await?;
            wire.send(b"\r\nLogin incorrect\r\n").await?;
            if failures >= self.settings.login_retries {
                let text = format!(
                    "Maximum number of tries exceeded ({})\r\n",
                    self.settings.login_retries
                );
                wire.farewell(text.as_bytes()).await;
                return Err(End::TooManyAuth);
            }
            // The sensor's own cap on attempts per connection ends it silently.
            if session.auth_attempts >= limits.max_auth_attempts {
                return Err(End::TooManyAuth);
            }
            prompt = true;
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

    /// Reads until `done` holds, or `limit` passes (no limit: telnetd waits as long as
    /// the connection lasts). Data received meanwhile is discarded, as telnetd does
    /// before login has a terminal to read it.
    async fn wait(
        &mut self,
        limit: Option<Duration>,
        done: impl Fn(&Telnet) -> bool,
    ) -> Result<(), End> {
        let deadline = limit.map(|limit| Instant::now() + limit);
        while !done(&self.telnet) {
            let read = self.fill(deadline).await?;
            self.pending.clear();
            if !read {
                break;
            }
        }
        Ok(())
    }

    /// Reads until `done` holds or `deadline` passes, discarding data.
    async fn wait_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Telnet) -> bool,
    ) -> Result<(), End> {
        while !done(&self.telnet) {
            let read = self.fill(Some(deadline)).await?;
            self.pending.clear();
            if !read {
                break;
            }
        }
        Ok(())
    }

    /// Answers negotiation until `deadline`, discarding data (login is not reading
    /// yet).
    async fn discard_until(&mut self, deadline: Instant) -> Result<(), End> {
        while self.fill(Some(deadline)).await? {
            self.pending.clear();
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
                // The pty echoes whatever the client said about ECHO.
                editor.set_echo(echo);
                let mut out = editor.feed(&chunk);
                if out.events.first() == Some(&EditorEvent::Interrupt) {
                    // login's terminal answers `^C` with telnetd's data mark and the
                    // echo, without a line end: the line is discarded.
                    if out.echo.ends_with(b"^C\r\n") {
                        out.echo.truncate(out.echo.len() - 4);
                    }
                    self.send(&out.echo).await?;
                    self.send_raw(&[IAC, DM, b'^', b'C']).await?;
                    return Ok(LoginLine::Interrupt);
                }
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
