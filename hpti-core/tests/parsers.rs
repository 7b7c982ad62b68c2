//! The Cowrie, OpenCanary and auth.log parsers against the real fixtures under
//! `testdata/` (see `testdata/FORMATS.md`): exact counts per kind, validity of every
//! event, snapshots of a few events, and robustness against truncated, mistyped and
//! arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::parser::{BUILTIN_FORMATS, ParseContext, ParseError, Parser, builtin};
use hpti_core::parsers::{AuthLogParser, CowrieParser, OpenCanaryParser};
use hpti_core::validate::Validator;
use proptest::prelude::*;

fn fixture(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A time after every fixture line (they were captured on 2026-11-21).
fn after_fixtures() -> Timestamp {
    Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap()
}

fn authlog() -> AuthLogParser {
    AuthLogParser::with_reference_time(after_fixtures())
}

/// Parses every line with its byte offset; panics on the first error.
fn parse_all(parser: &dyn Parser, text: &str, source: &str) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut skipped = 0;
    let mut offset = 0u64;
    for line in text.split_inclusive('\n') {
        let ctx = ParseContext {
            source,
            offset,
            sensor: "fallback-sensor",
        };
        let body = line.strip_suffix('\n').unwrap_or(line);
        match parser.parse(body.as_bytes(), &ctx) {
            Ok(Some(event)) => events.push(event),
            Ok(None) => skipped += 1,
            Err(e) => panic!("{source}:{offset}: {e}\n{body}"),
        }
        offset += line.len() as u64;
    }
    (events, skipped)
}

/// Counts per kind; `unknown` events are counted by `unknown:<original_type>` as well.
fn counts(events: &[Event]) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for event in events {
        *map.entry(event.kind.name().to_owned()).or_insert(0) += 1;
        if let EventKind::Unknown { original_type, .. } = &event.kind {
            *map.entry(format!("unknown:{original_type}")).or_insert(0) += 1;
        }
    }
    map
}

fn expect(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn assert_all_valid(events: &[Event]) {
    let validator = Validator::default();
    for event in events {
        if let Err(e) = validator.validate_at(event, after_fixtures()) {
            panic!("{e}: {}", serde_json::to_string(event).unwrap());
        }
        assert!(
            event.observed.is_none(),
            "parsers leave `observed` to the collector"
        );
        assert!(event.raw.is_some());
    }
    let ids: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), events.len(), "ids are unique within a fixture");
}

// ---------------------------------------------------------------------------------------
// Cowrie
// ---------------------------------------------------------------------------------------

// Expected counts, from `grep -c '"eventid":"cowrie.<id>"' testdata/cowrie/cowrie.json`
// (they agree with FORMATS.md §1.6):
//   session.connect 17, session.closed 17, client.version 14, client.kex 14,
//   login.failed 7 + login.success 9 = 16, command.input 35,
//   session.file_download 6 (3 with a `url` → file.download, 3 without → file.upload),
//   session.file_download.failed 3 (→ file.download), session.file_upload 3,
//   direct-tcpip.request 3; the other 21 eventids (50 lines) stay unknown.
const COWRIE_LINES: usize = 178;

