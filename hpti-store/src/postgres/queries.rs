//! The queries of [`EventQueries`] in PostgreSQL, answering exactly what the SQLite store
//! answers: text compares byte by byte (the columns are `COLLATE "C"`), NULLs sort as
//! SQLite sorts them (first ascending, last descending), addresses order as text.

use std::net::IpAddr;
use std::str::FromStr as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpti_core::event::{Enrichment, Event, EventId, Timestamp};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Postgres, QueryBuilder, Row as _};

use super::copy::EXACT_KEY;
use super::{PostgresStore, database_error};
use crate::error::StoreError;
use crate::query::{
    AttackerDetail, AttackerSummary, CommandCount, CredentialCount, Cursor, DownloadSummary,
    EventFilter, EventPage, EventQueries, FileFacts, MAX_DETAIL_ROWS, MAX_LIST,
    MAX_TIMELINE_EVENTS, SessionDetail, SessionSummary, Span, TimeBucket, Window, WindowOverview,
    attach_labels,
};

/// Moves a batch from the temporary table into the events (skipping those already
/// stored) and queues exactly the rows it inserted for folding ([`FOLD`]), in one
/// statement of the batch's transaction.
pub(super) const MOVE: &str = "
WITH new AS (
    INSERT INTO events SELECT * FROM hpti_incoming ON CONFLICT DO NOTHING
    RETURNING ts, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, kind,
              username, password, success, command, url, sha256, size, country, asn,
              duration_ms, client_version,
              CASE WHEN sha256 IS NOT NULL THEN enrichment_id END, filename,
              CASE WHEN kind = 'http.request' AND command IS NOT NULL
                   THEN doc->'data'->'labels' END
)
INSERT INTO fold_queue SELECT * FROM new";

