//! The embedded default store: SQLite through sqlx, in WAL mode, with batched
//! transactions and migrations compiled into the binary. Writes are idempotent on the
//! event id (`INSERT OR IGNORE` on a unique key).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Enrichment, Event, EventId, EventKind, Timestamp};
use hpti_core::sink::{Rejection, Sink, SinkError, WriteReport};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::error::StoreError;
use crate::query::{
    AttackerSummary, CommandCount, CredentialCount, DownloadSummary, EventQueries, SessionSummary,
    Window,
};

/// Columns written per event.
const COLUMNS: &str = "id, ts, observed, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, \
     kind, username, password, success, command, url, sha256, size, country, asn, doc";
const COLUMN_COUNT: usize = 21;
/// Rows per INSERT statement: 21 binds each stays below SQLite's 32,766 bind limit, and
/// one prepared statement of this size is reused for every full chunk.
const ROWS_PER_STATEMENT: usize = 1024;

/// How the SQLite database is opened.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Database file; created with its parent directories if missing.
    pub path: PathBuf,
    /// `synchronous = FULL` (survives power loss) instead of `NORMAL` (survives a crash
    /// of the process, which is what acknowledgements promise).
    pub synchronous_full: bool,
    /// Page cache per connection, in KiB.
    pub cache_kib: u32,
    /// Connections in the pool (one writes at a time; the others read).
    pub max_connections: u32,
    /// How long a write waits for another process's lock before failing.
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous_full: false,
            cache_kib: 16 * 1024,
            max_connections: 4,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// An SQLite event store; a [`Sink`] and [`EventQueries`].
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
    /// Readers and the background checkpointer.
    pool: SqlitePool,
    /// The one connection that writes, so its page cache holds the pages writes touch.
    writer: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: options.path.clone(),
            source,
        };
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.into()))?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(options.busy_timeout)
            .pragma("cache_size", format!("-{}", options.cache_kib))
            .pragma("temp_store", "memory")
            // A background connection copies the WAL into the database as it grows (see
            // `checkpoint_in_background`); the writer's own checkpoint, every 16 MiB of
            // WAL, then finds most frames copied and only has to reset the log.
            .pragma("wal_autocheckpoint", "4096")
            .pragma("journal_size_limit", "67108864")
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect.clone())
            .await
            .map_err(|e| open_error(e.into()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(|e| open_error(e.into()))?;
        tokio::spawn(checkpoint_in_background(pool.clone()));
        Ok(Self {
            pool,
            writer,
            path: options.path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection pool, for queries this crate does not offer.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Stores events in one transaction; returns the indexes that could not be encoded.
    pub async fn insert(&self, events: &[&Event]) -> Result<Vec<Rejection>, StoreError> {
        let mut rows = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match serde_json::to_string(&StoredDoc::of(event)) {
                Ok(doc) => rows.push(EventRow::new(event, doc)),
                Err(err) => rejected.push(Rejection {
                    index,
                    reason: format!("cannot encode event as JSON: {err}"),
                }),
            }
        }
        // Everything a statement binds is built before the transaction starts, so the
        // database thread runs the statements back to back instead of waiting while the
        // next one is assembled (and, with two writes in flight, while the next batch is).
        let partial_sql = insert_sql(rows.len() % ROWS_PER_STATEMENT);
        let inserts: Vec<_> = rows
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| {
                let sql = if chunk.len() == ROWS_PER_STATEMENT {
                    full_insert_sql()
                } else {
                    partial_sql.as_str()
                };
                chunk
                    .iter()
                    .fold(sqlx::query::<Sqlite>(sql), |query, row| row.bind(query))
            })
            .collect();
        let summaries = BatchSummaries::of(rows.iter().map(|row| row.event));
        let mut summary_builders = summaries.statements();
        let summary_upserts: Vec<_> = summary_builders.iter_mut().map(|b| b.build()).collect();

        let mut tx = self.writer.begin().await.map_err(database_error)?;
        // Rows of this write get sequence numbers above this one (the write lock is held
        // from the first insert to the commit), so the summaries below aggregate exactly
        // the rows inserted now, never ones a re-delivery found already stored.
        let (before,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(database_error)?;
        let mut inserted = 0u64;
        for insert in inserts {
            inserted += insert
                .execute(&mut *tx)
                .await
                .map_err(database_error)?
                .rows_affected();
        }
        if inserted == rows.len() as u64 {
            // Every row is new (the normal case): fold the batch, already in memory, into
            // the summaries without reading it back.
            for upsert in summary_upserts {
                upsert.execute(&mut *tx).await.map_err(database_error)?;
            }
        } else if inserted > 0 {
            // A re-delivery mixed stored and new events: fold only the rows inserted now.
            for summary in [UPDATE_SESSIONS, UPDATE_ATTACKERS] {
                sqlx::query(summary)
                    .bind(before)
                    .execute(&mut *tx)
                    .await
                    .map_err(database_error)?;
            }
        }
        tx.commit().await.map_err(database_error)?;
        Ok(rejected)
    }

    /// One stored event, rebuilt from its columns and document.
    pub async fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let row = sqlx::query(
            "SELECT id, ts, observed, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, doc
             FROM events WHERE id = ?1",
        )
        .bind(&id.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(database_error)?;
        row.map(|row| event_from_row(&row)).transpose()
    }

    /// Closes the connections, checkpointing the WAL.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Folds the events inserted after `?1` into their sessions' rows.
const UPDATE_SESSIONS: &str = "
    INSERT INTO sessions (session, sensor, protocol, src_ip, src_port, dst_ip, dst_port,
                          started, last_seen, duration_ms, client_version,
                          events, login_attempts, logins_ok, commands, downloads)
    SELECT session, MIN(sensor), MIN(protocol), MIN(src_ip), MIN(src_port), MIN(dst_ip), MIN(dst_port),
           MIN(ts), MAX(ts),
           MAX(CASE WHEN kind = 'session.closed' THEN json_extract(doc, '$.data.duration_ms') END),
           MAX(CASE WHEN kind = 'client.version' THEN json_extract(doc, '$.data.version') END),
           COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'login.attempt' AND success = 1),
           SUM(kind = 'command.input'), SUM(kind = 'file.download')
    FROM events
    WHERE seq > ?1 AND session IS NOT NULL
    GROUP BY session
    ON CONFLICT (session) DO UPDATE SET
        started = MIN(started, excluded.started),
        last_seen = MAX(last_seen, excluded.last_seen),
        duration_ms = COALESCE(excluded.duration_ms, duration_ms),
        client_version = COALESCE(client_version, excluded.client_version),
        events = events + excluded.events,
        login_attempts = login_attempts + excluded.login_attempts,
        logins_ok = logins_ok + excluded.logins_ok,
        commands = commands + excluded.commands,
        downloads = downloads + excluded.downloads";

/// The conflict clause of [`UPDATE_SESSIONS`], for the in-memory path.
const SESSION_CONFLICT: &str = "
    ON CONFLICT (session) DO UPDATE SET
        started = MIN(started, excluded.started),
        last_seen = MAX(last_seen, excluded.last_seen),
        duration_ms = COALESCE(excluded.duration_ms, duration_ms),
        client_version = COALESCE(client_version, excluded.client_version),
        events = events + excluded.events,
        login_attempts = login_attempts + excluded.login_attempts,
        logins_ok = logins_ok + excluded.logins_ok,
        commands = commands + excluded.commands,
        downloads = downloads + excluded.downloads";

/// Folds the events inserted after `?1` into their source addresses' rows.
const UPDATE_ATTACKERS: &str = "
    INSERT INTO attackers (src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn)
    SELECT src_ip, COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'command.input'),
           MIN(ts), MAX(ts), MAX(country), MAX(asn)
    FROM events
    WHERE seq > ?1
    GROUP BY src_ip
    ON CONFLICT (src_ip) DO UPDATE SET
        events = events + excluded.events,
        login_attempts = login_attempts + excluded.login_attempts,
        commands = commands + excluded.commands,
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen),
        country = COALESCE(excluded.country, country),
        asn = COALESCE(excluded.asn, asn)";

