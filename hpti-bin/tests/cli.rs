//! The `hpti` binary end to end: config, ingest, query, kill-and-restart, run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};

mod common;

fn hpti() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hpti"));
    command.env_remove("HPTI_CONFIG").env("HPTI_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("hpti runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A config whose data directory is `dir`, plus extra TOML.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("hpti.toml");
    let text = format!(
        "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n{extra}",
        dir.join("data")
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn event(n: u64, base: Timestamp) -> Event {
    let ip = IpAddr::from([198, 51, 100, (n % 200 + 1) as u8]);
    let kind = match n % 3 {
        0 => EventKind::LoginAttempt {
            username: "root".into(),
            password: Some(format!("pass{}", n % 7)),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::Password,
            success: false,
        },
        1 => EventKind::CommandInput {
            command: format!("echo {}", n % 5),
        },
        _ => EventKind::FileDownload {
            url: format!("http://203.0.113.9/{}", n % 4),
            sha256: Some(format!("{:064x}", n % 4)),
            size: Some(100 + n % 4),
            error: None,
        },
    };
    Event::new("cli-test", Protocol::Ssh, ip, kind)
        .with_session(format!("s{}", n / 10))
        .with_time(base.saturating_add_micros(n as i64))
}

#[test]
fn config_default_is_valid_and_config_check_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let default = run(hpti().args(["config", "default"]));
    assert!(default.status.success());
    let default_path = dir.path().join("default.toml");
    std::fs::write(&default_path, &default.stdout).unwrap();
    let check = run(hpti().args(["config", "check"]).arg(&default_path));
    assert!(check.status.success(), "{}", stderr(&check));
    // The embedded default's components: one SQLite sink and the two honeypots.
    let text = stdout(&default);
    for table in [
        "[sinks.main]\ntype = \"sqlite\"",
        "[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:2222\"",
        "[sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:2323\"",
    ] {
        assert!(text.contains(table), "no {table:?} in the default config");
    }

    // An unknown type names the key, the line and the known types.
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "[data]\ndir = \"x\"\n\n[sinks.main]\ntype = \"mongodb\"\n",
    )
    .unwrap();
    let check = run(hpti().args(["config", "check"]).arg(&unknown));
    assert!(!check.status.success());
    let message = stderr(&check);
    assert!(
        message.contains("unknown.toml:5: key `sinks.main.type`") && message.contains("sqlite"),
        "{message}"
    );

    // The layout before components is refused with what to write instead.
    for (old, advice) in [
        ("[store.sqlite]\npath = \"a.db\"\n", "[sinks.main]"),
        (
            "[[sources]]\nformat = \"hpti\"\npaths = [\"x\"]\n",
            "[sources.<id>]",
        ),
        ("[enrich.geoip]\ncity = \"c.mmdb\"\n", "[enrichers.geo]"),
        ("[sensors.ssh]\nlisten = \"127.0.0.1:2222\"\n", "type"),
    ] {
        let path = dir.path().join("old.toml");
        std::fs::write(&path, old).unwrap();
        let check = run(hpti().args(["config", "check"]).arg(&path));
        assert!(!check.status.success(), "{old:?} was accepted");
        let message = stderr(&check);
        assert!(
            message.contains("old.toml:1") && message.contains(advice),
            "{old:?}: {message}"
        );
    }

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[pipeline]\nbatch_size = 100\nlinger = \"eventually\"\n",
    )
    .unwrap();
    let check = run(hpti().args(["config", "check"]).arg(&bad));
    assert!(!check.status.success());
    let message = stderr(&check);
    assert!(
        message.contains("bad.toml:3: key `pipeline.linger`"),
        "the error names file, line and key: {message}"
    );

    // Every subcommand reads the same global --config, and refuses a broken one.
    let query = run(hpti()
        .arg("--config")
        .arg(&bad)
        .args(["query", "attackers"]));
    assert!(!query.status.success());
    assert!(stderr(&query).contains("pipeline.linger"));
}

#[test]
fn ingest_stores_valid_lines_dead_letters_the_rest_and_query_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let input = dir.path().join("events.jsonl");
    let mut file = std::fs::File::create(&input).unwrap();
    let mut valid = 0;
    for n in 0..300u64 {
        writeln!(file, "{}", serde_json::to_string(&event(n, base)).unwrap()).unwrap();
        valid += 1;
    }
    writeln!(file, "{{\"v\":1,\"id\":\"truncated").unwrap();
    writeln!(file, "not json at all").unwrap();
    writeln!(file).unwrap();
    let mut bad_ip = event(1000, base);
    bad_ip.src_ip = "0.0.0.0".parse().unwrap();
    writeln!(file, "{}", serde_json::to_string(&bad_ip).unwrap()).unwrap();
    file.write_all(&[0xff, 0xfe, b'\n']).unwrap();
    drop(file);

    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["lines"], 305);
    assert_eq!(summary["events"], valid + 1);
    assert_eq!(summary["stored"], valid);
    assert_eq!(summary["parse_errors"], 3);
    assert_eq!(summary["invalid"], 1);
    assert_eq!(summary["dead_lettered"], 4);

    let letters: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("data/dead-letters.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(letters.len(), 4);
    assert!(
        letters
            .iter()
            .all(|l| l["source"] == input.display().to_string()
                && l["offset"].is_u64()
                && l["reason"].as_str().is_some_and(|r| !r.is_empty()))
    );
    assert!(
        letters
            .iter()
            .any(|l| l["original"] == "not json at all" && l["stage"] == "parse")
    );
    assert!(
        letters
            .iter()
            .any(|l| l["original_base64"] == "//4=" && l["label"] == "json")
    );
    assert!(
        letters
            .iter()
            .any(|l| l["stage"] == "validate" && l["label"] == "bad_address")
    );

    let query =
        run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["query", "downloads", "--format", "json"]));
    assert!(query.status.success(), "{}", stderr(&query));
    let downloads: Vec<serde_json::Value> = serde_json::from_str(&stdout(&query)).unwrap();
    assert_eq!(downloads.len(), 4);
    assert_eq!(
        downloads
            .iter()
            .map(|d| d["count"].as_u64().unwrap())
            .sum::<u64>(),
        100
    );

    let query = run(hpti().arg("--config").arg(&config).args([
        "query",
        "credentials",
        "--since",
        "2h",
        "--format",
        "json",
    ]));
    let credentials: Vec<serde_json::Value> = serde_json::from_str(&stdout(&query)).unwrap();
    assert_eq!(
        credentials
            .iter()
            .map(|c| c["attempts"].as_u64().unwrap())
            .sum::<u64>(),
        100
    );
    let query = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["query", "commands", "--since", "1m", "--format", "json"]));
    let commands: Vec<serde_json::Value> = serde_json::from_str(&stdout(&query)).unwrap();
    assert!(
        commands.is_empty(),
        "the events are an hour old: {commands:?}"
    );

    for what in [
        "sessions",
        "attackers",
        "credentials",
        "commands",
        "downloads",
    ] {
        let table = run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["query", what, "--limit", "3"]));
        assert!(table.status.success(), "{what}: {}", stderr(&table));
        assert!(
            stdout(&table).contains("3 row(s)"),
            "{what}: {}",
            stdout(&table)
        );
    }

    // Ingesting the same file again is a no-op: it resumes at its end.
    let again = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    let summary: serde_json::Value = serde_json::from_str(stdout(&again).trim()).unwrap();
    assert_eq!(summary["lines"], 0);
    assert_eq!(summary["resumed_files"], 1);
}

