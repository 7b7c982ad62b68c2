//! A custom sink, written as a user of the hpti crates would: appends events as JSON lines
//! to one file per UTC day (`2026-11-21.jsonl`), the shape many log shippers pick up.
//!
//! Sinks must be idempotent on the event id. A plain file cannot look ids up, so this one
//! remembers the ids of the last `remember` events it wrote: enough to absorb re-deliveries
//! of a batch after a retry, which is what the pipeline's at-least-once delivery produces.
//!
//! Run: `cargo run -p hpti-examples --example custom_sink`

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventId};
use hpti_core::sink::{Sink, SinkError, WriteReport};

/// Writes events to `dir/<UTC date>.jsonl`.
pub struct DailyJsonlSink {
    dir: PathBuf,
    recent: Mutex<Recent>,
}

struct Recent {
    order: VecDeque<EventId>,
    set: HashSet<EventId>,
    capacity: usize,
}

impl DailyJsonlSink {
    /// A sink writing under `dir`, remembering the last `remember` ids.
    pub fn new(dir: impl Into<PathBuf>, remember: usize) -> Self {
        Self {
            dir: dir.into(),
            recent: Mutex::new(Recent {
                order: VecDeque::new(),
                set: HashSet::new(),
                capacity: remember.max(1),
            }),
        }
    }
}

#[async_trait]
impl Sink for DailyJsonlSink {
    fn name(&self) -> &str {
        "daily-jsonl"
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        let mut recent = self
            .recent
            .lock()
            .map_err(|_| SinkError::msg(ErrorClass::Permanent, "poisoned lock"))?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| SinkError::temporary("cannot create the output directory", e))?;
        let mut by_day: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        let mut fresh = Vec::new();
        for event in events {
            if recent.set.contains(&event.id) || fresh.contains(&event.id) {
                continue;
            }
            let day = event.time.to_string().chars().take(10).collect::<String>();
            let buffer = by_day.entry(day).or_default();
            serde_json::to_writer(&mut *buffer, event)
                .map_err(|e| SinkError::permanent("cannot encode event", e))?;
            buffer.push(b'\n');
            fresh.push(event.id);
        }
        for (day, bytes) in by_day {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{day}.jsonl")))
                .map_err(|e| SinkError::temporary("cannot open the day file", e))?;
            file.write_all(&bytes)
                .and_then(|()| file.sync_data())
                .map_err(|e| SinkError::temporary("cannot write the day file", e))?;
        }
        for id in fresh {
            recent.set.insert(id);
            recent.order.push_back(id);
            if recent.order.len() > recent.capacity
                && let Some(old) = recent.order.pop_front()
            {
                recent.set.remove(&old);
            }
        }
        Ok(WriteReport::default())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use hpti_core::event::{EventKind, Protocol};
    use hpti_core::pipeline::{Pipeline, PipelineConfig};

    let out = std::env::temp_dir().join("hpti-custom-sink-example");
    let sink = Arc::new(DailyJsonlSink::new(&out, 100_000));
    let config = PipelineConfig {
        dead_letter_path: out.join("dead-letters.jsonl"),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::builder(config).sink(sink).start()?;
    let emitter = pipeline.emitter();
    for command in ["uname -a", "cat /etc/passwd", "wget http://203.0.113.5/x"] {
        let event = Event::new(
            "example",
            Protocol::Ssh,
            "198.51.100.7".parse()?,
            EventKind::CommandInput {
                command: command.into(),
            },
        );
        emitter.emit(event).await?;
    }
    drop(emitter);
    pipeline.shutdown().await;
    println!("wrote events under {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::event::{EventKind, Protocol, Timestamp};

    fn event(day_offset: i64) -> Event {
        Event::new(
            "t",
            Protocol::Ssh,
            "192.0.2.1".parse().unwrap(),
            EventKind::SessionStarted,
        )
        .with_time(Timestamp::from_micros(
            1_767_225_600_000_000 + day_offset * 86_400_000_000,
        ))
    }

    fn lines(path: PathBuf) -> usize {
        std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn splits_by_day_and_absorbs_redelivery() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DailyJsonlSink::new(dir.path(), 10);
        let events = [event(0), event(0), event(1)];
        let refs: Vec<&Event> = events.iter().collect();
        sink.write(&refs).await.unwrap();
        sink.write(&refs).await.unwrap();
        assert_eq!(lines(dir.path().join("2026-01-01.jsonl")), 2);
        assert_eq!(lines(dir.path().join("2026-01-02.jsonl")), 1);
    }

    #[tokio::test]
    async fn passes_through_a_real_pipeline() {
        use hpti_core::pipeline::{Pipeline, PipelineConfig};
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(DailyJsonlSink::new(dir.path().join("out"), 10));
        let config = PipelineConfig {
            dead_letter_path: dir.path().join("dlq.jsonl"),
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::builder(config).sink(sink).start().unwrap();
        let emitter = pipeline.emitter();
        emitter
            .emit(event(0).with_time(Timestamp::now()))
            .await
            .unwrap();
        drop(emitter);
        pipeline.shutdown().await;
        let day = Timestamp::now().to_string()[..10].to_owned();
        assert_eq!(lines(dir.path().join(format!("out/{day}.jsonl"))), 1);
    }
}
