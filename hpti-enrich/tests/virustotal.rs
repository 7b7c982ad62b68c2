//! The VirusTotal lookups against a mock of API v3: the documented requests
//! (`GET /api/v3/ip_addresses/{ip}`, `GET /api/v3/files/{sha256}` with the `x-apikey`
//! header) and the documented answers, each mapped to its outcome.

#![cfg(feature = "virustotal")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Reputation};
use hpti_enrich::http::ApiKey;
use hpti_enrich::lookup::{Lookup, LookupError, LookupErrorKind};
use hpti_enrich::virustotal::{
    AnalysisStats, VirusTotalConfig, VirusTotalFile, VirusTotalIp, VirusTotalReport,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0-test-vt-api-key-abcdef0123456789";
const IP: &str = "118.25.6.39";
/// A Mirai sample's hash (any 64 hex digits do).
const SHA256: &str = "0e0d3bd1bd3a6a4e0ab4e4b4e1e4c2e3e6f1a4b1a2c3d4e5f60718293a4b5c6d";

fn config(server: &MockServer) -> VirusTotalConfig {
    VirusTotalConfig::new(ApiKey::new(KEY).unwrap()).with_base_url(server.uri())
}

fn ip_lookup(server: &MockServer) -> VirusTotalIp {
    VirusTotalIp::new(config(server)).unwrap()
}

fn file_lookup(server: &MockServer) -> VirusTotalFile {
    VirusTotalFile::new(config(server)).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn event(src: &str, kind: EventKind) -> Event {
    Event::new("t", Protocol::Ssh, ip(src), kind)
}

fn download(sha256: Option<&str>) -> Event {
    event(
        IP,
        EventKind::FileDownload {
            url: "http://198.51.100.9/bins/x86".into(),
            sha256: sha256.map(Into::into),
            size: Some(74_392),
            error: None,
        },
    )
}

fn upload(sha256: Option<&str>) -> Event {
    event(
        IP,
        EventKind::FileUpload {
            filename: "x86".into(),
            sha256: sha256.map(Into::into),
            size: Some(74_392),
        },
    )
}

/// The documented request for an object, key header included.
fn object(collection: &str, id: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/api/v3/{collection}/{id}")))
        .and(header("x-apikey", KEY))
        .and(header("Accept", "application/json"))
}

/// Mounts `response` for the documented file request (expected once) and fetches.
async fn fetch_file_with(
    response: ResponseTemplate,
) -> Result<Option<VirusTotalReport>, LookupError> {
    let server = MockServer::start().await;
    object("files", SHA256)
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    file_lookup(&server).fetch(&SHA256.to_owned()).await
}

/// Mounts `response` for the documented address request (expected once) and fetches.
async fn fetch_ip_with(
    response: ResponseTemplate,
) -> Result<Option<VirusTotalReport>, LookupError> {
    let server = MockServer::start().await;
    object("ip_addresses", IP)
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    ip_lookup(&server).fetch(&ip(IP)).await
}

/// Fetches a file and an address with `response`, expecting errors of `kind` whose
/// messages have no key; returns the file's.
async fn expect_error(response: ResponseTemplate, kind: LookupErrorKind) -> LookupError {
    let ip_error = fetch_ip_with(response.clone()).await.unwrap_err();
    assert_eq!(ip_error.kind, kind, "{ip_error}");
    assert_no_key(&ip_error);
    let error = fetch_file_with(response).await.unwrap_err();
    assert_eq!(error.kind, kind, "{error}");
    assert_no_key(&error);
    error
}

fn assert_no_key(error: &LookupError) {
    assert!(!error.to_string().contains(KEY), "{error}");
    assert!(!format!("{error:?}").contains(KEY), "{error:?}");
}

fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message}})
}

