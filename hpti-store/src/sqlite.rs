//! The embedded default store: SQLite through sqlx, in WAL mode, with batched
//! transactions and migrations compiled into the binary. Writes are idempotent on the
//! event id (`INSERT OR IGNORE` on a unique key).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Timestamp};
use hpti_core::sink::{Rejection, Sink, SinkError, WriteReport};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use crate::error::StoreError;
use crate::query::{
    AttackerSummary, CommandCount, CredentialCount, DownloadSummary, EventQueries, SessionSummary,
    Window,
};

/// Columns written per event.
const COLUMNS: &str = "id, ts, observed, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, \
     kind, username, password, success, command, url, sha256, size, country, asn, doc";
const COLUMN_COUNT: usize = 21;
/// Rows per INSERT statement: 21 binds each stays far below SQLite's 32,766 bind limit,
/// and one prepared statement of this size is reused for every full chunk.
const ROWS_PER_STATEMENT: usize = 256;

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
    pool: SqlitePool,
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
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(|e| open_error(e.into()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        Ok(Self {
            pool,
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
            match serde_json::to_string(event) {
                Ok(doc) => rows.push(EventRow::new(event, doc)),
                Err(err) => rejected.push(Rejection {
                    index,
                    reason: format!("cannot encode event as JSON: {err}"),
                }),
            }
        }
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let owned_sql;
            let sql: &str = if chunk.len() == ROWS_PER_STATEMENT {
                full_insert_sql()
            } else {
                owned_sql = insert_sql(chunk.len());
                &owned_sql
            };
            let mut query = sqlx::query::<Sqlite>(sql);
            for row in chunk {
                query = row.bind(query);
            }
            query.execute(&mut *tx).await.map_err(database_error)?;
        }
        tx.commit().await.map_err(database_error)?;
        Ok(rejected)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
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
            .execute(&self.pool)
            .await
            .map_err(|e| SinkError::temporary("sqlite checkpoint failed", e))?;
        Ok(())
    }
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
            "SELECT session,
                    MIN(sensor) AS sensor, MIN(protocol) AS protocol, MIN(src_ip) AS src_ip,
                    MIN(ts) AS started, MAX(ts) AS last_seen,
                    MAX(CASE WHEN kind = 'session.closed' THEN json_extract(doc, '$.data.duration_ms') END) AS duration_ms,
                    MAX(CASE WHEN kind = 'client.version' THEN json_extract(doc, '$.data.version') END) AS client_version,
                    SUM(kind = 'login.attempt') AS login_attempts,
                    MAX(kind = 'login.attempt' AND success = 1) AS logged_in,
                    SUM(kind = 'command.input') AS commands,
                    SUM(kind = 'file.download') AS downloads
             FROM events
             WHERE session IN (SELECT session FROM events WHERE ts >= ?1 AND session IS NOT NULL)
             GROUP BY session
             ORDER BY started DESC, session
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
                    logged_in: count(row, "logged_in")? > 0,
                    commands: count(row, "commands")?,
                    downloads: count(row, "downloads")?,
                })
            })
            .collect()
    }

    async fn attackers(&self, window: Window) -> Result<Vec<AttackerSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT src_ip, COUNT(*) AS events, COUNT(DISTINCT session) AS sessions,
                    SUM(kind = 'login.attempt') AS login_attempts,
                    SUM(kind = 'command.input') AS commands,
                    MIN(ts) AS first_seen, MAX(ts) AS last_seen,
                    MAX(country) AS country, MAX(asn) AS asn
             FROM events
             WHERE ts >= ?1
             GROUP BY src_ip
             ORDER BY events DESC, src_ip
             LIMIT ?2",
        )
        .bind(since_micros(window))
        .bind(i64::from(window.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)?;
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
