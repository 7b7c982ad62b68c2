//! The center's source (`[sources.<id>] type = "nats"`): a durable pull consumer on the
//! edges' stream feeds the normal pipeline (validate, enrich, sinks, alert rules).
//!
//! Messages are cut into batches (by count and a short linger); each batch shares one
//! end-to-end acknowledgement, and its messages are acknowledged to JetStream only when
//! every durable sink stored (or dead-lettered) every event of it. A center that crashes
//! first has its unacknowledged messages delivered again after `ack_wait`, to itself
//! after a restart or to another center process on the same consumer; the sinks,
//! idempotent on the event id, store each event once. A batch the pipeline could not
//! account for (torn down mid-write) is negatively acknowledged and redelivered at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use async_trait::async_trait;
use futures::StreamExt as _;
use hpti_core::ack::AckBatch;
use hpti_core::component::{BuildContext, BuildError, SourceConfig};
use hpti_core::dead_letter::{DeadLetter, DeadLetterStage};
use hpti_core::event::Event;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::{Envelope, Origin};
use hpti_core::source::{Source, SourceContext, SourceError};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::connect::{NatsAuth, NatsConnect, NatsTls};
use crate::setup::{ConsumerSettings, SetupOutcome, StreamSettings};

/// The NATS source's keys.
///
/// ```toml
/// [sources.edge]
/// type = "nats"
/// url = "nats://127.0.0.1:4222"
/// stream = "HPTI"
/// consumer = "hpti-center"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSourceConfig {
    /// The server(s): `nats://host:port`, `tls://host:port`, comma-separated.
    pub url: String,
    /// The stream the edges publish to.
    pub stream: String,
    /// The durable consumer's name; every center process that shares it shares the work.
    pub consumer: String,
    /// The stream's subjects, when the center creates it (`hpti.events.>`).
    pub subjects: Vec<String>,
    /// Credentials.
    pub auth: NatsAuth,
    /// TLS.
    pub tls: NatsTls,
    /// Create the stream and the consumer at start when they do not exist (as
    /// `hpti nats setup` does); `false` makes a missing one an error.
    pub create: bool,
    /// Most events in one batch (one acknowledgement).
    pub batch: usize,
    /// Longest the first message of a batch waits for the batch to fill.
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Batches handed to the pipeline and not yet acknowledged, at most.
    pub max_batches_in_flight: usize,
    /// JetStream redelivers a message not acknowledged within this.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Most messages delivered and unacknowledged over all center processes.
    pub max_ack_pending: i64,
    /// The stream's cap in bytes when the center creates it (the backlog the broker
    /// holds for the center; a full stream refuses publishes and the edges buffer).
    pub stream_max_bytes: i64,
    /// How long JetStream remembers a `Nats-Msg-Id`, when the center creates the stream.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Record the edges' heartbeats for `hpti fleet`.
    pub fleet: bool,
}

impl Default for NatsSourceConfig {
    fn default() -> Self {
        let stream = StreamSettings::new("HPTI", vec!["hpti.events.>".into()]);
        let consumer = ConsumerSettings::new("hpti-center");
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: stream.name,
            consumer: consumer.name,
            subjects: stream.subjects,
            auth: NatsAuth::default(),
            tls: NatsTls::default(),
            create: true,
            batch: 1_000,
            linger: Duration::from_millis(20),
            max_batches_in_flight: 16,
            ack_wait: consumer.ack_wait,
            max_ack_pending: consumer.max_ack_pending,
            stream_max_bytes: stream.max_bytes,
            duplicate_window: stream.duplicate_window,
            fleet: true,
        }
    }
}

impl NatsSourceConfig {
    /// The connection settings.
    pub fn connect(&self, cx: &BuildContext) -> NatsConnect {
        NatsConnect::for_component(&self.url, &self.auth, &self.tls, cx)
    }

    /// The stream as configured.
    pub fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            max_bytes: self.stream_max_bytes,
            duplicate_window: self.duplicate_window,
            ..StreamSettings::new(self.stream.clone(), self.subjects.clone())
        }
    }

    /// The consumer as configured.
    pub fn consumer_settings(&self) -> ConsumerSettings {
        ConsumerSettings {
            ack_wait: self.ack_wait,
            max_ack_pending: self.max_ack_pending,
            ..ConsumerSettings::new(self.consumer.clone())
        }
    }

    fn check_keys(&self, cx: &BuildContext) -> Result<(), BuildError> {
        self.connect(cx).check(cx)?;
        crate::setup::check_stream_name(&self.stream).map_err(|e| e.at_key("stream"))?;
        crate::setup::check_stream_name(&self.consumer).map_err(|e| e.at_key("consumer"))?;
        if self.subjects.is_empty() {
            return Err(BuildError::msg("must list at least one subject").at_key("subjects"));
        }
        if self.batch == 0 || self.batch > 100_000 {
            return Err(BuildError::msg("must be 1 to 100000").at_key("batch"));
        }
        if self.max_batches_in_flight == 0 {
            return Err(BuildError::msg("must be at least 1").at_key("max_batches_in_flight"));
        }
        if self.ack_wait < Duration::from_secs(1) {
            return Err(BuildError::msg("must be at least 1s").at_key("ack_wait"));
        }
        Ok(())
    }
}