/// Takes up to `$1` queued events off the queue and folds exactly those into the
/// summaries and rollups, in one statement: each event is folded once, whatever crashes.
/// Rows locked by another folder are skipped, not waited for. Keys are folded in order,
/// so that two folders lock summary rows in the same order.
pub(super) const FOLD: &str = "
WITH new AS (
    DELETE FROM fold_queue
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM fold_queue LIMIT $1 FOR UPDATE SKIP LOCKED))
    RETURNING ts, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, kind,
              success, country, asn, duration_ms, client_version, username, password,
              command, url, sha256, size, enrichment_id, filename, labels,
              date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour
), folded_sessions AS (
    INSERT INTO sessions AS s (session, sensor, protocol, src_ip, src_port, dst_ip, dst_port,
                               started, last_seen, duration_ms, client_version,
                               events, login_attempts, logins_ok, commands, downloads)
    SELECT session, MIN(sensor), MIN(protocol), MIN(src_ip), MIN(src_port), MIN(dst_ip),
           MIN(dst_port), MIN(ts), MAX(ts), MAX(duration_ms), MAX(client_version),
           COUNT(*),
           COUNT(*) FILTER (WHERE kind = 'login.attempt'),
           COUNT(*) FILTER (WHERE kind = 'login.attempt' AND success),
           COUNT(*) FILTER (WHERE kind = 'command.input'),
           COUNT(*) FILTER (WHERE kind = 'file.download')
    FROM new
    WHERE session IS NOT NULL
    GROUP BY session
    ORDER BY session
    ON CONFLICT (session) DO UPDATE SET
        started = LEAST(s.started, EXCLUDED.started),
        last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
        duration_ms = COALESCE(EXCLUDED.duration_ms, s.duration_ms),
        client_version = COALESCE(s.client_version, EXCLUDED.client_version),
        events = s.events + EXCLUDED.events,
        login_attempts = s.login_attempts + EXCLUDED.login_attempts,
        logins_ok = s.logins_ok + EXCLUDED.logins_ok,
        commands = s.commands + EXCLUDED.commands,
        downloads = s.downloads + EXCLUDED.downloads
    RETURNING 1
), folded_attackers AS (
    INSERT INTO attackers AS a (src_ip, events, login_attempts, commands, first_seen,
                                last_seen, country, asn)
    SELECT src_ip, COUNT(*),
           COUNT(*) FILTER (WHERE kind = 'login.attempt'),
           COUNT(*) FILTER (WHERE kind = 'command.input'),
           MIN(ts), MAX(ts), MAX(country), MAX(asn)
    FROM new
    GROUP BY src_ip
    ORDER BY src_ip
    ON CONFLICT (src_ip) DO UPDATE SET
        events = a.events + EXCLUDED.events,
        login_attempts = a.login_attempts + EXCLUDED.login_attempts,
        commands = a.commands + EXCLUDED.commands,
        first_seen = LEAST(a.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(a.last_seen, EXCLUDED.last_seen),
        country = COALESCE(EXCLUDED.country, a.country),
        asn = COALESCE(EXCLUDED.asn, a.asn)
    RETURNING 1
), folded_attackers_hourly AS (
    INSERT INTO attackers_hourly AS a (hour, src_ip, events, login_attempts, commands,
                                       first_seen, last_seen, country, asn)
    SELECT hour, src_ip, COUNT(*),
           COUNT(*) FILTER (WHERE kind = 'login.attempt'),
           COUNT(*) FILTER (WHERE kind = 'command.input'),
           MIN(ts), MAX(ts), MAX(country), MAX(asn)
    FROM new
    GROUP BY hour, src_ip
    ORDER BY hour, src_ip
    ON CONFLICT (hour, src_ip) DO UPDATE SET
        events = a.events + EXCLUDED.events,
        login_attempts = a.login_attempts + EXCLUDED.login_attempts,
        commands = a.commands + EXCLUDED.commands,
        first_seen = LEAST(a.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(a.last_seen, EXCLUDED.last_seen),
        country = GREATEST(a.country, EXCLUDED.country),
        asn = GREATEST(a.asn, EXCLUDED.asn)
), logins AS (
    SELECT hour, ts, src_ip, username, COALESCE(password, '') AS password,
           password IS NULL AS no_password, success
    FROM new WHERE kind = 'login.attempt' AND username IS NOT NULL
), folded_credentials_hourly AS (
    INSERT INTO credentials_hourly AS h (hour, username, password, no_password, attempts,
                                         successes)
    SELECT hour, username, password, no_password, COUNT(*), COUNT(*) FILTER (WHERE success)
    FROM logins
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, username, password, no_password) DO UPDATE SET
        attempts = h.attempts + EXCLUDED.attempts,
        successes = h.successes + EXCLUDED.successes
), folded_credential_sources AS (
    -- `xmax = 0` marks a row this statement inserted: an address new to the credential.
    -- Unlike a NOT EXISTS against the snapshot, it stays exact when two batches race.
    INSERT INTO credential_sources AS p (username, password, no_password, src_ip, last_seen)
    SELECT username, password, no_password, src_ip, MAX(ts)
    FROM logins
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (username, password, no_password, src_ip) DO UPDATE SET
        last_seen = EXCLUDED.last_seen
        WHERE p.last_seen < EXCLUDED.last_seen
    RETURNING username, password, no_password, xmax = 0 AS inserted
), folded_credentials_total AS (
    INSERT INTO credentials_total AS t (username, password, no_password, attempts,
                                        successes, sources)
    SELECT l.username, l.password, l.no_password, l.attempts, l.successes,
           COALESCE(n.sources, 0)
    FROM (SELECT username, password, no_password, COUNT(*) AS attempts,
                 COUNT(*) FILTER (WHERE success) AS successes
          FROM logins GROUP BY 1, 2, 3) AS l
    LEFT JOIN (SELECT username, password, no_password,
                      COUNT(*) FILTER (WHERE inserted) AS sources
               FROM folded_credential_sources GROUP BY 1, 2, 3) AS n
        USING (username, password, no_password)
    ORDER BY 1, 2, 3
    ON CONFLICT (username, password, no_password) DO UPDATE SET
        attempts = t.attempts + EXCLUDED.attempts,
        successes = t.successes + EXCLUDED.successes,
        sources = t.sources + EXCLUDED.sources
), commands AS (
    -- Command lines and HTTP attack requests (the column holds `attempted_command`).
    SELECT hour, ts, src_ip, command, labels
    FROM new WHERE command IS NOT NULL
), folded_command_labels AS (
    INSERT INTO command_labels AS p (command, label, last_seen)
    SELECT c.command, l.label, MAX(c.ts)
    FROM commands c, json_array_elements_text(
        CASE WHEN json_typeof(c.labels) = 'array' THEN c.labels END) AS l(label)
    WHERE c.labels IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (command, label) DO UPDATE SET last_seen = EXCLUDED.last_seen
        WHERE p.last_seen < EXCLUDED.last_seen
), folded_commands_hourly AS (
    INSERT INTO commands_hourly AS h (hour, command, count)
    SELECT hour, command, COUNT(*) FROM commands
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (hour, command) DO UPDATE SET count = h.count + EXCLUDED.count
), folded_command_sources AS (
    INSERT INTO command_sources AS p (command, src_ip, last_seen)
    SELECT command, src_ip, MAX(ts) FROM commands
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (command, src_ip) DO UPDATE SET last_seen = EXCLUDED.last_seen
        WHERE p.last_seen < EXCLUDED.last_seen
    RETURNING command, xmax = 0 AS inserted
), folded_commands_total AS (
    INSERT INTO commands_total AS t (command, count, sources)
    SELECT c.command, c.count, COALESCE(n.sources, 0)
    FROM (SELECT command, COUNT(*) AS count FROM commands GROUP BY 1) AS c
    LEFT JOIN (SELECT command, COUNT(*) FILTER (WHERE inserted) AS sources
               FROM folded_command_sources GROUP BY 1) AS n USING (command)
    ORDER BY 1
    ON CONFLICT (command) DO UPDATE SET
        count = t.count + EXCLUDED.count,
        sources = t.sources + EXCLUDED.sources
), downloads AS (
    -- Captured files: downloads and uploads.
    SELECT hour, ts, src_ip, sha256, url, size, session, kind, filename
    FROM new WHERE kind IN ('file.download', 'file.upload') AND sha256 IS NOT NULL
), folded_downloads_hourly AS (
    INSERT INTO downloads_hourly AS h (hour, sha256, count, uploads, first_seen, last_seen,
                                       size)
    SELECT hour, sha256, COUNT(*), COUNT(*) FILTER (WHERE kind = 'file.upload'), MIN(ts),
           MAX(ts), MAX(size)
    FROM downloads
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (hour, sha256) DO UPDATE SET
        count = h.count + EXCLUDED.count,
        uploads = h.uploads + EXCLUDED.uploads,
        first_seen = LEAST(h.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(h.last_seen, EXCLUDED.last_seen),
        size = GREATEST(h.size, EXCLUDED.size)
), folded_downloads_total AS (
    INSERT INTO downloads_total AS t (sha256, count, uploads, first_seen, last_seen, size,
                                      last_session, last_src_ip, last_url)
    SELECT a.sha256, a.count, a.uploads, a.first_seen, a.last_seen, a.size,
           l.session, l.src_ip, l.url
    FROM (SELECT sha256, COUNT(*) AS count, COUNT(*) FILTER (WHERE kind = 'file.upload')
                 AS uploads, MIN(ts) AS first_seen, MAX(ts) AS last_seen, MAX(size) AS size
          FROM downloads GROUP BY 1) AS a
    JOIN (SELECT DISTINCT ON (sha256) sha256, session, src_ip, url FROM downloads
          ORDER BY sha256, ts DESC) AS l USING (sha256)
    ORDER BY 1
    ON CONFLICT (sha256) DO UPDATE SET
        count = t.count + EXCLUDED.count,
        uploads = t.uploads + EXCLUDED.uploads,
        first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen),
        size = GREATEST(t.size, EXCLUDED.size),
        last_session = CASE WHEN EXCLUDED.last_seen >= t.last_seen
                            THEN EXCLUDED.last_session ELSE t.last_session END,
        last_src_ip = CASE WHEN EXCLUDED.last_seen >= t.last_seen
                           THEN EXCLUDED.last_src_ip ELSE t.last_src_ip END,
        last_url = CASE WHEN EXCLUDED.last_seen >= t.last_seen
                        THEN EXCLUDED.last_url ELSE t.last_url END
), folded_kinds_hourly AS (
    INSERT INTO kinds_hourly AS k (hour, kind, count)
    SELECT hour, kind, COUNT(*) FROM new
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (hour, kind) DO UPDATE SET count = k.count + EXCLUDED.count
), file_events AS (
    SELECT n.sha256, n.ts, en.doc
    FROM new n JOIN enrichments en ON en.id = n.enrichment_id
    WHERE n.enrichment_id IS NOT NULL
), folded_files AS (
    -- One INSERT for both (a statement may update a row once): each file's latest
    -- analysis and latest VirusTotal report in the batch, each kept only if newer.
    INSERT INTO files AS f (sha256, analysed, file_type, mime, file_category, arch,
                            is_previewable, yara_matches, vt_checked, vt_detections,
                            vt_total, vt_threat_label)
    SELECT sha256, a.ts, a.file_type, a.mime, a.file_category, a.arch, a.is_previewable,
           a.yara_matches, v.ts, v.vt_detections, v.vt_total, v.vt_threat_label
    FROM (SELECT DISTINCT ON (sha256) sha256, ts, doc->'file'->>'file_type' AS file_type,
                 doc->'file'->>'mime' AS mime, doc->'file'->>'file_category' AS file_category,
                 doc->'file'->>'arch' AS arch,
                 (doc->'file'->>'is_previewable')::boolean AS is_previewable,
                 COALESCE((doc->'file'->'yara_matches')::text, '[]') AS yara_matches
          FROM file_events WHERE json_typeof(doc->'file') = 'object'
          ORDER BY sha256, ts DESC) AS a
    FULL JOIN
         (SELECT DISTINCT ON (sha256) sha256, ts, (r->>'malicious')::bigint AS vt_detections,
                 (r->>'total')::bigint AS vt_total,
                 r->'details'->>'threat_label' AS vt_threat_label
          FROM file_events, json_array_elements(
              CASE WHEN json_typeof(doc->'reputation') = 'array' THEN doc->'reputation' END) AS r
          WHERE r->>'source' = 'virustotal' AND r->'details'->>'type' = 'file'
          ORDER BY sha256, ts DESC) AS v USING (sha256)
    ORDER BY 1
    ON CONFLICT (sha256) DO UPDATE SET
        analysed = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.analysed ELSE f.analysed END,
        file_type = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.file_type ELSE f.file_type END,
        mime = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.mime ELSE f.mime END,
        file_category = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.file_category ELSE f.file_category END,
        arch = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.arch ELSE f.arch END,
        is_previewable = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.is_previewable ELSE f.is_previewable END,
        yara_matches = CASE WHEN EXCLUDED.analysed IS NOT NULL AND (f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed)
            THEN EXCLUDED.yara_matches ELSE f.yara_matches END,
        vt_checked = CASE WHEN EXCLUDED.vt_checked IS NOT NULL AND (f.vt_checked IS NULL OR EXCLUDED.vt_checked >= f.vt_checked)
            THEN EXCLUDED.vt_checked ELSE f.vt_checked END,
        vt_detections = CASE WHEN EXCLUDED.vt_checked IS NOT NULL AND (f.vt_checked IS NULL OR EXCLUDED.vt_checked >= f.vt_checked)
            THEN EXCLUDED.vt_detections ELSE f.vt_detections END,
        vt_total = CASE WHEN EXCLUDED.vt_checked IS NOT NULL AND (f.vt_checked IS NULL OR EXCLUDED.vt_checked >= f.vt_checked)
            THEN EXCLUDED.vt_total ELSE f.vt_total END,
        vt_threat_label = CASE WHEN EXCLUDED.vt_checked IS NOT NULL AND (f.vt_checked IS NULL OR EXCLUDED.vt_checked >= f.vt_checked)
            THEN EXCLUDED.vt_threat_label ELSE f.vt_threat_label END
), folded_download_sources AS (
    INSERT INTO download_sources AS p (sha256, src_ip, last_seen)
    SELECT sha256, src_ip, MAX(ts) FROM downloads
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (sha256, src_ip) DO UPDATE SET last_seen = EXCLUDED.last_seen
        WHERE p.last_seen < EXCLUDED.last_seen
), folded_download_urls AS (
    INSERT INTO download_urls AS p (sha256, url, last_seen)
    SELECT sha256, url, MAX(ts) FROM downloads WHERE url IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (sha256, url) DO UPDATE SET last_seen = EXCLUDED.last_seen
        WHERE p.last_seen < EXCLUDED.last_seen
), folded_upload_names AS (
    INSERT INTO upload_names AS p (sha256, filename, last_seen)
    SELECT sha256, filename, MAX(ts) FROM downloads
    WHERE kind = 'file.upload' AND filename IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (sha256, filename) DO UPDATE SET last_seen = EXCLUDED.last_seen
        WHERE p.last_seen < EXCLUDED.last_seen
)
SELECT (SELECT COUNT(*) FROM new) AS folded,
       (SELECT COUNT(*) FROM folded_sessions) AS sessions,
       (SELECT COUNT(*) FROM folded_attackers) AS attackers";

/// The columns [`event_from_row`] reads, from `events e` joined to `enrichments en`.
const EVENT_SELECT: &str = "
    SELECT e.id, e.ts, e.observed, e.sensor, e.protocol, e.session, host(e.src_ip) AS src_ip,
           e.src_port, host(e.dst_ip) AS dst_ip, e.dst_port, e.doc::text AS doc,
           en.doc::text AS enrichment
    FROM events e LEFT JOIN enrichments en ON en.id = e.enrichment_id";

const SESSION_COLUMNS: &str = "session, sensor, protocol, host(src_ip) AS src_ip, started, \
     last_seen, duration_ms, client_version, login_attempts, logins_ok, commands, downloads";

const ATTACKER_COLUMNS: &str = "host(a.src_ip) AS src_ip, a.events, a.login_attempts, \
     a.commands, a.first_seen, a.last_seen, a.country, a.asn, \
     (SELECT COUNT(*) FROM sessions s WHERE s.src_ip = a.src_ip) AS sessions";

/// The earliest and latest instants both PostgreSQL and the partitions hold: a window
/// left open at one end is bounded by them.
fn pg_time(micros: i64) -> DateTime<Utc> {
    // 0001-01-01 and 9999-12-31T23:59:59.999999 UTC.
    const MIN: i64 = -62_135_596_800_000_000;
    const MAX: i64 = 253_402_300_799_999_999;
    DateTime::from_timestamp_micros(micros.clamp(MIN, MAX)).unwrap_or_default()
}

fn since(window: &Window) -> DateTime<Utc> {
    pg_time(window.since_micros())
}

fn until(window: &Window) -> DateTime<Utc> {
    pg_time(window.until_micros())
}

fn decode_error(err: sqlx::Error) -> StoreError {
    StoreError::Decode(err.to_string())
}

fn timestamp(row: &PgRow, column: &str) -> Result<Timestamp, StoreError> {
    row.try_get::<DateTime<Utc>, _>(column)
        .map(|t| Timestamp::from_micros(t.timestamp_micros()))
        .map_err(decode_error)
}

fn count(row: &PgRow, column: &str) -> Result<u64, StoreError> {
    let value: Option<i64> = row.try_get(column).map_err(decode_error)?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

fn ip(row: &PgRow, column: &str) -> Result<IpAddr, StoreError> {
    let text: String = row.try_get(column).map_err(decode_error)?;
    IpAddr::from_str(&text)
        .map_err(|_| StoreError::Decode(format!("column {column}: {text:?} is not an address")))
}

/// A text array aggregate, sorted as SQLite's store sorts it, without NULLs.
fn strings(row: &PgRow, column: &str) -> Result<Vec<String>, StoreError> {
    let mut values: Vec<Option<String>> = row.try_get(column).map_err(decode_error)?;
    values.sort();
    Ok(values.into_iter().flatten().collect())
}

/// Rebuilds an event from [`EVENT_SELECT`]'s columns.
pub(super) fn event_from_row(row: &PgRow) -> Result<Event, StoreError> {
    use serde_json::{Map, Value};
    let id: uuid::Uuid = row.try_get("id").map_err(decode_error)?;
    let id = EventId::from_uuid(id);
    let doc: String = row.try_get("doc").map_err(decode_error)?;
    let mut object: Map<String, Value> =
        serde_json::from_str(&doc).map_err(|e| StoreError::Decode(format!("doc of {id}: {e}")))?;
    let exact = object.remove(EXACT_KEY);
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            object.insert(key.to_owned(), value);
        }
    };
    let enrichment: Option<String> = row.try_get("enrichment").map_err(decode_error)?;
    if let Some(enrichment) = enrichment {
        let value: Value = serde_json::from_str(&enrichment)
            .map_err(|e| StoreError::Decode(format!("enrichment of {id}: {e}")))?;
        put("enrichment", value);
    }
    put("id", Value::String(id.to_string()));
    put("time", Value::String(timestamp(row, "ts")?.to_string()));
    let observed: Option<DateTime<Utc>> = row.try_get("observed").map_err(decode_error)?;
    put(
        "observed",
        observed.map_or(Value::Null, |t| {
            Value::String(Timestamp::from_micros(t.timestamp_micros()).to_string())
        }),
    );
    for column in ["sensor", "protocol", "session", "src_ip", "dst_ip"] {
        let text: Option<String> = row.try_get(column).map_err(decode_error)?;
        put(column, text.map_or(Value::Null, Value::String));
    }
    for column in ["src_port", "dst_port"] {
        let port: Option<i32> = row.try_get(column).map_err(decode_error)?;
        put(column, port.map_or(Value::Null, Value::from));
    }
    // Text a column could not hold verbatim (a NUL) was kept in the document.
    if let Some(Value::Object(exact)) = exact {
        for (key, value) in exact {
            put(&key, value);
        }
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| StoreError::Decode(format!("event {id}: {e}")))
}

