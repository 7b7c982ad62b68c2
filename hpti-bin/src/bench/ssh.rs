//! `hpti bench ssh`: a load generator for the SSH honeypot (or any SSH server).
//!
//! N workers each loop connect → key exchange → one password attempt (→ session channel,
//! shell or exec, one command, its output) → disconnect until the duration ends; the
//! latency of each connection goes into an HDR histogram. `--mode idle` instead opens
//! sessions and keeps them open to measure the memory they hold.
//!
//! The server is either at `--addr`, or started by the bench (`--spawn-sensor`): in this
//! process (its CPU time and memory then include the generator's), or in a child process
//! (`--spawn-sensor process`, the same binary's hidden `bench ssh-sensor`), whose CPU time
//! and memory are the server's alone. `--server-pid` reads those of a server started
//! elsewhere (`hpti run`). A spawned sensor stores its events in a fresh SQLite file
//! through the configured pipeline, as in production.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::Pipeline;
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_sensors::ssh::{SshConfig, SshSensor};
use hpti_store::{EventQueries, SqliteStore};
use prometheus_client::registry::Registry;
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, Disconnect};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::config::Config;

/// Arguments of `hpti bench ssh`.
#[derive(Debug, Clone, clap::Args)]
pub struct SshArgs {
    /// The SSH server to load (`host:port`); omit with `--spawn-sensor`.
    #[arg(
        long,
        required_unless_present = "spawn_source",
        conflicts_with = "spawn_source"
    )]
    addr: Option<SocketAddr>,
    /// Start an SSH sensor on 127.0.0.1 with a temporary data directory and SQLite store:
    /// `in-process` (the default when the flag is given alone) or `process` (a child
    /// process, so that its CPU time and memory are measured apart from the generator's).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "in-process")]
    spawn_source: Option<SpawnSensor>,
    /// What each connection does.
    #[arg(long, value_enum, default_value_t = Mode::Handshake)]
    mode: Mode,
    /// Worker tasks, each running one connection at a time (in idle mode: opening them).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of load (handshake and session modes).
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Sessions to open and keep open (idle mode).
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Seconds the idle sessions stay open before memory is read (idle mode).
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Idle mode: logins (login and one command, each on a new connection) timed one
    /// after another while the idle sessions are open: is a normal attacker still
    /// served promptly?
    #[arg(long, default_value_t = 50)]
    probe_logins: usize,
    /// Session mode: an interactive shell with a pty (the command then `exit` typed into
    /// it, recorded as asciicast), or an exec request.
    #[arg(long, value_enum, default_value_t = SessionKind::Shell)]
    session: SessionKind,
    /// The command run in session mode.
    #[arg(long, default_value = "uname -a")]
    command: String,
    /// User name of the password attempt.
    #[arg(long, default_value = "root")]
    user: String,
    /// Password of the attempt. The default is one the sensor's default policy accepts
    /// for root, in every mode: a rejected attempt costs the server's
    /// `auth_rejection_time` (1.5 s), which would make the handshake mode measure sleep.
    #[arg(long, default_value = "hpti-bench")]
    password: String,
    /// Longest one connection may take before it counts as a `timeout` failure.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// A server process to measure (CPU time over the run, resident memory), e.g. the
    /// `hpti run` that listens at `--addr`.
    #[arg(long, conflicts_with = "spawn_source")]
    server_pid: Option<u32>,
    /// Spawned sensor: turn session recordings off.
    #[arg(long)]
    no_recording: bool,
}

/// Arguments of the hidden `hpti bench ssh-sensor` (the child of `--spawn-sensor process`).
#[derive(Debug, clap::Args)]
pub struct SshSensorArgs {
    /// Data directory of the sensor (keys, persona, recordings, `bench.db`).
    #[arg(long)]
    data_dir: PathBuf,
    /// Turn session recordings off.
    #[arg(long)]
    no_recording: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum SpawnSensor {
    InProcess,
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Key exchange and one password attempt.
    Handshake,
    /// Also a session channel, a shell or exec, one command and its output.
    Session,
    /// Open `--connections` shell sessions, keep them idle, read memory.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum SessionKind {
    Shell,
    Exec,
}

/// Why a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    Connect,
    Kex,
    Auth,
    AuthRejected,
    Channel,
    Shell,
    Command,
    Timeout,
}

