//! The stream and the consumer (`hpti nats setup`): created when absent, compared with
//! the config when present.
//!
//! The stream is a **work queue** (`retention = workqueue`): a message is removed once the
//! center acknowledged it, that is once every durable sink stored it. The broker then
//! holds exactly the backlog the center has not stored, whatever the traffic, and its
//! `max_bytes` bounds that backlog; `discard = new` makes a full stream refuse new
//! publishes, so the edges keep events in their outboxes rather than the broker dropping
//! old ones. A limits-based stream would keep every message for `max_age` and allow
//! replays by other consumers, but its disk use would follow traffic, not backlog, and a
//! full stream would drop the oldest undelivered events. Several center processes share
//! the one durable consumer, which a work queue requires anyway (one consumer per
//! subject).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use hpti_core::component::BuildError;

/// The stream's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// Its name (`HPTI`).
    pub name: String,
    /// Its subjects (`hpti.events.>`).
    pub subjects: Vec<String>,
    /// Most bytes it holds (the center's backlog); -1: no limit.
    pub max_bytes: i64,
    /// How long a `Nats-Msg-Id` is remembered to drop duplicates.
    pub duplicate_window: Duration,
    /// Largest message.
    pub max_message_size: i32,
    /// Copies in a cluster.
    pub replicas: usize,
}

impl StreamSettings {
    /// The defaults for a stream `name` of `subjects`: 1 GiB (JetStream reserves a
    /// stream's `max_bytes` out of the server's storage when the stream is created), 2
    /// minutes of duplicate detection (JetStream's default), 1 MiB messages, one replica.
    pub fn new(name: impl Into<String>, subjects: Vec<String>) -> Self {
        Self {
            name: name.into(),
            subjects,
            max_bytes: 1024 * 1024 * 1024,
            duplicate_window: Duration::from_secs(120),
            max_message_size: 1024 * 1024,
            replicas: 1,
        }
    }

    fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            retention: stream::RetentionPolicy::WorkQueue,
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            max_message_size: self.max_message_size,
            num_replicas: self.replicas,
            description: Some("hpti events from edge sensors".into()),
            ..Default::default()
        }
    }
}

/// The center's durable pull consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSettings {
    /// Its durable name, shared by every center process.
    pub name: String,
    /// How long a delivered message may stay unacknowledged before JetStream delivers it
    /// again (to this or another center process).
    pub ack_wait: Duration,
    /// Most messages delivered and not yet acknowledged, over all center processes.
    pub max_ack_pending: i64,
}

impl ConsumerSettings {
    /// Defaults: 60 s to acknowledge, 50,000 messages pending.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 50_000,
        }
    }

    fn config(&self) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some(self.name.clone()),
            description: Some("hpti center".into()),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            // Never give up on a message: an event is dropped only by a sink's refusal,
            // into the dead-letter file, never by the broker.
            max_deliver: -1,
            max_ack_pending: self.max_ack_pending,
            ..Default::default()
        }
    }
}

/// What setup found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    /// It did not exist and was created.
    Created,
    /// It exists as configured.
    Matches,
    /// It exists and was changed to match the config.
    Updated(Vec<String>),
    /// It exists and differs; each line says how.
    Differs(Vec<String>),
}

/// Setup could not talk to JetStream or was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Checks a stream name: JetStream refuses `.`, `*`, `>`, spaces and path separators.
pub fn check_stream_name(name: &str) -> Result<(), BuildError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.chars().any(|c| {
            matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control()
        });
    if bad {
        Err(BuildError::msg(format!(
            "{name:?} is not a stream name (no `.`, `*`, `>`, `/` or spaces)"
        )))
    } else {
        Ok(())
    }
}

