//! The crate's error type.

use std::path::PathBuf;

use hpti_core::error::ErrorClass;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database server could not be reached or refused the connection.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The server and database (never the password).
        target: String,
        /// Whether retrying may help (a server that is down may come back).
        class: ErrorClass,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Applying schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A query or write failed.
    #[error("database error: {source}")]
    Database {
        /// Whether retrying may help.
        class: ErrorClass,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database file is damaged: hpti will not write to it (every write would be
    /// refused). Move it aside and recover it, or restore a backup.
    #[error(
        "database {path} is damaged ({detail}); hpti will not write to it. Stop hpti, move \
         the file aside (with its -wal and -shm files), then either restore a backup \
         (`hpti store backup`) or recover what it holds with `sqlite3 DAMAGED .recover | \
         sqlite3 {path}` (docs/deploy.md, \"Backups\")"
    )]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// What SQLite's check found (its first findings).
        detail: String,
    },
    /// A stored row could not be decoded.
    #[error("corrupt row: {0}")]
    Decode(String),
    /// What was asked for does not exist (an event id, a session, a database).
    #[error("not found: {0}")]
    NotFound(String),
    /// The question itself is wrong (a malformed cursor, `until` before `since`).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl StoreError {
    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Database { class, .. } | Self::Connect { class, .. } => *class,
            Self::Open { .. }
            | Self::Corrupt { .. }
            | Self::Migrate(_)
            | Self::Decode(_)
            | Self::NotFound(_)
            | Self::InvalidInput(_) => ErrorClass::Permanent,
        }
    }
}
