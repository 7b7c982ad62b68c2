//! The pipeline runtime: delivery, acknowledgements, dead letters, retries, batching,
//! backpressure, enrichment failures and alerts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::ack::{AckBatch, DeliveryStatus};
use hpti_core::alert::{Alert, AlertRule, Severity};
use hpti_core::component::ComponentId;
use hpti_core::dead_letter::{DeadLetter, DeadLetterStage};
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_core::pipeline::{BatchConfig, Envelope, Origin, Pipeline, PipelineConfig, RetryPolicy};
use hpti_core::sink::{Rejection, Sink, SinkCapabilities, SinkError, WriteReport};
use tokio::sync::{Semaphore, mpsc};

/// Records every batch; scripted failures are consumed one per write call.
#[derive(Default)]
struct RecordingSink {
    batches: Mutex<Vec<Vec<Event>>>,
    script: Mutex<VecDeque<Scripted>>,
    gate: Option<Arc<Semaphore>>,
    calls: AtomicUsize,
}

enum Scripted {
    Fail(ErrorClass),
    RejectIndex(usize),
}

impl RecordingSink {
    fn scripted(steps: Vec<Scripted>) -> Self {
        Self {
            script: Mutex::new(steps.into()),
            ..Self::default()
        }
    }

    fn stored(&self) -> Vec<Event> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
}

#[async_trait]
impl Sink for RecordingSink {
    fn name(&self) -> &str {
        "recording"
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let step = self.script.lock().unwrap().pop_front();
        let mut report = WriteReport::default();
        match step {
            Some(Scripted::Fail(class)) => return Err(SinkError::msg(class, "scripted failure")),
            Some(Scripted::RejectIndex(index)) => report
                .rejected
                .push(Rejection::new(index, "scripted rejection")),
            None => {}
        }
        let kept = events
            .iter()
            .enumerate()
            .filter(|(i, _)| !report.rejected.iter().any(|r| r.index == *i))
            .map(|(_, e)| (*e).clone())
            .collect();
        self.batches.lock().unwrap().push(kept);
        Ok(report)
    }
}

fn command(n: usize) -> Event {
    Event::new(
        "test",
        Protocol::Ssh,
        "192.0.2.10".parse().unwrap(),
        EventKind::CommandInput {
            command: format!("echo {n}"),
        },
    )
}

fn config(dir: &tempfile::TempDir) -> PipelineConfig {
    let mut config =
        PipelineConfig::with_dead_letter_path(dir.path().join("dlq/dead-letters.jsonl"));
    config.retry = RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    config
}

fn id(name: &str) -> ComponentId {
    ComponentId::new(name).unwrap()
}

fn dead_letters(dir: &tempfile::TempDir) -> Vec<DeadLetter> {
    let text =
        std::fs::read_to_string(dir.path().join("dlq/dead-letters.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn emit_with_ack(pipeline: &Pipeline, events: Vec<Event>) -> hpti_core::ack::AckReceiver {
    let (batch, receiver) = AckBatch::new();
    let emitter = pipeline.emitter();
    for (offset, event) in events.into_iter().enumerate() {
        emitter
            .emit_envelope(Envelope {
                event,
                ack: Some(batch.clone()),
                origin: Some(Origin {
                    source: "input.jsonl".into(),
                    offset: offset as u64 * 100,
                }),
            })
            .await
            .unwrap();
    }
    receiver
}

#[tokio::test]
async fn delivers_every_event_and_acknowledges_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..2500).map(command).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    assert_eq!(sink.stored().len(), 2500);
    let max = BatchConfig::default().max_events;
    assert!(
        sink.batch_sizes().iter().all(|&n| n <= max),
        "batches respect max_events: {:?}",
        sink.batch_sizes()
    );
    let metrics = pipeline.metrics().clone();
    let stats = pipeline.shutdown().await;
    assert_eq!(metrics.get("source", "all", "emitted"), 2500);
    assert_eq!(metrics.get("sink", "main", "delivered"), 2500);
    assert_eq!(stats.sinks[&id("main")].delivered, 2500);
    assert_eq!(stats.accepted, 2500);
    assert!(dead_letters(&dir).is_empty());
}

