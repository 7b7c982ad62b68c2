//! `hpti ingest`: read log files into the configured store.

use hpti_alert::rules::ClockMode;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use hpti_core::collect::{CapturedFiles, CheckpointStore, CollectorOptions, FileCollector};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::parser;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::config::Config;
use crate::telemetry;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Log format of the files.
    #[arg(long, short = 'f', default_value = "hpti", value_parser = clap::builder::PossibleValuesParser::new(parser::BUILTIN_FORMATS))]
    format: String,
    /// Source name for records that do not name one.
    #[arg(long, default_value = "import")]
    sensor: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Keep reading as the files grow (and are rotated), until Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// The honeypot's directory of captured files named by SHA-256 (Cowrie's
    /// `var/lib/cowrie/downloads`): each file a record names is copied into the
    /// artifact store (hash checked), analysed, and served by the API.
    #[arg(long, value_name = "DIR")]
    downloads: Option<PathBuf>,
    /// Restore the archive of this sink (`type = "archive"`, local or S3): its objects
    /// are fetched into the data directory, read as `--format hpti`, and removed after.
    /// That sink itself is left out of this run, so nothing is archived twice.
    #[cfg(feature = "archive")]
    #[arg(long, value_name = "SINK_ID", conflicts_with = "follow")]
    from_archive: Option<String>,
    /// Files or glob patterns (quote them: 'cowrie.json*'); gzip and zstd files are
    /// decompressed. Each file resumes where an earlier, interrupted ingest stopped.
    #[arg(required_unless_present = "from_archive", value_name = "PATH")]
    files: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    files: u64,
    lines: u64,
    events: u64,
    skipped: u64,
    stored: u64,
    already_stored: u64,
    dead_lettered: u64,
    parse_errors: u64,
    invalid: u64,
    sink_failures: u64,
    resumed_files: u64,
    lost_files: u64,
    dead_letter_file: PathBuf,
    /// Alerts the rules raised, and notifications sent and given up on (with rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<AlertSummary>,
}

#[derive(Debug, Serialize)]
struct AlertSummary {
    raised: u64,
    notifications_sent: u64,
    notifications_failed: u64,
}

/// Retries of a failing sink in a one-shot ingest (`[pipeline] max_retries` may be
/// higher, or unlimited, for `hpti run` and `--follow`).
const ONE_SHOT_RETRIES: u32 = 5;

