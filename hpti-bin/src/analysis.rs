//! `hpti analysis rescan`: analyses every file of the artifact store again (type, YARA)
//! and records the results in the query store, after the rules changed.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hpti_core::event::Timestamp;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum AnalysisCommand {
    /// Re-analyse every captured file with the current `[analysis]` rules and store the
    /// results (the downloads view shows them at once).
    Rescan(RescanArgs),
}

#[derive(Debug, clap::Args)]
pub struct RescanArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn analysis(config: &Config, command: AnalysisCommand) -> anyhow::Result<()> {
    match command {
        AnalysisCommand::Rescan(args) => rescan(config, &args).await,
    }
}

/// The captured files under `dir`: `<dir>/<2 hex>/<sha256>` whose name is a SHA-256
/// and whose prefix directory matches it (anything else is not the store's).
fn stored_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e).with_context(|| format!("{}", dir.display())),
    };
    for prefix in entries.flatten() {
        if !prefix.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(inner) = std::fs::read_dir(prefix.path()) else {
            continue;
        };
        for file in inner.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let is_stored = file.file_type().is_ok_and(|t| t.is_file())
                && hpti_enrich::file::artifact_path(dir, &name).as_deref()
                    == Some(file.path().as_path());
            if is_stored {
                files.push((name, file.path()));
            }
        }
    }
    files.sort();
    Ok(files)
}

async fn rescan(config: &Config, args: &RescanArgs) -> anyhow::Result<()> {
    let analyzer = config.file_analyzer()?;
    let queries = config.open_writable_queries().await?;
    let files = stored_files(analyzer.artifacts())?;
    let started = std::time::Instant::now();
    let (mut analysed, mut matched, mut failed) = (0u64, 0u64, 0u64);
    let now = Timestamp::now();
    for (sha256, path) in &files {
        let worker = analyzer.clone();
        let file = path.clone();
        let analysis = tokio::task::spawn_blocking(move || worker.analyse_path(&file))
            .await
            .context("the analysis task")?;
        let analysis = match analysis {
            Ok(analysis) => analysis,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a captured file");
                failed += 1;
                continue;
            }
        };
        queries
            .record_file_analysis(sha256, &analysis, now)
            .await
            .with_context(|| format!("recording the analysis of {sha256}"))?;
        analysed += 1;
        if !analysis.yara_matches.is_empty() {
            matched += 1;
        }
    }
    let rules = analyzer.yara().map_or(0, |r| r.files().len());
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "files": files.len(), "analysed": analysed, "yara_matched": matched,
                "failed": failed, "rule_files": rules,
                "seconds": started.elapsed().as_secs_f64(),
            })
        );
    } else {
        println!(
            "{analysed} of {} files analysed with {rules} rule files, {matched} matched a YARA rule, {failed} unreadable ({:.1} s)",
            files.len(),
            started.elapsed().as_secs_f64()
        );
    }
    anyhow::ensure!(failed == 0, "{failed} captured files could not be read");
    Ok(())
}