/// The conflict clause of [`UPDATE_ATTACKERS`], for the in-memory path.
const ATTACKER_CONFLICT: &str = "
    ON CONFLICT (src_ip) DO UPDATE SET
        events = events + excluded.events,
        login_attempts = login_attempts + excluded.login_attempts,
        commands = commands + excluded.commands,
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen),
        country = COALESCE(excluded.country, country),
        asn = COALESCE(excluded.asn, asn)";

/// Per-session and per-address aggregates of one batch, folded into the summary tables
/// with the same rules as [`UPDATE_SESSIONS`] and [`UPDATE_ATTACKERS`].
#[derive(Default)]
struct BatchSummaries<'a> {
    sessions: Vec<SessionAggregate<'a>>,
    attackers: Vec<AttackerAggregate<'a>>,
}

struct SessionAggregate<'a> {
    session: &'a str,
    first: &'a Event,
    started: i64,
    last_seen: i64,
    duration_ms: Option<i64>,
    client_version: Option<&'a str>,
    counts: KindCounts,
}

struct AttackerAggregate<'a> {
    src_ip: std::net::IpAddr,
    first_seen: i64,
    last_seen: i64,
    country: Option<&'a str>,
    asn: Option<i64>,
    counts: KindCounts,
}

#[derive(Default, Clone, Copy)]
struct KindCounts {
    events: i64,
    login_attempts: i64,
    logins_ok: i64,
    commands: i64,
    downloads: i64,
}

