//! The pipeline runtime: sources → validator → enrichers → fan-out to sinks and alert rules.
//!
//! Every queue is bounded, so a slow sink slows the sources down instead of growing memory.
//! Events travel in batches between stages; each sink gets batches cut by size and by linger
//! time. An event's [`AckBatch`] learns its fate when every stage is done with it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::ack::{AckBatch, DeliveryStatus};
use crate::alert::{Alert, AlertRule};
use crate::dead_letter::{DeadLetter, DeadLetterSender, DeadLetterStage, DeadLetterWriter};
use crate::enricher::Enricher;
use crate::error::ErrorClass;
use crate::event::{Event, Timestamp};
use crate::metrics::PipelineMetrics;
use crate::sink::Sink;
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
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most events in one [`Sink::write`] call.
    pub max_events: usize,
    /// Longest time the first event of a batch waits for the batch to fill.
    pub linger: Duration,
    /// [`Sink::write`] calls in flight at once. Two let a sink prepare one batch while
    /// the previous one is being stored; a sink that must write in order wants one.
    pub concurrency: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_events: 1024,
            linger: Duration::from_millis(20),
            concurrency: 2,
        }
    }
}

/// Retries of temporary sink errors: exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt before the batch is dead-lettered.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
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
    /// Largest size of the dead-letter file; records past it are refused and counted
    /// (`outcome="refused_full"`). Default 1 GiB.
    pub dead_letter_max_bytes: u64,
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
        }
    }
}

