//! Backend-independent query types.

use std::net::IpAddr;

use async_trait::async_trait;
use hpti_core::event::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// The time window and size of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Only events at or after this time; `None` for all time.
    pub since: Option<Timestamp>,
    /// Most rows returned.
    pub limit: u32,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            since: None,
            limit: 20,
        }
    }
}

/// One session, aggregated from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Session id.
    pub session: String,
    /// Source that saw it.
    pub sensor: String,
    /// Protocol.
    pub protocol: String,
    /// Attacker address.
    pub src_ip: IpAddr,
    /// First event of the session.
    pub started: Timestamp,
    /// Last event of the session.
    pub last_seen: Timestamp,
    /// Duration reported by the session-closed event, if it closed.
    pub duration_ms: Option<u64>,
    /// Client version string, if announced.
    pub client_version: Option<String>,
    /// Login attempts in the session.
    pub login_attempts: u64,
    /// Whether a login succeeded.
    pub logged_in: bool,
    /// Commands entered.
    pub commands: u64,
    /// Downloads attempted.
    pub downloads: u64,
}

/// One attacking address, ranked by activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackerSummary {
    /// Address.
    pub src_ip: IpAddr,
    /// Events from it.
    pub events: u64,
    /// Distinct sessions.
    pub sessions: u64,
    /// Login attempts.
    pub login_attempts: u64,
    /// Commands entered.
    pub commands: u64,
    /// First event.
    pub first_seen: Timestamp,
    /// Last event.
    pub last_seen: Timestamp,
    /// Country code from enrichment, if any.
    pub country: Option<String>,
    /// AS number from enrichment, if any.
    pub asn: Option<u32>,
}

/// A user name and password pair, ranked by attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialCount {
    /// User name.
    pub username: String,
    /// Password (`None` for key-based attempts).
    pub password: Option<String>,
    /// Attempts with this pair.
    pub attempts: u64,
    /// Of which succeeded.
    pub successes: u64,
    /// Distinct source addresses that tried it.
    pub sources: u64,
}

/// A command line, ranked by how often it was entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCount {
    /// The command line.
    pub command: String,
    /// Times entered.
    pub count: u64,
    /// Distinct source addresses.
    pub sources: u64,
}

/// A captured file (by SHA-256) and everything known about how it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadSummary {
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Download events with this hash.
    pub count: u64,
    /// First download.
    pub first_seen: Timestamp,
    /// Last download.
    pub last_seen: Timestamp,
    /// Size in bytes, if known.
    pub size: Option<u64>,
    /// Distinct source addresses, sorted.
    pub src_ips: Vec<String>,
    /// Distinct URLs, sorted.
    pub urls: Vec<String>,
}

/// The queries the `hpti query` command runs.
///
/// ```
/// use async_trait::async_trait;
/// use hpti_store::{EventQueries, StoreError, Window};
/// use hpti_store::{AttackerSummary, CommandCount, CredentialCount, DownloadSummary, SessionSummary};
///
/// /// A store that has seen nothing.
/// struct Empty;
///
/// #[async_trait]
/// impl EventQueries for Empty {
///     async fn sessions(&self, _: Window) -> Result<Vec<SessionSummary>, StoreError> { Ok(vec![]) }
///     async fn attackers(&self, _: Window) -> Result<Vec<AttackerSummary>, StoreError> { Ok(vec![]) }
///     async fn credentials(&self, _: Window) -> Result<Vec<CredentialCount>, StoreError> { Ok(vec![]) }
///     async fn commands(&self, _: Window) -> Result<Vec<CommandCount>, StoreError> { Ok(vec![]) }
///     async fn downloads(&self, _: Window) -> Result<Vec<DownloadSummary>, StoreError> { Ok(vec![]) }
///     async fn count_events(&self) -> Result<u64, StoreError> { Ok(0) }
/// }
/// ```
#[async_trait]
pub trait EventQueries: Send + Sync {
    /// Sessions with activity in the window, the most recently opened first (by arrival).
    async fn sessions(&self, window: Window) -> Result<Vec<SessionSummary>, StoreError>;
    /// Source addresses ranked by events in the window.
    async fn attackers(&self, window: Window) -> Result<Vec<AttackerSummary>, StoreError>;
    /// Credential pairs ranked by attempts in the window.
    async fn credentials(&self, window: Window) -> Result<Vec<CredentialCount>, StoreError>;
    /// Command lines ranked by count in the window.
    async fn commands(&self, window: Window) -> Result<Vec<CommandCount>, StoreError>;
    /// Captured files ranked by downloads in the window.
    async fn downloads(&self, window: Window) -> Result<Vec<DownloadSummary>, StoreError>;
    /// All events stored.
    async fn count_events(&self) -> Result<u64, StoreError>;
}

/// A sink config whose sink also answers [`EventQueries`] (`[query] store = "<id>"`
/// names one). Query processes (`hpti query`, the API) open it read-only: no
/// migrations, no background tasks, no writes.
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
/// use hpti_store::{EventQueries, QueryStoreConfig};
///
/// #[derive(Debug)]
/// struct NothingConfig;
/// # struct Nothing;
/// # #[async_trait]
/// # impl hpti_core::sink::Sink for Nothing {
/// #     fn name(&self) -> &str { "nothing" }
/// #     async fn write(&self, _: &[&hpti_core::Event]) -> Result<hpti_core::sink::WriteReport, hpti_core::sink::SinkError> {
/// #         Ok(hpti_core::sink::WriteReport::delivered())
/// #     }
/// # }
/// # #[async_trait]
/// # impl EventQueries for Nothing {
/// #     async fn sessions(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::SessionSummary>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn attackers(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::AttackerSummary>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn credentials(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::CredentialCount>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn commands(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::CommandCount>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn downloads(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::DownloadSummary>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn count_events(&self) -> Result<u64, hpti_store::StoreError> { Ok(0) }
/// # }
///
/// #[async_trait]
/// impl SinkConfig for NothingConfig {
///     async fn build(&self, _cx: &BuildContext) -> Result<BuiltSink, BuildError> {
///         Ok(BuiltSink::new(Arc::new(Nothing)))
///     }
/// }
///
/// #[async_trait]
/// impl QueryStoreConfig for NothingConfig {
///     async fn open_queries(&self, _cx: &BuildContext) -> Result<Arc<dyn EventQueries>, BuildError> {
///         Ok(Arc::new(Nothing))
///     }
/// }
/// ```
#[async_trait]
pub trait QueryStoreConfig: hpti_core::component::SinkConfig {
    /// Opens the store read-only for queries.
    async fn open_queries(
        &self,
        cx: &hpti_core::component::BuildContext,
    ) -> Result<std::sync::Arc<dyn EventQueries>, hpti_core::component::BuildError>;
}