fn details(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// An IP address object as the documentation shows one.
fn ip_answer() -> serde_json::Value {
    json!({
        "data": {
            "attributes": {
                "as_owner": "Shenzhen Tencent Computer Systems Company Limited",
                "asn": 45090,
                "continent": "AS",
                "country": "CN",
                "jarm": null,
                "last_analysis_date": 1_732_000_000,
                "last_analysis_results": {
                    "Acronis": {"category": "harmless", "engine_name": "Acronis", "method": "blacklist", "result": "clean"},
                    "CRDF": {"category": "malicious", "engine_name": "CRDF", "method": "blacklist", "result": "malicious"}
                },
                "last_analysis_stats": {"harmless": 56, "malicious": 9, "suspicious": 2, "undetected": 27, "timeout": 0},
                "last_https_certificate_date": null,
                "last_modification_date": 1_732_000_100,
                "network": "118.24.0.0/15",
                "regional_internet_registry": "APNIC",
                "reputation": -11,
                "tags": [],
                "total_votes": {"harmless": 0, "malicious": 4},
                "whois": "inetnum: 118.24.0.0 - 118.25.255.255\nnetname: TENCENT-CN",
                "whois_date": 1_731_000_000
            },
            "id": "118.25.6.39",
            "links": {"self": "https://www.virustotal.com/api/v3/ip_addresses/118.25.6.39"},
            "type": "ip_address"
        }
    })
}

/// A file object as the documentation shows one: 30 of 76 engines.
fn file_answer() -> serde_json::Value {
    json!({
        "data": {
            "attributes": {
                "first_submission_date": 1_700_000_000,
                "last_analysis_date": 1_732_000_000,
                "last_analysis_results": {
                    "Avast": {"category": "malicious", "engine_name": "Avast", "engine_version": "23.9.8494.0", "method": "blacklist", "result": "ELF:Mirai-ASD [Trj]"}
                },
                "last_analysis_stats": {
                    "confirmed-timeout": 0,
                    "failure": 1,
                    "harmless": 0,
                    "malicious": 30,
                    "suspicious": 1,
                    "timeout": 0,
                    "type-unsupported": 14,
                    "undetected": 30
                },
                "magic": "ELF 32-bit LSB executable, Intel 80386, statically linked, stripped",
                "md5": "5d41402abc4b2a76b9719d911017c592",
                "meaningful_name": "x86",
                "names": ["x86", "mirai.x86"],
                "popular_threat_classification": {
                    "popular_threat_category": [{"count": 20, "value": "trojan"}],
                    "popular_threat_name": [{"count": 18, "value": "mirai"}],
                    "suggested_threat_label": "trojan.mirai/gafgyt"
                },
                "reputation": -5,
                "sha1": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
                "sha256": SHA256,
                "size": 74_392,
                "tags": ["elf", "32bits"],
                "times_submitted": 3,
                "total_votes": {"harmless": 0, "malicious": 1},
                "type_description": "ELF",
                "type_tag": "elf",
                "unique_sources": 2
            },
            "id": SHA256,
            "links": {"self": format!("https://www.virustotal.com/api/v3/files/{SHA256}")},
            "type": "file"
        }
    })
}

#[tokio::test]
async fn a_known_address_is_parsed_and_applied() {
    let report = fetch_ip_with(ResponseTemplate::new(200).set_body_json(ip_answer()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        VirusTotalReport {
            id: IP.into(),
            kind: "ip_address".into(),
            stats: Some(AnalysisStats {
                harmless: 56,
                malicious: 9,
                suspicious: 2,
                undetected: 27,
                ..AnalysisStats::default()
            }),
            reputation: Some(-11),
            last_analysis_date: Some(1_732_000_000),
            as_owner: Some("Shenzhen Tencent Computer Systems Company Limited".into()),
            asn: Some(45090),
            country: Some("CN".into()),
            meaningful_name: None,
            type_description: None,
            threat_label: None,
        }
    );
    let server = MockServer::start().await;
    let mut event = event(IP, EventKind::SessionStarted);
    ip_lookup(&server).apply(&report, &mut event);
    assert_eq!(
        event.enrichment.reputation,
        vec![Reputation {
            source: "virustotal".into(),
            score: None,
            malicious: Some(9),
            total: Some(94),
            details: details(&[
                ("type", json!("ip_address")),
                ("suspicious", json!(2)),
                ("harmless", json!(56)),
                ("undetected", json!(27)),
                ("reputation", json!(-11)),
                ("last_analysis_date", json!(1_732_000_000)),
                (
                    "as_owner",
                    json!("Shenzhen Tencent Computer Systems Company Limited")
                ),
                ("asn", json!(45090)),
                ("country", json!("CN")),
            ]),
        }]
    );
    assert!(event.enrichment.tags.is_empty());
}

#[tokio::test]
async fn a_known_file_shows_30_of_76_engines() {
    let report = fetch_file_with(ResponseTemplate::new(200).set_body_json(file_answer()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.kind, "file");
    assert_eq!(report.id, SHA256);
    assert_eq!(report.threat_label.as_deref(), Some("trojan.mirai/gafgyt"));

    let server = MockServer::start().await;
    let mut event = download(Some(SHA256));
    file_lookup(&server).apply(&report, &mut event);
    assert_eq!(
        event.enrichment.reputation,
        vec![Reputation {
            source: "virustotal".into(),
            score: None,
            malicious: Some(30),
            total: Some(76),
            details: details(&[
                ("type", json!("file")),
                ("suspicious", json!(1)),
                ("harmless", json!(0)),
                ("undetected", json!(30)),
                ("reputation", json!(-5)),
                ("last_analysis_date", json!(1_732_000_000)),
                ("meaningful_name", json!("x86")),
                ("type_description", json!("ELF")),
                ("threat_label", json!("trojan.mirai/gafgyt")),
            ]),
        }]
    );
}

#[tokio::test]
async fn a_file_never_analysed_has_no_counts() {
    let body = json!({"data": {"id": SHA256, "type": "file", "attributes": {"last_analysis_stats": null, "reputation": 0}}});
    let report = fetch_file_with(ResponseTemplate::new(200).set_body_json(body))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.stats, None);
    let server = MockServer::start().await;
    let mut event = upload(Some(SHA256));
    file_lookup(&server).apply(&report, &mut event);
    assert_eq!(
        event.enrichment.reputation,
        vec![Reputation {
            source: "virustotal".into(),
            score: None,
            malicious: None,
            total: None,
            details: details(&[("type", json!("file")), ("reputation", json!(0))]),
        }]
    );
}

#[tokio::test]
async fn the_report_survives_a_cache_round_trip() {
    let report = fetch_file_with(ResponseTemplate::new(200).set_body_json(file_answer()))
        .await
        .unwrap()
        .unwrap();
    let text = serde_json::to_string(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<VirusTotalReport>(&text).unwrap(),
        report
    );
}

#[tokio::test]
async fn not_found_404_is_a_negative_answer() {
    let body = error_body("NotFoundError", &format!("File \"{SHA256}\" not found"));
    assert_eq!(
        fetch_file_with(ResponseTemplate::new(404).set_body_json(body))
            .await
            .unwrap(),
        None
    );
    let body = error_body("NotFoundError", &format!("Resource \"{IP}\" not found"));
    assert_eq!(
        fetch_ip_with(ResponseTemplate::new(404).set_body_json(body))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_404_that_is_not_virustotal_is_temporary() {
    // A wrong base URL or a proxy must not be cached as "VirusTotal never saw it".
    expect_error(ResponseTemplate::new(404), LookupErrorKind::Temporary).await;
    expect_error(
        ResponseTemplate::new(404).set_body_string("<html><body>404 Not Found</body></html>"),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn unauthorized_401() {
    let error = expect_error(
        ResponseTemplate::new(401)
            .set_body_json(error_body("WrongCredentialsError", "Wrong API key")),
        LookupErrorKind::Unauthorized,
    )
    .await;
    assert!(error.message.contains("WrongCredentialsError"), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn forbidden_403() {
    expect_error(
        ResponseTemplate::new(403).set_body_json(error_body(
            "ForbiddenError",
            "You are not allowed to perform the requested operation",
        )),
        LookupErrorKind::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn rejected_400_and_422() {
    expect_error(
        ResponseTemplate::new(400)
            .set_body_json(error_body("InvalidArgumentError", "Invalid argument")),
        LookupErrorKind::Rejected,
    )
    .await;
    expect_error(
        ResponseTemplate::new(422).set_body_json(error_body("BadRequestError", "Unprocessable")),
        LookupErrorKind::Rejected,
    )
    .await;
}

#[tokio::test]
async fn not_available_yet_is_temporary() {
    expect_error(
        ResponseTemplate::new(400).set_body_json(error_body(
            "NotAvailableYet",
            "The resource is not available yet, but will become available later",
        )),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn quota_exceeded_429_honours_retry_after() {
    let error = expect_error(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "60")
            .set_body_json(error_body("QuotaExceededError", "Quota exceeded")),
        LookupErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        },
    )
    .await;
    assert!(error.message.contains("QuotaExceededError"), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn quota_exceeded_429_without_retry_after() {
    expect_error(
        ResponseTemplate::new(429)
            .set_body_json(error_body("QuotaExceededError", "Quota exceeded")),
        LookupErrorKind::RateLimited { retry_after: None },
    )
    .await;
}

#[tokio::test]
async fn server_errors_are_temporary() {
    for (status, code) in [
        (500, "InternalError"),
        (503, "TransientError"),
        (504, "DeadlineExceededError"),
    ] {
        expect_error(
            ResponseTemplate::new(status).set_body_json(error_body(code, "try again")),
            LookupErrorKind::Temporary,
        )
        .await;
    }
    expect_error(
        ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn a_timeout_is_temporary() {
    let server = MockServer::start().await;
    object("files", SHA256)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(file_answer())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let lookup =
        VirusTotalFile::new(config(&server).with_timeout(Duration::from_millis(200))).unwrap();
    let started = std::time::Instant::now();
    let error = lookup.fetch(&SHA256.to_owned()).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    assert!(error.message.contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_no_key(&error);
}

#[tokio::test]
async fn malformed_json_is_temporary() {
    expect_error(
        ResponseTemplate::new(200).set_body_string(r#"{"data": {"id": "x", "type": "file", "attr"#),
        LookupErrorKind::Temporary,
    )
    .await;
    expect_error(
        ResponseTemplate::new(200).set_body_json(json!({"error": "not the documented shape"})),
        LookupErrorKind::Temporary,
    )
    .await;
}

#[tokio::test]
async fn an_empty_body_is_temporary() {
    expect_error(ResponseTemplate::new(200), LookupErrorKind::Temporary).await;
}

#[tokio::test]
async fn file_keys_are_lower_case_hashes_of_file_events() {
    let server = MockServer::start().await;
    let lookup = file_lookup(&server);
    assert_eq!(lookup.name(), "virustotal-file");
    let upper = SHA256.to_ascii_uppercase();
    assert_eq!(lookup.key(&download(Some(&upper))), Some(SHA256.to_owned()));
    assert_eq!(lookup.key(&upload(Some(SHA256))), Some(SHA256.to_owned()));
    assert_eq!(lookup.key(&download(None)), None);
    assert_eq!(lookup.key(&upload(None)), None);
    assert_eq!(lookup.key(&download(Some("../../etc/passwd"))), None);
    assert_eq!(lookup.key(&download(Some(&SHA256[..63]))), None);
    let login = event(
        IP,
        EventKind::LoginAttempt {
            username: "root".into(),
            password: Some("admin".into()),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::Password,
            success: false,
        },
    );
    assert_eq!(lookup.key(&login), None);
}

#[tokio::test]
async fn an_upper_case_hash_is_asked_in_lower_case() {
    let server = MockServer::start().await;
    object("files", SHA256)
        .respond_with(ResponseTemplate::new(200).set_body_json(file_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = file_lookup(&server);
    assert!(
        lookup
            .fetch(&SHA256.to_ascii_uppercase())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn what_is_not_a_hash_is_rejected_unsent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(file_answer()))
        .expect(0)
        .mount(&server)
        .await;
    let lookup = file_lookup(&server);
    for bad in ["", "../ip_addresses/1.1.1.1", "zz", &format!("{SHA256}0")] {
        let error = lookup.fetch(&bad.to_owned()).await.unwrap_err();
        assert_eq!(error.kind, LookupErrorKind::Rejected, "{bad}");
    }
}

#[tokio::test]
async fn address_keys_skip_local_addresses() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ip_answer()))
        .expect(0)
        .mount(&server)
        .await;
    let lookup = ip_lookup(&server);
    assert_eq!(lookup.name(), "virustotal-ip");
    for local in [
        "0.0.0.0",
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.10",
        "169.254.0.1",
        "::1",
        "fe80::1",
        "fd12:3456::1",
    ] {
        assert_eq!(
            lookup.key(&event(local, EventKind::SessionStarted)),
            None,
            "{local}"
        );
        let error = lookup.fetch(&ip(local)).await.unwrap_err();
        assert_eq!(error.kind, LookupErrorKind::Rejected, "{local}");
    }
    assert_eq!(
        lookup.key(&event(IP, EventKind::SessionStarted)),
        Some(ip(IP))
    );
}

#[tokio::test]
async fn an_ipv6_address_is_asked_by_its_text() {
    let server = MockServer::start().await;
    object("ip_addresses", "2001:4860:4860::8888")
        .respond_with(ResponseTemplate::new(200).set_body_json(ip_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = ip_lookup(&server);
    assert!(
        lookup
            .fetch(&ip("2001:4860:4860::8888"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_key_never_shows() {
    let error = expect_error(
        ResponseTemplate::new(401).set_body_json(error_body(
            "WrongCredentialsError",
            &format!("Wrong API key {KEY}"),
        )),
        LookupErrorKind::Unauthorized,
    )
    .await;
    assert!(error.message.contains("Wrong API key ***"), "{error}");

    let server = MockServer::start().await;
    let config = config(&server);
    assert!(!format!("{config:?}").contains(KEY));
    assert!(!format!("{:?}", VirusTotalIp::new(config.clone()).unwrap()).contains(KEY));
    assert!(!format!("{:?}", VirusTotalFile::new(config).unwrap()).contains(KEY));
}

#[tokio::test]
async fn defaults_and_bad_configurations() {
    let config = VirusTotalConfig::new(ApiKey::new(KEY).unwrap());
    assert_eq!(config.base_url, "https://www.virustotal.com");
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert!(VirusTotalIp::new(config.clone()).is_ok());
    let error =
        VirusTotalFile::new(config.clone().with_base_url("www.virustotal.com")).unwrap_err();
    assert!(!error.to_string().contains(KEY));
    assert!(VirusTotalIp::new(config.with_timeout(Duration::ZERO)).is_err());
}