#[test]
fn cowrie_fixture_parses_completely() {
    let text = fixture("cowrie/cowrie.json");
    assert_eq!(text.lines().count(), COWRIE_LINES);
    let (events, skipped) = parse_all(&CowrieParser::new(), &text, "cowrie.json");
    assert_eq!(skipped, 0);
    assert_eq!(events.len(), COWRIE_LINES);
    assert_eq!(
        counts(&events),
        expect(&[
            ("session.started", 17),
            ("session.closed", 17),
            ("client.version", 14),
            ("client.fingerprint", 14),
            ("login.attempt", 16),
            ("command.input", 35),
            ("file.download", 6),
            ("file.upload", 6),
            ("port_forward.request", 3),
            ("unknown", 50),
            ("unknown:cowrie.client.fingerprint", 1),
            ("unknown:cowrie.client.malformed_packet", 1),
            ("unknown:cowrie.client.size", 1),
            ("unknown:cowrie.client.var", 5),
            ("unknown:cowrie.command.chpasswd", 1),
            ("unknown:cowrie.command.failed", 5),
            ("unknown:cowrie.command.success", 3),
            ("unknown:cowrie.direct-tcpip.data", 1),
            ("unknown:cowrie.direct-tcpip.ja4", 1),
            ("unknown:cowrie.direct-tcpip.ja4h", 1),
            ("unknown:cowrie.direct-tcpip.redirect", 1),
            ("unknown:cowrie.direct-tcpip.tunnel", 1),
            ("unknown:cowrie.log.closed", 6),
            ("unknown:cowrie.session.input", 1),
            ("unknown:cowrie.session.params", 6),
            ("unknown:cowrie.telnet.error", 1),
            ("unknown:cowrie.telnet.exploit_attempt", 1),
            ("unknown:cowrie.telnet.exploit_success", 1),
            ("unknown:cowrie.telnet.option", 11),
            ("unknown:cowrie.tunnelproxy-tcpip.data", 1),
        ])
    );
    assert_all_valid(&events);

    // Logins: 14 password attempts (one with the empty password of the telnet
    // CVE bypass), 2 public key ones.
    let mut by_method = BTreeMap::new();
    for event in &events {
        if let EventKind::LoginAttempt {
            method,
            password,
            key_type,
            key_fingerprint,
            ..
        } = &event.kind
        {
            *by_method.entry(method.as_str()).or_insert(0) += 1;
            match method {
                AuthMethod::Password => assert!(password.is_some()),
                AuthMethod::Publickey => {
                    assert!(password.is_none());
                    assert_eq!(key_type.as_deref(), Some("ssh-ed25519"));
                    assert!(key_fingerprint.as_deref().unwrap().contains(':'));
                }
                other => panic!("unexpected method {other:?}"),
            }
        }
    }
    assert_eq!(
        by_method,
        BTreeMap::from([("password", 15), ("publickey", 1)])
    );

    // Every field of an unknown record is kept.
    for event in &events {
        if let EventKind::Unknown { fields, .. } = &event.kind {
            let original: serde_json::Value =
                serde_json::from_str(event.raw.as_deref().unwrap()).unwrap();
            assert_eq!(&serde_json::Value::Object(fields.clone()), &original);
        }
        assert_eq!(event.sensor, "hpti-fixture-sensor");
        assert_eq!(event.session.as_deref().map(str::len), Some(12));
    }
}

#[test]
fn cowrie_direct_tcpip_keeps_the_honeypot_as_destination() {
    let text = fixture("cowrie/cowrie.json");
    let (events, _) = parse_all(&CowrieParser::new(), &text, "cowrie.json");
    let forwards: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PortForward { .. }))
        .collect();
    assert_eq!(forwards.len(), 3);
    for event in forwards {
        let EventKind::PortForward {
            host,
            port,
            accepted,
        } = &event.kind
        else {
            unreachable!()
        };
        assert_eq!(host, "127.0.0.1");
        assert!([8000, 443, 8080].contains(port), "{port}");
        assert!(!accepted);
        // The forwarding target is not the honeypot: the destination comes from the
        // session's `session.connect`.
        assert_eq!(event.dst_port, Some(2222));
    }
    for event in &events {
        if let Some(port) = event.dst_port {
            assert!([2222, 2223].contains(&port), "{port}");
        }
    }
}

