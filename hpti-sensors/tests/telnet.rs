//! The Telnet honeypot against raw-socket clients that answer the negotiation like
//! Linux's telnet, like Mirai, or not at all; bots that send everything at once;
//! hostile input; and the limits. Each test runs a real sensor on a loopback port
//! with a pipeline collecting its events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{Event, EventKind};
use hpti_core::pipeline::Pipeline;
use hpti_core::testing::MemorySink;
use hpti_sensors::honeypot::{Honeypot, HoneypotConfig};
use hpti_sensors::shell::Persona;
use hpti_sensors::telnet::{TelnetConfig, TelnetSensor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Only to avoid hanging forever: no test measures time.
const PATIENCE: Duration = Duration::from_secs(30);

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const NOP: u8 = 241;
const ECHO: u8 = 1;
const SGA: u8 = 3;
const TTYPE: u8 = 24;
const NAWS: u8 = 31;
const NEW_ENVIRON: u8 = 39;

struct Harness {
    addr: SocketAddr,
    events: MemorySink,
    pipeline: Option<Pipeline>,
    honeypot: Arc<Honeypot>,
    dir: tempfile::TempDir,
}

impl Harness {
    async fn start(
        configure: impl FnOnce(&mut HoneypotConfig),
        telnet: impl FnOnce(&mut TelnetConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_persona(dir.path());
        let (mut pipeline, events) = hpti_core::testing::collecting_pipeline(dir.path());
        let mut honeypot = HoneypotConfig::default();
        honeypot.auth.userdb = vec!["root:x:hunter2".into()];
        honeypot.fetch.enabled = false;
        honeypot.limits.max_sessions_per_ip = 1000;
        configure(&mut honeypot);
        let mut config = TelnetConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            login_failure_delay: Duration::from_millis(10),
            ..TelnetConfig::default()
        };
        telnet(&mut config);
        let sensor = TelnetSensor::bind(
            "telnet-test",
            dir.path(),
            config,
            &honeypot,
            pipeline.metrics(),
        )
        .await
        .unwrap();
        let addr = sensor.local_addr();
        let honeypot = sensor.honeypot().clone();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("test-source").unwrap(),
            Arc::new(sensor),
        );
        Self {
            addr,
            events,
            pipeline: Some(pipeline),
            honeypot,
            dir,
        }
    }

    fn hostname(&self) -> String {
        self.honeypot.persona().hostname.clone()
    }

    fn events(&self) -> Vec<Event> {
        self.events.events_by_time()
    }

    fn counter(&self, outcome: &str) -> u64 {
        self.pipeline
            .as_ref()
            .unwrap()
            .metrics()
            .counter("sensor", "telnet-test", outcome)
            .get()
    }

    /// Waits (bounded) until `done` holds for the collected events.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        for _ in 0..1200 {
            let events = self.events();
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}: {:#?}", self.events());
    }

    async fn wait_closed(&self, count: usize) -> Vec<Event> {
        self.wait_for("session.closed", |e| closed(e) >= count)
            .await
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    async fn stop(mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.shutdown().await;
        }
    }
}

/// Writes a generated persona where the sensor looks for it. Works around a bug in
/// `Persona::generate`: its `seed` is any u64, and TOML cannot hold one above
/// `i64::MAX`, so `Honeypot::open` fails on about half of the fresh data directories.
fn write_persona(dir: &Path) {
    let mut persona = Persona::generate();
    persona.seed >>= 1;
    std::fs::write(
        dir.join("persona.toml"),
        toml::to_string_pretty(&persona).unwrap(),
    )
    .unwrap();
}

fn closed(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SessionClosed { .. }))
        .count()
}

fn commands(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandInput { command } => Some(command.clone()),
            _ => None,
        })
        .collect()
}

fn logins(events: &[Event]) -> Vec<(String, Option<String>, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => Some((username.clone(), password.clone(), *success)),
            _ => None,
        })
        .collect()
}

fn recording_of(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::SessionClosed { recording, .. } => recording.clone(),
        _ => None,
    })
}

/// How a client answers the server's negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Never answers (a raw TCP script).
    Silent,
    /// Like Linux's telnet: terminal type `XTERM`, window 132x43, `USER` when given.
    Linux,
    /// Like Mirai's scanner: every DO refused but NAWS (80x24), every WILL accepted.
    Mirai,
}

#[derive(Debug, Clone, Copy)]
enum Rx {
    Data,
    Iac,
    Verb(u8),
    Sb,
    SbIac,
}