fn count_rows(db: &Path) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let (all, distinct): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id) FROM events")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        assert_eq!(all, distinct, "no event is stored twice");
        all as u64
    })
}

#[test]
fn two_sqlite_sinks_both_receive_every_event_and_query_reads_the_named_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[sinks.main]\ntype = \"sqlite\"\npath = \"main.db\"\n\n\
         [sinks.copy]\ntype = \"sqlite\"\npath = \"copy.db\"\n\n\
         [query]\nstore = \"copy\"\n",
    );
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let input = dir.path().join("events.jsonl");
    let lines: String = (0..500)
        .map(|n| serde_json::to_string(&event(n, base)).unwrap() + "\n")
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["stored"], 500, "{summary}");
    assert_eq!(count_rows(&dir.path().join("data/main.db")), 500);
    assert_eq!(count_rows(&dir.path().join("data/copy.db")), 500);

    // `[query] store` picks the sink the queries read: delete the other one's rows.
    let credentials_in = |config: &Path, window: &[&str]| {
        let output = run(hpti()
            .arg("--config")
            .arg(config)
            .args(["query", "credentials", "--format", "json", "--limit", "100"])
            .args(window));
        assert!(output.status.success(), "{}", stderr(&output));
        let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["attempts"].as_u64().unwrap())
            .sum::<u64>()
    };
    let credentials = |config: &Path| credentials_in(config, &[]);
    assert_eq!(credentials(&config), 167, "every third event is a login");
    // The events are an hour old: `--until` bounds the window's end.
    assert_eq!(credentials_in(&config, &["--until", "30m"]), 167);
    assert_eq!(
        credentials_in(&config, &["--since", "3h", "--until", "2h"]),
        0
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join("data/main.db").display()
        ))
        .await
        .unwrap();
        sqlx::query("DELETE FROM events")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    assert_eq!(
        credentials(&config),
        167,
        "the queries read `copy`, not `main`"
    );

    // Two queryable sinks and no `[query] store`: the error says what to write.
    let ambiguous = write_config(
        dir.path(),
        "[sinks.main]\ntype = \"sqlite\"\npath = \"main.db\"\n\n\
         [sinks.copy]\ntype = \"sqlite\"\npath = \"copy.db\"\n",
    );
    let refused = run(hpti()
        .arg("--config")
        .arg(&ambiguous)
        .args(["query", "credentials"]));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("[query] store"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_torn_checkpoint_file_is_moved_aside_and_ingest_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    // What a crash in the middle of a non-atomic write would have left.
    std::fs::write(
        dir.path().join("data/checkpoints.json"),
        "{\"version\":1,\"files\":{\"/var/log/x\":{\"off",
    )
    .unwrap();
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let input = dir.path().join("events.jsonl");
    let lines: String = (0..50)
        .map(|n| serde_json::to_string(&event(n, base)).unwrap() + "\n")
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["stored"], 50, "{summary}");
    let aside: Vec<String> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("checkpoints.json.corrupt-"))
        .collect();
    assert_eq!(
        aside.len(),
        1,
        "the torn file is kept for a look: {aside:?}"
    );
    let checkpoints = std::fs::read_to_string(dir.path().join("data/checkpoints.json")).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&checkpoints).is_ok(),
        "a whole checkpoint file replaces it: {checkpoints}"
    );
}

/// The data directory on a disk that fills up: ingest stores what it can, says what it
/// could not, exits non-zero and commits no checkpoint past the loss; once there is
/// space, the same command stores the rest, each event once.
#[test]
fn a_full_disk_loses_nothing_and_ingest_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = hpti_core::testing::Tmpfs::mount(&dir.path().join("disk"), "8m") else {
        return;
    };
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[pipeline]\nmax_retries = 1\nretry_backoff = \"10ms\"\n",
            disk.path().join("data")
        ),
    )
    .unwrap();
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let input = dir.path().join("events.jsonl");
    let total = 30_000u64;
    let lines: String = (0..total)
        .map(|n| {
            let mut event = event(n, base);
            event.raw = Some("r".repeat(300));
            serde_json::to_string(&event).unwrap() + "\n"
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let ingest = || {
        run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["ingest", "--json"])
            .arg(&input))
    };

    let full = ingest();
    assert!(
        !full.status.success(),
        "a loss is a failure: {}",
        stderr(&full)
    );
    assert!(
        stderr(&full).contains("neither stored nor dead-lettered"),
        "{}",
        stderr(&full)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout(&full).trim()).unwrap();
    assert_eq!(summary["lost_files"], 1, "{summary}");
    let stored = count_rows(&disk.path().join("data/hpti.db"));
    assert!(stored < total, "the disk was too small for every event");
    assert_eq!(
        summary["stored"], stored,
        "`stored` means stored: {summary}"
    );

    disk.grow("256m");
    let rest = ingest();
    assert!(rest.status.success(), "{}", stderr(&rest));
    assert_eq!(
        count_rows(&disk.path().join("data/hpti.db")),
        total,
        "every event, once"
    );
}

