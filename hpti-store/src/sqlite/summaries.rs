//! Folding events into the summary tables (sessions, attackers, and the rollups the
//! rankings read) of the summaries database.
//!
//! The folder attaches the events database read-only as `ev` and, in one transaction of
//! the summaries database, aggregates the events after its cursor and advances the cursor:
//! every event is folded in exactly once, whatever crashes in between. Running beside the
//! events' writer (another file, another lock), it keeps per-session and per-address
//! upserts off the event write path.

use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use super::database_error;
use crate::error::StoreError;

/// Most events folded in one transaction. The GROUP BY sorts the rows it folds (with the
/// `doc` the aggregates read) in memory, so the step bounds that memory; a backlog is
/// worked off in more steps, not bigger ones.
const FOLD_STEP: i64 = 16_384;
/// How often the background folder looks for new events.
pub(super) const FOLD_INTERVAL: Duration = Duration::from_millis(200);

const FOLD_SESSIONS: &str = "
    INSERT INTO sessions (session, sensor, protocol, src_ip, src_port, dst_ip, dst_port,
                          started, last_seen, duration_ms, client_version,
                          events, login_attempts, logins_ok, commands, downloads)
    SELECT session, MIN(sensor), MIN(protocol), MIN(src_ip), MIN(src_port), MIN(dst_ip), MIN(dst_port),
           MIN(ts), MAX(ts),
           MAX(duration_ms), MAX(client_version),
           COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'login.attempt' AND success = 1),
           SUM(kind = 'command.input'), SUM(kind = 'file.download')
    FROM fold_batch
    WHERE session IS NOT NULL
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

/// The UTC day of the timestamp expression `$ts` (floored, for times before 1970 too).
macro_rules! day_of {
    ($ts:literal) => {
        concat!(
            "(",
            $ts,
            " - ((",
            $ts,
            " % 86400000000) + 86400000000) % 86400000000)"
        )
    };
}

/// Before the sessions are folded: each of the step's sessions with the day of its last
/// event before (`NULL` for a new session) and after the step, for
/// `address_sessions_daily`.
const STAGE_SESSION_MOVES: &str = concat!(
    "INSERT INTO fold_session_moves (src_ip, old_day, new_day)
     SELECT COALESCE(s.src_ip, b.src_ip), ",
    day_of!("s.last_seen"),
    ", ",
    day_of!("MAX(b.last_ts, COALESCE(s.last_seen, b.last_ts))"),
    "
     FROM (SELECT session, MIN(src_ip) AS src_ip, MAX(ts) AS last_ts FROM fold_batch
           WHERE session IS NOT NULL GROUP BY session) AS b
     LEFT JOIN sessions s ON s.session = b.session"
);

/// New sessions, and sessions whose last event moved to a later day, counted on that day.
const FOLD_ADDRESS_SESSIONS_ARRIVED: &str = "
    INSERT INTO address_sessions_daily (src_ip, day, sessions)
    SELECT src_ip, new_day, COUNT(*) FROM fold_session_moves
    WHERE old_day IS NULL OR old_day <> new_day
    GROUP BY 1, 2
    ON CONFLICT (src_ip, day) DO UPDATE SET sessions = sessions + excluded.sessions";

/// ... and taken off the day they were last seen on before.
const FOLD_ADDRESS_SESSIONS_LEFT: &str = "
    UPDATE address_sessions_daily SET sessions = sessions - moved.n
    FROM (SELECT src_ip, old_day, COUNT(*) AS n FROM fold_session_moves
          WHERE old_day IS NOT NULL AND old_day <> new_day
          GROUP BY 1, 2) AS moved
    WHERE address_sessions_daily.src_ip = moved.src_ip
      AND address_sessions_daily.day = moved.old_day";

const FOLD_ATTACKERS: &str = "
    INSERT INTO attackers (src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn)
    SELECT src_ip, COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'command.input'),
           MIN(ts), MAX(ts), MAX(country), MAX(asn)
    FROM fold_batch
    GROUP BY src_ip
    ON CONFLICT (src_ip) DO UPDATE SET
        events = events + excluded.events,
        login_attempts = login_attempts + excluded.login_attempts,
        commands = commands + excluded.commands,
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen),
        country = COALESCE(excluded.country, country),
        asn = COALESCE(excluded.asn, asn)";