#[test]
fn cowrie_telnet_sessions_are_telnet() {
    let text = fixture("cowrie/cowrie.json");
    let telnet_lines = text
        .lines()
        .filter(|l| l.contains(r#""protocol":"telnet""#))
        .count();
    assert_eq!(telnet_lines, 48);
    let (events, _) = parse_all(&CowrieParser::new(), &text, "cowrie.json");
    let telnet: HashSet<_> = events
        .iter()
        .filter(|e| e.protocol == Protocol::Telnet)
        .map(|e| e.session.clone().unwrap())
        .collect();
    assert_eq!(telnet.len(), 3);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.protocol == Protocol::Telnet)
            .count(),
        48
    );
    for event in &events {
        assert_eq!(
            event.dst_port == Some(2223),
            event.protocol == Protocol::Telnet
        );
    }

    // Without `protocol` on anything but session.connect (emitters that do not write
    // it), the protocol still comes out right, from the session map.
    let stripped: String = text
        .lines()
        .map(|l| {
            if l.contains("cowrie.session.connect") {
                l.to_owned()
            } else {
                l.replace(r#""protocol":"telnet","#, "")
                    .replace(r#""protocol":"ssh","#, "")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(stripped.matches(r#""protocol":"#).count(), 17);
    let (events2, _) = parse_all(&CowrieParser::new(), &stripped, "stripped.json");
    let protocols = |evs: &[Event]| evs.iter().map(|e| e.protocol.clone()).collect::<Vec<_>>();
    assert_eq!(protocols(&events2), protocols(&events));

    // A capacity-bounded map forgets old sessions: they fall back to ssh, never panic.
    let small = CowrieParser::with_session_capacity(1);
    let (events3, _) = parse_all(&small, &stripped, "stripped.json");
    assert_eq!(events3.len(), COWRIE_LINES);
    assert_eq!(small.remembered_sessions(), 1);
}

// ---------------------------------------------------------------------------------------
// OpenCanary
// ---------------------------------------------------------------------------------------

// From `grep -o '"logtype": [0-9]*' testdata/opencanary/opencanary.log | sort | uniq -c`
// (agrees with FORMATS.md §2.6): 75 lines, 18 × 1001 (daemon messages, no src_host →
// skipped). login.attempt = 2000×3 + 3001×2 + 4002×3 + 6001×2 + 7001×1 + 8001×2 + 9001×2
// + 9002×1 + 12001×1 + 14001×1 + 17001 AUTH×1 + 20001 auth_attempt×1 = 20;
// http.request = 3000×2 + 3002×2 + 3003×1 = 5; session.started = 4000×3 + 6002×1 +
// 9003×2 = 6; client.version = 4001×3; the other 23 are unknown.
#[test]
fn opencanary_fixture_parses_completely() {
    let text = fixture("opencanary/opencanary.log");
    assert_eq!(text.lines().count(), 75);
    let (events, skipped) = parse_all(&OpenCanaryParser, &text, "opencanary.log");
    assert_eq!(skipped, 18);
    assert_eq!(events.len(), 57);
    assert_eq!(
        counts(&events),
        expect(&[
            ("login.attempt", 20),
            ("http.request", 5),
            ("session.started", 6),
            ("client.version", 3),
            ("unknown", 23),
            ("unknown:opencanary.ftp_auth_attempt_initiated", 3),
            ("unknown:opencanary.tftp", 2),
            ("unknown:opencanary.ntp_monlist", 1),
            ("unknown:opencanary.sip_request", 1),
            ("unknown:opencanary.git_clone_request", 2),
            ("unknown:opencanary.redis_command", 3),
            ("unknown:opencanary.tcp_banner_connection_made", 1),
            (
                "unknown:opencanary.tcp_banner_keep_alive_connection_made",
                1
            ),
            (
                "unknown:opencanary.tcp_banner_keep_alive_secret_received",
                1
            ),
            ("unknown:opencanary.tcp_banner_keep_alive_data_received", 1),
            ("unknown:opencanary.tcp_banner_data_received", 1),
            ("unknown:opencanary.mongodb", 6),
        ])
    );
    assert_all_valid(&events);
    let protocols: BTreeMap<String, usize> = events.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.protocol.to_string()).or_insert(0) += 1;
        m
    });
    assert_eq!(
        protocols,
        expect(&[
            ("ftp", 6),
            ("http", 8),
            ("ssh", 9),
            ("telnet", 3),
            ("mysql", 4),
            ("mssql", 3),
            ("tftp", 2),
            ("ntp", 1),
            ("vnc", 1),
            ("rdp", 1),
            ("sip", 1),
            ("git", 2),
            ("redis", 4),
            ("tcpbanner", 5),
            ("mongodb", 7),
        ])
    );
    for event in &events {
        assert_eq!(event.sensor, "hpti-opencanary-1");
        assert!(event.session.is_none());
        assert!(event.src_port.is_some());
        if let EventKind::LoginAttempt { success, .. } = event.kind {
            assert!(!success);
        }
    }
}

// ---------------------------------------------------------------------------------------
// auth.log
// ---------------------------------------------------------------------------------------

// From `grep -c 'sshd\[[0-9]*\]: <message>' testdata/authlog/auth.log` (FORMATS.md §3):
// Failed password 9, Accepted password 1, Accepted publickey 1, Invalid user 5,
// Connection closed by 7, Connection reset by 1, Received disconnect 2, Disconnected
// from 2, Disconnecting 1 (→ 13 sshd.disconnect), error: maximum authentication attempts
// 1 and banner exchange 1 (→ 2 sshd.other). `grep -c ' port [0-9]'` = 32: those 31 plus
// "Server listening on"; the other 30 lines (PAM, kex_exchange_identification errors,
// Server listening) carry no client address and are skipped.
#[test]
fn authlog_fixture_parses_completely() {
    let text = fixture("authlog/auth.log");
    assert_eq!(text.lines().count(), 61);
    let (events, skipped) = parse_all(&authlog(), &text, "auth.log");
    assert_eq!(skipped, 30);
    assert_eq!(events.len(), 31);
    assert_eq!(
        counts(&events),
        expect(&[
            ("login.attempt", 11),
            ("unknown", 20),
            ("unknown:sshd.invalid_user", 5),
            ("unknown:sshd.disconnect", 13),
            ("unknown:sshd.other", 2),
        ])
    );
    assert_all_valid(&events);
    let logins: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LoginAttempt {
                username,
                password,
                key_type,
                key_fingerprint,
                method,
                success,
            } => {
                assert!(password.is_none());
                Some((
                    username.as_str(),
                    *method,
                    *success,
                    key_type.as_deref(),
                    key_fingerprint.as_deref(),
                ))
            }
            _ => None,
        })
        .collect();
    assert_eq!(logins.iter().filter(|l| !l.2).count(), 9);
    assert!(logins.contains(&("hptiuser", AuthMethod::Password, true, None, None)));
    assert!(logins.contains(&(
        "hptiuser",
        AuthMethod::Publickey,
        true,
        Some("ED25519"),
        Some("SHA256:glaoj+imerMtI6KXhSBUEqMwv9p3Uj0SUVaxltVVYJc")
    )));
    assert!(logins.contains(&("admin", AuthMethod::Password, false, None, None)));
    for event in &events {
        assert_eq!(event.sensor, "vm");
        assert_eq!(event.protocol, Protocol::Ssh);
        assert!(event.time.to_string().starts_with("2026-11-21T13:3"));
        assert!(event.src_port.is_some());
    }
}

