//! The [`Sink`] trait: where events are stored.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{BoxError, ErrorClass};
use crate::event::Event;

/// One event of a batch that the sink refused permanently: it goes to the dead-letter file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// Index of the event in the batch passed to [`Sink::write`].
    pub index: usize,
    /// Why it was refused.
    pub reason: String,
}

impl Rejection {
    /// The event at `index` was refused for `reason`.
    pub fn new(index: usize, reason: impl Into<String>) -> Self {
        Self {
            index,
            reason: reason.into(),
        }
    }
}

/// One event of a batch that the sink could not store this time but may store later (an
/// Elasticsearch bulk item answered 429): the runtime writes it again, alone with the
/// other retried items of the batch (Vector's `RetryAction::RetryPartial`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartialRetry {
    /// Index of the event in the batch passed to [`Sink::write`].
    pub index: usize,
    /// Why it must be retried.
    pub reason: String,
}

impl PartialRetry {
    /// The event at `index` must be written again because of `reason`.
    pub fn new(index: usize, reason: impl Into<String>) -> Self {
        Self {
            index,
            reason: reason.into(),
        }
    }
}

/// The per-event outcome of a successful [`Sink::write`]: every event listed in neither
/// `rejected` nor `retry` is delivered (durable, for a durable sink).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteReport {
    /// Events the sink refused permanently; they go to the dead-letter file.
    pub rejected: Vec<Rejection>,
    /// Events to write again after a backoff.
    pub retry: Vec<PartialRetry>,
    /// The least wait before the retry that the other side asked for, if it did.
    pub retry_after: Option<Duration>,
}

impl WriteReport {
    /// Every event of the batch was delivered.
    pub fn delivered() -> Self {
        Self::default()
    }

    /// A report with these rejections and nothing to retry.
    pub fn with_rejections(rejected: Vec<Rejection>) -> Self {
        Self {
            rejected,
            ..Self::default()
        }
    }

    /// Adds a permanent refusal of the event at `index`.
    pub fn reject(mut self, index: usize, reason: impl Into<String>) -> Self {
        self.rejected.push(Rejection::new(index, reason));
        self
    }

    /// Adds a temporary failure of the event at `index`: it will be written again.
    pub fn retry(mut self, index: usize, reason: impl Into<String>) -> Self {
        self.retry.push(PartialRetry::new(index, reason));
        self
    }

    /// Asks the runtime to wait at least `wait` before retrying.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(self.retry_after.map_or(wait, |w| w.max(wait)));
        self
    }
}

/// A failure of a whole [`Sink::write`] call.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    class: ErrorClass,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl SinkError {
    /// A failure that may go away: the runtime retries the batch with backoff.
    pub fn temporary(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorClass::Temporary, message, source)
    }

    /// The other side asked to slow down: the runtime retries after `retry_after` (or its
    /// own backoff when `None`).
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self::msg(ErrorClass::RateLimited { retry_after }, message)
    }

    /// A failure that will not go away: the runtime dead-letters the batch.
    pub fn permanent(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorClass::Permanent, message, source)
    }

    /// An error of the given class with an underlying cause.
    pub fn new(class: ErrorClass, message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            class,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An error of the given class with no underlying cause.
    pub fn msg(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            source: None,
        }
    }

    /// Whether retrying may help, and when.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

/// What a sink promises; the runtime plans fan-out and retries from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkCapabilities {
    /// Writing an event twice stores it once (unique key on [`Event::id`]). The runtime
    /// delivers at least once, so a sink that is not idempotent may store duplicates
    /// after a retry or a crash.
    pub idempotent: bool,
    /// A live feed or counters that may drop events under pressure. The runtime never
    /// waits for a best-effort sink: when its queue is full the batch is dropped for it
    /// and counted (`outcome="dropped"`), and its outcome never holds back a source's
    /// acknowledgement. Durable sinks (the default) are waited for.
    pub best_effort: bool,
}

impl SinkCapabilities {
    /// A durable sink that is not idempotent (the default of [`Sink::capabilities`]).
    pub const DURABLE: Self = Self {
        idempotent: false,
        best_effort: false,
    };

    /// A durable sink that stores each event id once.
    pub const DURABLE_IDEMPOTENT: Self = Self {
        idempotent: true,
        best_effort: false,
    };

    /// A best-effort sink (live feed, counters).
    pub const BEST_EFFORT: Self = Self {
        idempotent: false,
        best_effort: true,
    };

    /// These capabilities with `idempotent` set.
    pub const fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

impl Default for SinkCapabilities {
    fn default() -> Self {
        Self::DURABLE
    }
}

/// Writes batches of events to a store.
///
/// Returning `Ok` means every event not listed in [`WriteReport::rejected`] or
/// [`WriteReport::retry`] is stored (durably, for a durable sink), which lets sources
/// commit their read offsets. The runtime delivers at least once: after a crash or a
/// retry it may write an event again, so a sink that can should be idempotent on
/// [`Event::id`] and say so in [`capabilities`](Sink::capabilities).
///
/// ```
/// use std::sync::Mutex;
/// use async_trait::async_trait;
/// use hpti_core::event::Event;
/// use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};
///
/// /// Keeps the ids of stored events in memory.
/// #[derive(Default)]
/// struct Ids(Mutex<std::collections::BTreeSet<hpti_core::event::EventId>>);
///
/// #[async_trait]
/// impl Sink for Ids {
///     fn name(&self) -> &str { "ids" }
///     fn capabilities(&self) -> SinkCapabilities { SinkCapabilities::DURABLE_IDEMPOTENT }
///     async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
///         let mut ids = self.0.lock().unwrap();
///         ids.extend(events.iter().map(|e| e.id));
///         Ok(WriteReport::delivered())
///     }
/// }
/// ```
#[async_trait]
pub trait Sink: Send + Sync {
    /// The kind of sink (`sqlite`, `elasticsearch`), for logs; metrics and dead letters
    /// carry the component id the pipeline gave it instead.
    fn name(&self) -> &str;

    /// What the sink promises. Durable and not idempotent unless it says otherwise.
    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::DURABLE
    }

    /// Stores a batch. See the trait documentation for what `Ok` promises.
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError>;

    /// Called once at shutdown after the last batch; flushes anything buffered and
    /// releases connections.
    async fn close(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn capabilities(&self) -> SinkCapabilities {
        (**self).capabilities()
    }
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        (**self).write(events).await
    }
    async fn close(&self) -> Result<(), SinkError> {
        (**self).close().await
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn capabilities(&self) -> SinkCapabilities {
        (**self).capabilities()
    }
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        (**self).write(events).await
    }
    async fn close(&self) -> Result<(), SinkError> {
        (**self).close().await
    }
}
