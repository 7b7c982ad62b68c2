//! The API over a real SQLite store holding the query suite's fixture, through HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::BTreeSet;
use std::sync::Arc;

use hpti_api::{ApiConfig, ApiState, Role, TokenStore};
use hpti_core::Event;
use hpti_core::sink::Sink as _;
use hpti_store::testing::{ADDRESS_A, SHA_SECOND, SHA_SHARED, fixture};
use hpti_store::{EventQueries, SqliteOptions, SqliteStore, Window};
use serde_json::Value;

struct Api {
    base: String,
    viewer: String,
    admin: String,
    store: Arc<SqliteStore>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Self {
        Self::start_limited(0).await
    }

    /// With a rate limit of `rate_limit` requests per second per token (0: none).
    async fn start_limited(rate_limit: u32) -> Self {
        Self::start_with(
            ApiConfig {
                rate_limit,
                ..ApiConfig::default()
            },
            None,
        )
        .await
    }

    /// With `config`, counting requests in `metrics` if given.
    async fn start_with(config: ApiConfig, metrics: Option<hpti_api::ApiMetrics>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(SqliteOptions::new(dir.path().join("db/hpti.db")))
                .await
                .unwrap(),
        );
        let events = fixture();
        let refs: Vec<&Event> = events.iter().collect();
        store.write(&refs).await.unwrap();
        let tokens = TokenStore::open(dir.path());
        let viewer = tokens.create("analyst", Role::Viewer).unwrap();
        let admin = tokens.create("ops", Role::Admin).unwrap();
        // Two alerts: one firing, one resolved.
        let alerts = hpti_store::SqliteAlertStore::open(&dir.path().join("db/hpti-alerts.db"))
            .await
            .unwrap();
        let now = hpti_core::event::Timestamp::now();
        for (key, resolved) in [("203.0.113.10", false), ("198.51.100.20", true)] {
            let mut alert = hpti_core::alert::Alert::new(
                "ssh-brute-force",
                hpti_core::alert::Severity::High,
                key,
                format!("{key} tried 50 logins in 1m"),
                now,
            );
            if resolved {
                alert = alert.resolved_at(now);
            }
            use hpti_core::alert_store::AlertStore as _;
            alerts
                .save_alert(&hpti_core::alert_store::StoredAlert::new(alert, now))
                .await
                .unwrap();
        }
        let mut state = ApiState::new(store.clone(), tokens, &config)
            .with_data_dir(dir.path())
            .with_alerts(Arc::new(alerts));
        if let Some(metrics) = metrics {
            state = state.with_metrics(metrics);
        }
        let (addr, _server) = hpti_api::serve(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            hpti_api::router(state),
        )
        .await
        .unwrap();
        Self {
            base: format!("http://{addr}"),
            viewer,
            admin,
            store,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn get_as(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        // The blocklist is text for firewalls; everything else is JSON.
        let text = status == 200
            && response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain") || v.starts_with("text/csv"));
        let body = response.text().await.unwrap();
        if text && path.starts_with("/api/v1/blocklist") {
            return (status, Value::String(body));
        }
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: {status} not JSON ({e}): {body:?}"));
        (status, json)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(Some(&self.viewer.clone()), path).await
    }
}

/// Every route the API serves (paths fixed: scripts rely on them).
const ROUTES: &[&str] = &[
    "/api/v1/events",
    "/api/v1/sessions",
    "/api/v1/sessions/{id}",
    "/api/v1/sessions/{id}/recording",
    "/api/v1/attackers",
    "/api/v1/attackers/{ip}",
    "/api/v1/credentials",
    "/api/v1/commands",
    "/api/v1/downloads",
    "/api/v1/downloads/{sha256}",
    "/api/v1/downloads/{sha256}/content",
    "/api/v1/alerts",
    "/api/v1/blocklist",
    "/api/v1/stats/timeseries",
    "/api/v1/health",
    "/api/v1/openapi.json",
];

#[tokio::test]
async fn without_a_valid_token_every_route_is_401_with_no_detail() {
    let api = Api::start().await;
    for route in ROUTES {
        let path = route
            .replace("{id}", "a1")
            .replace("{ip}", ADDRESS_A)
            .replace("{sha256}", SHA_SHARED);
        for token in [None, Some("hpti_not-a-token"), Some("")] {
            let (status, body) = api.get_as(token, &path).await;
            assert_eq!(status, 401, "{path} with {token:?}");
            assert_eq!(body, serde_json::json!({"error": "unauthorized"}), "{path}");
        }
    }
    // Unknown paths too: nothing tells a stranger what is served.
    let (status, _) = api.get_as(None, "/api/v1/secret").await;
    assert_eq!(status, 401);
    let response = api
        .client
        .get(format!("{}/api/v1/events", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    // The admin token works as well as the viewer's.
    let (status, _) = api.get_as(Some(&api.admin.clone()), "/api/v1/events").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn lists_answer_what_the_store_answers() {
    let api = Api::start().await;
    let window = Window::default().limit(100);
    let as_json = |v: &dyn erased::Json| v.json();
    let store = api.store.as_ref();
    let expected = [
        ("sessions", as_json(&store.sessions(window).await.unwrap())),
        (
            "attackers",
            as_json(&store.attackers(window).await.unwrap()),
        ),
        (
            "credentials",
            as_json(&store.credentials(window).await.unwrap()),
        ),
        ("commands", as_json(&store.commands(window).await.unwrap())),
        (
            "downloads",
            as_json(&store.downloads(window).await.unwrap()),
        ),
    ];
    for (list, rows) in expected {
        assert!(
            rows.as_array().is_some_and(|r| !r.is_empty()),
            "{list}: the fixture has rows"
        );
        let (status, mut body) = api.get(&format!("/api/v1/{list}")).await;
        assert_eq!(status, 200, "{list}: {body}");
        if list == "downloads" {
            // The store's rows, plus what the artifact store says (tested below).
            for item in body["items"].as_array_mut().unwrap() {
                for added in ["shasum", "timestamp", "outfile", "exists", "content_url"] {
                    item.as_object_mut().unwrap().remove(added);
                }
            }
        }
        assert_eq!(body["items"], rows, "{list}");
        let (status, body) = api.get(&format!("/api/v1/{list}?limit=1")).await;
        assert_eq!(status, 200);
        assert_eq!(body["items"].as_array().unwrap().len(), 1, "{list}");
    }
    let (status, body) = api.get(&format!("/api/v1/attackers/{ADDRESS_A}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::to_value(store.attacker(ADDRESS_A.parse().unwrap()).await.unwrap()).unwrap()
    );
    let (status, body) = api.get("/api/v1/sessions/a1").await;
    assert_eq!(status, 200);
    assert_eq!(body["summary"]["session"], "a1");
    assert!(body["events"].as_array().is_some_and(|e| !e.is_empty()));
    let (status, body) = api.get("/api/v1/sessions/no-such-session").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = api.get("/api/v1/sessions/a1/recording").await;
    assert_eq!(status, 404, "the fixture's sessions have no recording");
    let (status, body) = api.get("/api/v1/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    // The timeseries over the fixture's time, as the store answers it.
    let events = fixture();
    let first = events.iter().map(|e| e.time).min().unwrap();
    let since = first.to_string();
    let window = Window::default().since(first).limit(1);
    let expected = store
        .timeseries(window, 86_400_000_000, None)
        .await
        .unwrap();
    assert!(!expected.is_empty());
    let (status, body) = api
        .get(&format!(
            "/api/v1/stats/timeseries?interval=1d&since={since}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["interval"], "1d");
    assert_eq!(body["items"], serde_json::to_value(&expected).unwrap());
    let (status, body) = api
        .get("/api/v1/stats/timeseries?interval=1s&since=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().starts_with("interval:"),
        "{body}"
    );
    let keys = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["alert"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = api.get("/api/v1/alerts").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body), ["203.0.113.10"], "firing only by default");
    let (_, body) = api.get("/api/v1/alerts?state=all").await;
    let mut all = keys(&body);
    all.sort();
    assert_eq!(all, ["198.51.100.20", "203.0.113.10"]);
    let (status, body) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().starts_with("state:"));
}

mod erased {
    pub trait Json {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

#[tokio::test]
async fn events_page_by_cursor_and_stream_as_ndjson() {
    let api = Api::start().await;
    let all: BTreeSet<String> = fixture().iter().map(|e| e.id.to_string()).collect();
    // Two at a time, following `next`, in order, each once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/events?limit=2".to_owned();
    loop {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(events.iter().map(|e| {
            serde_json::from_value::<Event>(e.clone())
                .unwrap()
                .id
                .to_string()
        }));
        match body["next"].as_str() {
            Some(next) => path = format!("/api/v1/events?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), all.len(), "each event once");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all);
    // Filters.
    let (_, body) = api
        .get(&format!(
            "/api/v1/events?src_ip={ADDRESS_A}&kind=login.attempt"
        ))
        .await;
    let events = body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        assert_eq!(event["src_ip"], ADDRESS_A);
        assert_eq!(event["kind"], "login.attempt");
    }
    // The export: every event, one per line, whole.
    let response = api
        .client
        .get(format!("{}/api/v1/events", api.base))
        .bearer_auth(&api.viewer)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .map(|line| serde_json::from_str::<Event>(line).unwrap().id.to_string())
        .collect();
    assert_eq!(exported, all);
    assert_eq!(text.lines().count(), all.len());
    // An export's limit counts events in all, and may pass a page's 10,000.
    for (limit, lines) in [("3", Some(3)), ("20000", Some(all.len())), ("0", None)] {
        let response = api
            .client
            .get(format!("{}/api/v1/events?limit={limit}", api.base))
            .bearer_auth(&api.viewer)
            .header("accept", "application/x-ndjson")
            .send()
            .await
            .unwrap();
        match lines {
            Some(lines) => assert_eq!(response.text().await.unwrap().lines().count(), lines),
            None => assert_eq!(response.status(), 400),
        }
    }
}

#[tokio::test]
async fn bad_parameters_are_400s_that_name_them() {
    let api = Api::start().await;
    for (path, parameter) in [
        ("/api/v1/events?limit=0", "limit"),
        ("/api/v1/events?limit=10001", "limit"),
        ("/api/v1/events?since=last-tuesday", "since"),
        ("/api/v1/events?src_ip=999.1.1.1", "src_ip"),
        ("/api/v1/events?kind=login", "kind"),
        ("/api/v1/events?cursor=abc", "cursor"),
        ("/api/v1/sessions?colour=red", "colour"),
        ("/api/v1/attackers/not-an-address", "ip"),
        ("/api/v1/downloads?since=1h&until=2h", "until"),
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "bad_request");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("{parameter}:")),
            "{path}: {detail}"
        );
    }
    let (status, body) = api.get("/api/v1/nothing-here").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_has_every_route() {
    let api = Api::start().await;
    let (status, doc) = api.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(paths, ROUTES.iter().copied().collect());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Arbitrary query strings and path segments at every endpoint: a 200, 400 or 404,
/// always JSON, never a 500.
#[test]
fn arbitrary_query_strings_never_get_a_500() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = runtime.block_on(Api::start());
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let names = prop::sample::select(vec![
        "since",
        "until",
        "limit",
        "cursor",
        "src_ip",
        "session",
        "sensor",
        "protocol",
        "kind",
        "x",
        "",
        "%00",
        "limit%5B%5D",
    ]);
    let value = prop_oneof![
        ".{0,40}",
        Just("24h".to_owned()),
        Just("2026-12-01T00:00:00Z".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("%ff%fe".to_owned()),
        Just("1.2.3.4".to_owned()),
    ];
    let query = prop::collection::vec((names, value), 0..4);
    let route = prop::sample::select(ROUTES.to_vec());
    let segment = ".{0,30}";
    proptest!(config, |(route in route, query in query, segment in segment)| {
        let segment: String = url::form_urlencoded::byte_serialize(segment.as_bytes()).collect();
        let path = route
            .replace("{id}", &segment)
            .replace("{ip}", &segment)
            .replace("{sha256}", &segment);
        let query: Vec<String> = query
            .iter()
            .map(|(n, v)| format!("{n}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
            .collect();
        let path = format!("{path}?{}", query.join("&"));
        let (status, _) = runtime.block_on(api.get(&path));
        // A viewer is refused captured files whatever it asks.
        let allowed = if route.ends_with("/content") { status == 403 } else { matches!(status, 200 | 400 | 404) };
        prop_assert!(allowed, "{} -> {}", path, status);
    });
}

/// The OpenAPI document passes PyPI's `openapi-spec-validator` (OpenAPI 3.1 rules).
#[test]
fn the_openapi_document_passes_a_real_validator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&hpti_api::openapi()).unwrap()).unwrap();
    let script = "import sys\nfrom openapi_spec_validator import validate\nfrom openapi_spec_validator.readers import read_from_filename\nspec, _ = read_from_filename(sys.argv[1])\nvalidate(spec)\nprint('valid', spec['openapi'])\n";
    if !hpti_core::testing::require_python_module(
        "openapi_spec_validator",
        "openapi-spec-validator",
    ) {
        return;
    }
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.starts_with("valid 3.1"), "{said}");
}

/// Each token has its own rate limit: over it, 429; another token is not held back.
#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_and_others_do_not() {
    let api = Api::start_limited(1).await; // 1 a second, bursts of 2
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(api.get("/api/v1/health").await.0);
    }
    assert_eq!(&statuses[..2], [200, 200], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    let (status, body) = api.get("/api/v1/health").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_requests"))
    );
    let (status, _) = api.get_as(Some(&api.admin.clone()), "/api/v1/health").await;
    assert_eq!(status, 200, "the admin token has its own allowance");
}

/// Aggregates carry an ETag (a 304 when the client has it) and come from the cache until
/// new events are stored: then the next request (a second later at most) has them.
#[tokio::test]
async fn aggregates_revalidate_by_etag_and_follow_new_events() {
    let api = Api::start().await;
    let url = format!("{}/api/v1/downloads", api.base);
    let first = api
        .client
        .get(&url)
        .bearer_auth(&api.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].clone();
    assert_eq!(first.headers()["cache-control"], "private, no-cache");
    let body: Value = first.json().await.unwrap();
    let again = api
        .client
        .get(&url)
        .bearer_auth(&api.viewer)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag);
    // A new download of a new file.
    let sha = "f".repeat(64);
    let event = Event::new(
        "ssh",
        hpti_core::event::Protocol::Ssh,
        ADDRESS_A.parse().unwrap(),
        hpti_core::event::EventKind::FileDownload {
            url: "http://203.0.113.99/x".into(),
            sha256: Some(sha.clone()),
            size: Some(10),
            error: None,
        },
    );
    api.store.write(&[&event]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh = api
        .client
        .get(&url)
        .bearer_auth(&api.viewer)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200, "the stored event changes the answer");
    assert_ne!(fresh.headers()["etag"], etag);
    let fresh: Value = fresh.json().await.unwrap();
    let hashes = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["sha256"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!hashes(&body).contains(&sha));
    assert!(hashes(&fresh).contains(&sha), "{fresh}");
}

/// The downloads view: the store's row with Cowrie's names and the artifact store's
/// answer; one file by hash; its content zipped with the password `infected`, for
/// admins only.
#[tokio::test]
async fn downloads_show_every_field_and_serve_content_to_admins_only() {
    let api = Api::start().await;
    // The fixture's shared file is the four bytes "test"; only it is in the store.
    assert_eq!(hpti_core::file::sha256_hex(b"test"), SHA_SHARED);
    let artifacts = api._dir.path().join("artifacts");
    hpti_core::file::put_artifact(&artifacts, SHA_SHARED, b"test").unwrap();

    let (status, body) = api.get("/api/v1/downloads").await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let shared = &items[0];
    for field in [
        "sha256",
        "shasum",
        "session",
        "src_ip",
        "timestamp",
        "first_seen",
        "count",
        "url",
        "outfile",
        "size",
        "file_type",
        "file_category",
        "is_previewable",
        "vt_detections",
        "vt_total",
        "vt_threat_label",
        "exists",
        "yara_matches",
    ] {
        assert!(shared.get(field).is_some(), "{field} missing from {shared}");
    }
    assert_eq!(shared["sha256"], SHA_SHARED);
    assert_eq!(shared["shasum"], SHA_SHARED);
    assert_eq!(shared["timestamp"], shared["last_seen"]);
    assert_eq!(shared["session"], "b2");
    assert_eq!(shared["url"], "http://203.0.113.99/x.sh");
    assert_eq!(shared["count"], 2);
    assert_eq!(shared["file_type"], "POSIX shell script");
    assert_eq!(shared["file_category"], "script");
    assert_eq!(shared["is_previewable"], true);
    assert_eq!(
        shared["yara_matches"],
        serde_json::json!(["Mirai_Loader", "shell_dropper"])
    );
    assert_eq!(
        (
            &shared["vt_detections"],
            &shared["vt_total"],
            &shared["vt_threat_label"]
        ),
        (
            &serde_json::json!(31),
            &serde_json::json!(64),
            &serde_json::json!("trojan.mirai/shell")
        )
    );
    assert_eq!(shared["exists"], true);
    assert_eq!(shared["outfile"], format!("artifacts/9f/{SHA_SHARED}"));
    assert_eq!(
        shared["content_url"],
        format!("/api/v1/downloads/{SHA_SHARED}/content")
    );
    let second = &items[1];
    assert_eq!(second["sha256"], SHA_SECOND);
    assert_eq!(second["exists"], false);
    assert!(second.get("content_url").is_none());
    assert_eq!(second["file_type"], Value::Null);

    let (status, one) = api.get(&format!("/api/v1/downloads/{SHA_SHARED}")).await;
    assert_eq!(status, 200);
    assert_eq!(&one, shared);
    let (status, upper) = api
        .get(&format!(
            "/api/v1/downloads/{}",
            SHA_SHARED.to_ascii_uppercase()
        ))
        .await;
    assert_eq!((status, &upper), (200, shared));
    let (status, body) = api.get("/api/v1/downloads/not-a-hash").await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().starts_with("sha256:"),
        "{body}"
    );
    let (status, _) = api
        .get(&format!("/api/v1/downloads/{}", "0".repeat(64)))
        .await;
    assert_eq!(status, 404);

    // Content: a viewer is refused, an admin gets a zip to save, never to render.
    let content = format!("/api/v1/downloads/{SHA_SHARED}/content");
    let (status, body) = api.get(&content).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let response = api
        .client
        .get(format!("{}{content}", api.base))
        .bearer_auth(&api.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/zip");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"{SHA_SHARED}.zip\"")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let zip = response.bytes().await.unwrap();
    assert!(
        !zip.windows(4).any(|w| w == b"test"),
        "the content is encrypted, not stored in the clear"
    );
    let path = api._dir.path().join("download.zip");
    std::fs::write(&path, &zip).unwrap();
    // Python's zipfile, as an analyst's script would open it.
    let read = |password: &str| {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
                 sys.stdout.write(z.read('{SHA_SHARED}', pwd=b'{password}').decode())"
            ))
            .arg(&path)
            .output()
            .unwrap()
    };
    let opened = read(hpti_api::ZIP_PASSWORD);
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(opened.stdout, b"test");
    assert!(
        !read("wrong").status.success(),
        "a wrong password opens nothing"
    );
    let (status, _) = api
        .get_as(
            Some(&api.admin.clone()),
            &format!("/api/v1/downloads/{SHA_SECOND}/content"),
        )
        .await;
    assert_eq!(status, 404, "a file the store does not hold");
}

/// `[api] tls`: HTTPS with the configured certificate; plain HTTP gets nothing; a key
/// file that is not a key is refused naming it.
#[tokio::test]
async fn https_with_the_configured_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("api.crt");
    let key = dir.path().join("api.key");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let files = hpti_api::tls::TlsFiles {
        cert: cert.clone(),
        key,
    };
    let tls = hpti_api::tls::server_config(&files).unwrap();
    let store = Arc::new(
        SqliteStore::open(SqliteOptions::new(dir.path().join("db/hpti.db")))
            .await
            .unwrap(),
    );
    let tokens = TokenStore::open(dir.path());
    let token = tokens.create("analyst", Role::Viewer).unwrap();
    let state = ApiState::new(store, tokens, &ApiConfig::default());
    let (addr, _server) = hpti_api::serve_tls(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        hpti_api::router(state),
        tls,
    )
    .await
    .unwrap();
    // A client that stalls its handshake holds up no one.
    let _stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{}/api/v1/health", addr.port()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/health"))
        .bearer_auth(&token)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.unwrap().status().as_u16() != 200,
        "no plain HTTP"
    );
    let wrong = hpti_api::tls::TlsFiles {
        cert: cert.clone(),
        key: cert,
    };
    let error = hpti_api::tls::server_config(&wrong)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("api.tls.key:"), "{error}");
}

