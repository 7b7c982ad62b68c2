//! The HTTP honeypot against the captured answers of the real products
//! (`testdata/http/`: Debian's Apache 2.4, nginx, Tomcat 10.1, WordPress 6.1 and
//! phpMyAdmin 5.2), and against real clients (curl, hydra, nmap). Each test runs a real
//! sensor on a loopback port with a pipeline collecting its events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{Event, EventKind};
use hpti_core::pipeline::{Pipeline, PipelineConfig};
use hpti_core::testing::MemorySink;
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_sensors::http::{AppMount, HttpConfig, HttpSensor};
use hpti_sensors::shell::Persona;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod personas;

/// Only to avoid hanging forever: no test measures time.
const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) struct Harness {
    pub(crate) addr: SocketAddr,
    pub(crate) events: MemorySink,
    _pipeline: Pipeline,
    dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) async fn start(http: impl FnOnce(&mut HttpConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut persona = Persona::generate();
        persona.seed >>= 1;
        std::fs::write(
            dir.path().join("persona.toml"),
            toml::to_string_pretty(&persona).unwrap(),
        )
        .unwrap();
        let events = MemorySink::new();
        let mut config = PipelineConfig::with_dead_letter_path(dir.path().join("dlq.jsonl"));
        config.batch.linger = Duration::from_millis(5);
        let mut pipeline = Pipeline::builder(config)
            .sink(
                hpti_core::component::ComponentId::new("main").unwrap(),
                Arc::new(events.clone()),
            )
            .start()
            .unwrap();
        let mut honeypot = HoneypotConfig::default();
        honeypot.fetch.enabled = false;
        honeypot.limits.max_sessions_per_ip = 1000;
        let mut config = HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..HttpConfig::default()
        };
        config.limits.requests_per_second = 100_000;
        http(&mut config);
        let sensor = HttpSensor::bind(
            "http-test",
            dir.path(),
            config,
            &honeypot,
            pipeline.metrics(),
        )
        .await
        .unwrap();
        let addr = sensor.local_addr();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("test-source").unwrap(),
            Arc::new(sensor),
        );
        Self {
            addr,
            events,
            _pipeline: pipeline,
            dir,
        }
    }

    pub(crate) async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        for _ in 0..1200 {
            let events = self.events.events_by_time();
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}: {:#?}", self.events.events_by_time());
    }

    pub(crate) fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Sends `request` as is and reads everything the server answers until it closes or
/// stays silent for a moment.
pub(crate) async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let wait = if out.is_empty() {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(400)
        };
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// A free loopback port with four digits, as the captures' 8181: error pages show the
/// port, and their `Content-Length` with it.
pub(crate) fn four_digit_port() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Each call of each test process takes its own candidates.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 1800;
    for _ in 0..1800 {
        let port = 8100 + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 1800;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port as u16)) {
            return listener.local_addr().unwrap();
        }
    }
    panic!("no free port in 8100-9899");
}

pub(crate) fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/http")
}

/// Replaces what legitimately differs between two runs of a server (dates, ETags built
/// from file times) and what `masks` name (per-request tokens), so that the rest must be
/// byte-identical.
pub(crate) fn normalise(bytes: &[u8], masks: &[(&str, &str)]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut text = regex::Regex::new(r"(?m)^(Date|Last-Modified|Expires-Not): [^\r\n]*")
        .unwrap()
        .replace_all(&text, "$1: <date>")
        .into_owned();
    text = regex::Regex::new(r#"(?m)^ETag: (W/)?"[^"\r\n]*""#)
        .unwrap()
        .replace_all(&text, "ETag: $1\"<etag>\"")
        .into_owned();
    for (pattern, replacement) in masks {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *replacement)
            .into_owned();
    }
    text
}

