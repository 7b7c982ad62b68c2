//! The alert manager (Prometheus Alertmanager's semantics): alerts are grouped
//! (`group_by`), a group is sent after `group_wait`, again when it changes (at most every
//! `group_interval`) and every `repeat_interval` while it fires, and once more when it is
//! resolved. Silences and inhibition mute alerts; an alert not acknowledged within its
//! rule's `escalate_after` goes to `escalate_to` as well. Alerts and a notification log
//! are kept in an [`AlertStore`], so a restart neither loses an alert nor sends one twice.
//!
//! Deliveries run in tasks of their own with a timeout, retried with backoff (honouring
//! `Retry-After`); what still fails is written to a dead-letter file with the reason. A
//! notifier that hangs delays only its own deliveries.

mod delivery;
mod memory;
mod silence;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::alert::{Alert, Fingerprint, Severity};
use hpti_core::alert_store::{AlertStore, NotificationRecord, Silence, StoredAlert};
use hpti_core::event::Timestamp;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::notify::{AlertGroup, Notifier};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use delivery::{DeadLetters, RetryPolicy};
pub use memory::MemoryAlertStore;
pub use silence::silence_matches;

use crate::rules::RuleSpec;

/// Where a rule's alerts go and how they are grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Notifier ids.
    pub notify: Vec<String>,
    /// Labels that make a group (`rule`, `key` and `severity` too); default
    /// `[rule, key]`: each alert its own group.
    pub group_by: Vec<String>,
    /// Not acknowledged within this long after its first notification: escalated.
    pub escalate_after: Option<Duration>,
    /// Notifier ids of an escalation.
    pub escalate_to: Vec<String>,
}

impl Route {
    /// The route a rule file gives.
    pub fn of(spec: &RuleSpec) -> Self {
        Self {
            notify: spec.notify.clone(),
            group_by: spec.group_by.clone(),
            escalate_after: spec.escalate_after,
            escalate_to: spec.escalate_to.clone(),
        }
    }
}

/// The manager's settings (`[alerting]`).
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// How long a new group waits for more alerts before its first notification.
    pub group_wait: Duration,
    /// How long a group waits before notifying a change.
    pub group_interval: Duration,
    /// How long before a group that still fires is notified again.
    pub repeat_interval: Duration,
    /// Routes by rule name; a rule without one is stored and not notified.
    pub routes: BTreeMap<String, Route>,
    /// A critical alert mutes the lower-severity alerts whose labels have the same values
    /// for all of these (Alertmanager's inhibit rule with `equal`).
    pub inhibit_equal: Vec<String>,
    /// Retries of a failed delivery.
    pub retry: RetryPolicy,
    /// Where deliveries that failed for good are written (JSON lines).
    pub dead_letter_path: Option<PathBuf>,
    /// How often silences and acknowledgements made elsewhere (`hpti alert ...`) are read.
    pub refresh_interval: Duration,
    /// How long the input's end waits for deliveries in flight before dead-lettering
    /// them (`hpti run`'s stop); `None` waits for each to succeed or fail for good.
    pub shutdown_grace: Option<Duration>,
    /// Where deliveries are counted (`hpti_notifications_total`) and each notifier's
    /// state is shown (`GET /health`, `hpti_component_up{kind="notifier"}`).
    pub metrics: PipelineMetrics,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            routes: BTreeMap::new(),
            inhibit_equal: vec!["src_ip".into()],
            retry: RetryPolicy::default(),
            dead_letter_path: None,
            refresh_interval: Duration::from_secs(5),
            shutdown_grace: None,
            metrics: PipelineMetrics::default(),
        }
    }
}

/// Alerts taken from the input at once (stored in one transaction).
const RECEIVE_BATCH: usize = 512;

/// Most alerts held in memory across all groups; beyond it the oldest group is dropped
/// (counted) rather than growing without bound.
pub const MAX_ACTIVE_ALERTS: usize = 100_000;