#[tokio::test]
async fn invalid_events_are_dead_lettered_with_reason_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let mut bad = command(1);
    bad.src_ip = "0.0.0.0".parse().unwrap();
    let ack = emit_with_ack(&pipeline, vec![command(0), bad, command(2)]).await;
    assert_eq!(ack.await, DeliveryStatus::DeadLettered);
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    assert_eq!(sink.stored().len(), 2);
    let letters = dead_letters(&dir);
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.stage, DeadLetterStage::Validate);
    assert_eq!(letter.label.as_deref(), Some("bad_address"));
    assert!(letter.reason.contains("src_ip"), "{}", letter.reason);
    assert_eq!(letter.source.as_deref(), Some("input.jsonl"));
    assert_eq!(letter.offset, Some(100));
    assert_eq!(
        letter.event.as_deref().map(|e| e.src_ip.to_string()),
        Some("0.0.0.0".into())
    );
    assert_eq!(metrics.get("validator", "validator", "bad_address"), 1);
    assert_eq!(metrics.get("dead_letter", "validator", "validate"), 1);
}

#[tokio::test]
async fn temporary_sink_errors_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::scripted(vec![
        Scripted::Fail(ErrorClass::Temporary),
        Scripted::Fail(ErrorClass::Temporary),
    ]));
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..10).map(command).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    pipeline.shutdown().await;
    assert_eq!(sink.calls.load(Ordering::SeqCst), 3);
    assert_eq!(sink.stored().len(), 10);
    assert!(dead_letters(&dir).is_empty());
}

#[tokio::test]
async fn persistent_and_permanent_sink_errors_dead_letter_the_batch() {
    for (script, expected_reason) in [
        (
            vec![
                Scripted::Fail(ErrorClass::Temporary),
                Scripted::Fail(ErrorClass::Temporary),
                Scripted::Fail(ErrorClass::Temporary),
            ],
            "after 2 retries",
        ),
        (vec![Scripted::Fail(ErrorClass::Permanent)], "permanently"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(RecordingSink::scripted(script));
        let pipeline = Pipeline::builder(config(&dir))
            .sink(id("main"), sink.clone())
            .start()
            .unwrap();
        let ack = emit_with_ack(&pipeline, (0..5).map(command).collect()).await;
        assert_eq!(ack.await, DeliveryStatus::DeadLettered);
        pipeline.shutdown().await;
        let letters = dead_letters(&dir);
        assert_eq!(letters.len(), 5);
        assert!(letters.iter().all(|l| l.stage == DeadLetterStage::Sink
            && l.component == "main"
            && l.reason.contains(expected_reason)));
    }
}

#[tokio::test]
async fn per_event_rejections_dead_letter_only_that_event() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::scripted(vec![Scripted::RejectIndex(1)]));
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let events: Vec<Event> = (0..3).map(command).collect();
    let rejected_id = events[1].id;
    let ack = emit_with_ack(&pipeline, events).await;
    assert_eq!(ack.await, DeliveryStatus::DeadLettered);
    pipeline.shutdown().await;
    assert_eq!(sink.stored().len(), 2);
    let letters = dead_letters(&dir);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event.as_ref().map(|e| e.id), Some(rejected_id));
    assert!(letters[0].reason.contains("scripted rejection"));
}

#[tokio::test(start_paused = true)]
async fn a_partial_batch_is_written_after_the_linger_time() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let pipeline = Pipeline::builder(config(&dir))
        .sink_with_batching(
            id("main"),
            sink.clone(),
            BatchConfig::new(100, usize::MAX, Duration::from_secs(5), 2),
        )
        .start()
        .unwrap();
    let emitter = pipeline.emitter();
    for n in 0..3 {
        emitter.emit(command(n)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        sink.stored().is_empty(),
        "nothing is written before the linger time"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.batch_sizes(), vec![3]);
    drop(emitter);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn shutdown_flushes_a_partial_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let pipeline = Pipeline::builder(config(&dir))
        .sink_with_batching(
            id("main"),
            sink.clone(),
            BatchConfig::new(1000, usize::MAX, Duration::from_secs(3600), 2),
        )
        .start()
        .unwrap();
    let emitter = pipeline.emitter();
    for n in 0..7 {
        emitter.emit(command(n)).await.unwrap();
    }
    drop(emitter);
    pipeline.shutdown().await;
    assert_eq!(sink.stored().len(), 7);
}

