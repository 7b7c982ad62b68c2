//! The embedded default store: SQLite through sqlx, in WAL mode, with batched
//! transactions and migrations compiled into the binary. Writes are idempotent on the
//! event id (`INSERT OR IGNORE` on a unique key).
//!
//! Two database files: the events (`hpti.db`), written by one connection with only
//! append-mostly indexes, and the summaries (`hpti-summaries.db`: sessions and attackers),
//! folded from the events by their own connection beside it (see [`summaries`]).

mod alerts;
mod config;
mod export;
mod insert;
mod queries;
mod summaries;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventId};
use hpti_core::sink::{Rejection, Sink, SinkCapabilities, SinkError, WriteReport};
use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use self::insert::{EnrichmentIds, EnrichmentRef, EventRow, insert_sql_for, statement_sizes};
use crate::columns::StoredDoc;
use crate::error::StoreError;
pub use alerts::SqliteAlertStore;
pub use config::{SqliteSinkConfig, Synchronous};

/// How the SQLite database is opened.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Events database file; created with its parent directories if missing. The
    /// summaries live beside it (`<name>-summaries.db`).
    pub path: PathBuf,
    /// `synchronous = FULL` (survives power loss) instead of `NORMAL` (survives a crash
    /// of the process, which is what acknowledgements promise).
    pub synchronous_full: bool,
    /// Page cache of the event writer's connection, in KiB (the one that gains most).
    pub writer_cache_kib: u32,
    /// Page cache of every other connection (readers), in KiB.
    pub cache_kib: u32,
    /// Page cache of the summaries' connection, in KiB: the rollups it folds into are
    /// read and rewritten at random, so they should stay in it.
    pub summaries_cache_kib: u32,
    /// Reader connections (queries).
    pub max_connections: u32,
    /// How long a write waits for another process's lock before failing.
    pub busy_timeout: Duration,
    /// Opens an existing database for queries only: no migrations, no background tasks,
    /// no writes (the summaries are as fresh as the writing process left them).
    pub read_only: bool,
    /// Checks the databases with `PRAGMA quick_check` when opening them for writing: a
    /// damaged events database is refused ([`StoreError::Corrupt`]); damaged summaries
    /// are moved aside and folded again from the events. It reads every page: about
    /// 1 s a GB when cached, 11 s a GB from a cold disk (docs/BENCHMARKS.md).
    pub integrity_check: bool,
}

impl SqliteOptions {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous_full: false,
            writer_cache_kib: 16 * 1024,
            cache_kib: 8 * 1024,
            summaries_cache_kib: 64 * 1024,
            max_connections: 4,
            busy_timeout: Duration::from_secs(10),
            read_only: false,
            integrity_check: true,
        }
    }

    /// The alert manager's database beside the events (`hpti-alerts.db`).
    pub fn alerts_path(&self) -> PathBuf {
        self.sibling("alerts")
    }

    /// The summaries database beside the events (`hpti-summaries.db`).
    pub fn summaries_path(&self) -> PathBuf {
        self.sibling("summaries")
    }

    /// `<stem>-<suffix>.<ext>` beside the events database.
    fn sibling(&self, suffix: &str) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .map_or_else(|| "hpti".into(), |s| s.to_string_lossy().into_owned());
        let name = match self.path.extension() {
            Some(ext) => format!("{stem}-{suffix}.{}", ext.to_string_lossy()),
            None => format!("{stem}-{suffix}"),
        };
        self.path.with_file_name(name)
    }

    fn connect_options(&self, path: &Path, cache_kib: u32) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(!self.read_only)
            .read_only(self.read_only)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if self.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(self.busy_timeout)
            .pragma("cache_size", format!("-{cache_kib}"))
            .pragma("temp_store", "memory")
            // A background connection copies the WAL into the database as it grows (see
            // `checkpoint_in_background`); the writer's own checkpoint, every 64 MiB of
            // WAL, then finds most frames copied and only has to reset the log.
            .pragma("wal_autocheckpoint", "16384")
            .pragma("journal_size_limit", "67108864")
    }

    /// The summaries' one connection, with the events database attached by `attach`.
    async fn connect_summaries(&self, attach: String) -> Result<SqlitePool, sqlx::Error> {
        SqlitePoolOptions::new()
            .max_connections(1)
            .after_connect(move |connection, _| {
                let attach = attach.clone();
                Box::pin(async move {
                    sqlx::query(&attach).execute(&mut *connection).await?;
                    Ok(())
                })
            })
            .connect_with(self.connect_options(&self.summaries_path(), self.summaries_cache_kib))
            .await
    }
}

