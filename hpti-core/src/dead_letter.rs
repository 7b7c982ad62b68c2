//! Dead letters: records the pipeline could not store, kept with the reason and the
//! original bytes in a JSON-lines file, so nothing disappears silently.
//!
//! The file is shared between the writer of a running pipeline and `hpti dlq replay`,
//! which moves it aside: both hold an advisory lock on `<file>.lock` while they touch it
//! (the writer for each batch it appends, [`take_aside`] for the rename), and the writer
//! reopens the file by path whenever the path no longer names the file it has open. So
//! a record is either in the file that was moved aside or in the new one, never appended
//! to a file after it was taken. The file is capped (`max_bytes`): past the cap records
//! are refused (counted, logged, and their batch marked failed so that their source does
//! not commit past them) rather than filling the disk.

use serde::{Deserialize, Serialize};

use crate::event::{Event, Timestamp};

/// Largest original record kept in a dead letter; longer ones are cut and flagged.
pub const MAX_ORIGINAL_BYTES: usize = 1024 * 1024;

/// Longest line [`DeadLetterReader`] accepts by default: a record of
/// [`MAX_ORIGINAL_BYTES`] with JSON escaping (up to 6 bytes a byte) and its event.
pub const MAX_LINE_BYTES: usize = 16 * MAX_ORIGINAL_BYTES;

/// Default cap of the dead-letter file (`PipelineConfig::dead_letter_max_bytes`).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// A line of a dead-letter file that could not be read as a dead letter.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterReadError {
    /// Reading the file failed; reading stops.
    #[error("line {line}: {source}")]
    Io {
        /// 1-based line number.
        line: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The line is longer than the reader's limit; it was skipped without being held.
    #[error("line {line}: longer than {max} bytes; skipped")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        max: usize,
    },
    /// The line is not JSON of a dead letter.
    #[error("line {line}: not a dead letter: {source}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Streams the records of a dead-letter file one line at a time, holding at most one
/// line of at most `max_line` bytes: `hpti dlq` must not load a file of gigabytes.
/// Blank lines are skipped; bad lines are items of their own, so reading goes on.
#[derive(Debug)]
pub struct DeadLetterReader<R> {
    reader: R,
    max_line: usize,
    line: u64,
    failed: bool,
}

impl DeadLetterReader<std::io::BufReader<std::fs::File>> {
    /// Opens `path`; `Ok(None)` when there is no such file.
    pub fn open(path: &std::path::Path, max_line: usize) -> std::io::Result<Option<Self>> {
        match std::fs::File::open(path) {
            Ok(file) => Ok(Some(Self::new(
                std::io::BufReader::with_capacity(64 * 1024, file),
                max_line,
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<R: std::io::BufRead> DeadLetterReader<R> {
    /// Reads records from `reader`, lines of at most `max_line` bytes.
    pub fn new(reader: R, max_line: usize) -> Self {
        Self {
            reader,
            max_line,
            line: 0,
            failed: false,
        }
    }

    /// The next line, or `None` at the end; `Err(true)` for a line over the limit.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
        let mut consumed = 0usize;
        let mut too_long = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok((consumed > 0).then_some(too_long));
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            if !too_long && buf.len() + chunk.len() > self.max_line {
                too_long = true;
                buf.clear();
            }
            if !too_long {
                buf.extend_from_slice(chunk);
            }
            let n = chunk.len() + usize::from(done);
            self.reader.consume(n);
            consumed += n;
            if done {
                return Ok(Some(too_long));
            }
        }
    }
}

impl<R: std::io::BufRead> Iterator for DeadLetterReader<R> {
    type Item = Result<DeadLetter, DeadLetterReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = self.next_line(&mut buf);
            self.line += 1;
            let line = self.line;
            match read {
                Ok(None) => return None,
                Err(source) => {
                    self.failed = true;
                    return Some(Err(DeadLetterReadError::Io { line, source }));
                }
                Ok(Some(true)) => {
                    return Some(Err(DeadLetterReadError::TooLong {
                        line,
                        max: self.max_line,
                    }));
                }
                Ok(Some(false)) if buf.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Some(false)) => {
                    return Some(
                        serde_json::from_slice(&buf)
                            .map_err(|source| DeadLetterReadError::Malformed { line, source }),
                    );
                }
            }
        }
    }
}

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
pub use writer::{DeadLetterSender, DeadLetterWriter, FileLock, OpenError, lock_path, take_aside};

#[cfg(feature = "runtime")]
mod writer {
    use std::fs::{File, OpenOptions};
    use std::io::{BufWriter, Write};
    use std::path::{Path, PathBuf};

    use super::DEFAULT_MAX_FILE_BYTES;

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

