//! Remote enrichment end to end: a burst from one address costs one API call, and an API
//! that goes away degrades enrichment without losing events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn burst(ip: &str, count: u64) -> String {
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let ip: IpAddr = ip.parse().unwrap();
    (0..count)
        .map(|n| {
            let event = Event::new(
                "burst",
                Protocol::Ssh,
                ip,
                EventKind::LoginAttempt {
                    username: "root".into(),
                    password: Some(format!("pw{n}")),
                    key_type: None,
                    key_fingerprint: None,
                    method: AuthMethod::Password,
                    success: false,
                },
            )
            .with_time(base.saturating_add_micros(n as i64));
            serde_json::to_string(&event).unwrap() + "\n"
        })
        .collect()
}

fn ingest(config: &Path, file: &Path) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_hpti"))
        .env("HPTI_LOG", "error")
        .arg("--config")
        .arg(config)
        .args(["ingest", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    })
}

#[test]
fn one_call_per_address_and_no_loss_when_the_api_goes_away() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start());
    // AbuseIPDB v2 `check`, as documented.
    runtime.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v2/check"))
            .and(query_param("ipAddress", "198.51.100.7"))
            .and(header("Key", "test-key-123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {
                    "ipAddress": "198.51.100.7", "isPublic": true, "ipVersion": 4,
                    "isWhitelisted": false, "abuseConfidenceScore": 100, "countryCode": "CN",
                    "usageType": "Data Center/Web Hosting/Transit", "isp": "Example ISP",
                    "domain": "example.net", "hostnames": [], "isTor": false,
                    "totalReports": 1234, "numDistinctUsers": 321,
                    "lastReportedAt": "2026-11-21T12:00:00+00:00"
                }
            })))
            .mount(&server),
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[enrich.abuseipdb]\napi_key = \"test-key-123\"\nbase_url = {:?}\n",
            dir.path().join("data"),
            server.uri()
        ),
    )
    .unwrap();
    let db = dir.path().join("data/hpti.db");

    let first = dir.path().join("burst.jsonl");
    std::fs::write(&first, burst("198.51.100.7", 2000)).unwrap();
    let summary = ingest(&config, &first);
    assert_eq!(summary["stored"], 2000);
    let requests = runtime.block_on(server.received_requests()).unwrap();
    assert_eq!(requests.len(), 1, "a burst from one address costs one call");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM events WHERE doc LIKE '%\"source\":\"abuseipdb\",\"score\":100%'"
        ),
        2000,
        "every event carries the reputation"
    );

    // The API goes away: events are stored anyway, marked as not enriched.
    drop(server);
    drop(runtime);
    let second = dir.path().join("burst2.jsonl");
    std::fs::write(&second, burst("198.51.100.8", 500)).unwrap();
    let summary = ingest(&config, &second);
    assert_eq!(summary["stored"], 500, "{summary}");
    assert_eq!(summary["dead_lettered"], 0);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM events WHERE doc LIKE '%\"failed\":[\"abuseipdb\"]%'"
        ),
        500
    );
}
