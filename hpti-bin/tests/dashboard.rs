//! The dashboard in a real browser: Debian's Chromium, headless, driven through
//! ChromeDriver (WebDriver, with fantoccini) against `hpti run` serving the Cowrie
//! fixtures, a real OpenSSH session (for the replay) and events whose attacker-controlled
//! strings are script payloads. A screenshot of each page is written under
//! `target/tmp/dashboard-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{fixture, hpti, run, stderr, stdout};
use fantoccini::{Client, ClientBuilder, Locator};
use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use serde_json::{Value, json};

/// The window the Cowrie fixture falls in (2026-11-21, 13:28 to 13:30 UTC).
const FIXTURE_WINDOW: &str = "window=custom&since=2026-11-21T13%3A00&until=2026-11-21T14%3A00";

/// Script payloads as attackers send them; `{port}` is a listener that counts requests, so
/// a payload that ran (or loaded) is seen even if it hid itself.
const PAYLOADS: [&str; 4] = [
    "<script>window.__xss='script';fetch('http://127.0.0.1:{port}/script')</script>",
    "<img src=x onerror=\"window.__xss='img';fetch('http://127.0.0.1:{port}/img')\">",
    "\"><svg onload=\"window.__xss='svg'\"><img src=\"http://127.0.0.1:{port}/src\">",
    "javascript:window.__xss='link'//<a href=\"http://127.0.0.1:{port}/a\">x</a>",
];

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// ChromeDriver on a free port, ready for sessions.
fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

/// A headless Chromium session. The flags keep Chromium from calling home, which this
/// machine's closed network refuses.
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--window-size=1440,1000",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

/// Counts every HTTP request made to it (a payload calling out).
fn tripwire() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (port, hits)
}

/// hpti events carrying the payloads, from addresses the test GeoIP databases know
/// (London, and an address of AS15169), ten minutes ago.
fn hostile_events(port: u16) -> Vec<Event> {
    let payloads: Vec<String> = PAYLOADS
        .iter()
        .map(|p| p.replace("{port}", &port.to_string()))
        .collect();
    let base = Timestamp::now().saturating_add_micros(-600_000_000);
    let mut events = Vec::new();
    for (n, ip) in ["81.2.69.160", "1.0.0.1"].iter().enumerate() {
        let ip = ip.parse().unwrap();
        let session = format!("xss{n}");
        let at = |s: i64| base.saturating_add_micros((n as i64 * 60 + s) * 1_000_000);
        let event = |s, kind| {
            Event::new("ssh", Protocol::Ssh, ip, kind)
                .with_session(session.clone())
                .with_time(at(s))
        };
        events.push(event(0, EventKind::SessionStarted));
        events.push(event(
            1,
            EventKind::ClientVersion {
                version: payloads[2].clone(),
            },
        ));
        events.push(event(
            2,
            EventKind::LoginAttempt {
                username: payloads[0].clone(),
                password: Some(payloads[1].clone()),
                key_type: None,
                key_fingerprint: None,
                method: AuthMethod::Password,
                success: true,
            },
        ));
        for (i, payload) in payloads.iter().enumerate() {
            events.push(event(
                3 + i as i64,
                EventKind::CommandInput {
                    command: payload.clone(),
                },
            ));
        }
        events.push(event(
            8,
            EventKind::FileDownload {
                url: format!("http://203.0.113.5/{}", payloads[2]),
                sha256: None,
                size: None,
                error: Some(payloads[1].clone()),
            },
        ));
        events.push(event(
            9,
            EventKind::SessionClosed {
                duration_ms: 9000,
                recording: None,
            },
        ));
    }
    events
}

/// A child process killed when the test ends, passed or not (a failed assertion must not
/// leave `hpti run` holding the test harness's pipes).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `hpti run` with the API and dashboard on a free port: the child, the dashboard's base
/// URL and the SSH sensor's port.
fn start_hpti(config: &Path) -> (Child, String, u16, std::thread::JoinHandle<usize>) {
    let mut child = hpti()
        .arg("--config")
        .arg(config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut base, mut ssh) = (None, None);
    while base.is_none() || ssh.is_none() {
        let line = log.next().expect("hpti run logs its listeners").unwrap();
        if let Some(rest) = line.split("dashboard at ").nth(1) {
            base = rest
                .split_whitespace()
                .next()
                .map(|u| u.trim_end_matches('/').to_owned());
        } else if let Some(rest) = line.split("SSH honeypot listening on ").nth(1) {
            ssh = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.rsplit(':').next())
                .map(|p| p.parse().unwrap());
        }
    }
    let drain = std::thread::spawn(move || log.map_while(Result::ok).count());
    (child, base.unwrap(), ssh.unwrap(), drain)
}