#[test]
fn killing_ingest_mid_file_and_rerunning_stores_every_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Small fsync'ed batches make the run long enough to kill it in the middle.
    let config = write_config(
        dir.path(),
        "[pipeline]\nbatch_size = 50\nlinger = \"1ms\"\n\n[sinks.main]\ntype = \"sqlite\"\nsynchronous = \"full\"\n",
    );
    let base = Timestamp::now().saturating_add_micros(-86_400_000_000);
    let input = dir.path().join("big.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let total = 60_000u64;
    let mut malformed = 0;
    for n in 0..total {
        if n % 10_000 == 5 {
            writeln!(file, "{{broken line {n}").unwrap();
            malformed += 1;
        }
        writeln!(file, "{}", serde_json::to_string(&event(n, base)).unwrap()).unwrap();
    }
    drop(file);

    let checkpoints = dir.path().join("data/checkpoints.json");
    let mut child = hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !checkpoints.exists() {
        assert!(Instant::now() < deadline, "ingest made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the first run was killed, not finished");
    let db = dir.path().join("data/hpti.db");
    let partial = count_rows(&db);
    assert!(
        partial < total,
        "killed mid-file: {partial} of {total} stored"
    );

    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        summary["resumed_files"], 1,
        "the second run resumed from the checkpoint"
    );
    assert_eq!(count_rows(&db), total, "every event stored exactly once");

    let letters = std::fs::read_to_string(dir.path().join("data/dead-letters.jsonl")).unwrap();
    let mut offsets: Vec<u64> = letters
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["offset"]
                .as_u64()
                .unwrap()
        })
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(
        offsets.len(),
        malformed,
        "every malformed line is dead-lettered"
    );
}

#[test]
fn run_serves_metrics_and_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    let log = dir.path().join("honeypot.jsonl");
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let lines: String = (0..25)
        .map(|n| serde_json::to_string(&event(n, base)).unwrap() + "\n")
        .collect();
    std::fs::write(&log, lines).unwrap();
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n[sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\n\n[sources.log]\ntype = \"file\"\nformat = \"hpti\"\npaths = [{:?}]\n",
            dir.path().join("data"),
            format!("{}/*.jsonl", dir.path().display())
        ),
    )
    .unwrap();
    let mut child = hpti()
        .env("HPTI_LOG", "info")
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("hpti run logs where metrics are")
            .unwrap();
        if let Some(rest) = line.split("metrics at http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
        before.push(line);
    };
    // The self-sandbox, checked from inside the process: a file created outside the
    // data directory is refused (the followed log, outside it too, is still read).
    let sandboxed = before.iter().any(|l| {
        l.contains("self-sandbox checked: a write outside the data directory was refused")
    });
    if !sandboxed {
        assert!(
            std::env::var("HPTI_REQUIRE_SERVICES").as_deref() != Ok("1")
                && before
                    .iter()
                    .any(|l| l.contains("this kernel has no Landlock")),
            "the self-sandbox is required here: {before:#?}"
        );
        eprintln!("\n*** the self-sandbox was not checked: no Landlock in this kernel ***\n");
    }
    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    // The configured source is followed: its events reach the store while hpti runs.
    let delivered = "hpti_events_total{stage=\"sink\",component=\"main\",outcome=\"delivered\"} 25";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !http_get(&addr, "/metrics").contains(delivered) {
        assert!(
            std::time::Instant::now() < deadline,
            "the source's events were not stored"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        metrics.contains("hpti_queue_capacity{queue=\"events\"} 8192"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE hpti_events counter"), "{metrics}");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(dir.path().join("data/hpti.db").exists());
}

/// Redis down (a closed port) with a remote enricher configured once hung `hpti run`
/// at start for minutes, with no listener, no log line, deaf to SIGTERM: now it starts
/// at once (the cache connects when it can) and stops cleanly.
#[test]
fn run_with_redis_down_starts_at_once_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n[enrichers.rdap]\ntype = \"rdap\"\nserver = \"http://{closed}/\"\nredis_url = \"redis://{closed}\"\n",
            dir.path().join("data"),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut child = hpti()
        .env("HPTI_LOG", "info")
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("hpti is running") => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("hpti run did not start within 30 s: {seen:#?}");
            }
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "start took {took:?}: {seen:#?}"
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopping = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(10));
}

/// A database damaged in the middle once started, dead-lettered every write, warned
/// every 200 ms and exited 0: `run` and `ingest` now refuse it, naming the file and
/// what to do, and leave it where it is.
#[test]
fn run_and_ingest_refuse_a_damaged_database_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let input = dir.path().join("events.jsonl");
    let lines: String = (0..20_000)
        .map(|n| {
            let mut event = event(n, base);
            event.raw = Some("r".repeat(200));
            serde_json::to_string(&event).unwrap() + "\n"
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let ingested = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert!(ingested.status.success(), "{}", stderr(&ingested));
    let db = dir.path().join("data/hpti.db");
    // Into the file itself, then a bad sector's worth of garbage in its middle.
    assert_eq!(count_rows(&db), 20_000);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        });
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 1 << 20, "{len}");
    {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.seek(SeekFrom::Start((len / 2) & !4095)).unwrap();
        file.write_all(&[0x5A; 32 * 1024]).unwrap();
    }

    let started = std::time::Instant::now();
    let refused = run(hpti().arg("--config").arg(&config).arg("run"));
    assert!(!refused.status.success(), "{}", stderr(&refused));
    assert!(started.elapsed() < Duration::from_secs(30));
    let message = stderr(&refused);
    assert!(message.contains("damaged"), "{message}");
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains(".recover"), "{message}");

    let refused = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("damaged"), "{}", stderr(&refused));
    assert!(db.exists(), "refused, not reset");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), len);
}

/// `hpti store backup` while `hpti run` holds the database: a consistent, checked copy
/// that never overwrites a file, and that restores as the docs say.
#[test]
fn store_backup_copies_a_running_store_and_the_copy_restores() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let input = dir.path().join("events.jsonl");
    let lines: String = (0..5_000)
        .map(|n| serde_json::to_string(&event(n, base)).unwrap() + "\n")
        .collect();
    std::fs::write(&input, lines).unwrap();
    let ingested = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert!(ingested.status.success(), "{}", stderr(&ingested));

    let mut running = hpti()
        .env("HPTI_LOG", "info")
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(running.stderr.take().unwrap()).lines();
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("hpti is running"))
    );
    let copy = dir.path().join("backup.db");
    let backup = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["store", "backup", "--out"])
        .arg(&copy));
    assert!(backup.status.success(), "{}", stderr(&backup));
    assert!(
        stdout(&backup).contains("5000 events"),
        "{}",
        stdout(&backup)
    );
    let again = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["store", "backup", "--out"])
        .arg(&copy));
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    assert!(
        Command::new("kill")
            .args(["-TERM", &running.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(running.wait().unwrap().success());

    // Restore (docs/deploy.md): the copy in place of the database, without the old
    // write-ahead log; summaries are folded again.
    let data = dir.path().join("data");
    for name in [
        "hpti.db",
        "hpti.db-wal",
        "hpti.db-shm",
        "hpti-summaries.db",
        "hpti-summaries.db-wal",
        "hpti-summaries.db-shm",
    ] {
        let _ = std::fs::remove_file(data.join(name));
    }
    std::fs::copy(&copy, data.join("hpti.db")).unwrap();
    assert_eq!(count_rows(&data.join("hpti.db")), 5_000);
    // The same input again: every event is already there, nothing is stored twice, and
    // the summaries are folded again from the restored events.
    let reingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert_eq!(count_rows(&data.join("hpti.db")), 5_000);
    let query = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["query", "attackers"]));
    assert!(query.status.success(), "{}", stderr(&query));
    assert!(stdout(&query).contains("198.51.100."), "{}", stdout(&query));
    assert!(reingest.status.success(), "{}", stderr(&reingest));
}

