//! The alert manager: grouping and its timers, dedup across restarts, silences,
//! inhibition, escalation, retries and dead letters. Timers run on tokio's paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hpti_alert::manager::{
    AlertManager, ManagerConfig, ManagerHandle, MemoryAlertStore, RetryPolicy, Route,
};
use hpti_core::alert::{Alert, Severity};
use hpti_core::alert_store::{Acknowledgement, AlertStore, LabelMatcher, Silence};
use hpti_core::event::Timestamp;
use hpti_core::notify::{AlertGroup, Notifier, NotifyError};
use tokio::sync::mpsc;
use tokio::time::sleep;

/// Records what it is given; fails as told first.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<AlertGroup>>,
    /// Errors to return before succeeding, in order.
    failures: Mutex<Vec<NotifyError>>,
    attempts: Mutex<u32>,
    hang: bool,
    /// Refuses every delivery until then (a service that is down).
    down_until: Option<tokio::time::Instant>,
}

impl Recorder {
    fn sent(&self) -> Vec<AlertGroup> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        *self.attempts.lock().unwrap() += 1;
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self
            .down_until
            .is_some_and(|until| tokio::time::Instant::now() < until)
        {
            return Err(NotifyError::temporary("connection refused", "connect"));
        }
        let failure = {
            let mut failures = self.failures.lock().unwrap();
            (!failures.is_empty()).then(|| failures.remove(0))
        };
        if let Some(err) = failure {
            return Err(err);
        }
        self.sent.lock().unwrap().push(group.clone());
        Ok(())
    }
}

fn alert(rule: &str, key: &str, severity: Severity) -> Alert {
    Alert::new(
        rule,
        severity,
        key,
        format!("{rule} {key}"),
        Timestamp::now(),
    )
    .with_label("src_ip", key)
}

struct Setup {
    config: ManagerConfig,
    notifiers: BTreeMap<String, Arc<Recorder>>,
    store: Arc<MemoryAlertStore>,
}

impl Setup {
    fn new(routes: &[(&str, Route)]) -> Self {
        let config = ManagerConfig {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            routes: routes
                .iter()
                .map(|(r, route)| ((*r).to_owned(), route.clone()))
                .collect(),
            retry: RetryPolicy {
                retry_for: Duration::from_secs(120),
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(60),
                attempt_timeout: Duration::from_secs(10),
            },
            refresh_interval: Duration::from_secs(1),
            ..ManagerConfig::default()
        };
        Self {
            config,
            notifiers: BTreeMap::new(),
            store: Arc::new(MemoryAlertStore::new()),
        }
    }

    fn notifier(&mut self, id: &str, recorder: Recorder) -> Arc<Recorder> {
        let recorder = Arc::new(recorder);
        self.notifiers.insert(id.to_owned(), recorder.clone());
        recorder
    }

    fn start(&self) -> (mpsc::Sender<Alert>, ManagerHandle) {
        let notifiers = self
            .notifiers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone() as Arc<dyn Notifier>))
            .collect();
        let manager = AlertManager::new(self.config.clone(), notifiers, self.store.clone());
        let (sender, receiver) = mpsc::channel(64);
        (sender, manager.start(receiver))
    }
}