/// A raw-socket Telnet client that decodes what the server sends.
struct Client {
    stream: TcpStream,
    mode: Mode,
    user: Option<String>,
    rx: Rx,
    sb: Vec<u8>,
    /// Decoded data received so far.
    text: Vec<u8>,
    /// Raw bytes received so far.
    raw: Vec<u8>,
    /// Negotiation commands received (verb, option); SB as (SB, option).
    commands: Vec<(u8, u8)>,
    seen: usize,
    eof: bool,
}

impl Client {
    async fn connect(addr: SocketAddr, mode: Mode) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            mode,
            user: None,
            rx: Rx::Data,
            sb: Vec::new(),
            text: Vec::new(),
            raw: Vec::new(),
            commands: Vec::new(),
            seen: 0,
            eof: false,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// At the login prompt: the name, then the password once login asks for it (as
    /// bots do: login flushes a password sent ahead), then up to `until`.
    async fn log_in(&mut self, user: &str, password: &str, until: &str) -> String {
        self.send(format!("{user}\r\n").as_bytes()).await;
        self.read_until("Password: ").await;
        self.send(format!("{password}\r\n").as_bytes()).await;
        self.read_until(until).await
    }

    /// Reads once; false at end of stream.
    async fn read_some(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let n = match tokio::time::timeout(PATIENCE, self.stream.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!(
                "no answer from the server; received so far: {:?}",
                String::from_utf8_lossy(&self.text)
            ),
        };
        if n == 0 {
            self.eof = true;
            return false;
        }
        self.raw.extend_from_slice(&buf[..n]);
        let mut answer = Vec::new();
        for &b in &buf[..n] {
            self.decode(b, &mut answer);
        }
        if !answer.is_empty() {
            // The server may already be gone (hostile tests): ignore write errors.
            let _ = self.stream.write_all(&answer).await;
        }
        true
    }

    fn decode(&mut self, b: u8, answer: &mut Vec<u8>) {
        self.rx = match self.rx {
            Rx::Data if b == IAC => Rx::Iac,
            Rx::Data => {
                self.text.push(b);
                Rx::Data
            }
            Rx::Iac => match b {
                IAC => {
                    self.text.push(IAC);
                    Rx::Data
                }
                WILL | WONT | DO | DONT => Rx::Verb(b),
                SB => {
                    self.sb.clear();
                    Rx::Sb
                }
                _ => Rx::Data,
            },
            Rx::Verb(verb) => {
                self.commands.push((verb, b));
                self.answer(verb, b, answer);
                Rx::Data
            }
            Rx::Sb if b == IAC => Rx::SbIac,
            Rx::Sb => {
                self.sb.push(b);
                Rx::Sb
            }
            Rx::SbIac if b == SE => {
                let sb = std::mem::take(&mut self.sb);
                if let Some(&option) = sb.first() {
                    self.commands.push((SB, option));
                    self.answer_sb(&sb, answer);
                }
                Rx::Data
            }
            Rx::SbIac => {
                self.sb.push(b);
                Rx::Sb
            }
        };
    }

