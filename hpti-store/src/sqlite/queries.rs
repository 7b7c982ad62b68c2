//! The queries `hpti query` runs, and decoding rows back into events.

use std::net::IpAddr;
use std::str::FromStr;

use async_trait::async_trait;
use hpti_core::event::{Enrichment, Event, EventId, Timestamp};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, database_error};
use crate::error::StoreError;
use crate::query::{
    AttackerDetail, AttackerSummary, CommandCount, CredentialCount, Cursor, DownloadSummary,
    EventFilter, EventPage, EventQueries, HOUR_MICROS, MAX_DETAIL_ROWS, MAX_LIST,
    MAX_TIMELINE_EVENTS, SessionDetail, SessionSummary, Span, TimeBucket, Window, first_whole_day,
};
use crate::query::{FileFacts, NdjsonPage, WindowOverview, attach_labels};

/// The columns of an [`EVENT_SELECT`] row, whichever driver read it: sqlx for pages of
/// events, rusqlite for the NDJSON export (`export.rs`).
pub(super) trait EventColumns {
    /// An integer column, `None` when NULL.
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A text column, `None` when NULL.
    fn text(&self, column: &str) -> Result<Option<&str>, StoreError>;
    /// A blob column, `None` when NULL.
    fn blob(&self, column: &str) -> Result<Option<&[u8]>, StoreError>;
}

impl EventColumns for SqliteRow {
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(decode_error)
    }
    fn text(&self, column: &str) -> Result<Option<&str>, StoreError> {
        self.try_get(column).map_err(decode_error)
    }
    fn blob(&self, column: &str) -> Result<Option<&[u8]>, StoreError> {
        self.try_get(column).map_err(decode_error)
    }
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Decode(format!("column {column} is NULL")))
}

pub(super) fn event_id<R: EventColumns + ?Sized>(row: &R) -> Result<EventId, StoreError> {
    uuid_from(required(row.blob("id")?, "id")?)
}

pub(super) fn event_time<R: EventColumns + ?Sized>(row: &R) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_micros(required(row.int("ts")?, "ts")?))
}

/// Rebuilds an event from the columns `id, ts, observed, sensor, protocol, session, src_ip,
/// src_port, dst_ip, dst_port, doc, enrichment` (the last the joined enrichment document,
/// NULL for events without one or stored with it inside `doc`).
pub(super) fn event_from_row<R: EventColumns + ?Sized>(row: &R) -> Result<Event, StoreError> {
    use serde_json::{Map, Value};
    let id = event_id(row)?;
    let doc = required(row.text("doc")?, "doc")?;
    let mut object: Map<String, Value> =
        serde_json::from_str(doc).map_err(|e| StoreError::Decode(format!("doc of {id}: {e}")))?;
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            object.insert(key.to_owned(), value);
        }
    };
    if let Some(enrichment) = row.text("enrichment")? {
        let value: Value = serde_json::from_str(enrichment)
            .map_err(|e| StoreError::Decode(format!("enrichment of {id}: {e}")))?;
        put("enrichment", value);
    }
    put("id", Value::String(id.to_string()));
    put("time", Value::String(event_time(row)?.to_string()));
    put(
        "observed",
        row.int("observed")?.map_or(Value::Null, |t| {
            Value::String(Timestamp::from_micros(t).to_string())
        }),
    );
    for column in ["sensor", "protocol", "session", "src_ip", "dst_ip"] {
        put(
            column,
            row.text(column)?
                .map_or(Value::Null, |t| Value::String(t.to_owned())),
        );
    }
    for column in ["src_port", "dst_port"] {
        put(column, row.int(column)?.map_or(Value::Null, Value::from));
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| StoreError::Decode(format!("event {id}: {e}")))
}

/// Writes the event of an [`EVENT_SELECT`] row as JSON, as [`event_from_row`] and
/// serde would, without rebuilding it: the typed columns, the joined enrichment, then
/// the members of the stored `doc` spliced in as they are. A row whose `doc` is not a
/// JSON object (never written by hpti) goes the long way.
pub(super) fn write_event_json<R: EventColumns + ?Sized>(
    row: &R,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    use std::io::Write as _;
    let doc = required(row.text("doc")?, "doc")?;
    // Documents written since enrichments got their own table start with the schema
    // version (`StoredDoc`); older ones hold whole events and go the long way.
    let members = doc
        .trim()
        .strip_prefix("{\"v\":")
        .and_then(|d| d.strip_suffix('}'))
        .map(|d| (d, "\"v\":"));
    let Some(members) = members else {
        let event = event_from_row(row)?;
        return serde_json::to_writer(&mut *out, &event)
            .map_err(|e| StoreError::Decode(format!("event {}: {e}", event.id)));
    };
    let id = event_id(row)?;
    let text = |out: &mut Vec<u8>, key: &str, value: &str| {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        // Addresses, names and times: serde_json escapes what needs escaping.
        let _ = serde_json::to_writer(&mut *out, value);
    };
    let _ = write!(out, "{{\"id\":\"{id}\"");
    text(out, "time", &event_time(row)?.to_string());
    if let Some(observed) = row.int("observed")? {
        text(
            out,
            "observed",
            &Timestamp::from_micros(observed).to_string(),
        );
    }
    for column in ["sensor", "protocol", "session", "src_ip", "dst_ip"] {
        if let Some(value) = row.text(column)? {
            text(out, column, value);
        }
    }
    for column in ["src_port", "dst_port"] {
        if let Some(port) = row.int(column)? {
            let _ = write!(out, ",\"{column}\":{port}");
        }
    }
    if let Some(enrichment) = row.text("enrichment")? {
        out.extend_from_slice(b",\"enrichment\":");
        out.extend_from_slice(enrichment.trim().as_bytes());
    }
    let (members, first_key) = members;
    out.push(b',');
    out.extend_from_slice(first_key.as_bytes());
    out.extend_from_slice(members.as_bytes());
    out.push(b'}');
    Ok(())
}

fn uuid_from(bytes: &[u8]) -> Result<EventId, StoreError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Decode(format!("event id of {} bytes", bytes.len())))?;
    Ok(EventId::from_uuid(uuid::Uuid::from_bytes(bytes)))
}

/// Most events a read-only store lets the writer's fold lag behind before it answers
/// from the events instead of the rollups (a few seconds of a flood; after an upgrade
/// the writer folds everything again, which takes minutes).
const READ_ONLY_MAX_LAG: i64 = 65_536;

