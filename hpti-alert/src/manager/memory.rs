//! An [`AlertStore`] in memory: for tests and for embedding without a database.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use hpti_core::alert_store::{
    Acknowledgement, AlertStore, AlertStoreError, NotificationRecord, Silence, StoredAlert,
};

/// Alerts, silences and the notification log in memory (lost on restart).
#[derive(Debug, Default)]
pub struct MemoryAlertStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By fingerprint (hex).
    alerts: HashMap<String, StoredAlert>,
    notifications: Vec<NotificationRecord>,
    silences: Vec<Silence>,
}

impl MemoryAlertStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every delivery recorded, in order.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        self.lock().notifications.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl AlertStore for MemoryAlertStore {
    async fn save_alert(&self, alert: &StoredAlert) -> Result<(), AlertStoreError> {
        let mut inner = self.lock();
        let mut alert = alert.clone();
        let key = alert.alert.fingerprint.to_string();
        // The acknowledgement is the store's own until a new episode starts.
        alert.acked = match inner.alerts.get(&key) {
            Some(old) if old.is_firing() || !alert.is_firing() => old.acked.clone(),
            _ => None,
        };
        inner.alerts.insert(key, alert);
        Ok(())
    }

    async fn alerts(
        &self,
        firing_only: bool,
        limit: usize,
    ) -> Result<Vec<StoredAlert>, AlertStoreError> {
        let inner = self.lock();
        let mut alerts: Vec<StoredAlert> = inner
            .alerts
            .values()
            .filter(|a| !firing_only || a.is_firing())
            .cloned()
            .collect();
        alerts.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then(a.alert.fingerprint.cmp(&b.alert.fingerprint))
        });
        alerts.truncate(limit);
        Ok(alerts)
    }

    async fn alert(&self, fingerprint: &str) -> Result<Option<StoredAlert>, AlertStoreError> {
        if fingerprint.len() < 8 {
            return Ok(None);
        }
        let inner = self.lock();
        let prefix = fingerprint.to_ascii_lowercase();
        let found: Vec<&StoredAlert> = inner
            .alerts
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(_, alert)| alert)
            .take(2)
            .collect();
        Ok(match found.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        })
    }

    async fn acknowledge(
        &self,
        fingerprint: &str,
        ack: &Acknowledgement,
    ) -> Result<bool, AlertStoreError> {
        let mut inner = self.lock();
        Ok(
            match inner.alerts.get_mut(&fingerprint.to_ascii_lowercase()) {
                Some(alert) => {
                    alert.acked = Some(ack.clone());
                    true
                }
                None => false,
            },
        )
    }

    async fn save_notification(&self, record: &NotificationRecord) -> Result<(), AlertStoreError> {
        self.lock().notifications.push(record.clone());
        Ok(())
    }

    async fn last_notification(
        &self,
        group_key: &str,
        receiver: &str,
    ) -> Result<Option<NotificationRecord>, AlertStoreError> {
        Ok(self
            .lock()
            .notifications
            .iter()
            .rev()
            .find(|r| r.group_key == group_key && r.receiver == receiver)
            .cloned())
    }

    async fn save_silence(&self, silence: &Silence) -> Result<(), AlertStoreError> {
        let mut inner = self.lock();
        inner.silences.retain(|s| s.id != silence.id);
        inner.silences.push(silence.clone());
        Ok(())
    }

    async fn silences(&self) -> Result<Vec<Silence>, AlertStoreError> {
        let mut silences = self.lock().silences.clone();
        silences.reverse();
        Ok(silences)
    }
}
