//! Reading existing logs: a [`FileCollector`] reads files (paths or globs) line by line
//! through a [`Parser`], once or following them as they grow, and commits its position in
//! a [`CheckpointStore`] only after the pipeline has acknowledged every event before it
//! (at-least-once; with sinks idempotent on the event id, every event is stored exactly
//! once however often the reader is killed and restarted).
//!
//! A file is recognised by device, inode and a fingerprint of its first bytes, not by
//! name: after a rename-and-create rotation the renamed file keeps its checkpoint (a glob
//! that matches it resumes it where it was) and the new file starts from its beginning;
//! after copytruncate the shortened file is read again from its start. Gzip-compressed
//! files (rotated backlogs) are read through a decompressor. In follow mode a partial last
//! line waits for its newline.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

use crate::ack::{AckBatch, AckReceiver};
use crate::dead_letter::{DeadLetter, DeadLetterStage};
use crate::event::{Event, EventKind, Timestamp};
use crate::metrics::PipelineMetrics;
use crate::parser::{ParseContext, Parser};
use crate::pipeline::{Envelope, Origin};
use crate::source::{Source, SourceContext, SourceError};

/// Bytes of the start of a file that identify it.
const FINGERPRINT_BYTES: usize = 1024;

/// Where a file was read up to, and how to recognise the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The path the file had when last read (for people; identity is the rest).
    pub path: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub inode: u64,
    /// SHA-256 of the first `fingerprint_len` bytes.
    pub fingerprint: String,
    /// How many bytes the fingerprint covers (less than 1 KiB for short files).
    pub fingerprint_len: usize,
    /// Byte offset (of the decompressed stream, for gzip files) up to which every line is
    /// accounted for.
    pub offset: u64,
}

/// The identity of a file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub inode: u64,
    /// SHA-256 (hex) of the first `fingerprint_len` bytes.
    pub fingerprint: String,
    /// Bytes the fingerprint covers.
    pub fingerprint_len: usize,
}

impl FileIdentity {
    /// Reads the identity of the file at `path`.
    pub fn of(path: &Path) -> io::Result<Self> {
        Self::of_file(&mut std::fs::File::open(path)?)
    }