    fn answer(&mut self, verb: u8, option: u8, answer: &mut Vec<u8>) {
        match (self.mode, verb) {
            (Mode::Silent, _) => {}
            (Mode::Linux, DO) => match option {
                TTYPE => answer.extend_from_slice(&[IAC, WILL, TTYPE]),
                NEW_ENVIRON if self.user.is_some() => {
                    answer.extend_from_slice(&[IAC, WILL, NEW_ENVIRON]);
                }
                NAWS => {
                    answer.extend_from_slice(&[IAC, WILL, NAWS]);
                    answer.extend_from_slice(&[IAC, SB, NAWS, 0, 132, 0, 43, IAC, SE]);
                }
                other => answer.extend_from_slice(&[IAC, WONT, other]),
            },
            (Mode::Linux, WILL) => match option {
                ECHO | SGA => answer.extend_from_slice(&[IAC, DO, option]),
                other => answer.extend_from_slice(&[IAC, DONT, other]),
            },
            (Mode::Mirai, DO) if option == NAWS => {
                answer.extend_from_slice(&[IAC, WILL, NAWS]);
                answer.extend_from_slice(&[IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
            }
            (Mode::Mirai, DO) => answer.extend_from_slice(&[IAC, WONT, option]),
            (Mode::Mirai, WILL) => answer.extend_from_slice(&[IAC, DO, option]),
            _ => {}
        }
    }

    fn answer_sb(&mut self, sb: &[u8], answer: &mut Vec<u8>) {
        if self.mode != Mode::Linux {
            return;
        }
        match sb {
            [TTYPE, 1, ..] => {
                answer.extend_from_slice(&[IAC, SB, TTYPE, 0]);
                answer.extend_from_slice(b"XTERM");
                answer.extend_from_slice(&[IAC, SE]);
            }
            [NEW_ENVIRON, 1, ..] => {
                answer.extend_from_slice(&[IAC, SB, NEW_ENVIRON, 0, 0]);
                answer.extend_from_slice(b"USER");
                answer.push(1);
                answer.extend_from_slice(self.user.clone().unwrap_or_default().as_bytes());
                answer.extend_from_slice(&[IAC, SE]);
            }
            _ => {}
        }
    }

    /// Reads until `needle` appears after what earlier calls consumed; returns the
    /// text up to and including it.
    async fn read_until(&mut self, needle: &str) -> String {
        loop {
            if let Some(at) = find(&self.text[self.seen..], needle.as_bytes()) {
                let end = self.seen + at + needle.len();
                let text = String::from_utf8_lossy(&self.text[self.seen..end]).into_owned();
                self.seen = end;
                return text;
            }
            if !self.read_some().await {
                panic!(
                    "connection closed before {needle:?}; received: {:?}",
                    String::from_utf8_lossy(&self.text[self.seen..])
                );
            }
        }
    }

    /// Reads until the server closes; returns the text not consumed yet.
    async fn read_to_end(&mut self) -> String {
        while !self.eof && self.read_some().await {}
        let text = String::from_utf8_lossy(&self.text[self.seen..]).into_owned();
        self.seen = self.text.len();
        text
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn check_recording(dir: &Path, recording: &str) -> String {
    let path = dir.join(recording);
    let content = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("recording {}: {e}", path.display()));
    let first = content.lines().next().unwrap();
    let header: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(header["version"], 2, "asciicast v2 header: {first}");
    content
}

#[tokio::test]
async fn linux_client_logs_in_and_runs_commands() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Linux).await;

    let opening = c.read_until(&format!("{host} login: ")).await;
    // inetutils telnetd's opening, byte for byte (testdata/deception/telnet).
    assert_eq!(&c.raw[..21], OPENING);
    let verbs: Vec<(u8, u8)> = c.commands.clone();
    assert_eq!(
        verbs,
        [
            (WILL, 37),
            (WILL, 38),
            (DO, TTYPE),
            (DO, 32),
            (DO, 35),
            (DO, NEW_ENVIRON),
            (DO, 36),
            (SB, TTYPE),
            (WILL, SGA),
            (DO, ECHO),
            (DO, 34),
            (DO, NAWS),
            (WILL, 5),
            (DO, 33),
            (WILL, ECHO),
            (DO, 6),
            (DO, 0),
        ]
    );
    let persona = h.honeypot.persona();
    assert_eq!(
        opening,
        format!(
            "\r\nLinux {} ({host}) (pts/0)\r\n\r\n{host} login: ",
            persona.kernel_release
        )
    );

    // A failed login first.
    c.send(b"root\r\n").await;
    let echoed = c.read_until("Password: ").await;
    assert_eq!(echoed, "root\r\nPassword: ");
    c.send(b"wrong\r\n").await;
    let failed = c.read_until(&format!("{host} login: ")).await;
    assert_eq!(failed, format!("\r\n\r\nLogin incorrect\r\n{host} login: "));

    c.send(b"root\r\n").await;
    c.read_until("Password: ").await;
    c.send(b"hunter2\r\n").await;
    let prompt = format!("root@{host}:~# ");
    let greeting = c.read_until(&prompt).await;
    assert!(greeting.contains("Last login:"), "{greeting:?}");
    assert!(!String::from_utf8_lossy(&c.text).contains("hunter2"));

    c.send(b"uname -a\r\n").await;
    let uname = c.read_until(&prompt).await;
    assert!(uname.starts_with("uname -a\r\nLinux "), "{uname:?}");
    assert!(uname.contains(&host), "{uname:?}");
    c.send(b"echo hi\r\n").await;
    let hi = c.read_until(&prompt).await;
    assert_eq!(hi, format!("echo hi\r\nhi\r\n{prompt}"));
    c.send(b"exit\r\n").await;
    c.read_to_end().await;

    let events = h.wait_closed(1).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds.first(), Some(&"session.started"));
    assert_eq!(kinds.last(), Some(&"session.closed"));
    assert!(events.iter().all(|e| e.protocol.as_str() == "telnet"));
    assert!(events.iter().all(|e| e.session == events[0].session));
    assert_eq!(
        logins(&events),
        [
            ("root".into(), Some("wrong".into()), false),
            ("root".into(), Some("hunter2".into()), true),
        ]
    );
    assert_eq!(commands(&events), ["uname -a", "echo hi", "exit"]);
    let fingerprint = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::ClientFingerprint {
                method, algorithms, ..
            } => Some((method.clone(), algorithms.clone().unwrap_or_default())),
            _ => None,
        })
        .expect("a client.fingerprint event");
    assert_eq!(fingerprint.0, "telnet-options");
    assert!(
        fingerprint
            .1
            .starts_with("DONT 37,DONT 38,WILL 24,WONT 32,WONT 35,WONT 39,WONT 36,SB 24")
    );
    assert!(fingerprint.1.ends_with(";ttype=xterm"), "{}", fingerprint.1);

    let recording = recording_of(&events).expect("a recording");
    let cast = check_recording(h.data_dir(), &recording);
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(header["width"], 132);
    assert_eq!(header["height"], 43);
    assert!(cast.contains("echo hi"));
    h.stop().await;
}