impl KindCounts {
    fn add(&mut self, kind: &EventKind) {
        self.events += 1;
        match kind {
            EventKind::LoginAttempt { success, .. } => {
                self.login_attempts += 1;
                self.logins_ok += i64::from(*success);
            }
            EventKind::CommandInput { .. } => self.commands += 1,
            EventKind::FileDownload { .. } => self.downloads += 1,
            _ => {}
        }
    }
}

const SUMMARY_ROWS_PER_STATEMENT: usize = 256;

impl<'a> BatchSummaries<'a> {
    fn of(events: impl Iterator<Item = &'a Event>) -> Self {
        let mut by_session: std::collections::HashMap<&'a str, usize> = Default::default();
        let mut by_address: std::collections::HashMap<std::net::IpAddr, usize> = Default::default();
        let mut summaries = Self::default();
        for event in events {
            let ts = event.time.as_micros();
            if let Some(session) = event.session.as_deref() {
                let index = *by_session.entry(session).or_insert_with(|| {
                    summaries.sessions.push(SessionAggregate {
                        session,
                        first: event,
                        started: ts,
                        last_seen: ts,
                        duration_ms: None,
                        client_version: None,
                        counts: KindCounts::default(),
                    });
                    summaries.sessions.len() - 1
                });
                let aggregate = &mut summaries.sessions[index];
                aggregate.started = aggregate.started.min(ts);
                aggregate.last_seen = aggregate.last_seen.max(ts);
                match &event.kind {
                    EventKind::SessionClosed { duration_ms, .. } => {
                        let duration = i64::try_from(*duration_ms).unwrap_or(i64::MAX);
                        aggregate.duration_ms = Some(aggregate.duration_ms.map_or(duration, |d| d.max(duration)));
                    }
                    EventKind::ClientVersion { version } => {
                        let version = version.as_str();
                        aggregate.client_version = Some(aggregate.client_version.map_or(version, |v| v.max(version)));
                    }
                    _ => {}
                }
                aggregate.counts.add(&event.kind);
            }
            let index = *by_address.entry(event.src_ip).or_insert_with(|| {
                summaries.attackers.push(AttackerAggregate {
                    src_ip: event.src_ip,
                    first_seen: ts,
                    last_seen: ts,
                    country: None,
                    asn: None,
                    counts: KindCounts::default(),
                });
                summaries.attackers.len() - 1
            });
            let aggregate = &mut summaries.attackers[index];
            aggregate.first_seen = aggregate.first_seen.min(ts);
            aggregate.last_seen = aggregate.last_seen.max(ts);
            if let Some(country) = event.enrichment.geo.as_ref().and_then(|g| g.country_code.as_deref()) {
                aggregate.country = Some(aggregate.country.map_or(country, |c| c.max(country)));
            }
            if let Some(asn) = event.enrichment.asn.as_ref().map(|a| i64::from(a.number)) {
                aggregate.asn = Some(aggregate.asn.map_or(asn, |a| a.max(asn)));
            }
            aggregate.counts.add(&event.kind);
        }
        summaries
    }