/// An SQLite event store; a [`Sink`] and [`EventQueries`](crate::EventQueries).
///
/// ```no_run
/// # async fn demo() -> Result<(), hpti_store::StoreError> {
/// use hpti_store::{EventQueries, SqliteOptions, SqliteStore, Window};
/// let store = SqliteStore::open(SqliteOptions::new("hpti-data/hpti.db")).await?;
/// for row in store.credentials(Window::default()).await? {
///     println!("{} / {:?}: {}", row.username, row.password, row.attempts);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers of the events and the background checkpointer.
    pool: SqlitePool,
    /// The one connection that writes events, so its page cache holds what writes touch.
    writer: SqlitePool,
    /// The summaries database (with the events attached as `ev`): one connection.
    summaries: SqlitePool,
    /// Reads the NDJSON export's pages (rusqlite: see `export.rs`).
    export: Arc<export::ExportReader>,
    /// Row ids of recently written enrichment documents.
    enrichment_ids: Arc<Mutex<EnrichmentIds>>,
    path: PathBuf,
    /// Opened for queries only.
    read_only: bool,
    /// The checkpointer and the summary folder. They hold pool handles, so without a
    /// stop signal they would keep the pools (and the database files) open forever.
    background: TaskTracker,
    /// Cancels the background tasks when the last clone of the store is dropped.
    _stop_on_drop: Arc<DropGuard>,
    stop: CancellationToken,
}