/// The step's events, copied once (the columns the folds read, the hour and what the
/// sessions take from `doc` computed once) from the wide events rows into a table of the
/// connection's own, so that each fold below reads a narrow table in memory instead of
/// the events again. `?1` and `?2` bound the `seq` range.
const STAGE_BATCH: &str = "
    INSERT INTO fold_batch
    SELECT ts, (ts - ((ts % 3600000000) + 3600000000) % 3600000000),
           sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, kind,
           username, password, success, command, url, sha256, size, country, asn,
           CASE WHEN kind = 'session.closed' THEN json_extract(doc, '$.data.duration_ms') END,
           CASE WHEN kind = 'client.version' THEN json_extract(doc, '$.data.version') END,
           CASE WHEN sha256 IS NOT NULL THEN enrichment_id END,
           filename,
           CASE WHEN kind = 'http.request' AND command IS NOT NULL
                THEN json_extract(doc, '$.data.labels') END,
           seq, enrichment_id,
           -- `instr` first: parsing every unenriched event's doc would double the step.
           CASE WHEN enrichment_id IS NULL AND instr(doc, '\"enrichment\"') > 0
                THEN json_extract(doc, '$.enrichment') END
    FROM ev.events
    WHERE seq > ?1 AND seq <= ?2";

const CREATE_BATCH: &str = "
    CREATE TEMP TABLE IF NOT EXISTS fold_batch (
        ts INTEGER, hour INTEGER, sensor TEXT, protocol TEXT, session TEXT, src_ip TEXT,
        src_port INTEGER, dst_ip TEXT, dst_port INTEGER, kind TEXT, username TEXT,
        password TEXT, success INTEGER, command TEXT, url TEXT, sha256 TEXT, size INTEGER,
        country TEXT, asn INTEGER, duration_ms INTEGER, client_version TEXT,
        enrichment_id INTEGER, filename TEXT, labels TEXT, seq INTEGER,
        address_enrichment_id INTEGER, legacy_enrichment TEXT);
    CREATE INDEX IF NOT EXISTS temp.fold_batch_sha256 ON fold_batch (sha256)
        WHERE sha256 IS NOT NULL;
    DELETE FROM fold_batch;
    CREATE TEMP TABLE IF NOT EXISTS fold_session_moves (
        src_ip TEXT, old_day INTEGER, new_day INTEGER);
    DELETE FROM fold_session_moves";

/// The hour of the staged rows.
macro_rules! hour_of_ts {
    () => {
        "hour"
    };
}

/// The UTC day of the staged rows (floored, for times before 1970 too).
macro_rules! day_of_ts {
    () => {
        "(hour - ((hour % 86400000000) + 86400000000) % 86400000000)"
    };
}

/// The staged rows of one kind.
macro_rules! batch {
    ($kind:literal) => {
        concat!(" FROM fold_batch e WHERE kind = '", $kind, "'")
    };
}

/// The staged commands: command lines and HTTP attack requests (the `command` column holds
/// [`hpti_core::event::EventKind::attempted_command`]).
macro_rules! commands {
    () => {
        " FROM fold_batch e WHERE command IS NOT NULL"
    };
}

/// The staged captured files: downloads and uploads.
macro_rules! captures {
    () => {
        " FROM fold_batch e WHERE kind IN ('file.download', 'file.upload') AND sha256 IS NOT NULL"
    };
}

/// The upsert of a credentials rollup per `$period` (`hour` or `day`), whose bucket of
/// the staged rows is `$bucket`.
macro_rules! fold_credentials_by {
    ($table:literal, $period:literal, $($bucket:tt)*) => {
        concat!(
            "INSERT INTO ", $table, " (", $period,
            ", username, password, no_password, attempts, successes) SELECT ",
            $($bucket)*,
            ", username, COALESCE(password, ''), password IS NULL, COUNT(*), SUM(success IS 1)",
            batch!("login.attempt"),
            " AND username IS NOT NULL
             GROUP BY 1, 2, 3, 4
             ON CONFLICT (", $period, ", username, password, no_password) DO UPDATE SET
                 attempts = attempts + excluded.attempts,
                 successes = successes + excluded.successes"
        )
    };
}

const FOLD_CREDENTIALS_HOURLY: &str =
    fold_credentials_by!("credentials_hourly", "hour", hour_of_ts!());
const FOLD_CREDENTIALS_DAILY: &str = fold_credentials_by!("credentials_daily", "day", day_of_ts!());