/// CORS is off unless origins are configured; then only those get the headers, and a
/// preflight (which carries no token) is answered.
#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_the_configured_origins() {
    let acao = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let api = Api::start().await;
    let response = api
        .client
        .get(format!("{}/api/v1/commands", api.base))
        .bearer_auth(&api.viewer)
        .header("origin", "https://dash.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(acao(&response), None, "no CORS by default");

    let api = Api::start_with(
        ApiConfig {
            cors_origins: vec!["https://dash.example".into()],
            ..ApiConfig::default()
        },
        None,
    )
    .await;
    let preflight = api
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/commands", api.base),
        )
        .header("origin", "https://dash.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(acao(&preflight).as_deref(), Some("https://dash.example"));
    for (origin, allowed) in [
        ("https://dash.example", true),
        ("https://evil.example", false),
    ] {
        let response = api
            .client
            .get(format!("{}/api/v1/commands", api.base))
            .bearer_auth(&api.viewer)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(acao(&response).is_some(), allowed, "{origin}");
    }
}

/// Requests are counted by route template and status, and timed.
#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = hpti_api::ApiMetrics::register(&mut registry);
    let api = Api::start_with(ApiConfig::default(), Some(metrics)).await;
    assert_eq!(api.get("/api/v1/sessions/a1").await.0, 200);
    assert_eq!(api.get("/api/v1/sessions/b2").await.0, 200);
    assert_eq!(api.get_as(None, "/api/v1/downloads").await.0, 401);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"hpti_api_requests_total{route="/api/v1/sessions/{id}",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hpti_api_requests_total{route="/api/v1/downloads",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"hpti_api_request_duration_seconds_count{route="/api/v1/sessions/{id}"} 2"#
        ),
        "{text}"
    );
}
