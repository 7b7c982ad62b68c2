//! `hpti store`: maintenance of the store that answers queries.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use hpti_core::metrics::PipelineMetrics;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Write a consistent copy of the store while hpti may be running (SQLite: a
    /// compacted snapshot, checked after writing). Restore: stop hpti, put the copy in
    /// place of the database, remove its -wal and -shm files, start hpti.
    Backup {
        /// Where to write it; never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The sink to copy (default: `[query] store`).
        #[arg(long, value_name = "ID")]
        sink: Option<String>,
    },
    /// Create or upgrade the store's schema now (opening it for writing does too; this is
    /// for deployment scripts, or for doing it with another database role).
    Migrate {
        /// The sink to migrate (default: `[query] store`).
        #[arg(long, value_name = "ID")]
        sink: Option<String>,
    },
    /// What the store holds: events, bytes, and for PostgreSQL each partition's span,
    /// rows and size.
    Stats {
        /// The sink to describe (default: `[query] store`).
        #[arg(long, value_name = "ID")]
        sink: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drop the partitions wholly older than the sink's `retention` (hpti does this
    /// hourly while it runs); `--dry-run` only lists them.
    Retention {
        /// The sink (default: `[query] store`).
        #[arg(long, value_name = "ID")]
        sink: Option<String>,
        /// List what would be dropped, drop nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn store(config: &Config, command: StoreCommand) -> anyhow::Result<()> {
    let components = config.components()?;
    let sink = match &command {
        StoreCommand::Backup { sink, .. }
        | StoreCommand::Migrate { sink }
        | StoreCommand::Stats { sink, .. }
        | StoreCommand::Retention { sink, .. } => sink.as_deref(),
    };
    let (id, store) = components
        .query_store(sink.or(config.query.store.as_deref()))
        .map_err(anyhow::Error::msg)?;
    let cx = config.build_context(id, &PipelineMetrics::default());
    match command {
        StoreCommand::Backup { out, .. } => {
            let started = std::time::Instant::now();
            let backup = store
                .backup(&cx, &out)
                .await
                .with_context(|| format!("sinks.{id}: backup to {}", out.display()))?;
            println!(
                "{}: {} events, {} bytes, in {:.1} s (sinks.{id})",
                backup.path.display(),
                backup.events,
                backup.bytes,
                started.elapsed().as_secs_f64()
            );
        }
        StoreCommand::Migrate { .. } => {
            let done = store
                .migrate(&cx)
                .await
                .with_context(|| format!("sinks.{id}: migrate"))?;
            println!("{done} (sinks.{id})");
        }
        StoreCommand::Stats { json, .. } => {
            let stats = store
                .stats(&cx)
                .await
                .with_context(|| format!("sinks.{id}: stats"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!(
                    "{} (sinks.{id}): {} events, {}",
                    stats.location,
                    stats.events,
                    human_bytes(stats.bytes)
                );
                if !stats.partitions.is_empty() {
                    print_partitions(&stats.partitions);
                }
            }
        }
        StoreCommand::Retention { dry_run, json, .. } => {
            let plan = store
                .retention(&cx, dry_run)
                .await
                .with_context(|| format!("sinks.{id}: retention"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                match plan.cutoff {
                    None => println!("sinks.{id} has no `retention`: nothing expires"),
                    Some(cutoff) => {
                        let verb = if plan.dropped {
                            "dropped"
                        } else {
                            "would drop"
                        };
                        println!(
                            "sinks.{id}: events before {cutoff} are expired; {verb} {} partition(s), {} events",
                            plan.expired.len(),
                            plan.expired.iter().map(|p| p.rows).sum::<u64>()
                        );
                        if !plan.expired.is_empty() {
                            print_partitions(&plan.expired);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn print_partitions(partitions: &[hpti_store::PartitionStats]) {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["partition", "from", "to", "rows", "size"]);
    for p in partitions {
        table.add_row([
            p.name.clone(),
            p.from.to_string(),
            p.to.to_string(),
            p.rows.to_string(),
            human_bytes(p.bytes),
        ]);
    }
    println!("{table}");
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
