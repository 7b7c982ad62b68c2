//! Bounded per-key state, the rule clock, and the alerts a rule has raised and not yet
//! resolved.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::time::Duration;

use hashlink::LinkedHashMap;
use hashlink::linked_hash_map::RawEntryMut;
use hpti_core::alert::Alert;
use hpti_core::event::Timestamp;

/// Per-key state holding at most `max_keys` keys: the least recently used key is evicted
/// (and counted) to make room.
#[derive(Debug)]
pub struct Keyed<K: Hash + Eq, V> {
    map: LinkedHashMap<K, V>,
    max_keys: usize,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Keyed<K, V> {
    /// Empty, holding at most `max_keys` (at least one).
    pub fn new(max_keys: usize) -> Self {
        Self {
            map: LinkedHashMap::new(),
            max_keys: max_keys.max(1),
            evicted: 0,
        }
    }

    /// The key's state (now the most recently used), created by `init` if absent.
    pub fn entry<Q>(&mut self, key: &Q, init: impl FnOnce() -> V) -> &mut V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        // Room is made first (a second lookup, only at the cap): the entry below holds
        // the map.
        if self.map.len() >= self.max_keys && !self.map.contains_key(key) {
            while self.map.len() >= self.max_keys {
                self.map.pop_front();
                self.evicted += 1;
            }
        }
        match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut held) => {
                held.to_back();
                held.into_mut()
            }
            RawEntryMut::Vacant(vacant) => vacant.insert(key.to_owned(), init()).1,
        }
    }

    /// The key's state, if held (not marked as used).
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// The key's state, if held (now the most recently used).
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.to_back(key)
    }

    /// Whether the key is held.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// Inserts or replaces (now the most recently used).
    pub fn insert(&mut self, key: K, value: V) {
        self.insert_evicting(key, value, |_, _| {});
    }

    /// [`Keyed::insert`], handing each key evicted to make room to `evicted`.
    pub fn insert_evicting(&mut self, key: K, value: V, mut evicted: impl FnMut(K, V)) {
        if let Some(held) = self.map.to_back(&key) {
            *held = value;
            return;
        }
        while self.map.len() >= self.max_keys {
            if let Some((old_key, old_value)) = self.map.pop_front() {
                evicted(old_key, old_value);
            }
            self.evicted += 1;
        }
        self.map.insert(key, value);
    }

    /// Drops a key's state.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key)
    }

    /// Keeps the keys for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(|k, v| keep(k, v));
    }

    /// Every key and state, least recently used first.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.map.iter_mut()
    }

    /// Every key and state, least recently used first.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys evicted to stay under the cap, since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// How a rule's time advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// `hpti run`: events and the wall clock both move time forward, so silence is
    /// noticed while it happens (flatline) and windows close on their own.
    #[default]
    Live,
    /// `hpti ingest` and `hpti alert test`: only the events' own times move time forward,
    /// so an old log fires what would have fired then.
    EventTime,
}

/// A rule's notion of now: the latest event time seen (and, live, the wall clock).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    mode: ClockMode,
    now: Option<Timestamp>,
    /// The wall clock at the last tick (live): events may move time at most a minute
    /// past it. Read once, not per event.
    wall: Option<Timestamp>,
}

/// How far ahead of the wall clock a live event may move time (a sensor with a fast
/// clock must not close everyone's windows).
const LIVE_MAX_AHEAD_MICROS: i64 = 60_000_000;

impl Clock {
    /// A clock that has seen nothing yet.
    pub fn new(mode: ClockMode) -> Self {
        Self {
            mode,
            now: None,
            wall: None,
        }
    }

    /// An event at `time` was seen.
    pub fn observe(&mut self, time: Timestamp) -> Timestamp {
        let time = match self.mode {
            ClockMode::Live => {
                let wall = *self.wall.get_or_insert_with(Timestamp::now);
                let limit = wall.saturating_add_micros(LIVE_MAX_AHEAD_MICROS);
                if time > limit { limit } else { time }
            }
            ClockMode::EventTime => time,
        };
        let now = match self.now {
            Some(now) if now >= time => now,
            _ => time,
        };
        self.now = Some(now);
        now
    }

