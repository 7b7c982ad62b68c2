//! Where events wait between the sources and the processor: in memory (a bounded queue)
//! or on disk (append-only segments, after Vector's disk buffers).
//!
//! With [`BufferConfig::Disk`] every event a source emits is appended to a segment file
//! and `fdatasync`'d (one sync per batch of whatever arrived meanwhile) before the source
//! hears it is safe: a file source then commits its checkpoint, a sensor answers its
//! client. A reader feeds the processor from the segments; once every durable sink has
//! stored (or dead-lettered) a stretch of events, the position is recorded in
//! `acknowledged.json` and consumed segments are deleted. After a crash the events past
//! that position are read again: none is lost, and idempotent sinks (unique key on the
//! event id) store each once.
//!
//! [`BufferConfig::Memory`] keeps the queue in memory only: a crash (`kill -9`, the OOM
//! killer, power loss) loses what was queued and not yet stored — with the default
//! batching, the last few tens of milliseconds of events. A normal stop (SIGTERM) loses
//! nothing: it drains every queue first.

mod disk;
mod segment;

use std::path::PathBuf;

pub(crate) use disk::DiskBuffer;
pub use segment::SegmentError;

/// What a full disk buffer does with new events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Wait for the sinks to free room; sources wait in turn (a sensor only as long as
    /// its `max_emit_wait`, then it counts the event as dropped).
    #[default]
    Block,
    /// Refuse the event and count it (`hpti_events_total{stage="buffer",
    /// outcome="refused_full"}`); the source learns it failed.
    DropNewest,
}

/// A disk buffer's place and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskBufferConfig {
    /// The directory of the segment files (created if missing).
    pub dir: PathBuf,
    /// Most bytes of segment files on disk at once.
    pub max_bytes: u64,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// What happens to events that do not fit.
    pub when_full: WhenFull,
}

impl DiskBufferConfig {
    /// A buffer in `dir` of at most `max_bytes`, blocking when full.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(64 * 1024, 32 * 1024 * 1024),
            when_full: WhenFull::Block,
        }
    }

    /// The same buffer with another full policy.
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.when_full = when_full;
        self
    }
}

/// Where events wait between the sources and the processor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BufferConfig {
    /// A bounded queue in memory: fast; a crash loses what it holds.
    #[default]
    Memory,
    /// Segments on disk: a crash loses nothing the sources were told is safe.
    Disk(DiskBufferConfig),
}

/// A disk buffer could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BufferError {
    /// The directory or a segment could not be created, read or written.
    #[error("disk buffer {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("disk buffer: {0}")]
    Config(String),
}
