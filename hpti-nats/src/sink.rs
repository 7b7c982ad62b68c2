//! The edge's sink (`[sinks.<id>] type = "nats"`): each event is published to JetStream
//! with its id as `Nats-Msg-Id`, and counts as delivered only when JetStream
//! acknowledges it.
//!
//! The sink itself keeps nothing: the edge's outbox is the pipeline's disk buffer
//! (`[pipeline] buffer = "disk"`, which a config with a NATS sink gets by default).
//! While NATS is unreachable or slow the sink's writes fail as temporary errors, the
//! runtime retries them with backoff, and the buffer holds what the sensors produce,
//! fsync'd per batch, up to `buffer_max_bytes`; it drains in order when the link returns.
//! Events the buffer acknowledged survive a `kill -9`: they are published again after
//! the restart with the same `Nats-Msg-Id`, so JetStream drops them as duplicates within
//! its window and the center's idempotent sinks store them once after it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use async_trait::async_trait;
use bytes::Bytes;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::event::Event;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::BatchConfig;
use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::connect::{NatsAuth, NatsConnect, NatsTls, subject_token};
use crate::fleet::{Heartbeat, HeartbeatSource};

/// The NATS sink's keys.
///
/// ```toml
/// [sinks.up]
/// type = "nats"
/// url = "nats://127.0.0.1:4222"
/// stream = "HPTI"
/// subject = "hpti.events.{sensor}"
/// heartbeat = "10s"        # to hpti.fleet.<host>; "0s" turns heartbeats off
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSinkConfig {
    /// The server(s): `nats://host:port`, `tls://host:port`, comma-separated.
    pub url: String,
    /// The JetStream stream the subject belongs to (checked at start, created by
    /// `hpti nats setup`).
    pub stream: String,
    /// The subject of each event; `{sensor}` becomes the event's sensor name (made a
    /// safe subject token).
    pub subject: String,
    /// Credentials.
    pub auth: NatsAuth,
    /// TLS.
    pub tls: NatsTls,
    /// Longest wait for JetStream's acknowledgement of one publish; past it the event is
    /// retried.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Most publishes awaiting their acknowledgement at once.
    pub max_in_flight: usize,
    /// Most events in one batch.
    pub batch_max_events: usize,
    /// Longest a batch waits to fill.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// Batches published at once.
    pub batch_concurrency: usize,
    /// How often the edge tells the center it is alive (`hpti.fleet.<host>`); `0s`: never.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// The name of this edge in `hpti fleet` (default: the machine's host name).
    pub host: Option<String>,
    /// The sensor ids the heartbeat lists (set by the binary from the config's
    /// `[sensors]` and `[sources]`; the sensors of published events are added).
    #[serde(skip)]
    pub sensors: Vec<String>,
}

impl Default for NatsSinkConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "HPTI".into(),
            subject: "hpti.events.{sensor}".into(),
            auth: NatsAuth::default(),
            tls: NatsTls::default(),
            timeout: Duration::from_secs(5),
            max_in_flight: 16_384,
            batch_max_events: 2_000,
            batch_linger: Duration::from_millis(10),
            batch_concurrency: 2,
            heartbeat: Duration::from_secs(10),
            host: None,
            sensors: Vec::new(),
        }
    }
}

impl NatsSinkConfig {
    /// The connection settings.
    pub fn connect(&self, cx: &BuildContext) -> NatsConnect {
        NatsConnect::for_component(&self.url, &self.auth, &self.tls, cx)
    }

    /// Checks the keys without connecting.
    pub fn check_keys(&self, cx: &BuildContext) -> Result<(), BuildError> {
        self.connect(cx).check(cx)?;
        crate::setup::check_stream_name(&self.stream).map_err(|e| e.at_key("stream"))?;
        SubjectTemplate::parse(&self.subject)?;
        if self.max_in_flight == 0 {
            return Err(BuildError::msg("must be at least 1").at_key("max_in_flight"));
        }
        if self.batch_max_events == 0 || self.batch_concurrency == 0 {
            return Err(BuildError::msg("must be at least 1").at_key("batch_max_events"));
        }
        Ok(())
    }

    /// The subjects of the stream this sink publishes to (`hpti.events.>`).
    pub fn stream_subjects(&self) -> Result<String, BuildError> {
        Ok(SubjectTemplate::parse(&self.subject)?.wildcard())
    }

    /// The edge's name for the fleet view.
    pub fn host_name(&self) -> String {
        subject_token(
            &self
                .host
                .clone()
                .unwrap_or_else(crate::fleet::local_host_name),
        )
    }
}

