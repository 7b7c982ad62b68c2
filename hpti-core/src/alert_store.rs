//! The [`AlertStore`] trait: where the alert manager keeps alerts, silences and its
//! notification log, so that a restart neither loses an alert nor sends it twice
//! (Alertmanager's `nflog` and silences, in the query store's database).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Fingerprint};
use crate::error::BoxError;
use crate::event::Timestamp;

/// An alert as the manager keeps it: the latest version raised, and what people did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredAlert {
    /// The alert as last raised (or resolved: `ends_at` set).
    pub alert: Alert,
    /// Who acknowledged it (`hpti alert ack`), and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<Acknowledgement>,
    /// When it was first notified (escalation counts from then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<Timestamp>,
    /// When it was escalated (sent to its rule's `escalate_to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<Timestamp>,
    /// When the manager last changed it.
    pub updated_at: Timestamp,
}

impl StoredAlert {
    /// A newly raised alert.
    pub fn new(alert: Alert, now: Timestamp) -> Self {
        Self {
            alert,
            acked: None,
            notified_at: None,
            escalated_at: None,
            updated_at: now,
        }
    }

    /// Whether it is still firing.
    pub fn is_firing(&self) -> bool {
        self.alert.ends_at.is_none()
    }
}

/// An acknowledgement: someone is on it (escalation stops).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// Who (a user name, free text).
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// A label matcher of a silence (Alertmanager's `name=value`, `!=`, `=~`, `!~`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMatcher {
    /// The label (`rule`, `key` and `severity` are labels too).
    pub name: String,
    /// How it compares.
    pub op: MatchOp,
    /// The value or, for the regex operators, an anchored regular expression.
    pub value: String,
}

/// How a [`LabelMatcher`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    #[serde(rename = "=")]
    Equal,
    /// `!=`
    #[serde(rename = "!=")]
    NotEqual,
    /// `=~` (the whole value must match)
    #[serde(rename = "=~")]
    Regex,
    /// `!~`
    #[serde(rename = "!~")]
    NotRegex,
}

impl LabelMatcher {
    /// Parses `name=value`, `name!=value`, `name=~regex` or `name!~regex`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, op, value) = if let Some((n, v)) = text.split_once("!~") {
            (n, MatchOp::NotRegex, v)
        } else if let Some((n, v)) = text.split_once("=~") {
            (n, MatchOp::Regex, v)
        } else if let Some((n, v)) = text.split_once("!=") {
            (n, MatchOp::NotEqual, v)
        } else if let Some((n, v)) = text.split_once('=') {
            (n, MatchOp::Equal, v)
        } else {
            return Err(format!(
                "`{text}` is not a matcher (name=value, name!=value, name=~regex, name!~regex)"
            ));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(format!("`{name}` is not a label name"));
        }
        let value = value.trim().trim_matches('"').to_owned();
        Ok(Self {
            name: name.to_owned(),
            op,
            value,
        })
    }
}

impl std::fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

/// A silence: alerts matching every matcher are not notified until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Silence {
    /// Its id (a UUID).
    pub id: String,
    /// All must match.
    pub matchers: Vec<LabelMatcher>,
    /// From when.
    pub starts_at: Timestamp,
    /// Until when.
    pub ends_at: Timestamp,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// A silence with a new id.
    pub fn new(
        matchers: Vec<LabelMatcher>,
        starts_at: Timestamp,
        ends_at: Timestamp,
        created_by: impl Into<String>,
        comment: impl Into<String>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            matchers,
            starts_at,
            ends_at,
            created_by: created_by.into(),
            comment: comment.into(),
        }
    }

    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// One delivery of an alert group to one notifier: what it said, so that the same is not
/// said twice (Alertmanager's notification log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotificationRecord {
    /// The group's key.
    pub group_key: String,
    /// The notifier's id.
    pub receiver: String,
    /// The alerts it reported firing.
    pub firing: Vec<Fingerprint>,
    /// The alerts it reported resolved.
    pub resolved: Vec<Fingerprint>,
    /// When it was delivered.
    pub sent_at: Timestamp,
}

impl NotificationRecord {
    /// A delivery of `firing` and `resolved` to `receiver` at `sent_at`.
    pub fn new(
        group_key: impl Into<String>,
        receiver: impl Into<String>,
        mut firing: Vec<Fingerprint>,
        mut resolved: Vec<Fingerprint>,
        sent_at: Timestamp,
    ) -> Self {
        firing.sort();
        resolved.sort();
        Self {
            group_key: group_key.into(),
            receiver: receiver.into(),
            firing,
            resolved,
            sent_at,
        }
    }
}

