//! Events in PostgreSQL: daily (or monthly) partitions created by hpti itself, batches
//! written with `COPY` into a temporary table and moved over with `INSERT ... ON CONFLICT
//! DO NOTHING` (a replay stores nothing twice), summaries folded in the same transaction,
//! and retention by dropping whole partitions.
//!
//! Text that PostgreSQL cannot hold (a NUL character) is kept exactly in the event's
//! document, which is what the event is read back from; the typed columns the analyst
//! queries group by hold it with U+FFFD in place of each NUL.

mod alerts;
mod config;
mod copy;
mod migrate;
mod partitions;
mod queries;

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventId, Timestamp};
use hpti_core::sink::{Rejection, Sink, SinkCapabilities, SinkError, WriteReport};
use sha2::{Digest as _, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use self::copy::CopyBuffer;
pub use self::partitions::PartitionInterval;
use crate::error::StoreError;
use crate::query::StoreStats;
pub use alerts::PostgresAlertStore;
pub use config::PostgresSinkConfig;

/// How the PostgreSQL store connects and keeps its partitions.
#[derive(Clone)]
pub struct PostgresOptions {
    connect: PgConnectOptions,
    /// `host:port/database`, for messages (never the password).
    target: String,
    /// The time span of one partition.
    pub partition: PartitionInterval,
    /// Partitions created ahead of the current one.
    pub partitions_ahead: u32,
    /// Partitions wholly older than this are dropped; `None` keeps everything.
    pub retention: Option<Duration>,
    /// Pool size.
    pub max_connections: u32,
    /// Named prepared statements (off behind PgBouncer in transaction mode).
    pub prepared_statements: bool,
    /// Connecting and waiting for a pooled connection.
    pub connect_timeout: Duration,
    /// Opens existing tables for queries only: no migrations, no background tasks.
    pub read_only: bool,
    /// The component id, sent as the connection's `application_name`.
    pub name: String,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connect options hold the password.
        f.debug_struct("PostgresOptions")
            .field("target", &self.target)
            .field("partition", &self.partition)
            .field("partitions_ahead", &self.partitions_ahead)
            .field("retention", &self.retention)
            .field("max_connections", &self.max_connections)
            .field("prepared_statements", &self.prepared_statements)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// Defaults for the database at `url` (`postgres://...`).
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|_| {
            // sqlx's message repeats the URL, password included.
            StoreError::InvalidInput(
                "not a PostgreSQL URL (postgres://user[:password]@host[:port]/database)".into(),
            )
        })?;
        let target = format!(
            "postgres://{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or_default()
        );
        Ok(Self {
            connect,
            target,
            partition: PartitionInterval::Day,
            partitions_ahead: 3,
            retention: None,
            max_connections: 4,
            prepared_statements: true,
            connect_timeout: Duration::from_secs(10),
            read_only: false,
            name: "hpti".into(),
        })
    }

    /// The server and database, without credentials.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// A PostgreSQL event store; a [`Sink`] and [`EventQueries`](crate::EventQueries).
///
/// ```no_run
/// # async fn demo() -> Result<(), hpti_store::StoreError> {
/// use hpti_store::{EventQueries, PostgresOptions, PostgresStore, Window};
/// let store = PostgresStore::open(PostgresOptions::new("postgres://hpti@127.0.0.1/hpti")?).await?;
/// for row in store.commands(Window::default()).await? {
///     println!("{:>6}  {}", row.count, row.command);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    options: Arc<PostgresOptions>,
    /// Enrichment documents (by SHA-256) whose row id is known to be committed.
    enrichment_ids: Arc<Mutex<EnrichmentIds>>,
    /// Partitions known to exist, by their first instant (micros).
    partitions: Arc<Mutex<BTreeSet<i64>>>,
    background: TaskTracker,
    _stop_on_drop: Arc<DropGuard>,
    stop: CancellationToken,
}

/// Most enrichment row ids remembered; when full the memo starts over (a forgotten
/// document costs one lookup).
const REMEMBERED_ENRICHMENTS: usize = 65_536;

#[derive(Debug, Default)]
struct EnrichmentIds(HashMap<[u8; 32], i64>);

impl EnrichmentIds {
    fn remember(&mut self, digest: [u8; 32], id: i64) {
        if self.0.len() >= REMEMBERED_ENRICHMENTS {
            self.0.clear();
        }
        self.0.insert(digest, id);
    }
}

