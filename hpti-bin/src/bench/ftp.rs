//! `hpti bench ftp`: a load generator for the FTP honeypot (or any FTP server).
//!
//! N workers each loop connect → `USER`/`PASS` → `PASV` → `LIST` (the listing read from
//! the data connection) → `QUIT` until the duration ends; each session's latency goes
//! into an HDR histogram. The server is at `--addr`, or a sensor this process starts
//! (`--spawn-sensor`) on 127.0.0.1 that stores its events in a fresh SQLite file through
//! the configured pipeline, as in production.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use hpti_core::pipeline::Pipeline;
use hpti_sensors::ftp::{FtpConfig, FtpSensor, FtpServer};
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_store::{EventQueries, SqliteStore};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::Config;

/// Arguments of `hpti bench ftp`.
#[derive(Debug, Clone, clap::Args)]
pub struct FtpArgs {
    /// The FTP server to load (`host:port`); omit with `--spawn-sensor`.
    #[arg(
        long,
        required_unless_present = "spawn_sensor",
        conflicts_with = "spawn_sensor"
    )]
    addr: Option<SocketAddr>,
    /// Start an FTP sensor in this process on 127.0.0.1, with a temporary data directory
    /// and SQLite store.
    #[arg(long)]
    spawn_sensor: bool,
    /// Worker tasks, each running one session at a time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// User name of the login.
    #[arg(long, default_value = "root")]
    user: String,
    /// Password of the login (one the sensor's default policy accepts for root: a
    /// rejected one costs the 3 s failure delay).
    #[arg(long, default_value = "hpti-bench")]
    password: String,
    /// The persona of the spawned sensor: `vsftpd` or `proftpd`.
    #[arg(long, default_value = "vsftpd", value_parser = ["vsftpd", "proftpd"])]
    server: String,
    /// Longest one session may take before it counts as failed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Serialize)]
struct FtpResult {
    sessions: u64,
    failed: u64,
    seconds: f64,
    sessions_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    concurrency: usize,
    /// Events the spawned sensor stored (0 against `--addr`).
    events_stored: u64,
}

/// Runs `hpti bench ftp` and prints its result as JSON.
pub async fn ftp(config: &Config, args: &FtpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be positive");
    anyhow::ensure!(
        args.duration > 0.0 && args.duration.is_finite(),
        "--duration must be positive"
    );
    let tempdir = super::tempdir_for_bench()?;
    let result = run(config, args, &tempdir).await;
    let _ = std::fs::remove_dir_all(&tempdir);
    println!("{}", serde_json::to_string(&result?)?);
    Ok(())
}

async fn run(config: &Config, args: &FtpArgs, tempdir: &Path) -> anyhow::Result<FtpResult> {
    let host = if args.spawn_sensor {
        let server = match args.server.as_str() {
            "proftpd" => FtpServer::Proftpd,
            _ => FtpServer::Vsftpd,
        };
        Some(FtpHost::start(config, &tempdir.join("sensor"), server).await?)
    } else {
        None
    };
    let addr = match (&host, args.addr) {
        (Some(host), _) => host.addr,
        (None, Some(addr)) => addr,
        (None, None) => anyhow::bail!("give --addr or --spawn-sensor"),
    };
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.duration);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let args = args.clone();
        workers.spawn(async move {
            let mut latencies = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!());
            let mut failed = 0u64;
            while Instant::now() < until {
                let begun = Instant::now();
                match tokio::time::timeout(args.timeout, session(addr, &args)).await {
                    Ok(Ok(())) => {
                        let micros = u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let _ = latencies.record(micros.max(1));
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        });
    }
    let mut all = Histogram::<u64>::new(3).context("histogram")?;
    let mut failed = 0;
    while let Some(done) = workers.join_next().await {
        let (latencies, worker_failed) = done.context("a bench worker panicked")?;
        all.add(latencies).context("histogram")?;
        failed += worker_failed;
    }
    let seconds = started.elapsed().as_secs_f64();
    let events_stored = match host {
        Some(host) => host.stop().await?,
        None => 0,
    };
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(FtpResult {
        sessions: all.len(),
        failed,
        seconds,
        sessions_per_sec: all.len() as f64 / seconds,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: all.max() as f64 / 1000.0,
        concurrency: args.concurrency,
        events_stored,
    })
}

/// One session: login, a passive `LIST`, `QUIT`.
async fn session(addr: SocketAddr, args: &FtpArgs) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    expect(&mut read, "220").await?;
    write
        .write_all(format!("USER {}\r\nPASS {}\r\n", args.user, args.password).as_bytes())
        .await?;
    expect(&mut read, "331").await?;
    expect(&mut read, "230").await?;
    write.write_all(b"PASV\r\n").await?;
    let pasv = expect(&mut read, "227").await?;
    let data_addr = passive_address(&pasv, addr).context("an unreadable 227 reply")?;
    let mut data = TcpStream::connect(data_addr).await?;
    write.write_all(b"LIST\r\n").await?;
    expect(&mut read, "150").await?;
    let mut listing = Vec::new();
    data.read_to_end(&mut listing).await?;
    expect(&mut read, "226").await?;
    write.write_all(b"QUIT\r\n").await?;
    expect(&mut read, "221").await?;
    Ok(())
}

/// Reads one reply (all its lines) and checks its code.
async fn expect(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    code: &str,
) -> anyhow::Result<String> {
    let mut first = String::new();
    anyhow::ensure!(read.read_line(&mut first).await? > 0, "connection closed");
    if first.as_bytes().get(3) == Some(&b'-') {
        loop {
            let mut line = String::new();
            anyhow::ensure!(read.read_line(&mut line).await? > 0, "connection closed");
            if line.starts_with(code) && line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    }
    anyhow::ensure!(first.starts_with(code), "expected {code}, got {first:?}");
    Ok(first)
}

/// The address of `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` (the host of the
/// control connection when the server shows 0.0.0.0).
fn passive_address(reply: &str, control: SocketAddr) -> Option<SocketAddr> {
    let inner = reply.split_once('(')?.1.split_once(')')?.0;
    let numbers: Vec<u16> = inner
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [_, _, _, _, high, low] = numbers.as_slice() else {
        return None;
    };
    Some(SocketAddr::new(control.ip(), high * 256 + low))
}

/// An FTP sensor with its pipeline and SQLite store, in this process.
struct FtpHost {
    addr: SocketAddr,
    pipeline: Pipeline,
    store: SqliteStore,
}

impl FtpHost {
    async fn start(config: &Config, dir: &Path, server: FtpServer) -> anyhow::Result<Self> {
        let (mut pipeline, store, metrics) = super::ssh::sensor_pipeline(config, dir).await?;
        let mut honeypot = HoneypotConfig::default();
        honeypot.fetch.enabled = false;
        honeypot.limits.max_sessions = 1_000_000;
        honeypot.limits.max_sessions_per_ip = 1_000_000;
        let ftp = FtpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            passive_ports: [20000, 60000],
            server,
            ..FtpConfig::default()
        };
        let sensor = FtpSensor::bind("ftp-bench", dir, ftp, &honeypot, &metrics)
            .await
            .context("cannot start the FTP sensor")?;
        let addr = sensor.local_addr();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("ftp-bench")?,
            Arc::new(sensor),
        );
        Ok(Self {
            addr,
            pipeline,
            store,
        })
    }

    /// Stops the sensor, drains the pipeline; the events stored.
    async fn stop(self) -> anyhow::Result<u64> {
        self.pipeline.shutdown().await;
        let stored = self.store.count_events().await?;
        self.store.close().await;
        Ok(stored)
    }
}
