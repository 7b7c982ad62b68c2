//! The `hpti` binary with an Elasticsearch sink, against the fake Elasticsearch 8 of
//! `hpti_store::testing` (no Elasticsearch server can run here): an outage of the cluster
//! under `hpti run`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::{Outage, metric, metrics_address, panics_in, spawn_run, stop_cleanly};
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};

#[test]
fn elasticsearch_down_for_a_minute_then_back_loses_nothing_and_hpti_stays_up() {
    let outage_secs: u64 = std::env::var("HPTI_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // The fake cluster lives on this runtime's worker for the whole test.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (server, cluster) = rt.block_on(hpti_store::testing::fake_es());
    let proxy = Outage::start(&server.address().to_string());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("feed.jsonl");
    std::fs::write(&input, "").unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n\
             [sensors]\n\n\
             [sources.feed]\ntype = \"file\"\nformat = \"hpti\"\npaths = [{:?}]\npoll_interval = \"50ms\"\n\n\
             [sinks.es]\ntype = \"elasticsearch\"\nurl = \"http://127.0.0.1:{}\"\ntimeout = \"2s\"\n",
            dir.path().join("data"),
            input,
            proxy.port
        ),
    )
    .unwrap();
    let (mut child, mut log) = spawn_run(&config);
    let metrics = metrics_address(&mut log);
    let drain = panics_in(log);
    let series = |outcome: &str| {
        metric(
            &metrics,
            &format!("hpti_events_total{{stage=\"sink\",component=\"es\",outcome=\"{outcome}\"}}"),
        )
    };
    let mut feed = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    let base = Timestamp::now().saturating_add_micros(-600_000_000);
    let mut written = 0u64;
    let mut append = |written: &mut u64, n: u64| {
        for _ in 0..n {
            let event = Event::new(
                "outage-test",
                Protocol::Ssh,
                std::net::IpAddr::from([198, 51, 100, (*written % 200) as u8 + 1]),
                EventKind::CommandInput {
                    command: format!("echo {written}"),
                },
            )
            .with_time(base.saturating_add_micros(*written as i64 * 1000));
            writeln!(feed, "{}", serde_json::to_string(&event).unwrap()).unwrap();
            *written += 1;
        }
        feed.flush().unwrap();
    };
    let wait_for = |expected: u64, within: Duration| {
        let deadline = Instant::now() + within;
        while cluster.count() < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster.count()
    };
    append(&mut written, 500);
    assert_eq!(wait_for(500, Duration::from_secs(60)), 500, "stored before");

    // The cluster goes away; events keep arriving for the whole outage.
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
    assert_eq!(
        cluster.count(),
        500,
        "nothing reached the cluster while it was away"
    );
    let retries = metric(&metrics, "hpti_sink_retries_total{component=\"es\"}");
    assert!(retries > 0, "the sink retried while the cluster was away");
    let (code, report) = common::health(&metrics);
    assert_eq!(code, 503, "{report}");
    assert_eq!(
        common::component_state(&report, "sink", "es"),
        "failing",
        "{report}"
    );

    // Back: everything that waited is stored, once, and new events flow again.
    proxy.set_up(true);
    let recovered = Instant::now();
    let waited = written;
    assert_eq!(
        wait_for(waited, Duration::from_secs(120)),
        waited,
        "the backlog"
    );
    let recovery = recovered.elapsed();
    append(&mut written, 200);
    assert_eq!(wait_for(written, Duration::from_secs(60)), written);
    assert_eq!(series("failed"), 0, "nothing given up on");
    assert_eq!(series("rejected"), 0);
    let (code, report) = common::health(&metrics);
    assert_eq!(
        (code, common::component_state(&report, "sink", "es")),
        (200, "ok".into()),
        "{report}"
    );

    stop_cleanly(child, drain);
    assert_eq!(cluster.count(), written, "nothing stored twice or lost");
    let _ = writeln!(
        std::io::stderr(),
        "elasticsearch outage of {outage_secs} s: {} events waited through it, all stored \
         {:.1} s after the cluster came back; {retries} sink retries; 0 lost, 0 twice",
        waited - 500,
        recovery.as_secs_f64()
    );
    drop(server);
}
