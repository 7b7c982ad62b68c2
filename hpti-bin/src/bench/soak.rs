//! `hpti bench soak`: hostile traffic against a real `hpti run` for minutes or hours,
//! sampling its memory and open files. The question is whether anything grows without
//! bound and whether the log shows anything but counted, expected refusals.
//!
//! The server is a child `hpti run` (its own data directory, SSH, Telnet, HTTP and FTP
//! sensors on loopback, metrics on, the per-address caps on connections, request rate
//! and upload bytes lifted: all the traffic comes from one address), so its resident
//! memory and descriptors are read from `/proc` apart from the generator's. The
//! traffic, all at once:
//!
//! - SSH sessions: login, one exec command, its output;
//! - SSH brute force: three refused passwords per connection;
//! - SCP upload floods: 40 MiB files (past the 32 MiB file cap: refused) and 4 MiB ones;
//! - Telnet sessions: login, commands, one line of 100 KiB;
//! - HTTP requests: pages, form logins, scanner paths, a 100 KiB header field (refused
//!   as Apache refuses it) and a 9 MiB body (past the 8 MiB cap: 413);
//! - FTP sessions: login, a passive `LIST`, a 256 KiB `STOR`;
//! - FTP upload floods: 4 MiB `STOR`s, every fourth one 80 MiB (past the 64 MiB
//!   per-connection cap: `451`);
//! - slowloris: connections that send one byte every 10 s until closed, then reconnect,
//!   spread over the four sensors;
//! - idle connections (`--idle`): connections that send nothing, held until the
//!   honeypot closes them, then reopened, spread over the four sensors;
//! - garbage: random bytes to every port.
//!
//! Each successful run's duration is recorded per kind (p50, p99, max), so "logins are
//! still served within 1 s under load" is read off the result.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use russh::client;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::ssh::{AnyHostKey, client_config, proc_status_mb};

/// Arguments of `hpti bench soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long the traffic runs.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    /// How often the server's memory and open files are read.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    sample_every: Duration,
    /// The server's `[pipeline] buffer`.
    #[arg(long, default_value = "memory", value_parser = ["memory", "disk"])]
    buffer: String,
    /// Slowloris connections held open at once (half SSH, half Telnet).
    #[arg(long, default_value_t = 200)]
    slowloris: usize,
    /// Workers of each other kind of traffic (SSH sessions, brute force, Telnet, HTTP,
    /// FTP).
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Idle connections held open at once, spread over the four sensors (each sensor's
    /// `max_sessions` is raised to fit them; the open-file limit must too).
    #[arg(long, default_value_t = 0)]
    idle: usize,
}

/// What each kind of traffic did: completed runs, failures, and how long the completed
/// ones took.
struct Tally {
    done: AtomicU64,
    failed: AtomicU64,
    /// Durations of completed runs, microseconds.
    latency: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: std::sync::Mutex::new(hdrhistogram::Histogram::new_with_bounds(
                1,
                3_600_000_000,
                3,
            )?),
        })
    }

    fn count(&self, ok: bool, took: Duration) {
        if ok {
            self.done.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut latency) = self.latency.lock() {
                latency.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
            }
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn result(&self) -> TrafficDone {
        let (p50_ms, p99_ms, max_ms) = self.latency.lock().map_or((0.0, 0.0, 0.0), |h| {
            let ms = |us: u64| us as f64 / 1000.0;
            (
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
            )
        });
        TrafficDone {
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            p50_ms,
            p99_ms,
            max_ms,
        }
    }
}

#[derive(Serialize)]
struct Sample {
    seconds: u64,
    rss_mb: f64,
    open_files: usize,
}

