//! Distributed mode on a real NATS JetStream: edges (`hpti run` with a `nats` sink) and a
//! center (`hpti run` with a `nats` source and SQLite) as separate processes.
//!
//! - Three edges (two SSH sensors driven by OpenSSH and THC-Hydra, one reading the
//!   Cowrie fixture) and a center: every event reaches the center's store exactly once;
//!   `hpti fleet` lists the three and flags the one that was stopped.
//! - Fault drills, each ending with every produced event stored once at the center: the
//!   center SIGKILLed mid-stream and restarted; NATS stopped for 30 s
//!   (`HPTI_NATS_OUTAGE_SECS`) while an edge keeps producing; an edge SIGKILLed with a
//!   full outbox and restarted; the link between an edge and NATS cut and stalled by a
//!   TCP proxy.
//! - The outbox at its cap: the refused count is exact, nothing else is lost, memory
//!   stays flat.
//!
//! Tests that never stop NATS use the shared server (`HPTI_NATS_URL`, default
//! `nats://127.0.0.1:4222`) with their own stream and subjects; those that stop it start
//! their own `nats-server` on another port with its own store directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::testing::require_tool;

/// Writes a line to the test's stderr directly (`println!` is captured).
fn report(line: String) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The shared server, or `None` (a loud skip) when none answers; a failure under
/// `HPTI_REQUIRE_SERVICES=1`.
fn shared_nats() -> Option<String> {
    let url = std::env::var("HPTI_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let addr = url.trim_start_matches("nats://").to_owned();
    if std::net::TcpStream::connect(&addr).is_ok() {
        return Some(url);
    }
    if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("NATS at {url} is required (HPTI_REQUIRE_SERVICES=1)");
    }
    eprintln!("SKIPPED: no NATS server at {url} (set HPTI_NATS_URL)");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() != up {
        assert!(Instant::now() < deadline, "port {port} never went {up}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `nats-server` of the test's own, with its own store directory, that the test may
/// stop and start again (the shared server is never stopped).
struct OwnNats {
    port: u16,
    store: PathBuf,
    child: Option<Child>,
}

impl OwnNats {
    fn start(store: &Path) -> Option<Self> {
        if !require_tool("nats-server") {
            return None;
        }
        let mut server = Self {
            port: free_port(),
            store: store.to_owned(),
            child: None,
        };
        server.up();
        Some(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        self.up_with(&[]);
    }

    /// Starts it with more arguments (credentials, TLS).
    fn up_with(&mut self, extra: &[&str]) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port, true);
    }

    /// Stops the server as an operator would (SIGTERM), waiting for it to go.
    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            child.wait().unwrap();
        }
        wait_for_port(self.port, false);
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) {
    assert!(
        Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// A running `hpti run`, its addresses, and its log's warnings and errors.
struct Hpti {
    config: PathBuf,
    child: Option<Child>,
    ssh: Option<String>,
    telnet: Option<String>,
    metrics: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Hpti {
    fn start(config: &Path) -> Self {
        let mut hpti = Self {
            config: config.to_owned(),
            child: None,
            ssh: None,
            telnet: None,
            metrics: String::new(),
            log: Arc::default(),
        };
        hpti.restart();
        hpti
    }

    fn restart(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hpti"))
            .env("HPTI_LOG", "info")
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("hpti run stopped while starting:\n{}", seen.join("\n"));
            };
            let addr = || {
                line.split("listening on ")
                    .nth(1)
                    .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
            };
            if line.contains("SSH honeypot listening") {
                self.ssh = addr();
            } else if line.contains("Telnet honeypot listening") {
                self.telnet = addr();
            } else if let Some(rest) = line.split("metrics at http://").nth(1) {
                self.metrics = rest.split('/').next().unwrap().to_owned();
            }
            let running = line.contains("hpti is running");
            seen.push(line);
            if running {
                break;
            }
        }
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("ERROR") || line.contains("WARN") || line.contains("panicked") {
                    let mut log = log.lock().unwrap();
                    if log.len() < 200 {
                        log.push(line);
                    }
                }
            }
        });
        self.child = Some(child);
    }

    fn ssh_port(&self) -> String {
        self.ssh
            .as_ref()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    }

    fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM: a clean stop, which must succeed.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        signal(&child, "TERM");
        let status = child.wait().unwrap();
        assert!(status.success(), "hpti run exited with {status}");
    }

    fn metric(&self, series: &str) -> u64 {
        common::metric(&self.metrics, series)
    }

    /// Its non-zero event counters and queue depths, for failure messages.
    fn counters(&self) -> String {
        if self.child.is_none() {
            return "(stopped)".into();
        }
        common::http_get(&self.metrics, "/metrics")
            .lines()
            .filter(|l| {
                (l.starts_with("hpti_events_total") || l.starts_with("hpti_queue_depth"))
                    && !l.ends_with(" 0")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    fn panics(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("panicked"))
            .cloned()
            .collect()
    }
}

impl Drop for Hpti {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Names no other test (or run) uses on a shared server.
/// On the shared server, the stream is deleted when the test ends, passed or failed.
struct Names {
    stream: String,
    subject: String,
    consumer: String,
    tag: String,
    shared: Option<String>,
}

impl Names {
    fn new(test: &str, shared: Option<&str>) -> Self {
        let tag = format!("{test}{}x{}", std::process::id(), fastrand_u32());
        Self {
            stream: format!("T_{tag}"),
            subject: format!("t{tag}.events"),
            consumer: format!("c{tag}"),
            tag,
            shared: shared.map(str::to_owned),
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        if let Some(url) = &self.shared {
            delete_stream(url, &self.stream);
        }
    }
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// An edge's config: its sensors (TOML), a NATS sink, and a local SQLite copy of what
/// it produced (the test's record of what the center must hold).
fn edge_config(
    dir: &Path,
    url: &str,
    names: &Names,
    host: &str,
    sensors: &str,
    extra: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {dir:?}\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n\
             [honeypot.limits]\nmax_sessions = 64\n\n{sensors}\n\
             [sinks.up]\ntype = \"nats\"\nurl = \"{url}\"\nstream = \"{stream}\"\n\
             subject = \"{subject}.{{sensor}}\"\nheartbeat = \"500ms\"\nhost = \"{host}\"\n\n\
             [sinks.local]\ntype = \"sqlite\"\npath = \"local.db\"\n\n{extra}",
            stream = names.stream,
            subject = names.subject,
        ),
    )
    .unwrap();
    config
}

fn center_config(dir: &Path, url: &str, names: &Names, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("center.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {dir:?}\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[sensors]\n\n\
             [sources.edge]\ntype = \"nats\"\nurl = \"{url}\"\nstream = \"{stream}\"\n\
             consumer = \"{consumer}\"\nsubjects = [\"{subject}.>\"]\nack_wait = \"5s\"\n\
             stream_max_bytes = 268435456\n\n\
             [sinks.main]\ntype = \"sqlite\"\npath = \"hpti.db\"\n\n{extra}",
            stream = names.stream,
            consumer = names.consumer,
            subject = names.subject,
        ),
    )
    .unwrap();
    config
}

/// `SELECT <column>, COUNT(*) FROM events [WHERE ...] GROUP BY 1` of a SQLite store (read
/// only, beside the process writing it).
fn counts(db: &Path, column: &str, filter: &str) -> BTreeMap<String, i64> {
    if !db.exists() {
        return BTreeMap::new();
    }
    common::runtime().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT {column}, COUNT(*) FROM events {filter} GROUP BY 1"
        ))
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        pool.close().await;
        rows.into_iter().collect()
    })
}

