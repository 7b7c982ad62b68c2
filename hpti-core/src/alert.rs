//! The [`AlertRule`] trait: sees every stored event and may raise an [`Alert`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventId, Timestamp};

/// How urgent an alert is (Sigma's five levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording.
    Informational,
    /// Worth a look.
    Low,
    /// Worth a look today.
    Medium,
    /// Worth a look now.
    High,
    /// Wake someone up.
    Critical,
}

/// Something a rule decided a human should know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Name of the rule that raised it.
    pub rule: String,
    /// How urgent.
    pub severity: Severity,
    /// One line for a human.
    pub summary: String,
    /// When the triggering event happened.
    pub time: Timestamp,
    /// The attacker's address.
    pub src_ip: IpAddr,
    /// The events that triggered it.
    pub event_ids: Vec<EventId>,
    /// Extra key/value pairs for notifiers' templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Decides, event by event, whether to raise an alert. Rules may keep state (counters
/// per source, windows); the runtime calls them from one task, in event order.
///
/// ```
/// use hpti_core::alert::{Alert, AlertRule, Severity};
/// use hpti_core::event::{Event, EventKind};
///
/// /// Alerts on every successful login.
/// struct LoginSucceeded;
///
/// impl AlertRule for LoginSucceeded {
///     fn name(&self) -> &str { "login-succeeded" }
///     fn observe(&mut self, event: &Event) -> Option<Alert> {
///         let EventKind::LoginAttempt { username, success: true, .. } = &event.kind else {
///             return None;
///         };
///         Some(Alert {
///             rule: self.name().into(),
///             severity: Severity::Medium,
///             summary: format!("{} logged in as {username}", event.src_ip),
///             time: event.time,
///             src_ip: event.src_ip,
///             event_ids: vec![event.id],
///             labels: Default::default(),
///         })
///     }
/// }
/// ```
pub trait AlertRule: Send {
    /// The rule's name, used in alerts and metrics.
    fn name(&self) -> &str;

    /// Sees one event; returns an alert if it should fire.
    fn observe(&mut self, event: &Event) -> Option<Alert>;
}

impl<R: AlertRule + ?Sized> AlertRule for Box<R> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn observe(&mut self, event: &Event) -> Option<Alert> {
        (**self).observe(event)
    }
}
