//! The pipeline runtime: sources → validator → enrichers → fan-out to sinks → alert rules.
//!
//! Every queue is bounded, so a slow durable sink slows the sources down instead of
//! growing memory. Events travel in batches between stages; each sink gets batches cut
//! by count, by bytes and by linger time. Fan-out hands a batch to every durable sink at
//! once (never one after another) and to best-effort sinks only when they have room. An
//! event's [`AckBatch`] learns its fate when every durable sink is done with it. Alert
//! rules see events after the query store's sink has stored them, from a bounded queue
//! of their own: a slow rule or notifier never slows a sink.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::ack::{AckBatch, AckReceiver, DeliveryStatus};
use crate::alert::{Alert, AlertRule};
use crate::buffer::{BufferConfig, BufferError, DiskBuffer};
use crate::component::ComponentId;
use crate::dead_letter::{DeadLetter, DeadLetterSender, DeadLetterStage, DeadLetterWriter};
use crate::enricher::Enricher;
use crate::event::{Event, Timestamp};
use crate::metrics::PipelineMetrics;
use crate::sink::{Sink, SinkError, WriteReport};
use crate::source::{Source, SourceContext, SourceError};
use crate::validate::Validator;

/// Where an event came from, for dead-letter records.
#[derive(Debug, Clone)]
pub struct Origin {
    /// File path or feed name.
    pub source: Arc<str>,
    /// Byte offset of the record.
    pub offset: u64,
}

/// An event in flight with its acknowledgement token and origin.
#[derive(Debug)]
pub struct Envelope {
    /// The event.
    pub event: Event,
    /// Shared with the other events of the source's batch, if the source wants acks.
    pub ack: Option<AckBatch>,
    /// Where it came from, if it was read from a file.
    pub origin: Option<Origin>,
}

impl Envelope {
    /// An envelope with no acknowledgement and no origin.
    pub fn new(event: Event) -> Self {
        Self {
            event,
            ack: None,
            origin: None,
        }
    }

    fn dead_letter(&self, stage: DeadLetterStage, component: &str, reason: String) -> DeadLetter {
        let letter = DeadLetter::for_event(stage, component, reason, self.event.clone());
        match &self.origin {
            Some(origin) => letter.with_origin(&*origin.source, origin.offset),
            None => letter,
        }
    }
}

/// How a sink's batches are cut, and how many are written at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Most events in one [`Sink::write`] call.
    pub max_events: usize,
    /// Most bytes in one call, by [`Event::size_hint`] (bulk APIs limit request bytes).
    /// A single event larger than this still goes, alone.
    pub max_bytes: usize,
    /// Longest time the first event of a batch waits for the batch to fill.
    pub linger: Duration,
    /// [`Sink::write`] calls in flight at once. Two let a sink prepare one batch while
    /// the previous one is being stored; a sink that must write in order wants one.
    pub concurrency: usize,
}

impl BatchConfig {
    /// Batches of at most `max_events` events and `max_bytes` bytes, waiting at most
    /// `linger`, `concurrency` writes at once.
    pub fn new(max_events: usize, max_bytes: usize, linger: Duration, concurrency: usize) -> Self {
        Self {
            max_events,
            max_bytes,
            linger,
            concurrency,
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_events: 1024,
            max_bytes: 10 * 1024 * 1024,
            linger: Duration::from_millis(20),
            concurrency: 2,
        }
    }
}

/// Retries of temporary sink errors: exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt before the batch is dead-lettered
    /// ([`RetryPolicy::UNLIMITED`]: until the write works or the pipeline shuts down).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: Self::UNLIMITED,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// `max_retries` that never runs out: a durable sink waits out an outage of any
    /// length (its queue fills and the sources wait in turn).
    pub const UNLIMITED: u32 = u32::MAX;

    /// The backoff before retry number `attempt` (1-based), with up to 25% random jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let base = exp.min(self.max_backoff);
        let jitter = base.mul_f64(jitter_fraction() * 0.25);
        base + jitter
    }
}

// Jitter only has to decorrelate retries of different sinks, not be unpredictable.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// Sizes, timeouts and the dead-letter file of a pipeline.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Events buffered between sources and the processor.
    pub queue_capacity: usize,
    /// Most events the processor validates and enriches in one go.
    pub processor_batch: usize,
    /// Processor batches buffered in front of each sink and the alert rules.
    pub sink_queue_batches: usize,
    /// Default batching of sinks.
    pub batch: BatchConfig,
    /// Retries of temporary sink errors.
    pub retry: RetryPolicy,
    /// Events enriched concurrently.
    pub enrich_concurrency: usize,
    /// Time budget of one enricher for one event.
    pub enrich_timeout: Duration,
    /// The dead-letter JSON-lines file.
    pub dead_letter_path: PathBuf,
    /// Records buffered in front of the dead-letter writer.
    pub dead_letter_capacity: usize,
    /// How often alert rules see the time pass ([`AlertRule::on_tick`]).
    pub alert_tick: Duration,
    /// Largest size of the dead-letter file; records past it are refused and counted
    /// (`outcome="refused_full"`). Default 1 GiB.
    pub dead_letter_max_bytes: u64,
    /// Where events wait between the sources and the processor (memory by default;
    /// see [`crate::buffer`] for what each can lose).
    pub buffer: BufferConfig,
    /// How long [`Pipeline::shutdown`] waits for sinks that keep failing before it
    /// gives up on their events (dead-lettered; with a disk buffer, left in the buffer
    /// for the next start).
    pub shutdown_grace: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            processor_batch: 1024,
            sink_queue_batches: 8,
            batch: BatchConfig::default(),
            retry: RetryPolicy::default(),
            enrich_concurrency: 256,
            enrich_timeout: Duration::from_secs(2),
            dead_letter_path: PathBuf::from("hpti-data/dead-letters.jsonl"),
            dead_letter_capacity: 1024,
            dead_letter_max_bytes: crate::dead_letter::DEFAULT_MAX_FILE_BYTES,
            alert_tick: Duration::from_secs(1),
            buffer: BufferConfig::Memory,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl PipelineConfig {
    /// The defaults with the dead-letter file at `path`.
    pub fn with_dead_letter_path(path: impl Into<PathBuf>) -> Self {
        Self {
            dead_letter_path: path.into(),
            ..Self::default()
        }
    }
}