/// `config check` once accepted what `run` then refused (a bad userdb regex, a bad
/// allow CIDR, a missing or garbage GeoIP file): both now refuse the same configs, and
/// name the same key and line.
#[test]
fn config_check_refuses_what_run_refuses_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, "not a MaxMind database\n".repeat(100)).unwrap();
    // An HTTP persona of the user's with a misspelt key.
    let personas = dir.path().join("personas");
    std::fs::create_dir_all(personas.join("shop")).unwrap();
    std::fs::write(
        personas.join("shop/routes.yaml"),
        "server: nginx\nroutes:\n  - path: /\n    bodyy: hello\n",
    )
    .unwrap();
    let sensor = "[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n";
    let cases = [
        (
            format!("{sensor}\n[honeypot.auth]\nuserdb = [\"root:x:/[/\"]\n"),
            "honeypot.auth.userdb",
            12,
        ),
        (
            format!("{sensor}\n[honeypot.fetch]\nallow = [\"10.0.0.0/33\"]\n"),
            "honeypot.fetch.allow",
            12,
        ),
        (
            "[enrichers.geo]\ntype = \"geoip\"\ncity = \"/nonexistent/city.mmdb\"\n".to_owned(),
            "enrichers.geo.city",
            9,
        ),
        (
            format!("[enrichers.geo]\ntype = \"geoip\"\nasn = {garbage:?}\n"),
            "enrichers.geo.asn",
            9,
        ),
        (
            format!("{sensor}\n[sensors.ssh.persona]\nhostname = \"x\"\n"),
            "sensors.ssh.persona",
            11,
        ),
        (
            "[sensors.web]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\napp = \"no-such-app\"\n"
                .to_owned(),
            "sensors.web.app",
            10,
        ),
        (
            format!(
                "[sensors.web]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\npersona_dir = {personas:?}\napp = \"shop\"\n"
            ),
            "sensors.web.persona_dir",
            10,
        ),
        (
            "[sensors.ftp]\ntype = \"ftp\"\nlisten = \"127.0.0.1:0\"\n\
             tls = { cert = \"/nonexistent/ftp.pem\", key = \"/nonexistent/ftp.key\" }\n"
                .to_owned(),
            "sensors.ftp.tls",
            10,
        ),
        (
            "[sensors.ftp]\ntype = \"ftp\"\nlisten = \"127.0.0.1:0\"\nserver = \"proftpd\"\ntls = {}\n"
                .to_owned(),
            "sensors.ftp.tls",
            11,
        ),
        (
            "[sensors.ftp]\ntype = \"ftp\"\nlisten = \"127.0.0.1:0\"\nserver = \"proftp\"\n"
                .to_owned(),
            "sensors.ftp.server",
            10,
        ),
    ];
    for (extra, key, line) in cases {
        let config = write_config(dir.path(), &extra);
        let checked = run(hpti().args(["config", "check"]).arg(&config));
        assert!(!checked.status.success(), "config check accepted:\n{extra}");
        let expected = format!("hpti.toml:{line}: key `{key}`");
        assert!(
            stderr(&checked).contains(&expected),
            "{expected} in {}",
            stderr(&checked)
        );
        let started = run(hpti().arg("--config").arg(&config).arg("run"));
        assert!(!started.status.success(), "run accepted:\n{extra}");
        assert!(
            stderr(&started).contains(key),
            "{key} in {}",
            stderr(&started)
        );
    }
    // And a sound config with a real database passes, without creating anything.
    let city =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/geoip/GeoLite2-City-Test.mmdb");
    {
        let config = write_config(
            dir.path(),
            &format!("{sensor}\n[enrichers.geo]\ntype = \"geoip\"\ncity = {city:?}\n"),
        );
        let checked = run(hpti().args(["config", "check"]).arg(&config));
        assert!(checked.status.success(), "{}", stderr(&checked));
        assert!(!dir.path().join("data/hpti.db").exists());
    }
}

/// Secrets (an API key inline, a Redis password in its URL, a key file) never show in
/// logs, errors or debug output, even at the most verbose level; a key file others can
/// read is refused.
#[test]
fn secrets_never_show_and_an_exposed_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[enrichers.abuse]\ntype = \"abuseipdb\"\napi_key = \"inline-SEKRIT-1\"\nbase_url = \"http://{closed}\"\nredis_url = \"redis://:REDIS-SEKRIT-2@{closed}\"\n"
        ),
    );
    let input = dir.path().join("events.jsonl");
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let lines: String = (0..20)
        .map(|n| serde_json::to_string(&event(n, base)).unwrap() + "\n")
        .collect();
    std::fs::write(&input, lines).unwrap();
    let checked = run(hpti()
        .env("HPTI_LOG", "trace")
        .args(["config", "check"])
        .arg(&config));
    assert!(checked.status.success(), "{}", stderr(&checked));
    let ingested = run(hpti()
        .env("HPTI_LOG", "debug")
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    let shown = format!(
        "{}{}{}{}",
        stdout(&checked),
        stderr(&checked),
        stdout(&ingested),
        stderr(&ingested)
    );
    assert!(shown.len() > 200, "the run said something: {shown}");
    for secret in ["SEKRIT-1", "SEKRIT-2"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }

    let key_file = dir.path().join("abuse.key");
    std::fs::write(&key_file, "FILE-SEKRIT-3\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = write_config(
        dir.path(),
        &format!("[enrichers.abuse]\ntype = \"abuseipdb\"\napi_key_file = {key_file:?}\n"),
    );
    let refused = run(hpti().args(["config", "check"]).arg(&config));
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("key `enrichers.abuse.api_key_file`"),
        "{message}"
    );
    assert!(
        message.contains("chmod 600") && !message.contains("SEKRIT"),
        "{message}"
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let accepted = run(hpti().args(["config", "check"]).arg(&config));
    assert!(accepted.status.success(), "{}", stderr(&accepted));
}

