//! How fast the Elasticsearch sink builds `_bulk` bodies, on one thread.
//!
//! `cargo bench -p hpti-store --features elasticsearch --bench es_bulk` encodes about
//! 1,000,000 events (every sample kind, one in thirteen enriched with GeoIP, ASN, RDAP
//! and reputation) into NDJSON bodies of at most 5 MiB, in batches of 4096 as the sink
//! gets them, and prints events/s and MB/s (best of 3 runs). No network: only what the
//! sink does per event before sending (daily index name, ECS document, the hpti event
//! under `hpti.event`, the byte limit).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark panics on broken input

use std::hint::black_box;
use std::time::{Duration, Instant};

use hpti_core::event::{Event, EventId, Timestamp};
use hpti_core::testing::{enriched_event, sample_events};
use hpti_store::elasticsearch::DEFAULT_MAX_BYTES;
use hpti_store::elasticsearch::bulk::BulkEncoder;

const TARGET_EVENTS: usize = 1_000_000;
const BATCH: usize = 4096;
const RUNS: usize = 3;

fn main() {
    let base = Timestamp::parse_rfc3339("2026-01-03T10:00:00Z").unwrap();
    let mut events = Vec::with_capacity(TARGET_EVENTS);
    let mut step = 0i64;
    while events.len() < TARGET_EVENTS {
        let time = base.saturating_add_micros(step * 13_000);
        let mut round = sample_events(time);
        round.push(enriched_event(time));
        for mut event in round {
            // Fresh ids, times spread over about four hours (one or two daily indices).
            event.id = EventId::new();
            events.push(event);
        }
        step += 1;
    }
    events.truncate(TARGET_EVENTS);
    let refs: Vec<&Event> = events.iter().collect();

    let mut best = Duration::MAX;
    let mut bytes = 0usize;
    let mut bodies = 0usize;
    for _ in 0..RUNS {
        let mut encoder = BulkEncoder::new("hpti-events", DEFAULT_MAX_BYTES);
        bytes = 0;
        bodies = 0;
        let start = Instant::now();
        for batch in refs.chunks(BATCH) {
            let encoded = encoder.encode(black_box(batch), None);
            assert!(encoded.rejected.is_empty());
            bodies += encoded.bodies.len();
            bytes += encoded
                .bodies
                .iter()
                .map(|b| b.bytes().len())
                .sum::<usize>();
            black_box(encoded);
        }
        best = best.min(start.elapsed());
    }
    let secs = best.as_secs_f64();
    println!(
        "{:<10} {:>14} {:>10} {:>10} {:>12}",
        "bench", "events/s", "MB/s", "bodies", "bytes/event"
    );
    println!(
        "{:<10} {:>14.0} {:>10.0} {:>10} {:>12.0}",
        "es_bulk",
        refs.len() as f64 / secs,
        bytes as f64 / secs / 1e6,
        bodies,
        bytes as f64 / refs.len() as f64
    );
}