    /// The upserts that fold these aggregates into the summary tables.
    fn statements(&self) -> Vec<QueryBuilder<'_, Sqlite>> {
        let mut statements = Vec::new();
        for chunk in self.sessions.chunks(SUMMARY_ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO sessions (session, sensor, protocol, src_ip, src_port, dst_ip, dst_port, \
                 started, last_seen, duration_ms, client_version, \
                 events, login_attempts, logins_ok, commands, downloads) ",
            );
            query.push_values(chunk, |mut row, s| {
                row.push_bind(s.session)
                    .push_bind(s.first.sensor.as_str())
                    .push_bind(s.first.protocol.as_str())
                    .push_bind(s.first.src_ip.to_string())
                    .push_bind(s.first.src_port.map(i64::from))
                    .push_bind(s.first.dst_ip.map(|ip| ip.to_string()))
                    .push_bind(s.first.dst_port.map(i64::from))
                    .push_bind(s.started)
                    .push_bind(s.last_seen)
                    .push_bind(s.duration_ms)
                    .push_bind(s.client_version)
                    .push_bind(s.counts.events)
                    .push_bind(s.counts.login_attempts)
                    .push_bind(s.counts.logins_ok)
                    .push_bind(s.counts.commands)
                    .push_bind(s.counts.downloads);
            });
            query.push(SESSION_CONFLICT);
            statements.push(query);
        }
        for chunk in self.attackers.chunks(SUMMARY_ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO attackers (src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn) ",
            );
            query.push_values(chunk, |mut row, a| {
                row.push_bind(a.src_ip.to_string())
                    .push_bind(a.counts.events)
                    .push_bind(a.counts.login_attempts)
                    .push_bind(a.counts.commands)
                    .push_bind(a.first_seen)
                    .push_bind(a.last_seen)
                    .push_bind(a.country)
                    .push_bind(a.asn);
            });
            query.push(ATTACKER_CONFLICT);
            statements.push(query);
        }
        statements
    }
}

const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

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
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %err, "background checkpoint failed");
        }
    }
}

fn full_insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| insert_sql(ROWS_PER_STATEMENT))
}

fn insert_sql(rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; COLUMN_COUNT].join(","));
    let mut sql = format!("INSERT OR IGNORE INTO events ({COLUMNS}) VALUES ");
    sql.reserve(rows * (tuple.len() + 1));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&tuple);
    }
    sql
}

/// The part of an event the typed columns do not hold: its kind and data, enrichment and
/// raw record. Keeping only this in `doc` halves the bytes written per event; the whole
/// event is rebuilt from the columns and the document (see [`SqliteStore::event`]).
#[derive(serde::Serialize)]
struct StoredDoc<'a> {
    v: u32,
    #[serde(flatten)]
    kind: &'a EventKind,
    #[serde(skip_serializing_if = "Enrichment::is_empty")]
    enrichment: &'a Enrichment,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: &'a Option<String>,
}

impl<'a> StoredDoc<'a> {
    fn of(event: &'a Event) -> Self {
        Self {
            v: event.schema_version,
            kind: &event.kind,
            enrichment: &event.enrichment,
            raw: &event.raw,
        }
    }
}

