//! The alert manager's state in SQLite: a small database of its own beside the events
//! (`<name>-alerts.db`), so that `hpti alert ack` and `hpti alert silence` write to it
//! from another process without touching the event writer's lock.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::alert_store::{
    Acknowledgement, AlertStore, AlertStoreError, NotificationRecord, Silence, StoredAlert,
};
use hpti_core::event::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::alert_rows::{alert_doc, group_digest, json, parse, parse_alert};
use crate::error::StoreError;

/// Resolved alerts and notifications older than this are deleted when the store opens.
const KEEP_MICROS: i64 = 90 * 86_400 * 1_000_000;
/// Silences that ended longer ago than this are deleted when the store opens.
const KEEP_SILENCES_MICROS: i64 = 7 * 86_400 * 1_000_000;

/// Alerts, silences and the notification log in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteAlertStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteAlertStore {
    /// Opens (creating if needed) the database at `path` and applies its migrations;
    /// old resolved alerts, notifications and ended silences are deleted.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: e.into(),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // What survives a crash of the process; a power cut may lose the last
            // notifications' log (they would be sent again, not lost).
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: e.into(),
            })?;
        sqlx::migrate!("./migrations/sqlite-alerts")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let store = Self {
            pool,
            path: path.to_owned(),
        };
        store.prune().await.map_err(|e| StoreError::Open {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn prune(&self) -> Result<(), AlertStoreError> {
        let now = Timestamp::now().as_micros();
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM alerts WHERE firing = 0 AND updated_at < ?")
            .bind(now - KEEP_MICROS)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM notifications WHERE sent_at < ?")
            .bind(now - KEEP_MICROS)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM silences WHERE ends_at < ?")
            .bind(now - KEEP_SILENCES_MICROS)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn db(err: sqlx::Error) -> AlertStoreError {
    AlertStoreError::new("SQLite", err)
}

#[async_trait]
impl AlertStore for SqliteAlertStore {
    async fn save_alert(&self, alert: &StoredAlert) -> Result<(), AlertStoreError> {
        self.save_alerts(std::slice::from_ref(alert)).await
    }

    async fn save_alerts(&self, alerts: &[StoredAlert]) -> Result<(), AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for alert in alerts {
            sqlx::query(
                // A firing alert saved over a resolved one is a new episode: not acknowledged.
                "INSERT INTO alerts (fingerprint, rule, firing, updated_at, doc) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (fingerprint) DO UPDATE SET rule = excluded.rule, firing = excluded.firing,
                     updated_at = excluded.updated_at, doc = excluded.doc,
                     acked = CASE WHEN excluded.firing = 1 AND alerts.firing = 0 THEN NULL ELSE alerts.acked END",
            )
            .bind(alert.alert.fingerprint.to_string())
            .bind(&alert.alert.rule)
            .bind(alert.is_firing())
            .bind(alert.updated_at.as_micros())
            .bind(alert_doc(alert)?)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn alerts(
        &self,
        firing_only: bool,
        limit: usize,
    ) -> Result<Vec<StoredAlert>, AlertStoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(String, Option<String>)> = if firing_only {
            sqlx::query_as(
                "SELECT doc, acked FROM alerts WHERE firing = 1 ORDER BY updated_at DESC, fingerprint LIMIT ?",
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await
        } else {
            sqlx::query_as(
                "SELECT doc, acked FROM alerts ORDER BY updated_at DESC, fingerprint LIMIT ?",
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await
        }
        .map_err(db)?;
        rows.iter()
            .map(|(doc, acked)| parse_alert(doc, acked.as_deref()))
            .collect()
    }

    async fn alert(&self, fingerprint: &str) -> Result<Option<StoredAlert>, AlertStoreError> {
        if fingerprint.len() < 8 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let prefix = fingerprint.to_ascii_lowercase();
        // A prefix range (hex has no LIKE wildcards, but a range also uses the key).
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT doc, acked FROM alerts WHERE fingerprint >= ? AND fingerprint < ? LIMIT 2",
        )
        .bind(&prefix)
        .bind(format!("{prefix}g"))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        match rows.as_slice() {
            [(doc, acked)] => Ok(Some(parse_alert(doc, acked.as_deref())?)),
            _ => Ok(None),
        }
    }

    async fn acknowledge(
        &self,
        fingerprint: &str,
        ack: &Acknowledgement,
    ) -> Result<bool, AlertStoreError> {
        let done = sqlx::query("UPDATE alerts SET acked = ? WHERE fingerprint = ?")
            .bind(json(ack)?)
            .bind(fingerprint.to_ascii_lowercase())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_notification(&self, record: &NotificationRecord) -> Result<(), AlertStoreError> {
        sqlx::query(
            "INSERT INTO notifications (group_digest, receiver, sent_at, doc) VALUES (?, ?, ?, ?)
             ON CONFLICT (group_digest, receiver) DO UPDATE SET sent_at = excluded.sent_at, doc = excluded.doc",
        )
        .bind(group_digest(&record.group_key))
        .bind(&record.receiver)
        .bind(record.sent_at.as_micros())
        .bind(json(record)?)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn last_notification(
        &self,
        group_key: &str,
        receiver: &str,
    ) -> Result<Option<NotificationRecord>, AlertStoreError> {
        let doc: Option<String> = sqlx::query_scalar(
            "SELECT doc FROM notifications WHERE group_digest = ? AND receiver = ?",
        )
        .bind(group_digest(group_key))
        .bind(receiver)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        doc.as_deref().map(parse).transpose()
    }

    async fn save_silence(&self, silence: &Silence) -> Result<(), AlertStoreError> {
        sqlx::query(
            "INSERT INTO silences (id, ends_at, doc) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET ends_at = excluded.ends_at, doc = excluded.doc",
        )
        .bind(&silence.id)
        .bind(silence.ends_at.as_micros())
        .bind(json(silence)?)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn silences(&self) -> Result<Vec<Silence>, AlertStoreError> {
        let cutoff = Timestamp::now().as_micros() - KEEP_SILENCES_MICROS;
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM silences WHERE ends_at >= ? ORDER BY id DESC LIMIT 10000",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        docs.iter().map(|d| parse(d)).collect()
    }
}
