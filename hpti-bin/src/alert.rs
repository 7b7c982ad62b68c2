//! `hpti alert ...`: try rules on stored events (`test`).

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use hpti_alert::rules::field::EventView;
use hpti_alert::rules::{ClockMode, RuleOptions, YamlRule, load_rules};
use hpti_core::alert::{Alert, AlertRule};
use hpti_core::event::Timestamp;
use hpti_store::{EventFilter, EventQueries, Window};

use crate::config::Config;
use crate::query::since;

/// `hpti alert`.
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Backtest rules against the store: print what would have fired, over the events'
    /// own times (nothing is notified, no rule state is kept).
    Test(TestArgs),
}

/// `hpti alert test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rule files or glob patterns (default: `[alerting] rules`).
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<String>,
    /// Only events since DURATION ago (e.g. `7d`); all stored events by default.
    #[arg(long)]
    since: Option<humantime::Duration>,
    /// Only events until DURATION ago.
    #[arg(long)]
    until: Option<humantime::Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line per alert and a count per rule.
    Text,
    /// One JSON alert per line.
    Json,
}

/// Events held in memory at once while reading a slice of time in order.
const SLICE_EVENTS: usize = 100_000;

pub async fn alert(config: &Config, command: AlertCommand) -> anyhow::Result<()> {
    match command {
        AlertCommand::Test(args) => test(config, &args).await,
    }
}

async fn test(config: &Config, args: &TestArgs) -> anyhow::Result<()> {
    let specs = if args.rules.is_empty() {
        let specs = config.alert_rules()?;
        anyhow::ensure!(
            !specs.is_empty(),
            "no rules: give --rules FILE or set [alerting] rules"
        );
        specs
    } else {
        let cwd = std::env::current_dir().context("no current directory")?;
        load_rules(&args.rules, &cwd)?
    };
    let options = RuleOptions {
        clock: ClockMode::EventTime,
        state_dir: None,
    };
    let mut rules: Vec<YamlRule> = specs
        .into_iter()
        .map(|spec| YamlRule::new(spec, &options))
        .collect();
    let store = config.open_queries().await?;
    let until = since(args.until).unwrap_or_else(|| Timestamp::now().saturating_add_micros(1));
    let start = since(args.since).unwrap_or(Timestamp::from_micros(0));
    let mut out = Vec::new();
    let mut raised: Vec<Alert> = Vec::new();
    let mut events = 0u64;
    let mut slices = vec![(start, until)];
    // Newest-first pages, read slice by slice from the oldest, each slice reversed: the
    // rules see the events in time order with bounded memory.
    while let Some((from, to)) = slices.pop() {
        let Some(mut batch) = read_slice(&store, from, to).await? else {
            let middle =
                Timestamp::from_micros(from.as_micros() + (to.as_micros() - from.as_micros()) / 2);
            slices.push((middle, to));
            slices.push((from, middle));
            continue;
        };
        batch.reverse();
        for event in &batch {
            let view = EventView::new(event);
            for rule in &mut rules {
                rule.observe_view(&view, &mut out);
            }
            events += 1;
            // As the runtime ticks: windows close and alerts resolve on event time.
            if events % 1_000 == 0 {
                for rule in &mut rules {
                    rule.on_tick(event.time, &mut out);
                }
            }
            raised.append(&mut out);
        }
    }
    for rule in &mut rules {
        rule.on_tick(until, &mut out);
    }
    raised.append(&mut out);
    print_alerts(&raised, &rules, events, args.format)
}

/// Every event in `[from, to)`, newest first; `None` if there are too many to hold (and
/// the span can be split).
async fn read_slice(
    store: &Arc<dyn EventQueries>,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Option<Vec<hpti_core::Event>>> {
    let mut window = Window::default().since(from).until(to);
    window.limit = hpti_store::query::MAX_LIMIT;
    let filter = EventFilter::default();
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.events(window, &filter, cursor.as_ref()).await?;
        events.extend(page.events);
        if events.len() > SLICE_EVENTS && to.as_micros() - from.as_micros() > 1 {
            return Ok(None);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(Some(events)),
        }
    }
}

fn print_alerts(
    alerts: &[Alert],
    rules: &[YamlRule],
    events: u64,
    format: Format,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json => {
            for alert in alerts {
                serde_json::to_writer(&mut out, alert)?;
                writeln!(out)?;
            }
        }
        Format::Text => {
            for alert in alerts {
                let state = if alert.ends_at.is_some() {
                    "resolved"
                } else {
                    "firing"
                };
                writeln!(
                    out,
                    "{}  {:<8}  {:<13}  {}  {}",
                    alert.raised_at,
                    state,
                    alert.severity.as_str(),
                    crate::query::printable(&alert.rule),
                    crate::query::printable(&alert.summary),
                )?;
            }
            writeln!(out, "-- {events} events, {} rules", rules.len())?;
            for rule in rules {
                let fired = alerts
                    .iter()
                    .filter(|a| a.rule == rule.name() && a.ends_at.is_none())
                    .count();
                writeln!(
                    out,
                    "{:>6}  {}",
                    fired,
                    crate::query::printable(rule.name())
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
