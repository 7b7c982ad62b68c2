//! Folding events into the summary tables (sessions, attackers) of the summaries database.
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
           MAX(CASE WHEN kind = 'session.closed' THEN json_extract(doc, '$.data.duration_ms') END),
           MAX(CASE WHEN kind = 'client.version' THEN json_extract(doc, '$.data.version') END),
           COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'login.attempt' AND success = 1),
           SUM(kind = 'command.input'), SUM(kind = 'file.download')
    FROM ev.events
    WHERE seq > ?1 AND seq <= ?2 AND session IS NOT NULL
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

const FOLD_ATTACKERS: &str = "
    INSERT INTO attackers (src_ip, events, login_attempts, commands, first_seen, last_seen, country, asn)
    SELECT src_ip, COUNT(*), SUM(kind = 'login.attempt'), SUM(kind = 'command.input'),
           MIN(ts), MAX(ts), MAX(country), MAX(asn)
    FROM ev.events
    WHERE seq > ?1 AND seq <= ?2
    GROUP BY src_ip
    ON CONFLICT (src_ip) DO UPDATE SET
        events = events + excluded.events,
        login_attempts = login_attempts + excluded.login_attempts,
        commands = commands + excluded.commands,
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen),
        country = COALESCE(excluded.country, country),
        asn = COALESCE(excluded.asn, asn)";

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
    for fold in [FOLD_SESSIONS, FOLD_ATTACKERS] {
        sqlx::query::<Sqlite>(fold)
            .bind(cursor)
            .bind(upto)
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
