//! Helpers the `hpti` binary's integration tests share: running the binary, the
//! fixtures under `testdata/`.

// Each test binary uses its own subset of these.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `hpti` binary built for these tests.
pub fn hpti() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hpti"))
}

/// A current-thread runtime for the async parts of a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `command` to its end, with no input.
pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

/// Its standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Its standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A file under the workspace's `testdata/`-relative `path`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The Cowrie, OpenCanary and auth.log fixtures, by format.
pub const FIXTURES: [(&str, &str); 3] = [
    ("cowrie", "testdata/cowrie/cowrie.json"),
    ("opencanary", "testdata/opencanary/opencanary.log"),
    ("authlog", "testdata/authlog/auth.log"),
];

/// `hpti ingest`s every one of [`FIXTURES`] with `config`, each of which must succeed.
pub fn ingest_fixtures(config: &Path) {
    for (format, file) in FIXTURES {
        let output = run(hpti()
            .arg("--config")
            .arg(config)
            .args(["ingest", "--format", format])
            .arg(fixture(file)));
        assert!(output.status.success(), "{format}: {}", stderr(&output));
    }
}

/// A TCP proxy in front of a server (PostgreSQL, Redis) that the test can take down (listener
/// closed, every connection cut) and bring back on the same port: a database outage as
/// hpti sees it, without stopping the server other tests use.
pub struct Outage {
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    up: tokio::sync::watch::Sender<bool>,
    _runtime: tokio::runtime::Runtime,
}

impl Outage {
    /// A proxy to `target` (`host:port`), up.
    pub fn start(target: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (up, mut state) = tokio::sync::watch::channel(true);
        let target = target.to_owned();
        runtime.spawn(async move {
            loop {
                while !*state.borrow_and_update() {
                    if state.changed().await.is_err() {
                        return;
                    }
                }
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap();
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((mut client, _)) = accepted else { continue };
                            let target = target.clone();
                            connections.spawn(async move {
                                if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                                }
                            });
                        }
                        changed = state.changed() => {
                            if changed.is_err() || !*state.borrow_and_update() {
                                break;
                            }
                        }
                    }
                }
                drop(listener);
                connections.abort_all();
            }
        });
        Self {
            port,
            up,
            _runtime: runtime,
        }
    }

    /// Takes the server away (`false`: listener closed, connections cut) or brings it back.
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// One series of `hpti run`'s Prometheus endpoint at `addr` (0 when absent).
pub fn metric(addr: &str, series: &str) -> u64 {
    let text = http_get(addr, "/metrics");
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// The whole HTTP/1.0 response (head and body) to `GET path` at `addr`.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read as _;
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// `GET /health` of a metrics listener: the status code and the JSON report.
pub fn health(addr: &str) -> (u16, serde_json::Value) {
    let text = http_get(addr, "/health");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, serde_json::from_str(body).unwrap())
}

/// The state `GET /health` reports for one component (`sink`, `pg`).
pub fn component_state(report: &serde_json::Value, kind: &str, id: &str) -> String {
    report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["component"] == id)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A child process killed if the test panics before stopping it.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stderr lines of a running `hpti run`.
pub type LogLines = std::io::Lines<std::io::BufReader<std::process::ChildStderr>>;

/// Starts `hpti run` with `config`, logging at info; returns it and its log.
pub fn spawn_run(config: &Path) -> (KillOnDrop, LogLines) {
    spawn_run_with_env(config, &[])
}

/// [`spawn_run`] with more environment variables.
pub fn spawn_run_with_env(config: &Path, env: &[(&str, &str)]) -> (KillOnDrop, LogLines) {
    use std::io::BufRead as _;
    let mut child = KillOnDrop(
        hpti()
            .env("HPTI_LOG", "info")
            .envs(env.iter().copied())
            .arg("--config")
            .arg(config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = std::io::BufReader::new(child.0.stderr.take().unwrap()).lines();
    (child, log)
}

/// Reads `log` until `hpti run` has said where its SSH and Telnet honeypots listen;
/// returns their addresses (`host:port`).
pub fn ssh_and_telnet(log: &mut LogLines) -> (String, String) {
    let (mut ssh, mut telnet) = (None, None);
    while ssh.is_none() || telnet.is_none() {
        let line = log.next().expect("hpti run logs its listeners").unwrap();
        let addr = || {
            line.split("listening on ")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        };
        if line.contains("SSH honeypot listening") {
            ssh = addr();
        } else if line.contains("Telnet honeypot listening") {
            telnet = addr();
        }
    }
    (ssh.unwrap(), telnet.unwrap())
}

/// Reads `log` until `hpti run` says where its metrics are; returns that address.
pub fn metrics_address(log: &mut LogLines) -> String {
    loop {
        let line = log
            .next()
            .expect("hpti run stopped before listening")
            .unwrap();
        if let Some(rest) = line.split("metrics at http://").nth(1) {
            return rest.split('/').next().unwrap().to_owned();
        }
    }
}

/// Reads the rest of `log` in a thread (an unread pipe would block hpti once full);
/// joined, it gives the lines that report a panic.
pub fn panics_in(log: LogLines) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        log.map_while(Result::ok)
            .filter(|l| l.contains("panicked"))
            .take(20)
            .collect()
    })
}

