//! The `hpti` binary with a PostgreSQL sink, against the real server
//! (`HPTI_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`), each test
//! in a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_store::testing::TestDatabase;

fn hpti() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hpti"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[data]\ndir = {:?}\n\n[sensors]\n\n{extra}",
            dir.join("data")
        ),
    )
    .unwrap();
    path
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Events and distinct ids in the test database's events table.
fn pg_counts(url: &str) -> (i64, i64) {
    runtime().block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let counts = sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        counts
    })
}

#[test]
fn cowrie_fixtures_ingested_into_postgres_give_exactly_sqlites_query_results() {
    let Some(db) = runtime().block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "[sinks.main]\ntype = \"sqlite\"\n\n[sinks.pg]\ntype = \"postgres\"\nurl = {:?}\n\n",
        db.url
    );
    let sqlite = write_config(
        dir.path(),
        "sqlite.toml",
        &format!("{sinks}[query]\nstore = \"main\"\n"),
    );
    let postgres = write_config(
        dir.path(),
        "pg.toml",
        &format!("{sinks}[query]\nstore = \"pg\"\n"),
    );
    for (format, file) in [
        ("cowrie", "testdata/cowrie/cowrie.json"),
        ("opencanary", "testdata/opencanary/opencanary.log"),
        ("authlog", "testdata/authlog/auth.log"),
    ] {
        let path = fixture(file);
        if !path.exists() {
            continue;
        }
        let output = run(hpti()
            .arg("--config")
            .arg(&sqlite)
            .args(["ingest", "--json", "--format", format])
            .arg(&path));
        assert!(output.status.success(), "{format}: {}", stderr(&output));
    }
    let (stored, distinct) = pg_counts(&db.url);
    assert!(
        stored >= 178,
        "every Cowrie event reached PostgreSQL: {stored}"
    );
    assert_eq!(stored, distinct);

    let mut compared = 0;
    for what in [
        "sessions",
        "attackers",
        "credentials",
        "commands",
        "downloads",
    ] {
        for window in [
            &[][..],
            &["--since", "3650d"][..],
            &["--since", "3650d", "--until", "1d"][..],
        ] {
            let answer = |config: &Path| {
                let output = run(hpti()
                    .arg("--config")
                    .arg(config)
                    .args(["query", what, "--format", "json", "--limit", "1000"])
                    .args(window));
                assert!(output.status.success(), "{what}: {}", stderr(&output));
                stdout(&output)
            };
            let expected = answer(&sqlite);
            let rows: serde_json::Value = serde_json::from_str(&expected).unwrap();
            if window.is_empty() {
                assert!(
                    !rows.as_array().unwrap().is_empty(),
                    "the fixtures give some {what}"
                );
            }
            assert_eq!(answer(&postgres), expected, "{what} {window:?}");
            compared += 1;
        }
    }
    assert_eq!(compared, 15);
    runtime().block_on(db.remove());
}

fn command_event(n: u64, base: Timestamp) -> Event {
    Event::new(
        "kill-test",
        Protocol::Ssh,
        std::net::IpAddr::from([198, 51, 100, (n % 200) as u8 + 1]),
        EventKind::CommandInput {
            command: format!("echo {n}"),
        },
    )
    .with_session(format!("k{}", n / 20))
    .with_time(base.saturating_add_micros(n as i64 * 1000))
}

