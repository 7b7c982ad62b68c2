//! `type = "discord"`: a Discord webhook with one embed per alert (at most 10). Discord's
//! limits are kept by cutting, never by failing: 256 characters in a title, 4,096 in a
//! description, 1,024 in a field's value, 25 fields, 6,000 characters in all the embeds
//! of a message. Mentions are disabled (`allowed_mentions`), so an attacker's
//! `@everyone` pings nobody, and Markdown in attacker-chosen text is escaped. A 429's
//! `retry_after` (the JSON body, or `Retry-After`) is honoured, and so is
//! `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset-After` before the next request.
//!
//! ```toml
//! [notifiers.discord]
//! type = "discord"
//! url_env = "HPTI_DISCORD_WEBHOOK"   # https://discord.com/api/webhooks/...
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::alert::{Alert, Severity};
use hpti_core::component::{BuildContext, BuildError, NotifierConfig};
use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
use hpti_core::secret::Secret;
use serde::Deserialize;
use tokio::time::Instant;

use super::{client, failure, secret_from, send, title, truncate_chars};

/// Characters in all the embeds of one message.
pub const MAX_TOTAL: usize = 6_000;
/// Characters in a field's value.
pub const MAX_FIELD_VALUE: usize = 1_024;
/// Characters in an embed's title.
pub const MAX_TITLE: usize = 256;
/// Characters in an embed's description.
pub const MAX_DESCRIPTION: usize = 4_096;
/// Embeds in one message.
pub const MAX_EMBEDS: usize = 10;

/// `[notifiers.<id>] type = "discord"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordNotifierConfig {
    /// The webhook's URL (a secret).
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
impl NotifierConfig for DiscordNotifierConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError> {
        let url = secret_from(self.url.as_ref(), self.url_env.as_deref(), "url")?
            .ok_or_else(|| BuildError::msg("give `url` or `url_env`").at_key("url"))?;
        let url = reqwest::Url::parse(url.expose())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| BuildError::msg("not an http(s) URL").at_key("url"))?;
        let client =
            client(self.timeout).map_err(|e| BuildError::new("cannot build the HTTP client", e))?;
        Ok(Arc::new(DiscordNotifier {
            url,
            client,
            blocked_until: Mutex::new(None),
        }))
    }
}

/// `text` with Discord's Markdown characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '-' | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn color(alert: &Alert) -> u32 {
    if alert.ends_at.is_some() {
        return 0x2e_cc_71;
    }
    match alert.severity {
        Severity::Critical => 0x99_00_00,
        Severity::High => 0xe7_4c_3c,
        Severity::Medium => 0xe6_7e_22,
        Severity::Low => 0xf1_c4_0f,
        Severity::Informational => 0x34_98_db,
    }
}

/// Posts to a Discord webhook.
pub struct DiscordNotifier {
    url: reqwest::Url,
    client: reqwest::Client,
    /// The bucket is empty until then (`X-RateLimit-Remaining: 0`).
    blocked_until: Mutex<Option<Instant>>,
}

impl DiscordNotifier {
    /// The message of a group.
    pub fn payload(group: &AlertGroup) -> serde_json::Value {
        let alerts: Vec<&Alert> = group.firing().chain(group.resolved()).collect();
        let mut budget = MAX_TOTAL;
        let mut embeds = Vec::new();
        let take = |text: String, max: usize, budget: &mut usize| -> String {
            let cut = truncate_chars(&text, max.min(*budget));
            *budget -= cut.chars().count();
            cut
        };
        for alert in alerts.iter().take(MAX_EMBEDS) {
            if budget < 20 {
                break;
            }
            let state = if alert.ends_at.is_some() {
                "RESOLVED"
            } else {
                alert.severity.as_str()
            };
            let embed_title = take(
                format!("[{}] {}", state.to_uppercase(), alert.rule),
                MAX_TITLE,
                &mut budget,
            );
            let description = take(escape(&alert.summary), MAX_DESCRIPTION, &mut budget);
            let mut fields = Vec::new();
            for (name, value) in alert.labels.iter().take(20) {
                if budget < 10 {
                    break;
                }
                let name = take(escape(name), 256, &mut budget);
                let value = take(escape(value), MAX_FIELD_VALUE, &mut budget);
                fields.push(serde_json::json!({"name": name, "value": value, "inline": true}));
            }
            let mut embed = serde_json::json!({
                "title": embed_title,
                "description": description,
                "color": color(alert),
                "fields": fields,
                "timestamp": alert.raised_at,
            });
            if let Some(map) = embed.as_object_mut()
                && budget > 40
            {
                let footer = take(
                    format!("{} events · {}", alert.count, alert.fingerprint),
                    2_048,
                    &mut budget,
                );
                map.insert("footer".into(), serde_json::json!({ "text": footer }));
            }
            embeds.push(embed);
        }
        let mut content = truncate_chars(&escape(&title(group)), 2_000);
        if alerts.len() > embeds.len() {
            content.push_str(&format!(" (… and {} more)", alerts.len() - embeds.len()));
        }
        serde_json::json!({
            "content": content,
            "embeds": embeds,
            "allowed_mentions": {"parse": []},
        })
    }
}

fn seconds(headers: &reqwest::header::HeaderMap, name: &str) -> Option<Duration> {
    let value: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(value.max(0.0)).ok()
}

#[async_trait]
impl Notifier for DiscordNotifier {
    fn name(&self) -> &str {
        "discord"
    }

    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        let blocked = *self
            .blocked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = blocked {
            tokio::time::sleep_until(until).await;
        }
        let request = self
            .client
            .post(self.url.clone())
            .json(&Self::payload(group));
        let reply = send(request, "discord").await?;
        let empty = reply
            .headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        *self
            .blocked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = if empty {
            seconds(&reply.headers, "x-ratelimit-reset-after").map(|d| Instant::now() + d)
        } else {
            None
        };
        if reply.status.is_success() {
            return Ok(());
        }
        // A 429 says how long in its body (`retry_after`, seconds), else in headers.
        let from_body = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["retry_after"].as_f64())
            .and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok());
        let wait = from_body.or_else(|| seconds(&reply.headers, "x-ratelimit-reset-after"));
        match (reply.status.as_u16(), wait) {
            (429, Some(wait)) => Err(NotifyError::rate_limited(
                format!(
                    "discord: HTTP 429: {}",
                    truncate_chars(reply.body.trim(), 200)
                ),
                Some(wait),
            )),
            _ => Err(failure("discord", &reply, Some(Duration::from_secs(1)))),
        }
    }
}
