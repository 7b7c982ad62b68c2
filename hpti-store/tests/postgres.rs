//! The PostgreSQL store against the real server (`HPTI_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), each test in a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::sink::Sink;
use hpti_core::testing::sink_conformance;
use hpti_store::testing::{TestDatabase, fixture};
use hpti_store::{
    EventFilter, EventQueries, PostgresOptions, PostgresStore, QueryStoreConfig as _, StoreError,
    Window,
};

async fn open(db: &TestDatabase) -> PostgresStore {
    PostgresStore::open(PostgresOptions::new(&db.url).unwrap())
        .await
        .unwrap()
}

/// `event` in a session of its own (named after its command).
fn with_own_session(event: Event) -> Event {
    let name = match &event.kind {
        EventKind::CommandInput { command } => command.clone(),
        _ => "other".into(),
    };
    event.with_session(name)
}

fn command(ip: [u8; 4], text: &str, time: Timestamp) -> Event {
    Event::new(
        "pg-test",
        Protocol::Telnet,
        IpAddr::from(ip),
        EventKind::CommandInput {
            command: text.into(),
        },
    )
    .with_session("t1")
    .with_time(time)
}

const DAY: i64 = 86_400_000_000;

/// The sink conformance suite on an empty store, counting and reading back through it;
/// closes the store.
async fn run_sink_conformance(store: Arc<PostgresStore>) {
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
    PostgresStore::close(&store).await;
}

#[tokio::test]
async fn passes_the_sink_conformance_suite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = Arc::new(open(&db).await);
    run_sink_conformance(store).await;
    db.remove().await;
}

#[tokio::test]
async fn rollups_answer_what_the_events_say_for_every_window() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open(&db).await;
    hpti_store::testing::rollup_conformance(&store, || async {}).await;
    store.close().await;
    db.remove().await;
}

#[tokio::test]
async fn the_rollups_migration_fills_them_from_the_events_already_stored() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open(&db).await;
    let events = hpti_store::testing::rollup_fixture();
    let refs: Vec<&hpti_core::Event> = events.iter().collect();
    store.write(&refs).await.unwrap();
    store.close().await;
    // Back to the schema before rollups, with the events (and sessions) it held.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "DROP TABLE credentials_hourly, credentials_total, credential_sources,
                    commands_hourly, commands_total, command_sources, downloads_hourly,
                    downloads_total, download_sources, download_urls, attackers_hourly,
                    fold_queue, files, kinds_hourly, upload_names, command_labels;
         DROP SEQUENCE hpti_position;
         DROP INDEX sessions_src_ip_seen, attackers_rank;
         CREATE INDEX sessions_src_ip ON sessions (src_ip);
         DELETE FROM hpti_migrations WHERE version IN (2, 5, 6)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = open(&db).await;
    hpti_store::testing::assert_rankings_match(&store, &events).await;
    store.close().await;
    db.remove().await;
}

#[tokio::test]
async fn passes_the_query_conformance_suite_and_answers_read_only() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open(&db).await;
    hpti_store::testing::query_conformance(&store, || async {}).await;
    store.close().await;

    let mut options = PostgresOptions::new(&db.url).unwrap();
    options.read_only = true;
    let reader = PostgresStore::open(options).await.unwrap();
    assert_eq!(reader.count_events().await.unwrap(), fixture().len() as u64);
    assert_eq!(reader.session("b1").await.unwrap().events.len(), 4);
    assert!(matches!(
        reader.event(hpti_core::event::EventId::new()).await,
        Err(StoreError::NotFound(_))
    ));
    reader.close().await;
    db.remove().await;
}

#[tokio::test]
async fn a_read_only_open_of_an_empty_database_says_there_is_nothing() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut options = PostgresOptions::new(&db.url).unwrap();
    options.read_only = true;
    assert!(matches!(
        PostgresStore::open(options).await,
        Err(StoreError::NotFound(_))
    ));
    db.remove().await;
}

