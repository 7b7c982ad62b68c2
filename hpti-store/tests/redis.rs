//! The Redis sink against the real server (`HPTI_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), each test under a key prefix of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::component::{BuildContext, ComponentId};
use hpti_core::error::ErrorClass;
use hpti_core::event::{Asn, AuthMethod, Event, EventKind, Geo, Protocol, Timestamp};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::secret::Secret;
use hpti_core::sink::Sink;
use hpti_core::testing::sink_conformance;
use hpti_store::live::LiveFeed;
use hpti_store::redis::{RedisFeed, RedisKeys, credential_member};
use hpti_store::testing::TestRedis;
use hpti_store::{RedisSink, RedisSinkConfig};
use redis::AsyncCommands as _;

fn context(dir: &Path) -> BuildContext {
    BuildContext::new(
        ComponentId::new("live").unwrap(),
        dir,
        PipelineMetrics::default(),
    )
}

fn config(redis: &TestRedis) -> RedisSinkConfig {
    RedisSinkConfig {
        url: Some(Secret::new(redis.url.clone())),
        prefix: redis.prefix.clone(),
        stream_max_len: 100_000,
        ..RedisSinkConfig::default()
    }
}

async fn open(config: &RedisSinkConfig) -> RedisSink {
    let dir = tempfile::tempdir().unwrap();
    RedisSink::open(config.options(&context(dir.path())).unwrap()).await
}