/// Longest a sink's batch waits to fill in a one-shot ingest, which ends only once every
/// event is acknowledged (an archive sink lingers minutes under `hpti run`).
const ONE_SHOT_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn ingest(config: &Config, args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let mut config = config.clone();
    // Ingestion is crash-safe without the disk buffer: a checkpoint only moves past
    // what every durable sink stored, so a crash re-reads the rest (and idempotent sinks
    // store it once). The buffer directory stays `hpti run`'s alone.
    config.pipeline.buffer = Some(crate::config::BufferKind::Memory);
    if !args.follow {
        // A one-shot run reports a failing store instead of waiting it out.
        config.pipeline.max_retries.0 = config.pipeline.max_retries.0.min(ONE_SHOT_RETRIES);
    }
    let config = &config;
    #[cfg_attr(not(feature = "archive"), allow(unused_mut))]
    let mut components = config.components()?;
    #[cfg(feature = "archive")]
    let restore = match &args.from_archive {
        Some(id) => Some(fetch_archive(config, &mut components, id).await?),
        None => None,
    };
    #[cfg(feature = "archive")]
    let (format, files) = match &restore {
        Some(restore) => ("hpti".to_owned(), restore.files.clone()),
        None => (args.format.clone(), args.files.clone()),
    };
    #[cfg(not(feature = "archive"))]
    let (format, files) = (args.format.clone(), args.files.clone());
    let parser: Arc<dyn hpti_core::parser::Parser> = parser::builtin(&format)
        .map(Arc::from)
        .with_context(|| format!("unknown format {format:?}"))?;
    let mut registry = Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    config.check().await?;
    let checkpoints = CheckpointStore::open(config.checkpoint_path())?;
    let max_linger = (!args.follow).then_some(ONE_SHOT_LINGER);
    // A log read once is history: only its own times move the rules' clocks. Followed,
    // it is happening now.
    let clock = if args.follow {
        ClockMode::Live
    } else {
        ClockMode::EventTime
    };
    let mut built = config
        .pipeline_with_linger(&components, metrics.clone(), max_linger, clock)
        .await?;
    let alerts = built.start_alerts();
    // Counted through the query store, opened after the sinks created it.
    let store = config.open_queries().await?;
    let before = store.count_events().await?;
    let mut pipeline = built.builder.start().context("cannot start the pipeline")?;
    let collector = Arc::new(FileCollector::new(
        files,
        parser.clone(),
        checkpoints,
        CollectorOptions {
            sensor: args.sensor.clone(),
            follow: args.follow,
            captured_files: args.downloads.as_ref().map(|from| CapturedFiles {
                from: from.clone(),
                artifacts: config.data.dir.join("artifacts"),
                max_bytes: hpti_core::collect::MAX_IMPORTED_FILE_BYTES,
            }),
            ..CollectorOptions::default()
        },
        metrics.clone(),
    ));
    let ingest_id = hpti_core::component::ComponentId::new("ingest")?;
    pipeline.spawn_source(&ingest_id, collector.clone());
    let progress = show_progress(&format, &metrics, args.json, built.sinks.first());
    let stop = pipeline.shutdown_token();
    let signal = tokio::spawn(async move {
        telemetry::shutdown_signal().await;
        tracing::warn!("interrupted: stopping after the events already read are stored");
        stop.cancel();
    });
    let results = pipeline.wait_for_sources().await;
    signal.abort();
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
    let stats = pipeline.shutdown().await;
    // Returns once every pending notification was sent or dead-lettered.
    let alert_stats = crate::config::finish_alerts(alerts).await;

    let mut failed = false;
    for (name, result) in &results {
        if let Err(err) = result {
            failed = true;
            eprintln!("error: {name}: {err:#}");
        }
    }
    let report = collector.report();
    if report.lost_files > 0 {
        // "Stored" and "dead-lettered" below count what the pipeline handed on; these
        // files had events that reached neither the store nor the dead-letter file.
        failed = true;
        eprintln!(
            "error: events of {} file(s) were neither stored nor dead-lettered (is the disk full? see the log); \
             their checkpoints stop before them: run the same ingest again once fixed",
            report.lost_files
        );
    }
    let after = store.count_events().await?;
    // What the query store's sink did: "already stored" is what it was given but did
    // not add. Refusals of any sink count as failures.
    let query_sink = components
        .query_store(config.query.store.as_deref())
        .map(|(id, _)| id.clone())
        .map_err(anyhow::Error::msg)?;
    let delivered = stats.sinks.get(&query_sink).map_or(0, |s| s.delivered);
    let invalid = stats.invalid;
    let sink_failures = stats
        .sinks
        .values()
        .map(|s| s.failed + s.rejected)
        .sum::<u64>();
    let parse_errors = report.parse_errors;
    let stored = after.saturating_sub(before);
    let summary = Summary {
        files: report.files,
        lines: report.lines,
        events: report.events,
        skipped: report.skipped,
        stored,
        already_stored: delivered.saturating_sub(stored),
        dead_lettered: parse_errors + invalid + sink_failures,
        parse_errors,
        invalid,
        sink_failures,
        resumed_files: report.resumed_files,
        lost_files: report.lost_files,
        dead_letter_file: config.dead_letter_path(),
        alerts: alert_stats.map(|a| AlertSummary {
            raised: a.received,
            notifications_sent: a.delivered,
            notifications_failed: a.failed,
        }),
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "read {} lines from {} file(s){}: {} events, {} stored, {} already stored, {} dead-lettered ({} unparsable, {} invalid, {} refused by the store)",
            summary.lines,
            summary.files,
            if summary.resumed_files > 0 {
                format!(" ({} resumed from a checkpoint)", summary.resumed_files)
            } else {
                String::new()
            },
            summary.events,
            summary.stored,
            summary.already_stored,
            summary.dead_lettered,
            summary.parse_errors,
            summary.invalid,
            summary.sink_failures,
        );
        if summary.dead_lettered > 0 {
            println!("dead letters: {}", summary.dead_letter_file.display());
        }
    }
    #[cfg(feature = "archive")]
    if let Some(restore) = restore {
        if failed {
            eprintln!(
                "the fetched objects stay in {} for the next try",
                restore.dir.display()
            );
        } else if let Err(err) = std::fs::remove_dir_all(&restore.dir) {
            eprintln!("cannot remove {}: {err}", restore.dir.display());
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The objects of an archive, fetched into the data directory for reading.
#[cfg(feature = "archive")]
struct Restore {
    dir: std::path::PathBuf,
    files: Vec<String>,
}

/// Fetches every object of archive sink `id` into `<data>/restore/<id>/` and takes that
/// sink out of `components`.
#[cfg(feature = "archive")]
async fn fetch_archive(
    config: &Config,
    components: &mut crate::config::Components,
    id: &str,
) -> anyhow::Result<Restore> {
    let position = components
        .sinks
        .iter()
        .position(|(sink, _)| sink.as_str() == id)
        .with_context(|| format!("--from-archive: no sink `{id}` in [sinks]"))?;
    let (sink_id, sink) = components.sinks.remove(position);
    let Some(archive) = sink.archive() else {
        anyhow::bail!("--from-archive: sinks.{id} is not an archive (`type = \"archive\"`)");
    };
    let cx = config.build_context(&sink_id, &PipelineMetrics::default());
    let options = archive
        .options(&cx)
        .with_context(|| format!("sinks.{id}"))?;
    let reader = hpti_store::archive::ArchiveReader::open(&options)
        .with_context(|| format!("sinks.{id}: cannot open the archive"))?;
    let objects = reader
        .list()
        .await
        .with_context(|| format!("sinks.{id}: cannot list {}", reader.target()))?;
    let dir = config.data.dir.join("restore").join(id);
    let mut files = Vec::with_capacity(objects.len());
    let mut bytes = 0;
    for object in &objects {
        // The names come from a bucket: nothing in them may climb out of `dir`.
        let relative = std::path::Path::new(&object.name);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            eprintln!("skipping an object with an unsafe name: {:?}", object.name);
            continue;
        }
        let to = dir.join(relative);
        bytes += reader
            .fetch(&object.name, &to)
            .await
            .with_context(|| format!("fetching {} from {}", object.name, reader.target()))?;
        files.push(to.display().to_string());
    }
    eprintln!(
        "fetched {} object(s), {bytes} bytes, from {}",
        files.len(),
        reader.target()
    );
    if files.is_empty() {
        anyhow::bail!("the archive {} holds no objects", reader.target());
    }
    Ok(Restore { dir, files })
}

/// On a terminal, a live line of what has been read and stored; nothing when piped.
fn show_progress(
    format: &str,
    metrics: &PipelineMetrics,
    json: bool,
    sink: Option<&hpti_core::component::ComponentId>,
) -> Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)> {
    use std::io::IsTerminal as _;
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    let (ticker_bar, metrics, format) = (bar.clone(), metrics.clone(), format.to_owned());
    let delivered = metrics.counter("sink", sink.map_or("main", |id| id.as_str()), "delivered");
    let ticker = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            interval.tick().await;
            let parsed = metrics.get("parser", &format, "parsed");
            let rejected = metrics.get("parser", &format, "rejected");
            let stored = delivered.get();
            let rate = stored as f64 / started.elapsed().as_secs_f64().max(0.001);
            ticker_bar.set_message(format!(
                "{} lines parsed, {rejected} unparsable, {stored} stored ({rate:.0} events/s)",
                parsed + rejected
            ));
            ticker_bar.tick();
        }
    });
    Some((bar, ticker))
}
