//! The fleet view: each edge publishes a heartbeat to `hpti.fleet.<host>`; the center
//! records the last one of each edge in `<data dir>/fleet.json`, which `hpti fleet`
//! reads and flags edges silent for longer than `fleet.silent_after`.
//!
//! Heartbeats are plain NATS messages, not JetStream ones: only the latest matters, and
//! an edge that cannot reach NATS is exactly what its silence should show.
//!
//! The center also shows each heartbeat to its alert rules, as an event no sink stores
//! ([`heartbeat_event`]), so that a `flatline` rule alerts on an edge gone silent
//! (`rules/edge-silent.yml`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::RuleObserver;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The subject prefix of heartbeats (`hpti.fleet.<host>`).
pub const FLEET_SUBJECT_PREFIX: &str = "hpti.fleet.";

/// Most edges the center remembers; heartbeats of more are dropped and counted.
pub const MAX_EDGES: usize = 10_000;

/// The `data.original_type` of the events that show heartbeats to the alert rules.
pub const HEARTBEAT_EVENT_TYPE: &str = "hpti.heartbeat";

/// Largest heartbeat the center reads, in bytes.
const MAX_HEARTBEAT_BYTES: usize = 64 * 1024;

/// One edge's report of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The edge's name (the subject's last token).
    pub host: String,
    /// Its sensors and sources.
    pub sensors: Vec<String>,
    /// The hpti version it runs.
    pub version: String,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// Bytes waiting in its outbox (the disk buffer).
    pub buffer_bytes: u64,
    /// Events its outbox refused because it was full, since start.
    pub buffer_refused: u64,
    /// Events per second published to JetStream since the last heartbeat.
    pub events_per_s: f64,
    /// Events published and acknowledged since start.
    pub delivered: u64,
    /// When the edge sent it (its clock).
    pub time: Timestamp,
}

/// What an edge's heartbeat task reads.
#[derive(Debug, Clone)]
pub(crate) struct HeartbeatSource {
    pub(crate) host: String,
    pub(crate) sensors: Arc<Mutex<BTreeSet<String>>>,
    pub(crate) metrics: PipelineMetrics,
    pub(crate) sink_id: String,
}

/// The machine's host name (`/proc/sys/kernel/hostname`), or `edge`.
pub fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "edge".to_owned())
}

/// Publishes a heartbeat every `every` until `stop`.
pub(crate) async fn publish_heartbeats(
    client: async_nats::Client,
    source: HeartbeatSource,
    every: Duration,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let subject = format!("{FLEET_SUBJECT_PREFIX}{}", source.host);
    let mut last = (
        Instant::now(),
        crate::sink::sink_delivered(&source.metrics, &source.sink_id),
    );
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let delivered = crate::sink::sink_delivered(&source.metrics, &source.sink_id);
        let elapsed = last.0.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            delivered.saturating_sub(last.1) as f64 / elapsed
        } else {
            0.0
        };
        last = (Instant::now(), delivered);
        let beat = source.beat(started.elapsed(), (rate * 10.0).round() / 10.0);
        let Ok(payload) = serde_json::to_vec(&beat) else {
            continue;
        };
        // While disconnected the client queues a few messages and drops the rest: a
        // heartbeat is worth nothing late.
        if let Err(e) = client.publish(subject.clone(), payload.into()).await {
            tracing::debug!(error = %e, "heartbeat not sent");
        }
    }
}

/// An edge as the center last heard it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeRecord {
    /// Its last heartbeat.
    pub heartbeat: Heartbeat,
    /// When the center received it (the center's clock).
    pub last_seen: Timestamp,
}

/// The center's record of its edges (`fleet.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// By host name.
    pub edges: BTreeMap<String, EdgeRecord>,
}

/// `fleet.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a fleet record.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

impl FleetRecord {
    /// The record's file in a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("fleet.json")
    }

    /// Reads the record a center wrote (empty when it has heard no edge yet).
    pub fn load(data_dir: &Path) -> Result<Self, FleetError> {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| FleetError::Format { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(FleetError::Io { path, source }),
        }
    }

    fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = Self::path(data_dir);
        let temporary = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, &path)
    }

    /// Records a heartbeat received now. False when it was refused (too many edges).
    pub fn record(&mut self, heartbeat: Heartbeat, now: Timestamp) -> bool {
        if self.edges.len() >= MAX_EDGES && !self.edges.contains_key(&heartbeat.host) {
            return false;
        }
        self.edges.insert(
            heartbeat.host.clone(),
            EdgeRecord {
                heartbeat,
                last_seen: now,
            },
        );
        true
    }

    /// The edges silent for longer than `silent_after` at `now`.
    pub fn silent(&self, now: Timestamp, silent_after: Duration) -> Vec<&EdgeRecord> {
        self.edges
            .values()
            .filter(|edge| is_silent(edge, now, silent_after))
            .collect()
    }
}

/// The event that shows an edge's heartbeat to the alert rules (no sink stores it):
/// `sensor` is the edge's host name, `time` when the center received it, `kind` is
/// `unknown` with `data.original_type` = [`HEARTBEAT_EVENT_TYPE`] and the heartbeat's
/// fields under `data.fields`. The center does not know the edge's address: `src_ip` is
/// `0.0.0.0`.
pub fn heartbeat_event(beat: &Heartbeat, received: Timestamp) -> Event {
    let fields = match serde_json::to_value(beat) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    Event::new(
        beat.host.clone(),
        Protocol::Other("nats".into()),
        std::net::IpAddr::from([0, 0, 0, 0]),
        EventKind::Unknown {
            original_type: HEARTBEAT_EVENT_TYPE.into(),
            fields,
        },
    )
    .with_time(received)
}

