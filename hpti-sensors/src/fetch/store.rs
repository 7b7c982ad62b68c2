//! The artifact store: captured files kept by content hash.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A directory of captured files, each at `<dir>/<first two hex digits>/<sha256>`.
///
/// Cheap to clone; one store is shared by the fetcher and the SFTP/SCP handlers.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dir: Arc<PathBuf>,
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
pub(crate) fn sha256_hex(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn create_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o750);
    }
    builder.create(path)
}

impl ArtifactStore {
    /// Opens (creating it if needed) the store at `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        create_dir(dir).map_err(at(dir))?;
        Ok(Self {
            dir: Arc::new(dir.to_owned()),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where content with this hash is (or would be) kept; `None` unless `sha256` is
    /// 64 lower-case hex digits, so no caller can build a path outside the store.
    pub fn path_for(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let prefix = sha256.get(..2).filter(|_| valid)?;
        Some(self.dir.join(prefix).join(sha256))
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(sha256.get(..2).unwrap_or_default())
            .join(sha256)
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
        let path = self.path_of(&sha256);
        let artifact = StoredArtifact {
            size: content.len() as u64,
            sha256,
            path: path.clone(),
        };
        // Content-addressed: an existing file already holds these very bytes.
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Ok(artifact);
        }
        let parent = path.parent().unwrap_or(&self.dir);
        create_dir(parent).map_err(at(parent))?;
        let temp = parent.join(format!(
            ".tmp-{}-{:016x}",
            artifact.sha256,
            fastrand::u64(..)
        ));
        let written = write_private(&temp, content).and_then(|()| fs::rename(&temp, &path));
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(StoreError { path, source });
        }
        Ok(artifact)
    }
}

/// Writes a new file readable and writable by the owner only, never executable:
/// these are attackers' binaries.
fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // The mode above is filtered by the umask only downwards; set it explicitly anyway
    // so the result does not depend on the process's umask at all.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(content)?;
    file.sync_data()
}