/// How often partitions ahead are created and expired ones dropped.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);
/// Most queued events one fold statement takes: per-key upserts are shared by all the
/// events of a step, so bigger steps cost less per event; the step bounds the memory of
/// its grouping.
const FOLD_STEP: i64 = 16_384;
/// The advisory lock that makes folds of one database take turns ("hptifold").
const FOLD_LOCK: i64 = 0x6870_7469_666f_6c64;
/// How often the background folder looks for queued events.
const FOLD_INTERVAL: Duration = Duration::from_millis(200);

impl PostgresStore {
    /// Connects, applies pending migrations, creates the partitions ahead and starts the
    /// hourly partition maintenance (or, read-only, only checks the tables exist).
    pub async fn open(options: PostgresOptions) -> Result<Self, StoreError> {
        let connect = options
            .connect
            .clone()
            .application_name(&format!("hpti {}", options.name))
            .statement_cache_capacity(if options.prepared_statements { 100 } else { 0 });
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Connect {
                target: options.target.clone(),
                class: classify(&e),
                source: Box::new(e),
            })?;
        let stop = CancellationToken::new();
        let store = Self {
            pool,
            options: Arc::new(options),
            enrichment_ids: Arc::default(),
            partitions: Arc::default(),
            background: TaskTracker::new(),
            _stop_on_drop: Arc::new(stop.clone().drop_guard()),
            stop,
        };
        if store.options.read_only {
            store.background.close();
            let mut c = store.read().await?;
            let exists: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NOT NULL")
                .persistent(false)
                .fetch_one(&mut *c)
                .await
                .map_err(database_error)?;
            c.commit().await.map_err(database_error)?;
            if !exists {
                store.pool.close().await;
                return Err(StoreError::NotFound(format!(
                    "no events table in {}",
                    store.options.target
                )));
            }
            return Ok(store);
        }
        migrate::run(&store.pool).await?;
        store.load_partitions().await?;
        store.create_partitions_ahead().await?;
        let maintained = store.without_drop_guard();
        store.background.spawn(async move {
            let mut interval = tokio::time::interval(MAINTENANCE_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                tokio::select! {
                    () = maintained.stop.cancelled() => return,
                    _ = interval.tick() => {}
                }
                if let Err(err) = maintained.maintain().await {
                    tracing::warn!(error = %err, "partition maintenance failed; will retry");
                }
            }
        });
        let folder = store.without_drop_guard();
        store.background.spawn(async move {
            let mut interval = tokio::time::interval(FOLD_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = folder.stop.cancelled() => return,
                    _ = interval.tick() => {}
                }
                if let Err(err) = folder.refresh_summaries().await {
                    tracing::warn!(error = %err, "folding into the summaries failed; will retry");
                }
            }
        });
        store.background.close();
        Ok(store)
    }

    /// A handle for the background task. It must not hold the drop guard, or the store
    /// would keep itself alive; it listens to the same stop token.
    fn without_drop_guard(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            options: self.options.clone(),
            enrichment_ids: self.enrichment_ids.clone(),
            partitions: self.partitions.clone(),
            background: self.background.clone(),
            _stop_on_drop: Arc::new(CancellationToken::new().drop_guard()),
            stop: self.stop.clone(),
        }
    }

    /// The server and database, without credentials.
    pub fn target(&self) -> &str {
        &self.options.target
    }

    /// The connection pool, for queries this crate does not offer.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The background partition maintenance, to wait for its end.
    pub fn background_tasks(&self) -> TaskTracker {
        self.background.clone()
    }

    /// Creates the partitions ahead and, with a retention, drops expired ones.
    async fn maintain(&self) -> Result<(), StoreError> {
        self.create_partitions_ahead().await?;
        if self.options.retention.is_some() {
            let plan = self.apply_retention(false).await?;
            for partition in &plan.expired {
                tracing::info!(partition = %partition.name, rows = partition.rows, "expired partition dropped");
            }
        }
        Ok(())
    }

    /// Stores events; returns the indexes refused (with why).
    pub async fn insert(&self, events: &[&Event]) -> Result<Vec<Rejection>, StoreError> {
        let mut rejected = Vec::new();
        let oldest_kept = self.retention_cutoff();
        let mut accepted: Vec<(usize, &Event, String, Option<[u8; 32]>)> =
            Vec::with_capacity(events.len());
        // Enrichment documents of this batch without a known row id, each once.
        let mut pending: HashMap<[u8; 32], String> = HashMap::new();
        {
            let known = self
                .enrichment_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (index, event) in events.iter().enumerate() {
                if let Some(reason) = partitions::out_of_range(event.time) {
                    rejected.push(Rejection::new(index, reason));
                    continue;
                }
                if let Some(cutoff) = oldest_kept
                    && event.time < cutoff
                {
                    rejected.push(Rejection::new(
                        index,
                        format!("older than the retention (before {cutoff}): it would be dropped at once"),
                    ));
                    continue;
                }
                let encoded = copy::document(event).and_then(|doc| {
                    if event.enrichment.is_empty() {
                        return Ok((doc, None));
                    }
                    let enrichment = serde_json::to_string(&event.enrichment)?;
                    let digest: [u8; 32] = Sha256::digest(enrichment.as_bytes()).into();
                    if !known.0.contains_key(&digest) {
                        pending.entry(digest).or_insert(enrichment);
                    }
                    Ok((doc, Some(digest)))
                });
                match encoded {
                    Ok((doc, digest)) => accepted.push((index, event, doc, digest)),
                    Err(err) => rejected.push(Rejection::new(
                        index,
                        format!("cannot encode event as JSON: {err}"),
                    )),
                }
            }
        }
        if accepted.is_empty() {
            return Ok(rejected);
        }
        if !pending.is_empty() {
            self.store_enrichments(pending).await?;
        }
        self.ensure_partitions(accepted.iter().map(|(_, event, _, _)| event.time))
            .await?;
        let mut buffer = CopyBuffer::with_capacity(accepted.len());
        {
            let known = self
                .enrichment_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (_, event, doc, digest) in &accepted {
                let enrichment_id = match digest {
                    Some(digest) => Some(*known.0.get(digest).ok_or_else(|| {
                        StoreError::Decode("an enrichment document has no row id".into())
                    })?),
                    None => None,
                };
                buffer.push_event(event, doc, enrichment_id);
            }
        }
        self.copy_and_fold(buffer).await?;
        Ok(rejected)
    }

    /// Events before this instant are past the retention.
    fn retention_cutoff(&self) -> Option<Timestamp> {
        let retention = self.options.retention?;
        let micros = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        Some(Timestamp::now().saturating_add_micros(-micros))
    }

    /// One transaction: COPY into a temporary table, move the new rows over, queue them
    /// for the folder.
    async fn copy_and_fold(&self, buffer: CopyBuffer) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        sqlx::query(
            "CREATE TEMPORARY TABLE hpti_incoming (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP",
        )
        .persistent(false)
        .execute(&mut *tx)
        .await
        .map_err(database_error)?;
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY hpti_incoming ({}) FROM STDIN",
                copy::COLUMNS
            ))
            .await
            .map_err(database_error)?;
        copy.send(buffer.into_bytes())
            .await
            .map_err(database_error)?;
        copy.finish().await.map_err(database_error)?;
        sqlx::query(queries::MOVE)
            .persistent(self.options.prepared_statements)
            .execute(&mut *tx)
            .await
            .map_err(database_error)?;
        // The API's caches key on this: it moves whenever a batch may have stored events.
        sqlx::query("SELECT nextval('hpti_position')")
            .persistent(self.options.prepared_statements)
            .execute(&mut *tx)
            .await
            .map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        Ok(())
    }

    /// Stores enrichment documents (those already there are kept) and remembers their
    /// row ids. Committed on their own before the events that use them, so an id handed
    /// out always names a row.
    async fn store_enrichments(&self, docs: HashMap<[u8; 32], String>) -> Result<(), StoreError> {
        let (digests, docs): (Vec<Vec<u8>>, Vec<String>) =
            docs.into_iter().map(|(d, doc)| (d.to_vec(), doc)).unzip();
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        sqlx::query(
            "INSERT INTO enrichments (digest, doc)
             SELECT d, doc::json FROM unnest($1::bytea[], $2::text[]) AS t(d, doc)
             ORDER BY d
             ON CONFLICT (digest) DO NOTHING",
        )
        .persistent(self.options.prepared_statements)
        .bind(&digests)
        .bind(&docs)
        .execute(&mut *tx)
        .await
        .map_err(database_error)?;
        let rows: Vec<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT digest, id FROM enrichments WHERE digest = ANY($1)")
                .persistent(self.options.prepared_statements)
                .bind(&digests)
                .fetch_all(&mut *tx)
                .await
                .map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        let mut known = self
            .enrichment_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (digest, id) in rows {
            if let Ok(digest) = <[u8; 32]>::try_from(digest.as_slice()) {
                known.remember(digest, id);
            }
        }
        Ok(())
    }

    /// One stored event, rebuilt from its columns and document.
    pub async fn find_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let mut c = self.read().await?;
        let event = queries::find_event(self, &mut c, id).await?;
        c.commit().await.map_err(database_error)?;
        Ok(event)
    }

    /// A transaction for reads. Every statement runs inside one: behind PgBouncer in
    /// transaction mode, a statement's parse and its execution (two round trips) would
    /// otherwise reach different server connections.
    /// Folds every queued event into the summaries and rollups, in steps of at most
    /// [`FOLD_STEP`] events; returns how many. The background folder calls it every
    /// [`FOLD_INTERVAL`]; queries of the writing process call it first (a read-only store
    /// does not: it reads what the writer has folded).
    pub async fn refresh_summaries(&self) -> Result<u64, StoreError> {
        if self.options.read_only {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            // In a transaction: behind PgBouncer in transaction mode, a statement's parse
            // and execution outside one may reach different server connections.
            let mut tx = self.pool.begin().await.map_err(database_error)?;
            // One fold at a time: FOLD skips the queue rows another fold holds, so a
            // read folding alongside the background fold would answer without the rows
            // that one has claimed and not yet committed. Held to the commit.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .persistent(self.options.prepared_statements)
                .bind(FOLD_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(database_error)?;
            let folded: i64 = sqlx::query_scalar(queries::FOLD)
                .persistent(self.options.prepared_statements)
                .bind(FOLD_STEP)
                .fetch_one(&mut *tx)
                .await
                .map_err(database_error)?;
            tx.commit().await.map_err(database_error)?;
            total += u64::try_from(folded).unwrap_or(0);
            if folded < FOLD_STEP {
                return Ok(total);
            }
        }
    }

    pub(super) async fn read(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(database_error)
    }

    /// The number of distinct enrichment documents stored.
    pub async fn count_enrichments(&self) -> Result<u64, StoreError> {
        let mut c = self.read().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrichments")
            .persistent(self.options.prepared_statements)
            .fetch_one(&mut *c)
            .await
            .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// What the store holds: events, bytes, partitions.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let partitions = self.partition_stats(None).await?;
        let events = partitions.iter().map(|p| p.rows).sum();
        let mut c = self.read().await?;
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint
             FROM pg_class c
             WHERE c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass)
                OR c.oid IN ('enrichments'::regclass, 'sessions'::regclass, 'attackers'::regclass)",
        )
        .persistent(false)
        .fetch_one(&mut *c)
        .await
        .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        Ok(StoreStats::new(
            self.options.target.clone(),
            events,
            u64::try_from(bytes).unwrap_or(0),
            partitions,
        ))
    }

    /// Stops the background maintenance and closes every connection.
    pub async fn close(&self) {
        self.stop.cancel();
        self.background.wait().await;
        self.final_fold().await;
        self.pool.close().await;
    }

    /// Folds what is queued before the store closes, so that the summaries are whole.
    async fn final_fold(&self) {
        if let Err(err) = self.refresh_summaries().await {
            tracing::warn!(error = %err, "final fold into the summaries failed; the next start folds it");
        }
    }
}