impl Failure {
    fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Kex => "kex",
            Self::Auth => "auth",
            Self::AuthRejected => "auth_rejected",
            Self::Channel => "channel_open",
            Self::Shell => "shell_or_exec",
            Self::Command => "command",
            Self::Timeout => "timeout",
        }
    }
}

type Failed = (Failure, String);

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// What the measured server used, when it can be read.
#[derive(Debug, Default, Serialize)]
struct ServerUsage {
    /// `in-process` (CPU and memory include the generator), `process`, `pid`, or `none`.
    measured: &'static str,
    pid: Option<u32>,
    /// CPU seconds (user + system) the server used during the run.
    cpu_s: Option<f64>,
    /// `cpu_s` over the run's wall time, in percent of one core.
    cpu_pct: Option<f64>,
    rss_mb: Option<f64>,
    peak_rss_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SshResult {
    bench: &'static str,
    mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionKind>,
    addr: String,
    spawn_source: Option<SpawnSensor>,
    concurrency: usize,
    duration_s: f64,
    /// Wall time from the start until the last worker finished.
    seconds: f64,
    connections: u64,
    conn_per_sec: f64,
    /// Connect until auth done (handshake) or until the command's output ended (session).
    latency_ms: Latency,
    /// The same, per phase: TCP connect, key exchange, password attempt, channel and command.
    phases_ms: BTreeMap<&'static str, Latency>,
    failures: u64,
    failure_kinds: BTreeMap<&'static str, u64>,
    /// Up to three error messages of each kind.
    failure_samples: BTreeMap<&'static str, Vec<String>>,
    /// Handshake mode: attempts the server rejected (counted as completed connections).
    auth_rejected: u64,
    events_stored: Option<u64>,
    server: ServerUsage,
    /// CPU seconds of this process (with `--spawn-sensor in-process`, server included).
    process_cpu_s: Option<f64>,
    peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
struct IdleResult {
    bench: &'static str,
    mode: Mode,
    addr: String,
    spawn_source: Option<SpawnSensor>,
    concurrency: usize,
    connections_requested: usize,
    /// Sessions (login + shell) open when memory was read.
    connections_open: u64,
    open_seconds: f64,
    open_per_sec: f64,
    failures: u64,
    failure_kinds: BTreeMap<&'static str, u64>,
    failure_samples: BTreeMap<&'static str, Vec<String>>,
    /// Server resident memory before the sessions were opened, and while they are open.
    server_rss_before_mb: Option<f64>,
    server_rss_open_mb: Option<f64>,
    /// (open − before) / sessions.
    server_kib_per_session: Option<f64>,
    server_open_connections: Option<usize>,
    /// Logins timed while the sessions were open (connect, key exchange, password,
    /// one exec), one after another.
    probe_logins: u64,
    probe_latency_ms: Option<Latency>,
    probe_failures: u64,
    /// Of those, served within 1 s.
    probe_within_1s: u64,
    events_stored: Option<u64>,
    server: ServerUsage,
    peak_rss_mb: f64,
}

/// `hpti bench ssh`.
pub async fn ssh(config: &Config, args: &SshArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be positive");
    anyhow::ensure!(
        args.duration > 0.0 && args.duration.is_finite(),
        "--duration must be positive"
    );
    let tempdir = super::tempdir_for_bench()?;
    let result = run_bench(config, args, &tempdir).await;
    let _ = std::fs::remove_dir_all(&tempdir);
    println!("{}", result?);
    Ok(())
}

async fn run_bench(config: &Config, args: &SshArgs, tempdir: &Path) -> anyhow::Result<String> {
    let server = match args.spawn_source {
        None => {
            let addr = args.addr.context("give --addr or --spawn-sensor")?;
            Server::External {
                addr,
                pid: args.server_pid,
            }
        }
        Some(SpawnSensor::InProcess) => Server::InProcess(Box::new(
            SensorHost::start(config, &tempdir.join("sensor"), !args.no_recording).await?,
        )),
        Some(SpawnSensor::Process) => {
            Server::Child(ChildSensor::spawn(&tempdir.join("sensor"), args.no_recording).await?)
        }
    };
    let addr = server.addr();
    let client = Arc::new(client_config());
    let json = if args.mode == Mode::Idle {
        let result = idle(args, &client, &server, addr).await;
        let events = server.stop().await?;
        let mut result = result?;
        result.events_stored = events;
        serde_json::to_string(&result)?
    } else {
        let result = load(args, &client, &server, addr).await;
        let events = server.stop().await?;
        let mut result = result?;
        result.events_stored = events;
        serde_json::to_string(&result)?
    };
    Ok(json)
}

/// The client side: curve25519 and ed25519 first, Nagle off as on the server.
pub(super) fn client_config() -> client::Config {
    use russh::keys::{Algorithm, EcdsaCurve, HashAlg};
    let preferred = russh::Preferred {
        key: std::borrow::Cow::Owned(vec![
            Algorithm::Ed25519,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
        ]),
        ..russh::Preferred::default()
    };
    client::Config {
        client_id: russh::SshId::Standard(std::borrow::Cow::Borrowed("SSH-2.0-hpti-bench")),
        preferred,
        nodelay: true,
        inactivity_timeout: None,
        ..Default::default()
    }
}

/// Accepts any host key.
pub(super) struct AnyHostKey;

impl client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Per-phase times of one connection (microseconds).
#[derive(Default)]
struct Phases {
    tcp: u64,
    kex: u64,
    auth: u64,
    command: u64,
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// An open connection, logged in (and with its shell channel in idle mode).
struct Open {
    handle: client::Handle<AnyHostKey>,
    channel: Option<russh::Channel<client::Msg>>,
    rejected: bool,
}

/// Connect, key exchange, one password attempt.
async fn login(
    addr: SocketAddr,
    config: &Arc<client::Config>,
    args: &SshArgs,
    phases: &mut Phases,
) -> Result<Open, Failed> {
    let t0 = Instant::now();
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| (Failure::Connect, e.to_string()))?;
    let _ = stream.set_nodelay(true);
    phases.tcp = micros(t0);
    let t1 = Instant::now();
    let mut handle = client::connect_stream(config.clone(), stream, AnyHostKey)
        .await
        .map_err(|e| (Failure::Kex, e.to_string()))?;
    phases.kex = micros(t1);
    let t2 = Instant::now();
    let auth = handle
        .authenticate_password(args.user.as_str(), args.password.as_str())
        .await
        .map_err(|e| (Failure::Auth, e.to_string()))?;
    phases.auth = micros(t2);
    Ok(Open {
        handle,
        channel: None,
        rejected: !auth.success(),
    })
}

/// Opens a session channel and starts a shell (with a pty) or the exec of `command`.
async fn open_session(open: &mut Open, kind: SessionKind, command: &str) -> Result<(), Failed> {
    let channel = open
        .handle
        .channel_open_session()
        .await
        .map_err(|e| (Failure::Channel, e.to_string()))?;
    let shell_err = |e: russh::Error| (Failure::Shell, e.to_string());
    match kind {
        SessionKind::Shell => {
            channel
                .request_pty(false, "xterm-256color", 80, 24, 0, 0, &[])
                .await
                .map_err(shell_err)?;
            channel.request_shell(true).await.map_err(shell_err)?;
        }
        SessionKind::Exec => channel.exec(true, command).await.map_err(shell_err)?,
    }
    open.channel = Some(channel);
    Ok(())
}

/// Waits for the server's answer to the shell or exec request.
async fn wait_success(channel: &mut russh::Channel<client::Msg>) -> Result<(), Failed> {
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Success) => return Ok(()),
            Some(ChannelMsg::Failure) => {
                return Err((Failure::Shell, "the server refused the request".into()));
            }
            Some(ChannelMsg::Close) | None => {
                return Err((Failure::Shell, "channel closed".into()));
            }
            Some(_) => {}
        }
    }
}

