//! Reading existing logs: a [`FileSource`] reads a file line by line through a
//! [`Parser`], and commits its position in a [`CheckpointStore`] only after the pipeline
//! has acknowledged every event before it (at-least-once; with idempotent sinks, every
//! event is stored exactly once however often the reader is killed and restarted).
//!
//! A file is recognised by device, inode and a fingerprint of its first bytes, not by
//! name, so a rotated or replaced file is never resumed at a stale offset.

use std::collections::BTreeMap;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

use crate::ack::{AckBatch, AckReceiver};
use crate::dead_letter::{DeadLetter, DeadLetterStage};
use crate::metrics::PipelineMetrics;
use crate::parser::{ParseContext, Parser};
use crate::pipeline::{Envelope, Origin};
use crate::sensor::{Sensor, SensorContext, SensorError};

/// Bytes of the start of a file that identify it.
const FINGERPRINT_BYTES: usize = 1024;

/// Where a file was read up to, and how to recognise the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub inode: u64,
    /// SHA-256 of the first `fingerprint_len` bytes.
    pub fingerprint: String,
    /// How many bytes the fingerprint covers (less than 1 KiB for short files).
    pub fingerprint_len: usize,
    /// Byte offset up to which every line is accounted for.
    pub offset: u64,
}

/// Checkpoints of many files in one JSON file, replaced atomically on every commit.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
    entries: Arc<Mutex<BTreeMap<String, Checkpoint>>>,
}

/// Failure to read or write checkpoints.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint file {path}: {source}")]
pub struct CheckpointError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl CheckpointStore {
    /// Loads the store at `path` (an absent file is an empty store).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let path = path.into();
        let entries = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CheckpointError {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(CheckpointError { path, source }),
        };
        Ok(Self {
            path,
            entries: Arc::new(Mutex::new(entries)),
        })
    }

    /// The checkpoint for a file path, if any.
    pub fn get(&self, file: &str) -> Option<Checkpoint> {
        self.lock().get(file).cloned()
    }

    /// Records a checkpoint and writes the store (temporary file, fsync, rename).
    pub fn commit(&self, file: &str, checkpoint: Checkpoint) -> Result<(), CheckpointError> {
        let snapshot = {
            let mut entries = self.lock();
            entries.insert(file.to_owned(), checkpoint);
            serde_json::to_vec_pretty(&*entries).unwrap_or_default()
        };
        let error = |source| CheckpointError {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(error)?;
            file.write_all(&snapshot).map_err(error)?;
            file.sync_all().map_err(error)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(error)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Checkpoint>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// What one read of a file did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadReport {
    /// Lines read (from the resume offset on).
    pub lines: u64,
    /// Lines that became events.
    pub events: u64,
    /// Lines the parser rejected (dead-lettered).
    pub parse_errors: u64,
    /// Lines the parser skipped on purpose (blank lines, comments).
    pub skipped: u64,
    /// Offset the read started at (non-zero when resuming).
    pub resumed_at: u64,
}

/// Settings of a [`FileSource`].
#[derive(Debug, Clone)]
pub struct FileSourceOptions {
    /// Sensor name given to events whose records do not name one.
    pub sensor: String,
    /// Longest line accepted; longer lines are dead-lettered (cut) and skipped.
    pub max_line_bytes: usize,
    /// Lines per acknowledgement batch (and so per checkpoint commit).
    pub lines_per_batch: usize,
}

impl Default for FileSourceOptions {
    fn default() -> Self {
        Self {
            sensor: "import".into(),
            max_line_bytes: 1024 * 1024,
            lines_per_batch: 1024,
        }
    }
}

/// Reads one file to its end through a parser, resuming from its checkpoint.
pub struct FileSource {
    path: PathBuf,
    parser: Arc<dyn Parser>,
    checkpoints: CheckpointStore,
    options: FileSourceOptions,
    metrics: PipelineMetrics,
    report: Mutex<ReadReport>,
}

impl FileSource {
    /// A source for `path`.
    pub fn new(
        path: impl Into<PathBuf>,
        parser: Arc<dyn Parser>,
        checkpoints: CheckpointStore,
        options: FileSourceOptions,
        metrics: PipelineMetrics,
    ) -> Self {
        Self {
            path: path.into(),
            parser,
            checkpoints,
            options,
            metrics,
            report: Mutex::new(ReadReport::default()),
        }
    }

    /// What the last run did.
    pub fn report(&self) -> ReadReport {
        match self.report.lock() {
            Ok(report) => *report,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn key(&self) -> String {
        std::path::absolute(&self.path)
            .unwrap_or_else(|_| self.path.clone())
            .display()
            .to_string()
    }
}

async fn identify(path: &Path) -> io::Result<(u64, u64, String, usize)> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    let (dev, inode) = file_id(&meta);
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok((dev, inode, hex(&Sha256::digest(&head)), filled))
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where to resume: the checkpoint's offset if it is for this very file.
async fn resume_offset(path: &Path, saved: Option<&Checkpoint>, len: u64) -> io::Result<u64> {
    let Some(saved) = saved else { return Ok(0) };
    let (dev, inode, _, _) = identify(path).await?;
    if saved.dev != dev
        || saved.inode != inode
        || saved.offset > len
        || (saved.fingerprint_len as u64) > len
    {
        return Ok(0);
    }
    // The file may have grown since: compare the fingerprint over the same length.
    let mut file = tokio::fs::File::open(path).await?;
    let mut head = vec![0u8; saved.fingerprint_len];
    file.read_exact(&mut head).await?;
    if hex(&Sha256::digest(&head)) != saved.fingerprint {
        return Ok(0);
    }
    Ok(saved.offset)
}

/// Reads one line of at most `max` bytes into `line`; longer lines are consumed to their
/// end without being buffered. Returns bytes consumed (0 at end of file) and whether the
/// line was cut.
async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, bool)> {
    line.clear();
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((consumed, cut));
        }
        let (chunk, done) = match memchr_newline(available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            cut = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, cut));
        }
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Commits checkpoints in order as acknowledgements arrive.
async fn commit_in_order(
    mut pending: mpsc::Receiver<(u64, AckReceiver)>,
    checkpoints: CheckpointStore,
    key: String,
    identity: (u64, u64, String, usize),
) {
    let (dev, inode, fingerprint, fingerprint_len) = identity;
    while let Some((offset, receiver)) = pending.recv().await {
        let status = receiver.await;
        if !status.is_accounted_for() {
            tracing::error!(file = %key, offset, "events were lost downstream; not committing past them");
            // Drain without committing: everything after is uncommitted too.
            while pending.recv().await.is_some() {}
            return;
        }
        let checkpoint = Checkpoint {
            dev,
            inode,
            fingerprint: fingerprint.clone(),
            fingerprint_len,
            offset,
        };
        if let Err(err) = checkpoints.commit(&key, checkpoint) {
            tracing::error!(error = %err, "cannot write checkpoint");
        }
    }
}