    /// Reads the identity of an open file (its first bytes: the position is moved).
    pub fn of_file(file: &mut std::fs::File) -> io::Result<Self> {
        use std::io::Seek as _;
        let (dev, inode) = file_id(&file.metadata()?);
        file.seek(io::SeekFrom::Start(0))?;
        let mut head = vec![0u8; FINGERPRINT_BYTES];
        let mut filled = 0;
        while filled < head.len() {
            let n = file.read(&mut head[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        head.truncate(filled);
        Ok(Self {
            dev,
            inode,
            fingerprint: hex(&Sha256::digest(&head)),
            fingerprint_len: filled,
        })
    }

    fn key(&self) -> String {
        format!("{}:{}", self.dev, self.inode)
    }

    /// True when `saved` was taken of this file (open as `file`): same device and
    /// inode, and the bytes it fingerprinted are still the first bytes of this file.
    fn matches(&self, saved: &Checkpoint, file: &mut std::fs::File) -> bool {
        use std::io::Seek as _;
        if saved.dev != self.dev || saved.inode != self.inode {
            return false;
        }
        if saved.fingerprint_len == self.fingerprint_len {
            return saved.fingerprint == self.fingerprint;
        }
        if saved.fingerprint_len > self.fingerprint_len {
            return false;
        }
        // The file has grown since: compare over the length the checkpoint covered.
        let mut head = vec![0u8; saved.fingerprint_len];
        file.seek(io::SeekFrom::Start(0))
            .and_then(|_| file.read_exact(&mut head))
            .map(|()| hex(&Sha256::digest(&head)) == saved.fingerprint)
            .unwrap_or(false)
    }
}

/// Checkpoints of many files in one JSON file, keyed by file identity, replaced
/// atomically on every commit.
///
/// Every commit writes, fsyncs and renames while holding the store's lock: committers of
/// different files share the one file, and a snapshot written outside the lock could be
/// torn (two writers on one temporary file) or renamed over a newer one.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
    entries: Arc<Mutex<BTreeMap<String, Checkpoint>>>,
    /// Where an unreadable checkpoint file was moved on open, until counted.
    moved_aside: Arc<Mutex<Option<PathBuf>>>,
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
    ///
    /// A file that does not parse (a disk that lost data, a hand edit) must not keep
    /// `hpti run` from starting: it is moved aside to `<path>.corrupt-<unix seconds>`,
    /// logged as an error, and the store starts empty. Files are then read again from
    /// their start, which stores nothing twice because sinks are idempotent on the event
    /// id. [`FileCollector::new`] counts it (`hpti_events_total{stage="collector",
    /// component="checkpoints", outcome="corrupt_moved_aside"}`).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let path = path.into();
        let mut moved_aside = None;
        let entries = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(entries) => entries,
                Err(parse) => {
                    let stamp = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let mut aside = path.clone().into_os_string();
                    aside.push(format!(".corrupt-{stamp}"));
                    let aside = PathBuf::from(aside);
                    std::fs::rename(&path, &aside).map_err(|source| CheckpointError {
                        path: path.clone(),
                        source,
                    })?;
                    tracing::error!(
                        path = %path.display(), moved_to = %aside.display(), error = %parse,
                        "checkpoint file is corrupt; moved aside, files will be read again from their start"
                    );
                    moved_aside = Some(aside);
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(CheckpointError { path, source }),
        };
        Ok(Self {
            path,
            entries: Arc::new(Mutex::new(entries)),
            moved_aside: Arc::new(Mutex::new(moved_aside)),
        })
    }

    /// Where a corrupt checkpoint file was moved when this store was opened, if it was;
    /// reported once (later calls answer `None`) so that it is counted once.
    pub fn take_moved_aside(&self) -> Option<PathBuf> {
        match self.moved_aside.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// Where to resume the file at `path` with identity `identity` (0 if unknown).
    pub fn resume_offset(&self, identity: &FileIdentity, file: &mut std::fs::File) -> u64 {
        let saved = self.lock().get(&identity.key()).cloned();
        saved
            .filter(|saved| identity.matches(saved, file))
            .map_or(0, |saved| saved.offset)
    }

    /// All checkpoints, by identity key (`dev:inode`).
    pub fn entries(&self) -> BTreeMap<String, Checkpoint> {
        self.lock().clone()
    }

    /// Records a checkpoint and writes the store (temporary file, fsync, rename, all under
    /// the lock). Blocking: call it from a blocking thread.
    pub fn commit(&self, checkpoint: Checkpoint) -> Result<(), CheckpointError> {
        let error = |source| CheckpointError {
            path: self.path.clone(),
            source,
        };
        let mut entries = self.lock();
        entries.insert(
            format!("{}:{}", checkpoint.dev, checkpoint.inode),
            checkpoint,
        );
        let snapshot = serde_json::to_vec_pretty(&*entries)
            .map_err(|e| error(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        // Per process: another process sharing the file (two `hpti ingest` runs) then
        // never writes into this one's temporary file.
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(error)?;
            file.write_all(&snapshot).map_err(error)?;
            file.sync_all().map_err(error)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(error)?;
        drop(entries);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Checkpoint>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// What reading did, summed over every file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadReport {
    /// Files read.
    pub files: u64,
    /// Files resumed from a checkpoint (not read from their start).
    pub resumed_files: u64,
    /// Lines read.
    pub lines: u64,
    /// Bytes read (of the decompressed stream for gzip files).
    pub bytes: u64,
    /// Lines that became events.
    pub events: u64,
    /// Lines the parser rejected (dead-lettered).
    pub parse_errors: u64,
    /// Lines the parser skipped on purpose (blank lines, comments, noise).
    pub skipped: u64,
    /// Files some of whose events were neither stored nor dead-lettered (a sink and the
    /// dead-letter file both failed, e.g. on a full disk). Their checkpoint stops before
    /// the first such event, so the next run reads them again from there.
    pub lost_files: u64,
}

impl ReadReport {
    fn add(&mut self, other: &ReadReport) {
        self.files += other.files;
        self.resumed_files += other.resumed_files;
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.events += other.events;
        self.parse_errors += other.parse_errors;
        self.skipped += other.skipped;
        self.lost_files += other.lost_files;
    }
}

/// Settings of a [`FileCollector`].
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Source name given to events whose records do not name one.
    pub sensor: String,
    /// Longest line accepted; longer lines are dead-lettered (cut) and skipped.
    pub max_line_bytes: usize,
    /// Lines per acknowledgement batch (and so per checkpoint commit).
    pub lines_per_batch: usize,
    /// Keep reading as files grow, and pick up new files matching the patterns.
    pub follow: bool,
    /// How often a followed file is checked for new data, rotation and truncation.
    pub poll_interval: Duration,
    /// Where the honeypot that wrote the logs keeps captured files, each named by its
    /// SHA-256 (Cowrie's `downloads` directory), and the artifact store to copy them into
    /// as their events are read.
    pub captured_files: Option<CapturedFiles>,
}

/// The captured files a log's records refer to, and where hpti keeps its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFiles {
    /// The other honeypot's directory of files named by SHA-256.
    pub from: PathBuf,
    /// hpti's artifact store (`<data>/artifacts`).
    pub artifacts: PathBuf,
    /// Largest file copied.
    pub max_bytes: u64,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        Self {
            sensor: "import".into(),
            max_line_bytes: 1024 * 1024,
            lines_per_batch: 1024,
            follow: false,
            poll_interval: Duration::from_millis(250),
            captured_files: None,
        }
    }
}

/// Reads files through a parser; a [`Source`] for the pipeline.
pub struct FileCollector {
    patterns: Vec<String>,
    parser: Arc<dyn Parser>,
    checkpoints: CheckpointStore,
    options: CollectorOptions,
    metrics: PipelineMetrics,
    report: Arc<Mutex<ReadReport>>,
}

impl FileCollector {
    /// A collector for `patterns` (paths or glob patterns such as `/var/log/cowrie/cowrie.json*`).
    pub fn new(
        patterns: Vec<String>,
        parser: Arc<dyn Parser>,
        checkpoints: CheckpointStore,
        options: CollectorOptions,
        metrics: PipelineMetrics,
    ) -> Self {
        if checkpoints.take_moved_aside().is_some() {
            metrics.count("collector", "checkpoints", "corrupt_moved_aside", 1);
        }
        Self {
            patterns,
            parser,
            checkpoints,
            options,
            metrics,
            report: Arc::new(Mutex::new(ReadReport::default())),
        }
    }

    /// What has been read so far.
    pub fn report(&self) -> ReadReport {
        match self.report.lock() {
            Ok(report) => *report,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// The files the patterns match now, sorted (so `x.2.gz`, `x.1`, `x` order is
    /// stable), each with its identity. Globbing, `stat` and reading fingerprints block
    /// (a slow or network filesystem, a directory of thousands of rotated files), so this
    /// runs on a blocking thread, not on the runtime's.
    async fn discover(&self) -> Result<Vec<(PathBuf, io::Result<FileIdentity>)>, SourceError> {
        let patterns = self.patterns.clone();
        let follow = self.options.follow;
        tokio::task::spawn_blocking(move || discover_blocking(&patterns, follow))
            .await
            .map_err(|e| SourceError::msg(format!("file discovery failed: {e}")))?
    }
}

fn discover_blocking(
    patterns: &[String],
    follow: bool,
) -> Result<Vec<(PathBuf, io::Result<FileIdentity>)>, SourceError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let is_glob = pattern.contains(['*', '?', '[']);
        if !is_glob {
            let path = PathBuf::from(pattern);
            if path.is_file() || !follow {
                files.push(path);
            }
            continue;
        }
        let paths = glob::glob(pattern)
            .map_err(|e| SourceError::new(format!("bad file pattern {pattern:?}"), e))?;
        files.extend(paths.filter_map(Result::ok).filter(|p| p.is_file()));
    }
    files.sort();
    files.dedup();
    Ok(files
        .into_iter()
        .map(|path| {
            let identity = FileIdentity::of(&path);
            (path, identity)
        })
        .collect())
}

#[async_trait]
impl Source for FileCollector {
    fn name(&self) -> &str {
        self.parser.name()
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let mut readers = tokio::task::JoinSet::new();
        let mut reading: HashSet<String> = HashSet::new();
        let mut first_error = None;
        loop {
            for (path, identity) in self.discover().await? {
                let identity = match identity {
                    Ok(identity) => identity,
                    Err(e) => {
                        let err = SourceError::new(format!("cannot read {}", path.display()), e);
                        if self.options.follow {
                            tracing::warn!(error = %err, "skipping file");
                            continue;
                        }
                        first_error.get_or_insert(err);
                        continue;
                    }
                };
                // Two patterns (or a rename during a scan) may name one file: read it once.
                if !reading.insert(identity.key()) {
                    continue;
                }
                let reader = FileReader {
                    path: path.clone(),
                    identity,
                    parser: self.parser.clone(),
                    checkpoints: self.checkpoints.clone(),
                    options: self.options.clone(),
                    metrics: self.metrics.clone(),
                    ctx: ctx.clone(),
                };
                let report = self.report.clone();
                readers.spawn(async move {
                    let key = reader.identity.key();
                    let result = reader.run().await;
                    if let Ok(read) = &result
                        && let Ok(mut total) = report.lock()
                    {
                        total.add(read);
                    }
                    (key, result)
                });
            }
            if !self.options.follow {
                break;
            }
            let rescan = tokio::time::sleep(self.options.poll_interval * 4);
            tokio::pin!(rescan);
            loop {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => {
                        while let Some(joined) = readers.join_next().await {
                            note_reader_end(joined, &mut reading, &mut first_error);
                        }
                        return first_error.map_or(Ok(()), Err);
                    }
                    Some(joined) = readers.join_next() => {
                        note_reader_end(joined, &mut reading, &mut first_error);
                    }
                    () = &mut rescan => break,
                }
            }
        }
        while let Some(joined) = readers.join_next().await {
            note_reader_end(joined, &mut reading, &mut first_error);
        }
        first_error.map_or(Ok(()), Err)
    }
}

type ReaderResult = (String, Result<ReadReport, SourceError>);

fn note_reader_end(
    joined: Result<ReaderResult, tokio::task::JoinError>,
    reading: &mut HashSet<String>,
    first_error: &mut Option<SourceError>,
) {
    match joined {
        Ok((key, Ok(_))) => {
            // A followed file that ended was rotated away or deleted; if it comes back
            // under a pattern (rotated name) it resumes from its checkpoint.
            reading.remove(&key);
        }
        Ok((key, Err(err))) => {
            reading.remove(&key);
            tracing::warn!(error = %err, "file reader stopped");
            first_error.get_or_insert(err);
        }
        Err(err) => {
            first_error.get_or_insert(SourceError::msg(format!("file reader failed: {err}")));
        }
    }
}

/// Reads one file (one identity) from its checkpoint.
struct FileReader {
    path: PathBuf,
    identity: FileIdentity,
    parser: Arc<dyn Parser>,
    checkpoints: CheckpointStore,
    options: CollectorOptions,
    metrics: PipelineMetrics,
    ctx: SourceContext,
}

/// Where lines come from: a plain file (seekable, followable) or a decompressed stream.
enum LineSource {
    Plain(BufReader<tokio::fs::File>),
    Gzip(mpsc::Receiver<io::Result<GzipLine>>),
}

/// One line of a decompressed stream, at most `max_line_bytes` of it (and its newline).
#[derive(Debug)]
struct GzipLine {
    /// The kept bytes, with the newline when the line had one.
    bytes: Vec<u8>,
    /// Bytes the line took in the decompressed stream.
    consumed: usize,
    /// The line was longer than the limit; the rest was read past, not kept.
    cut: bool,
}

impl FileReader {
    /// Copies the file `event` captured from the other honeypot's directory into the
    /// artifact store (counted in `hpti_events_total{stage="artifact_import"}` by outcome).
    /// A failure is logged and counted, never fatal: the event is kept either way.
    async fn import_captured_file(&self, files: &CapturedFiles, event: &Event, source: &str) {
        let sha256 = match &event.kind {
            EventKind::FileDownload {
                sha256: Some(sha256),
                ..
            }
            | EventKind::FileUpload {
                sha256: Some(sha256),
                ..
            } => sha256.to_ascii_lowercase(),
            _ => return,
        };
        let job = files.clone();
        let hash = sha256.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            crate::file::import_artifact(&job.artifacts, &job.from, &hash, job.max_bytes)
        })
        .await;
        let label = match outcome {
            Ok(Ok(imported)) => match imported {
                crate::file::Imported::Copied => "copied",
                crate::file::Imported::AlreadyStored => "already_stored",
                crate::file::Imported::Missing => "missing",
                crate::file::Imported::TooLarge => "too_large",
                crate::file::Imported::HashMismatch => "hash_mismatch",
            },
            Ok(Err(error)) => {
                tracing::warn!(%sha256, from = %files.from.display(), %error, "cannot copy a captured file");
                "error"
            }
            Err(error) => {
                tracing::warn!(%sha256, %error, "the copy of a captured file failed");
                "error"
            }
        };
        if matches!(label, "too_large" | "hash_mismatch") {
            tracing::warn!(%sha256, from = %files.from.display(), outcome = label, "captured file not copied");
        }
        self.metrics.count("artifact_import", source, label, 1);
    }

    async fn run(self) -> Result<ReadReport, SourceError> {
        let path = &self.path;
        let open_error =
            |e: io::Error| SourceError::new(format!("cannot read {}", path.display()), e);
        // The file is opened once, and what was opened is checked to be the file this
        // reader was started for: a rotation between the scan and the open would
        // otherwise read the new file under the old one's identity, and commit the old
        // file's checkpoint with the new one's offsets (the old file, found later under
        // its rotated name, would then be skipped). Blocking I/O (fingerprint, magic).
        let opened = {
            let (checkpoints, identity, owned) = (
                self.checkpoints.clone(),
                self.identity.clone(),
                path.clone(),
            );
            tokio::task::spawn_blocking(
                move || -> io::Result<Option<(std::fs::File, u64, Option<Compression>)>> {
                    let mut file = std::fs::File::open(&owned)?;
                    if FileIdentity::of_file(&mut file)?.key() != identity.key() {
                        return Ok(None);
                    }
                    let start = checkpoints.resume_offset(&identity, &mut file);
                    let compression = compression_of(&mut file)?;
                    Ok(Some((file, start, compression)))
                },
            )
            .await
            .map_err(|e| SourceError::msg(format!("reading {}: {e}", path.display())))?
        };
        let Some((opened, start, compression)) = opened.map_err(open_error)? else {
            // Moved away since the scan: the next scan finds it under its new name.
            tracing::debug!(file = %path.display(), "file replaced since the scan; reading it under its new name");
            return Ok(ReadReport::default());
        };
        let mut source = if let Some(compression) = compression {
            LineSource::Gzip(decompress_lines(
                path.clone(),
                compression,
                start,
                self.options.max_line_bytes,
            ))
        } else {
            let mut file = tokio::fs::File::from_std(opened);
            file.seek(io::SeekFrom::Start(start))
                .await
                .map_err(open_error)?;
            LineSource::Plain(BufReader::with_capacity(256 * 1024, file))
        };
        let follow = self.options.follow && compression.is_none();

        let parser_name = self.parser.name().to_owned();
        let source_name: Arc<str> = Arc::from(path.display().to_string());
        let (commit_tx, commit_rx) = mpsc::channel(64);
        let committer = tokio::spawn(commit_in_order(
            commit_rx,
            self.checkpoints.clone(),
            self.identity.clone(),
            path.display().to_string(),
        ));
        let parsed = self.metrics.counter("parser", &parser_name, "parsed");
        let rejected = self.metrics.counter("parser", &parser_name, "rejected");
        let skipped = self.metrics.counter("parser", &parser_name, "skipped");

        let mut report = ReadReport {
            files: 1,
            resumed_files: u64::from(start > 0),
            ..ReadReport::default()
        };
        // `offset`: just after the last line handed on; `line_bytes`: what the line being
        // assembled has taken from the file so far (a partial line grows across polls).
        let mut offset = start;
        let mut line = Vec::with_capacity(4096);
        let mut line_bytes = 0u64;
        let mut cut = false;
        let (mut batch, mut receiver) = AckBatch::new();
        let mut lines_in_batch = 0;
        let mut result = Ok(());
        loop {
            if self.ctx.shutdown.is_cancelled() {
                break;
            }
            let read = match &mut source {
                LineSource::Plain(reader) => {
                    read_bounded_line(reader, &mut line, &mut cut, self.options.max_line_bytes)
                        .await
                }
                LineSource::Gzip(lines) => match lines.recv().await {
                    Some(Ok(gz)) => {
                        cut = gz.cut;
                        line.extend_from_slice(&gz.bytes);
                        Ok(gz.consumed)
                    }
                    Some(Err(e)) => Err(e),
                    None => Ok(0),
                },
            };
            match read {
                Ok(consumed) => line_bytes += consumed as u64,
                Err(e) => {
                    result = Err(open_error(e));
                    break;
                }
            }
            if line.last() != Some(&b'\n') {
                // The end of what has been written so far, mid-line or between lines.
                if follow {
                    match self.wait_for_more(&source, offset + line_bytes).await {
                        Wait::More => continue,
                        Wait::Stop => break,
                        Wait::Truncated => {
                            tracing::warn!(file = %path.display(), "file was truncated; reading it again from its start");
                            if let LineSource::Plain(reader) = &mut source {
                                reader
                                    .seek(io::SeekFrom::Start(0))
                                    .await
                                    .map_err(open_error)?;
                            }
                            offset = 0;
                            line.clear();
                            line_bytes = 0;
                            cut = false;
                            continue;
                        }
                        // Rotated away or deleted: the writer has moved on, so a last
                        // line without newline is as complete as it will get.
                        Wait::Rotated | Wait::Gone if line.is_empty() => break,
                        Wait::Rotated | Wait::Gone => {}
                    }
                } else if line.is_empty() {
                    break;
                }
            }
            let line_offset = offset;
            offset += line_bytes;
            report.lines += 1;
            report.bytes += line_bytes;
            line_bytes = 0;
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
                        "line is over the limit of {} bytes",
                        self.options.max_line_bytes
                    ),
                    content,
                )
                .with_origin(&*source_name, line_offset)
                .with_label("too_long");
                self.ctx
                    .dead_letters
                    .send(letter, Some(batch.clone()))
                    .await;
            } else {
                let parse_ctx = ParseContext {
                    source: &source_name,
                    offset: line_offset,
                    sensor: &self.options.sensor,
                };
                match self.parser.parse(content, &parse_ctx) {
                    Ok(Some(mut event)) => {
                        report.events += 1;
                        parsed.inc();
                        if let Some(files) = &self.options.captured_files {
                            self.import_captured_file(files, &event, &source_name).await;
                        }
                        if event.observed.is_none() && event.raw.is_some() {
                            event.observed = Some(Timestamp::now());
                        }
                        let envelope = Envelope {
                            event,
                            ack: Some(batch.clone()),
                            origin: Some(Origin {
                                source: source_name.clone(),
                                offset: line_offset,
                            }),
                        };
                        if self.ctx.events.emit_envelope(envelope).await.is_err() {
                            result = Err(SourceError::msg("pipeline closed while reading"));
                            break;
                        }
                    }
                    Ok(None) => {
                        report.skipped += 1;
                        skipped.inc();
                    }
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
                        .with_origin(&*source_name, line_offset)
                        .with_label(err.label());
                        self.ctx
                            .dead_letters
                            .send(letter, Some(batch.clone()))
                            .await;
                    }
                }
            }
            line.clear();
            cut = false;
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
        match committer.await {
            Ok(true) => {}
            Ok(false) => report.lost_files += 1,
            Err(err) => {
                tracing::error!(error = %err, "checkpoint committer failed");
                report.lost_files += 1;
            }
        }
        result.map(|()| report)
    }

    /// Waits one poll interval in follow mode and says what happened to the file.
    async fn wait_for_more(&self, source: &LineSource, position: u64) -> Wait {
        tokio::select! {
            () = self.ctx.shutdown.cancelled() => return Wait::Stop,
            () = tokio::time::sleep(self.options.poll_interval) => {}
        }
        let LineSource::Plain(reader) = source else {
            return Wait::Gone;
        };
        let open_len = match reader.get_ref().metadata().await {
            Ok(meta) => meta.len(),
            Err(_) => return Wait::Gone,
        };
        let path = self.path.clone();
        let now = tokio::task::spawn_blocking(move || FileIdentity::of(&path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        match now {
            Ok(now) if now.dev == self.identity.dev && now.inode == self.identity.inode => {
                if open_len < position {
                    Wait::Truncated
                } else {
                    Wait::More
                }
            }
            Ok(_) => {
                // Renamed away and replaced. Whatever the writer appended before it moved
                // on is still readable through our handle.
                if open_len > position {
                    Wait::More
                } else {
                    Wait::Rotated
                }
            }
            Err(_) => {
                if open_len > position {
                    Wait::More
                } else {
                    Wait::Gone
                }
            }
        }
    }
}

enum Wait {
    More,
    Truncated,
    Rotated,
    Gone,
    Stop,
}

/// How a file is compressed, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    /// gzip (rotated logs: `cowrie.json.1.gz`).
    Gzip,
    /// zstd (hpti's archive objects, `*.jsonl.zst`).
    Zstd,
}