    /// The advisory lock file of a dead-letter file: `<file>.lock` beside it (a lock on
    /// the file itself would not survive its rename).
    pub fn lock_path(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// An exclusive advisory lock on a dead-letter file, held until dropped.
    #[derive(Debug)]
    pub struct FileLock {
        #[cfg_attr(not(unix), allow(dead_code))]
        file: File,
    }

    impl FileLock {
        /// Takes the lock of the dead-letter file `path`, waiting for its holder.
        pub fn exclusive(path: &Path) -> std::io::Result<Self> {
            let lock = lock_path(path);
            if let Some(parent) = lock.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock)?;
            #[cfg(unix)]
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
            Ok(Self { file })
        }
    }

    impl Drop for FileLock {
        fn drop(&mut self) {
            #[cfg(unix)]
            let _ = rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock);
        }
    }

    /// Moves the dead-letter file `path` to `aside` under its lock, so that a writer of
    /// a running pipeline never appends to it afterwards (it reopens `path`). `Ok(false)`
    /// when there is no file. Blocking.
    pub fn take_aside(path: &Path, aside: &Path) -> std::io::Result<bool> {
        let _lock = FileLock::exclusive(path)?;
        match std::fs::rename(path, aside) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
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
        /// Opens (appending, creating parent directories) `path` and starts the writer,
        /// with the default cap of the file ([`DEFAULT_MAX_FILE_BYTES`]).
        pub fn start(
            path: &Path,
            capacity: usize,
            metrics: PipelineMetrics,
        ) -> Result<(Self, DeadLetterSender), OpenError> {
            Self::start_with_limit(path, capacity, DEFAULT_MAX_FILE_BYTES, metrics)
        }

        /// Like [`start`](Self::start), refusing records that would make the file larger
        /// than `max_bytes` (counted as `hpti_events_total{stage="dead_letter",
        /// component="file", outcome="refused_full"}`).
        pub fn start_with_limit(
            path: &Path,
            capacity: usize,
            max_bytes: u64,
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
                .spawn(move || {
                    write_loop(
                        Output {
                            file: BufWriter::new(file),
                            path,
                            max_bytes,
                        },
                        receiver,
                        &queue_metrics,
                    );
                })
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

    /// The file the writer appends to, and its cap.
    struct Output {
        file: BufWriter<File>,
        path: PathBuf,
        max_bytes: u64,
    }

    impl Output {
        /// Makes sure the open file is the one `path` names (it was moved aside by a
        /// replay, or deleted): reopens it by path if not. Called with the lock held.
        fn current(&mut self) -> std::io::Result<()> {
            let same = match (
                std::fs::metadata(&self.path),
                self.file.get_ref().metadata(),
            ) {
                (Ok(named), Ok(open)) => same_file(&named, &open),
                _ => false,
            };
            if !same {
                self.file.flush()?;
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                self.file = BufWriter::new(file);
            }
            Ok(())
        }
    }

    #[cfg(unix)]
    fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }

    #[cfg(not(unix))]
    fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
        true
    }

    /// Most records appended under one taking of the lock.
    const BATCH: usize = 1024;