#[tokio::test]
async fn a_stalled_sink_blocks_sources_instead_of_buffering_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let sink = Arc::new(RecordingSink {
        gate: Some(gate.clone()),
        ..RecordingSink::default()
    });
    let mut config = config(&dir);
    config.queue_capacity = 16;
    config.processor_batch = 4;
    config.sink_queue_batches = 2;
    config.batch = BatchConfig::new(4, usize::MAX, Duration::from_millis(1), 1);
    let pipeline = Pipeline::builder(config)
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let emitter = pipeline.emitter();
    let sent = Arc::new(AtomicUsize::new(0));
    let producer = {
        let sent = sent.clone();
        let emitter = emitter.clone();
        tokio::spawn(async move {
            for n in 0..10_000 {
                emitter.emit(command(n)).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stuck_at = sent.load(Ordering::SeqCst);
    // queue (16) + processor batch (4) + sink queue (2 × 4) + the sink's pending batch.
    assert!(
        stuck_at < 64,
        "sources must block when the sink stalls, sent {stuck_at}"
    );
    assert!(!producer.is_finished());
    gate.add_permits(100_000);
    producer.await.unwrap();
    drop(emitter);
    pipeline.shutdown().await;
    assert_eq!(sink.stored().len(), 10_000);
}

struct FlakyEnricher;

#[async_trait]
impl Enricher for FlakyEnricher {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        match &event.kind {
            EventKind::CommandInput { command } if command.ends_with('1') => {
                Err(EnrichError::msg("upstream said 503"))
            }
            EventKind::CommandInput { command } if command.ends_with('2') => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            }
            _ => {
                event.enrichment.tags.push("seen".into());
                Ok(())
            }
        }
    }
}

// Paused time: the timeout fires only when nothing else can run, so fast enrichers can
// never be mistaken for slow ones on a loaded machine.
#[tokio::test(start_paused = true)]
async fn enricher_failures_and_timeouts_never_drop_events() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let mut config = config(&dir);
    config.enrich_timeout = Duration::from_millis(50);
    let pipeline = Pipeline::builder(config)
        .enricher(id("flaky"), Arc::new(FlakyEnricher))
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..3).map(command).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    let mut stored = sink.stored();
    stored.sort_by_key(|e| e.id);
    let enrichments: Vec<_> = stored
        .iter()
        .map(|e| (e.enrichment.tags.clone(), e.enrichment.failed.clone()))
        .collect();
    assert_eq!(
        enrichments,
        vec![
            (vec!["seen".to_owned()], vec![]),
            (vec![], vec!["flaky".to_owned()]),
            (vec![], vec!["flaky".to_owned()]),
        ]
    );
    assert_eq!(metrics.get("enricher", "flaky", "failed"), 2);
}

struct EveryThird(usize);

impl AlertRule for EveryThird {
    fn name(&self) -> &str {
        "every-third"
    }
    fn observe(&mut self, event: &Event, out: &mut Vec<Alert>) {
        self.0 += 1;
        if self.0 % 3 == 0 {
            out.push(
                Alert::new(
                    "every-third",
                    Severity::Low,
                    event.src_ip.to_string(),
                    "third event",
                    event.time,
                )
                .with_events(1, [event.id]),
            );
        }
    }
}