impl SqliteStore {
    /// Opens (creating if needed) both databases, applies pending migrations and starts
    /// the background checkpointer and summary folder.
    pub async fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: options.path.clone(),
            source,
        };
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.into()))?;
        }
        if options.read_only {
            return Self::open_read_only(options).await;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.connect_options(&options.path, options.writer_cache_kib))
            .await
            .map_err(|e| damaged_or(&options.path, e, open_error))?;
        if options.integrity_check
            && let Some(detail) = integrity_problems(&writer, &options.path).await
        {
            writer.close().await;
            return Err(StoreError::Corrupt {
                path: options.path.clone(),
                detail,
            });
        }
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(options.connect_options(&options.path, options.cache_kib))
            .await
            .map_err(|e| open_error(e.into()))?;

        // The folder reads each new event once, right after it was written: a cache the
        // size of one fold's worth of rows saves re-reading them from the OS.
        let attach = format!(
            "ATTACH DATABASE '{}' AS ev; PRAGMA ev.cache_size = -{}",
            options.path.display().to_string().replace('\'', "''"),
            options.cache_kib
        );
        let open_summaries = || options.connect_summaries(attach.clone());
        // The summaries are folded from the events: damaged ones are set aside (kept for
        // a look) and folded again, loudly, rather than refused.
        let summaries = match open_summaries().await {
            Ok(pool) if !options.integrity_check => pool,
            Ok(pool) => match integrity_problems(&pool, &options.summaries_path()).await {
                None => pool,
                Some(detail) => {
                    pool.close().await;
                    set_aside_damaged(&options.summaries_path(), &detail)
                        .map_err(|e| open_error(e.into()))?;
                    open_summaries().await.map_err(|e| open_error(e.into()))?
                }
            },
            Err(err) if is_damage(&err) => {
                set_aside_damaged(&options.summaries_path(), &err.to_string())
                    .map_err(|e| open_error(e.into()))?;
                open_summaries().await.map_err(|e| open_error(e.into()))?
            }
            Err(err) => return Err(open_error(err.into())),
        };
        sqlx::migrate!("./migrations/sqlite-summaries")
            .run(&summaries)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;

        let stop = CancellationToken::new();
        let background = TaskTracker::new();
        background.spawn(until_stopped(
            stop.clone(),
            checkpoint_in_background(pool.clone()),
        ));
        background.spawn(until_stopped(
            stop.clone(),
            summaries::fold_in_background(summaries.clone()),
        ));
        background.close();
        Ok(Self {
            pool,
            writer,
            summaries,
            export: export::ExportReader::new(
                options.path.clone(),
                options.busy_timeout,
                options.cache_kib,
            ),
            enrichment_ids: Arc::default(),
            path: options.path,
            read_only: false,
            background,
            _stop_on_drop: Arc::new(stop.clone().drop_guard()),
            stop,
        })
    }

    async fn open_read_only(options: SqliteOptions) -> Result<Self, StoreError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: options.path.clone(),
            source,
        };
        if !options.path.exists() {
            return Err(StoreError::NotFound(format!(
                "no database at {}",
                options.path.display()
            )));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(options.connect_options(&options.path, options.cache_kib))
            .await
            .map_err(|e| open_error(e.into()))?;
        let attach = format!(
            "ATTACH DATABASE '{}' AS ev",
            options.path.display().to_string().replace('\'', "''")
        );
        // Read-only: a damaged summaries database is the writing process's to set aside.
        let summaries = options
            .connect_summaries(attach)
            .await
            .map_err(|e| open_error(e.into()))?;
        // No background tasks; closed, so that waiting for them ends at once.
        let background = TaskTracker::new();
        background.close();
        Ok(Self {
            writer: pool.clone(),
            pool,
            summaries,
            export: export::ExportReader::new(
                options.path.clone(),
                options.busy_timeout,
                options.cache_kib,
            ),
            enrichment_ids: Arc::default(),
            path: options.path,
            read_only: true,
            background,
            _stop_on_drop: Arc::new(CancellationToken::new().drop_guard()),
            stop: CancellationToken::new(),
        })
    }

    /// The background tasks (WAL checkpointer, summary folder), to wait for their end:
    /// they stop at [`Sink::close`], [`SqliteStore::close`], or when the last clone of
    /// the store is dropped.
    pub fn background_tasks(&self) -> TaskTracker {
        self.background.clone()
    }

    /// Whether every connection pool is closed (after [`SqliteStore::close`]).
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed() && self.writer.is_closed() && self.summaries.is_closed()
    }

    /// The events database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The reader pool of the events database, for queries this crate does not offer.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes a consistent copy of the events database to `out` (`VACUUM INTO`: a
    /// snapshot as of its start, compacted, while writers go on), then checks the copy.
    /// The summaries are not copied: a restored database folds them again.
    pub async fn backup(&self, out: &Path) -> Result<crate::query::Backup, StoreError> {
        if out.exists() {
            return Err(StoreError::InvalidInput(format!(
                "{} exists: a backup never overwrites a file",
                out.display()
            )));
        }
        let target = out.to_str().ok_or_else(|| {
            StoreError::InvalidInput(format!("{} is not a UTF-8 path", out.display()))
        })?;
        sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(database_error)?;
        // The copy alone (no summaries beside it): checked and counted through a
        // read-only pool of its own.
        let copy = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(out)
                    .read_only(true)
                    .immutable(true),
            )
            .await
            .map_err(database_error)?;
        let checked = integrity_problems(&copy, out).await;
        let events: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&copy)
            .await;
        copy.close().await;
        if let Some(detail) = checked {
            return Err(StoreError::Corrupt {
                path: out.to_owned(),
                detail,
            });
        }
        let events = u64::try_from(events.map_err(database_error)?).unwrap_or(0);
        let bytes = std::fs::metadata(out).map_or(0, |m| m.len());
        Ok(crate::query::Backup::new(out.to_owned(), bytes, events))
    }

    /// Folds every stored event into the summaries now (they otherwise follow within a
    /// fraction of a second); returns how many events were folded.
    pub async fn refresh_summaries(&self) -> Result<u64, StoreError> {
        if self.read_only {
            return Ok(0);
        }
        summaries::fold_all(&self.summaries).await
    }

    /// Stores events in one transaction; returns the indexes that could not be encoded.
    pub async fn insert(&self, events: &[&Event]) -> Result<Vec<Rejection>, StoreError> {
        let mut rows = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        // Enrichment documents of this batch without a known row id, each once.
        let mut pending: Vec<String> = Vec::new();
        let mut pending_index: HashMap<String, usize> = HashMap::new();
        {
            let known = self
                .enrichment_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (index, event) in events.iter().enumerate() {
                let encoded = serde_json::to_string(&StoredDoc::of(event)).and_then(|doc| {
                    if event.enrichment.is_empty() {
                        return Ok((doc, EnrichmentRef::None));
                    }
                    let enrichment = serde_json::to_string(&event.enrichment)?;
                    let reference = match known.get(&enrichment) {
                        Some(id) => EnrichmentRef::Stored(id),
                        None => {
                            let next = pending.len();
                            let slot = *pending_index.entry(enrichment).or_insert_with_key(|doc| {
                                pending.push(doc.clone());
                                next
                            });
                            EnrichmentRef::Pending(slot)
                        }
                    };
                    Ok((doc, reference))
                });
                match encoded {
                    Ok((doc, enrichment)) => rows.push(EventRow::new(event, doc, enrichment)),
                    Err(err) => rejected.push(Rejection::new(
                        index,
                        format!("cannot encode event as JSON: {err}"),
                    )),
                }
            }
        }
        if !pending.is_empty() {
            let ids = self.store_enrichments(&pending).await?;
            for row in &mut rows {
                if let EnrichmentRef::Pending(slot) = row.enrichment {
                    let id = ids.get(slot).copied().ok_or_else(|| {
                        StoreError::Decode(format!("no row id for enrichment {slot}"))
                    })?;
                    row.enrichment = EnrichmentRef::Stored(id);
                }
            }
            self.enrichment_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remember(pending.into_iter().zip(ids));
        }
        // Every bind value is built before the transaction starts, so the database thread
        // runs the statements back to back instead of waiting while the next one is
        // assembled (and, with two writes in flight, while the next batch is).
        let mut remaining = rows.as_slice();
        let inserts: Vec<_> = statement_sizes(rows.len())
            .map(|size| {
                let (chunk, rest) = remaining.split_at(size);
                remaining = rest;
                chunk
                    .iter()
                    .fold(sqlx::query::<Sqlite>(insert_sql_for(size)), |query, row| {
                        row.bind(query)
                    })
            })
            .collect();
        let mut writer = self.writer.acquire().await.map_err(database_error)?;
        let written = async {
            sqlx::query("BEGIN").execute(&mut *writer).await?;
            for insert in inserts {
                insert.execute(&mut *writer).await?;
            }
            sqlx::query("COMMIT").execute(&mut *writer).await?;
            Ok(())
        }
        .await;
        finish_write(writer, written).await?;
        Ok(rejected)
    }

    /// Stores enrichment documents (those already there are kept) and returns their row
    /// ids in order. Committed on their own before the events that use them, so an id
    /// handed out always names a row, whatever becomes of the events' transaction.
    async fn store_enrichments(&self, docs: &[String]) -> Result<Vec<i64>, StoreError> {
        let mut writer = self.writer.acquire().await.map_err(database_error)?;
        let mut ids = Vec::with_capacity(docs.len());
        let written = async {
            sqlx::query("BEGIN").execute(&mut *writer).await?;
            for doc in docs {
                sqlx::query("INSERT OR IGNORE INTO enrichments (doc) VALUES (?1)")
                    .bind(doc.as_str())
                    .execute(&mut *writer)
                    .await?;
                let id: i64 = sqlx::query_scalar("SELECT id FROM enrichments WHERE doc = ?1")
                    .bind(doc.as_str())
                    .fetch_one(&mut *writer)
                    .await?;
                ids.push(id);
            }
            sqlx::query("COMMIT").execute(&mut *writer).await?;
            Ok(())
        }
        .await;
        finish_write(writer, written).await?;
        Ok(ids)
    }

    /// The number of distinct enrichment documents stored.
    pub async fn count_enrichments(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrichments")
            .fetch_one(&self.pool)
            .await
            .map_err(database_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The number of stored events of one kind (`http.request`).
    pub async fn count_kind(&self, kind: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = ?1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await
            .map_err(database_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// One stored event, rebuilt from its columns and document.
    pub async fn find_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let row = sqlx::query(
            "SELECT e.id, e.ts, e.observed, e.sensor, e.protocol, e.session, e.src_ip, e.src_port,
                    e.dst_ip, e.dst_port, e.doc, en.doc AS enrichment
             FROM events e LEFT JOIN enrichments en ON en.id = e.enrichment_id
             WHERE e.id = ?1",
        )
        .bind(&id.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(database_error)?;
        row.map(|row| queries::event_from_row(&row)).transpose()
    }

    /// Folds what is left into the summaries, stops the background tasks and closes
    /// every connection.
    pub async fn close(&self) {
        if let Err(err) = self.refresh_summaries().await {
            tracing::warn!(error = %err, "final fold into the summaries failed");
        }
        self.stop.cancel();
        self.background.wait().await;
        self.summaries.close().await;
        self.writer.close().await;
        self.pool.close().await;
    }
}

const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `task` until `stop` is cancelled.
async fn until_stopped(stop: CancellationToken, task: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = task => {}
    }
}

/// Copies the WAL into the database from a second connection, so that the writer's thread
/// spends its time inserting. A passive checkpoint never blocks the writer; the writer's
/// own automatic checkpoint resets the log once it reaches its size. Ends with the pool.
async fn checkpoint_in_background(pool: SqlitePool) {
    let mut interval = tokio::time::interval(CHECKPOINT_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %err, "background checkpoint failed");
        }
    }
}

