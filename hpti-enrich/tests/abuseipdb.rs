//! The AbuseIPDB lookup against a mock of API v2's `check` endpoint: the documented
//! request (`GET /api/v2/check?ipAddress=..&maxAgeInDays=..` with the `Key` and `Accept`
//! headers) and the documented answers, each mapped to its outcome.

#![cfg(feature = "abuseipdb")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpti_core::event::{Event, EventKind, Protocol, Reputation};
use hpti_enrich::abuseipdb::{AbuseIpDb, AbuseIpDbConfig, AbuseIpDbReport};
use hpti_enrich::http::ApiKey;
use hpti_enrich::lookup::{Lookup, LookupError, LookupErrorKind};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const KEY: &str = "d1e2a3d4b5e6e7f8-test-api-key-0123456789";
const IP: &str = "118.25.6.39";

fn config(server: &MockServer) -> AbuseIpDbConfig {
    AbuseIpDbConfig::new(ApiKey::new(KEY).unwrap())
        .with_base_url(server.uri())
        .with_timeout(Duration::from_secs(5))
}

fn lookup(server: &MockServer) -> AbuseIpDb {
    AbuseIpDb::new(config(server)).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn event(src: &str) -> Event {
    Event::new("t", Protocol::Ssh, ip(src), EventKind::SessionStarted)
}

/// The documented request for `ip`, key header included.
fn check(ip: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v2/check"))
        .and(query_param("ipAddress", ip))
        .and(query_param("maxAgeInDays", "90"))
        .and(header("Key", KEY))
        .and(header("Accept", "application/json"))
}

/// Mounts `response` for the documented request (expected exactly once) and fetches.
async fn fetch_with(response: ResponseTemplate) -> Result<Option<AbuseIpDbReport>, LookupError> {
    let server = MockServer::start().await;
    check(IP)
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    lookup(&server).fetch(&ip(IP)).await
}

/// Fetches with `response`, expecting an error of `kind` whose message has no key.
async fn expect_error(response: ResponseTemplate, kind: LookupErrorKind) -> LookupError {
    let error = fetch_with(response).await.unwrap_err();
    assert_eq!(error.kind, kind, "{error}");
    assert_no_key(&error);
    error
}

fn assert_no_key(error: &LookupError) {
    assert!(!error.to_string().contains(KEY), "{error}");
    assert!(!format!("{error:?}").contains(KEY), "{error:?}");
}

fn errors_body(detail: &str, status: u16) -> serde_json::Value {
    json!({"errors": [{"detail": detail, "status": status}]})
}

/// The example answer of AbuseIPDB's documentation (without `verbose`).
fn documented_answer() -> serde_json::Value {
    json!({
        "data": {
            "ipAddress": "118.25.6.39",
            "isPublic": true,
            "ipVersion": 4,
            "isWhitelisted": false,
            "abuseConfidenceScore": 100,
            "countryCode": "CN",
            "usageType": "Data Center/Web Hosting/Transit",
            "isp": "Tencent Cloud Computing (Beijing) Co. Ltd",
            "domain": "tencent.com",
            "hostnames": [],
            "isTor": false,
            "totalReports": 1,
            "numDistinctUsers": 1,
            "lastReportedAt": "2018-12-20T20:55:14+00:00"
        }
    })
}

#[tokio::test]
async fn documented_answer_is_parsed_and_applied() {
    let report = fetch_with(ResponseTemplate::new(200).set_body_json(documented_answer()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        AbuseIpDbReport {
            abuse_confidence_score: Some(100),
            total_reports: Some(1),
            num_distinct_users: Some(1),
            usage_type: Some("Data Center/Web Hosting/Transit".into()),
            isp: Some("Tencent Cloud Computing (Beijing) Co. Ltd".into()),
            domain: Some("tencent.com".into()),
            hostnames: vec![],
            country_code: Some("CN".into()),
            is_tor: Some(false),
            is_whitelisted: Some(false),
            last_reported_at: Some("2018-12-20T20:55:14+00:00".into()),
        }
    );

    let server = MockServer::start().await;
    let mut event = event(IP);
    lookup(&server).apply(&report, &mut event);
    let details: BTreeMap<String, serde_json::Value> = [
        ("usage_type", json!("Data Center/Web Hosting/Transit")),
        ("isp", json!("Tencent Cloud Computing (Beijing) Co. Ltd")),
        ("domain", json!("tencent.com")),
        ("country_code", json!("CN")),
        ("distinct_users", json!(1)),
        ("is_tor", json!(false)),
        ("is_whitelisted", json!(false)),
        ("last_reported_at", json!("2018-12-20T20:55:14+00:00")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(
        event.enrichment.reputation,
        vec![Reputation {
            source: "abuseipdb".into(),
            score: Some(100),
            malicious: None,
            total: Some(1),
            details,
        }]
    );
    assert!(event.enrichment.tags.is_empty());
}

#[tokio::test]
async fn nulls_are_none_and_tor_is_tagged() {
    let body = json!({
        "data": {
            "ipAddress": "185.220.101.1",
            "isPublic": true,
            "ipVersion": 4,
            "isWhitelisted": null,
            "abuseConfidenceScore": 0,
            "countryCode": null,
            "usageType": null,
            "isp": "Stiftung Erneuerbare Freiheit",
            "domain": null,
            "hostnames": ["tor-exit-1.example"],
            "isTor": true,
            "totalReports": 0,
            "numDistinctUsers": 0,
            "lastReportedAt": null
        }
    });
    let server = MockServer::start().await;
    check("185.220.101.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = lookup(&server);
    let report = lookup.fetch(&ip("185.220.101.1")).await.unwrap().unwrap();
    assert_eq!(report.country_code, None);
    assert_eq!(report.is_whitelisted, None);
    assert_eq!(report.last_reported_at, None);

    let mut event = event("185.220.101.1");
    event.enrichment.tags.push("tor".into()); // e.g. from GeoIP: not repeated
    lookup.apply(&report, &mut event);
    let details: BTreeMap<String, serde_json::Value> = [
        ("isp", json!("Stiftung Erneuerbare Freiheit")),
        ("distinct_users", json!(0)),
        ("is_tor", json!(true)),
        ("hostnames", json!(["tor-exit-1.example"])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(
        event.enrichment.reputation,
        vec![Reputation {
            source: "abuseipdb".into(),
            score: Some(0),
            malicious: None,
            total: Some(0),
            details,
        }]
    );
    assert_eq!(event.enrichment.tags, vec!["tor".to_owned()]);

    let mut fresh = self::event("185.220.101.1");
    lookup.apply(&report, &mut fresh);
    assert_eq!(fresh.enrichment.tags, vec!["tor".to_owned()]);
}

#[tokio::test]
async fn missing_fields_are_none() {
    let report = fetch_with(ResponseTemplate::new(200).set_body_json(json!({"data": {}})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report, AbuseIpDbReport::default());
    let server = MockServer::start().await;
    let mut event = event(IP);
    lookup(&server).apply(&report, &mut event);
    assert_eq!(
        event.enrichment.reputation,
        vec![Reputation {
            source: "abuseipdb".into(),
            score: None,
            malicious: None,
            total: None,
            details: BTreeMap::new(),
        }]
    );
}

#[tokio::test]
async fn the_report_survives_a_cache_round_trip() {
    let report = fetch_with(ResponseTemplate::new(200).set_body_json(documented_answer()))
        .await
        .unwrap()
        .unwrap();
    let text = serde_json::to_string(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<AbuseIpDbReport>(&text).unwrap(),
        report
    );
}

#[tokio::test]
async fn unauthorized_401() {
    let error = expect_error(
        ResponseTemplate::new(401).set_body_json(errors_body(
            "Authentication failed. Your API key is either missing, incorrect, or revoked. \
             Note: The APIv2 key differs from the APIv1 key.",
            401,
        )),
        LookupErrorKind::Unauthorized,
    )
    .await;
    assert!(error.message.contains("Authentication failed"), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn forbidden_403() {
    expect_error(
        ResponseTemplate::new(403).set_body_json(errors_body("Forbidden.", 403)),
        LookupErrorKind::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn rejected_422() {
    let body = json!({"errors": [{
        "detail": "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).",
        "status": 422,
        "source": {"parameter": "ipAddress"}
    }]});
    let error = expect_error(
        ResponseTemplate::new(422).set_body_json(body),
        LookupErrorKind::Rejected,
    )
    .await;
    assert!(error.message.contains("must be a valid IPv4"), "{error}");
}

#[tokio::test]
async fn rejected_400() {
    expect_error(
        ResponseTemplate::new(400).set_body_json(errors_body("Bad request.", 400)),
        LookupErrorKind::Rejected,
    )
    .await;
}

#[tokio::test]
async fn not_found_404_is_temporary() {
    // The check endpoint answers every address; a 404 is a wrong base URL or a proxy.
    expect_error(
        ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn rate_limited_429_honours_retry_after() {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 29;
    let error = expect_error(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "29")
            .insert_header("X-RateLimit-Limit", "1000")
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset", reset.to_string().as_str())
            .set_body_json(errors_body(
                "Daily rate limit of 1000 requests exceeded for this endpoint. \
                 See headers for additional details.",
                429,
            )),
        LookupErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(29)),
        },
    )
    .await;
    assert!(error.message.contains("quota exhausted"), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn rate_limited_429_falls_back_to_the_reset_time() {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 120;
    let error = fetch_with(
        ResponseTemplate::new(429)
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset", reset.to_string().as_str()),
    )
    .await
    .unwrap_err();
    let LookupErrorKind::RateLimited {
        retry_after: Some(wait),
    } = error.kind
    else {
        panic!("{error:?}");
    };
    assert!((Duration::from_secs(100)..=Duration::from_secs(120)).contains(&wait));
}

#[tokio::test]
async fn rate_limited_429_without_headers() {
    expect_error(
        ResponseTemplate::new(429),
        LookupErrorKind::RateLimited { retry_after: None },
    )
    .await;
}

#[tokio::test]
async fn server_errors_are_temporary() {
    for status in [500, 502, 503, 504] {
        expect_error(
            ResponseTemplate::new(status).set_body_string("upstream trouble"),
            LookupErrorKind::Temporary,
        )
        .await;
    }
}

#[tokio::test]
async fn a_timeout_is_temporary() {
    let server = MockServer::start().await;
    check(IP)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(documented_answer())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let lookup = AbuseIpDb::new(config(&server).with_timeout(Duration::from_millis(200))).unwrap();
    let started = std::time::Instant::now();
    let error = lookup.fetch(&ip(IP)).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    assert!(error.message.contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_no_key(&error);
}

#[tokio::test]
async fn a_refused_connection_is_temporary() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let lookup = AbuseIpDb::new(
        AbuseIpDbConfig::new(ApiKey::new(KEY).unwrap())
            .with_base_url(format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let error = lookup.fetch(&ip(IP)).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary, "{error}");
    assert_no_key(&error);
}

#[tokio::test]
async fn malformed_json_is_temporary() {
    expect_error(
        ResponseTemplate::new(200).set_body_string(r#"{"data": {"abuseConfidenceScore": 10"#),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn a_wrong_shape_is_temporary() {
    expect_error(
        ResponseTemplate::new(200).set_body_json(json!({"data": {"abuseConfidenceScore": "high"}})),
        LookupErrorKind::Temporary,
    )
    .await;
    expect_error(
        ResponseTemplate::new(200).set_body_json(json!({"result": {}})),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn an_empty_body_is_temporary() {
    expect_error(ResponseTemplate::new(200), LookupErrorKind::Temporary).await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // Following would send the `Key` header to wherever the redirect points.
    let server = MockServer::start().await;
    check(IP)
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/elsewhere"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(documented_answer()))
        .expect(0)
        .mount(&server)
        .await;
    let error = lookup(&server).fetch(&ip(IP)).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
}

#[tokio::test]
async fn max_age_and_ipv6_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/check"))
        .and(query_param("ipAddress", "2001:4860:4860::8888"))
        .and(query_param("maxAgeInDays", "30"))
        .and(header("Key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(documented_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = AbuseIpDb::new(config(&server).with_max_age_days(30)).unwrap();
    assert!(
        lookup
            .fetch(&ip("2001:4860:4860::8888"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_base_url_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/proxy/abuseipdb/api/v2/check"))
        .and(header("Key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(documented_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let lookup =
        AbuseIpDb::new(config(&server).with_base_url(format!("{}/proxy/abuseipdb/", server.uri())))
            .unwrap();
    assert!(lookup.fetch(&ip(IP)).await.unwrap().is_some());
}

#[tokio::test]
async fn local_addresses_have_no_key_and_are_never_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(documented_answer()))
        .expect(0)
        .mount(&server)
        .await;
    let lookup = lookup(&server);
    for local in [
        "0.0.0.0",
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.10",
        "169.254.0.1",
        "100.64.1.1",
        "::",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "::ffff:192.168.1.1",
    ] {
        assert_eq!(lookup.key(&event(local)), None, "{local}");
        let error = lookup.fetch(&ip(local)).await.unwrap_err();
        assert_eq!(error.kind, LookupErrorKind::Rejected, "{local}");
    }
    assert_eq!(lookup.key(&event(IP)), Some(ip(IP)));
    assert_eq!(
        lookup.key(&event("2001:4860:4860::8888")),
        Some(ip("2001:4860:4860::8888"))
    );
    assert_eq!(lookup.name(), "abuseipdb");
}

#[tokio::test]
async fn the_key_never_shows() {
    // A server echoing the key back: the message still hides it.
    let error = expect_error(
        ResponseTemplate::new(401).set_body_json(errors_body(&format!("bad key {KEY}"), 401)),
        LookupErrorKind::Unauthorized,
    )
    .await;
    assert!(error.message.contains("bad key ***"), "{error}");

    let server = MockServer::start().await;
    let config = config(&server);
    assert!(!format!("{config:?}").contains(KEY));
    let lookup = AbuseIpDb::new(config).unwrap();
    assert!(!format!("{lookup:?}").contains(KEY));
    assert!(!format!("{:?}", ApiKey::new(KEY).unwrap()).contains(KEY));
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let key = || ApiKey::new(KEY).unwrap();
    for days in [0, 366] {
        let error =
            AbuseIpDb::new(AbuseIpDbConfig::new(key()).with_max_age_days(days)).unwrap_err();
        assert!(error.to_string().contains("maxAgeInDays"), "{error}");
    }
    for url in [
        "",
        "api.abuseipdb.com",
        "ftp://api.abuseipdb.com",
        "https://user:pw@host",
    ] {
        let error = AbuseIpDb::new(AbuseIpDbConfig::new(key()).with_base_url(url)).unwrap_err();
        assert!(!error.to_string().contains(KEY));
    }
    assert!(AbuseIpDb::new(AbuseIpDbConfig::new(key()).with_timeout(Duration::ZERO)).is_err());
    assert!(ApiKey::new("").is_err());
    assert!(ApiKey::new("two words").is_err());
    let defaults = AbuseIpDbConfig::new(key());
    assert_eq!(defaults.base_url, "https://api.abuseipdb.com");
    assert_eq!(defaults.max_age_days, 90);
    assert_eq!(defaults.timeout, Duration::from_secs(5));
    assert!(AbuseIpDb::new(defaults).is_ok());
}
