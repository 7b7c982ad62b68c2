//! Durability of `hpti run`: crash drills and a full disk.
//!
//! Crash drills: `hpti run` under SSH (OpenSSH's `ssh`) and Telnet load, following a
//! log file that grows and rotates, is killed with SIGKILL at random moments and started
//! again. Every client keeps its own log of what the honeypot answered; at the end that
//! log is compared with what is stored. With `[pipeline] buffer = "disk"` nothing a
//! client saw answered may be missing; nothing may ever be stored twice; no log line
//! may be missing whatever the buffer (checkpoints only move past stored events).
//!
//! `HPTI_DRILL_CYCLES` (default 20), `HPTI_DRILL_BUFFER` (`disk`, or `memory` to measure
//! what it loses: then losses are reported, not failed) and `HPTI_DRILL_SEED` change the
//! drill; `scripts/crash-drill.sh` runs longer ones and both buffers.
//!
//! Full disk: the data directory on a small tmpfs filled up while Telnet clients work;
//! the sensor keeps answering, nothing panics, the database stays whole, and once space
//! is back what waited is stored: every command answered is stored or counted dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::read_until;
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::testing::require_tool;

const LINES_PER_FILE: u64 = 400;

struct Running {
    child: Child,
    ssh_port: String,
    telnet: String,
    metrics: Option<String>,
    drain: std::thread::JoinHandle<Vec<String>>,
}

fn start(config: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hpti"))
        .env("HPTI_LOG", "info")
        .arg("--config")
        .arg(config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut ssh, mut telnet, mut metrics) = (None, None, None);
    let wants_metrics = std::fs::read_to_string(config)
        .unwrap()
        .contains("[metrics]\nenabled = true");
    let mut seen = Vec::new();
    while ssh.is_none() || telnet.is_none() || (wants_metrics && metrics.is_none()) {
        let Some(Ok(line)) = log.next() else {
            panic!("hpti run stopped before listening:\n{}", seen.join("\n"));
        };
        let addr = || {
            line.split("listening on ")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        };
        if line.contains("SSH honeypot listening") {
            ssh = addr();
        } else if line.contains("Telnet honeypot listening") {
            telnet = addr();
        } else if let Some(rest) = line.split("metrics at http://").nth(1) {
            metrics = rest.split('/').next().map(str::to_owned);
        }
        seen.push(line);
    }
    // Keep the log flowing (a full pipe would stall the child); the lines that matter
    // (errors) are kept for the report.
    let drain = std::thread::spawn(move || {
        log.map_while(Result::ok)
            .filter(|line| line.contains("ERROR") || line.contains("WARN"))
            .take(50)
            .collect()
    });
    Running {
        child,
        ssh_port: ssh.unwrap().rsplit(':').next().unwrap().to_owned(),
        telnet: telnet.unwrap(),
        metrics,
        drain,
    }
}

/// Runs `echo <marker>` over OpenSSH until `stop`; the markers whose output came back.
fn ssh_client(port: String, prefix: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut answered = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let marker = format!("{prefix}-{n}");
        n += 1;
        let output = Command::new("sshpass")
            .args(["-p", "admin123", "ssh", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .args(["-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=5"])
            .args(["-p", &port, "root@127.0.0.1", &format!("echo {marker}")])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if output.status.success() && String::from_utf8_lossy(&output.stdout).contains(&marker) {
            answered.push(marker);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    answered
}

/// Logs in over Telnet and runs `echo <marker>` until `stop` or the connection dies;
/// the markers whose output line came back.
fn telnet_client(addr: String, prefix: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut answered = Vec::new();
    let mut n = 0;
    'connection: while !stop.load(Ordering::SeqCst) {
        let Ok(mut stream) = TcpStream::connect(&addr) else {
            break;
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let logged_in = read_until(&mut stream, "login: ")
            && stream.write_all(b"root\r\n").is_ok()
            && read_until(&mut stream, "Password: ")
            && stream.write_all(b"vizxv\r\n").is_ok()
            && read_until(&mut stream, "# ");
        if !logged_in {
            break;
        }
        // A few commands per connection, then a new connection.
        for _ in 0..20 {
            if stop.load(Ordering::SeqCst) {
                break 'connection;
            }
            let marker = format!("{prefix}-{n}");
            n += 1;
            if stream
                .write_all(format!("echo {marker}\r\n").as_bytes())
                .is_err()
            {
                break 'connection;
            }
            // The output on a line of its own (the echo of the typed line has "echo ").
            if !read_until(&mut stream, &format!("\r\n{marker}\r\n")) {
                break 'connection;
            }
            answered.push(marker);
        }
    }
    answered
}

fn line(n: u64, base: Timestamp) -> String {
    let event = Event::new(
        "drill-feed",
        Protocol::Telnet,
        IpAddr::from([203, 0, 113, (n % 200 + 1) as u8]),
        EventKind::CommandInput {
            command: format!("echo f-{n}"),
        },
    )
    .with_session(format!("feed{}", n / 40))
    .with_time(base.saturating_add_micros(n as i64));
    serde_json::to_string(&event).unwrap() + "\n"
}

/// Appends log lines until `stop`, rotating (rename, then a new file) every
/// `LINES_PER_FILE`; the number of lines written.
fn feed_writer(dir: PathBuf, stop: Arc<AtomicBool>) -> u64 {
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let live = dir.join("feed.jsonl");
    let mut file = std::fs::File::create(&live).unwrap();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        for _ in 0..10 {
            file.write_all(line(n, base).as_bytes()).unwrap();
            n += 1;
            if n % LINES_PER_FILE == 0 {
                file.flush().unwrap();
                std::fs::rename(
                    &live,
                    dir.join(format!("feed.jsonl.{}", n / LINES_PER_FILE)),
                )
                .unwrap();
                file = std::fs::File::create(&live).unwrap();
            }
        }
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    n
}

/// Every stored `command.input`, with how many times it is stored.
fn stored_commands(db: &Path) -> BTreeMap<String, i64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT command, COUNT(*) FROM events WHERE kind = 'command.input' GROUP BY command",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows.into_iter().collect()
    })
}