fn session_from_row(row: &PgRow) -> Result<SessionSummary, StoreError> {
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

fn attacker_from_row(row: &PgRow) -> Result<AttackerSummary, StoreError> {
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

fn credential_from_row(row: &PgRow) -> Result<CredentialCount, StoreError> {
    Ok(CredentialCount {
        username: row.try_get("username").map_err(decode_error)?,
        password: row.try_get("password").map_err(decode_error)?,
        attempts: count(row, "attempts")?,
        successes: count(row, "successes")?,
        sources: count(row, "sources")?,
    })
}

fn command_from_row(row: &PgRow) -> Result<CommandCount, StoreError> {
    Ok(CommandCount {
        command: row.try_get("command").map_err(decode_error)?,
        count: count(row, "count")?,
        sources: count(row, "sources")?,
        labels: Vec::new(),
    })
}

/// A download row with its counts and (capped) lists.
fn download_from_row(row: &PgRow) -> Result<DownloadSummary, StoreError> {
    Ok(DownloadSummary {
        sha256: row.try_get("sha256").map_err(decode_error)?,
        count: count(row, "count")?,
        uploads: count(row, "uploads")?,
        first_seen: timestamp(row, "first_seen")?,
        last_seen: timestamp(row, "last_seen")?,
        size: row
            .try_get::<Option<i64>, _>("size")
            .map_err(decode_error)?
            .and_then(|s| u64::try_from(s).ok()),
        sources: count(row, "sources")?,
        src_ips: strings(row, "src_ips")?,
        url_count: count(row, "url_count")?,
        urls: strings(row, "urls")?,
        filenames: strings(row, "filenames")?,
        session: row.try_get("last_session").map_err(decode_error)?,
        src_ip: row.try_get("last_src_ip").map_err(decode_error)?,
        url: row.try_get("last_url").map_err(decode_error)?,
        file: file_facts(row)?,
    })
}

/// The [`FileFacts`] columns of [`DOWNLOAD_FACTS`].
fn file_facts(row: &PgRow) -> Result<FileFacts, StoreError> {
    let optional_count = |column: &str| -> Result<Option<u32>, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(column)
            .map_err(decode_error)?
            .and_then(|n| u32::try_from(n).ok()))
    };
    let yara: Option<String> = row.try_get("yara_matches").map_err(decode_error)?;
    Ok(FileFacts {
        file_type: row.try_get("file_type").map_err(decode_error)?,
        mime: row.try_get("mime").map_err(decode_error)?,
        file_category: row.try_get("file_category").map_err(decode_error)?,
        arch: row.try_get("arch").map_err(decode_error)?,
        is_previewable: row
            .try_get::<Option<bool>, _>("is_previewable")
            .map_err(decode_error)?
            .unwrap_or(false),
        yara_matches: crate::query::yara_names(yara)?,
        vt_detections: optional_count("vt_detections")?,
        vt_total: optional_count("vt_total")?,
        vt_threat_label: row.try_get("vt_threat_label").map_err(decode_error)?,
    })
}