/// SQLSTATE classes and codes that may clear up: connection exceptions (08), serialization
/// failures and deadlocks (40001, 40P01), insufficient resources such as a full disk (53),
/// an administrator's shutdown or a server starting (57P01-57P03), a lock not available
/// (55P03), a query cancelled by a timeout (57014).
pub(crate) fn classify(err: &sqlx::Error) -> ErrorClass {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorClass::Temporary,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(code)
                if code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(
                        code,
                        "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
                    ) =>
            {
                ErrorClass::Temporary
            }
            _ => ErrorClass::Permanent,
        },
        _ => ErrorClass::Permanent,
    }
}

pub(crate) fn database_error(err: sqlx::Error) -> StoreError {
    StoreError::Database {
        class: classify(&err),
        source: Box::new(err),
    }
}

#[async_trait]
impl Sink for PostgresStore {
    fn name(&self) -> &str {
        "postgres"
    }

    fn capabilities(&self) -> SinkCapabilities {
        // `ON CONFLICT DO NOTHING` on (time, id).
        SinkCapabilities::DURABLE_IDEMPOTENT
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        match self.insert(events).await {
            Ok(rejected) => Ok(WriteReport::with_rejections(rejected)),
            Err(err) => Err(SinkError::new(err.class(), "postgres write failed", err)),
        }
    }

    /// Stops the background maintenance. The pool stays open so that the store can still
    /// be queried after its pipeline ended; [`PostgresStore::close`], or dropping the
    /// last clone, closes it.
    async fn close(&self) -> Result<(), SinkError> {
        self.stop.cancel();
        self.background.wait().await;
        self.final_fold().await;
        Ok(())
    }
}
