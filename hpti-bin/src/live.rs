//! `hpti live`: events as they arrive, from a sink's live feed (the Redis stream), like
//! `tail -f`.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use hpti_core::event::Event;
use hpti_core::metrics::PipelineMetrics;

use crate::config::Config;
use crate::query::printable;

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The sink whose feed to follow (default: the only one that publishes a feed).
    #[arg(long, value_name = "ID")]
    sink: Option<String>,
    /// Print the last N events already in the feed first.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    last: usize,
    /// One JSON event per line instead of a summary.
    #[arg(long)]
    json: bool,
    /// Stop after printing this many events (default: follow until interrupted).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// How long one blocking read waits before it checks for Ctrl-C and reads again.
const WAIT: Duration = Duration::from_secs(1);

pub async fn live(config: &Config, args: &LiveArgs) -> anyhow::Result<()> {
    let components = config.components()?;
    let feeds: Vec<_> = components
        .sinks
        .iter()
        .filter_map(|(id, sink)| sink.feed().map(|feed| (id, feed)))
        .collect();
    let (id, feed) = match (&args.sink, feeds.as_slice()) {
        (Some(name), _) => feeds
            .iter()
            .find(|(id, _)| id.as_str() == name)
            .copied()
            .with_context(|| format!("no sink `{name}` with a live feed in [sinks]"))?,
        (None, [one]) => *one,
        (None, []) => anyhow::bail!(
            "no sink publishes a live feed: add one, e.g. [sinks.live] type = \"redis\" url = \"redis://127.0.0.1:6379\""
        ),
        (None, _) => anyhow::bail!(
            "several sinks publish a live feed ({}): name one with --sink",
            feeds
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let cx = config.build_context(id, &PipelineMetrics::default());
    let mut reader = feed
        .open_feed(&cx)
        .await
        .with_context(|| format!("sinks.{id}"))?;
    let mut printed = 0u64;
    let limit = args.count.unwrap_or(u64::MAX);
    let mut read = reader.recent(args.last).await?;
    // On stderr, so that `--json` output stays clean; scripts wait for it to know that
    // what arrives from now on will be printed.
    eprintln!("hpti live: following sinks.{id} (Ctrl-C to stop)");
    loop {
        let mut stdout = std::io::stdout().lock();
        for reason in &read.skipped {
            eprintln!("hpti live: skipped entry {}", printable(reason));
        }
        for event in read.events.iter().take((limit - printed) as usize) {
            let line = if args.json {
                serde_json::to_string(event)?
            } else {
                summary(event)
            };
            if writeln!(stdout, "{line}").is_err() {
                // The reader went away (`hpti live | head`): a normal end.
                return Ok(());
            }
            printed += 1;
        }
        let _ = stdout.flush();
        drop(stdout);
        if printed >= limit {
            return Ok(());
        }
        read = tokio::select! {
            read = reader.next(WAIT) => read?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
    }
}

/// One line per event: time, sensor, source, kind and what matters of it, with every
/// attacker-controlled string escaped so that it cannot drive the terminal.
fn summary(event: &Event) -> String {
    let source = match event.src_port {
        Some(port) if event.src_ip.is_ipv6() => format!("[{}]:{port}", event.src_ip),
        Some(port) => format!("{}:{port}", event.src_ip),
        None => event.src_ip.to_string(),
    };
    let detail = event.kind.detail();
    let line = format!(
        "{}  {}  {source}  {}  {detail}",
        event.time,
        event.sensor,
        event.kind.name(),
    );
    printable(&line.replace('\n', "\\n"))
}

#[cfg(test)]
mod tests {
    use super::summary;
    use hpti_core::event::{Event, EventKind, Protocol, Timestamp};

    #[test]
    fn a_summary_escapes_what_the_attacker_typed() {
        let event = Event::new(
            "ssh",
            Protocol::Ssh,
            "203.0.113.5".parse().unwrap(),
            EventKind::CommandInput {
                command: "echo \u{1b}]0;owned\u{7}\nrm -rf /".into(),
            },
        )
        .with_time(Timestamp::parse_rfc3339("2026-12-05T12:00:00Z").unwrap());
        let line = summary(&event);
        assert!(!line.contains('\u{1b}') && !line.contains('\n'), "{line:?}");
        assert!(line.contains("command.input"), "{line}");
        assert!(line.contains("\\u{1b}]0;owned"), "{line}");
    }
}
