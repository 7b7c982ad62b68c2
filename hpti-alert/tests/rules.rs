//! Every rule type, driven by events over event time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;
use std::path::Path;

use hpti_alert::rules::{ClockMode, RuleOptions, RuleSpec, YamlRule};
use hpti_core::Event;
use hpti_core::alert::{Alert, AlertRule, Severity};
use hpti_core::event::{AuthMethod, EventKind, Protocol, Timestamp};

const T0: i64 = 1_780_000_000_000_000;

fn at(seconds: f64) -> Timestamp {
    Timestamp::from_micros(T0 + (seconds * 1_000_000.0) as i64)
}

fn ip(n: u32) -> IpAddr {
    IpAddr::from(std::net::Ipv4Addr::from(0xC633_6400 + n))
}

fn login(src: IpAddr, user: &str, password: &str, success: bool, t: f64) -> Event {
    Event::new(
        "ssh-1",
        Protocol::Ssh,
        src,
        EventKind::LoginAttempt {
            username: user.into(),
            password: Some(password.into()),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::Password,
            success,
        },
    )
    .with_time(at(t))
}

fn download(src: IpAddr, sha256: &str, t: f64) -> Event {
    Event::new(
        "ssh-1",
        Protocol::Ssh,
        src,
        EventKind::FileDownload {
            url: format!("http://203.0.113.5/{sha256}"),
            sha256: Some(sha256.into()),
            size: Some(1000),
            error: None,
        },
    )
    .with_time(at(t))
}

fn version(sensor: &str, src: IpAddr, version: &str, t: f64) -> Event {
    Event::new(
        sensor,
        Protocol::Ssh,
        src,
        EventKind::ClientVersion {
            version: version.into(),
        },
    )
    .with_time(at(t))
}

fn rule(yaml: &str) -> YamlRule {
    rule_with(
        yaml,
        &RuleOptions {
            clock: ClockMode::EventTime,
            state_dir: None,
        },
    )
}

fn rule_with(yaml: &str, options: &RuleOptions) -> YamlRule {
    let spec = RuleSpec::parse(yaml, Path::new("test.yml")).unwrap();
    YamlRule::new(spec, options)
}

/// Feeds events (ticking after each, as the runtime does about once a second) and
/// returns what fired.
fn run(rule: &mut YamlRule, events: &[Event]) -> Vec<Alert> {
    let mut out = Vec::new();
    for event in events {
        rule.observe(event, &mut out);
        rule.on_tick(Timestamp::now(), &mut out);
    }
    out
}

fn firing(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.ends_at.is_none()).collect()
}

fn resolved(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.ends_at.is_some()).collect()
}

const BRUTE_FORCE: &str = "name: ssh-brute-force
type: frequency
filter:
  kind: login.attempt
  data.success: false
query_key: src_ip
num_events: 50
timeframe: 1m
severity: high
summary: \"{{ key }} tried {{ count }} logins in {{ timeframe }}\"
";

#[test]
fn frequency_fires_once_per_window_per_key() {
    let mut r = rule(BRUTE_FORCE);
    let mut events: Vec<Event> = (0..50)
        .map(|i| login(ip(1), "root", &format!("p{i}"), false, f64::from(i)))
        .collect();
    // A slower attacker: 50 attempts over 100 s never has 50 within a minute.
    events.extend((0..50).map(|i| login(ip(2), "root", "x", false, f64::from(i) * 2.0)));
    // A successful login is not counted.
    events.push(login(ip(1), "root", "ok", true, 50.0));
    events.sort_by_key(|e| e.time);
    let alerts = run(&mut r, &events);
    let fired = firing(&alerts);
    assert_eq!(fired.len(), 1, "{alerts:#?}");
    let alert = fired[0];
    assert_eq!(alert.key, "198.51.100.1");
    assert_eq!(alert.count, 50);
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(alert.summary, "198.51.100.1 tried 50 logins in 1m");
    assert_eq!(
        alert.labels.get("src_ip").map(String::as_str),
        Some("198.51.100.1")
    );
    assert_eq!(alert.starts_at, at(0.0));
    assert_eq!(alert.event_ids.len(), 50);

    // Time passes (another key's events move it): the alert resolves after `timeframe`.
    let later = run(&mut r, &[login(ip(3), "a", "b", true, 200.0)]);
    let ended = resolved(&later);
    assert_eq!(ended.len(), 1, "{later:#?}");
    assert_eq!(ended[0].fingerprint, alert.fingerprint);
    assert_eq!(ended[0].ends_at, Some(at(200.0)));
}