    /// The runtime's tick at wall-clock `wall`: moves time only when live. Returns the
    /// rule's now, if it has one.
    pub fn tick(&mut self, wall: Timestamp) -> Option<Timestamp> {
        if self.mode == ClockMode::Live {
            self.wall = Some(wall);
            self.now = Some(match self.now {
                Some(now) if now >= wall => now,
                _ => wall,
            });
        }
        self.now
    }

    /// The rule's now, if time has started.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// How time advances.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }
}

/// Microseconds of a duration, saturating.
pub fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The alerts a rule has raised and not resolved, by key; bounded like its state.
///
/// An alert raised again while it fires is sent on at most once per `realert` of rule
/// time: the updates in between are folded into it (count, events) and sent by the next
/// [`expire`](Firing::expire) after the interval, by its resolve, or by
/// [`flush`](Firing::flush). A storm of matches is then one update per key and interval,
/// not one per event.
#[derive(Debug)]
pub struct Firing {
    alerts: Keyed<String, Tracked>,
    /// Resolved when not raised again for this long (`None`: resolved by the rule).
    resolve_after: Option<Duration>,
    realert: i64,
}

#[derive(Debug)]
struct Tracked {
    alert: Alert,
    /// Rule time it was last sent on.
    sent_at: Timestamp,
    /// Raised again since then, not sent yet.
    held: bool,
}

impl Firing {
    /// Tracks at most `max_keys` alerts; a firing alert's updates are sent on at most
    /// once per `realert`.
    pub fn new(max_keys: usize, resolve_after: Option<Duration>, realert: Duration) -> Self {
        Self {
            alerts: Keyed::new(max_keys),
            resolve_after,
            realert: micros(realert),
        }
    }

    /// Whether an alert for `key` is firing.
    pub fn is_firing(&self, key: &str) -> bool {
        self.alerts.contains(key)
    }

    /// The firing alert for `key` (with its updates not sent yet).
    pub fn get(&self, key: &str) -> Option<&Alert> {
        self.alerts.get(key).map(|t| &t.alert)
    }

    /// Raises `alert` (or raises again: the count adds up when `accumulate`, the first
    /// start is kept) and pushes it onto `out`, or holds it if it was sent on less than
    /// `realert` ago.
    pub fn raise(&mut self, alert: Alert, accumulate: bool, out: &mut Vec<Alert>) {
        let key = alert.key.clone();
        self.raise_as(key, alert, accumulate, out);
    }

    /// [`Firing::raise`], tracked under `key` instead of the alert's own key (one rule
    /// raising several alerts per key: Sigma).
    pub fn raise_as(
        &mut self,
        key: String,
        mut alert: Alert,
        accumulate: bool,
        out: &mut Vec<Alert>,
    ) {
        let now = alert.raised_at;
        let mut sent_at = None;
        if let Some(previous) = self.alerts.get(&key) {
            sent_at = Some(previous.sent_at);
            let previous = &previous.alert;
            if previous.starts_at < alert.starts_at {
                alert.starts_at = previous.starts_at;
            }
            if accumulate {
                alert.count = alert.count.saturating_add(previous.count);
                let mut ids = previous.event_ids.clone();
                ids.extend(alert.event_ids.iter().copied());
                let skip = ids.len().saturating_sub(hpti_core::alert::MAX_ALERT_EVENTS);
                alert.event_ids = ids.into_iter().skip(skip).collect();
            }
        }
        let due =
            sent_at.is_none_or(|at| now.as_micros().saturating_sub(at.as_micros()) >= self.realert);
        if due {
            out.push(alert.clone());
        }
        // An alert dropped to stay under the cap is resolved, not left firing in the
        // store for ever; its annotation says why.
        self.alerts.insert_evicting(
            key,
            Tracked {
                alert,
                sent_at: if due { now } else { sent_at.unwrap_or(now) },
                held: !due,
            },
            |_, dropped| {
                out.push(dropped.alert.resolved_at(now).with_annotation(
                    "resolved_because",
                    "evicted: the rule tracks at most max_keys firing alerts",
                ));
            },
        );
    }

    /// Resolves the alert for `key` at `now`, if firing.
    pub fn resolve(&mut self, key: &str, now: Timestamp, out: &mut Vec<Alert>) {
        if let Some(tracked) = self.alerts.remove(key) {
            out.push(tracked.alert.resolved_at(now));
        }
    }

