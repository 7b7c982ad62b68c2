//! The HTTP notifiers against wiremock servers that answer as the services document:
//! their payloads, limits, errors and rate limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use hpti_alert::notifiers::discord::DiscordNotifierConfig;
use hpti_alert::notifiers::pagerduty::PagerDutyNotifierConfig;
use hpti_alert::notifiers::slack::SlackNotifierConfig;
use hpti_alert::notifiers::webhook::WebhookNotifierConfig;
use hpti_core::alert::{Alert, Severity};
use hpti_core::component::{BuildContext, ComponentId, NotifierConfig};
use hpti_core::error::ErrorClass;
use hpti_core::event::Timestamp;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::notify::{AlertGroup, Notifier};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn cx() -> BuildContext {
    BuildContext::new(
        ComponentId::new("n").unwrap(),
        PathBuf::from("/nonexistent"),
        PipelineMetrics::default(),
    )
}

const HOSTILE: &str = "<!channel> @everyone **bold** [x](http://evil) & <script>";

fn group(n: usize, summary: &str) -> AlertGroup {
    let alerts = (0..n)
        .map(|i| {
            Alert::new(
                "ssh-brute-force",
                Severity::High,
                format!("203.0.113.{i}"),
                format!("{summary} {i}"),
                Timestamp::now(),
            )
            .with_label("src_ip", format!("203.0.113.{i}"))
            .with_events(50, [])
        })
        .collect();
    AlertGroup::new("{rule=\"ssh-brute-force\"}", alerts)
}

async fn build<C: NotifierConfig>(config: C) -> Arc<dyn Notifier> {
    config.build(&cx()).await.unwrap()
}

fn toml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    toml::from_str(text).unwrap()
}

#[tokio::test]
async fn webhook_posts_the_group_signed_as_standard_webhooks_says() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let key = [7u8; 24];
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let notifier = build(toml::<WebhookNotifierConfig>(&format!(
        "url = \"{}/hook\"\nsecret = \"{secret}\"\n",
        server.uri()
    )))
    .await;
    let sent = group(2, HOSTILE);
    notifier.notify(&sent).await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    // Checked as a receiver would, independently of hpti's signing code.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(signature, format!("v1,{expected}"));
    let age = Timestamp::now().as_micros() / 1_000_000 - timestamp.parse::<i64>().unwrap();
    assert!((0..5).contains(&age));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["alerts"][0]["summary"],
        format!("{HOSTILE} 0"),
        "JSON carries text as is"
    );
    assert_eq!(body["title"], "[FIRING:2] ssh-brute-force");

    // Unsigned without a secret; a 410 is not retried, a 503 is.
    let unsigned = build(toml::<WebhookNotifierConfig>(&format!(
        "url = \"{}/gone\"\n",
        server.uri()
    )))
    .await;
    Mock::given(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&server)
        .await;
    let err = unsigned.notify(&sent).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    let last = server.received_requests().await.unwrap().pop().unwrap();
    assert!(last.headers.get("webhook-signature").is_none());
    assert!(last.headers.get("webhook-id").is_some());
    Mock::given(path("/busy"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let busy = build(toml::<WebhookNotifierConfig>(&format!(
        "url = \"{}/busy\"\n",
        server.uri()
    )))
    .await;
    assert_eq!(
        busy.notify(&sent).await.unwrap_err().class(),
        ErrorClass::Temporary
    );
    // Nothing listening: temporary, and the URL (a secret) is not in the message.
    let down = build(toml::<WebhookNotifierConfig>(
        "url = \"http://127.0.0.1:9/token-abc\"\n",
    ))
    .await;
    let err = down.notify(&sent).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Temporary);
    assert!(!format!("{err} {err:?}").contains("token-abc"), "{err:?}");
    // A bad secret is refused at build.
    let bad: WebhookNotifierConfig = toml("url = \"http://x/\"\nsecret = \"nope\"\n");
    assert_eq!(
        bad.build(&cx()).await.err().unwrap().key.as_deref(),
        Some("secret")
    );
}