fn compression_of(file: &mut std::fs::File) -> io::Result<Option<Compression>> {
    use std::io::Seek as _;
    let mut magic = [0u8; 4];
    file.seek(io::SeekFrom::Start(0))?;
    let mut n = 0;
    while n < magic.len() {
        let read = file.read(&mut magic[n..])?;
        if read == 0 {
            break;
        }
        n += read;
    }
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Some(Compression::Gzip)
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Some(Compression::Zstd)
    } else {
        None
    })
}

/// Decompresses a gzip or zstd file on a blocking thread and hands its lines over, skipping the
/// first `skip` bytes of the decompressed stream (a checkpoint). A line is read in
/// buffer-sized chunks and at most `max` bytes of it kept, so a line of gigabytes
/// without a newline (a decompression bomb) never holds more than about `max` in memory.
fn decompress_lines(
    path: PathBuf,
    compression: Compression,
    skip: u64,
    max: usize,
) -> mpsc::Receiver<io::Result<GzipLine>> {
    // Lines are up to `max` each: keep the queue short enough that it holds a few
    // megabytes, not 1024 lines of the limit.
    let depth = (4 * 1024 * 1024 / max.max(1)).clamp(2, 1024);
    let (sender, receiver) = mpsc::channel(depth);
    tokio::task::spawn_blocking(move || {
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) => {
                let _ = sender.blocking_send(Err(e));
                return;
            }
        };
        let decoder: Box<dyn std::io::Read + Send> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
            // Reads every frame of a file of concatenated frames, as gzip does members.
            Compression::Zstd => match zstd::stream::read::Decoder::new(file) {
                Ok(decoder) => Box::new(decoder),
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            },
        };
        let mut reader = std::io::BufReader::new(decoder);
        if skip > 0 {
            let mut skipped = (&mut reader).take(skip);
            if let Err(e) = io::copy(&mut skipped, &mut io::sink()) {
                let _ = sender.blocking_send(Err(e));
                return;
            }
        }
        loop {
            match read_bounded_line_blocking(&mut reader, max) {
                Ok(None) => return,
                Ok(Some(line)) => {
                    if sender.blocking_send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    receiver
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

/// Appends to `line` up to and including the next newline, keeping at most `max` bytes
/// (longer lines are consumed to their end without being buffered; `cut` is set). Returns
/// the bytes consumed (0 at end of file). A line without a newline at the end of the data
/// is left in `line`; calling again appends the rest when it arrives.
async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    cut: &mut bool,
    max: usize,
) -> io::Result<usize> {
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            *cut = true;
            line.extend_from_slice(&chunk[..room]);
            if done {
                // Keep the terminator so the line counts as complete.
                line.push(b'\n');
            }
        } else {
            line.extend_from_slice(chunk);
        }
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if done {
            return Ok(consumed);
        }
    }
}