/// Every entry of the test's stream, decoded.
async fn streamed(redis: &TestRedis) -> Vec<Event> {
    let mut connection = redis.connection().await;
    let reply: redis::streams::StreamRangeReply = connection
        .xrange_all(RedisKeys::new(redis.prefix.clone()).stream())
        .await
        .unwrap();
    reply
        .ids
        .iter()
        .map(|entry| {
            let json: String = entry.get("event").unwrap();
            serde_json::from_str(&json).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn passes_the_sink_conformance_suite_through_its_stream() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let sink = open(&config(&redis)).await;
    sink_conformance(
        &sink,
        || async { streamed(&redis).await.len() as u64 },
        |id| {
            let redis = &redis;
            async move { streamed(redis).await.into_iter().find(|e| e.id == id) }
        },
    )
    .await;
    redis.remove().await;
}

fn login(ip: [u8; 4], time: Timestamp, user: &str, password: &str) -> Event {
    Event::new(
        "ssh-a",
        Protocol::Ssh,
        IpAddr::from(ip),
        EventKind::LoginAttempt {
            username: user.into(),
            password: Some(password.into()),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::Password,
            success: false,
        },
    )
    .with_time(time)
}

fn command(ip: [u8; 4], time: Timestamp, line: &str) -> Event {
    Event::new(
        "telnet-b",
        Protocol::Telnet,
        IpAddr::from(ip),
        EventKind::CommandInput {
            command: line.into(),
        },
    )
    .with_time(time)
}

#[tokio::test]
async fn a_batch_is_counted_by_minute_kind_sensor_and_day() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let sink = open(&config(&redis)).await;
    let t0 = Timestamp::parse_rfc3339("2026-12-05T10:00:10Z").unwrap();
    let t1 = Timestamp::parse_rfc3339("2026-12-05T10:01:30Z").unwrap();
    let t2 = Timestamp::parse_rfc3339("2026-12-06T00:00:01Z").unwrap();
    let mut enriched = command([203, 0, 113, 7], t1, "uname -a");
    enriched.enrichment.geo = Some(Geo {
        country_code: Some("NL".into()),
        ..Geo::default()
    });
    enriched.enrichment.asn = Some(Asn {
        number: 64_500,
        organization: None,
    });
    let events = [
        login([203, 0, 113, 7], t0, "root", "123456"),
        login([203, 0, 113, 7], t0, "root", "123456"),
        login([198, 51, 100, 1], t0, "ad:min", "x"),
        enriched,
        command([198, 51, 100, 1], t1, "uname -a"),
        command([198, 51, 100, 2], t2, "cat /proc/cpuinfo"),
    ];
    let refs: Vec<&Event> = events.iter().collect();
    assert_eq!(sink.write(&refs).await.unwrap().rejected.len(), 0);

    let keys = RedisKeys::new(redis.prefix.clone());
    let mut c = redis.connection().await;
    let minute0: std::collections::HashMap<String, i64> = c.hgetall(keys.minute(t0)).await.unwrap();
    assert_eq!(
        minute0,
        [
            ("total".to_owned(), 3),
            ("kind:login.attempt".to_owned(), 3),
            ("sensor:ssh-a".to_owned(), 3)
        ]
        .into_iter()
        .collect()
    );
    let minute1: std::collections::HashMap<String, i64> = c.hgetall(keys.minute(t1)).await.unwrap();
    assert_eq!(minute1["kind:command.input"], 2);
    assert_eq!(minute1["sensor:telnet-b"], 2);
    let hour: u64 = c.pfcount(keys.sources_hour(t0)).await.unwrap();
    assert_eq!(hour, 2, "two addresses in the first hour");
    let day: u64 = c.pfcount(keys.sources_day(t0)).await.unwrap();
    assert_eq!(day, 2);
    let next_day: u64 = c.pfcount(keys.sources_day(t2)).await.unwrap();
    assert_eq!(next_day, 1);

    let attackers: Vec<(String, f64)> = c
        .zrevrange_withscores(keys.top("attackers", t0), 0, -1)
        .await
        .unwrap();
    assert_eq!(
        attackers,
        vec![("203.0.113.7".into(), 3.0), ("198.51.100.1".into(), 2.0)]
    );
    let root: f64 = c
        .zscore(
            keys.top("credentials", t0),
            credential_member("root", Some("123456")),
        )
        .await
        .unwrap();
    assert_eq!(root, 2.0);
    let colon: f64 = c
        .zscore(
            keys.top("credentials", t0),
            credential_member("ad:min", Some("x")),
        )
        .await
        .unwrap();
    assert_eq!(colon, 1.0, "a colon in a user name is no separator");
    let uname: f64 = c
        .zscore(keys.top("commands", t0), "uname -a")
        .await
        .unwrap();
    assert_eq!(uname, 2.0);
    let later: f64 = c
        .zscore(keys.top("commands", t2), "cat /proc/cpuinfo")
        .await
        .unwrap();
    assert_eq!(later, 1.0, "counted on the event's own day");
    let nl: f64 = c.zscore(keys.top("countries", t1), "NL").await.unwrap();
    assert_eq!(nl, 1.0);
    let asn: f64 = c.zscore(keys.top("asns", t1), "64500").await.unwrap();
    assert_eq!(asn, 1.0);

    for key in redis.keys().await {
        let ttl: i64 = c.ttl(&key).await.unwrap();
        if key == keys.stream() {
            assert_eq!(ttl, -1, "the stream is capped by length, not time");
        } else {
            assert!(
                ttl > 0 && ttl <= 8 * 86_400,
                "{key} expires with the retention: {ttl}"
            );
        }
    }
    redis.remove().await;
}

#[tokio::test]
async fn a_flood_of_distinct_values_keeps_only_the_top_members_and_cuts_long_ones() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let mut config = config(&redis);
    config.top_capacity = 5;
    config.max_member_bytes = 64;
    config.stream_max_len = 100;
    let sink = open(&config).await;
    let time = Timestamp::parse_rfc3339("2026-12-05T10:00:00Z").unwrap();
    let popular: Vec<Event> = (0..10)
        .map(|_| command([192, 0, 2, 1], time, "wget http://x/bot"))
        .collect();
    sink.write(&popular.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    for round in 0..5 {
        let flood: Vec<Event> = (0..1000)
            .map(|i| {
                command(
                    [192, 0, 2, 2],
                    time,
                    &format!("{round}-{i}-{}", "A".repeat(200)),
                )
            })
            .collect();
        sink.write(&flood.iter().collect::<Vec<_>>()).await.unwrap();
    }
    let keys = RedisKeys::new(redis.prefix.clone());
    let mut c = redis.connection().await;
    let members: Vec<(String, f64)> = c
        .zrevrange_withscores(keys.top("commands", time), 0, -1)
        .await
        .unwrap();
    assert_eq!(members.len(), 5, "capped at top_capacity");
    assert_eq!(members[0], ("wget http://x/bot".to_owned(), 10.0));
    assert!(members.iter().all(|(m, _)| m.len() <= 64), "{members:?}");
    let length: u64 = c.xlen(keys.stream()).await.unwrap();
    assert!(
        (100..1000).contains(&length),
        "the stream is trimmed near stream_max_len: {length}"
    );
    redis.remove().await;
}

#[tokio::test]
async fn the_feed_gives_the_last_events_then_what_arrives_and_skips_foreign_entries() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let config = config(&redis);
    let dir = tempfile::tempdir().unwrap();
    let options = config.options(&context(dir.path())).unwrap();
    let sink = RedisSink::open(options.clone()).await;
    let time = Timestamp::now();
    let first: Vec<Event> = (0..5)
        .map(|i| command([192, 0, 2, 1], time, &format!("first {i}")))
        .collect();
    sink.write(&first.iter().collect::<Vec<_>>()).await.unwrap();

    let mut feed = RedisFeed::connect(&options).await.unwrap();
    let recent = feed.recent(2).await.unwrap();
    assert_eq!(recent.events, first[3..].to_vec());
    let quiet = feed.next(Duration::from_millis(200)).await.unwrap();
    assert!(quiet.events.is_empty(), "nothing new yet");

    let mut c = redis.connection().await;
    let stream = RedisKeys::new(redis.prefix.clone()).stream();
    let _: String = c.xadd(&stream, "*", &[("other", "x")]).await.unwrap();
    let _: String = c
        .xadd(&stream, "*", &[("event", "{not json")])
        .await
        .unwrap();
    let second: Vec<Event> = (0..3)
        .map(|i| command([192, 0, 2, 1], time, &format!("second {i}")))
        .collect();
    let waiter = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut skipped = Vec::new();
        while got.len() < 3 {
            let read = feed.next(Duration::from_secs(1)).await.unwrap();
            got.extend(read.events);
            skipped.extend(read.skipped);
        }
        (got, skipped)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sink.write(&second.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let (got, skipped) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, second);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].contains("no field `event`"), "{skipped:?}");
    assert!(skipped[1].contains("not an hpti event"), "{skipped:?}");

    let mut empty = RedisFeed::connect(&options).await.unwrap();
    let _ = empty.recent(0).await.unwrap();
    let nothing = empty.next(Duration::from_millis(100)).await.unwrap();
    assert!(
        nothing.events.is_empty() && nothing.skipped.is_empty(),
        "`recent(0)` starts after the newest entry"
    );
    redis.remove().await;
}