#[tokio::test]
async fn alert_rules_see_every_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let (alerts_tx, mut alerts_rx) = mpsc::channel(16);
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), sink)
        .rule(Box::new(EveryThird(0)))
        .alerts_to(alerts_tx)
        .start()
        .unwrap();
    let events: Vec<Event> = (0..7).map(command).collect();
    let expected = vec![events[2].id, events[5].id];
    let ack = emit_with_ack(&pipeline, events).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    pipeline.shutdown().await;
    let mut seen = Vec::new();
    while let Ok(alert) = alerts_rx.try_recv() {
        seen.extend(alert.event_ids);
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn observed_events_reach_the_rules_without_being_stored_and_stop_with_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let (alerts_tx, mut alerts_rx) = mpsc::channel(16);
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), sink.clone())
        .rule(Box::new(EveryThird(0)))
        .alerts_to(alerts_tx)
        .start()
        .unwrap();
    let observer = pipeline.rule_observer();
    let observed: Vec<Event> = (0..3).map(command).collect();
    let third = observed[2].id;
    for event in observed {
        assert!(observer.observe(event));
    }
    // The rules' thread takes them in order with what the sinks store.
    let alert = tokio::time::timeout(Duration::from_secs(5), alerts_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alert.event_ids, [third]);
    pipeline.shutdown().await;
    assert!(sink.stored().is_empty(), "observations are not stored");
    // A handle kept past shutdown shows nothing (and did not keep the rules running).
    assert!(!observer.observe(command(9)));
    // Without rules there is nothing to show.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("main"), Arc::new(RecordingSink::default()))
        .start()
        .unwrap();
    assert!(!pipeline.rule_observer().observe(command(1)));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_pipeline_without_sinks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Pipeline::builder(config(&dir)).start().is_err());
}

#[tokio::test]
async fn two_sinks_of_one_type_are_counted_apart_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let first = Arc::new(RecordingSink::default());
    let second = Arc::new(RecordingSink::scripted(vec![Scripted::RejectIndex(0)]));
    let mut registry = prometheus_client::registry::Registry::default();
    let pipeline = Pipeline::builder(config(&dir))
        .metrics(hpti_core::metrics::PipelineMetrics::new(&mut registry))
        .sink(id("primary"), first.clone())
        .sink(id("replica"), second.clone())
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..10).map(command).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::DeadLettered);
    let metrics = pipeline.metrics().clone();
    // Each sink has its own queue and write-time series, named by its id.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for series in [
        "hpti_queue_capacity{queue=\"sink:primary\"}",
        "hpti_queue_capacity{queue=\"sink:replica\"}",
        "hpti_sink_write_seconds_count{component=\"primary\"}",
        "hpti_sink_write_seconds_count{component=\"replica\"}",
        "hpti_events_total{stage=\"sink\",component=\"replica\",outcome=\"rejected\"} 1",
    ] {
        assert!(text.contains(series), "no {series} in\n{text}");
    }
    let stats = pipeline.shutdown().await;
    assert_eq!(first.stored().len(), 10);
    assert_eq!(second.stored().len(), 9);
    assert_eq!(stats.sinks[&id("primary")].delivered, 10);
    assert_eq!(stats.sinks[&id("replica")].delivered, 9);
    assert_eq!(stats.sinks[&id("replica")].rejected, 1);
    assert_eq!(metrics.get("sink", "replica", "rejected"), 1);
    assert_eq!(metrics.get("sink", "primary", "rejected"), 0);
    let letters = dead_letters(&dir);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].component, "replica");
}

#[tokio::test]
async fn duplicate_sink_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let result = Pipeline::builder(config(&dir))
        .sink(id("main"), Arc::new(RecordingSink::default()))
        .sink(id("main"), Arc::new(RecordingSink::default()))
        .start();
    assert!(matches!(
        result,
        Err(hpti_core::pipeline::PipelineError::DuplicateId { .. })
    ));
}

/// A best-effort sink that never finishes a write until released.
struct StuckBestEffort {
    gate: Arc<Semaphore>,
    written: AtomicUsize,
}

#[async_trait]
impl Sink for StuckBestEffort {
    fn name(&self) -> &str {
        "live-feed"
    }
    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::BEST_EFFORT
    }
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        self.gate.acquire().await.unwrap().forget();
        self.written.fetch_add(events.len(), Ordering::SeqCst);
        Ok(WriteReport::delivered())
    }
}

