//! The [`AlertRule`] trait: sees every stored event, and the passing of time, and may
//! raise [`Alert`]s.
//!
//! Rules run after storage and off its path (the pipeline feeds them from a bounded
//! queue behind the query store's sink), so a slow rule or notifier never slows a sink.
//! Time reaches rules through [`AlertRule::on_tick`] even when no event arrives: windows
//! close, and absence ("no events from sensor X for 10 minutes") can fire.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{Event, EventId, Timestamp};

/// How urgent an alert is (Sigma's five levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording.
    Informational,
    /// Worth a look.
    Low,
    /// Worth a look today.
    Medium,
    /// Worth a look now.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// The lower-case name (`high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "informational",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A stable identity of an alert: the same rule, key and labels always give the same
/// fingerprint, across processes and restarts, so notifiers and the alert store can
/// deduplicate (Alertmanager's fingerprint of the label set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// The fingerprint of a rule's alert for `key` with `labels`.
    pub fn of(rule: &str, key: &str, labels: &BTreeMap<String, String>) -> Self {
        let mut hash = Sha256::new();
        // Length-prefixed parts: ("ab","c") and ("a","bc") must differ.
        for part in [rule, key]
            .into_iter()
            .chain(labels.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
        {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl From<Fingerprint> for String {
    fn from(value: Fingerprint) -> Self {
        value.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let bad = || format!("a fingerprint is 32 hex digits, not {value:?}");
        if value.len() != 32 || !value.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// Most event ids an alert carries; the count says how many there were.
pub const MAX_ALERT_EVENTS: usize = 100;

/// Something a rule decided a human should know.
///
/// An alert is keyed by its rule, a grouping `key` (the value of the rule's query key: an
/// address, a SHA-256, a password) and identifying `labels`; together they make the
/// [`fingerprint`](Alert::fingerprint). What changes from one firing to the next (the
/// count, the addresses seen) goes in `annotations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// Name of the rule that raised it.
    pub rule: String,
    /// How urgent.
    pub severity: Severity,
    /// One line for a human.
    pub summary: String,
    /// The grouping key: what the rule counted by (`203.0.113.7`, a SHA-256, a password).
    pub key: String,
    /// Identifying labels (`sensor`, `protocol`, ...): part of the fingerprint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Details for templates that are not part of its identity (`count`, `sources`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// When what it reports began (the first event counted).
    pub starts_at: Timestamp,
    /// When the rule raised it.
    pub raised_at: Timestamp,
    /// Set when the condition is over (a resolved alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
    /// How many events the alert stands for.
    pub count: u64,
    /// Some of those events (at most [`MAX_ALERT_EVENTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<EventId>,
    /// The stable identity of (rule, key, labels).
    pub fingerprint: Fingerprint,
}

impl Alert {
    /// An alert of `rule` for `key`, raised at `raised_at`, standing for one event so far.
    pub fn new(
        rule: impl Into<String>,
        severity: Severity,
        key: impl Into<String>,
        summary: impl Into<String>,
        raised_at: Timestamp,
    ) -> Self {
        let rule = rule.into();
        let key = key.into();
        let labels = BTreeMap::new();
        Self {
            fingerprint: Fingerprint::of(&rule, &key, &labels),
            rule,
            severity,
            summary: summary.into(),
            key,
            labels,
            annotations: BTreeMap::new(),
            starts_at: raised_at,
            raised_at,
            ends_at: None,
            count: 1,
            event_ids: Vec::new(),
        }
    }

    /// Adds an identifying label (and updates the fingerprint).
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self.fingerprint = Fingerprint::of(&self.rule, &self.key, &self.labels);
        self
    }

    /// Adds a detail that is not part of the alert's identity.
    pub fn with_annotation(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(name.into(), value.into());
        self
    }

    /// Sets when what the alert reports began.
    pub fn starting_at(mut self, time: Timestamp) -> Self {
        self.starts_at = time;
        self
    }

    /// Sets how many events it stands for and some of their ids (the first
    /// [`MAX_ALERT_EVENTS`] are kept).
    pub fn with_events(mut self, count: u64, ids: impl IntoIterator<Item = EventId>) -> Self {
        self.count = count;
        self.event_ids = ids.into_iter().take(MAX_ALERT_EVENTS).collect();
        self
    }

    /// Marks the alert resolved at `time`.
    pub fn resolved_at(mut self, time: Timestamp) -> Self {
        self.ends_at = Some(time);
        self
    }
}

/// Decides, from the stored events and the passing of time, when to raise alerts.
///
/// The runtime calls a rule from one task: [`observe`](AlertRule::observe) for each
/// stored event in arrival order, and [`on_tick`](AlertRule::on_tick) on a timer whether
/// events arrive or not. A rule may raise any number of alerts from either, by pushing
/// them onto `out`. A rule keeps its state bounded per key (at most
/// [`state_keys`](AlertRule::state_keys) keys, evicting the oldest) and frees a key's
/// state when its window closes.
///
/// ```
/// use std::collections::{BTreeMap, BTreeSet};
/// use hpti_core::alert::{Alert, AlertRule, Severity};
/// use hpti_core::event::{Event, EventKind, Timestamp};
///
/// /// One alert per file downloaded from three or more addresses within a window.
/// #[derive(Default)]
/// struct SharedMalware {
///     windows: BTreeMap<String, (Timestamp, BTreeSet<std::net::IpAddr>)>,
/// }
///
/// impl AlertRule for SharedMalware {
///     fn name(&self) -> &str { "shared-malware" }
///     fn observe(&mut self, event: &Event, out: &mut Vec<Alert>) {
///         let EventKind::FileDownload { sha256: Some(sha256), .. } = &event.kind else { return };
///         let (_, sources) = self.windows.entry(sha256.clone()).or_insert((event.time, BTreeSet::new()));
///         if sources.insert(event.src_ip) && sources.len() == 3 {
///             out.push(Alert::new(self.name(), Severity::High, sha256.clone(),
///                 format!("{sha256} downloaded from 3 addresses"), event.time));
///         }
///     }
///     fn on_tick(&mut self, now: Timestamp, _out: &mut Vec<Alert>) {
///         // Ten-minute windows close even when no event comes.
///         self.windows.retain(|_, (opened, _)| now.as_millis() - opened.as_millis() < 600_000);
///     }
///     fn state_keys(&self) -> usize { self.windows.len() }
/// }
/// ```
pub trait AlertRule: Send {
    /// The rule's name, used in alerts and metrics.
    fn name(&self) -> &str;

    /// Sees one stored event; pushes any alerts it raises onto `out`.
    fn observe(&mut self, event: &Event, out: &mut Vec<Alert>);

    /// Sees the time pass (the runtime's tick, about once a second): windows close,
    /// absences fire. Does nothing by default.
    fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let _ = (now, out);
    }

    /// How many keys the rule holds state for now (`hpti_alert_rule_keys`). Zero by default.
    fn state_keys(&self) -> usize {
        0
    }

    /// How many keys the rule has dropped to stay under its cap, since it started
    /// (`hpti_alert_rule_evictions_total`). Zero by default.
    fn state_evictions(&self) -> u64 {
        0
    }

    /// Called once when the input is over: pushes onto `out` what the rule still holds
    /// (updates it was folding together) and writes state that outlives the process (seen
    /// terms). Does nothing by default.
    fn flush(&mut self, out: &mut Vec<Alert>) {
        let _ = out;
    }
}

impl<R: AlertRule + ?Sized> AlertRule for Box<R> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn observe(&mut self, event: &Event, out: &mut Vec<Alert>) {
        (**self).observe(event, out);
    }
    fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        (**self).on_tick(now, out);
    }
    fn state_keys(&self) -> usize {
        (**self).state_keys()
    }
    fn state_evictions(&self) -> u64 {
        (**self).state_evictions()
    }
    fn flush(&mut self, out: &mut Vec<Alert>) {
        (**self).flush(out);
    }
}