/// Runs a query whose `?1` is the window's start, `?2` its row limit and `?3` its end.
async fn windowed(
    pool: &sqlx::SqlitePool,
    window: Window,
    sql: &'static str,
) -> Result<Vec<SqliteRow>, StoreError> {
    window.check()?;
    sqlx::query(sql)
        .bind(window.since_micros())
        .bind(i64::from(window.limit))
        .bind(window.until_micros())
        .fetch_all(pool)
        .await
        .map_err(database_error)
}

/// A value bound to a `?` of a [`PageQuery`].
#[derive(Debug, Clone)]
pub(super) enum Param {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// The page query of [`EventQueries::events`] and the export: the window's events that
/// match `filter` after `after`, newest first, one more than the window's limit (to know
/// whether another page follows). Plain SQL and its values, so either driver can run it.
#[derive(Debug, Clone)]
pub(super) struct PageQuery {
    pub(super) sql: String,
    pub(super) params: Vec<Param>,
}

impl PageQuery {
    pub(super) fn new(
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<Self, StoreError> {
        Self::build(EVENT_SELECT, Vec::new(), window, filter, after)
    }

    /// The same page for a filter with an address, run on the summaries database: the
    /// address's events of the hours `[first_hour, last_hour]` from `address_events`
    /// (the address's folded span, clipped to the window), and those the fold has not
    /// reached yet from the events after its cursor.
    pub(super) fn by_address(
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
        address: IpAddr,
        (first_hour, last_hour): (i64, i64),
    ) -> Result<Self, StoreError> {
        let address = address.to_string();
        let params = vec![
            Param::Int(last_hour),
            Param::Int(last_hour),
            Param::Int(first_hour),
            Param::Int(first_hour),
            Param::Text(address.clone()),
            Param::Int(window.since_micros()),
            Param::Int(window.until_micros()),
            Param::Text(address),
            Param::Int(window.since_micros()),
            Param::Int(window.until_micros()),
        ];
        Self::build(EVENT_SELECT_BY_ADDRESS, params, window, filter, after)
    }

    fn build(
        select: &str,
        mut params: Vec<Param>,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<Self, StoreError> {
        window.check()?;
        filter.check()?;
        let after = after.map(Cursor::position).transpose()?;
        let mut sql = String::from(select);
        // Only the conditions asked for, so that SQLite picks the index that fits
        // ((kind, ts) for a kind, (ts) otherwise) instead of scanning for `? IS NULL`.
        sql.push_str(" WHERE e.ts >= ?");
        params.push(Param::Int(window.since_micros()));
        // One upper bound on the time, the tighter: given two, SQLite seeks the (ts)
        // index to the window's end and steps over every newer event on each page, so
        // page N of an export took N times longer than the first.
        match after {
            Some((time, _)) if time.as_micros() < window.until_micros() => {
                sql.push_str(" AND e.ts <= ?");
                params.push(Param::Int(time.as_micros()));
            }
            _ => {
                sql.push_str(" AND e.ts < ?");
                params.push(Param::Int(window.until_micros()));
            }
        }
        if let Some(ip) = filter.src_ip {
            sql.push_str(" AND e.src_ip = ?");
            params.push(Param::Text(ip.to_string()));
        }
        for (column, value) in [
            ("e.session", &filter.session),
            ("e.sensor", &filter.sensor),
            ("e.protocol", &filter.protocol),
            ("e.kind", &filter.kind),
            ("e.command", &filter.command),
        ] {
            if let Some(value) = value {
                sql.push_str(" AND ");
                sql.push_str(column);
                sql.push_str(" = ?");
                params.push(Param::Text(value.clone()));
            }
        }
        if let Some((time, id)) = after {
            // The cursor's time bounds the index seek above (behind an OR alone SQLite
            // scanned from the newest event on every page); this orders the ties.
            sql.push_str(" AND (e.ts < ? OR (e.ts = ? AND e.id < ?))");
            params.extend([
                Param::Int(time.as_micros()),
                Param::Int(time.as_micros()),
                Param::Blob(id.as_bytes().to_vec()),
            ]);
        }
        sql.push_str(" ORDER BY e.ts DESC, e.id DESC LIMIT ?");
        params.push(Param::Int(i64::from(window.limit) + 1));
        Ok(Self { sql, params })
    }

    /// Runs it through sqlx.
    async fn fetch_all(&self, pool: &sqlx::SqlitePool) -> Result<Vec<SqliteRow>, StoreError> {
        let mut query = sqlx::query(&self.sql);
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.as_str()),
                Param::Blob(value) => query.bind(value.as_slice()),
            };
        }
        query.fetch_all(pool).await.map_err(database_error)
    }
}

/// The columns [`event_from_row`] reads, from `events e` joined to `enrichments en`.
const EVENT_SELECT: &str =
    "SELECT e.id, e.ts, e.observed, e.sensor, e.protocol, e.session, e.src_ip,
            e.src_port, e.dst_ip, e.dst_port, e.doc, en.doc AS enrichment
     FROM events e LEFT JOIN enrichments en ON en.id = e.enrichment_id";

/// [`EVENT_SELECT`] over one address's events, from the summaries database: one seek
/// of `address_events` per hour from the last hour to the first (a recursive list of
/// the hours), and the events the fold has not reached yet (by `seq`: the `+` keeps
/// SQLite off the time index, which it otherwise picked and walked over every event;
/// `CROSS JOIN` keeps the address's rows the outer loop).
const EVENT_SELECT_BY_ADDRESS: &str = "WITH RECURSIVE hours(h) AS (
         SELECT ? WHERE ? >= ?
         UNION ALL
         SELECT h - 3600000000 FROM hours WHERE h - 3600000000 >= ?)
     SELECT e.id, e.ts, e.observed, e.sensor, e.protocol, e.session, e.src_ip,
            e.src_port, e.dst_ip, e.dst_port, e.doc, en.doc AS enrichment
     FROM (SELECT a.seq FROM hours JOIN address_events a ON a.hour = hours.h
           WHERE a.src_ip = ? AND a.ts >= ? AND a.ts < ?
           UNION ALL
           SELECT seq FROM ev.events
           WHERE seq > (SELECT folded_seq FROM fold_cursor WHERE id = 1)
             AND src_ip = ? AND +ts >= ? AND +ts < ?) AS a
     CROSS JOIN ev.events e ON e.seq = a.seq
     LEFT JOIN ev.enrichments en ON en.id = e.enrichment_id";

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