// Counts, not times: the durable sink stores every event and every acknowledgement
// resolves while the best-effort sink is stuck on its first write; what it could not
// take is counted as dropped.
#[tokio::test]
async fn a_stuck_best_effort_sink_neither_slows_a_durable_one_nor_holds_acks() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let stuck = Arc::new(StuckBestEffort {
        gate: gate.clone(),
        written: AtomicUsize::new(0),
    });
    let durable = Arc::new(RecordingSink::default());
    let mut config = config(&dir);
    config.processor_batch = 100;
    config.sink_queue_batches = 2;
    config.batch = BatchConfig::new(100, usize::MAX, Duration::from_millis(1), 1);
    let pipeline = Pipeline::builder(config)
        .sink(id("feed"), stuck.clone())
        .sink(id("main"), durable.clone())
        .start()
        .unwrap();
    for round in 0..20 {
        let ack = emit_with_ack(
            &pipeline,
            (0..100).map(|n| command(round * 100 + n)).collect(),
        )
        .await;
        let status = tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .expect("a stuck best-effort sink must not hold back the durable one");
        assert_eq!(status, DeliveryStatus::Delivered, "round {round}");
    }
    assert_eq!(durable.stored().len(), 2000);
    let dropped = pipeline.stats().sinks[&id("feed")].dropped;
    // The stuck sink holds one batch in its write and at most two more in its queue
    // (plus one pending in its driver); everything else was dropped for it, not waited for.
    assert!(dropped >= 2000 - 5 * 100, "dropped {dropped}");
    gate.add_permits(1000);
    let stats = pipeline.shutdown().await;
    let feed = stats.sinks[&id("feed")];
    assert_eq!(
        feed.delivered + feed.dropped,
        2000,
        "every event is delivered or counted as dropped: {feed:?}"
    );
    assert_eq!(stuck.written.load(Ordering::SeqCst) as u64, feed.delivered);
    assert!(
        dead_letters(&dir).is_empty(),
        "a best-effort sink's drops are not dead letters"
    );
}

/// Answers like an Elasticsearch bulk request where some items got 429: the first write
/// asks to retry every third event, later writes store everything.
#[derive(Default)]
struct PartialRetrySink {
    writes: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl Sink for PartialRetrySink {
    fn name(&self) -> &str {
        "bulk"
    }
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        let mut writes = self.writes.lock().unwrap();
        let first = writes.is_empty();
        writes.push(events.iter().map(|e| command_of(e)).collect());
        let mut report = WriteReport::delivered();
        if first {
            for i in (0..events.len()).step_by(3) {
                report = report.retry(i, "429 es_rejected_execution_exception");
            }
            report = report.retry_after(Duration::from_millis(5));
        }
        Ok(report)
    }
}

fn command_of(event: &Event) -> String {
    match &event.kind {
        EventKind::CommandInput { command } => command.clone(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn a_partial_retry_writes_only_the_failed_items_again() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(PartialRetrySink::default());
    let mut config = config(&dir);
    config.batch = BatchConfig::new(9, usize::MAX, Duration::from_millis(1), 1);
    let pipeline = Pipeline::builder(config)
        .sink(id("es"), sink.clone())
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..9).map(command).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    let stats = pipeline.shutdown().await;
    let writes = sink.writes.lock().unwrap().clone();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].len(), 9);
    assert_eq!(writes[1], vec!["echo 0", "echo 3", "echo 6"]);
    assert_eq!(stats.sinks[&id("es")].delivered, 9);
    assert_eq!(stats.sinks[&id("es")].retried, 3);
}

#[tokio::test]
async fn items_still_failing_after_the_retries_are_dead_lettered_alone() {
    /// Asks to retry the first item of every write, forever.
    struct AlwaysRetryFirst;
    #[async_trait]
    impl Sink for AlwaysRetryFirst {
        fn name(&self) -> &str {
            "bulk"
        }
        async fn write(&self, _events: &[&Event]) -> Result<WriteReport, SinkError> {
            Ok(WriteReport::delivered().retry(0, "429"))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder(config(&dir))
        .sink(id("es"), Arc::new(AlwaysRetryFirst))
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..4).map(command).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::DeadLettered);
    let stats = pipeline.shutdown().await;
    let letters = dead_letters(&dir);
    assert_eq!(letters.len(), 1, "only the failing item: {letters:?}");
    assert!(
        letters[0].reason.contains("after 2 retries"),
        "{}",
        letters[0].reason
    );
    assert_eq!(stats.sinks[&id("es")].delivered, 3);
    assert_eq!(stats.sinks[&id("es")].failed, 1);
}