#[test]
fn authlog_ids_depend_on_the_offset() {
    let line =
        b"Nov 21 13:33:38 vm sshd[24615]: Failed password for root from 127.0.0.1 port 57484 ssh2";
    let at = |offset| {
        let ctx = ParseContext {
            offset,
            ..ParseContext::default()
        };
        authlog().parse(line, &ctx).unwrap().unwrap().id
    };
    assert_eq!(at(10), at(10));
    assert_ne!(at(10), at(11));
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

/// The first event of each listed type, in fixture order.
fn pick<'a>(events: &'a [Event], want: &[&str]) -> Vec<&'a Event> {
    want.iter()
        .map(|needle| {
            events
                .iter()
                .find(|e| e.raw.as_deref().unwrap().contains(needle))
                .unwrap_or_else(|| panic!("no event with {needle}"))
        })
        .collect()
}

#[test]
fn cowrie_snapshot() {
    let text = fixture("cowrie/cowrie.json");
    let (events, _) = parse_all(&CowrieParser::new(), &text, "cowrie.json");
    let picked = pick(
        &events,
        &[
            r#""eventid":"cowrie.session.connect""#,
            r#""eventid":"cowrie.client.version""#,
            r#""password":"root","eventid":"cowrie.login.failed""#,
            r#""type":"ssh-ed25519","eventid":"cowrie.login.failed""#,
            r#""eventid":"cowrie.command.input""#,
            r#""url":"http://127.0.0.1:8000/file.bin""#,
            r#""destfile":"/tmp/x","eventid":"cowrie.session.file_download""#,
            r#""error":"TFTP: Transfer timed out""#,
            r#""eventid":"cowrie.session.file_upload""#,
            r#""eventid":"cowrie.direct-tcpip.request""#,
            r#""protocol":"telnet","src_ip":"127.0.0.1","src_port":35992,"dst_ip":"127.0.0.1","dst_port":2223,"input""#,
            r#""eventid":"cowrie.client.size""#,
            r#""eventid":"cowrie.session.closed""#,
        ],
    );
    insta::assert_json_snapshot!(picked);
}