fn session_from_row(row: &SqliteRow) -> Result<SessionSummary, StoreError> {
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
}

fn attacker_from_row(row: &SqliteRow) -> Result<AttackerSummary, StoreError> {
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
}

fn credential_from_row(row: &SqliteRow) -> Result<CredentialCount, StoreError> {
    Ok(CredentialCount {
        username: row.try_get("username").map_err(decode_error)?,
        password: row.try_get("password").map_err(decode_error)?,
        attempts: count(row, "attempts")?,
        successes: count(row, "successes")?,
        sources: count(row, "sources")?,
    })
}

fn command_from_row(row: &SqliteRow) -> Result<CommandCount, StoreError> {
    Ok(CommandCount {
        command: row.try_get("command").map_err(decode_error)?,
        count: count(row, "count")?,
        sources: count(row, "sources")?,
        labels: Vec::new(),
    })
}

/// The command lines of `commands` as a JSON array (bound to a `json_each(?)`).
fn command_list(commands: &[CommandCount]) -> Result<String, StoreError> {
    serde_json::to_string(&commands.iter().map(|c| &c.command).collect::<Vec<_>>())
        .map_err(|e| StoreError::InvalidInput(e.to_string()))
}

/// A download row without its lists (see [`SqliteStore::download_lists`]).
fn download_from_row(row: &SqliteRow) -> Result<DownloadSummary, StoreError> {
    Ok(DownloadSummary {
        sha256: row.try_get("sha256").map_err(decode_error)?,
        count: count(row, "count")?,
        uploads: 0,
        first_seen: timestamp(row, "first_seen")?,
        last_seen: timestamp(row, "last_seen")?,
        size: row
            .try_get::<Option<i64>, _>("size")
            .map_err(decode_error)?
            .and_then(|s| u64::try_from(s).ok()),
        sources: 0,
        src_ips: Vec::new(),
        url_count: 0,
        urls: Vec::new(),
        filenames: Vec::new(),
        session: None,
        src_ip: None,
        url: None,
        file: FileFacts::default(),
    })
}

/// A row of [`downloads_statement`]: the ranking's columns, the lists as JSON arrays,
/// the latest download as a JSON array `[session, src_ip, url]`, and the file's facts.
fn ranked_download_from_row(row: &SqliteRow) -> Result<DownloadSummary, StoreError> {
    let mut download = download_from_row(row)?;
    download.sources = count(row, "sources")?;
    download.src_ips = json_strings(row, "src_ips")?;
    download.url_count = count(row, "url_count")?;
    download.urls = json_strings(row, "urls")?;
    download.uploads = count(row, "uploads")?;
    download.filenames = json_strings(row, "filenames")?;
    let latest: Option<String> = row.try_get("latest").map_err(decode_error)?;
    if let Some(latest) = latest {
        let [session, src_ip, url]: [Option<String>; 3] = serde_json::from_str(&latest)
            .map_err(|e| StoreError::Decode(format!("column latest: {e}")))?;
        download.session = session;
        download.src_ip = src_ip;
        download.url = url;
    }
    let optional_count = |column: &str| -> Result<Option<u32>, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(column)
            .map_err(decode_error)?
            .and_then(|n| u32::try_from(n).ok()))
    };
    let yara: Option<String> = row.try_get("yara_matches").map_err(decode_error)?;
    download.file = FileFacts {
        file_type: row.try_get("file_type").map_err(decode_error)?,
        mime: row.try_get("mime").map_err(decode_error)?,
        file_category: row.try_get("file_category").map_err(decode_error)?,
        arch: row.try_get("arch").map_err(decode_error)?,
        is_previewable: row
            .try_get::<Option<i64>, _>("is_previewable")
            .map_err(decode_error)?
            .is_some_and(|v| v != 0),
        yara_matches: crate::query::yara_names(yara)?,
        vt_detections: optional_count("vt_detections")?,
        vt_total: optional_count("vt_total")?,
        vt_threat_label: row.try_get("vt_threat_label").map_err(decode_error)?,
    };
    Ok(download)
}

/// Which downloads [`downloads_statement`] ranks.
enum DownloadsOf<'a> {
    /// The top `limit` of a window.
    Window(Span, i64),
    /// One file, over all time.
    File(&'a str),
}