/// The store failed (the manager retries and keeps running).
#[derive(Debug, thiserror::Error)]
#[error("alert store: {message}")]
pub struct AlertStoreError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl AlertStoreError {
    /// An error with a message and its cause.
    pub fn new(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }
}

/// Where alerts, silences and the notification log are kept.
///
/// The alert manager writes alerts from its memory without reading them first, and
/// `hpti alert ack` writes from another process: so an acknowledgement is written only by
/// [`acknowledge`](AlertStore::acknowledge), and saving an alert keeps the stored one
/// (ignoring [`StoredAlert::acked`]) until a firing alert is saved over a resolved one, which
/// starts a new episode with none.
///
/// ```
/// use std::sync::Mutex;
/// use async_trait::async_trait;
/// use hpti_core::alert_store::*;
///
/// /// Keeps only the notification log, in memory.
/// #[derive(Default)]
/// struct LogOnly(Mutex<Vec<NotificationRecord>>);
///
/// #[async_trait]
/// impl AlertStore for LogOnly {
///     async fn save_alert(&self, _: &StoredAlert) -> Result<(), AlertStoreError> { Ok(()) }
///     async fn alerts(&self, _: bool, _: usize) -> Result<Vec<StoredAlert>, AlertStoreError> { Ok(vec![]) }
///     async fn alert(&self, _: &str) -> Result<Option<StoredAlert>, AlertStoreError> { Ok(None) }
///     async fn acknowledge(&self, _: &str, _: &Acknowledgement) -> Result<bool, AlertStoreError> { Ok(false) }
///     async fn save_notification(&self, r: &NotificationRecord) -> Result<(), AlertStoreError> {
///         self.0.lock().unwrap().push(r.clone());
///         Ok(())
///     }
///     async fn last_notification(&self, group: &str, receiver: &str) -> Result<Option<NotificationRecord>, AlertStoreError> {
///         Ok(self.0.lock().unwrap().iter().rev().find(|r| r.group_key == group && r.receiver == receiver).cloned())
///     }
///     async fn save_silence(&self, _: &Silence) -> Result<(), AlertStoreError> { Ok(()) }
///     async fn silences(&self) -> Result<Vec<Silence>, AlertStoreError> { Ok(vec![]) }
/// }
/// ```
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Inserts or replaces the alert of its fingerprint, keeping the stored
    /// acknowledgement of the same episode (see the trait's documentation).
    async fn save_alert(&self, alert: &StoredAlert) -> Result<(), AlertStoreError>;

    /// [`save_alert`](AlertStore::save_alert) for several, in one transaction where the
    /// store has them. One by one by default.
    async fn save_alerts(&self, alerts: &[StoredAlert]) -> Result<(), AlertStoreError> {
        for alert in alerts {
            self.save_alert(alert).await?;
        }
        Ok(())
    }

    /// The alerts, most recently updated first: only the firing ones when `firing_only`;
    /// at most `limit`.
    async fn alerts(
        &self,
        firing_only: bool,
        limit: usize,
    ) -> Result<Vec<StoredAlert>, AlertStoreError>;

    /// The alert whose fingerprint is `fingerprint` or starts with it (at least 8 hex
    /// digits; `None` when none or several do).
    async fn alert(&self, fingerprint: &str) -> Result<Option<StoredAlert>, AlertStoreError>;

    /// Records who acknowledged the alert of `fingerprint` (the whole fingerprint) in its
    /// current episode; `false` when there is no such alert.
    async fn acknowledge(
        &self,
        fingerprint: &str,
        ack: &Acknowledgement,
    ) -> Result<bool, AlertStoreError>;

    /// Records a delivery.
    async fn save_notification(&self, record: &NotificationRecord) -> Result<(), AlertStoreError>;

    /// The last delivery of a group to a notifier.
    async fn last_notification(
        &self,
        group_key: &str,
        receiver: &str,
    ) -> Result<Option<NotificationRecord>, AlertStoreError>;

    /// Inserts or replaces a silence (by id).
    async fn save_silence(&self, silence: &Silence) -> Result<(), AlertStoreError>;

    /// Every silence that has not ended long ago (a week), newest first.
    async fn silences(&self) -> Result<Vec<Silence>, AlertStoreError>;
}
