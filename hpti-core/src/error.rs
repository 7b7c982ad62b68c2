//! Error classification shared by the component traits.

use std::time::Duration;

/// How the runtime should treat a failure (after OpenDAL's `ErrorStatus`): one
/// classification for sinks, enrichers, notifiers and stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// May succeed if tried again later (connection refused, timeout, lock contention).
    Temporary,
    /// The other side asked us to slow down (HTTP 429, a bulk item's `es_rejected_execution`);
    /// retry no sooner than `retry_after` when it said when.
    RateLimited {
        /// How long the other side asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Will fail again with the same input (constraint violation, bad request): dead-letter now.
    Permanent,
}

impl ErrorClass {
    /// Whether trying again may help.
    pub fn is_retryable(self) -> bool {
        !matches!(self, Self::Permanent)
    }

    /// The wait the other side asked for, if any.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => retry_after,
            Self::Temporary | Self::Permanent => None,
        }
    }
}

/// A boxed error usable as a `source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
