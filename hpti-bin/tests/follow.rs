//! `hpti ingest --follow` on a live, rotating log, killed and restarted: every event is
//! stored exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hpti_core::event::{Event, EventKind, Protocol, Timestamp};

fn line(n: u64, base: Timestamp) -> String {
    let event = Event::new(
        "follow-test",
        Protocol::Telnet,
        IpAddr::from([203, 0, 113, (n % 200 + 1) as u8]),
        EventKind::CommandInput {
            command: format!("echo {n}"),
        },
    )
    .with_session(format!("s{}", n / 20))
    .with_time(base.saturating_add_micros(n as i64));
    serde_json::to_string(&event).unwrap() + "\n"
}

fn start_ingest(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hpti"))
        .env_remove("HPTI_CONFIG")
        .env("HPTI_LOG", "warn")
        .arg("--config")
        .arg(dir.join("hpti.toml"))
        .args(["ingest", "--follow", "--json"])
        .arg(format!("{}/live.jsonl*", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn count_rows(db: &Path) -> (i64, i64) {
    if !db.exists() {
        return (0, 0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let counts: (i64, i64) = sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap_or((0, 0));
        pool.close().await;
        counts
    })
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_followed_rotating_file_survives_kill_and_restart_with_every_event_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(
        dir.path().join("hpti.toml"),
        format!(
            "[data]\ndir = {data:?}\n\n[metrics]\nenabled = false\n\n[pipeline]\nbatch_size = 64\nlinger = \"5ms\"\n"
        ),
    )
    .unwrap();
    let db = data.join("hpti.db");
    let live = dir.path().join("live.jsonl");
    let base = Timestamp::now().saturating_add_micros(-3_600_000_000);
    let mut file = std::fs::File::create(&live).unwrap();
    let mut n = 0u64;
    let write = |file: &mut std::fs::File, count: u64, n: &mut u64| {
        for _ in 0..count {
            let text = line(*n, base);
            if *n % 97 == 0 {
                // A line written in two pieces: the reader must wait for its newline.
                let (head, tail) = text.split_at(text.len() / 2);
                file.write_all(head.as_bytes()).unwrap();
                file.flush().unwrap();
                std::thread::sleep(Duration::from_millis(2));
                file.write_all(tail.as_bytes()).unwrap();
            } else {
                file.write_all(text.as_bytes()).unwrap();
            }
            *n += 1;
        }
        file.flush().unwrap();
    };

    write(&mut file, 1500, &mut n);
    let mut ingest = start_ingest(dir.path());
    wait_for("the first events", Duration::from_secs(60), || {
        count_rows(&db).0 > 0
    });
    write(&mut file, 1500, &mut n);

    // Rename-and-create rotation while the reader follows.
    std::fs::rename(&live, dir.path().join("live.jsonl.1")).unwrap();
    let mut file = std::fs::File::create(&live).unwrap();
    write(&mut file, 1500, &mut n);

    // Killed without warning mid-stream, then started again.
    wait_for("checkpoints", Duration::from_secs(60), || {
        data.join("checkpoints.json").exists()
    });
    ingest.kill().unwrap();
    ingest.wait().unwrap();
    let (partial, _) = count_rows(&db);
    assert!(
        partial < n as i64,
        "killed before the end ({partial} of {n})"
    );
    write(&mut file, 1500, &mut n);
    let mut ingest = start_ingest(dir.path());

    // copytruncate rotation: the content is copied away, the file emptied in place.
    write(&mut file, 1000, &mut n);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::copy(&live, dir.path().join("live.jsonl.2")).unwrap();
    file.set_len(0).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    write(&mut file, 1000, &mut n);

    let total = n as i64;
    wait_for("every event", Duration::from_secs(120), || {
        count_rows(&db).0 >= total
    });
    std::thread::sleep(Duration::from_millis(1500));
    let pid = ingest.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = ingest.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends --follow cleanly: {status:?}");
    let (stored, distinct) = count_rows(&db);
    assert_eq!(stored, total, "every event stored");
    assert_eq!(distinct, total, "none stored twice");
    let dead_letters = std::fs::read_to_string(data.join("dead-letters.jsonl")).unwrap_or_default();
    assert_eq!(dead_letters, "", "no line was torn or lost on the way");
}