/// The typed columns of one event, borrowed from it where possible.
struct EventRow<'a> {
    event: &'a Event,
    username: Option<&'a str>,
    password: Option<&'a str>,
    success: Option<bool>,
    command: Option<&'a str>,
    url: Option<&'a str>,
    sha256: Option<&'a str>,
    size: Option<i64>,
    doc: String,
}

impl<'a> EventRow<'a> {
    fn new(event: &'a Event, doc: String) -> Self {
        let mut row = Self {
            event,
            username: None,
            password: None,
            success: None,
            command: None,
            url: None,
            sha256: None,
            size: None,
            doc,
        };
        match &event.kind {
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => {
                row.username = Some(username);
                row.password = password.as_deref();
                row.success = Some(*success);
            }
            EventKind::CommandInput { command } => row.command = Some(command),
            EventKind::FileDownload {
                url, sha256, size, ..
            } => {
                row.url = Some(url);
                row.sha256 = sha256.as_deref();
                row.size = size.and_then(|s| i64::try_from(s).ok());
            }
            EventKind::FileUpload {
                filename,
                sha256,
                size,
            } => {
                row.url = Some(filename);
                row.sha256 = sha256.as_deref();
                row.size = size.and_then(|s| i64::try_from(s).ok());
            }
            EventKind::HttpRequest { uri, .. } => row.url = Some(uri),
            _ => {}
        }
        row
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        let event = self.event;
        query
            .bind(&event.id.as_bytes()[..])
            .bind(event.time.as_micros())
            .bind(event.observed.map(Timestamp::as_micros))
            .bind(event.sensor.as_str())
            .bind(event.protocol.as_str())
            .bind(event.session.as_deref())
            .bind(event.src_ip.to_string())
            .bind(event.src_port.map(i64::from))
            .bind(event.dst_ip.map(|ip| ip.to_string()))
            .bind(event.dst_port.map(i64::from))
            .bind(event.kind.name())
            .bind(self.username)
            .bind(self.password)
            .bind(self.success)
            .bind(self.command)
            .bind(self.url)
            .bind(self.sha256)
            .bind(self.size)
            .bind(
                event
                    .enrichment
                    .geo
                    .as_ref()
                    .and_then(|g| g.country_code.as_deref()),
            )
            .bind(event.enrichment.asn.as_ref().map(|a| i64::from(a.number)))
            .bind(self.doc.as_str())
    }
}

fn database_error(err: sqlx::Error) -> StoreError {
    StoreError::Database {
        class: classify(&err),
        source: Box::new(err),
    }
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

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        match self.insert(events).await {
            Ok(rejected) => Ok(WriteReport { rejected }),
            Err(err) => Err(match err.class() {
                ErrorClass::Temporary => SinkError::temporary("sqlite write failed", err),
                ErrorClass::Permanent => SinkError::permanent("sqlite write failed", err),
            }),
        }
    }

    async fn close(&self) -> Result<(), SinkError> {
        // Truncate the WAL so the database file alone is complete after shutdown.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await
            .map_err(|e| SinkError::temporary("sqlite checkpoint failed", e))?;
        Ok(())
    }
}

/// Rebuilds an event from the columns `id, ts, observed, sensor, protocol, session, src_ip,
/// src_port, dst_ip, dst_port, doc`.
fn event_from_row(row: &SqliteRow) -> Result<Event, StoreError> {
    use serde_json::{Map, Value};
    let id: Vec<u8> = row.try_get("id").map_err(decode_error)?;
    let id = uuid_from(&id)?;
    let doc: String = row.try_get("doc").map_err(decode_error)?;
    let mut object: Map<String, Value> = serde_json::from_str(&doc)
        .map_err(|e| StoreError::Decode(format!("doc of {id}: {e}")))?;
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            object.insert(key.to_owned(), value);
        }
    };
    put("id", Value::String(id.to_string()));
    put("time", Value::String(timestamp(row, "ts")?.to_string()));
    let observed: Option<i64> = row.try_get("observed").map_err(decode_error)?;
    put(
        "observed",
        observed.map_or(Value::Null, |t| Value::String(Timestamp::from_micros(t).to_string())),
    );
    for column in ["sensor", "protocol", "session", "src_ip", "dst_ip"] {
        let text: Option<String> = row.try_get(column).map_err(decode_error)?;
        put(column, text.map_or(Value::Null, Value::String));
    }
    for column in ["src_port", "dst_port"] {
        let port: Option<i64> = row.try_get(column).map_err(decode_error)?;
        put(column, port.map_or(Value::Null, Value::from));
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| StoreError::Decode(format!("event {id}: {e}")))
}