/// Failure to start a pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// No durable sink was added: events would be acknowledged without being stored.
    #[error("a pipeline needs at least one durable sink")]
    NoSinks,
    /// Two components of one kind have the same id.
    #[error("two {kind} have the id `{id}`")]
    DuplicateId {
        /// `sinks`, `enrichers`.
        kind: &'static str,
        /// The id.
        id: ComponentId,
    },
    /// Alert rules were asked to follow a sink that is not there or is best-effort.
    #[error("alert rules follow sink `{0}`, which is not a durable sink of this pipeline")]
    NoSuchRuleSink(ComponentId),
    /// A size in the config is zero.
    #[error("pipeline setting `{0}` must be greater than zero")]
    ZeroSize(&'static str),
    /// The dead-letter file could not be opened.
    #[error(transparent)]
    DeadLetter(#[from] crate::dead_letter::OpenError),
    /// The disk buffer could not be opened.
    #[error(transparent)]
    Buffer(#[from] BufferError),
}

/// The pipeline has shut down; the event was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline is shut down")]
pub struct PipelineClosed;

/// Why [`EventEmitter::try_emit`] did not queue an event.
#[derive(Debug)]
pub enum TryEmitError {
    /// The queue is full; here is the event back (boxed: it is large).
    Full(Box<Event>),
    /// The pipeline has shut down.
    Closed,
}

/// Hands events to the pipeline. Cheap to clone; the pipeline drains once every clone is
/// dropped.
#[derive(Clone, Debug)]
pub struct EventEmitter {
    sender: mpsc::Sender<Envelope>,
    emitted: Counter,
    on_disk: bool,
}

impl EventEmitter {
    /// Emits an event without acknowledgement, waiting while the queue is full.
    pub async fn emit(&self, event: Event) -> Result<(), PipelineClosed> {
        self.emit_envelope(Envelope::new(event)).await
    }

    /// Emits an event with its acknowledgement token and origin.
    pub async fn emit_envelope(&self, envelope: Envelope) -> Result<(), PipelineClosed> {
        self.sender
            .send(envelope)
            .await
            .map_err(|_| PipelineClosed)?;
        self.emitted.inc();
        Ok(())
    }

    /// Queues an event if the queue has room right now, without waiting; a full queue
    /// gives the event back.
    ///
    /// For code that keeps many futures alive (a sensor's connections): queueing
    /// synchronously and waiting only when full, in a separate boxed future, keeps the
    /// caller's future from carrying an event and a send future across every `.await`.
    pub fn try_emit(&self, event: Event) -> Result<(), TryEmitError> {
        match self.sender.try_send(Envelope::new(event)) {
            Ok(()) => {
                self.emitted.inc();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(envelope)) => {
                Err(TryEmitError::Full(Box::new(envelope.event)))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(TryEmitError::Closed),
        }
    }

    /// Free places in the queue right now.
    pub fn free_capacity(&self) -> usize {
        self.sender.capacity()
    }

    /// True when the pipeline has a disk buffer: [`emit_durable`](Self::emit_durable)
    /// then returns once the event is on disk.
    pub fn on_disk(&self) -> bool {
        self.on_disk
    }

    /// Emits an event and waits until it is safe from a crash: on disk with a disk
    /// buffer, stored (or dead-lettered) by every durable sink without one. A sensor
    /// with a disk buffer calls this before it answers its client, so that nothing
    /// a client saw answered is lost by a crash.
    pub async fn emit_durable(&self, event: Event) -> Result<DeliveryStatus, PipelineClosed> {
        Ok(self.emit_acknowledged(event).await?.await)
    }

    /// Emits an event (waiting while the queue is full) with an acknowledgement of its
    /// own, and returns the receiver that resolves as [`emit_durable`](Self::emit_durable)
    /// does: for a caller that bounds the two waits separately.
    pub async fn emit_acknowledged(&self, event: Event) -> Result<AckReceiver, PipelineClosed> {
        let (batch, receiver) = AckBatch::new();
        let envelope = Envelope {
            event,
            ack: Some(batch),
            origin: None,
        };
        self.emit_envelope(envelope).await?;
        Ok(receiver)
    }
}

/// What happened to the events one sink was given (a snapshot of its counters, which are
/// also `hpti_events_total{stage="sink", component=<id>, outcome=...}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// Stored.
    pub delivered: u64,
    /// Refused by the sink (dead-lettered).
    pub rejected: u64,
    /// Failed after retries (dead-lettered).
    pub failed: u64,
    /// Dropped because a best-effort sink's queue was full.
    pub dropped: u64,
    /// Events written again after a temporary failure of theirs.
    pub retried: u64,
}

/// What the pipeline did, for reports (`hpti ingest`'s summary) and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineStats {
    /// Events that passed validation.
    pub accepted: u64,
    /// Events the validator refused (dead-lettered).
    pub invalid: u64,
    /// Per sink, by id.
    pub sinks: BTreeMap<ComponentId, SinkStats>,
    /// Events the alert rules did not see because their queue was full.
    pub rule_events_dropped: u64,
}

#[derive(Clone, Debug)]
struct SinkCounters {
    delivered: Counter,
    rejected: Counter,
    failed: Counter,
    dropped: Counter,
    retried: Counter,
}

impl SinkCounters {
    fn new(metrics: &PipelineMetrics, id: &str) -> Self {
        let counter = |outcome| metrics.counter("sink", id, outcome);
        Self {
            delivered: counter("delivered"),
            rejected: counter("rejected"),
            failed: counter("failed"),
            dropped: counter("dropped"),
            retried: counter("retried"),
        }
    }

    fn snapshot(&self) -> SinkStats {
        SinkStats {
            delivered: self.delivered.get(),
            rejected: self.rejected.get(),
            failed: self.failed.get(),
            dropped: self.dropped.get(),
            retried: self.retried.get(),
        }
    }
}

struct SinkEntry {
    id: ComponentId,
    sink: Arc<dyn Sink>,
    batch: BatchConfig,
}

/// Builds a [`Pipeline`].
pub struct PipelineBuilder {
    config: PipelineConfig,
    validator: Validator,
    enrichers: Vec<(ComponentId, Arc<dyn Enricher>)>,
    sinks: Vec<SinkEntry>,
    rules: Vec<Box<dyn AlertRule>>,
    rules_after: Option<ComponentId>,
    alert_output: Option<mpsc::Sender<Alert>>,
    metrics: PipelineMetrics,
}

impl PipelineBuilder {
    /// A builder with the given configuration and fresh metrics.
    pub fn new(config: PipelineConfig) -> Self {
        Self {
            config,
            validator: Validator::default(),
            enrichers: Vec::new(),
            sinks: Vec::new(),
            rules: Vec::new(),
            rules_after: None,
            alert_output: None,
            metrics: PipelineMetrics::default(),
        }
    }

    /// Replaces the default validator.
    pub fn validator(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }

    /// Adds an enricher under component id `id`; enrichers run in the order added.
    pub fn enricher(mut self, id: ComponentId, enricher: Arc<dyn Enricher>) -> Self {
        self.enrichers.push((id, enricher));
        self
    }

    /// Adds a sink under component id `id` with the default batching.
    pub fn sink(self, id: ComponentId, sink: Arc<dyn Sink>) -> Self {
        let batch = self.config.batch;
        self.sink_with_batching(id, sink, batch)
    }

    /// Adds a sink under component id `id` with its own batching.
    pub fn sink_with_batching(
        mut self,
        id: ComponentId,
        sink: Arc<dyn Sink>,
        batch: BatchConfig,
    ) -> Self {
        self.sinks.push(SinkEntry { id, sink, batch });
        self
    }

    /// Adds an alert rule.
    pub fn rule(mut self, rule: Box<dyn AlertRule>) -> Self {
        self.rules.push(rule);
        self
    }

    /// Feeds the alert rules with what sink `id` stored (by default the first durable
    /// sink added): rules see stored events, as a query of the store would.
    pub fn rules_after(mut self, id: ComponentId) -> Self {
        self.rules_after = Some(id);
        self
    }

    /// Sends raised alerts to `output` (otherwise they are only logged and counted).
    pub fn alerts_to(mut self, output: mpsc::Sender<Alert>) -> Self {
        self.alert_output = Some(output);
        self
    }

    /// Uses these metrics (registered by the caller) instead of private ones.
    pub fn metrics(mut self, metrics: PipelineMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn check(&self) -> Result<(), PipelineError> {
        let config = &self.config;
        if !self
            .sinks
            .iter()
            .any(|s| !s.sink.capabilities().best_effort)
        {
            return Err(PipelineError::NoSinks);
        }
        for (name, value) in [
            ("queue_capacity", config.queue_capacity),
            ("processor_batch", config.processor_batch),
            ("sink_queue_batches", config.sink_queue_batches),
            ("enrich_concurrency", config.enrich_concurrency),
        ] {
            if value == 0 {
                return Err(PipelineError::ZeroSize(name));
            }
        }
        if config.alert_tick.is_zero() {
            return Err(PipelineError::ZeroSize("alert_tick"));
        }
        for sink in &self.sinks {
            if sink.batch.max_events == 0 {
                return Err(PipelineError::ZeroSize("batch_size"));
            }
            if sink.batch.max_bytes == 0 {
                return Err(PipelineError::ZeroSize("batch_bytes"));
            }
            if sink.batch.concurrency == 0 {
                return Err(PipelineError::ZeroSize("sink_concurrency"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for id in self.sinks.iter().map(|s| &s.id) {
            if !seen.insert(id) {
                return Err(PipelineError::DuplicateId {
                    kind: "sinks",
                    id: id.clone(),
                });
            }
        }
        if let Some(id) = &self.rules_after
            && !self
                .sinks
                .iter()
                .any(|s| &s.id == id && !s.sink.capabilities().best_effort)
        {
            return Err(PipelineError::NoSuchRuleSink(id.clone()));
        }
        Ok(())
    }

    /// Starts the stages on the current tokio runtime.
    pub fn start(self) -> Result<Pipeline, PipelineError> {
        self.check()?;
        let config = self.config;
        let metrics = self.metrics;
        let (dead_letter_writer, dead_letters) = DeadLetterWriter::start_with_limit(
            &config.dead_letter_path,
            config.dead_letter_capacity,
            config.dead_letter_max_bytes,
            metrics.clone(),
        )?;
        metrics.queue_capacity("dead_letter", config.dead_letter_capacity);

        // The rules' queue is fed by one durable sink's driver, without waiting.
        let rules_after = self.rules_after.clone().or_else(|| {
            self.sinks
                .iter()
                .find(|s| !s.sink.capabilities().best_effort)
                .map(|s| s.id.clone())
        });
        let rule_events_dropped = metrics.counter("alert", "rules", "dropped");
        let (rule_feed, alert_task) = if self.rules.is_empty() {
            (None, None)
        } else {
            let capacity = config.sink_queue_batches * 4;
            let (sender, receiver) = std::sync::mpsc::sync_channel(capacity);
            let depth = Arc::new(AtomicUsize::new(0));
            metrics.queue_capacity("alert_rules", capacity);
            let task = spawn_alert_rules(
                self.rules,
                RuleInput {
                    receiver,
                    depth: depth.clone(),
                },
                self.alert_output,
                metrics.clone(),
                config.alert_tick,
            );
            (
                Some(RuleFeed {
                    sender,
                    depth,
                    dropped: rule_events_dropped.clone(),
                }),
                Some(task),
            )
        };

        let abandon = CancellationToken::new();
        let on_disk = matches!(config.buffer, BufferConfig::Disk(_));
        let mut outputs = Vec::with_capacity(self.sinks.len());
        let mut sink_tasks = Vec::with_capacity(self.sinks.len());
        let mut sink_counters = BTreeMap::new();
        for entry in self.sinks {
            let (sender, receiver) = mpsc::channel(config.sink_queue_batches);
            let queue = format!("sink:{}", entry.id);
            metrics.queue_capacity(&queue, config.sink_queue_batches);
            let counters = SinkCounters::new(&metrics, entry.id.as_str());
            sink_counters.insert(entry.id.clone(), counters.clone());
            let best_effort = entry.sink.capabilities().best_effort;
            if on_disk && !best_effort && !entry.sink.capabilities().idempotent {
                tracing::warn!(
                    sink = %entry.id,
                    "this sink does not store each event id once: after a crash, events read again from the disk buffer may be stored twice"
                );
            }
            let feed = if rules_after.as_ref() == Some(&entry.id) {
                rule_feed.clone()
            } else {
                None
            };
            let driver = SinkDriver {
                counters: counters.clone(),
                id: entry.id,
                sink: entry.sink,
                batch: entry.batch,
                retry: config.retry,
                dead_letters: dead_letters.clone(),
                metrics: metrics.clone(),
                queue,
                rule_feed: feed,
                abandon: abandon.clone(),
                on_disk,
            };
            sink_tasks.push(tokio::spawn(driver.run(receiver)));
            outputs.push(SinkOutput {
                sender,
                best_effort,
                dropped: counters.dropped,
            });
        }
        let rule_observer = RuleObserver {
            feed: Arc::new(std::sync::Mutex::new(rule_feed)),
        };

        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        metrics.queue_capacity("events", config.queue_capacity);
        // With a disk buffer, the sources' queue feeds the buffer's writer and the
        // processor reads from the buffer through a queue of its own.
        let (receiver, disk_buffer) = match &config.buffer {
            BufferConfig::Memory => (receiver, None),
            BufferConfig::Disk(disk) => {
                let capacity = config.processor_batch * 2;
                let (to_processor, from_buffer) = mpsc::channel(capacity);
                metrics.queue_capacity("buffered", capacity);
                let buffer = DiskBuffer::start(
                    disk,
                    receiver,
                    to_processor,
                    config.processor_batch,
                    &metrics,
                    abandon.clone(),
                )?;
                (from_buffer, Some(buffer))
            }
        };
        let accepted = metrics.counter("validator", "validator", "accepted");
        let processor = Processor {
            accepted: accepted.clone(),
            enricher_counters: self
                .enrichers
                .iter()
                .map(|(id, _)| {
                    (
                        metrics.counter("enricher", id.as_str(), "ok"),
                        metrics.counter("enricher", id.as_str(), "failed"),
                    )
                })
                .collect(),
            validator: self.validator,
            enrichers: self.enrichers,
            outputs,
            dead_letters: dead_letters.clone(),
            metrics: metrics.clone(),
            batch: config.processor_batch,
            enrich_concurrency: config.enrich_concurrency,
            enrich_timeout: config.enrich_timeout,
        };
        let processor = tokio::spawn(processor.run(receiver));
        let emitter = EventEmitter {
            sender,
            emitted: metrics.counter("source", "all", "emitted"),
            on_disk,
        };
        Ok(Pipeline {
            emitter: Some(emitter),
            dead_letters: Some(dead_letters),
            rule_observer,
            shutdown: CancellationToken::new(),
            sources: JoinSet::new(),
            processor,
            sink_tasks,
            alert_task,
            dead_letter_writer,
            disk_buffer,
            abandon,
            shutdown_grace: config.shutdown_grace,
            stats: StatsHandles {
                accepted,
                sinks: sink_counters,
                rule_events_dropped,
            },
            metrics,
        })
    }
}

#[derive(Debug)]
struct StatsHandles {
    accepted: Counter,
    sinks: BTreeMap<ComponentId, SinkCounters>,
    rule_events_dropped: Counter,
}

/// A running pipeline.
///
/// ```
/// use std::sync::Arc;
/// use hpti_core::component::ComponentId;
/// use hpti_core::event::{Event, EventKind, Protocol};
/// use hpti_core::pipeline::{PipelineBuilder, PipelineConfig};
/// use hpti_core::sink::{Sink, SinkError, WriteReport};
///
/// struct Count(std::sync::atomic::AtomicUsize);
/// #[async_trait::async_trait]
/// impl Sink for Count {
///     fn name(&self) -> &str { "count" }
///     async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
///         self.0.fetch_add(events.len(), std::sync::atomic::Ordering::Relaxed);
///         Ok(WriteReport::delivered())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let config = PipelineConfig::with_dead_letter_path(dir.path().join("dead-letters.jsonl"));
/// let sink = Arc::new(Count(Default::default()));
/// let id = ComponentId::new("main").unwrap();
/// let pipeline = PipelineBuilder::new(config).sink(id.clone(), sink.clone()).start().unwrap();
/// let emitter = pipeline.emitter();
/// emitter.emit(Event::new("demo", Protocol::Ssh, "192.0.2.9".parse().unwrap(),
///     EventKind::CommandInput { command: "id".into() })).await.unwrap();
/// drop(emitter);
/// let stats = pipeline.shutdown().await;
/// assert_eq!(sink.0.load(std::sync::atomic::Ordering::Relaxed), 1);
/// assert_eq!(stats.sinks[&id].delivered, 1);
/// # }
/// ```
pub struct Pipeline {
    emitter: Option<EventEmitter>,
    dead_letters: Option<DeadLetterSender>,
    rule_observer: RuleObserver,
    shutdown: CancellationToken,
    sources: JoinSet<(String, Result<(), SourceError>)>,
    processor: JoinHandle<()>,
    sink_tasks: Vec<JoinHandle<()>>,
    alert_task: Option<JoinHandle<()>>,
    dead_letter_writer: DeadLetterWriter,
    disk_buffer: Option<DiskBuffer>,
    /// Cancelled `shutdown_grace` after shutdown begins: sinks stop retrying.
    abandon: CancellationToken,
    shutdown_grace: Duration,
    stats: StatsHandles,
    metrics: PipelineMetrics,
}

impl Pipeline {
    /// A builder with the given configuration.
    pub fn builder(config: PipelineConfig) -> PipelineBuilder {
        PipelineBuilder::new(config)
    }

    /// A handle to emit events. Drop it when done: shutdown waits for every emitter.
    pub fn emitter(&self) -> EventEmitter {
        match &self.emitter {
            Some(emitter) => emitter.clone(),
            None => unreachable_emitter(),
        }
    }

    /// A handle to the dead-letter file, for sources that reject records before parsing.
    pub fn dead_letters(&self) -> DeadLetterSender {
        match &self.dead_letters {
            Some(sender) => sender.clone(),
            None => unreachable_dead_letters(),
        }
    }

    /// A handle to show the alert rules events that no sink stores.
    pub fn rule_observer(&self) -> RuleObserver {
        self.rule_observer.clone()
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> &PipelineMetrics {
        &self.metrics
    }

    /// What the pipeline has done so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            accepted: self.stats.accepted.get(),
            invalid: self.metrics.get(
                "dead_letter",
                "validator",
                DeadLetterStage::Validate.as_str(),
            ),
            sinks: self
                .stats
                .sinks
                .iter()
                .map(|(id, counters)| (id.clone(), counters.snapshot()))
                .collect(),
            rule_events_dropped: self.stats.rule_events_dropped.get(),
        }
    }

    /// The token sources watch; cancelled by [`shutdown`](Self::shutdown).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs a source under component id `id` until it returns or the pipeline shuts down.
    pub fn spawn_source(&mut self, id: &ComponentId, source: Arc<dyn Source>) {
        let ctx = SourceContext {
            events: self.emitter(),
            dead_letters: self.dead_letters(),
            shutdown: self.shutdown.child_token(),
            rules: self.rule_observer(),
        };
        let id = id.to_string();
        self.sources.spawn(async move {
            let result = source.run(ctx).await;
            (id, result)
        });
    }

    /// Waits until every spawned source has returned by itself (used by one-shot
    /// ingestion), returning each source's id and result.
    pub async fn wait_for_sources(&mut self) -> Vec<(String, Result<(), SourceError>)> {
        let mut results = Vec::new();
        while let Some(joined) = self.sources.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(err) => results.push((
                    "<source task>".into(),
                    Err(SourceError::msg(format!("source task failed: {err}"))),
                )),
            }
        }
        results
    }

    /// Stops the sources, then drains every queue and flushes every sink and the
    /// dead-letter file. Returns once everything accepted is stored or dead-lettered,
    /// with what the pipeline did.
    ///
    /// A sink that still fails `shutdown_grace` after the sources have stopped is given
    /// up on: its events are dead-lettered, or with a disk buffer left there for the next
    /// start.
    pub async fn shutdown(mut self) -> PipelineStats {
        self.shutdown.cancel();
        for (name, result) in self.wait_for_sources().await {
            if let Err(err) = result {
                tracing::error!(source = %name, error = %err, "source stopped with an error");
            }
        }
        let grace = self.shutdown_grace;
        let abandon = self.abandon.clone();
        let deadline = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!(
                ?grace,
                "shutdown: sinks still failing after the grace period; giving up on their events"
            );
            abandon.cancel();
        });
        drop(self.emitter.take());
        drop(self.dead_letters.take());
        self.rule_observer.close();
        if let Err(err) = (&mut self.processor).await {
            tracing::error!(error = %err, "processor task failed");
        }
        for task in self.sink_tasks.drain(..) {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "sink task failed");
            }
        }
        if let Some(task) = self.alert_task.take()
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "alert task failed");
        }
        if let Some(buffer) = self.disk_buffer.take()
            && tokio::task::spawn_blocking(move || buffer.join())
                .await
                .is_err()
        {
            tracing::error!("disk buffer did not finish");
        }
        deadline.abort();
        let stats = self.stats();
        let writer = self.dead_letter_writer;
        if tokio::task::spawn_blocking(move || writer.join())
            .await
            .is_err()
        {
            tracing::error!("dead-letter writer did not finish");
        }
        stats
    }
}

