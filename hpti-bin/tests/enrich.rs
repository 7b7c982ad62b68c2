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
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[enrichers.abuseipdb]\ntype = \"abuseipdb\"\napi_key = \"test-key-123\"\nbase_url = {:?}\n",
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
            "SELECT COUNT(*) FROM events_enriched WHERE enrichment LIKE '%\"source\":\"abuseipdb\",\"score\":100%'"
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
            "SELECT COUNT(*) FROM events_enriched WHERE enrichment LIKE '%\"failed\":[\"abuseipdb\"]%'"
        ),
        500
    );
}

fn write_config(dir: &Path, name: &str, enrich: &str) -> std::path::PathBuf {
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n{enrich}",
            dir.join("data")
        ),
    )
    .unwrap();
    config
}

/// ARIN's `ip network` answer for 8.8.8.0/24, abridged.
fn arin_answer() -> serde_json::Value {
    serde_json::json!({
        "objectClassName": "ip network", "handle": "NET-8-8-8-0-2", "name": "GOGL",
        "startAddress": "8.8.8.0", "endAddress": "8.8.8.255", "ipVersion": "v4",
        "cidr0_cidrs": [{"v4prefix": "8.8.8.0", "length": 24}],
        "entities": [{"roles": ["registrant"], "objectClassName": "entity",
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Google LLC"]]],
            "entities": [{"roles": ["abuse"], "objectClassName": "entity",
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "network-abuse@google.com"]]]}]}]
    })
}

#[test]
fn rdap_fills_the_network_of_every_event_with_one_query() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start());
    runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path("/bootstrap/ipv4.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "version": "1.0", "publication": "2026-11-01T00:00:00Z",
                "services": [[["8.0.0.0/8"], [format!("{}/arin/", server.uri())]]]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/arin/ip/8.8.8.8"))
            .respond_with(ResponseTemplate::new(200).set_body_json(arin_answer()))
            .expect(1)
            .mount(&server)
            .await;
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "hpti.toml",
        &format!(
            "[enrichers.rdap]\ntype = \"rdap\"\nbootstrap_url = \"{}/bootstrap/\"\n",
            server.uri()
        ),
    );
    let file = dir.path().join("burst.jsonl");
    std::fs::write(&file, burst("8.8.8.8", 300)).unwrap();
    let summary = ingest(&config, &file);
    assert_eq!(summary["stored"], 300, "{summary}");
    assert_eq!(
        count(
            &dir.path().join("data/hpti.db"),
            "SELECT COUNT(*) FROM events_enriched WHERE enrichment LIKE '%\"network\":{\"source\":\"rdap\",\"handle\":\"NET-8-8-8-0-2\",\"name\":\"GOGL\",\"cidr\":[\"8.8.8.0/24\"],\"organization\":\"Google LLC\",\"abuse_email\":\"network-abuse@google.com\"}%'"
        ),
        300
    );
    runtime.block_on(server.verify());
}

/// The Redis URL tests use, if Redis answers; skips loudly (or fails under
/// `HPTI_REQUIRE_SERVICES=1`) when it does not.
fn redis_url() -> Option<String> {
    let url = std::env::var("HPTI_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let reachable = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection_with_timeout(std::time::Duration::from_secs(2)))
        .map(|mut c| redis::cmd("PING").query::<String>(&mut c));
    match reachable {
        Ok(Ok(_)) => Some(url),
        Ok(Err(err)) | Err(err) => {
            if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("Redis at {url} is required (HPTI_REQUIRE_SERVICES=1): {err}");
            }
            eprintln!(
                "\n*** SKIPPED: Redis at {url} is not available ({err}); set HPTI_REDIS_URL ***\n"
            );
            None
        }
    }
}

fn hpti(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hpti"))
        .env("HPTI_LOG", "error")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn warm_fills_redis_for_the_top_attackers() {
    let Some(url) = redis_url() else { return };
    // Addresses of this run only, so earlier runs' cache entries cannot answer.
    let third = 1 + fastrand_octet();
    let addresses = [
        format!("198.51.{third}.10"),
        format!("198.51.{third}.20"),
        format!("198.51.{third}.30"),
    ];
    let mut connection = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    for address in &addresses {
        let _: () = redis::cmd("DEL")
            .arg(format!("hpti:enrich:abuseipdb:{address}"))
            .query(&mut connection)
            .unwrap();
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v2/check"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {"abuseConfidenceScore": 88, "totalReports": 12, "isTor": false}
            })))
            .mount(&server),
    );
    let dir = tempfile::tempdir().unwrap();
    // Events go in without enrichment; then warming asks about the two most active.
    let plain = write_config(dir.path(), "plain.toml", "");
    let events = dir.path().join("events.jsonl");
    let mut lines = burst(&addresses[0], 30);
    lines.push_str(&burst(&addresses[1], 20));
    lines.push_str(&burst(&addresses[2], 10));
    std::fs::write(&events, lines).unwrap();
    assert_eq!(ingest(&plain, &events)["stored"], 60);

    let enriched = write_config(
        dir.path(),
        "enriched.toml",
        &format!(
            "[enrichers.abuseipdb]\ntype = \"abuseipdb\"\nredis_url = {url:?}\napi_key = \"test-key-123\"\nbase_url = {:?}\n",
            server.uri()
        ),
    );
    let warm = |config: &Path| -> serde_json::Value {
        let output = hpti(config, &["enrich", "warm", "--top", "2", "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let first = warm(&enriched);
    assert_eq!(first["addresses"], 2, "{first}");
    assert_eq!(first["enrichers"]["abuseipdb"]["fetched"], 2, "{first}");
    assert_eq!(first["enrichers"]["abuseipdb"]["redis_hit"], 0, "{first}");
    let asked: Vec<String> = runtime
        .block_on(server.received_requests())
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "ipAddress")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    let mut asked_sorted = asked.clone();
    asked_sorted.sort();
    assert_eq!(asked_sorted, [addresses[0].clone(), addresses[1].clone()]);

    // A second warm run and a later ingest are answered from Redis: no more calls.
    let second = warm(&enriched);
    assert_eq!(second["enrichers"]["abuseipdb"]["redis_hit"], 2, "{second}");
    assert_eq!(second["enrichers"]["abuseipdb"]["fetched"], 0, "{second}");
    let later = dir.path().join("later.jsonl");
    std::fs::write(&later, burst(&addresses[0], 50)).unwrap();
    assert_eq!(ingest(&enriched, &later)["stored"], 50);
    assert_eq!(
        runtime.block_on(server.received_requests()).unwrap().len(),
        2
    );

    // Without Redis, warming refuses: the answers would die with the process.
    let no_redis = write_config(
        dir.path(),
        "no-redis.toml",
        &format!(
            "[enrichers.abuseipdb]\ntype = \"abuseipdb\"\napi_key = \"k\"\nbase_url = {:?}\n",
            server.uri()
        ),
    );
    let output = hpti(&no_redis, &["enrich", "warm"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("redis_url"));
}

fn fastrand_octet() -> u8 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos % 250) as u8
}