/// Writes a result line to the process's stderr directly: `println!` in a test is
/// captured and shown only on failure.
fn report(line: String) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A small deterministic generator (xorshift), seeded per run and printed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn kill_9_under_ssh_telnet_and_log_load_loses_nothing_and_duplicates_nothing() {
    if !require_tool("ssh") || !require_tool("sshpass") {
        return;
    }
    let cycles: u64 = std::env::var("HPTI_DRILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let buffer = std::env::var("HPTI_DRILL_BUFFER").unwrap_or_else(|_| "disk".into());
    assert!(
        buffer == "disk" || buffer == "memory",
        "HPTI_DRILL_BUFFER={buffer}"
    );
    let seed = std::env::var("HPTI_DRILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut random = Random(seed);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let feed = dir.path().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {data:?}\n\n[metrics]\nenabled = false\n\n\
             [pipeline]\nbuffer = {buffer:?}\n\n\
             [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n\
             [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\n\n\
             [sources.feed]\ntype = \"file\"\nformat = \"hpti\"\npaths = [\"{}/feed.jsonl*\"]\npoll_interval = \"20ms\"\n",
            feed.display()
        ),
    )
    .unwrap();

    let stop_feed = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (feed, stop) = (feed.clone(), stop_feed.clone());
        move || feed_writer(feed, stop)
    });
    let answered: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut warnings = Vec::new();
    let started = Instant::now();
    for cycle in 0..cycles {
        let running = start(&config);
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for k in 0..2 {
            let (port, halt) = (running.ssh_port.clone(), stop.clone());
            clients.push(std::thread::spawn(move || {
                ssh_client(port, format!("s-{cycle}-{k}"), halt)
            }));
            let (addr, halt) = (running.telnet.clone(), stop.clone());
            clients.push(std::thread::spawn(move || {
                telnet_client(addr, format!("t-{cycle}-{k}"), halt)
            }));
        }
        // A random moment: sometimes before any client got in, mostly mid-load.
        std::thread::sleep(Duration::from_millis(50 + random.below(1450)));
        let mut child = running.child;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            answered.lock().unwrap().extend(client.join().unwrap());
        }
        warnings.extend(running.drain.join().unwrap());
    }
    stop_feed.store(true, Ordering::SeqCst);
    let lines = writer.join().unwrap();

    // A last, clean run stores what the feed still holds, then stops with SIGTERM.
    let running = start(&config);
    let db = data.join("hpti.db");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let feed_stored = stored_commands(&db)
            .keys()
            .filter(|command| command.starts_with("echo f-"))
            .count() as u64;
        if feed_stored >= lines || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(terminate(running.child).success());
    warnings.extend(running.drain.join().unwrap());

    let stored = stored_commands(&db);
    let answered = answered.lock().unwrap();
    let lost = |prefix: &str| -> Vec<&String> {
        answered
            .iter()
            .filter(|marker| marker.starts_with(prefix))
            .filter(|marker| !stored.contains_key(&format!("echo {marker}")))
            .collect()
    };
    let (lost_ssh, lost_telnet) = (lost("s-"), lost("t-"));
    let lost_lines: Vec<u64> = (0..lines)
        .filter(|n| !stored.contains_key(&format!("echo f-{n}")))
        .collect();
    let duplicated: Vec<(&String, &i64)> = stored.iter().filter(|&(_, &n)| n > 1).collect();
    let count = |prefix: &str| answered.iter().filter(|m| m.starts_with(prefix)).count();
    // Straight to stderr, past the test harness's capture: CI's log shows the counts.
    report(format!(
        "crash drill: buffer={buffer} cycles={cycles} seed={seed} in {:.0?}: \
         answered ssh {} telnet {}, log lines {lines}; \
         lost ssh {} telnet {} log {}; duplicated {}",
        started.elapsed(),
        count("s-"),
        count("t-"),
        lost_ssh.len(),
        lost_telnet.len(),
        lost_lines.len(),
        duplicated.len(),
    ));
    if !warnings.is_empty() {
        println!("warnings and errors logged ({}):", warnings.len());
        for warning in warnings.iter().take(20) {
            println!("  {warning}");
        }
    }
    assert!(
        count("s-") > 0 && count("t-") > 0 && lines > 0,
        "the drill drove no load"
    );
    assert!(duplicated.is_empty(), "stored twice: {duplicated:?}");
    if !lost_lines.is_empty() {
        // Which files the lost lines were in, and what the checkpoints say of them.
        let files: BTreeSet<u64> = lost_lines.iter().map(|n| n / LINES_PER_FILE + 1).collect();
        println!("log lines lost from files feed.jsonl.{files:?}");
        for file in &files {
            let path = feed.join(format!("feed.jsonl.{file}"));
            if let Ok(meta) = std::fs::metadata(&path) {
                use std::os::unix::fs::MetadataExt as _;
                println!(
                    "  {}: inode {} length {}",
                    path.display(),
                    meta.ino(),
                    meta.len()
                );
            }
        }
        let letters = std::fs::read_to_string(data.join("dead-letters.jsonl")).unwrap_or_default();
        println!("dead letters: {}", letters.lines().count());
        for letter in letters.lines().take(3) {
            println!("  {}", &letter[..letter.len().min(400)]);
        }
        println!(
            "checkpoints: {}",
            std::fs::read_to_string(data.join("checkpoints.json")).unwrap_or_default()
        );
    }
    assert!(
        lost_lines.is_empty(),
        "log lines never stored: {} (first {:?})",
        lost_lines.len(),
        lost_lines.first()
    );
    if buffer == "disk" {
        assert!(
            lost_ssh.is_empty() && lost_telnet.is_empty(),
            "answered but not stored: ssh {lost_ssh:?}, telnet {lost_telnet:?}"
        );
    }
}

