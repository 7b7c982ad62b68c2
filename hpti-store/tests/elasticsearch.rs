//! The Elasticsearch sink against a fake Elasticsearch 8 built on wiremock: it parses the
//! `_bulk` NDJSON, keeps documents by `_index`/`_id`, and answers with the documented
//! wire formats (201 `created`, 409 `version_conflict_engine_exception` for a duplicate
//! `create`, `errors`, `items: [{"create": {...}}]`; 404 `resource_not_found_exception`
//! for a missing template or policy). No Elasticsearch server can run here.
//!
//! Formats: <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/docs-bulk.html>,
//! <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/index-templates.html>,
//! <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/ilm-put-lifecycle.html>.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use hpti_core::component::{BuildContext, BuiltSink, ComponentId, SinkConfig as _};
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::secret::Secret;
use hpti_core::sink::Sink;
use hpti_core::testing::{sample_events, sink_conformance};
use hpti_store::ElasticsearchSinkConfig;
use hpti_store::elasticsearch::template;
use hpti_store::testing::fake_es;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn context(dir: &Path) -> BuildContext {
    BuildContext::new(
        ComponentId::new("es").unwrap(),
        dir,
        PipelineMetrics::default(),
    )
}

fn config(url: &str) -> ElasticsearchSinkConfig {
    ElasticsearchSinkConfig {
        url: Some(url.to_owned()),
        ..ElasticsearchSinkConfig::default()
    }
}

