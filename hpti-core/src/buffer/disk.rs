//! The disk buffer's three workers, each on its own thread so that no `fdatasync`,
//! segment read or file deletion ever blocks the async runtime:
//!
//! - the **writer** appends what the sources emit to the current segment and syncs it,
//!   then tells the sources their events are safe;
//! - the **reader** feeds the processor from the segments, in order, with one
//!   acknowledgement per stretch of records;
//! - the **tracker** waits for those acknowledgements in order, records the position
//!   every durable sink has reached and deletes the segments behind it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::segment::{
    HEADER_LEN, MAGIC, SegmentError, SegmentReader, encode, list_segments, segment_path,
    valid_length,
};
use super::{BufferError, DiskBufferConfig, WhenFull};
use crate::ack::{AckBatch, AckReceiver, DeliveryStatus};
use crate::metrics::PipelineMetrics;
use crate::pipeline::Envelope;

/// The acknowledged position's file in the buffer directory.
const ACK_FILE: &str = "acknowledged.json";
/// Most events appended with one sync.
const WRITE_BATCH: usize = 4096;
/// Most bytes (by [`crate::event::Event::size_hint`]) gathered for one sync: the
/// writer's buffer stays small however large the events.
const WRITE_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How often, at most, the acknowledged position is written while events flow.
const SAVE_EVERY: Duration = Duration::from_millis(200);

/// A place in the buffer: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Position {
    segment: u64,
    offset: u64,
}

struct State {
    /// The end of the last synced record: the reader never reads past it.
    written: Position,
    /// Length of every segment on disk (the writer's current one included).
    segments: BTreeMap<u64, u64>,
    /// Sum of `segments`.
    bytes: u64,
    /// The writer has stopped: nothing past `written` will come.
    closed: bool,
}

impl State {
    /// Where the readable bytes of `segment` end.
    fn end_of(&self, segment: u64) -> u64 {
        if segment == self.written.segment {
            self.written.offset
        } else {
            self.segments.get(&segment).copied().unwrap_or(0)
        }
    }

    /// The first segment after `segment`.
    fn after(&self, segment: u64) -> Option<u64> {
        self.segments
            .range(segment.saturating_add(1)..)
            .next()
            .map(|(&id, _)| id)
    }
}

struct Counters {
    written: Counter,
    refused_full: Counter,
    write_errors: Counter,
    corrupt: Counter,
    replayed: Counter,
    abandoned: Counter,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    changed: Condvar,
    abandon: CancellationToken,
    counters: Counters,
    metrics: PipelineMetrics,
    /// Segments that existed at start: their records are counted as replayed.
    replay_below: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn publish_bytes(&self, state: &State) {
        self.metrics.queue_depth(
            "buffer_bytes",
            usize::try_from(state.bytes).unwrap_or(usize::MAX),
        );
    }
}

/// A running disk buffer.
pub(crate) struct DiskBuffer {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Held while the buffer runs: two processes appending to one buffer would
    /// interleave their segments.
    _lock: File,
}