fn ids(db: &Path) -> BTreeSet<String> {
    counts(db, "hex(id)", "").into_keys().collect()
}

/// Deletes a test's stream from the shared server (its consumer goes with it).
fn delete_stream(url: &str, stream: &str) {
    common::runtime().block_on(async {
        if let Ok(client) = hpti_nats::async_nats::connect(url).await {
            let js = hpti_nats::async_nats::jetstream::new(client);
            let _ = js.delete_stream(stream).await;
        }
    });
}

/// Waits until `done` holds, up to `within`; false if it never did.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    done()
}

/// One line of hpti's JSON log format: a command with a unique marker.
fn feed_line(n: u64, base: Timestamp) -> String {
    let event = Event::new(
        "feed",
        Protocol::Ssh,
        IpAddr::from([198, 51, 100, (n % 200 + 1) as u8]),
        EventKind::CommandInput {
            command: format!("echo f-{n}"),
        },
    )
    .with_session(format!("feed{}", n / 50))
    .with_time(base.saturating_add_micros(n as i64));
    serde_json::to_string(&event).unwrap() + "\n"
}

/// Appends feed lines to `dir/feed.jsonl` at about `per_second` until `stop`; how many.
fn feed_writer(dir: PathBuf, per_second: u64, stop: Arc<AtomicBool>) -> u64 {
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("feed.jsonl"))
        .unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let due = (started.elapsed().as_secs_f64() * per_second as f64) as u64;
        let mut chunk = String::new();
        while n < due {
            chunk.push_str(&feed_line(n, base));
            n += 1;
        }
        file.write_all(chunk.as_bytes()).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    n
}

/// A thread appending to the feed of the edge under `dir/edge` at `per_second`.
struct Feed {
    stop: Arc<AtomicBool>,
    writer: std::thread::JoinHandle<u64>,
}

