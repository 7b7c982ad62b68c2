//! The events' partitions: named by the span they hold (`events_p20260103` for a day,
//! `events_p202601` for a month), created ahead and on demand, dropped whole by retention.

use chrono::{DateTime, Datelike as _, NaiveDate, TimeZone as _, Utc};
use hpti_core::event::Timestamp;
use serde::{Deserialize, Serialize};

use super::{PostgresStore, database_error};
use crate::error::StoreError;
use crate::query::{PartitionStats, RetentionPlan};

/// The time span of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionInterval {
    /// One partition a day (UTC): for busy sensors, and the finest retention.
    #[default]
    Day,
    /// One a month: for quiet ones (fewer, larger tables).
    Month,
}

/// Event times the store accepts: years 1 to 9999, which PostgreSQL and the partition
/// names both hold. Anything else is a broken clock or a forged record.
pub(super) fn out_of_range(time: Timestamp) -> Option<String> {
    let ok = DateTime::from_timestamp_micros(time.as_micros())
        .is_some_and(|t| (1..=9999).contains(&t.year()));
    (!ok).then(|| format!("time {time} is outside the years 1 to 9999"))
}

impl PartitionInterval {
    /// The first day of the partition holding `day`.
    fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the next partition after the one starting at `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Day => start.succ_opt(),
            Self::Month => start.checked_add_months(chrono::Months::new(1)),
        }
    }

    fn name(self, start: NaiveDate) -> String {
        match self {
            Self::Day => format!("events_p{}", start.format("%Y%m%d")),
            Self::Month => format!("events_p{}", start.format("%Y%m")),
        }
    }

    /// The span of a partition this interval names `name`, if it is one.
    fn parse(self, name: &str) -> Option<(NaiveDate, NaiveDate)> {
        let digits = name.strip_prefix("events_p")?;
        let start = match (self, digits.len()) {
            (Self::Day, 8) => NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?,
            (Self::Month, 6) => NaiveDate::parse_from_str(&format!("{digits}01"), "%Y%m%d").ok()?,
            _ => return None,
        };
        Some((start, self.next(start)?))
    }
}

fn micros(day: NaiveDate) -> i64 {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .timestamp_micros()
}

fn day_of(time: Timestamp) -> Option<NaiveDate> {
    DateTime::from_timestamp_micros(time.as_micros()).map(|t| t.date_naive())
}

/// Serialises partition DDL (creation, retention) across writers and hpti processes, for
/// the rest of the transaction.
async fn lock_partitions(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    // Any constant: it only has to be the same for every hpti process.
    sqlx::query("SELECT pg_advisory_xact_lock(7305423112006459001)")
        .persistent(false)
        .execute(tx)
        .await
        .map(drop)
        .map_err(database_error)
}

fn bound(day: NaiveDate) -> String {
    format!("{} 00:00:00+00", day.format("%Y-%m-%d"))
}

impl PostgresStore {
    /// Reads which partitions exist.
    pub(super) async fn load_partitions(&self) -> Result<(), StoreError> {
        let names = self.partition_names().await?;
        let interval = self.options.partition;
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.extend(
            names
                .iter()
                .filter_map(|name| interval.parse(name))
                .map(|(start, _)| micros(start)),
        );
        Ok(())
    }

    async fn partition_names(&self) -> Result<Vec<String>, StoreError> {
        let mut c = self.read().await?;
        let names = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass ORDER BY 1",
        )
        .persistent(false)
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        c.commit().await.map_err(database_error)?;
        Ok(names)
    }

    /// Creates the current partition and `partitions_ahead` more.
    pub(super) async fn create_partitions_ahead(&self) -> Result<(), StoreError> {
        let interval = self.options.partition;
        let mut start = interval.start_of(Utc::now().date_naive());
        let mut starts = vec![start];
        for _ in 0..self.options.partitions_ahead {
            match interval.next(start) {
                Some(next) => {
                    start = next;
                    starts.push(next);
                }
                None => break,
            }
        }
        self.create_partitions(starts).await
    }

    /// Makes sure every partition these times fall into exists.
    pub(super) async fn ensure_partitions(
        &self,
        times: impl Iterator<Item = Timestamp>,
    ) -> Result<(), StoreError> {
        let interval = self.options.partition;
        let missing: Vec<NaiveDate> = {
            let known = self
                .partitions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut missing: Vec<NaiveDate> = times
                .filter_map(day_of)
                .map(|day| interval.start_of(day))
                .filter(|start| !known.contains(&micros(*start)))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        self.create_partitions(missing).await
    }

    /// Creates the partitions starting on these days, under a transaction-scoped lock so
    /// that two writers (or two hpti processes) never race on the same DDL.
    async fn create_partitions(&self, starts: Vec<NaiveDate>) -> Result<(), StoreError> {
        let interval = self.options.partition;
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        lock_partitions(&mut tx).await?;
        for start in &starts {
            let Some(end) = interval.next(*start) else {
                continue;
            };
            // Names and bounds are built from dates, never from input text.
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ('{}') TO ('{}')",
                interval.name(*start),
                bound(*start),
                bound(end)
            );
            sqlx::query(&sql)
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(database_error)?;
        }
        tx.commit().await.map_err(database_error)?;
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.extend(starts.into_iter().map(micros));
        Ok(())
    }

    /// The partitions hpti made whose span ends at or before `until` (all of them for
    /// `None`), oldest first, with their exact row counts and sizes. Only those are
    /// counted, so that retention reads no more than it drops.
    pub(super) async fn partition_stats(
        &self,
        until: Option<Timestamp>,
    ) -> Result<Vec<PartitionStats>, StoreError> {
        let mut c = self.read().await?;
        let tables: Vec<(String, i64)> = sqlx::query_as(
            "SELECT c.relname::text, pg_total_relation_size(c.oid)
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass ORDER BY 1",
        )
        .persistent(false)
        .fetch_all(&mut *c)
        .await
        .map_err(database_error)?;
        let interval = self.options.partition;
        let mut stats = Vec::new();
        for (name, bytes) in tables {
            let Some((start, end)) = interval.parse(&name) else {
                continue;
            };
            let (from, to) = (
                Timestamp::from_micros(micros(start)),
                Timestamp::from_micros(micros(end)),
            );
            if until.is_some_and(|until| to > until) {
                continue;
            }
            // The name came from the catalog and matched the partition pattern.
            let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {name}"))
                .persistent(false)
                .fetch_one(&mut *c)
                .await
                .map_err(database_error)?;
            stats.push(PartitionStats::new(
                name,
                from,
                to,
                u64::try_from(rows).unwrap_or(0),
                u64::try_from(bytes).unwrap_or(0),
            ));
        }
        c.commit().await.map_err(database_error)?;
        stats.sort_by_key(|p| p.from);
        Ok(stats)
    }

    /// Drops (or, with `dry_run`, lists) the partitions that end before the retention's
    /// cutoff. Never deletes rows one by one; a partition still holding anything newer
    /// than the cutoff is kept whole.
    pub async fn apply_retention(&self, dry_run: bool) -> Result<RetentionPlan, StoreError> {
        let Some(cutoff) = self.retention_cutoff() else {
            return Ok(RetentionPlan::new(None, Vec::new(), false));
        };
        let expired = self.partition_stats(Some(cutoff)).await?;
        if dry_run || expired.is_empty() {
            return Ok(RetentionPlan::new(Some(cutoff), expired, false));
        }
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        lock_partitions(&mut tx).await?;
        for partition in &expired {
            // The name came from the catalog and matched the partition pattern.
            sqlx::query(&format!("DROP TABLE IF EXISTS {}", partition.name))
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(database_error)?;
        }
        // Every event before the last dropped partition's end is gone now.
        if let Some(gone_before) = expired.iter().map(|p| p.to).max() {
            trim_summaries(&mut tx, gone_before).await?;
        }
        tx.commit().await.map_err(database_error)?;
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for partition in &expired {
            known.remove(&partition.from.as_micros());
        }
        Ok(RetentionPlan::new(Some(cutoff), expired, true))
    }
}

/// Takes what retention dropped out of the summaries and rollups (no event before
/// `gone_before` is left): expired hours and pairs go, all-time totals are summed again
/// from what is left. Sessions and attackers that reach past it keep their counts.
async fn trim_summaries(
    tx: &mut sqlx::PgConnection,
    gone_before: Timestamp,
) -> Result<(), StoreError> {
    // Batches fold into these tables: wait for those in flight, hold off the next.
    // A plain string runs as one simple query (several statements, nothing prepared).
    sqlx::Executor::execute(
        &mut *tx,
        "LOCK TABLE sessions, attackers, attackers_hourly, credentials_hourly,
                    credentials_total, credential_sources, commands_hourly, commands_total,
                    command_sources, downloads_hourly, downloads_total, download_sources,
                    download_urls, upload_names, command_labels, kinds_hourly, fold_queue
         IN SHARE ROW EXCLUSIVE MODE",
    )
    .await
    .map_err(database_error)?;
    let cutoff =
        chrono::DateTime::from_timestamp_micros(gone_before.as_micros()).unwrap_or_default();
    for sql in [
        "DELETE FROM fold_queue WHERE ts < $1",
        "DELETE FROM attackers_hourly WHERE hour < $1",
        "DELETE FROM credentials_hourly WHERE hour < $1",
        "DELETE FROM commands_hourly WHERE hour < $1",
        "DELETE FROM downloads_hourly WHERE hour < $1",
        "DELETE FROM kinds_hourly WHERE hour < $1",
        "DELETE FROM credential_sources WHERE last_seen < $1",
        "DELETE FROM command_sources WHERE last_seen < $1",
        "DELETE FROM download_sources WHERE last_seen < $1",
        "DELETE FROM download_urls WHERE last_seen < $1",
        "DELETE FROM upload_names WHERE last_seen < $1",
        "DELETE FROM command_labels WHERE last_seen < $1",
        "DELETE FROM sessions WHERE last_seen < $1",
        "DELETE FROM attackers WHERE last_seen < $1",
        "UPDATE attackers a SET events = h.events, login_attempts = h.login_attempts,
                commands = h.commands, first_seen = h.first_seen
         FROM (SELECT src_ip, SUM(events) AS events, SUM(login_attempts) AS login_attempts,
                      SUM(commands) AS commands, MIN(first_seen) AS first_seen
               FROM attackers_hourly GROUP BY src_ip) AS h
         WHERE a.src_ip = h.src_ip AND a.first_seen < $1",
    ] {
        sqlx::query(sql)
            .persistent(false)
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(database_error)?;
    }
    sqlx::Executor::execute(
        &mut *tx,
        "DELETE FROM credentials_total;
         INSERT INTO credentials_total
             SELECT h.username, h.password, h.no_password, SUM(h.attempts), SUM(h.successes),
                    (SELECT COUNT(*) FROM credential_sources s
                     WHERE s.username = h.username AND s.password = h.password
                       AND s.no_password = h.no_password)
             FROM credentials_hourly h GROUP BY 1, 2, 3;
         DELETE FROM commands_total;
         INSERT INTO commands_total
             SELECT h.command, SUM(h.count),
                    (SELECT COUNT(*) FROM command_sources s WHERE s.command = h.command)
             FROM commands_hourly h GROUP BY 1;
         DELETE FROM downloads_total t
             WHERE NOT EXISTS (SELECT 1 FROM downloads_hourly h WHERE h.sha256 = t.sha256);
         -- Updated, not rebuilt: the latest download (last_*) outlives the retention.
         UPDATE downloads_total t SET count = h.count, uploads = h.uploads,
                first_seen = h.first_seen, last_seen = h.last_seen, size = h.size
             FROM (SELECT sha256, SUM(count) AS count, SUM(uploads) AS uploads,
                          MIN(first_seen) AS first_seen,
                          MAX(last_seen) AS last_seen, MAX(size) AS size
                   FROM downloads_hourly GROUP BY 1) AS h
             WHERE t.sha256 = h.sha256",
    )
    .await
    .map_err(database_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_spans_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        assert_eq!(PartitionInterval::Day.name(day), "events_p20260131");
        assert_eq!(
            PartitionInterval::Day.parse("events_p20260131"),
            Some((day, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap()))
        );
        let month = PartitionInterval::Month.start_of(day);
        assert_eq!(PartitionInterval::Month.name(month), "events_p202601");
        assert_eq!(
            PartitionInterval::Month.parse("events_p202601"),
            Some((month, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap()))
        );
        assert_eq!(PartitionInterval::Day.parse("events_p202601"), None);
        assert_eq!(PartitionInterval::Day.parse("events_old"), None);
    }

    #[test]
    fn times_outside_the_years_1_to_9999_are_refused() {
        assert!(out_of_range(Timestamp::from_micros(0)).is_none());
        assert!(out_of_range(Timestamp::from_micros(i64::MIN)).is_some());
        assert!(out_of_range(Timestamp::from_micros(i64::MAX)).is_some());
    }
}