#[async_trait]
impl SinkConfig for NatsSinkConfig {
    fn check(&self, cx: &BuildContext) -> Result<(), BuildError> {
        self.check_keys(cx)
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        self.check_keys(cx)?;
        let client = self.connect(cx).connect(cx).await?;
        let js = jetstream::context::ContextBuilder::new()
            .timeout(self.timeout)
            .ack_timeout(self.timeout)
            .max_ack_inflight(self.max_in_flight)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let template = SubjectTemplate::parse(&self.subject)?;
        let stop = CancellationToken::new();
        let sensors = Arc::new(Mutex::new(
            self.sensors.iter().cloned().collect::<BTreeSet<_>>(),
        ));
        let counter = |outcome| cx.metrics.counter("nats", cx.id.as_str(), outcome);
        let sink = NatsSink {
            js,
            client: client.clone(),
            template,
            stream: self.stream.clone(),
            sensors: Arc::clone(&sensors),
            published: counter("published"),
            duplicates: counter("duplicate"),
            stop: stop.clone(),
        };
        if !self.heartbeat.is_zero() {
            let source = HeartbeatSource {
                host: self.host_name(),
                sensors,
                metrics: cx.metrics.clone(),
                sink_id: cx.id.to_string(),
            };
            tokio::spawn(crate::fleet::publish_heartbeats(
                client,
                source,
                self.heartbeat,
                stop,
            ));
        }
        let batch = BatchConfig::new(
            self.batch_max_events,
            8 * 1024 * 1024,
            self.batch_linger,
            self.batch_concurrency,
        );
        Ok(BuiltSink::new(Arc::new(sink)).with_batching(batch))
    }
}

/// `hpti.events.{sensor}` split around its one placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate {
    before: String,
    after: Option<String>,
}

impl SubjectTemplate {
    /// Parses a subject with at most one `{sensor}`, which must be a whole token.
    pub fn parse(subject: &str) -> Result<Self, BuildError> {
        let bad = |why: &str| BuildError::msg(format!("{subject:?}: {why}")).at_key("subject");
        if subject.is_empty() || subject.len() > 200 {
            return Err(bad("must be 1 to 200 characters"));
        }
        if subject.contains(['*', '>', ' ', '\t', '\r', '\n']) {
            return Err(bad(
                "a subject to publish to cannot hold wildcards or spaces",
            ));
        }
        let template = match subject.split_once("{sensor}") {
            None => Self {
                before: subject.to_owned(),
                after: None,
            },
            Some((before, after)) => {
                if after.contains("{sensor}") {
                    return Err(bad("{sensor} may appear once"));
                }
                let whole = (before.is_empty() || before.ends_with('.'))
                    && (after.is_empty() || after.starts_with('.'));
                if !whole {
                    return Err(bad("{sensor} must be a whole token (`a.{sensor}.b`)"));
                }
                Self {
                    before: before.to_owned(),
                    after: Some(after.to_owned()),
                }
            }
        };
        if template.render("x").split('.').any(str::is_empty) {
            return Err(bad("empty token"));
        }
        Ok(template)
    }

    /// The subject of an event of `sensor`.
    pub fn render(&self, sensor: &str) -> String {
        match &self.after {
            None => self.before.clone(),
            Some(after) => format!("{}{}{after}", self.before, subject_token(sensor)),
        }
    }

    /// The subject filter that matches every rendering (`hpti.events.>`).
    pub fn wildcard(&self) -> String {
        match &self.after {
            None => self.before.clone(),
            Some(after) if after.is_empty() => format!("{}>", self.before),
            Some(after) => format!("{}*{after}", self.before),
        }
    }
}

/// Publishes events to JetStream.
pub struct NatsSink {
    js: jetstream::Context,
    client: async_nats::Client,
    template: SubjectTemplate,
    stream: String,
    sensors: Arc<Mutex<BTreeSet<String>>>,
    published: Counter,
    duplicates: Counter,
    stop: CancellationToken,
}

/// Most sensor names a heartbeat lists: names come from events, which come from logs.
const MAX_SENSORS: usize = 256;