#[test]
fn frequency_state_stays_under_its_cap() {
    let mut r = rule(&format!("{BRUTE_FORCE}max_keys: 1000\n"));
    let mut out = Vec::new();
    for n in 0..200_000u32 {
        r.observe(
            &login(ip(n), "root", "x", false, f64::from(n) / 1000.0),
            &mut out,
        );
    }
    assert!(out.is_empty());
    assert_eq!(r.state_keys(), 1000);
    assert_eq!(r.state_evictions(), 199_000);
}

#[test]
fn any_fires_for_every_match_and_counts_up() {
    let mut r = rule(
        "name: malware
type: any
filter: { kind: file.download, data.sha256: {exists: true} }
query_key: data.sha256
severity: critical
resolve_after: 10m
realert: 0s
",
    );
    let alerts = run(
        &mut r,
        &[
            download(ip(1), "aa", 0.0),
            download(ip(2), "aa", 1.0),
            login(ip(1), "r", "p", false, 2.0),
            download(ip(3), "bb", 3.0),
        ],
    );
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[1].key, "aa");
    assert_eq!(alerts[1].count, 2, "the same alert grows");
    assert_eq!(alerts[0].fingerprint, alerts[1].fingerprint);
    assert_ne!(alerts[1].fingerprint, alerts[2].fingerprint);
    assert_eq!(
        alerts[2].summary,
        "malware: file.download from 198.51.100.3"
    );
    let later = run(&mut r, &[login(ip(1), "r", "p", false, 3.0 + 601.0)]);
    assert_eq!(resolved(&later).len(), 2);
}

#[test]
fn a_firing_alert_s_updates_are_folded_together_within_realert() {
    let yaml = "name: malware
type: any
filter: { kind: file.download }
query_key: data.sha256
resolve_after: 1h
";
    let mut r = rule(yaml);
    // The first match is sent at once; the next ones within `realert` (1m by default)
    // are held and folded into it.
    let alerts = run(
        &mut r,
        &[
            download(ip(1), "aa", 0.0),
            download(ip(2), "aa", 1.0),
            download(ip(3), "aa", 2.0),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, 1);
    // Once the interval has passed (rule time moved by any event), the held update is
    // sent with everything folded in.
    let alerts = run(&mut r, &[login(ip(9), "r", "p", false, 61.0)]);
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].key.as_str(), alerts[0].count), ("aa", 3));
    assert_eq!(alerts[0].event_ids.len(), 3);
    // A match after the interval is sent at once.
    let alerts = run(&mut r, &[download(ip(4), "aa", 130.0)]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, 4);
    // What is held when the input ends is sent by `flush`.
    let alerts = run(&mut r, &[download(ip(5), "aa", 131.0)]);
    assert!(alerts.is_empty());
    let mut out = Vec::new();
    r.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].count, 5);
    r.flush(&mut out);
    assert_eq!(out.len(), 1, "sent once");
    // A resolve carries the held count too.
    let _ = run(&mut r, &[download(ip(6), "aa", 132.0)]);
    let later = run(&mut r, &[login(ip(9), "r", "p", false, 132.0 + 3601.0)]);
    let ended = resolved(&later);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].count, 6);
}

#[test]
fn spike_compares_the_window_with_the_one_before() {
    let mut r = rule(
        "name: login-spike
type: spike
filter: { kind: login.attempt }
timeframe: 1m
spike_height: 3
spike_type: up
threshold_cur: 10
",
    );
    // Two minutes at one a second... then 5 a second.
    let mut events: Vec<Event> = (0..120)
        .map(|i| login(ip(1), "u", "p", false, f64::from(i)))
        .collect();
    assert!(run(&mut r, &events).is_empty(), "a steady rate is no spike");
    events = (0..300)
        .map(|i| login(ip(2), "u", "p", false, 120.0 + f64::from(i) / 5.0))
        .collect();
    let alerts = run(&mut r, &events);
    let fired = firing(&alerts);
    assert_eq!(fired.len(), 1, "{alerts:#?}");
    assert_eq!(
        fired[0].annotations.get("direction").map(String::as_str),
        Some("up")
    );
    let current: u64 = fired[0].annotations["current_count"].parse().unwrap();
    let reference: u64 = fired[0].annotations["reference_count"].parse().unwrap();
    assert!(current >= 3 * reference, "{current} vs {reference}");
    // Back to one a second: the spike ends.
    let calm: Vec<Event> = (0..180)
        .map(|i| login(ip(1), "u", "p", false, 181.0 + f64::from(i)))
        .collect();
    let after = run(&mut r, &calm);
    assert_eq!(resolved(&after).len(), 1, "{after:#?}");
}

