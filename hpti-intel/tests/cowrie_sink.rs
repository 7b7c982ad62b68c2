//! The `cowrie-json` sink: lines appended and synced, rotated as Cowrie rotates them
//! (`cowrie.json.YYYY-MM-DD` for the day the lines belong to, at the first write of a
//! new day), at most `keep` rotated files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use hpti_core::event::{Event, EventKind, Protocol};
use hpti_core::sink::Sink as _;
use hpti_intel::cowrie::CowrieJsonSink;
use hpti_intel::cowrie::sink::Rotate;

fn command(n: u32) -> Event {
    Event::new(
        "ssh",
        Protocol::Ssh,
        "198.51.100.7".parse().unwrap(),
        EventKind::CommandInput {
            command: format!("echo {n}"),
        },
    )
    .with_session("a8569aebcf53")
}

fn set_day(path: &std::path::Path, days_ago: u64) {
    let file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(days_ago * 86_400))
        .unwrap();
}

#[tokio::test]
async fn lines_are_appended_and_a_new_day_rotates_the_file_keeping_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log/cowrie.json");
    // Files of older days, as Cowrie would have left them.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        std::fs::write(dir.path().join(format!("log/cowrie.json.{day}")), "{}\n").unwrap();
    }
    std::fs::write(&path, "").unwrap();
    let sink = CowrieJsonSink::open(path.clone(), Rotate::Daily, 2).unwrap();
    let (a, b) = (command(1), command(2));
    sink.write(&[&a, &b]).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.lines()
            .all(|l| l.contains("\"eventid\":\"cowrie.command.input\""))
    );
    drop(sink);

    // Reopened the next day: the first write moves yesterday's lines aside.
    set_day(&path, 1);
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d");
    let sink = CowrieJsonSink::open(path.clone(), Rotate::Daily, 2).unwrap();
    let c = command(3);
    sink.write(&[&c]).await.unwrap();
    let rotated = dir.path().join(format!("log/cowrie.json.{yesterday}"));
    assert_eq!(std::fs::read_to_string(&rotated).unwrap(), text);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    // keep = 2: the two newest rotated files remain.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cowrie.json".to_owned(),
            "cowrie.json.2026-01-03".to_owned(),
            format!("cowrie.json.{yesterday}")
        ]
    );
    // Events Cowrie has no line for are not written.
    let http = Event::new(
        "web",
        Protocol::Http,
        "198.51.100.7".parse().unwrap(),
        EventKind::SessionStarted,
    );
    sink.write(&[&http]).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn never_rotates_when_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cowrie.json");
    std::fs::write(&path, "{}\n").unwrap();
    set_day(&path, 3);
    let sink = CowrieJsonSink::open(path.clone(), Rotate::Never, 2).unwrap();
    let a = command(1);
    sink.write(&[&a]).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
