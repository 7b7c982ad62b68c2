//! A checked [`RuleSpec`] running as an [`AlertRule`]: the state of each rule type, kept
//! per query key, bounded, over event time.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use hpti_core::Event;
use hpti_core::alert::{Alert, AlertRule, MAX_ALERT_EVENTS};
use hpti_core::event::{EventId, Timestamp};
use minijinja::Value;
use sha2::{Digest as _, Sha256};

use super::field::{EventView, FieldPath};
use super::spec::{RuleSpec, RuleType, SpikeType};
use super::state::{Clock, ClockMode, Firing, Keyed, micros};
use super::terms::TermStore;

/// How rules are run (the same for every rule of a process).
#[derive(Debug, Clone, Default)]
pub struct RuleOptions {
    /// How time advances.
    pub clock: ClockMode,
    /// Where rules keep state across restarts (`new_term`'s seen terms); `None` keeps it
    /// in memory only.
    pub state_dir: Option<PathBuf>,
}

/// Buckets per timeframe of the spike and flatline windows.
const BUCKETS: i64 = 10;

/// A rule read from a file, running.
pub struct YamlRule {
    spec: RuleSpec,
    clock: Clock,
    firing: Firing,
    state: TypeState,
    /// The kinds of event its filter pins (`None`: any).
    kinds: Option<Vec<String>>,
    /// `new_term`: each entry of `fields` as one name (`a,b`), as its terms are stored.
    term_names: Vec<String>,
    /// The filter without the kinds it pins, for events known to be of those kinds.
    unpinned_filter: super::matcher::Filter,
}

enum TypeState {
    Any,
    Frequency(Keyed<String, VecDeque<(Timestamp, EventId)>>),
    Spike(Keyed<String, Buckets>),
    Flatline {
        keys: Keyed<String, Buckets>,
        last_bucket: Option<i64>,
    },
    NewTerm(TermStore),
    Cardinality {
        windows: SharedWindows,
        /// Whether this rule reports the windows' size (once for all rules sharing them).
        primary: bool,
    },
    Change(Keyed<String, String>),
    #[cfg(feature = "sigma")]
    Sigma(Box<super::sigma::SigmaRules>),
}

/// Event counts in buckets of `timeframe / BUCKETS`, the last `2 * BUCKETS` of them.
#[derive(Debug, Clone)]
struct Buckets {
    counts: VecDeque<u64>,
    /// Bucket index of the newest count.
    newest: i64,
    /// Bucket index when the key was first seen (windows before it are incomplete).
    since: i64,
    /// First and some event ids of the current window.
    first: Option<Timestamp>,
    ids: VecDeque<EventId>,
}

impl Buckets {
    fn new(index: i64) -> Self {
        Self {
            counts: VecDeque::from(vec![0; (2 * BUCKETS) as usize]),
            newest: index,
            since: index,
            first: None,
            ids: VecDeque::new(),
        }
    }

    /// Moves the newest bucket up to `index`, dropping what falls out.
    fn advance(&mut self, index: i64) {
        if index <= self.newest {
            return;
        }
        let shift = (index - self.newest).min(2 * BUCKETS);
        for _ in 0..shift {
            self.counts.pop_front();
            self.counts.push_back(0);
        }
        self.newest = index;
    }

    /// Counts an event in bucket `index` (late events beyond the window are ignored).
    fn add(&mut self, index: i64, time: Timestamp, id: EventId) {
        self.advance(index);
        let age = self.newest - index;
        if age >= 2 * BUCKETS {
            return;
        }
        let slot = (2 * BUCKETS - 1 - age) as usize;
        if let Some(count) = self.counts.get_mut(slot) {
            *count += 1;
        }
        if self.first.is_none_or(|f| time < f) {
            self.first = Some(time);
        }
        self.ids.push_back(id);
        if self.ids.len() > MAX_ALERT_EVENTS {
            self.ids.pop_front();
        }
    }

