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
use hpti_core::dead_letter::{DeadLetter, DeadLetterStage};
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_core::pipeline::{BatchConfig, Envelope, Origin, Pipeline, PipelineConfig, RetryPolicy};
use hpti_core::sink::{Rejection, Sink, SinkError, WriteReport};
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
            Some(Scripted::RejectIndex(index)) => report.rejected.push(Rejection {
                index,
                reason: "scripted rejection".into(),
            }),
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
    PipelineConfig {
        dead_letter_path: dir.path().join("dlq/dead-letters.jsonl"),
        retry: RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
        ..PipelineConfig::default()
    }
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
        .sink(sink.clone())
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
    pipeline.shutdown().await;
    assert_eq!(metrics.get("source", "all", "emitted"), 2500);
    assert_eq!(metrics.get("sink", "recording", "delivered"), 2500);
    assert!(dead_letters(&dir).is_empty());
}

#[tokio::test]
async fn invalid_events_are_dead_lettered_with_reason_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let pipeline = Pipeline::builder(config(&dir))
        .sink(sink.clone())
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
        .sink(sink.clone())
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
            .sink(sink.clone())
            .start()
            .unwrap();
        let ack = emit_with_ack(&pipeline, (0..5).map(command).collect()).await;
        assert_eq!(ack.await, DeliveryStatus::DeadLettered);
        pipeline.shutdown().await;
        let letters = dead_letters(&dir);
        assert_eq!(letters.len(), 5);
        assert!(letters.iter().all(|l| l.stage == DeadLetterStage::Sink
            && l.component == "recording"
            && l.reason.contains(expected_reason)));
    }
}

#[tokio::test]
async fn per_event_rejections_dead_letter_only_that_event() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::scripted(vec![Scripted::RejectIndex(1)]));
    let pipeline = Pipeline::builder(config(&dir))
        .sink(sink.clone())
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
            sink.clone(),
            BatchConfig {
                max_events: 100,
                linger: Duration::from_secs(5),
                concurrency: 2,
            },
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
            sink.clone(),
            BatchConfig {
                max_events: 1000,
                linger: Duration::from_secs(3600),
                concurrency: 2,
            },
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
    let config = PipelineConfig {
        queue_capacity: 16,
        processor_batch: 4,
        sink_queue_batches: 2,
        batch: BatchConfig {
            max_events: 4,
            linger: Duration::from_millis(1),
            concurrency: 1,
        },
        ..config(&dir)
    };
    let pipeline = Pipeline::builder(config)
        .sink(sink.clone())
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
    let config = PipelineConfig {
        enrich_timeout: Duration::from_millis(50),
        ..config(&dir)
    };
    let pipeline = Pipeline::builder(config)
        .enricher(Arc::new(FlakyEnricher))
        .sink(sink.clone())
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
    fn observe(&mut self, event: &Event) -> Option<Alert> {
        self.0 += 1;
        (self.0 % 3 == 0).then(|| Alert {
            rule: "every-third".into(),
            severity: Severity::Low,
            summary: "third event".into(),
            time: event.time,
            src_ip: event.src_ip,
            event_ids: vec![event.id],
            labels: Default::default(),
        })
    }
}

#[tokio::test]
async fn alert_rules_see_every_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(RecordingSink::default());
    let (alerts_tx, mut alerts_rx) = mpsc::channel(16);
    let pipeline = Pipeline::builder(config(&dir))
        .sink(sink)
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
async fn a_pipeline_without_sinks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Pipeline::builder(config(&dir)).start().is_err());
}