fn uuid_from(bytes: &[u8]) -> Result<EventId, StoreError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Decode(format!("event id of {} bytes", bytes.len())))?;
    Ok(EventId::from_uuid(uuid::Uuid::from_bytes(bytes)))
}

fn since_micros(window: Window) -> i64 {
    window.since.map_or(i64::MIN, Timestamp::as_micros)
}

fn count(row: &SqliteRow, column: &str) -> Result<u64, StoreError> {
    let value: Option<i64> = row.try_get(column).map_err(decode_error)?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

fn timestamp(row: &SqliteRow, column: &str) -> Result<Timestamp, StoreError> {
    row.try_get::<i64, _>(column)
        .map(Timestamp::from_micros)
        .map_err(decode_error)
}

fn ip(row: &SqliteRow, column: &str) -> Result<std::net::IpAddr, StoreError> {
    let text: String = row.try_get(column).map_err(decode_error)?;
    std::net::IpAddr::from_str(&text)
        .map_err(|_| StoreError::Decode(format!("column {column}: {text:?} is not an address")))
}

fn decode_error(err: sqlx::Error) -> StoreError {
    StoreError::Decode(err.to_string())
}

fn json_strings(row: &SqliteRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(column).map_err(decode_error)?;
    let mut values: Vec<Option<String>> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Decode(format!("column {column}: {e}")))?;
    values.sort();
    Ok(values.into_iter().flatten().collect())
}