/// Ends a write transaction run by hand on the writer connection: on success the
/// connection goes back to the pool; on any failure it is closed, never reused.
///
/// After a failed statement or COMMIT, SQLite's transaction may still be open, rolled
/// back or neither (SQLITE_FULL "may or may not" roll back), and sqlx's own transaction
/// bookkeeping can disagree with it: the next `begin()` then opened a savepoint inside
/// the dead transaction, and its "commit" released the savepoint and stored nothing
/// while reporting success. A closed connection rolls back whatever was open, and the
/// pool opens a fresh one for the next write.
async fn finish_write(
    writer: sqlx::pool::PoolConnection<Sqlite>,
    written: Result<(), sqlx::Error>,
) -> Result<(), StoreError> {
    match written {
        Ok(()) => Ok(()),
        Err(err) => {
            if let Err(close) = writer.close().await {
                tracing::warn!(error = %close, "closing the failed writer connection failed");
            }
            Err(database_error(err))
        }
    }
}

pub(crate) fn database_error(err: sqlx::Error) -> StoreError {
    StoreError::Database {
        class: classify(&err),
        source: Box::new(err),
    }
}

/// SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with their extended codes.
fn is_damage(err: &sqlx::Error) -> bool {
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok());
    matches!(code.map(|c| c & 0xff), Some(11 | 26))
}

