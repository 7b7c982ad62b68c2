//! `[sinks.<id>] type = "misp"`: pushes new indicators to a MISP instance through its
//! REST API, one MISP event per UTC day, and records sightings of the ones it pushed
//! before instead of adding them again.
//!
//! Each batch of stored events becomes the day events [`MispBuilder`] makes. Their
//! attributes and `cowrie` objects not pushed yet go to `POST /events/add` (or
//! `/events/edit/<uuid>` once the event exists: MISP answers an add of a known uuid with
//! a `404` "already exists"), and so does one whose content changed (an address now for
//! detection, a session object with its login); indicator values pushed before get one
//! `POST /sightings/add`. Every uuid is derived from the content, so a push repeated after
//! a restart (which forgets what was pushed) updates the same attributes in MISP rather
//! than duplicating them; sightings are at least once (a retried batch sights again).
//!
//! Failures are classified as MISP documents them: a `403` (bad key, no permission) is
//! permanent, a `429` is retried after its `Retry-After`, `5xx` and timeouts are
//! retried.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::event::{Event, Timestamp};
use hpti_core::pipeline::BatchConfig;
use hpti_core::secret::{Secret, secret_from};
use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};
use prometheus_client::metrics::counter::Counter;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Grouping, MispBuilder, MispOptions};
use crate::IntelConfig;

/// Uuids of pushed attributes and objects remembered (the oldest are forgotten first:
/// pushing one again is an update, not a duplicate).
const MAX_REMEMBERED: usize = 200_000;
/// The most of an answer read.
const MAX_BODY: usize = 64 << 10;
/// The most of MISP's error text kept in an error message.
const MAX_DETAIL: usize = 300;

/// `[sinks.<id>] type = "misp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MispSinkConfig {
    /// The MISP instance (`https://misp.example.org`).
    pub url: String,
    /// Its API key (a secret; sent as MISP's `Authorization` header).
    #[serde(default)]
    pub key: Option<Secret>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// One request's time limit.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Most events per push.
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    /// How long a batch waits for more events.
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub batch_linger: Duration,
    /// `[intel]`, filled in by the configuration (what is never shared, the identity,
    /// the TLP).
    #[serde(skip)]
    pub intel: IntelConfig,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_batch_events() -> usize {
    1_000
}

fn default_linger() -> Duration {
    Duration::from_secs(10)
}

impl MispSinkConfig {
    fn base_url(&self) -> Result<reqwest::Url, BuildError> {
        let mut url = reqwest::Url::parse(&self.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| BuildError::msg("not an http(s) URL").at_key("url"))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }
}

#[async_trait]
impl SinkConfig for MispSinkConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        self.check(cx)?;
        let key = secret_from(self.key.as_ref(), self.key_env.as_deref(), "key")?
            .ok_or_else(|| BuildError::msg("give `key` or `key_env`").at_key("key"))?;
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hpti/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::new("cannot build the HTTP client", e))?;
        let id = cx.id.as_str();
        let counter = |outcome| cx.metrics.counter("misp", id, outcome);
        let sink = MispSink {
            base: self.base_url()?,
            key,
            client,
            options: MispOptions {
                identity: self.intel.identity.clone(),
                tlp: self.intel.tlp,
                grouping: Grouping::Day,
            },
            intel: self.intel.clone(),
            pushed: Mutex::new(Remembered::default()),
            counters: MispCounters {
                attributes: counter("attributes_pushed"),
                sightings: counter("sightings"),
                unmatched: counter("sightings_unmatched"),
            },
        };
        let batch = BatchConfig::new(self.batch_max_events.max(1), 16 << 20, self.batch_linger, 1);
        Ok(BuiltSink::new(Arc::new(sink)).with_batching(batch))
    }

    fn check(&self, _cx: &BuildContext) -> Result<(), BuildError> {
        self.base_url()?;
        secret_from(self.key.as_ref(), self.key_env.as_deref(), "key")?;
        if self.key.is_none() && self.key_env.is_none() {
            return Err(BuildError::msg("give `key` or `key_env`").at_key("key"));
        }
        Ok(())
    }
}

/// What was pushed: event uuids known to exist, and each attribute's and object's
/// content (a hash of what MISP should hold), first in first out.
#[derive(Default)]
struct Remembered {
    events: HashSet<String>,
    content: HashMap<String, u64>,
    order: VecDeque<String>,
}