    /// Resolves the alerts not raised again within `resolve_after` of `now`, and sends
    /// on the updates held for `realert`.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let cutoff = self
            .resolve_after
            .map(|after| now.saturating_add_micros(-micros(after)));
        let mut ended = BTreeMap::new();
        let realert = self.realert;
        self.alerts.retain(|key, tracked| {
            if cutoff.is_some_and(|cutoff| tracked.alert.raised_at <= cutoff) {
                ended.insert(key.clone(), tracked.alert.clone());
                return false;
            }
            if tracked.held
                && now.as_micros().saturating_sub(tracked.sent_at.as_micros()) >= realert
            {
                out.push(tracked.alert.clone());
                tracked.sent_at = now;
                tracked.held = false;
            }
            true
        });
        out.extend(ended.into_values().map(|a| a.resolved_at(now)));
    }

    /// Sends on every held update (the input is over).
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        for (_, tracked) in self.alerts.iter_mut() {
            if tracked.held {
                out.push(tracked.alert.clone());
                tracked.held = false;
            }
        }
    }

    /// The keys of the alerts firing.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.alerts.iter().map(|(key, _)| key)
    }

    /// Alerts firing.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Whether none is firing.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Alerts dropped to stay under the cap (each sent on resolved as it was dropped).
    pub fn evicted(&self) -> u64 {
        self.alerts.evicted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_state_evicts_the_least_recently_used() {
        let mut state: Keyed<u32, u32> = Keyed::new(2);
        *state.entry(&1, || 0) += 1;
        *state.entry(&2, || 0) += 1;
        *state.entry(&1, || 0) += 1; // 1 is now the most recent
        *state.entry(&3, || 0) += 1; // evicts 2
        assert_eq!(state.len(), 2);
        assert_eq!(state.evicted(), 1);
        assert_eq!(state.get(&1), Some(&2));
        assert!(state.get(&2).is_none());
        for k in 10..1000 {
            state.entry(&k, || 0);
        }
        assert_eq!(state.len(), 2);
        assert_eq!(state.evicted(), 991);
    }

    /// An alert dropped to stay under the cap leaves as resolved, saying why: a store
    /// never keeps it firing for ever.
    #[test]
    fn a_firing_alert_dropped_at_the_cap_is_sent_on_resolved() {
        use hpti_core::alert::Severity;
        let mut firing = Firing::new(2, None, Duration::ZERO);
        let alert = |key: &str, at: i64| {
            Alert::new("r", Severity::High, key, "s", Timestamp::from_micros(at))
        };
        let mut out = Vec::new();
        firing.raise(alert("a", 1), false, &mut out);
        firing.raise(alert("b", 2), false, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|a| a.ends_at.is_none()));
        out.clear();
        firing.raise(alert("c", 3), false, &mut out);
        assert_eq!(firing.evicted(), 1);
        let resolved: Vec<&Alert> = out.iter().filter(|a| a.ends_at.is_some()).collect();
        assert_eq!(resolved.len(), 1, "{out:#?}");
        assert_eq!(resolved[0].key, "a");
        assert_eq!(resolved[0].ends_at, Some(Timestamp::from_micros(3)));
        assert!(resolved[0].annotations["resolved_because"].starts_with("evicted"));
        assert!(out.iter().any(|a| a.key == "c" && a.ends_at.is_none()));
        assert!(!firing.is_firing("a"));
    }

    #[test]
    fn event_time_ignores_the_wall_clock() {
        let mut clock = Clock::new(ClockMode::EventTime);
        assert_eq!(clock.tick(Timestamp::now()), None);
        let old = Timestamp::from_micros(1_000_000);
        clock.observe(old);
        assert_eq!(clock.tick(Timestamp::now()), Some(old));
        // Time never goes back.
        clock.observe(Timestamp::from_micros(10));
        assert_eq!(clock.now(), Some(old));

        let mut live = Clock::new(ClockMode::Live);
        live.observe(old);
        let wall = Timestamp::now();
        assert_eq!(live.tick(wall), Some(wall));
        // A live event far in the future moves time only a little ahead of the wall.
        let future = Timestamp::now().saturating_add_micros(3_600_000_000);
        assert!(live.observe(future) < future);
    }
}
