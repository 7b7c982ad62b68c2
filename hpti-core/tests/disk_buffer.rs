//! The disk buffer: events the sources were told are safe survive a stop with a dead
//! sink, a torn segment tail, a damaged segment and a damaged acknowledged position;
//! its byte bound refuses and counts; nothing is stored twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::ack::DeliveryStatus;
use hpti_core::buffer::{BufferConfig, DiskBufferConfig, WhenFull};
use hpti_core::component::ComponentId;
use hpti_core::event::{Event, EventId, EventKind, Protocol};
use hpti_core::pipeline::{Pipeline, PipelineBuilder, PipelineConfig, RetryPolicy};
use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};

/// An idempotent sink that can be switched off (temporary errors), counting how often
/// each event id was written.
#[derive(Default)]
struct Switch {
    down: AtomicBool,
    writes: Mutex<HashMap<EventId, usize>>,
}

impl Switch {
    fn stored(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
    fn written_twice(&self) -> usize {
        self.writes
            .lock()
            .unwrap()
            .values()
            .filter(|&&n| n > 1)
            .count()
    }
    fn has(&self, id: &EventId) -> bool {
        self.writes.lock().unwrap().contains_key(id)
    }
}

#[async_trait]
impl Sink for Switch {
    fn name(&self) -> &str {
        "switch"
    }
    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::DURABLE_IDEMPOTENT
    }
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SinkError::temporary(
                "down",
                std::io::Error::other("switched off"),
            ));
        }
        let mut writes = self.writes.lock().unwrap();
        for event in events {
            *writes.entry(event.id).or_default() += 1;
        }
        Ok(WriteReport::delivered())
    }
}

fn event(n: usize) -> Event {
    Event::new(
        "buffer-test",
        Protocol::Ssh,
        IpAddr::from([198, 51, 100, 7]),
        EventKind::CommandInput {
            command: format!("echo {n} {}", "x".repeat(200)),
        },
    )
}

fn config(dir: &Path, max_bytes: u64, when_full: WhenFull) -> PipelineConfig {
    let mut config = PipelineConfig::with_dead_letter_path(dir.join("dead-letters.jsonl"));
    let mut disk = DiskBufferConfig::new(dir.join("buffer"), max_bytes).when_full(when_full);
    disk.segment_bytes = 64 * 1024;
    config.buffer = BufferConfig::Disk(disk);
    config.retry = RetryPolicy {
        max_retries: RetryPolicy::UNLIMITED,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    config.shutdown_grace = Duration::from_millis(300);
    config.batch.linger = Duration::from_millis(2);
    config
}

fn start(config: PipelineConfig, sink: &Arc<Switch>) -> Pipeline {
    PipelineBuilder::new(config)
        .sink(ComponentId::new("main").unwrap(), sink.clone())
        .start()
        .unwrap()
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir.join("buffer"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "segment"))
        .collect();
    found.sort();
    found
}

fn damaged_copies(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("buffer"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".damaged-")
        })
        .count()
}

/// Emits `n` events, each waited for until on disk; their ids.
async fn emit_durably(pipeline: &Pipeline, n: usize) -> Vec<EventId> {
    let emitter = pipeline.emitter();
    assert!(emitter.on_disk());
    let mut ids = Vec::new();
    for i in 0..n {
        let event = event(i);
        ids.push(event.id);
        let status = emitter.emit_durable(event).await.unwrap();
        assert_eq!(status, DeliveryStatus::Delivered, "event {i} not on disk");
    }
    ids
}

/// A stop while the sink is down: what was on disk is delivered at the next start.
async fn leave_undelivered(dir: &Path, n: usize) -> Vec<EventId> {
    let sink = Arc::new(Switch::default());
    sink.down.store(true, Ordering::SeqCst);
    let pipeline = start(config(dir, 64 << 20, WhenFull::Block), &sink);
    let ids = emit_durably(&pipeline, n).await;
    let stats = pipeline.shutdown().await;
    assert_eq!(sink.stored(), 0);
    assert_eq!(stats.sinks.values().map(|s| s.failed).sum::<u64>(), 0);
    ids
}

#[tokio::test]
async fn events_on_disk_are_delivered_and_their_segments_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Switch::default());
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    let ids = emit_durably(&pipeline, 1500).await;
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    assert_eq!(sink.stored(), 1500);
    assert!(ids.iter().all(|id| sink.has(id)));
    assert_eq!(sink.written_twice(), 0);
    assert_eq!(metrics.get("buffer", "disk", "written"), 1500);
    // 1,500 events of ~420 bytes span several 64 KiB segments; all but the last are
    // gone once delivered.
    assert_eq!(segments(dir.path()).len(), 1, "{:?}", segments(dir.path()));
    let acknowledged =
        std::fs::read_to_string(dir.path().join("buffer/acknowledged.json")).unwrap();
    assert!(acknowledged.contains("segment"), "{acknowledged}");

    // After a clean stop, the next start reads nothing again.
    let again = Arc::new(Switch::default());
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &again);
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    assert_eq!(metrics.get("buffer", "disk", "replayed"), 0);
    assert_eq!(again.stored(), 0);
}

#[tokio::test]
async fn a_stop_with_a_dead_sink_keeps_the_events_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let ids = leave_undelivered(dir.path(), 800).await;
    assert!(segments(dir.path()).len() > 1);

    let sink = Arc::new(Switch::default());
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    assert_eq!(sink.stored(), 800);
    assert!(ids.iter().all(|id| sink.has(id)));
    assert_eq!(metrics.get("buffer", "disk", "replayed"), 800);
    assert_eq!(sink.written_twice(), 0);
}