/// The downloads view over the rows `top` selects, in one statement: each row's counts
/// and lists from the pairs last seen at or after `$2`, its latest download and its
/// file's facts (no per-file follow-up query).
fn ranked_downloads(top: &str) -> String {
    format!(
        "WITH top AS ({top})
         SELECT top.sha256, top.count, top.uploads, top.first_seen, top.last_seen, top.size,
                d.last_session, host(d.last_src_ip) AS last_src_ip, d.last_url,
                {DOWNLOAD_FACTS},
                (SELECT COUNT(*) FROM download_sources p
                 WHERE p.sha256 = top.sha256 AND p.last_seen >= $2) AS sources,
                ARRAY(SELECT host(p.src_ip) FROM download_sources p
                      WHERE p.sha256 = top.sha256 AND p.last_seen >= $2
                      ORDER BY p.last_seen DESC, host(p.src_ip) COLLATE \"C\"
                      LIMIT 100) AS src_ips,
                (SELECT COUNT(*) FROM download_urls p
                 WHERE p.sha256 = top.sha256 AND p.last_seen >= $2) AS url_count,
                ARRAY(SELECT p.url FROM download_urls p
                      WHERE p.sha256 = top.sha256 AND p.last_seen >= $2
                      ORDER BY p.last_seen DESC, p.url LIMIT 100) AS urls,
                ARRAY(SELECT p.filename FROM upload_names p
                      WHERE p.sha256 = top.sha256 AND p.last_seen >= $2
                      ORDER BY p.last_seen DESC, p.filename LIMIT 100) AS filenames
         FROM top
         LEFT JOIN downloads_total d ON d.sha256 = top.sha256
         LEFT JOIN files f ON f.sha256 = top.sha256
         ORDER BY top.count DESC, top.last_seen DESC, top.sha256"
    )
}