#[tokio::test]
async fn batches_are_cut_by_bytes_as_well_as_count() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let big = |n: usize| {
        Event::new(
            "test",
            Protocol::Ssh,
            "192.0.2.10".parse().unwrap(),
            EventKind::CommandInput {
                command: format!("{n:04} {}", "A".repeat(10_000)),
            },
        )
    };
    let one = big(0).size_hint();
    let mut config = config(&dir);
    // Room for three such events by bytes, for a thousand by count.
    config.batch = BatchConfig::new(1000, one * 3 + one / 2, Duration::from_millis(5), 1);
    let pipeline = Pipeline::builder(config)
        .sink(id("main"), sink.clone())
        .start()
        .unwrap();
    let ack = emit_with_ack(&pipeline, (0..10).map(big).collect()).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    pipeline.shutdown().await;
    let sizes = sink.batch_sizes();
    assert_eq!(sizes.iter().sum::<usize>(), 10);
    assert!(sizes.iter().all(|&n| n <= 3), "{sizes:?}");
}

/// Counts distinct source addresses per downloaded SHA-256 in a window of `window`;
/// raises one alert per hash seen from `threshold` addresses when the window closes,
/// keyed by the hash (not by an address), and forgets the window then.
struct SharedPayload {
    window: Duration,
    threshold: usize,
    max_keys: usize,
    open: std::collections::BTreeMap<String, (hpti_core::Timestamp, Vec<Event>)>,
}

impl AlertRule for SharedPayload {
    fn name(&self) -> &str {
        "shared-payload"
    }
    fn observe(&mut self, event: &Event, _out: &mut Vec<Alert>) {
        let EventKind::FileDownload {
            sha256: Some(sha256),
            ..
        } = &event.kind
        else {
            return;
        };
        if !self.open.contains_key(sha256) && self.open.len() >= self.max_keys {
            // Bounded state: the oldest window goes first.
            if let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, (opened, _))| *opened)
                .map(|(k, _)| k.clone())
            {
                self.open.remove(&oldest);
            }
        }
        self.open
            .entry(sha256.clone())
            .or_insert_with(|| (hpti_core::Timestamp::now(), Vec::new()))
            .1
            .push(event.clone());
    }
    fn on_tick(&mut self, now: hpti_core::Timestamp, out: &mut Vec<Alert>) {
        let window = self.window.as_micros() as i64;
        let closed: Vec<String> = self
            .open
            .iter()
            .filter(|(_, (opened, _))| now.as_micros() - opened.as_micros() >= window)
            .map(|(k, _)| k.clone())
            .collect();
        for sha256 in closed {
            let Some((opened, events)) = self.open.remove(&sha256) else {
                continue;
            };
            let mut sources: Vec<String> = events.iter().map(|e| e.src_ip.to_string()).collect();
            sources.sort();
            sources.dedup();
            if sources.len() >= self.threshold {
                out.push(
                    Alert::new(
                        self.name(),
                        Severity::High,
                        sha256.clone(),
                        format!("{sha256} downloaded from {} addresses", sources.len()),
                        now,
                    )
                    .starting_at(opened)
                    .with_label("kind", "file.download")
                    .with_annotation("sources", sources.join(","))
                    .with_events(events.len() as u64, events.iter().map(|e| e.id)),
                );
            }
        }
    }
    fn state_keys(&self) -> usize {
        self.open.len()
    }
}

fn download(sha256: &str, ip: [u8; 4]) -> Event {
    Event::new(
        "test",
        Protocol::Ssh,
        std::net::IpAddr::from(ip),
        EventKind::FileDownload {
            url: "http://198.51.100.9/x".into(),
            sha256: Some(sha256.into()),
            size: Some(4),
            error: None,
        },
    )
}