/// The downloads view in one statement (on the summaries connection, the events attached
/// as `ev`): the ranking, each row's counts and lists, its latest download and its file's
/// facts, with no per-file follow-up query.
async fn downloads_statement(
    summaries: &sqlx::SqlitePool,
    of: DownloadsOf<'_>,
) -> Result<Vec<DownloadSummary>, StoreError> {
    const FACTS: &str = "f.file_type, f.mime, f.file_category, f.arch, f.is_previewable,
        f.yara_matches, f.vt_detections, f.vt_total, f.vt_threat_label";
    // Lists and latest download from the pairs and the totals (AllTime, Since: `?1` is
    // the window's start) or from the window's events (Between: `?1`..`?2`).
    let from_pairs = |since: &str| {
        format!(
            "(SELECT COUNT(*) FROM download_sources p
              WHERE p.sha256 = top.sha256 AND p.last_seen >= {since}) AS sources,
             (SELECT json_group_array(src_ip) FROM (
                SELECT src_ip FROM download_sources p
                WHERE p.sha256 = top.sha256 AND p.last_seen >= {since}
                ORDER BY p.last_seen DESC, p.src_ip LIMIT {MAX_LIST})) AS src_ips,
             (SELECT COUNT(*) FROM download_urls p
              WHERE p.sha256 = top.sha256 AND p.last_seen >= {since}) AS url_count,
             (SELECT json_group_array(url) FROM (
                SELECT url FROM download_urls p
                WHERE p.sha256 = top.sha256 AND p.last_seen >= {since}
                ORDER BY p.last_seen DESC, p.url LIMIT {MAX_LIST})) AS urls,
             (SELECT json_group_array(filename) FROM (
                SELECT filename FROM upload_names p
                WHERE p.sha256 = top.sha256 AND p.last_seen >= {since}
                ORDER BY p.last_seen DESC, p.filename LIMIT {MAX_LIST})) AS filenames,
             (SELECT json_array(d.last_session, d.last_src_ip, d.last_url)
              FROM downloads_total d WHERE d.sha256 = top.sha256) AS latest"
        )
    };
    const IN_WINDOW: &str = "FROM ev.events e WHERE e.sha256 = top.sha256
        AND e.kind IN ('file.download', 'file.upload') AND e.ts >= ?1 AND e.ts < ?2";
    let (top, lists) = match &of {
        DownloadsOf::File(_) => (
            "SELECT sha256, count, uploads, first_seen, last_seen, size FROM downloads_total
             WHERE sha256 = ?1"
                .to_owned(),
            from_pairs("-9223372036854775808"),
        ),
        DownloadsOf::Window(Span::AllTime, _) => (
            "SELECT sha256, count, uploads, first_seen, last_seen, size FROM downloads_total
             ORDER BY count DESC, last_seen DESC, sha256 LIMIT ?1"
                .to_owned(),
            from_pairs("-9223372036854775808"),
        ),
        DownloadsOf::Window(Span::Since { .. }, _) => (
            // ?1 since, ?2 first whole hour, ?3 limit.
            "SELECT sha256, SUM(count) AS count, SUM(uploads) AS uploads,
                    MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen,
                    MAX(size) AS size
             FROM (SELECT sha256, count, uploads, first_seen, last_seen, size
                   FROM downloads_hourly WHERE hour >= ?2
                   UNION ALL
                   SELECT sha256, 1, kind = 'file.upload', ts, ts, size FROM ev.events
                   WHERE sha256 IS NOT NULL AND kind IN ('file.download', 'file.upload')
                     AND ts >= ?1 AND ts < ?2)
             GROUP BY sha256
             ORDER BY count DESC, last_seen DESC, sha256
             LIMIT ?3"
                .to_owned(),
            from_pairs("?1"),
        ),
        DownloadsOf::Window(Span::Between { .. }, _) => (
            // ?1 since, ?2 until, ?3 limit.
            "SELECT sha256, COUNT(*) AS count, SUM(kind = 'file.upload') AS uploads,
                    MIN(ts) AS first_seen, MAX(ts) AS last_seen, MAX(size) AS size
             FROM ev.events
             WHERE sha256 IS NOT NULL AND kind IN ('file.download', 'file.upload')
               AND ts >= ?1 AND ts < ?2
             GROUP BY sha256
             ORDER BY count DESC, last_seen DESC, sha256
             LIMIT ?3"
                .to_owned(),
            format!(
                "(SELECT COUNT(DISTINCT src_ip) {IN_WINDOW}) AS sources,
                 (SELECT json_group_array(src_ip) FROM (
                    SELECT src_ip {IN_WINDOW}
                    GROUP BY src_ip ORDER BY MAX(ts) DESC, src_ip LIMIT {MAX_LIST})) AS src_ips,
                 (SELECT COUNT(DISTINCT url) {IN_WINDOW}) AS url_count,
                 (SELECT json_group_array(url) FROM (
                    SELECT url {IN_WINDOW} AND e.url IS NOT NULL
                    GROUP BY url ORDER BY MAX(ts) DESC, url LIMIT {MAX_LIST})) AS urls,
                 (SELECT json_group_array(filename) FROM (
                    SELECT filename {IN_WINDOW} AND e.filename IS NOT NULL
                    GROUP BY filename ORDER BY MAX(ts) DESC, filename LIMIT {MAX_LIST}))
                    AS filenames,
                 (SELECT json_array(session, src_ip, url) {IN_WINDOW}
                  ORDER BY e.ts DESC, e.seq DESC LIMIT 1) AS latest"
            ),
        ),
    };
    let sql = format!(
        "WITH top AS ({top})
         SELECT top.sha256, top.count, top.uploads, top.first_seen, top.last_seen, top.size,
                {lists}, {FACTS}
         FROM top LEFT JOIN files f ON f.sha256 = top.sha256
         ORDER BY top.count DESC, top.last_seen DESC, top.sha256"
    );
    let query = sqlx::query(&sql);
    let query = match of {
        DownloadsOf::File(sha256) => query.bind(sha256.to_owned()),
        DownloadsOf::Window(Span::AllTime, limit) => query.bind(limit),
        DownloadsOf::Window(Span::Since { since, first_hour }, limit) => {
            query.bind(since).bind(first_hour).bind(limit)
        }
        DownloadsOf::Window(Span::Between { since, until }, limit) => {
            query.bind(since).bind(until).bind(limit)
        }
    };
    let rows = query.fetch_all(summaries).await.map_err(database_error)?;
    rows.iter().map(ranked_download_from_row).collect()
}

/// A download row of an attacker's detail, with its lists as JSON arrays (one address,
/// the attacker's): the first [`MAX_LIST`] URLs by text.
fn attacker_download_from_row(row: &SqliteRow) -> Result<DownloadSummary, StoreError> {
    let mut download = download_from_row(row)?;
    download.src_ips = json_strings(row, "src_ips")?;
    download.urls = json_strings(row, "urls")?;
    download.uploads = count(row, "uploads")?;
    download.filenames = json_strings(row, "filenames")?;
    download.filenames.truncate(MAX_LIST);
    download.sources = download.src_ips.len() as u64;
    download.url_count = download.urls.len() as u64;
    download.src_ips.truncate(MAX_LIST);
    download.urls.truncate(MAX_LIST);
    Ok(download)
}

/// The per-address lists of an attacker's detail, from the summaries (`?1` the address,
/// `?2` the row limit): what the fold keeps per address, so that the detail of an
/// address seen over the whole store reads its own rows, not every event in between.
const ATTACKER_CREDENTIALS: &str = "
    SELECT username, CASE WHEN no_password THEN NULL ELSE password END AS password,
           attempts, successes, 1 AS sources
    FROM credential_sources
    WHERE src_ip = ?1
    ORDER BY attempts DESC, username, no_password DESC, password
    LIMIT ?2";
const ATTACKER_COMMANDS: &str = "
    SELECT command, count, 1 AS sources
    FROM command_sources
    WHERE src_ip = ?1
    ORDER BY count DESC, command
    LIMIT ?2";
const ATTACKER_DOWNLOADS: &str = "
    SELECT e.sha256, COUNT(*) AS count, SUM(e.kind = 'file.upload') AS uploads,
           MIN(e.ts) AS first_seen, MAX(e.ts) AS last_seen, MAX(e.size) AS size,
           json_group_array(DISTINCT e.src_ip) AS src_ips,
           json_group_array(DISTINCT e.url) AS urls,
           json_group_array(DISTINCT e.filename) AS filenames
    FROM address_captures c JOIN ev.events e ON e.seq = c.seq
    WHERE c.src_ip = ?1
    GROUP BY e.sha256
    ORDER BY count DESC, last_seen DESC, e.sha256
    LIMIT ?2";