// The handles are only taken in `shutdown`, which consumes the pipeline, so these cannot
// run; they exist to avoid `expect` in library code.
fn unreachable_emitter() -> EventEmitter {
    let (sender, _) = mpsc::channel(1);
    EventEmitter {
        sender,
        emitted: Counter::default(),
        on_disk: false,
    }
}

fn unreachable_dead_letters() -> DeadLetterSender {
    DeadLetterSender::disconnected()
}

/// One event on its way to one sink: the event (shared by every sink) and, for durable
/// sinks only, the acknowledgement it settles. A best-effort sink holds no ack, so it can
/// never delay a source's commit.
struct Delivery {
    envelope: Arc<Envelope>,
    ack: Option<AckBatch>,
    /// The event's [`Event::size_hint`], measured once for every sink.
    bytes: usize,
}

type Chunk = Vec<Delivery>;

struct SinkOutput {
    sender: mpsc::Sender<Chunk>,
    best_effort: bool,
    dropped: Counter,
}

struct Processor {
    validator: Validator,
    enrichers: Vec<(ComponentId, Arc<dyn Enricher>)>,
    enricher_counters: Vec<(Counter, Counter)>,
    outputs: Vec<SinkOutput>,
    dead_letters: DeadLetterSender,
    metrics: PipelineMetrics,
    accepted: Counter,
    batch: usize,
    enrich_concurrency: usize,
    enrich_timeout: Duration,
}