impl NatsSink {
    fn note_sensor(&self, sensor: &str) {
        let mut sensors = match self.sensors.lock() {
            Ok(sensors) => sensors,
            Err(poisoned) => poisoned.into_inner(),
        };
        if sensors.len() < MAX_SENSORS && !sensors.contains(sensor) {
            sensors.insert(sensor.to_owned());
        }
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn name(&self) -> &str {
        "nats"
    }

    fn capabilities(&self) -> SinkCapabilities {
        // JetStream drops a repeated Nats-Msg-Id within its duplicate window; past it the
        // center's sinks, idempotent on the event id, store each event once.
        SinkCapabilities::DURABLE_IDEMPOTENT
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        let mut report = WriteReport::delivered();
        let mut pending = Vec::with_capacity(events.len());
        let max_payload = self.client.server_info().max_payload;
        let mut last_sensor: Option<&str> = None;
        for (index, event) in events.iter().enumerate() {
            if last_sensor != Some(event.sensor.as_str()) {
                self.note_sensor(&event.sensor);
                last_sensor = Some(&event.sensor);
            }
            let payload = match serde_json::to_vec(event) {
                Ok(payload) => payload,
                Err(e) => {
                    report = report.reject(index, format!("cannot encode the event: {e}"));
                    continue;
                }
            };
            if max_payload > 0 && payload.len() > max_payload {
                report = report.reject(
                    index,
                    format!(
                        "event of {} bytes is over the server's max_payload of {max_payload}",
                        payload.len()
                    ),
                );
                continue;
            }
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
            let publish = PublishMessage::build()
                .payload(Bytes::from(payload))
                .headers(headers);
            match self
                .js
                .send_publish(self.template.render(&event.sensor), publish)
                .await
            {
                Ok(ack) => pending.push((index, ack)),
                Err(e) => report = report.retry(index, format!("publish: {e}")),
            }
        }
        let acks = futures::future::join_all(
            pending
                .into_iter()
                .map(|(index, ack)| async move { (index, ack.await) }),
        )
        .await;
        let mut failed = report.retry.len();
        let mut first_error = report.retry.first().map(|r| r.reason.clone());
        for (index, ack) in acks {
            match ack {
                Ok(ack) => {
                    self.published.inc();
                    if ack.duplicate {
                        self.duplicates.inc();
                    }
                }
                Err(e) => {
                    let reason = format!("JetStream did not acknowledge: {e}");
                    failed += 1;
                    first_error.get_or_insert_with(|| reason.clone());
                    report = report.retry(index, reason);
                }
            }
        }
        if failed > 0 && failed == events.len() {
            // Nothing went through: one error for the batch, not one per event.
            return Err(SinkError::msg(
                hpti_core::error::ErrorClass::Temporary,
                format!(
                    "stream {}: {}",
                    self.stream,
                    first_error.unwrap_or_default()
                ),
            ));
        }
        Ok(report)
    }

    async fn close(&self) -> Result<(), SinkError> {
        self.stop.cancel();
        // Heartbeats and acks queued in the client go out before the process exits.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
        Ok(())
    }
}

/// What the heartbeat reads of this sink's side of the pipeline.
pub(crate) fn sink_delivered(metrics: &PipelineMetrics, sink_id: &str) -> u64 {
    metrics.get("sink", sink_id, "delivered")
}

impl HeartbeatSource {
    /// The heartbeat now.
    pub(crate) fn beat(&self, uptime: Duration, events_per_s: f64) -> Heartbeat {
        let sensors = match self.sensors.lock() {
            Ok(sensors) => sensors.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        };
        Heartbeat {
            host: self.host.clone(),
            sensors,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: uptime.as_secs(),
            buffer_bytes: u64::try_from(self.metrics.queue_depth_now("buffer_bytes")).unwrap_or(0),
            buffer_refused: self.metrics.get("buffer", "disk", "refused_full"),
            events_per_s,
            delivered: sink_delivered(&self.metrics, &self.sink_id),
            time: hpti_core::event::Timestamp::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn subject_templates() {
        let t = SubjectTemplate::parse("hpti.events.{sensor}").unwrap();
        assert_eq!(t.render("ssh-1"), "hpti.events.ssh-1");
        assert_eq!(t.render("evil.>"), "hpti.events.evil__");
        assert_eq!(t.wildcard(), "hpti.events.>");
        let t = SubjectTemplate::parse("a.{sensor}.b").unwrap();
        assert_eq!(t.wildcard(), "a.*.b");
        assert_eq!(
            SubjectTemplate::parse("fixed.subject").unwrap().wildcard(),
            "fixed.subject"
        );
        for bad in ["a.b{sensor}", "a.>", "a..b", "{sensor}.{sensor}", ""] {
            assert!(SubjectTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
