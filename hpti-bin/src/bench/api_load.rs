//! `hpti bench queries --api`: the analyst API under concurrent clients, over the store
//! the query bench filled: requests per second and latency per endpoint, and the NDJSON
//! export's rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hpti_api::{ApiConfig, ApiState, Role, TokenStore};
use hpti_store::EventQueries;
use serde::Serialize;

/// One endpoint under load.
#[derive(Debug, Serialize)]
pub struct EndpointLoad {
    path: String,
    clients: usize,
    requests: u64,
    errors: u64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The export of every event as NDJSON, streamed.
#[derive(Debug, Serialize)]
pub struct ExportRate {
    events: u64,
    seconds: f64,
    events_per_sec: f64,
    /// The process's peak resident memory before and after the export.
    peak_rss_mb_before: f64,
    peak_rss_mb_after: f64,
}

/// The API's figures.
#[derive(Debug, Serialize)]
pub struct ApiLoad {
    endpoints: Vec<EndpointLoad>,
    export: ExportRate,
}

/// Serves the API over `queries` in this process and loads each endpoint with `clients`
/// concurrent keep-alive connections for `seconds`, then streams the whole store as
/// NDJSON once (`export_events` of them).
pub async fn load(
    queries: Arc<dyn EventQueries>,
    clients: usize,
    seconds: f64,
    limit: u32,
    export_events: u64,
    cache_ttl: Duration,
) -> anyhow::Result<ApiLoad> {
    let dir = super::tempdir_for_bench()?;
    let tokens = TokenStore::open(&dir);
    let token = tokens.create("bench", Role::Viewer)?;
    let config = ApiConfig {
        rate_limit: 0,
        cache_ttl,
        ..ApiConfig::default()
    };
    let state = ApiState::new(queries, tokens, &config);
    let (addr, server) = hpti_api::serve(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        hpti_api::router(state),
    )
    .await
    .context("cannot serve the API")?;
    let base = format!("http://{addr}/api/v1");
    let mut endpoints = Vec::new();
    for path in [
        format!("/downloads?limit={limit}"),
        format!("/downloads?limit={limit}&since=24h"),
        format!("/attackers?limit={limit}"),
        format!("/attackers?limit={limit}&since=24h"),
        format!("/credentials?limit={limit}"),
        format!("/commands?limit={limit}"),
        format!("/sessions?limit={limit}"),
        format!("/events?limit={limit}"),
        format!("/events?limit={limit}&kind=login.attempt"),
        "/stats/timeseries?interval=1h&since=24h".to_owned(),
    ] {
        let result = load_one(&base, &path, &token, clients, seconds).await?;
        eprintln!(
            "{path}: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms ({} errors)",
            result.requests_per_sec, result.p50_ms, result.p99_ms, result.errors
        );
        endpoints.push(result);
    }
    let export = export(&base, &token, export_events).await?;
    eprintln!(
        "NDJSON export: {} events at {:.0} events/s",
        export.events, export.events_per_sec
    );
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ApiLoad { endpoints, export })
}

async fn load_one(
    base: &str,
    path: &str,
    token: &str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<EndpointLoad> {
    let url = format!("{base}{path}");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.clone();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            // One connection per client, kept alive, as a load tool's.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = match client.get(&url).bearer_auth(&token).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    histogram.record(started.elapsed().as_micros() as u64)?;
                } else {
                    errors += 1;
                }
            }
            anyhow::Ok((histogram, errors))
        }));
    }
    let started = Instant::now();
    let mut all = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for task in tasks {
        let (histogram, failed) = task.await??;
        all.add(&histogram)?;
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64().max(seconds);
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(EndpointLoad {
        path: path.to_owned(),
        clients,
        requests: all.len(),
        errors,
        requests_per_sec: all.len() as f64 / elapsed,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: all.max() as f64 / 1000.0,
    })
}

async fn export(base: &str, token: &str, events: u64) -> anyhow::Result<ExportRate> {
    let before = super::peak_rss_mb();
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .get(format!(
            "{base}/events?limit={}",
            events.clamp(1, u64::from(u32::MAX))
        ))
        .bearer_auth(token)
        .header("accept", "application/x-ndjson")
        .send()
        .await?
        .error_for_status()?;
    let mut exported = 0u64;
    while let Some(chunk) = response.chunk().await.context("the export broke off")? {
        exported += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ExportRate {
        events: exported,
        seconds,
        events_per_sec: exported as f64 / seconds.max(f64::EPSILON),
        peak_rss_mb_before: before,
        peak_rss_mb_after: super::peak_rss_mb(),
    })
}
