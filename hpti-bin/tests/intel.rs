//! `hpti export`: STIX 2.1 bundles checked by the OASIS validator (`stix2_validator` from
//! PyPI), blocklists checked by `nft -c`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, hpti, run, stderr, stdout};
use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::testing::require_tool;

fn config(dir: &Path, intel: &str) -> PathBuf {
    let config = dir.join("hpti.toml");
    std::fs::write(
        &config,
        format!("[data]\ndir = {:?}\n\n[intel]\n{intel}\n", dir.join("data")),
    )
    .unwrap();
    config
}

fn export(config: &Path, args: &[&str]) -> std::process::Output {
    let output = run(hpti().arg("--config").arg(config).arg("export").args(args));
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    output
}

/// Runs the OASIS validator over a bundle: strict (warnings are errors), every reference
/// resolved inside the bundle, no custom property; only check 103 ("SDO ids SHOULD be
/// UUIDv4") is off, since hpti's ids are UUIDv5 on purpose (re-exports update objects).
fn validate(bundle: &Path) -> Option<String> {
    if !require_tool("stix2_validator") {
        return None;
    }
    let output = run(Command::new("stix2_validator")
        .args([
            "--strict",
            "--disable",
            "103",
            "--enforce-refs",
            "--strict-properties",
        ])
        .arg(bundle));
    let report = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "stix2_validator: {report}");
    assert!(report.contains("STIX JSON: Valid"), "{report}");
    Some(report)
}