/// Failure to start a pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// No sink was added: events would be acknowledged without being stored.
    #[error("a pipeline needs at least one sink")]
    NoSinks,
    /// A size in the config is zero.
    #[error("pipeline setting `{0}` must be greater than zero")]
    ZeroSize(&'static str),
    /// The dead-letter file could not be opened.
    #[error(transparent)]
    DeadLetter(#[from] crate::dead_letter::OpenError),
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
}

/// Builds a [`Pipeline`].
pub struct PipelineBuilder {
    config: PipelineConfig,
    validator: Validator,
    enrichers: Vec<Arc<dyn Enricher>>,
    sinks: Vec<(Arc<dyn Sink>, BatchConfig)>,
    rules: Vec<Box<dyn AlertRule>>,
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
            alert_output: None,
            metrics: PipelineMetrics::default(),
        }
    }

    /// Replaces the default validator.
    pub fn validator(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }

    /// Adds an enricher; enrichers run in the order added.
    pub fn enricher(mut self, enricher: Arc<dyn Enricher>) -> Self {
        self.enrichers.push(enricher);
        self
    }

    /// Adds a sink with the default batching.
    pub fn sink(self, sink: Arc<dyn Sink>) -> Self {
        let batch = self.config.batch;
        self.sink_with_batching(sink, batch)
    }

    /// Adds a sink with its own batching.
    pub fn sink_with_batching(mut self, sink: Arc<dyn Sink>, batch: BatchConfig) -> Self {
        self.sinks.push((sink, batch));
        self
    }

    /// Adds an alert rule.
    pub fn rule(mut self, rule: Box<dyn AlertRule>) -> Self {
        self.rules.push(rule);
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

    /// Starts the stages on the current tokio runtime.
    pub fn start(self) -> Result<Pipeline, PipelineError> {
        let config = self.config;
        if self.sinks.is_empty() {
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
        if self.sinks.iter().any(|(_, batch)| batch.max_events == 0) {
            return Err(PipelineError::ZeroSize("batch_size"));
        }
        if self.sinks.iter().any(|(_, batch)| batch.concurrency == 0) {
            return Err(PipelineError::ZeroSize("sink_concurrency"));
        }
        let metrics = self.metrics;
        let (dead_letter_writer, dead_letters) = DeadLetterWriter::start_with_limit(
            &config.dead_letter_path,
            config.dead_letter_capacity,
            config.dead_letter_max_bytes,
            metrics.clone(),
        )?;
        metrics.queue_capacity("dead_letter", config.dead_letter_capacity);

        let mut outputs = Vec::with_capacity(self.sinks.len());
        let mut sink_tasks = Vec::with_capacity(self.sinks.len());
        for (sink, batch) in self.sinks {
            let (sender, receiver) = mpsc::channel(config.sink_queue_batches);
            let queue = format!("sink:{}", sink.name());
            metrics.queue_capacity(&queue, config.sink_queue_batches);
            let driver = SinkDriver {
                delivered: metrics.counter("sink", sink.name(), "delivered"),
                sink,
                batch,
                retry: config.retry,
                dead_letters: dead_letters.clone(),
                metrics: metrics.clone(),
                queue,
            };
            sink_tasks.push(tokio::spawn(driver.run(receiver)));
            outputs.push(sender);
        }
        let alert_task = if self.rules.is_empty() {
            None
        } else {
            let (sender, receiver) = mpsc::channel(config.sink_queue_batches);
            metrics.queue_capacity("alerts", config.sink_queue_batches);
            outputs.push(sender);
            Some(tokio::spawn(run_alert_rules(
                self.rules,
                receiver,
                self.alert_output,
                metrics.clone(),
            )))
        };

        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        metrics.queue_capacity("events", config.queue_capacity);
        let processor = Processor {
            accepted: metrics.counter("validator", "validator", "accepted"),
            enricher_counters: self
                .enrichers
                .iter()
                .map(|e| {
                    (
                        metrics.counter("enricher", e.name(), "ok"),
                        metrics.counter("enricher", e.name(), "failed"),
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
        };
        Ok(Pipeline {
            emitter: Some(emitter),
            dead_letters: Some(dead_letters),
            shutdown: CancellationToken::new(),
            sensors: JoinSet::new(),
            processor,
            sink_tasks,
            alert_task,
            dead_letter_writer,
            metrics,
        })
    }
}

/// A running pipeline.
///
/// ```
/// use std::sync::Arc;
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
///         Ok(WriteReport::default())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let config = PipelineConfig {
///     dead_letter_path: dir.path().join("dead-letters.jsonl"),
///     ..PipelineConfig::default()
/// };
/// let sink = Arc::new(Count(Default::default()));
/// let pipeline = PipelineBuilder::new(config).sink(sink.clone()).start().unwrap();
/// let emitter = pipeline.emitter();
/// emitter.emit(Event::new("demo", Protocol::Ssh, "192.0.2.9".parse().unwrap(),
///     EventKind::CommandInput { command: "id".into() })).await.unwrap();
/// drop(emitter);
/// pipeline.shutdown().await;
/// assert_eq!(sink.0.load(std::sync::atomic::Ordering::Relaxed), 1);
/// # }
/// ```
pub struct Pipeline {
    emitter: Option<EventEmitter>,
    dead_letters: Option<DeadLetterSender>,
    shutdown: CancellationToken,
    sensors: JoinSet<(String, Result<(), SourceError>)>,
    processor: JoinHandle<()>,
    sink_tasks: Vec<JoinHandle<()>>,
    alert_task: Option<JoinHandle<()>>,
    dead_letter_writer: DeadLetterWriter,
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

    /// The pipeline's metrics.
    pub fn metrics(&self) -> &PipelineMetrics {
        &self.metrics
    }

    /// The token sensors watch; cancelled by [`shutdown`](Self::shutdown).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs a sensor until it returns or the pipeline shuts down.
    pub fn spawn_source(&mut self, sensor: Arc<dyn Source>) {
        let ctx = SourceContext {
            events: self.emitter(),
            dead_letters: self.dead_letters(),
            shutdown: self.shutdown.child_token(),
        };
        self.sensors.spawn(async move {
            let name = sensor.name().to_owned();
            let result = sensor.run(ctx).await;
            (name, result)
        });
    }

    /// Waits until every spawned sensor has returned by itself (used by one-shot ingestion),
    /// returning each sensor's name and result.
    pub async fn wait_for_sources(&mut self) -> Vec<(String, Result<(), SourceError>)> {
        let mut results = Vec::new();
        while let Some(joined) = self.sensors.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(err) => results.push((
                    "<sensor task>".into(),
                    Err(SourceError::msg(format!("sensor task failed: {err}"))),
                )),
            }
        }
        results
    }

    /// Stops the sensors, then drains every queue and flushes every sink and the
    /// dead-letter file. Returns once everything accepted is stored or dead-lettered.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for (name, result) in self.wait_for_sources().await {
            if let Err(err) = result {
                tracing::error!(sensor = %name, error = %err, "sensor stopped with an error");
            }
        }
        drop(self.emitter.take());
        drop(self.dead_letters.take());
        if let Err(err) = self.processor.await {
            tracing::error!(error = %err, "processor task failed");
        }
        for task in self.sink_tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "sink task failed");
            }
        }
        if let Some(task) = self.alert_task
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "alert task failed");
        }
        let writer = self.dead_letter_writer;
        if tokio::task::spawn_blocking(move || writer.join())
            .await
            .is_err()
        {
            tracing::error!("dead-letter writer did not finish");
        }
    }
}