/// The blocking twin of [`read_bounded_line`] for the gzip thread: the next line, at most
/// `max` bytes of it kept; `None` at the end of the stream.
fn read_bounded_line_blocking<R: io::BufRead>(
    reader: &mut R,
    max: usize,
) -> io::Result<Option<GzipLine>> {
    let mut line = GzipLine {
        bytes: Vec::new(),
        consumed: 0,
        cut: false,
    };
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((line.consumed > 0).then_some(line));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(line.bytes.len());
        if chunk.len() > room {
            line.cut = true;
            line.bytes.extend_from_slice(&chunk[..room]);
            if done {
                line.bytes.push(b'\n');
            }
        } else {
            line.bytes.extend_from_slice(chunk);
        }
        let n = chunk.len();
        reader.consume(n);
        line.consumed += n;
        if done {
            return Ok(Some(line));
        }
    }
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Commits checkpoints in order as acknowledgements arrive; returns whether every event
/// was accounted for (stored or dead-lettered).
async fn commit_in_order(
    mut pending: mpsc::Receiver<(u64, AckReceiver)>,
    checkpoints: CheckpointStore,
    identity: FileIdentity,
    path: String,
) -> bool {
    while let Some((offset, receiver)) = pending.recv().await {
        let status = receiver.await;
        if !status.is_accounted_for() {
            tracing::error!(file = %path, offset, "events were lost downstream; not committing past them");
            while pending.recv().await.is_some() {}
            return false;
        }
        let checkpoint = Checkpoint {
            path: path.clone(),
            dev: identity.dev,
            inode: identity.inode,
            fingerprint: identity.fingerprint.clone(),
            fingerprint_len: identity.fingerprint_len,
            offset,
        };
        let store = checkpoints.clone();
        match tokio::task::spawn_blocking(move || store.commit(checkpoint)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "cannot write checkpoint"),
            Err(err) => tracing::error!(error = %err, "checkpoint writer failed"),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_lines_cut_long_lines_and_keep_partial_ones() {
        let data = format!("short\n{}\nlast", "x".repeat(100));
        let mut reader = BufReader::with_capacity(8, data.as_bytes());
        let mut line = Vec::new();
        let mut cut = false;
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, &mut cut, 10)
                .await
                .unwrap(),
            6
        );
        assert_eq!((line.as_slice(), cut), (&b"short\n"[..], false));
        line.clear();
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, &mut cut, 10)
                .await
                .unwrap(),
            101
        );
        assert!(cut);
        assert_eq!(line.len(), 11, "10 bytes kept and the newline");
        line.clear();
        cut = false;
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, &mut cut, 10)
                .await
                .unwrap(),
            4
        );
        assert_eq!(line, b"last", "a partial last line is left without newline");
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, &mut cut, 10)
                .await
                .unwrap(),
            0
        );
    }

    /// A rotation between the scan and the open: the reader must not read the new file
    /// under the old one's identity (it would commit the old file's checkpoint with the
    /// new file's offsets, and the old file would never be read).
    #[tokio::test]
    async fn a_file_replaced_since_the_scan_is_not_read_under_the_old_identity() {
        use crate::component::ComponentId;
        use crate::pipeline::{PipelineBuilder, PipelineConfig};
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, b"old line\n").unwrap();
        let scanned = FileIdentity::of(&log).unwrap();
        std::fs::rename(&log, dir.path().join("log.1")).unwrap();
        std::fs::write(&log, b"new line one\nnew line two\n").unwrap();

        let sink = Arc::new(crate::testing::MemorySink::new());
        let pipeline = PipelineBuilder::new(PipelineConfig::with_dead_letter_path(
            dir.path().join("dead-letters.jsonl"),
        ))
        .sink(ComponentId::new("main").unwrap(), sink.clone())
        .start()
        .unwrap();
        let checkpoints = CheckpointStore::open(dir.path().join("checkpoints.json")).unwrap();
        let reader = FileReader {
            path: log.clone(),
            identity: scanned,
            parser: Arc::from(crate::parser::builtin("hpti").unwrap()),
            checkpoints: checkpoints.clone(),
            options: CollectorOptions {
                follow: true,
                lines_per_batch: 1,
                ..CollectorOptions::default()
            },
            metrics: pipeline.metrics().clone(),
            ctx: SourceContext {
                events: pipeline.emitter(),
                dead_letters: pipeline.dead_letters(),
                shutdown: pipeline.shutdown_token(),
                rules: pipeline.rule_observer(),
            },
        };
        let report = tokio::time::timeout(Duration::from_secs(5), reader.run())
            .await
            .expect("the reader returns at once")
            .unwrap();
        assert_eq!(report.lines, 0);
        assert!(
            checkpoints.entries().is_empty(),
            "{:?}",
            checkpoints.entries()
        );
        pipeline.shutdown().await;
    }

    #[test]
    fn checkpoints_are_found_by_identity_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, b"first line\nsecond line\n").unwrap();
        let store = CheckpointStore::open(dir.path().join("cp/checkpoints.json")).unwrap();
        let identity = FileIdentity::of(&log).unwrap();
        store
            .commit(Checkpoint {
                path: log.display().to_string(),
                dev: identity.dev,
                inode: identity.inode,
                fingerprint: identity.fingerprint.clone(),
                fingerprint_len: identity.fingerprint_len,
                offset: 11,
            })
            .unwrap();
        let reopened = CheckpointStore::open(dir.path().join("cp/checkpoints.json")).unwrap();
        // Renamed: same identity, same checkpoint.
        let rotated = dir.path().join("log.1");
        std::fs::rename(&log, &rotated).unwrap();
        let identity = FileIdentity::of(&rotated).unwrap();
        assert_eq!(
            reopened.resume_offset(&identity, &mut std::fs::File::open(&rotated).unwrap()),
            11
        );
        // Grown: the fingerprint over the old length still matches.
        std::fs::write(&rotated, b"first line\nsecond line\nthird\n").unwrap();
        let identity = FileIdentity::of(&rotated).unwrap();
        assert_eq!(
            reopened.resume_offset(&identity, &mut std::fs::File::open(&rotated).unwrap()),
            11
        );
        // Rewritten in place with other content: start again.
        std::fs::write(&rotated, b"other line!\nsecond line\n").unwrap();
        let identity = FileIdentity::of(&rotated).unwrap();
        assert_eq!(
            reopened.resume_offset(&identity, &mut std::fs::File::open(&rotated).unwrap()),
            0
        );
    }

    #[tokio::test]
    async fn gzip_lines_are_read_in_bounded_chunks() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(b"first\n").unwrap();
        let block = vec![b'x'; 1024 * 1024];
        for _ in 0..50 {
            gz.write_all(&block).unwrap();
        }
        gz.write_all(b"\ngood one\ngood two\n").unwrap();
        gz.finish().unwrap();

        let max = 4096;
        let mut lines = decompress_lines(path, Compression::Gzip, 0, max);
        let mut got = Vec::new();
        while let Some(line) = lines.recv().await {
            let line = line.unwrap();
            assert!(
                line.bytes.len() <= max + 1,
                "{} bytes kept",
                line.bytes.len()
            );
            // Bounded while reading, not cut after: a line read whole and truncated
            // would keep the 50 MiB it grew to.
            assert!(
                line.bytes.capacity() <= 2 * (max + 1),
                "{} bytes held",
                line.bytes.capacity()
            );
            got.push(line);
        }
        assert_eq!(got.len(), 4);
        assert_eq!(
            (got[0].bytes.as_slice(), got[0].cut),
            (&b"first\n"[..], false)
        );
        assert!(got[1].cut);
        assert_eq!(got[1].consumed, 50 * 1024 * 1024 + 1);
        assert_eq!(got[2].bytes, b"good one\n");
        assert_eq!(got[3].bytes, b"good two\n");
        assert!(!got[3].cut);
    }

    #[tokio::test]
    async fn zstd_files_of_several_frames_are_read_whole_and_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-12-05-21.jsonl.zst");
        // Two frames back to back, as an archive object appended to would be.
        let mut bytes = zstd::bulk::compress(b"one\ntwo\n", 3).unwrap();
        bytes.extend(zstd::bulk::compress(b"three\n", 3).unwrap());
        std::fs::write(&path, &bytes).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        assert_eq!(compression_of(&mut file).unwrap(), Some(Compression::Zstd));

        let read = |skip| {
            let path = path.clone();
            async move {
                let mut lines = decompress_lines(path, Compression::Zstd, skip, 4096);
                let mut got = Vec::new();
                while let Some(line) = lines.recv().await {
                    got.push(String::from_utf8(line.unwrap().bytes).unwrap());
                }
                got
            }
        };
        assert_eq!(read(0).await, ["one\n", "two\n", "three\n"]);
        assert_eq!(read(4).await, ["two\n", "three\n"], "a checkpoint resumes");

        let plain = dir.path().join("plain.log");
        std::fs::write(&plain, b"(\xb5/").unwrap();
        let mut file = std::fs::File::open(&plain).unwrap();
        assert_eq!(
            compression_of(&mut file).unwrap(),
            None,
            "three bytes are not zstd"
        );
    }

    #[test]
    fn bounded_blocking_lines_keep_a_cut_last_line_without_newline() {
        let data = "y".repeat(100);
        let mut reader = std::io::BufReader::with_capacity(8, data.as_bytes());
        let line = read_bounded_line_blocking(&mut reader, 10)
            .unwrap()
            .unwrap();
        assert_eq!((line.bytes.len(), line.consumed, line.cut), (10, 100, true));
        assert!(
            line.bytes.capacity() < 100,
            "the line never held its whole length"
        );
        assert!(
            read_bounded_line_blocking(&mut reader, 10)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn concurrent_commits_leave_a_whole_checkpoint_with_the_newest_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        let store = CheckpointStore::open(&path).unwrap();
        let threads: Vec<_> = (0..16u64)
            .map(|writer| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for offset in 1..=40u64 {
                        store
                            .commit(Checkpoint {
                                path: format!("/log/{writer}"),
                                dev: 1,
                                inode: writer,
                                fingerprint: "f".into(),
                                fingerprint_len: 1,
                                offset,
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let reopened = CheckpointStore::open(&path).unwrap();
        assert!(reopened.take_moved_aside().is_none(), "the file must parse");
        let entries = reopened.entries();
        assert_eq!(entries.len(), 16);
        for writer in 0..16u64 {
            assert_eq!(entries[&format!("1:{writer}")].offset, 40);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "checkpoints.json")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_corrupt_checkpoint_file_is_moved_aside_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        std::fs::write(&path, b"{\"1:2\": {\"path\": \"/x\", \"dev\"").unwrap();
        let store = CheckpointStore::open(&path).unwrap();
        assert!(store.entries().is_empty());
        assert!(!path.exists());
        let aside = store.clone().take_moved_aside().unwrap();
        assert!(
            aside
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoints.json.corrupt-")
        );
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            b"{\"1:2\": {\"path\": \"/x\", \"dev\""
        );
        // Counted once, by the first collector built on the store.
        let store = CheckpointStore::open(&path).unwrap();
        std::fs::write(&path, b"not json").unwrap();
        let store2 = CheckpointStore::open(&path).unwrap();
        let metrics = PipelineMetrics::default();
        for _ in 0..2 {
            let parser: Arc<dyn Parser> = Arc::new(crate::parsers::OpenCanaryParser);
            let _ = FileCollector::new(
                vec![],
                parser,
                store2.clone(),
                CollectorOptions::default(),
                metrics.clone(),
            );
        }
        assert_eq!(
            metrics.get("collector", "checkpoints", "corrupt_moved_aside"),
            1
        );
        // Commits work after recovery.
        store
            .commit(Checkpoint {
                path: "/x".into(),
                dev: 1,
                inode: 2,
                fingerprint: "f".into(),
                fingerprint_len: 1,
                offset: 5,
            })
            .unwrap();
        assert_eq!(CheckpointStore::open(&path).unwrap().entries().len(), 1);
    }
}

/// `[sources.<id>] type = "file"`: log files of a known format (`hpti`, `cowrie`,
/// `opencanary`, `authlog`), read from where an earlier run stopped and followed as they
/// grow and rotate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// The log format.
    pub format: String,
    /// Paths or glob patterns.
    pub paths: Vec<String>,
    /// Keep reading as files grow (default true).
    #[serde(default = "default_follow")]
    pub follow: bool,
    /// Sensor name for records that do not name one (default `import`).
    #[serde(default = "default_sensor_name")]
    pub sensor: String,
    /// How often followed files are checked for growth (default `250ms`).
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// The honeypot's directory of captured files named by SHA-256 (Cowrie's
    /// `var/lib/cowrie/downloads`): each file a record names is copied into hpti's
    /// artifact store (hash checked, at most 64 MiB), so it is analysed and served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloads: Option<PathBuf>,
}

/// Largest captured file a log source copies into the artifact store.
pub const MAX_IMPORTED_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn default_follow() -> bool {
    true
}

fn default_sensor_name() -> String {
    "import".into()
}

fn default_poll() -> Duration {
    Duration::from_millis(250)
}

/// One checkpoint store per file in a process: two sources sharing `checkpoints.json`
/// must share its in-memory state, or each would write back a snapshot without the
/// other's offsets.
fn shared_checkpoints(path: &Path) -> Result<CheckpointStore, CheckpointError> {
    static OPEN: std::sync::OnceLock<Mutex<BTreeMap<PathBuf, CheckpointStore>>> =
        std::sync::OnceLock::new();
    let mut open = OPEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(store) = open.get(path) {
        return Ok(store.clone());
    }
    let store = CheckpointStore::open(path)?;
    open.insert(path.to_owned(), store.clone());
    Ok(store)
}

#[async_trait::async_trait]
impl crate::component::SourceConfig for FileSourceConfig {
    /// The directory of each pattern, up to its first wildcard: rotated and new files
    /// appear there.
    fn read_paths(&self, cx: &crate::component::BuildContext) -> Vec<std::path::PathBuf> {
        let downloads = self.downloads.as_deref().map(|dir| cx.data_path(dir));
        self.paths
            .iter()
            .map(|pattern| {
                let fixed: std::path::PathBuf = std::path::Path::new(pattern)
                    .components()
                    .take_while(|c| {
                        !c.as_os_str()
                            .to_string_lossy()
                            .contains(['*', '?', '[', '{'])
                    })
                    .collect();
                let dir = if !pattern.contains(['*', '?', '[', '{']) {
                    // No wildcard: the file's directory, for its rotations.
                    fixed
                        .parent()
                        .map(std::path::Path::to_owned)
                        .unwrap_or_default()
                } else {
                    fixed
                };
                // Patterns are read relative to the working directory, as globbed.
                if dir.as_os_str().is_empty() {
                    std::path::PathBuf::from(".")
                } else {
                    dir
                }
            })
            .chain(downloads)
            .collect()
    }

    async fn build(
        &self,
        cx: &crate::component::BuildContext,
    ) -> Result<Box<dyn crate::source::Source>, crate::component::BuildError> {
        use crate::component::BuildError;
        let parser = crate::parser::builtin(&self.format).ok_or_else(|| {
            BuildError::msg(format!(
                "unknown format `{}`, expected one of {}",
                self.format,
                crate::parser::BUILTIN_FORMATS.join(", ")
            ))
            .at_key("format")
        })?;
        if self.paths.is_empty() {
            return Err(BuildError::msg("give at least one path or pattern").at_key("paths"));
        }
        let checkpoints = shared_checkpoints(&cx.data_dir.join("checkpoints.json"))
            .map_err(|e| BuildError::new("cannot open the checkpoints", e))?;
        tracing::info!(source = %cx.id, format = %self.format, paths = ?self.paths, follow = self.follow, "reading logs");
        Ok(Box::new(FileCollector::new(
            self.paths.clone(),
            Arc::from(parser),
            checkpoints,
            CollectorOptions {
                sensor: self.sensor.clone(),
                follow: self.follow,
                poll_interval: self.poll_interval.max(Duration::from_millis(1)),
                captured_files: self.downloads.as_ref().map(|from| CapturedFiles {
                    from: cx.data_path(from),
                    artifacts: cx.data_dir.join("artifacts"),
                    max_bytes: MAX_IMPORTED_FILE_BYTES,
                }),
                ..CollectorOptions::default()
            },
            cx.metrics.clone(),
        )))
    }
}
