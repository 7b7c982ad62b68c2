//! `hpti bench queries`: how long the analyst queries take on a store of N events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use hpti_core::event::{Event, Timestamp};
use hpti_core::sink::Sink;
use hpti_store::{EventQueries, Window};
use serde::Serialize;

use super::{SessionIds, Traffic};
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueryStore {
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

#[derive(Debug, clap::Args)]
pub struct QueriesArgs {
    /// Events in the store.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// The store: a SQLite file, or a PostgreSQL database (a new one on the server of
    /// `--postgres-url`, dropped afterwards, unless `--database-url` names one).
    #[arg(long, value_enum, default_value = "sqlite")]
    sink: QueryStore,
    /// The SQLite file (kept afterwards); a temporary file by default.
    #[arg(long)]
    db: Option<PathBuf>,
    /// The server on which to create the PostgreSQL bench database (default:
    /// `HPTI_POSTGRES_URL`, else postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long)]
    postgres_url: Option<String>,
    /// An existing PostgreSQL database to fill (or reuse), kept afterwards.
    #[arg(long)]
    database_url: Option<String>,
    /// The span the events' times cover, ending now.
    #[arg(long, default_value = "30d")]
    span: humantime::Duration,
    /// Runs of each query.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Rows each query returns (`hpti query --limit`).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Skip filling when the store already holds at least `--events` events (to time
    /// the queries again on the same data).
    #[arg(long)]
    reuse: bool,
    /// Seed of the synthetic traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Then serve the analyst API over the store and load each endpoint with
    /// `--api-clients` concurrent clients for `--api-seconds`, and time the NDJSON export.
    #[arg(long)]
    api: bool,
    /// Concurrent clients of `--api`.
    #[arg(long, default_value_t = 32)]
    api_clients: usize,
    /// Seconds each endpoint is loaded with `--api`.
    #[arg(long, default_value_t = 5.0)]
    api_seconds: f64,
    /// Events the NDJSON export of `--api` streams.
    #[arg(long, default_value_t = 1_000_000)]
    api_export: u64,
    /// The API's `cache_ttl` under `--api` and `--dashboard` (`0s`: every request
    /// computes its answer).
    #[arg(long, default_value = "60s")]
    api_cache_ttl: humantime::Duration,
    /// Then serve the dashboard over the store and time each page's HTML (`--runs`
    /// sequential requests each).
    #[arg(long)]
    dashboard: bool,
    /// With `--dashboard`, also time the downloads page fully rendered in headless
    /// Chromium (needs chromium and chromedriver).
    #[arg(long, requires = "dashboard")]
    dashboard_browser: bool,
    /// With `--dashboard`, store this many new events a second (the bench's traffic, at
    /// the present) while the pages are timed, as a honeypot under attack does: the
    /// store's position moves, so a cache keyed on it alone would compute every view.
    #[arg(long, default_value_t = 0, requires = "dashboard")]
    dashboard_ingest: u64,
    /// With `--dashboard`, wait this long before each page's first request, as an analyst
    /// reads a page before clicking the next (the cache warms other windows meanwhile);
    /// each page's first view is reported apart (`first_ms`).
    #[arg(long, default_value = "0s", requires = "dashboard")]
    dashboard_think: humantime::Duration,
}

#[derive(Debug, Serialize)]
struct QueryTiming {
    query: &'static str,
    window: &'static str,
    rows: usize,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize)]
struct QueriesResult {
    bench: &'static str,
    sink: QueryStore,
    events: u64,
    span: String,
    filled: bool,
    fill_seconds: f64,
    fill_events_per_sec: f64,
    /// Seconds to settle the store before timing ([`Cleanup::settle`]).
    settle_seconds: f64,
    runs: usize,
    limit: u32,
    queries: Vec<QueryTiming>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<super::api_load::ApiLoad>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard: Option<super::dashboard_load::DashboardLoad>,
}

/// Events written per `Sink::write` while filling.
const FILL_BATCH: usize = 5000;