// Events stored before enrichments had a table of their own keep theirs inside `doc`.
const ATTACKER_ENRICHMENTS: &str = "
    SELECT COALESCE(en.doc, NULLIF(a.legacy_doc, '')) AS enrichment
    FROM address_enrichments a LEFT JOIN ev.enrichments en ON en.id = a.enrichment_id
    WHERE a.src_ip = ?1 AND enrichment IS NOT NULL
    ORDER BY a.last_seen DESC, enrichment
    LIMIT ?2";

impl SqliteStore {
    /// How to answer `window` ([`Window::span`]), after folding what is new into the
    /// rollups.
    async fn span(&self, window: Window) -> Result<Span, StoreError> {
        self.refresh_summaries().await?;
        // Two subqueries: SQLite reads MIN and MAX off the time index only one per query.
        let (oldest, newest): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT (SELECT MIN(ts) FROM events), (SELECT MAX(ts) FROM events)")
                .fetch_one(&self.pool)
                .await
                .map_err(database_error)?;
        if self.read_only {
            // A query process cannot fold: if the writer is far behind (folding everything
            // again after an upgrade), the rollups would answer for part of the events.
            let (folded, latest): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT folded_seq FROM fold_cursor),
                        (SELECT COALESCE(MAX(seq), 0) FROM ev.events)",
            )
            .fetch_one(&self.summaries)
            .await
            .map_err(database_error)?;
            if latest - folded > READ_ONLY_MAX_LAG {
                return Ok(Span::Between {
                    since: window.since_micros(),
                    until: window.until_micros(),
                });
            }
        }
        Ok(window.span(oldest, newest))
    }

    /// The timeseries of the events at or after `since`: whole hours from `first_hour`
    /// on from `kinds_hourly`, `[since, first_hour)` from the events; buckets of
    /// `interval` (a whole number of hours, so each hour falls in one bucket).
    async fn timeseries_from_rollup(
        &self,
        since: i64,
        first_hour: i64,
        interval: i64,
        kind: Option<&str>,
    ) -> Result<Vec<TimeBucket>, StoreError> {
        let kind_filter = if kind.is_some() { " AND kind = ?4" } else { "" };
        // Floored to the interval (for times before 1970 too), as `bucket_start` does.
        let sql = format!(
            "SELECT t - (((t % ?3) + ?3) % ?3) AS bucket, kind, SUM(n) AS n
             FROM (SELECT hour AS t, kind, count AS n FROM kinds_hourly
                   WHERE hour >= ?2{kind_filter}
                   UNION ALL
                   SELECT ts, kind, 1 FROM ev.events
                   WHERE ts >= ?1 AND ts < ?2{kind_filter})
             GROUP BY bucket, kind
             ORDER BY bucket, kind"
        );
        let mut query = sqlx::query(&sql)
            .bind(since)
            .bind(first_hour)
            .bind(interval);
        if let Some(kind) = kind {
            query = query.bind(kind.to_owned());
        }
        let rows = query
            .fetch_all(&self.summaries)
            .await
            .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                let start: i64 = row.try_get("bucket").map_err(decode_error)?;
                Ok(TimeBucket {
                    start: Timestamp::from_micros(start),
                    kind: row.try_get("kind").map_err(decode_error)?,
                    count: count(row, "n")?,
                })
            })
            .collect()
    }

    /// The rows of one page of [`EventQueries::events`] (one more than the limit).
    async fn event_page_rows(
        &self,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        match filter.src_ip {
            Some(address) => {
                window.check()?;
                let span: Option<(i64, i64)> =
                    sqlx::query_as("SELECT first_seen, last_seen FROM attackers WHERE src_ip = ?1")
                        .bind(address.to_string())
                        .fetch_optional(&self.summaries)
                        .await
                        .map_err(database_error)?;
                // The hours of the address's folded events inside the window (none:
                // an empty range, only the unfolded events are read).
                let hour = |t: i64| t.div_euclid(HOUR_MICROS) * HOUR_MICROS;
                let hours = match span {
                    Some((first, last)) => (
                        hour(first.max(window.since_micros())),
                        hour(last.min(window.until_micros().saturating_sub(1))),
                    ),
                    None => (0, -1),
                };
                PageQuery::by_address(window, filter, after, address, hours)?
                    .fetch_all(&self.summaries)
                    .await
            }
            None => {
                PageQuery::new(window, filter, after)?
                    .fetch_all(&self.pool)
                    .await
            }
        }
    }

    /// Fills the labels of `commands` seen at or after `since` from the folded pairs.
    async fn labels_since(
        &self,
        commands: &mut [CommandCount],
        since: i64,
    ) -> Result<(), StoreError> {
        let labels = sqlx::query_as(
            "SELECT command, label, last_seen FROM command_labels
             WHERE command IN (SELECT value FROM json_each(?1)) AND last_seen >= ?2",
        )
        .bind(command_list(commands)?)
        .bind(since)
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?;
        attach_labels(commands, labels);
        Ok(())
    }

    /// Runs one of the `ATTACKER_*` queries.
    async fn attacker_rows(
        &self,
        sql: &'static str,
        summary: &AttackerSummary,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        sqlx::query(sql)
            .bind(summary.src_ip.to_string())
            .bind(i64::from(MAX_DETAIL_ROWS))
            .fetch_all(&self.summaries)
            .await
            .map_err(database_error)
    }
}