/// inetutils telnetd's first segment (WILL AUTHENTICATION, WILL ENCRYPT, DO TTYPE,
/// TSPEED, XDISPLOC, NEW-ENVIRON, OLD-ENVIRON).
const OPENING: &[u8] = &[
    IAC, WILL, 37, IAC, WILL, 38, IAC, DO, 24, IAC, DO, 32, IAC, DO, 35, IAC, DO, 39, IAC, DO, 36,
];

/// A Mirai-like bot: its name at the prompt, its password when asked, then its whole
/// command list in one write; nothing of it is lost.
#[tokio::test]
async fn mirai_like_bot_sends_its_commands_in_one_write() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    c.send(b"root\r\n").await;
    c.read_until("Password: ").await;
    c.send(b"hunter2\r\nenable\r\nsystem\r\nshell\r\nsh\r\n/bin/busybox ECCHI\r\n")
        .await;
    let out = c.read_until("ECCHI: applet not found").await;
    assert!(out.contains(&format!("root@{host}:~# ")), "{out:?}");
    assert!(!out.contains("hunter2"), "{out:?}");
    drop(c);
    let events = h.wait_closed(1).await;
    assert_eq!(
        logins(&events),
        [("root".into(), Some("hunter2".into()), true)]
    );
    assert_eq!(
        commands(&events),
        ["enable", "system", "shell", "sh", "/bin/busybox ECCHI"]
    );
    h.stop().await;
}

/// As telnetd: a client that never answers the opening gets nothing more, whatever it
/// sends (the fixed-delay `WILL ECHO` and prompt of fake telnetds is a signature).
#[tokio::test]
async fn a_client_that_does_not_negotiate_gets_nothing_beyond_the_opening() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let mut c = Client::connect(h.addr, Mode::Silent).await;
    c.send(b"root\r\nhunter2\r\nuname -a\r\n").await;
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, c.stream.read(&mut buf)).await {
        assert!(n > 0, "closed: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, OPENING);
    drop(c);
    let events = h.wait_closed(1).await;
    assert!(logins(&events).is_empty());
    h.stop().await;
}

/// With `negotiation_timeout` set, such a client reaches the prompt (the operator's
/// choice: more bots, a known signature).
#[tokio::test]
async fn negotiation_timeout_lets_a_silent_bot_reach_the_prompt() {
    let h = Harness::start(
        |_| {},
        |t| t.negotiation_timeout = Some(Duration::from_millis(200)),
    )
    .await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Silent).await;
    c.read_until("login: ").await;
    c.log_in("root", "hunter2", &format!("root@{host}:~# "))
        .await;
    drop(c);
    let events = h.wait_closed(1).await;
    assert_eq!(
        logins(&events),
        [("root".into(), Some("hunter2".into()), true)]
    );
    h.stop().await;
}

