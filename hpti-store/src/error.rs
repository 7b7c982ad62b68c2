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
            Self::Database { class, .. } => *class,
            Self::Open { .. }
            | Self::Migrate(_)
            | Self::Decode(_)
            | Self::NotFound(_)
            | Self::InvalidInput(_) => ErrorClass::Permanent,
        }
    }
}