#[async_trait]
impl EventQueries for SqliteStore {
    async fn sessions(&self, window: Window) -> Result<Vec<SessionSummary>, StoreError> {
        self.refresh_summaries().await?;
        let rows = windowed(
            &self.summaries,
            window,
            "SELECT session, sensor, protocol, src_ip, started, last_seen, duration_ms,
                    client_version, login_attempts, logins_ok, commands, downloads
             FROM sessions
             WHERE last_seen >= ?1 AND started < ?3
             ORDER BY seq DESC
             LIMIT ?2",
        )
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn overview(&self, window: Window) -> Result<WindowOverview, StoreError> {
        window.check()?;
        let (since, first_hour) = match self.span(window).await? {
            Span::Between { .. } => return crate::query::derived_overview(self, window).await,
            Span::AllTime => (i64::MIN, i64::MIN),
            Span::Since { since, first_hour } => (since, first_hour),
        };
        let limit = i64::from(window.limit);
        let (addresses,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM attackers WHERE last_seen >= ?1")
                .bind(since)
                .fetch_one(&self.summaries)
                .await
                .map_err(database_error)?;
        // The top countries and networks of the addresses active since `since`.
        let spread: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT * FROM (SELECT 'country', country, COUNT(*) AS n FROM attackers
                            WHERE last_seen >= ?1 AND country IS NOT NULL
                            GROUP BY 2 ORDER BY n DESC, 2 LIMIT ?2)
             UNION ALL
             SELECT * FROM (SELECT 'asn', CAST(asn AS TEXT), COUNT(*) AS n FROM attackers
                            WHERE last_seen >= ?1 AND asn IS NOT NULL
                            GROUP BY asn ORDER BY n DESC, asn LIMIT ?2)",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?;
        let versions: Vec<(String, i64)> = sqlx::query_as(
            "SELECT version, SUM(n) AS n
             FROM (SELECT version, sessions AS n FROM client_versions_hourly WHERE hour >= ?1
                   UNION ALL
                   SELECT json_extract(doc, '$.data.version'), 1 FROM ev.events
                   WHERE kind = 'client.version' AND ts >= ?2 AND ts < ?1)
             WHERE version IS NOT NULL
             GROUP BY version ORDER BY n DESC, version LIMIT ?3",
        )
        .bind(first_hour)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?;
        Ok(WindowOverview::from_rows(
            addresses,
            spread,
            versions,
            window.limit,
        ))
    }

    async fn attackers(&self, window: Window) -> Result<Vec<AttackerSummary>, StoreError> {
        window.check()?;
        let limit = i64::from(window.limit);
        let rows = match self.span(window).await? {
            Span::AllTime => {
                sqlx::query(
                    "SELECT top.*,
                        (SELECT COUNT(*) FROM sessions s WHERE s.src_ip = top.src_ip) AS sessions
                 FROM (SELECT src_ip, events, login_attempts, commands, first_seen, last_seen,
                              country, asn
                       FROM attackers
                       ORDER BY events DESC, src_ip
                       LIMIT ?1) AS top
                 ORDER BY events DESC, src_ip",
                )
                .bind(limit)
                .fetch_all(&self.summaries)
                .await
            }
            // Sessions counted for the top rows only, after the limit: whole days from
            // `address_sessions_daily`, the rest from the sessions' (src_ip, last_seen).
            Span::Since { since, first_hour } => {
                sqlx::query(
                    "SELECT top.*,
                        (SELECT COALESCE(SUM(d.sessions), 0) FROM address_sessions_daily d
                         WHERE d.src_ip = top.src_ip AND d.day >= ?4)
                        + (SELECT COUNT(*) FROM sessions s
                           WHERE s.src_ip = top.src_ip AND s.last_seen >= ?2
                             AND s.last_seen < ?4) AS sessions
                 FROM (SELECT src_ip, SUM(events) AS events,
                              SUM(login_attempts) AS login_attempts, SUM(commands) AS commands,
                              MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen,
                              MAX(country) AS country, MAX(asn) AS asn
                       FROM (SELECT src_ip, events, login_attempts, commands, first_seen,
                                    last_seen, country, asn
                             FROM attackers_daily WHERE day >= ?4
                             UNION ALL
                             SELECT src_ip, events, login_attempts, commands, first_seen,
                                    last_seen, country, asn
                             FROM attackers_hourly WHERE hour >= ?1 AND hour < ?4
                             UNION ALL
                             SELECT src_ip, 1, kind = 'login.attempt', kind = 'command.input',
                                    ts, ts, country, asn
                             FROM ev.events WHERE ts >= ?2 AND ts < ?1)
                       GROUP BY src_ip
                       ORDER BY events DESC, src_ip
                       LIMIT ?3) AS top
                 ORDER BY events DESC, src_ip",
                )
                .bind(first_hour)
                .bind(since)
                .bind(limit)
                .bind(first_whole_day(first_hour))
                .fetch_all(&self.summaries)
                .await
            }
            Span::Between { since, until } => {
                sqlx::query(
                    "SELECT src_ip, COUNT(*) AS events, COUNT(DISTINCT session) AS sessions,
                        SUM(kind = 'login.attempt') AS login_attempts,
                        SUM(kind = 'command.input') AS commands,
                        MIN(ts) AS first_seen, MAX(ts) AS last_seen,
                        MAX(country) AS country, MAX(asn) AS asn
                 FROM events
                 WHERE ts >= ?2 AND ts < ?3
                 GROUP BY src_ip
                 ORDER BY events DESC, src_ip
                 LIMIT ?1",
                )
                .bind(limit)
                .bind(since)
                .bind(until)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(database_error)?;
        rows.iter().map(attacker_from_row).collect()
    }

    async fn credentials(&self, window: Window) -> Result<Vec<CredentialCount>, StoreError> {
        window.check()?;
        let span = self.span(window).await?;
        let limit = i64::from(window.limit);
        let (since, first_hour) = match span {
            Span::Between { since, until } => {
                let rows = windowed(
                    &self.pool,
                    window
                        .since_opt(Some(Timestamp::from_micros(since)))
                        .until(Timestamp::from_micros(until)),
                    "SELECT username, password, COUNT(*) AS attempts,
                            SUM(success = 1) AS successes, COUNT(DISTINCT src_ip) AS sources
                     FROM events
                     WHERE kind = 'login.attempt' AND ts >= ?1 AND ts < ?3
                     GROUP BY username, password
                     ORDER BY attempts DESC, username, password
                     LIMIT ?2",
                )
                .await?;
                return rows.iter().map(credential_from_row).collect();
            }
            Span::AllTime => {
                let rows = sqlx::query(
                    "SELECT username, CASE WHEN no_password THEN NULL ELSE password END AS password,
                            attempts, successes, sources
                     FROM credentials_total
                     ORDER BY attempts DESC, username, no_password DESC, password
                     LIMIT ?1",
                )
                .bind(limit)
                .fetch_all(&self.summaries)
                .await
                .map_err(database_error)?;
                return rows.iter().map(credential_from_row).collect();
            }
            Span::Since { since, first_hour } => (since, first_hour),
        };
        let rows = sqlx::query(
            "SELECT username, CASE WHEN no_password THEN NULL ELSE password END AS password,
                    password AS password_key, no_password,
                    SUM(attempts) AS attempts, SUM(successes) AS successes, 0 AS sources
             FROM (SELECT username, password, no_password, attempts, successes
                   FROM credentials_daily WHERE day >= ?4
                   UNION ALL
                   SELECT username, password, no_password, attempts, successes
                   FROM credentials_hourly WHERE hour >= ?1 AND hour < ?4
                   UNION ALL
                   SELECT username, COALESCE(password, ''), password IS NULL, 1, success IS 1
                   FROM ev.events
                   WHERE kind = 'login.attempt' AND username IS NOT NULL
                     AND ts >= ?2 AND ts < ?1)
             GROUP BY username, password_key, no_password
             ORDER BY attempts DESC, username, no_password DESC, password_key
             LIMIT ?3",
        )
        .bind(first_hour)
        .bind(since)
        .bind(limit)
        .bind(first_whole_day(first_hour))
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?;
        let mut credentials = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut credential = credential_from_row(row)?;
            let key: String = row.try_get("password_key").map_err(decode_error)?;
            let no_password: bool = row.try_get("no_password").map_err(decode_error)?;
            let (sources,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM credential_sources
                 WHERE username = ?1 AND password = ?2 AND no_password = ?3 AND last_seen >= ?4",
            )
            .bind(&credential.username)
            .bind(key)
            .bind(no_password)
            .bind(since)
            .fetch_one(&self.summaries)
            .await
            .map_err(database_error)?;
            credential.sources = u64::try_from(sources).unwrap_or(0);
            credentials.push(credential);
        }
        Ok(credentials)
    }

    async fn commands(&self, window: Window) -> Result<Vec<CommandCount>, StoreError> {
        window.check()?;
        let span = self.span(window).await?;
        let limit = i64::from(window.limit);
        let (since, first_hour) = match span {
            Span::Between { since, until } => {
                let rows = windowed(
                    &self.pool,
                    window
                        .since_opt(Some(Timestamp::from_micros(since)))
                        .until(Timestamp::from_micros(until)),
                    "SELECT command, COUNT(*) AS count, COUNT(DISTINCT src_ip) AS sources
                     FROM events
                     WHERE kind IN ('command.input', 'http.request') AND command IS NOT NULL
                       AND ts >= ?1 AND ts < ?3
                     GROUP BY command
                     ORDER BY count DESC, command
                     LIMIT ?2",
                )
                .await?;
                let mut commands = rows
                    .iter()
                    .map(command_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let labels = sqlx::query_as(
                    "SELECT e.command, l.value, MAX(e.ts)
                     FROM events e, json_each(e.doc, '$.data.labels') l
                     WHERE e.kind = 'http.request' AND e.command IN (SELECT value FROM json_each(?3))
                       AND e.ts >= ?1 AND e.ts < ?2
                     GROUP BY 1, 2",
                )
                .bind(since)
                .bind(until)
                .bind(command_list(&commands)?)
                .fetch_all(&self.pool)
                .await
                .map_err(database_error)?;
                attach_labels(&mut commands, labels);
                return Ok(commands);
            }
            Span::AllTime => {
                let rows = sqlx::query(
                    "SELECT command, count, sources FROM commands_total
                     ORDER BY count DESC, command LIMIT ?1",
                )
                .bind(limit)
                .fetch_all(&self.summaries)
                .await
                .map_err(database_error)?;
                let mut commands = rows
                    .iter()
                    .map(command_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                self.labels_since(&mut commands, i64::MIN).await?;
                return Ok(commands);
            }
            Span::Since { since, first_hour } => (since, first_hour),
        };
        let rows = sqlx::query(
            "SELECT command, SUM(count) AS count, 0 AS sources
             FROM (SELECT command, count FROM commands_daily WHERE day >= ?4
                   UNION ALL
                   SELECT command, count FROM commands_hourly WHERE hour >= ?1 AND hour < ?4
                   UNION ALL
                   SELECT command, 1 FROM ev.events
                   WHERE kind IN ('command.input', 'http.request') AND command IS NOT NULL
                     AND ts >= ?2 AND ts < ?1)
             GROUP BY command
             ORDER BY count DESC, command
             LIMIT ?3",
        )
        .bind(first_hour)
        .bind(since)
        .bind(limit)
        .bind(first_whole_day(first_hour))
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?;
        let mut commands = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut command = command_from_row(row)?;
            let (sources,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM command_sources WHERE command = ?1 AND last_seen >= ?2",
            )
            .bind(&command.command)
            .bind(since)
            .fetch_one(&self.summaries)
            .await
            .map_err(database_error)?;
            command.sources = u64::try_from(sources).unwrap_or(0);
            commands.push(command);
        }
        self.labels_since(&mut commands, since).await?;
        Ok(commands)
    }

    async fn downloads(&self, window: Window) -> Result<Vec<DownloadSummary>, StoreError> {
        window.check()?;
        let span = self.span(window).await?;
        downloads_statement(
            &self.summaries,
            DownloadsOf::Window(span, i64::from(window.limit)),
        )
        .await
    }

    async fn download(&self, sha256: &str) -> Result<DownloadSummary, StoreError> {
        downloads_statement(&self.summaries, DownloadsOf::File(sha256))
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("file {sha256}")))
    }

    async fn record_file_analysis(
        &self,
        sha256: &str,
        analysis: &hpti_core::file::FileAnalysis,
        analysed: Timestamp,
    ) -> Result<(), StoreError> {
        let yara = serde_json::to_string(&analysis.yara_matches)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        sqlx::query(
            "INSERT INTO files (sha256, analysed, file_type, mime, file_category, arch,
                                is_previewable, yara_matches)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (sha256) DO UPDATE SET
                 analysed = excluded.analysed, file_type = excluded.file_type,
                 mime = excluded.mime, file_category = excluded.file_category,
                 arch = excluded.arch, is_previewable = excluded.is_previewable,
                 yara_matches = excluded.yara_matches
             WHERE analysed IS NULL OR excluded.analysed >= analysed",
        )
        .bind(sha256)
        .bind(analysed.as_micros())
        .bind(&analysis.kind.file_type)
        .bind(&analysis.kind.mime)
        .bind(analysis.kind.category.as_str())
        .bind(&analysis.kind.arch)
        .bind(analysis.kind.is_previewable)
        .bind(yara)
        .execute(&self.summaries)
        .await
        .map_err(database_error)?;
        Ok(())
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(database_error)?;
        count(&row, "n")
    }

    async fn events(
        &self,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<EventPage, StoreError> {
        let rows = self.event_page_rows(window, filter, after).await?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventPage::from_overfetch(events, window.limit))
    }

    async fn events_ndjson(
        &self,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<NdjsonPage, StoreError> {
        let query = PageQuery::new(window, filter, after)?;
        self.export.page(query, window.limit).await
    }

    async fn position(&self) -> Result<Option<u64>, StoreError> {
        // The rowid's b-tree answers max() from its last page.
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(database_error)?;
        Ok(newest.and_then(|n| u64::try_from(n).ok()))
    }

    async fn timeseries(
        &self,
        window: Window,
        interval_micros: i64,
        kind: Option<&str>,
    ) -> Result<Vec<TimeBucket>, StoreError> {
        crate::query::check_timeseries(&window, interval_micros)?;
        if let Some(kind) = kind {
            EventFilter::default().kind(kind).check()?;
        }
        // Whole hours from the hourly rollup when the buckets are made of whole hours
        // and the window is open at its end; the rest from the events.
        if interval_micros % crate::query::HOUR_MICROS == 0 {
            let span = self.span(window).await?;
            let since = match span {
                Span::AllTime => Some((i64::MIN, i64::MIN)),
                Span::Since { since, first_hour } => Some((since, first_hour)),
                Span::Between { .. } => None,
            };
            if let Some((since, first_hour)) = since {
                return self
                    .timeseries_from_rollup(since, first_hour, interval_micros, kind)
                    .await;
            }
        }
        // Floored to the interval (for times before 1970 too), as `bucket_start` does.
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT e.ts - (((e.ts % ");
        sql.push_bind(interval_micros)
            .push(") + ")
            .push_bind(interval_micros)
            .push(") % ")
            .push_bind(interval_micros)
            .push(") AS bucket, e.kind, COUNT(*) AS n FROM events e WHERE e.ts >= ")
            .push_bind(window.since_micros())
            .push(" AND e.ts < ")
            .push_bind(window.until_micros());
        if let Some(kind) = kind {
            sql.push(" AND e.kind = ").push_bind(kind.to_owned());
        }
        sql.push(" GROUP BY bucket, e.kind");
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(database_error)?;
        let mut buckets = rows
            .iter()
            .map(|row| {
                let start: i64 = row.try_get("bucket").map_err(decode_error)?;
                Ok(TimeBucket {
                    start: Timestamp::from_micros(start),
                    kind: row.try_get("kind").map_err(decode_error)?,
                    count: count(row, "n")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        buckets.sort_by(|a, b| (a.start, &a.kind).cmp(&(b.start, &b.kind)));
        Ok(buckets)
    }

    async fn event(&self, id: EventId) -> Result<Event, StoreError> {
        self.find_event(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("event {id}")))
    }

    async fn session(&self, session: &str) -> Result<SessionDetail, StoreError> {
        self.refresh_summaries().await?;
        let row = sqlx::query(
            "SELECT session, sensor, protocol, src_ip, started, last_seen, duration_ms,
                    client_version, login_attempts, logins_ok, commands, downloads
             FROM sessions WHERE session = ?1",
        )
        .bind(session)
        .fetch_optional(&self.summaries)
        .await
        .map_err(database_error)?
        .ok_or_else(|| StoreError::NotFound(format!("session {session:?}")))?;
        let summary = session_from_row(&row)?;
        // The session's events lie between its first and last: the time index bounds
        // the scan (the events table has no index by session, see the migrations).
        let rows = sqlx::query(&format!(
            "{EVENT_SELECT}
             WHERE e.ts >= ?1 AND e.ts <= ?2 AND e.session = ?3
             ORDER BY e.ts, e.id
             LIMIT ?4"
        ))
        .bind(summary.started.as_micros())
        .bind(summary.last_seen.as_micros())
        .bind(session)
        .bind(MAX_TIMELINE_EVENTS as i64 + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionDetail::new(summary, events))
    }

    async fn attacker(&self, ip: IpAddr) -> Result<AttackerDetail, StoreError> {
        self.refresh_summaries().await?;
        let address = ip.to_string();
        let row = sqlx::query(
            "SELECT src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn,
                    (SELECT COUNT(*) FROM sessions s WHERE s.src_ip = a.src_ip) AS sessions
             FROM attackers a WHERE src_ip = ?1",
        )
        .bind(&address)
        .fetch_optional(&self.summaries)
        .await
        .map_err(database_error)?
        .ok_or_else(|| StoreError::NotFound(format!("address {ip}")))?;
        let summary = attacker_from_row(&row)?;
        let sessions = sqlx::query(
            "SELECT session, sensor, protocol, src_ip, started, last_seen, duration_ms,
                    client_version, login_attempts, logins_ok, commands, downloads
             FROM sessions WHERE src_ip = ?1
             ORDER BY seq DESC
             LIMIT ?2",
        )
        .bind(&address)
        .bind(i64::from(MAX_DETAIL_ROWS))
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?
        .iter()
        .map(session_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let enrichments = self
            .attacker_rows(ATTACKER_ENRICHMENTS, &summary)
            .await?
            .iter()
            .map(|row| {
                let doc: String = row.try_get("enrichment").map_err(decode_error)?;
                serde_json::from_str::<Enrichment>(&doc)
                    .map_err(|e| StoreError::Decode(format!("enrichment of {ip}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let enrichments = crate::query::address_enrichments(enrichments);
        let credentials = self
            .attacker_rows(ATTACKER_CREDENTIALS, &summary)
            .await?
            .iter()
            .map(credential_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut commands = self
            .attacker_rows(ATTACKER_COMMANDS, &summary)
            .await?
            .iter()
            .map(command_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let labels = sqlx::query_as(
            "SELECT command, label, last_seen FROM address_command_labels
             WHERE src_ip = ?1 AND command IN (SELECT value FROM json_each(?2))",
        )
        .bind(summary.src_ip.to_string())
        .bind(command_list(&commands)?)
        .fetch_all(&self.summaries)
        .await
        .map_err(database_error)?;
        attach_labels(&mut commands, labels);
        let downloads = self
            .attacker_rows(ATTACKER_DOWNLOADS, &summary)
            .await?
            .iter()
            .map(attacker_download_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AttackerDetail::new(
            summary,
            enrichments,
            sessions,
            credentials,
            commands,
            downloads,
        ))
    }
}
