//! The `hpti` binary with a PostgreSQL sink, against the real server
//! (`HPTI_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`), each test
//! in a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Outage, fixture, hpti, metric, panics_in, run, runtime, spawn_run, stderr, stdout, stop_cleanly,
};

use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_store::testing::TestDatabase;

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

/// Events of `sensor` stored so far (0 while the database cannot be read).
fn pg_count_or_zero(url: &str, sensor: &str) -> i64 {
    runtime().block_on(async {
        let Ok(pool) = sqlx::PgPool::connect(url).await else {
            return 0;
        };
        let n = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE sensor = $1")
            .bind(sensor)
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        pool.close().await;
        n
    })
}

#[test]
fn postgres_down_for_a_minute_then_back_loses_nothing_and_hpti_stays_up() {
    let Some(db) = runtime().block_on(TestDatabase::create()) else {
        return;
    };
    let outage_secs: u64 = std::env::var("HPTI_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let proxy = Outage::start("127.0.0.1:5432");
    let through_proxy = db.url.replacen(":5432/", &format!(":{}/", proxy.port), 1);
    assert_ne!(through_proxy, db.url, "the URL names port 5432: {}", db.url);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("feed.jsonl");
    std::fs::write(&input, "").unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n\
             [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\n\n\
             [sources.feed]\ntype = \"file\"\nformat = \"hpti\"\npaths = [{:?}]\npoll_interval = \"50ms\"\n\n\
             [sinks.pg]\ntype = \"postgres\"\nurl = {:?}\nconnect_timeout = \"2s\"\n",
            dir.path().join("data"),
            input,
            through_proxy
        ),
    )
    .unwrap();
    let (mut child, mut log) = spawn_run(&config);
    let (mut metrics, mut telnet) = (None, None);
    while metrics.is_none() || telnet.is_none() {
        let line = log
            .next()
            .expect("hpti run stopped before listening")
            .unwrap();
        if let Some(rest) = line.split("metrics at http://").nth(1) {
            metrics = rest.split('/').next().map(str::to_owned);
        } else if line.contains("Telnet honeypot listening") {
            telnet = line
                .split("listening on ")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned());
        }
    }
    let (metrics, telnet) = (metrics.unwrap(), telnet.unwrap());
    let drain = panics_in(log);

    let base = Timestamp::now().saturating_add_micros(-600_000_000);
    let mut feed = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    let mut written = 0u64;
    let mut append = |written: &mut u64, n: u64| {
        for _ in 0..n {
            writeln!(
                feed,
                "{}",
                serde_json::to_string(&command_event(*written, base)).unwrap()
            )
            .unwrap();
            *written += 1;
        }
        feed.flush().unwrap();
    };
    let wait_for = |expected: u64, within: Duration| {
        let deadline = Instant::now() + within;
        loop {
            let stored = pg_count_or_zero(&db.url, "kill-test") as u64;
            if stored >= expected || Instant::now() > deadline {
                return stored;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    append(&mut written, 1_000);
    assert_eq!(
        wait_for(1_000, Duration::from_secs(60)),
        1_000,
        "stored before the outage"
    );

    // The database goes away; events keep arriving for the whole outage.
    proxy.set_up(false);
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(outage_secs) {
        append(&mut written, 50);
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "hpti run exited during the outage"
        );
    }
    // The sensors kept answering.
    let mut session = std::net::TcpStream::connect(&telnet).unwrap();
    session
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        common::read_until(&mut session, "login: "),
        "the Telnet sensor answers during the outage"
    );
    drop(session);
    let during = pg_count_or_zero(&db.url, "kill-test") as u64;
    let retries = metric(&metrics, "hpti_sink_retries_total{component=\"pg\"}");
    assert!(retries > 0, "the sink retried while the database was down");
    assert_eq!(
        during, 1_000,
        "nothing reached the database while it was down"
    );
    // `/health` says which component is failing, and why.
    let (code, report) = common::health(&metrics);
    let _ = writeln!(
        std::io::stderr(),
        "GET /health during the outage: {code} {report}"
    );
    assert_eq!(code, 503, "{report}");
    assert_eq!(report["status"], "degraded");
    assert_eq!(
        common::component_state(&report, "sink", "pg"),
        "failing",
        "{report}"
    );
    assert_eq!(
        metric(
            &metrics,
            "hpti_component_up{kind=\"sink\",component=\"pg\"}"
        ),
        0
    );

    // Back: everything that waited is stored, once, and new events flow again.
    proxy.set_up(true);
    let recovered = Instant::now();
    let waited = written;
    assert_eq!(
        wait_for(waited, Duration::from_secs(120)),
        waited,
        "the backlog is stored"
    );
    let recovery = recovered.elapsed();
    append(&mut written, 500);
    assert_eq!(wait_for(written, Duration::from_secs(60)), written);
    let (stored, distinct) = pg_counts(&db.url);
    assert_eq!(stored, distinct, "nothing stored twice");
    assert!(
        pg_count_or_zero(&db.url, "telnet") >= 2,
        "the Telnet session opened during the outage is stored too"
    );
    let failed = metric(
        &metrics,
        "hpti_events_total{stage=\"sink\",component=\"pg\",outcome=\"failed\"}",
    );
    assert_eq!(failed, 0, "nothing given up on");
    let (code, report) = common::health(&metrics);
    assert_eq!(
        (code, common::component_state(&report, "sink", "pg")),
        (200, "ok".into()),
        "{report}"
    );
    // (0 during the outage means something only if the series exists: it reads 1 now.)
    assert_eq!(
        metric(
            &metrics,
            "hpti_component_up{kind=\"sink\",component=\"pg\"}"
        ),
        1
    );

    stop_cleanly(child, drain);
    let _ = writeln!(
        std::io::stderr(),
        "postgres outage of {outage_secs} s: {written} events, {} waited through it, all stored \
         {:.1} s after the database came back; {retries} sink retries; 0 lost, 0 twice",
        waited - 1_000,
        recovery.as_secs_f64()
    );
    runtime().block_on(db.remove());
}