fn stream_differences(have: &stream::Config, want: &StreamSettings) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut fixable = true;
    if have.retention != stream::RetentionPolicy::WorkQueue {
        lines.push(format!(
            "retention is {:?}, hpti needs WorkQueue (it cannot be changed: delete the stream or name another)",
            have.retention
        ));
        fixable = false;
    }
    if have.discard != stream::DiscardPolicy::New {
        lines.push(format!("discard is {:?}, want New", have.discard));
    }
    for subject in &want.subjects {
        if !have.subjects.contains(subject) {
            lines.push(format!("subjects {:?} lack {subject:?}", have.subjects));
        }
    }
    if have.max_bytes != want.max_bytes {
        lines.push(format!(
            "max_bytes is {}, want {}",
            have.max_bytes, want.max_bytes
        ));
    }
    if have.duplicate_window != want.duplicate_window {
        lines.push(format!(
            "duplicate_window is {:?}, want {:?}",
            have.duplicate_window, want.duplicate_window
        ));
    }
    (lines, fixable)
}

/// Creates the stream if absent; otherwise compares it, and with `update` changes what
/// can be changed.
pub async fn ensure_stream(
    js: &jetstream::Context,
    want: &StreamSettings,
    update: bool,
) -> Result<SetupOutcome, SetupError> {
    match js.get_stream(&want.name).await {
        Ok(mut existing) => {
            let info = existing
                .info()
                .await
                .map_err(|e| SetupError(format!("stream {}: {e}", want.name)))?;
            let have = info.config.clone();
            let (lines, fixable) = stream_differences(&have, want);
            if lines.is_empty() {
                return Ok(SetupOutcome::Matches);
            }
            if !update || !fixable {
                return Ok(SetupOutcome::Differs(lines));
            }
            let mut config = want.config();
            // Keep subjects others added.
            for subject in have.subjects {
                if !config.subjects.contains(&subject) {
                    config.subjects.push(subject);
                }
            }
            js.update_stream(config)
                .await
                .map_err(|e| SetupError(format!("updating stream {}: {e}", want.name)))?;
            Ok(SetupOutcome::Updated(lines))
        }
        Err(e)
            if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(js)
                if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            js.create_stream(want.config())
                .await
                .map_err(|e| SetupError(format!("creating stream {}: {e}", want.name)))?;
            Ok(SetupOutcome::Created)
        }
        Err(e) => Err(SetupError(format!("stream {}: {e}", want.name))),
    }
}

/// Creates the durable consumer if absent; otherwise compares it, and with `update`
/// changes what can be changed.
pub async fn ensure_consumer(
    js: &jetstream::Context,
    stream: &str,
    want: &ConsumerSettings,
    update: bool,
) -> Result<SetupOutcome, SetupError> {
    let handle = js
        .get_stream_no_info(stream)
        .await
        .map_err(|e| SetupError(format!("stream {stream}: {e}")))?;
    match handle.consumer_info(&want.name).await {
        Ok(info) => {
            let have = &info.config;
            let mut lines = Vec::new();
            if have.ack_policy != consumer::AckPolicy::Explicit {
                lines.push(format!(
                    "ack_policy is {:?}, hpti needs Explicit (delete the consumer or name another)",
                    have.ack_policy
                ));
                return Ok(SetupOutcome::Differs(lines));
            }
            if have.ack_wait != want.ack_wait {
                lines.push(format!(
                    "ack_wait is {:?}, want {:?}",
                    have.ack_wait, want.ack_wait
                ));
            }
            if have.max_ack_pending != want.max_ack_pending {
                lines.push(format!(
                    "max_ack_pending is {}, want {}",
                    have.max_ack_pending, want.max_ack_pending
                ));
            }
            if have.max_deliver > 0 {
                lines.push(format!(
                    "max_deliver is {}: JetStream would drop events after that many deliveries, want -1",
                    have.max_deliver
                ));
            }
            if lines.is_empty() {
                Ok(SetupOutcome::Matches)
            } else if update {
                // JetStream 2.9 updates a durable's editable fields through create.
                handle
                    .create_consumer(want.config())
                    .await
                    .map_err(|e| SetupError(format!("updating consumer {}: {e}", want.name)))?;
                Ok(SetupOutcome::Updated(lines))
            } else {
                Ok(SetupOutcome::Differs(lines))
            }
        }
        Err(e) if e.to_string().contains("not found") => {
            handle
                .create_consumer(want.config())
                .await
                .map_err(|e| SetupError(format!("creating consumer {}: {e}", want.name)))?;
            Ok(SetupOutcome::Created)
        }
        Err(e) => Err(SetupError(format!("consumer {}: {e}", want.name))),
    }
}
