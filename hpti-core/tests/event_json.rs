//! The JSON form of events is a documented, versioned schema (docs/events.md): these
//! snapshots pin it, and the property tests check that every event survives a round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;

use hpti_core::event::{
    Asn, AuthMethod, Enrichment, Event, EventId, EventKind, Geo, Network, Protocol, Reputation,
    Timestamp,
};
use hpti_core::parser::{NativeParser, ParseContext, Parser};
use hpti_core::testing::sample_events;
use proptest::prelude::*;

fn fixed(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let id = format!("0193a000-0000-7000-8000-{:012}", i);
            e.with_id(id.parse().unwrap())
        })
        .collect()
}

#[test]
fn every_kind_has_a_stable_json_form() {
    let events = fixed(sample_events(Timestamp::from_micros(1_767_225_600_123_456)));
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn enrichment_has_a_stable_json_form() {
    let mut event = fixed(sample_events(Timestamp::from_micros(1_767_225_600_000_000))).remove(3);
    event.enrichment = Enrichment {
        geo: Some(Geo {
            country_code: Some("GB".into()),
            country: Some("United Kingdom".into()),
            city: Some("London".into()),
            latitude: Some(51.5142),
            longitude: Some(-0.0931),
        }),
        asn: Some(Asn {
            number: 15169,
            organization: Some("Google Inc.".into()),
        }),
        network: Some(Network {
            source: "rdap".into(),
            handle: Some("NET-8-8-8-0-2".into()),
            name: Some("GOGL".into()),
            cidr: vec!["8.8.8.0/24".into()],
            organization: Some("Google LLC".into()),
            abuse_email: Some("network-abuse@google.com".into()),
            country: Some("US".into()),
        }),
        reputation: vec![Reputation {
            source: "abuseipdb".into(),
            score: Some(100),
            malicious: None,
            total: Some(1234),
            details: [("usage_type".to_owned(), serde_json::json!("Data Center"))]
                .into_iter()
                .collect(),
        }],
        tags: vec!["tor".into()],
        failed: vec!["virustotal".into()],
        file: None,
    };
    event.observed = Some(Timestamp::from_micros(1_767_225_601_000_000));
    event.raw = Some(r#"{"eventid":"cowrie.login.failed"}"#.into());
    insta::assert_json_snapshot!(event);
}

#[test]
fn reads_timestamps_with_any_precision_and_offset() {
    let json = r#"{"v":1,"id":"0193a000-0000-7000-8000-000000000001","time":"2026-01-01T01:00:00.1234567+01:00","sensor":"s","protocol":"ssh","src_ip":"192.0.2.1","kind":"session.started"}"#;
    let event: Event = serde_json::from_str(json).unwrap();
    assert_eq!(event.time.to_string(), "2026-01-01T00:00:00.123456Z");
    assert_eq!(event.kind, EventKind::SessionStarted);
}

#[test]
fn derived_ids_are_deterministic_and_time_ordered() {
    let t1 = Timestamp::from_micros(1_767_225_600_000_000);
    let t2 = t1.saturating_add_micros(1000);
    let a = EventId::derived(t1, &[b"file.json", b"line"]);
    assert_eq!(a, EventId::derived(t1, &[b"file.json", b"line"]));
    assert_ne!(a, EventId::derived(t1, &[b"file.jso", b"nline"]));
    assert!(EventId::derived(t2, &[b"zzz"]) > EventId::derived(t1, &[b"aaa"]));
    assert_eq!(a.as_uuid().get_version_num(), 7);
}

#[test]
fn native_parser_reports_json_errors_with_a_column() {
    let err = NativeParser
        .parse(br#"{"v":1,"id":"nope"}"#, &ParseContext::default())
        .unwrap_err();
    assert_eq!(err.label(), "json");
    assert!(
        NativeParser
            .parse(b"   ", &ParseContext::default())
            .unwrap()
            .is_none()
    );
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9 ;|&/.-]{0,40}"]
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::SessionStarted),
        (any::<u64>(), proptest::option::of(text())).prop_map(|(duration_ms, recording)| {
            EventKind::SessionClosed {
                duration_ms,
                recording,
            }
        }),
        text().prop_map(|version| EventKind::ClientVersion { version }),
        (text(), text(), proptest::option::of(text())).prop_map(
            |(method, fingerprint, algorithms)| {
                EventKind::ClientFingerprint {
                    method,
                    fingerprint,
                    algorithms,
                }
            }
        ),
        (text(), proptest::option::of(text()), any::<bool>()).prop_map(
            |(username, password, success)| {
                EventKind::LoginAttempt {
                    username,
                    password,
                    key_type: None,
                    key_fingerprint: None,
                    method: AuthMethod::KeyboardInteractive,
                    success,
                }
            }
        ),
        text().prop_map(|command| EventKind::CommandInput { command }),
        (
            text(),
            proptest::option::of("[0-9a-f]{64}"),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(url, sha256, size)| EventKind::FileDownload {
                url,
                sha256,
                size,
                error: None
            }),
        (text(), text(), proptest::option::of(any::<u16>())).prop_map(|(method, uri, status)| {
            EventKind::HttpRequest {
                method,
                uri,
                host: None,
                user_agent: None,
                status,
                labels: Vec::new(),
                detail: None,
            }
        }),
        (text(), any::<u16>(), any::<bool>()).prop_map(|(host, port, accepted)| {
            EventKind::PortForward {
                host,
                port,
                accepted,
            }
        }),
        (
            text(),
            proptest::collection::btree_map(text(), text(), 0..4)
        )
            .prop_map(|(t, m)| {
                EventKind::Unknown {
                    original_type: t,
                    fields: m
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect(),
                }
            }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (
        kind(),
        any::<IpAddr>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(text()),
        text(),
        946_684_800_000_000i64..4_102_444_800_000_000i64,
        proptest::option::of(text()),
    )
        .prop_map(|(kind, ip, port, session, sensor, micros, raw)| {
            let mut e = Event::new(sensor, Protocol::from_name("ssh"), ip, kind)
                .with_time(Timestamp::from_micros(micros));
            e.src_port = port;
            e.session = session;
            e.raw = raw;
            e
        })
}

proptest! {
    #[test]
    fn native_events_round_trip_through_json(event in event()) {
        let line = serde_json::to_vec(&event).unwrap();
        let back = NativeParser.parse(&line, &ParseContext::default()).unwrap().unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn native_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = NativeParser.parse(&bytes, &ParseContext::default());
    }
}