fn route(notify: &[&str], group_by: &[&str]) -> Route {
    Route {
        notify: notify.iter().map(|s| (*s).to_owned()).collect(),
        group_by: group_by.iter().map(|s| (*s).to_owned()).collect(),
        ..Route::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_group_is_sent_after_group_wait_updated_when_it_grows_and_repeated() {
    let mut setup = Setup::new(&[("brute", route(&["oncall"], &["rule"]))]);
    let oncall = setup.notifier("oncall", Recorder::default());
    let (alerts, handle) = setup.start();
    alerts
        .send(alert("brute", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(10)).await;
    alerts
        .send(alert("brute", "203.0.113.2", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(15)).await;
    assert!(oncall.sent().is_empty(), "nothing before group_wait");
    sleep(Duration::from_secs(10)).await;
    let sent = oncall.sent();
    assert_eq!(sent.len(), 1, "one notification for both");
    assert_eq!(sent[0].alerts.len(), 2);

    // The same alert raised again (its count grew): no new notification.
    let mut again = alert("brute", "203.0.113.1", Severity::High);
    again.count = 99;
    alerts.send(again).await.unwrap();
    sleep(Duration::from_secs(400)).await;
    assert_eq!(oncall.sent().len(), 1);

    // A new alert joins: sent at the next group interval, with all three.
    alerts
        .send(alert("brute", "203.0.113.3", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(301)).await;
    let sent = oncall.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].alerts.len(), 3);

    // Still firing after repeat_interval: sent again.
    sleep(Duration::from_secs(4 * 3600)).await;
    assert_eq!(oncall.sent().len(), 3);

    // Resolved: one last message with the resolved alerts, then the group is gone.
    for key in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let resolved = alert("brute", key, Severity::High).resolved_at(Timestamp::now());
        alerts.send(resolved).await.unwrap();
    }
    sleep(Duration::from_secs(301)).await;
    let sent = oncall.sent();
    assert_eq!(sent.len(), 4, "{sent:#?}");
    assert_eq!(sent[3].resolved().count(), 3);
    assert_eq!(sent[3].firing().count(), 0);
    sleep(Duration::from_secs(5 * 3600)).await;
    assert_eq!(oncall.sent().len(), 4, "nothing after the resolve");
    drop(alerts);
    let stats = handle.finish().await;
    assert_eq!(stats.delivered, 4);
}

#[tokio::test(start_paused = true)]
async fn by_default_each_alert_is_its_own_group() {
    let mut setup = Setup::new(&[("new-malware", route(&["hook"], &[]))]);
    let hook = setup.notifier("hook", Recorder::default());
    let (alerts, handle) = setup.start();
    for sha in ["aa", "bb", "cc"] {
        alerts
            .send(alert("new-malware", sha, Severity::High))
            .await
            .unwrap();
    }
    drop(alerts);
    // Finishing sends what is pending at once, without waiting for group_wait.
    let stats = handle.finish().await;
    assert_eq!(stats.delivered, 3);
    let mut keys: Vec<String> = hook
        .sent()
        .iter()
        .map(|g| g.alerts[0].key.clone())
        .collect();
    keys.sort();
    assert_eq!(keys, ["aa", "bb", "cc"]);
}

#[tokio::test(start_paused = true)]
async fn a_restart_sends_nothing_twice() {
    let mut setup = Setup::new(&[("brute", route(&["oncall"], &[]))]);
    let oncall = setup.notifier("oncall", Recorder::default());
    let (alerts, handle) = setup.start();
    alerts
        .send(alert("brute", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    drop(alerts);
    handle.finish().await;
    assert_eq!(oncall.sent().len(), 1);

    // The same store, a new process: the firing alert is picked up, not sent again.
    let (alerts, handle) = setup.start();
    sleep(Duration::from_secs(600)).await;
    alerts
        .send(alert("brute", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(600)).await;
    drop(alerts);
    handle.finish().await;
    assert_eq!(oncall.sent().len(), 1, "{:#?}", oncall.sent());
    assert_eq!(setup.store.notifications().len(), 1);
    assert_eq!(setup.store.alerts(true, 10).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn silences_mute_and_expire() {
    let mut setup = Setup::new(&[("brute", route(&["oncall"], &[]))]);
    let oncall = setup.notifier("oncall", Recorder::default());
    let silence = Silence::new(
        vec![LabelMatcher::parse("src_ip=~203\\.0\\.113\\..*").unwrap()],
        Timestamp::from_micros(0),
        Timestamp::now().saturating_add_micros(3_600_000_000),
        "analyst",
        "our own scanner",
    );
    setup.store.save_silence(&silence).await.unwrap();
    let (alerts, handle) = setup.start();
    alerts
        .send(alert("brute", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    alerts
        .send(alert("brute", "198.51.100.1", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(60)).await;
    let sent = oncall.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alerts[0].key, "198.51.100.1");

    // Expired (as `hpti alert silence expire` does): the muted alert is sent.
    let mut expired = silence.clone();
    expired.ends_at = Timestamp::now();
    setup.store.save_silence(&expired).await.unwrap();
    sleep(Duration::from_secs(400)).await;
    let sent = oncall.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[1].alerts[0].key, "203.0.113.1");
    drop(alerts);
    let stats = handle.finish().await;
    assert!(stats.silenced >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_critical_alert_inhibits_lower_ones_for_the_same_source() {
    let mut setup = Setup::new(&[
        ("malware", route(&["oncall"], &[])),
        ("brute", route(&["oncall"], &[])),
    ]);
    let oncall = setup.notifier("oncall", Recorder::default());
    let (alerts, handle) = setup.start();
    alerts
        .send(alert("malware", "203.0.113.1", Severity::Critical))
        .await
        .unwrap();
    alerts
        .send(alert("brute", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    alerts
        .send(alert("brute", "198.51.100.9", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(60)).await;
    let mut rules: Vec<(String, String)> = oncall
        .sent()
        .iter()
        .map(|g| (g.alerts[0].rule.clone(), g.alerts[0].key.clone()))
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            ("brute".to_owned(), "198.51.100.9".to_owned()),
            ("malware".to_owned(), "203.0.113.1".to_owned())
        ]
    );
    drop(alerts);
    let stats = handle.finish().await;
    assert!(stats.inhibited >= 1);
}

#[tokio::test(start_paused = true)]
async fn an_unacknowledged_alert_escalates_and_an_acknowledged_one_does_not() {
    let mut escalating = route(&["oncall"], &[]);
    escalating.escalate_after = Some(Duration::ZERO);
    escalating.escalate_to = vec!["manager".into()];
    let mut setup = Setup::new(&[("brute", escalating)]);
    let oncall = setup.notifier("oncall", Recorder::default());
    let manager = setup.notifier("manager", Recorder::default());
    let (alerts, handle) = setup.start();
    let first = alert("brute", "203.0.113.1", Severity::High);
    let second = alert("brute", "203.0.113.2", Severity::High);
    alerts.send(first.clone()).await.unwrap();
    alerts.send(second.clone()).await.unwrap();
    // Acknowledged as soon as it is stored (as `hpti alert ack` does).
    sleep(Duration::from_millis(10)).await;
    let ack = Acknowledgement {
        by: "analyst".into(),
        at: Timestamp::now(),
    };
    assert!(
        setup
            .store
            .acknowledge(&second.fingerprint.to_string(), &ack)
            .await
            .unwrap()
    );
    sleep(Duration::from_secs(120)).await;
    assert_eq!(oncall.sent().len(), 2);
    let escalated = manager.sent();
    assert_eq!(escalated.len(), 1, "{escalated:#?}");
    assert_eq!(escalated[0].alerts[0].fingerprint, first.fingerprint);
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(manager.sent().len(), 1, "escalated once");
    drop(alerts);
    assert_eq!(handle.finish().await.escalated, 1);
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_honouring_retry_after_then_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::new(&[
        ("a", route(&["flaky"], &[])),
        ("b", route(&["broken"], &[])),
    ]);
    setup.config.dead_letter_path = Some(dir.path().join("dead.jsonl"));
    let flaky = setup.notifier(
        "flaky",
        Recorder {
            failures: Mutex::new(vec![
                NotifyError::temporary("503", "server error"),
                NotifyError::rate_limited("429", Some(Duration::from_secs(20))),
            ]),
            ..Recorder::default()
        },
    );
    let broken = setup.notifier(
        "broken",
        Recorder {
            failures: Mutex::new(vec![NotifyError::permanent("401 invalid token")]),
            ..Recorder::default()
        },
    );
    let (alerts, handle) = setup.start();
    let started = tokio::time::Instant::now();
    alerts.send(alert("a", "k", Severity::High)).await.unwrap();
    alerts.send(alert("b", "k", Severity::High)).await.unwrap();
    sleep(Duration::from_secs(30 + 1 + 19)).await;
    assert!(flaky.sent().is_empty(), "the 429 asked for 20 s");
    sleep(Duration::from_secs(2)).await;
    assert_eq!(flaky.sent().len(), 1);
    assert_eq!(*flaky.attempts.lock().unwrap(), 3);
    assert!(started.elapsed() >= Duration::from_secs(51));
    assert_eq!(
        *broken.attempts.lock().unwrap(),
        1,
        "a permanent error is not retried"
    );
    drop(alerts);
    let stats = handle.finish().await;
    assert_eq!((stats.delivered, stats.failed), (1, 1));
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(line["notifier"], "broken");
    assert_eq!(line["reason"], "401 invalid token");
    assert_eq!(line["group"]["alerts"][0]["rule"], "b");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_notifier_delays_only_itself() {
    let mut setup = Setup::new(&[("a", route(&["stuck", "fast"], &[]))]);
    let stuck = setup.notifier(
        "stuck",
        Recorder {
            hang: true,
            ..Recorder::default()
        },
    );
    let fast = setup.notifier("fast", Recorder::default());
    let (alerts, handle) = setup.start();
    alerts.send(alert("a", "1", Severity::High)).await.unwrap();
    sleep(Duration::from_secs(31)).await;
    assert_eq!(fast.sent().len(), 1);
    // More alerts keep flowing while it hangs.
    for i in 2..50 {
        alerts
            .send(alert("a", &i.to_string(), Severity::High))
            .await
            .unwrap();
    }
    sleep(Duration::from_secs(31)).await;
    assert_eq!(fast.sent().len(), 49);
    drop(alerts);
    let stats = handle.finish().await;
    // Per group, attempts of 10 s each with backoff (1, 2, 4, 8, 16 s, then the 29 s left
    // of the 120 s of retries): seven, the last at the budget's end, then dead-lettered.
    assert_eq!(stats.failed, 49);
    assert_eq!(*stuck.attempts.lock().unwrap(), 49 * 7);
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_its_grace_then_dead_letters_what_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::new(&[("a", route(&["stuck", "fast"], &[]))]);
    setup.config.shutdown_grace = Some(Duration::from_secs(10));
    setup.config.dead_letter_path = Some(dir.path().join("dead.jsonl"));
    let stuck = setup.notifier(
        "stuck",
        Recorder {
            hang: true,
            ..Recorder::default()
        },
    );
    let fast = setup.notifier("fast", Recorder::default());
    let (alerts, handle) = setup.start();
    alerts.send(alert("a", "1", Severity::High)).await.unwrap();
    alerts.send(alert("a", "2", Severity::High)).await.unwrap();
    drop(alerts);
    let stopping = tokio::time::Instant::now();
    let stats = handle.finish().await;
    let waited = stopping.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    assert_eq!(fast.sent().len(), 2);
    assert_eq!(stats.delivered, 2);
    assert_eq!(stats.failed, 2);
    assert_eq!(
        *stuck.attempts.lock().unwrap(),
        2,
        "no retry after the grace"
    );
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("dead.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        assert_eq!(letter["notifier"], "stuck");
        assert!(
            letter["reason"]
                .as_str()
                .unwrap()
                .contains("not delivered before shutdown")
        );
    }
    // Not in the notification log: a restart sends them again.
    assert!(
        setup
            .store
            .notifications()
            .iter()
            .all(|r| r.receiver == "fast")
    );
}

/// A notifier down for a minute, then back: every alert raised meanwhile reaches it after,
/// nothing is dead-lettered, and its state shows in `/health`'s report and the metrics
/// while it is down. One down for longer than `retry_for` has its delivery dead-lettered.
#[tokio::test(start_paused = true)]
async fn a_notifier_down_for_a_minute_loses_nothing_and_shows_as_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::new(&[("a", route(&["oncall"], &[])), ("b", route(&["gone"], &[]))]);
    setup.config.dead_letter_path = Some(dir.path().join("dead.jsonl"));
    let metrics = setup.config.metrics.clone();
    let start = tokio::time::Instant::now();
    let oncall = setup.notifier(
        "oncall",
        Recorder {
            down_until: Some(start + Duration::from_secs(60)),
            ..Recorder::default()
        },
    );
    let gone = setup.notifier(
        "gone",
        Recorder {
            down_until: Some(start + Duration::from_secs(3600)),
            ..Recorder::default()
        },
    );
    let (alerts, handle) = setup.start();
    alerts
        .send(alert("a", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    alerts
        .send(alert("b", "203.0.113.1", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(20)).await;
    alerts
        .send(alert("a", "203.0.113.2", Severity::High))
        .await
        .unwrap();
    sleep(Duration::from_secs(25)).await;
    alerts
        .send(alert("a", "203.0.113.3", Severity::High))
        .await
        .unwrap();

    // t = 45 s: the first deliveries have failed and are being retried.
    let report = metrics.health().report();
    assert_eq!(report.status, hpti_core::health::Status::Degraded);
    let state = |id: &str| {
        metrics
            .health()
            .report()
            .components
            .into_iter()
            .find(|c| c.kind == "notifier" && c.component == id)
            .unwrap()
    };
    assert_eq!(state("oncall").status, hpti_core::health::Status::Failing);
    assert_eq!(state("oncall").error.as_deref(), Some("connection refused"));
    assert!(oncall.sent().is_empty());
    assert!(metrics.notifications("oncall", "retried") >= 3);

    sleep(Duration::from_secs(60)).await;
    // t = 105 s: back for 45 s; all three delivered, once each.
    let mut keys: Vec<String> = oncall
        .sent()
        .iter()
        .flat_map(|g| g.alerts.iter().map(|a| a.key.clone()))
        .collect();
    keys.sort();
    assert_eq!(keys, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]);
    assert_eq!(state("oncall").status, hpti_core::health::Status::Ok);
    assert_eq!(metrics.notifications("oncall", "delivered"), 3);
    assert_eq!(metrics.notifications("oncall", "dead_lettered"), 0);

    // `gone` stays down past the 120 s of retries of this setup.
    sleep(Duration::from_secs(120)).await;
    assert!(gone.sent().is_empty());
    assert_eq!(metrics.notifications("gone", "dead_lettered"), 1);
    assert_eq!(state("gone").status, hpti_core::health::Status::Failing);
    drop(alerts);
    let stats = handle.finish().await;
    assert_eq!((stats.delivered, stats.failed), (3, 1));
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    let line: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(line["notifier"], "gone");
    let reason = line["reason"].as_str().unwrap();
    assert!(reason.starts_with("connection refused (after "), "{reason}");
}
