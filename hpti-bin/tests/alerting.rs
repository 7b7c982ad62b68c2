//! Alert rules through the `hpti` binary: checked with the config, run by `hpti ingest`
//! over the log's own times, and backtested by `hpti alert test`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{fixture, hpti, read_until, run, stderr, stdout};

const BRUTE_FORCE: &str = "name: ssh-brute-force
type: frequency
filter:
  kind: login.attempt
  data.success: false
query_key: src_ip
num_events: 5
timeframe: 1h
severity: high
summary: \"{{ key }} tried {{ count }} logins in {{ timeframe }}\"
";

const NEW_MALWARE: &str = "name: new-malware
type: new_term
filter: { kind: file.download }
fields: [data.sha256]
severity: high
";

/// The distinct SHA-256 of the files Cowrie's log says were fetched from a URL, read from
/// the log itself (not through hpti). Cowrie logs data written from a session's standard
/// input as a `file_download` without a URL: hpti calls that an upload.
fn downloaded_in_cowrie_log() -> BTreeSet<String> {
    std::fs::read_to_string(fixture("testdata/cowrie/cowrie.json"))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|r| r["eventid"] == "cowrie.session.file_download")
        .filter(|r| r["url"].as_str().is_some_and(|u| !u.is_empty()))
        .filter_map(|r| r["shasum"].as_str().map(str::to_owned))
        .collect()
}

fn failed_logins_in_cowrie_log() -> usize {
    std::fs::read_to_string(fixture("testdata/cowrie/cowrie.json"))
        .unwrap()
        .lines()
        .filter(|line| line.contains("\"eventid\":\"cowrie.login.failed\""))
        .count()
}

/// The fields of each `alert` line of a JSON log.
fn logged_alerts(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "alert")
        .map(|l| l["fields"].clone())
        .collect()
}

fn setup(dir: &Path, rules: &[(&str, &str)]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for (name, text) in rules {
        std::fs::write(dir.join("rules").join(name), text).unwrap();
    }
    let config = dir.join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n[log]\nlevel = \"info\"\nformat = \"json\"\n[alerting]\nrules = [\"rules/*.yml\"]\n",
            dir.join("data")
        ),
    )
    .unwrap();
    config
}

#[test]
fn ingest_fires_the_rules_and_a_backtest_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        &[("brute.yml", BRUTE_FORCE), ("malware.yml", NEW_MALWARE)],
    );
    let hashes = downloaded_in_cowrie_log();
    assert!(hashes.len() >= 2, "the fixture downloads files");
    assert!(failed_logins_in_cowrie_log() >= 5);

    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie"])
        .arg(fixture("testdata/cowrie/cowrie.json")));
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    let alerts = logged_alerts(&log);
    let malware: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a["rule"] == "new-malware")
        .map(|a| a["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(malware, hashes, "one per distinct file:\n{log}");
    let brute: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["rule"] == "ssh-brute-force")
        .collect();
    assert_eq!(brute.len(), failed_logins_in_cowrie_log() / 5, "{log}");
    assert_eq!(
        brute[0]["summary"], "127.0.0.1 tried 5 logins in 1h",
        "{log}"
    );

    // The rules' seen terms were kept: ingesting the same log again raises no new term
    // (its events are already stored, and the rules see only what is stored).
    let again = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie"])
        .arg(fixture("testdata/cowrie/cowrie.json")));
    assert!(again.status.success());
    assert!(
        logged_alerts(&stderr(&again)).is_empty(),
        "{}",
        stderr(&again)
    );

    // The backtest, over the stored events, finds the same.
    let test = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["alert", "test", "--format", "json"]));
    assert!(test.status.success(), "{}", stderr(&test));
    let alerts: Vec<serde_json::Value> = stdout(&test)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let firing = |rule: &str| -> Vec<&serde_json::Value> {
        alerts
            .iter()
            .filter(|a| a["rule"] == rule && a.get("ends_at").is_none())
            .collect()
    };
    let keys: BTreeSet<String> = firing("new-malware")
        .iter()
        .map(|a| a["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, hashes);
    let brute = firing("ssh-brute-force");
    assert_eq!(brute.len(), failed_logins_in_cowrie_log() / 5);
    assert_eq!(brute[0]["key"], "127.0.0.1");
    assert_eq!(brute[0]["count"], 5);
    assert_eq!(brute[0]["severity"], "high");

    // The text form, with a rule file named on the command line.
    let text = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["alert", "test", "--rules"])
        .arg(dir.path().join("rules/brute.yml")));
    assert!(text.status.success(), "{}", stderr(&text));
    let shown = stdout(&text);
    assert!(
        shown.contains("firing    high           ssh-brute-force  127.0.0.1 tried 5 logins in 1h"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "{:>6}  ssh-brute-force",
            failed_logins_in_cowrie_log() / 5
        )),
        "{shown}"
    );
}