/// One whole connection of the handshake or session mode; `Ok(true)` when the password
/// was rejected (handshake mode only).
async fn one_connection(
    addr: SocketAddr,
    config: &Arc<client::Config>,
    args: &SshArgs,
    phases: &mut Phases,
) -> Result<bool, Failed> {
    let mut open = login(addr, config, args, phases).await?;
    let rejected = open.rejected;
    if rejected && args.mode != Mode::Handshake {
        let _ = open
            .handle
            .disconnect(Disconnect::ByApplication, "", "")
            .await;
        return Err((Failure::AuthRejected, "password rejected".into()));
    }
    if args.mode == Mode::Session {
        let t3 = Instant::now();
        open_session(&mut open, args.session, &args.command).await?;
        let Some(channel) = open.channel.as_mut() else {
            return Err((Failure::Channel, "no channel".into()));
        };
        wait_success(channel).await?;
        if args.session == SessionKind::Shell {
            let typed = format!("{}\nexit\n", args.command);
            channel
                .data(typed.as_bytes())
                .await
                .map_err(|e| (Failure::Command, e.to_string()))?;
        }
        let mut received = 0usize;
        loop {
            match channel.wait().await {
                Some(ChannelMsg::Data { data }) => received += data.len(),
                Some(ChannelMsg::ExitStatus { .. } | ChannelMsg::Eof | ChannelMsg::Close)
                | None => break,
                Some(_) => {}
            }
        }
        if received == 0 {
            return Err((Failure::Command, "no output".into()));
        }
        phases.command = micros(t3);
    }
    let _ = open
        .handle
        .disconnect(Disconnect::ByApplication, "", "")
        .await;
    Ok(rejected)
}

