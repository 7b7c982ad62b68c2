//! The `hpti` binary with a Redis sink beside SQLite, against the real Redis
//! (`HPTI_REDIS_URL`, default `redis://127.0.0.1:6379`), each test under a key prefix of
//! its own: the counters agree with the store, and `hpti live` follows the stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{fixture, hpti, ingest_fixtures, run, runtime, stderr};

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