/// Counts of what the manager did, for tests and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// Alerts received from the rules.
    pub received: u64,
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// Deliveries given up on (dead-lettered).
    pub failed: u64,
    /// Alerts muted by a silence when their group was sent.
    pub silenced: u64,
    /// Alerts muted by inhibition when their group was sent.
    pub inhibited: u64,
    /// Escalations sent.
    pub escalated: u64,
    /// Alerts dropped to stay under [`MAX_ACTIVE_ALERTS`].
    pub dropped: u64,
}

/// The running manager; [`ManagerHandle::finish`] sends what is pending and waits.
pub struct ManagerHandle {
    task: tokio::task::JoinHandle<ManagerStats>,
}

impl ManagerHandle {
    /// Waits until the alert input has closed and every pending notification was sent or
    /// dead-lettered; returns what the manager did.
    pub async fn finish(self) -> ManagerStats {
        self.task.await.unwrap_or_default()
    }
}

/// An alert group: alerts of one route with the same values of its `group_by` labels.
struct Group {
    route: String,
    receivers: Vec<String>,
    alerts: BTreeMap<Fingerprint, Alert>,
    /// When it may next be sent.
    next_flush: Instant,
    /// What each receiver was last told, and when (in this process).
    told: BTreeMap<String, Told>,
    /// Whether the notification log was read for it (after a restart).
    loaded: bool,
}

#[derive(Debug, Clone)]
struct Told {
    firing: BTreeSet<Fingerprint>,
    at: Instant,
}

/// The manager before it starts.
pub struct AlertManager {
    config: ManagerConfig,
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    store: Arc<dyn AlertStore>,
}

impl AlertManager {
    /// A manager delivering through `notifiers` (by id) and keeping state in `store`.
    pub fn new(
        config: ManagerConfig,
        notifiers: BTreeMap<String, Arc<dyn Notifier>>,
        store: Arc<dyn AlertStore>,
    ) -> Self {
        Self {
            config,
            notifiers,
            store,
        }
    }

    /// The notifier ids the routes name that are not configured.
    pub fn missing_notifiers(&self) -> Vec<String> {
        let mut missing = BTreeSet::new();
        for route in self.config.routes.values() {
            for id in route.notify.iter().chain(&route.escalate_to) {
                if !self.notifiers.contains_key(id) {
                    missing.insert(id.clone());
                }
            }
        }
        missing.into_iter().collect()
    }

    /// Starts reading alerts from `input`; firing alerts in the store are picked up again.
    pub fn start(self, input: mpsc::Receiver<Alert>) -> ManagerHandle {
        let task = tokio::spawn(Runtime::new(self).run(input));
        ManagerHandle { task }
    }
}

struct Runtime {
    config: ManagerConfig,
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    store: Arc<dyn AlertStore>,
    groups: BTreeMap<String, Group>,
    silences: Vec<Silence>,
    /// Firing critical alerts' inhibition keys.
    critical: BTreeMap<Fingerprint, Vec<String>>,
    deliveries: JoinSet<delivery::Outcome>,
    /// Group and receiver of each delivery in flight, with what it sends.
    in_flight: BTreeMap<(String, String), AlertGroup>,
    dead_letters: DeadLetters,
    stats: ManagerStats,
    active: usize,
    /// What is stored of each firing alert, so that alerts are written without reading
    /// them first.
    episodes: HashMap<Fingerprint, Episode>,
    /// Whether `episodes` holds every firing alert of the store: then an alert it lacks
    /// starts a new episode, without a read.
    episodes_complete: bool,
}

/// What the manager remembers of a stored alert's episode.
#[derive(Debug, Clone, Copy, Default)]
struct Episode {
    notified_at: Option<Timestamp>,
    escalated_at: Option<Timestamp>,
    /// Seen acknowledged (an acknowledgement lasts as long as its episode).
    acked: bool,
}

impl Episode {
    fn of(stored: &StoredAlert) -> Self {
        Self {
            notified_at: stored.notified_at,
            escalated_at: stored.escalated_at,
            acked: stored.acked.is_some(),
        }
    }

