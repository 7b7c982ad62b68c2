//! The archive sink in a local directory and in a real S3-compatible server (moto on
//! loopback): what is acknowledged exists as objects, reads back event for event, and a
//! batch written again replaces its own objects.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::path::Path;
use std::time::Duration;

use hpti_core::component::{BuildContext, ComponentId, SinkConfig};
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::secret::Secret;
use hpti_core::sink::Sink;
use hpti_core::testing::sink_conformance;
use hpti_store::ArchiveSinkConfig;
use hpti_store::archive::{ArchiveReader, ArchiveSink, decompress};
use hpti_store::testing::MotoServer;

fn context(dir: &Path) -> BuildContext {
    BuildContext::new(
        ComponentId::new("archive").unwrap(),
        dir,
        PipelineMetrics::default(),
    )
}

fn local(dir: &Path) -> ArchiveSinkConfig {
    ArchiveSinkConfig {
        url: format!("file://{}", dir.join("archive").display()),
        ..ArchiveSinkConfig::default()
    }
}

fn s3(moto: &MotoServer) -> ArchiveSinkConfig {
    ArchiveSinkConfig {
        url: format!("s3://{}/honeypots/eu", moto.bucket),
        endpoint: Some(moto.endpoint.clone()),
        allow_http: true,
        access_key_id: Some(Secret::new("testing")),
        secret_access_key: Some(Secret::new("testing")),
        ..ArchiveSinkConfig::default()
    }
}

/// Every event of every object, in object-name order, and the object names.
async fn archived(reader: &ArchiveReader, scratch: &Path) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut names = Vec::new();
    for object in reader.list().await.unwrap() {
        let file = scratch.join("fetched");
        reader.fetch(&object.name, &file).await.unwrap();
        let lines = decompress(&std::fs::read(&file).unwrap(), 1 << 30).unwrap();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            events.push(serde_json::from_slice(line).unwrap());
        }
        names.push(object.name);
    }
    (events, names)
}

async fn conformance(config: ArchiveSinkConfig) {
    let dir = tempfile::tempdir().unwrap();
    let options = config.options(&context(dir.path())).unwrap();
    let sink = ArchiveSink::open(options.clone()).unwrap();
    let reader = ArchiveReader::open(&options).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    sink_conformance(
        &sink,
        || async { archived(&reader, scratch.path()).await.0.len() as u64 },
        |id| {
            let (reader, scratch) = (&reader, scratch.path());
            async move {
                archived(reader, scratch)
                    .await
                    .0
                    .into_iter()
                    .find(|e| e.id == id)
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_local_archive_passes_the_sink_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    conformance(local(dir.path())).await;
}

#[tokio::test]
async fn an_s3_archive_passes_the_sink_conformance_suite() {
    let Some(moto) = MotoServer::start("hpti-conformance") else {
        return;
    };
    conformance(s3(&moto)).await;
}

fn command(sensor: &str, time: Timestamp, line: &str) -> Event {
    Event::new(
        sensor,
        Protocol::Ssh,
        "203.0.113.9".parse().unwrap(),
        EventKind::CommandInput {
            command: line.into(),
        },
    )
    .with_time(time)
}

#[tokio::test]
async fn objects_are_by_hour_and_sensor_and_a_retried_batch_replaces_its_own() {
    let Some(moto) = MotoServer::start("hpti-hours") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let options = s3(&moto).options(&context(dir.path())).unwrap();
    let sink = ArchiveSink::open(options.clone()).unwrap();
    assert_eq!(sink.target(), "s3://hpti-hours/honeypots/eu");
    let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
    let events = [
        command("ssh-a", t("2026-12-05T21:10:00Z"), "one"),
        command("ssh-b", t("2026-12-05T21:20:00Z"), "two"),
        command("ssh-a", t("2026-12-05T21:59:59Z"), "three"),
        command("ssh-a", t("2026-12-05T22:00:00Z"), "four"),
    ];
    let refs: Vec<&Event> = events.iter().collect();
    sink.write(&refs).await.unwrap();
    // The runtime retries a failed batch as it was: the same objects, not copies.
    sink.write(&refs).await.unwrap();
    let reader = ArchiveReader::open(&options).unwrap();
    let (read, names) = archived(&reader, dir.path()).await;
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names[0].starts_with("2026/12/05/21/ssh-a-20261205T211000Z-"),
        "{names:?}"
    );
    assert!(
        names[1].starts_with("2026/12/05/21/ssh-b-20261205T212000Z-"),
        "{names:?}"
    );
    assert!(
        names[2].starts_with("2026/12/05/22/ssh-a-20261205T220000Z-"),
        "{names:?}"
    );
    let lines: Vec<String> = read
        .iter()
        .map(|e| match &e.kind {
            EventKind::CommandInput { command } => command.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lines, ["one", "three", "two", "four"]);
}

#[tokio::test]
async fn an_unreachable_server_is_a_temporary_failure_and_bad_keys_are_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let cx = context(dir.path());
    let config = ArchiveSinkConfig {
        url: "s3://nowhere/x".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        allow_http: true,
        access_key_id: Some(Secret::new("k")),
        secret_access_key: Some(Secret::new("s")),
        timeout: Duration::from_secs(3),
        ..ArchiveSinkConfig::default()
    };
    let sink = ArchiveSink::open(config.options(&cx).unwrap()).unwrap();
    let event = command("ssh", Timestamp::now(), "id");
    let err = tokio::time::timeout(Duration::from_secs(60), sink.write(&[&event]))
        .await
        .expect("a dead server must not hang the write")
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Temporary, "{err}");

    let plain = ArchiveSinkConfig {
        allow_http: false,
        ..config.clone()
    };
    assert_eq!(
        plain.options(&cx).unwrap_err().key.as_deref(),
        Some("endpoint"),
        "keys over plain http need allow_http"
    );
    for (url, key) in [("ftp://x", Some("url")), ("file://relative", Some("url"))] {
        let bad = ArchiveSinkConfig {
            url: url.into(),
            ..ArchiveSinkConfig::default()
        };
        assert_eq!(bad.options(&cx).unwrap_err().key.as_deref(), key, "{url}");
    }
    let level = ArchiveSinkConfig {
        compression_level: 30,
        ..local(dir.path())
    };
    assert_eq!(
        level.options(&cx).unwrap_err().key.as_deref(),
        Some("compression_level")
    );
    let relative = ArchiveSinkConfig {
        url: "file:archive".into(),
        ..ArchiveSinkConfig::default()
    };
    assert_eq!(
        SinkConfig::write_paths(&relative, &cx),
        vec![dir.path().join("archive")]
    );
}
