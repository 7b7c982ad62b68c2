//! hpti-store: where events are kept, and the queries the `hpti` binary runs on them.
//!
//! Each backend is one module behind a feature and implements
//! [`Sink`](hpti_core::sink::Sink); the ones that can be queried also implement
//! [`EventQueries`]. SQLite is the embedded default.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
pub mod error;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod query;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::StoreError;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresSinkConfig, PostgresStore};
pub use query::{
    AttackerDetail, AttackerSummary, Backup, CommandCount, CredentialCount, Cursor,
    DownloadSummary, EventFilter, EventPage, EventQueries, PartitionStats, QueryStoreConfig,
    RetentionPlan, SessionDetail, SessionSummary, StoreStats, Window,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteSinkConfig, SqliteStore};