/// What one worker measured.
struct Tally {
    total: Histogram<u64>,
    phases: [Histogram<u64>; 4],
    completed: u64,
    rejected: u64,
    failures: BTreeMap<Failure, u64>,
    samples: BTreeMap<Failure, Vec<String>>,
}

const PHASES: [&str; 4] = ["tcp_connect", "kex", "auth", "session_command"];

impl Tally {
    fn new() -> Self {
        Self {
            total: histogram(),
            phases: [histogram(), histogram(), histogram(), histogram()],
            completed: 0,
            rejected: 0,
            failures: BTreeMap::new(),
            samples: BTreeMap::new(),
        }
    }

    fn fail(&mut self, (kind, message): Failed) {
        *self.failures.entry(kind).or_default() += 1;
        let samples = self.samples.entry(kind).or_default();
        if samples.len() < 3 && !samples.contains(&message) {
            samples.push(message);
        }
    }

    fn merge(&mut self, other: Self) {
        let _ = self.total.add(&other.total);
        for (mine, theirs) in self.phases.iter_mut().zip(other.phases.iter()) {
            let _ = mine.add(theirs);
        }
        self.completed += other.completed;
        self.rejected += other.rejected;
        for (kind, n) in other.failures {
            *self.failures.entry(kind).or_default() += n;
        }
        for (kind, messages) in other.samples {
            let samples = self.samples.entry(kind).or_default();
            for message in messages {
                if samples.len() < 3 && !samples.contains(&message) {
                    samples.push(message);
                }
            }
        }
    }

    fn failure_count(&self) -> u64 {
        self.failures.values().sum()
    }

    fn failure_kinds(&self) -> BTreeMap<&'static str, u64> {
        self.failures.iter().map(|(k, n)| (k.name(), *n)).collect()
    }

    fn failure_samples(&self) -> BTreeMap<&'static str, Vec<String>> {
        self.samples
            .iter()
            .map(|(k, m)| (k.name(), m.clone()))
            .collect()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new(3).unwrap_or_else(|_| super::unreachable_histogram())
}

async fn worker(
    addr: SocketAddr,
    config: Arc<client::Config>,
    args: Arc<SshArgs>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let mut phases = Phases::default();
        let outcome = tokio::time::timeout(
            args.timeout,
            one_connection(addr, &config, &args, &mut phases),
        )
        .await;
        match outcome {
            Ok(Ok(rejected)) => {
                let _ = tally.total.record(micros(started));
                let values = [phases.tcp, phases.kex, phases.auth, phases.command];
                for (histogram, value) in tally.phases.iter_mut().zip(values) {
                    if value > 0 {
                        let _ = histogram.record(value);
                    }
                }
                tally.completed += 1;
                tally.rejected += u64::from(rejected);
            }
            Ok(Err(failed)) => tally.fail(failed),
            Err(_) => tally.fail((
                Failure::Timeout,
                format!("no completion within {:?}", args.timeout),
            )),
        }
    }
    tally
}