// Before the pairs: an address counts as a new source of a credential when its pair is
// not there yet (one folder at a time holds the summaries' write lock).
const FOLD_CREDENTIALS_TOTAL: &str = concat!(
    "INSERT INTO credentials_total (username, password, no_password, attempts, successes, sources)
     SELECT username, COALESCE(password, ''), password IS NULL, COUNT(*), SUM(success IS 1),
            COUNT(DISTINCT CASE WHEN NOT EXISTS (
                SELECT 1 FROM credential_sources p
                WHERE p.username = e.username AND p.password = COALESCE(e.password, '')
                  AND p.no_password = (e.password IS NULL) AND p.src_ip = e.src_ip)
            THEN src_ip END)",
    batch!("login.attempt"),
    " AND username IS NOT NULL
     GROUP BY 1, 2, 3
     ON CONFLICT (username, password, no_password) DO UPDATE SET
         attempts = attempts + excluded.attempts,
         successes = successes + excluded.successes,
         sources = sources + excluded.sources"
);

const FOLD_CREDENTIAL_SOURCES: &str = concat!(
    "INSERT INTO credential_sources (username, password, no_password, src_ip, last_seen,
                                     attempts, successes)
     SELECT username, COALESCE(password, ''), password IS NULL, src_ip, MAX(ts), COUNT(*),
            SUM(success IS 1)",
    batch!("login.attempt"),
    " AND username IS NOT NULL
     GROUP BY 1, 2, 3, 4
     ON CONFLICT (username, password, no_password, src_ip) DO UPDATE SET
         last_seen = MAX(last_seen, excluded.last_seen),
         attempts = attempts + excluded.attempts,
         successes = successes + excluded.successes"
);

/// The upsert of a commands rollup per `$period`, as `fold_credentials_by`.
macro_rules! fold_commands_by {
    ($table:literal, $period:literal, $($bucket:tt)*) => {
        concat!(
            "INSERT INTO ", $table, " (", $period, ", command, count) SELECT ",
            $($bucket)*,
            ", command, COUNT(*)",
            commands!(),
            " GROUP BY 1, 2
             ON CONFLICT (", $period, ", command) DO UPDATE SET count = count + excluded.count"
        )
    };
}

const FOLD_COMMANDS_HOURLY: &str = fold_commands_by!("commands_hourly", "hour", hour_of_ts!());
const FOLD_COMMANDS_DAILY: &str = fold_commands_by!("commands_daily", "day", day_of_ts!());

const FOLD_COMMANDS_TOTAL: &str = concat!(
    "INSERT INTO commands_total (command, count, sources)
     SELECT command, COUNT(*),
            COUNT(DISTINCT CASE WHEN NOT EXISTS (
                SELECT 1 FROM command_sources p
                WHERE p.command = e.command AND p.src_ip = e.src_ip)
            THEN src_ip END)",
    commands!(),
    "
     GROUP BY 1
     ON CONFLICT (command) DO UPDATE SET
         count = count + excluded.count,
         sources = sources + excluded.sources"
);

const FOLD_COMMAND_SOURCES: &str = concat!(
    "INSERT INTO command_sources (command, src_ip, last_seen, count)
     SELECT command, src_ip, MAX(ts), COUNT(*)",
    commands!(),
    "
     GROUP BY 1, 2
     ON CONFLICT (command, src_ip) DO UPDATE SET
         last_seen = MAX(last_seen, excluded.last_seen),
         count = count + excluded.count"
);

const FOLD_CLIENT_VERSIONS_HOURLY: &str = concat!(
    "INSERT INTO client_versions_hourly (hour, version, sessions)
     SELECT hour, client_version, COUNT(*)",
    batch!("client.version"),
    " AND client_version IS NOT NULL
     GROUP BY 1, 2
     ON CONFLICT (hour, version) DO UPDATE SET sessions = sessions + excluded.sessions"
);

/// Each event's hour, address and time (an address's events in time order). `OR IGNORE`
/// (here and for the captures): a migration that folds everything again from the start
/// need not know these tables.
const FOLD_ADDRESS_EVENTS: &str = "INSERT OR IGNORE INTO address_events (hour, src_ip, ts, seq)
     SELECT hour, src_ip, ts, seq FROM fold_batch";

const FOLD_ADDRESS_CAPTURES: &str = concat!(
    "INSERT OR IGNORE INTO address_captures (src_ip, seq) SELECT src_ip, seq",
    captures!()
);

