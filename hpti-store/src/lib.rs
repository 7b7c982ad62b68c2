//! hpti-store: where events are kept, and the queries the `hpti` binary runs on them.
//!
//! Each backend is one module behind a feature and implements
//! [`Sink`](hpti_core::sink::Sink); the ones that can be queried also implement
//! [`EventQueries`]. SQLite is the embedded default.

// Without a backend (a crate that only reads through `EventQueries`, as hpti-intel
// does), the helpers the backends share have no user.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "elasticsearch",
        feature = "redis",
        feature = "archive"
    )),
    allow(dead_code)
)]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod alert_rows;
#[cfg(feature = "archive")]
pub mod archive;
mod columns;
#[cfg(feature = "elasticsearch")]
pub mod elasticsearch;
pub mod error;
pub mod live;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod query;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod url;

#[cfg(feature = "archive")]
pub use archive::{ArchiveSink, ArchiveSinkConfig};
#[cfg(feature = "elasticsearch")]
pub use elasticsearch::{ElasticsearchOptions, ElasticsearchSink, ElasticsearchSinkConfig};
pub use error::StoreError;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresAlertStore, PostgresOptions, PostgresSinkConfig, PostgresStore};
pub use query::{
    AttackerDetail, AttackerSummary, Backup, CommandCount, CredentialCount, Cursor,
    DownloadSummary, EventFilter, EventPage, EventQueries, FileFacts, MAX_LIST, NdjsonPage,
    PartitionStats, QueryStoreConfig, RetentionPlan, SessionDetail, SessionSummary, StoreStats,
    TimeBucket, Window, WindowOverview,
};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisSink, RedisSinkConfig};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteAlertStore, SqliteOptions, SqliteSinkConfig, SqliteStore};