#[tokio::test]
async fn a_sink_outage_is_waited_out_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Switch::default());
    sink.down.store(true, Ordering::SeqCst);
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    let ids = emit_durably(&pipeline, 300).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.stored(), 0);
    sink.down.store(false, Ordering::SeqCst);
    let stats = pipeline.shutdown().await;
    assert_eq!(sink.stored(), 300);
    assert!(ids.iter().all(|id| sink.has(id)));
    let main = &stats.sinks[&ComponentId::new("main").unwrap()];
    assert_eq!((main.delivered, main.failed), (300, 0));
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_kept_aside_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let ids = leave_undelivered(dir.path(), 100).await;
    // A crash in the middle of a write: half a record at the end of the last segment
    // with records (the writer's newest, empty one is removed by the next start).
    let last = segments(dir.path())
        .into_iter()
        .rfind(|path| std::fs::metadata(path).unwrap().len() > 8)
        .unwrap();
    for path in segments(dir.path()) {
        if path > last {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']);
    std::fs::write(&last, &bytes).unwrap();

    let sink = Arc::new(Switch::default());
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    pipeline.shutdown().await;
    assert_eq!(sink.stored(), 100);
    assert!(ids.iter().all(|id| sink.has(id)));
    assert_eq!(damaged_copies(dir.path()), 1);
}

#[tokio::test]
async fn a_damaged_segment_is_kept_aside_counted_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ids = leave_undelivered(dir.path(), 800).await;
    let first = segments(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();

    let sink = Arc::new(Switch::default());
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    let lost = ids.iter().filter(|id| !sink.has(id)).count();
    assert_eq!(metrics.get("buffer", "disk", "corrupt"), 1);
    // What follows the damage in that segment is unreadable; the rest arrives.
    assert!(lost > 0 && lost < 800 / 2, "lost {lost}");
    assert_eq!(sink.stored() + lost, 800);
    assert_eq!(damaged_copies(dir.path()), 1);
    assert!(
        !first.exists(),
        "the damaged segment is deleted once passed"
    );
}

#[tokio::test]
async fn a_damaged_acknowledged_position_replays_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    // Half delivered, then the sink goes down: the position sits in the middle.
    let sink = Arc::new(Switch::default());
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    emit_durably(&pipeline, 200).await;
    for _ in 0..200 {
        if sink.stored() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sink.down.store(true, Ordering::SeqCst);
    let later = emit_durably(&pipeline, 100).await;
    pipeline.shutdown().await;
    assert_eq!(sink.stored(), 200);
    std::fs::write(dir.path().join("buffer/acknowledged.json"), b"{\"segm").unwrap();

    sink.down.store(false, Ordering::SeqCst);
    let pipeline = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    pipeline.shutdown().await;
    assert_eq!(sink.stored(), 300);
    assert!(later.iter().all(|id| sink.has(id)));
    assert_eq!(damaged_copies(dir.path()), 1);
}

#[tokio::test]
async fn a_full_buffer_refuses_and_counts_with_drop_newest() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Switch::default());
    sink.down.store(true, Ordering::SeqCst);
    // Two 64 KiB segments: about 300 events of ~420 bytes.
    let pipeline = start(config(dir.path(), 128 * 1024, WhenFull::DropNewest), &sink);
    let emitter = pipeline.emitter();
    let (mut kept, mut refused) = (Vec::new(), 0);
    for i in 0..600 {
        let event = event(i);
        let id = event.id;
        match emitter.emit_durable(event).await.unwrap() {
            DeliveryStatus::Delivered => kept.push(id),
            DeliveryStatus::Failed => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    drop(emitter);
    let metrics = pipeline.metrics().clone();
    assert!((200..400).contains(&refused), "refused {refused}");
    assert_eq!(metrics.get("buffer", "disk", "refused_full"), refused);
    let on_disk: u64 = segments(dir.path())
        .iter()
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert!(on_disk <= 128 * 1024, "{on_disk} bytes on disk");
    sink.down.store(false, Ordering::SeqCst);
    pipeline.shutdown().await;
    assert_eq!(sink.stored(), kept.len());
    assert!(kept.iter().all(|id| sink.has(id)));
}

#[tokio::test]
async fn a_full_buffer_blocks_until_the_sink_frees_room() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Switch::default());
    sink.down.store(true, Ordering::SeqCst);
    let pipeline = start(config(dir.path(), 128 * 1024, WhenFull::Block), &sink);
    let emitter = pipeline.emitter();
    let writer = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..600 {
            let event = event(i);
            ids.push(event.id);
            assert_eq!(
                emitter.emit_durable(event).await.unwrap(),
                DeliveryStatus::Delivered
            );
        }
        ids
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "600 events cannot fit in 128 KiB");
    sink.down.store(false, Ordering::SeqCst);
    let ids = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .unwrap()
        .unwrap();
    let metrics = pipeline.metrics().clone();
    pipeline.shutdown().await;
    assert_eq!(metrics.get("buffer", "disk", "refused_full"), 0);
    assert_eq!(sink.stored(), 600);
    assert!(ids.iter().all(|id| sink.has(id)));
}

#[tokio::test]
async fn two_pipelines_cannot_share_a_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Switch::default());
    let first = start(config(dir.path(), 64 << 20, WhenFull::Block), &sink);
    let second = PipelineBuilder::new(config(dir.path(), 64 << 20, WhenFull::Block))
        .sink(ComponentId::new("main").unwrap(), sink.clone())
        .start();
    match second {
        Err(err) => assert!(err.to_string().contains("in use by another"), "{err}"),
        Ok(_) => panic!("a second pipeline opened the same disk buffer"),
    }
    first.shutdown().await;
    // Released at the end: the next start works.
    start(config(dir.path(), 64 << 20, WhenFull::Block), &sink)
        .shutdown()
        .await;
}