#[derive(Serialize)]
struct TrafficDone {
    done: u64,
    failed: u64,
    /// Duration of a completed run (connect to close): median, 99th percentile, most.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Serialize)]
struct SoakResult {
    bench: &'static str,
    minutes: f64,
    buffer: String,
    idle: usize,
    samples: Vec<Sample>,
    rss_first_mb: f64,
    rss_max_mb: f64,
    rss_last_mb: f64,
    open_files_max: usize,
    traffic: BTreeMap<&'static str, TrafficDone>,
    /// `hpti_events_total` of stages sensor, sink, buffer and dead_letter at the end.
    counters: BTreeMap<String, u64>,
    /// Warning and error lines of the server's log, by message, with how often.
    log_warnings: BTreeMap<String, u64>,
    exit_ok: bool,
}

/// The `hpti run` under test.
struct Server {
    child: std::process::Child,
    ssh: SocketAddr,
    telnet: SocketAddr,
    http: SocketAddr,
    ftp: SocketAddr,
    metrics: SocketAddr,
    log: std::thread::JoinHandle<BTreeMap<String, u64>>,
}

impl Server {
    fn start(dir: &Path, buffer: &str, idle: usize) -> anyhow::Result<Self> {
        let config = dir.join("hpti.toml");
        // Every sensor takes its share of the idle connections besides the traffic.
        let max_sessions = 10_000 + idle.div_ceil(4);
        std::fs::write(
            &config,
            format!(
                "[data]\ndir = {:?}\n\n[log]\nformat = \"json\"\n\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n\
                 [pipeline]\nbuffer = {buffer:?}\n\n\
                 [honeypot.limits]\nmax_sessions = {max_sessions}\nmax_sessions_per_ip = 100000\n\
                 max_upload_bytes_per_ip = {}\n\n\
                 [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n\
                 [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\nlogin_failure_delay = \"100ms\"\n\n\
                 [sensors.http]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\napp = \"wordpress\"\n\n\
                 [sensors.http.limits]\nrequests_per_second = 1000000\n\n\
                 [sensors.ftp]\ntype = \"ftp\"\nlisten = \"127.0.0.1:0\"\npassive_ports = [20000, 60000]\nlogin_failure_delay = \"100ms\"\n",
                dir.join("data"),
                1u64 << 50,
            ),
        )?;
        let exe = std::env::current_exe().context("cannot find the hpti executable")?;
        let mut child = std::process::Command::new(exe)
            .env("HPTI_LOG", "info")
            .arg("--config")
            .arg(&config)
            .arg("run")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot start hpti run")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let (mut ssh, mut telnet, mut http, mut ftp, mut metrics) = (None, None, None, None, None);
        while ssh.is_none()
            || telnet.is_none()
            || http.is_none()
            || ftp.is_none()
            || metrics.is_none()
        {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                anyhow::bail!("hpti run stopped before it listened");
            };
            let message = json_field(&line, "message").unwrap_or_default();
            let addr = || {
                message
                    .split("listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|a| a.parse().ok())
            };
            if message.contains("SSH honeypot listening") {
                ssh = addr();
            } else if message.contains("Telnet honeypot listening") {
                telnet = addr();
            } else if message.contains("HTTP honeypot listening") {
                http = addr();
            } else if message.contains("FTP honeypot listening") {
                ftp = addr();
            } else if let Some(rest) = message.split("metrics at http://").nth(1) {
                metrics = rest.split('/').next().and_then(|a| a.parse().ok());
            }
        }
        // Warnings and errors by message (the fields that vary, addresses and counts,
        // are in other keys of the JSON line).
        let log = std::thread::spawn(move || {
            let mut seen: BTreeMap<String, u64> = BTreeMap::new();
            for line in lines.map_while(Result::ok) {
                let level = json_field(&line, "level").unwrap_or_default();
                if level == "WARN" || level == "ERROR" {
                    let message = json_field(&line, "message").unwrap_or(line);
                    *seen.entry(format!("{level} {message}")).or_default() += 1;
                }
            }
            seen
        });
        Ok(Self {
            child,
            ssh: ssh.context("no SSH address")?,
            telnet: telnet.context("no Telnet address")?,
            http: http.context("no HTTP address")?,
            ftp: ftp.context("no FTP address")?,
            metrics: metrics.context("no metrics address")?,
            log,
        })
    }
}

fn json_field(line: &str, key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let found = value.get(key).or_else(|| value.get("fields")?.get(key))?;
    Some(
        found
            .as_str()
            .map_or_else(|| found.to_string(), str::to_owned),
    )
}

/// One kind of traffic: run number `n`, true when the honeypot answered as it should.
type Work = Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

pub async fn soak(args: &SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.minutes > 0.0 && args.minutes.is_finite(),
        "--minutes must be positive"
    );
    let tempdir = super::tempdir_for_bench()?;
    let result = run(args, &tempdir).await;
    let _ = std::fs::remove_dir_all(&tempdir);
    let result = result?;
    for sample in &result.samples {
        eprintln!(
            "t={:>5}s rss={:>7.1} MB open files={}",
            sample.seconds, sample.rss_mb, sample.open_files
        );
    }
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

async fn run(args: &SoakArgs, dir: &Path) -> anyhow::Result<SoakResult> {
    let mut server = Server::start(dir, &args.buffer, args.idle)?;
    let pid = server.child.id();
    let deadline = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
    let client = Arc::new(client_config());
    let kinds: [&'static str; 10] = [
        "ssh_session",
        "ssh_bruteforce",
        "scp_upload",
        "telnet_session",
        "http_request",
        "ftp_session",
        "ftp_upload",
        "slowloris",
        "idle",
        "garbage",
    ];
    let tallies: BTreeMap<&'static str, Arc<Tally>> = kinds
        .iter()
        .map(|k| Ok((*k, Arc::new(Tally::new()?))))
        .collect::<anyhow::Result<_>>()?;
    let mut tasks = tokio::task::JoinSet::new();
    let spawn_loop = |tasks: &mut tokio::task::JoinSet<()>, kind: &'static str, work: Work| {
        let tally = tallies[kind].clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = work(n).await;
                tally.count(ok, started.elapsed());
                n += 1;
                if !ok {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    };
    let (ssh, telnet, http, ftp) = (server.ssh, server.telnet, server.http, server.ftp);
    let sensors = [ssh, telnet, http, ftp];
    for _ in 0..args.workers {
        let c = client.clone();
        spawn_loop(
            &mut tasks,
            "ssh_session",
            Arc::new(move |n| Box::pin(ssh_session(ssh, c.clone(), n))),
        );
        let c = client.clone();
        spawn_loop(
            &mut tasks,
            "ssh_bruteforce",
            Arc::new(move |n| Box::pin(ssh_bruteforce(ssh, c.clone(), n))),
        );
        spawn_loop(
            &mut tasks,
            "telnet_session",
            Arc::new(move |n| Box::pin(telnet_session(telnet, n))),
        );
        spawn_loop(
            &mut tasks,
            "http_request",
            Arc::new(move |n| Box::pin(http_request(http, n))),
        );
        spawn_loop(
            &mut tasks,
            "ftp_session",
            Arc::new(move |n| Box::pin(ftp_session(ftp, n, 256 << 10))),
        );
    }
    for _ in 0..2 {
        let c = client.clone();
        spawn_loop(
            &mut tasks,
            "scp_upload",
            Arc::new(move |n| Box::pin(scp_upload(ssh, c.clone(), n))),
        );
        spawn_loop(
            &mut tasks,
            "ftp_upload",
            Arc::new(move |n| {
                let size = if n % 4 == 3 { 80 << 20 } else { 4 << 20 };
                Box::pin(ftp_session(ftp, n, size))
            }),
        );
        spawn_loop(
            &mut tasks,
            "garbage",
            Arc::new(move |n| Box::pin(garbage(sensors[n as usize % sensors.len()], n))),
        );
    }
    for k in 0..args.slowloris {
        let target = sensors[k % sensors.len()];
        spawn_loop(
            &mut tasks,
            "slowloris",
            Arc::new(move |_| Box::pin(hold_open(target, deadline, true))),
        );
    }
    for k in 0..args.idle {
        let target = sensors[k % sensors.len()];
        spawn_loop(
            &mut tasks,
            "idle",
            Arc::new(move |_| Box::pin(hold_open(target, deadline, false))),
        );
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(args.sample_every);
    while Instant::now() < deadline {
        ticker.tick().await;
        samples.push(Sample {
            seconds: started.elapsed().as_secs(),
            rss_mb: proc_status_mb(Some(pid), "VmRSS:").unwrap_or(0.0),
            open_files: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count),
        });
    }
    while tasks.join_next().await.is_some() {}
    samples.push(Sample {
        seconds: started.elapsed().as_secs(),
        rss_mb: proc_status_mb(Some(pid), "VmRSS:").unwrap_or(0.0),
        open_files: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count),
    });
    let counters = scrape(server.metrics).await.unwrap_or_default();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exit_ok = tokio::task::spawn_blocking(move || server.child.wait())
        .await?
        .is_ok_and(|s| s.success());
    let log_warnings = server.log.join().unwrap_or_default();
    let rss: Vec<f64> = samples.iter().map(|s| s.rss_mb).collect();
    Ok(SoakResult {
        bench: "soak",
        minutes: args.minutes,
        buffer: args.buffer.clone(),
        idle: args.idle,
        rss_first_mb: rss.first().copied().unwrap_or(0.0),
        rss_max_mb: rss.iter().copied().fold(0.0, f64::max),
        rss_last_mb: rss.last().copied().unwrap_or(0.0),
        open_files_max: samples.iter().map(|s| s.open_files).max().unwrap_or(0),
        samples,
        traffic: tallies
            .iter()
            .map(|(kind, tally)| (*kind, tally.result()))
            .collect(),
        counters,
        log_warnings,
        exit_ok,
    })
}