#[test]
fn bad_rules_are_config_errors_naming_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        &[(
            "bad.yml",
            "name: x\ntype: frequency\nnum_events: lots\ntimeframe: 1m\n",
        )],
    );
    let output = run(hpti().args(["config", "check"]).arg(&config));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("alerting.rules"), "{message}");
    assert!(
        message.contains("bad.yml:3: num_events: invalid type"),
        "{message}"
    );

    // `hpti ingest` refuses to start with it too.
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie"])
        .arg(fixture("testdata/cowrie/cowrie.json")));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("bad.yml:3: num_events"),
        "{}",
        stderr(&output)
    );

    // A rule that names a notifier the config lacks.
    std::fs::write(
        dir.path().join("rules/bad.yml"),
        "name: x\ntype: any\nseverity: low\nnotify: [oncall]\n",
    )
    .unwrap();
    let output = run(hpti().args(["config", "check"]).arg(&config));
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("bad.yml:4: notify: no notifier `oncall` (add [notifiers.oncall])"),
        "{}",
        stderr(&output)
    );

    // A pattern that names no file is an error, not silence.
    std::fs::remove_file(dir.path().join("rules/bad.yml")).unwrap();
    let output = run(hpti().args(["config", "check"]).arg(&config));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no rule file matches"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_hydra_run_fires_one_brute_force_alert_and_one_per_file() {
    // The issue's own rule: 50 failed logins within a minute, per address.
    let dir = tempfile::tempdir().unwrap();
    let rule = BRUTE_FORCE
        .replace("num_events: 5", "num_events: 50")
        .replace("timeframe: 1h", "timeframe: 1m");
    let config = setup(
        dir.path(),
        &[("brute.yml", &rule), ("malware.yml", NEW_MALWARE)],
    );
    let log = fixture("testdata/cowrie/hydra.json");
    let failed = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"eventid\":\"cowrie.login.failed\""))
        .count();
    assert!(
        (50..100).contains(&failed),
        "the Hydra run made {failed} attempts"
    );
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie"])
        .arg(&log));
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    let alerts = logged_alerts(&text);
    let brute: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["rule"] == "ssh-brute-force")
        .collect();
    assert_eq!(brute.len(), 1, "{text}");
    assert_eq!(brute[0]["summary"], "127.0.0.1 tried 50 logins in 1m");
    let files: BTreeSet<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "new-malware")
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        BTreeSet::from([
            "299001868fb8c02fd431c336c6d058f5558c5dff5b5af5e6fe04b870a6a9cbba",
            "ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199",
        ]),
        "one per distinct file, though one was downloaded twice"
    );
}

