//! The [`Enricher`] trait: adds intelligence (geo, ASN, reputation, tags) to events.

use async_trait::async_trait;

use crate::error::BoxError;
use crate::event::Event;

/// An enrichment failure; the event goes on with the enricher's name in
/// [`Enrichment::failed`](crate::event::Enrichment::failed).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EnrichError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl EnrichError {
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

/// Adds what it knows to an event. Enrichers never drop events: on failure they return
/// an error and the runtime records it on the event and moves on.
///
/// ```
/// use async_trait::async_trait;
/// use hpti_core::enricher::{EnrichError, Enricher};
/// use hpti_core::event::Event;
///
/// /// Tags addresses of a documentation range as `test-net`.
/// struct TestNetTagger;
///
/// #[async_trait]
/// impl Enricher for TestNetTagger {
///     fn name(&self) -> &str { "test-net" }
///     async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
///         if event.src_ip.to_string().starts_with("192.0.2.") {
///             event.enrichment.tags.push("test-net".into());
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Enricher: Send + Sync {
    /// A short name for metrics and for [`Enrichment::failed`](crate::event::Enrichment::failed).
    fn name(&self) -> &str;

    /// Adds to `event.enrichment`.
    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError>;
}

#[async_trait]
impl<E: Enricher + ?Sized> Enricher for std::sync::Arc<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        (**self).enrich(event).await
    }
}
