//! The component model: every sensor, source, enricher, sink and notifier is a config
//! type that its own crate owns, with a `build()` that turns it into a running part
//! (after Vector). The `hpti` binary only maps a table's `type` to one of these configs.
//!
//! ```toml
//! [sinks.main]          # the id, chosen by the user: metrics, logs and dead letters carry it
//! type = "sqlite"       # picks the config type that reads the rest of the table
//! path = "hpti.db"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::enricher::Enricher;
use crate::error::BoxError;
use crate::metrics::PipelineMetrics;
use crate::notify::Notifier;
use crate::pipeline::BatchConfig;
use crate::sink::Sink;
use crate::source::Source;

/// The id a user gave a component (`main` in `[sinks.main]`): letters, digits, `_` and
/// `-`, at most 64 characters. Cheap to clone.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId(Arc<str>);

/// An id that is empty, too long or has a character other than letters, digits, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("component id {0:?} must be 1 to 64 letters, digits, `_` or `-`")]
pub struct InvalidComponentId(pub String);

impl ComponentId {
    /// Checks and wraps an id.
    pub fn new(id: &str) -> Result<Self, InvalidComponentId> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(Arc::from(id)))
        } else {
            Err(InvalidComponentId(id.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for ComponentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ComponentId {
    type Error = InvalidComponentId;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

/// What a component's `build()` gets from the process that runs it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildContext {
    /// The component's id.
    pub id: ComponentId,
    /// The data directory: relative paths in a component's config resolve against it,
    /// and nothing a component writes may lie outside it.
    pub data_dir: PathBuf,
    /// Where the component registers its counters (labelled by its id).
    pub metrics: PipelineMetrics,
    /// The pipeline's time budget of one enricher for one event (enrichers leave
    /// themselves a margin under it).
    pub enrich_timeout: Duration,
}

impl BuildContext {
    /// A context for component `id` with data under `data_dir`.
    pub fn new(id: ComponentId, data_dir: impl Into<PathBuf>, metrics: PipelineMetrics) -> Self {
        Self {
            id,
            data_dir: data_dir.into(),
            metrics,
            enrich_timeout: Duration::from_secs(2),
        }
    }

    /// The same context for another component.
    pub fn for_component(&self, id: ComponentId) -> Self {
        Self { id, ..self.clone() }
    }

    /// Sets the enrichers' time budget.
    pub fn with_enrich_timeout(mut self, timeout: Duration) -> Self {
        self.enrich_timeout = timeout;
        self
    }

    /// A path from the component's config, resolved against the data directory.
    pub fn data_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.data_dir.join(path)
        }
    }
}

/// A component could not be built from its config.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", key.as_deref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
pub struct BuildError {
    /// The config key at fault, relative to the component's table (`path`, `listen`).
    pub key: Option<String>,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl BuildError {
    /// A failure with a message and a cause.
    pub fn new(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            key: None,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A failure with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: message.into(),
            source: None,
        }
    }

    /// Names the config key at fault.
    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// A sink that was built, with the batching it wants if it differs from the pipeline's.
#[non_exhaustive]
pub struct BuiltSink {
    /// The sink.
    pub sink: Arc<dyn Sink>,
    /// Its own batching, or `None` for the pipeline's.
    pub batch: Option<BatchConfig>,
}

impl BuiltSink {
    /// A sink with the pipeline's batching.
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        Self { sink, batch: None }
    }

    /// Sets its own batching.
    pub fn with_batching(mut self, batch: BatchConfig) -> Self {
        self.batch = Some(batch);
        self
    }
}

impl fmt::Debug for BuiltSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltSink")
            .field("sink", &self.sink.name())
            .field("batch", &self.batch)
            .finish()
    }
}

/// The config of a sink type (`[sinks.<id>] type = "..."`).
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
/// use hpti_core::testing::MemorySink;
///
/// /// `[sinks.<id>] type = "memory"`: keeps events in memory.
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct MemorySinkConfig {}
///
/// #[async_trait]
/// impl SinkConfig for MemorySinkConfig {
///     async fn build(&self, _cx: &BuildContext) -> Result<BuiltSink, BuildError> {
///         Ok(BuiltSink::new(Arc::new(MemorySink::new())))
///     }
/// }
/// ```
#[async_trait]
pub trait SinkConfig: fmt::Debug + Send + Sync {
    /// Opens the sink (connections, files, migrations).
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError>;

    /// Checks what `build` would refuse without connecting or opening anything (for
    /// `hpti config check`).
    fn check(&self, _cx: &BuildContext) -> Result<(), BuildError> {
        Ok(())
    }

