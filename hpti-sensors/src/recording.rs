//! asciicast v2 session recordings, playable with `asciinema play`.
//!
//! One file per session at `<dir>/<yyyy>/<mm>/<dd>/<session_id>.cast` (UTC date of
//! the session's start), so no directory grows without bound and old days can be
//! archived or deleted as a whole. The first line is the header; each further line an
//! event `[seconds, code, data]`: `"o"` output, `"i"` input (kept for analysis;
//! players ignore it), `"r"` a resize `"WxH"`.
//!
//! Events are buffered in memory and written in batches through `tokio::fs` (never a
//! blocking call on the runtime, never a syscall per keystroke). A recording stops at
//! a size limit, or when all recordings together reach `max_total_bytes`, and is marked
//! truncated. Terminal data is bytes: a UTF-8 sequence
//! split across two writes is joined, and bytes that are not UTF-8 become U+FFFD.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::fetch::DiskQuota;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

/// Buffered bytes that trigger a write.
const FLUSH_BYTES: usize = 64 * 1024;

/// How recordings are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Whether sessions are recorded at all (for the sensor to check; default on).
    pub enabled: bool,
    /// Largest recording in bytes, header included (default 32 MiB).
    pub max_bytes: u64,
    /// Most bytes all recordings (`<data dir>/recordings`) may take together; past it
    /// new recordings are not started and running ones are cut (marked truncated),
    /// counted as `outcome="recording_quota"`, so that the disk never fills. Default
    /// 10 GiB.
    pub max_total_bytes: u64,
    /// Longest buffered events wait before being written, checked on each event
    /// (default 5 s).
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 32 * 1024 * 1024,
            max_total_bytes: 10 * 1024 * 1024 * 1024,
            flush_interval: Duration::from_secs(5),
        }
    }
}

/// A recording could not be created or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// File system error.
    #[error("recording {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The session id cannot be used as a file name.
    #[error("session id {0:?} is not a safe file name")]
    InvalidSessionId(String),
    /// An earlier write failed, so the recording is incomplete.
    #[error("recording {} is incomplete after an earlier write error", path.display())]
    Incomplete {
        /// The recording's path relative to its directory.
        path: PathBuf,
    },
    /// All recordings together have reached `max_total_bytes`.
    #[error("recordings have reached their quota of {max} bytes")]
    QuotaFull {
        /// The quota.
        max: u64,
    },
}

/// Event codes of asciicast v2.
#[derive(Debug, Clone, Copy)]
enum Code {
    Output,
    Input,
    Resize,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Self::Output => "o",
            Self::Input => "i",
            Self::Resize => "r",
        }
    }
}