#[async_trait]
impl EventQueries for SqliteStore {
    async fn sessions(&self, window: Window) -> Result<Vec<SessionSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT session, sensor, protocol, src_ip, started, last_seen, duration_ms,
                    client_version, login_attempts, logins_ok, commands, downloads
             FROM sessions
             WHERE last_seen >= ?1
             ORDER BY seq DESC
             LIMIT ?2",
        )
        .bind(since_micros(window))
        .bind(i64::from(window.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                Ok(SessionSummary {
                    session: row.try_get("session").map_err(decode_error)?,
                    sensor: row.try_get("sensor").map_err(decode_error)?,
                    protocol: row.try_get("protocol").map_err(decode_error)?,
                    src_ip: ip(row, "src_ip")?,
                    started: timestamp(row, "started")?,
                    last_seen: timestamp(row, "last_seen")?,
                    duration_ms: row
                        .try_get::<Option<i64>, _>("duration_ms")
                        .map_err(decode_error)?
                        .and_then(|d| u64::try_from(d).ok()),
                    client_version: row.try_get("client_version").map_err(decode_error)?,
                    login_attempts: count(row, "login_attempts")?,
                    logged_in: count(row, "logins_ok")? > 0,
                    commands: count(row, "commands")?,
                    downloads: count(row, "downloads")?,
                })
            })
            .collect()
    }

    async fn attackers(&self, window: Window) -> Result<Vec<AttackerSummary>, StoreError> {
        // All time: the summary table. A window: the events in it, through the time index.
        let query = match window.since {
            None => sqlx::query(
                "SELECT src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn,
                        (SELECT COUNT(*) FROM sessions s WHERE s.src_ip = a.src_ip) AS sessions
                 FROM attackers a
                 ORDER BY events DESC, src_ip
                 LIMIT ?1",
            )
            .bind(i64::from(window.limit)),
            Some(since) => sqlx::query(
                "SELECT src_ip, COUNT(*) AS events, COUNT(DISTINCT session) AS sessions,
                        SUM(kind = 'login.attempt') AS login_attempts,
                        SUM(kind = 'command.input') AS commands,
                        MIN(ts) AS first_seen, MAX(ts) AS last_seen,
                        MAX(country) AS country, MAX(asn) AS asn
                 FROM events
                 WHERE ts >= ?2
                 GROUP BY src_ip
                 ORDER BY events DESC, src_ip
                 LIMIT ?1",
            )
            .bind(i64::from(window.limit))
            .bind(since.as_micros()),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(database_error)?;
        rows.iter()
            .map(|row| {
                Ok(AttackerSummary {
                    src_ip: ip(row, "src_ip")?,
                    events: count(row, "events")?,
                    sessions: count(row, "sessions")?,
                    login_attempts: count(row, "login_attempts")?,
                    commands: count(row, "commands")?,
                    first_seen: timestamp(row, "first_seen")?,
                    last_seen: timestamp(row, "last_seen")?,
                    country: row.try_get("country").map_err(decode_error)?,
                    asn: row
                        .try_get::<Option<i64>, _>("asn")
                        .map_err(decode_error)?
                        .and_then(|a| u32::try_from(a).ok()),
                })
            })
            .collect()
    }

    async fn credentials(&self, window: Window) -> Result<Vec<CredentialCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT username, password, COUNT(*) AS attempts, SUM(success = 1) AS successes,
                    COUNT(DISTINCT src_ip) AS sources
             FROM events
             WHERE kind = 'login.attempt' AND ts >= ?1
             GROUP BY username, password
             ORDER BY attempts DESC, username, password
             LIMIT ?2",
        )
        .bind(since_micros(window))
        .bind(i64::from(window.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                Ok(CredentialCount {
                    username: row.try_get("username").map_err(decode_error)?,
                    password: row.try_get("password").map_err(decode_error)?,
                    attempts: count(row, "attempts")?,
                    successes: count(row, "successes")?,
                    sources: count(row, "sources")?,
                })
            })
            .collect()
    }

    async fn commands(&self, window: Window) -> Result<Vec<CommandCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT command, COUNT(*) AS count, COUNT(DISTINCT src_ip) AS sources
             FROM events
             WHERE kind = 'command.input' AND ts >= ?1
             GROUP BY command
             ORDER BY count DESC, command
             LIMIT ?2",
        )
        .bind(since_micros(window))
        .bind(i64::from(window.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                Ok(CommandCount {
                    command: row.try_get("command").map_err(decode_error)?,
                    count: count(row, "count")?,
                    sources: count(row, "sources")?,
                })
            })
            .collect()
    }

    async fn downloads(&self, window: Window) -> Result<Vec<DownloadSummary>, StoreError> {
        // One query: every aggregate per hash comes back in its row.
        let rows = sqlx::query(
            "SELECT sha256, COUNT(*) AS count, MIN(ts) AS first_seen, MAX(ts) AS last_seen,
                    MAX(size) AS size,
                    json_group_array(DISTINCT src_ip) AS src_ips,
                    json_group_array(DISTINCT url) AS urls
             FROM events
             WHERE sha256 IS NOT NULL AND kind = 'file.download' AND ts >= ?1
             GROUP BY sha256
             ORDER BY count DESC, last_seen DESC, sha256
             LIMIT ?2",
        )
        .bind(since_micros(window))
        .bind(i64::from(window.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                Ok(DownloadSummary {
                    sha256: row.try_get("sha256").map_err(decode_error)?,
                    count: count(row, "count")?,
                    first_seen: timestamp(row, "first_seen")?,
                    last_seen: timestamp(row, "last_seen")?,
                    size: row
                        .try_get::<Option<i64>, _>("size")
                        .map_err(decode_error)?
                        .and_then(|s| u64::try_from(s).ok()),
                    src_ips: json_strings(row, "src_ips")?,
                    urls: json_strings(row, "urls")?,
                })
            })
            .collect()
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(database_error)?;
        count(&row, "n")
    }
}