impl DiskBuffer {
    /// Opens the buffer in `config.dir` (recovering what a crash left) and starts its
    /// workers: `input` is what the sources emit, `output` feeds the processor in
    /// stretches of at most `chunk` events.
    pub(crate) fn start(
        config: &DiskBufferConfig,
        input: mpsc::Receiver<Envelope>,
        output: mpsc::Sender<Envelope>,
        chunk: usize,
        metrics: &PipelineMetrics,
        abandon: CancellationToken,
    ) -> Result<Self, BufferError> {
        if config.max_bytes < 2 * config.segment_bytes.max(1) {
            return Err(BufferError::Config(format!(
                "buffer_max_bytes ({}) must hold at least two segments of {} bytes",
                config.max_bytes, config.segment_bytes
            )));
        }
        let dir = config.dir.clone();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BufferError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock = lock_directory(&dir)?;
        let acked = read_acknowledged(&dir);
        let mut segments = list_segments(&dir).map_err(io(&dir))?;

        // Segments wholly behind the acknowledged position were delivered; a crash
        // between the position's save and their deletion leaves them.
        if let Some(acked) = acked {
            let behind: Vec<u64> = segments.range(..acked.segment).map(|(&id, _)| id).collect();
            for id in behind {
                let path = segment_path(&dir, id);
                std::fs::remove_file(&path).map_err(io(&path))?;
                segments.remove(&id);
            }
        }
        // Only the last segment can end in a record cut short by a crash.
        if let Some((&last, _)) = segments.iter().next_back() {
            let path = segment_path(&dir, last);
            let length = repair_tail(&path).map_err(|err| match err {
                SegmentError::Io(source) => BufferError::Io {
                    path: path.clone(),
                    source,
                },
                other => BufferError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(other.to_string()),
                },
            })?;
            if length == 0 {
                segments.remove(&last);
            } else {
                segments.insert(last, length);
            }
        }
        let start = match (acked, segments.iter().next()) {
            (Some(acked), Some(_)) if segments.contains_key(&acked.segment) => acked,
            (_, Some((&first, _))) => Position {
                segment: first,
                offset: HEADER_LEN,
            },
            (acked, None) => Position {
                segment: acked.map_or(1, |a| a.segment),
                offset: HEADER_LEN,
            },
        };
        // What the sinks have not acknowledged: read again first.
        let leftover: u64 = segments
            .range(start.segment..)
            .map(|(&id, &len)| {
                if id == start.segment {
                    len.saturating_sub(start.offset)
                } else {
                    len.saturating_sub(HEADER_LEN)
                }
            })
            .sum();
        if leftover > 0 {
            tracing::warn!(
                dir = %dir.display(),
                bytes = leftover,
                "disk buffer: events from before the last stop were not all stored; they are delivered first"
            );
        }
        let first_new = segments
            .keys()
            .next_back()
            .map_or(start.segment, |&last| last + 1)
            .max(start.segment);
        let writer = SegmentWriter::create(&dir, first_new).map_err(io(&dir))?;
        segments.insert(first_new, HEADER_LEN);
        let bytes = segments.values().sum();

        let counter = |outcome| metrics.counter("buffer", "disk", outcome);
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            state: Mutex::new(State {
                written: Position {
                    segment: first_new,
                    offset: HEADER_LEN,
                },
                segments,
                bytes,
                closed: false,
            }),
            changed: Condvar::new(),
            abandon,
            counters: Counters {
                written: counter("written"),
                refused_full: counter("refused_full"),
                write_errors: counter("write_error"),
                corrupt: counter("corrupt"),
                replayed: counter("replayed"),
                abandoned: counter("abandoned"),
            },
            metrics: metrics.clone(),
            replay_below: first_new,
        });
        metrics.queue_capacity(
            "buffer_bytes",
            usize::try_from(config.max_bytes).unwrap_or(usize::MAX),
        );
        shared.publish_bytes(&shared.lock());

        let (acks, tracker_input) = mpsc::channel(1024);
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(work)
                .map_err(|source| BufferError::Io {
                    path: dir.clone(),
                    source,
                })
        };
        let threads = vec![
            spawn("hpti-buffer-write", {
                let shared = shared.clone();
                let config = config.clone();
                Box::new(move || write_loop(&shared, &config, writer, input))
            })?,
            spawn("hpti-buffer-read", {
                let shared = shared.clone();
                Box::new(move || read_loop(&shared, start, chunk, &output, &acks))
            })?,
            spawn("hpti-buffer-ack", {
                let shared = shared.clone();
                Box::new(move || track_loop(&shared, start, tracker_input))
            })?,
        ];
        Ok(Self {
            threads,
            _lock: lock,
        })
    }

    /// Waits for the workers to finish (after the emitters are gone and every event
    /// read has been acknowledged).
    pub(crate) fn join(self) {
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a disk buffer worker panicked");
            }
        }
    }
}

