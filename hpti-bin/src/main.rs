//! `hpti`: the honeypot and threat-intelligence platform's command line.

mod alert;
mod analysis;
mod api;
mod bench;
mod config;
mod dlq;
mod enrich;
mod export;
mod ingest;
#[cfg(feature = "redis")]
mod live;
#[cfg(feature = "nats")]
mod nats;
mod privileges;
mod query;
mod report;
mod run;
mod sandbox;
mod store;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;

// glibc's allocator keeps what threads free in per-thread arenas, and the pipeline frees
// on one thread what it allocated on another (events, bind buffers): its resident memory
// creeps up over a long run. jemalloc returns freed memory to the system on a timer.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "hpti",
    version,
    about = "Honeypot sensors and threat-intelligence pipeline"
)]
struct Cli {
    /// Configuration file (TOML); without it the embedded default is used
    /// (print it with `hpti config default`).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "HPTI_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start everything the config names and run until SIGINT/SIGTERM.
    Run,
    /// Print or check configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Read log files into the configured store.
    Ingest(ingest::IngestArgs),
    /// Show what is in the store.
    Query(query::QueryArgs),
    /// Print events as they arrive, from a sink's live feed (`type = "redis"`).
    #[cfg(feature = "redis")]
    Live(live::LiveArgs),
    /// Show or replay dead letters (records that could not be parsed, validated or stored).
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Work with the enrichers' caches.
    #[command(subcommand)]
    Enrich(enrich::EnrichCommand),
    /// Maintain the store (backups).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Measure performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Work with alert rules.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// The analyst API's tokens (`hpti api token create --role viewer`).
    #[command(subcommand)]
    Api(api::ApiCommand),
    /// Make a daily or weekly report (HTML, PDF or Markdown), or send a `[reports.<id>]`.
    Report(report::ReportArgs),
    /// Distributed mode: create or check the JetStream stream and consumer.
    #[cfg(feature = "nats")]
    #[command(subcommand)]
    Nats(nats::NatsCommand),
    /// The edges a center has heard from, flagging those silent for longer than
    /// `fleet.silent_after` (exit status 1 when one is).
    #[cfg(feature = "nats")]
    Fleet(nats::FleetArgs),
    /// Analyse captured files again (`hpti analysis rescan` after the YARA rules change).
    #[command(subcommand)]
    Analysis(analysis::AnalysisCommand),
    /// Export threat intelligence: STIX 2.1 bundles, blocklists (`--since`, `--until`,
    /// `--out`).
    #[command(subcommand)]
    Export(export::ExportCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the documented default configuration.
    Default,
    /// Check a configuration file; errors name the key and the line.
    Check {
        /// The file to check (default: `--config`, else the embedded default).
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config(action) = &cli.command {
        return match action {
            ConfigCommand::Default => {
                print!("{}", config::DEFAULT_TOML);
                Ok(ExitCode::SUCCESS)
            }
            ConfigCommand::Check { file } => {
                // Typing the components too: a wrong `type` or key inside a component's
                // table is a config error, not a failure at start.
                let file = file.as_deref().or(cli.config.as_deref());
                let config = Config::load(file)?;
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?
                    .block_on(config.check())?;
                let name =
                    file.map_or_else(|| "(embedded default)".into(), |f| f.display().to_string());
                println!("{name}: ok");
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init_logging(&config.log)?;
    if matches!(cli.command, Command::Run) {
        // Before the runtime's threads exist, so that all of them are sandboxed.
        sandbox::apply(&config, cli.config.as_deref())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run => run::run(&config).await.map(|()| ExitCode::SUCCESS),
            Command::Ingest(args) => ingest::ingest(&config, &args).await,
            Command::Query(args) => query::query(&config, &args)
                .await
                .map(|()| ExitCode::SUCCESS),
            #[cfg(feature = "redis")]
            Command::Live(args) => live::live(&config, &args).await.map(|()| ExitCode::SUCCESS),
            Command::Dlq(command) => dlq::dlq(&config, command).await.map(|()| ExitCode::SUCCESS),
            Command::Enrich(command) => enrich::enrich(&config, command)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Store(command) => store::store(&config, command)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Bench(command) => bench::bench(&config, command)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Alert(command) => alert::alert(&config, command)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Api(command) => api::api(&config, command).map(|()| ExitCode::SUCCESS),
            Command::Analysis(command) => analysis::analysis(&config, command)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Report(args) => report::report(&config, &args)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Export(command) => export::export(&config, &command)
                .await
                .map(|()| ExitCode::SUCCESS),
            #[cfg(feature = "nats")]
            Command::Nats(command) => nats::nats(&config, command).await,
            #[cfg(feature = "nats")]
            Command::Fleet(args) => nats::fleet(&config, &args),
            Command::Config(_) => Ok(ExitCode::SUCCESS),
        }
    })
}