impl Processor {
    async fn run(self, mut receiver: mpsc::Receiver<Envelope>) {
        let mut incoming = Vec::with_capacity(self.batch);
        loop {
            if receiver.recv_many(&mut incoming, self.batch).await == 0 {
                break;
            }
            self.metrics.queue_depth("events", receiver.len());
            let now = Timestamp::now();
            let mut accepted = Vec::with_capacity(incoming.len());
            for envelope in incoming.drain(..) {
                match self.validator.validate_at(&envelope.event, now) {
                    Ok(()) => accepted.push(envelope),
                    Err(err) => {
                        self.metrics.count("validator", "validator", err.label(), 1);
                        let letter = envelope
                            .dead_letter(DeadLetterStage::Validate, "validator", err.to_string())
                            .with_label(err.label());
                        self.dead_letters.send(letter, envelope.ack).await;
                    }
                }
            }
            self.accepted.inc_by(accepted.len() as u64);
            self.enrich(&mut accepted).await;
            if accepted.is_empty() {
                continue;
            }
            self.fan_out(accepted).await;
        }
    }

    async fn enrich(&self, envelopes: &mut [Envelope]) {
        if self.enrichers.is_empty() {
            return;
        }
        let timeout = self.enrich_timeout;
        futures::stream::iter(envelopes.iter_mut())
            .for_each_concurrent(self.enrich_concurrency, |envelope| async move {
                for ((id, enricher), (ok, failed)) in
                    self.enrichers.iter().zip(&self.enricher_counters)
                {
                    let outcome =
                        tokio::time::timeout(timeout, enricher.enrich(&mut envelope.event)).await;
                    match outcome {
                        Ok(Ok(())) => {
                            ok.inc();
                        }
                        Ok(Err(err)) => {
                            failed.inc();
                            tracing::debug!(enricher = %id, error = %err, "enrichment failed");
                            envelope.event.enrichment.failed.push(id.to_string());
                        }
                        Err(_) => {
                            failed.inc();
                            tracing::debug!(enricher = %id, "enrichment timed out");
                            envelope.event.enrichment.failed.push(id.to_string());
                        }
                    }
                }
            })
            .await;
    }

