//! `hpti dlq`: show dead letters, and feed them back through the pipeline after a fix.

use hpti_alert::rules::ClockMode;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use async_trait::async_trait;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use hpti_core::ack::AckBatch;
use hpti_core::dead_letter::{
    DeadLetter, DeadLetterReadError, DeadLetterReader, DeadLetterStage, MAX_LINE_BYTES, take_aside,
};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::parser::{self, ParseContext};
use hpti_core::pipeline::{Envelope, Origin};
use hpti_core::source::{Source, SourceContext, SourceError};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Show dead letters, oldest first.
    List(ListArgs),
    /// Feed dead letters back through the pipeline (after fixing a parser, a limit or a
    /// sink). Records that fail again are dead-lettered again, with the new reason.
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Stage {
    Parse,
    Validate,
    Sink,
}

impl Stage {
    fn matches(self, stage: DeadLetterStage) -> bool {
        matches!(
            (self, stage),
            (Self::Parse, DeadLetterStage::Parse)
                | (Self::Validate, DeadLetterStage::Validate)
                | (Self::Sink, DeadLetterStage::Sink)
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only records refused at this stage.
    #[arg(long, value_enum)]
    stage: Option<Stage>,
    /// Most records shown (the oldest first).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON lines (the records as stored) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Only records refused at this stage; the others stay in the dead-letter file.
    #[arg(long, value_enum)]
    stage: Option<Stage>,
    /// Parse records that failed parsing with this format instead of the one that failed.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(parser::BUILTIN_FORMATS))]
    format: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Streams the records of a dead-letter file to `each` (one line in memory at a time,
/// lines over [`MAX_LINE_BYTES`] skipped); unreadable lines are reported, not fatal.
/// Blocking: the file may be large.
fn for_each_letter(
    path: &Path,
    mut each: impl FnMut(DeadLetter) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(reader) = DeadLetterReader::open(path, MAX_LINE_BYTES)
        .with_context(|| format!("cannot read {}", path.display()))?
    else {
        return Ok(());
    };
    for item in reader {
        match item {
            Ok(letter) => each(letter)?,
            Err(e @ DeadLetterReadError::Io { .. }) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
            Err(e) => eprintln!("{}: {e}", path.display()),
        }
    }
    Ok(())
}

/// Records in a dead-letter file (streamed).
fn count_letters(path: &Path) -> anyhow::Result<u64> {
    let mut n = 0;
    for_each_letter(path, |_| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

pub async fn dlq(config: &Config, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List(args) => list(config, &args),
        DlqCommand::Replay(args) => replay(config, &args).await,
    }
}

fn list(config: &Config, args: &ListArgs) -> anyhow::Result<()> {
    let path = config.dead_letter_path();
    // Only the first `limit` records are kept; the rest are counted as they stream by.
    let mut shown: Vec<DeadLetter> = Vec::new();
    let mut matching = 0u64;
    for_each_letter(&path, |letter| {
        if !args.stage.is_none_or(|s| s.matches(letter.stage)) {
            return Ok(());
        }
        matching += 1;
        if args.json {
            if matching <= args.limit as u64 {
                println!("{}", serde_json::to_string(&letter)?);
            }
        } else if shown.len() < args.limit {
            shown.push(letter);
        }
        Ok(())
    })?;
    if args.json {
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "time",
        "stage",
        "component",
        "label",
        "origin",
        "reason",
        "original",
    ]);
    for letter in &shown {
        let origin = match (&letter.source, letter.offset) {
            (Some(source), Some(offset)) => format!("{source}:{offset}"),
            (Some(source), None) => source.clone(),
            _ => "-".into(),
        };
        let original = letter
            .original
            .clone()
            .or_else(|| {
                letter
                    .original_base64
                    .as_ref()
                    .map(|b| format!("base64:{b}"))
            })
            .unwrap_or_default();
        table.add_row([
            letter
                .time
                .to_string()
                .chars()
                .take(19)
                .collect::<String>()
                .replace('T', " "),
            letter.stage.as_str().to_owned(),
            letter.component.clone(),
            letter.label.clone().unwrap_or_else(|| "-".into()),
            origin,
            shorten(&letter.reason, 60),
            shorten(&original, 60),
        ]);
    }
    println!("{table}");
    println!(
        "{} of {} dead letter(s) in {}",
        shown.len(),
        matching,
        path.display()
    );
    Ok(())
}

/// Cuts text for a table cell and escapes control characters (attacker-controlled text
/// must not drive the terminal).
fn shorten(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .flat_map(char::escape_default)
        .take(max)
        .collect();
    if text
        .chars()
        .flat_map(char::escape_default)
        .nth(max)
        .is_some()
    {
        out.push('…');
    }
    out
}

#[derive(Debug, Default, Serialize)]
struct ReplaySummary {
    replayed: u64,
    stored: u64,
    dead_lettered_again: u64,
    kept: u64,
    dead_letter_file: PathBuf,
}

/// Feeds dead letters into the pipeline as a sensor, streaming them from the file that
/// was moved aside; records not selected by `stage` go back to the dead-letter file.
struct Replayer {
    aside: PathBuf,
    stage: Option<Stage>,
    format: Option<String>,
    replayed: AtomicU64,
    kept: AtomicU64,
}

#[async_trait]
impl Source for Replayer {
    fn name(&self) -> &str {
        "dlq-replay"
    }

    async fn run(&self, ctx: SourceContext) -> Result<(), SourceError> {
        let (batch, receiver) = AckBatch::new();
        // The file is read on a blocking thread, a few records ahead.
        let (letters_tx, mut letters) = tokio::sync::mpsc::channel::<DeadLetter>(64);
        let aside = self.aside.clone();
        let reading = tokio::task::spawn_blocking(move || {
            for_each_letter(&aside, |letter| {
                letters_tx
                    .blocking_send(letter)
                    .map_err(|_| anyhow::anyhow!("replay stopped"))
            })
        });
        while let Some(letter) = letters.recv().await {
            let letter = &letter;
            if ctx.shutdown.is_cancelled() {
                break;
            }
            if !self.stage.is_none_or(|s| s.matches(letter.stage)) {
                // Not selected: back to the dead-letter file as it was.
                self.kept.fetch_add(1, Ordering::Relaxed);
                ctx.dead_letters
                    .send(letter.clone(), Some(batch.clone()))
                    .await;
                continue;
            }
            self.replayed.fetch_add(1, Ordering::Relaxed);
            let origin = letter.source.as_ref().map(|source| Origin {
                source: Arc::from(source.as_str()),
                offset: letter.offset.unwrap_or(0),
            });
            let event = match (&letter.event, letter.stage) {
                (Some(event), _) => Ok(Some((**event).clone())),
                (None, _) => {
                    let name = self.format.as_deref().unwrap_or(&letter.component);
                    let parser = parser::builtin(name).ok_or_else(|| {
                        format!("no parser named {name:?} to replay this record with")
                    });
                    match (parser, letter.original_bytes()) {
                        (Ok(parser), Some(bytes)) => {
                            let source = letter.source.clone().unwrap_or_else(|| "-".into());
                            let parse_ctx = ParseContext {
                                source: &source,
                                offset: letter.offset.unwrap_or(0),
                                sensor: "import",
                            };
                            parser.parse(&bytes, &parse_ctx).map_err(|e| e.to_string())
                        }
                        (Err(e), _) => Err(e),
                        (_, None) => Err("the record has no original bytes".into()),
                    }
                }
            };
            match event {
                Ok(Some(event)) => {
                    let envelope = Envelope {
                        event,
                        ack: Some(batch.clone()),
                        origin,
                    };
                    if ctx.events.emit_envelope(envelope).await.is_err() {
                        return Err(SourceError::msg("pipeline closed during replay"));
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    let mut again = letter.clone();
                    again.time = hpti_core::event::Timestamp::now();
                    again.reason = reason;
                    ctx.dead_letters.send(again, Some(batch.clone())).await;
                }
            }
        }
        drop(letters);
        let read = reading
            .await
            .map_err(|e| SourceError::msg(format!("reading dead letters failed: {e}")))?;
        drop(batch);
        if let Err(err) = read
            && !ctx.shutdown.is_cancelled()
        {
            return Err(SourceError::msg(format!("{err:#}")));
        }
        if !receiver.await.is_accounted_for() {
            return Err(SourceError::msg(
                "some replayed records were neither stored nor dead-lettered",
            ));
        }
        Ok(())
    }
}

async fn replay(config: &Config, args: &ReplayArgs) -> anyhow::Result<()> {
    let path = config.dead_letter_path();
    // Move the file aside first: the pipeline appends records that fail again to a new
    // dead-letter file, and the old one is deleted only once every record is accounted
    // for. Interrupted, the aside file is picked up by the next replay.
    // A running `hpti run` may be appending: the move happens under the file's lock,
    // and the writer reopens the path afterwards (see `hpti_core::dead_letter`).
    let aside = path.with_extension("jsonl.replaying");
    if !aside.exists() {
        let (from, to) = (path.clone(), aside.clone());
        let moved = tokio::task::spawn_blocking(move || take_aside(&from, &to))
            .await
            .context("moving the dead-letter file aside failed")?
            .context("cannot move the dead-letter file aside")?;
        if !moved {
            println!("no dead letters in {}", path.display());
            return Ok(());
        }
    }

    let mut registry = Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    let components = config.components()?;
    let mut built = config
        .pipeline(&components, metrics.clone(), ClockMode::EventTime)
        .await?;
    let alerts = built.start_alerts();
    let store = config.open_queries().await?;
    let before = store.count_events().await?;
    let mut pipeline = built.builder.start()?;
    let before_letters = count_in_background(path.clone()).await?;
    let replayer = Arc::new(Replayer {
        aside: aside.clone(),
        stage: args.stage,
        format: args.format.clone(),
        replayed: AtomicU64::new(0),
        kept: AtomicU64::new(0),
    });
    pipeline.spawn_source(
        &hpti_core::component::ComponentId::new("dlq-replay")?,
        replayer.clone(),
    );
    let mut failed = false;
    for (name, result) in pipeline.wait_for_sources().await {
        if let Err(err) = result {
            failed = true;
            eprintln!("error: {name}: {err:#}");
        }
    }
    pipeline.shutdown().await;
    crate::config::finish_alerts(alerts).await;
    let after = store.count_events().await?;
    drop(store);
    if !failed {
        std::fs::remove_file(&aside).context("cannot remove the replayed dead letters")?;
    }
    let kept = replayer.kept.load(Ordering::Relaxed);
    let after_letters = count_in_background(path.clone()).await?;
    let summary = ReplaySummary {
        replayed: replayer.replayed.load(Ordering::Relaxed),
        stored: after.saturating_sub(before),
        dead_lettered_again: after_letters
            .saturating_sub(before_letters)
            .saturating_sub(kept),
        kept,
        dead_letter_file: path,
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "replayed {} dead letter(s): {} stored, {} dead-lettered again, {} kept aside by --stage ({})",
            summary.replayed,
            summary.stored,
            summary.dead_lettered_again,
            summary.kept,
            summary.dead_letter_file.display()
        );
    }
    if failed {
        anyhow::bail!(
            "replay incomplete; the records are still in {} and will be replayed next time",
            aside.display()
        );
    }
    Ok(())
}

/// [`count_letters`] on a blocking thread.
async fn count_in_background(path: PathBuf) -> anyhow::Result<u64> {
    tokio::task::spawn_blocking(move || count_letters(&path))
        .await
        .context("counting dead letters failed")?
}