#[test]
fn kill_9_during_a_postgres_ingest_and_a_rerun_store_every_event_once() {
    let Some(db) = runtime().block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Small batches make the run long enough to kill it in the middle.
    let config = write_config(
        dir.path(),
        "hpti.toml",
        &format!(
            "[pipeline]\nbatch_size = 50\nlinger = \"1ms\"\n\n\
             [sinks.pg]\ntype = \"postgres\"\nurl = {:?}\n",
            db.url
        ),
    );
    let base = Timestamp::now().saturating_add_micros(-86_400_000_000);
    let input = dir.path().join("big.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let total = 60_000u64;
    for n in 0..total {
        writeln!(
            file,
            "{}",
            serde_json::to_string(&command_event(n, base)).unwrap()
        )
        .unwrap();
    }
    drop(file);

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
    // Killed once some events are stored, mid-file.
    loop {
        assert!(Instant::now() < deadline, "ingest made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest finished before it could be killed"
        );
        let stored = runtime().block_on(async {
            let Ok(pool) = sqlx::PgPool::connect(&db.url).await else {
                return 0;
            };
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            pool.close().await;
            n
        });
        if stored >= 2_000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "the first run was killed");
    let (partial, _) = pg_counts(&db.url);
    assert!(
        (partial as u64) < total,
        "killed mid-file: {partial} of {total} stored"
    );

    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let (stored, distinct) = pg_counts(&db.url);
    assert_eq!(stored as u64, total, "every event stored");
    assert_eq!(stored, distinct, "none twice");
    // The summaries folded each stored event exactly once, across the crash.
    let output = run(hpti().arg("--config").arg(&config).args([
        "query",
        "attackers",
        "--format",
        "json",
        "--limit",
        "1000",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let folded: u64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["events"].as_u64().unwrap())
        .sum();
    assert_eq!(folded, total, "attackers count each event once");
    // Straight to stderr: the test harness captures eprintln!.
    let _ = writeln!(
        std::io::stderr(),
        "postgres kill -9: {partial} of {total} stored before the kill, {stored} after the rerun, 0 twice"
    );
    runtime().block_on(db.remove());
}

#[test]
fn store_migrate_stats_and_retention_commands() {
    let Some(db) = runtime().block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "hpti.toml",
        "[sinks.pg]\ntype = \"postgres\"\nurl_env = \"HPTI_TEST_PG_URL\"\nretention = \"30d\"\n",
    );
    let with_env = |command: &mut Command| {
        command.env("HPTI_TEST_PG_URL", &db.url);
    };
    // Queries before anything created the tables say what to do.
    let mut query = hpti();
    query
        .arg("--config")
        .arg(&config)
        .args(["query", "sessions"]);
    with_env(&mut query);
    let output = run(&mut query);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("hpti store migrate"),
        "{}",
        stderr(&output)
    );

    let mut migrate = hpti();
    migrate
        .arg("--config")
        .arg(&config)
        .args(["store", "migrate"]);
    with_env(&mut migrate);
    let output = run(&mut migrate);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("schema up to date"),
        "{}",
        stdout(&output)
    );

    // Two old events (one past the retention) and a fresh one.
    let input = dir.path().join("events.jsonl");
    let now = Timestamp::now();
    let lines: String = [
        now.saturating_add_micros(-40 * 86_400_000_000),
        now.saturating_add_micros(-86_400_000_000),
        now,
    ]
    .iter()
    .enumerate()
    .map(|(n, time)| serde_json::to_string(&command_event(n as u64, *time)).unwrap() + "\n")
    .collect();
    std::fs::write(&input, lines).unwrap();
    let mut ingest = hpti();
    ingest
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json"])
        .arg(&input);
    with_env(&mut ingest);
    let output = run(&mut ingest);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["stored"], 2, "{summary}");
    assert_eq!(
        summary["dead_lettered"], 1,
        "the event past the retention: {summary}"
    );

    let mut stats = hpti();
    stats
        .arg("--config")
        .arg(&config)
        .args(["store", "stats", "--json"]);
    with_env(&mut stats);
    let output = run(&mut stats);
    assert!(output.status.success(), "{}", stderr(&output));
    let stats: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(stats["events"], 2, "{stats}");
    let partitions = stats["partitions"].as_array().unwrap();
    assert!(
        partitions.len() >= 4,
        "today and three ahead, and yesterday: {stats}"
    );
    assert!(
        !stats.to_string().contains("postgres@"),
        "no credentials in stats: {stats}"
    );

    let mut retention = hpti();
    retention
        .arg("--config")
        .arg(&config)
        .args(["store", "retention", "--dry-run", "--json"]);
    with_env(&mut retention);
    let output = run(&mut retention);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(plan["dropped"], false);
    assert_eq!(plan["expired"].as_array().unwrap().len(), 0, "{plan}");
    runtime().block_on(db.remove());
}