// The handles are only taken in `shutdown`, which consumes the pipeline, so these cannot
// run; they exist to avoid `expect` in library code.
fn unreachable_emitter() -> EventEmitter {
    let (sender, _) = mpsc::channel(1);
    EventEmitter {
        sender,
        emitted: Counter::default(),
    }
}

fn unreachable_dead_letters() -> DeadLetterSender {
    DeadLetterSender::disconnected()
}

type Chunk = Vec<Arc<Envelope>>;

struct Processor {
    validator: Validator,
    enrichers: Vec<Arc<dyn Enricher>>,
    enricher_counters: Vec<(Counter, Counter)>,
    outputs: Vec<mpsc::Sender<Chunk>>,
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
            let chunk: Chunk = accepted.into_iter().map(Arc::new).collect();
            if chunk.is_empty() {
                continue;
            }
            self.fan_out(chunk).await;
        }
    }

    async fn enrich(&self, envelopes: &mut [Envelope]) {
        if self.enrichers.is_empty() {
            return;
        }
        let timeout = self.enrich_timeout;
        futures::stream::iter(envelopes.iter_mut())
            .for_each_concurrent(self.enrich_concurrency, |envelope| async move {
                for (enricher, (ok, failed)) in self.enrichers.iter().zip(&self.enricher_counters)
                {
                    let outcome =
                        tokio::time::timeout(timeout, enricher.enrich(&mut envelope.event)).await;
                    match outcome {
                        Ok(Ok(())) => {
                            ok.inc();
                        }
                        Ok(Err(err)) => {
                            failed.inc();
                            tracing::debug!(enricher = enricher.name(), error = %err, "enrichment failed");
                            envelope.event.enrichment.failed.push(enricher.name().to_owned());
                        }
                        Err(_) => {
                            failed.inc();
                            tracing::debug!(enricher = enricher.name(), "enrichment timed out");
                            envelope.event.enrichment.failed.push(enricher.name().to_owned());
                        }
                    }
                }
            })
            .await;
    }

    async fn fan_out(&self, chunk: Chunk) {
        let last = self.outputs.len() - 1;
        let mut chunk = Some(chunk);
        for (index, output) in self.outputs.iter().enumerate() {
            let this = if index == last {
                chunk.take().unwrap_or_default()
            } else {
                chunk.clone().unwrap_or_default()
            };
            if let Err(mpsc::error::SendError(lost)) = output.send(this).await {
                tracing::error!("a sink or rule task is gone; its events are marked failed");
                for envelope in lost {
                    if let Some(ack) = &envelope.ack {
                        ack.update(DeliveryStatus::Failed);
                    }
                }
            }
        }
    }
}