#[test]
fn alerts_are_stored_listed_acknowledged_and_silenced_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &[("malware.yml", NEW_MALWARE)]);
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--json", "--format", "cowrie"])
        .arg(fixture("testdata/cowrie/hydra.json")));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["alerts"]["raised"], 2, "{summary}");
    assert_eq!(
        summary["alerts"]["notifications_sent"], 0,
        "no notifier named"
    );

    let hpti_alert = |args: &[&str]| {
        let output = run(hpti().arg("--config").arg(&config).arg("alert").args(args));
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    let listed: Vec<serde_json::Value> = hpti_alert(&["list", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    let fingerprint = listed[0]["alert"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(listed.iter().all(|a| a.get("acked").is_none()));

    let acked = hpti_alert(&["ack", &fingerprint[..10], "--by", "analyst"]);
    assert!(
        acked.starts_with(&format!("acknowledged {fingerprint}")),
        "{acked}"
    );
    let text = hpti_alert(&["list"]);
    assert_eq!(
        text.lines().filter(|l| l.contains(" acked ")).count(),
        1,
        "{text}"
    );
    let listed: Vec<serde_json::Value> = hpti_alert(&["list", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let acked = listed
        .iter()
        .find(|a| a["alert"]["fingerprint"] == fingerprint.as_str())
        .unwrap();
    assert_eq!(acked["acked"]["by"], "analyst");

    // An unknown or ambiguous id is an error.
    let output = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["alert", "ack", "0000000000"]));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no alert"), "{}", stderr(&output));

    // Silences.
    let id = hpti_alert(&[
        "silence",
        "add",
        "rule=new-malware",
        "key=~ba25.*",
        "--duration",
        "2h",
        "--comment",
        "known sample",
    ])
    .trim()
    .to_owned();
    let list = hpti_alert(&["silence", "list"]);
    assert!(list.contains(&id) && list.contains("active"), "{list}");
    assert!(
        list.contains("rule=\"new-malware\" key=~\"ba25.*\""),
        "{list}"
    );
    hpti_alert(&["silence", "expire", &id]);
    let list = hpti_alert(&["silence", "list"]);
    assert!(list.contains("ended"), "{list}");
    let output =
        run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["alert", "silence", "add", "no-operator"]));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a matcher"),
        "{}",
        stderr(&output)
    );
}

/// The scenario: a Cowrie log with a Hydra run, ingested with a brute-force
/// `frequency` rule and a `new_term` rule on `data.sha256`, sends one grouped alert for
/// the attacker and one per distinct file to a webhook receiver, verified by signature;
/// a restart sends nothing twice.
#[test]
fn a_hydra_run_reaches_a_webhook_once_signed() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let runtime = common::runtime();
    let server = runtime.block_on(wiremock::MockServer::start());
    runtime.block_on(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(204))
            .mount(&server),
    );
    let key = *b"hpti-test-signing-key-0123456789";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let dir = tempfile::tempdir().unwrap();
    let brute = BRUTE_FORCE
        .replace("num_events: 5", "num_events: 50")
        .replace("timeframe: 1h", "timeframe: 1m")
        + "notify: [soc]\n";
    let malware = format!("{NEW_MALWARE}notify: [soc]\n");
    let config = setup(
        dir.path(),
        &[("brute.yml", &brute), ("malware.yml", &malware)],
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[notifiers.soc]\ntype = \"webhook\"\nurl = \"{}/hpti\"\nsecret = \"{secret}\"\n",
        server.uri()
    ));
    std::fs::write(&config, text).unwrap();
    let ingest = || {
        let output = run(hpti()
            .arg("--config")
            .arg(&config)
            .args(["ingest", "--json", "--format", "cowrie"])
            .arg(fixture("testdata/cowrie/hydra.json")));
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str::<serde_json::Value>(stdout(&output).trim()).unwrap()
    };
    let summary = ingest();
    assert_eq!(summary["alerts"]["notifications_sent"], 3, "{summary}");
    let requests = runtime.block_on(server.received_requests()).unwrap();
    assert_eq!(requests.len(), 3);
    let mut brute_force = 0;
    let mut files = BTreeSet::new();
    for request in &requests {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
        mac.update(&request.body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            header("webhook-signature"),
            format!("v1,{expected}"),
            "signed"
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let alerts = body["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{body}");
        match alerts[0]["rule"].as_str().unwrap() {
            "ssh-brute-force" => {
                brute_force += 1;
                assert_eq!(alerts[0]["key"], "127.0.0.1");
                assert_eq!(body["status"], "firing");
            }
            "new-malware" => {
                files.insert(alerts[0]["key"].as_str().unwrap().to_owned());
            }
            other => panic!("unexpected rule {other}"),
        }
    }
    assert_eq!(brute_force, 1);
    assert_eq!(files.len(), 2);

    // A restart: the same alerts are found in the store and not sent again.
    let summary = ingest();
    assert_eq!(summary["alerts"]["notifications_sent"], 0, "{summary}");
    assert_eq!(
        runtime.block_on(server.received_requests()).unwrap().len(),
        3
    );
}

/// The address after `marker` in a log line (`127.0.0.1:1234`).
fn address_after(line: &str, marker: &str) -> Option<String> {
    let rest = line.split(marker).nth(1)?;
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
            .collect(),
    )
}