#[test]
fn opencanary_snapshot() {
    let text = fixture("opencanary/opencanary.log");
    let (events, _) = parse_all(&OpenCanaryParser, &text, "opencanary.log");
    let picked = pick(
        &events,
        &[
            r#""logtype": 2000"#,
            r#""logtype": 3000"#,
            r#""logtype": 3001"#,
            r#""logtype": 4000"#,
            r#""logtype": 4001"#,
            r#""logtype": 8001"#,
            r#""logtype": 12001"#,
            r#""CMD": "AUTH""#,
            r#""logtype": 16001"#,
        ],
    );
    insta::assert_json_snapshot!(picked);
}

#[test]
fn authlog_snapshot() {
    let text = fixture("authlog/auth.log");
    let (events, _) = parse_all(&authlog(), &text, "auth.log");
    let picked = pick(
        &events,
        &[
            "Failed password for invalid user admin",
            "Accepted publickey",
            "Invalid user admin",
            "Connection closed by authenticating user root",
            "Received disconnect",
            "Disconnecting invalid user",
            "banner exchange",
        ],
    );
    insta::assert_json_snapshot!(picked);
}

// ---------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------

fn parsers() -> Vec<Box<dyn Parser>> {
    vec![
        Box::new(CowrieParser::new()),
        Box::new(OpenCanaryParser),
        Box::new(authlog()),
    ]
}

/// A few real lines of each fixture.
fn sample_lines() -> Vec<(usize, Vec<String>)> {
    let cowrie = fixture("cowrie/cowrie.json");
    let canary = fixture("opencanary/opencanary.log");
    let auth = fixture("authlog/auth.log");
    let take = |text: &str, needles: &[&str]| -> Vec<String> {
        needles
            .iter()
            .map(|n| text.lines().find(|l| l.contains(n)).unwrap().to_owned())
            .collect()
    };
    vec![
        (
            0,
            take(
                &cowrie,
                &[
                    "cowrie.session.connect",
                    "cowrie.login.success",
                    "cowrie.session.file_download\"",
                    "cowrie.direct-tcpip.request",
                    "cowrie.client.kex",
                    "cowrie.telnet.option",
                ],
            ),
        ),
        (
            1,
            take(
                &canary,
                &[
                    "\"logtype\": 2000",
                    "\"logtype\": 3000",
                    "\"logtype\": 4001",
                    "\"logtype\": 15001",
                ],
            ),
        ),
        (
            2,
            take(
                &auth,
                &[
                    "Failed password for invalid user",
                    "Accepted publickey",
                    "Invalid user",
                    "Received disconnect",
                    "Connection closed by authenticating",
                ],
            ),
        ),
    ]
}