pub async fn queries(_config: &Config, args: &QueriesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let tempdir = super::tempdir_for_bench()?;
    let (sink, queries, cleanup) = open(args, &tempdir).await?;
    let present = queries.count_events().await?;
    let fill = !(args.reuse && present >= args.events);
    let mut fill_seconds = 0.0;
    if fill {
        anyhow::ensure!(
            present == 0,
            "the store already holds {present} events: use an empty one, or --reuse"
        );
        fill_seconds = fill_store(sink.as_ref(), args).await?;
    }
    let settling = Instant::now();
    cleanup.settle().await?;
    let settle_seconds = settling.elapsed().as_secs_f64();
    eprintln!("settled in {settle_seconds:.1} s");
    let now = Timestamp::now();
    let day = now.saturating_add_micros(-86_400_000_000);
    let mut timings = Vec::new();
    for (window_name, window) in [
        ("all", Window::default().limit(args.limit)),
        ("24h", Window::default().since(day).limit(args.limit)),
    ] {
        for name in [
            "sessions",
            "attackers",
            "credentials",
            "commands",
            "downloads",
        ] {
            let mut samples = Vec::with_capacity(args.runs);
            let mut rows = 0;
            for _ in 0..args.runs {
                let started = Instant::now();
                rows = run_query(queries.as_ref(), name, window).await?;
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            samples.sort_by(f64::total_cmp);
            let at = |q: f64| {
                samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
            };
            timings.push(QueryTiming {
                query: name,
                window: window_name,
                rows,
                p50_ms: at(0.50),
                p95_ms: at(0.95),
                max_ms: at(1.0),
            });
            eprintln!(
                "{name} {window_name}: p50 {:.1} ms, p95 {:.1} ms",
                at(0.50),
                at(0.95)
            );
        }
    }
    let api = if args.api {
        Some(
            super::api_load::load(
                queries.clone(),
                args.api_clients,
                args.api_seconds,
                args.limit,
                args.api_export,
                args.api_cache_ttl.into(),
            )
            .await?,
        )
    } else {
        None
    };
    let dashboard = if args.dashboard {
        let load = super::dashboard_load::load(
            queries.clone(),
            args.runs,
            args.dashboard_browser,
            args.api_cache_ttl.into(),
            args.dashboard_think.into(),
        );
        let ingest = ingest_while_timing(sink.as_ref(), args);
        tokio::select! {
            load = load => Some(load?),
            failed = ingest => return Err(failed),
        }
    } else {
        None
    };
    let result = QueriesResult {
        bench: "queries",
        sink: args.sink,
        events: args.events,
        span: args.span.to_string(),
        filled: fill,
        fill_seconds,
        fill_events_per_sec: if fill_seconds > 0.0 {
            args.events as f64 / fill_seconds
        } else {
            0.0
        },
        settle_seconds,
        runs: args.runs,
        limit: args.limit,
        queries: timings,
        api,
        dashboard,
    };
    drop(sink);
    drop(queries);
    cleanup.run().await;
    if args.db.is_none() {
        let _ = std::fs::remove_dir_all(&tempdir);
    }
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

async fn run_query(
    queries: &dyn EventQueries,
    name: &str,
    window: Window,
) -> anyhow::Result<usize> {
    Ok(match name {
        "sessions" => queries.sessions(window).await?.len(),
        "attackers" => queries.attackers(window).await?.len(),
        "credentials" => queries.credentials(window).await?.len(),
        "commands" => queries.commands(window).await?.len(),
        _ => queries.downloads(window).await?.len(),
    })
}

/// What to close or drop once the bench is done.
enum Cleanup {
    Sqlite(hpti_store::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(
        hpti_store::PostgresStore,
        Option<super::postgres_bench::BenchDatabase>,
    ),
}

impl Cleanup {
    /// Brings the store to the state queries meet in service: SQLite's summaries and
    /// rollups folded (its background folder keeps up with a honeypot, not with a bulk
    /// fill), PostgreSQL's planner statistics taken (what autovacuum's ANALYZE does
    /// after a bulk load; without it the planner guesses the new tables' sizes).
    async fn settle(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(store) => {
                store.refresh_summaries().await?;
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(store, _) => {
                sqlx::query("ANALYZE").execute(store.pool()).await?;
            }
        }
        Ok(())
    }

    async fn run(self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            #[cfg(feature = "postgres")]
            Self::Postgres(store, database) => {
                store.close().await;
                if let Some(database) = database {
                    database.remove().await;
                }
            }
        }
    }
}

type Opened = (Arc<dyn Sink>, Arc<dyn EventQueries>, Cleanup);

async fn open(args: &QueriesArgs, tempdir: &std::path::Path) -> anyhow::Result<Opened> {
    match args.sink {
        QueryStore::Sqlite => {
            let db = args
                .db
                .clone()
                .unwrap_or_else(|| tempdir.join("queries.db"));
            let store = hpti_store::SqliteStore::open(hpti_store::SqliteOptions::new(&db))
                .await
                .with_context(|| format!("cannot open {}", db.display()))?;
            Ok((
                Arc::new(store.clone()),
                Arc::new(store.clone()),
                Cleanup::Sqlite(store),
            ))
        }
        #[cfg(feature = "postgres")]
        QueryStore::Postgres => {
            let (url, database) = match &args.database_url {
                Some(url) => (url.clone(), None),
                None => {
                    let database =
                        super::postgres_bench::BenchDatabase::create(args.postgres_url.as_deref())
                            .await?;
                    (database.url.clone(), Some(database))
                }
            };
            let store = hpti_store::PostgresStore::open(hpti_store::PostgresOptions::new(&url)?)
                .await
                .context("cannot open the PostgreSQL bench database")?;
            Ok((
                Arc::new(store.clone()),
                Arc::new(store.clone()),
                Cleanup::Postgres(store, database),
            ))
        }
    }
}

/// Writes `--events` synthetic events spread evenly over `--span` ending now, straight
/// into the sink in batches; returns the seconds it took.
/// Stores `--dashboard-ingest` events a second, in tenths, until dropped; returns only
/// when the store fails.
async fn ingest_while_timing(sink: &dyn Sink, args: &QueriesArgs) -> anyhow::Error {
    if args.dashboard_ingest == 0 {
        return std::future::pending().await;
    }
    let mut traffic = Traffic::new(args.seed.wrapping_add(1), SessionIds::TimeOrdered);
    let per_tick = (args.dashboard_ingest / 10).max(1);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tick.tick().await;
        let batch: Vec<Event> = (0..per_tick).map(|_| traffic.next_event()).collect();
        let refs: Vec<&Event> = batch.iter().collect();
        if let Err(err) = sink.write(&refs).await {
            return anyhow::anyhow!("storing events while timing the dashboard: {err}");
        }
    }
}

async fn fill_store(sink: &dyn Sink, args: &QueriesArgs) -> anyhow::Result<f64> {
    let span = i64::try_from(args.span.as_micros()).unwrap_or(i64::MAX);
    let step = (span / i64::try_from(args.events.max(1)).unwrap_or(i64::MAX)).max(1);
    let start = Timestamp::now().saturating_add_micros(-span);
    let mut traffic = Traffic::new(args.seed, SessionIds::TimeOrdered).with_clock(start, step);
    let started = Instant::now();
    let mut written = 0u64;
    let mut next_report = 1_000_000;
    while written < args.events {
        let n = (args.events - written).min(FILL_BATCH as u64) as usize;
        let batch: Vec<Event> = (0..n).map(|_| traffic.next_event()).collect();
        let refs: Vec<&Event> = batch.iter().collect();
        let report = sink
            .write(&refs)
            .await
            .map_err(|e| anyhow::anyhow!("filling the store: {e}"))?;
        anyhow::ensure!(
            report.rejected.is_empty() && report.retry.is_empty(),
            "the store refused events while filling: {report:?}"
        );
        written += n as u64;
        if written >= next_report {
            eprintln!(
                "filled {written} events ({:.0}/s)",
                written as f64 / started.elapsed().as_secs_f64()
            );
            next_report += 1_000_000;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}
