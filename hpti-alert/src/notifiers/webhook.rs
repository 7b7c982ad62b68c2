//! `type = "webhook"`: the alert group as JSON, POSTed to `url`, signed as the Standard
//! Webhooks spec says when a `secret` (`whsec_<base64>`) is given: headers `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "<id>.<timestamp>.<body>">`, so the receiver can check it came from hpti, unaltered
//! and recently. Without a secret the request is unsigned (the id and timestamp are
//! still sent).
//!
//! ```toml
//! [notifiers.hook]
//! type = "webhook"
//! url = "https://soc.example/hooks/hpti"
//! secret_env = "HPTI_WEBHOOK_SECRET"   # whsec_...
//! ```
//!
//! The body: `{"status": "firing"|"resolved", "group_key", "common_labels", "alerts":
//! [...], "title", "text"}`; each alert as `hpti alert list --format json` shows it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac as _};
use hpti_core::component::{BuildContext, BuildError, NotifierConfig};
use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
use hpti_core::secret::Secret;
use serde::Deserialize;
use sha2::Sha256;

use super::{client, failure, plain_text, secret_from, send, status, title};

/// `[notifiers.<id>] type = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookNotifierConfig {
    /// Where to POST (it may hold a token: never logged).
    pub url: Secret,
    /// The signing secret, `whsec_` and base64 (Standard Webhooks).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// One request's time limit.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    super::DEFAULT_TIMEOUT
}

#[async_trait]
impl NotifierConfig for WebhookNotifierConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError> {
        let url = reqwest::Url::parse(self.url.expose())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| BuildError::msg("not an http(s) URL").at_key("url"))?;
        let key = match secret_from(self.secret.as_ref(), self.secret_env.as_deref(), "secret")? {
            Some(secret) => Some(
                signing_key(secret.expose()).map_err(|e| BuildError::msg(e).at_key("secret"))?,
            ),
            None => None,
        };
        let client =
            client(self.timeout).map_err(|e| BuildError::new("cannot build the HTTP client", e))?;
        Ok(Arc::new(WebhookNotifier { url, key, client }))
    }
}

/// The key bytes of a `whsec_<base64>` secret.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .trim()
        .strip_prefix("whsec_")
        .ok_or("a Standard Webhooks secret starts with `whsec_`")?;
    let key = BASE64
        .decode(encoded)
        .map_err(|_| "the part after `whsec_` is not base64")?;
    if key.len() < 16 {
        return Err("the secret is shorter than 16 bytes".into());
    }
    Ok(key)
}

/// The `webhook-signature` value of `body` sent as message `id` at `timestamp`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes a key of any length.
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Posts alert groups to a URL.
pub struct WebhookNotifier {
    url: reqwest::Url,
    key: Option<Vec<u8>>,
    client: reqwest::Client,
}

impl WebhookNotifier {
    /// The JSON body of a group.
    pub fn body(group: &AlertGroup) -> serde_json::Value {
        serde_json::json!({
            "status": status(group),
            "group_key": group.group_key,
            "common_labels": group.common_labels,
            "alerts": group.alerts,
            "title": title(group),
            "text": plain_text(group),
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&Self::body(group))
            .map_err(|e| NotifyError::permanent(format!("webhook: cannot encode: {e}")))?;
        // The same content gets the same id, so a receiver can drop a retried delivery.
        let id = {
            use sha2::Digest as _;
            let digest = Sha256::digest(&body);
            format!("msg_{}", hex(&digest[..16]))
        };
        let timestamp = hpti_core::event::Timestamp::now().as_micros() / 1_000_000;
        let mut request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &self.key {
            request = request.header("webhook-signature", sign(key, &id, timestamp, &body));
        }
        let reply = send(request.body(body), "webhook").await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(failure("webhook", &reply, None))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_spec_example() {
        // The example of the Standard Webhooks specification.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(signing_key("whsec_!!").is_err());
    }
}