/// The text a running hpti's `/metrics` endpoint serves.
fn metrics_text(metrics: &str) -> String {
    common::http_get(metrics, "/metrics")
}

/// The value of one series (its name and labels exactly as exposed), 0 when absent.
fn series_value(text: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// `hpti_events_total{stage, component, outcome}` from a running hpti's metrics.
fn counter(metrics: &str, stage: &str, component: &str, outcome: &str) -> u64 {
    series_value(
        &metrics_text(metrics),
        &format!(
            "hpti_events_total{{stage=\"{stage}\",component=\"{component}\",outcome=\"{outcome}\"}}"
        ),
    )
}

/// Stops a running hpti with SIGTERM (a clean stop that flushes) and waits for it.
fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    child.wait().unwrap()
}

/// Runs `count` commands; each must be answered within `within`. The markers.
fn run_commands(
    stream: &mut TcpStream,
    prefix: &str,
    count: usize,
    within: Duration,
) -> Vec<String> {
    (0..count)
        .map(|n| {
            let marker = format!("{prefix}-{n}");
            let asked = Instant::now();
            stream
                .write_all(format!("echo {marker}\r\n").as_bytes())
                .unwrap();
            assert!(
                read_until(stream, &format!("\r\n{marker}\r\n")),
                "{marker} not answered"
            );
            assert!(
                asked.elapsed() < within,
                "{marker} answered after {:?}",
                asked.elapsed()
            );
            marker
        })
        .collect()
}

/// Fills the filesystem of `dir` with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    let ballast = dir.join("ballast");
    let mut file = std::fs::File::create(&ballast).unwrap();
    let block = vec![0x5au8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
    ballast
}