    fn write_loop(mut out: Output, mut receiver: mpsc::Receiver<Item>, metrics: &PipelineMetrics) {
        let refused_full = metrics.counter("dead_letter", "file", "refused_full");
        let mut written: Vec<AckBatch> = Vec::new();
        let mut refused: Vec<AckBatch> = Vec::new();
        let mut line = Vec::new();
        while let Some(first) = receiver.blocking_recv() {
            let mut items = vec![first];
            while items.len() < BATCH {
                match receiver.try_recv() {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
            // Without the lock (it could not be taken), appending still beats losing.
            let lock = FileLock::exclusive(&out.path);
            if let Err(e) = &lock {
                tracing::warn!(path = %out.path.display(), error = %e, "cannot lock the dead-letter file");
            }
            let mut ok = out.current().is_ok();
            let mut size = out.file.get_ref().metadata().map_or(0, |m| m.len());
            let mut refused_now = 0u64;
            for (letter, ack) in items {
                line.clear();
                ok &= serde_json::to_writer(&mut line, &letter).is_ok();
                line.push(b'\n');
                if size.saturating_add(line.len() as u64) > out.max_bytes {
                    refused_now += 1;
                    refused.extend(ack);
                    continue;
                }
                ok &= out.file.write_all(&line).is_ok();
                size += line.len() as u64;
                written.extend(ack);
            }
            ok &= out.file.flush().is_ok();
            drop(lock);
            if refused_now > 0 {
                refused_full.inc_by(refused_now);
                tracing::error!(
                    path = %out.path.display(), refused = refused_now, max_bytes = out.max_bytes,
                    "dead-letter file is full; records refused (replay or remove it)"
                );
            }
            metrics.queue_depth("dead_letter", receiver.len());
            let status = if ok {
                DeliveryStatus::DeadLettered
            } else {
                tracing::error!(path = %out.path.display(), "writing dead letters failed");
                DeliveryStatus::Failed
            };
            for ack in written.drain(..) {
                ack.update(status);
            }
            // Not on disk: the source must not commit past them.
            for ack in refused.drain(..) {
                ack.update(DeliveryStatus::Failed);
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

    #[test]
    fn the_reader_streams_and_skips_lines_over_its_limit() {
        let good = |n: u64| {
            serde_json::to_string(
                &DeadLetter::for_line(DeadLetterStage::Parse, "hpti", "bad", b"x")
                    .with_origin("f", n),
            )
            .unwrap()
        };
        let text = format!(
            "{}\n\n{}\nnot json\n{}\n{}",
            good(1),
            "y".repeat(10_000),
            good(2),
            good(3)
        );
        let reader =
            DeadLetterReader::new(std::io::BufReader::with_capacity(64, text.as_bytes()), 1000);
        let items: Vec<_> = reader.collect();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].as_ref().unwrap().offset, Some(1));
        assert!(matches!(
            items[1],
            Err(DeadLetterReadError::TooLong { line: 3, max: 1000 })
        ));
        assert!(matches!(
            items[2],
            Err(DeadLetterReadError::Malformed { line: 4, .. })
        ));
        assert_eq!(items[3].as_ref().unwrap().offset, Some(2));
        assert_eq!(
            items[4].as_ref().unwrap().offset,
            Some(3),
            "a last line without newline"
        );
    }

    #[cfg(feature = "runtime")]
    mod file {
        use super::*;
        use crate::ack::{AckBatch, DeliveryStatus};
        use crate::metrics::PipelineMetrics;

        fn letter(n: u64) -> DeadLetter {
            DeadLetter::for_line(DeadLetterStage::Parse, "hpti", "bad", b"line").with_origin("f", n)
        }

        fn offsets(path: &std::path::Path) -> Vec<u64> {
            DeadLetterReader::open(path, MAX_LINE_BYTES)
                .unwrap()
                .map(|r| r.into_iter().map(|l| l.unwrap().offset.unwrap()).collect())
                .unwrap_or_default()
        }

        #[test]
        fn records_appended_while_the_file_is_taken_aside_are_never_lost() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("dead-letters.jsonl");
            let (writer, sender) =
                DeadLetterWriter::start(&path, 16, PipelineMetrics::default()).unwrap();
            const N: u64 = 20_000;
            let appender = std::thread::spawn(move || {
                for n in 0..N {
                    sender.blocking_send(letter(n), None);
                }
            });
            // A replay: take the file, read it, delete it; again and again.
            let mut seen = Vec::new();
            for round in 0..50 {
                let aside = dir.path().join(format!("aside-{round}"));
                if take_aside(&path, &aside).unwrap() {
                    seen.extend(offsets(&aside));
                    std::fs::remove_file(&aside).unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            appender.join().unwrap();
            writer.join();
            seen.extend(offsets(&path));
            seen.sort_unstable();
            assert_eq!(
                seen.len() as u64,
                N,
                "every record replayed or still in the file"
            );
            assert!(seen.iter().copied().eq(0..N), "each exactly once");
        }

        #[test]
        fn records_past_the_cap_are_refused_counted_and_not_acknowledged() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("dead-letters.jsonl");
            let line = serde_json::to_vec(&letter(0)).unwrap().len() as u64 + 1;
            let metrics = PipelineMetrics::default();
            let (writer, sender) =
                DeadLetterWriter::start_with_limit(&path, 16, 10 * line, metrics.clone()).unwrap();
            let (first, first_done) = AckBatch::new();
            for n in 0..5 {
                sender.blocking_send(letter(n), Some(first.clone()));
            }
            drop(first);
            let (second, second_done) = AckBatch::new();
            for n in 5..15 {
                sender.blocking_send(letter(n), Some(second.clone()));
            }
            drop(second);
            drop(sender);
            writer.join();
            assert!(std::fs::metadata(&path).unwrap().len() <= 10 * line);
            assert_eq!(offsets(&path), (0..10).collect::<Vec<_>>());
            assert_eq!(metrics.get("dead_letter", "file", "refused_full"), 5);
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            assert_eq!(rt.block_on(first_done), DeliveryStatus::DeadLettered);
            assert_eq!(rt.block_on(second_done), DeliveryStatus::Failed);
        }
    }
}
