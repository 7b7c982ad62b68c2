//! `hpti export`: what the store holds, in the forms other tools take (hpti-intel).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use hpti_core::event::Timestamp;
use hpti_intel::blocklist::{Blocklist, Format};
use hpti_intel::ioc::IocReport;
use hpti_store::Window;

use crate::config::Config;
use crate::report::parse_since;

/// `hpti export`.
#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// A STIX 2.1 bundle: indicators, observed data, sightings, malware.
    Stix {
        #[command(flatten)]
        window: ExportWindow,
        /// Leave out indicators below this confidence (0–100).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
        min_confidence: u8,
    },
    /// MISP events, one per UTC day or per session, as MISP exports several:
    /// `{"response": [{"Event": ...}, ...]}`.
    Misp {
        #[command(flatten)]
        window: ExportWindow,
        /// One MISP event per `day` or per `session`.
        #[arg(long, default_value = "day")]
        per: hpti_intel::misp::Grouping,
    },
    /// Cowrie 3.x JSON lines (`cowrie.json`), oldest first, for Cowrie's tools.
    Cowrie {
        #[command(flatten)]
        window: ExportWindow,
    },
    /// Attacking addresses for a firewall: never allow-listed, private or documentation
    /// ranges.
    Blocklist {
        #[command(flatten)]
        window: ExportWindow,
        /// Only addresses with at least this many events.
        #[arg(long, default_value_t = 1)]
        min_events: u64,
        /// `plain`, `csv`, `nftables` (an `nft -f` script) or `ipset` (`ipset restore`).
        #[arg(long, default_value = "plain")]
        format: Format,
    },
}

/// The window and output every export takes (names fixed: scripts rely on them).
#[derive(Debug, clap::Args)]
pub struct ExportWindow {
    /// Start (RFC 3339, `2026-12-06`, or a duration back from now like `24h`).
    #[arg(long, default_value = "24h")]
    since: String,
    /// End, exclusive (same forms); by default now.
    #[arg(long)]
    until: Option<String>,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl ExportWindow {
    fn window(&self) -> anyhow::Result<Window> {
        let since =
            parse_since(&self.since).with_context(|| format!("--since {:?}", self.since))?;
        let mut window = Window::default().since(since);
        if let Some(until) = &self.until {
            window =
                window.until(parse_since(until).with_context(|| format!("--until {until:?}"))?);
        }
        Ok(window)
    }

    fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        match &self.out {
            Some(path) => std::fs::write(path, bytes)
                .with_context(|| format!("--out {}: cannot write", path.display())),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()?;
                Ok(())
            }
        }
    }
}

/// The window's indicators; `with_files`: with the captured files' digests (read from
/// the artifact store).
async fn extract(
    config: &Config,
    window: &ExportWindow,
    with_files: bool,
) -> anyhow::Result<IocReport> {
    let queries = config
        .open_queries()
        .await
        .context("the export reads the query store")?;
    let started = Timestamp::now();
    let report = hpti_intel::ioc::extract(
        queries.as_ref(),
        window.window()?,
        config.intel.ioc_options(),
        with_files
            .then(|| config.data.dir.join("artifacts"))
            .as_deref(),
    )
    .await?;
    tracing::info!(
        events = report.events,
        excluded = report.excluded,
        addresses = report.addresses.len(),
        urls = report.urls.len(),
        files = report.files.len(),
        ms = (Timestamp::now().as_micros() - started.as_micros()) / 1000,
        "indicators extracted"
    );
    if report.dropped > 0 {
        tracing::warn!(
            dropped = report.dropped,
            "the window holds more indicators than one export keeps: narrow it with --since/--until"
        );
    }
    Ok(report)
}

/// Runs `hpti export`.
pub async fn export(config: &Config, command: &ExportCommand) -> anyhow::Result<()> {
    match command {
        ExportCommand::Stix {
            window,
            min_confidence,
        } => {
            let report = extract(config, window, true).await?;
            let bundle =
                hpti_intel::stix::bundle(&report, &config.intel.stix_options(*min_confidence));
            let mut bytes = serde_json::to_vec_pretty(&bundle)?;
            bytes.push(b'\n');
            window.write(&bytes)
        }
        ExportCommand::Misp { window, per } => {
            let queries = config
                .open_queries()
                .await
                .context("the export reads the query store")?;
            let options = hpti_intel::misp::MispOptions {
                identity: config.intel.identity.clone(),
                tlp: config.intel.tlp,
                grouping: *per,
            };
            let (events, dropped) = hpti_intel::misp::export_misp(
                queries.as_ref(),
                window.window()?,
                options,
                config.intel.ioc_options(),
                Some(&config.data.dir.join("artifacts")),
            )
            .await?;
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "more MISP events than one export makes ({}): narrow the window",
                    hpti_intel::misp::MAX_EVENTS
                );
            }
            let mut bytes = serde_json::to_vec_pretty(&events)?;
            bytes.push(b'\n');
            window.write(&bytes)
        }
        ExportCommand::Cowrie { window } => {
            let queries = config
                .open_queries()
                .await
                .context("the export reads the query store")?;
            let range = window.window()?;
            let done = match &window.out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("--out {}: cannot create", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    let done = hpti_intel::cowrie::export_cowrie(queries.as_ref(), range, &mut out)
                        .await?;
                    out.into_inner()
                        .map_err(|e| e.into_error())
                        .and_then(|f| f.sync_all())
                        .with_context(|| format!("--out {}: cannot write", path.display()))?;
                    done
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    hpti_intel::cowrie::export_cowrie(queries.as_ref(), range, &mut out).await?
                }
            };
            tracing::info!(
                lines = done.lines,
                skipped = done.skipped,
                "Cowrie JSON written (skipped: no Cowrie event for them)"
            );
            Ok(())
        }
        ExportCommand::Blocklist {
            window,
            min_events,
            format,
        } => {
            let report = extract(config, window, false).await?;
            let list = Blocklist::from_report(&report, *min_events, &config.intel.allow);
            window.write(list.render(*format).as_bytes())
        }
    }
}