/// Commands run while the disk is full: more than the queues hold, so that some wait
/// out `max_emit_wait`.
const WHILE_FULL: usize = 80;

fn full_disk_run(buffer: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = hpti_core::testing::Tmpfs::mount(&dir.path().join("disk"), "24m") else {
        return;
    };
    let data = disk.path().join("data");
    let config = dir.path().join("hpti.toml");
    // A small queue, so that the sensor's bound on waiting is reached while the disk is
    // full; short retries, so that storing resumes soon after space is back.
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {data:?}\n\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n\
             [pipeline]\nbuffer = {buffer:?}\nbuffer_max_bytes = 4194304\nqueue_capacity = 16\nprocessor_batch = 8\n\
             sink_queue_batches = 1\nsink_concurrency = 1\nbatch_size = 8\nretry_backoff = \"10ms\"\nmax_retry_backoff = \"200ms\"\n\n\
             [honeypot.limits]\nmax_emit_wait = \"150ms\"\n\n\
             [honeypot.recording]\nenabled = false\n\n\
             [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n\
             [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let running = start(&config);
    let metrics = running.metrics.clone().unwrap();
    let mut stream = common::telnet_login(&running.telnet);
    let mut answered = run_commands(&mut stream, "before", 20, Duration::from_secs(2));

    let ballast = fill(disk.path());
    // The disk is full: every command is still answered, at worst after the bound on
    // waiting (max_emit_wait, twice with the disk buffer: queue, then disk).
    let full_from = Instant::now();
    answered.extend(run_commands(
        &mut stream,
        "full",
        WHILE_FULL,
        Duration::from_secs(2),
    ));
    let full_for = full_from.elapsed();
    let failures = counter(&metrics, "sink", "main", "failed");
    std::fs::remove_file(&ballast).unwrap();
    answered.extend(run_commands(
        &mut stream,
        "after",
        20,
        Duration::from_secs(5),
    ));
    drop(stream);

    // Everything that waited reaches the store before a clean stop.
    let db = data.join("hpti.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    let dropped = |m: &str| {
        counter(m, "sensor", "telnet", "emit_dropped")
            + counter(m, "sensor", "telnet", "emit_failed")
    };
    loop {
        let stored = stored_commands(&db);
        let missing = answered
            .iter()
            .filter(|m| !stored.contains_key(&format!("echo {m}")))
            .count() as u64;
        if missing <= dropped(&metrics) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let dropped = dropped(&metrics);
    let late = counter(&metrics, "sensor", "telnet", "emit_late");
    let write_errors = counter(&metrics, "buffer", "disk", "write_error");
    let sink_retries = series_value(
        &metrics_text(&metrics),
        "hpti_sink_retries_total{component=\"main\"}",
    );
    let status = terminate(running.child);
    let log = running.drain.join().unwrap();
    assert!(status.success(), "hpti run exited with {status}: {log:#?}");
    assert!(
        !log.iter().any(|l| l.contains("panicked")),
        "a panic: {log:#?}"
    );

    let stored = stored_commands(&db);
    let missing: Vec<&String> = answered
        .iter()
        .filter(|m| !stored.contains_key(&format!("echo {m}")))
        .collect();
    let duplicated = stored.values().filter(|&&n| n > 1).count();
    let integrity = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
                .await
                .unwrap();
            let (result,): (String,) = sqlx::query_as("PRAGMA integrity_check")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            result
        })
    };
    report(format!(
        "full disk ({buffer} buffer): {} commands answered ({} while full, for {full_for:.1?}); \
         missing from the store {}; counted dropped {dropped}, late {late}; \
         sink retries {sink_retries}, sink failures {failures}, buffer write errors {write_errors}; \
         duplicated {duplicated}; integrity {integrity}",
        answered.len(),
        WHILE_FULL,
        missing.len(),
    ));
    assert_eq!(integrity, "ok");
    assert_eq!(duplicated, 0);
    assert_eq!(failures, 0, "nothing is given up on while the disk is full");
    assert!(
        sink_retries > 0 || write_errors > 0,
        "the disk was never seen full"
    );
    assert!(
        missing.len() as u64 <= dropped,
        "{} answered commands missing, only {dropped} counted dropped: {missing:?}",
        missing.len()
    );
}

#[test]
fn a_full_disk_under_hpti_run_keeps_the_sensors_answering_and_loses_nothing_uncounted() {
    full_disk_run("memory");
}

#[test]
fn a_full_disk_under_hpti_run_with_the_disk_buffer_waits_and_resumes() {
    full_disk_run("disk");
}