#[test]
fn truncated_lines_are_errors() {
    let parsers = parsers();
    let ctx = ParseContext::default();
    for (which, lines) in sample_lines() {
        let parser = &parsers[which];
        for line in lines {
            assert!(parser.parse(line.as_bytes(), &ctx).unwrap().is_some());
            let header_end = line.find("]: ").map_or(0, |i| i + 2);
            for cut in 1..line.len() {
                let prefix = &line.as_bytes()[..cut];
                let result = parser.parse(prefix, &ctx);
                if which < 2 {
                    // A JSON object is incomplete until its last byte.
                    assert!(result.is_err(), "{}: {:?}", parser.name(), line.get(..cut));
                } else if cut < header_end {
                    assert!(result.is_err(), "{:?}", line.get(..cut));
                } else {
                    // Inside the message a cut can leave a shorter line of another valid
                    // shape ("port 5748" for "port 57484"); it must never be a typed
                    // event, only an error, nothing, or an unknown sshd line.
                    match result {
                        Err(_) | Ok(None) => {}
                        Ok(Some(event)) => assert!(
                            matches!(event.kind, EventKind::Unknown { .. }),
                            "{:?} gave {:?}",
                            line.get(..cut),
                            event.kind
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn wrong_field_types_are_errors() {
    let cowrie = CowrieParser::new();
    let ctx = ParseContext::default();
    let login = r#"{"session":"a8569aebcf53","protocol":"ssh","src_ip":"127.0.0.1","src_port":57290,"dst_ip":"127.0.0.1","dst_port":2222,"username":"root","password":"root","eventid":"cowrie.login.failed","sensor":"hpti-fixture-sensor","timestamp":"2026-11-21T13:28:45.433677Z"}"#;
    assert!(cowrie.parse(login.as_bytes(), &ctx).unwrap().is_some());
    for (from, to) in [
        (r#""src_port":57290"#, r#""src_port":"57290""#),
        (r#""src_port":57290"#, r#""src_port":70000"#),
        (r#""src_port":57290"#, r#""src_port":-1"#),
        (r#""src_ip":"127.0.0.1""#, r#""src_ip":2130706433"#),
        (r#""src_ip":"127.0.0.1""#, r#""src_ip":"localhost""#),
        (r#""src_ip":"127.0.0.1""#, r#""src_ip":"0.0.0.0""#),
        (r#""src_ip":"127.0.0.1","#, ""),
        (r#""username":"root""#, r#""username":["root"]"#),
        (r#""username":"root","#, ""),
        (r#""password":"root""#, r#""password":1234"#),
        (r#""eventid":"cowrie.login.failed""#, r#""eventid":null"#),
        (r#""eventid":"cowrie.login.failed","#, ""),
        (
            r#""timestamp":"2026-11-21T13:28:45.433677Z""#,
            r#""timestamp":1763731725"#,
        ),
        (
            r#""timestamp":"2026-11-21T13:28:45.433677Z""#,
            r#""timestamp":"2026-11-21 13:28""#,
        ),
        (
            r#""timestamp":"2026-11-21T13:28:45.433677Z""#,
            r#""timestamp":"2026-11-21T13:28:45.433677""#,
        ),
        (r#""sensor":"hpti-fixture-sensor""#, r#""sensor":{}"#),
        (r#""session":"a8569aebcf53""#, r#""session":5"#),
        (r#""protocol":"ssh""#, r#""protocol":true"#),
        (
            r#""protocol":"ssh""#,
            r#""protocol":"ssh","protocol":"ssh""#,
        ),
    ] {
        let line = login.replacen(from, to, 1);
        assert_ne!(line, login);
        assert!(cowrie.parse(line.as_bytes(), &ctx).is_err(), "{line}");
    }
    let closed = r#"{"session":"a","src_ip":"127.0.0.1","duration_ms":1052,"eventid":"cowrie.session.closed","timestamp":"2026-11-21T13:28:46.436664Z"}"#;
    assert!(cowrie.parse(closed.as_bytes(), &ctx).unwrap().is_some());
    for (from, to) in [
        ("1052", "\"1052\""),
        ("1052", "-5"),
        ("1052", "1.5"),
        (r#""duration_ms":1052,"#, ""),
    ] {
        let line = closed.replacen(from, to, 1);
        assert!(cowrie.parse(line.as_bytes(), &ctx).is_err(), "{line}");
    }
    let download = r#"{"session":"a","src_ip":"127.0.0.1","url":"http://x/y","shasum":"ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199","eventid":"cowrie.session.file_download","timestamp":"2026-11-21T13:28:46.436664Z"}"#;
    let event = cowrie.parse(download.as_bytes(), &ctx).unwrap().unwrap();
    assert!(matches!(event.kind, EventKind::FileDownload { .. }));
    for (from, to) in [
        ("ba2534450b", "zz2534450b"),
        ("ba2534450b", "ba253445"),
        (r#""url":"http://x/y""#, r#""url":7"#),
        (r#""shasum":"#, r#""size":-1,"shasum":"#),
    ] {
        let line = download.replacen(from, to, 1);
        assert!(cowrie.parse(line.as_bytes(), &ctx).is_err(), "{line}");
    }
    // Upper-case digests are normalised rather than refused.
    let upper = download.replace(
        "ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199",
        "BA2534450B8656ABF087CAA55AD5BD9D9CE1A858293C68C01579BF9B5472B199",
    );
    let event = cowrie.parse(upper.as_bytes(), &ctx).unwrap().unwrap();
    assert!(
        Validator::default()
            .validate_at(&event, after_fixtures())
            .is_ok()
    );

    let canary = OpenCanaryParser;
    let ftp = r#"{"dst_host": "127.0.0.1", "dst_port": 2121, "local_time": "2026-11-21 13:31:34.949847", "logdata": {"PASSWORD": "guest@example.com", "USERNAME": "anonymous"}, "logtype": 2000, "node_id": "hpti-opencanary-1", "src_host": "127.0.0.1", "src_port": 39580, "utc_time": "2026-11-21 13:31:34.949852"}"#;
    assert!(canary.parse(ftp.as_bytes(), &ctx).unwrap().is_some());
    for (from, to) in [
        (r#""logtype": 2000"#, r#""logtype": "2000""#),
        (r#""logtype": 2000"#, r#""logtype": -2000"#),
        (r#""src_host": "127.0.0.1""#, r#""src_host": 1"#),
        (r#""src_host": "127.0.0.1""#, r#""src_host": "nobody""#),
        (r#""src_port": 39580"#, r#""src_port": [39580]"#),
        (r#""src_port": 39580"#, r#""src_port": "many""#),
        (r#""USERNAME": "anonymous""#, r#""USERNAME": 0"#),
        (r#""USERNAME": "anonymous""#, r#""USER": "anonymous""#),
        (
            r#""utc_time": "2026-11-21 13:31:34.949852""#,
            r#""utc_time": 5"#,
        ),
        (
            r#""utc_time": "2026-11-21 13:31:34.949852""#,
            r#""utc_time": "2026-11-21""#,
        ),
        (r#""node_id": "hpti-opencanary-1""#, r#""node_id": false"#),
    ] {
        let line = ftp.replacen(from, to, 1);
        assert_ne!(line, ftp);
        assert!(canary.parse(line.as_bytes(), &ctx).is_err(), "{line}");
    }
}

#[test]
fn garbage_and_empty_objects_are_errors() {
    let parsers = parsers();
    let ctx = ParseContext::default();
    let long = vec![b'{'; 300 * 1024];
    let garbage: Vec<&[u8]> = vec![
        b"{}",
        b"[]",
        b"null",
        b"42",
        b"\"text\"",
        b"{\"a\":",
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"{\"eventid\":\"\xff\"}",
        b"}{",
        &long,
    ];
    for parser in &parsers {
        for input in &garbage {
            let result = parser.parse(input, &ctx);
            assert!(
                result.is_err(),
                "{} accepted {:?}",
                parser.name(),
                String::from_utf8_lossy(input)
            );
        }
        // Blank lines are nothing, not errors.
        for blank in [&b""[..], b"   ", b"\r", b"\t\n"] {
            assert_eq!(parser.parse(blank, &ctx), Ok(None), "{}", parser.name());
        }
    }
    assert!(matches!(
        parsers[0].parse(&long, &ctx),
        Err(ParseError::TooLong { .. })
    ));
    assert!(matches!(
        parsers[2].parse(b"\xff", &ctx),
        Err(ParseError::Utf8(0))
    ));
}

#[test]
fn builtin_knows_the_new_formats() {
    for name in ["cowrie", "opencanary", "authlog"] {
        assert!(BUILTIN_FORMATS.contains(&name));
        assert_eq!(builtin(name).unwrap().name(), name);
    }
    // Through the registry too, the fixtures parse without errors.
    for (name, file) in [
        ("cowrie", "cowrie/cowrie.json"),
        ("opencanary", "opencanary/opencanary.log"),
        ("authlog", "authlog/auth.log"),
    ] {
        let parser = builtin(name).unwrap();
        parse_all(parser.as_ref(), &fixture(file), file);
    }
}

#[test]
fn reparsing_a_fixture_gives_the_same_events() {
    for (parser_a, parser_b, file) in [
        (
            Box::new(CowrieParser::new()) as Box<dyn Parser>,
            Box::new(CowrieParser::new()) as Box<dyn Parser>,
            "cowrie/cowrie.json",
        ),
        (
            Box::new(OpenCanaryParser),
            Box::new(OpenCanaryParser),
            "opencanary/opencanary.log",
        ),
        (Box::new(authlog()), Box::new(authlog()), "authlog/auth.log"),
    ] {
        let text = fixture(file);
        assert_eq!(
            parse_all(parser_a.as_ref(), &text, file).0,
            parse_all(parser_b.as_ref(), &text, file).0
        );
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// Arbitrary JSON objects built from the keys these formats use, with values of any type.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (0u64..70_000).prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,16}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("127.0.0.1"),
            Just("::1"),
            Just("0.0.0.0"),
            Just("2026-11-21T13:28:45.384573Z"),
            Just("2026-11-21 13:31:34.949852"),
            Just("2026-11-21T14:28:45.384573+0100"),
            Just("cowrie.session.connect"),
            Just("cowrie.login.success"),
            Just("cowrie.session.file_download"),
            Just("cowrie.direct-tcpip.request"),
            Just("ssh"),
            Just("telnet"),
            Just("AUTH"),
            Just("mongodb.auth_attempt"),
            Just("ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199"),
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "eventid",
            "timestamp",
            "sensor",
            "session",
            "protocol",
            "src_ip",
            "src_port",
            "dst_ip",
            "dst_port",
            "duration_ms",
            "duration",
            "version",
            "hassh",
            "hasshAlgorithms",
            "username",
            "password",
            "fingerprint",
            "type",
            "input",
            "url",
            "shasum",
            "size",
            "error",
            "filename",
            "destfile",
            "outfile",
            "logtype",
            "logdata",
            "src_host",
            "dst_host",
            "utc_time",
            "local_time",
            "node_id",
            "USERNAME",
            "PASSWORD",
            "UserName",
            "CMD",
            "ARGS",
            "action",
            "PATH",
            "REQUEST_TYPE",
            "REMOTEVERSION",
            "VNC Password",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_ ]{0,6}",
    ]
}

fn json_object() -> impl Strategy<Value = String> {
    prop::collection::btree_map(key(), json_value(), 0..14).prop_map(|m| {
        serde_json::to_string(&serde_json::Value::Object(m.into_iter().collect())).unwrap()
    })
}

/// Real lines with a random byte range replaced by random bytes.
fn mutated_line() -> impl Strategy<Value = Vec<u8>> {
    let lines: Vec<String> = sample_lines().into_iter().flat_map(|(_, l)| l).collect();
    (
        prop::sample::select(lines),
        any::<prop::sample::Index>(),
        0usize..12,
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(line, at, len, bytes)| {
            let mut line = line.into_bytes();
            let start = at.index(line.len() + 1);
            let end = (start + len).min(line.len());
            line.splice(start..end, bytes);
            line
        })
}

fn syslog_like() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("Nov 21 13:33:35".to_owned()),
            Just("Feb 29 00:00:00".to_owned()),
            Just("2026-11-21T13:45:01.123456+00:00".to_owned()),
            "[A-Z][a-z]{2} [ 0-9]{1,2} [0-9:]{8}",
        ],
        prop_oneof![Just("vm"), Just("-"), Just("")],
        prop_oneof![Just("sshd[1]:"), Just("sshd-session[22]:"), Just("sshd:"), Just("cron[1]:")],
        prop_oneof![
            Just("Failed password for "),
            Just("Accepted publickey for "),
            Just("Invalid user "),
            Just("Connection closed by "),
            Just("Received disconnect from "),
            Just("Disconnecting "),
            Just("Connection from "),
            Just(""),
        ],
        "(invalid user |user |authenticating user )?[a-z ]{0,6}( from)? ?(127\\.0\\.0\\.1|::1|0\\.0\\.0\\.0|1\\.2\\.3)?( port [0-9]{0,6})?( on 127\\.0\\.0\\.1 port 22)?( ssh2)?(: [A-Z0-9]{0,7} (SHA256:[A-Za-z0-9+/]{43}|MD5:x)?)?(:[0-9]{1,3}: bye)?( \\[preauth\\])?",
    )
        .prop_map(|(time, host, tag, verb, tail)| format!("{time} {host} {tag} {verb}{tail}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for parser in parsers() {
            let _ = parser.parse(&bytes, &ParseContext::default());
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_ids_are_stable(line in json_object()) {
        check_stable(line.as_bytes())?;
    }

    #[test]
    fn mutated_real_lines_never_panic_and_ids_are_stable(line in mutated_line()) {
        check_stable(&line)?;
    }

    #[test]
    fn syslog_like_lines_never_panic_and_ids_are_stable(line in syslog_like()) {
        check_stable(line.as_bytes())?;
    }
}

/// Parsing the same line twice (with fresh parsers, as after a restart) gives the same
/// result, and whatever parses is valid enough to serialise.
fn check_stable(line: &[u8]) -> Result<(), TestCaseError> {
    let ctx = ParseContext::default();
    for (a, b) in parsers().into_iter().zip(parsers()) {
        let first = a.parse(line, &ctx);
        let second = b.parse(line, &ctx);
        prop_assert_eq!(&first, &second);
        if let Ok(Some(event)) = first {
            prop_assert!(serde_json::to_string(&event).is_ok());
            let again = a.parse(line, &ctx);
            prop_assert_eq!(again.ok().flatten().map(|e| e.id), Some(event.id));
        }
    }
    Ok(())
}
