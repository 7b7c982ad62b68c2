//! asciicast v2 recordings: format, UTF-8 joining, size cap, layout.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hpti_sensors::recording::{Recorder, RecordingConfig, RecordingError};
use serde_json::Value;

/// Header and events of a recording, checked for asciicast v2 validity on the way.
fn parse(path: &Path) -> (Value, Vec<(f64, String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "last line not terminated");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert!(header["width"].as_u64().unwrap() > 0);
    assert!(header["height"].as_u64().unwrap() > 0);
    assert!(header["timestamp"].is_u64());
    assert_eq!(header["env"]["SHELL"], "/bin/bash");
    let mut events = Vec::new();
    let mut last = 0.0;
    for line in lines {
        let event: Value = serde_json::from_str(line).unwrap();
        let array = event.as_array().unwrap();
        assert_eq!(array.len(), 3, "{line}");
        let time = array[0].as_f64().unwrap();
        assert!(time >= last, "times go backwards: {last} then {time}");
        last = time;
        let code = array[1].as_str().unwrap().to_owned();
        assert!(["o", "i", "r"].contains(&code.as_str()), "{line}");
        events.push((time, code, array[2].as_str().unwrap().to_owned()));
    }
    (header, events)
}

fn joined(events: &[(f64, String, String)], code: &str) -> String {
    events
        .iter()
        .filter(|(_, c, _)| c == code)
        .map(|(_, _, data)| data.as_str())
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn valid_asciicast_v2() {
    let dir = tempfile::tempdir().unwrap();
    let before = unix_now();
    let mut recorder = Recorder::create(dir.path(), "sess-1", 120, 40, Some("xterm-256color"))
        .await
        .unwrap();
    recorder.output(b"Welcome\r\n$ ").await.unwrap();
    recorder.input(b"l").await.unwrap();
    recorder.input(b"s\r").await.unwrap();
    recorder
        .output(b"ls\r\nbin  \"quoted\"\t\x1b[0m\r\n$ ")
        .await
        .unwrap();
    recorder.resize(100, 30).await.unwrap();
    recorder.output(b"").await.unwrap();
    let relative = recorder.finish().await.unwrap();
    let after = unix_now();

    let (header, events) = parse(&dir.path().join(&relative));
    assert_eq!(header["width"], 120);
    assert_eq!(header["height"], 40);
    assert_eq!(header["env"]["TERM"], "xterm-256color");
    let timestamp = header["timestamp"].as_u64().unwrap();
    assert!((before..=after).contains(&timestamp));
    assert_eq!(
        joined(&events, "o"),
        "Welcome\r\n$ ls\r\nbin  \"quoted\"\t\x1b[0m\r\n$ "
    );
    assert_eq!(joined(&events, "i"), "ls\r");
    assert_eq!(joined(&events, "r"), "100x30");
    // Empty writes make no events.
    assert_eq!(events.len(), 5);
}

#[tokio::test]
async fn unknown_size_and_term() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path(), "telnet-1", 0, 0, None)
        .await
        .unwrap();
    let relative = recorder.finish().await.unwrap();
    let (header, events) = parse(&dir.path().join(relative));
    assert_eq!(header["width"], 80);
    assert_eq!(header["height"], 24);
    assert!(header["env"].get("TERM").is_none());
    assert!(events.is_empty());
}

#[tokio::test]
async fn split_utf8_is_joined_and_garbage_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::create(dir.path(), "utf8", 80, 24, None)
        .await
        .unwrap();
    // "é" split over two writes, "€" over three.
    recorder.output(b"caf\xc3").await.unwrap();
    recorder.output(b"\xa9 ").await.unwrap();
    recorder.output(b"\xe2").await.unwrap();
    recorder.output(b"\x82").await.unwrap();
    recorder.output(b"\xac!").await.unwrap();
    // Input has its own carry: interleaving does not mix the streams.
    recorder.input(b"\xf0\x9f").await.unwrap();
    recorder.output(b" \xff\xfe ").await.unwrap();
    recorder.input(b"\x98\x80").await.unwrap();
    // An incomplete sequence at the very end is shown as U+FFFD.
    recorder.output(b"end\xe2\x82").await.unwrap();
    let relative = recorder.finish().await.unwrap();

    let (_, events) = parse(&dir.path().join(relative));
    assert_eq!(joined(&events, "o"), "café €! \u{FFFD}\u{FFFD} end\u{FFFD}");
    assert_eq!(joined(&events, "i"), "😀");
}