async fn load(
    args: &SshArgs,
    config: &Arc<client::Config>,
    server: &Server,
    addr: SocketAddr,
) -> anyhow::Result<SshResult> {
    // The generator holds one socket per session too.
    crate::privileges::raise_open_files(args.connections as u64 + 1024);
    let shared = Arc::new(args.clone());
    let cpu_before = server.cpu_seconds();
    let self_before = cpu_seconds(None);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(addr, config.clone(), shared.clone(), deadline)))
        .collect();
    let mut tally = Tally::new();
    for worker in workers {
        tally.merge(worker.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let usage = server.usage(cpu_before, seconds);
    let phases_ms = PHASES
        .iter()
        .zip(tally.phases.iter())
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| (*name, Latency::of(h)))
        .collect();
    Ok(SshResult {
        bench: "ssh",
        mode: args.mode,
        session: (args.mode == Mode::Session).then_some(args.session),
        addr: addr.to_string(),
        spawn_source: args.spawn_source,
        concurrency: args.concurrency,
        duration_s: args.duration,
        seconds,
        connections: tally.completed,
        conn_per_sec: tally.completed as f64 / seconds,
        latency_ms: Latency::of(&tally.total),
        phases_ms,
        failures: tally.failure_count(),
        failure_kinds: tally.failure_kinds(),
        failure_samples: tally.failure_samples(),
        auth_rejected: tally.rejected,
        events_stored: None,
        server: usage,
        process_cpu_s: cpu_seconds(None)
            .zip(self_before)
            .map(|(after, before)| after - before),
        peak_rss_mb: super::peak_rss_mb(),
    })
}

/// Idle mode: opens sessions (login, pty, shell) and keeps them.
async fn idle(
    args: &SshArgs,
    config: &Arc<client::Config>,
    server: &Server,
    addr: SocketAddr,
) -> anyhow::Result<IdleResult> {
    let shared = Arc::new(args.clone());
    let cpu_before = server.cpu_seconds();
    let rss_before = server.rss_mb("VmRSS:");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (config, args, next) = (config.clone(), shared.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally::new();
                let mut kept = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < args.connections {
                    let opened = tokio::time::timeout(args.timeout, async {
                        let mut phases = Phases::default();
                        let mut open = login(addr, &config, &args, &mut phases).await?;
                        if open.rejected {
                            return Err((Failure::AuthRejected, "password rejected".into()));
                        }
                        open_session(&mut open, SessionKind::Shell, "").await?;
                        if let Some(channel) = open.channel.as_mut() {
                            wait_success(channel).await?;
                        }
                        Ok(open)
                    })
                    .await;
                    match opened {
                        Ok(Ok(open)) => {
                            tally.completed += 1;
                            kept.push(open);
                        }
                        Ok(Err(failed)) => tally.fail(failed),
                        Err(_) => tally.fail((Failure::Timeout, "login and shell".into())),
                    }
                }
                (tally, kept)
            })
        })
        .collect();
    let mut tally = Tally::new();
    let mut kept = Vec::new();
    for worker in workers {
        let (t, k) = worker.await?;
        tally.merge(t);
        kept.extend(k);
    }
    let open_seconds = started.elapsed().as_secs_f64();
    let probe = probe_logins(args, config, addr).await;
    tokio::time::sleep(Duration::from_secs_f64(args.hold.max(0.0))).await;
    // Sessions the server closed meanwhile are not counted as open.
    let still_open = kept.iter().filter(|o| !o.handle.is_closed()).count() as u64;
    let rss_open = server.rss_mb("VmRSS:");
    let server_open_connections = server.open_connections();
    let usage = server.usage(cpu_before, started.elapsed().as_secs_f64());
    for open in &kept {
        let _ = open
            .handle
            .disconnect(Disconnect::ByApplication, "", "")
            .await;
    }
    drop(kept);
    let per_session = rss_before
        .zip(rss_open)
        .filter(|_| still_open > 0)
        .map(|(before, open)| (open - before) * 1024.0 / still_open as f64);
    Ok(IdleResult {
        bench: "ssh",
        mode: Mode::Idle,
        addr: addr.to_string(),
        spawn_source: args.spawn_source,
        concurrency: args.concurrency,
        connections_requested: args.connections,
        connections_open: still_open,
        open_seconds,
        open_per_sec: tally.completed as f64 / open_seconds,
        failures: tally.failure_count(),
        failure_kinds: tally.failure_kinds(),
        failure_samples: tally.failure_samples(),
        server_rss_before_mb: rss_before,
        server_rss_open_mb: rss_open,
        server_kib_per_session: per_session,
        server_open_connections,
        probe_logins: probe.histogram.len(),
        probe_latency_ms: (!probe.histogram.is_empty()).then(|| Latency::of(&probe.histogram)),
        probe_failures: probe.failures,
        probe_within_1s: probe.within_1s,
        events_stored: None,
        server: usage,
        peak_rss_mb: super::peak_rss_mb(),
    })
}

/// Logins timed while the idle sessions are held.
struct Probe {
    histogram: Histogram<u64>,
    failures: u64,
    within_1s: u64,
}

