//! Secrets in configuration (API keys, tokens, passwords, URLs with credentials): they
//! never show in `Debug`, in serialized config or in errors, and a secret read from a
//! file is refused when the file is readable by others.

use std::fmt;
use std::path::Path;

/// A secret value from configuration. `Debug` and `Serialize` print `<redacted>`; read
/// it with [`Secret::expose`] where it is used, and nowhere else.
///
/// ```
/// use hpti_core::secret::Secret;
/// let token: Secret = serde_json::from_str("\"xoxb-123\"").unwrap();
/// assert_eq!(token.expose(), "xoxb-123");
/// assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
/// assert_eq!(serde_json::to_string(&token).unwrap(), "\"<redacted>\"");
/// ```
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from `path` (trimmed of surrounding white space), refusing a file
    /// that its group or others may read or write, as OpenSSH refuses such a key: a
    /// secret others can read is no longer one.
    pub fn from_file(path: &Path) -> Result<Self, SecretFileError> {
        let metadata = std::fs::metadata(path).map_err(|source| SecretFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretFileError::Exposed {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
        let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(SecretFileError::Empty(path.to_owned()));
        }
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// A secret file that cannot be used. The messages never include the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// It cannot be read.
    #[error("cannot read secret file {path}: {source}")]
    Read {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Its group or others may read or write it.
    #[error(
        "secret file {path} has mode {mode:03o}: others may read it; make it owner-only (chmod 600)"
    )]
    Exposed {
        /// Which file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It holds nothing.
    #[error("secret file {0} is empty")]
    Empty(std::path::PathBuf),
}

/// The secret of a key given inline (`key`) or by environment variable (`key_env`):
/// one of them, not both; `None` when neither. Errors name the key at fault.
#[cfg(feature = "runtime")]
pub fn secret_from(
    inline: Option<&Secret>,
    env: Option<&str>,
    key: &str,
) -> Result<Option<Secret>, crate::component::BuildError> {
    use crate::component::BuildError;
    match (inline, env) {
        (Some(_), Some(_)) => {
            Err(BuildError::msg(format!("give `{key}` or `{key}_env`, not both")).at_key(key))
        }
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(var)) => match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(Some(Secret::new(value.trim()))),
            _ => Err(BuildError::msg(format!("{var} is not set")).at_key(format!("{key}_env"))),
        },
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_secret_file_readable_by_others_is_refused_and_errors_never_show_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cr3t-value\n").unwrap_or_else(|e| panic!("{e}"));
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
            let err = Secret::from_file(&path).expect_err("exposed file accepted");
            let shown = format!("{err} {err:?}");
            assert!(
                shown.contains("chmod 600") && !shown.contains("s3cr3t"),
                "{shown}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        let secret = Secret::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
    }
}