    /// Hands the batch to every sink at once: best-effort sinks only if they have room
    /// now, durable ones concurrently, so one full durable queue does not keep the batch
    /// from the others while it waits.
    async fn fan_out(&self, accepted: Vec<Envelope>) {
        let mut acks = Vec::with_capacity(accepted.len());
        let mut sizes = Vec::with_capacity(accepted.len());
        let shared: Vec<Arc<Envelope>> = accepted
            .into_iter()
            .map(|mut envelope| {
                acks.push(envelope.ack.take());
                sizes.push(envelope.event.size_hint());
                Arc::new(envelope)
            })
            .collect();
        let mut durable_sends = Vec::new();
        for output in &self.outputs {
            if output.best_effort {
                let chunk: Chunk = shared
                    .iter()
                    .zip(&sizes)
                    .map(|(envelope, &bytes)| Delivery {
                        envelope: envelope.clone(),
                        ack: None,
                        bytes,
                    })
                    .collect();
                if let Err(err) = output.sender.try_send(chunk) {
                    let lost = match err {
                        mpsc::error::TrySendError::Full(lost)
                        | mpsc::error::TrySendError::Closed(lost) => lost,
                    };
                    output.dropped.inc_by(lost.len() as u64);
                }
                continue;
            }
            let chunk: Chunk = shared
                .iter()
                .zip(&acks)
                .zip(&sizes)
                .map(|((envelope, ack), &bytes)| Delivery {
                    envelope: envelope.clone(),
                    ack: ack.clone(),
                    bytes,
                })
                .collect();
            durable_sends.push(async move {
                if let Err(mpsc::error::SendError(lost)) = output.sender.send(chunk).await {
                    tracing::error!("a sink task is gone; its events are marked failed");
                    for delivery in lost {
                        if let Some(ack) = &delivery.ack {
                            ack.update(DeliveryStatus::Failed);
                        }
                    }
                }
            });
        }
        // The acks stay alive until every durable sink holds its own clone.
        futures::future::join_all(durable_sends).await;
        drop(acks);
    }
}