// Real time: the window (2 s) is still open when the events are acknowledged, and it
// closes on the pipeline's tick with no further event, before shutdown.
#[tokio::test]
async fn a_window_closes_on_a_tick_with_no_further_events_and_alerts_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let (alerts_tx, mut alerts_rx) = mpsc::channel(16);
    let mut config = config(&dir);
    config.alert_tick = Duration::from_millis(50);
    let window = Duration::from_secs(2);
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let pipeline = Pipeline::builder(config)
        .sink(id("main"), sink)
        .rule(Box::new(SharedPayload {
            window,
            threshold: 3,
            max_keys: 100,
            open: Default::default(),
        }))
        .alerts_to(alerts_tx)
        .start()
        .unwrap();
    let events = vec![
        download(hash, [203, 0, 113, 1]),
        download(hash, [203, 0, 113, 2]),
        download(hash, [203, 0, 113, 2]),
        download(hash, [198, 51, 100, 3]),
        download(&"0".repeat(64), [203, 0, 113, 1]),
    ];
    let ids: Vec<_> = events[..4].iter().map(|e| e.id).collect();
    let emitted = std::time::Instant::now();
    let ack = emit_with_ack(&pipeline, events).await;
    assert_eq!(ack.await, DeliveryStatus::Delivered);
    assert!(
        emitted.elapsed() < window,
        "the events were stored within the window"
    );
    assert!(
        alerts_rx.try_recv().is_err(),
        "nothing fires while the window is open"
    );
    // No more events: only time passes.
    let alert = tokio::time::timeout(Duration::from_secs(10), alerts_rx.recv())
        .await
        .expect("the window must close on a tick")
        .unwrap();
    assert!(
        emitted.elapsed() >= window,
        "the alert came when the window closed, not with the events"
    );
    assert_eq!(alert.rule, "shared-payload");
    assert_eq!(alert.key, hash);
    assert_eq!(alert.count, 4);
    assert_eq!(alert.event_ids, ids);
    assert_eq!(
        alert.annotations["sources"],
        "198.51.100.3,203.0.113.1,203.0.113.2"
    );
    // The same rule, key and labels give the same fingerprint; another key does not.
    let same = Alert::new(
        "shared-payload",
        Severity::Low,
        hash,
        "other text",
        alert.raised_at,
    )
    .with_label("kind", "file.download");
    assert_eq!(same.fingerprint, alert.fingerprint);
    let other = Alert::new(
        "shared-payload",
        Severity::High,
        "0".repeat(64),
        "",
        alert.raised_at,
    )
    .with_label("kind", "file.download");
    assert_ne!(other.fingerprint, alert.fingerprint);
    // The hash seen from one address raised nothing; its window was freed too.
    pipeline.shutdown().await;
    assert!(alerts_rx.try_recv().is_err());
}

#[test]
fn rule_state_is_bounded_per_key() {
    let mut rule = SharedPayload {
        window: Duration::from_secs(3600),
        threshold: 2,
        max_keys: 10,
        open: Default::default(),
    };
    let mut out = Vec::new();
    for n in 0..1000u32 {
        rule.observe(&download(&format!("{n:064}"), [192, 0, 2, 1]), &mut out);
    }
    assert_eq!(rule.state_keys(), 10);
    assert!(out.is_empty());
}

#[tokio::test]
async fn a_slow_alert_consumer_never_slows_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    // Nobody reads the alerts: the rules' task blocks on its first alert.
    let (alerts_tx, _alerts_rx) = mpsc::channel(1);
    let mut config = config(&dir);
    config.processor_batch = 10;
    config.batch = BatchConfig::new(10, usize::MAX, Duration::from_millis(1), 1);
    let pipeline = Pipeline::builder(config)
        .sink(id("main"), sink.clone())
        .rule(Box::new(EveryThird(0)))
        .alerts_to(alerts_tx)
        .start()
        .unwrap();
    for round in 0..50 {
        let ack = emit_with_ack(
            &pipeline,
            (0..10).map(|n| command(round * 10 + n)).collect(),
        )
        .await;
        assert_eq!(ack.await, DeliveryStatus::Delivered);
    }
    assert_eq!(sink.stored().len(), 500);
    let stats = pipeline.stats();
    assert!(
        stats.rule_events_dropped > 0,
        "the rules' full queue drops (and counts) instead of waiting"
    );
    drop(_alerts_rx);
    pipeline.shutdown().await;
}
