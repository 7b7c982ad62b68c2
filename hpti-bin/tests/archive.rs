//! The archive round trip through the `hpti` binary: the fixtures ingested with SQLite
//! and an archive sink, then `hpti ingest --from-archive` into an empty store, give back
//! every event exactly; in a local directory and in a real S3-compatible server (moto).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::path::{Path, PathBuf};

use common::{all_events, hpti, ingest_fixtures, run};

use hpti_store::testing::MotoServer;

fn write_config(dir: &Path, name: &str, archive: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[data]\ndir = {:?}\n\n[sensors]\n\n[sinks.main]\ntype = \"sqlite\"\n\n\
             [sinks.archive]\ntype = \"archive\"\n{archive}",
            dir.join(name)
        ),
    )
    .unwrap();
    path
}

/// `count_objects` counts the archive's objects, where the test can.
fn round_trip(dir: &Path, archive: &str, count_objects: Option<&dyn Fn() -> usize>) {
    let first = write_config(dir, "first", archive);
    ingest_fixtures(&first);
    let original = all_events(&dir.join("first/hpti.db"));
    let objects = count_objects.map(|count| count());
    assert!(original.len() >= 178, "{}", original.len());

    let second = write_config(dir, "second", archive);
    let output = run(hpti().arg("--config").arg(&second).args([
        "ingest",
        "--json",
        "--from-archive",
        "archive",
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("fetched "), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stored"], original.len() as u64, "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");
    let restored = all_events(&dir.join("second/hpti.db"));
    assert_eq!(restored.len(), original.len());
    for (a, b) in original.iter().zip(&restored) {
        assert_eq!(a, b, "every event comes back as it was");
    }
    assert!(
        !dir.join("second/restore").join("archive").exists(),
        "the fetched objects are removed after a good restore"
    );

    // The restore left the archive alone: nothing was archived a second time.
    if let (Some(count), Some(before)) = (count_objects, objects) {
        assert_eq!(count(), before, "the restore wrote no objects");
    }
    let again = run(hpti().arg("--config").arg(&second).args([
        "ingest",
        "--json",
        "--from-archive",
        "archive",
    ]));
    assert!(again.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        summary["stored"], 0,
        "a second restore stores nothing twice: {summary}"
    );
    assert_eq!(
        all_events(&dir.join("second/hpti.db")).len(),
        original.len()
    );
}

#[test]
fn a_local_archive_restores_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    round_trip(
        dir.path(),
        &format!("url = \"file://{}\"\n", archive.display()),
        Some(&|| walk(&archive).len()),
    );
    let objects: Vec<_> = walk(&archive);
    assert!(!objects.is_empty());
    for object in &objects {
        let name = object
            .strip_prefix(&archive)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.ends_with(".jsonl.zst"), "{name}");
        assert_eq!(name.matches('/').count(), 4, "YYYY/MM/DD/HH/name: {name}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(object).unwrap().permissions(),
        );
        assert_eq!(mode & 0o111, 0, "{name} must not be executable");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn an_s3_archive_restores_every_event() {
    let Some(moto) = MotoServer::start("hpti-archive") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    round_trip(
        dir.path(),
        &format!(
            "url = \"s3://{}/sensors/eu-1\"\nendpoint = {:?}\nallow_http = true\n\
             access_key_id = \"testing\"\nsecret_access_key = \"testing\"\n",
            moto.bucket, moto.endpoint
        ),
        None,
    );
}
