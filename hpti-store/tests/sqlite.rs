//! The SQLite store against a real database file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::sync::Arc;

use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::sink::Sink;
use hpti_core::testing::{sample_events, sink_conformance};
use hpti_store::{EventQueries, SqliteOptions, SqliteStore, Window};

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(SqliteOptions::new(dir.path().join("db/hpti.db")))
        .await
        .unwrap()
}

/// A connection of its own to one of the store's database files (`hpti`, `hpti-summaries`).
async fn connect(dir: &tempfile::TempDir, name: &str) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join(format!("db/{name}.db")).display()
    ))
    .await
    .unwrap()
}

#[tokio::test]
async fn passes_the_sink_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir).await);
    let counter = store.clone();
    let reader = store.clone();
    sink_conformance(
        store.as_ref(),
        || {
            let counter = counter.clone();
            async move { counter.count_events().await.unwrap() }
        },
        |id| {
            let reader = reader.clone();
            async move { reader.find_event(id).await.unwrap() }
        },
    )
    .await;
}

#[tokio::test]
async fn rollups_answer_what_the_events_say_for_every_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    hpti_store::testing::rollup_conformance(&store, || async {}).await;
    store.close().await;
}

#[tokio::test]
async fn the_upgrade_to_daily_rollups_fills_them_from_the_hourly_rows_and_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let events = hpti_store::testing::rollup_fixture();
    store
        .write(&events.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    // Folded (a query folds first), then back to before summaries migrations 6 and 7.
    store.attackers(Window::default()).await.unwrap();
    store.close().await;
    let summaries = connect(&dir, "hpti-summaries").await;
    sqlx::raw_sql(
        "DROP TABLE attackers_daily; DROP TABLE credentials_daily; DROP TABLE commands_daily;
         DROP TABLE address_sessions_daily;
         DELETE FROM _sqlx_migrations WHERE version IN (6, 7)",
    )
    .execute(&summaries)
    .await
    .unwrap();
    summaries.close().await;
    let store = open(&dir).await;
    let summaries = connect(&dir, "hpti-summaries").await;
    let (folded, days, session_days): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT folded_seq FROM fold_cursor), (SELECT COUNT(*) FROM attackers_daily),
                (SELECT COUNT(*) FROM address_sessions_daily)",
    )
    .fetch_one(&summaries)
    .await
    .unwrap();
    summaries.close().await;
    assert!(folded > 0, "the migration keeps the fold cursor");
    assert!(days > 0, "the migration filled the days from the hours");
    assert!(session_days > 0, "and the sessions' days from the sessions");
    hpti_store::testing::assert_rankings_match(&store, &events).await;
    store.close().await;
}

#[tokio::test]
async fn a_reader_answers_from_the_events_while_the_writer_folds_far_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let events = hpti_store::testing::rollup_fixture();
    let refs: Vec<&Event> = events.iter().collect();
    store.write(&refs).await.unwrap();
    store.close().await;
    // As after an upgrade: the rollups are being folded again from the start, and have
    // only got this far (a cursor far behind the newest event, the tables empty).
    let summaries = connect(&dir, "hpti-summaries").await;
    sqlx::raw_sql(
        "UPDATE fold_cursor SET folded_seq = -100000;
         DELETE FROM credentials_total; DELETE FROM credentials_hourly;
         DELETE FROM credentials_daily;
         DELETE FROM commands_total; DELETE FROM commands_hourly; DELETE FROM commands_daily;
         DELETE FROM downloads_total; DELETE FROM downloads_hourly;
         DELETE FROM attackers_hourly; DELETE FROM attackers_daily;",
    )
    .execute(&summaries)
    .await
    .unwrap();
    summaries.close().await;
    let mut options = SqliteOptions::new(dir.path().join("db/hpti.db"));
    options.read_only = true;
    let reader = SqliteStore::open(options).await.unwrap();
    for (name, window) in hpti_store::testing::rollup_windows(&events) {
        let window = window.limit(100);
        assert_eq!(
            reader.credentials(window).await.unwrap(),
            hpti_store::testing::expected_credentials(&events, &window),
            "credentials, {name}"
        );
        assert_eq!(
            reader.downloads(window).await.unwrap(),
            hpti_store::testing::expected_downloads(&events, &window),
            "downloads, {name}"
        );
    }
}