async fn sleep_until_deadline(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The sinks' side of the rules' bounded queue: where one durable sink passes on what
/// it stored.
#[derive(Clone)]
struct RuleFeed {
    sender: std::sync::mpsc::SyncSender<Vec<Arc<Envelope>>>,
    /// Chunks queued (the queue's depth, for `hpti_queue_depth`).
    depth: Arc<AtomicUsize>,
    dropped: Counter,
}

/// A source's way to show the alert rules an event that no sink stores: an edge's
/// heartbeat, which a `flatline` rule watches to notice a silent edge.
///
/// Observations share the rules' bounded queue with what the sinks stored; one that
/// finds it full is dropped and counted (`hpti_events_total{stage="alert",
/// outcome="dropped"}`). Without rules, or once the sources have stopped, it does
/// nothing, so a handle kept too long cannot hold the rules' thread open.
#[derive(Clone, Default)]
pub struct RuleObserver {
    feed: Arc<std::sync::Mutex<Option<RuleFeed>>>,
}

impl RuleObserver {
    /// An observer that shows nothing to anyone (a pipeline without rules, tests).
    pub fn none() -> Self {
        Self::default()
    }

    /// Shows `event` to the alert rules. False when it was not shown (no rules, the
    /// queue full, or the pipeline stopping).
    pub fn observe(&self, event: Event) -> bool {
        self.observe_all(vec![event])
    }

    /// Shows `events` to the alert rules as one chunk of their queue (a replay of many
    /// takes one place, not one each). False when they were not shown.
    pub fn observe_all(&self, events: Vec<Event>) -> bool {
        if events.is_empty() {
            return true;
        }
        let feed = self.feed.lock().unwrap_or_else(|e| e.into_inner());
        let Some(feed) = feed.as_ref() else {
            return false;
        };
        let count = events.len() as u64;
        let chunk = events
            .into_iter()
            .map(|event| Arc::new(Envelope::new(event)))
            .collect();
        feed.depth.fetch_add(1, Ordering::Relaxed);
        match feed.sender.try_send(chunk) {
            Ok(()) => true,
            Err(_) => {
                feed.depth.fetch_sub(1, Ordering::Relaxed);
                feed.dropped.inc_by(count);
                false
            }
        }
    }

    /// Stops showing anything (the rules' thread can then end with the sinks).
    fn close(&self) {
        self.feed.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl std::fmt::Debug for RuleObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.feed.lock().map(|feed| feed.is_some()).unwrap_or(false);
        f.debug_struct("RuleObserver").field("open", &open).finish()
    }
}

/// The rules' side of their queue.
struct RuleInput {
    receiver: std::sync::mpsc::Receiver<Vec<Arc<Envelope>>>,
    depth: Arc<AtomicUsize>,
}

struct SinkDriver {
    id: ComponentId,
    sink: Arc<dyn Sink>,
    batch: BatchConfig,
    retry: RetryPolicy,
    dead_letters: DeadLetterSender,
    metrics: PipelineMetrics,
    counters: SinkCounters,
    queue: String,
    rule_feed: Option<RuleFeed>,
    /// Cancelled when shutdown stops waiting for failing sinks.
    abandon: CancellationToken,
    /// Events given up on stay in the disk buffer (marked failed) instead of being
    /// dead-lettered.
    on_disk: bool,
}

impl SinkDriver {
    async fn run(self, mut receiver: mpsc::Receiver<Chunk>) {
        let mut pending: Vec<Delivery> = Vec::with_capacity(self.batch.max_events);
        let mut pending_bytes = 0usize;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut in_flight = futures::stream::FuturesUnordered::new();
        loop {
            let next = tokio::select! {
                biased;
                Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
                chunk = receiver.recv() => Some(chunk),
                () = sleep_until_deadline(deadline) => None,
            };
            let closing = matches!(next, Some(None));
            let lingered = next.is_none();
            if let Some(Some(chunk)) = next {
                self.metrics.queue_depth(&self.queue, receiver.len());
                for delivery in chunk {
                    pending_bytes += delivery.bytes;
                    pending.push(delivery);
                }
                if !self.full(pending.len(), pending_bytes) {
                    if deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.batch.linger);
                    }
                    continue;
                }
            }
            // Full batches go now; at the linger time or the end of input, the rest too.
            let everything = lingered || closing;
            while self.full(pending.len(), pending_bytes) || (everything && !pending.is_empty()) {
                while in_flight.len() >= self.batch.concurrency {
                    in_flight.next().await;
                }
                let (take, bytes) = self.cut(&pending);
                pending_bytes = pending_bytes.saturating_sub(bytes);
                in_flight.push(self.deliver(pending.drain(..take).collect()));
            }
            if pending.is_empty() {
                pending_bytes = 0;
            }
            deadline =
                (!pending.is_empty()).then(|| tokio::time::Instant::now() + self.batch.linger);
            if closing {
                break;
            }
        }
        while in_flight.next().await.is_some() {}
        drop(in_flight);
        if let Err(err) = self.sink.close().await {
            tracing::error!(sink = %self.id, error = %err, "closing sink failed");
        }
    }

    /// Whether retry number `attempt + 1` may go ahead.
    fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.retry.max_retries && !self.abandon.is_cancelled()
    }

    /// Shutdown gave up on these events: with a disk buffer they stay there (failed,
    /// so the buffer does not move past them) and are delivered at the next start.
    fn leave_in_buffer(&self, batch: &[Delivery], todo: &[usize], err: &SinkError) {
        tracing::error!(
            sink = %self.id,
            events = todo.len(),
            error = %err,
            "shutdown gave up on a failing sink; its events stay in the disk buffer for the next start"
        );
        for &i in todo {
            if let Some(ack) = &batch[i].ack {
                ack.update(DeliveryStatus::Failed);
            }
        }
    }

    fn full(&self, events: usize, bytes: usize) -> bool {
        events >= self.batch.max_events || bytes >= self.batch.max_bytes
    }

    /// How many pending events make the next batch, and their bytes: up to the count
    /// and byte limits, and at least one.
    fn cut(&self, pending: &[Delivery]) -> (usize, usize) {
        let mut bytes = 0;
        for (n, delivery) in pending.iter().take(self.batch.max_events).enumerate() {
            let size = delivery.bytes;
            if n > 0 && bytes + size > self.batch.max_bytes {
                return (n, bytes);
            }
            bytes += size;
        }
        (pending.len().min(self.batch.max_events), bytes)
    }

    async fn deliver(&self, batch: Vec<Delivery>) {
        let id = self.id.as_str();
        // Indexes into `batch` still to write; a partial retry narrows it.
        let mut todo: Vec<usize> = (0..batch.len()).collect();
        let mut delivered: Vec<usize> = Vec::with_capacity(batch.len());
        let mut attempt = 0;
        loop {
            let events: Vec<&Event> = todo.iter().map(|&i| &batch[i].envelope.event).collect();
            let started = Instant::now();
            let result = self.sink.write(&events).await;
            drop(events);
            self.metrics.sink_write(id, started.elapsed().as_secs_f64());
            match &result {
                Ok(_) => self.metrics.health().ok("sink", id),
                Err(err) => {
                    self.metrics
                        .health()
                        .failing("sink", id, &crate::health::error_chain(err))
                }
            }
            let report = match result {
                Ok(report) => report,
                Err(err) if err.class().is_retryable() && self.may_retry(attempt) => {
                    attempt += 1;
                    self.metrics.sink_retry(id);
                    let backoff = err
                        .class()
                        .retry_after()
                        .unwrap_or_else(|| self.retry.backoff(attempt));
                    // Loud at first, then every tenth attempt: an outage of an hour is
                    // not thousands of lines.
                    if attempt <= 3 || attempt % 10 == 0 {
                        tracing::warn!(sink = id, error = %err, attempt, ?backoff, "sink write failed; retrying");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.abandon.cancelled() => {}
                    }
                    continue;
                }
                Err(err)
                    if err.class().is_retryable()
                        && self.abandon.is_cancelled()
                        && self.on_disk =>
                {
                    self.leave_in_buffer(&batch, &todo, &err);
                    break;
                }
                Err(err) => {
                    let reason = if attempt > 0 {
                        format!("sink `{id}` failed after {attempt} retries: {err}")
                    } else {
                        format!("sink `{id}` failed permanently: {err}")
                    };
                    tracing::error!(sink = id, events = todo.len(), %reason, "dead-lettering batch");
                    self.counters.failed.inc_by(todo.len() as u64);
                    for &i in &todo {
                        self.dead_letter(&batch[i], reason.clone()).await;
                    }
                    break;
                }
            };
            let outcome = self.settle(&batch, &todo, report, attempt).await;
            delivered.extend(outcome.delivered);
            if outcome.retry.is_empty() {
                break;
            }
            attempt += 1;
            self.metrics.sink_retry(id);
            self.counters.retried.inc_by(outcome.retry.len() as u64);
            let backoff = outcome
                .retry_after
                .unwrap_or_else(|| self.retry.backoff(attempt));
            tracing::warn!(
                sink = id,
                events = outcome.retry.len(),
                attempt,
                ?backoff,
                "sink asked to retry part of a batch"
            );
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.abandon.cancelled() => {}
            }
            todo = outcome.retry;
        }
        self.counters.delivered.inc_by(delivered.len() as u64);
        if let Some(feed) = &self.rule_feed
            && !delivered.is_empty()
        {
            let stored: Vec<Arc<Envelope>> = delivered
                .iter()
                .map(|&i| batch[i].envelope.clone())
                .collect();
            // Counted before the send: the rules' thread may take it at once.
            feed.depth.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = feed.sender.try_send(stored) {
                feed.depth.fetch_sub(1, Ordering::Relaxed);
                let lost = match err {
                    std::sync::mpsc::TrySendError::Full(lost)
                    | std::sync::mpsc::TrySendError::Disconnected(lost) => lost,
                };
                feed.dropped.inc_by(lost.len() as u64);
            }
        }
    }

    /// Applies a write report to the events written (`todo`): rejections go to the
    /// dead-letter file, retries come back (or are dead-lettered once retries run out),
    /// the rest are delivered.
    async fn settle(
        &self,
        batch: &[Delivery],
        todo: &[usize],
        report: WriteReport,
        attempt: u32,
    ) -> Settled {
        let id = self.id.as_str();
        let mut done = vec![false; todo.len()];
        for rejection in report.rejected {
            let Some(&i) = todo.get(rejection.index) else {
                tracing::error!(
                    sink = id,
                    index = rejection.index,
                    "sink rejected an index outside its batch"
                );
                continue;
            };
            if std::mem::replace(&mut done[rejection.index], true) {
                continue;
            }
            self.counters.rejected.inc();
            let reason = format!("sink `{id}` rejected the event: {}", rejection.reason);
            self.dead_letter(&batch[i], reason).await;
        }
        let mut retry = Vec::new();
        for item in report.retry {
            let Some(&i) = todo.get(item.index) else {
                tracing::error!(
                    sink = id,
                    index = item.index,
                    "sink asked to retry an index outside its batch"
                );
                continue;
            };
            if std::mem::replace(&mut done[item.index], true) {
                continue;
            }
            if self.may_retry(attempt) {
                retry.push(i);
            } else if self.abandon.is_cancelled() && self.on_disk {
                if let Some(ack) = &batch[i].ack {
                    ack.update(DeliveryStatus::Failed);
                }
            } else {
                self.counters.failed.inc();
                let reason = format!(
                    "sink `{id}` failed after {attempt} retries: {}",
                    item.reason
                );
                self.dead_letter(&batch[i], reason).await;
            }
        }
        let delivered = todo
            .iter()
            .zip(&done)
            .filter(|(_, done)| !**done)
            .map(|(&i, _)| i)
            .collect();
        Settled {
            delivered,
            retry,
            retry_after: report.retry_after,
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: String) {
        if delivery.ack.is_none() && self.sink.capabilities().best_effort {
            // A best-effort sink's failures are counted, not kept: the durable sinks
            // have the event.
            return;
        }
        let letter = delivery
            .envelope
            .dead_letter(DeadLetterStage::Sink, self.id.as_str(), reason);
        self.dead_letters.send(letter, delivery.ack.clone()).await;
    }
}

