//! Parse throughput of the built-in foreign-log parsers on one thread.
//!
//! `cargo bench -p hpti-core --bench parse` takes each fixture under `testdata/`,
//! repeats its lines to about 1,000,000 lines (slices of the fixture held in memory, so
//! no I/O is measured), parses them all and prints `format lines/s` (best of 3 runs, a
//! fresh parser per run). Every event is built in full (raw line, derived id, kind) and
//! dropped, as the collector would hand it on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark panics on broken fixtures

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hpti_core::event::Timestamp;
use hpti_core::parser::{ParseContext, Parser};
use hpti_core::parsers::{AuthLogParser, CowrieParser, OpenCanaryParser};

const TARGET_LINES: usize = 1_000_000;
const RUNS: usize = 3;

/// Builds a fresh parser for one run.
type MakeParser = Box<dyn Fn() -> Box<dyn Parser>>;

fn main() {
    // `cargo bench` passes `--bench`; a name filter may follow.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let now = Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
    let formats: [(&str, &str, MakeParser); 3] = [
        (
            "cowrie",
            "cowrie/cowrie.json",
            Box::new(|| Box::new(CowrieParser::new())),
        ),
        (
            "opencanary",
            "opencanary/opencanary.log",
            Box::new(|| Box::new(OpenCanaryParser)),
        ),
        (
            "authlog",
            "authlog/auth.log",
            Box::new(move || Box::new(AuthLogParser::with_reference_time(now))),
        ),
    ];
    println!(
        "{:<12} {:>14} {:>10} {:>10}",
        "format", "lines/s", "MB/s", "events"
    );
    for (name, file, make) in formats {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let fixture: Vec<&str> = text.lines().collect();
        let lines: Vec<&str> = fixture
            .iter()
            .copied()
            .cycle()
            .take(TARGET_LINES.div_ceil(fixture.len()) * fixture.len())
            .collect();
        let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();

        let mut best = Duration::MAX;
        let mut events = 0;
        for _ in 0..RUNS {
            let parser = make();
            let mut offset = 0u64;
            events = 0;
            let start = Instant::now();
            for line in &lines {
                let ctx = ParseContext {
                    source: file,
                    offset,
                    sensor: "bench",
                };
                if let Ok(Some(event)) = parser.parse(black_box(line.as_bytes()), &ctx) {
                    events += 1;
                    black_box(event);
                }
                offset += line.len() as u64 + 1;
            }
            best = best.min(start.elapsed());
        }
        let secs = best.as_secs_f64();
        println!(
            "{:<12} {:>14.0} {:>10.1} {:>10}",
            name,
            lines.len() as f64 / secs,
            bytes as f64 / secs / 1e6,
            events
        );
    }
}
