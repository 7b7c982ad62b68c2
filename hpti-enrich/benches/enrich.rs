//! The cost of one enrichment on the paths that dominate in production: a cache hit of a
//! remote lookup (memory level) and a GeoIP+ASN lookup.
//!
//! `cargo bench -p hpti-enrich --bench enrich` prints nanoseconds per event (best of 3
//! runs of 1,000,000 events from 5,000 addresses, the address mix of
//! `hpti bench pipeline`), on one task and on 256 concurrent tasks over the runtime's
//! threads. GeoIP uses `HPTI_BENCH_GEOIP_DIR/Bench-City.mmdb` and `Bench-ASN.mmdb` when
//! set (production-sized databases from `scripts/make-bench-geoip.py`), else MaxMind's
//! test databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark panics on broken setup

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hpti_core::enricher::Enricher;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_enrich::cached::{CachedConfig, CachedEnricher};
use hpti_enrich::geoip::{GeoIpConfig, GeoIpEnricher};
use hpti_enrich::lookup::{Lookup, LookupError};

const EVENTS: usize = 1_000_000;
const ADDRESSES: u32 = 5_000;
const RUNS: usize = 3;
const TASKS: usize = 256;

/// The addresses of `hpti bench pipeline`'s synthetic traffic.
fn address(n: u32) -> IpAddr {
    IpAddr::from([
        [45, 61, 80, 103, 118, 141, 185, 193, 218, 222][(n % 10) as usize],
        (n / 10 % 256) as u8,
        (n * 7 % 256) as u8,
        (n % 250 + 1) as u8,
    ])
}

/// A remote source whose answers are all cached after the first round.
struct Reputation;

#[async_trait]
impl Lookup for Reputation {
    type Key = IpAddr;
    type Value = u8;
    fn name(&self) -> &str {
        "bench"
    }
    fn key(&self, event: &Event) -> Option<IpAddr> {
        Some(event.src_ip)
    }
    async fn fetch(&self, _: &IpAddr) -> Result<Option<u8>, LookupError> {
        Ok(Some(42))
    }
    fn apply(&self, value: &u8, event: &mut Event) {
        event.enrichment.tags.push(format!("score-{value}"));
    }
}

fn events() -> Vec<Event> {
    (0..EVENTS)
        .map(|i| {
            let ip = address((i as u32).wrapping_mul(2_654_435_761) % ADDRESSES);
            Event::new("bench", Protocol::Ssh, ip, EventKind::SessionStarted)
        })
        .collect()
}

/// Best-of-`RUNS` nanoseconds per event, enriching clones of `events` on `tasks` tasks.
async fn measure(enricher: Arc<dyn Enricher>, events: &[Event], tasks: usize) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let chunks: Vec<Vec<Event>> = events
            .chunks(events.len().div_ceil(tasks))
            .map(<[Event]>::to_vec)
            .collect();
        let start = Instant::now();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|mut chunk| {
                let enricher = enricher.clone();
                tokio::spawn(async move {
                    for event in &mut chunk {
                        enricher.enrich(event).await.unwrap();
                    }
                    chunk.len()
                })
            })
            .collect();
        for handle in handles {
            std::hint::black_box(handle.await.unwrap());
        }
        best = best.min(start.elapsed());
    }
    best.as_nanos() as f64 / events.len() as f64
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = events();
    let geoip_dir = std::env::var_os("HPTI_BENCH_GEOIP_DIR").map(PathBuf::from);
    let (city, asn, databases) = match &geoip_dir {
        Some(dir) => (
            dir.join("Bench-City.mmdb"),
            dir.join("Bench-ASN.mmdb"),
            "production-sized",
        ),
        None => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/geoip");
            (
                dir.join("GeoIP2-City-Test.mmdb"),
                dir.join("GeoLite2-ASN-Test.mmdb"),
                "MaxMind test",
            )
        }
    };
    let geoip: Arc<dyn Enricher> = Arc::new(
        GeoIpEnricher::open(&GeoIpConfig {
            city: Some(city),
            asn: Some(asn),
            anonymous: None,
            reload_check: Duration::from_secs(3600),
        })
        .unwrap(),
    );
    let cached: Arc<dyn Enricher> =
        Arc::new(CachedEnricher::new(Reputation, CachedConfig::default()));
    runtime.block_on(async {
        // Fill the cache: every address once.
        for n in 0..ADDRESSES {
            let mut event =
                Event::new("warm", Protocol::Ssh, address(n), EventKind::SessionStarted);
            cached.enrich(&mut event).await.unwrap();
        }
        let mut hits = 0;
        for event in events.iter().take(1000) {
            let mut event = event.clone();
            geoip.enrich(&mut event).await.unwrap();
            hits += usize::from(event.enrichment.geo.is_some());
        }
        println!("{:<34} {:>10} {:>12}", "path", "ns/event", "events/s");
        let cases: [(&str, &Arc<dyn Enricher>, usize); 4] = [
            ("cache hit (memory), 1 task", &cached, 1),
            ("cache hit (memory), 256 tasks", &cached, TASKS),
            ("geoip+asn, 1 task", &geoip, 1),
            ("geoip+asn, 256 tasks", &geoip, TASKS),
        ];
        for (name, enricher, tasks) in cases {
            if filter.as_deref().is_some_and(|f| !name.contains(f)) {
                continue;
            }
            let ns = measure(enricher.clone(), &events, tasks).await;
            println!("{name:<34} {ns:>10.0} {:>12.0}", 1e9 / ns);
        }
        println!("(GeoIP: {databases} databases, {hits}/1000 sample events located)");
    });
}