/// `hpti_events_total` series of the stages that count refusals, drops and failures.
async fn scrape(metrics: SocketAddr) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut stream = TcpStream::connect(metrics).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: hpti\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text
        .lines()
        .filter_map(|line| line.strip_prefix("hpti_events_total{"))
        .filter(|line| {
            ["sensor", "sink", "buffer", "dead_letter", "validator"]
                .iter()
                .any(|stage| line.starts_with(&format!("stage=\"{stage}\"")))
        })
        .filter_map(|line| {
            let (labels, value) = line.rsplit_once("} ")?;
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        // Only the counters that moved.
        .filter(|(_, value)| *value > 0)
        .collect())
}

async fn connect_ssh(
    addr: SocketAddr,
    config: Arc<client::Config>,
) -> Option<client::Handle<AnyHostKey>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    tokio::time::timeout(
        Duration::from_secs(20),
        client::connect_stream(config, stream, AnyHostKey),
    )
    .await
    .ok()?
    .ok()
}

/// Runs `command` on an exec channel; its output.
async fn exec(handle: &client::Handle<AnyHostKey>, command: &str, input: &[u8]) -> Option<Vec<u8>> {
    let mut channel = handle.channel_open_session().await.ok()?;
    channel.exec(true, command).await.ok()?;
    if !input.is_empty() {
        channel.data(input).await.ok()?;
        channel.eof().await.ok()?;
    }
    let mut output = Vec::new();
    let read = async {
        while let Some(message) = channel.wait().await {
            match message {
                russh::ChannelMsg::Data { data } => output.extend_from_slice(&data),
                russh::ChannelMsg::Close | russh::ChannelMsg::Eof => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .ok()?;
    Some(output)
}

async fn ssh_session(addr: SocketAddr, config: Arc<client::Config>, n: u64) -> bool {
    let Some(mut handle) = connect_ssh(addr, config).await else {
        return false;
    };
    let ok = match handle.authenticate_password("root", "hpti-bench").await {
        Ok(auth) if auth.success() => {
            let output = exec(
                &handle,
                &format!("uname -a; cat /etc/passwd; echo soak-{n}"),
                b"",
            )
            .await;
            output.is_some_and(|o| String::from_utf8_lossy(&o).contains(&format!("soak-{n}")))
        }
        _ => false,
    };
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    ok
}

async fn ssh_bruteforce(addr: SocketAddr, config: Arc<client::Config>, n: u64) -> bool {
    let Some(mut handle) = connect_ssh(addr, config).await else {
        return false;
    };
    for attempt in 0..3 {
        match handle
            .authenticate_password("admin", format!("guess-{n}-{attempt}"))
            .await
        {
            Ok(auth) if !auth.success() => {}
            // The credential policy lets some guesses in, as a real server with a weak
            // password would.
            Ok(_) => break,
            Err(_) => return false,
        }
    }
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    true
}

/// One SCP upload (`scp -t`): 4 MiB (stored) or 40 MiB (past the file cap: refused by
/// the honeypot as a full disk). Success is the honeypot answering as it should.
async fn scp_upload(addr: SocketAddr, config: Arc<client::Config>, n: u64) -> bool {
    let Some(mut handle) = connect_ssh(addr, config).await else {
        return false;
    };
    if !handle
        .authenticate_password("root", "hpti-bench")
        .await
        .is_ok_and(|a| a.success())
    {
        return false;
    }
    let size: usize = if n % 4 == 3 { 40 << 20 } else { 4 << 20 };
    // The same bytes each time: a captured file is stored once by its digest, so the
    // flood measures the upload path, not the disk.
    let body = vec![0x42u8; size];
    let mut input = format!("C0644 {size} upload-{}.bin\n", size >> 20).into_bytes();
    input.extend_from_slice(&body);
    input.push(0);
    let output = exec(&handle, "scp -t /tmp/", &input).await;
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    output.is_some_and(|o| {
        let text = String::from_utf8_lossy(&o);
        if size > 32 << 20 {
            text.contains("No space left on device")
        } else {
            !text.contains("scp:")
        }
    })
}

/// Reads until `needle`, answering Telnet negotiation as a bot does (the honeypot,
/// like telnetd, prompts only a client that answers).
async fn read_until(stream: &mut TcpStream, needle: &[u8]) -> bool {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut telnet = hpti_sensors::telnet::BotAnswers::default();
    let read = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    let answer = telnet.feed(&buffer[..n], &mut seen);
                    if !answer.is_empty() && stream.write_all(&answer).await.is_err() {
                        return false;
                    }
                    if seen.windows(needle.len()).any(|w| w == needle) {
                        return true;
                    }
                    if seen.len() > 1 << 20 {
                        seen.drain(..seen.len() - needle.len());
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or(false)
}

async fn telnet_session(addr: SocketAddr, n: u64) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let mut ok = read_until(&mut stream, b"login: ").await
        && stream.write_all(b"root\r\n").await.is_ok()
        && read_until(&mut stream, b"Password: ").await
        && stream.write_all(b"vizxv\r\n").await.is_ok()
        && read_until(&mut stream, b"# ").await;
    for command in [
        format!("echo soak-{n}"),
        "cat /proc/cpuinfo | grep name | head -1".to_owned(),
        // An oversized line: cut at the line cap, never held whole.
        format!("echo {}", "A".repeat(100 * 1024)),
        "/bin/busybox SOAK".to_owned(),
    ] {
        ok = ok
            && stream
                .write_all(format!("{command}\r\n").as_bytes())
                .await
                .is_ok()
            && read_until(&mut stream, b"# ").await;
    }
    let _ = stream.write_all(b"exit\r\n").await;
    ok
}

/// Holds a connection open, sending one byte every 10 s (`trickle`, slowloris) or
/// nothing, until the honeypot closes it (login, header or idle timeout) or the soak
/// ends. Success is being closed by the honeypot after a while (a connection refused
/// at once, by a cap, counts as a failure).
async fn hold_open(addr: SocketAddr, deadline: Instant, trickle: bool) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let opened = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        if Instant::now() >= deadline {
            return true;
        }
        if trickle {
            let _ = stream.write_all(b"a").await;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return opened.elapsed() > Duration::from_secs(1);
        }
    }
}

/// Random bytes to a port, then waits for the honeypot to close the connection.
async fn garbage(addr: SocketAddr, n: u64) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
    let mut buffer = [0u8; 4096];
    let drained = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), drained)
        .await
        .unwrap_or(false)
}