async fn probe_logins(args: &SshArgs, config: &Arc<client::Config>, addr: SocketAddr) -> Probe {
    let mut probe = Probe {
        histogram: histogram(),
        failures: 0,
        within_1s: 0,
    };
    for _ in 0..args.probe_logins {
        let started = Instant::now();
        let served = tokio::time::timeout(args.timeout, async {
            let mut phases = Phases::default();
            let mut open = login(addr, config, args, &mut phases).await?;
            if open.rejected {
                return Err((Failure::AuthRejected, "password rejected".into()));
            }
            open_session(&mut open, SessionKind::Exec, "uname").await?;
            if let Some(channel) = open.channel.as_mut() {
                while let Some(msg) = channel.wait().await {
                    if matches!(
                        msg,
                        russh::ChannelMsg::Close | russh::ChannelMsg::ExitStatus { .. }
                    ) {
                        break;
                    }
                }
            }
            let _ = open
                .handle
                .disconnect(Disconnect::ByApplication, "", "")
                .await;
            Ok(())
        })
        .await;
        match served {
            Ok(Ok(())) => {
                let took = micros(started);
                let _ = probe.histogram.record(took.max(1));
                if took <= 1_000_000 {
                    probe.within_1s += 1;
                }
            }
            _ => probe.failures += 1,
        }
    }
    probe
}

/// The server under load.
enum Server {
    External { addr: SocketAddr, pid: Option<u32> },
    InProcess(Box<SensorHost>),
    Child(ChildSensor),
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Self::External { addr, .. } => *addr,
            Self::InProcess(host) => host.addr,
            Self::Child(child) => child.addr,
        }
    }

    /// The process to measure: `None` for this one, or nothing to measure.
    fn pid(&self) -> Option<Option<u32>> {
        match self {
            Self::External { pid, .. } => pid.map(Some),
            Self::InProcess(_) => Some(None),
            Self::Child(child) => Some(Some(child.child.id())),
        }
    }

    fn cpu_seconds(&self) -> Option<f64> {
        self.pid().and_then(cpu_seconds)
    }

    fn rss_mb(&self, key: &str) -> Option<f64> {
        self.pid().and_then(|pid| proc_status_mb(pid, key))
    }

    fn open_connections(&self) -> Option<usize> {
        match self {
            Self::InProcess(host) => Some(host.open_connections()),
            _ => None,
        }
    }

    fn usage(&self, cpu_before: Option<f64>, seconds: f64) -> ServerUsage {
        let measured = match self {
            Self::External { pid: None, .. } => "none",
            Self::External { .. } => "pid",
            Self::InProcess(_) => "in-process",
            Self::Child(_) => "process",
        };
        let cpu_s = self
            .cpu_seconds()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        ServerUsage {
            measured,
            pid: self.pid().map(|pid| pid.unwrap_or_else(std::process::id)),
            cpu_s,
            cpu_pct: cpu_s.map(|cpu| cpu / seconds * 100.0),
            rss_mb: self.rss_mb("VmRSS:"),
            peak_rss_mb: self.rss_mb("VmHWM:"),
        }
    }

    /// Stops a spawned sensor; the events it stored.
    async fn stop(self) -> anyhow::Result<Option<u64>> {
        match self {
            Self::External { .. } => Ok(None),
            Self::InProcess(host) => host.stop().await.map(Some),
            Self::Child(child) => child.stop().await.map(Some),
        }
    }
}

/// CPU seconds (user + system) of a process (`None`: this one), from `/proc/PID/stat`.
/// Clock ticks are assumed to be 100 a second (Linux's `USER_HZ` on every architecture
/// that matters here).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // Field 14 (utime) and 15 (stime) of proc(5); fields[0] is field 3 (state).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A `/proc/PID/status` memory figure (`VmRSS:`, `VmHWM:`) in MiB.
pub(super) fn proc_status_mb(pid: Option<u32>, key: &str) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

/// The pipeline of a sensor the bench starts in this process: the configured enrichers
/// and a fresh SQLite store `dir/bench.db`, as in production.
pub(super) async fn sensor_pipeline(
    config: &Config,
    dir: &Path,
) -> anyhow::Result<(Pipeline, SqliteStore, PipelineMetrics)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = SqliteStore::open(hpti_store::SqliteOptions::new(dir.join("bench.db")))
        .await
        .context("cannot create the bench database")?;
    let mut config = config.clone();
    config.pipeline.dead_letter_file = dir.join("dead-letters.jsonl");
    let mut registry = Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    let components = config.components()?;
    let pipeline = config
        .enriched(&components, metrics.clone())
        .await?
        .sink(
            hpti_core::component::ComponentId::new("main")?,
            Arc::new(store.clone()),
        )
        .start()?;
    Ok((pipeline, store, metrics))
}