    /// Events in the current window (the newest `BUCKETS` buckets).
    fn current(&self) -> u64 {
        self.counts.iter().skip(BUCKETS as usize).sum()
    }

    /// Events in the window before it.
    fn reference(&self) -> u64 {
        self.counts.iter().take(BUCKETS as usize).sum()
    }

    /// Whether the key has been watched for `windows` whole windows.
    fn watched(&self, windows: i64) -> bool {
        self.newest - self.since >= windows * BUCKETS
    }
}

/// The cardinality windows of one or more rules, one per query key.
///
/// Rules that differ only in their thresholds (a `medium` rule at 50 addresses per
/// password and a `high` one at 500, say) watch the same values: they share one set of
/// windows, which records each event once ([`RuleSet`](super::RuleSet) joins them).
#[derive(Debug)]
pub(crate) struct CardinalityWindows {
    keys: Keyed<String, Distinct>,
    /// Values kept per key: the largest any sharing rule needs (each counts up to its own).
    limit: usize,
    /// The event recorded last, so that the second rule shown it does not record it again.
    last: Option<EventId>,
}

type SharedWindows = Arc<Mutex<CardinalityWindows>>;

/// Locks shared windows (a panic elsewhere does not make their counts wrong).
fn lock(windows: &SharedWindows) -> MutexGuard<'_, CardinalityWindows> {
    windows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Values a cardinality rule needs to hold per key: one more than its threshold.
