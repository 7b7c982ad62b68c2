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
    },
}

pub async fn store(config: &Config, command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Backup { out } => {
            let components = config.components()?;
            let (id, store) = components
                .query_store(config.query.store.as_deref())
                .map_err(anyhow::Error::msg)?;
            let started = std::time::Instant::now();
            let backup = store
                .backup(&config.build_context(id, &PipelineMetrics::default()), &out)
                .await
                .with_context(|| format!("sinks.{id}: backup to {}", out.display()))?;
            println!(
                "{}: {} events, {} bytes, in {:.1} s (sinks.{id})",
                backup.path.display(),
                backup.events,
                backup.bytes,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