fn downloaded_in_cowrie_log() -> BTreeSet<String> {
    std::fs::read_to_string(fixture("testdata/cowrie/cowrie.json"))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|r| r["eventid"] == "cowrie.session.file_download")
        .filter_map(|r| r["shasum"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn stix_bundles_of_the_fixtures_pass_the_oasis_validator_and_re_exports_keep_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    // The fixtures' attackers are on loopback: a lab, so private addresses are included.
    let config = config(
        dir.path(),
        "include_private = true\ntlp = \"amber\"\nidentity = \"Example CERT honeynet\"",
    );
    common::ingest_fixtures(&config);
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    for out in [&first, &second] {
        export(
            &config,
            &[
                "stix",
                "--since",
                "2000-01-01",
                "--out",
                out.to_str().unwrap(),
            ],
        );
    }
    // Deterministic: the same store gives the same bundle, byte for byte.
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(bytes, std::fs::read(&second).unwrap());
    let report = validate(&first);
    let bundle: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let objects = bundle["objects"].as_array().unwrap();
    let of_type = |t: &str| -> Vec<&serde_json::Value> {
        objects.iter().filter(|o| o["type"] == t).collect()
    };
    let marking = of_type("marking-definition");
    assert_eq!(marking.len(), 1);
    assert_eq!(marking[0]["name"], "TLP:AMBER");
    let identity = of_type("identity");
    assert_eq!(identity[0]["name"], "Example CERT honeynet");
    let patterns: BTreeSet<&str> = of_type("indicator")
        .iter()
        .map(|i| i["pattern"].as_str().unwrap())
        .collect();
    let hashes = downloaded_in_cowrie_log();
    assert!(hashes.len() >= 2, "the fixture downloads files");
    for sha in &hashes {
        let pattern = format!("[file:hashes.'SHA-256' = '{sha}']");
        assert!(
            patterns.contains(pattern.as_str()),
            "{pattern} in {patterns:#?}"
        );
    }
    assert!(patterns.contains("[ipv4-addr:value = '127.0.0.1']"));
    assert!(
        patterns.iter().any(|p| p.starts_with("[url:value = 'http")),
        "{patterns:#?}"
    );
    // Each indicator is sighted by the operator, with its count.
    for indicator in of_type("indicator") {
        let sighting = of_type("sighting")
            .into_iter()
            .find(|s| s["sighting_of_ref"] == indicator["id"])
            .unwrap_or_else(|| panic!("no sighting of {indicator}"));
        assert_eq!(sighting["where_sighted_refs"][0], identity[0]["id"]);
        assert!(sighting["count"].as_u64().unwrap() >= 1);
        assert_eq!(indicator["object_marking_refs"][0], marking[0]["id"]);
    }
    // The window narrows what is exported; --until is exclusive.
    let none = export(
        &config,
        &["stix", "--since", "2000-01-01", "--until", "2001-01-01"],
    );
    let empty: serde_json::Value = serde_json::from_slice(&none.stdout).unwrap();
    assert_eq!(
        empty["objects"].as_array().unwrap().len(),
        2,
        "only the marking and the identity: {empty}"
    );
    // By default, loopback attackers are not exported at all.
    let strict = config_default(dir.path());
    let default = export(&strict, &["stix", "--since", "2000-01-01"]);
    let default: serde_json::Value = serde_json::from_slice(&default.stdout).unwrap();
    assert!(
        !default
            .to_string()
            .contains("ipv4-addr:value = '127.0.0.1'"),
        "{default}"
    );
    if let Some(report) = report {
        eprintln!("{}", report.lines().take(3).collect::<Vec<_>>().join("\n"));
    }
}

/// The same data directory with the default `[intel]` section.
fn config_default(dir: &Path) -> PathBuf {
    let config = dir.join("default.toml");
    std::fs::write(&config, format!("[data]\ndir = {:?}\n", dir.join("data"))).unwrap();
    config
}

fn login(ip: &str, n: u32) -> Event {
    Event::new(
        "ssh-edge",
        Protocol::Ssh,
        ip.parse().unwrap(),
        EventKind::LoginAttempt {
            username: "root".into(),
            password: Some(format!("pass{n}")),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::Password,
            success: false,
        },
    )
    .with_time(Timestamp::from_micros(
        1_780_000_000_000_000 + i64::from(n) * 1_000_000,
    ))
}

#[test]
fn blocklists_hold_public_attackers_only_in_every_format_and_nft_accepts_them() {
    let dir = tempfile::tempdir().unwrap();
    // Even with private addresses included in the extraction, a blocklist never lists
    // one; the allow-list holds a partner's network.
    let config = config(
        dir.path(),
        "include_private = true\nallow = [\"185.220.101.0/24\", \"2a01:4f8::/32\"]",
    );
    let attackers = [
        ("45.33.32.156", 6),
        ("185.220.101.7", 9),
        ("10.0.0.5", 9),
        ("192.0.2.44", 9),
        ("2a01:4f8::1", 9),
        ("2606:4700::6810:1", 5),
        ("8.8.4.4", 1),
    ];
    let log = dir.path().join("events.jsonl");
    let mut lines = String::new();
    for (ip, n) in attackers {
        for i in 0..n {
            lines.push_str(&serde_json::to_string(&login(ip, i)).unwrap());
            lines.push('\n');
        }
    }
    std::fs::write(&log, lines).unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "hpti"])
        .arg(&log));
    assert!(ingest.status.success(), "{}", stderr(&ingest));

    let plain = export(
        &config,
        &["blocklist", "--since", "2000-01-01", "--min-events", "5"],
    );
    assert_eq!(stdout(&plain), "45.33.32.156\n2606:4700::6810:1\n");
    let csv = export(
        &config,
        &[
            "blocklist",
            "--since",
            "2000-01-01",
            "--min-events",
            "5",
            "--format",
            "csv",
        ],
    );
    let csv = stdout(&csv);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("ip,first_seen,last_seen,events,confidence,country,asn")
    );
    let first: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(first[0], "45.33.32.156");
    assert_eq!(first[3], "6");
    assert_eq!(first[4], "50", "login attempts only");
    let all = export(&config, &["blocklist", "--since", "2000-01-01"]);
    assert_eq!(
        stdout(&all),
        "8.8.4.4\n45.33.32.156\n2606:4700::6810:1\n",
        "--min-events defaults to 1"
    );
    let script = dir.path().join("blocklist.nft");
    export(
        &config,
        &[
            "blocklist",
            "--since",
            "2000-01-01",
            "--format",
            "nftables",
            "--out",
            script.to_str().unwrap(),
        ],
    );
    if require_tool("nft") {
        let check = run(Command::new("nft").arg("-c").arg("-f").arg(&script));
        assert!(
            check.status.success(),
            "nft -c: {}\n{}",
            stderr(&check),
            std::fs::read_to_string(&script).unwrap()
        );
    }
    let ipset = export(
        &config,
        &["blocklist", "--since", "2000-01-01", "--format", "ipset"],
    );
    assert!(stdout(&ipset).contains("add hpti-blocklist 45.33.32.156 -exist\n"));
    assert!(stdout(&ipset).contains("add hpti-blocklist6 2606:4700::6810:1 -exist\n"));
    // A bad format is refused, naming the choices.
    let bad =
        run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["export", "blocklist", "--format", "pf"]));
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("plain, csv, nftables, ipset"),
        "{}",
        stderr(&bad)
    );
}
