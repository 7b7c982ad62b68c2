//! `type = "slack"`: an incoming webhook; `text` (the notification's fallback) plus Block
//! Kit blocks: a header and one `mrkdwn` section per alert. Slack refuses a section over
//! 3,000 characters, a header over 150 and a message over 50 blocks: text is cut to fit,
//! never refused. Attacker-chosen text is escaped (`&`, `<`, `>`), so it cannot mention
//! `@channel` or forge a link.
//!
//! ```toml
//! [notifiers.slack]
//! type = "slack"
//! url_env = "HPTI_SLACK_WEBHOOK"   # https://hooks.slack.com/services/...
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, NotifierConfig};
use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
use hpti_core::secret::Secret;
use serde::Deserialize;

use super::{client, failure, line, secret_from, send, title, truncate_chars};

/// The longest section text Slack accepts.
pub const MAX_SECTION: usize = 3_000;
/// The longest header text.
pub const MAX_HEADER: usize = 150;
/// The most blocks in one message.
pub const MAX_BLOCKS: usize = 50;

/// `[notifiers.<id>] type = "slack"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackNotifierConfig {
    /// The incoming webhook's URL (a secret).
    #[serde(default)]
    pub url: Option<Secret>,
    /// The environment variable holding it.
    #[serde(default)]
    pub url_env: Option<String>,
    /// One request's time limit.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    super::DEFAULT_TIMEOUT
}

#[async_trait]
impl NotifierConfig for SlackNotifierConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError> {
        let url = secret_from(self.url.as_ref(), self.url_env.as_deref(), "url")?
            .ok_or_else(|| BuildError::msg("give `url` or `url_env`").at_key("url"))?;
        let url = reqwest::Url::parse(url.expose())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| BuildError::msg("not an http(s) URL").at_key("url"))?;
        let client =
            client(self.timeout).map_err(|e| BuildError::new("cannot build the HTTP client", e))?;
        Ok(Arc::new(SlackNotifier { url, client }))
    }
}

/// Slack's escaping of message text: `&`, `<`, `>`.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Posts to a Slack incoming webhook.
pub struct SlackNotifier {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl SlackNotifier {
    /// The message of a group.
    pub fn payload(group: &AlertGroup) -> serde_json::Value {
        let title = title(group);
        let mut blocks = vec![serde_json::json!({
            "type": "header",
            "text": {"type": "plain_text", "text": truncate_chars(&title, MAX_HEADER)},
        })];
        let alerts: Vec<_> = group.firing().chain(group.resolved()).collect();
        let room = MAX_BLOCKS - 2;
        for alert in alerts.iter().take(room) {
            let mut text = format!("*{}*", escape(&line(alert)));
            let labels: Vec<String> = alert
                .labels
                .iter()
                .map(|(k, v)| format!("`{}`={}", escape(k), escape(v)))
                .collect();
            if !labels.is_empty() {
                text.push('\n');
                text.push_str(&labels.join("  "));
            }
            blocks.push(serde_json::json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate_chars(&text, MAX_SECTION)},
            }));
        }
        if alerts.len() > room {
            blocks.push(serde_json::json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": format!("… and {} more", alerts.len() - room)}],
            }));
        }
        let fallback: Vec<String> = std::iter::once(title.clone())
            .chain(alerts.iter().map(|a| line(a)))
            .collect();
        serde_json::json!({
            "text": truncate_chars(&escape(&fallback.join("\n")), MAX_SECTION),
            "blocks": blocks,
        })
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn name(&self) -> &str {
        "slack"
    }

    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        let request = self
            .client
            .post(self.url.clone())
            .json(&Self::payload(group));
        let reply = send(request, "slack").await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(failure("slack", &reply, Some(Duration::from_secs(1))))
        }
    }
}