#[tokio::test]
async fn nul_characters_read_back_exactly_and_show_as_replacement_in_rankings() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open(&db).await;
    let now = Timestamp::now();
    let mut event = command([192, 0, 2, 9], "echo a\0b", now);
    event.session = Some("s\0nul".into());
    event.sensor = "sensor\0x".into();
    let report = store.write(&[&event]).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(
        store.find_event(event.id).await.unwrap(),
        Some(event.clone())
    );
    let commands = store.commands(Window::default()).await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].command, "echo a\u{FFFD}b");
    let page = store
        .events(
            Window::default(),
            &EventFilter::default().src_ip(event.src_ip),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.events, vec![event]);
    store.close().await;
    db.remove().await;
}

#[tokio::test]
async fn partitions_are_made_on_demand_and_retention_drops_only_expired_ones() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let now = Timestamp::now();
    // Without retention, any day is stored (an old log), each in its own partition.
    let store = open(&db).await;
    let old = with_own_session(command(
        [192, 0, 2, 1],
        "old",
        now.saturating_add_micros(-10 * DAY),
    ));
    let mid = with_own_session(command(
        [192, 0, 2, 2],
        "mid",
        now.saturating_add_micros(-5 * DAY),
    ));
    let new = with_own_session(command([192, 0, 2, 3], "new", now));
    let year_2020 = command(
        [192, 0, 2, 4],
        "2020",
        Timestamp::from_micros(1_590_000_000_000_000),
    );
    let report = store.write(&[&old, &mid, &new, &year_2020]).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.events, 4);
    let names: Vec<&str> = stats.partitions.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"events_p20200520"), "{names:?}");
    // Today and three days ahead exist before anything is written to them.
    assert!(stats.partitions.len() >= 3 + 4, "{names:?}");
    store.close().await;

    // With a 7-day retention: the 10-day-old and the 2020 partitions go, whole.
    let mut options = PostgresOptions::new(&db.url).unwrap();
    options.retention = Some(Duration::from_secs(7 * 86_400));
    let store = PostgresStore::open(options).await.unwrap();
    let plan = store.apply_retention(true).await.unwrap();
    let expired: Vec<(&str, u64)> = plan
        .expired
        .iter()
        .filter(|p| p.rows > 0)
        .map(|p| (p.name.as_str(), p.rows))
        .collect();
    assert_eq!(expired.len(), 2, "{plan:?}");
    assert!(!plan.dropped);
    assert_eq!(
        store.count_events().await.unwrap(),
        4,
        "a dry run drops nothing"
    );
    let plan = store.apply_retention(false).await.unwrap();
    assert!(plan.dropped);
    assert_eq!(store.count_events().await.unwrap(), 2);
    for kept in [&mid, &new] {
        assert!(store.find_event(kept.id).await.unwrap().is_some());
    }
    for gone in [&old, &year_2020] {
        assert!(store.find_event(gone.id).await.unwrap().is_none());
    }
    // The rollups and totals forgot them too: every ranking counts only what is left.
    hpti_store::testing::assert_rankings_match(&store, &[mid.clone(), new.clone()]).await;
    // An event already past the retention is refused, not stored to be dropped.
    let stale = command([192, 0, 2, 5], "stale", now.saturating_add_micros(-9 * DAY));
    let report = store.write(&[&stale, &new]).await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].index, 0);
    assert!(
        report.rejected[0].reason.contains("retention"),
        "{report:?}"
    );
    store.close().await;
    db.remove().await;
}

#[tokio::test]
async fn a_replayed_batch_is_stored_and_counted_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open(&db).await;
    let now = Timestamp::now();
    let events: Vec<Event> = (0..500)
        .map(|i| {
            command(
                [198, 51, 100, (i % 7) as u8 + 1],
                &format!("cmd {}", i % 13),
                now.saturating_add_micros(i),
            )
        })
        .collect();
    let refs: Vec<&Event> = events.iter().collect();
    store.write(&refs).await.unwrap();
    // A replay after a crash: the same batch, then half of it, concurrently.
    let (a, b) = tokio::join!(store.write(&refs), store.write(&refs[..250]));
    a.unwrap();
    b.unwrap();
    assert_eq!(store.count_events().await.unwrap(), 500);
    let session = store.session("t1").await.unwrap();
    assert_eq!(
        session.summary.commands, 500,
        "the summaries fold each event once"
    );
    let attackers = store.attackers(Window::default()).await.unwrap();
    assert_eq!(attackers.iter().map(|a| a.events).sum::<u64>(), 500);
    // The rollups too, distinct addresses included (the batches raced on the pairs).
    let commands = store.commands(Window::default().limit(100)).await.unwrap();
    assert_eq!(
        commands,
        hpti_store::testing::expected_commands(&events, &Window::default().limit(100))
    );
    store.close().await;
    db.remove().await;
}