/// One HTTP request on its own connection, by `n`: a page, a form login, a scanner
/// path, a 100 KiB header field (Apache's 400), a body announced past the 8 MiB cap
/// (413 before any of it is read), or a 6 MiB body (read and hashed, not kept).
async fn http_request(addr: SocketAddr, n: u64) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let host = "Host: soak.example\r\nConnection: close\r\n";
    let (request, body_bytes, expect): (String, usize, &[u8]) = match n % 6 {
        0 => (format!("GET / HTTP/1.1\r\n{host}\r\n"), 0, b"HTTP/1.1 "),
        1 => {
            let form = format!("log=admin&pwd=guess-{n}&wp-submit=Log+In");
            (
                format!(
                    "POST /wp-login.php HTTP/1.1\r\n{host}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                    form.len()
                ),
                0,
                b"HTTP/1.1 ",
            )
        }
        2 => (
            format!("GET /.env?soak={n} HTTP/1.1\r\n{host}\r\n"),
            0,
            b"HTTP/1.1 ",
        ),
        3 => (
            format!(
                "GET / HTTP/1.1\r\n{host}X-Junk: {}\r\n\r\n",
                "A".repeat(100 * 1024)
            ),
            0,
            b"HTTP/1.1 400 ",
        ),
        4 => (
            format!(
                "POST /xmlrpc.php HTTP/1.1\r\n{host}Content-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                9 << 20
            ),
            0,
            b"HTTP/1.1 413 ",
        ),
        _ => (
            format!(
                "POST /upload.php HTTP/1.1\r\n{host}Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                6 << 20
            ),
            6 << 20,
            b"HTTP/1.1 ",
        ),
    };
    let exchange = async {
        stream.write_all(request.as_bytes()).await.ok()?;
        let chunk = vec![0x43u8; 64 * 1024];
        let mut left = body_bytes;
        while left > 0 {
            let take = left.min(chunk.len());
            stream.write_all(&chunk[..take]).await.ok()?;
            left -= take;
        }
        let mut reply = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        // The status line is all that is judged; the rest is read to the close.
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) if reply.len() < 4096 => reply.extend_from_slice(&buffer[..read]),
                Ok(_) => {}
            }
        }
        Some(reply)
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .ok()
        .flatten()
        .is_some_and(|reply| reply.starts_with(expect))
}