#[async_trait]
impl Sensor for FileSource {
    fn name(&self) -> &str {
        self.parser.name()
    }

    async fn run(&self, ctx: SensorContext) -> Result<(), SensorError> {
        let path = &self.path;
        let key = self.key();
        let open_error =
            |e: io::Error| SensorError::new(format!("cannot read {}", path.display()), e);
        let file = tokio::fs::File::open(path).await.map_err(open_error)?;
        let len = file.metadata().await.map_err(open_error)?.len();
        let identity = identify(path).await.map_err(open_error)?;
        let start = resume_offset(path, self.checkpoints.get(&key).as_ref(), len)
            .await
            .map_err(open_error)?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        reader
            .seek(SeekFrom::Start(start))
            .await
            .map_err(open_error)?;

        let parser_name = self.parser.name().to_owned();
        let source: Arc<str> = Arc::from(path.display().to_string());
        let (commit_tx, commit_rx) = mpsc::channel(64);
        let committer = tokio::spawn(commit_in_order(
            commit_rx,
            self.checkpoints.clone(),
            key.clone(),
            identity,
        ));
        let parsed = self.metrics.counter("parser", &parser_name, "parsed");
        let rejected = self.metrics.counter("parser", &parser_name, "rejected");

        let mut report = ReadReport {
            resumed_at: start,
            ..ReadReport::default()
        };
        let mut offset = start;
        let mut line = Vec::with_capacity(4096);
        let (mut batch, mut receiver) = AckBatch::new();
        let mut lines_in_batch = 0;
        let mut result = Ok(());
        loop {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            let (consumed, cut) = match read_bounded_line(
                &mut reader,
                &mut line,
                self.options.max_line_bytes,
            )
            .await
            {
                Ok(read) => read,
                Err(e) => {
                    result = Err(open_error(e));
                    break;
                }
            };
            if consumed == 0 {
                break;
            }
            let line_offset = offset;
            offset += consumed as u64;
            report.lines += 1;
            lines_in_batch += 1;
            let content = strip_line_end(&line);
            if cut {
                report.parse_errors += 1;
                rejected.inc();
                self.metrics.count("parser", &parser_name, "too_long", 1);
                let letter = DeadLetter::for_line(
                    DeadLetterStage::Parse,
                    &parser_name,
                    format!(
                        "line is {consumed} bytes, over the limit of {}",
                        self.options.max_line_bytes
                    ),
                    content,
                )
                .with_origin(&*source, line_offset)
                .with_label("too_long");
                ctx.dead_letters.send(letter, Some(batch.clone())).await;
            } else {
                let parse_ctx = ParseContext {
                    source: &source,
                    offset: line_offset,
                    sensor: &self.options.sensor,
                };
                match self.parser.parse(content, &parse_ctx) {
                    Ok(Some(event)) => {
                        report.events += 1;
                        parsed.inc();
                        let envelope = Envelope {
                            event,
                            ack: Some(batch.clone()),
                            origin: Some(Origin {
                                source: source.clone(),
                                offset: line_offset,
                            }),
                        };
                        if ctx.events.emit_envelope(envelope).await.is_err() {
                            result = Err(SensorError::msg("pipeline closed while reading"));
                            break;
                        }
                    }
                    Ok(None) => report.skipped += 1,
                    Err(err) => {
                        report.parse_errors += 1;
                        rejected.inc();
                        self.metrics.count("parser", &parser_name, err.label(), 1);
                        let letter = DeadLetter::for_line(
                            DeadLetterStage::Parse,
                            &parser_name,
                            err.to_string(),
                            content,
                        )
                        .with_origin(&*source, line_offset)
                        .with_label(err.label());
                        ctx.dead_letters.send(letter, Some(batch.clone())).await;
                    }
                }
            }
            if lines_in_batch >= self.options.lines_per_batch {
                let (next_batch, next_receiver) = AckBatch::new();
                drop(std::mem::replace(&mut batch, next_batch));
                let done = std::mem::replace(&mut receiver, next_receiver);
                if commit_tx.send((offset, done)).await.is_err() {
                    break;
                }
                lines_in_batch = 0;
            }
        }
        drop(batch);
        if lines_in_batch > 0 {
            let _ = commit_tx.send((offset, receiver)).await;
        }
        drop(commit_tx);
        if let Err(err) = committer.await {
            tracing::error!(error = %err, "checkpoint committer failed");
        }
        match self.report.lock() {
            Ok(mut slot) => *slot = report,
            Err(poisoned) => *poisoned.into_inner() = report,
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_lines_cut_long_lines_without_buffering_them() {
        let data = format!("short\n{}\nlast", "x".repeat(100));
        let mut reader = BufReader::with_capacity(8, data.as_bytes());
        let mut line = Vec::new();
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 10).await.unwrap(),
            (6, false)
        );
        assert_eq!(line, b"short\n");
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 10).await.unwrap(),
            (101, true)
        );
        assert_eq!(line.len(), 10);
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 10).await.unwrap(),
            (4, false)
        );
        assert_eq!(line, b"last");
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 10).await.unwrap(),
            (0, false)
        );
    }

    #[test]
    fn checkpoints_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp/checkpoints.json");
        let store = CheckpointStore::open(&path).unwrap();
        let checkpoint = Checkpoint {
            dev: 1,
            inode: 2,
            fingerprint: "ab".into(),
            fingerprint_len: 3,
            offset: 42,
        };
        store.commit("/var/log/x", checkpoint.clone()).unwrap();
        let reopened = CheckpointStore::open(&path).unwrap();
        assert_eq!(reopened.get("/var/log/x"), Some(checkpoint));
        assert_eq!(reopened.get("/var/log/y"), None);
    }

    #[tokio::test]
    async fn a_replaced_file_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, b"first line\nsecond line\n").unwrap();
        let (dev, inode, fingerprint, fingerprint_len) = identify(&path).await.unwrap();
        let saved = Checkpoint {
            dev,
            inode,
            fingerprint,
            fingerprint_len,
            offset: 11,
        };
        assert_eq!(resume_offset(&path, Some(&saved), 23).await.unwrap(), 11);
        std::fs::write(&path, b"other line!\nsecond line\n").unwrap();
        assert_eq!(resume_offset(&path, Some(&saved), 24).await.unwrap(), 0);
    }
}
