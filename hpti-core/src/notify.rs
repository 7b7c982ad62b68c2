//! The [`Notifier`] trait: delivers a group of alerts to people (Slack, e-mail,
//! PagerDuty, a webhook).
//!
//! The alert engine groups alerts (Alertmanager's `group_by`), decides from its
//! notification log what is new, and hands each group to a notifier; a notifier only
//! delivers and says whether a failure is worth retrying.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::error::{BoxError, ErrorClass};

/// Alerts that share a grouping (e.g. one rule and one sensor), delivered together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertGroup {
    /// The group's identity (Alertmanager's group key), stable across notifications.
    pub group_key: String,
    /// The labels every alert of the group shares.
    pub common_labels: BTreeMap<String, String>,
    /// The alerts, firing and resolved.
    pub alerts: Vec<Alert>,
}

impl AlertGroup {
    /// A group of `alerts` under `group_key`; the common labels are computed.
    pub fn new(group_key: impl Into<String>, alerts: Vec<Alert>) -> Self {
        let mut common_labels = alerts.first().map(|a| a.labels.clone()).unwrap_or_default();
        for alert in alerts.iter().skip(1) {
            common_labels.retain(|k, v| alert.labels.get(k) == Some(v));
        }
        Self {
            group_key: group_key.into(),
            common_labels,
            alerts,
        }
    }

    /// The alerts still firing.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.ends_at.is_none())
    }

    /// The alerts that were resolved.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.ends_at.is_some())
    }
}

/// A report to deliver: its subject, a plain-text (Markdown) body, an HTML body, and
/// files to attach (the PDF).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReportMessage {
    /// One line (`hpti daily report: ...`).
    pub subject: String,
    /// The report as Markdown.
    pub text: String,
    /// The report as one self-contained HTML document.
    pub html: String,
    /// Attachments: (file name, media type, bytes).
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl ReportMessage {
    /// A report with no attachment.
    pub fn new(
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
            attachments: Vec::new(),
        }
    }

    /// Attaches a file.
    pub fn attach(
        mut self,
        name: impl Into<String>,
        media_type: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Self {
        self.attachments
            .push((name.into(), media_type.into(), bytes));
        self
    }
}

/// A failed delivery, classified so the engine knows whether to retry.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    class: ErrorClass,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl NotifyError {
    /// May work later (timeout, 5xx, connection refused): retried with backoff.
    pub fn temporary(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            class: ErrorClass::Temporary,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The service asked us to slow down (HTTP 429): retried after `retry_after`.
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            class: ErrorClass::RateLimited { retry_after },
            message: message.into(),
            source: None,
        }
    }

    /// Will not work (bad credentials, a 4xx, a malformed address): not retried.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            message: message.into(),
            source: None,
        }
    }

    /// Whether and when retrying may help.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

/// Delivers alert groups to one destination.
///
/// ```
/// use async_trait::async_trait;
/// use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
///
/// /// Prints each group on standard error.
/// struct Stderr;
///
/// #[async_trait]
/// impl Notifier for Stderr {
///     fn name(&self) -> &str { "stderr" }
///     async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
///         for alert in group.firing() {
///             eprintln!("[{}] {}", alert.severity.as_str(), alert.summary);
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The kind of notifier (`slack`, `email`), for logs.
    fn name(&self) -> &str;

    /// Delivers one group; an error says whether retrying may help.
    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError>;

    /// Delivers a scheduled report (`[reports.<id>] notify`). Notifiers that cannot carry
    /// one keep this default, which refuses (permanently).
    async fn send_report(&self, report: &ReportMessage) -> Result<(), NotifyError> {
        let _ = report;
        Err(NotifyError::permanent(format!(
            "the {} notifier cannot deliver reports",
            self.name()
        )))
    }
}

#[async_trait]
impl<N: Notifier + ?Sized> Notifier for std::sync::Arc<N> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        (**self).notify(group).await
    }
    async fn send_report(&self, report: &ReportMessage) -> Result<(), NotifyError> {
        (**self).send_report(report).await
    }
}