#[tokio::test]
async fn size_cap_stops_recording() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig {
        max_bytes: 2000,
        ..RecordingConfig::default()
    };
    let mut recorder = Recorder::create_with(&config, dir.path(), "big", 80, 24, None)
        .await
        .unwrap();
    let mut sent = 0;
    for i in 0..200 {
        recorder
            .output(format!("line {i:04} {}\r\n", "x".repeat(30)).as_bytes())
            .await
            .unwrap();
        sent += 1;
        if recorder.is_truncated() {
            break;
        }
    }
    assert!(recorder.is_truncated(), "never hit the cap");
    assert!(sent < 200);
    // Nothing more is recorded, however small.
    recorder.output(b"x").await.unwrap();
    recorder.input(b"y").await.unwrap();
    recorder.resize(1, 1).await.unwrap();
    let size = recorder.size();
    let relative = recorder.finish().await.unwrap();

    let path = dir.path().join(relative);
    let on_disk = std::fs::metadata(&path).unwrap().len();
    assert_eq!(on_disk, size);
    assert!(on_disk <= 2000, "{on_disk} bytes");
    let (_, events) = parse(&path);
    // Every event before the one that did not fit is there, nothing after it.
    assert_eq!(events.len(), sent - 1);
    assert!(events.iter().all(|(_, code, _)| code == "o"));
    assert!(
        events
            .last()
            .unwrap()
            .2
            .starts_with(&format!("line {:04}", sent - 2))
    );
}

#[tokio::test]
async fn path_layout_and_session_ids() {
    let dir = tempfile::tempdir().unwrap();
    let day_before = chrono::Utc::now().format("%Y/%m/%d").to_string();
    let recorder = Recorder::create(dir.path(), "0193a1b2-c3d4-7e5f", 80, 24, None)
        .await
        .unwrap();
    let day_after = chrono::Utc::now().format("%Y/%m/%d").to_string();
    let relative = recorder.relative_path().to_owned();
    let text = relative.to_str().unwrap();
    assert!(
        [&day_before, &day_after]
            .iter()
            .any(|day| text == format!("{day}/0193a1b2-c3d4-7e5f.cast")),
        "{text}"
    );
    assert_eq!(recorder.finish().await.unwrap(), relative);
    assert!(dir.path().join(&relative).is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(&relative))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The same session twice would overwrite: refused.
    let again = Recorder::create(dir.path(), "0193a1b2-c3d4-7e5f", 80, 24, None).await;
    assert!(matches!(again, Err(RecordingError::Io { .. })), "{again:?}");

    for bad in ["", "../escape", "a/b", ".hidden", "x y"] {
        let result = Recorder::create(dir.path(), bad, 80, 24, None).await;
        assert!(
            matches!(result, Err(RecordingError::InvalidSessionId(_))),
            "{bad:?}: {result:?}"
        );
    }
    assert!(!dir.path().join("escape").exists());
}

#[tokio::test]
async fn events_are_buffered_until_flush() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig {
        flush_interval: std::time::Duration::from_secs(3600),
        ..RecordingConfig::default()
    };
    let mut recorder = Recorder::create_with(&config, dir.path(), "flush", 80, 24, None)
        .await
        .unwrap();
    let path = dir.path().join(recorder.relative_path());
    for _ in 0..100 {
        recorder.input(b"k").await.unwrap();
    }
    // Small events stay in memory: no write per keystroke.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    recorder.flush().await.unwrap();
    let (_, events) = parse(&path);
    assert_eq!(joined(&events, "i"), "k".repeat(100));
    // Large output is written without waiting for an explicit flush.
    recorder.output(&vec![b'z'; 100 * 1024]).await.unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 100 * 1024);
    recorder.finish().await.unwrap();
}

#[tokio::test]
async fn unwritable_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the year directory should go.
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"").unwrap();
    let result = Recorder::create(&blocker, "s", 80, 24, None).await;
    assert!(
        matches!(result, Err(RecordingError::Io { .. })),
        "{result:?}"
    );
}

#[test]
fn config_from_json() {
    let config: RecordingConfig =
        serde_json::from_str(r#"{"max_bytes": 1024, "flush_interval": "2s"}"#).unwrap();
    assert_eq!(config.max_bytes, 1024);
    assert_eq!(config.flush_interval, std::time::Duration::from_secs(2));
    assert!(config.enabled);
    assert!(serde_json::from_str::<RecordingConfig>(r#"{"max_size": 1}"#).is_err());
}
