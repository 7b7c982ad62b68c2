//! Distributed mode's commands: `hpti nats setup` (the stream and the consumer) and
//! `hpti fleet` (the edges the center has heard from).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hpti_core::component::ComponentId;
use hpti_core::event::Timestamp;
use hpti_core::metrics::PipelineMetrics;
use hpti_nats::fleet::{FleetRecord, is_silent};
use hpti_nats::setup::{SetupOutcome, StreamSettings, ensure_consumer, ensure_stream};
use hpti_nats::{NatsSinkConfig, NatsSourceConfig};

use crate::config::Config;
use crate::config::registry::de;

#[derive(Debug, Subcommand)]
pub enum NatsCommand {
    /// Create the JetStream stream and the center's consumer that the config's NATS
    /// sinks and sources name, or check that they match it.
    Setup {
        /// Change what differs and can be changed (limits, windows, subjects).
        #[arg(long)]
        update: bool,
    },
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// One JSON object per edge instead of a table.
    #[arg(long)]
    json: bool,
}

fn decode<T: serde::de::DeserializeOwned>(
    config: &Config,
    kind: &str,
) -> anyhow::Result<Vec<(ComponentId, T)>> {
    config
        .components
        .iter()
        .filter(|raw| raw.kind == kind && raw.type_name == "nats")
        .map(|raw| {
            let id = ComponentId::new(&raw.id)?;
            let value = de::<T>(&raw.table).map_err(|e| {
                anyhow::anyhow!("[{kind}.{}] key `{}`: {}", raw.id, e.path, e.error)
            })?;
            Ok((id, value))
        })
        .collect()
}

fn show(what: &str, outcome: &SetupOutcome) -> bool {
    match outcome {
        SetupOutcome::Created => println!("{what}: created"),
        SetupOutcome::Matches => println!("{what}: ok"),
        SetupOutcome::Updated(lines) => {
            println!("{what}: updated");
            for line in lines {
                println!("  was: {line}");
            }
        }
        SetupOutcome::Differs(lines) => {
            println!("{what}: differs from the config");
            for line in lines {
                println!("  {line}");
            }
            return false;
        }
    }
    true
}

pub async fn nats(config: &Config, command: NatsCommand) -> anyhow::Result<ExitCode> {
    let NatsCommand::Setup { update } = command;
    let sinks = decode::<NatsSinkConfig>(config, "sinks")?;
    let sources = decode::<NatsSourceConfig>(config, "sources")?;
    if sinks.is_empty() && sources.is_empty() {
        anyhow::bail!(
            "the config has no NATS sink ([sinks.<id>] type = \"nats\") or source ([sources.<id>] type = \"nats\")"
        );
    }
    let metrics = PipelineMetrics::default();
    let mut all_match = true;
    for (id, source) in &sources {
        let cx = config.build_context(id, &metrics);
        let client = source
            .connect(&cx)
            .connect(&cx)
            .await
            .with_context(|| format!("[sources.{id}]"))?;
        let js = async_nats_context(client);
        let stream = ensure_stream(&js, &source.stream_settings(), update)
            .await
            .with_context(|| format!("[sources.{id}]"))?;
        all_match &= show(&format!("stream {}", source.stream), &stream);
        let consumer = ensure_consumer(&js, &source.stream, &source.consumer_settings(), update)
            .await
            .with_context(|| format!("[sources.{id}]"))?;
        all_match &= show(
            &format!("consumer {} on {}", source.consumer, source.stream),
            &consumer,
        );
    }
    for (id, sink) in &sinks {
        if sources.iter().any(|(_, s)| s.stream == sink.stream) {
            continue;
        }
        let cx = config.build_context(id, &metrics);
        let client = sink
            .connect(&cx)
            .connect(&cx)
            .await
            .with_context(|| format!("[sinks.{id}]"))?;
        let js = async_nats_context(client);
        let settings = StreamSettings::new(sink.stream.clone(), vec![sink.stream_subjects()?]);
        let stream = ensure_stream(&js, &settings, update)
            .await
            .with_context(|| format!("[sinks.{id}]"))?;
        all_match &= show(&format!("stream {}", sink.stream), &stream);
    }
    Ok(if all_match {
        ExitCode::SUCCESS
    } else {
        println!("run `hpti nats setup --update` to change what can be changed");
        ExitCode::FAILURE
    })
}

fn async_nats_context(
    client: hpti_nats::async_nats::Client,
) -> hpti_nats::async_nats::jetstream::Context {
    hpti_nats::async_nats::jetstream::new(client)
}

/// `hpti fleet`: exit status 0 when every edge was heard within `fleet.silent_after`,
/// 1 when one is silent (for scripts and monitoring).
pub fn fleet(config: &Config, args: &FleetArgs) -> anyhow::Result<ExitCode> {
    let record = FleetRecord::load(&config.data.dir)?;
    let now = Timestamp::now();
    let silent_after = config.fleet.silent_after;
    let mut out = std::io::stdout().lock();
    let mut any_silent = false;
    if args.json {
        for edge in record.edges.values() {
            let silent = is_silent(edge, now, silent_after);
            any_silent |= silent;
            let mut line = serde_json::to_value(edge)?;
            line["silent"] = silent.into();
            writeln!(out, "{line}")?;
        }
    } else {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_header([
                "edge",
                "status",
                "last seen",
                "sensors",
                "version",
                "uptime",
                "events/s",
                "outbox",
                "refused",
            ]);
        for edge in record.edges.values() {
            let silent = is_silent(edge, now, silent_after);
            any_silent |= silent;
            let beat = &edge.heartbeat;
            let ago = (now.as_micros() - edge.last_seen.as_micros()).max(0) / 1_000_000;
            table.add_row([
                crate::query::printable(&beat.host),
                if silent { "SILENT".into() } else { "ok".into() },
                format!("{}s ago", ago),
                crate::query::printable(&beat.sensors.join(",")),
                crate::query::printable(&beat.version),
                humantime::format_duration(std::time::Duration::from_secs(beat.uptime_s))
                    .to_string(),
                format!("{:.1}", beat.events_per_s),
                format!("{} B", beat.buffer_bytes),
                beat.buffer_refused.to_string(),
            ]);
        }
        if record.edges.is_empty() {
            writeln!(
                out,
                "no edge has been heard from (the center records heartbeats in {})",
                FleetRecord::path(&config.data.dir).display()
            )?;
        } else {
            writeln!(out, "{table}")?;
        }
    }
    Ok(if any_silent {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