#[test]
fn spike_down_notices_a_drop() {
    let mut r = rule(
        "name: drop
type: spike
timeframe: 1m
spike_height: 4
spike_type: down
threshold_ref: 100
",
    );
    let mut events: Vec<Event> = (0..600)
        .map(|i| login(ip(1), "u", "p", false, f64::from(i) / 5.0))
        .collect();
    // Then one event every 10 s.
    events.extend((0..12).map(|i| login(ip(1), "u", "p", false, 120.0 + f64::from(i) * 10.0)));
    let alerts = run(&mut r, &events);
    let fired = firing(&alerts);
    assert_eq!(fired.len(), 1, "{alerts:#?}");
    assert_eq!(fired[0].annotations["direction"], "down");
}

#[test]
fn flatline_fires_when_a_sensor_goes_quiet() {
    let mut r = rule(
        "name: sensor-quiet
type: flatline
query_key: sensor
threshold: 3
timeframe: 5m
severity: medium
",
    );
    let mut events = Vec::new();
    for i in 0..60 {
        let t = f64::from(i) * 10.0;
        events.push(version("edge-a", ip(1), "SSH-2.0-Go", t));
        // edge-b stops after 3 minutes.
        if t < 180.0 {
            events.push(version("edge-b", ip(2), "SSH-2.0-Go", t + 1.0));
        }
    }
    let alerts = run(&mut r, &events);
    let fired = firing(&alerts);
    assert_eq!(fired.len(), 1, "{alerts:#?}");
    assert_eq!(fired[0].key, "edge-b");
    assert_eq!(fired[0].labels["sensor"], "edge-b");
    // edge-b comes back.
    let back: Vec<Event> = (0..5)
        .map(|i| version("edge-b", ip(2), "SSH-2.0-Go", 700.0 + f64::from(i)))
        .collect();
    let after = run(&mut r, &back);
    assert_eq!(resolved(&after).len(), 1, "{after:#?}");
    assert_eq!(resolved(&after)[0].key, "edge-b");
}

/// What the center of a distributed install shows its rules for an edge's heartbeat
/// (`hpti_nats::fleet::heartbeat_event`).
fn heartbeat(host: &str, t: f64) -> Event {
    let mut fields = serde_json::Map::new();
    fields.insert("host".into(), host.into());
    Event::new(
        host,
        Protocol::Other("nats".into()),
        IpAddr::from([0, 0, 0, 0]),
        EventKind::Unknown {
            original_type: "hpti.heartbeat".into(),
            fields,
        },
    )
    .with_time(at(t))
}

fn shipped_rule(file: &str) -> YamlRule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rules")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let spec = RuleSpec::parse(&text, &path).unwrap();
    YamlRule::new(
        spec,
        &RuleOptions {
            clock: ClockMode::EventTime,
            state_dir: None,
        },
    )
}