    /// Directories outside the data directory that the built sink writes (a database
    /// file elsewhere, a local archive): what a self-sandbox must leave writable.
    fn write_paths(&self, _cx: &BuildContext) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// The config of a source type: a network sensor (`[sensors.<id>]`) or a reader of
/// records (`[sources.<id>]`: log files, a message queue).
///
/// ```
/// use async_trait::async_trait;
/// use hpti_core::component::{BuildContext, BuildError, SourceConfig};
/// use hpti_core::source::{Source, SourceContext, SourceError};
///
/// /// A source that stops at once.
/// struct Idle;
/// #[async_trait]
/// impl Source for Idle {
///     fn name(&self) -> &str { "idle" }
///     async fn run(&self, _ctx: SourceContext) -> Result<(), SourceError> { Ok(()) }
/// }
///
/// #[derive(Debug)]
/// struct IdleConfig;
/// #[async_trait]
/// impl SourceConfig for IdleConfig {
///     async fn build(&self, _cx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
///         Ok(Box::new(Idle))
///     }
/// }
/// ```
#[async_trait]
pub trait SourceConfig: fmt::Debug + Send + Sync {
    /// Binds listeners, opens files; the source runs when the pipeline spawns it.
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BuildError>;

    /// Checks what `build` would refuse without binding or starting anything (for
    /// `hpti config check`): files it would load, their syntax.
    fn check(&self, _cx: &BuildContext) -> Result<(), BuildError> {
        Ok(())
    }

    /// Files and directories outside the data directory that the built source reads
    /// (log files, their directories): what a self-sandbox must leave readable.
    fn read_paths(&self, _cx: &BuildContext) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// The config of an enricher type (`[enrichers.<id>] type = "..."`).
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use hpti_core::component::{BuildContext, BuildError, EnricherConfig};
/// use hpti_core::enricher::{EnrichError, Enricher};
/// use hpti_core::event::Event;
///
/// struct Tag(String);
/// #[async_trait]
/// impl Enricher for Tag {
///     fn name(&self) -> &str { "tag" }
///     async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
///         event.enrichment.tags.push(self.0.clone());
///         Ok(())
///     }
/// }
///
/// /// `[enrichers.<id>] type = "tag"`, `tag = "..."`.
/// #[derive(Debug, serde::Deserialize)]
/// struct TagConfig { tag: String }
/// #[async_trait]
/// impl EnricherConfig for TagConfig {
///     async fn build(&self, _cx: &BuildContext) -> Result<Vec<Arc<dyn Enricher>>, BuildError> {
///         Ok(vec![Arc::new(Tag(self.tag.clone()))])
///     }
/// }
/// ```
#[async_trait]
pub trait EnricherConfig: fmt::Debug + Send + Sync {
    /// Opens databases and clients. One component may run as several enrichers (one
    /// API key's address and file lookups share a rate limit), applied in order.
    async fn build(&self, cx: &BuildContext) -> Result<Vec<Arc<dyn Enricher>>, BuildError>;

    /// Files the built enrichers read (databases, lists), including on reload: what a
    /// self-sandbox must leave readable.
    fn read_paths(&self, _cx: &BuildContext) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// Whether the enricher keeps its answers in a cache shared between processes
    /// (Redis), so that `hpti enrich warm` is worth running for it.
    fn has_shared_cache(&self) -> bool {
        false
    }
}

/// The config of a notifier type (`[notifiers.<id>] type = "slack"`); the alert engine
/// hands the built notifier alert groups.
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use hpti_core::component::{BuildContext, BuildError, NotifierConfig};
/// use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
///
/// struct Discard;
/// #[async_trait]
/// impl Notifier for Discard {
///     fn name(&self) -> &str { "discard" }
///     async fn notify(&self, _group: &AlertGroup) -> Result<(), NotifyError> { Ok(()) }
/// }
///
/// #[derive(Debug)]
/// struct DiscardConfig;
/// #[async_trait]
/// impl NotifierConfig for DiscardConfig {
///     async fn build(&self, _cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError> {
///         Ok(Arc::new(Discard))
///     }
/// }
/// ```
#[async_trait]
pub trait NotifierConfig: fmt::Debug + Send + Sync {
    /// Builds the client (credentials, endpoint, templates).
    async fn build(&self, cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(ComponentId::new("main").is_ok());
        assert!(ComponentId::new("ssh-2_b").is_ok());
        for bad in ["", "a b", "a.b", "ä", &"x".repeat(65)] {
            assert!(ComponentId::new(bad).is_err(), "{bad:?}");
        }
    }
}