/// Takes the buffer directory's `lock` file (released when the file is closed, also by
/// a crash).
fn lock_directory(dir: &Path) -> Result<File, BufferError> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| BufferError::Io {
            path: path.clone(),
            source,
        })?;
    #[cfg(unix)]
    if let Err(err) = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
    {
        return Err(if err == rustix::io::Errno::WOULDBLOCK {
            BufferError::Config(format!(
                "{} is in use by another hpti process (two processes cannot share a disk buffer; give each its own data directory)",
                dir.display()
            ))
        } else {
            BufferError::Io {
                path,
                source: err.into(),
            }
        });
    }
    Ok(file)
}

/// Reads the acknowledged position; a damaged file is kept aside and the buffer is read
/// from its first segment (idempotent sinks store what they already had once).
fn read_acknowledged(dir: &Path) -> Option<Position> {
    let path = dir.join(ACK_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            tracing::error!(file = %path.display(), error = %err, "disk buffer: cannot read the acknowledged position; reading every segment from its start");
            return None;
        }
    };
    match serde_json::from_slice::<Position>(&text) {
        Ok(position) => Some(position),
        Err(err) => {
            let aside = keep_aside(&path);
            tracing::error!(
                file = %path.display(),
                kept_as = %aside.display(),
                error = %err,
                "disk buffer: the acknowledged position is damaged; it is kept aside and every segment is read from its start (sinks that store each event id once store no duplicate)"
            );
            None
        }
    }
}

fn save_acknowledged(dir: &Path, position: Position) {
    let path = dir.join(ACK_FILE);
    let temporary = dir.join(format!("{ACK_FILE}.tmp"));
    let result = serde_json::to_vec(&position)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&temporary, bytes))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(err) = result {
        // A stale position only means more events are read again after a crash.
        tracing::warn!(file = %path.display(), error = %err, "disk buffer: cannot save the acknowledged position");
    }
}

/// `<path>.damaged-<unix seconds>`: where a damaged file is kept.
fn damaged_name(path: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".damaged-{stamp}"));
    PathBuf::from(name)
}

/// `path` renamed to its [`damaged_name`], or left in place (and named) if that fails.
fn keep_aside(path: &Path) -> PathBuf {
    let aside = damaged_name(path);
    match std::fs::rename(path, &aside) {
        Ok(()) => aside,
        Err(_) => path.to_owned(),
    }
}

/// Cuts a torn or damaged tail off the last segment, keeping a copy of the whole file
/// aside first; the valid length (0: nothing valid, the file is removed).
fn repair_tail(path: &Path) -> Result<u64, SegmentError> {
    let (valid, problem) = valid_length(path)?;
    let Some(problem) = problem else {
        return Ok(valid);
    };
    let length = std::fs::metadata(path)?.len();
    if length <= HEADER_LEN && valid == 0 {
        // Created, header not yet synced: there was never a record in it.
        std::fs::remove_file(path)?;
        return Ok(0);
    }
    let aside = damaged_name(path);
    std::fs::copy(path, &aside)?;
    tracing::warn!(
        file = %path.display(),
        kept_as = %aside.display(),
        cut_bytes = length - valid,
        %problem,
        "disk buffer: the last segment ends in a record that was never completely written (a crash while writing); it is cut there, and the whole file kept aside"
    );
    if valid == 0 {
        std::fs::remove_file(path)?;
        return Ok(0);
    }
    OpenOptions::new().write(true).open(path)?.set_len(valid)?;
    Ok(valid)
}

/// The segment being appended to.
struct SegmentWriter {
    id: u64,
    file: File,
    len: u64,
}

