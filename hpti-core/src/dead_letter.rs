//! Dead letters: records the pipeline could not store, kept with the reason and the
//! original bytes in a JSON-lines file, so nothing disappears silently.

use serde::{Deserialize, Serialize};

use crate::event::{Event, Timestamp};

/// Largest original record kept in a dead letter; longer ones are cut and flagged.
pub const MAX_ORIGINAL_BYTES: usize = 1024 * 1024;

/// The stage that refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStage {
    /// A parser could not turn the line into an event.
    Parse,
    /// The event failed schema validation.
    Validate,
    /// A sink refused the event permanently, or kept failing past its retries.
    Sink,
}

impl DeadLetterStage {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parse => "parse",
            Self::Validate => "validate",
            Self::Sink => "sink",
        }
    }
}

/// One line of the dead-letter file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was dead-lettered.
    pub time: Timestamp,
    /// Which stage refused it.
    pub stage: DeadLetterStage,
    /// The parser, validator or sink that refused it.
    pub component: String,
    /// Why, in words.
    pub reason: String,
    /// A stable short label for the reason (`json`, `too_long`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The file or feed the record came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Byte offset of the record in `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The original record when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The original record, base64-encoded, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_base64: Option<String>,
    /// True when the original was longer than [`MAX_ORIGINAL_BYTES`] and was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub original_truncated: bool,
    /// The event, for records refused after parsing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Box<Event>>,
}

impl DeadLetter {
    /// A dead letter for a record that never became an event.
    pub fn for_line(
        stage: DeadLetterStage,
        component: impl Into<String>,
        reason: impl Into<String>,
        original: &[u8],
    ) -> Self {
        let mut letter = Self::bare(stage, component, reason);
        letter.set_original(original);
        letter
    }

    /// A dead letter for an event; its raw record, if any, is kept as the original.
    pub fn for_event(
        stage: DeadLetterStage,
        component: impl Into<String>,
        reason: impl Into<String>,
        event: Event,
    ) -> Self {
        let mut letter = Self::bare(stage, component, reason);
        if let Some(raw) = &event.raw {
            letter.set_original(raw.as_bytes());
        }
        letter.event = Some(Box::new(event));
        letter
    }

    /// Sets the source and offset.
    pub fn with_origin(mut self, source: impl Into<String>, offset: u64) -> Self {
        self.source = Some(source.into());
        self.offset = Some(offset);
        self
    }

    /// Sets the reason label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The original bytes, decoded from whichever field holds them.
    pub fn original_bytes(&self) -> Option<Vec<u8>> {
        if let Some(text) = &self.original {
            return Some(text.clone().into_bytes());
        }
        self.original_base64.as_deref().and_then(base64_decode)
    }