/// The classifier's labels of each address's HTTP attack requests.
const FOLD_ADDRESS_COMMAND_LABELS: &str = "
    INSERT INTO address_command_labels (src_ip, command, label, last_seen)
    SELECT e.src_ip, e.command, l.value, MAX(e.ts)
    FROM fold_batch e, json_each(e.labels) l
    WHERE e.labels IS NOT NULL AND e.command IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (src_ip, command, label) DO UPDATE SET
        last_seen = MAX(last_seen, excluded.last_seen)";

const FOLD_ADDRESS_ENRICHMENTS: &str = "
    INSERT INTO address_enrichments (src_ip, enrichment_id, legacy_doc, last_seen)
    SELECT src_ip, COALESCE(address_enrichment_id, 0), COALESCE(legacy_enrichment, ''), MAX(ts)
    FROM fold_batch
    WHERE address_enrichment_id IS NOT NULL OR legacy_enrichment IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (src_ip, enrichment_id, legacy_doc) DO UPDATE SET
        last_seen = MAX(last_seen, excluded.last_seen)";

/// The classifier's labels of the HTTP attack requests among the commands.
const FOLD_COMMAND_LABELS: &str = "
    INSERT INTO command_labels (command, label, last_seen)
    SELECT e.command, l.value, MAX(e.ts)
    FROM fold_batch e, json_each(e.labels) l
    WHERE e.labels IS NOT NULL AND e.command IS NOT NULL
    GROUP BY 1, 2
    ON CONFLICT (command, label) DO UPDATE SET last_seen = excluded.last_seen
        WHERE excluded.last_seen > last_seen";

const FOLD_DOWNLOADS_HOURLY: &str = concat!(
    "INSERT INTO downloads_hourly (hour, sha256, count, uploads, first_seen, last_seen, size)
     SELECT ",
    hour_of_ts!(),
    ", sha256, COUNT(*), SUM(kind = 'file.upload'), MIN(ts), MAX(ts), MAX(size)",
    captures!(),
    "
     GROUP BY 1, 2
     ON CONFLICT (hour, sha256) DO UPDATE SET
         count = count + excluded.count,
         uploads = uploads + excluded.uploads,
         first_seen = MIN(first_seen, excluded.first_seen),
         last_seen = MAX(last_seen, excluded.last_seen),
         size = COALESCE(MAX(size, excluded.size), size, excluded.size)"
);

const FOLD_DOWNLOADS_TOTAL: &str = concat!(
    "INSERT INTO downloads_total (sha256, count, uploads, first_seen, last_seen, size,
                                  last_session, last_src_ip, last_url)
     SELECT sha256, count, uploads, first_seen, last_seen, size, json_extract(latest, '$[0]'),
            json_extract(latest, '$[1]'), json_extract(latest, '$[2]')
     FROM (SELECT sha256, COUNT(*) AS count, SUM(kind = 'file.upload') AS uploads,
                  MIN(ts) AS first_seen, MAX(ts) AS last_seen, MAX(size) AS size,
                  -- The batch's latest capture of the file (of two at one instant, the
                  -- one stored last).
                  (SELECT json_array(x.session, x.src_ip, x.url) FROM fold_batch x
                   WHERE x.sha256 = e.sha256 AND x.kind IN ('file.download', 'file.upload')
                   ORDER BY x.ts DESC, x.rowid DESC LIMIT 1) AS latest",
    captures!(),
    "
     GROUP BY 1)
     WHERE true
     ON CONFLICT (sha256) DO UPDATE SET
         count = count + excluded.count,
         uploads = uploads + excluded.uploads,
         first_seen = MIN(first_seen, excluded.first_seen),
         last_seen = MAX(last_seen, excluded.last_seen),
         size = COALESCE(MAX(size, excluded.size), size, excluded.size),
         last_session = CASE WHEN excluded.last_seen >= last_seen
                             THEN excluded.last_session ELSE last_session END,
         last_src_ip = CASE WHEN excluded.last_seen >= last_seen
                            THEN excluded.last_src_ip ELSE last_src_ip END,
         last_url = CASE WHEN excluded.last_seen >= last_seen
                         THEN excluded.last_url ELSE last_url END"
);

