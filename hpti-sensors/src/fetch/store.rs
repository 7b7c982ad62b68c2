//! The artifact store: captured files kept by content hash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;

/// A cap on the bytes a directory may hold, shared by everything writing into it: space
/// is reserved before a file is written, so concurrent writers cannot overshoot it.
///
/// The usage is measured once at start (the directory walked) and then kept in memory;
/// files an operator deletes are given back at the next start.
#[derive(Debug)]
pub struct DiskQuota {
    max: u64,
    used: AtomicU64,
    refused: Counter,
}

impl DiskQuota {
    /// A quota of `max` bytes for `dir`, whose current content counts as used; refusals
    /// are counted in `refused`. Blocking (walks `dir`).
    pub fn for_dir(dir: &Path, max: u64, refused: Counter) -> Self {
        Self {
            max,
            used: AtomicU64::new(dir_size(dir)),
            refused,
        }
    }

    /// The quota of `dir` shared by everything in this process that writes there (the
    /// SSH and Telnet sensors share one data directory: two separate quotas would let
    /// them fill twice the cap). The first caller's `max` and counter are the ones used.
    /// Blocking (walks `dir` the first time).
    pub fn shared_for_dir(dir: &Path, max: u64, refused: Counter) -> Arc<Self> {
        static QUOTAS: std::sync::Mutex<Vec<(PathBuf, std::sync::Weak<DiskQuota>)>> =
            std::sync::Mutex::new(Vec::new());
        let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let mut quotas = QUOTAS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        quotas.retain(|(_, quota)| quota.strong_count() > 0);
        if let Some(quota) = quotas
            .iter()
            .find(|(path, _)| *path == key)
            .and_then(|(_, quota)| quota.upgrade())
        {
            return quota;
        }
        let quota = Arc::new(Self::for_dir(dir, max, refused));
        quotas.push((key, Arc::downgrade(&quota)));
        quota
    }

    /// Reserves `bytes`; false (and counted) when that would pass the cap.
    pub fn try_reserve(&self, bytes: u64) -> bool {
        let reserved = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.max)
            })
            .is_ok();
        if !reserved {
            self.refused.inc();
        }
        reserved
    }

    /// Gives back a reservation that was not used.
    pub fn release(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes in use (or reserved).
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// Whether a full-store warning may be logged now: at most one a minute per process.
fn quota_warning_due() -> bool {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    (last == 0 || now >= last.saturating_add(60))
        && LAST
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Whether `error` is a refusal by the store's quota (already counted as
/// `artifact_quota`), not a failure.
pub(crate) fn is_quota_refusal(error: &StoreError) -> bool {
    error.source.kind() == io::ErrorKind::StorageFull
}

/// Bytes of the regular files under `dir` (symlinks not followed, errors skipped).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => {
                    total = total.saturating_add(entry.metadata().map_or(0, |m| m.len()));
                }
                _ => {}
            }
        }
    }
    total
}

/// A directory of captured files, each at `<dir>/<first two hex digits>/<sha256>`.
///
/// Cheap to clone; one store is shared by the fetcher and the SFTP/SCP handlers.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dir: Arc<PathBuf>,
    quota: Option<Arc<DiskQuota>>,
}

/// A file kept in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Where the file is (inside the store directory).
    pub path: PathBuf,
}

/// The store could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("artifact store {}: {source}", path.display())]
pub struct StoreError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_owned(),
        source,
    }
}

/// Hex SHA-256 of `content`.
pub(crate) use hpti_core::file::sha256_hex;

impl ArtifactStore {
    /// Opens (creating it if needed) the store at `dir`, without a cap on its size.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        hpti_core::file::create_artifact_dir(dir).map_err(at(dir))?;
        Ok(Self {
            dir: Arc::new(dir.to_owned()),
            quota: None,
        })
    }

    /// Opens the store at `dir` holding at most `max_total_bytes` (what is there already
    /// counts); content past it is refused with [`io::ErrorKind::StorageFull`] and
    /// counted in `refused`, so captures never fill the disk. Blocking (walks `dir`).
    pub fn open_with_quota(
        dir: impl AsRef<Path>,
        max_total_bytes: u64,
        refused: Counter,
    ) -> Result<Self, StoreError> {
        let mut store = Self::open(dir)?;
        store.quota = Some(DiskQuota::shared_for_dir(
            &store.dir,
            max_total_bytes,
            refused,
        ));
        Ok(store)
    }

    /// The store's quota, if it has one.
    pub fn quota(&self) -> Option<&DiskQuota> {
        self.quota.as_deref()
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where content with this hash is (or would be) kept; `None` unless `sha256` is
    /// 64 lower-case hex digits, so no caller can build a path outside the store.
    pub fn path_for(&self, sha256: &str) -> Option<PathBuf> {
        hpti_core::file::artifact_path(&self.dir, sha256)
    }

    /// Stores `content` unless the same content is already there.
    ///
    /// Hashing and file IO run on the blocking pool, so a 16 MiB file does not stall
    /// the runtime.
    pub async fn store(&self, content: impl Into<Bytes>) -> Result<StoredArtifact, StoreError> {
        let content = content.into();
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.store_blocking(&content))
            .await
            .map_err(|e| StoreError {
                path: self.dir.to_path_buf(),
                source: io::Error::other(e.to_string()),
            })?
    }

    fn store_blocking(&self, content: &[u8]) -> Result<StoredArtifact, StoreError> {
        let sha256 = sha256_hex(content);
        let path = self
            .dir
            .join(sha256.get(..2).unwrap_or_default())
            .join(&sha256);
        let artifact = StoredArtifact {
            size: content.len() as u64,
            sha256,
            path: path.clone(),
        };
        // Content-addressed: an existing file already holds these very bytes.
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Ok(artifact);
        }
        let size = artifact.size;
        if let Some(quota) = &self.quota
            && !quota.try_reserve(size)
        {
            // Counted per refusal; said once a minute at most (an attacker filling the
            // store would otherwise fill the log too).
            if quota_warning_due() {
                tracing::warn!(
                    used = quota.used(),
                    max = quota.max(),
                    "artifact store is full; captures are refused and counted (outcome=\"artifact_quota\")"
                );
            } else {
                tracing::debug!(sha256 = %artifact.sha256, size, "artifact store is full; capture refused");
            }
            return Err(StoreError {
                path,
                source: io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("artifact quota of {} bytes reached", quota.max()),
                ),
            });
        }
        if let Err(source) = hpti_core::file::put_artifact(&self.dir, &artifact.sha256, content) {
            if let Some(quota) = &self.quota {
                quota.release(size);
            }
            return Err(StoreError { path, source });
        }
        Ok(artifact)
    }
}