/// login turns echo off with TCSAFLUSH: a password sent with the name is lost, and the
/// client sees `Password: ` and silence until it sends it again.
#[tokio::test]
async fn a_password_sent_ahead_of_its_prompt_is_flushed() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    c.send(b"root\r\nhunter2\r\n").await;
    c.read_until("Password: ").await;
    let mut buf = [0u8; 256];
    let quiet = tokio::time::timeout(Duration::from_millis(500), c.stream.read(&mut buf)).await;
    assert!(quiet.is_err(), "nothing after Password: {quiet:?}");
    c.send(b"hunter2\r\n").await;
    c.read_until(&format!("root@{host}:~# ")).await;
    drop(c);
    let events = h.wait_closed(1).await;
    assert_eq!(
        logins(&events),
        [("root".into(), Some("hunter2".into()), true)]
    );
    h.stop().await;
}

#[tokio::test]
async fn line_endings_cr_nul_and_bare_lf() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    // CR NUL after the name, bare LF after the password, CR LF split over writes.
    c.send(b"root\r\0").await;
    c.read_until("Password: ").await;
    c.send(b"hunter2\n").await;
    let prompt = format!("root@{host}:~# ");
    c.read_until(&prompt).await;
    c.send(b"echo one\r").await;
    c.read_until(&prompt).await;
    c.send(b"\necho two\r\n").await;
    let two = c.read_until(&prompt).await;
    // The LF that completed the previous CR is not an empty command line.
    assert_eq!(two, format!("echo two\r\ntwo\r\n{prompt}"));
    drop(c);
    let events = h.wait_closed(1).await;
    assert_eq!(commands(&events), ["echo one", "echo two"]);
    h.stop().await;
}

#[tokio::test]
async fn iac_sequences_inside_data_and_escaped_ff() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    let prompt = format!("root@{host}:~# ");
    c.log_in("root", "hunter2", &prompt).await;

    // Negotiation, NOP, a window change and an unknown option in the middle of a
    // command, split over writes; an escaped 0xFF data byte.
    let mut line = b"echo a".to_vec();
    line.extend_from_slice(&[IAC, NOP, IAC, WILL, 200, IAC, SB, NAWS, 0, 100]);
    c.send(&line).await;
    c.send(&[0, 40, IAC, SE, b'b', IAC, IAC, b'c', b'\r', b'\n'])
        .await;
    let out = c.read_until(&prompt).await;
    assert!(c.commands.contains(&(DONT, 200)), "{:?}", c.commands);
    assert!(out.starts_with("echo ab"), "{out:?}");

    // Output 0xFF reaches the client doubled on the wire, single after decoding.
    c.send(b"printf '\\377x\\n'\r\n").await;
    c.read_until(&prompt).await;
    assert!(find(&c.text, &[b'\r', b'\n', 0xff, b'x']).is_some());
    assert!(find(&c.raw, &[IAC, IAC, b'x']).is_some());

    c.send(b"exit\r\n").await;
    c.read_to_end().await;
    let events = h.wait_closed(1).await;
    let commands = commands(&events);
    assert_eq!(commands[0], "echo ab\u{fffd}c");
    let recording = recording_of(&events).expect("a recording");
    let cast = check_recording(h.data_dir(), &recording);
    assert!(cast.contains("\"r\", \"100x40\""), "{cast}");
    h.stop().await;
}

/// inetutils telnetd ignores a `USER` sent through NEW-ENVIRON (`telnet -l`): login
/// asks for the name as usual.
#[tokio::test]
async fn telnet_l_user_is_ignored() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Linux).await;
    c.user = Some("root".into());
    c.read_until(&format!("{host} login: ")).await;
    c.log_in("root", "hunter2", &format!("root@{host}:~# "))
        .await;
    c.send(b"exit\r\n").await;
    c.read_to_end().await;
    let events = h.wait_closed(1).await;
    assert_eq!(
        logins(&events),
        [("root".into(), Some("hunter2".into()), true)]
    );
    h.stop().await;
}

#[tokio::test]
async fn too_many_failed_logins_disconnect_as_shadow_login_does() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    for (n, password) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        let answer = c.log_in("root", password, "Login incorrect\r\n").await;
        assert_eq!(answer, "\r\n\r\nLogin incorrect\r\n", "try {n}");
        if n < 4 {
            assert_eq!(c.read_until("login: ").await, format!("{host} login: "));
        }
    }
    let rest = c.read_to_end().await;
    assert_eq!(rest, "Maximum number of tries exceeded (5)\r\n");
    let events = h.wait_closed(1).await;
    assert_eq!(logins(&events).len(), 5);
    assert!(logins(&events).iter().all(|l| !l.2));
    assert_eq!(h.counter("too_many_auth"), 1);
    h.stop().await;
}

