//! The caching, single-flight, rate-limited, retrying wrapper around a `Lookup`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::enricher::Enricher;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_enrich::cached::{CachedConfig, CachedEnricher, Rate, RedisCache};
use hpti_enrich::lookup::{Lookup, LookupError, LookupErrorKind};

/// Answers from a script (then `Ok(Some(score))`), counting calls.
struct Scripted {
    name: String,
    script: Mutex<VecDeque<Result<Option<u8>, LookupError>>>,
    calls: Arc<AtomicUsize>,
    delay: Duration,
}

impl Scripted {
    fn new(name: &str, script: Vec<Result<Option<u8>, LookupError>>) -> (Self, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let lookup = Self {
            name: name.into(),
            script: Mutex::new(script.into()),
            calls: calls.clone(),
            delay: Duration::ZERO,
        };
        (lookup, calls)
    }
}

#[async_trait]
impl Lookup for Scripted {
    type Key = IpAddr;
    type Value = u8;

    fn name(&self) -> &str {
        &self.name
    }

    fn key(&self, event: &Event) -> Option<IpAddr> {
        Some(event.src_ip)
    }

    async fn fetch(&self, _key: &IpAddr) -> Result<Option<u8>, LookupError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Some(42)))
    }

    fn apply(&self, score: &u8, event: &mut Event) {
        event.enrichment.tags.push(format!("score-{score}"));
    }
}

fn temporary() -> Result<Option<u8>, LookupError> {
    Err(LookupError::new(LookupErrorKind::Temporary, "HTTP 503"))
}

fn event(ip: &str) -> Event {
    Event::new(
        "t",
        Protocol::Ssh,
        ip.parse().unwrap(),
        EventKind::SessionStarted,
    )
}