#[test]
fn the_shipped_edge_silent_rule_fires_for_the_edge_whose_heartbeats_stop_and_sensor_quiet_ignores_them()
 {
    let mut edge_silent = shipped_rule("edge-silent.yml");
    let mut sensor_quiet = shipped_rule("sensor-quiet.yml");
    let mut events = Vec::new();
    // Heartbeats every 10 s for an hour; edge-b stops after 10 minutes. The sensor of
    // edge-a keeps reporting attacks.
    for i in 0..360 {
        let t = f64::from(i) * 10.0;
        events.push(heartbeat("edge-a", t));
        events.push(version("ssh-a", ip(1), "SSH-2.0-Go", t + 1.0));
        if t < 600.0 {
            events.push(heartbeat("edge-b", t + 2.0));
        }
    }
    let mut alerts = Vec::new();
    let mut fired_at = None;
    for event in &events {
        alerts.extend(run(&mut edge_silent, std::slice::from_ref(event)));
        if fired_at.is_none() && !alerts.is_empty() {
            fired_at = Some(event.time);
        }
    }
    let fired = firing(&alerts);
    assert_eq!(fired.len(), 1, "{alerts:#?}");
    assert_eq!(fired[0].key, "edge-b");
    assert_eq!(fired[0].severity, Severity::High);
    // Noticed about its 2-minute timeframe after the last heartbeat (592 s), not before.
    let after = fired_at.unwrap().as_micros() - at(592.0).as_micros();
    assert!(
        (110_000_000..=150_000_000).contains(&after),
        "fired {after} µs after the last heartbeat"
    );
    // sensor-quiet watches sensors only: no key of an edge, and ssh-a is busy.
    let quiet = run(&mut sensor_quiet, &events);
    assert!(firing(&quiet).is_empty(), "{quiet:#?}");
    assert_eq!(sensor_quiet.state_keys(), 1, "only ssh-a is watched");
    // edge-b beats again: resolved.
    let back: Vec<Event> = (0..3)
        .map(|i| heartbeat("edge-b", 3600.0 + f64::from(i) * 10.0))
        .collect();
    let resolved_alerts = run(&mut edge_silent, &back);
    assert_eq!(resolved(&resolved_alerts).len(), 1, "{resolved_alerts:#?}");
    assert_eq!(resolved(&resolved_alerts)[0].key, "edge-b");
}

#[test]
fn new_term_fires_once_per_value_and_remembers_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let options = RuleOptions {
        clock: ClockMode::EventTime,
        state_dir: Some(dir.path().to_owned()),
    };
    let yaml = "name: new-malware
type: new_term
filter: { kind: file.download }
fields: [data.sha256]
severity: high
";
    let mut r = rule_with(yaml, &options);
    let alerts = run(
        &mut r,
        &[
            download(ip(1), "aa", 0.0),
            download(ip(2), "aa", 1.0),
            download(ip(2), "bb", 2.0),
        ],
    );
    let keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["aa", "bb"]);
    assert_eq!(alerts[0].labels["data.sha256"], "aa");
    assert_eq!(alerts[0].summary, "new-malware: new data.sha256 aa");
    r.flush(&mut Vec::new());
    drop(r);
    let mut again = rule_with(yaml, &options);
    let alerts = run(
        &mut again,
        &[download(ip(3), "aa", 5.0), download(ip(3), "cc", 6.0)],
    );
    let keys: Vec<&str> = firing(&alerts).iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["cc"], "seen terms survive a restart");
}

#[test]
fn new_term_over_several_fields_together() {
    let mut r = rule(
        "name: new-client-per-sensor
type: new_term
filter: { kind: client.version }
fields: [[sensor, data.version]]
",
    );
    let alerts = run(
        &mut r,
        &[
            version("a", ip(1), "SSH-2.0-Go", 0.0),
            version("b", ip(1), "SSH-2.0-Go", 1.0),
            version("a", ip(2), "SSH-2.0-Go", 2.0),
        ],
    );
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1].key, "b, SSH-2.0-Go");
}

#[test]
fn cardinality_catches_password_spraying() {
    let mut r = rule(
        "name: spraying
type: cardinality
filter: { kind: login.attempt }
query_key: data.password
cardinality_field: src_ip
max_cardinality: 3
timeframe: 1m
",
    );
    let mut events: Vec<Event> = (0..3)
        .map(|i| login(ip(i), "root", "Winter2026!", false, f64::from(i)))
        .collect();
    // The same addresses again do not add to the distinct count.
    events.extend((0..3).map(|i| login(ip(i), "admin", "Winter2026!", false, 10.0 + f64::from(i))));
    assert!(run(&mut r, &events).is_empty());
    let alerts = run(&mut r, &[login(ip(9), "root", "Winter2026!", false, 20.0)]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].key, "Winter2026!");
    assert_eq!(alerts[0].annotations["cardinality"], "4");
    // A minute later the window holds nothing: resolved.
    let after = run(&mut r, &[login(ip(1), "x", "other", false, 100.0)]);
    assert_eq!(resolved(&after).len(), 1, "{after:#?}");
}

