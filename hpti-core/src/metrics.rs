//! Prometheus metrics of the pipeline (`hpti_events_total{stage, component, outcome}` and
//! friends). `component` is the id the user gave the component (`main` in `[sinks.main]`),
//! so two components of one type never share a series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::dead_letter::DeadLetterStage;
use crate::health::Health;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    stage: String,
    component: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifyLabels {
    component: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

fn new_write_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The pipeline's counters, gauges and histograms. Cheap to clone (shared handles).
#[derive(Clone, Debug)]
pub struct PipelineMetrics {
    events: Family<EventLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_capacity: Family<QueueLabels, Gauge>,
    sink_write_seconds: Family<SinkLabels, Histogram, fn() -> Histogram>,
    sink_retries: Family<SinkLabels, Counter>,
    alerts: Family<RuleLabels, Counter>,
    rule_keys: Family<RuleLabels, Gauge>,
    rule_evictions: Family<RuleLabels, Counter>,
    notifications: Family<NotifyLabels, Counter>,
    health: Health,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        Self::new(&mut Registry::default())
    }
}

impl PipelineMetrics {
    /// Creates the metrics and registers them under `hpti_` in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            events: Family::default(),
            queue_depth: Family::default(),
            queue_capacity: Family::default(),
            sink_write_seconds: Family::new_with_constructor(new_write_histogram),
            sink_retries: Family::default(),
            alerts: Family::default(),
            rule_keys: Family::default(),
            rule_evictions: Family::default(),
            notifications: Family::default(),
            health: Health::default(),
        };
        let hpti = registry.sub_registry_with_prefix("hpti");
        hpti.register(
            "events",
            "Events seen by each pipeline stage, by component and outcome",
            metrics.events.clone(),
        );
        hpti.register(
            "queue_depth",
            "Items waiting in each bounded queue",
            metrics.queue_depth.clone(),
        );
        hpti.register(
            "queue_capacity",
            "Capacity of each bounded queue",
            metrics.queue_capacity.clone(),
        );
        hpti.register(
            "sink_write_seconds",
            "Time to write one batch, per sink",
            metrics.sink_write_seconds.clone(),
        );
        hpti.register(
            "sink_retries",
            "Batch writes retried after a temporary error, per sink",
            metrics.sink_retries.clone(),
        );
        hpti.register("alerts", "Alerts raised, per rule", metrics.alerts.clone());
        hpti.register(
            "alert_rule_keys",
            "Keys an alert rule holds state for",
            metrics.rule_keys.clone(),
        );
        hpti.register(
            "alert_rule_evictions",
            "Keys an alert rule dropped to stay under its cap (max_keys, max_terms)",
            metrics.rule_evictions.clone(),
        );
        hpti.register(
            "notifications",
            "Notification attempts per notifier, by outcome (delivered, retried, dead_lettered)",
            metrics.notifications.clone(),
        );
        metrics.health.register(hpti);
        metrics
    }

    /// The components' states (`GET /health`, `hpti_component_up`).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Reads `hpti_notifications_total{component, outcome}` (for reports and tests).
    pub fn notifications(&self, notifier: &str, outcome: &str) -> u64 {
        self.notifications
            .get_or_create(&NotifyLabels {
                component: notifier.to_owned(),
                outcome: outcome.to_owned(),
            })
            .get()
    }

    /// Adds one to `hpti_notifications_total{component, outcome}`.
    pub fn notification(&self, notifier: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotifyLabels {
                component: notifier.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Adds `n` to `hpti_events_total{stage, component, outcome}`.
    pub fn count(&self, stage: &str, component: &str, outcome: &str, n: u64) {
        if n == 0 {
            return;
        }
        self.events
            .get_or_create(&EventLabels {
                stage: stage.to_owned(),
                component: component.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc_by(n);
    }

    /// Reads `hpti_events_total{stage, component, outcome}` (for reports and tests).
    pub fn get(&self, stage: &str, component: &str, outcome: &str) -> u64 {
        self.events
            .get_or_create(&EventLabels {
                stage: stage.to_owned(),
                component: component.to_owned(),
                outcome: outcome.to_owned(),
            })
            .get()
    }

    /// A handle to one `hpti_events_total` series, for hot paths that count per event.
    pub fn counter(&self, stage: &str, component: &str, outcome: &str) -> Counter {
        self.events
            .get_or_create(&EventLabels {
                stage: stage.to_owned(),
                component: component.to_owned(),
                outcome: outcome.to_owned(),
            })
            .clone()
    }

    pub(crate) fn dead_lettered(&self, stage: DeadLetterStage, component: &str) {
        self.count("dead_letter", component, stage.as_str(), 1);
    }

    /// Sets `hpti_queue_depth{queue}`.
    pub fn queue_depth(&self, queue: &str, depth: usize) {
        self.queue_depth
            .get_or_create(&QueueLabels {
                queue: queue.to_owned(),
            })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The last value of `hpti_queue_depth{queue}` (0 before it was first set): what a
    /// fleet heartbeat reports as the outbox depth (`buffer_bytes`).
    pub fn queue_depth_now(&self, queue: &str) -> i64 {
        self.queue_depth
            .get(&QueueLabels {
                queue: queue.to_owned(),
            })
            .map_or(0, |gauge| gauge.get())
    }

    pub(crate) fn queue_capacity(&self, queue: &str, capacity: usize) {
        self.queue_capacity
            .get_or_create(&QueueLabels {
                queue: queue.to_owned(),
            })
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
    }

    pub(crate) fn sink_write(&self, sink: &str, seconds: f64) {
        self.sink_write_seconds
            .get_or_create(&SinkLabels {
                component: sink.to_owned(),
            })
            .observe(seconds);
    }

    pub(crate) fn sink_retry(&self, sink: &str) {
        self.sink_retries
            .get_or_create(&SinkLabels {
                component: sink.to_owned(),
            })
            .inc();
    }

    pub(crate) fn rule_keys(&self, rule: &str, keys: usize) {
        self.rule_keys
            .get_or_create(&RuleLabels {
                rule: rule.to_owned(),
            })
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
    }

    pub(crate) fn rule_evictions(&self, rule: &str, total: u64) {
        let counter = self.rule_evictions.get_or_create(&RuleLabels {
            rule: rule.to_owned(),
        });
        let counted = counter.get();
        if total > counted {
            counter.inc_by(total - counted);
        }
    }

    pub(crate) fn alert(&self, rule: &str) {
        self.alerts
            .get_or_create(&RuleLabels {
                rule: rule.to_owned(),
            })
            .inc();
    }
}