/// Session ids become file names: letters, digits, `.`, `_`, `-`; not starting with
/// a dot; at most 128 characters.
fn safe_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Decodes `data` after whatever `carry` held, leaving an incomplete trailing UTF-8
/// sequence in `carry` for the next call; invalid bytes become U+FFFD.
fn decode(carry: &mut Vec<u8>, data: &[u8]) -> String {
    carry.extend_from_slice(data);
    let mut out = String::with_capacity(carry.len());
    let mut rest: &[u8] = carry;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                rest = &[];
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                out.push_str(&String::from_utf8_lossy(valid));
                match error.error_len() {
                    Some(bad) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = after.get(bad..).unwrap_or_default();
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let consumed = carry.len() - rest.len();
    carry.drain(..consumed);
    out
}

/// Records one session.
#[derive(Debug)]
pub struct Recorder {
    file: tokio::fs::File,
    relative: PathBuf,
    absolute: PathBuf,
    started: Instant,
    last_flush: Instant,
    buffer: Vec<u8>,
    /// Bytes accepted so far (written or buffered), header included.
    size: u64,
    max_bytes: u64,
    flush_interval: Duration,
    truncated: bool,
    failed: bool,
    output_carry: Vec<u8>,
    input_carry: Vec<u8>,
    quota: Option<Arc<DiskQuota>>,
}

impl Recorder {
    /// Starts a recording with the default [`RecordingConfig`].
    pub async fn create(
        dir: &Path,
        session_id: &str,
        width: u16,
        height: u16,
        term: Option<&str>,
    ) -> Result<Self, RecordingError> {
        Self::create_with(
            &RecordingConfig::default(),
            dir,
            session_id,
            width,
            height,
            term,
        )
        .await
    }

    /// Starts a recording of a `width`×`height` terminal (0 for unknown: 80×24) in
    /// `dir`; fails if the file exists.
    pub async fn create_with(
        config: &RecordingConfig,
        dir: &Path,
        session_id: &str,
        width: u16,
        height: u16,
        term: Option<&str>,
    ) -> Result<Self, RecordingError> {
        Self::create_in_quota(config, None, dir, session_id, width, height, term).await
    }

    /// Like [`create_with`](Self::create_with), every byte taken from `quota` (shared by
    /// all recordings of `dir`): [`RecordingError::QuotaFull`] when not even the header
    /// fits, and the recording is cut when the quota runs out.
    pub async fn create_in_quota(
        config: &RecordingConfig,
        quota: Option<Arc<DiskQuota>>,
        dir: &Path,
        session_id: &str,
        width: u16,
        height: u16,
        term: Option<&str>,
    ) -> Result<Self, RecordingError> {
        if !safe_session_id(session_id) {
            return Err(RecordingError::InvalidSessionId(
                session_id.chars().take(200).collect(),
            ));
        }
        let now = chrono::Utc::now();
        let relative =
            PathBuf::from(now.format("%Y/%m/%d").to_string()).join(format!("{session_id}.cast"));
        let absolute = dir.join(&relative);
        let parent = absolute.parent().unwrap_or(dir);
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| RecordingError::Io {
                path: parent.to_owned(),
                source,
            })?;
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Recordings hold whatever attackers typed, credentials included.
        #[cfg(unix)]
        options.mode(0o600);
        let file = options
            .open(&absolute)
            .await
            .map_err(|source| RecordingError::Io {
                path: absolute.clone(),
                source,
            })?;

        let mut env = serde_json::Map::new();
        env.insert("SHELL".into(), "/bin/bash".into());
        if let Some(term) = term {
            env.insert("TERM".into(), term.into());
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = serde_json::json!({
            "version": 2,
            "width": if width == 0 { 80 } else { width },
            "height": if height == 0 { 24 } else { height },
            "timestamp": timestamp,
            "env": env,
        });
        let mut buffer = header.to_string().into_bytes();
        buffer.push(b'\n');
        if let Some(quota) = &quota
            && !quota.try_reserve(buffer.len() as u64)
        {
            drop(file);
            let _ = tokio::fs::remove_file(&absolute).await;
            return Err(RecordingError::QuotaFull { max: quota.max() });
        }
        let started = Instant::now();
        Ok(Self {
            file,
            relative,
            absolute,
            started,
            last_flush: started,
            size: buffer.len() as u64,
            buffer,
            max_bytes: config.max_bytes,
            flush_interval: config.flush_interval,
            truncated: false,
            failed: false,
            output_carry: Vec::new(),
            input_carry: Vec::new(),
            quota,
        })
    }

    /// The file's path relative to the directory given to [`Recorder::create`],
    /// e.g. `2026/11/21/<session_id>.cast`.
    pub fn relative_path(&self) -> &Path {
        &self.relative
    }

    /// Whether the size limit was reached (later events were dropped).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes recorded so far, header included.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Records terminal output (what the attacker saw).
    pub async fn output(&mut self, data: &[u8]) -> Result<(), RecordingError> {
        if self.stopped() {
            return Ok(());
        }
        let text = decode(&mut self.output_carry, data);
        self.event(Code::Output, &text).await
    }

    /// Records terminal input (what the attacker typed).
    pub async fn input(&mut self, data: &[u8]) -> Result<(), RecordingError> {
        if self.stopped() {
            return Ok(());
        }
        let text = decode(&mut self.input_carry, data);
        self.event(Code::Input, &text).await
    }

    /// Records a window size change.
    pub async fn resize(&mut self, width: u16, height: u16) -> Result<(), RecordingError> {
        self.event(Code::Resize, &format!("{width}x{height}")).await
    }

    /// Writes buffered events now (e.g. from a periodic timer of an idle session).
    pub async fn flush(&mut self) -> Result<(), RecordingError> {
        if self.failed || self.buffer.is_empty() {
            return Ok(());
        }
        let written = async {
            self.file.write_all(&self.buffer).await?;
            // tokio's File completes writes in the background; flush surfaces errors.
            self.file.flush().await
        }
        .await;
        self.buffer.clear();
        self.last_flush = Instant::now();
        written.map_err(|source| {
            self.failed = true;
            RecordingError::Io {
                path: self.absolute.clone(),
                source,
            }
        })
    }

    /// Writes everything and closes the file; returns [`Recorder::relative_path`].
    pub async fn finish(mut self) -> Result<PathBuf, RecordingError> {
        // Bytes of a sequence that never completed: show that something was there.
        if !self.output_carry.is_empty() {
            self.output_carry.clear();
            self.event(Code::Output, "\u{FFFD}").await?;
        }
        if !self.input_carry.is_empty() {
            self.input_carry.clear();
            self.event(Code::Input, "\u{FFFD}").await?;
        }
        self.flush().await?;
        if self.failed {
            return Err(RecordingError::Incomplete {
                path: self.relative,
            });
        }
        Ok(self.relative)
    }

    fn stopped(&self) -> bool {
        self.truncated || self.failed
    }

    async fn event(&mut self, code: Code, text: &str) -> Result<(), RecordingError> {
        if self.stopped() || text.is_empty() {
            return Ok(());
        }
        let seconds = self.started.elapsed().as_micros() as f64 / 1e6;
        let data = serde_json::Value::from(text).to_string();
        let line = format!("[{seconds:.6}, \"{}\", {data}]\n", code.as_str());
        if self.size.saturating_add(line.len() as u64) > self.max_bytes
            || self
                .quota
                .as_ref()
                .is_some_and(|q| !q.try_reserve(line.len() as u64))
        {
            self.truncated = true;
            return Ok(());
        }
        self.size += line.len() as u64;
        self.buffer.extend_from_slice(line.as_bytes());
        if self.buffer.len() >= FLUSH_BYTES || self.last_flush.elapsed() >= self.flush_interval {
            self.flush().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_joins_and_replaces() {
        let mut carry = Vec::new();
        assert_eq!(decode(&mut carry, b"a\xe2\x82"), "a");
        assert_eq!(carry, b"\xe2\x82");
        assert_eq!(decode(&mut carry, b"\xacb"), "\u{20ac}b");
        assert!(carry.is_empty());
        assert_eq!(decode(&mut carry, b"x\xffy\xe2(z"), "x\u{FFFD}y\u{FFFD}(z");
        assert!(carry.is_empty());
        // A lead byte followed by a non-continuation is garbage, not a carry.
        assert_eq!(decode(&mut carry, b"\xe2"), "");
        assert_eq!(decode(&mut carry, b"A"), "\u{FFFD}A");
        assert!(carry.is_empty());
    }

    #[test]
    fn session_ids() {
        assert!(safe_session_id("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(safe_session_id("ssh_1.2"));
        for bad in ["", ".hidden", "..", "a/b", "../x", "a\\b", "a b", "a\0b"] {
            assert!(!safe_session_id(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn recordings_together_stay_within_their_quota() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.cast"), vec![b'x'; 1000]).unwrap();
        let refused = prometheus_client::metrics::counter::Counter::default();
        let quota = Arc::new(DiskQuota::for_dir(dir.path(), 1000 + 600, refused.clone()));
        assert_eq!(quota.used(), 1000, "what is there already counts");
        let config = RecordingConfig::default();
        let mut first =
            Recorder::create_in_quota(&config, Some(quota.clone()), dir.path(), "s1", 80, 24, None)
                .await
                .unwrap();
        for _ in 0..100 {
            first.output(b"0123456789").await.unwrap();
        }
        assert!(first.is_truncated(), "cut when the quota ran out");
        first.finish().await.unwrap();
        let second =
            Recorder::create_in_quota(&config, Some(quota.clone()), dir.path(), "s2", 80, 24, None)
                .await;
        assert!(matches!(
            second,
            Err(RecordingError::QuotaFull { max: 1600 })
        ));
        assert!(quota.used() <= 1600);
        assert!(refused.get() >= 2);
        let on_disk: u64 = walk(dir.path());
        assert!(on_disk <= 1600, "{on_disk} bytes on disk");
    }

    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path())
                } else {
                    e.metadata().unwrap().len()
                }
            })
            .sum()
    }
}