async fn sleep_until_deadline(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct SinkDriver {
    sink: Arc<dyn Sink>,
    batch: BatchConfig,
    retry: RetryPolicy,
    dead_letters: DeadLetterSender,
    metrics: PipelineMetrics,
    delivered: Counter,
    queue: String,
}

impl SinkDriver {
    async fn run(self, mut receiver: mpsc::Receiver<Chunk>) {
        let mut pending: Vec<Arc<Envelope>> = Vec::with_capacity(self.batch.max_events);
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
                pending.extend(chunk);
                if pending.len() < self.batch.max_events {
                    if deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.batch.linger);
                    }
                    continue;
                }
            }
            // Full batches go now; at the linger time or the end of input, the rest too.
            let everything = lingered || closing;
            while pending.len() >= self.batch.max_events || (everything && !pending.is_empty()) {
                while in_flight.len() >= self.batch.concurrency {
                    in_flight.next().await;
                }
                let take = pending.len().min(self.batch.max_events);
                in_flight.push(self.deliver(pending.drain(..take).collect()));
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
            tracing::error!(sink = self.sink.name(), error = %err, "closing sink failed");
        }
    }

    async fn deliver(&self, batch: Vec<Arc<Envelope>>) {
        let name = self.sink.name();
        let events: Vec<&Event> = batch.iter().map(|envelope| &envelope.event).collect();
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.sink.write(&events).await;
            self.metrics
                .sink_write(name, started.elapsed().as_secs_f64());
            match result {
                Ok(report) => {
                    let rejected = report.rejected.len();
                    for rejection in report.rejected {
                        let Some(envelope) = batch.get(rejection.index) else {
                            tracing::error!(
                                sink = name,
                                index = rejection.index,
                                "sink rejected an index outside its batch"
                            );
                            continue;
                        };
                        let reason =
                            format!("sink `{name}` rejected the event: {}", rejection.reason);
                        let letter = envelope.dead_letter(DeadLetterStage::Sink, name, reason);
                        self.dead_letters.send(letter, envelope.ack.clone()).await;
                    }
                    self.delivered
                        .inc_by(batch.len().saturating_sub(rejected) as u64);
                    self.metrics
                        .count("sink", name, "rejected", rejected as u64);
                    return;
                }
                Err(err)
                    if err.class() == ErrorClass::Temporary && attempt < self.retry.max_retries =>
                {
                    attempt += 1;
                    self.metrics.sink_retry(name);
                    let backoff = self.retry.backoff(attempt);
                    tracing::warn!(sink = name, error = %err, attempt, ?backoff, "sink write failed; retrying");
                    tokio::time::sleep(backoff).await;
                }
                Err(err) => {
                    let reason = if attempt > 0 {
                        format!("sink `{name}` failed after {attempt} retries: {err}")
                    } else {
                        format!("sink `{name}` failed permanently: {err}")
                    };
                    tracing::error!(sink = name, events = batch.len(), %reason, "dead-lettering batch");
                    self.metrics
                        .count("sink", name, "failed", batch.len() as u64);
                    for envelope in &batch {
                        let letter =
                            envelope.dead_letter(DeadLetterStage::Sink, name, reason.clone());
                        self.dead_letters.send(letter, envelope.ack.clone()).await;
                    }
                    return;
                }
            }
        }
    }
}

async fn run_alert_rules(
    mut rules: Vec<Box<dyn AlertRule>>,
    mut receiver: mpsc::Receiver<Chunk>,
    output: Option<mpsc::Sender<Alert>>,
    metrics: PipelineMetrics,
) {
    while let Some(chunk) = receiver.recv().await {
        metrics.queue_depth("alerts", receiver.len());
        for envelope in &chunk {
            for rule in &mut rules {
                let Some(alert) = rule.observe(&envelope.event) else {
                    continue;
                };
                metrics.alert(&alert.rule);
                tracing::info!(rule = %alert.rule, severity = ?alert.severity, src_ip = %alert.src_ip, summary = %alert.summary, "alert");
                if let Some(output) = &output
                    && output.send(alert).await.is_err()
                {
                    tracing::warn!("alert receiver is gone");
                }
            }
        }
    }
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