#[tokio::test]
async fn slack_gets_text_and_blocks_within_its_limits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let notifier = build(toml::<SlackNotifierConfig>(&format!(
        "url = \"{}/services/T/B/X\"\n",
        server.uri()
    )))
    .await;
    let long = format!("{HOSTILE} {}", "x".repeat(10_000));
    notifier.notify(&group(60, &long)).await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let blocks = body["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{}", blocks.len());
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    for block in blocks.iter().filter(|b| b["type"] == "section") {
        let text = block["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= 3000);
        assert!(
            !text.contains("<!channel>") && !text.contains("<script>"),
            "escaped: {text}"
        );
        assert!(text.contains("&lt;!channel&gt;"));
    }
    assert!(
        blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains("more")
    );
    assert!(body["text"].as_str().unwrap().chars().count() <= 3000);

    // Slack's documented errors: 429 with Retry-After, 403 invalid_token, 500.
    for (status, body, retry, class) in [
        (
            429,
            "rate_limited",
            Some("30"),
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            },
        ),
        (403, "invalid_token", None, ErrorClass::Permanent),
        (404, "no_service", None, ErrorClass::Permanent),
        (500, "rollup_error", None, ErrorClass::Temporary),
    ] {
        let server = MockServer::start().await;
        let mut reply = ResponseTemplate::new(status).set_body_string(body);
        if let Some(retry) = retry {
            reply = reply.insert_header("Retry-After", retry);
        }
        Mock::given(method("POST"))
            .respond_with(reply)
            .mount(&server)
            .await;
        let notifier = build(toml::<SlackNotifierConfig>(&format!(
            "url = \"{}/h\"\n",
            server.uri()
        )))
        .await;
        let err = notifier.notify(&group(1, "x")).await.unwrap_err();
        assert_eq!(err.class(), class, "{status}");
        assert!(err.to_string().contains(body), "{err}");
    }
}

#[tokio::test]
async fn discord_embeds_stay_within_its_limits_and_mention_nobody() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let notifier = build(toml::<DiscordNotifierConfig>(&format!(
        "url = \"{}/api/webhooks/1/t\"\n",
        server.uri()
    )))
    .await;
    let long = format!("{HOSTILE} {}", "y".repeat(5_000));
    notifier.notify(&group(12, &long)).await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    let embeds = body["embeds"].as_array().unwrap();
    assert!(embeds.len() <= 10);
    let mut total = 0;
    for embed in embeds {
        let count = |v: &serde_json::Value| v.as_str().map_or(0, |s| s.chars().count());
        total +=
            count(&embed["title"]) + count(&embed["description"]) + count(&embed["footer"]["text"]);
        assert!(count(&embed["title"]) <= 256);
        assert!(count(&embed["description"]) <= 4096);
        for field in embed["fields"].as_array().unwrap() {
            assert!(count(&field["value"]) <= 1024);
            total += count(&field["name"]) + count(&field["value"]);
        }
        assert!(
            embed["description"]
                .as_str()
                .unwrap()
                .starts_with("<!channel\\> \\@everyone \\*\\*bold")
        );
    }
    assert!(total <= 6000, "{total}");
    assert!(body["content"].as_str().unwrap().contains("more"));
}

#[tokio::test]
async fn discord_honours_retry_after_and_an_empty_bucket() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(serde_json::json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/empty"))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset-After", "0.8"),
        )
        .mount(&server)
        .await;
    let limited = build(toml::<DiscordNotifierConfig>(&format!(
        "url = \"{}/limited\"\n",
        server.uri()
    )))
    .await;
    let err = limited.notify(&group(1, "x")).await.unwrap_err();
    assert_eq!(
        err.class(),
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_millis(1500))
        }
    );
    let empty = build(toml::<DiscordNotifierConfig>(&format!(
        "url = \"{}/empty\"\n",
        server.uri()
    )))
    .await;
    empty.notify(&group(1, "x")).await.unwrap();
    let started = std::time::Instant::now();
    empty.notify(&group(1, "x")).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "waited for the bucket: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_by_dedup_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": "x"}),
        ))
        .mount(&server)
        .await;
    let notifier = build(toml::<PagerDutyNotifierConfig>(&format!(
        "routing_key = \"R0UT1NGKEY0123456789012345678901\"\nurl = \"{}/v2/enqueue\"\nsource = \"edge-1\"\n",
        server.uri()
    )))
    .await;
    let firing = group(1, "brute force");
    notifier.notify(&firing).await.unwrap();
    let resolved = AlertGroup::new(
        firing.group_key.clone(),
        vec![firing.alerts[0].clone().resolved_at(Timestamp::now())],
    );
    notifier.notify(&resolved).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let trigger: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let resolve: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    let fingerprint = firing.alerts[0].fingerprint.to_string();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY0123456789012345678901");
    assert_eq!(trigger["dedup_key"], fingerprint.as_str());
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(trigger["payload"]["source"], "edge-1");
    assert_eq!(trigger["payload"]["summary"], "brute force 0");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], fingerprint.as_str());
    assert!(resolve.get("payload").is_none());

    // Its documented errors: 400 invalid event (not retried), 429, 5xx.
    for (status, class) in [
        (400, ErrorClass::Permanent),
        (
            429,
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(5)),
            },
        ),
        (502, ErrorClass::Temporary),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(serde_json::json!({
                "status": "invalid event", "message": "Event object is invalid", "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"]
            })))
            .mount(&server)
            .await;
        let notifier = build(toml::<PagerDutyNotifierConfig>(&format!(
            "routing_key = \"short\"\nurl = \"{}/v2/enqueue\"\n",
            server.uri()
        )))
        .await;
        assert_eq!(
            notifier.notify(&firing).await.unwrap_err().class(),
            class,
            "{status}"
        );
    }
}