async fn build(config: &ElasticsearchSinkConfig) -> BuiltSink {
    let dir = tempfile::tempdir().unwrap();
    config
        .build(&context(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{:#}", anyhow_like(&e)))
}

/// The error and its causes, as the binary prints them.
fn anyhow_like(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn command(text: &str, time: Timestamp) -> Event {
    Event::new(
        "es-test",
        Protocol::Ssh,
        IpAddr::from([203, 0, 113, 9]),
        EventKind::CommandInput {
            command: text.into(),
        },
    )
    .with_session("s1")
    .with_time(time)
}

fn now() -> Timestamp {
    Timestamp::now().saturating_add_micros(-60_000_000)
}

#[tokio::test]
async fn passes_the_sink_conformance_suite() {
    let (server, fake) = fake_es().await;
    let built = build(&config(&server.uri())).await;
    let counter = fake.clone();
    let reader = fake.clone();
    sink_conformance(
        built.sink.as_ref(),
        || {
            let counter = counter.clone();
            async move { counter.count() }
        },
        |id| {
            let reader = reader.clone();
            async move { reader.read_back(id) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_batch_is_stored_in_daily_indices_as_ecs_documents() {
    let (server, fake) = fake_es().await;
    let built = build(&config(&server.uri())).await;
    assert!(built.sink.capabilities().idempotent);
    let base = Timestamp::parse_rfc3339("2026-01-03T23:59:59.9985Z").unwrap();
    let events = sample_events(base);
    let refs: Vec<&Event> = events.iter().collect();
    let report = built.sink.write(&refs).await.unwrap();
    assert!(
        report.rejected.is_empty() && report.retry.is_empty(),
        "{report:?}"
    );
    let state = fake.state();
    assert_eq!(state.docs.len(), events.len());
    assert_eq!(state.bulk_sizes.len(), 1, "one request for a small batch");
    let indices: Vec<&str> = state.docs.keys().map(|(i, _)| i.as_str()).collect();
    assert!(indices.contains(&"hpti-events-2026.01.03"), "{indices:?}");
    assert!(indices.contains(&"hpti-events-2026.01.04"), "{indices:?}");
    let login = &events[3];
    let doc = &state.docs[&("hpti-events-2026.01.04".to_owned(), login.id.to_string())];
    assert_eq!(doc["event"]["action"], "login.attempt");
    assert_eq!(doc["event"]["category"], json!(["authentication"]));
    assert_eq!(doc["user"]["name"], "root");
    assert_eq!(doc["hpti"]["password"], "admin");
    assert_eq!(doc["source"]["ip"], "203.0.113.50");
    assert_eq!(doc["observer"]["name"], "conformance");
}

/// The structure of the "failed actions" example response of Elasticsearch 8's bulk API
/// documentation (<https://www.elastic.co/guide/en/elasticsearch/reference/8.15/docs-bulk.html#bulk-failures-ex>:
/// `took`, `errors: true`, one item per action with `_index`, `_id`, `status` and an
/// `error` of `type`, `reason`, `index_uuid`, `shard`, `index`; the created item with
/// `_version`, `result`, `_shards`, `_seq_no`, `_primary_term`), with the failed items'
/// error being the write thread pool's rejection documented under "Rejected requests"
/// (<https://www.elastic.co/guide/en/elasticsearch/reference/8.15/rejected-requests.html>).
const PARTIAL_429: &str = r#"{
  "took": 486,
  "errors": true,
  "items": [
    {
      "create": {
        "_index": "hpti-events-2026.01.03",
        "_id": "ID0",
        "status": 429,
        "error": {
          "type": "es_rejected_execution_exception",
          "reason": "rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction$1/WrappedActionListener{org.elasticsearch.action.support.replication.ReplicationOperation$$Lambda$4880/0x0000000801a5b3b8@5a3c1a2b} on EsThreadPoolExecutor[name = node-1/write, queue capacity = 10000, org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@1d9f2c56[Running, pool size = 8, active threads = 8, queued tasks = 10000, completed tasks = 2138962]]",
          "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA",
          "shard": "0",
          "index": "hpti-events-2026.01.03"
        }
      }
    },
    {
      "create": {
        "_index": "hpti-events-2026.01.03",
        "_id": "ID1",
        "_version": 1,
        "result": "created",
        "_shards": {"total": 2, "successful": 1, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
        "status": 201
      }
    },
    {
      "create": {
        "_index": "hpti-events-2026.01.03",
        "_id": "ID2",
        "status": 429,
        "error": {
          "type": "es_rejected_execution_exception",
          "reason": "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=104857600, max_coordinating_and_primary_bytes=107374182]",
          "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA",
          "shard": "0",
          "index": "hpti-events-2026.01.03"
        }
      }
    }
  ]
}"#;

#[tokio::test]
async fn the_documented_partial_failure_retries_exactly_the_rejected_items() {
    let server = MockServer::start().await;
    let base = Timestamp::parse_rfc3339("2026-01-03T10:00:00Z").unwrap();
    let events: Vec<Event> = (0..3).map(|i| command(&format!("c{i}"), base)).collect();
    let mut body = PARTIAL_429.to_owned();
    for (i, e) in events.iter().enumerate() {
        body = body.replace(&format!("ID{i}"), &e.id.to_string());
    }
    Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/_bulk"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.install_template = false;
    let built = build(&cfg).await;
    let refs: Vec<&Event> = events.iter().collect();
    let report = built.sink.write(&refs).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let retried: Vec<usize> = report.retry.iter().map(|r| r.index).collect();
    assert_eq!(retried, [0, 2]);
    assert!(
        report.retry[0]
            .reason
            .contains("es_rejected_execution_exception")
    );
}

#[tokio::test]
async fn items_answered_429_are_retried_alone_and_stored_when_written_again() {
    let (server, fake) = fake_es().await;
    let built = build(&config(&server.uri())).await;
    let events: Vec<Event> = (0..10).map(|i| command(&format!("c{i}"), now())).collect();
    let rejected = json!({
        "type": "es_rejected_execution_exception",
        "reason": "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=104857600, max_coordinating_and_primary_bytes=107374182]",
    });
    for i in [2, 7] {
        fake.state()
            .fail_once
            .insert(events[i].id.to_string(), (429, rejected.clone()));
    }
    let refs: Vec<&Event> = events.iter().collect();
    let report = built.sink.write(&refs).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let retried: Vec<usize> = report.retry.iter().map(|r| r.index).collect();
    assert_eq!(retried, [2, 7]);
    assert_eq!(fake.count(), 8);
    assert!(fake.read_back(events[2].id).is_none());

    // The runtime writes the retried events again, alone.
    let again = [&events[2], &events[7]];
    let report = built.sink.write(&again).await.unwrap();
    assert!(
        report.rejected.is_empty() && report.retry.is_empty(),
        "{report:?}"
    );
    assert_eq!(fake.count(), 10);
    assert_eq!(fake.read_back(events[7].id).as_ref(), Some(&events[7]));
}

#[tokio::test]
async fn mapping_errors_reject_only_those_items_with_the_reason() {
    let (server, fake) = fake_es().await;
    let built = build(&config(&server.uri())).await;
    let events: Vec<Event> = (0..6).map(|i| command(&format!("c{i}"), now())).collect();
    let mapping = json!({
        "type": "document_parsing_exception",
        "reason": "[1:2145] failed to parse field [source.port] of type [long] in document with id 'x'. Preview of field's value: 'abc'",
        "caused_by": {"type": "illegal_argument_exception", "reason": "For input string: \"abc\""},
    });
    let strict = json!({
        "type": "strict_dynamic_mapping_exception",
        "reason": "[1:9] mapping set to strict, dynamic introduction of [foo] within [_doc] is not allowed",
    });
    fake.state()
        .fail_always
        .insert(events[1].id.to_string(), (400, mapping));
    fake.state()
        .fail_always
        .insert(events[4].id.to_string(), (400, strict));
    let refs: Vec<&Event> = events.iter().collect();
    let report = built.sink.write(&refs).await.unwrap();
    assert!(report.retry.is_empty(), "{report:?}");
    let rejected: Vec<usize> = report.rejected.iter().map(|r| r.index).collect();
    assert_eq!(rejected, [1, 4]);
    assert!(
        report.rejected[0]
            .reason
            .contains("document_parsing_exception")
            && report.rejected[0]
                .reason
                .contains("failed to parse field [source.port]")
            && report.rejected[0].reason.contains("For input string"),
        "{}",
        report.rejected[0].reason
    );
    assert!(
        report.rejected[1]
            .reason
            .contains("strict_dynamic_mapping_exception")
    );
    assert_eq!(fake.count(), 4);
}

#[tokio::test]
async fn an_authentication_failure_is_permanent_and_names_the_scheme_not_the_secret() {
    let (server, fake) = fake_es().await;
    let mut cfg = config(&server.uri());
    cfg.username = Some("hpti_writer".into());
    cfg.password = Some(Secret::new("hunter2-secret"));
    let built = build(&cfg).await;
    // Documented body of a failed authentication (security_exception, 401).
    fake.state().refuse_all = Some((
        401,
        json!({
            "error": {
                "root_cause": [{
                    "type": "security_exception",
                    "reason": "unable to authenticate user [hpti_writer] for REST request [/_bulk]",
                    "header": {"WWW-Authenticate": ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"]}
                }],
                "type": "security_exception",
                "reason": "unable to authenticate user [hpti_writer] for REST request [/_bulk]",
                "header": {"WWW-Authenticate": ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"]}
            },
            "status": 401
        }),
    ));
    let events = [command("id", now())];
    let err = built.sink.write(&[&events[0]]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    let shown = format!("{err} {err:?} {}", anyhow_like(&err));
    assert!(
        shown.contains("basic auth as user `hpti_writer`"),
        "{shown}"
    );
    assert!(shown.contains("security_exception"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");

    // At build time the template install fails the same way, naming the key.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri());
    cfg.api_key = Some(Secret::new(
        "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
    ));
    let err = cfg.build(&context(dir.path())).await.unwrap_err();
    let shown = anyhow_like(&err);
    assert_eq!(err.key.as_deref(), Some("api_key"), "{shown}");
    assert!(
        shown.contains("API key") && shown.contains("401"),
        "{shown}"
    );
    assert!(!shown.contains("VnVhQ2ZH"), "{shown}");
}

#[tokio::test]
async fn whole_request_failures_are_classified() {
    let (server, fake) = fake_es().await;
    let built = build(&config(&server.uri())).await;
    let event = command("x", now());
    fake.state().refuse_all = Some((
        503,
        json!({"error": {"type": "cluster_block_exception", "reason": "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"}, "status": 503}),
    ));
    let err = built.sink.write(&[&event]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Temporary, "{err}");
    assert!(err.to_string().contains("cluster_block_exception"), "{err}");
    fake.state().refuse_all = Some((
        429,
        json!({"error": {"type": "es_rejected_execution_exception", "reason": "rejected"}, "status": 429}),
    ));
    let err = built.sink.write(&[&event]).await.unwrap_err();
    assert!(
        matches!(err.class(), ErrorClass::RateLimited { .. }),
        "{err}"
    );
    fake.state().refuse_all = None;
    assert!(built.sink.write(&[&event]).await.unwrap().retry.is_empty());
    assert_eq!(fake.count(), 1);

    // Nothing listens: temporary.
    let mut cfg = config("http://127.0.0.1:9");
    cfg.install_template = false;
    let unreachable = build(&cfg).await;
    let err = unreachable.sink.write(&[&event]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Temporary, "{err}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_rate_limited_for_that_long() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.install_template = false;
    let built = build(&cfg).await;
    let event = command("x", now());
    let err = built.sink.write(&[&event]).await.unwrap_err();
    assert_eq!(
        err.class().retry_after(),
        Some(std::time::Duration::from_secs(7))
    );
}

#[tokio::test]
async fn template_and_policy_are_installed_when_absent_and_never_overwritten() {
    let (server, fake) = fake_es().await;
    let mut cfg = config(&server.uri());
    cfg.retention = Some(std::time::Duration::from_secs(30 * 86_400));
    build(&cfg).await;
    {
        let state = fake.state();
        let t = &state.templates["hpti-events"];
        assert_eq!(t["index_patterns"], json!(["hpti-events-*"]));
        assert_eq!(
            t["template"]["settings"]["index"]["lifecycle"]["name"],
            "hpti-events"
        );
        let props = &t["template"]["mappings"]["properties"];
        assert_eq!(props["@timestamp"]["type"], "date");
        assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
        assert_eq!(
            props["source"]["properties"]["geo"]["properties"]["location"]["type"],
            "geo_point"
        );
        assert_eq!(props["hpti"]["properties"]["event"]["enabled"], false);
        let p = &state.policies["hpti-events"];
        assert_eq!(p["policy"]["phases"]["delete"]["min_age"], "30d");
    }
    let requests = server.received_requests().await.unwrap();
    let calls: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /_ilm/policy/hpti-events",
            "PUT /_ilm/policy/hpti-events",
            "GET /_index_template/hpti-events",
            "PUT /_index_template/hpti-events",
        ]
    );

    // An operator's own template and policy stay as they are.
    {
        let mut state = fake.state();
        state.templates.insert(
            "hpti-events".into(),
            json!({"index_patterns": ["hpti-events-*"], "_meta": {"edited": true}}),
        );
        state.policies.insert("hpti-events".into(), json!({"policy": {"phases": {"delete": {"min_age": "400d", "actions": {"delete": {}}}}}}));
    }
    server.reset().await;
    Mock::given(any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    build(&cfg).await;
    let calls: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert!(calls.iter().all(|c| c.starts_with("GET ")), "{calls:?}");
    let state = fake.state();
    assert_eq!(state.templates["hpti-events"]["_meta"]["edited"], true);
    assert_eq!(
        state.policies["hpti-events"]["policy"]["phases"]["delete"]["min_age"],
        "400d"
    );
}

#[tokio::test]
async fn install_template_false_sends_no_template_request() {
    let (server, fake) = fake_es().await;
    let mut cfg = config(&server.uri());
    cfg.install_template = false;
    build(&cfg).await;
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(fake.state().templates.is_empty());
}

#[tokio::test]
async fn basic_auth_and_api_key_headers_are_sent() {
    let (server, _fake) = fake_es().await;
    let event = command("x", now());

    let mut cfg = config(&server.uri());
    cfg.username = Some("elastic".into());
    cfg.password = Some(Secret::new("changeme"));
    let built = build(&cfg).await;
    built.sink.write(&[&event]).await.unwrap();

    let mut cfg = config(&server.uri());
    cfg.api_key = Some(Secret::new("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"));
    let built = build(&cfg).await;
    built.sink.write(&[&event]).await.unwrap();

    let mut cfg = config(&server.uri());
    cfg.api_key = Some(Secret::new("ZW5jb2RlZA=="));
    let built = build(&cfg).await;
    built.sink.write(&[&event]).await.unwrap();

    let auth: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/_bulk")
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        auth,
        [
            "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==",
            // base64("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"), Elasticsearch's own example.
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
            "ApiKey ZW5jb2RlZA==",
        ]
    );
}

#[tokio::test]
async fn secrets_come_from_env_or_private_files_and_errors_name_the_key() {
    let (server, _fake) = fake_es().await;
    let dir = tempfile::tempdir().unwrap();
    let cx = context(dir.path());

    let mut cfg = config(&server.uri());
    cfg.username = Some("elastic".into());
    let err = cfg.build(&cx).await.unwrap_err();
    assert_eq!(err.key.as_deref(), Some("username"));

    cfg.password_env = Some("HPTI_ES_TEST_PASSWORD_UNSET".into());
    let err = cfg.build(&cx).await.unwrap_err();
    assert_eq!(err.key.as_deref(), Some("password_env"));

    cfg.password_env = None;
    let file = dir.path().join("es-password");
    std::fs::write(&file, "s3cret\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        cfg.password_file = Some("es-password".into());
        let err = cfg.build(&cx).await.unwrap_err();
        assert_eq!(err.key.as_deref(), Some("password_file"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    cfg.password_file = Some("es-password".into());
    cfg.build(&cx).await.unwrap();

    for (bad, key) in [
        (
            ElasticsearchSinkConfig {
                url: Some("ftp://x".into()),
                ..Default::default()
            },
            "url",
        ),
        (
            ElasticsearchSinkConfig {
                url: Some("http://u:p@x:9200".into()),
                ..Default::default()
            },
            "url",
        ),
        (ElasticsearchSinkConfig::default(), "url"),
        (
            ElasticsearchSinkConfig {
                index_prefix: "Bad Prefix".into(),
                ..config(&server.uri())
            },
            "index_prefix",
        ),
        (
            ElasticsearchSinkConfig {
                max_bytes: 10,
                ..config(&server.uri())
            },
            "max_bytes",
        ),
        (
            ElasticsearchSinkConfig {
                ca_file: Some("missing.pem".into()),
                ..config(&server.uri())
            },
            "ca_file",
        ),
        (
            ElasticsearchSinkConfig {
                username: Some("a".into()),
                password: Some(Secret::new("b")),
                api_key: Some(Secret::new("c")),
                ..config(&server.uri())
            },
            "api_key",
        ),
    ] {
        let err = bad.build(&cx).await.unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{}", anyhow_like(&err));
    }
    let unknown: Result<ElasticsearchSinkConfig, _> =
        serde_json::from_value(json!({"url": "http://x:9200", "urls": []}));
    assert!(unknown.is_err());
}

#[tokio::test]
async fn no_bulk_body_exceeds_max_bytes_and_a_large_batch_takes_several() {
    let (server, fake) = fake_es().await;
    let mut cfg = config(&server.uri());
    cfg.max_bytes = 16 * 1024;
    let built = build(&cfg).await;
    assert_eq!(built.batch.as_ref().map(|b| b.max_bytes), Some(8 * 1024));
    let events: Vec<Event> = (0..300)
        .map(|i| command(&format!("echo {i} {}", "y".repeat(i % 200)), now()))
        .collect();
    let mut huge = command(&"z".repeat(20_000), now());
    huge.session = Some("huge".into());
    let mut refs: Vec<&Event> = events.iter().collect();
    refs.insert(100, &huge);
    let report = built.sink.write(&refs).await.unwrap();
    assert!(report.retry.is_empty(), "{report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].index, 100);
    assert!(
        report.rejected[0].reason.contains("max_bytes"),
        "{}",
        report.rejected[0].reason
    );
    let state = fake.state();
    assert_eq!(state.docs.len(), 300);
    assert!(state.bulk_sizes.len() > 3, "{:?}", state.bulk_sizes);
    assert!(
        state.bulk_sizes.iter().all(|&n| n <= 16 * 1024),
        "{:?}",
        state.bulk_sizes
    );
}

#[tokio::test]
async fn a_413_answer_splits_the_request() {
    let (server, fake) = fake_es().await;
    let built = build(&config(&server.uri())).await;
    let events: Vec<Event> = (0..64)
        .map(|i| command(&format!("c{i} {}", "q".repeat(200)), now()))
        .collect();
    let refs: Vec<&Event> = events.iter().collect();
    fake.state().max_content_length = Some(6_000);
    let report = built.sink.write(&refs).await.unwrap();
    assert!(
        report.rejected.is_empty() && report.retry.is_empty(),
        "{report:?}"
    );
    let state = fake.state();
    assert_eq!(state.docs.len(), 64);
    assert!(state.bulk_sizes.iter().filter(|&&n| n > 6_000).count() >= 1);
    assert!(state.bulk_sizes.len() > 8, "{:?}", state.bulk_sizes);
}

#[tokio::test]
async fn events_past_retention_are_refused() {
    let (server, fake) = fake_es().await;
    let mut cfg = config(&server.uri());
    cfg.retention = Some(std::time::Duration::from_secs(86_400));
    let built = build(&cfg).await;
    let old = command(
        "old",
        Timestamp::now().saturating_add_micros(-2 * 86_400_000_000),
    );
    let new = command("new", now());
    let report = built.sink.write(&[&old, &new]).await.unwrap();
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].index, 0);
    assert!(report.rejected[0].reason.contains("retention"));
    assert_eq!(fake.count(), 1);
}

#[test]
fn the_mapping_has_every_field_the_documents_use() {
    // Every leaf of a document of every kind is a mapped field (or under hpti.event).
    let mapped = template::mapped_fields();
    let base = Timestamp::parse_rfc3339("2026-01-03T10:00:00Z").unwrap();
    let mut events = sample_events(base);
    events.push(hpti_core::testing::enriched_event(base));
    let refs: Vec<&Event> = events.iter().collect();
    let encoded = hpti_store::elasticsearch::bulk::BulkEncoder::new("hpti-events", 1 << 20)
        .encode(&refs, None);
    let text = std::str::from_utf8(encoded.bodies[0].bytes())
        .unwrap()
        .to_owned();
    fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v.as_object() {
            Some(map) if prefix != "hpti.event" && prefix != "source.geo.location" => {
                for (k, v) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&p, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut seen = Vec::new();
    for doc in text.lines().skip(1).step_by(2) {
        leaves("", &serde_json::from_str(doc).unwrap(), &mut seen);
    }
    seen.sort();
    seen.dedup();
    for field in &seen {
        assert!(mapped.contains(field), "{field} is written but not mapped");
    }
    assert!(seen.len() > 30, "{seen:?}");
}

/// `docs/kibana/hpti.ndjson`: every line is JSON, the dashboard's panels resolve to
/// objects of the file, and every field the panels use is mapped by the index template.
#[test]
fn the_kibana_saved_objects_are_consistent_with_the_mapping() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kibana/hpti.ndjson");
    let text = std::fs::read_to_string(path).unwrap();
    let objects: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1))
        })
        .filter(|o: &Value| o.get("type").is_some())
        .collect();
    let by_id: HashMap<(&str, &str), &Value> = objects
        .iter()
        .map(|o| ((o["type"].as_str().unwrap(), o["id"].as_str().unwrap()), o))
        .collect();
    let data_view = by_id[&("index-pattern", "hpti-events")];
    assert_eq!(data_view["attributes"]["title"], "hpti-events-*");
    assert_eq!(data_view["attributes"]["timeFieldName"], "@timestamp");

    let mapped = template::mapped_fields();
    let dashboard = objects.iter().find(|o| o["type"] == "dashboard").unwrap();
    let panels: Vec<Value> =
        serde_json::from_str(dashboard["attributes"]["panelsJSON"].as_str().unwrap()).unwrap();
    assert_eq!(panels.len(), 5);
    let refs = dashboard["references"].as_array().unwrap();
    let mut fields = Vec::new();
    for panel in &panels {
        let name = format!(
            "{}:{}",
            panel["panelIndex"].as_str().unwrap(),
            panel["panelRefName"].as_str().unwrap()
        );
        let reference = refs
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no reference {name}"));
        let lens = by_id
            .get(&(
                reference["type"].as_str().unwrap(),
                reference["id"].as_str().unwrap(),
            ))
            .unwrap_or_else(|| panic!("{reference} is not in the file"));
        for r in lens["references"].as_array().unwrap() {
            assert!(
                by_id.contains_key(&(r["type"].as_str().unwrap(), r["id"].as_str().unwrap())),
                "{r} is not in the file"
            );
        }
        let state = &lens["attributes"]["state"];
        for layer in state["datasourceStates"]["formBased"]["layers"]
            .as_object()
            .unwrap()
            .values()
        {
            for column in layer["columns"].as_object().unwrap().values() {
                let field = column["sourceField"].as_str().unwrap();
                if field != "___records___" {
                    fields.push(field.to_owned());
                }
            }
        }
        let query = state["query"]["query"].as_str().unwrap();
        if let Some((field, _)) = query.split_once(" : ") {
            fields.push(field.trim().to_owned());
        }
    }
    for wanted in [
        "@timestamp",
        "source.geo.country_iso_code",
        "user.name",
        "hpti.password",
        "process.command_line",
        "file.hash.sha256",
        "url.full",
    ] {
        assert!(fields.iter().any(|f| f == wanted), "no panel uses {wanted}");
    }
    for field in &fields {
        assert!(
            mapped.contains(field),
            "a panel uses {field}, which is not mapped"
        );
    }
}

/// A TLS "Elasticsearch" on loopback with a certificate from its own CA: it answers
/// template and policy look-ups as present and `_bulk` as all created, and counts the
/// bulk items it got.
async fn tls_es() -> (String, String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::rustls;

    let ca_params = {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "hpti test CA");
        p
    };
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server_cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let items = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = items.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                // A client that distrusts the certificate hangs up here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = tls.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while buf.len() < head_end + length {
                    let n = tls.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = if head.starts_with("post /_bulk") {
                    let n = buf[head_end..].iter().filter(|&&b| b == b'\n').count() / 2;
                    counted.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                    let items: Vec<Value> = (0..n)
                        .map(|_| json!({"create": {"status": 201, "result": "created"}}))
                        .collect();
                    json!({"took": 1, "errors": false, "items": items})
                } else {
                    json!({"index_templates": [], "acknowledged": true})
                };
                let body = body.to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (url, ca.pem(), items)
}

#[tokio::test]
async fn tls_with_a_custom_ca_connects_only_with_ca_file() {
    let (url, ca_pem, items) = tls_es().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
    let cx = context(dir.path());

    let err = config(&url).build(&cx).await.unwrap_err();
    let shown = anyhow_like(&err);
    assert_eq!(err.key.as_deref(), Some("url"), "{shown}");
    assert!(shown.to_lowercase().contains("certificate"), "{shown}");

    let mut cfg = config(&url);
    cfg.ca_file = Some("ca.pem".into());
    let built = cfg
        .build(&cx)
        .await
        .unwrap_or_else(|e| panic!("{}", anyhow_like(&e)));
    let events: Vec<Event> = (0..3).map(|i| command(&format!("c{i}"), now())).collect();
    let refs: Vec<&Event> = events.iter().collect();
    let report = built.sink.write(&refs).await.unwrap();
    assert!(
        report.rejected.is_empty() && report.retry.is_empty(),
        "{report:?}"
    );
    assert_eq!(items.load(std::sync::atomic::Ordering::SeqCst), 3);
}
