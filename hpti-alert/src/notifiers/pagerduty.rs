//! `type = "pagerduty"`: PagerDuty's Events API v2 (`POST /v2/enqueue`). Each firing
//! alert is a `trigger` and each resolved one a `resolve`, with the alert's fingerprint
//! as `dedup_key`, so PagerDuty keeps one incident per alert and closes it when hpti
//! resolves it. Severities map to PagerDuty's: critical → critical, high → error,
//! medium → warning, low and informational → info.
//!
//! ```toml
//! [notifiers.pd]
//! type = "pagerduty"
//! routing_key_env = "HPTI_PAGERDUTY_ROUTING_KEY"
//! # url = "https://events.pagerduty.com/v2/enqueue"   # the EU service: events.eu.pagerduty.com
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::alert::{Alert, Severity};
use hpti_core::component::{BuildContext, BuildError, NotifierConfig};
use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
use hpti_core::secret::Secret;
use serde::Deserialize;

use super::{client, failure, secret_from, send, truncate_chars};

/// The Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The longest `payload.summary` PagerDuty keeps.
pub const MAX_SUMMARY: usize = 1_024;

/// `[notifiers.<id>] type = "pagerduty"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyNotifierConfig {
    /// The integration's routing key.
    #[serde(default)]
    pub routing_key: Option<Secret>,
    /// The environment variable holding it.
    #[serde(default)]
    pub routing_key_env: Option<String>,
    /// The Events API endpoint.
    #[serde(default = "default_url")]
    pub url: String,
    /// `payload.source`: where the alerts come from (default: this host's name).
    #[serde(default)]
    pub source: Option<String>,
    /// One request's time limit.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_url() -> String {
    DEFAULT_URL.into()
}

fn default_timeout() -> Duration {
    super::DEFAULT_TIMEOUT
}

#[async_trait]
impl NotifierConfig for PagerDutyNotifierConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError> {
        let routing_key = secret_from(
            self.routing_key.as_ref(),
            self.routing_key_env.as_deref(),
            "routing_key",
        )?
        .ok_or_else(|| {
            BuildError::msg("give `routing_key` or `routing_key_env`").at_key("routing_key")
        })?;
        let url = reqwest::Url::parse(&self.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| BuildError::msg("not an http(s) URL").at_key("url"))?;
        let source = self.source.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "hpti".into())
        });
        let client =
            client(self.timeout).map_err(|e| BuildError::new("cannot build the HTTP client", e))?;
        Ok(Arc::new(PagerDutyNotifier {
            routing_key,
            url,
            source,
            client,
        }))
    }
}

/// PagerDuty's severity of an alert.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "info",
    }
}

/// Sends alerts to PagerDuty's Events API v2.
pub struct PagerDutyNotifier {
    routing_key: Secret,
    url: reqwest::Url,
    source: String,
    client: reqwest::Client,
}

impl PagerDutyNotifier {
    /// The event of one alert: a trigger while it fires, else a resolve.
    pub fn event(&self, alert: &Alert) -> serde_json::Value {
        let dedup_key = alert.fingerprint.to_string();
        if alert.ends_at.is_some() {
            return serde_json::json!({
                "routing_key": self.routing_key.expose(),
                "event_action": "resolve",
                "dedup_key": dedup_key,
            });
        }
        serde_json::json!({
            "routing_key": self.routing_key.expose(),
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": truncate_chars(&alert.summary, MAX_SUMMARY),
                "source": self.source,
                "severity": severity(alert.severity),
                "timestamp": alert.starts_at,
                "component": alert.labels.get("sensor"),
                "group": alert.rule,
                "class": alert.rule,
                "custom_details": {
                    "key": alert.key,
                    "count": alert.count,
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                },
            },
        })
    }
}

#[async_trait]
impl Notifier for PagerDutyNotifier {
    fn name(&self) -> &str {
        "pagerduty"
    }

    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        // One event per alert; a failure stops the group (retried whole: PagerDuty
        // deduplicates the ones already accepted by their dedup_key).
        for alert in group.firing().chain(group.resolved()) {
            let request = self.client.post(self.url.clone()).json(&self.event(alert));
            let reply = send(request, "pagerduty").await?;
            if !reply.status.is_success() {
                return Err(failure("pagerduty", &reply, Some(Duration::from_secs(5))));
            }
        }
        Ok(())
    }
}
