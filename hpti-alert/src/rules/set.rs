//! Many rules as one [`AlertRule`]: each event is viewed once (its texts and JSON parts
//! built at most once, for all rules) and shown only to the rules whose filter can match
//! its kind.

use std::collections::HashMap;

use hpti_core::Event;
use hpti_core::alert::{Alert, AlertRule};
use hpti_core::event::Timestamp;

use super::YamlRule;
use super::field::EventView;

/// Rules evaluated together.
pub struct RuleSet {
    rules: Vec<YamlRule>,
    /// Rules by the kinds their filter pins (`kind: login.attempt`).
    by_kind: HashMap<String, Vec<usize>>,
    /// Rules that may match any kind.
    any_kind: Vec<usize>,
}

impl RuleSet {
    /// The rules, indexed.
    pub fn new(mut rules: Vec<YamlRule>) -> Self {
        // Cardinality rules watching the same values (thresholds apart) share windows.
        let mut first_with: HashMap<String, usize> = HashMap::new();
        for i in 0..rules.len() {
            let Some(signature) = rules.get(i).and_then(YamlRule::windows_signature) else {
                continue;
            };
            match first_with.get(&signature) {
                Some(&first) => {
                    let (head, tail) = rules.split_at_mut(i);
                    if let (Some(owner), Some(rule)) = (head.get(first), tail.first_mut()) {
                        rule.share_windows_of(owner);
                    }
                }
                None => {
                    first_with.insert(signature, i);
                }
            }
        }
        let mut by_kind: HashMap<String, Vec<usize>> = HashMap::new();
        let mut any_kind = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match rule.kinds() {
                Some(kinds) => {
                    for kind in kinds {
                        by_kind.entry(kind.clone()).or_default().push(i);
                    }
                }
                None => any_kind.push(i),
            }
        }
        Self {
            rules,
            by_kind,
            any_kind,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[YamlRule] {
        &self.rules
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl AlertRule for RuleSet {
    fn name(&self) -> &str {
        "rules"
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Alert>) {
        let view = EventView::new(event);
        for rule in &mut self.rules {
            // Every event moves every rule's time, matched or not.
            rule.advance(event.time);
        }
        if let Some(pinned) = self.by_kind.get(event.kind.name()) {
            for &i in pinned {
                if let Some(rule) = self.rules.get_mut(i) {
                    rule.observe_indexed(&view, out);
                }
            }
        }
        for &i in &self.any_kind {
            if let Some(rule) = self.rules.get_mut(i) {
                rule.observe_view(&view, out);
            }
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        for rule in &mut self.rules {
            rule.on_tick(now, out);
        }
    }

    fn state_keys(&self) -> usize {
        self.rules.iter().map(AlertRule::state_keys).sum()
    }

    fn state_evictions(&self) -> u64 {
        self.rules.iter().map(AlertRule::state_evictions).sum()
    }

    fn flush(&mut self, out: &mut Vec<Alert>) {
        for rule in &mut self.rules {
            rule.flush(out);
        }
    }
}
