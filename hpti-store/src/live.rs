//! Live feeds: sinks that also publish events as they arrive (a Redis stream), and the
//! reader `hpti live` follows them with.

use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, SinkConfig};
use hpti_core::event::Event;

use crate::error::StoreError;

/// What one read of a feed gave: the events, in the order they were published, and the
/// entries that were not hpti events (written there by something else, or damaged).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct FeedRead {
    /// Events, oldest first.
    pub events: Vec<Event>,
    /// Entries skipped, with why (entry id: reason).
    pub skipped: Vec<String>,
}

/// A reader of a live feed, positioned after the last entry it returned.
///
/// ```
/// use std::time::Duration;
/// use async_trait::async_trait;
/// use hpti_store::live::{FeedRead, LiveFeed};
/// use hpti_store::StoreError;
///
/// /// A feed on which nothing ever arrives.
/// struct Silent;
/// #[async_trait]
/// impl LiveFeed for Silent {
///     async fn recent(&mut self, _count: usize) -> Result<FeedRead, StoreError> {
///         Ok(FeedRead::default())
///     }
///     async fn next(&mut self, wait: Duration) -> Result<FeedRead, StoreError> {
///         tokio::time::sleep(wait).await;
///         Ok(FeedRead::default())
///     }
/// }
/// ```
#[async_trait]
pub trait LiveFeed: Send {
    /// The last `count` events already in the feed (none for 0), and positions the
    /// reader after the newest entry, so that [`LiveFeed::next`] returns only what
    /// arrives afterwards.
    async fn recent(&mut self, count: usize) -> Result<FeedRead, StoreError>;

    /// What arrived since the last read, waiting up to `wait` for something (an empty
    /// read after that).
    async fn next(&mut self, wait: Duration) -> Result<FeedRead, StoreError>;
}

/// The config of a sink that publishes a live feed (`hpti live` opens it).
#[async_trait]
pub trait LiveFeedConfig: SinkConfig {
    /// Connects a reader of the feed.
    async fn open_feed(&self, cx: &BuildContext) -> Result<Box<dyn LiveFeed>, BuildError>;
}
