//! What an export can fail on.

use hpti_store::StoreError;

/// An export failed.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the output (or its temporary files) failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}