#[tokio::test]
async fn passes_the_query_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    hpti_store::testing::query_conformance(&store, || async {}).await;
    // A query process opens the same files read-only and gets the same answers.
    store.close().await;
    let mut options = SqliteOptions::new(dir.path().join("db/hpti.db"));
    options.read_only = true;
    let reader = SqliteStore::open(options).await.unwrap();
    assert_eq!(
        reader.count_events().await.unwrap(),
        hpti_store::testing::fixture().len() as u64
    );
    let detail = reader.session("b1").await.unwrap();
    assert_eq!(detail.events.len(), 4);
    assert!(matches!(
        reader.event(hpti_core::event::EventId::new()).await,
        Err(hpti_store::StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn stored_document_round_trips_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let events = sample_events(Timestamp::now());
    let refs: Vec<&Event> = events.iter().collect();
    store.write(&refs).await.unwrap();
    for event in &events {
        assert_eq!(
            store.find_event(event.id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    assert_eq!(
        store
            .find_event(hpti_core::event::EventId::new())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events(Timestamp::now());
    {
        let store = open(&dir).await;
        store
            .write(&events.iter().collect::<Vec<_>>())
            .await
            .unwrap();
        store.close().await;
    }
    let store = open(&dir).await;
    assert_eq!(store.count_events().await.unwrap(), events.len() as u64);
}

fn at(seconds: i64) -> Timestamp {
    // 2026-01-01T00:00:00Z plus `seconds`.
    Timestamp::from_micros((1_767_225_600 + seconds) * 1_000_000)
}

fn ev(ip: &str, session: &str, seconds: i64, kind: EventKind) -> Event {
    Event::new("t", Protocol::Ssh, ip.parse().unwrap(), kind)
        .with_session(session)
        .with_time(at(seconds))
}

fn login(user: &str, pass: &str, success: bool) -> EventKind {
    EventKind::LoginAttempt {
        username: user.into(),
        password: Some(pass.into()),
        key_type: None,
        key_fingerprint: None,
        method: AuthMethod::Password,
        success,
    }
}

fn command(text: &str) -> EventKind {
    EventKind::CommandInput {
        command: text.into(),
    }
}

fn download(url: &str, sha: char, size: u64) -> EventKind {
    EventKind::FileDownload {
        url: url.into(),
        sha256: Some(sha.to_string().repeat(64)),
        size: Some(size),
        error: None,
    }
}

/// A small attack history with known answers.
fn history() -> Vec<Event> {
    vec![
        ev("198.51.100.1", "a", 0, EventKind::SessionStarted),
        ev(
            "198.51.100.1",
            "a",
            1,
            EventKind::ClientVersion {
                version: "SSH-2.0-Go".into(),
            },
        ),
        ev("198.51.100.1", "a", 2, login("root", "123456", false)),
        ev("198.51.100.1", "a", 3, login("root", "admin", true)),
        ev("198.51.100.1", "a", 4, command("uname -a")),
        ev("198.51.100.1", "a", 5, download("http://x/a.sh", 'a', 100)),
        ev(
            "198.51.100.1",
            "a",
            6,
            EventKind::SessionClosed {
                duration_ms: 6000,
                recording: None,
            },
        ),
        ev("198.51.100.2", "b", 100, EventKind::SessionStarted),
        ev("198.51.100.2", "b", 101, login("root", "123456", false)),
        ev("198.51.100.2", "b", 102, login("admin", "admin", false)),
        ev("198.51.100.2", "b", 103, command("uname -a")),
        ev(
            "198.51.100.2",
            "b",
            104,
            download("http://y/a.sh", 'a', 100),
        ),
        ev("198.51.100.2", "b", 105, download("http://y/b.sh", 'b', 7)),
        ev("198.51.100.3", "c", 200, login("root", "123456", false)),
    ]
}

async fn store_with_history(dir: &tempfile::TempDir) -> SqliteStore {
    let store = open(dir).await;
    let events = history();
    store
        .write(&events.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn summaries_count_each_event_once_across_redelivery_and_split_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let events = history();
    // The history arrives in three batches, the middle one twice, overlapping the others.
    store
        .write(&events[..5].iter().collect::<Vec<_>>())
        .await
        .unwrap();
    store
        .write(&events[3..10].iter().collect::<Vec<_>>())
        .await
        .unwrap();
    store
        .write(&events[3..10].iter().collect::<Vec<_>>())
        .await
        .unwrap();
    store
        .write(&events[8..].iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let reference = tempfile::tempdir().unwrap();
    let whole = store_with_history(&reference).await;
    let window = Window::default();
    assert_eq!(
        store.sessions(window).await.unwrap(),
        whole.sessions(window).await.unwrap()
    );
    assert_eq!(
        store.attackers(window).await.unwrap(),
        whole.attackers(window).await.unwrap()
    );
    assert_eq!(store.count_events().await.unwrap(), events.len() as u64);
}

#[tokio::test]
async fn downloads_aggregate_per_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_history(&dir).await;
    let downloads = store.downloads(Window::default()).await.unwrap();
    insta::assert_json_snapshot!(downloads);
    let since = store
        .downloads(Window::default().since(at(105)).limit(10))
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].sha256, "b".repeat(64));
}

#[tokio::test]
async fn credentials_commands_attackers_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_history(&dir).await;
    let window = Window::default();
    insta::assert_json_snapshot!("credentials", store.credentials(window).await.unwrap());
    insta::assert_json_snapshot!("commands", store.commands(window).await.unwrap());
    insta::assert_json_snapshot!("attackers", store.attackers(window).await.unwrap());
    insta::assert_json_snapshot!("sessions", store.sessions(window).await.unwrap());
    // The summary table (all time) and a scan of the events (a window) agree.
    let scanned = store
        .attackers(Window::default().since(Timestamp::from_micros(0)).limit(20))
        .await
        .unwrap();
    assert_eq!(scanned, store.attackers(window).await.unwrap());
    let limited = store.attackers(Window::default().limit(1)).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].src_ip.to_string(), "198.51.100.1");
    let recent = store
        .sessions(Window::default().since(at(150)).limit(10))
        .await
        .unwrap();
    assert_eq!(
        recent.len(),
        1,
        "only session c had activity after 150: {recent:?}"
    );
    assert_eq!(recent[0].session, "c");
    assert_eq!(recent[0].login_attempts, 1);
    assert!(!recent[0].logged_in);
}

#[tokio::test]
async fn lost_summaries_are_rebuilt_from_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_history(&dir).await;
    let window = Window::default();
    let sessions = store.sessions(window).await.unwrap();
    let attackers = store.attackers(window).await.unwrap();
    store.close().await;
    let options = SqliteOptions::new(dir.path().join("db/hpti.db"));
    for suffix in ["", "-wal", "-shm"] {
        let mut path = options.summaries_path().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let reopened = open(&dir).await;
    assert_eq!(reopened.sessions(window).await.unwrap(), sessions);
    assert_eq!(reopened.attackers(window).await.unwrap(), attackers);
}

#[tokio::test]
async fn after_close_the_summaries_file_alone_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_history(&dir).await;
    store.close().await;
    let options = SqliteOptions::new(dir.path().join("db/hpti.db"));
    let summaries =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", options.summaries_path().display()))
            .await
            .unwrap();
    let (folded, sessions): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT folded_seq FROM fold_cursor), (SELECT SUM(events) FROM sessions)",
    )
    .fetch_one(&summaries)
    .await
    .unwrap();
    assert_eq!(folded, history().len() as i64);
    assert_eq!(
        sessions,
        history().len() as i64,
        "every event of the history has a session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_the_same_files_fold_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(&dir).await;
    let second = open(&dir).await;
    let base = Timestamp::now();
    let make = |i: usize| {
        Event::new(
            "t",
            Protocol::Ssh,
            format!("198.51.100.{}", i % 7 + 1).parse().unwrap(),
            command(&format!("echo {i}")),
        )
        .with_session(format!("s{}", i % 13))
        .with_time(base.saturating_add_micros(i as i64))
    };
    let writes: Vec<_> = (0..20)
        .map(|round| {
            let store = if round % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let events: Vec<Event> = (round * 50..round * 50 + 50).map(make).collect();
            tokio::spawn(async move {
                store
                    .write(&events.iter().collect::<Vec<_>>())
                    .await
                    .unwrap();
                // Fold from both sides while the other writes.
                store.refresh_summaries().await.unwrap();
            })
        })
        .collect();
    for write in writes {
        write.await.unwrap();
    }
    let attackers = first.attackers(Window::default().limit(100)).await.unwrap();
    assert_eq!(attackers.iter().map(|a| a.events).sum::<u64>(), 1000);
    assert_eq!(attackers.iter().map(|a| a.commands).sum::<u64>(), 1000);
    let sessions = second.sessions(Window::default().limit(100)).await.unwrap();
    assert_eq!(sessions.len(), 13);
    assert_eq!(sessions.iter().map(|s| s.commands).sum::<u64>(), 1000);
}

