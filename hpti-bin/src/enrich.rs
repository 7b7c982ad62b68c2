//! `hpti enrich warm`: fills the shared (Redis) cache of the remote enrichers with what
//! they say about the most active attackers and the most downloaded files in the store,
//! so a fresh hpti process — or a fleet of them — starts with warm lookups.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context as _;
use futures::StreamExt as _;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_core::metrics::PipelineMetrics;
use hpti_store::Window;
use serde::Serialize;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum EnrichCommand {
    /// Look up the top attacker addresses and downloaded files of the store with every
    /// remote enricher (AbuseIPDB, VirusTotal, RDAP), filling the Redis cache.
    Warm(WarmArgs),
}

#[derive(Debug, clap::Args)]
pub struct WarmArgs {
    /// How many of the most active addresses (and most downloaded files) to look up.
    #[arg(long, default_value_t = 100)]
    top: u32,
    /// Rank by activity in the last DURATION only (e.g. 24h, 7d); all time by default.
    #[arg(long, value_name = "DURATION")]
    since: Option<humantime::Duration>,
    /// Lookups in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What warming did, per enricher.
#[derive(Debug, Default, Serialize)]
struct Tally {
    /// Already in Redis: nothing asked.
    redis_hit: u64,
    /// Asked the service and cached the answer.
    fetched: u64,
    /// The lookup failed (the summary's errors say why in the log).
    failed: u64,
}

pub async fn enrich(config: &Config, command: EnrichCommand) -> anyhow::Result<()> {
    match command {
        EnrichCommand::Warm(args) => warm(config, &args).await,
    }
}

async fn warm(config: &Config, args: &WarmArgs) -> anyhow::Result<()> {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    let components = config.components()?;
    let mut enrichers = Vec::new();
    for (id, enricher) in components
        .enrichers
        .iter()
        .filter(|(_, e)| e.has_shared_cache())
    {
        let built = enricher
            .build(&config.build_context(id, &metrics))
            .await
            .with_context(|| format!("enrichers.{id}"))?;
        enrichers.extend(built.into_iter().map(|e| (id.clone(), e)));
    }
    if enrichers.is_empty() {
        anyhow::bail!(
            "no enricher has a shared cache: give an `abuseipdb`, `virustotal` or `rdap` enricher a `redis_url` (without it the answers would die with this process)"
        );
    }
    let store = config.open_queries().await?;
    let window = Window::default()
        .since_opt(crate::query::since(args.since))
        .limit(args.top);
    let attackers = store.attackers(window).await?;
    let downloads = store.downloads(window).await?;
    drop(store);

    // One synthetic event per key: an address for the address lookups, a file (from an
    // address no service is asked about) for the file lookups.
    let mut events: Vec<Event> = attackers
        .iter()
        .map(|a| probe(a.src_ip, EventKind::SessionStarted))
        .collect();
    events.extend(downloads.iter().map(|d| {
        probe(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            EventKind::FileDownload {
                url: String::new(),
                sha256: Some(d.sha256.clone()),
                size: d.size,
                error: None,
            },
        )
    }));
    let total = events.len();
    let enrichers = &enrichers;
    let finished: Vec<Event> = futures::stream::iter(events)
        .map(|mut event| async move {
            for (_, enricher) in enrichers {
                if let Err(e) = enricher.enrich(&mut event).await {
                    tracing::warn!(enricher = enricher.name(), error = %e, "lookup failed");
                    event.enrichment.failed.push(enricher.name().to_owned());
                }
            }
            event
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;

    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for (_, enricher) in enrichers {
        let name = enricher.name().to_owned();
        let failed = finished
            .iter()
            .filter(|e| e.enrichment.failed.contains(&name))
            .count() as u64;
        tallies.insert(
            name.clone(),
            Tally {
                redis_hit: metrics.get("enrich_cache", &name, "redis_hit"),
                fetched: metrics
                    .get("enrich_cache", &name, "miss")
                    .saturating_sub(failed),
                failed,
            },
        );
    }
    if args.json {
        let summary = serde_json::json!({
            "addresses": attackers.len(),
            "files": downloads.len(),
            "enrichers": tallies,
        });
        println!("{summary}");
    } else {
        println!(
            "warmed {} addresses and {} files ({total} lookups per enricher at most)",
            attackers.len(),
            downloads.len()
        );
        for (name, tally) in &tallies {
            println!(
                "  {name}: {} already cached, {} fetched, {} failed",
                tally.redis_hit, tally.fetched, tally.failed
            );
        }
    }
    Ok(())
}

fn probe(ip: IpAddr, kind: EventKind) -> Event {
    Event::new("hpti-warm", Protocol::Other("warm".into()), ip, kind)
}