/// libpam randomises the failure delay (× 0.5-1.5): a constant one is a tell.
#[tokio::test]
async fn failure_delays_vary_as_pam_faildelay() {
    let h = Harness::start(
        |_| {},
        |t| t.login_failure_delay = Duration::from_millis(200),
    )
    .await;
    let mut delays = Vec::new();
    for _ in 0..2 {
        let mut c = Client::connect(h.addr, Mode::Mirai).await;
        c.read_until("login: ").await;
        for _ in 0..4 {
            c.send(b"root\r\n").await;
            c.read_until("Password: ").await;
            c.send(b"nope\r\n").await;
            c.read_until("\r\n").await;
            let started = std::time::Instant::now();
            c.read_until("Login incorrect").await;
            delays.push(started.elapsed());
            c.read_until("login: ").await;
        }
    }
    let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
    assert!(*min >= Duration::from_millis(95), "{delays:?}");
    assert!(*max <= Duration::from_millis(400), "{delays:?}");
    assert!(
        *max - *min >= Duration::from_millis(10),
        "not constant: {delays:?}"
    );
    h.wait_closed(2).await;
    h.stop().await;
}

/// `^C` at the prompt: `IAC DM ^C`, the line discarded, no new prompt; `^D` is a failed
/// try; an empty name still asks for a password.
#[tokio::test]
async fn interrupt_eof_and_empty_name_at_the_prompt() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    let before = c.raw.len();
    c.send(b"ro\x03").await;
    c.read_until("^C").await;
    assert!(find(&c.raw[before..], &[IAC, 242, b'^', b'C']).is_some());
    c.send(b"\x04").await;
    assert_eq!(
        c.read_until("login: ").await,
        format!("\r\n\r\nLogin incorrect\r\n{host} login: ")
    );
    c.send(b"\r\n").await;
    assert_eq!(c.read_until("Password: ").await, "\r\nPassword: ");
    c.send(b"x\r\n").await;
    c.read_until("Login incorrect").await;
    c.read_until("login: ").await;
    c.log_in("root", "hunter2", &format!("root@{host}:~# "))
        .await;
    drop(c);
    let events = h.wait_closed(1).await;
    assert_eq!(
        logins(&events).last(),
        Some(&("root".into(), Some("hunter2".into()), true))
    );
    h.stop().await;
}

#[tokio::test]
async fn login_timeout_disconnects() {
    let h = Harness::start(|_| {}, |t| t.login_timeout = Duration::from_millis(300)).await;
    let mut c = Client::connect(h.addr, Mode::Linux).await;
    c.read_until("login: ").await;
    let rest = c.read_to_end().await;
    assert_eq!(rest, "\r\nLogin timed out after 0 seconds.\r\n");
    h.wait_closed(1).await;
    assert_eq!(h.counter("login_timeout"), 1);
    h.stop().await;
}