/// A damaged persona or host key at start is refused, naming the file and what to do,
/// and left as it was: never silently regenerated (returning attackers would notice).
#[test]
fn a_damaged_persona_or_host_key_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("ssh")).unwrap();
    for (file, damage) in [
        ("persona.toml", "hostname = \"half-writ"),
        (
            "ssh/ssh_host_ed25519_key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n",
        ),
    ] {
        let path = data.join(file);
        std::fs::write(&path, damage).unwrap();
        let refused = run(hpti().arg("--config").arg(&config).arg("run"));
        assert!(!refused.status.success(), "{file}: {}", stderr(&refused));
        let message = stderr(&refused);
        assert!(
            message.contains(&path.display().to_string())
                && message.contains("damaged")
                && message.contains("backup"),
            "{file}: {message}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            damage,
            "{file} left as it was"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn dead_letters_can_be_listed_and_replayed_without_losing_any() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let input = dir.path().join("mixed.jsonl");
    let mut bad_ip = event(7, base);
    bad_ip.src_ip = "0.0.0.0".parse().unwrap();
    std::fs::write(
        &input,
        format!(
            "{}\nnot json\n{{\"half\":\n{}\n",
            serde_json::to_string(&event(1, base)).unwrap(),
            serde_json::to_string(&bad_ip).unwrap()
        ),
    )
    .unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert!(ingest.status.success(), "{}", stderr(&ingest));

    let list = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["dlq", "list", "--json"]));
    assert!(list.status.success(), "{}", stderr(&list));
    assert_eq!(stdout(&list).lines().count(), 3);
    let table = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["dlq", "list", "--stage", "parse"]));
    assert!(
        stdout(&table).contains("2 of 2 dead letter(s)"),
        "{}",
        stdout(&table)
    );

    // Nothing fixed: the parse failures fail again, with their reasons; the validation
    // failure, not selected, stays as it was.
    let replay = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["dlq", "replay", "--stage", "parse", "--json"]));
    assert!(replay.status.success(), "{}", stderr(&replay));
    let summary: serde_json::Value = serde_json::from_str(stdout(&replay).trim()).unwrap();
    assert_eq!(summary["replayed"], 2);
    assert_eq!(summary["stored"], 0);
    assert_eq!(summary["dead_lettered_again"], 2);
    assert_eq!(summary["kept"], 1);
    let letters: Vec<serde_json::Value> = stdout(&run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["dlq", "list", "--json"])))
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(letters.len(), 3, "no record lost by a replay");
    assert_eq!(letters.iter().filter(|l| l["stage"] == "parse").count(), 2);
    assert!(letters.iter().any(|l| l["original"] == "not json"));
    assert!(
        !dir.path()
            .join("data/dead-letters.jsonl.replaying")
            .exists()
    );
}

fn kinds_in(db: &Path) -> std::collections::BTreeMap<String, i64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT kind, COUNT(*) FROM events GROUP BY kind")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.into_iter().collect()
    })
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn real_honeypot_logs_ingest_with_no_dead_letters_and_the_right_kinds() {
    for (format, file, lines, events, kinds) in [
        (
            "cowrie",
            "testdata/cowrie/cowrie.json",
            178,
            178,
            vec![
                ("client.fingerprint", 14),
                ("client.version", 14),
                ("command.input", 35),
                ("file.download", 6),
                ("file.upload", 6),
                ("login.attempt", 16),
                ("port_forward.request", 3),
                ("session.closed", 17),
                ("session.started", 17),
                ("unknown", 50),
            ],
        ),
        (
            "opencanary",
            "testdata/opencanary/opencanary.log",
            75,
            57,
            vec![
                ("client.version", 3),
                ("http.request", 5),
                ("login.attempt", 20),
                ("session.started", 6),
                ("unknown", 23),
            ],
        ),
        (
            "authlog",
            "testdata/authlog/auth.log",
            61,
            31,
            vec![("login.attempt", 11), ("unknown", 20)],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "");
        let output = run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["ingest", "--json", "--format", format])
            .arg(fixture(file)));
        assert!(output.status.success(), "{format}: {}", stderr(&output));
        let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
        assert_eq!(summary["lines"], lines, "{format}: {summary}");
        assert_eq!(summary["events"], events, "{format}: {summary}");
        assert_eq!(summary["stored"], events, "{format}: {summary}");
        assert_eq!(summary["dead_lettered"], 0, "{format}: {summary}");
        let stored = kinds_in(&dir.path().join("data/hpti.db"));
        let expected: std::collections::BTreeMap<String, i64> =
            kinds.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        assert_eq!(stored, expected, "{format}");
    }
}

#[test]
fn a_log_ingested_with_the_wrong_format_is_recovered_by_replaying_its_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let cowrie = fixture("testdata/cowrie/cowrie.json");
    let wrong = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json", "--format", "hpti"])
        .arg(&cowrie));
    let summary: serde_json::Value = serde_json::from_str(stdout(&wrong).trim()).unwrap();
    assert_eq!(summary["parse_errors"], 178);
    assert_eq!(summary["stored"], 0);

    let replay = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["dlq", "replay", "--format", "cowrie", "--json"]));
    assert!(replay.status.success(), "{}", stderr(&replay));
    let summary: serde_json::Value = serde_json::from_str(stdout(&replay).trim()).unwrap();
    assert_eq!(summary["replayed"], 178);
    assert_eq!(summary["stored"], 178);
    assert_eq!(summary["dead_lettered_again"], 0);
    let sessions = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["query", "sessions", "--limit", "100", "--format", "json"]));
    let sessions: Vec<serde_json::Value> = serde_json::from_str(&stdout(&sessions)).unwrap();
    assert_eq!(sessions.len(), 17, "Cowrie's 17 sessions");
    assert!(sessions.iter().any(|s| s["protocol"] == "telnet"));
}