fn cardinality_limit(spec: &RuleSpec) -> usize {
    let limit = spec
        .max_cardinality
        .unwrap_or(0)
        .max(spec.min_cardinality.unwrap_or(0))
        .saturating_add(1);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Distinct values with when each was last seen, oldest first.
///
/// Held by a 64-bit digest of the value (seeded per window, so collisions cannot be
/// prepared in advance; one would only count two values as one): dropping the oldest then costs no hashing of its text, which mattered
/// at one insert and one drop per event.
#[derive(Debug, Default)]
struct Distinct {
    values: hashlink::LinkedHashMap<u64, Seen, BuildHasherDefault<Digested>>,
    digest: hashlink::DefaultHashBuilder,
    since: Option<Timestamp>,
}

/// The hasher of keys that are already digests: hashes them as they are.
#[derive(Debug, Default)]
struct Digested(u64);

impl Hasher for Digested {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys reach here (`write_u64`); anything else is folded in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A value of a cardinality window: when it was last seen, and its text for the alert.
#[derive(Debug)]
struct Seen {
    at: Timestamp,
    text: Box<str>,
}

impl Distinct {
    /// Records `text` seen at `at` (now the newest).
    fn see(&mut self, text: &str, at: Timestamp) {
        use std::hash::BuildHasher as _;
        let digest = self.digest.hash_one(text);
        match self.values.raw_entry_mut().from_key(&digest) {
            hashlink::linked_hash_map::RawEntryMut::Occupied(mut held) => {
                held.to_back();
                held.get_mut().at = at;
            }
            hashlink::linked_hash_map::RawEntryMut::Vacant(vacant) => {
                vacant.insert(
                    digest,
                    Seen {
                        at,
                        text: text.into(),
                    },
                );
            }
        }
    }
}

impl YamlRule {
    /// Starts `spec` with `options`.
    pub fn new(spec: RuleSpec, options: &RuleOptions) -> Self {
        let max_keys = spec.max_keys;
        let state = match spec.rule_type {
            RuleType::Any => TypeState::Any,
            #[cfg(feature = "sigma")]
            RuleType::Sigma => match super::sigma::SigmaRules::load(&spec.sigma) {
                Ok(rules) => TypeState::Sigma(Box::new(rules)),
                Err(err) => {
                    // Checked when the rule was read: the files changed since.
                    tracing::error!(rule = %spec.name, file = %err.file.display(), error = %err.message, "Sigma rules unreadable: the rule matches nothing");
                    TypeState::Any
                }
            },
            #[cfg(not(feature = "sigma"))]
            RuleType::Sigma => TypeState::Any,
            RuleType::Frequency => TypeState::Frequency(Keyed::new(max_keys)),
            RuleType::Spike => TypeState::Spike(Keyed::new(max_keys)),
            RuleType::Flatline => TypeState::Flatline {
                keys: Keyed::new(max_keys),
                last_bucket: None,
            },
            RuleType::NewTerm => {
                let path = options.state_dir.as_ref().map(|dir| {
                    let digest = Sha256::digest(spec.name.as_bytes());
                    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                    dir.join(format!("new_term-{hex}.json"))
                });
                TypeState::NewTerm(TermStore::open(path, spec.max_terms))
            }
            RuleType::Cardinality => TypeState::Cardinality {
                windows: Arc::new(Mutex::new(CardinalityWindows {
                    keys: Keyed::new(max_keys),
                    limit: cardinality_limit(&spec),
                    last: None,
                })),
                primary: true,
            },
            RuleType::Change => TypeState::Change(Keyed::new(max_keys)),
        };
        let resolve_after = match spec.rule_type {
            // These end when their condition does.
            RuleType::Spike | RuleType::Flatline | RuleType::Cardinality => None,
            _ => Some(spec.resolve_after),
        };
        Self {
            kinds: spec.filter.kinds(),
            unpinned_filter: spec.filter.without_pinned_kinds(),
            term_names: spec
                .fields
                .iter()
                .map(|fields| {
                    fields
                        .iter()
                        .map(FieldPath::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect(),
            firing: Firing::new(max_keys, resolve_after, spec.realert),
            clock: Clock::new(options.clock),
            state,
            spec,
        }
    }

    /// The rule's spec.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// The kinds of event the rule can match (`None`: any).
    pub fn kinds(&self) -> Option<&[String]> {
        self.kinds.as_deref()
    }

    /// The event's key: its `query_key` value(s), joined; `None` if one is missing.
    fn key_of<'a>(&self, view: &'a EventView<'_>) -> Option<Cow<'a, str>> {
        match self.spec.query_key.as_slice() {
            [] => Some(Cow::Borrowed("")),
            many => joined(many, view),
        }
    }

    fn timeframe_micros(&self) -> i64 {
        self.spec.timeframe.map(micros).unwrap_or(i64::MAX).max(1)
    }

    fn bucket_width(&self) -> i64 {
        (self.timeframe_micros() / BUCKETS).max(1)
    }
}

/// The labels of an event's query key: each field and its value.
fn query_labels(query_key: &[FieldPath], view: &EventView<'_>) -> Vec<(String, String)> {
    query_key
        .iter()
        .filter_map(|field| Some((field.as_str().to_owned(), field.text(view)?.into_owned())))
        .collect()
}

/// An alert of the rule `spec`, its summary rendered from its details.
#[allow(clippy::too_many_arguments)]
fn make_alert(
    spec: &RuleSpec,
    key: &str,
    labels: &[(String, String)],
    now: Timestamp,
    starts_at: Timestamp,
    count: u64,
    ids: impl IntoIterator<Item = EventId>,
    annotations: &[(&str, String)],
    event: Option<&EventView<'_>>,
) -> Alert {
    let timeframe = spec
        .timeframe
        .map(|t| humantime::format_duration(t).to_string())
        .unwrap_or_default();
    let mut context = std::collections::BTreeMap::<String, Value>::new();
    context.insert("rule".into(), Value::from(spec.name.as_str()));
    context.insert("key".into(), Value::from(key));
    context.insert("count".into(), Value::from(count));
    context.insert("timeframe".into(), Value::from(timeframe.as_str()));
    context.insert("severity".into(), Value::from(spec.severity.as_str()));
    for (name, value) in annotations {
        context.insert((*name).to_owned(), Value::from(value.as_str()));
    }
    if let Some(view) = event
        && spec.summary.uses_event()
    {
        context.insert("event".into(), Value::from_serialize(view.json()));
    }
    let fallback = format!("{}: {count} events for {key}", spec.name);
    let summary = spec.summary.render(&Value::from_iter(context), &fallback);
    let mut alert = Alert::new(&spec.name, spec.severity, key, summary, now)
        .starting_at(starts_at)
        .with_events(count, ids);
    for (name, value) in labels {
        alert = alert.with_label(name.as_str(), value.as_str());
    }
    for (name, value) in &spec.labels {
        alert = alert.with_label(name.as_str(), value.as_str());
    }
    alert = alert.with_annotation("timeframe", timeframe);
    for (name, value) in annotations {
        alert = alert.with_annotation(*name, value.clone());
    }
    alert
}

impl YamlRule {
    fn observe_matched(&mut self, view: &EventView<'_>, now: Timestamp, out: &mut Vec<Alert>) {
        let event = view.event_ref();
        let Some(key) = self.key_of(view) else {
            return;
        };
        // The key's labels are built only for an alert (most events raise none).
        let labels = || query_labels(&self.spec.query_key, view);
        let timeframe = self.timeframe_micros();
        let width = self.bucket_width();
        match &mut self.state {
            TypeState::Any => {
                let alert = make_alert(
                    &self.spec,
                    &key,
                    &labels(),
                    now,
                    event.time,
                    1,
                    [event.id],
                    &[],
                    Some(view),
                );
                self.firing.raise(alert, true, out);
            }
            TypeState::Frequency(windows) => {
                let needed = usize::try_from(self.spec.num_events).unwrap_or(usize::MAX);
                // Starts empty and grows: most keys (addresses) are seen once or twice,
                // and their memory is what `max_keys` bounds.
                let window = windows.entry(&*key, VecDeque::new);
                window.push_back((event.time, event.id));
                let cutoff = event.time.saturating_add_micros(-timeframe);
                while window.len() > needed || window.front().is_some_and(|(t, _)| *t <= cutoff) {
                    window.pop_front();
                }
                if window.len() >= needed {
                    let taken: Vec<(Timestamp, EventId)> = window.drain(..).collect();
                    let starts = taken.iter().map(|(t, _)| *t).min().unwrap_or(event.time);
                    let skip = taken.len().saturating_sub(MAX_ALERT_EVENTS);
                    let ids: Vec<EventId> = taken.iter().skip(skip).map(|(_, id)| *id).collect();
                    let alert = make_alert(
                        &self.spec,
                        &key,
                        &labels(),
                        now,
                        starts,
                        taken.len() as u64,
                        ids,
                        &[],
                        Some(view),
                    );
                    self.firing.raise(alert, true, out);
                }
            }
            TypeState::Spike(keys) => {
                let index = event.time.as_micros().div_euclid(width);
                keys.entry(&*key, || Buckets::new(index))
                    .add(index, event.time, event.id);
                if self.spec.spike_type != SpikeType::Down {
                    self.check_spike(&key, Some(view), now, out);
                }
            }
            TypeState::Flatline { keys, .. } => {
                let index = event.time.as_micros().div_euclid(width);
                let buckets = keys.entry(&*key, || Buckets::new(index));
                buckets.add(index, event.time, event.id);
                let current = buckets.current();
                if current >= self.spec.threshold && self.firing.is_firing(&key) {
                    self.firing.resolve(&key, now, out);
                }
            }
            TypeState::NewTerm(store) => {
                let mut new_terms = Vec::new();
                for (fields, name) in self.spec.fields.iter().zip(&self.term_names) {
                    match fields.as_slice() {
                        [one] => {
                            for value in one.values(view) {
                                let text = value.to_text();
                                if store.insert(name, &text) {
                                    new_terms.push((name.clone(), text.into_owned()));
                                }
                            }
                        }
                        many => {
                            if let Some(text) = joined(many, view)
                                && store.insert(name, &text)
                            {
                                new_terms.push((name.clone(), text.into_owned()));
                            }
                        }
                    }
                }
                for (field, value) in new_terms {
                    let mut term_labels = labels();
                    term_labels.push((field.clone(), value.clone()));
                    let alert = make_alert(
                        &self.spec,
                        &value,
                        &term_labels,
                        now,
                        event.time,
                        1,
                        [event.id],
                        &[("field", field), ("value", value.clone())],
                        Some(view),
                    );
                    self.firing.raise(alert, false, out);
                }
            }
            TypeState::Cardinality { windows, .. } => {
                let Some(field) = &self.spec.cardinality_field else {
                    return;
                };
                let own_limit = cardinality_limit(&self.spec);
                let mut windows = lock(windows);
                let fresh = windows.last != Some(event.id);
                windows.last = Some(event.id);
                let limit = windows.limit;
                let distinct = windows.keys.entry(&*key, Distinct::default);
                if fresh {
                    distinct.since.get_or_insert(event.time);
                    for value in field.values(view) {
                        distinct.see(&value.to_text(), event.time);
                    }
                    prune_distinct(
                        distinct,
                        event.time.saturating_add_micros(-timeframe),
                        limit,
                    );
                }
                // The newest `own_limit` values are what this rule alone would hold.
                let count = distinct.values.len().min(own_limit) as u64;
                if let Some(max) = self.spec.max_cardinality
                    && count > max
                    && !self.firing.is_firing(&key)
                {
                    let sample: Vec<String> = distinct
                        .values
                        .values()
                        .rev()
                        .take(20.min(own_limit))
                        .map(|s| s.text.to_string())
                        .collect();
                    let since = distinct.since.unwrap_or(event.time);
                    drop(windows);
                    let alert = make_alert(
                        &self.spec,
                        &key,
                        &labels(),
                        now,
                        since,
                        count,
                        [event.id],
                        &[
                            ("field", field.as_str().to_owned()),
                            ("cardinality", count.to_string()),
                            ("values", sample.join(", ")),
                        ],
                        Some(view),
                    );
                    self.firing.raise(alert, false, out);
                }
            }
            #[cfg(feature = "sigma")]
            TypeState::Sigma(rules) => {
                for hit in rules.matches(&view.sigma(rules.needs_raw()), view.sigma_logsource()) {
                    let mut hit_labels = labels();
                    hit_labels.push(("sigma_rule".to_owned(), hit.title.clone()));
                    let mut details = vec![("sigma_title", hit.title.clone())];
                    if let Some(id) = &hit.id {
                        details.push(("sigma_id", id.clone()));
                    }
                    let mut alert = make_alert(
                        &self.spec,
                        &key,
                        &hit_labels,
                        now,
                        event.time,
                        1,
                        [event.id],
                        &details,
                        Some(view),
                    );
                    if !self.spec.severity_given {
                        alert.severity = hit.severity;
                    }
                    let tracked = format!("{}\u{1f}{key}", hit.title);
                    self.firing.raise_as(tracked, alert, true, out);
                }
            }
            TypeState::Change(previous) => {
                let value = match joined(&self.spec.compare_key, view) {
                    Some(v) => v,
                    None if self.spec.ignore_null => return,
                    None => Cow::Borrowed(""),
                };
                let old = match previous.get_mut(&*key) {
                    Some(held) if *held == *value => return,
                    Some(held) => std::mem::replace(held, value.clone().into_owned()),
                    None => {
                        previous.insert(key.into_owned(), value.into_owned());
                        return;
                    }
                };
                let value = value.into_owned();
                let field = self
                    .spec
                    .compare_key
                    .iter()
                    .map(FieldPath::as_str)
                    .collect::<Vec<_>>()
                    .join(",");
                let alert = make_alert(
                    &self.spec,
                    &key,
                    &labels(),
                    now,
                    event.time,
                    1,
                    [event.id],
                    &[("field", field), ("old_value", old), ("new_value", value)],
                    Some(view),
                );
                self.firing.raise(alert, true, out);
            }
        }
    }

    fn check_spike(
        &mut self,
        key: &str,
        view: Option<&EventView<'_>>,
        now: Timestamp,
        out: &mut Vec<Alert>,
    ) {
        let TypeState::Spike(keys) = &self.state else {
            return;
        };
        let Some(buckets) = keys.get(key) else {
            return;
        };
        if !buckets.watched(2) {
            return;
        }
        let (current, reference) = (buckets.current(), buckets.reference());
        let height = self.spec.spike_height;
        let up = current >= self.spec.threshold_cur
            && reference >= self.spec.threshold_ref
            && reference > 0
            && current as f64 >= reference as f64 * height;
        let down = reference >= self.spec.threshold_ref
            && reference > 0
            && (current as f64) <= reference as f64 / height;
        let spiking = match self.spec.spike_type {
            SpikeType::Up => up,
            SpikeType::Down => down,
            SpikeType::Both => up || down,
        };
        let firing = self.firing.is_firing(key);
        if spiking && !firing {
            let ids: Vec<EventId> = buckets.ids.iter().copied().collect();
            let starts = buckets.first.unwrap_or(now);
            let labels = match view {
                Some(view) => query_labels(&self.spec.query_key, view),
                None => self.labels_of(key),
            };
            let alert = make_alert(
                &self.spec,
                key,
                &labels,
                now,
                starts,
                current,
                ids,
                &[
                    ("current_count", current.to_string()),
                    ("reference_count", reference.to_string()),
                    ("direction", if up { "up" } else { "down" }.to_owned()),
                ],
                None,
            );
            self.firing.raise(alert, false, out);
        } else if !spiking && firing {
            self.firing.resolve(key, now, out);
        }
    }

    fn tick_state(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let timeframe = self.timeframe_micros();
        let width = self.bucket_width();
        let index = now.as_micros().div_euclid(width);
        match &mut self.state {
            TypeState::Any | TypeState::NewTerm(_) => {}
            TypeState::Frequency(windows) => {
                let cutoff = now.saturating_add_micros(-timeframe);
                windows.retain(|_, window| {
                    while window.front().is_some_and(|(t, _)| *t <= cutoff) {
                        window.pop_front();
                    }
                    !window.is_empty()
                });
            }
            TypeState::Spike(keys) => {
                for (_, buckets) in keys.iter_mut() {
                    buckets.advance(index);
                }
                let keys: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
                for key in keys {
                    // The labels of a spike are its key's; rebuilt from the firing alert.
                    self.check_spike(&key, None, now, out);
                }
                if let TypeState::Spike(keys) = &mut self.state {
                    // A key with nothing in either window has nothing to compare.
                    let firing = &self.firing;
                    keys.retain(|k, b| b.current() + b.reference() > 0 || firing.is_firing(k));
                }
            }
            TypeState::Flatline { keys, last_bucket } => {
                if *last_bucket == Some(index) {
                    return;
                }
                *last_bucket = Some(index);
                if keys.is_empty() && self.spec.query_key.is_empty() {
                    // Without a query key the rule watches everything from its start.
                    keys.insert(String::new(), Buckets::new(index));
                }
                let mut quiet = Vec::new();
                let mut busy = Vec::new();
                for (key, buckets) in keys.iter_mut() {
                    buckets.advance(index);
                    let count = buckets.current();
                    if count < self.spec.threshold && buckets.watched(1) {
                        quiet.push((key.clone(), count));
                    } else if count >= self.spec.threshold {
                        busy.push(key.clone());
                    }
                }
                for key in busy {
                    if self.firing.is_firing(&key) {
                        self.firing.resolve(&key, now, out);
                    }
                }
                for (key, count) in quiet {
                    if self.firing.is_firing(&key) {
                        continue;
                    }
                    let labels = self.labels_of(&key);
                    let starts = now.saturating_add_micros(-timeframe);
                    let alert =
                        make_alert(&self.spec, &key, &labels, now, starts, count, [], &[], None);
                    self.firing.raise(alert, false, out);
                }
            }
            TypeState::Cardinality { windows, .. } => {
                let cutoff = now.saturating_add_micros(-timeframe);
                let own_limit = cardinality_limit(&self.spec);
                let count_of = |distinct: &Distinct| distinct.values.len().min(own_limit) as u64;
                let mut windows = lock(windows);
                let mut below_min = Vec::new();
                // Rules sharing the windows prune them alike: the second finds nothing to do.
                windows.keys.retain(|key, distinct| {
                    prune_distinct(distinct, cutoff, usize::MAX);
                    let count = count_of(distinct);
                    if let Some(min) = self.spec.min_cardinality
                        && count < min
                        && distinct.since.is_some_and(|s| s <= cutoff)
                    {
                        below_min.push((key.clone(), count));
                    }
                    count > 0 || self.spec.min_cardinality.is_some()
                });
                if self.spec.min_cardinality.is_none()
                    && let Some(max) = self.spec.max_cardinality
                {
                    // Every firing key is checked, gone from the windows (no value left,
                    // or evicted) or not.
                    let ended: Vec<String> = self
                        .firing
                        .keys()
                        .filter(|key| windows.keys.get(key.as_str()).map_or(0, count_of) <= max)
                        .cloned()
                        .collect();
                    for key in ended {
                        self.firing.resolve(&key, now, out);
                    }
                }
                drop(windows);
                for (key, count) in below_min {
                    if self.firing.is_firing(&key) {
                        continue;
                    }
                    let labels = self.labels_of(&key);
                    let field = self
                        .spec
                        .cardinality_field
                        .as_ref()
                        .map(|f| f.as_str().to_owned())
                        .unwrap_or_default();
                    let alert = make_alert(
                        &self.spec,
                        &key,
                        &labels,
                        now,
                        cutoff,
                        count,
                        [],
                        &[("field", field), ("cardinality", count.to_string())],
                        None,
                    );
                    self.firing.raise(alert, false, out);
                }
            }
            TypeState::Change(_) => {}
            #[cfg(feature = "sigma")]
            TypeState::Sigma(_) => {}
        }
    }

    /// The query-key labels of `key` (from its firing alert, or split from the key).
    fn labels_of(&self, key: &str) -> Vec<(String, String)> {
        if let Some(alert) = self.firing.get(key) {
            return self
                .spec
                .query_key
                .iter()
                .filter_map(|f| {
                    alert
                        .labels
                        .get(f.as_str())
                        .map(|v| (f.as_str().to_owned(), v.clone()))
                })
                .collect();
        }
        match self.spec.query_key.as_slice() {
            [] => Vec::new(),
            [one] => vec![(one.as_str().to_owned(), key.to_owned())],
            many => many
                .iter()
                .zip(key.split(", "))
                .map(|(f, v)| (f.as_str().to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// What tells a cardinality rule's windows apart: rules with the same signature
    /// watch the same values and may share them (`None`: not a cardinality rule).
    pub(crate) fn windows_signature(&self) -> Option<String> {
        if !matches!(self.state, TypeState::Cardinality { .. }) {
            return None;
        }
        let spec = &self.spec;
        Some(format!(
            "{:?}|{:?}|{:?}|{:?}|{}|{}",
            spec.filter,
            spec.query_key,
            spec.cardinality_field,
            spec.timeframe,
            spec.max_keys,
            spec.min_cardinality.is_some(),
        ))
    }

    /// Makes this cardinality rule record into `other`'s windows instead of its own
    /// (both having the same [`YamlRule::windows_signature`]).
    pub(crate) fn share_windows_of(&mut self, other: &YamlRule) {
        let own_limit = cardinality_limit(&self.spec);
        if let (
            TypeState::Cardinality { windows, primary },
            TypeState::Cardinality {
                windows: theirs, ..
            },
        ) = (&mut self.state, &other.state)
        {
            {
                let mut shared = lock(theirs);
                shared.limit = shared.limit.max(own_limit);
            }
            *windows = Arc::clone(theirs);
            *primary = false;
        }
    }

    /// Moves the rule's time to an event's (without showing it the event).
    pub fn advance(&mut self, time: Timestamp) {
        self.clock.observe(time);
    }

    /// Observes an event through a view shared with other rules.
    pub fn observe_view(&mut self, view: &EventView<'_>, out: &mut Vec<Alert>) {
        let event = view.event_ref();
        // Every event moves the rule's time, matched or not.
        let now = self.clock.observe(event.time);
        if let Some(kinds) = &self.kinds
            && !kinds.iter().any(|k| k == event.kind.name())
        {
            return;
        }
        if !self.spec.filter.matches(view) {
            return;
        }
        self.observe_matched(view, now, out);
    }

    /// [`YamlRule::observe_view`] for an event of a kind the rule's filter pins (the
    /// [`RuleSet`](super::RuleSet) index chose it), after [`YamlRule::advance`]: only
    /// the rest of the filter is checked.
    pub(crate) fn observe_indexed(&mut self, view: &EventView<'_>, out: &mut Vec<Alert>) {
        let Some(now) = self.clock.now() else {
            return;
        };
        if !self.unpinned_filter.matches(view) {
            return;
        }
        self.observe_matched(view, now, out);
    }
}

fn prune_distinct(distinct: &mut Distinct, cutoff: Timestamp, limit: usize) {
    while distinct
        .values
        .front()
        .is_some_and(|(_, seen)| seen.at <= cutoff)
    {
        distinct.values.pop_front();
    }
    while distinct.values.len() > limit {
        distinct.values.pop_front();
    }
}

/// The fields' values joined with `, ` (`None` if any is absent); one field's value as it is.
fn joined<'a>(fields: &[FieldPath], view: &'a EventView<'_>) -> Option<Cow<'a, str>> {
    match fields {
        [one] => one.text(view),
        many => {
            let mut parts = Vec::with_capacity(many.len());
            for field in many {
                parts.push(field.text(view)?);
            }
            Some(Cow::Owned(parts.join(", ")))
        }
    }
}

impl AlertRule for YamlRule {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Alert>) {
        self.observe_view(&EventView::new(event), out);
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let Some(now) = self.clock.tick(now) else {
            return;
        };
        self.tick_state(now, out);
        self.firing.expire(now, out);
        if let TypeState::NewTerm(store) = &mut self.state {
            store.save_if_due();
        }
    }

    fn state_keys(&self) -> usize {
        let held = match &self.state {
            TypeState::Any => 0,
            TypeState::Frequency(k) => k.len(),
            TypeState::Spike(k) => k.len(),
            TypeState::Flatline { keys, .. } => keys.len(),
            TypeState::NewTerm(store) => store.len(),
            TypeState::Cardinality { windows, primary } => {
                if *primary {
                    lock(windows).keys.len()
                } else {
                    0
                }
            }
            TypeState::Change(k) => k.len(),
            #[cfg(feature = "sigma")]
            TypeState::Sigma(_) => 0,
        };
        held + self.firing.len()
    }

    fn state_evictions(&self) -> u64 {
        let evicted = match &self.state {
            TypeState::Any => 0,
            TypeState::Frequency(k) => k.evicted(),
            TypeState::Spike(k) => k.evicted(),
            TypeState::Flatline { keys, .. } => keys.evicted(),
            TypeState::NewTerm(store) => store.evicted(),
            TypeState::Cardinality { windows, primary } => {
                if *primary {
                    lock(windows).keys.evicted()
                } else {
                    0
                }
            }
            TypeState::Change(k) => k.evicted(),
            #[cfg(feature = "sigma")]
            TypeState::Sigma(_) => 0,
        };
        evicted + self.firing.evicted()
    }

    fn flush(&mut self, out: &mut Vec<Alert>) {
        self.firing.flush(out);
        if let TypeState::NewTerm(store) = &mut self.state {
            store.save();
        }
    }
}