fn enriched(ip: &str, country: &str, asn: u32, failed: &[&str]) -> Event {
    let mut event = ev(
        ip,
        "s-enriched",
        1,
        EventKind::CommandInput {
            command: "uname -a".into(),
        },
    );
    event.enrichment.geo = Some(hpti_core::event::Geo {
        country_code: Some(country.into()),
        city: Some("Springfield".into()),
        latitude: Some(12.5),
        longitude: Some(-3.25),
        ..Default::default()
    });
    event.enrichment.asn = Some(hpti_core::event::Asn {
        number: asn,
        organization: Some("Example Hosting".into()),
    });
    event.enrichment.failed = failed.iter().map(|s| (*s).to_owned()).collect();
    event
}

#[tokio::test]
async fn each_distinct_enrichment_is_stored_once_and_events_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    // Two batches of the same two addresses, plus one degraded event of the first address
    // (its failed list makes it a third document) and one unenriched event.
    let mut first: Vec<Event> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                enriched("203.0.113.1", "DE", 64500, &[])
            } else {
                enriched("203.0.113.2", "FR", 64501, &[])
            }
        })
        .collect();
    first.push(enriched("203.0.113.1", "DE", 64500, &["abuseipdb"]));
    first.push(ev("203.0.113.3", "s-plain", 2, EventKind::SessionStarted));
    let second: Vec<Event> = (0..10)
        .map(|_| enriched("203.0.113.2", "FR", 64501, &[]))
        .collect();
    store
        .write(&first.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    store
        .write(&second.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(store.count_enrichments().await.unwrap(), 3);
    for event in first.iter().chain(&second) {
        assert_eq!(
            store.find_event(event.id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    store.close().await;

    // A reopened store has forgotten the row ids: it finds the stored documents again
    // instead of duplicating them, and a new document gets a row of its own.
    let store = open(&dir).await;
    let third = [
        enriched("203.0.113.2", "FR", 64501, &[]),
        enriched("203.0.113.9", "NL", 64502, &[]),
    ];
    store
        .write(&third.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(store.count_enrichments().await.unwrap(), 4);
    for event in &third {
        assert_eq!(
            store.find_event(event.id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    let (with_country,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM events_enriched WHERE enrichment LIKE '%\"country_code\":\"FR\"%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(with_country, 25 + 10 + 1);
}

#[tokio::test]
async fn an_upload_keeps_its_filename_out_of_the_url_column() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let upload = ev(
        "203.0.113.5",
        "s1",
        1,
        EventKind::FileUpload {
            filename: "/tmp/.x/bot".into(),
            sha256: Some("b".repeat(64)),
            size: Some(10),
        },
    );
    let fetched = ev(
        "203.0.113.5",
        "s1",
        2,
        download("http://198.51.100.1/a.sh", 'a', 5),
    );
    store.write(&[&upload, &fetched]).await.unwrap();
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT kind, url, filename FROM events ORDER BY ts")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            ("file.upload".into(), None, Some("/tmp/.x/bot".into())),
            (
                "file.download".into(),
                Some("http://198.51.100.1/a.sh".into()),
                None
            ),
        ]
    );
    // The upload still round-trips, and `hpti query downloads` lists both captured files:
    // the download by its URL, the upload by the name it was given (no URL).
    assert_eq!(
        store.find_event(upload.id).await.unwrap().as_ref(),
        Some(&upload)
    );
    let downloads = store.downloads(Window::default()).await.unwrap();
    let by_hash = |c: char| {
        downloads
            .iter()
            .find(|d| d.sha256 == c.to_string().repeat(64))
            .unwrap()
    };
    assert_eq!(downloads.len(), 2);
    assert_eq!(
        by_hash('a').urls,
        vec!["http://198.51.100.1/a.sh".to_string()]
    );
    assert_eq!((by_hash('a').count, by_hash('a').uploads), (1, 0));
    assert!(by_hash('a').filenames.is_empty());
    assert_eq!((by_hash('b').count, by_hash('b').uploads), (1, 1));
    assert_eq!(by_hash('b').filenames, vec!["/tmp/.x/bot".to_string()]);
    assert!(by_hash('b').urls.is_empty() && by_hash('b').url.is_none());
}

#[tokio::test]
async fn closing_or_dropping_the_store_ends_its_background_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let wait = |tasks: tokio_util::task::TaskTracker| async move {
        tokio::time::timeout(std::time::Duration::from_secs(5), tasks.wait())
            .await
            .expect("background tasks must end");
    };

    // Sink::close: no more writes, background tasks end, queries still answer.
    let store = open(&dir).await;
    let tasks = store.background_tasks();
    assert_eq!(tasks.len(), 2);
    store
        .write(&[&ev("203.0.113.5", "s1", 1, command("id"))])
        .await
        .unwrap();
    Sink::close(&store).await.unwrap();
    wait(tasks.clone()).await;
    assert!(tasks.is_empty());
    assert!(
        store
            .write(&[&ev("203.0.113.5", "s1", 2, command("ls"))])
            .await
            .is_err()
    );
    assert_eq!(store.count_events().await.unwrap(), 1);
    Sink::close(&store).await.unwrap();
    // SqliteStore::close closes every pool.
    store.close().await;
    assert!(store.is_closed());
    drop(store);

    // Dropping the last clone stops them too.
    let store = open(&dir).await;
    let clone = store.clone();
    let tasks = store.background_tasks();
    drop(store);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(tasks.len(), 2, "a clone is still alive");
    drop(clone);
    wait(tasks).await;
}

#[tokio::test]
async fn keeps_alerts_silences_and_the_notification_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hpti-alerts.db");
    let store = hpti_store::SqliteAlertStore::open(&path).await.unwrap();
    hpti_store::testing::alert_store_conformance(&store).await;
    store.close().await;
    // Reopened (another process, a restart): everything is still there.
    let again = hpti_store::SqliteAlertStore::open(&path).await.unwrap();
    use hpti_core::alert_store::AlertStore as _;
    assert_eq!(again.alerts(false, 10).await.unwrap().len(), 2);
    assert_eq!(again.silences().await.unwrap().len(), 2);
}

/// The export's lines, written by SQLite, read back as the events `events` rebuilds: odd
/// strings (quotes, backslashes, control characters, non-ASCII), a time before 1970 (which
/// takes the long way), sample and hostile events.
#[tokio::test]
async fn ndjson_lines_are_the_events_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut events = sample_events(at(0));
    events.extend(hpti_core::testing::hostile_events(at(100)));
    let odd = Event::new(
        "sensor \"one\"\\\u{1}",
        Protocol::Ssh,
        "2001:db8::7".parse().unwrap(),
        EventKind::CommandInput {
            command: "echo \u{7f}\u{2028}é\t\"x\"".into(),
        },
    )
    .with_session("s\n\"é\"")
    .with_time(at(200));
    let before_1970 = Event::new(
        "old",
        Protocol::Telnet,
        "198.51.100.1".parse().unwrap(),
        EventKind::SessionStarted,
    )
    .with_time(Timestamp::from_micros(-1_500_000));
    events.extend([odd, before_1970]);
    let refs: Vec<&Event> = events.iter().collect();
    let report = store.write(&refs).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let window = Window::default()
        .since(Timestamp::from_micros(-10_000_000))
        .limit(7);
    let filter = hpti_store::EventFilter::default();
    let (mut cursor, mut seen) = (None, 0);
    loop {
        let page = store
            .events(window, &filter, cursor.as_ref())
            .await
            .unwrap();
        let lines = store
            .events_ndjson(window, &filter, cursor.as_ref())
            .await
            .unwrap();
        let parsed: Vec<serde_json::Value> = lines
            .lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let expected: Vec<serde_json::Value> = page
            .events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        assert_eq!(parsed, expected);
        assert_eq!(lines.next, page.next);
        seen += lines.count;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, events.len());
}

/// The upgrade to web commands and uploads in the views: requests stored before it get
/// their command, and the summaries are folded again, so `hpti query commands` and
/// `downloads` show what was stored before as they show what is stored after.
#[tokio::test]
async fn the_upgrade_makes_stored_web_attacks_commands_and_uploads_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let request = |uri: &str, labels: &[&str], seconds: i64| {
        Event::new(
            "web",
            Protocol::Http,
            "198.51.100.7".parse().unwrap(),
            EventKind::HttpRequest {
                method: "GET".into(),
                uri: uri.into(),
                host: None,
                user_agent: None,
                status: Some(404),
                labels: labels.iter().map(|l| (*l).to_owned()).collect(),
                detail: None,
            },
        )
        .with_time(Timestamp::from_micros(
            1_767_225_600_000_000 + seconds * 1_000_000,
        ))
    };
    let upload = Event::new(
        "ftp",
        Protocol::Ftp,
        "198.51.100.8".parse().unwrap(),
        EventKind::FileUpload {
            filename: "/root/x".into(),
            sha256: Some("c".repeat(64)),
            size: Some(3),
        },
    )
    .with_session("f1")
    .with_time(Timestamp::from_micros(1_767_225_600_000_000));
    let events = [
        request("/../../etc/passwd", &["lfi", "scanner:nikto"], 1),
        request("/", &["scanner:zgrab"], 2),
        request("/favicon.ico", &[], 3),
        upload,
    ];
    store
        .write(&events.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    store.close().await;

    // Back to before the upgrade: no command column for requests, neither migration run.
    let events_db = connect(&dir, "hpti").await;
    sqlx::raw_sql(
        "UPDATE events SET command = NULL WHERE kind = 'http.request';
         DELETE FROM _sqlx_migrations WHERE version = 4",
    )
    .execute(&events_db)
    .await
    .unwrap();
    events_db.close().await;
    let summaries = connect(&dir, "hpti-summaries").await;
    sqlx::raw_sql(
        "DROP TABLE upload_names; DROP TABLE command_labels;
         ALTER TABLE downloads_hourly DROP COLUMN uploads;
         ALTER TABLE downloads_total DROP COLUMN uploads;
         DELETE FROM commands_total; DELETE FROM downloads_total;
         DELETE FROM _sqlx_migrations WHERE version = 4",
    )
    .execute(&summaries)
    .await
    .unwrap();
    summaries.close().await;

    let store = open(&dir).await;
    let commands = store.commands(Window::default()).await.unwrap();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0].command, "GET /../../etc/passwd");
    assert_eq!(commands[0].labels, ["lfi", "scanner:nikto"]);
    let downloads = store.downloads(Window::default()).await.unwrap();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert_eq!((downloads[0].count, downloads[0].uploads), (1, 1));
    assert_eq!(downloads[0].filenames, ["/root/x"]);
    store.close().await;
}