#[test]
fn gzip_rotated_logs_are_read_and_give_the_same_events_as_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let rotated = dir.path().join("cowrie.json.1");
    std::fs::copy(fixture("testdata/cowrie/cowrie.json"), &rotated).unwrap();
    assert!(
        Command::new("gzip")
            .arg("-k")
            .arg(&rotated)
            .status()
            .unwrap()
            .success()
    );
    let gz = dir.path().join("cowrie.json.1.gz");
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json", "--format", "cowrie"])
        .arg(&gz));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        (summary["events"].as_u64(), summary["stored"].as_u64()),
        (Some(178), Some(178))
    );
    // The same log uncompressed: the same events (deterministic ids), nothing new stored.
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json", "--format", "cowrie"])
        .arg(&rotated));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["events"], 178);
    assert_eq!(summary["stored"], 0);
    assert_eq!(summary["already_stored"], 178);
}

#[test]
fn truncated_foreign_lines_are_dead_lettered_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(fixture("testdata/cowrie/cowrie.json")).unwrap();
    let whole: Vec<&str> = text.lines().take(20).collect();
    let mut input = String::new();
    for line in &whole {
        input.push_str(line);
        input.push('\n');
        input.push_str(&line[..line.len() / 2]);
        input.push('\n');
    }
    let path = dir.path().join("torn.json");
    std::fs::write(&path, input).unwrap();
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json", "--format", "cowrie"])
        .arg(&path));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["stored"], 20);
    assert_eq!(summary["parse_errors"], 20);
    let letters: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("data/dead-letters.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(letters.len(), 20);
    for letter in &letters {
        assert_eq!(letter["stage"], "parse");
        assert_eq!(letter["component"], "cowrie");
        assert!(letter["reason"].as_str().is_some_and(|r| !r.is_empty()));
        let original = letter["original"].as_str().unwrap();
        assert!(
            whole
                .iter()
                .any(|w| w.starts_with(original) && w.len() > original.len())
        );
    }
}

#[test]
fn with_geoip_configured_events_are_stored_with_country_and_asn() {
    let dir = tempfile::tempdir().unwrap();
    let geoip = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/geoip");
    let config = write_config(
        dir.path(),
        &format!(
            "[enrichers.geo]\ntype = \"geoip\"\ncity = {:?}\nasn = {:?}\n",
            geoip.join("GeoIP2-City-Test.mmdb"),
            geoip.join("GeoLite2-ASN-Test.mmdb")
        ),
    );
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let lines: String = ["81.2.69.160", "81.2.69.160", "1.0.0.1"]
        .iter()
        .enumerate()
        .map(|(n, ip)| {
            let mut e = event(n as u64, base);
            e.src_ip = ip.parse().unwrap();
            serde_json::to_string(&e).unwrap() + "\n"
        })
        .collect();
    let input = dir.path().join("geo.jsonl");
    std::fs::write(&input, lines).unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    let attackers =
        run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["query", "attackers", "--format", "json"]));
    let attackers: Vec<serde_json::Value> = serde_json::from_str(&stdout(&attackers)).unwrap();
    let london = attackers
        .iter()
        .find(|a| a["src_ip"] == "81.2.69.160")
        .unwrap();
    assert_eq!(london["country"], "GB");
    let google = attackers.iter().find(|a| a["src_ip"] == "1.0.0.1").unwrap();
    assert_eq!(google["asn"], 15169);

    let broken = write_config(
        dir.path(),
        &format!(
            "[enrichers.geo]\ntype = \"geoip\"\ncity = {:?}\n",
            geoip.join("GeoIP2-City-Test-Invalid-Node-Count.mmdb")
        ),
    );
    let refused = run(hpti()
        .arg("--config")
        .arg(&broken)
        .arg("ingest")
        .arg(&input));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("enrichers.geo"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn ip_lists_from_the_config_tag_events() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/scanners.txt"), "198.51.100.0/24\n").unwrap();
    let config = write_config(
        dir.path(),
        "[enrichers.list]\ntype = \"iplist\"\ntag = \"known-scanner\"\nfile = \"scanners.txt\"\n",
    );
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let input = dir.path().join("e.jsonl");
    std::fs::write(
        &input,
        (0..10)
            .map(|n| serde_json::to_string(&event(n, base)).unwrap() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tagged: i64 = runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join("data/hpti.db").display()
        ))
        .await
        .unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM events_enriched WHERE enrichment LIKE '%\"tags\":[\"known-scanner\"]%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        n
    });
    assert_eq!(tagged, 10, "every source in 198.51.100.0/24 is tagged");

    let both = write_config(
        dir.path(),
        "[enrichers.list]\ntype = \"iplist\"\ntag = \"x\"\nfile = \"a\"\nurl = \"http://127.0.0.1:9/x\"\n",
    );
    let refused = run(hpti().arg("--config").arg(&both).arg("ingest").arg(&input));
    assert!(
        stderr(&refused).contains("exactly one of `file` and `url`"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn bench_queries_spreads_the_events_over_the_span_and_times_every_query() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queries.db");
    let bench = |extra: &[&str]| {
        let output = run(hpti()
            .args([
                "bench", "queries", "--events", "3000", "--runs", "3", "--span", "10d",
            ])
            .args(extra)
            .arg("--db")
            .arg(&db));
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str::<serde_json::Value>(&stdout(&output)).unwrap()
    };
    let result = bench(&[]);
    assert_eq!(result["filled"], true);
    let timings = result["queries"].as_array().unwrap();
    assert_eq!(
        timings.len(),
        10,
        "five queries, all-time and 24h: {result}"
    );
    for timing in timings {
        assert!(
            timing["p95_ms"].as_f64() >= timing["p50_ms"].as_f64(),
            "{timing}"
        );
        if timing["window"] == "all" {
            assert!(timing["rows"].as_u64().unwrap() > 0, "{timing}");
        }
    }
    // Ten days of events: about a tenth of them fall in the last 24 hours.
    let recent: i64 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
                .await
                .unwrap();
            let since = Timestamp::now().as_micros() - 86_400_000_000;
            let n = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE ts >= ?")
                .bind(since)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        });
    assert!(
        (200..=400).contains(&recent),
        "{recent} of 3000 in the last day"
    );
    // Timing the same data again does not fill it twice.
    assert_eq!(bench(&["--reuse"])["filled"], false);
}

