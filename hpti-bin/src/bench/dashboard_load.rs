//! `hpti bench queries --dashboard`: each dashboard page's HTML timed on the store the
//! query bench filled (p50/p95 of sequential requests: server time on loopback), and,
//! with `--dashboard-browser`, the downloads page fully rendered in headless Chromium
//! (navigation start to the load event, as the browser measures it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hpti_api::{ApiConfig, ApiState, Role, TokenStore};
use hpti_store::{EventQueries, Window};
use serde::Serialize;

/// One page's timings.
#[derive(Debug, Serialize)]
pub struct PageTiming {
    path: String,
    runs: usize,
    bytes: usize,
    /// The first request's time: the page's first view.
    first_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

/// The dashboard's figures.
#[derive(Debug, Serialize)]
pub struct DashboardLoad {
    pages: Vec<PageTiming>,
    #[serde(skip_serializing_if = "Option::is_none")]
    browser: Option<PageTiming>,
}

fn quantiles(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at =
        |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    (at(0.5), at(0.95), at(1.0))
}

/// Serves the API and the dashboard over `queries` in this process (answers kept for
/// `cache_ttl`, as `[api] cache_ttl`) and times every page `runs` times, `think` after
/// the previous page; with `browser`, also the downloads page in Chromium.
pub async fn load(
    queries: Arc<dyn EventQueries>,
    runs: usize,
    browser: bool,
    cache_ttl: Duration,
    think: Duration,
) -> anyhow::Result<DashboardLoad> {
    let dir = super::tempdir_for_bench()?;
    let tokens = TokenStore::open(&dir);
    let token = tokens.create("bench", Role::Admin)?;
    let config = ApiConfig {
        rate_limit: 0,
        cache_ttl,
        ..ApiConfig::default()
    };
    let state = ApiState::new(queries.clone(), tokens, &config).with_data_dir(&dir);
    let app = hpti_api::router(state.clone()).merge(hpti_dashboard::router(state));
    let (addr, server) = hpti_api::serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), app)
        .await
        .context("cannot serve the dashboard")?;
    let base = format!("http://{addr}");
    // Detail pages of the busiest address, session, command and file.
    let all = Window::default().limit(1);
    let ip = queries
        .attackers(all)
        .await?
        .first()
        .map(|a| a.src_ip.to_string());
    let session = queries
        .sessions(all)
        .await?
        .first()
        .map(|s| s.session.clone());
    let command = queries
        .commands(all)
        .await?
        .first()
        .map(|c| c.command.clone());
    let sha = queries
        .downloads(all)
        .await?
        .first()
        .map(|d| d.sha256.clone());
    let mut paths: Vec<String> = [
        "/",
        "/?window=1h",
        "/?window=7d",
        "/?window=30d",
        "/attackers",
        "/attackers?window=30d",
        "/sessions",
        "/credentials",
        "/credentials?window=30d",
        "/commands",
        "/downloads",
        "/downloads?window=30d",
        "/live",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    if let Some(ip) = &ip {
        paths.push(format!("/attackers/{ip}"));
    }
    if let Some(session) = &session {
        paths.push(format!("/sessions/{}", encode(session)));
    }
    if let Some(command) = &command {
        paths.push(format!("/commands?show={}", encode(command)));
    }
    if let Some(sha) = &sha {
        paths.push(format!("/downloads/{sha}"));
    }
    let client = reqwest::Client::new();
    let cookie = format!("hpti_session={token}");
    let mut pages = Vec::new();
    for path in paths {
        tokio::time::sleep(think).await;
        let mut samples = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            bytes = response.bytes().await?.len();
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let first = samples.first().copied().unwrap_or_default();
        let (p50, p95, max) = quantiles(samples);
        eprintln!("{path}: first {first:.1} ms, p50 {p50:.1} ms, p95 {p95:.1} ms ({bytes} bytes)");
        pages.push(PageTiming {
            path,
            runs,
            bytes,
            first_ms: first,
            p50_ms: p50,
            p95_ms: p95,
            max_ms: max,
        });
    }
    let browser = if browser {
        Some(in_browser(&base, &token, "/downloads", runs).await?)
    } else {
        None
    };
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(DashboardLoad { pages, browser })
}

/// The page fully rendered in headless Chromium, `runs` times after one warm-up: the
/// browser's own navigation timing, from the start of the navigation to the end of the
/// load event.
async fn in_browser(
    base: &str,
    token: &str,
    path: &str,
    runs: usize,
) -> anyhow::Result<PageTiming> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut driver = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("chromedriver (Debian: apt-get install chromium chromium-driver)")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = super::tempdir_for_bench()?;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let client =
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("cannot start Chromium through chromedriver")?;
    // Log in the way a person does.
    client.goto(&format!("{base}/login")).await?;
    client
        .find(fantoccini::Locator::Css("input[name=token]"))
        .await?
        .send_keys(token)
        .await?;
    client
        .find(fantoccini::Locator::Css("form[action='/login'] button"))
        .await?
        .click()
        .await?;
    let mut samples = Vec::with_capacity(runs);
    let mut bytes = 0;
    for run in 0..=runs {
        client.goto(&format!("{base}{path}")).await?;
        let timing = client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return [n.loadEventEnd - n.startTime, n.transferSize];",
                vec![],
            )
            .await?;
        let ms = timing[0].as_f64().context("no navigation timing")?;
        bytes = timing[1].as_u64().unwrap_or(0) as usize;
        if run > 0 {
            samples.push(ms);
        }
    }
    client.close().await?;
    let _ = driver.kill().await;
    let _ = std::fs::remove_dir_all(&profile);
    let first = samples.first().copied().unwrap_or_default();
    let (p50, p95, max) = quantiles(samples);
    eprintln!("{path} in Chromium: p50 {p50:.1} ms, p95 {p95:.1} ms to the load event");
    Ok(PageTiming {
        path: format!("{path} (Chromium, load event)"),
        runs,
        bytes,
        first_ms: first,
        p50_ms: p50,
        p95_ms: p95,
        max_ms: max,
    })
}