#[tokio::test]
async fn the_config_refuses_a_missing_or_double_url_and_never_shows_the_password() {
    use hpti_core::component::{BuildContext, ComponentId, SinkConfig as _};
    let cx = BuildContext::new(
        ComponentId::new("pg").unwrap(),
        std::env::temp_dir(),
        hpti_core::metrics::PipelineMetrics::default(),
    );
    let none: hpti_store::PostgresSinkConfig = toml_like("{}");
    let err = none.build(&cx).await.err().unwrap();
    assert!(err.to_string().contains("url"), "{err}");
    let secret: hpti_store::PostgresSinkConfig = toml_like(
        r#"{"url": "postgres://hpti:s3cret-pw@127.0.0.1:1/hpti", "connect_timeout": "1s"}"#,
    );
    assert!(!format!("{secret:?}").contains("s3cret-pw"));
    let err = secret.build(&cx).await.err().unwrap();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret-pw"), "{shown}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    let err = secret.stats(&cx).await.err().unwrap();
    assert!(!format!("{err} {err:?}").contains("s3cret-pw"));
}

fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).unwrap()
}

/// A PgBouncer in transaction mode in front of the local server, for two databases.
struct Bouncer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Bouncer {
    fn start(databases: &[(&str, &TestDatabase)]) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let entries: String = databases
            .iter()
            .map(|(alias, db)| {
                let name = db.url.rsplit('/').next().unwrap();
                format!("{alias} = host=127.0.0.1 port=5432 dbname={name} user=postgres\n")
            })
            .collect();
        let users = dir.path().join("userlist.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").unwrap();
        let ini = dir.path().join("pgbouncer.ini");
        // Two server connections for four client connections: statements of different
        // clients interleave on the same server connection, as in production.
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{entries}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {}\npool_mode = transaction\n\
                 default_pool_size = 2\nmax_client_conn = 100\nserver_reset_query =\n\
                 ignore_startup_parameters = extra_float_digits,options\n",
                users.display()
            ),
        )
        .unwrap();
        for file in [&users, &ini] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        // PgBouncer refuses to run as root.
        let mut command = std::process::Command::new("pgbouncer");
        if nix_is_root() {
            command.args(["-u", "nobody"]);
        }
        let child = command
            .arg(&ini)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "pgbouncer did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, alias: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{alias}", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn works_through_pgbouncer_in_transaction_mode_without_prepared_statements() {
    if !hpti_core::testing::require_tool("pgbouncer") {
        return;
    }
    let Some(sinks) = TestDatabase::create().await else {
        return;
    };
    let queries = TestDatabase::create().await.unwrap();
    let bouncer = Bouncer::start(&[("sinks", &sinks), ("queries", &queries)]);
    let through = |alias: &str| {
        let mut options = PostgresOptions::new(&bouncer.url(alias)).unwrap();
        options.prepared_statements = false;
        options
    };
    // Migrations, partition DDL, COPY, concurrent writers and every query, all through it.
    let store = Arc::new(PostgresStore::open(through("sinks")).await.unwrap());
    run_sink_conformance(store).await;
    let store = PostgresStore::open(through("queries")).await.unwrap();
    hpti_store::testing::query_conformance(&store, || async {}).await;
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.events, fixture().len() as u64);
    store.close().await;
    drop(bouncer);
    sinks.remove().await;
    queries.remove().await;
}

#[tokio::test]
async fn keeps_alerts_silences_and_the_notification_log() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let options = PostgresOptions::new(&db.url).unwrap();
    let store = hpti_store::PostgresAlertStore::open(&options)
        .await
        .unwrap();
    hpti_store::testing::alert_store_conformance(&store).await;
    store.close().await;
    db.remove().await;
}
