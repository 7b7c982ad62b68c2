//! The [`Sink`] trait: where events are stored.

use async_trait::async_trait;

use crate::error::{BoxError, ErrorClass};
use crate::event::Event;

/// One event of a batch that the sink refused permanently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the event in the batch passed to [`Sink::write`].
    pub index: usize,
    /// Why it was refused.
    pub reason: String,
}

/// The per-event outcome of a successful [`Sink::write`]: every event not listed in
/// `rejected` is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Events the sink refused permanently; they go to the dead-letter file.
    pub rejected: Vec<Rejection>,
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
        Self {
            class: ErrorClass::Temporary,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A failure that will not go away: the runtime dead-letters the batch.
    pub fn permanent(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            class: ErrorClass::Permanent,
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

    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

/// Writes batches of events to a store.
///
/// A sink must be idempotent on [`Event::id`]: after a crash the runtime may deliver an
/// event again, and a sink that stores it twice breaks exactly-once storage. Returning
/// `Ok` means every event not listed in [`WriteReport::rejected`] is durable, which lets
/// sources commit their read offsets.
///
/// ```
/// use std::sync::Mutex;
/// use async_trait::async_trait;
/// use hpti_core::event::Event;
/// use hpti_core::sink::{Sink, SinkError, WriteReport};
///
/// /// Keeps the ids of stored events in memory.
/// #[derive(Default)]
/// struct Ids(Mutex<std::collections::BTreeSet<hpti_core::event::EventId>>);
///
/// #[async_trait]
/// impl Sink for Ids {
///     fn name(&self) -> &str { "ids" }
///     async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
///         let mut ids = self.0.lock().unwrap();
///         ids.extend(events.iter().map(|e| e.id));
///         Ok(WriteReport::default())
///     }
/// }
/// ```
#[async_trait]
pub trait Sink: Send + Sync {
    /// A short name for metrics and dead-letter records (`sqlite`, `elasticsearch`).
    fn name(&self) -> &str;

    /// Stores a batch. See the trait documentation for what `Ok` promises.
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError>;

    /// Called once at shutdown after the last batch; flushes anything buffered.
    async fn close(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        (**self).write(events).await
    }
    async fn close(&self) -> Result<(), SinkError> {
        (**self).close().await
    }
}