/// One FTP reply (all its lines); its first line.
async fn ftp_reply<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> Option<String> {
    use tokio::io::AsyncBufReadExt as _;
    let mut first = String::new();
    if read.read_line(&mut first).await.ok()? == 0 {
        return None;
    }
    if first.as_bytes().get(3) == Some(&b'-') {
        let code = first.get(..3)?.to_owned();
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            if line.starts_with(&code) && line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    }
    Some(first)
}

/// The data address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` reply.
fn ftp_passive(reply: &str, control: SocketAddr) -> Option<SocketAddr> {
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

/// One FTP session: login, a passive `LIST`, a `STOR` of `size` bytes (past the
/// per-connection upload cap the honeypot must answer `451` as on a full disk), `QUIT`.
async fn ftp_session(addr: SocketAddr, n: u64, size: usize) -> bool {
    let session = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (read, mut write) = stream.into_split();
        let mut read = tokio::io::BufReader::new(read);
        let mut say = async |line: &str, read: &mut tokio::io::BufReader<_>| {
            write
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .ok()?;
            ftp_reply(read).await
        };
        ftp_reply(&mut read)
            .await?
            .starts_with("220")
            .then_some(())?;
        say("USER ubuntu", &mut read)
            .await?
            .starts_with("331")
            .then_some(())?;
        say("PASS hpti-bench", &mut read)
            .await?
            .starts_with("230")
            .then_some(())?;
        say("TYPE I", &mut read)
            .await?
            .starts_with("200")
            .then_some(())?;
        let pasv = say("PASV", &mut read).await?;
        let mut data = TcpStream::connect(ftp_passive(&pasv, addr)?).await.ok()?;
        say("LIST", &mut read)
            .await?
            .starts_with("150")
            .then_some(())?;
        let mut listing = Vec::new();
        data.read_to_end(&mut listing).await.ok()?;
        ftp_reply(&mut read)
            .await?
            .starts_with("226")
            .then_some(())?;
        let pasv = say("PASV", &mut read).await?;
        let mut data = TcpStream::connect(ftp_passive(&pasv, addr)?).await.ok()?;
        say(&format!("STOR soak-{n}.bin"), &mut read)
            .await?
            .starts_with("150")
            .then_some(())?;
        // The same bytes each time: stored once by digest, so the flood measures the
        // upload path, not the disk. Past the cap the honeypot stops reading and drops
        // the data connection: the failed writes are expected.
        let chunk = vec![0x46u8; 256 * 1024];
        let mut left = size;
        while left > 0 {
            let take = left.min(chunk.len());
            if data.write_all(&chunk[..take]).await.is_err() {
                break;
            }
            left -= take;
        }
        let _ = data.shutdown().await;
        drop(data);
        let stored = ftp_reply(&mut read).await?;
        let cap = 64usize << 20;
        let expected = if size > cap { "451" } else { "226" };
        stored.starts_with(expected).then_some(())?;
        say("QUIT", &mut read)
            .await?
            .starts_with("221")
            .then_some(())
    };
    tokio::time::timeout(Duration::from_secs(120), session)
        .await
        .ok()
        .flatten()
        .is_some()
}