#[tokio::test]
async fn idle_shell_is_closed_and_recorded() {
    let h = Harness::start(
        |hp| hp.limits.idle_timeout = Duration::from_millis(300),
        |_| {},
    )
    .await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    c.log_in("root", "hunter2", &format!("root@{host}:~# "))
        .await;
    c.send(b"id\r\n").await;
    c.read_until(&format!("root@{host}:~# ")).await;
    c.read_to_end().await;
    let events = h.wait_closed(1).await;
    assert_eq!(h.counter("idle_timeout"), 1);
    let recording = recording_of(&events).expect("a recording");
    check_recording(h.data_dir(), &recording);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_sessions() {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    c.log_in("root", "hunter2", &format!("root@{host}:~# "))
        .await;
    let mut h = h;
    let pipeline = h.pipeline.take().unwrap();
    // Shutdown waits for the connection to end, so the events are all there after.
    let stopping = tokio::spawn(pipeline.shutdown());
    c.read_to_end().await;
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .unwrap()
        .unwrap();
    let events = h.events();
    assert_eq!(closed(&events), 1);
    let recording = recording_of(&events).expect("a recording");
    check_recording(h.data_dir(), &recording);
}

#[tokio::test]
async fn hostile_input_is_bounded_and_the_sensor_survives() {
    let h = Harness::start(|hp| hp.limits.max_line_bytes = 1024, |_| {}).await;

    // Random bytes (IAC-heavy) at the login prompt: whatever happens, no panic.
    let mut rng = fastrand::Rng::with_seed(42);
    for round in 0..8 {
        let mut c = Client::connect(h.addr, Mode::Silent).await;
        let junk: Vec<u8> = (0..65536)
            .map(|_| {
                if rng.u8(..4) == 0 {
                    rng.u8(236..)
                } else {
                    rng.u8(..)
                }
            })
            .collect();
        // The server may close mid-way (a ^D ends login): ignore write errors.
        let _ = c.stream.write_all(&junk).await;
        let _ = c.stream.shutdown().await;
        c.read_to_end().await;
        eprintln!("random round {round}: {} bytes back", c.raw.len());
    }

    // A 1 MiB name without a line end: cut at max_line_bytes, never buffered whole.
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    let flood = vec![b'A'; 1 << 20];
    let writer = {
        let (mut read, mut write) = c.stream.into_split();
        let writer = tokio::spawn(async move {
            write.write_all(&flood).await.unwrap();
            write.write_all(b"\r\n").await.unwrap();
            write
        });
        // Drain the echo while writing.
        let mut echoed = Vec::new();
        let mut buf = [0u8; 4096];
        while find(&echoed, b"Password: ").is_none() {
            let n = tokio::time::timeout(PATIENCE, read.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed before the password prompt");
            echoed.extend_from_slice(&buf[..n]);
        }
        let echoed_as = echoed.iter().filter(|&&b| b == b'A').count();
        assert_eq!(echoed_as, 1024, "the echo stops at max_line_bytes");
        let mut write = writer.await.unwrap();
        // The password once asked for (login flushes what came ahead of its prompt).
        write.write_all(b"x\r\n").await.unwrap();
        (write, read)
    };
    drop(writer);

    let events = h.wait_closed(9).await;
    assert!(
        logins(&events)
            .iter()
            .all(|(user, password, _)| user.len() <= 1024
                && password.as_ref().is_none_or(|p| p.len() <= 1024))
    );
    assert!(
        logins(&events)
            .iter()
            .any(|(user, _, _)| user.len() == 1024)
    );

    // Still accepting, and logins still work.
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    c.log_in("root", "hunter2", &format!("root@{host}:~# "))
        .await;
    c.send(b"echo alive\r\n").await;
    let out = c.read_until(&format!("alive\r\nroot@{host}:~# ")).await;
    assert!(out.contains("echo alive"));
    drop(c);
    h.wait_closed(10).await;
    h.stop().await;
}

/// Drives the distribution's `telnet` or `busybox telnet` when installed, through
/// pipes (no pty: the client sends lines as given).
#[tokio::test]
async fn real_telnet_client_if_installed() {
    let client = ["telnet", "busybox"].into_iter().find(|name| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    let Some(client) = client else {
        eprintln!("SKIPPED real_telnet_client_if_installed: neither telnet nor busybox installed");
        return;
    };
    let h = Harness::start(|_| {}, |_| {}).await;
    let mut args: Vec<String> = Vec::new();
    if client == "busybox" {
        args.push("telnet".into());
    }
    args.push(h.addr.ip().to_string());
    args.push(h.addr.port().to_string());
    let host = h.hostname();
    let dialogue = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut child = std::process::Command::new(client)
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let mut wait_for = |needle: &str| {
            while find(&seen, needle.as_bytes()).is_none() {
                let chunk = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
                    panic!(
                        "{needle:?} never came: {:?}",
                        String::from_utf8_lossy(&seen)
                    )
                });
                seen.extend_from_slice(&chunk);
            }
        };
        wait_for("login: ");
        stdin.write_all(b"root\n").unwrap();
        wait_for("Password: ");
        stdin.write_all(b"hunter2\n").unwrap();
        wait_for(&format!("root@{host}:~# "));
        stdin.write_all(b"echo from-real-client\nexit\n").unwrap();
        wait_for("from-real-client\r\n");
        let _ = child.kill();
        let _ = child.wait();
    });
    tokio::time::timeout(PATIENCE * 2, dialogue)
        .await
        .unwrap()
        .unwrap();
    let events = h
        .wait_for("the commands", |e| {
            commands(e).contains(&"echo from-real-client".to_owned())
        })
        .await;
    assert!(logins(&events).iter().any(|l| l.2));
    h.stop().await;
}