/// The latest analysis of each file in the batch (`Enrichment.file` of its events).
const FOLD_FILE_ANALYSES: &str = "
    INSERT INTO files (sha256, analysed, file_type, mime, file_category, arch,
                       is_previewable, yara_matches)
    SELECT b.sha256, MAX(b.ts), json_extract(n.doc, '$.file.file_type'),
           json_extract(n.doc, '$.file.mime'), json_extract(n.doc, '$.file.file_category'),
           json_extract(n.doc, '$.file.arch'), json_extract(n.doc, '$.file.is_previewable'),
           COALESCE(json_extract(n.doc, '$.file.yara_matches'), '[]')
    FROM fold_batch b JOIN ev.enrichments n ON n.id = b.enrichment_id
    WHERE b.enrichment_id IS NOT NULL AND json_extract(n.doc, '$.file') IS NOT NULL
    GROUP BY b.sha256
    ON CONFLICT (sha256) DO UPDATE SET
        analysed = excluded.analysed, file_type = excluded.file_type,
        mime = excluded.mime, file_category = excluded.file_category, arch = excluded.arch,
        is_previewable = excluded.is_previewable, yara_matches = excluded.yara_matches
    WHERE analysed IS NULL OR excluded.analysed >= analysed";

/// The latest VirusTotal file report of each file in the batch.
const FOLD_FILE_VERDICTS: &str = "
    INSERT INTO files (sha256, vt_checked, vt_detections, vt_total, vt_threat_label)
    SELECT b.sha256, MAX(b.ts), json_extract(r.value, '$.malicious'),
           json_extract(r.value, '$.total'), json_extract(r.value, '$.details.threat_label')
    FROM fold_batch b JOIN ev.enrichments n ON n.id = b.enrichment_id,
         json_each(n.doc, '$.reputation') r
    WHERE b.enrichment_id IS NOT NULL
      AND json_extract(r.value, '$.source') = 'virustotal'
      AND json_extract(r.value, '$.details.type') = 'file'
    GROUP BY b.sha256
    ON CONFLICT (sha256) DO UPDATE SET
        vt_checked = excluded.vt_checked, vt_detections = excluded.vt_detections,
        vt_total = excluded.vt_total, vt_threat_label = excluded.vt_threat_label
    WHERE vt_checked IS NULL OR excluded.vt_checked >= vt_checked";

const FOLD_DOWNLOAD_SOURCES: &str = concat!(
    "INSERT INTO download_sources (sha256, src_ip, last_seen) SELECT sha256, src_ip, MAX(ts)",
    captures!(),
    "
     GROUP BY 1, 2
     ON CONFLICT (sha256, src_ip) DO UPDATE SET last_seen = excluded.last_seen
         WHERE excluded.last_seen > last_seen"
);

const FOLD_DOWNLOAD_URLS: &str = concat!(
    "INSERT INTO download_urls (sha256, url, last_seen) SELECT sha256, url, MAX(ts)",
    batch!("file.download"),
    " AND sha256 IS NOT NULL AND url IS NOT NULL
     GROUP BY 1, 2
     ON CONFLICT (sha256, url) DO UPDATE SET last_seen = excluded.last_seen
         WHERE excluded.last_seen > last_seen"
);

const FOLD_UPLOAD_NAMES: &str = concat!(
    "INSERT INTO upload_names (sha256, filename, last_seen) SELECT sha256, filename, MAX(ts)",
    batch!("file.upload"),
    " AND sha256 IS NOT NULL AND filename IS NOT NULL
     GROUP BY 1, 2
     ON CONFLICT (sha256, filename) DO UPDATE SET last_seen = excluded.last_seen
         WHERE excluded.last_seen > last_seen"
);

/// The upsert of an attackers rollup per `$period`, as `fold_credentials_by`.
macro_rules! fold_attackers_by {
    ($table:literal, $period:literal, $($bucket:tt)*) => {
        concat!(
            "INSERT INTO ", $table, " (", $period,
            ", src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn)
             SELECT ",
            $($bucket)*,
            ", src_ip, COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'command.input'),
                    MIN(ts), MAX(ts), MAX(country), MAX(asn)
             FROM fold_batch
             GROUP BY 1, 2
             ON CONFLICT (", $period, ", src_ip) DO UPDATE SET
                 events = events + excluded.events,
                 login_attempts = login_attempts + excluded.login_attempts,
                 commands = commands + excluded.commands,
                 first_seen = MIN(first_seen, excluded.first_seen),
                 last_seen = MAX(last_seen, excluded.last_seen),
                 country = COALESCE(MAX(country, excluded.country), country, excluded.country),
                 asn = COALESCE(MAX(asn, excluded.asn), asn, excluded.asn)"
        )
    };
}

const FOLD_ATTACKERS_HOURLY: &str = fold_attackers_by!("attackers_hourly", "hour", hour_of_ts!());
const FOLD_ATTACKERS_DAILY: &str = fold_attackers_by!("attackers_daily", "day", day_of_ts!());