/// An opening error: [`StoreError::Corrupt`] when it is damage, else `other`.
fn damaged_or(
    path: &Path,
    err: sqlx::Error,
    other: impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> StoreError,
) -> StoreError {
    if is_damage(&err) {
        StoreError::Corrupt {
            path: path.to_owned(),
            detail: err.to_string(),
        }
    } else {
        other(err.into())
    }
}

/// What `PRAGMA quick_check` finds wrong with the database behind `pool` (its first
/// findings), or `None` when it is sound.
async fn integrity_problems(pool: &SqlitePool, path: &Path) -> Option<String> {
    let started = std::time::Instant::now();
    let findings: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar("PRAGMA quick_check(5)")
        .fetch_all(pool)
        .await;
    let took = started.elapsed();
    if took > Duration::from_secs(1) {
        tracing::info!(path = %path.display(), ?took, "database integrity checked");
    }
    match findings {
        Ok(findings) if findings.len() == 1 && findings[0] == "ok" => None,
        Ok(findings) => {
            // One finding per line, under a "*** in database main ***" heading: the
            // first two on one line say enough, the rest is SQLite's to show.
            let lines: Vec<&str> = findings
                .iter()
                .flat_map(|f| f.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("***"))
                .collect();
            let mut detail = lines.iter().take(2).copied().collect::<Vec<_>>().join("; ");
            if lines.len() > 2 {
                detail.push_str("; ...");
            }
            Some(detail)
        }
        Err(err) if is_damage(&err) => Some(err.to_string()),
        // Not damage (the disk, a lock): left to the opening steps that follow to report.
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot check database integrity");
            None
        }
    }
}

