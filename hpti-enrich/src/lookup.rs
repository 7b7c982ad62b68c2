//! The [`Lookup`] trait: one source of facts about a key (an attacker address, a file
//! hash) — an HTTP API, a list. [`crate::cached::CachedEnricher`] turns a `Lookup` into an
//! [`Enricher`](hpti_core::enricher::Enricher) with caching, single flight, rate limits,
//! retries and a circuit breaker, so each source only says how to fetch and apply.

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::event::Event;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a fetch failed, and what the caller may do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupErrorKind {
    /// May succeed later (5xx, timeout, connection refused, malformed body from a proxy).
    Temporary,
    /// The service said to slow down (HTTP 429); `retry_after` is its `Retry-After`.
    RateLimited {
        /// How long the service asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The credentials were refused (401/403): no retry helps until the config changes.
    Unauthorized,
    /// The request itself is wrong for this key (400, 422): never retried, never cached.
    Rejected,
}

/// A failed fetch. Its message never contains an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LookupError {
    /// What kind of failure.
    pub kind: LookupErrorKind,
    /// What happened, for logs.
    pub message: String,
}

impl LookupError {
    /// A failure of the given kind.
    pub fn new(kind: LookupErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying (after a backoff) may help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            LookupErrorKind::Temporary | LookupErrorKind::RateLimited { .. }
        )
    }
}

/// A source of facts about a key.
///
/// `fetch` returns `Ok(None)` when the source knows nothing about the key: that answer is
/// cached too (negative caching), so unknown addresses are not asked about again and again.
///
/// ```
/// use async_trait::async_trait;
/// use hpti_core::event::Event;
/// use hpti_enrich::lookup::{Lookup, LookupError};
/// use std::net::IpAddr;
///
/// /// Knows one bad address.
/// struct OneBadAddress(IpAddr);
///
/// #[async_trait]
/// impl Lookup for OneBadAddress {
///     type Key = IpAddr;
///     type Value = bool;
///     fn name(&self) -> &str { "one-bad-address" }
///     fn key(&self, event: &Event) -> Option<IpAddr> { Some(event.src_ip) }
///     async fn fetch(&self, key: &IpAddr) -> Result<Option<bool>, LookupError> {
///         Ok((*key == self.0).then_some(true))
///     }
///     fn apply(&self, _: &bool, event: &mut Event) {
///         event.enrichment.tags.push("known-bad".into());
///     }
/// }
/// ```
#[async_trait]
pub trait Lookup: Send + Sync + 'static {
    /// What is looked up (an address, a SHA-256).
    type Key: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static;
    /// What the source says about it; cached in memory and, as JSON, in Redis.
    type Value: Clone + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// A short name: metrics, cache keys, `enrichment.failed`.
    fn name(&self) -> &str;

    /// The key of an event, or `None` when this source has nothing to say about it (a
    /// private address, an event without a file).
    fn key(&self, event: &Event) -> Option<Self::Key>;

    /// Asks the source. `Ok(None)`: the source knows nothing about the key.
    async fn fetch(&self, key: &Self::Key) -> Result<Option<Self::Value>, LookupError>;

    /// Writes what the source said into the event's enrichment.
    fn apply(&self, value: &Self::Value, event: &mut Event);
}