#[async_trait]
impl SourceConfig for NatsSourceConfig {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        self.check_keys(cx)?;
        let client = self.connect(cx).connect(cx).await?;
        let js = jetstream::new(client.clone());
        Ok(Box::new(NatsSource {
            config: self.clone(),
            client,
            js,
            id: cx.id.to_string(),
            data_dir: cx.data_dir.clone(),
            metrics: cx.metrics.clone(),
        }))
    }

    fn check(&self, cx: &BuildContext) -> Result<(), BuildError> {
        self.check_keys(cx)
    }
}

/// Reads the edges' events from a durable pull consumer.
pub struct NatsSource {
    config: NatsSourceConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    id: String,
    data_dir: PathBuf,
    metrics: PipelineMetrics,
}

impl NatsSource {
    /// Gets the consumer, creating the stream and it first when allowed. Waits (and
    /// retries) while JetStream is unreachable, until `shutdown`.
    async fn consumer(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<jetstream::consumer::PullConsumer>, SourceError> {
        let mut attempt = 0u32;
        loop {
            match self.try_consumer().await {
                Ok(consumer) => return Ok(Some(consumer)),
                Err(Fatal(message)) => return Err(SourceError::msg(message)),
                Err(Retry(message)) => {
                    attempt += 1;
                    if attempt == 1 || attempt % 30 == 0 {
                        tracing::warn!(source = %self.id, "{message}; retrying");
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn try_consumer(&self) -> Result<jetstream::consumer::PullConsumer, Failure> {
        let c = &self.config;
        if c.create {
            match crate::setup::ensure_stream(&self.js, &c.stream_settings(), false).await {
                Ok(SetupOutcome::Differs(lines)) => tracing::warn!(
                    source = %self.id,
                    "stream {} differs from the config (`hpti nats setup --update` changes it): {}",
                    c.stream,
                    lines.join("; ")
                ),
                Ok(_) => {}
                Err(e) => return Err(Retry(e.to_string())),
            }
            match crate::setup::ensure_consumer(&self.js, &c.stream, &c.consumer_settings(), false)
                .await
            {
                Ok(SetupOutcome::Differs(lines)) => tracing::warn!(
                    source = %self.id,
                    "consumer {} differs from the config: {}",
                    c.consumer,
                    lines.join("; ")
                ),
                Ok(_) => {}
                Err(e) => return Err(Retry(e.to_string())),
            }
        }
        let stream = self
            .js
            .get_stream_no_info(&c.stream)
            .await
            .map_err(|e| Retry(format!("stream {}: {e}", c.stream)))?;
        stream.get_consumer(&c.consumer).await.map_err(|e| {
            let message = format!("consumer {} on stream {}: {e}", c.consumer, c.stream);
            if e.to_string().contains("not found") && !c.create {
                Fatal(format!("{message} (create it with `hpti nats setup`)"))
            } else {
                Retry(message)
            }
        })
    }
}

enum Failure {
    Retry(String),
    Fatal(String),
}
use Failure::{Fatal, Retry};

/// One message's place for acknowledging it.
struct Delivered {
    acker: jetstream::message::Acker,
}

#[async_trait]
impl Source for NatsSource {
    fn name(&self) -> &str {
        "nats"
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let SourceContext {
            events,
            dead_letters,
            shutdown,
            rules,
        } = ctx;
        let stop_fleet = shutdown.child_token();
        if self.config.fleet {
            tokio::spawn(crate::fleet::record_heartbeats(
                self.client.clone(),
                self.data_dir.clone(),
                self.metrics.clone(),
                self.id.clone(),
                rules,
                stop_fleet.clone(),
            ));
        }
        let Some(consumer) = self.consumer(&shutdown).await? else {
            return Ok(());
        };
        let counter = |outcome| self.metrics.counter("nats", &self.id, outcome);
        let (received, acked, nakked, undecodable) = (
            counter("received"),
            counter("acked"),
            counter("nakked"),
            counter("undecodable"),
        );
        let in_flight = Arc::new(Semaphore::new(self.config.max_batches_in_flight));
        let origin_name: Arc<str> = Arc::from(format!("nats:{}", self.config.stream));
        let mut messages = None;
        'run: loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            if messages.is_none() {
                let stream = consumer
                    .stream()
                    .max_messages_per_batch(self.config.batch.min(10_000))
                    .heartbeat(Duration::from_secs(5))
                    .expires(Duration::from_secs(30))
                    .messages()
                    .await;
                match stream {
                    Ok(stream) => messages = Some(stream),
                    Err(e) => {
                        tracing::warn!(source = %self.id, error = %e, "cannot pull messages; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                }
            }
            let Some(stream) = messages.as_mut() else {
                continue;
            };
            // The batch: the first message waits as long as it takes, the rest at most
            // `linger` after it.
            let mut batch = Vec::with_capacity(self.config.batch);
            let mut deadline = None;
            while batch.len() < self.config.batch {
                let next = async {
                    match deadline {
                        None => Some(stream.next().await),
                        Some(deadline) => {
                            tokio::time::timeout_at(deadline, stream.next()).await.ok()
                        }
                    }
                };
                let message = tokio::select! {
                    () = shutdown.cancelled() => {
                        if batch.is_empty() { break 'run; }
                        break;
                    }
                    message = next => message,
                };
                match message {
                    // The linger is over.
                    None => break,
                    Some(Some(Ok(message))) => {
                        batch.push(message);
                        deadline.get_or_insert_with(|| {
                            tokio::time::Instant::now() + self.config.linger
                        });
                    }
                    Some(Some(Err(e))) => {
                        // Missed heartbeats, a reconnect: the stream carries on.
                        tracing::debug!(source = %self.id, error = %e, "pull");
                        if !batch.is_empty() {
                            break;
                        }
                    }
                    // The stream ended: pull anew.
                    Some(None) => {
                        messages = None;
                        break;
                    }
                }
            }
            if batch.is_empty() {
                continue;
            }
            received.inc_by(batch.len() as u64);
            let (ack, receiver) = AckBatch::new();
            let mut delivered = Vec::with_capacity(batch.len());
            for message in batch {
                let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                let (message, acker) = message.split();
                delivered.push(Delivered { acker });
                match serde_json::from_slice::<Event>(&message.payload) {
                    Ok(event) => {
                        let envelope = Envelope {
                            event,
                            ack: Some(ack.clone()),
                            origin: Some(Origin {
                                source: Arc::clone(&origin_name),
                                offset: sequence,
                            }),
                        };
                        if events.emit_envelope(envelope).await.is_err() {
                            // The pipeline is gone; nothing of this batch is acknowledged
                            // and JetStream delivers it again.
                            break 'run;
                        }
                    }
                    Err(e) => {
                        undecodable.inc();
                        let letter = DeadLetter::for_line(
                            DeadLetterStage::Parse,
                            self.id.clone(),
                            format!(
                                "message {sequence} on {} is not an hpti event: {e}",
                                message.subject
                            ),
                            &message.payload,
                        )
                        .with_origin(&*origin_name, sequence);
                        dead_letters.send(letter, Some(ack.clone())).await;
                    }
                }
            }
            drop(ack);
            let (acked, nakked) = (acked.clone(), nakked.clone());
            let source = self.id.clone();
            tokio::spawn(async move {
                let status = receiver.await;
                let kind = if status.is_accounted_for() {
                    acked.inc_by(delivered.len() as u64);
                    AckKind::Ack
                } else {
                    nakked.inc_by(delivered.len() as u64);
                    AckKind::Nak(Some(Duration::from_secs(1)))
                };
                for message in &delivered {
                    if let Err(e) = message.acker.ack_with(kind).await {
                        // Not acknowledged: JetStream delivers it again after ack_wait,
                        // and the idempotent sinks store it once.
                        tracing::debug!(source = %source, error = %e, "ack");
                    }
                }
                drop(permit);
            });
        }
        // Stop emitting so the pipeline can drain, then wait (bounded) for the batches
        // in flight to be stored and acknowledged: what is not acknowledged here is
        // delivered again after ack_wait, never lost.
        drop(events);
        let all = u32::try_from(self.config.max_batches_in_flight).unwrap_or(u32::MAX);
        let drained =
            tokio::time::timeout(Duration::from_secs(10), in_flight.acquire_many(all)).await;
        if drained.is_err() {
            tracing::warn!(source = %self.id, "batches still unacknowledged at shutdown; JetStream will deliver them again");
        }
        stop_fleet.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
        Ok(())
    }
}
