//! Bearer tokens with roles: created once and shown once, kept only as SHA-256 hashes in
//! a file of the data directory, compared in constant time.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The file of the data directory the tokens are kept in.
pub const TOKENS_FILE: &str = "api-tokens.json";

/// The cookie a browser that logged in to the dashboard keeps its token in (HttpOnly,
/// SameSite=Strict, Secure).
pub const SESSION_COOKIE: &str = "hpti_session";

/// The token in a request's [`SESSION_COOKIE`], if it has one.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything but captured files' content.
    Viewer,
    /// Also downloads captured files.
    Admin,
}

impl Role {
    /// The role's name, as in the tokens file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "viewer" => Ok(Self::Viewer),
            "admin" => Ok(Self::Admin),
            other => Err(TokenError::BadRole(other.to_owned())),
        }
    }
}

/// A token as stored: its name, role and hash (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Who or what it is for (unique).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// When it was created (RFC 3339).
    pub created: String,
}

/// The caller a request's token identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Why a token could not be created, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The tokens file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The tokens file is not what hpti writes.
    #[error("{path}: not a tokens file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A role other than `viewer` or `admin`.
    #[error("unknown role {0:?}: use viewer or admin")]
    BadRole(String),
    /// A token of that name exists.
    #[error("a token named {0:?} exists: revoke it first or choose another name")]
    Exists(String),
    /// No token of that name.
    #[error("no token named {0:?}")]
    NotFound(String),
    /// A name that is empty, too long or has control characters.
    #[error("token names are 1 to 64 printable characters, not {0:?}")]
    BadName(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokensFile {
    tokens: Vec<TokenInfo>,
}

/// The tokens of one data directory; re-read when the file changes, so tokens created or
/// revoked while `hpti run` serves take effect within a second.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    cache: Mutex<Cached>,
}

#[derive(Debug)]
struct Cached {
    tokens: Vec<([u8; 32], Caller)>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
}

/// How often the file's modification time is looked at.
const RECHECK: Duration = Duration::from_secs(1);

impl TokenStore {
    /// The tokens of `data_dir` (the file need not exist yet: then no token is valid).
    pub fn open(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(TOKENS_FILE),
            cache: Mutex::new(Cached {
                tokens: Vec::new(),
                modified: None,
                checked: None,
            }),
        }
    }

    /// The tokens file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<TokensFile, TokenError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Corrupt {
                path: self.path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokensFile::default()),
            Err(source) => Err(TokenError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn write(&self, file: &TokensFile) -> Result<(), TokenError> {
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(file).map_err(|e| TokenError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&tmp).map_err(io)?;
        out.write_all(&text).map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }

    /// Creates a token named `name` with `role` and returns it: the only time it is
    /// shown.
    pub fn create(&self, name: &str, role: Role) -> Result<String, TokenError> {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(TokenError::BadName(name.to_owned()));
        }
        let mut file = self.read()?;
        if file.tokens.iter().any(|t| t.name == name) {
            return Err(TokenError::Exists(name.to_owned()));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| TokenError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let token = format!(
            "hpti_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        file.tokens.push(TokenInfo {
            name: name.to_owned(),
            role,
            sha256: hex::encode(Sha256::digest(token.as_bytes())),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        self.write(&file)?;
        Ok(token)
    }

    /// The tokens (names, roles, creation times).
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.read()?.tokens)
    }

    /// Revokes the token named `name`.
    pub fn revoke(&self, name: &str) -> Result<TokenInfo, TokenError> {
        let mut file = self.read()?;
        let at = file
            .tokens
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| TokenError::NotFound(name.to_owned()))?;
        let gone = file.tokens.remove(at);
        self.write(&file)?;
        Ok(gone)
    }

    /// The caller `token` identifies, if it is valid. Every stored hash is compared, in
    /// constant time, whatever matches.
    pub fn verify(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.refresh(&mut cache);
        let mut found = None;
        for (hash, caller) in &cache.tokens {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(caller.clone());
            }
        }
        found
    }

    fn refresh(&self, cache: &mut Cached) {
        if cache.checked.is_some_and(|at| at.elapsed() < RECHECK) {
            return;
        }
        cache.checked = Some(Instant::now());
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified == cache.modified && modified.is_some() {
            return;
        }
        cache.modified = modified;
        cache.tokens = match self.read() {
            Ok(file) => file
                .tokens
                .into_iter()
                .filter_map(|t| {
                    let mut hash = [0u8; 32];
                    hex::decode_to_slice(&t.sha256, &mut hash).ok()?;
                    Some((
                        hash,
                        Caller {
                            name: t.name,
                            role: t.role,
                        },
                    ))
                })
                .collect(),
            Err(err) => {
                // No token is valid rather than an old list that may hold a revoked one.
                tracing::error!(error = %err, "API tokens unreadable: every request is refused");
                Vec::new()
            }
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_created_token_verifies_with_its_role_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path());
        assert_eq!(store.verify("hpti_nothing"), None);
        let viewer = store.create("alice", Role::Viewer).unwrap();
        let admin = store.create("ops", Role::Admin).unwrap();
        assert!(viewer.starts_with("hpti_") && viewer.len() > 40);
        // A second store stands for `hpti run` while the CLI writes the file.
        let served = TokenStore::open(dir.path());
        assert_eq!(served.verify(&viewer).unwrap().role, Role::Viewer);
        assert_eq!(served.verify(&admin).unwrap().name, "ops");
        assert_eq!(served.verify(&format!("{viewer}x")), None);
        assert!(matches!(
            store.create("alice", Role::Admin),
            Err(TokenError::Exists(_))
        ));
        // Only hashes are stored.
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&viewer[5..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        store.revoke("alice").unwrap();
        // The served store notices within its recheck interval.
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(served.verify(&viewer), None);
        assert!(served.verify(&admin).is_some());
        assert!(matches!(
            store.revoke("alice"),
            Err(TokenError::NotFound(_))
        ));
        assert!(matches!(
            store.create("", Role::Admin),
            Err(TokenError::BadName(_))
        ));
    }
}