    /// The row to store for `alert` in this episode (the store keeps the acknowledgement).
    fn row(self, alert: Alert, now: Timestamp) -> StoredAlert {
        let mut stored = StoredAlert::new(alert, now);
        stored.notified_at = self.notified_at;
        stored.escalated_at = self.escalated_at;
        stored
    }
}

/// Most episodes remembered; beyond it the manager reads the store for the ones it lacks.
const MAX_EPISODES: usize = 2 * MAX_ACTIVE_ALERTS;

impl Runtime {
    fn new(manager: AlertManager) -> Self {
        let dead_letters = DeadLetters::new(manager.config.dead_letter_path.clone());
        Self {
            config: manager.config,
            notifiers: manager.notifiers,
            store: manager.store,
            groups: BTreeMap::new(),
            silences: Vec::new(),
            critical: BTreeMap::new(),
            deliveries: JoinSet::new(),
            in_flight: BTreeMap::new(),
            dead_letters,
            stats: ManagerStats::default(),
            active: 0,
            episodes: HashMap::new(),
            episodes_complete: false,
        }
    }

    async fn run(mut self, mut input: mpsc::Receiver<Alert>) -> ManagerStats {
        self.refresh().await;
        self.resume().await;
        let mut refresh = tokio::time::interval(self.config.refresh_interval);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.next_deadline();
            tokio::select! {
                alert = input.recv() => match alert {
                    Some(alert) => {
                        // What else is waiting goes in the same store transaction.
                        let mut batch = vec![alert];
                        while batch.len() < RECEIVE_BATCH {
                            match input.try_recv() {
                                Ok(alert) => batch.push(alert),
                                Err(_) => break,
                            }
                        }
                        self.receive(batch).await;
                    }
                    None => break,
                },
                Some(done) = self.deliveries.join_next(), if !self.deliveries.is_empty() => {
                    self.delivered(done).await;
                }
                () = sleep_until(next) => {}
                _ = refresh.tick() => {
                    self.refresh().await;
                    self.escalate().await;
                }
            }
            self.flush(Instant::now(), false).await;
        }
        // The input is over (shutdown, or the end of an ingest): send what is pending now,
        // without waiting for group timers, and wait for every delivery.
        self.refresh().await;
        self.flush(Instant::now(), true).await;
        self.escalate().await;
        let deadline = self
            .config
            .shutdown_grace
            .map(|grace| Instant::now() + grace);
        loop {
            let next = match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, self.deliveries.join_next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            // Deliveries that ended meanwhile are settled first: they
                            // are not in flight any more.
                            while let Some(done) = self.deliveries.try_join_next() {
                                self.delivered(done).await;
                            }
                            self.abandon();
                            break;
                        }
                    }
                }
                None => self.deliveries.join_next().await,
            };
            let Some(done) = next else { break };
            self.delivered(done).await;
            // A group whose delivery finished may have more to say (resolved alerts).
            self.flush(Instant::now(), true).await;
        }
        self.stats
    }

    /// Gives up the deliveries still in flight when the shutdown grace is over: each is
    /// dead-lettered and, not being in the notification log, sent at the next start.
    fn abandon(&mut self) {
        self.deliveries.abort_all();
        for ((key, receiver), group) in std::mem::take(&mut self.in_flight) {
            self.stats.failed += 1;
            self.config.metrics.notification(&receiver, "dead_lettered");
            tracing::warn!(notifier = %receiver, group = %key, "notification not delivered before shutdown; dead-lettered, and sent again at the next start");
            self.dead_letters.write(
                &receiver,
                &group,
                "not delivered before shutdown (sent again at the next start)",
            );
        }
    }

    /// Picks up the firing alerts of an earlier run.
    async fn resume(&mut self) {
        match self.store.alerts(true, MAX_ACTIVE_ALERTS).await {
            Ok(stored) => {
                self.episodes_complete = stored.len() < MAX_ACTIVE_ALERTS;
                for stored in stored.into_iter().rev() {
                    self.episodes
                        .insert(stored.alert.fingerprint, Episode::of(&stored));
                    self.place(stored.alert);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the firing alerts of the last run")
            }
        }
    }

    async fn refresh(&mut self) {
        match self.store.silences().await {
            Ok(silences) => self.silences = silences,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read silences; using the last ones read")
            }
        }
    }

    async fn receive(&mut self, alerts: Vec<Alert>) {
        self.stats.received += alerts.len() as u64;
        let now = Timestamp::now();
        // The latest version of each alert of the batch, stored once.
        let mut latest: BTreeMap<Fingerprint, Alert> = BTreeMap::new();
        for alert in &alerts {
            latest.insert(alert.fingerprint, alert.clone());
        }
        let mut rows = Vec::with_capacity(latest.len());
        for (fingerprint, alert) in latest {
            let firing = alert.ends_at.is_none();
            let episode = match self.episodes.get(&fingerprint) {
                // Remembered: firing (a resolved alert's episode is forgotten).
                Some(episode) => *episode,
                // Not firing in the store either: a firing alert starts a new episode.
                None if firing && self.episodes_complete => Episode::default(),
                None => match self.store.alert(&fingerprint.to_string()).await {
                    // A firing alert after a resolved one is a new episode.
                    Ok(Some(stored)) if stored.is_firing() || !firing => Episode::of(&stored),
                    _ => Episode::default(),
                },
            };
            if firing {
                self.remember(fingerprint, episode);
            } else {
                self.episodes.remove(&fingerprint);
            }
            rows.push(episode.row(alert, now));
        }
        if let Err(err) = self.store.save_alerts(&rows).await {
            tracing::warn!(error = %err, alerts = rows.len(), "alerts not stored");
        }
        for alert in alerts {
            self.place(alert);
        }
    }

    /// Keeps a firing alert's episode in memory, within [`MAX_EPISODES`].
    fn remember(&mut self, fingerprint: Fingerprint, episode: Episode) {
        if self.episodes.len() >= MAX_EPISODES && !self.episodes.contains_key(&fingerprint) {
            // Forget one: from now on, alerts not remembered are read from the store.
            if let Some(any) = self.episodes.keys().next().copied() {
                self.episodes.remove(&any);
            }
            self.episodes_complete = false;
        }
        self.episodes.insert(fingerprint, episode);
    }

    /// The episode of an alert: remembered, or read from the store.
    async fn episode(&mut self, fingerprint: Fingerprint) -> Option<Episode> {
        if let Some(episode) = self.episodes.get(&fingerprint) {
            return Some(*episode);
        }
        match self.store.alert(&fingerprint.to_string()).await {
            Ok(Some(stored)) if stored.is_firing() => {
                let episode = Episode::of(&stored);
                self.remember(fingerprint, episode);
                Some(episode)
            }
            _ => None,
        }
    }

    /// Puts an alert into its group.
    fn place(&mut self, alert: Alert) {
        let fingerprint = alert.fingerprint;
        if alert.severity == Severity::Critical {
            if alert.ends_at.is_none() {
                let keys = inhibition_key(&alert, &self.config.inhibit_equal);
                if let Some(keys) = keys {
                    self.critical.insert(fingerprint, keys);
                }
            } else {
                self.critical.remove(&fingerprint);
            }
        }
        let Some(route) = self.config.routes.get(&alert.rule) else {
            return;
        };
        if route.notify.is_empty() {
            return;
        }
        let key = group_key(&alert, &route.group_by);
        let now = Instant::now();
        let group_wait = self.config.group_wait;
        let receivers = route.notify.clone();
        let rule = alert.rule.clone();
        let group = self.groups.entry(key).or_insert_with(|| Group {
            route: rule,
            receivers,
            alerts: BTreeMap::new(),
            next_flush: now + group_wait,
            told: BTreeMap::new(),
            loaded: false,
        });
        if group.alerts.insert(fingerprint, alert).is_none() {
            self.active += 1;
        }
        while self.active > MAX_ACTIVE_ALERTS {
            // Drop the group with the earliest deadline (the oldest).
            let Some(oldest) = self
                .groups
                .iter()
                .min_by_key(|(_, g)| g.next_flush)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(group) = self.groups.remove(&oldest) {
                self.active -= group.alerts.len();
                self.stats.dropped += group.alerts.len() as u64;
                tracing::warn!(group = %oldest, "alert group dropped: too many active alerts");
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Whether `alert` is muted now, and why.
    fn muted(&self, alert: &Alert, now: Timestamp) -> Option<&'static str> {
        if self
            .silences
            .iter()
            .any(|s| s.is_active(now) && silence_matches(s, alert))
        {
            return Some("silenced");
        }
        if alert.severity < Severity::Critical
            && let Some(keys) = inhibition_key(alert, &self.config.inhibit_equal)
            && self
                .critical
                .iter()
                .any(|(f, k)| *f != alert.fingerprint && *k == keys)
        {
            return Some("inhibited");
        }
        None
    }

    /// Sends the groups that are due (all of them when `now_all`).
    async fn flush(&mut self, now: Instant, now_all: bool) {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| now_all || g.next_flush <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let wall = Timestamp::now();
        for key in due {
            self.flush_group(&key, now, wall).await;
        }
    }

    async fn flush_group(&mut self, key: &str, now: Instant, wall: Timestamp) {
        let Some(group) = self.groups.get(key) else {
            return;
        };
        if !group.loaded {
            // After a restart: what was each receiver told last time?
            let mut told = BTreeMap::new();
            for receiver in &group.receivers {
                if let Ok(Some(record)) = self.store.last_notification(key, receiver).await {
                    let age = wall.as_micros().saturating_sub(record.sent_at.as_micros());
                    let age = Duration::from_micros(u64::try_from(age).unwrap_or(0));
                    told.insert(
                        receiver.clone(),
                        Told {
                            firing: record.firing.into_iter().collect(),
                            at: now.checked_sub(age).unwrap_or(now),
                        },
                    );
                }
            }
            if let Some(group) = self.groups.get_mut(key) {
                group.told.extend(told);
                group.loaded = true;
            }
        }
        let Some(group) = self.groups.get(key) else {
            return;
        };
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        let mut muted = (0u64, 0u64);
        for alert in group.alerts.values() {
            if alert.ends_at.is_some() {
                resolved.push(alert.clone());
            } else {
                match self.muted(alert, wall) {
                    Some("silenced") => muted.0 += 1,
                    Some(_) => muted.1 += 1,
                    None => firing.push(alert.clone()),
                }
            }
        }
        let firing_set: BTreeSet<Fingerprint> = firing.iter().map(|a| a.fingerprint).collect();
        let mut sent_any = false;
        let mut all_told_resolved = true;
        for receiver in group.receivers.clone() {
            let told = group.told.get(&receiver);
            // Resolved alerts are worth saying only to whoever was told they fired.
            let resolved_here: Vec<Alert> = resolved
                .iter()
                .filter(|a| told.is_some_and(|t| t.firing.contains(&a.fingerprint)))
                .cloned()
                .collect();
            let changed = told.is_none_or(|t| t.firing != firing_set);
            let repeat = told.is_some_and(|t| {
                !firing_set.is_empty() && now.duration_since(t.at) >= self.config.repeat_interval
            });
            let worth = (!firing.is_empty() || !resolved_here.is_empty()) && (changed || repeat);
            if !worth {
                continue;
            }
            if self
                .in_flight
                .contains_key(&(key.to_owned(), receiver.clone()))
            {
                all_told_resolved = false;
                continue;
            }
            let Some(notifier) = self.notifiers.get(&receiver).cloned() else {
                tracing::warn!(notifier = %receiver, rule = %group.route, "no such notifier");
                continue;
            };
            let mut alerts = firing.clone();
            alerts.extend(resolved_here);
            let payload = AlertGroup::new(key, alerts);
            let record = NotificationRecord::new(
                key,
                receiver.clone(),
                firing_set.iter().copied().collect(),
                payload.resolved().map(|a| a.fingerprint).collect(),
                wall,
            );
            self.in_flight
                .insert((key.to_owned(), receiver.clone()), payload.clone());
            self.deliveries.spawn(delivery::deliver(
                notifier,
                receiver.clone(),
                payload,
                record,
                self.config.retry.clone(),
                self.config.metrics.clone(),
            ));
            sent_any = true;
            all_told_resolved = false;
        }
        self.stats.silenced += muted.0;
        self.stats.inhibited += muted.1;
        let interval = self.config.group_interval;
        let repeat = self.config.repeat_interval;
        if let Some(group) = self.groups.get_mut(key) {
            if sent_any {
                group.next_flush = now + interval;
            } else {
                // Nothing to say now: look again at the next interval or repeat.
                group.next_flush = now + interval.min(repeat);
            }
            // Resolved alerts that nobody needs to hear about any more leave the group.
            if all_told_resolved {
                let before = group.alerts.len();
                group.alerts.retain(|_, a| a.ends_at.is_none());
                self.active -= before - group.alerts.len();
            }
            if group.alerts.is_empty() {
                self.groups.remove(key);
            }
        }
    }

    async fn delivered(&mut self, done: Result<delivery::Outcome, tokio::task::JoinError>) {
        let Ok(outcome) = done else {
            return;
        };
        self.in_flight
            .remove(&(outcome.record.group_key.clone(), outcome.receiver.clone()));
        match outcome.result {
            Ok(()) => {
                self.stats.delivered += 1;
                if let Err(err) = self.store.save_notification(&outcome.record).await {
                    tracing::warn!(error = %err, "notification log not stored: a restart may send this again");
                }
                let now = Instant::now();
                let wall = Timestamp::now();
                self.mark_notified(&outcome.record.group_key, &outcome.record.firing, wall)
                    .await;
                if let Some(group) = self.groups.get_mut(&outcome.record.group_key) {
                    group.told.insert(
                        outcome.receiver.clone(),
                        Told {
                            firing: outcome.record.firing.iter().copied().collect(),
                            at: now,
                        },
                    );
                    // Resolved alerts now told: they can leave once every receiver knows.
                    if outcome.record.firing.is_empty() || !outcome.record.resolved.is_empty() {
                        group.next_flush = group.next_flush.min(now);
                    }
                }
            }
            Err(reason) => {
                self.stats.failed += 1;
                tracing::warn!(notifier = %outcome.receiver, group = %outcome.record.group_key, reason = %reason, "notification failed for good; dead-lettered");
                self.dead_letters
                    .write(&outcome.receiver, &outcome.group, &reason);
                // Forget it was attempted: the group is not retried before its interval,
                // and counts as told so that the same content is not sent in a loop.
                if let Some(group) = self.groups.get_mut(&outcome.record.group_key) {
                    group.told.insert(
                        outcome.receiver.clone(),
                        Told {
                            firing: outcome.record.firing.iter().copied().collect(),
                            at: Instant::now(),
                        },
                    );
                }
            }
        }
    }

    /// Records when the firing alerts of a group were first notified (escalation counts
    /// from then).
    async fn mark_notified(&mut self, group_key: &str, firing: &[Fingerprint], at: Timestamp) {
        let mut rows = Vec::new();
        for fingerprint in firing {
            let Some(alert) = self
                .groups
                .get(group_key)
                .and_then(|g| g.alerts.get(fingerprint))
                .filter(|a| a.ends_at.is_none())
                .cloned()
            else {
                continue;
            };
            let Some(mut episode) = self.episode(*fingerprint).await else {
                continue;
            };
            if episode.notified_at.is_none() {
                episode.notified_at = Some(at);
                self.episodes.insert(*fingerprint, episode);
                rows.push(episode.row(alert, at));
            }
        }
        if !rows.is_empty()
            && let Err(err) = self.store.save_alerts(&rows).await
        {
            tracing::warn!(error = %err, "alerts not stored");
        }
    }

    /// Sends each unacknowledged alert whose route escalates, once it is overdue.
    async fn escalate(&mut self) {
        let wall = Timestamp::now();
        let mut due = Vec::new();
        for group in self.groups.values() {
            let Some(route) = self.config.routes.get(&group.route) else {
                continue;
            };
            let Some(after) = route.escalate_after else {
                continue;
            };
            for alert in group.alerts.values() {
                if alert.ends_at.is_none() && self.muted(alert, wall).is_none() {
                    due.push((alert.clone(), after, route.escalate_to.clone()));
                }
            }
        }
        for (alert, after, receivers) in due {
            let fingerprint = alert.fingerprint;
            let Some(mut episode) = self.episode(fingerprint).await else {
                continue;
            };
            let Some(notified) = episode.notified_at else {
                continue;
            };
            let overdue = wall.as_micros().saturating_sub(notified.as_micros())
                >= i64::try_from(after.as_micros()).unwrap_or(i64::MAX);
            if episode.acked || episode.escalated_at.is_some() || !overdue {
                continue;
            }
            // Acknowledged by `hpti alert ack` (another process) since it was last read?
            match self.store.alert(&fingerprint.to_string()).await {
                Ok(Some(stored)) if stored.acked.is_some() => {
                    episode.acked = true;
                    self.episodes.insert(fingerprint, episode);
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the alert's acknowledgement: escalation put off");
                    continue;
                }
            }
            episode.escalated_at = Some(wall);
            if let Err(err) = self
                .store
                .save_alert(&episode.row(alert.clone(), wall))
                .await
            {
                tracing::warn!(error = %err, "escalation not stored: not sent, to avoid sending it on every pass");
                continue;
            }
            self.episodes.insert(fingerprint, episode);
            self.stats.escalated += 1;
            let key = format!("{}/escalation", alert.fingerprint);
            for receiver in receivers {
                let Some(notifier) = self.notifiers.get(&receiver).cloned() else {
                    continue;
                };
                let payload = AlertGroup::new(&key, vec![alert.clone()]);
                let record = NotificationRecord::new(
                    &key,
                    receiver.clone(),
                    vec![alert.fingerprint],
                    Vec::new(),
                    wall,
                );
                self.in_flight
                    .insert((key.clone(), receiver.clone()), payload.clone());
                self.deliveries.spawn(delivery::deliver(
                    notifier,
                    receiver,
                    payload,
                    record,
                    self.config.retry.clone(),
                    self.config.metrics.clone(),
                ));
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The value of a label for grouping and matching: `rule`, `key` and `severity` are
/// labels too.
pub(crate) fn label<'a>(alert: &'a Alert, name: &str) -> Option<&'a str> {
    match name {
        "rule" => Some(&alert.rule),
        "key" => Some(&alert.key),
        "severity" => Some(alert.severity.as_str()),
        _ => alert.labels.get(name).map(String::as_str),
    }
}

/// The key of the group an alert belongs to.
fn group_key(alert: &Alert, group_by: &[String]) -> String {
    let default = ["rule".to_owned(), "key".to_owned()];
    let names: &[String] = if group_by.is_empty() {
        &default
    } else {
        group_by
    };
    let mut key = format!("{{rule={:?}}}", alert.rule);
    for name in names {
        if name == "rule" {
            continue;
        }
        key.push_str(&format!(
            ":{{{name}={:?}}}",
            label(alert, name).unwrap_or_default()
        ));
    }
    key
}

/// The values of the `equal` labels, if the alert has them all.
fn inhibition_key(alert: &Alert, equal: &[String]) -> Option<Vec<String>> {
    if equal.is_empty() {
        return None;
    }
    equal
        .iter()
        .map(|name| {
            label(alert, name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
        .collect()
}
