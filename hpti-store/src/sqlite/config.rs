//! `[sinks.<id>] type = "sqlite"`: the embedded default store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use serde::{Deserialize, Serialize};

use super::{SqliteOptions, SqliteStore};
use crate::error::StoreError;
use crate::query::{Backup, EventQueries, QueryStoreConfig, StoreStats};

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a crash of hpti (what acknowledgements promise).
    #[default]
    Normal,
    /// Also survives power loss, more slowly.
    Full,
}

/// The SQLite sink's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteSinkConfig {
    /// The events database, relative to the data directory (default `hpti.db`); the
    /// summaries live beside it.
    pub path: PathBuf,
    /// `normal` or `full`.
    pub synchronous: Synchronous,
    /// Page cache of the event writer's connection, in KiB.
    pub writer_cache_kib: u32,
    /// Page cache of each other connection, in KiB.
    pub cache_kib: u32,
    /// Check the databases at start (`PRAGMA quick_check`): a damaged events database
    /// is refused with what to do, damaged summaries are folded again. About 1 s a GB
    /// cached, 11 s a GB cold; turn off only for a database too big to wait for.
    pub integrity_check: bool,
}

impl Default for SqliteSinkConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("hpti.db"),
            synchronous: Synchronous::Normal,
            writer_cache_kib: 16 * 1024,
            cache_kib: 8 * 1024,
            integrity_check: true,
        }
    }
}

impl SqliteSinkConfig {
    /// The store's options, paths resolved against the data directory.
    pub fn options(&self, cx: &BuildContext) -> SqliteOptions {
        let mut options = SqliteOptions::new(cx.data_path(&self.path));
        options.synchronous_full = self.synchronous == Synchronous::Full;
        options.writer_cache_kib = self.writer_cache_kib;
        options.cache_kib = self.cache_kib;
        options.integrity_check = self.integrity_check;
        options
    }
}

#[async_trait]
impl SinkConfig for SqliteSinkConfig {
    fn write_paths(&self, cx: &BuildContext) -> Vec<PathBuf> {
        // The database's directory: SQLite writes its -wal and -shm files beside it.
        let path = cx.data_path(&self.path);
        path.parent().map(Path::to_owned).into_iter().collect()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        let options = self.options(cx);
        let store = SqliteStore::open(options.clone())
            .await
            .map_err(|e| match e {
                // Not a config mistake: the message says what to do with the file.
                StoreError::Corrupt { .. } => BuildError::new("refusing a damaged database", e),
                e => BuildError::new(format!("cannot open {}", options.path.display()), e)
                    .at_key("path"),
            })?;
        Ok(BuiltSink::new(Arc::new(store)))
    }
}

#[async_trait]
impl QueryStoreConfig for SqliteSinkConfig {
    async fn open_queries(&self, cx: &BuildContext) -> Result<Arc<dyn EventQueries>, BuildError> {
        let mut options = self.options(cx);
        options.read_only = true;
        let store = SqliteStore::open(options.clone()).await.map_err(|e| {
            BuildError::new(
                format!(
                    "cannot open {} for queries (run `hpti run` or `hpti ingest` first)",
                    options.path.display()
                ),
                e,
            )
            .at_key("path")
        })?;
        Ok(Arc::new(store))
    }

    async fn open_writable_queries(
        &self,
        cx: &BuildContext,
    ) -> Result<Arc<dyn EventQueries>, BuildError> {
        let options = self.options(cx);
        let store = SqliteStore::open(options.clone()).await.map_err(|e| {
            BuildError::new(format!("cannot open {}", options.path.display()), e).at_key("path")
        })?;
        Ok(Arc::new(store))
    }

    async fn open_alert_store(
        &self,
        cx: &BuildContext,
    ) -> Result<Arc<dyn hpti_core::alert_store::AlertStore>, StoreError> {
        let options = self.options(cx);
        Ok(Arc::new(
            super::SqliteAlertStore::open(&options.alerts_path()).await?,
        ))
    }

    async fn migrate(&self, cx: &BuildContext) -> Result<String, StoreError> {
        let options = self.options(cx);
        let store = SqliteStore::open(options.clone()).await?;
        store.close().await;
        Ok(format!("{}: schema up to date", options.path.display()))
    }

    async fn stats(&self, cx: &BuildContext) -> Result<StoreStats, StoreError> {
        let mut options = self.options(cx);
        options.read_only = true;
        let store = SqliteStore::open(options.clone()).await?;
        let events = store.count_events().await;
        store.close().await;
        let summaries = options.summaries_path();
        let bytes = [&options.path, &summaries]
            .into_iter()
            .flat_map(|path| {
                ["", "-wal"].map(|suffix| {
                    let mut file = path.as_os_str().to_owned();
                    file.push(suffix);
                    std::fs::metadata(file).map_or(0, |m| m.len())
                })
            })
            .sum();
        Ok(StoreStats::new(
            options.path.display().to_string(),
            events?,
            bytes,
            Vec::new(),
        ))
    }

    async fn backup(&self, cx: &BuildContext, out: &std::path::Path) -> Result<Backup, StoreError> {
        let mut options = self.options(cx);
        options.read_only = true;
        let store = SqliteStore::open(options).await?;
        let result = store.backup(out).await;
        store.close().await;
        result
    }
}