/// Replays every listed capture against the sensor and reports every difference.
pub(crate) async fn compare_captures(
    harness: &Harness,
    product: &str,
    cases: &[&str],
    masks: &[(&str, &str)],
) {
    let dir = testdata().join(product);
    let answers = futures::future::join_all(cases.iter().map(|case| {
        let request = std::fs::read(dir.join(format!("{case}.request")))
            .unwrap_or_else(|e| panic!("{product}/{case}.request: {e}"));
        raw_exchange(harness.addr, Box::leak(request.into_boxed_slice()))
    }))
    .await;
    let mut failures = Vec::new();
    for (case, got) in cases.iter().zip(answers) {
        let want = std::fs::read(dir.join(format!("{case}.http"))).unwrap();
        // The captures ran on port 8181; the sensor runs on a free port.
        let got = String::from_utf8_lossy(&got)
            .replace(&format!(" Port {}</address>", harness.addr.port()), " Port 8181</address>")
            .replace(&format!("127.0.0.1:{}", harness.addr.port()), "127.0.0.1:8181")
            .into_bytes();
        let (want, got) = (normalise(&want, masks), normalise(&got, masks));
        if want != got {
            let line = want
                .split_inclusive('\n')
                .zip(got.split_inclusive('\n'))
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
            let show = |text: &str| {
                text.split_inclusive('\n')
                    .skip(line.saturating_sub(1))
                    .take(3)
                    .collect::<String>()
                    .escape_debug()
                    .to_string()
            };
            failures.push(format!(
                "{case}: differs at line {} (want {} bytes, got {}):\n  real:  {}\n  ours:  {}",
                line + 1,
                want.len(),
                got.len(),
                show(&want),
                show(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {product} answers differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apache_persona_answers_as_debians_apache() {
    let harness = Harness::start(|c| {
        c.app = "apache".into();
        c.listen = four_digit_port();
    }).await;
    compare_captures(
        &harness,
        "apache-2.4-debian",
        &[
            "get-root",
            "get-root-close",
            "head-root",
            "get-index-html",
            "get-nonexistent",
            "head-nonexistent",
            "get-favicon",
            "get-robots",
            "git-config",
            "env",
            "htaccess",
            "htpasswd",
            "server-info",
            "cgi-bin-dir",
            "cgi-bin-test",
            "icons-dir",
            "icons-small-dir",
            "icons-no-slash",
            "icons-readme",
            "options-star",
            "options-root",
            "post-root",
            "put-root",
            "delete-root",
            "connect",
            "trace-root",
            "track-root",
            "invalid-method",
            "lowercase-method",
            "http10-nohost",
            "http10-nohost-head",
            "http11-nohost",
            "malformed-request-line",
            "malformed-garbage",
            "malformed-extra-token",
            "bad-version-9",
            "bad-version-2",
            "binary-tls-hello",
            "header-10k",
            "header-200",
            "header-no-colon",
            "uri-10000",
            "traversal-raw",
            "traversal-encoded",
            "traversal-icons",
            "traversal-cgi-cve-2021-41773",
            "traversal-icons-cve-2021-41773",
            "traversal-double-encoded",
            "encoded-slash",
            "null-byte",
            "query-string-404",
            "absolute-uri",
            "keepalive-pair",
            "keepalive-pair-explicit",
            "get-root-keepalive",
            "keepalive-http10",
            "expect-100",
            "nmap-getrequest",
            "nmap-httpoptions",
            "nmap-rtsprequest",
            "nmap-fourohfour",
        ],
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_persona_answers_as_debians_nginx() {
    let harness = Harness::start(|c| {
        c.app = "nginx".into();
        c.listen = four_digit_port();
    }).await;
    let cases: Vec<String> = std::fs::read_to_string(testdata().join("nginx-debian/INDEX.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next().map(str::to_owned))
        .collect();
    let skip = [
        // Not modelled: compression, ranges, conditional requests, directory listings.
        "get-root-gzip",
        "range-0-10",
        "range-multi",
        "range-unsatisfiable",
        "if-modified-since",
        "if-none-match",
        "if-range-match",
        "dir-no-slash",
        "dir-no-slash-query",
        "dir-no-slash-http10",
        "dir-with-slash",
        "dir-with-slash-noindex",
        "nmap-genericlines",
    ];
    let cases: Vec<&str> = cases
        .iter()
        .map(String::as_str)
        .filter(|c| !skip.contains(c))
        .collect();
    compare_captures(&harness, "nginx-debian", &cases, &[]).await;
}
