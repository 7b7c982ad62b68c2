//! `[sinks.<id>] type = "postgres"`: events in PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::secret::Secret;
use serde::{Deserialize, Serialize};

use super::{PartitionInterval, PostgresOptions, PostgresStore};
use crate::error::StoreError;
use crate::query::{EventQueries, QueryStoreConfig, RetentionPlan, StoreStats};
use crate::url::{resolve_url, url_key};

/// The PostgreSQL sink's keys.
///
/// ```toml
/// [sinks.pg]
/// type = "postgres"
/// url_env = "HPTI_POSTGRES_URL"   # or url = "postgres://hpti@db/hpti", or url_file
/// retention = "90d"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresSinkConfig {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=...&options=...]`. It may
    /// carry a password: prefer `url_env` or `url_file`, config files get copied around.
    /// A schema other than the role's default: `?options=-c%20search_path%3Dhpti`, or
    /// `ALTER ROLE ... SET search_path` (which also works through PgBouncer).
    pub url: Option<Secret>,
    /// The environment variable holding the URL.
    pub url_env: Option<String>,
    /// A file holding the URL, readable by its owner only (refused otherwise).
    pub url_file: Option<PathBuf>,
    /// `day` (the default) or `month`: the time span of one partition of the events.
    pub partition: PartitionInterval,
    /// Partitions created ahead of today, so that writes at midnight never wait for DDL.
    pub partitions_ahead: u32,
    /// Events older than this are dropped, a whole partition at a time (none by default).
    #[serde(with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// Connections to the server.
    pub max_connections: u32,
    /// Named server-side prepared statements (faster). Turn off behind PgBouncer in
    /// transaction mode, where the next statement may reach another server connection.
    pub prepared_statements: bool,
    /// How long connecting (and waiting for a free connection) may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for PostgresSinkConfig {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            url_file: None,
            partition: PartitionInterval::Day,
            partitions_ahead: 3,
            retention: None,
            max_connections: 4,
            prepared_statements: true,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl PostgresSinkConfig {
    /// The URL, from whichever of `url`, `url_file` or `url_env` is set.
    fn url(&self, cx: &BuildContext) -> Result<Secret, BuildError> {
        resolve_url(
            "PostgreSQL",
            self.url.as_ref(),
            self.url_file.as_deref(),
            self.url_env.as_deref(),
            cx,
        )
    }

    /// The store's options.
    pub fn options(&self, cx: &BuildContext) -> Result<PostgresOptions, BuildError> {
        let url = self.url(cx)?;
        let mut options = PostgresOptions::new(url.expose())
            .map_err(|e| BuildError::new("cannot use this URL", e).at_key(self.url_key()))?;
        options.partition = self.partition;
        options.partitions_ahead = self.partitions_ahead;
        options.retention = self.retention;
        options.max_connections = self.max_connections.max(1);
        options.prepared_statements = self.prepared_statements;
        options.connect_timeout = self.connect_timeout;
        options.name = cx.id.as_str().to_owned();
        Ok(options)
    }

    fn url_key(&self) -> &'static str {
        url_key(self.url_file.as_deref(), self.url_env.as_deref())
    }

    async fn open(&self, cx: &BuildContext, read_only: bool) -> Result<PostgresStore, BuildError> {
        let mut options = self.options(cx)?;
        options.read_only = read_only;
        let target = options.target().to_owned();
        PostgresStore::open(options).await.map_err(|e| match e {
            StoreError::NotFound(_) => BuildError::new(
                format!(
                    "no hpti tables in {target} (run `hpti store migrate` or `hpti run` first)"
                ),
                e,
            ),
            e => BuildError::new(format!("cannot open {target}"), e).at_key(self.url_key()),
        })
    }
}

#[async_trait]
impl SinkConfig for PostgresSinkConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        Ok(BuiltSink::new(Arc::new(self.open(cx, false).await?)))
    }
}

#[async_trait]
impl QueryStoreConfig for PostgresSinkConfig {
    async fn open_queries(&self, cx: &BuildContext) -> Result<Arc<dyn EventQueries>, BuildError> {
        Ok(Arc::new(self.open(cx, true).await?))
    }

    async fn open_writable_queries(
        &self,
        cx: &BuildContext,
    ) -> Result<Arc<dyn EventQueries>, BuildError> {
        Ok(Arc::new(self.open(cx, false).await?))
    }

    async fn open_alert_store(
        &self,
        cx: &BuildContext,
    ) -> Result<Arc<dyn hpti_core::alert_store::AlertStore>, StoreError> {
        let options = self
            .options(cx)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        Ok(Arc::new(super::PostgresAlertStore::open(&options).await?))
    }

    async fn migrate(&self, cx: &BuildContext) -> Result<String, StoreError> {
        let store = self
            .open(cx, false)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let target = store.target().to_owned();
        store.close().await;
        Ok(format!("{target}: schema up to date"))
    }

    async fn stats(&self, cx: &BuildContext) -> Result<StoreStats, StoreError> {
        let store = self
            .open(cx, true)
            .await
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let stats = store.stats().await;
        store.close().await;
        stats
    }

    async fn retention(
        &self,
        cx: &BuildContext,
        dry_run: bool,
    ) -> Result<RetentionPlan, StoreError> {
        let store = self
            .open(cx, dry_run)
            .await
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let plan = store.apply_retention(dry_run).await;
        store.close().await;
        plan
    }
}