#[test]
fn hpti_run_notifies_from_a_live_sensor_and_a_hanging_notifier_never_slows_the_sinks() {
    use std::io::Write as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    let runtime = common::runtime();
    let hook = runtime.block_on(wiremock::MockServer::start());
    runtime.block_on(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(204))
            .mount(&hook),
    );
    // A notifier endpoint that accepts connections and never answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let hung = Arc::new(AtomicUsize::new(0));
    let counted = hung.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hang.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let rule = "name: shell-command
type: any
filter: { kind: command.input }
query_key: data.command
severity: medium
notify: [hook, hang]
";
    let config = setup(dir.path(), &[("commands.yml", rule)]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "group_wait = \"0s\"\n\
         [metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\
         [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\n\
         [notifiers.hook]\ntype = \"webhook\"\nurl = \"{}/hook\"\n\
         [notifiers.hang]\ntype = \"webhook\"\nurl = \"http://{hang_addr}/hang\"\ntimeout = \"60s\"\n",
        hook.uri()
    ));
    std::fs::write(&config, text).unwrap();

    let (child, mut log) = common::spawn_run(&config);
    let (mut telnet, mut metrics) = (None, None);
    while telnet.is_none() || metrics.is_none() {
        let line = log
            .next()
            .expect("hpti run stopped before listening")
            .unwrap();
        if line.contains("Telnet honeypot listening on ") {
            telnet = address_after(&line, "listening on ");
        } else if line.contains("metrics at http://") {
            metrics = address_after(&line, "metrics at http://");
        }
    }
    let (telnet, metrics) = (telnet.unwrap(), metrics.unwrap());
    let panics = common::panics_in(log);

    // An attacker's session: each command must be answered promptly however the
    // notifiers behave.
    const COMMANDS: usize = 100;
    let mut stream = common::telnet_login(&telnet);
    let started = Instant::now();
    for n in 0..COMMANDS {
        let asked = Instant::now();
        stream
            .write_all(format!("echo hang-test-{n}\r\n").as_bytes())
            .unwrap();
        assert!(read_until(&mut stream, &format!("\r\nhang-test-{n}\r\n")));
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "command {n} answered after {:?}",
            asked.elapsed()
        );
    }

    // The sink stores every command and the working notifier hears of each, while the
    // hanging one holds its requests open.
    let stored = || {
        common::metric(
            &metrics,
            "hpti_events_total{stage=\"sink\",component=\"main\",outcome=\"delivered\"}",
        )
    };
    let notified = || {
        let requests = runtime.block_on(hook.received_requests()).unwrap();
        let mut markers = BTreeSet::new();
        for request in requests {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            for part in body.split("hang-test-").skip(1) {
                let n: String = part.chars().take_while(char::is_ascii_digit).collect();
                markers.insert(n);
            }
        }
        markers.len()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    // The session's events: login, the commands, and what the sensor adds around them.
    while (stored() < COMMANDS as u64 + 1 || notified() < COMMANDS) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed();
    assert_eq!(
        notified(),
        COMMANDS,
        "every command alerted to the working notifier"
    );
    assert!(stored() > COMMANDS as u64, "stored: {}", stored());
    assert!(
        hung.load(Ordering::SeqCst) >= 1,
        "the hanging notifier was called"
    );
    assert_eq!(
        common::metric(
            &metrics,
            "hpti_events_total{stage=\"sink\",component=\"main\",outcome=\"failed\"}"
        ),
        0
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "stored and notified within {elapsed:?}"
    );
    drop(stream);

    // A stop gives the hanging deliveries a grace period, then dead-letters them.
    let stopping = Instant::now();
    common::stop_cleanly(child, panics);
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "stopped in {:?}",
        stopping.elapsed()
    );
    let dead =
        std::fs::read_to_string(dir.path().join("data/alerting/notifications.dead.jsonl")).unwrap();
    let abandoned: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!abandoned.is_empty());
    for letter in &abandoned {
        assert_eq!(letter["notifier"], "hang", "{letter}");
        assert!(
            letter["reason"]
                .as_str()
                .unwrap()
                .contains("not delivered before shutdown"),
            "{letter}"
        );
    }
}