fn quick() -> CachedConfig {
    CachedConfig {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        budget: Duration::from_secs(5),
        ..CachedConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_address_costs_one_fetch() {
    let (mut lookup, calls) = Scripted::new("burst", vec![]);
    lookup.delay = Duration::from_millis(50);
    let enricher = Arc::new(CachedEnricher::new(lookup, quick()));
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let enricher = enricher.clone();
            tokio::spawn(async move {
                let mut e = event("198.51.100.7");
                enricher.enrich(&mut e).await.unwrap();
                e.enrichment.tags
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), vec!["score-42".to_owned()]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_keys_are_cached_as_negative_answers_and_failures_are_not() {
    let (lookup, calls) = Scripted::new("negative", vec![Ok(None), temporary()]);
    let enricher = CachedEnricher::new(
        lookup,
        CachedConfig {
            max_retries: 0,
            ..quick()
        },
    );
    for _ in 0..3 {
        let mut e = event("198.51.100.8");
        enricher.enrich(&mut e).await.unwrap();
        assert!(e.enrichment.tags.is_empty());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "nothing known is remembered"
    );
    let mut other = event("198.51.100.9");
    assert!(
        enricher.enrich(&mut other).await.is_err(),
        "the failure surfaces"
    );
    let mut again = event("198.51.100.9");
    enricher.enrich(&mut again).await.unwrap();
    assert_eq!(
        again.enrichment.tags,
        vec!["score-42".to_owned()],
        "and is not cached"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_honour_retry_after_within_the_budget() {
    let rate_limited = Err(LookupError::new(
        LookupErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        },
        "HTTP 429",
    ));
    let (lookup, calls) = Scripted::new("retry-after", vec![rate_limited.clone(), temporary()]);
    let enricher = CachedEnricher::new(
        lookup,
        CachedConfig {
            budget: Duration::from_secs(10),
            ..quick()
        },
    );
    let started = tokio::time::Instant::now();
    let mut e = event("198.51.100.10");
    enricher.enrich(&mut e).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited as the service asked"
    );

    // A Retry-After beyond the budget is not waited for.
    let (lookup, calls) = Scripted::new("too-long", vec![rate_limited]);
    let enricher = CachedEnricher::new(
        lookup,
        CachedConfig {
            budget: Duration::from_secs(1),
            ..quick()
        },
    );
    let mut e = event("198.51.100.11");
    assert!(enricher.enrich(&mut e).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let (lookup, calls) = Scripted::new(
        "unauthorized",
        vec![Err(LookupError::new(
            LookupErrorKind::Unauthorized,
            "HTTP 401",
        ))],
    );
    let enricher = CachedEnricher::new(lookup, quick());
    let mut e = event("198.51.100.12");
    assert!(enricher.enrich(&mut e).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_circuit_opens_after_consecutive_failures() {
    let (lookup, calls) = Scripted::new("breaker", (0..100).map(|_| temporary()).collect());
    let enricher = CachedEnricher::new(
        lookup,
        CachedConfig {
            max_retries: 0,
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(3600),
            ..quick()
        },
    );
    for n in 0..10 {
        let mut e = event(&format!("198.51.100.{}", 20 + n));
        assert!(enricher.enrich(&mut e).await.is_err());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "no calls while the circuit is open"
    );
}

#[tokio::test]
async fn a_refused_key_or_a_long_retry_after_holds_the_whole_source() {
    for first in [
        Err(LookupError::new(LookupErrorKind::Unauthorized, "HTTP 401")),
        Err(LookupError::new(
            LookupErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(6 * 3600)),
            },
            "HTTP 429: daily quota",
        )),
    ] {
        let (lookup, calls) = Scripted::new("held", vec![first]);
        let enricher = CachedEnricher::new(lookup, quick());
        for n in 0..5 {
            let mut e = event(&format!("198.51.100.{}", 60 + n));
            assert!(enricher.enrich(&mut e).await.is_err());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "other addresses are not sent"
        );
    }
}

#[tokio::test]
async fn sources_sharing_a_quota_share_one_limiter() {
    let limiter = Rate {
        count: 3,
        per: Duration::from_secs(3600),
    }
    .limiter()
    .unwrap();
    let config = CachedConfig {
        budget: Duration::from_millis(100),
        ..quick()
    };
    let (ip, ip_calls) = Scripted::new("vt-ip", vec![]);
    let (file, file_calls) = Scripted::new("vt-file", vec![]);
    let ip = CachedEnricher::new(ip, config.clone()).with_shared_limiter(limiter.clone());
    let file = CachedEnricher::new(file, config).with_shared_limiter(limiter);
    let mut refused = 0;
    for n in 0..4 {
        let (mut a, mut b) = (
            event(&format!("198.51.100.{}", 70 + n)),
            event(&format!("198.51.101.{}", 70 + n)),
        );
        refused += usize::from(ip.enrich(&mut a).await.is_err());
        refused += usize::from(file.enrich(&mut b).await.is_err());
    }
    let calls = ip_calls.load(Ordering::SeqCst) + file_calls.load(Ordering::SeqCst);
    assert_eq!(calls, 3, "three permits between the two sources");
    assert_eq!(refused, 5);
}

#[tokio::test]
async fn the_rate_limit_fails_fast_when_the_budget_cannot_wait() {
    let (lookup, calls) = Scripted::new("limited", vec![]);
    let enricher = CachedEnricher::new(
        lookup,
        CachedConfig {
            rate: Some(Rate {
                count: 2,
                per: Duration::from_secs(3600),
            }),
            budget: Duration::from_millis(100),
            ..quick()
        },
    );
    for n in 0..2 {
        let mut e = event(&format!("198.51.100.{}", 40 + n));
        enricher.enrich(&mut e).await.unwrap();
    }
    let mut third = event("198.51.100.42");
    let err = enricher.enrich(&mut third).await.unwrap_err();
    assert!(err.to_string().contains("rate limit"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

async fn redis() -> Option<RedisCache> {
    let url = std::env::var("HPTI_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match RedisCache::connect(&url).await {
        Ok(redis) => Some(redis),
        Err(err) if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("Redis at {url} is required (HPTI_REQUIRE_SERVICES=1): {err}")
        }
        Err(err) => {
            eprintln!(
                "\n*** SKIPPED: Redis at {url} is not available ({err}); set HPTI_REDIS_URL ***\n"
            );
            None
        }
    }
}

#[tokio::test]
async fn processes_share_answers_through_redis() {
    let Some(redis) = redis().await else { return };
    let name = format!("redis-test-{}", hpti_core::event::EventId::new());
    let (first, first_calls) = Scripted::new(&name, vec![Ok(Some(7)), Ok(None)]);
    let (second, second_calls) = Scripted::new(&name, vec![]);
    let one = CachedEnricher::new(first, quick()).with_redis(redis.clone());
    let two = CachedEnricher::new(second, quick()).with_redis(redis);
    let mut a = event("198.51.100.50");
    one.enrich(&mut a).await.unwrap();
    let mut b = event("198.51.100.51");
    one.enrich(&mut b).await.unwrap();
    assert_eq!(first_calls.load(Ordering::SeqCst), 2);

    // Another process (fresh memory cache) gets both answers, positive and negative,
    // from Redis without asking the source.
    let mut a2 = event("198.51.100.50");
    two.enrich(&mut a2).await.unwrap();
    assert_eq!(a2.enrichment.tags, vec!["score-7".to_owned()]);
    let mut b2 = event("198.51.100.51");
    two.enrich(&mut b2).await.unwrap();
    assert!(b2.enrichment.tags.is_empty());
    assert_eq!(second_calls.load(Ordering::SeqCst), 0);
}

/// A Redis that is down (refusing) or deaf (accepting, never answering) once hung
/// `hpti run` at start for minutes: now lookups go on without it, each within the
/// cache's timeouts, and while it is down only one attempt is made per retry period.
#[tokio::test]
async fn a_redis_that_is_down_or_deaf_neither_blocks_nor_fails_lookups() {
    let refusing = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let deaf = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let deaf_addr = deaf.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = deaf.accept().await {
            held.push(socket);
        }
    });
    for addr in [refusing, deaf_addr] {
        let redis = RedisCache::lazy(&format!("redis://{addr}")).unwrap();
        let (lookup, calls) = Scripted::new(&format!("down-{addr}"), vec![]);
        let enricher = CachedEnricher::new(lookup, quick()).with_redis(redis.clone());
        let started = std::time::Instant::now();
        let mut first = event("198.51.100.60");
        enricher.enrich(&mut first).await.unwrap();
        let first_took = started.elapsed();
        assert_eq!(first.enrichment.tags, vec!["score-42".to_owned()], "{addr}");
        assert!(
            first_took < RedisCache::CONNECT_TIMEOUT * 3 + Duration::from_secs(1),
            "{addr}: the first lookup took {first_took:?}"
        );
        assert!(!redis.is_connected());
        // Within the retry period nobody waits on Redis again.
        let started = std::time::Instant::now();
        for n in 0..20 {
            let mut next = event(&format!("198.51.100.{}", 100 + n));
            enricher.enrich(&mut next).await.unwrap();
            assert_eq!(next.enrichment.tags, vec!["score-42".to_owned()]);
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{addr}: 20 lookups without Redis took {:?}",
            started.elapsed()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 21);
    }
}

/// Copies bytes between each connection accepted on `listener` and `target`.
async fn forward(listener: tokio::net::TcpListener, target: String) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// Redis down at start, then back (a forwarder to the real one appears on its port):
/// the cache connects on its next attempt and shares answers again, no restart.
#[tokio::test]
async fn the_cache_uses_redis_again_once_it_is_back() {
    let Some(_) = redis().await else { return };
    let real = std::env::var("HPTI_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let redis = RedisCache::lazy(&format!("redis://{port}")).unwrap();
    let name = format!("redis-back-{}", hpti_core::event::EventId::new());
    let (lookup, _) = Scripted::new(&name, vec![Ok(Some(9))]);
    let enricher = CachedEnricher::new(lookup, quick()).with_redis(redis.clone());
    let mut down = event("198.51.100.70");
    enricher.enrich(&mut down).await.unwrap();
    assert!(!redis.is_connected());

    tokio::spawn(forward(
        tokio::net::TcpListener::bind(port).await.unwrap(),
        real,
    ));
    tokio::time::sleep(RedisCache::RETRY + Duration::from_millis(200)).await;
    let mut back = event("198.51.100.71");
    enricher.enrich(&mut back).await.unwrap();
    assert!(redis.is_connected(), "connected on the next attempt");
    // Another process finds the answer written after Redis came back.
    let (other, other_calls) = Scripted::new(&name, vec![]);
    let other = CachedEnricher::new(other, quick())
        .with_redis(RedisCache::lazy(&format!("redis://{port}")).unwrap());
    let mut again = event("198.51.100.71");
    other.enrich(&mut again).await.unwrap();
    assert_eq!(again.enrichment.tags, vec!["score-42".to_owned()]);
    assert_eq!(other_calls.load(Ordering::SeqCst), 0, "answered by Redis");
}

mod never_loses_events {
    use super::*;
    use hpti_core::pipeline::{Pipeline, PipelineConfig};
    use hpti_core::sink::{Sink, SinkError, WriteReport};
    use proptest::prelude::*;

    #[derive(Default)]
    struct Ids(Mutex<Vec<hpti_core::event::EventId>>);

    #[async_trait]
    impl Sink for Ids {
        fn name(&self) -> &str {
            "ids"
        }
        async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
            self.0.lock().unwrap().extend(events.iter().map(|e| e.id));
            Ok(WriteReport::default())
        }
    }

    fn outcome() -> impl Strategy<Value = Result<Option<u8>, LookupError>> {
        prop_oneof![
            Just(Ok(None)),
            any::<u8>().prop_map(|s| Ok(Some(s))),
            Just(temporary()),
            Just(Err(LookupError::new(LookupErrorKind::Unauthorized, "401"))),
            Just(Err(LookupError::new(LookupErrorKind::Rejected, "422"))),
            (0u64..3).prop_map(|s| Err(LookupError::new(
                LookupErrorKind::RateLimited {
                    retry_after: Some(Duration::from_millis(s))
                },
                "429"
            ))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn any_sequence_of_api_failures_never_loses_an_event(
            script in proptest::collection::vec(outcome(), 0..60),
            events in 1usize..80,
        ) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let stored = runtime.block_on(async move {
                let dir = tempfile::tempdir().unwrap();
                let (lookup, _) = Scripted::new("flaky", script);
                let enricher = CachedEnricher::new(lookup, CachedConfig {
                    breaker_failures: 4,
                    breaker_cooldown: Duration::from_millis(5),
                    budget: Duration::from_millis(50),
                    ..quick()
                });
                let sink = Arc::new(Ids::default());
                let pipeline = Pipeline::builder(PipelineConfig::with_dead_letter_path(dir.path().join("dlq.jsonl")))
                .enricher(hpti_core::component::ComponentId::new("test-enricher").unwrap(), Arc::new(enricher))
                .sink(hpti_core::component::ComponentId::new("main").unwrap(), sink.clone())
                .start()
                .unwrap();
                let emitter = pipeline.emitter();
                for n in 0..events {
                    let e = event(&format!("198.51.{}.{}", n / 200, n % 200 + 1));
                    emitter.emit(e).await.unwrap();
                }
                drop(emitter);
                pipeline.shutdown().await;
                sink.0.lock().unwrap().len()
            });
            prop_assert_eq!(stored, events);
        }
    }
}
