//! The SQLite store on a full disk: a write either stores its events or fails, and once
//! space is back the store stores again, without a restart. A small tmpfs is the disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;

use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::sink::Sink;
use hpti_core::testing::Tmpfs;
use hpti_store::{EventQueries, SqliteOptions, SqliteStore};

fn batch(n: usize, base: Timestamp, first: usize) -> Vec<Event> {
    (first..first + n)
        .map(|i| {
            Event::new(
                "full-disk",
                Protocol::Ssh,
                IpAddr::from([198, 51, 100, (i % 250) as u8 + 1]),
                EventKind::CommandInput {
                    command: format!("echo {i} {}", "x".repeat(400)),
                },
            )
            .with_session(format!("s{}", i / 20))
            .with_time(base.saturating_add_micros(i as i64))
        })
        .collect()
}

#[tokio::test]
async fn a_full_disk_fails_writes_and_storing_resumes_when_space_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "6m") else {
        return;
    };
    // Space to give back later.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 2 * 1024 * 1024]).unwrap();
    let store = SqliteStore::open(SqliteOptions::new(disk.path().join("hpti.db")))
        .await
        .unwrap();
    let base = Timestamp::now().saturating_add_micros(-60_000_000);

    let mut acknowledged = 0usize;
    let mut failed = None;
    for round in 0..200 {
        let events = batch(200, base, round * 200);
        let refs: Vec<&Event> = events.iter().collect();
        match store.write(&refs).await {
            Ok(report) => {
                assert!(report.rejected.is_empty() && report.retry.is_empty());
                acknowledged += events.len();
            }
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    let err = failed.expect("the disk filled up");
    assert_eq!(
        err.class(),
        ErrorClass::Temporary,
        "a full disk may clear up: {err}"
    );
    // The pipeline retries a failed batch while the disk is still full: each retry
    // either fails again or stores the batch, never acknowledges it unstored.
    let events = batch(200, base, 500_000);
    let refs: Vec<&Event> = events.iter().collect();
    for _ in 0..5 {
        if store.write(&refs).await.is_ok() {
            acknowledged += events.len();
            break;
        }
    }
    assert_eq!(
        store.count_events().await.unwrap(),
        acknowledged as u64,
        "every acknowledged event is stored, and no other"
    );

    // Space comes back: the same store stores again, no restart. The room has to
    // hold the write-ahead log's checkpoint into the database as well as the write,
    // so the disk grows well past the filler (freeing only the filler once left the
    // checkpoint at close without room, and the reopen failed on a full disk).
    std::fs::remove_file(&filler).unwrap();
    disk.grow("64m");
    let events = batch(200, base, 1_000_000);
    let refs: Vec<&Event> = events.iter().collect();
    let report = store.write(&refs).await;
    assert!(report.is_ok(), "a write after space is back: {report:?}");
    assert_eq!(
        store.count_events().await.unwrap(),
        acknowledged as u64 + 200,
        "the write after the full disk is stored"
    );
    store.close().await;

    let reopened = SqliteStore::open(SqliteOptions::new(disk.path().join("hpti.db")))
        .await
        .unwrap();
    assert_eq!(
        reopened.count_events().await.unwrap(),
        acknowledged as u64 + 200,
        "and it is durable"
    );
    reopened.close().await;
}