impl Feed {
    fn start(dir: &Path, per_second: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (dir, stop) = (dir.join("edge"), Arc::clone(&stop));
            std::thread::spawn(move || feed_writer(dir, per_second, stop))
        };
        Self { stop, writer }
    }

    /// Stops writing; the number of lines written.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.writer.join().unwrap()
    }
}

/// An edge under `dir/edge` that reads the feed there.
fn feed_edge(dir: &Path, url: &str, names: &Names) -> Hpti {
    let edge_dir = dir.join("edge");
    std::fs::create_dir_all(&edge_dir).unwrap();
    Hpti::start(&edge_config(
        &edge_dir,
        url,
        names,
        &names.tag,
        &feed_source(&edge_dir),
        "",
    ))
}

/// The edge's source: the feed in `dir`.
fn feed_source(dir: &Path) -> String {
    format!(
        "[sensors]\n\n[sources.feed]\ntype = \"file\"\nformat = \"hpti\"\n\
         paths = [{:?}]\npoll_interval = \"20ms\"\n",
        dir.join("feed.jsonl")
    )
}

/// A drill's end: every marker written is stored exactly once at the center.
fn assert_feed_stored_once(center_db: &Path, written: u64, within: Duration, processes: &[&Hpti]) {
    let complete = eventually(within, || {
        counts(center_db, "command", "WHERE kind = 'command.input'").len() as u64 >= written
    });
    let stored = counts(center_db, "command", "WHERE kind = 'command.input'");
    let missing: Vec<_> = (0..written)
        .map(|n| format!("echo f-{n}"))
        .filter(|m| !stored.contains_key(m))
        .take(10)
        .collect();
    let twice: Vec<_> = stored.iter().filter(|(_, c)| **c != 1).take(10).collect();
    assert!(
        complete && missing.is_empty() && twice.is_empty() && stored.len() as u64 == written,
        "written {written}, stored {} distinct; missing (first 10) {missing:?}; stored more than once {twice:?}\n{}",
        stored.len(),
        processes
            .iter()
            .map(|p| format!(
                "{}:\n{}\n{:?}",
                p.config.display(),
                p.counters(),
                p.log.lock().unwrap()
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn ssh(port: &str, user: &str, password: &str, command: &str) -> bool {
    Command::new("sshpass")
        .args(["-p", password, "ssh", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=10"])
        .args(["-p", port, &format!("{user}@127.0.0.1"), command])
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("m-"))
        .unwrap_or(false)
}

fn fleet(center: &Path) -> (bool, Vec<serde_json::Value>) {
    let output = common::run(
        common::hpti()
            .arg("--config")
            .arg(center)
            .args(["fleet", "--json"]),
    );
    let edges = common::stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output.status.success(), edges)
}

#[test]
fn three_edges_and_a_center_store_every_event_exactly_once_and_the_fleet_flags_a_stopped_edge() {
    let Some(url) = shared_nats() else { return };
    for tool in ["ssh", "sshpass", "hydra"] {
        if !require_tool(tool) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("three", Some(&url));
    // The shipped edge-silent rule, its timeframe cut to the test's pace.
    let rules = dir.path().join("center/rules");
    std::fs::create_dir_all(&rules).unwrap();
    let shipped = std::fs::read_to_string(common::fixture("rules/edge-silent.yml")).unwrap();
    assert!(shipped.contains("timeframe: 2m\n"));
    std::fs::write(
        rules.join("edge-silent.yml"),
        shipped.replace("timeframe: 2m\n", "timeframe: 3s\n"),
    )
    .unwrap();
    let center_cfg = center_config(
        &dir.path().join("center"),
        &url,
        &names,
        "[fleet]\nsilent_after = \"3s\"\n\n[alerting]\nrules = [\"rules/*.yml\"]\n",
    );
    let setup = common::run(
        common::hpti()
            .arg("--config")
            .arg(&center_cfg)
            .args(["nats", "setup"]),
    );
    assert!(setup.status.success(), "{}", common::stderr(&setup));
    assert!(common::stdout(&setup).contains(&format!("stream {}: created", names.stream)));
    let again = common::run(
        common::hpti()
            .arg("--config")
            .arg(&center_cfg)
            .args(["nats", "setup"]),
    );
    assert!(
        common::stdout(&again).contains(&format!("stream {}: ok", names.stream)),
        "{}",
        common::stdout(&again)
    );

    let mut center = Hpti::start(&center_cfg);
    let host = |n: &str| format!("{}-{n}", names.tag);
    let ssh_sensor =
        |id: &str| format!("[sensors.{id}]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n");
    let edge_a_cfg = edge_config(
        &dir.path().join("a"),
        &url,
        &names,
        &host("a"),
        &ssh_sensor("ssh-a"),
        "",
    );
    let edge_b_cfg = edge_config(
        &dir.path().join("b"),
        &url,
        &names,
        &host("b"),
        &ssh_sensor("ssh-b"),
        "",
    );
    let cowrie = format!(
        "[sensors]\n\n[sources.cowrie-c]\ntype = \"file\"\nformat = \"cowrie\"\nsensor = \"cowrie-c\"\npaths = [{:?}]\n",
        common::fixture("testdata/cowrie/cowrie.json")
    );
    let edge_c_cfg = edge_config(&dir.path().join("c"), &url, &names, &host("c"), &cowrie, "");
    let edge_a = Hpti::start(&edge_a_cfg);
    let edge_b = Hpti::start(&edge_b_cfg);
    let mut edge_c = Hpti::start(&edge_c_cfg);

    // OpenSSH sessions on both SSH edges at once, and THC-Hydra guessing on edge A.
    let clients: Vec<_> = [(edge_a.ssh_port(), "a"), (edge_b.ssh_port(), "b")]
        .into_iter()
        .map(|(port, edge)| {
            std::thread::spawn(move || {
                (0..8)
                    .filter(|n| {
                        ssh(
                            &port,
                            "root",
                            "admin123",
                            &format!("echo m-{edge}-{n}; uname -a"),
                        )
                    })
                    .count()
            })
        })
        .collect();
    let passwords = dir.path().join("passwords.txt");
    std::fs::write(&passwords, "123456\npassword1\nqwerty\nletmein\ntoor\n").unwrap();
    let hydra = common::run(
        Command::new("hydra")
            .args(["-l", "admin", "-P"])
            .arg(&passwords)
            .args(["-t", "2", "-I", "-s", &edge_a.ssh_port(), "ssh://127.0.0.1"]),
    );
    assert!(hydra.status.code().is_some(), "hydra ran");
    for client in clients {
        assert_eq!(
            client.join().unwrap(),
            8,
            "every OpenSSH session was answered"
        );
    }

    // What the edges produced (their local copies) must be at the center, once.
    let local = |edge: &str| ids(&dir.path().join(edge).join("local.db"));
    let center_db = dir.path().join("center/hpti.db");
    let mut produced = BTreeSet::new();
    let all_there = eventually(Duration::from_secs(60), || {
        produced = ["a", "b", "c"].iter().flat_map(|e| local(e)).collect();
        let stored = ids(&center_db);
        produced.len() > 100 && stored == produced
    });
    let stored = ids(&center_db);
    let by_sensor = counts(&center_db, "sensor", "");
    report(format!(
        "three edges: produced {}, center stored {} ({by_sensor:?})",
        produced.len(),
        stored.len()
    ));
    assert!(
        all_there,
        "produced {} events, the center stored {}; missing {:?}",
        produced.len(),
        stored.len(),
        produced.difference(&stored).take(5).collect::<Vec<_>>()
    );
    // Cowrie's records name their own sensor.
    assert_eq!(
        by_sensor.keys().cloned().collect::<Vec<_>>(),
        ["hpti-fixture-sensor", "ssh-a", "ssh-b"]
    );
    let logins = counts(&center_db, "sensor", "WHERE kind = 'login.attempt'");
    // Hydra stops at the first password the honeypot takes, so at least one guess.
    assert!(
        logins["ssh-a"] > 8,
        "OpenSSH and hydra logins on edge A: {logins:?}"
    );

    // The fleet: three edges, all heard from; then edge C stops and is flagged.
    assert!(eventually(Duration::from_secs(10), || fleet(&center_cfg)
        .1
        .len()
        == 3));
    let (ok, edges) = fleet(&center_cfg);
    assert!(ok, "{edges:#?}");
    let sensors: Vec<_> = edges
        .iter()
        .map(|e| e["heartbeat"]["sensors"].clone())
        .collect();
    assert!(
        sensors.contains(&serde_json::json!(["cowrie-c", "hpti-fixture-sensor"])),
        "the configured source and the sensor its records name: {sensors:?}"
    );
    assert!(
        sensors.contains(&serde_json::json!(["ssh-a"])),
        "{sensors:?}"
    );
    edge_c.stop();
    assert!(
        eventually(Duration::from_secs(15), || !fleet(&center_cfg).0),
        "a silent edge fails `hpti fleet`"
    );
    let (_, edges) = fleet(&center_cfg);
    let silent: Vec<_> = edges
        .iter()
        .filter(|e| e["silent"] == true)
        .map(|e| e["heartbeat"]["host"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(silent, [host("c")]);
    // The flatline rule over heartbeats alerts on edge C, and on no other edge.
    let firing_keys = || -> Vec<String> {
        let list = common::run(
            common::hpti()
                .arg("--config")
                .arg(&center_cfg)
                .args(["alert", "list", "--format", "json"]),
        );
        common::stdout(&list)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|a| a["alert"]["rule"] == "edge-silent")
            .map(|a| a["alert"]["key"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || !firing_keys().is_empty()),
        "edge-silent did not fire; raised: {}; `hpti alert list --all`:\n{}",
        center.metric("hpti_alerts_total{rule=\"edge-silent\"}"),
        common::stdout(&common::run(
            common::hpti()
                .arg("--config")
                .arg(&center_cfg)
                .args(["alert", "list", "--all"])
        ))
    );
    assert_eq!(firing_keys(), [host("c")]);
    assert!(center.metric("hpti_alerts_total{rule=\"edge-silent\"}") >= 1);
    let table = common::stdout(&common::run(
        common::hpti().arg("--config").arg(&center_cfg).arg("fleet"),
    ));
    assert!(
        table
            .lines()
            .any(|l| l.contains(&host("c")) && l.contains("SILENT")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains(&host("a")) && l.contains(" ok ")),
        "{table}"
    );

    for hpti in [&edge_a, &edge_b, &center] {
        assert!(hpti.panics().is_empty(), "{:?}", hpti.panics());
    }
    center.stop();
}

#[test]
fn the_center_killed_mid_stream_and_restarted_loses_and_duplicates_nothing() {
    let Some(url) = shared_nats() else { return };
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("ckill", Some(&url));
    let mut center = Hpti::start(&center_config(&dir.path().join("center"), &url, &names, ""));
    let edge = feed_edge(dir.path(), &url, &names);
    let feed = Feed::start(dir.path(), 3_000);
    let center_db = dir.path().join("center/hpti.db");
    let mut redelivered = 0;
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1_500 + 500 * round));
        let received = center
            .metric("hpti_events_total{stage=\"nats\",component=\"edge\",outcome=\"received\"}");
        let before = counts(&center_db, "kind", "").values().sum::<i64>();
        center.kill9();
        report(format!(
            "center SIGKILLed after receiving {received}, {before} stored"
        ));
        std::thread::sleep(Duration::from_millis(300));
        center.restart();
        redelivered += 1;
    }
    std::thread::sleep(Duration::from_secs(1));
    let written = feed.finish();
    report(format!(
        "center kills: {written} lines written, {redelivered} restarts"
    ));
    // Unacknowledged messages come back after ack_wait (5 s here).
    assert_feed_stored_once(
        &center_db,
        written,
        Duration::from_secs(60),
        &[&edge, &center],
    );
    assert!(edge.panics().is_empty() && center.panics().is_empty());
    center.stop();
}

#[test]
fn nats_stopped_while_an_edge_keeps_producing_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = OwnNats::start(&dir.path().join("nats")) else {
        return;
    };
    let names = Names::new("outage", None);
    let url = nats.url();
    let mut center = Hpti::start(&center_config(&dir.path().join("center"), &url, &names, ""));
    let edge = feed_edge(dir.path(), &url, &names);
    let feed = Feed::start(dir.path(), 1_000);
    std::thread::sleep(Duration::from_secs(2));
    // Issue 20's dead-backend drill: a minute down (shorter runs by hand with the
    // variable).
    let outage = std::env::var("HPTI_NATS_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    nats.down();
    let rss_at_start = edge.rss_kib();
    std::thread::sleep(Duration::from_secs(outage));
    let rss_at_end = edge.rss_kib();
    let outbox = edge.metric("hpti_queue_depth{queue=\"buffer_bytes\"}");
    let (code, health) = common::health(&edge.metrics);
    report(format!(
        "NATS down {outage} s: edge outbox {outbox} bytes, RSS {rss_at_start} -> {rss_at_end} KiB, GET /health {code} {health}"
    ));
    assert!(
        outbox > 100_000,
        "the edge kept producing into its outbox: {outbox} bytes"
    );
    assert_eq!(
        (code, common::component_state(&health, "sink", "up")),
        (503, "failing".into()),
        "the edge's /health shows its NATS sink failing: {health}"
    );
    assert_eq!(
        edge.metric("hpti_component_up{kind=\"sink\",component=\"up\"}"),
        0
    );
    nats.up();
    assert!(
        eventually(Duration::from_secs(60), || {
            let (code, health) = common::health(&edge.metrics);
            code == 200 && common::component_state(&health, "sink", "up") == "ok"
        }),
        "the edge's /health shows its NATS sink ok again: {:?}",
        common::health(&edge.metrics)
    );
    assert_eq!(
        edge.metric("hpti_component_up{kind=\"sink\",component=\"up\"}"),
        1
    );
    assert!(
        edge.metric("hpti_sink_retries_total{component=\"up\"}") > 0,
        "the NATS sink retried during the outage:\n{}",
        edge.counters()
    );
    let written = feed.finish();
    assert_feed_stored_once(
        &dir.path().join("center/hpti.db"),
        written,
        Duration::from_secs(90),
        &[&edge, &center],
    );
    assert!(edge.panics().is_empty() && center.panics().is_empty());
    center.stop();
}

#[test]
fn an_edge_killed_with_a_full_outbox_and_restarted_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = OwnNats::start(&dir.path().join("nats")) else {
        return;
    };
    let names = Names::new("ekill", None);
    let url = nats.url();
    let mut center = Hpti::start(&center_config(&dir.path().join("center"), &url, &names, ""));
    let mut edge = feed_edge(dir.path(), &url, &names);
    let feed = Feed::start(dir.path(), 2_000);
    std::thread::sleep(Duration::from_secs(1));
    nats.down();
    std::thread::sleep(Duration::from_secs(4));
    let outbox = edge.metric("hpti_queue_depth{queue=\"buffer_bytes\"}");
    assert!(
        outbox > 100_000,
        "the outbox holds the backlog: {outbox} bytes"
    );
    edge.kill9();
    report(format!("edge SIGKILLed with {outbox} bytes in its outbox"));
    nats.up();
    std::thread::sleep(Duration::from_millis(500));
    edge.restart();
    std::thread::sleep(Duration::from_secs(2));
    let written = feed.finish();
    assert_feed_stored_once(
        &dir.path().join("center/hpti.db"),
        written,
        Duration::from_secs(60),
        &[&edge, &center],
    );
    assert!(edge.panics().is_empty() && center.panics().is_empty());
    center.stop();
}

/// A TCP proxy that the test can cut (listener closed, connections dropped) or stall
/// (connections kept open, nothing forwarded either way), as a flaky network does.
struct FlakyLink {
    port: u16,
    state: Arc<AtomicU8>,
    _runtime: tokio::runtime::Runtime,
}

const UP: u8 = 0;
const CUT: u8 = 1;
const STALL: u8 = 2;

impl FlakyLink {
    fn start(target: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(AtomicU8::new(UP));
        let shared = Arc::clone(&state);
        runtime.spawn(async move {
            let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut last = UP;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        if shared.load(Ordering::SeqCst) == CUT {
                            drop(client);
                            continue;
                        }
                        let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else { continue };
                        let mine = generation.load(Ordering::SeqCst);
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        for (from, to) in [(cr, sw), (sr, cw)] {
                            let (shared, generation) = (Arc::clone(&shared), Arc::clone(&generation));
                            tokio::spawn(pump(from, to, shared, generation, mine));
                        }
                    }
                    _ = tick.tick() => {
                        let now = shared.load(Ordering::SeqCst);
                        if now == CUT && last != CUT {
                            // Every connection of the earlier generation ends.
                            generation.fetch_add(1, Ordering::SeqCst);
                        }
                        last = now;
                    }
                }
            }
        });
        Self {
            port,
            state,
            _runtime: runtime,
        }
    }

    fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<AtomicU8>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    mine: u64,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        while state.load(Ordering::SeqCst) != UP {
            if generation.load(Ordering::SeqCst) != mine {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if generation.load(Ordering::SeqCst) != mine {
            return;
        }
        let read = tokio::time::timeout(Duration::from_millis(50), from.read(&mut buffer)).await;
        match read {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                // A stall that begins now holds these bytes until it ends.
                while state.load(Ordering::SeqCst) == STALL {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if generation.load(Ordering::SeqCst) != mine
                    || to.write_all(&buffer[..n]).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

#[test]
fn a_cut_and_stalled_link_between_an_edge_and_nats_loses_and_duplicates_nothing() {
    let Some(url) = shared_nats() else { return };
    let nats_port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let link = FlakyLink::start(nats_port);
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("link", Some(&url));
    let mut center = Hpti::start(&center_config(&dir.path().join("center"), &url, &names, ""));
    let edge_url = format!("nats://127.0.0.1:{}", link.port);
    let edge = feed_edge(dir.path(), &edge_url, &names);
    let feed = Feed::start(dir.path(), 2_000);
    for (state, secs) in [
        (UP, 2),
        (CUT, 4),
        (UP, 3),
        (STALL, 8),
        (UP, 3),
        (CUT, 2),
        (STALL, 3),
        (UP, 2),
    ] {
        link.set(state);
        std::thread::sleep(Duration::from_secs(secs));
    }
    let written = feed.finish();
    assert_feed_stored_once(
        &dir.path().join("center/hpti.db"),
        written,
        Duration::from_secs(90),
        &[&edge, &center],
    );
    assert!(edge.panics().is_empty() && center.panics().is_empty());
    center.stop();
}

#[test]
fn a_full_outbox_refuses_an_exact_count_and_loses_nothing_else_in_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = OwnNats::start(&dir.path().join("nats")) else {
        return;
    };
    let names = Names::new("cap", None);
    let url = nats.url();
    nats.down();
    let edge_dir = dir.path().join("edge");
    let telnet = "[sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\n";
    let edge = Hpti::start(&edge_config(
        &edge_dir,
        &url,
        &names,
        &names.tag,
        telnet,
        "[pipeline]\nbuffer_max_bytes = 262144\nbuffer_when_full = \"drop_newest\"\n",
    ));
    let addr = edge.telnet.clone().unwrap();
    let mut rss = Vec::new();
    let mut answered = 0;
    for round in 0..6 {
        let mut stream = common::telnet_login(&addr);
        for n in 0..500 {
            stream
                .write_all(format!("echo m-{round}-{n}\r\n").as_bytes())
                .unwrap();
            assert!(common::read_until(
                &mut stream,
                &format!("\r\nm-{round}-{n}\r\n")
            ));
            answered += 1;
        }
        stream.write_all(b"exit\r\n").unwrap();
        drop(stream);
        rss.push(edge.rss_kib());
    }
    // The last sessions' closing events settle.
    std::thread::sleep(Duration::from_millis(500));
    let refused = || {
        edge.metric(
            "hpti_events_total{stage=\"buffer\",component=\"disk\",outcome=\"refused_full\"}",
        )
    };
    let emitted =
        || edge.metric("hpti_events_total{stage=\"source\",component=\"all\",outcome=\"emitted\"}");
    report(format!(
        "outbox cap 256 KiB: {answered} commands answered, {} events emitted, {} refused; RSS per round {rss:?} KiB",
        emitted(),
        refused()
    ));
    assert!(refused() > 0, "the cap was reached");
    // Memory while the outbox is full: flat from the first full round on.
    let growth = rss.last().unwrap().saturating_sub(rss[2]);
    assert!(
        growth < 16 * 1024,
        "RSS grew {growth} KiB while the outbox was full: {rss:?}"
    );

    // NATS comes back: a center drains the outbox; every event not refused is there.
    nats.up();
    let mut center = Hpti::start(&center_config(&dir.path().join("center"), &url, &names, ""));
    let center_db = dir.path().join("center/hpti.db");
    let stored = || counts(&center_db, "kind", "").values().sum::<i64>() as u64;
    let exact = eventually(Duration::from_secs(60), || {
        stored() + refused() == emitted()
    });
    assert!(
        exact,
        "emitted {} = stored {} + refused {}?\nedge:\n{}\ncenter:\n{}\n{:?}",
        emitted(),
        stored(),
        refused(),
        edge.counters(),
        center.counters(),
        edge.log.lock().unwrap()
    );
    // And nothing more arrives later.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored() + refused(), emitted());
    assert!(edge.panics().is_empty() && center.panics().is_empty());
    center.stop();
}

/// `hpti nats setup` with a config whose sink has `auth_and_tls` (TOML lines).
fn setup_with(dir: &Path, url: &str, auth_and_tls: &str) -> std::process::Output {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {dir:?}\n\n[sensors]\n\n[sinks.up]\ntype = \"nats\"\nurl = \"{url}\"\n\
             stream = \"AUTH\"\nsubject = \"auth.events.{{sensor}}\"\n{auth_and_tls}\n"
        ),
    )
    .unwrap();
    common::run(
        common::hpti()
            .env("HPTI_LOG", "warn")
            .arg("--config")
            .arg(&config)
            .args(["nats", "setup"]),
    )
}

#[test]
fn credentials_and_tls_reach_a_server_that_requires_them_and_secrets_stay_out_of_the_output() {
    let dir = tempfile::tempdir().unwrap();
    if !require_tool("openssl") {
        return;
    }
    // A CA and a server certificate for 127.0.0.1, made with OpenSSL.
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(&pki)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=hpti test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(pki.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);

    let Some(mut nats) = OwnNats::start(&dir.path().join("nats")) else {
        return;
    };
    nats.down();
    let token = "s3cret-token-for-the-test";
    let cert = pki.join("server.pem");
    let key = pki.join("server.key");
    nats.up_with(&[
        "--auth",
        token,
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
    ]);
    let url = nats.url();
    let ca = pki.join("ca.pem");

    // Token and TLS with the test CA: the stream is created.
    let good = setup_with(
        &dir.path().join("good"),
        &url,
        &format!("auth.token = \"{token}\"\ntls.ca_file = {ca:?}\n"),
    );
    assert!(
        good.status.success(),
        "{}{}",
        common::stdout(&good),
        common::stderr(&good)
    );
    assert!(
        common::stdout(&good).contains("stream AUTH: created"),
        "{}",
        common::stdout(&good)
    );

    // A wrong token is refused, and neither token shows in what hpti prints.
    let wrong = setup_with(
        &dir.path().join("wrong"),
        &url,
        &format!("auth.token = \"wrong-{token}\"\ntls.ca_file = {ca:?}\n"),
    );
    assert!(!wrong.status.success());
    let printed = format!("{}{}", common::stdout(&wrong), common::stderr(&wrong));
    assert!(!printed.contains(token), "{printed}");

    // Without the CA the server's certificate is not trusted.
    let untrusted = setup_with(
        &dir.path().join("untrusted"),
        &url,
        &format!("auth.token = \"{token}\"\ntls.required = true\n"),
    );
    assert!(
        !untrusted.status.success(),
        "{}",
        common::stdout(&untrusted)
    );

    // Two ways of authenticating at once is a config error naming the key.
    let both = setup_with(
        &dir.path().join("both"),
        &url,
        &format!("auth.token = \"{token}\"\nauth.user = \"u\"\nauth.password = \"p\"\n"),
    );
    assert!(!both.status.success());
    assert!(
        common::stderr(&both).contains("auth"),
        "{}",
        common::stderr(&both)
    );
}

#[test]
fn two_centers_share_one_consumer_and_one_killed_mid_stream_leaves_every_event_stored_once() {
    let Some(url) = shared_nats() else { return };
    let Some(db) = common::runtime().block_on(hpti_store::testing::TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("two", Some(&url));
    let pg = format!("[sinks.pg]\ntype = \"postgres\"\nurl = {:?}\n", db.url);
    let mut first = Hpti::start(&center_config(
        &dir.path().join("center-1"),
        &url,
        &names,
        &pg,
    ));
    let second = Hpti::start(&center_config(
        &dir.path().join("center-2"),
        &url,
        &names,
        &pg,
    ));
    let edge = feed_edge(dir.path(), &url, &names);
    let feed = Feed::start(dir.path(), 2_000);
    std::thread::sleep(Duration::from_secs(3));
    let received = |center: &Hpti| {
        center.metric("hpti_events_total{stage=\"nats\",component=\"edge\",outcome=\"received\"}")
    };
    let (one, two) = (received(&first), received(&second));
    report(format!(
        "two centers: received {one} and {two} before one is killed"
    ));
    assert!(
        one > 0 && two > 0,
        "both centers take work from the one consumer: {one}, {two}"
    );
    first.kill9();
    std::thread::sleep(Duration::from_secs(2));
    let written = feed.finish();
    let stored = || -> (i64, i64) {
        common::runtime().block_on(async {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let counts = sqlx::query_as(
                "SELECT COUNT(*), COUNT(DISTINCT command) FROM events WHERE kind = 'command.input'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            counts
        })
    };
    // The killed center's unacknowledged messages go to the other after ack_wait.
    let complete = eventually(Duration::from_secs(60), || stored().1 as u64 == written);
    let (rows, distinct) = stored();
    assert!(
        complete && rows == distinct,
        "written {written}; PostgreSQL holds {rows} command rows, {distinct} distinct\n{}",
        second.counters()
    );
    assert!(edge.panics().is_empty() && second.panics().is_empty());
}

#[test]
fn config_check_names_the_nats_key_at_fault_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (table, key, line) in [
        (
            "[sinks.up]\ntype = \"nats\"\nsubject = \"hpti.>\"\n",
            "sinks.up.subject",
            6,
        ),
        (
            "[sinks.up]\ntype = \"nats\"\nstream = \"a.b\"\n",
            "sinks.up.stream",
            6,
        ),
        (
            "[sources.edge]\ntype = \"nats\"\nconsumer = \"\"\n",
            "sources.edge.consumer",
            6,
        ),
        (
            "[sources.edge]\ntype = \"nats\"\nauth.user = \"u\"\n",
            "sources.edge.auth.user",
            6,
        ),
        (
            "[fleet]\nsilent_after = \"soon\"\n",
            "fleet.silent_after",
            5,
        ),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(
            &config,
            format!("[data]\ndir = {:?}\n\n{table}", dir.path()),
        )
        .unwrap();
        let output = common::run(common::hpti().args(["config", "check"]).arg(&config));
        let stderr = common::stderr(&output);
        assert!(!output.status.success(), "{table}");
        assert!(
            stderr.contains(&format!("key `{key}`")),
            "{table}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("bad.toml:{line}")),
            "{table}: {stderr}"
        );
    }
}
