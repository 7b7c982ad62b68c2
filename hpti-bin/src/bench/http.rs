//! `hpti bench http`: a keep-alive load generator for the HTTP honeypot (or any HTTP
//! server, e.g. OpenCanary's HTTP module for the side-by-side comparison).
//!
//! N workers each hold one connection and send `GET <path>` after `GET <path>`, reading
//! each answer whole (Content-Length, chunked, or until close) and reconnecting when
//! the server closes (Apache's 100 requests per connection); every request's latency
//! goes into an HDR histogram. The server is at `--addr`, or a sensor this process
//! starts (`--spawn-sensor`) on 127.0.0.1 that stores every request as an event in a
//! fresh SQLite file through the configured pipeline, as in production.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use hpti_core::pipeline::Pipeline;
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_sensors::http::{HttpConfig, HttpSensor};
use hpti_store::SqliteStore;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Config;

/// Arguments of `hpti bench http`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpArgs {
    /// The HTTP server to load (`host:port`); omit with `--spawn-sensor`.
    #[arg(
        long,
        required_unless_present = "spawn_sensor",
        conflicts_with = "spawn_sensor"
    )]
    addr: Option<SocketAddr>,
    /// Start an HTTP sensor in this process on 127.0.0.1, with a temporary data
    /// directory and SQLite store.
    #[arg(long)]
    spawn_sensor: bool,
    /// The persona of the spawned sensor.
    #[arg(long, default_value = "apache")]
    app: String,
    /// Connections, each sending one request at a time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The path requested.
    #[arg(long, default_value = "/")]
    path: String,
    /// Longest one request may take before it counts as failed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Send `Accept-Encoding: gzip, deflate`, as browsers do (the answers then come
    /// compressed where the server compresses).
    #[arg(long)]
    gzip: bool,
}

#[derive(Debug, Serialize)]
struct HttpResult {
    requests: u64,
    failed: u64,
    connections: u64,
    seconds: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    concurrency: usize,
    /// `http.request` events the spawned sensor stored (0 against `--addr`).
    requests_stored: u64,
}

/// Runs `hpti bench http` and prints its result as JSON.
pub async fn http(config: &Config, args: &HttpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be positive");
    anyhow::ensure!(
        args.duration > 0.0 && args.duration.is_finite(),
        "--duration must be positive"
    );
    anyhow::ensure!(args.path.starts_with('/'), "--path must start with /");
    let tempdir = super::tempdir_for_bench()?;
    let result = run(config, args, &tempdir).await;
    let _ = std::fs::remove_dir_all(&tempdir);
    println!("{}", serde_json::to_string(&result?)?);
    Ok(())
}

async fn run(config: &Config, args: &HttpArgs, tempdir: &Path) -> anyhow::Result<HttpResult> {
    let host = if args.spawn_sensor {
        Some(HttpHost::start(config, &tempdir.join("sensor"), &args.app).await?)
    } else {
        None
    };
    let addr = match (&host, args.addr) {
        (Some(host), _) => host.addr,
        (None, Some(addr)) => addr,
        (None, None) => anyhow::bail!("give --addr or --spawn-sensor"),
    };
    let request = Arc::new(
        format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: hpti-bench\r\nAccept: */*\r\n{}\r\n",
            args.path,
            if args.gzip {
                "Accept-Encoding: gzip, deflate\r\n"
            } else {
                ""
            }
        )
        .into_bytes(),
    );
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.duration);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let request = request.clone();
        let timeout = args.timeout;
        workers.spawn(async move {
            let mut latencies = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!());
            let mut failed = 0u64;
            let mut connections = 0u64;
            let mut connection: Option<Client> = None;
            while Instant::now() < until {
                if connection.is_none() {
                    match TcpStream::connect(addr).await {
                        Ok(stream) => {
                            let _ = stream.set_nodelay(true);
                            connections += 1;
                            connection = Some(Client::new(stream));
                        }
                        Err(_) => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(client) = connection.as_mut() else {
                    continue;
                };
                let begun = Instant::now();
                match tokio::time::timeout(timeout, client.exchange(&request)).await {
                    Ok(Ok(keep)) => {
                        let micros = u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let _ = latencies.record(micros.max(1));
                        if !keep {
                            connection = None;
                        }
                    }
                    _ => {
                        failed += 1;
                        connection = None;
                    }
                }
            }
            (latencies, failed, connections)
        });
    }
    let mut all = Histogram::<u64>::new(3).context("histogram")?;
    let (mut failed, mut connections) = (0, 0);
    while let Some(done) = workers.join_next().await {
        let (latencies, worker_failed, worker_connections) =
            done.context("a bench worker panicked")?;
        all.add(latencies).context("histogram")?;
        failed += worker_failed;
        connections += worker_connections;
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests_stored = match host {
        Some(host) => host.stop().await?,
        None => 0,
    };
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(HttpResult {
        requests: all.len(),
        failed,
        connections,
        seconds,
        requests_per_sec: all.len() as f64 / seconds,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: all.max() as f64 / 1000.0,
        concurrency: args.concurrency,
        requests_stored,
    })
}

/// One keep-alive connection and its read buffer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(32 * 1024),
        }
    }

    /// Sends the request and reads the whole answer; whether the connection stays open.
    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<bool> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.more().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let close =
            header("connection:").is_some_and(|v| v == "close") || head.starts_with("http/1.0");
        if let Some(length) = header("content-length:") {
            let length: usize = length.parse().context("bad Content-Length")?;
            while self.buf.len() < head_end + length {
                self.more().await?;
            }
            self.buf.drain(..head_end + length);
        } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
            self.buf.drain(..head_end);
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    self.more().await?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .context("bad chunk size")?;
                let need = line_end + 2 + size + 2;
                while self.buf.len() < need {
                    self.more().await?;
                }
                self.buf.drain(..need);
                if size == 0 {
                    break;
                }
            }
        } else {
            // Until the server closes.
            while self.more().await.is_ok() {}
            self.buf.clear();
            return Ok(false);
        }
        Ok(!close)
    }

    async fn more(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP sensor with its pipeline and SQLite store, in this process.
struct HttpHost {
    addr: SocketAddr,
    pipeline: Pipeline,
    store: SqliteStore,
}

impl HttpHost {
    async fn start(config: &Config, dir: &Path, app: &str) -> anyhow::Result<Self> {
        let (mut pipeline, store, metrics) = super::ssh::sensor_pipeline(config, dir).await?;
        let mut honeypot = HoneypotConfig::default();
        honeypot.fetch.enabled = false;
        honeypot.limits.max_sessions = 1_000_000;
        honeypot.limits.max_sessions_per_ip = 1_000_000;
        let mut http = HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            app: app.to_owned(),
            ..HttpConfig::default()
        };
        // One address sends everything here: its pacing would be the bottleneck.
        http.limits.requests_per_second = 10_000_000;
        let sensor = HttpSensor::bind("http-bench", dir, http, &honeypot, &metrics)
            .await
            .context("cannot start the HTTP sensor")?;
        let addr = sensor.local_addr();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("http-bench")?,
            Arc::new(sensor),
        );
        Ok(Self {
            addr,
            pipeline,
            store,
        })
    }

    /// Stops the sensor, drains the pipeline; the `http.request` events stored.
    async fn stop(self) -> anyhow::Result<u64> {
        self.pipeline.shutdown().await;
        let stored = self
            .store
            .count_kind("http.request")
            .await
            .context("counting the stored requests")?;
        self.store.close().await;
        Ok(stored)
    }
}