/// Whether an edge has been silent for longer than `silent_after` at `now`.
pub fn is_silent(edge: &EdgeRecord, now: Timestamp, silent_after: Duration) -> bool {
    let silent_us = now.as_micros().saturating_sub(edge.last_seen.as_micros());
    u128::try_from(silent_us).unwrap_or(0) > silent_after.as_micros()
}

/// Records heartbeats from `hpti.fleet.*` into `<data_dir>/fleet.json` and shows them
/// to the alert rules until `stop`.
pub(crate) async fn record_heartbeats(
    client: async_nats::Client,
    data_dir: PathBuf,
    metrics: PipelineMetrics,
    component: String,
    rules: RuleObserver,
    stop: CancellationToken,
) {
    let mut subscription = match client.subscribe(format!("{FLEET_SUBJECT_PREFIX}*")).await {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe to heartbeats; `hpti fleet` will be empty");
            return;
        }
    };
    let mut fleet = match FleetRecord::load(&data_dir) {
        Ok(fleet) => fleet,
        Err(e) => {
            tracing::warn!(error = %e, "starting a new fleet record");
            FleetRecord::default()
        }
    };
    // The edges known before a restart are shown as last heard of, so that a `flatline`
    // rule still notices one that went silent while the center was down.
    rules.observe_all(
        fleet
            .edges
            .values()
            .map(|edge| heartbeat_event(&edge.heartbeat, edge.last_seen))
            .collect(),
    );
    let counter = |outcome| metrics.counter("fleet", &component, outcome);
    let (recorded, refused) = (counter("recorded"), counter("refused"));
    let mut dirty = false;
    let mut saves = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = saves.tick() => {
                if dirty {
                    if let Err(e) = fleet.save(&data_dir) {
                        tracing::warn!(error = %e, "cannot write fleet.json");
                    }
                    dirty = false;
                }
            }
            message = subscription.next() => {
                let Some(message) = message else { break };
                let host = message.subject.as_str().strip_prefix(FLEET_SUBJECT_PREFIX).unwrap_or_default();
                let beat = (message.payload.len() <= MAX_HEARTBEAT_BYTES)
                    .then(|| serde_json::from_slice::<Heartbeat>(&message.payload).ok())
                    .flatten();
                match beat {
                    // The subject, not the payload, names the edge: one edge's
                    // credentials may be limited to its own subject.
                    Some(mut beat) if !host.is_empty() => {
                        beat.host = host.to_owned();
                        beat.sensors.truncate(256);
                        let now = Timestamp::now();
                        let event = heartbeat_event(&beat, now);
                        if fleet.record(beat, now) {
                            rules.observe(event);
                            recorded.inc();
                            dirty = true;
                        } else {
                            refused.inc();
                        }
                    }
                    _ => {
                        refused.inc();
                    }
                }
            }
        }
    }
    if dirty {
        if let Err(e) = fleet.save(&data_dir) {
            tracing::warn!(error = %e, "cannot write fleet.json");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn beat(host: &str) -> Heartbeat {
        Heartbeat {
            host: host.into(),
            sensors: vec!["ssh".into()],
            version: "0.1.0".into(),
            uptime_s: 5,
            buffer_bytes: 0,
            buffer_refused: 0,
            events_per_s: 1.5,
            delivered: 10,
            time: Timestamp::now(),
        }
    }

    #[test]
    fn silence_is_measured_from_the_last_heartbeat() {
        let mut fleet = FleetRecord::default();
        let t0 = Timestamp::from_micros(1_000_000_000);
        fleet.record(beat("a"), t0);
        fleet.record(beat("b"), Timestamp::from_micros(1_050_000_000));
        let now = Timestamp::from_micros(1_070_000_000);
        let silent: Vec<_> = fleet
            .silent(now, Duration::from_secs(60))
            .iter()
            .map(|e| e.heartbeat.host.clone())
            .collect();
        assert_eq!(silent, ["a"]);
        assert!(fleet.silent(now, Duration::from_secs(71)).is_empty());
    }

    #[test]
    fn a_heartbeat_event_carries_the_edge_and_its_fields_where_rules_find_them() {
        let received = Timestamp::from_micros(1_700_000_000_000_000);
        let event = heartbeat_event(&beat("edge-7"), received);
        assert_eq!(event.sensor, "edge-7");
        assert_eq!(event.time, received);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "unknown");
        assert_eq!(json["data"]["original_type"], HEARTBEAT_EVENT_TYPE);
        assert_eq!(json["data"]["fields"]["host"], "edge-7");
        assert_eq!(json["data"]["fields"]["delivered"], 10);
    }

    #[test]
    fn the_record_is_capped_and_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut fleet = FleetRecord::default();
        for i in 0..MAX_EDGES {
            assert!(fleet.record(beat(&format!("e{i}")), Timestamp::now()));
        }
        assert!(!fleet.record(beat("one-too-many"), Timestamp::now()));
        assert!(
            fleet.record(beat("e1"), Timestamp::now()),
            "known edges update"
        );
        fleet.save(dir.path()).unwrap();
        assert_eq!(FleetRecord::load(dir.path()).unwrap(), fleet);
        assert_eq!(
            FleetRecord::load(&dir.path().join("none")).unwrap(),
            FleetRecord::default()
        );
    }
}
