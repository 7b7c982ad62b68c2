//! The notifiers (`[notifiers.<id>] type = ...`): a webhook signed as the Standard
//! Webhooks spec says, Slack, Discord and PagerDuty. Each is a folder-less module behind
//! its feature; they share the HTTP plumbing here: one request, its failure classified
//! (a 429's `Retry-After` honoured, 5xx and timeouts retried, other 4xx not), and the
//! plain-text rendering of an alert group.

#[cfg(feature = "discord")]
pub mod discord;
#[cfg(feature = "email")]
pub mod email;
#[cfg(feature = "pagerduty")]
pub mod pagerduty;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(feature = "webhook")]
pub mod webhook;

use std::time::{Duration, SystemTime};

use hpti_core::alert::Alert;
use hpti_core::notify::{AlertGroup, NotifyError};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, StatusCode};

/// How long one request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a service's error text kept in an error message.
const MAX_DETAIL: usize = 300;
/// The largest response body read.
const MAX_BODY: usize = 64 << 10;

/// The HTTP client of a notifier: a timeout, no redirects (a webhook URL is a secret),
/// rustls.
pub(crate) fn client(timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hpti/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The answer to a request that was sent.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Sends a request and reads (a bounded part of) its answer; connection failures and
/// timeouts are temporary. The error never shows the URL (it may hold a token).
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    service: &str,
) -> Result<Reply, NotifyError> {
    let mut response = request.send().await.map_err(|e| {
        NotifyError::temporary(format!("{service}: {}", describe(&e)), e.without_url())
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        NotifyError::temporary(
            format!("{service}: reading the answer: {}", describe(&e)),
            e.without_url(),
        )
    })? {
        if body.len() + chunk.len() > MAX_BODY {
            body.extend_from_slice(&chunk[..MAX_BODY - body.len()]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn describe(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
}

/// The error of a reply that is not a success: 429 waits (`Retry-After`, else
/// `fallback_wait`), 408 and 5xx are retried, other 4xx are not.
pub(crate) fn failure(
    service: &str,
    reply: &Reply,
    fallback_wait: Option<Duration>,
) -> NotifyError {
    let detail: String = reply.body.chars().take(MAX_DETAIL).collect();
    let message = format!(
        "{service}: HTTP {}: {}",
        reply.status.as_u16(),
        detail.trim()
    );
    match reply.status {
        StatusCode::TOO_MANY_REQUESTS => {
            NotifyError::rate_limited(message, retry_after(&reply.headers).or(fallback_wait))
        }
        StatusCode::REQUEST_TIMEOUT => NotifyError::temporary(message, "request timeout"),
        s if s.is_server_error() => NotifyError::temporary(message, "server error"),
        _ => NotifyError::permanent(message),
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds.max(0.0)).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

pub(crate) use hpti_core::secret::secret_from;

/// `"firing"` while any alert of the group fires, else `"resolved"`.
pub fn status(group: &AlertGroup) -> &'static str {
    if group.firing().next().is_some() {
        "firing"
    } else {
        "resolved"
    }
}

/// A one-line title: `[FIRING:2] ssh-brute-force` (the rules of the group, joined).
pub fn title(group: &AlertGroup) -> String {
    let mut rules: Vec<&str> = group.alerts.iter().map(|a| a.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let firing = group.firing().count();
    let head = if firing > 0 {
        format!("[FIRING:{firing}]")
    } else {
        "[RESOLVED]".to_owned()
    };
    format!("{head} {}", rules.join(", "))
}

/// One line per alert: `[high] summary (since ..., 50 events)` or `[resolved] summary`.
pub fn line(alert: &Alert) -> String {
    match alert.ends_at {
        None => format!(
            "[{}] {} (since {}, {} event{})",
            alert.severity.as_str(),
            alert.summary,
            alert.starts_at,
            alert.count,
            if alert.count == 1 { "" } else { "s" }
        ),
        Some(_) => format!("[resolved] {}", alert.summary),
    }
}

/// The group as plain text: the title, then one line per alert (firing first).
pub fn plain_text(group: &AlertGroup) -> String {
    let mut text = title(group);
    for alert in group.firing().chain(group.resolved()) {
        text.push('\n');
        text.push_str(&line(alert));
    }
    text
}

/// `text` cut to at most `max` characters (not bytes: the services count characters),
/// ending in `…` when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::alert::Severity;
    use hpti_core::event::Timestamp;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, "1.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn text_and_truncation() {
        let a = Alert::new(
            "brute",
            Severity::High,
            "k",
            "203.0.113.7 tried 50 logins",
            Timestamp::from_micros(0),
        )
        .with_events(50, []);
        let group = AlertGroup::new(
            "g",
            vec![a.clone(), a.resolved_at(Timestamp::from_micros(1))],
        );
        let text = plain_text(&group);
        assert!(
            text.starts_with("[FIRING:1] brute\n[high] 203.0.113.7 tried 50 logins (since"),
            "{text}"
        );
        assert!(
            text.ends_with("[resolved] 203.0.113.7 tried 50 logins"),
            "{text}"
        );
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }
}
