//! The `hpti` binary with a Redis sink beside SQLite, against the real Redis
//! (`HPTI_REDIS_URL`, default `redis://127.0.0.1:6379`), each test under a key prefix of
//! its own: the counters agree with the store, and `hpti live` follows the stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    Outage, fixture, hpti, ingest_fixtures, metric, metrics_address, panics_in, run, runtime,
    spawn_run, stderr, stop_cleanly,
};

use hpti_core::event::Event;
use hpti_store::redis::credential_member;
use hpti_store::testing::TestRedis;
use redis::AsyncCommands as _;

fn write_config(dir: &Path, redis: &TestRedis) -> PathBuf {
    let path = dir.join("hpti.toml");
    std::fs::write(
        &path,
        format!(
            "[data]\ndir = {:?}\n\n[sensors]\n\n[sinks.main]\ntype = \"sqlite\"\n\n\
             [sinks.live]\ntype = \"redis\"\nurl = {:?}\nprefix = {:?}\n\
             stream_max_len = 100000\n",
            dir.join("data"),
            redis.url,
            redis.prefix
        ),
    )
    .unwrap();
    path
}

fn query(config: &Path, what: &str) -> Vec<serde_json::Value> {
    let output = run(hpti()
        .arg("--config")
        .arg(config)
        .args(["query", what, "--format", "json", "--limit", "10000"]));
    assert!(output.status.success(), "{what}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Every member of the daily sets `<prefix>:top:<board>:*`, summed over the days.
async fn board(redis: &TestRedis, board: &str) -> BTreeMap<String, u64> {
    let mut c = redis.connection().await;
    let mut totals = BTreeMap::new();
    let days: Vec<String> = c
        .keys(format!("{}:top:{board}:*", redis.prefix))
        .await
        .unwrap();
    for day in days {
        let members: Vec<(String, f64)> = c.zrange_withscores(&day, 0, -1).await.unwrap();
        for (member, score) in members {
            *totals.entry(member).or_default() += score as u64;
        }
    }
    totals
}

#[test]
fn redis_counters_match_the_stores_counts_for_the_same_input() {
    let rt = runtime();
    let Some(redis) = rt.block_on(TestRedis::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &redis);
    ingest_fixtures(&config);

    // Kinds and totals: the store's own table against the per-minute hashes.
    let db = dir.path().join("data/hpti.db");
    let store_kinds: BTreeMap<String, u64> = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT kind, COUNT(*) FROM events GROUP BY kind")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.into_iter().map(|(k, n)| (k, n as u64)).collect()
    });
    let (redis_kinds, redis_total, unique_days) = rt.block_on(async {
        let mut c = redis.connection().await;
        let minutes: Vec<String> = c
            .keys(format!("{}:counts:minute:*", redis.prefix))
            .await
            .unwrap();
        let mut kinds = BTreeMap::new();
        let mut total = 0u64;
        for minute in minutes {
            let fields: BTreeMap<String, u64> = c.hgetall(&minute).await.unwrap();
            for (field, n) in fields {
                if let Some(kind) = field.strip_prefix("kind:") {
                    *kinds.entry(kind.to_owned()).or_default() += n;
                } else if field == "total" {
                    total += n;
                }
            }
        }
        let days: Vec<String> = c
            .keys(format!("{}:sources:day:*", redis.prefix))
            .await
            .unwrap();
        let unique: u64 = redis::cmd("PFCOUNT")
            .arg(&days)
            .query_async(&mut c)
            .await
            .unwrap();
        (kinds, total, unique)
    });
    let stored: u64 = store_kinds.values().sum();
    assert!(stored >= 178, "the fixtures were stored: {stored}");
    assert_eq!(redis_kinds, store_kinds, "events per kind");
    assert_eq!(redis_total, stored);

    // Attackers, credentials and commands: `hpti query` against the daily top-N sets.
    let attackers = query(&config, "attackers");
    let expected: BTreeMap<String, u64> = attackers
        .iter()
        .map(|a| {
            (
                a["src_ip"].as_str().unwrap().to_owned(),
                a["events"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rt.block_on(board(&redis, "attackers")), expected);
    assert_eq!(
        unique_days,
        expected.len() as u64,
        "the union of the daily HyperLogLogs counts every address once"
    );

    let expected: BTreeMap<String, u64> = query(&config, "credentials")
        .iter()
        .map(|c| {
            (
                credential_member(c["username"].as_str().unwrap(), c["password"].as_str()),
                c["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(rt.block_on(board(&redis, "credentials")), expected);

    let expected: BTreeMap<String, u64> = query(&config, "commands")
        .iter()
        .map(|c| {
            (
                c["command"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(rt.block_on(board(&redis, "commands")), expected);
    rt.block_on(redis.remove());
}

#[test]
fn hpti_live_prints_the_events_of_an_ingest_as_they_arrive() {
    let rt = runtime();
    let Some(redis) = rt.block_on(TestRedis::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &redis);
    let expected = 40;
    let mut live = hpti()
        .arg("--config")
        .arg(&config)
        .args(["live", "--json", "--last", "0", "--count"])
        .arg(expected.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says on stderr when it follows; what is published after that is printed.
    let mut stderr = BufReader::new(live.stderr.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("following sinks.live") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0 && Instant::now() < deadline,
            "hpti live never started following"
        );
    }
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie"])
        .arg(fixture("testdata/cowrie/cowrie.json")));
    assert!(output.status.success());
    // Read while it writes: a pipe left unread would block it once full.
    let mut stdout = live.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let started = Instant::now();
    let finished = loop {
        if let Some(status) = live.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "hpti live did not stop after --count events"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(finished.success());
    let out = reader.join().unwrap();
    let printed: Vec<Event> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed.len(), expected);
    let ids: BTreeSet<_> = printed.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), expected, "no event printed twice");
    let stored: BTreeSet<_> = rt.block_on(async {
        let db = dir.path().join("data/hpti.db");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap();
        let ids: Vec<String> = sqlx::query_scalar("SELECT lower(hex(id)) FROM events")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        ids.into_iter().collect()
    });
    let printed_ids: BTreeSet<String> = ids
        .iter()
        .map(|id| id.to_string().replace('-', ""))
        .collect();
    assert!(
        printed_ids.is_subset(&stored),
        "hpti live printed the ingested events"
    );

    // Without --json, one escaped summary line per event.
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["live", "--last", "5", "--count", "5"]));
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.lines().all(|l| l.split("  ").count() >= 4),
        "time, sensor, source, kind: {text}"
    );
    rt.block_on(redis.remove());
}

/// Entries in the test's Redis stream of events (0 while Redis is away).
fn stream_len(redis: &TestRedis) -> u64 {
    runtime().block_on(async {
        let Ok(client) = redis::Client::open(redis.url.as_str()) else {
            return 0;
        };
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            return 0;
        };
        connection
            .xlen(format!("{}:events", redis.prefix))
            .await
            .unwrap_or(0)
    })
}

#[test]
fn redis_down_then_back_counts_its_drops_and_never_stalls_the_durable_sink() {
    let rt = runtime();
    let Some(redis) = rt.block_on(TestRedis::create()) else {
        return;
    };
    let outage_secs: u64 = std::env::var("HPTI_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let server = redis
        .url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = Outage::start(&server);
    let through_proxy = format!("redis://127.0.0.1:{}", proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("feed.jsonl");
    std::fs::write(&input, "").unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n\
             [pipeline]\nsink_queue_batches = 2\n\n[sensors]\n\n\
             [sources.feed]\ntype = \"file\"\nformat = \"hpti\"\npaths = [{:?}]\npoll_interval = \"50ms\"\n\n\
             [sinks.main]\ntype = \"sqlite\"\n\n\
             [sinks.live]\ntype = \"redis\"\nurl = {:?}\nprefix = {:?}\ntimeout = \"1s\"\n",
            dir.path().join("data"),
            input,
            through_proxy,
            redis.prefix
        ),
    )
    .unwrap();
    let (mut child, mut log) = spawn_run(&config);
    let metrics = metrics_address(&mut log);
    let drain = panics_in(log);
    let series = |outcome: &str, sink: &str| {
        metric(
            &metrics,
            &format!(
                "hpti_events_total{{stage=\"sink\",component=\"{sink}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    let mut feed = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    let base = hpti_core::event::Timestamp::now();
    let mut written = 0u64;
    let mut append = |written: &mut u64, n: u64| {
        for _ in 0..n {
            let event = Event::new(
                "outage-test",
                hpti_core::event::Protocol::Ssh,
                std::net::IpAddr::from([198, 51, 100, (*written % 200) as u8 + 1]),
                hpti_core::event::EventKind::CommandInput {
                    command: format!("echo {written}"),
                },
            )
            .with_time(base.saturating_add_micros(*written as i64));
            writeln!(feed, "{}", serde_json::to_string(&event).unwrap()).unwrap();
            *written += 1;
        }
        feed.flush().unwrap();
    };
    let state = || {
        format!(
            "main delivered {}, live delivered {} dropped {} failed {}, stream {}",
            series("delivered", "main"),
            series("delivered", "live"),
            series("dropped", "live"),
            series("failed", "live"),
            stream_len(&redis)
        )
    };
    let wait_until = |done: &dyn Fn() -> bool, within: Duration| {
        let deadline = Instant::now() + within;
        while !done() {
            assert!(Instant::now() < deadline, "timed out: {}", state());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // At a pace, as after the outage: a burst larger than the two-batch queue is dropped
    // by design while the first connection is still being made (seen in CI: 19 of 500).
    for _ in 0..10 {
        append(&mut written, 50);
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_until(
        &|| series("delivered", "main") == 500 && series("delivered", "live") == 500,
        Duration::from_secs(60),
    );
    assert_eq!(stream_len(&redis), 500, "published before the outage");

    // Redis goes away; events keep arriving. The durable sink keeps pace all along.
    proxy.set_up(false);
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(outage_secs) {
        append(&mut written, 50);
        let expected = written;
        wait_until(
            &|| series("delivered", "main") == expected,
            Duration::from_secs(10),
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "hpti run exited during the outage"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let during = written - 500;
    // Nothing reached Redis; what its small queue could not hold was dropped, counted.
    let dropped = series("dropped", "live");
    assert_eq!(series("delivered", "live"), 500, "{}", state());
    assert!(
        dropped > 0,
        "the outage cost Redis events, counted: {}",
        state()
    );
    assert_eq!(series("failed", "main"), 0);
    let (code, report) = common::health(&metrics);
    assert_eq!(code, 503, "{report}");
    assert_eq!(
        common::component_state(&report, "sink", "live"),
        "failing",
        "{report}"
    );
    assert_eq!(
        common::component_state(&report, "sink", "main"),
        "ok",
        "{report}"
    );

    // Back: what waited in its queue is published (within the 10 s longest backoff),
    // and new events flow again; nothing more is dropped.
    proxy.set_up(true);
    wait_until(
        &|| series("dropped", "live") + series("delivered", "live") == written,
        Duration::from_secs(60),
    );
    let dropped = series("dropped", "live");
    // At the pace of the outage's traffic: a burst larger than the two-batch queue
    // would be dropped by design, Redis up or not.
    for _ in 0..4 {
        append(&mut written, 50);
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_until(
        &|| series("dropped", "live") + series("delivered", "live") == written,
        Duration::from_secs(60),
    );
    assert_eq!(
        series("dropped", "live"),
        dropped,
        "after Redis came back nothing more is dropped"
    );
    assert_eq!(
        stream_len(&redis),
        series("delivered", "live"),
        "every event counted as delivered is in the stream"
    );
    assert_eq!(
        series("delivered", "main"),
        written,
        "the durable sink lost nothing"
    );
    let (code, report) = common::health(&metrics);
    assert_eq!(
        (code, common::component_state(&report, "sink", "live")),
        (200, "ok".into()),
        "{report}"
    );

    stop_cleanly(child, drain);
    let _ = writeln!(
        std::io::stderr(),
        "redis outage of {outage_secs} s: {during} events during it, all stored by SQLite; \
         Redis dropped {dropped} (counted) and published the rest once back"
    );
    rt.block_on(redis.remove());
}