/// `hpti run` with `[api]`: tokens made by `hpti api token create` let `curl` read what
/// `hpti ingest` stored; no token, a bad one or a revoked one gets a 401.
#[test]
fn the_api_serves_the_store_to_token_holders_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("api.toml");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The shipped rules but Mirai's, added later to try `hpti analysis rescan`.
    let rules = dir.path().join("yara");
    std::fs::create_dir(&rules).unwrap();
    for file in ["droppers.yar", "xmrig.yar"] {
        std::fs::copy(repo.join("rules/yara").join(file), rules.join(file)).unwrap();
    }
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[analysis]\nyara_rules = {rules:?}\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("data"),
        ),
    )
    .unwrap();
    let mirai_sha = common::ingest_cowrie_with_mirai(&config, dir.path());
    let admin = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["api", "token", "create", "--role", "admin", "--name", "ops"]));
    assert!(admin.status.success(), "{}", stderr(&admin));
    let admin = stdout(&admin).trim().to_owned();
    let create = run(hpti().arg("--config").arg(&config).args([
        "api", "token", "create", "--role", "viewer", "--name", "analyst",
    ]));
    assert!(create.status.success(), "{}", stderr(&create));
    let token = stdout(&create).trim().to_owned();
    assert!(token.starts_with("hpti_"), "{token:?}");
    let list = stdout(&run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["api", "token", "list"])));
    assert!(
        list.lines().any(|l| l.starts_with("analyst\tviewer\t"))
            && list.lines().any(|l| l.starts_with("ops\tadmin\t")),
        "{list}"
    );
    assert!(!list.contains(&token[5..]), "the list never shows a token");

    let (child, mut log) = common::spawn_run(&config);
    let addr = common::api_address(&mut log);
    let panics = common::panics_in(log);
    let curl = |token: Option<&str>, path: &str| -> (u16, serde_json::Value) {
        let mut command = Command::new("curl");
        command.args(["-sS", "-w", "\n%{http_code}"]);
        if let Some(token) = token {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let output = run(command.arg(format!("http://{addr}{path}")));
        assert!(output.status.success(), "curl: {}", stderr(&output));
        let text = stdout(&output);
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), serde_json::from_str(body).unwrap())
    };
    let (status, body) = curl(Some(&token), "/api/v1/downloads?limit=100");
    assert_eq!(status, 200, "{body}");
    let hashes = |rows: &serde_json::Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|d| d["sha256"].as_str().unwrap().to_owned())
            .collect()
    };
    // What `hpti query` says is stored, and not nothing.
    let query = run(hpti().arg("--config").arg(&config).args([
        "query",
        "downloads",
        "--format",
        "json",
        "--limit",
        "100",
    ]));
    let stored: serde_json::Value = serde_json::from_str(&stdout(&query)).unwrap();
    assert!(!hashes(&stored).is_empty());
    assert_eq!(hashes(&body["items"]), hashes(&stored), "{body}");
    // The fixture's files, with every field of the downloads page.
    let items = body["items"].as_array().unwrap();
    let row = |sha: &str| {
        items
            .iter()
            .find(|d| d["sha256"] == sha)
            .unwrap_or_else(|| panic!("{sha} not in {body}"))
            .clone()
    };
    let elf = row("ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199");
    for field in [
        "sha256",
        "shasum",
        "session",
        "src_ip",
        "timestamp",
        "first_seen",
        "count",
        "url",
        "outfile",
        "size",
        "file_type",
        "file_category",
        "is_previewable",
        "vt_detections",
        "vt_total",
        "vt_threat_label",
        "exists",
        "yara_matches",
    ] {
        assert!(elf.get(field).is_some(), "{field} missing from {elf}");
    }
    assert_eq!(elf["shasum"], elf["sha256"]);
    assert_eq!(elf["url"], "http://127.0.0.1:8000/file.bin");
    assert_eq!(elf["session"], "7fd1ec8e5e88");
    assert_eq!(elf["src_ip"], "127.0.0.1");
    assert!(
        elf["file_type"]
            .as_str()
            .unwrap()
            .starts_with("ELF 64-bit LSB"),
        "{elf}"
    );
    assert_eq!(elf["file_category"], "executable");
    assert_eq!(elf["exists"], true);
    let script = row("299001868fb8c02fd431c336c6d058f5558c5dff5b5af5e6fe04b870a6a9cbba");
    assert_eq!(
        (
            &script["file_type"],
            &script["file_category"],
            &script["is_previewable"]
        ),
        (
            &serde_json::json!("POSIX shell script"),
            &serde_json::json!("script"),
            &serde_json::json!(true)
        )
    );
    let bot = row(&mirai_sha);
    assert_eq!(bot["file_type"], "ELF 32-bit LSB executable, ARM", "{bot}");
    assert_eq!(
        bot["yara_matches"],
        serde_json::json!([]),
        "Mirai's rules are not loaded yet"
    );
    // Content: 403 for a viewer, a zip for an admin.
    let content = format!("/api/v1/downloads/{mirai_sha}/content");
    assert_eq!(curl(Some(&token), &content).0, 403);
    let zip = dir.path().join("bot.zip");
    let fetched = run(Command::new("curl")
        .args(["-sS", "-f", "-o"])
        .arg(&zip)
        .args(["-H", &format!("Authorization: Bearer {admin}")])
        .arg(format!("http://{addr}{content}")));
    assert!(fetched.status.success(), "curl: {}", stderr(&fetched));
    let unzip = run(Command::new("python3").arg("-c").arg(format!(
        "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('{mirai_sha}', pwd=b'infected'))"
    )).arg(&zip));
    assert!(unzip.status.success(), "{}", stderr(&unzip));
    assert_eq!(unzip.stdout, common::mirai_like_elf());
    // New rules: the rescan finds the bot's family.
    std::fs::copy(repo.join("rules/yara/mirai.yar"), rules.join("mirai.yar")).unwrap();
    let rescan = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["analysis", "rescan"]));
    assert!(rescan.status.success(), "{}", stderr(&rescan));
    assert!(
        stdout(&rescan).starts_with("3 of 3 files analysed with 3 rule files, 1 matched"),
        "{}",
        stdout(&rescan)
    );
    let (status, bot) = curl(Some(&token), &format!("/api/v1/downloads/{mirai_sha}"));
    assert_eq!(status, 200, "{bot}");
    assert_eq!(
        bot["yara_matches"],
        serde_json::json!(["Mirai_Bot"]),
        "{bot}"
    );
    let (status, body) = curl(Some(&token), "/api/v1/sessions?limit=3");
    assert_eq!(
        (status, body["items"].as_array().map(Vec::len)),
        (200, Some(3))
    );
    assert_eq!(curl(None, "/api/v1/downloads").0, 401);
    assert_eq!(curl(Some("hpti_guess"), "/api/v1/downloads").0, 401);
    let revoke = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["api", "token", "revoke", "analyst"]));
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(curl(Some(&token), "/api/v1/downloads").0, 401, "revoked");
    common::stop_cleanly(child, panics);
}