/// Moves a damaged database and its -wal/-shm files aside (`<file>.damaged-<unix time>`).
fn set_aside_damaged(path: &Path, detail: &str) -> std::io::Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let from = PathBuf::from(from);
        if from.exists() {
            let mut to = from.as_os_str().to_owned();
            to.push(format!(".damaged-{stamp}"));
            std::fs::rename(&from, PathBuf::from(to))?;
        }
    }
    tracing::error!(
        path = %path.display(), detail,
        "damaged summaries database moved aside (.damaged-{stamp}); folding the summaries again from the events"
    );
    Ok(())
}

/// Busy, locked, I/O and full-disk errors may clear up; anything else will recur.
fn classify(err: &sqlx::Error) -> ErrorClass {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorClass::Temporary,
        sqlx::Error::Database(db) => {
            // Primary result codes: BUSY 5, LOCKED 6, IOERR 10, FULL 13, PROTOCOL 15.
            let primary = db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .map(|code| code & 0xff);
            match primary {
                Some(5 | 6 | 10 | 13 | 15) => ErrorClass::Temporary,
                _ => ErrorClass::Permanent,
            }
        }
        _ => ErrorClass::Permanent,
    }
}

#[async_trait]
impl Sink for SqliteStore {
    fn name(&self) -> &str {
        "sqlite"
    }

    fn capabilities(&self) -> SinkCapabilities {
        // `INSERT OR IGNORE` on the event id.
        SinkCapabilities::DURABLE_IDEMPOTENT
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        match self.insert(events).await {
            Ok(rejected) => Ok(WriteReport::with_rejections(rejected)),
            Err(err) => Err(SinkError::new(err.class(), "sqlite write failed", err)),
        }
    }

    /// Truncates the WAL, brings the summaries up to date, stops the background tasks
    /// and closes the writer: the sink takes no more events. The reader and summaries
    /// pools stay open so that the store can still be queried after its pipeline ended
    /// (`hpti ingest` counts what it stored); [`SqliteStore::close`], or dropping the last
    /// clone, closes them.
    async fn close(&self) -> Result<(), SinkError> {
        if self.writer.is_closed() {
            return Ok(());
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await
            .map_err(|e| SinkError::temporary("sqlite checkpoint failed", e))?;
        self.refresh_summaries()
            .await
            .map_err(|e| SinkError::temporary("folding the summaries failed", e))?;
        self.stop.cancel();
        self.background.wait().await;
        self.writer.close().await;
        Ok(())
    }
}
