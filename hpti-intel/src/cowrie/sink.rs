//! `[sinks.<id>] type = "cowrie-json"`: a `cowrie.json` that Cowrie's tools tail, rotated
//! daily as Cowrie rotates it (`cowrie.json.YYYY-MM-DD`, at the first write of a new UTC
//! day), keeping `keep` rotated files.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::event::Event;
use hpti_core::sink::{Sink, SinkError, WriteReport};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

use super::to_cowrie;

/// The config of a `cowrie-json` sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CowrieJsonSinkConfig {
    /// The file (relative to the data directory), `cowrie.json` as Cowrie names it.
    pub path: PathBuf,
    /// `daily` (Cowrie's `rotating`) or `never` (Cowrie's `plain`).
    pub rotate: Rotate,
    /// Rotated files kept (the oldest are deleted); 0 keeps every one.
    pub keep: usize,
}

/// When the file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotate {
    /// At the first write of a new UTC day, to `<path>.YYYY-MM-DD`.
    Daily,
    /// Never.
    Never,
}

impl Default for CowrieJsonSinkConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("cowrie.json"),
            rotate: Rotate::Daily,
            keep: 30,
        }
    }
}

impl CowrieJsonSinkConfig {
    fn resolve(&self, cx: &BuildContext) -> Result<PathBuf, BuildError> {
        if self.path.as_os_str().is_empty() || self.path.file_name().is_none() {
            return Err(BuildError::msg("a file name is needed").at_key("path"));
        }
        Ok(cx.data_dir.join(&self.path))
    }
}

#[async_trait]
impl SinkConfig for CowrieJsonSinkConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        let path = self.resolve(cx)?;
        let sink = CowrieJsonSink::open(path, self.rotate, self.keep)
            .map_err(|e| BuildError::new("cannot open the Cowrie JSON file", e).at_key("path"))?;
        let sink = sink.with_skipped(cx.metrics.counter("sink", cx.id.as_str(), "not_cowrie"));
        Ok(BuiltSink::new(Arc::new(sink)))
    }

    fn check(&self, cx: &BuildContext) -> Result<(), BuildError> {
        self.resolve(cx).map(|_| ())
    }

    fn write_paths(&self, cx: &BuildContext) -> Vec<PathBuf> {
        match self.resolve(cx) {
            Ok(path) if !path.starts_with(&cx.data_dir) => {
                path.parent().map(Path::to_path_buf).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }
}

struct Open {
    file: File,
    /// The UTC day its lines belong to (from its modification time when reopened).
    day: NaiveDate,
}

/// Appends Cowrie lines to a file, rotating it daily.
pub struct CowrieJsonSink {
    file: Arc<RotatingFile>,
    skipped: Counter,
}

/// The file and its rotation (shared with the blocking task that writes).
struct RotatingFile {
    path: PathBuf,
    rotate: Rotate,
    keep: usize,
    open: Mutex<Option<Open>>,
}

impl std::fmt::Debug for CowrieJsonSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CowrieJsonSink")
            .field("path", &self.file.path)
            .finish_non_exhaustive()
    }
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

impl CowrieJsonSink {
    /// Opens (creating) `path` for appending.
    pub fn open(path: PathBuf, rotate: Rotate, keep: usize) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = RotatingFile {
            path,
            rotate,
            keep,
            open: Mutex::new(None),
        };
        let open = file.open_file()?;
        *file.open.lock().unwrap_or_else(|e| e.into_inner()) = Some(open);
        Ok(Self {
            file: Arc::new(file),
            skipped: Counter::default(),
        })
    }

    /// Counts events Cowrie has no line for in `counter`.
    pub fn with_skipped(mut self, counter: Counter) -> Self {
        self.skipped = counter;
        self
    }
}

impl RotatingFile {
    fn open_file(&self) -> std::io::Result<Open> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let day = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).date_naive())
            .unwrap_or_else(today);
        Ok(Open { file, day })
    }

    /// The rotated name of the lines of `day`.
    fn rotated(&self, day: NaiveDate) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{}", day.format("%Y-%m-%d")));
        PathBuf::from(name)
    }

    /// Rotates when the day changed, as Cowrie does: not when the name is taken.
    fn rotate_if_due(&self, open: &mut Open) -> std::io::Result<()> {
        let now = today();
        if self.rotate == Rotate::Never || now <= open.day {
            return Ok(());
        }
        let target = self.rotated(open.day);
        if !target.exists() && open.file.metadata()?.len() > 0 {
            open.file.sync_all()?;
            std::fs::rename(&self.path, &target)?;
            *open = self.open_file()?;
            self.prune();
        }
        open.day = now;
        Ok(())
    }

    /// Deletes the oldest rotated files beyond `keep`.
    fn prune(&self) {
        if self.keep == 0 {
            return;
        }
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut rotated: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(&prefix))
                    .is_some_and(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok())
            })
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.keep);
        for old in rotated.into_iter().take(excess) {
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!(file = %old.display(), error = %e, "cannot delete an old Cowrie JSON file");
            }
        }
    }

    fn append(&self, lines: &[u8]) -> std::io::Result<()> {
        let mut guard = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let open = match guard.as_mut() {
            Some(open) => open,
            None => guard.insert(self.open_file()?),
        };
        if let Err(e) = self.rotate_if_due(open) {
            // Reopened on the next write, whatever the rotation left.
            *guard = None;
            return Err(e);
        }
        // One write of whole lines, then fdatasync: acknowledged means on disk. A failed
        // write leaves the file to be reopened (and a partial line is only ever the
        // last, which Cowrie's readers skip).
        let result = open
            .file
            .write_all(lines)
            .and_then(|()| open.file.sync_data());
        if result.is_err() {
            *guard = None;
        }
        result
    }
}

#[async_trait]
impl Sink for CowrieJsonSink {
    fn name(&self) -> &str {
        "cowrie-json"
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        let mut lines = Vec::with_capacity(events.len() * 320);
        for event in events {
            match to_cowrie(event) {
                Some(line) => {
                    lines.extend_from_slice(line.as_bytes());
                    lines.push(b'\n');
                }
                None => {
                    self.skipped.inc();
                }
            }
        }
        if lines.is_empty() {
            return Ok(WriteReport::delivered());
        }
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || file.append(&lines))
            .await
            .map_err(|e| SinkError::temporary("the Cowrie JSON writer stopped", e))?
            .map_err(|e| SinkError::temporary("cannot write the Cowrie JSON file", e))?;
        Ok(WriteReport::delivered())
    }

    async fn close(&self) -> Result<(), SinkError> {
        let guard = self.file.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = guard.as_ref() {
            open.file
                .sync_all()
                .map_err(|e| SinkError::temporary("cannot sync the Cowrie JSON file", e))?;
        }
        Ok(())
    }
}