#[tokio::test]
async fn a_redis_that_is_down_neither_stops_the_start_nor_hides_the_failure() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RedisSinkConfig {
        url: Some(Secret::new(format!("redis://127.0.0.1:{port}"))),
        timeout: Duration::from_millis(500),
        ..RedisSinkConfig::default()
    };
    let started = std::time::Instant::now();
    let sink = Arc::new(open(&config).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "start waited {:?}",
        started.elapsed()
    );
    let event = command([192, 0, 2, 1], Timestamp::now(), "id");
    let err = sink.write(&[&event]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Temporary, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cx = context(dir.path());
    let mut config = RedisSinkConfig {
        url: Some(Secret::new("http://not-redis")),
        ..RedisSinkConfig::default()
    };
    let err = config.options(&cx).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("url"), "{err}");
    config.url = Some(Secret::new("redis://127.0.0.1"));
    config.prefix = "has space".into();
    assert_eq!(
        config.options(&cx).unwrap_err().key.as_deref(),
        Some("prefix")
    );
    config.prefix = "ok".into();
    config.top_capacity = 0;
    assert_eq!(
        config.options(&cx).unwrap_err().key.as_deref(),
        Some("top_capacity")
    );
    config.top_capacity = 1;
    config.url = None;
    assert!(
        config
            .options(&cx)
            .unwrap_err()
            .to_string()
            .contains("needs `url`")
    );
}
