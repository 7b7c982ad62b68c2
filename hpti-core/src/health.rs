//! Whether each component is working, as the last thing it tried says: a sink whose
//! writes fail, a notifier whose deliveries fail. Served as `GET /health` and as the
//! gauge `hpti_component_up{kind, component}`.
//!
//! ```
//! use hpti_core::health::{Health, Status};
//!
//! let health = Health::default();
//! health.failing("sink", "pg", "connection refused");
//! assert_eq!(health.report().status, Status::Degraded);
//! health.ok("sink", "pg");
//! assert_eq!(health.report().status, Status::Ok);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;

use crate::event::Timestamp;

/// Longest error text kept per component (errors can quote what a server sent).
const MAX_ERROR_BYTES: usize = 512;

/// Overall or per-component state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working, as far as its last attempt says.
    Ok,
    /// Its last attempt failed (it is retrying, or gave up and dead-lettered).
    Failing,
    /// Overall: some component is failing.
    Degraded,
}

/// One component's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentHealth {
    /// `sink`, `notifier`, ...
    pub kind: String,
    /// Its id in the config (`main` of `[sinks.main]`).
    pub component: String,
    /// `ok` or `failing`.
    pub status: Status,
    /// When it entered this state.
    pub since: Timestamp,
    /// Failures in a row (0 when ok).
    pub failures: u64,
    /// The last error, while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `GET /health` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// `ok`, or `degraded` when a component is failing.
    pub status: Status,
    /// Every component that has reported, by kind and id.
    pub components: Vec<ComponentHealth>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    kind: String,
    component: String,
}

/// The components' states; cheap to clone (shared). Bounded by the configured
/// components: only they report.
#[derive(Clone, Debug, Default)]
pub struct Health {
    states: Arc<Mutex<BTreeMap<(String, String), ComponentHealth>>>,
    up: Family<ComponentLabels, Gauge>,
}

impl Health {
    /// Registers `hpti_component_up` in `registry` (already prefixed `hpti`).
    pub(crate) fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "component_up",
            "1 when the component's last attempt worked, 0 while it fails",
            self.up.clone(),
        );
    }

    /// The component's last attempt worked.
    pub fn ok(&self, kind: &str, component: &str) {
        self.set(kind, component, None);
    }

    /// The component's last attempt failed with `error`.
    pub fn failing(&self, kind: &str, component: &str, error: &str) {
        self.set(kind, component, Some(error));
    }

    fn set(&self, kind: &str, component: &str, error: Option<&str>) {
        // The gauge is set under the lock, so that it and the report never disagree.
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        self.up
            .get_or_create(&ComponentLabels {
                kind: kind.to_owned(),
                component: component.to_owned(),
            })
            .set(i64::from(error.is_none()));
        let key = (kind.to_owned(), component.to_owned());
        let status = if error.is_some() {
            Status::Failing
        } else {
            Status::Ok
        };
        let state = states.entry(key).or_insert_with(|| ComponentHealth {
            kind: kind.to_owned(),
            component: component.to_owned(),
            status,
            since: Timestamp::now(),
            failures: 0,
            error: None,
        });
        if state.status != status {
            state.status = status;
            state.since = Timestamp::now();
        }
        match error {
            Some(error) => {
                state.failures += 1;
                let mut end = error.len().min(MAX_ERROR_BYTES);
                while !error.is_char_boundary(end) {
                    end -= 1;
                }
                state.error = Some(error[..end].to_owned());
            }
            None => {
                state.failures = 0;
                state.error = None;
            }
        }
    }

    /// Every component's state, and the overall one.
    pub fn report(&self) -> HealthReport {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let components: Vec<ComponentHealth> = states.values().cloned().collect();
        let status = if components.iter().any(|c| c.status == Status::Failing) {
            Status::Degraded
        } else {
            Status::Ok
        };
        HealthReport { status, components }
    }
}

/// An error and its sources, `outer: inner: root`, as `/health` shows them.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let said = inner.to_string();
        // Some errors repeat their source in their own message.
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_degrades_until_the_next_success_and_the_gauge_follows() {
        let mut registry = prometheus_client::registry::Registry::default();
        let health = Health::default();
        health.register(&mut registry);
        health.ok("sink", "main");
        health.failing("notifier", "oncall", &"x".repeat(10_000));
        health.failing("notifier", "oncall", "connection refused");
        let report = health.report();
        assert_eq!(report.status, Status::Degraded);
        let oncall = &report.components[0];
        assert_eq!(
            (oncall.kind.as_str(), oncall.status),
            ("notifier", Status::Failing)
        );
        assert_eq!(oncall.failures, 2);
        assert_eq!(oncall.error.as_deref(), Some("connection refused"));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("component_up{kind=\"notifier\",component=\"oncall\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("component_up{kind=\"sink\",component=\"main\"} 1"),
            "{text}"
        );
        health.ok("notifier", "oncall");
        let report = health.report();
        assert_eq!(report.status, Status::Ok);
        assert_eq!(report.components[0].failures, 0);
        assert_eq!(report.components[0].error, None);
        // Long errors are cut.
        health.failing("sink", "main", &"é".repeat(1_000));
        let report = health.report();
        assert!(report.components[1].error.as_ref().unwrap().len() <= MAX_ERROR_BYTES);
    }
}