/// An SSH sensor with its pipeline and SQLite store, in this process.
struct SensorHost {
    addr: SocketAddr,
    pipeline: Pipeline,
    store: SqliteStore,
    honeypot: Arc<hpti_sensors::honeypot::Honeypot>,
}

impl SensorHost {
    /// Starts a sensor on 127.0.0.1 (random port) with its data in `dir`, the configured
    /// pipeline, and a fresh SQLite store `dir/bench.db`.
    async fn start(config: &Config, dir: &Path, recording: bool) -> anyhow::Result<Self> {
        let (mut pipeline, store, metrics) = sensor_pipeline(config, dir).await?;
        let mut honeypot = HoneypotConfig::default();
        honeypot.fetch.enabled = false;
        honeypot.recording.enabled = recording;
        honeypot.limits.max_sessions = 1_000_000;
        honeypot.limits.max_sessions_per_ip = 1_000_000;
        let ssh = SshConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..SshConfig::default()
        };
        let sensor = SshSensor::bind("ssh-bench", dir, ssh, &honeypot, &metrics)
            .await
            .context("cannot start the SSH sensor")?;
        let addr = sensor.local_addr();
        let honeypot = sensor.honeypot().clone();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("ssh-bench")?,
            Arc::new(sensor),
        );
        Ok(Self {
            addr,
            pipeline,
            store,
            honeypot,
        })
    }

    fn open_connections(&self) -> usize {
        self.honeypot.open_connections()
    }

    /// Stops the sensor, drains the pipeline; the events stored.
    async fn stop(self) -> anyhow::Result<u64> {
        drop(self.honeypot);
        self.pipeline.shutdown().await;
        let stored = self.store.count_events().await?;
        self.store.close().await;
        Ok(stored)
    }
}

/// What the child sensor prints when it stops.
#[derive(Debug, Serialize, Deserialize)]
struct ChildReport {
    events_stored: u64,
}

/// `hpti bench ssh-sensor`: an SSH sensor for `--spawn-sensor process`. Prints
/// `listening ADDR`, runs until its standard input ends, prints a [`ChildReport`].
pub async fn ssh_sensor(config: &Config, args: &SshSensorArgs) -> anyhow::Result<()> {
    // As `hpti run` does: a socket and a recording per session, for the idle mode's
    // ten thousand sessions.
    crate::privileges::raise_open_files(65_536);
    let host = SensorHost::start(config, &args.data_dir, !args.no_recording).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", host.addr)?;
        out.flush()?;
    }
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
    })
    .await?;
    let events_stored = host.stop().await?;
    println!("{}", serde_json::to_string(&ChildReport { events_stored })?);
    Ok(())
}

/// The child process of `--spawn-sensor process`.
struct ChildSensor {
    addr: SocketAddr,
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ChildSensor {
    async fn spawn(dir: &Path, no_recording: bool) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the hpti executable")?;
        let mut command = std::process::Command::new(exe);
        command
            .args(["bench", "ssh-sensor", "--data-dir"])
            .arg(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        if no_recording {
            command.arg("--no-recording");
        }
        let mut child = command.spawn().context("cannot start the sensor process")?;
        let stdout = child
            .stdout
            .take()
            .context("the sensor process has no stdout")?;
        let (stdout, line) = tokio::task::spawn_blocking(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            (reader, read.map(|_| line))
        })
        .await?;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                return Err(e).context("reading the sensor process's address");
            }
        };
        let Some(addr) = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the sensor process did not start (it said {line:?})");
        };
        Ok(Self {
            addr,
            child,
            stdout,
        })
    }

    async fn stop(mut self) -> anyhow::Result<u64> {
        // Closing its standard input makes it shut down and report.
        drop(self.child.stdin.take());
        let mut stdout = self.stdout;
        let mut child = self.child;
        let report = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            let _ = child.wait();
            text
        })
        .await?;
        let report: ChildReport = report
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .context("the sensor process did not report")?;
        Ok(report.events_stored)
    }
}