impl SegmentWriter {
    fn create(dir: &Path, id: u64) -> std::io::Result<Self> {
        let path = segment_path(dir, id);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let written = file.write_all(MAGIC).and_then(|()| file.sync_data());
        if let Err(err) = written {
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
        // The new name must survive a crash as well as its bytes.
        File::open(dir)?.sync_all()?;
        Ok(Self {
            id,
            file,
            len: HEADER_LEN,
        })
    }

    /// Appends `bytes` and syncs them; on failure the file is cut back to what it held.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::{Seek as _, SeekFrom};
        let result = self
            .file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| self.file.write_all(bytes))
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.len);
                Err(err)
            }
        }
    }
}

/// Closes the current segment and starts the next one.
fn roll_segment(shared: &Shared, segment: &mut SegmentWriter) -> std::io::Result<()> {
    let next = SegmentWriter::create(&shared.dir, segment.id + 1)?;
    {
        let mut state = shared.lock();
        state.segments.insert(next.id, next.len);
        state.bytes += next.len;
        state.written = Position {
            segment: next.id,
            offset: next.len,
        };
    }
    shared.changed.notify_all();
    *segment = next;
    Ok(())
}

fn fail(acks: impl IntoIterator<Item = Option<AckBatch>>) {
    for ack in acks.into_iter().flatten() {
        ack.update(DeliveryStatus::Failed);
    }
}