/// Multi-source mode: a central `hpti run` merges the lists of two other `hpti run`
/// processes' APIs with its own, deduplicating downloads by hash, and keeps answering
/// (saying which source failed) when one of them is down.
#[test]
fn a_central_api_merges_two_instances_and_survives_one_going_down() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let write_config = |name: &str, extra: &str| -> std::path::PathBuf {
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n[api]\nlisten = \"127.0.0.1:0\"\ncache_ttl = \"0s\"\n{extra}",
                dir.path().join(name),
            ),
        )
        .unwrap();
        config
    };
    let ingest = |config: &Path, log: &str, downloads: bool| {
        let mut command = hpti();
        command
            .arg("--config")
            .arg(config)
            .args(["ingest", "--format", "cowrie"]);
        if downloads {
            command
                .arg("--downloads")
                .arg(repo.join("testdata/cowrie/downloads"));
        }
        let output = run(command.arg(repo.join("testdata/cowrie").join(log)));
        assert!(output.status.success(), "{}", stderr(&output));
    };
    let token = |config: &Path| -> String {
        let output = run(hpti().arg("--config").arg(config).args([
            "api", "token", "create", "--role", "viewer", "--name", "central",
        ]));
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output).trim().to_owned()
    };
    let api_address = common::api_address;
    // Two edges with the same Cowrie log (one holding the files too).
    let mut edges = Vec::new();
    for (name, downloads) in [("edge1", true), ("edge2", false)] {
        let config = write_config(name, "");
        ingest(&config, "cowrie.json", downloads);
        let token = token(&config);
        let (child, mut log) = common::spawn_run(&config);
        let addr = api_address(&mut log);
        edges.push((name, child, common::panics_in(log), addr, token));
    }
    let sources: String = edges
        .iter()
        .map(|(name, _, _, addr, _)| {
            format!(
                "\n[api.sources.{name}]\nurl = \"http://{addr}\"\ntoken_env = \"HPTI_TOKEN_{}\"\ntimeout = \"2s\"\n",
                name.to_uppercase()
            )
        })
        .collect();
    let central = write_config("central", &format!("name = \"central\"\n{sources}"));
    ingest(&central, "hydra.json", false);
    let central_token = token(&central);
    let env: Vec<(String, String)> = edges
        .iter()
        .map(|(name, _, _, _, token)| {
            (format!("HPTI_TOKEN_{}", name.to_uppercase()), token.clone())
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (central_child, mut log) = common::spawn_run_with_env(&central, &env);
    let central_addr = api_address(&mut log);
    let central_panics = common::panics_in(log);
    let get = |path: &str| -> (u16, serde_json::Value) {
        let output = run(Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {central_token}"))
            .arg(format!("http://{central_addr}{path}")));
        assert!(output.status.success(), "curl: {}", stderr(&output));
        let text = stdout(&output);
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), serde_json::from_str(body).unwrap())
    };
    // What each instance alone says of its downloads.
    let downloads_of = |name: &str| -> Vec<serde_json::Value> {
        let query = run(hpti()
            .arg("--config")
            .arg(dir.path().join(format!("{name}.toml")))
            .args(["query", "downloads", "--format", "json", "--limit", "100"]));
        let rows: serde_json::Value = serde_json::from_str(&stdout(&query)).unwrap();
        rows.as_array().unwrap().clone()
    };
    let one = downloads_of("edge1");
    let own = downloads_of("central");
    assert!(!one.is_empty());
    let own_count = |sha: &serde_json::Value| -> u64 {
        own.iter()
            .find(|r| &r["sha256"] == sha)
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    let distinct: std::collections::BTreeSet<&str> = one
        .iter()
        .chain(&own)
        .map(|r| r["sha256"].as_str().unwrap())
        .collect();

    let (status, body) = get("/api/v1/downloads?limit=100");
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<(String, String)> = body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("central", "ok"), ("edge1", "ok"), ("edge2", "ok")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let items = body["items"].as_array().unwrap();
    // Each file once, with every instance's downloads summed.
    assert_eq!(items.len(), distinct.len(), "{body}");
    for edge_row in &one {
        let sha = &edge_row["sha256"];
        let merged = items
            .iter()
            .find(|r| &r["sha256"] == sha)
            .unwrap_or_else(|| panic!("{sha} missing"));
        let central_count = own_count(sha);
        assert_eq!(
            merged["count"],
            edge_row["count"].as_u64().unwrap() * 2 + central_count,
            "{merged}"
        );
        let expected: Vec<&str> = if central_count > 0 {
            vec!["central", "edge1", "edge2"]
        } else {
            vec!["edge1", "edge2"]
        };
        assert_eq!(merged["honeypots"], serde_json::json!(expected));
        if central_count == 0 {
            assert_eq!(merged["first_seen"], edge_row["first_seen"]);
            assert_eq!(merged["last_seen"], edge_row["last_seen"]);
        }
    }
    let elf = items
        .iter()
        .find(|r| r["sha256"] == "ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199")
        .unwrap();
    assert_eq!(elf["exists"], true, "edge1 holds the file");
    assert_eq!(elf["file_category"], "executable");
    // Other lists are joined and labelled.
    let (status, body) = get("/api/v1/credentials?limit=1000");
    assert_eq!(status, 200);
    let labels: std::collections::BTreeSet<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["central", "edge1", "edge2"].into_iter().collect());

    // One edge down: the answer still comes, saying which source failed.
    let (_, edge2, edge2_panics, _, _) = edges.pop().unwrap();
    common::stop_cleanly(edge2, edge2_panics);
    let (status, body) = get("/api/v1/downloads?limit=100");
    assert_eq!(status, 200, "{body}");
    let edge2_status = body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "edge2")
        .unwrap();
    assert_eq!(edge2_status["status"], "error", "{body}");
    assert!(
        edge2_status["error"].as_str().unwrap().contains("connect"),
        "{edge2_status}"
    );
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), distinct.len());
    for edge_row in &one {
        let sha = &edge_row["sha256"];
        let merged = items.iter().find(|r| &r["sha256"] == sha).unwrap();
        assert_eq!(
            merged["count"],
            edge_row["count"].as_u64().unwrap() + own_count(sha),
            "edge2's downloads are gone from the sum"
        );
    }
    common::stop_cleanly(central_child, central_panics);
    for (_, child, panics, _, _) in edges {
        common::stop_cleanly(child, panics);
    }
}
