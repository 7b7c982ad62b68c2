//! The [`Source`] trait: anything that produces events until told to stop — a network
//! honeypot, or a collector tailing an existing honeypot's logs.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::dead_letter::DeadLetterSender;
use crate::error::BoxError;
use crate::pipeline::{EventEmitter, RuleObserver};

/// What a running sensor gets from the pipeline.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// Where to send events.
    pub events: EventEmitter,
    /// Where to send records that could not become events.
    pub dead_letters: DeadLetterSender,
    /// Cancelled when the sensor must stop.
    pub shutdown: CancellationToken,
    /// Shows the alert rules events that no sink stores (an edge's heartbeats).
    pub rules: RuleObserver,
}

/// A sensor failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl SourceError {
    /// An error with a message and an underlying cause.
    pub fn new(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }
}

/// Produces events until [`SourceContext::shutdown`] is cancelled (or, for one-shot
/// sources such as a file import, until its input ends). It must drop its
/// [`EventEmitter`] when it returns, so the pipeline can drain.
///
/// ```
/// use async_trait::async_trait;
/// use hpti_core::event::{Event, EventKind, Protocol};
/// use hpti_core::source::{Source, SourceContext, SourceError};
///
/// /// Emits one heartbeat-like event a second.
/// struct Ticker;
///
/// #[async_trait]
/// impl Source for Ticker {
///     fn name(&self) -> &str { "ticker" }
///     async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
///         let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
///         loop {
///             tokio::select! {
///                 () = ctx.shutdown.cancelled() => return Ok(()),
///                 _ = interval.tick() => {
///                     let event = Event::new("ticker", Protocol::Other("tick".into()),
///                         "192.0.2.1".parse().unwrap(), EventKind::SessionStarted);
///                     if ctx.events.emit(event).await.is_err() { return Ok(()); }
///                 }
///             }
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Source: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &str;

    /// Runs until shutdown or end of input.
    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError>;
}