fn write_loop(
    shared: &Shared,
    config: &DiskBufferConfig,
    mut segment: SegmentWriter,
    mut input: mpsc::Receiver<Envelope>,
) {
    let mut batch: Vec<Envelope> = Vec::with_capacity(WRITE_BATCH);
    let mut bytes: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(WRITE_BATCH);
    let mut acks: Vec<Option<AckBatch>> = Vec::with_capacity(WRITE_BATCH);
    let mut failures = 0u32;
    while let Some(first) = input.blocking_recv() {
        let mut gathered = first.event.size_hint();
        batch.push(first);
        while batch.len() < WRITE_BATCH && gathered < WRITE_BATCH_BYTES {
            match input.try_recv() {
                Ok(envelope) => {
                    gathered += envelope.event.size_hint();
                    batch.push(envelope);
                }
                Err(_) => break,
            }
        }
        bytes.clear();
        ends.clear();
        acks.clear();
        for mut envelope in batch.drain(..) {
            match encode(&envelope, &mut bytes) {
                Ok(()) => {
                    ends.push(bytes.len());
                    acks.push(envelope.ack.take());
                }
                Err(err) => {
                    tracing::error!(error = %err, "disk buffer: an event cannot be encoded; refused");
                    shared.counters.refused_full.inc();
                    fail([envelope.ack.take()]);
                }
            }
        }
        // Room: wait for the sinks, or keep what fits and refuse the rest.
        let fits = loop {
            let roll = {
                let mut state = shared.lock();
                loop {
                    let room = config.max_bytes.saturating_sub(state.bytes);
                    let fitting = ends.partition_point(|&end| end as u64 <= room);
                    if fitting == ends.len()
                        || config.when_full == WhenFull::DropNewest
                        || shared.abandon.is_cancelled()
                    {
                        break Err(fitting);
                    }
                    if segment.len > HEADER_LEN {
                        // The current segment can only be deleted once closed.
                        break Ok(());
                    }
                    if state.segments.len() <= 1 {
                        // Nothing left to free: the rest can never fit.
                        break Err(fitting);
                    }
                    state = match shared
                        .changed
                        .wait_timeout(state, Duration::from_millis(500))
                    {
                        Ok((state, _)) => state,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
            };
            match roll {
                Err(fitting) => break fitting,
                Ok(()) => {
                    if let Err(err) = roll_segment(shared, &mut segment) {
                        shared.counters.write_errors.inc();
                        tracing::error!(dir = %shared.dir.display(), error = %err, "disk buffer: cannot start a segment; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        };
        if fits < ends.len() {
            let refused = ends.len() - fits;
            if shared.abandon.is_cancelled() {
                shared.counters.abandoned.inc_by(refused as u64);
            } else {
                shared.counters.refused_full.inc_by(refused as u64);
            }
            fail(acks.drain(fits..));
            ends.truncate(fits);
            bytes.truncate(ends.last().copied().unwrap_or(0));
        }
        if bytes.is_empty() {
            continue;
        }
        // Write, retrying a full or failing disk until it works or the pipeline gives up.
        let mut backoff = Duration::from_millis(100);
        let written = loop {
            let rolled = if segment.len >= config.segment_bytes {
                roll_segment(shared, &mut segment)
            } else {
                Ok(())
            };
            match rolled.and_then(|()| segment.append(&bytes)) {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(
                            failures,
                            "disk buffer: writing works again; the events that waited are on disk"
                        );
                    }
                    failures = 0;
                    break true;
                }
                Err(err) => {
                    shared.counters.write_errors.inc();
                    if failures % 20 == 0 {
                        tracing::error!(
                            dir = %shared.dir.display(),
                            error = %err,
                            events = ends.len(),
                            "disk buffer: cannot write (is the disk full?); the events wait and the write is retried"
                        );
                    }
                    failures = failures.saturating_add(1);
                    if shared.abandon.is_cancelled() {
                        break false;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        if !written {
            shared.counters.abandoned.inc_by(ends.len() as u64);
            tracing::error!(
                events = ends.len(),
                "disk buffer: stopping with events that could not be written; they are lost"
            );
            fail(acks.drain(..));
            continue;
        }
        {
            let mut state = shared.lock();
            state.written = Position {
                segment: segment.id,
                offset: segment.len,
            };
            state.segments.insert(segment.id, segment.len);
            state.bytes += bytes.len() as u64;
            shared.publish_bytes(&state);
        }
        shared.changed.notify_all();
        shared.counters.written.inc_by(ends.len() as u64);
        // Dropping the sources' acknowledgements tells them the events are safe.
        acks.clear();
    }
    shared.lock().closed = true;
    shared.changed.notify_all();
}

/// A stretch of records handed to the processor, or skipped.
struct Stretch {
    end: Position,
    receiver: Option<AckReceiver>,
}

fn read_loop(
    shared: &Shared,
    start: Position,
    chunk: usize,
    output: &mpsc::Sender<Envelope>,
    acks: &mpsc::Sender<Stretch>,
) {
    let mut position = start;
    let mut reader: Option<SegmentReader> = None;
    let mut records: Vec<Envelope> = Vec::with_capacity(chunk);
    loop {
        if shared.abandon.is_cancelled() {
            return;
        }
        // Wait for something to read.
        let end = {
            let mut state = shared.lock();
            loop {
                let end = state.end_of(position.segment);
                if position.offset < end {
                    break Some(end);
                }
                if let Some(next) = state.after(position.segment) {
                    position = Position {
                        segment: next,
                        offset: HEADER_LEN,
                    };
                    reader = None;
                    continue;
                }
                if state.closed || shared.abandon.is_cancelled() {
                    break None;
                }
                state = match shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(500))
                {
                    Ok((state, _)) => state,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
        };
        let Some(end) = end else { return };
        let path = segment_path(&shared.dir, position.segment);
        if reader.is_none() {
            match SegmentReader::open(&path, position.offset) {
                Ok(opened) => reader = Some(opened),
                Err(SegmentError::Io(err)) => {
                    tracing::error!(file = %path.display(), error = %err, "disk buffer: cannot open a segment; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                Err(err) => {
                    skip_damaged(shared, &path, &err, end, &mut position, acks);
                    continue;
                }
            }
        }
        let Some(segment_reader) = reader.as_mut() else {
            continue;
        };
        let mut damage = None;
        while records.len() < chunk {
            match segment_reader.next(end) {
                Ok(Some(envelope)) => records.push(envelope),
                Ok(None) => break,
                Err(err) => {
                    damage = Some(err);
                    break;
                }
            }
        }
        position.offset = segment_reader.offset;
        if !records.is_empty() {
            if position.segment < shared.replay_below {
                shared.counters.replayed.inc_by(records.len() as u64);
            }
            let (batch, receiver) = AckBatch::new();
            for mut envelope in records.drain(..) {
                envelope.ack = Some(batch.clone());
                if output.blocking_send(envelope).is_err() {
                    return;
                }
            }
            drop(batch);
            let stretch = Stretch {
                end: position,
                receiver: Some(receiver),
            };
            if acks.blocking_send(stretch).is_err() {
                return;
            }
        }
        if let Some(err) = damage {
            match err {
                SegmentError::Io(io) => {
                    tracing::error!(file = %path.display(), error = %io, "disk buffer: cannot read a segment; retrying");
                    reader = None;
                    std::thread::sleep(Duration::from_secs(1));
                }
                err => {
                    skip_damaged(shared, &path, &err, end, &mut position, acks);
                    reader = None;
                }
            }
        }
    }
}

/// Damage in the middle of a segment (a disk fault: the writer syncs every record it
/// reports written). The file is copied aside, the rest of what is readable in it is
/// skipped and counted, and reading goes on.
fn skip_damaged(
    shared: &Shared,
    path: &Path,
    err: &SegmentError,
    end: u64,
    position: &mut Position,
    acks: &mpsc::Sender<Stretch>,
) {
    shared.counters.corrupt.inc();
    let aside = damaged_name(path);
    let kept = std::fs::copy(path, &aside).is_ok();
    tracing::error!(
        file = %path.display(),
        kept_as = %if kept { aside.display().to_string() } else { "(copy failed)".into() },
        error = %err,
        skipped_bytes = end.saturating_sub(position.offset),
        "disk buffer: a segment is damaged; the records after the damage cannot be read and are skipped (see the copy)"
    );
    position.offset = end;
    let _ = acks.blocking_send(Stretch {
        end: *position,
        receiver: None,
    });
}

fn track_loop(shared: &Shared, start: Position, mut input: mpsc::Receiver<Stretch>) {
    let mut acknowledged = start;
    let mut saved = start;
    let mut last_save = Instant::now();
    let mut stuck = false;
    while let Some(stretch) = input.blocking_recv() {
        let status = match stretch.receiver {
            Some(receiver) => receiver.blocking_wait(),
            None => DeliveryStatus::Delivered,
        };
        if stuck {
            continue;
        }
        if !status.is_accounted_for() {
            stuck = true;
            tracing::error!(
                "disk buffer: events were neither stored nor dead-lettered; they stay in the buffer and are delivered again at the next start"
            );
            continue;
        }
        acknowledged = stretch.end;
        if acknowledged.segment != saved.segment || last_save.elapsed() >= SAVE_EVERY {
            save_acknowledged(&shared.dir, acknowledged);
            release(shared, acknowledged);
            saved = acknowledged;
            last_save = Instant::now();
        }
    }
    if acknowledged != saved {
        save_acknowledged(&shared.dir, acknowledged);
    }
    release(shared, acknowledged);
}

/// Deletes the segments wholly behind `acknowledged` (never the writer's).
fn release(shared: &Shared, acknowledged: Position) {
    let behind: Vec<(u64, u64)> = {
        let state = shared.lock();
        state
            .segments
            .range(..acknowledged.segment)
            .filter(|(id, _)| **id != state.written.segment)
            .map(|(&id, &len)| (id, len))
            .collect()
    };
    if behind.is_empty() {
        return;
    }
    let mut freed = Vec::new();
    for (id, len) in behind {
        let path = segment_path(&shared.dir, id);
        match std::fs::remove_file(&path) {
            Ok(()) => freed.push((id, len)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => freed.push((id, len)),
            Err(err) => {
                tracing::warn!(file = %path.display(), error = %err, "disk buffer: cannot delete a delivered segment");
            }
        }
    }
    {
        let mut state = shared.lock();
        for (id, len) in freed {
            if state.segments.remove(&id).is_some() {
                state.bytes = state.bytes.saturating_sub(len);
            }
        }
        shared.publish_bytes(&state);
    }
    shared.changed.notify_all();
}