const FOLD_KINDS_HOURLY: &str = concat!(
    "INSERT INTO kinds_hourly (hour, kind, count) SELECT ",
    hour_of_ts!(),
    ", kind, COUNT(*) FROM fold_batch
     GROUP BY 1, 2
     ON CONFLICT (hour, kind) DO UPDATE SET count = count + excluded.count"
);

/// Every fold of one step, in order (a total before its pairs, the sessions' moves
/// before the sessions).
const FOLDS: &[&str] = &[
    STAGE_SESSION_MOVES,
    FOLD_SESSIONS,
    FOLD_ADDRESS_SESSIONS_ARRIVED,
    FOLD_ADDRESS_SESSIONS_LEFT,
    FOLD_ATTACKERS,
    FOLD_ATTACKERS_HOURLY,
    FOLD_ATTACKERS_DAILY,
    FOLD_CREDENTIALS_HOURLY,
    FOLD_CREDENTIALS_DAILY,
    FOLD_CREDENTIALS_TOTAL,
    FOLD_CREDENTIAL_SOURCES,
    FOLD_COMMANDS_HOURLY,
    FOLD_COMMANDS_DAILY,
    FOLD_COMMANDS_TOTAL,
    FOLD_COMMAND_SOURCES,
    FOLD_COMMAND_LABELS,
    FOLD_DOWNLOADS_HOURLY,
    FOLD_DOWNLOADS_TOTAL,
    FOLD_DOWNLOAD_SOURCES,
    FOLD_DOWNLOAD_URLS,
    FOLD_UPLOAD_NAMES,
    FOLD_FILE_ANALYSES,
    FOLD_FILE_VERDICTS,
    FOLD_KINDS_HOURLY,
    FOLD_CLIENT_VERSIONS_HOURLY,
    FOLD_ADDRESS_EVENTS,
    FOLD_ADDRESS_CAPTURES,
    FOLD_ADDRESS_COMMAND_LABELS,
    FOLD_ADDRESS_ENRICHMENTS,
];

/// Folds every event stored so far into the summaries; returns how many were folded.
pub(super) async fn fold_all(summaries: &SqlitePool) -> Result<u64, StoreError> {
    let mut folded = 0;
    loop {
        let step = fold_step(summaries).await?;
        folded += step;
        if step == 0 {
            return Ok(folded);
        }
    }
}

/// One bounded fold transaction; returns how many events it folded.
async fn fold_step(summaries: &SqlitePool) -> Result<u64, StoreError> {
    let mut tx = summaries.begin().await.map_err(database_error)?;
    // Take the summaries' write lock before reading the cursor, so that two folders (two
    // hpti processes) serialise instead of folding the same events twice. Not with
    // BEGIN IMMEDIATE: that would also lock the attached events database and stall the
    // events' writer for the whole fold.
    sqlx::query("UPDATE fold_cursor SET folded_seq = folded_seq WHERE id = 1")
        .execute(&mut *tx)
        .await
        .map_err(database_error)?;
    let (cursor,): (i64,) = sqlx::query_as("SELECT folded_seq FROM fold_cursor WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(database_error)?;
    let (latest,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM ev.events")
        .fetch_one(&mut *tx)
        .await
        .map_err(database_error)?;
    if latest <= cursor {
        return Ok(0);
    }
    let upto = latest.min(cursor.saturating_add(FOLD_STEP));
    sqlx::Executor::execute(&mut *tx, CREATE_BATCH)
        .await
        .map_err(database_error)?;
    sqlx::query(STAGE_BATCH)
        .bind(cursor)
        .bind(upto)
        .execute(&mut *tx)
        .await
        .map_err(database_error)?;
    for fold in FOLDS {
        sqlx::query::<Sqlite>(fold)
            .execute(&mut *tx)
            .await
            .map_err(database_error)?;
    }
    sqlx::query("UPDATE fold_cursor SET folded_seq = ?1 WHERE id = 1")
        .bind(upto)
        .execute(&mut *tx)
        .await
        .map_err(database_error)?;
    tx.commit().await.map_err(database_error)?;
    Ok(u64::try_from(upto - cursor).unwrap_or(0))
}

/// Folds new events as they arrive, until the pool is closed.
pub(super) async fn fold_in_background(summaries: SqlitePool) {
    let mut interval = tokio::time::interval(FOLD_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if summaries.is_closed() {
            return;
        }
        if let Err(err) = fold_all(&summaries).await {
            if summaries.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "folding events into the summaries failed; will retry");
        }
    }
}