#[test]
fn change_fires_when_the_compare_key_changes() {
    let mut r = rule(
        "name: client-changed
type: change
filter: { kind: client.version }
query_key: src_ip
compare_key: data.version
ignore_null: true
",
    );
    let alerts = run(
        &mut r,
        &[
            version("s", ip(1), "SSH-2.0-Go", 0.0),
            version("s", ip(1), "SSH-2.0-Go", 1.0),
            version("s", ip(2), "SSH-2.0-libssh", 2.0),
            version("s", ip(1), "SSH-2.0-OpenSSH_9.2", 3.0),
        ],
    );
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].key, "198.51.100.1");
    assert_eq!(alerts[0].annotations["old_value"], "SSH-2.0-Go");
    assert_eq!(alerts[0].annotations["new_value"], "SSH-2.0-OpenSSH_9.2");
    assert_eq!(
        alerts[0].summary,
        "client-changed: data.version of 198.51.100.1 changed from SSH-2.0-Go to SSH-2.0-OpenSSH_9.2"
    );
}

#[test]
fn an_old_log_fires_what_would_have_fired_then() {
    // Events from 2026-05 replayed today: the wall clock must not close their windows.
    let mut r = rule(BRUTE_FORCE);
    let mut out = Vec::new();
    for i in 0..50 {
        r.observe(&login(ip(1), "root", "x", false, f64::from(i)), &mut out);
        r.on_tick(Timestamp::now(), &mut out);
    }
    assert_eq!(firing(&out).len(), 1);
    assert_eq!(out[0].raised_at, at(49.0), "raised at event time");
}

/// A rule set (rules indexed by the kinds their filters pin, each event viewed once)
/// raises exactly what its rules raise one by one, whatever their filters pin.
#[test]
fn a_rule_set_raises_what_its_rules_raise_alone() {
    use hpti_alert::rules::RuleSet;
    let yamls = [
        "name: brute\ntype: frequency\nfilter: { kind: login.attempt, data.success: false }\nquery_key: src_ip\nnum_events: 3\ntimeframe: 1m\n",
        "name: two-kinds\ntype: frequency\nfilter: { kind: [login.attempt, file.download] }\nquery_key: src_ip\nnum_events: 4\ntimeframe: 1m\n",
        "name: kind-prefix\ntype: any\nfilter: { kind: { startswith: file. } }\n",
        "name: no-filter\ntype: new_term\nfields: [src_ip]\n",
        "name: spraying\ntype: cardinality\nfilter: { kind: login.attempt }\nquery_key: data.password\ncardinality_field: src_ip\nmax_cardinality: 2\ntimeframe: 10m\n",
        "name: new-client\ntype: change\nfilter: { kind: client.version }\nquery_key: src_ip\ncompare_key: data.version\n",
        "name: never\ntype: any\nfilter: { kind: login.attempt, data.username: nobody-uses-this }\n",
    ];
    let mut events = Vec::new();
    for n in 0..40u32 {
        let t = f64::from(n);
        let src = ip(n % 5);
        events.push(login(
            src,
            "root",
            ["123456", "admin"][n as usize % 2],
            n % 7 == 0,
            t,
        ));
        if n % 3 == 0 {
            events.push(download(src, &format!("{:064x}", n % 4), t + 0.1));
        }
        if n % 4 == 0 {
            events.push(version(
                "ssh-1",
                src,
                ["SSH-2.0-Go", "SSH-2.0-PUTTY"][n as usize % 8 / 4],
                t + 0.2,
            ));
        }
    }
    let summary = |alerts: &[Alert]| -> Vec<String> {
        alerts
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {:?} {}",
                    a.rule, a.key, a.count, a.ends_at, a.summary
                )
            })
            .collect()
    };
    let mut together = RuleSet::new(yamls.iter().map(|y| rule(y)).collect());
    let mut alone: Vec<YamlRule> = yamls.iter().map(|y| rule(y)).collect();
    let (mut from_set, mut from_each) = (Vec::new(), Vec::new());
    for event in &events {
        let mut out = Vec::new();
        together.observe(event, &mut out);
        from_set.extend(summary(&out));
        for rule in &mut alone {
            let mut out = Vec::new();
            rule.observe(event, &mut out);
            from_each.extend(summary(&out));
        }
    }
    let mut out = Vec::new();
    together.flush(&mut out);
    from_set.extend(summary(&out));
    for rule in &mut alone {
        let mut out = Vec::new();
        rule.flush(&mut out);
        from_each.extend(summary(&out));
    }
    // Every rule but `never` fired.
    for name in [
        "brute",
        "two-kinds",
        "kind-prefix",
        "no-filter",
        "spraying",
        "new-client",
    ] {
        assert!(
            from_set.iter().any(|a| a.starts_with(&format!("{name} "))),
            "{name}: {from_set:#?}"
        );
    }
    assert!(!from_set.iter().any(|a| a.starts_with("never ")));
    from_set.sort();
    from_each.sort();
    assert_eq!(from_set, from_each);
}