/// An interactive OpenSSH session (a terminal, so it is recorded) that runs `commands`.
fn ssh_session(port: u16, commands: &str) {
    let mut child = Command::new("sshpass")
        .args(["-p", "admin", "ssh", "-tt"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "PubkeyAuthentication=no", "-o", "LogLevel=ERROR"])
        .args(["-p", &port.to_string(), "root@127.0.0.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in commands.lines() {
        std::thread::sleep(Duration::from_millis(400));
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("Linux"), "the shell answered: {out}");
}

async fn api(base: &str, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The number a page's element shows (`1,234` → 1234).
async fn number(client: &Client, css: &str) -> u64 {
    let text = client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.replace([',', '+'], "")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{css}: {text:?}"))
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    eprintln!("dashboard test: screenshot {name}");
    let png = client.screenshot().await.unwrap();
    assert!(
        png.len() > 10_000,
        "{name}: a blank screenshot ({} bytes)",
        png.len()
    );
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Clicks the element `css` selects.
async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until `script` (a JavaScript expression) is true in the page.
async fn wait_for(client: &Client, script: &str, what: &str) {
    eprintln!("dashboard test: waiting for {what}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let done = client
            .execute(&format!("return !!({script});"), vec![])
            .await
            .unwrap();
        if done == Value::Bool(true) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let png = client.screenshot().await.unwrap_or_default();
            let shot = screenshots_dir().join("timed-out.png");
            std::fs::write(&shot, png).unwrap();
            let text = client
                .execute(
                    "var p = document.getElementById('player'); \
                     return document.body.innerText + '\\nRESOURCES: ' + JSON.stringify(performance.getEntriesByType('resource').map(e => e.name + ' ' + e.responseStatus)) + (p ? '\\nPLAYER: ' + p.innerHTML.slice(0, 400) : '');",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!(
                "timed out waiting for {what} (screenshot: {}); the page: {text}",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the page has loaded from anywhere but its own origin, and whether a payload ran.
async fn breaches(client: &Client) -> (Value, Value) {
    let foreign = client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => !n.startsWith(location.origin));",
            vec![],
        )
        .await
        .unwrap();
    let ran = client
        .execute(
            "return window.__xss === undefined ? null : window.__xss;",
            vec![],
        )
        .await
        .unwrap();
    (foreign, ran)
}

#[test]
fn the_dashboard_in_chromium() {
    for tool in ["chromium", "chromedriver", "ssh", "sshpass"] {
        if !hpti_core::testing::require_tool(tool) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let geoip = fixture("testdata/geoip");
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n\
             [api]\nlisten = \"127.0.0.1:0\"\ncache_ttl = \"0s\"\nrate_limit = 0\n\n\
             [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n\
             [enrichers.geo]\ntype = \"geoip\"\ncity = {:?}\nasn = {:?}\n",
            dir.path().join("data"),
            geoip.join("GeoIP2-City-Test.mmdb"),
            geoip.join("GeoLite2-ASN-Test.mmdb"),
        ),
    )
    .unwrap();
    // The Cowrie fixtures with their downloaded files, then the hostile events.
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie", "--downloads"])
        .arg(fixture("testdata/cowrie/downloads"))
        .arg(fixture("testdata/cowrie/cowrie.json")));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    let (trap_port, hits) = tripwire();
    let hostile = dir.path().join("hostile.jsonl");
    let lines: String = hostile_events(trap_port)
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&hostile, lines).unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&hostile));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    let token = run(hpti().arg("--config").arg(&config).args([
        "api", "token", "create", "--role", "admin", "--name", "browser",
    ]));
    assert!(token.status.success(), "{}", stderr(&token));
    let token = stdout(&token).trim().to_owned();

    let (child, base, ssh_port, drain) = start_hpti(&config);
    let mut child = Killed(child);
    ssh_session(ssh_port, "uname -a\nexit");
    let driver = start_driver();
    let runtime = common::runtime();
    runtime.block_on(async {
        let client = browser(&driver).await;

        // Not logged in: the login page, which takes the token.
        client.goto(&format!("{base}/")).await.unwrap();
        assert!(client.current_url().await.unwrap().path().starts_with("/login"));
        screenshot(&client, "login").await;
        let field = client.find(Locator::Css("input[name=token]")).await.unwrap();
        field.send_keys(&token).await.unwrap();
        click(&client, "form[action='/login'] button").await;
        wait_for(&client, "document.querySelector('[data-stat=events]')", "the overview").await;
        // The cookie is out of scripts' reach.
        let cookies = client.execute("return document.cookie;", vec![]).await.unwrap();
        assert_eq!(cookies, json!(""), "the login cookie is HttpOnly");

        // The overview on the Cowrie fixture's window: its numbers are the API's.
        client.goto(&format!("{base}/?{FIXTURE_WINDOW}")).await.unwrap();
        let series = api(
            &base,
            &token,
            "/api/v1/stats/timeseries?interval=15m&since=2026-11-21T13:00:00Z&until=2026-11-21T14:00:00Z",
        )
        .await;
        let sum = |kind: Option<&str>| -> u64 {
            series["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| kind.is_none_or(|k| b["kind"] == k))
                .map(|b| b["count"].as_u64().unwrap())
                .sum()
        };
        assert!(sum(Some("command.input")) > 0, "{series}");
        assert_eq!(number(&client, "[data-stat=events]").await, sum(None));
        assert_eq!(number(&client, "[data-stat=logins]").await, sum(Some("login.attempt")));
        assert_eq!(number(&client, "[data-stat=commands]").await, sum(Some("command.input")));
        assert_eq!(number(&client, "[data-stat=downloads]").await, sum(Some("file.download")));
        let attackers = api(
            &base,
            &token,
            "/api/v1/attackers?since=2026-11-21T13:00:00Z&until=2026-11-21T14:00:00Z&limit=1000",
        )
        .await;
        assert_eq!(
            number(&client, "[data-stat=attackers]").await,
            attackers["items"].as_array().unwrap().len() as u64
        );
        screenshot(&client, "overview-cowrie").await;

        // The last 24 hours: the hostile events, geolocated on the map.
        client.goto(&format!("{base}/?window=24h")).await.unwrap();
        wait_for(&client, "document.querySelector('svg.map path[data-country=GB].c5')", "GB shaded").await;
        // The window picker reloads the content, not the page.
        client.execute("window.__still_here = 42;", vec![]).await.unwrap();
        click(&client, ".picker a[href*='window=7d']").await;
        wait_for(&client, "location.search.includes('window=7d') && document.querySelector('.picker a.active').textContent === '7d'", "the 7d window").await;
        let kept = client.execute("return window.__still_here;", vec![]).await.unwrap();
        assert_eq!(kept, json!(42), "no full page load");
        screenshot(&client, "overview").await;

        // Attackers: the first row is the API's first attacker.
        client.goto(&format!("{base}/attackers?{FIXTURE_WINDOW}")).await.unwrap();
        let first = client
            .find(Locator::Css("table[data-table=attackers] tbody tr td a"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(Value::String(first.clone()), attackers["items"][0]["src_ip"]);
        screenshot(&client, "attackers").await;
        client.goto(&format!("{base}/attackers/81.2.69.160")).await.unwrap();
        wait_for(&client, "document.body.textContent.includes('London')", "the attacker's enrichment").await;
        screenshot(&client, "attacker").await;

        // Sessions, then the OpenSSH session replayed by the asciinema player.
        client.goto(&format!("{base}/sessions?window=1h&protocol=ssh&commands=yes")).await.unwrap();
        screenshot(&client, "sessions").await;
        let sessions = api(&base, &token, "/api/v1/sessions?since=1h").await;
        let recorded = sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["src_ip"] == "127.0.0.1")
            .unwrap_or_else(|| panic!("the OpenSSH session is stored: {sessions}"));
        let id = recorded["session"].as_str().unwrap();
        client.goto(&format!("{base}/sessions/{id}")).await.unwrap();
        wait_for(&client, "document.querySelector('.ap-player')", "the player").await;
        click(&client, ".ap-overlay-start").await;
        // `uname -a`'s output, which the typed command does not contain.
        wait_for(
            &client,
            "document.querySelector('.ap-term').textContent.includes('x86_64 GNU/Linux')",
            "the replayed command's output",
        )
        .await;
        screenshot(&client, "session-replay").await;

        // Credentials and commands (with the sessions that ran one).
        client.goto(&format!("{base}/credentials?{FIXTURE_WINDOW}")).await.unwrap();
        screenshot(&client, "credentials").await;
        client.goto(&format!("{base}/commands?{FIXTURE_WINDOW}")).await.unwrap();
        click(&client, "table[data-table=commands] tbody tr td a").await;
        wait_for(&client, "document.querySelector('table[data-table=runs] tbody tr td a')", "the sessions of a command").await;
        screenshot(&client, "commands").await;

        // Downloads: every file of the API's list, then filtered by hash.
        client.goto(&format!("{base}/downloads?{FIXTURE_WINDOW}")).await.unwrap();
        let downloads = api(
            &base,
            &token,
            "/api/v1/downloads?since=2026-11-21T13:00:00Z&until=2026-11-21T14:00:00Z",
        )
        .await;
        let files = downloads["items"].as_array().unwrap();
        assert!(files.len() >= 2, "{downloads}");
        let rows = client
            .find_all(Locator::Css("table[data-table=downloads] tbody tr:not(.sub)"))
            .await
            .unwrap();
        assert_eq!(rows.len(), files.len());
        screenshot(&client, "downloads").await;
        let wanted = files[1]["sha256"].as_str().unwrap();
        let search = client.find(Locator::Css("form.filters input[name=q]")).await.unwrap();
        search.send_keys(&wanted[..12]).await.unwrap();
        click(&client, "form.filters button").await;
        wait_for(
            &client,
            "location.search.includes('q=') && document.querySelectorAll('table[data-table=downloads] tbody tr:not(.sub)').length === 1",
            "the filtered downloads",
        )
        .await;
        let shown = client
            .find(Locator::Css("table[data-table=downloads] tbody tr td a"))
            .await
            .unwrap()
            .attr("title")
            .await
            .unwrap();
        assert_eq!(shown.as_deref(), Some(wanted));
        client.goto(&format!("{base}/downloads/{wanted}")).await.unwrap();
        screenshot(&client, "download").await;

        client.goto(&format!("{base}/alerts?state=all")).await.unwrap();
        screenshot(&client, "alerts").await;

        // Live: a new SSH session shows up without a reload.
        client.goto(&format!("{base}/live")).await.unwrap();
        wait_for(&client, "document.getElementById('live-state').dataset.state === 'open'", "the live stream").await;
        ssh_session(ssh_port, "uname -a\necho live-view-marker\nexit");
        wait_for(
            &client,
            "document.getElementById('live').textContent.includes('echo live-view-marker')",
            "the live event",
        )
        .await;
        screenshot(&client, "live").await;

        // No payload ran and nothing left the page, on every page that shows them.
        for path in [
            "/?window=24h".to_owned(),
            "/attackers?window=24h".into(),
            "/attackers/81.2.69.160".into(),
            "/attackers/1.0.0.1".into(),
            "/sessions?window=24h".into(),
            "/sessions/xss0".into(),
            "/credentials?window=24h".into(),
            "/commands?window=24h".into(),
            "/downloads?window=24h".into(),
            "/live".into(),
        ] {
            client.goto(&format!("{base}{path}")).await.unwrap();
            // Give a payload time to load or run.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (foreign, ran) = breaches(&client).await;
            assert_eq!(foreign, json!([]), "{path} loaded from elsewhere");
            assert_eq!(ran, Value::Null, "{path} ran a payload");
        }
        // The payloads are on the pages, as text.
        client.goto(&format!("{base}/credentials?window=24h")).await.unwrap();
        let text = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(text.contains("<script>window.__xss='script'"), "{text}");
        client.goto(&format!("{base}/live")).await.unwrap();
        wait_for(&client, "document.getElementById('live').textContent.includes('onerror')", "the payloads in the live view").await;
        let (foreign, ran) = breaches(&client).await;
        assert_eq!((foreign, ran), (json!([]), Value::Null), "the live view");
        client.close().await.unwrap();
    });
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a payload called out");
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    assert!(child.0.wait().unwrap().success());
    drain.join().unwrap();
}