#[tokio::test]
async fn max_session_time_ends_a_busy_session() {
    let h = Harness::start(
        |hp| hp.limits.max_session_time = Duration::from_millis(500),
        |_| {},
    )
    .await;
    let host = h.hostname();
    let mut c = Client::connect(h.addr, Mode::Mirai).await;
    c.read_until("login: ").await;
    let prompt = format!("root@{host}:~# ");
    c.log_in("root", "hunter2", &prompt).await;
    // Keep typing: idleness is not what ends it.
    loop {
        if c.stream.write_all(b"echo busy\r\n").await.is_err() || !c.read_some().await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.wait_closed(1).await;
    assert_eq!(h.counter("session_timeout"), 1);
    assert_eq!(h.counter("idle_timeout"), 0);
    h.stop().await;
}

#[test]
fn config_defaults_and_unknown_fields() {
    let config: TelnetConfig = toml::from_str(
        "listen = \"0.0.0.0:23\"\nlogin_failure_delay = \"2s\"\nlogin_prompt = \"{hostname} login: \"",
    )
    .unwrap();
    assert!(config.persona.is_none());
    assert_eq!(config.listen, "0.0.0.0:23".parse().unwrap());
    assert_eq!(config.login_failure_delay, Duration::from_secs(2));
    assert_eq!(config.password_prompt, "Password: ");
    assert_eq!(config.negotiation_timeout, None);
    assert_eq!(config.login_retries, 5);
    assert_eq!(config.login_timeout, Duration::from_secs(60));
    assert!(toml::from_str::<TelnetConfig>("lisen = \"0.0.0.0:23\"").is_err());
}

/// One direction's bytes of a capture of the real Debian 12 telnetd
/// (`testdata/deception/telnet/inetutils-telnetd/<name>.jsonl`), in order.
fn capture(name: &str) -> Vec<(bool, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/deception/telnet/inetutils-telnetd")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let server = match value["dir"].as_str()? {
                "s2c" => true,
                "c2s" => false,
                _ => return None,
            };
            let hex = value["hex"].as_str()?;
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            Some((server, bytes))
        })
        .collect()
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Replays the client's side of a capture up to the first login prompt and compares
/// every byte the sensor sends with what the real telnetd sent (its host name, kernel
/// release and pty replaced by the persona's).
async fn replay_opening(name: &str) {
    let h = Harness::start(|_| {}, |_| {}).await;
    let host = h.hostname();
    let release = h.honeypot.persona().kernel_release.clone();
    let mut steps = Vec::new();
    for (server, bytes) in capture(name) {
        let bytes = replace_bytes(
            &bytes,
            b"Linux 6.18.44-fc-v1300 (localhost)",
            format!("Linux {release} ({host})").as_bytes(),
        );
        let bytes = replace_bytes(&bytes, b"vm login: ", format!("{host} login: ").as_bytes());
        // Other connections were open during some captures.
        let bytes = replace_bytes(&bytes, b"(pts/1)", b"(pts/0)");
        let done = server && find(&bytes, b" login: ").is_some();
        steps.push((server, bytes));
        if done {
            break;
        }
    }
    let expected: Vec<u8> = steps
        .iter()
        .filter(|(server, _)| *server)
        .flat_map(|(_, b)| b.clone())
        .collect();
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let mut got = Vec::new();
    let mut owed = 0;
    for (server, bytes) in &steps {
        if *server {
            owed += bytes.len();
            continue;
        }
        // The client answers once the server said what it answered.
        while got.len() < owed {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{name}: stalled at {got:02x?}"))
                .unwrap();
            assert!(n > 0, "{name}: closed after {got:02x?}");
            got.extend_from_slice(&buf[..n]);
        }
        stream.write_all(bytes).await.unwrap();
    }
    while got.len() < expected.len() {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{name}: stalled at {got:02x?}"))
            .unwrap();
        assert!(n > 0, "{name}: closed after {got:02x?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected),
        "{name}: {got:02x?}\n!=\n{expected:02x?}"
    );
    assert_eq!(got, expected, "{name}");
    drop(stream);
    h.wait_closed(1).await;
    h.stop().await;
}

#[tokio::test]
async fn opening_equals_debian_12_telnetd_for_a_refusing_client() {
    replay_opening("c_refuse").await;
}

#[tokio::test]
async fn opening_equals_debian_12_telnetd_for_mirai() {
    replay_opening("l_mirai").await;
}

#[tokio::test]
async fn opening_equals_debian_12_telnetd_for_busybox_telnet() {
    replay_opening("d_busybox").await;
}

#[tokio::test]
async fn opening_equals_debian_12_telnetd_for_a_client_that_agrees_without_authentication() {
    replay_opening("k_accept_noauth").await;
}