/// Cardinality rules that differ only in their thresholds share one set of windows in a
/// rule set; each still raises and resolves exactly what it raises alone, including a
/// threshold above and below the sample size, a `min_cardinality` rule, and windows
/// that empty out and fill again.
#[test]
fn cardinality_rules_sharing_windows_raise_what_each_raises_alone() {
    use hpti_alert::rules::RuleSet;
    let spraying = |name: &str, threshold: &str| {
        format!(
            "name: {name}\ntype: cardinality\nfilter: {{ kind: login.attempt }}\nquery_key: data.password\ncardinality_field: src_ip\n{threshold}\ntimeframe: 1m\n"
        )
    };
    let yamls = [
        spraying("low", "max_cardinality: 2"),
        spraying("mid", "max_cardinality: 7"),
        spraying("high", "max_cardinality: 25"),
        spraying("never", "max_cardinality: 1000"),
        spraying("quiet", "min_cardinality: 3"),
        spraying("quiet-too", "min_cardinality: 5"),
        // Another field: windows of its own.
        "name: users\ntype: cardinality\nfilter: { kind: login.attempt }\nquery_key: data.password\ncardinality_field: data.username\nmax_cardinality: 2\ntimeframe: 1m\n".to_owned(),
    ];
    let mut events = Vec::new();
    let mut t = 0.0;
    // Two bursts of spraying a minute and more apart, with quiet in between.
    for burst in 0..2u32 {
        // Ten addresses per password, then forty.
        for n in 0..60 * (burst + 1) {
            let password = ["Winter2026!", "123456", "admin"][(n % 3) as usize];
            let src = if burst == 0 { ip(n % 10) } else { ip(1000 + n) };
            let user = ["root", "admin", "ubnt", "pi"][(n % 4) as usize];
            events.push(login(src, user, password, false, t));
            t += 0.5;
        }
        t += 90.0;
        events.push(login(ip(200), "root", "other", false, t));
        t += 0.5;
    }
    let summary = |alerts: &[Alert]| -> Vec<String> {
        alerts
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {:?} {:?} {}",
                    a.rule, a.key, a.count, a.ends_at, a.annotations, a.summary
                )
            })
            .collect()
    };
    let mut together = RuleSet::new(yamls.iter().map(|y| rule(y)).collect());
    let mut alone: Vec<YamlRule> = yamls.iter().map(|y| rule(y)).collect();
    let (mut from_set, mut from_each) = (Vec::new(), Vec::new());
    for event in &events {
        let mut out = Vec::new();
        together.observe(event, &mut out);
        together.on_tick(Timestamp::now(), &mut out);
        from_set.extend(summary(&out));
        for rule in &mut alone {
            let mut out = Vec::new();
            rule.observe(event, &mut out);
            rule.on_tick(Timestamp::now(), &mut out);
            from_each.extend(summary(&out));
        }
    }
    for name in ["low ", "mid ", "high ", "quiet ", "quiet-too ", "users "] {
        assert!(
            from_set.iter().any(|a| a.starts_with(name)),
            "{name}: {from_set:#?}"
        );
    }
    // The first burst's alerts resolve when its windows empty: at the quiet event, for
    // every sharing rule (not when the next burst refills them).
    for name in ["low", "mid"] {
        for password in ["Winter2026!", "123456", "admin"] {
            let resolved = format!("{name} {password} ");
            let at_quiet = format!("Some({:?})", at(120.0));
            assert!(
                from_set
                    .iter()
                    .any(|a| a.starts_with(&resolved) && a.contains(&at_quiet)),
                "{resolved}resolved at 120 s: {from_set:#?}"
            );
        }
    }
    assert!(!from_set.iter().any(|a| a.starts_with("never ")));
    from_set.sort();
    from_each.sort();
    assert_eq!(from_set, from_each);
    // The six spraying rules hold one set of windows between them.
    let shared_keys = together.state_keys();
    let alone_keys: usize = alone.iter().map(AlertRule::state_keys).sum();
    assert!(shared_keys < alone_keys, "{shared_keys} vs {alone_keys}");
}