/// Timeseries rows (`bucket`, `kind`, `n`), in byte order of their kinds as every
/// backend gives them (PostgreSQL's collation would order kinds its way).
fn buckets_from_rows(rows: &[PgRow]) -> Result<Vec<TimeBucket>, StoreError> {
    let mut buckets = rows
        .iter()
        .map(|row| {
            let start: i64 = row.try_get("bucket").map_err(decode_error)?;
            let n: i64 = row.try_get("n").map_err(decode_error)?;
            Ok(TimeBucket {
                start: Timestamp::from_micros(start),
                kind: row.try_get("kind").map_err(decode_error)?,
                count: u64::try_from(n).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    buckets.sort_by(|a, b| (a.start, &a.kind).cmp(&(b.start, &b.kind)));
    Ok(buckets)
}

/// The file's facts of a downloads row (`top` joined to `files f`).
const DOWNLOAD_FACTS: &str = "f.file_type, f.mime, f.file_category, f.arch, f.is_previewable,
    f.yara_matches, f.vt_detections, f.vt_total, f.vt_threat_label";

/// A download row of an attacker's detail, from whole lists: the first [`MAX_LIST`] by
/// text, as the SQLite store gives them.
fn attacker_download_from_row(row: &PgRow) -> Result<DownloadSummary, StoreError> {
    let src_ips = strings(row, "src_ips")?;
    let urls = strings(row, "urls")?;
    let filenames = strings(row, "filenames")?;
    Ok(DownloadSummary {
        sha256: row.try_get("sha256").map_err(decode_error)?,
        count: count(row, "count")?,
        uploads: count(row, "uploads")?,
        first_seen: timestamp(row, "first_seen")?,
        last_seen: timestamp(row, "last_seen")?,
        size: row
            .try_get::<Option<i64>, _>("size")
            .map_err(decode_error)?
            .and_then(|s| u64::try_from(s).ok()),
        sources: src_ips.len() as u64,
        src_ips: src_ips.into_iter().take(MAX_LIST).collect(),
        url_count: urls.len() as u64,
        urls: urls.into_iter().take(MAX_LIST).collect(),
        filenames: filenames.into_iter().take(MAX_LIST).collect(),
        session: None,
        src_ip: None,
        url: None,
        file: FileFacts::default(),
    })
}

const CREDENTIALS: &str = "
    SELECT username, password, COUNT(*) AS attempts,
           COUNT(*) FILTER (WHERE success) AS successes,
           COUNT(DISTINCT src_ip) AS sources
    FROM events
    WHERE kind = 'login.attempt' AND ts >= $1 AND ts < $3
    GROUP BY username, password
    ORDER BY attempts DESC, username NULLS FIRST, password NULLS FIRST
    LIMIT $2";
const COMMANDS: &str = "
    SELECT command, COUNT(*) AS count, COUNT(DISTINCT src_ip) AS sources
    FROM events
    WHERE kind IN ('command.input', 'http.request') AND command IS NOT NULL
      AND ts >= $1 AND ts < $3
    GROUP BY command
    ORDER BY count DESC, command NULLS FIRST
    LIMIT $2";
const _: () = assert!(MAX_LIST == 100, "the download queries list 100");

/// The labels of the commands `$3` among the HTTP requests in `[$1, $2)`.
const COMMAND_LABELS_BETWEEN: &str = "
    SELECT e.command, l.label, MAX(e.ts)
    FROM events e, json_array_elements_text(CASE WHEN json_typeof(e.doc->'data'->'labels') = 'array'
                                           THEN e.doc->'data'->'labels' END) AS l(label)
    WHERE e.kind = 'http.request' AND e.command = ANY($3) AND e.ts >= $1 AND e.ts < $2
    GROUP BY 1, 2";

/// The command lines of `commands`, bound to a `= ANY($n)`.
fn command_list(commands: &[CommandCount]) -> Vec<String> {
    commands.iter().map(|c| c.command.clone()).collect()
}

/// `(command, label, last seen)` rows with the time in microseconds.
fn labels_micros(
    rows: Vec<(String, String, DateTime<Utc>)>,
) -> impl Iterator<Item = (String, String, i64)> {
    rows.into_iter()
        .map(|(command, label, seen)| (command, label, seen.timestamp_micros()))
}

/// The downloads of a closed window, from its events, with each top row's counts and
/// its [`MAX_LIST`] most recently seen addresses and URLs.
const DOWNLOADS: &str = "
    WITH top AS (
        SELECT sha256, COUNT(*) AS count, COUNT(*) FILTER (WHERE kind = 'file.upload')
               AS uploads, MIN(ts) AS first_seen, MAX(ts) AS last_seen, MAX(size) AS size
        FROM events
        WHERE sha256 IS NOT NULL AND kind IN ('file.download', 'file.upload')
          AND ts >= $1 AND ts < $3
        GROUP BY sha256
        ORDER BY count DESC, last_seen DESC, sha256
        LIMIT $2)
    SELECT top.*,
           (SELECT COUNT(DISTINCT src_ip) FROM events e
            WHERE e.sha256 = top.sha256 AND e.kind IN ('file.download', 'file.upload')
              AND e.ts >= $1 AND e.ts < $3) AS sources,
           ARRAY(SELECT host(e.src_ip) FROM events e
                 WHERE e.sha256 = top.sha256 AND e.kind IN ('file.download', 'file.upload')
                   AND e.ts >= $1 AND e.ts < $3
                 GROUP BY e.src_ip
                 ORDER BY MAX(e.ts) DESC, host(e.src_ip) COLLATE \"C\" LIMIT 100) AS src_ips,
           (SELECT COUNT(DISTINCT url) FROM events e
            WHERE e.sha256 = top.sha256 AND e.kind IN ('file.download', 'file.upload')
              AND e.ts >= $1 AND e.ts < $3) AS url_count,
           ARRAY(SELECT e.url FROM events e
                 WHERE e.sha256 = top.sha256 AND e.kind IN ('file.download', 'file.upload')
                   AND e.ts >= $1 AND e.ts < $3 AND e.url IS NOT NULL
                 GROUP BY e.url
                 ORDER BY MAX(e.ts) DESC, e.url LIMIT 100) AS urls,
           ARRAY(SELECT e.filename FROM events e
                 WHERE e.sha256 = top.sha256 AND e.kind = 'file.upload'
                   AND e.ts >= $1 AND e.ts < $3 AND e.filename IS NOT NULL
                 GROUP BY e.filename
                 ORDER BY MAX(e.ts) DESC, e.filename LIMIT 100) AS filenames,
           l.last_session, l.last_src_ip, l.last_url,
           f.file_type, f.mime, f.file_category, f.arch, f.is_previewable,
           f.yara_matches, f.vt_detections, f.vt_total, f.vt_threat_label
    FROM top
    LEFT JOIN LATERAL (
        SELECT e.session AS last_session, host(e.src_ip) AS last_src_ip, e.url AS last_url
        FROM events e
        WHERE e.sha256 = top.sha256 AND e.kind IN ('file.download', 'file.upload')
          AND e.ts >= $1 AND e.ts < $3
        ORDER BY e.ts DESC, e.id DESC LIMIT 1) AS l ON true
    LEFT JOIN files f ON f.sha256 = top.sha256
    ORDER BY count DESC, last_seen DESC, sha256";

/// An attacker's lists, over its events between `$1` and `$2` (its first and last seen)
/// from `$3`, at most `$4` rows.
const ATTACKER_CREDENTIALS: &str = "
    SELECT username, password, COUNT(*) AS attempts,
           COUNT(*) FILTER (WHERE success) AS successes,
           COUNT(DISTINCT src_ip) AS sources
    FROM events
    WHERE kind = 'login.attempt' AND ts >= $1 AND ts <= $2 AND src_ip = $3::inet
    GROUP BY username, password
    ORDER BY attempts DESC, username NULLS FIRST, password NULLS FIRST
    LIMIT $4";
const ATTACKER_COMMANDS: &str = "
    SELECT command, COUNT(*) AS count, COUNT(DISTINCT src_ip) AS sources
    FROM events
    WHERE kind IN ('command.input', 'http.request') AND command IS NOT NULL
      AND ts >= $1 AND ts <= $2 AND src_ip = $3::inet
    GROUP BY command
    ORDER BY count DESC, command NULLS FIRST
    LIMIT $4";
const ATTACKER_DOWNLOADS: &str = "
    SELECT sha256, COUNT(*) AS count, COUNT(*) FILTER (WHERE kind = 'file.upload') AS uploads,
           MIN(ts) AS first_seen, MAX(ts) AS last_seen, MAX(size) AS size,
           array_agg(DISTINCT host(src_ip)) AS src_ips,
           array_agg(DISTINCT url) AS urls,
           array_agg(DISTINCT filename) AS filenames
    FROM events
    WHERE sha256 IS NOT NULL AND kind IN ('file.download', 'file.upload')
      AND ts >= $1 AND ts <= $2
      AND src_ip = $3::inet
    GROUP BY sha256
    ORDER BY count DESC, last_seen DESC, sha256
    LIMIT $4";
const ATTACKER_ENRICHMENTS: &str = "
    SELECT en.doc::text AS enrichment
    FROM events e JOIN enrichments en ON en.id = e.enrichment_id
    WHERE e.ts >= $1 AND e.ts <= $2 AND e.src_ip = $3::inet
    GROUP BY en.id
    ORDER BY MAX(e.ts) DESC, en.doc::text COLLATE \"C\"
    LIMIT $4";

pub(super) async fn find_event(
    store: &PostgresStore,
    c: &mut PgConnection,
    id: EventId,
) -> Result<Option<Event>, StoreError> {
    let row = sqlx::query(&format!("{EVENT_SELECT} WHERE e.id = $1"))
        .persistent(store.options.prepared_statements)
        .bind(id.as_uuid())
        .fetch_optional(&mut *c)
        .await
        .map_err(database_error)?;
    row.map(|row| event_from_row(&row)).transpose()
}

impl PostgresStore {
    /// Runs a query whose `$1` is the window's start, `$2` its row limit, `$3` its end.
    async fn windowed(&self, window: Window, sql: &str) -> Result<Vec<PgRow>, StoreError> {
        window.check()?;
        let mut c = self.read().await?;
        let rows = sqlx::query(sql)
            .persistent(self.options.prepared_statements)
            .bind(since(&window))
            .bind(i64::from(window.limit))
            .bind(until(&window))
            .fetch_all(&mut *c)
            .await
            .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        Ok(rows)
    }

    /// How to answer `window` ([`Window::span`]), in the reading transaction `c`.
    async fn span(&self, c: &mut PgConnection, window: Window) -> Result<Span, StoreError> {
        let (oldest, newest): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT (SELECT MIN(ts) FROM events), (SELECT MAX(ts) FROM events)")
                .persistent(self.options.prepared_statements)
                .fetch_one(&mut *c)
                .await
                .map_err(database_error)?;
        Ok(window.span(
            oldest.map(|t| t.timestamp_micros()),
            newest.map(|t| t.timestamp_micros()),
        ))
    }

    /// Runs one of the window queries over the events (`$1` start, `$2` limit, `$3` end).
    async fn between(
        &self,
        c: &mut PgConnection,
        sql: &str,
        since: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<PgRow>, StoreError> {
        sqlx::query(sql)
            .persistent(self.options.prepared_statements)
            .bind(pg_time(since))
            .bind(limit)
            .bind(pg_time(until))
            .fetch_all(&mut *c)
            .await
            .map_err(database_error)
    }

    /// Fills the labels of `commands` seen at or after `since` from the folded pairs.
    async fn labels_since(
        &self,
        c: &mut PgConnection,
        commands: &mut [CommandCount],
        since: i64,
    ) -> Result<(), StoreError> {
        let labels = sqlx::query_as(
            "SELECT command, label, last_seen FROM command_labels
             WHERE command = ANY($1) AND last_seen >= $2",
        )
        .persistent(self.options.prepared_statements)
        .bind(command_list(commands))
        .bind(pg_time(since))
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        attach_labels(commands, labels_micros(labels));
        Ok(())
    }

    async fn attacker_rows(
        &self,
        c: &mut PgConnection,
        sql: &str,
        summary: &AttackerSummary,
    ) -> Result<Vec<PgRow>, StoreError> {
        sqlx::query(sql)
            .persistent(self.options.prepared_statements)
            .bind(pg_time(summary.first_seen.as_micros()))
            .bind(pg_time(summary.last_seen.as_micros()))
            .bind(summary.src_ip.to_string())
            .bind(i64::from(MAX_DETAIL_ROWS))
            .fetch_all(&mut *c)
            .await
            .map_err(database_error)
    }
}

#[async_trait]
impl EventQueries for PostgresStore {
    async fn sessions(&self, window: Window) -> Result<Vec<SessionSummary>, StoreError> {
        self.refresh_summaries().await?;
        let rows = self
            .windowed(
                window,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE last_seen >= $1 AND started < $3
                     ORDER BY seq DESC LIMIT $2"
                ),
            )
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn overview(&self, window: Window) -> Result<WindowOverview, StoreError> {
        self.refresh_summaries().await?;
        window.check()?;
        let mut c = self.read().await?;
        let since = match self.span(&mut c, window).await? {
            Span::Between { .. } => {
                drop(c);
                return crate::query::derived_overview(self, window).await;
            }
            Span::AllTime => i64::MIN,
            Span::Since { since, .. } => since,
        };
        let limit = i64::from(window.limit);
        let addresses: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM attackers WHERE last_seen >= $1")
                .persistent(self.options.prepared_statements)
                .bind(pg_time(since))
                .fetch_one(&mut *c)
                .await
                .map_err(database_error)?;
        // The top countries and networks of the addresses active since `since`.
        let spread: Vec<(String, String, i64)> = sqlx::query_as(
            "(SELECT 'country', country, COUNT(*) AS n FROM attackers
              WHERE last_seen >= $1 AND country IS NOT NULL
              GROUP BY country ORDER BY n DESC, country LIMIT $2)
             UNION ALL
             (SELECT 'asn', asn::text, COUNT(*) AS n FROM attackers
              WHERE last_seen >= $1 AND asn IS NOT NULL
              GROUP BY asn ORDER BY n DESC, asn LIMIT $2)",
        )
        .persistent(self.options.prepared_statements)
        .bind(pg_time(since))
        .bind(limit)
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        // The (kind, ts) index: a window's client versions are a few percent of its events.
        let versions: Vec<(String, i64)> = sqlx::query_as(
            "SELECT version, COUNT(*) AS n
             FROM (SELECT doc->'data'->>'version' AS version FROM events
                   WHERE kind = 'client.version' AND ts >= $1 AND ts < $2) AS v
             WHERE version IS NOT NULL
             GROUP BY version ORDER BY n DESC, version COLLATE \"C\" LIMIT $3",
        )
        .persistent(self.options.prepared_statements)
        .bind(pg_time(window.since_micros()))
        .bind(pg_time(window.until_micros()))
        .bind(limit)
        .fetch_all(&mut *c)
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
        self.refresh_summaries().await?;
        window.check()?;
        let limit = i64::from(window.limit);
        let mut c = self.read().await?;
        let rows = match self.span(&mut c, window).await? {
            Span::AllTime => {
                sqlx::query(&format!(
                    "SELECT {ATTACKER_COLUMNS}
                     FROM (SELECT * FROM attackers
                           ORDER BY events DESC, host(src_ip) COLLATE \"C\" LIMIT $1) AS a
                     ORDER BY a.events DESC, host(a.src_ip) COLLATE \"C\""
                ))
                .persistent(self.options.prepared_statements)
                .bind(limit)
                .fetch_all(&mut *c)
                .await
            }
            Span::Since { since, first_hour } => {
                // Sessions counted for the top rows only, after the limit.
                sqlx::query(
                    "WITH top AS (
                         SELECT src_ip, SUM(events)::bigint AS events,
                                SUM(login_attempts)::bigint AS login_attempts,
                                SUM(commands)::bigint AS commands,
                                MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen,
                                MAX(country) AS country, MAX(asn) AS asn
                         FROM (SELECT src_ip, events, login_attempts, commands, first_seen,
                                      last_seen, country, asn
                               FROM attackers_hourly WHERE hour >= $1
                               UNION ALL
                               SELECT src_ip, 1, (kind = 'login.attempt')::int,
                                      (kind = 'command.input')::int, ts, ts, country, asn
                               FROM events WHERE ts >= $2 AND ts < $1) AS r
                         GROUP BY src_ip
                         ORDER BY events DESC, host(src_ip) COLLATE \"C\"
                         LIMIT $3)
                     SELECT host(src_ip) AS src_ip, events, login_attempts, commands,
                            first_seen, last_seen, country, asn,
                            (SELECT COUNT(*) FROM sessions s
                             WHERE s.src_ip = top.src_ip AND s.last_seen >= $2) AS sessions
                     FROM top
                     ORDER BY events DESC, host(src_ip) COLLATE \"C\"",
                )
                .persistent(self.options.prepared_statements)
                .bind(pg_time(first_hour))
                .bind(pg_time(since))
                .bind(limit)
                .fetch_all(&mut *c)
                .await
            }
            Span::Between { since, until } => {
                sqlx::query(
                    "SELECT host(src_ip) AS src_ip, COUNT(*) AS events,
                            COUNT(DISTINCT session) AS sessions,
                            COUNT(*) FILTER (WHERE kind = 'login.attempt') AS login_attempts,
                            COUNT(*) FILTER (WHERE kind = 'command.input') AS commands,
                            MIN(ts) AS first_seen, MAX(ts) AS last_seen,
                            MAX(country) AS country, MAX(asn) AS asn
                     FROM events
                     WHERE ts >= $2 AND ts < $3
                     GROUP BY src_ip
                     ORDER BY events DESC, host(src_ip) COLLATE \"C\"
                     LIMIT $1",
                )
                .persistent(self.options.prepared_statements)
                .bind(limit)
                .bind(pg_time(since))
                .bind(pg_time(until))
                .fetch_all(&mut *c)
                .await
            }
        }
        .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        rows.iter().map(attacker_from_row).collect()
    }

    async fn credentials(&self, window: Window) -> Result<Vec<CredentialCount>, StoreError> {
        self.refresh_summaries().await?;
        window.check()?;
        let limit = i64::from(window.limit);
        let mut c = self.read().await?;
        let (since, first_hour) = match self.span(&mut c, window).await? {
            Span::Between { since, until } => {
                let rows = self
                    .between(&mut c, CREDENTIALS, since, until, limit)
                    .await?;
                c.commit().await.map_err(database_error)?;
                return rows.iter().map(credential_from_row).collect();
            }
            Span::AllTime => {
                let rows = sqlx::query(
                    "SELECT username, CASE WHEN no_password THEN NULL ELSE password END AS password,
                            attempts, successes, sources
                     FROM credentials_total
                     ORDER BY attempts DESC, username, no_password DESC, password
                     LIMIT $1",
                )
                .persistent(self.options.prepared_statements)
                .bind(limit)
                .fetch_all(&mut *c)
                .await
                .map_err(database_error)?;
                c.commit().await.map_err(database_error)?;
                return rows.iter().map(credential_from_row).collect();
            }
            Span::Since { since, first_hour } => (since, first_hour),
        };
        // The distinct addresses of the top rows only, in the same statement.
        let rows = sqlx::query(
            "WITH top AS (
                 SELECT username, password, no_password, SUM(attempts)::bigint AS attempts,
                        SUM(successes)::bigint AS successes
                 FROM (SELECT username, password, no_password, attempts, successes
                       FROM credentials_hourly WHERE hour >= $1
                       UNION ALL
                       SELECT username, COALESCE(password, ''), password IS NULL, 1,
                              success::int
                       FROM events
                       WHERE kind = 'login.attempt' AND username IS NOT NULL
                         AND ts >= $2 AND ts < $1) AS r
                 GROUP BY username, password, no_password
                 ORDER BY attempts DESC, username, no_password DESC, password
                 LIMIT $3)
             SELECT username, CASE WHEN no_password THEN NULL ELSE password END AS password,
                    attempts, successes,
                    (SELECT COUNT(*) FROM credential_sources p
                     WHERE p.username = top.username AND p.password = top.password
                       AND p.no_password = top.no_password AND p.last_seen >= $2) AS sources
             FROM top
             ORDER BY attempts DESC, username, no_password DESC, top.password",
        )
        .persistent(self.options.prepared_statements)
        .bind(pg_time(first_hour))
        .bind(pg_time(since))
        .bind(limit)
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        rows.iter().map(credential_from_row).collect()
    }

    async fn commands(&self, window: Window) -> Result<Vec<CommandCount>, StoreError> {
        self.refresh_summaries().await?;
        window.check()?;
        let limit = i64::from(window.limit);
        let mut c = self.read().await?;
        let (since, first_hour) = match self.span(&mut c, window).await? {
            Span::Between { since, until } => {
                let rows = self.between(&mut c, COMMANDS, since, until, limit).await?;
                let mut commands = rows
                    .iter()
                    .map(command_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let labels = sqlx::query_as(COMMAND_LABELS_BETWEEN)
                    .persistent(self.options.prepared_statements)
                    .bind(pg_time(since))
                    .bind(pg_time(until))
                    .bind(command_list(&commands))
                    .fetch_all(&mut *c)
                    .await
                    .map_err(database_error)?;
                c.commit().await.map_err(database_error)?;
                attach_labels(&mut commands, labels_micros(labels));
                return Ok(commands);
            }
            Span::AllTime => {
                let rows = sqlx::query(
                    "SELECT command, count, sources FROM commands_total
                     ORDER BY count DESC, command LIMIT $1",
                )
                .persistent(self.options.prepared_statements)
                .bind(limit)
                .fetch_all(&mut *c)
                .await
                .map_err(database_error)?;
                let mut commands = rows
                    .iter()
                    .map(command_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                self.labels_since(&mut c, &mut commands, i64::MIN).await?;
                c.commit().await.map_err(database_error)?;
                return Ok(commands);
            }
            Span::Since { since, first_hour } => (since, first_hour),
        };
        let rows = sqlx::query(
            "WITH top AS (
                 SELECT command, SUM(count)::bigint AS count
                 FROM (SELECT command, count FROM commands_hourly WHERE hour >= $1
                       UNION ALL
                       SELECT command, 1 FROM events
                       WHERE kind IN ('command.input', 'http.request') AND command IS NOT NULL
                         AND ts >= $2 AND ts < $1) AS r
                 GROUP BY command
                 ORDER BY count DESC, command
                 LIMIT $3)
             SELECT command, count,
                    (SELECT COUNT(*) FROM command_sources p
                     WHERE p.command = top.command AND p.last_seen >= $2) AS sources
             FROM top
             ORDER BY count DESC, command",
        )
        .persistent(self.options.prepared_statements)
        .bind(pg_time(first_hour))
        .bind(pg_time(since))
        .bind(limit)
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        let mut commands = rows
            .iter()
            .map(command_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.labels_since(&mut c, &mut commands, since).await?;
        c.commit().await.map_err(database_error)?;
        Ok(commands)
    }

    async fn downloads(&self, window: Window) -> Result<Vec<DownloadSummary>, StoreError> {
        self.refresh_summaries().await?;
        window.check()?;
        let limit = i64::from(window.limit);
        let mut c = self.read().await?;
        let (top, since, first_hour) = match self.span(&mut c, window).await? {
            Span::Between { since, until } => {
                let rows = self.between(&mut c, DOWNLOADS, since, until, limit).await?;
                c.commit().await.map_err(database_error)?;
                return rows.iter().map(download_from_row).collect();
            }
            Span::AllTime => (
                "SELECT sha256, count, uploads, first_seen, last_seen, size FROM downloads_total
                 ORDER BY count DESC, last_seen DESC, sha256 LIMIT $3",
                i64::MIN,
                i64::MIN,
            ),
            Span::Since { since, first_hour } => (
                "SELECT sha256, SUM(count)::bigint AS count, SUM(uploads)::bigint AS uploads,
                        MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen,
                        MAX(size) AS size
                 FROM (SELECT sha256, count, uploads, first_seen, last_seen, size
                       FROM downloads_hourly WHERE hour >= $1
                       UNION ALL
                       SELECT sha256, 1, (kind = 'file.upload')::int, ts, ts, size FROM events
                       WHERE sha256 IS NOT NULL AND kind IN ('file.download', 'file.upload')
                         AND ts >= $2 AND ts < $1) AS r
                 GROUP BY sha256
                 ORDER BY count DESC, last_seen DESC, sha256
                 LIMIT $3",
                since,
                first_hour,
            ),
        };
        let rows = sqlx::query(&ranked_downloads(top))
            .persistent(self.options.prepared_statements)
            .bind(pg_time(first_hour))
            .bind(pg_time(since))
            .bind(limit)
            .fetch_all(&mut *c)
            .await
            .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        rows.iter().map(download_from_row).collect()
    }

    async fn download(&self, sha256: &str) -> Result<DownloadSummary, StoreError> {
        self.refresh_summaries().await?;
        let mut c = self.read().await?;
        let row = sqlx::query(&ranked_downloads(
            "SELECT sha256, count, uploads, first_seen, last_seen, size FROM downloads_total
             WHERE sha256 = $3 AND $1::timestamptz IS NOT NULL",
        ))
        .persistent(self.options.prepared_statements)
        .bind(pg_time(i64::MIN))
        .bind(pg_time(i64::MIN))
        .bind(sha256)
        .fetch_optional(&mut *c)
        .await
        .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        row.as_ref()
            .map(download_from_row)
            .transpose()?
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
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        sqlx::query(
            "INSERT INTO files AS f (sha256, analysed, file_type, mime, file_category, arch,
                                     is_previewable, yara_matches)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (sha256) DO UPDATE SET
                 analysed = EXCLUDED.analysed, file_type = EXCLUDED.file_type,
                 mime = EXCLUDED.mime, file_category = EXCLUDED.file_category,
                 arch = EXCLUDED.arch, is_previewable = EXCLUDED.is_previewable,
                 yara_matches = EXCLUDED.yara_matches
             WHERE f.analysed IS NULL OR EXCLUDED.analysed >= f.analysed",
        )
        .persistent(self.options.prepared_statements)
        .bind(sha256)
        .bind(pg_time(analysed.as_micros()))
        .bind(&analysis.kind.file_type)
        .bind(&analysis.kind.mime)
        .bind(analysis.kind.category.as_str())
        .bind(&analysis.kind.arch)
        .bind(analysis.kind.is_previewable)
        .bind(yara)
        .execute(&mut *tx)
        .await
        .map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        Ok(())
    }

    async fn position(&self) -> Result<Option<u64>, StoreError> {
        let mut c = self.read().await?;
        let (position, called): (i64, bool) =
            sqlx::query_as("SELECT last_value, is_called FROM hpti_position")
                .persistent(self.options.prepared_statements)
                .fetch_one(&mut *c)
                .await
                .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        Ok(Some(if called {
            u64::try_from(position).unwrap_or(0)
        } else {
            0
        }))
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        let mut c = self.read().await?;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM events")
            .persistent(self.options.prepared_statements)
            .fetch_one(&mut *c)
            .await
            .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        count(&row, "n")
    }

    async fn events(
        &self,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<EventPage, StoreError> {
        window.check()?;
        filter.check()?;
        let after = after.map(Cursor::position).transpose()?;
        let mut sql = QueryBuilder::<Postgres>::new(EVENT_SELECT);
        sql.push(" WHERE e.ts >= ")
            .push_bind(since(&window))
            .push(" AND e.ts < ")
            .push_bind(until(&window));
        if let Some(ip) = filter.src_ip {
            sql.push(" AND e.src_ip = ")
                .push_bind(ip.to_string())
                .push("::inet");
        }
        for (column, value) in [
            ("e.session", &filter.session),
            ("e.sensor", &filter.sensor),
            ("e.protocol", &filter.protocol),
            ("e.kind", &filter.kind),
            ("e.command", &filter.command),
        ] {
            if let Some(value) = value {
                sql.push(format!(" AND {column} = "))
                    .push_bind(value.clone());
            }
        }
        if let Some((time, id)) = after {
            let time = pg_time(time.as_micros());
            // The plain bound first, for the index (and partition pruning).
            sql.push(" AND e.ts <= ")
                .push_bind(time)
                .push(" AND (e.ts < ")
                .push_bind(time)
                .push(" OR (e.ts = ")
                .push_bind(time)
                .push(" AND e.id < ")
                .push_bind(*id.as_uuid())
                .push("))");
        }
        sql.push(" ORDER BY e.ts DESC, e.id DESC LIMIT ")
            .push_bind(i64::from(window.limit) + 1);
        let mut c = self.read().await?;
        let rows = sql
            .build()
            .persistent(self.options.prepared_statements)
            .fetch_all(&mut *c)
            .await
            .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventPage::from_overfetch(events, window.limit))
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
            self.refresh_summaries().await?;
            let mut c = self.read().await?;
            let from = match self.span(&mut c, window).await? {
                Span::AllTime => Some((i64::MIN, i64::MIN)),
                Span::Since { since, first_hour } => Some((since, first_hour)),
                Span::Between { .. } => None,
            };
            if let Some((since, first_hour)) = from {
                let kind_filter = if kind.is_some() { " AND kind = $4" } else { "" };
                let sql = format!(
                    "SELECT t - (((t % $3) + $3) % $3) AS bucket, kind, SUM(n)::bigint AS n
                     FROM (SELECT (EXTRACT(EPOCH FROM hour) * 1000000)::bigint AS t, kind,
                                  count AS n
                           FROM kinds_hourly WHERE hour >= $2{kind_filter}
                           UNION ALL
                           SELECT (EXTRACT(EPOCH FROM ts) * 1000000)::bigint, kind, 1
                           FROM events WHERE ts >= $1 AND ts < $2{kind_filter}) AS r
                     GROUP BY bucket, kind"
                );
                let mut query = sqlx::query(&sql)
                    .persistent(self.options.prepared_statements)
                    .bind(pg_time(since))
                    .bind(pg_time(first_hour))
                    .bind(interval_micros);
                if let Some(kind) = kind {
                    query = query.bind(kind.to_owned());
                }
                let rows = query.fetch_all(&mut *c).await.map_err(database_error)?;
                c.commit().await.map_err(database_error)?;
                return buckets_from_rows(&rows);
            }
            c.commit().await.map_err(database_error)?;
        }
        // Microseconds since the epoch, floored as `bucket_start` does (`date_bin` would
        // need its origin and interval as PostgreSQL intervals, months aside).
        let mut sql = QueryBuilder::<Postgres>::new("SELECT b.us - (((b.us % ");
        sql.push_bind(interval_micros)
            .push(") + ")
            .push_bind(interval_micros)
            .push(") % ")
            .push_bind(interval_micros)
            .push(
                ") AS bucket, b.kind, COUNT(*) AS n FROM (SELECT (EXTRACT(EPOCH FROM e.ts) * 1000000)::bigint AS us, e.kind FROM events e WHERE e.ts >= ",
            )
            .push_bind(since(&window))
            .push(" AND e.ts < ")
            .push_bind(until(&window));
        if let Some(kind) = kind {
            sql.push(" AND e.kind = ").push_bind(kind.to_owned());
        }
        sql.push(") b GROUP BY bucket, b.kind");
        let mut c = self.read().await?;
        let rows = sql
            .build()
            .persistent(self.options.prepared_statements)
            .fetch_all(&mut *c)
            .await
            .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        buckets_from_rows(&rows)
    }

    async fn event(&self, id: EventId) -> Result<Event, StoreError> {
        self.find_event(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("event {id}")))
    }

    async fn session(&self, session: &str) -> Result<SessionDetail, StoreError> {
        self.refresh_summaries().await?;
        let mut c = self.read().await?;
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE session = $1"
        ))
        .persistent(self.options.prepared_statements)
        .bind(session)
        .fetch_optional(&mut *c)
        .await
        .map_err(database_error)?
        .ok_or_else(|| StoreError::NotFound(format!("session {session:?}")))?;
        let summary = session_from_row(&row)?;
        let rows = sqlx::query(&format!(
            "{EVENT_SELECT}
             WHERE e.session = $3 AND e.ts >= $1 AND e.ts <= $2
             ORDER BY e.ts, e.id
             LIMIT $4"
        ))
        .persistent(self.options.prepared_statements)
        .bind(pg_time(summary.started.as_micros()))
        .bind(pg_time(summary.last_seen.as_micros()))
        .bind(session)
        .bind(MAX_TIMELINE_EVENTS as i64 + 1)
        .fetch_all(&mut *c)
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
        let mut c = self.read().await?;
        let row = sqlx::query(&format!(
            "SELECT {ATTACKER_COLUMNS} FROM attackers a WHERE a.src_ip = $1::inet"
        ))
        .persistent(self.options.prepared_statements)
        .bind(&address)
        .fetch_optional(&mut *c)
        .await
        .map_err(database_error)?
        .ok_or_else(|| StoreError::NotFound(format!("address {ip}")))?;
        let summary = attacker_from_row(&row)?;
        let sessions = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE src_ip = $1::inet
             ORDER BY seq DESC LIMIT $2"
        ))
        .persistent(self.options.prepared_statements)
        .bind(&address)
        .bind(i64::from(MAX_DETAIL_ROWS))
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?
        .iter()
        .map(session_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let enrichments = self
            .attacker_rows(&mut c, ATTACKER_ENRICHMENTS, &summary)
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
            .attacker_rows(&mut c, ATTACKER_CREDENTIALS, &summary)
            .await?
            .iter()
            .map(credential_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut commands = self
            .attacker_rows(&mut c, ATTACKER_COMMANDS, &summary)
            .await?
            .iter()
            .map(command_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let labels = sqlx::query_as(
            "SELECT e.command, l.label, MAX(e.ts)
             FROM events e, json_array_elements_text(CASE WHEN json_typeof(e.doc->'data'->'labels') = 'array'
                                           THEN e.doc->'data'->'labels' END) AS l(label)
             WHERE e.kind = 'http.request' AND e.ts >= $1 AND e.ts <= $2
               AND e.src_ip = $3::inet AND e.command = ANY($4)
                      GROUP BY 1, 2",
        )
        .persistent(self.options.prepared_statements)
        .bind(pg_time(summary.first_seen.as_micros()))
        .bind(pg_time(summary.last_seen.as_micros()))
        .bind(summary.src_ip.to_string())
        .bind(command_list(&commands))
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        attach_labels(&mut commands, labels_micros(labels));
        let downloads = self
            .attacker_rows(&mut c, ATTACKER_DOWNLOADS, &summary)
            .await?
            .iter()
            .map(attacker_download_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        c.commit().await.map_err(database_error)?;
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