struct Settled {
    delivered: Vec<usize>,
    retry: Vec<usize>,
    retry_after: Option<Duration>,
}

/// Starts the rules on an OS thread of their own: their work is CPU in runs of a whole
/// chunk (milliseconds), which must not hold an async worker that the sinks' tasks need.
/// The thread uses no runtime timer, so a runtime that shuts down under it cannot make it
/// fail; it ends when the sinks drop their side of the queue. The handle resolves when
/// it has ended.
fn spawn_alert_rules(
    rules: Vec<Box<dyn AlertRule>>,
    input: RuleInput,
    output: Option<mpsc::Sender<Alert>>,
    metrics: PipelineMetrics,
    tick: Duration,
) -> JoinHandle<()> {
    let (done, ended) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("hpti-rules".into())
        .spawn(move || {
            run_alert_rules(rules, input, output, &metrics, tick);
            let _ = done.send(());
        });
    if let Err(err) = spawned {
        // Without a thread the rules do not run; the sinks are not affected (their
        // side of the queue fills and counts what the rules missed).
        tracing::error!(error = %err, "cannot start the alert rules' thread");
    }
    tokio::spawn(async move {
        let _ = ended.await;
    })
}

fn run_alert_rules(
    mut rules: Vec<Box<dyn AlertRule>>,
    input: RuleInput,
    output: Option<mpsc::Sender<Alert>>,
    metrics: &PipelineMetrics,
    tick: Duration,
) {
    let mut raised = Vec::new();
    let mut next_tick = Instant::now() + tick;
    let send = |raised: &mut Vec<Alert>, log: bool| {
        for alert in raised.drain(..) {
            metrics.alert(&alert.rule);
            if log {
                tracing::info!(rule = %alert.rule, severity = alert.severity.as_str(), key = %alert.key, fingerprint = %alert.fingerprint, summary = %alert.summary, "alert");
            }
            // Waits while the manager's queue is full: the rules fall behind (and their
            // own queue sheds, counted), never the sinks.
            if let Some(output) = &output
                && output.blocking_send(alert).is_err()
            {
                tracing::warn!("alert receiver is gone");
            }
        }
    };
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match input.receiver.recv_timeout(wait) {
            Ok(chunk) => {
                let depth = input
                    .depth
                    .fetch_sub(1, Ordering::Relaxed)
                    .saturating_sub(1);
                metrics.queue_depth("alert_rules", depth);
                for envelope in &chunk {
                    for rule in &mut rules {
                        rule.observe(&envelope.event, &mut raised);
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_tick {
            let now = Timestamp::now();
            for rule in &mut rules {
                rule.on_tick(now, &mut raised);
                metrics.rule_keys(rule.name(), rule.state_keys());
                metrics.rule_evictions(rule.name(), rule.state_evictions());
            }
            next_tick = Instant::now() + tick;
        }
        send(&mut raised, true);
    }
    // The input is over (shutdown): windows close one last time.
    let now = Timestamp::now();
    for rule in &mut rules {
        rule.on_tick(now, &mut raised);
        rule.flush(&mut raised);
        metrics.rule_keys(rule.name(), rule.state_keys());
        metrics.rule_evictions(rule.name(), rule.state_evictions());
    }
    send(&mut raised, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Protocol};

    fn event(n: u16) -> Event {
        Event::new(
            "test",
            Protocol::Ssh,
            std::net::IpAddr::from([192, 0, 2, 1]),
            EventKind::SessionStarted,
        )
        .with_source_port(n)
    }

    #[tokio::test]
    async fn try_emit_queues_when_there_is_room_and_gives_the_event_back_otherwise() {
        let (sender, mut receiver) = mpsc::channel(1);
        let emitted = Counter::<u64>::default();
        let emitter = EventEmitter {
            sender,
            emitted: emitted.clone(),
            on_disk: false,
        };
        let first = event(1);
        let second = event(2);
        let second_id = second.id;
        assert!(emitter.try_emit(first).is_ok());
        match emitter.try_emit(second) {
            Err(TryEmitError::Full(back)) => assert_eq!(back.id, second_id),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(emitted.get(), 1, "only the queued event counts as emitted");
        let queued = receiver
            .recv()
            .await
            .map(|envelope| envelope.event.src_port);
        assert_eq!(queued, Some(Some(1)));
        // Room again: the next one goes in.
        assert!(emitter.try_emit(event(3)).is_ok());
        drop(receiver);
        assert!(matches!(
            emitter.try_emit(event(4)),
            Err(TryEmitError::Closed)
        ));
        assert_eq!(emitted.get(), 2);
    }
}
