//! The alert manager's state in PostgreSQL: tables `alerts`, `notifications` and
//! `silences` beside the events (migration 3). Every statement runs in a transaction, so
//! the store works behind PgBouncer in transaction mode.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpti_core::alert_store::{
    Acknowledgement, AlertStore, AlertStoreError, NotificationRecord, Silence, StoredAlert,
};
use hpti_core::event::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{PostgresOptions, migrate};
use crate::alert_rows::{alert_doc, group_digest, json, parse, parse_alert};
use crate::error::StoreError;

/// Resolved alerts and notifications older than this are deleted when the store opens.
const KEEP_DAYS: i64 = 90;
/// Silences that ended longer ago than this are not listed (and deleted at open).
const KEEP_SILENCE_DAYS: i64 = 7;

/// Alerts, silences and the notification log in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresAlertStore {
    pool: PgPool,
    prepared: bool,
}

fn db(err: sqlx::Error) -> AlertStoreError {
    AlertStoreError::new("PostgreSQL", err)
}

fn time(t: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.as_micros()).unwrap_or_default()
}

impl PostgresAlertStore {
    /// Connects (two connections), applies the schema's migrations and deletes old
    /// resolved alerts, notifications and ended silences.
    pub async fn open(options: &PostgresOptions) -> Result<Self, StoreError> {
        let connect = options
            .connect
            .clone()
            .application_name(&format!("hpti {} alerts", options.name))
            .statement_cache_capacity(if options.prepared_statements { 100 } else { 0 });
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Connect {
                target: options.target.clone(),
                class: super::classify(&e),
                source: Box::new(e),
            })?;
        migrate::run(&pool).await?;
        let store = Self {
            pool,
            prepared: options.prepared_statements,
        };
        store
            .prune()
            .await
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        Ok(store)
    }

    async fn prune(&self) -> Result<(), AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for sql in [
            "DELETE FROM alerts WHERE NOT firing AND updated_at < now() - make_interval(days => $1::int)",
            "DELETE FROM notifications WHERE sent_at < now() - make_interval(days => $1::int)",
        ] {
            sqlx::query(sql)
                .persistent(self.prepared)
                .bind(KEEP_DAYS as i32)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query("DELETE FROM silences WHERE ends_at < now() - make_interval(days => $1::int)")
            .persistent(self.prepared)
            .bind(KEEP_SILENCE_DAYS as i32)
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

#[async_trait]
impl AlertStore for PostgresAlertStore {
    async fn save_alert(&self, alert: &StoredAlert) -> Result<(), AlertStoreError> {
        self.save_alerts(std::slice::from_ref(alert)).await
    }

    async fn save_alerts(&self, alerts: &[StoredAlert]) -> Result<(), AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for alert in alerts {
            sqlx::query(
                // A firing alert saved over a resolved one is a new episode: not acknowledged.
                "INSERT INTO alerts (fingerprint, rule, firing, updated_at, doc) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (fingerprint) DO UPDATE SET rule = EXCLUDED.rule, firing = EXCLUDED.firing,
                     updated_at = EXCLUDED.updated_at, doc = EXCLUDED.doc,
                     acked = CASE WHEN EXCLUDED.firing AND NOT alerts.firing THEN NULL ELSE alerts.acked END",
            )
            .persistent(self.prepared)
            .bind(alert.alert.fingerprint.to_string())
            .bind(&alert.alert.rule)
            .bind(alert.is_firing())
            .bind(time(alert.updated_at))
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT doc, acked FROM alerts WHERE firing OR NOT $1
             ORDER BY updated_at DESC, fingerprint LIMIT $2",
        )
        .persistent(self.prepared)
        .bind(firing_only)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter()
            .map(|(doc, acked)| parse_alert(doc, acked.as_deref()))
            .collect()
    }

    async fn alert(&self, fingerprint: &str) -> Result<Option<StoredAlert>, AlertStoreError> {
        if fingerprint.len() < 8 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let prefix = fingerprint.to_ascii_lowercase();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT doc, acked FROM alerts WHERE fingerprint >= $1 AND fingerprint < $2 LIMIT 2",
        )
        .persistent(self.prepared)
        .bind(&prefix)
        .bind(format!("{prefix}g"))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query("UPDATE alerts SET acked = $1 WHERE fingerprint = $2")
            .persistent(self.prepared)
            .bind(json(ack)?)
            .bind(fingerprint.to_ascii_lowercase())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_notification(&self, record: &NotificationRecord) -> Result<(), AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO notifications (group_digest, receiver, sent_at, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_digest, receiver) DO UPDATE SET sent_at = EXCLUDED.sent_at, doc = EXCLUDED.doc",
        )
        .persistent(self.prepared)
        .bind(group_digest(&record.group_key))
        .bind(&record.receiver)
        .bind(time(record.sent_at))
        .bind(json(record)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn last_notification(
        &self,
        group_key: &str,
        receiver: &str,
    ) -> Result<Option<NotificationRecord>, AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let doc: Option<String> = sqlx::query_scalar(
            "SELECT doc FROM notifications WHERE group_digest = $1 AND receiver = $2",
        )
        .persistent(self.prepared)
        .bind(group_digest(group_key))
        .bind(receiver)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        doc.as_deref().map(parse).transpose()
    }

    async fn save_silence(&self, silence: &Silence) -> Result<(), AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO silences (id, ends_at, doc) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET ends_at = EXCLUDED.ends_at, doc = EXCLUDED.doc",
        )
        .persistent(self.prepared)
        .bind(&silence.id)
        .bind(time(silence.ends_at))
        .bind(json(silence)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn silences(&self) -> Result<Vec<Silence>, AlertStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM silences WHERE ends_at >= now() - make_interval(days => $1::int)
             ORDER BY id DESC LIMIT 10000",
        )
        .persistent(self.prepared)
        .bind(KEEP_SILENCE_DAYS as i32)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        docs.iter().map(|d| parse(d)).collect()
    }
}