/// Stops `hpti run` with SIGTERM and checks that it exited cleanly and never panicked.
pub fn stop_cleanly(mut child: KillOnDrop, panics: std::thread::JoinHandle<Vec<String>>) {
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.0.wait().unwrap().success(), "a clean stop");
    let panics = panics.join().unwrap();
    assert!(panics.is_empty(), "{panics:#?}");
}

/// Reads from `stream` until `needle` shows up; false on a closed or failed connection,
/// or after 10 s. The stream should have a short read timeout.
pub fn read_until(stream: &mut std::net::TcpStream, needle: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buffer = [0u8; 4096];
    let mut telnet = hpti_sensors::telnet::BotAnswers::default();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        match stream.read(&mut buffer) {
            Ok(0) => return false,
            Ok(n) => {
                let answer = telnet.feed(&buffer[..n], &mut seen);
                if !answer.is_empty() && stream.write_all(&answer).is_err() {
                    return false;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
    }
    true
}

/// Logs in to a Telnet sensor at `addr` as root (a password the emulated shell takes);
/// the stream, at the prompt, reading with a short timeout.
pub fn telnet_login(addr: &str) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .unwrap();
    assert!(read_until(&mut stream, "login: "));
    stream.write_all(b"root\r\n").unwrap();
    assert!(read_until(&mut stream, "Password: "));
    stream.write_all(b"vizxv\r\n").unwrap();
    assert!(read_until(&mut stream, "# "));
    stream
}

/// Every event of the SQLite store at `db`, newest first.
pub fn all_events(db: &Path) -> Vec<hpti_core::event::Event> {
    runtime().block_on(async {
        use hpti_store::EventQueries as _;
        let mut options = hpti_store::SqliteOptions::new(db);
        options.read_only = true;
        let store = hpti_store::SqliteStore::open(options).await.unwrap();
        let mut events = Vec::new();
        let mut cursor: Option<hpti_store::Cursor> = None;
        loop {
            let page = store
                .events(
                    hpti_store::Window::default().limit(500),
                    &hpti_store::EventFilter::default(),
                    cursor.as_ref(),
                )
                .await
                .unwrap();
            events.extend(page.events);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        store.close().await;
        events
    })
}

/// A Mirai-like bot: an ARM ELF header and the cleartext strings Mirai builds keep.
pub fn mirai_like_elf() -> Vec<u8> {
    let mut elf = vec![
        0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 40, 0,
    ];
    elf.resize(52, 0);
    elf.extend_from_slice(b"\0/dev/watchdog\0/dev/misc/watchdog\0/bin/busybox MIRAI\0");
    elf.resize(2048, 0);
    elf
}

/// `hpti ingest`s Cowrie's fixture log with its downloads directory, and one more file,
/// a Mirai-like ARM bot ([`mirai_like_elf`]) that a second log line says `203.0.113.66`
/// downloaded. Returns the bot's SHA-256.
pub fn ingest_cowrie_with_mirai(config: &Path, dir: &Path) -> String {
    let downloads = dir.join("cowrie-downloads");
    std::fs::create_dir(&downloads).unwrap();
    for entry in std::fs::read_dir(fixture("testdata/cowrie/downloads")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), downloads.join(entry.file_name())).unwrap();
    }
    let mirai = mirai_like_elf();
    let mirai_sha = hpti_core::file::sha256_hex(&mirai);
    std::fs::write(downloads.join(&mirai_sha), &mirai).unwrap();
    let extra_log = dir.join("cowrie-extra.json");
    std::fs::write(
        &extra_log,
        format!(
            "{{\"eventid\":\"cowrie.session.file_download\",\"session\":\"m1rai0000001\",\"src_ip\":\"203.0.113.66\",\"url\":\"http://203.0.113.66/bins/arm7\",\"shasum\":\"{mirai_sha}\",\"outfile\":\"var/lib/cowrie/downloads/{mirai_sha}\",\"timestamp\":\"2026-11-21T14:00:00.000000Z\",\"sensor\":\"hpti-fixture-sensor\"}}\n"
        ),
    )
    .unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(config)
        .args(["ingest", "--format", "cowrie", "--downloads"])
        .arg(&downloads)
        .arg(fixture("testdata/cowrie/cowrie.json"))
        .arg(&extra_log));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    mirai_sha
}

/// A new API token (`hpti api token create`) of `role`, named `name`.
pub fn api_token(config: &Path, role: &str, name: &str) -> String {
    let output = run(hpti()
        .arg("--config")
        .arg(config)
        .args(["api", "token", "create", "--role", role, "--name", name]));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).trim().to_owned()
}

/// Reads `hpti run`'s log until the API says where it listens (`host:port`).
pub fn api_address(log: &mut LogLines) -> String {
    loop {
        let line = log
            .next()
            .expect("hpti run logs the API's address")
            .unwrap();
        if let Some(rest) = line.split("analyst API at http://").nth(1) {
            return rest.split('/').next().unwrap().to_owned();
        }
    }
}

/// A web server with one file, for a sensor to fetch from (what an attacker's `wget`
/// asks for), on its own runtime: keep the runtime as long as the server.
pub fn file_server(path: &str, body: Vec<u8>) -> (tokio::runtime::Runtime, wiremock::MockServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path(path))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_bytes(body))
            .mount(&server)
            .await;
        server
    });
    (runtime, server)
}