    fn bare(
        stage: DeadLetterStage,
        component: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            time: Timestamp::now(),
            stage,
            component: component.into(),
            reason: reason.into(),
            label: None,
            source: None,
            offset: None,
            original: None,
            original_base64: None,
            original_truncated: false,
            event: None,
        }
    }

    fn set_original(&mut self, original: &[u8]) {
        let kept = if original.len() > MAX_ORIGINAL_BYTES {
            self.original_truncated = true;
            &original[..MAX_ORIGINAL_BYTES]
        } else {
            original
        };
        match std::str::from_utf8(kept) {
            Ok(text) => self.original = Some(text.to_owned()),
            Err(_) => self.original_base64 = Some(base64_encode(kept)),
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(feature = "runtime")]
pub use writer::{DeadLetterSender, DeadLetterWriter, OpenError};

#[cfg(feature = "runtime")]
mod writer {
    use std::fs::{File, OpenOptions};
    use std::io::{BufWriter, Write};
    use std::path::{Path, PathBuf};

    use tokio::sync::mpsc;

    use super::DeadLetter;
    use crate::ack::{AckBatch, DeliveryStatus};
    use crate::metrics::PipelineMetrics;

    type Item = (DeadLetter, Option<AckBatch>);

    /// Sends records to the dead-letter file. Cheap to clone.
    #[derive(Clone, Debug)]
    pub struct DeadLetterSender {
        sender: mpsc::Sender<Item>,
        metrics: PipelineMetrics,
    }

    impl DeadLetterSender {
        /// A sender whose writer is gone: every record sent is logged as lost.
        pub fn disconnected() -> Self {
            let (sender, _) = mpsc::channel(1);
            Self {
                sender,
                metrics: PipelineMetrics::default(),
            }
        }

        /// Queues a record; the batch, if any, is marked dead-lettered once it is on disk.
        ///
        /// Waits while the writer's queue is full (backpressure). If the writer is gone the
        /// record is logged and the batch marked failed, so its source does not commit.
        pub async fn send(&self, letter: DeadLetter, ack: Option<AckBatch>) {
            self.metrics.dead_lettered(letter.stage, &letter.component);
            if let Err(mpsc::error::SendError((letter, ack))) =
                self.sender.send((letter, ack)).await
            {
                lost(&letter, ack);
            }
        }

        /// Like [`send`](Self::send), from a thread outside the async runtime.
        pub fn blocking_send(&self, letter: DeadLetter, ack: Option<AckBatch>) {
            self.metrics.dead_lettered(letter.stage, &letter.component);
            if let Err(mpsc::error::SendError((letter, ack))) =
                self.sender.blocking_send((letter, ack))
            {
                lost(&letter, ack);
            }
        }
    }

    fn lost(letter: &DeadLetter, ack: Option<AckBatch>) {
        tracing::error!(
            stage = letter.stage.as_str(),
            component = %letter.component,
            reason = %letter.reason,
            "dead-letter writer is gone; record not saved"
        );
        if let Some(ack) = ack {
            ack.update(DeliveryStatus::Failed);
        }
    }

    /// The thread that appends dead letters to their file.
    pub struct DeadLetterWriter {
        handle: std::thread::JoinHandle<()>,
    }

    /// Failure to open the dead-letter file.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot open dead-letter file {path}: {source}")]
    pub struct OpenError {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    }

    impl DeadLetterWriter {
        /// Opens (appending, creating parent directories) `path` and starts the writer.
        pub fn start(
            path: &Path,
            capacity: usize,
            metrics: PipelineMetrics,
        ) -> Result<(Self, DeadLetterSender), OpenError> {
            let open = || -> std::io::Result<File> {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                OpenOptions::new().create(true).append(true).open(path)
            };
            let file = open().map_err(|source| OpenError {
                path: path.to_owned(),
                source,
            })?;
            let (sender, receiver) = mpsc::channel(capacity.max(1));
            let queue_metrics = metrics.clone();
            let path = path.to_owned();
            let handle = std::thread::Builder::new()
                .name("hpti-dead-letters".into())
                .spawn(move || write_loop(BufWriter::new(file), &path, receiver, &queue_metrics))
                .map_err(|source| OpenError {
                    path: PathBuf::from("<thread>"),
                    source,
                })?;
            Ok((Self { handle }, DeadLetterSender { sender, metrics }))
        }

        /// Waits until every sender is dropped and everything queued is on disk.
        pub fn join(self) {
            if self.handle.join().is_err() {
                tracing::error!("dead-letter writer thread panicked");
            }
        }
    }

    fn write_loop(
        mut file: BufWriter<File>,
        path: &Path,
        mut receiver: mpsc::Receiver<Item>,
        metrics: &PipelineMetrics,
    ) {
        let mut pending: Vec<AckBatch> = Vec::new();
        while let Some(first) = receiver.blocking_recv() {
            let mut ok = true;
            let mut item = Some(first);
            while let Some((letter, ack)) = item.take() {
                ok &= serde_json::to_writer(&mut file, &letter).is_ok()
                    && file.write_all(b"\n").is_ok();
                pending.extend(ack);
                item = receiver.try_recv().ok();
            }
            ok &= file.flush().is_ok();
            metrics.queue_depth("dead_letter", receiver.len());
            let status = if ok {
                DeliveryStatus::DeadLettered
            } else {
                tracing::error!(path = %path.display(), "writing dead letters failed");
                DeliveryStatus::Failed
            };
            for ack in pending.drain(..) {
                ack.update(status);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn non_utf8_original_is_base64() {
        let letter = DeadLetter::for_line(DeadLetterStage::Parse, "hpti", "bad", &[0xff, 0xfe]);
        assert_eq!(letter.original, None);
        assert_eq!(letter.original_bytes(), Some(vec![0xff, 0xfe]));
    }

    #[test]
    fn huge_original_is_truncated_and_flagged() {
        let big = vec![b'a'; MAX_ORIGINAL_BYTES + 10];
        let letter = DeadLetter::for_line(DeadLetterStage::Parse, "hpti", "bad", &big);
        assert!(letter.original_truncated);
        assert_eq!(letter.original.map(|o| o.len()), Some(MAX_ORIGINAL_BYTES));
    }
}