impl Remembered {
    fn insert(&mut self, uuid: String, hash: u64) {
        if self.content.insert(uuid.clone(), hash).is_none() {
            self.order.push_back(uuid);
        }
        while self.order.len() > MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.content.remove(&old);
            }
        }
        if self.events.len() > MAX_REMEMBERED {
            self.events.clear();
        }
    }

    /// Whether MISP already holds this content under `uuid`.
    fn holds(&self, uuid: &str, hash: u64) -> bool {
        self.content.get(uuid) == Some(&hash)
    }

    /// Whether `uuid` was pushed, whatever its content then.
    fn knows(&self, uuid: &str) -> bool {
        self.content.contains_key(uuid)
    }
}

/// What of an attribute MISP should be told again when it changes: what it is and
/// whether it is for detection (per-batch counts and times are not).
fn attribute_hash(attribute: &Value) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for key in ["type", "category", "value", "to_ids"] {
        attribute[key].to_string().hash(&mut hasher);
    }
    hasher.finish()
}

/// An object's attributes, in order.
fn object_hash(object: &Value) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut parts: Vec<String> = object["Attribute"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{}={}", a["object_relation"], a["value"]))
        .collect();
    parts.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// Types whose value means the same wherever MISP holds it: these are sighted by value.
/// A command line, a file name or a password is not sighted (it would mark every
/// attribute of any event with that text).
const SIGHTED_TYPES: &[&str] = &[
    "ip-src",
    "ip-dst",
    "url",
    "domain",
    "sha256",
    "md5",
    "sha1",
    "hassh-md5",
];

struct MispCounters {
    attributes: Counter,
    sightings: Counter,
    unmatched: Counter,
}

/// Pushes to one MISP instance.
pub struct MispSink {
    base: reqwest::Url,
    key: Secret,
    client: reqwest::Client,
    options: MispOptions,
    intel: IntelConfig,
    pushed: Mutex<Remembered>,
    counters: MispCounters,
}

impl std::fmt::Debug for MispSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MispSink")
            .field("url", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What MISP answered.
struct Answer {
    status: StatusCode,
    body: Value,
}

fn detail(body: &Value) -> String {
    let text = body["message"]
        .as_str()
        .or_else(|| body["name"].as_str())
        .map_or_else(|| body.to_string(), str::to_owned);
    text.chars().take(MAX_DETAIL).collect()
}

impl MispSink {
    async fn post(&self, path: &str, body: &Value) -> Result<Answer, SinkError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| SinkError::permanent("bad MISP URL", e))?;
        let response = self
            .client
            .post(url)
            .header("Authorization", self.key.expose())
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| SinkError::temporary("MISP did not answer", e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // MISP answers an add or an edit with the whole event: only its start is read
        // (enough for an error's message).
        let mut response = response;
        let mut bytes = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_BODY.saturating_sub(bytes.len());
            bytes.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if bytes.len() >= MAX_BODY {
                break;
            }
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match status {
            s if s.is_success() => Ok(Answer { status, body }),
            StatusCode::NOT_FOUND => Ok(Answer { status, body }),
            StatusCode::TOO_MANY_REQUESTS => Err(SinkError::rate_limited(
                format!("MISP: {}", detail(&body)),
                retry_after,
            )),
            s if s.is_server_error() => Err(SinkError::temporary(
                format!("MISP answered {s}"),
                detail(&body),
            )),
            s => Err(SinkError::permanent(
                format!("MISP refused {path} ({s})"),
                detail(&body),
            )),
        }
    }

    /// Adds `event` (its new parts), or edits it when MISP has it.
    async fn upsert(&self, uuid: &str, event: &Value, exists: bool) -> Result<(), SinkError> {
        let (first, second) = if exists {
            (format!("events/edit/{uuid}"), "events/add".to_owned())
        } else {
            ("events/add".to_owned(), format!("events/edit/{uuid}"))
        };
        // An edit does not lower the threat level an earlier batch set (3 is "low").
        let mut edit = event.clone();
        if edit["Event"]["threat_level_id"] == "3"
            && let Some(fields) = edit["Event"].as_object_mut()
        {
            fields.remove("threat_level_id");
        }
        let body = |path: &str| {
            if path.starts_with("events/edit") {
                &edit
            } else {
                event
            }
        };
        let answer = self.post(&first, body(&first)).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        // 404: an add of a uuid MISP has ("already exists"), or an edit of one it does
        // not (deleted there): the other way round.
        let again = self.post(&second, body(&second)).await?;
        if again.status.is_success() {
            Ok(())
        } else {
            Err(SinkError::permanent(
                format!("MISP refused event {uuid}"),
                detail(&again.body),
            ))
        }
    }

    /// Pushes one day event: new parts added, known values sighted.
    async fn push(&self, mut event: Value) -> Result<(), SinkError> {
        let uuid = event["Event"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (exists, new_attributes, known_values, new_objects) = {
            let pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
            let mut new_attributes = Vec::new();
            let mut known_values = Vec::new();
            for attribute in event["Event"]["Attribute"].as_array().into_iter().flatten() {
                let id = attribute["uuid"].as_str().unwrap_or_default();
                if pushed.knows(id) {
                    let sighted = SIGHTED_TYPES.contains(&attribute["type"].as_str().unwrap_or(""));
                    if sighted && let Some(value) = attribute["value"].as_str() {
                        known_values.push(value.to_owned());
                    }
                }
                if !pushed.holds(id, attribute_hash(attribute)) {
                    // Changed (now for detection, say) or new: sent. MISP skips an
                    // attribute whose timestamp is not newer than its copy: it stamps
                    // them itself.
                    let mut attribute = attribute.clone();
                    if let Some(fields) = attribute.as_object_mut() {
                        fields.remove("timestamp");
                    }
                    new_attributes.push(attribute);
                }
            }
            let new_objects: Vec<Value> = event["Event"]["Object"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| !pushed.holds(o["uuid"].as_str().unwrap_or_default(), object_hash(o)))
                .cloned()
                .collect();
            (
                pushed.events.contains(&uuid),
                new_attributes,
                known_values,
                new_objects,
            )
        };
        if !new_attributes.is_empty() || !new_objects.is_empty() {
            let contents: Vec<(String, u64)> = new_attributes
                .iter()
                .map(|a| (a, attribute_hash(a)))
                .chain(new_objects.iter().map(|o| (o, object_hash(o))))
                .filter_map(|(v, hash)| v["uuid"].as_str().map(|id| (id.to_owned(), hash)))
                .collect();
            let count = new_attributes.len() as u64;
            if let Some(fields) = event["Event"].as_object_mut() {
                // The same rule as for attributes: MISP stamps the event.
                fields.remove("timestamp");
                fields.insert("Attribute".into(), Value::from(new_attributes));
                fields.insert("Object".into(), Value::from(new_objects));
            }
            self.upsert(&uuid, &event, exists).await?;
            self.counters.attributes.inc_by(count);
            let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
            pushed.events.insert(uuid);
            for (id, hash) in contents {
                pushed.insert(id, hash);
            }
        }
        if !known_values.is_empty() {
            let sighting = json!({
                "values": known_values,
                "source": self.options.identity,
                "timestamp": Timestamp::now().as_micros().div_euclid(1_000_000),
            });
            let answer = self.post("sightings/add", &sighting).await?;
            // MISP says "Could not add the Sighting" with a 200 when no attribute
            // matched (deleted there): counted, not retried.
            let message = answer.body["message"].as_str().unwrap_or_default();
            if !answer.status.is_success() || message.starts_with("Could not") {
                self.counters.unmatched.inc();
                tracing::debug!(message, "MISP matched no attribute for a sighting");
            } else {
                self.counters.sightings.inc_by(known_values_len(&sighting));
            }
        }
        Ok(())
    }
}

fn known_values_len(sighting: &Value) -> u64 {
    sighting["values"].as_array().map_or(0, |v| v.len() as u64)
}

#[async_trait]
impl Sink for MispSink {
    fn name(&self) -> &str {
        "misp"
    }

    fn capabilities(&self) -> SinkCapabilities {
        // Attributes and events are idempotent (uuids from the content), but a batch
        // retried after its sightings were sent sights its values again.
        SinkCapabilities::DURABLE
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        let mut builder = MispBuilder::new(self.options.clone(), self.intel.ioc_options());
        for event in events {
            builder.observe(event);
        }
        for event in builder.finish() {
            self.push(event).await?;
        }
        Ok(WriteReport::delivered())
    }
}
