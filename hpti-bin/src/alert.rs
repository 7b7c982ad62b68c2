//! `hpti alert ...`: try rules on stored events (`test`).

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use hpti_alert::rules::field::EventView;
use hpti_alert::rules::{ClockMode, RuleOptions, YamlRule, load_rules};
use hpti_core::alert::{Alert, AlertRule};
use hpti_core::alert_store::{Acknowledgement, AlertStore, LabelMatcher, Silence, StoredAlert};
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
    /// List alerts, most recently changed first (firing ones only unless `--all`).
    List {
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
        /// Most alerts listed.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Acknowledge an alert (by its fingerprint, or its first 8+ hex digits): its rule's
    /// escalation stops.
    Ack {
        /// The alert's fingerprint or a prefix of it.
        id: String,
        /// Who acknowledges (default: the user running the command).
        #[arg(long)]
        by: Option<String>,
    },
    /// Silences: alerts matching all of a silence's matchers are not notified.
    #[command(subcommand)]
    Silence(SilenceCommand),
}

/// `hpti alert silence`.
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Adds a silence: `hpti alert silence add rule=ssh-brute-force 'src_ip=~203\.0\.113\..*' --duration 2h`.
    Add {
        /// Label matchers (`name=value`, `name!=value`, `name=~regex`, `name!~regex`);
        /// `rule`, `key` and `severity` are labels too.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long it lasts.
        #[arg(long, default_value = "1h")]
        duration: humantime::Duration,
        /// Why.
        #[arg(long, default_value = "")]
        comment: String,
        /// Who (default: the user running the command).
        #[arg(long)]
        by: Option<String>,
    },
    /// Lists silences (active and recently ended), newest first.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Ends a silence now.
    Expire {
        /// The silence's id.
        id: String,
    },
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
pub enum Format {
    /// One line per alert and a count per rule.
    Text,
    /// One JSON alert per line.
    Json,
}

/// Events held in memory at once while reading a slice of time in order.
const SLICE_EVENTS: usize = 100_000;

pub async fn alert(config: &Config, command: AlertCommand) -> anyhow::Result<()> {
    if let AlertCommand::Test(args) = &command {
        return test(config, args).await;
    }
    let components = config.components()?;
    let store = config.open_alert_store(&components).await?;
    match command {
        AlertCommand::Test(_) => Ok(()),
        AlertCommand::List { all, limit, format } => {
            let alerts = store.alerts(!all, limit).await?;
            list_alerts(&alerts, format)
        }
        AlertCommand::Ack { id, by } => {
            let missing = || {
                anyhow::anyhow!(
                    "no alert {id:?} (give its fingerprint or 8+ of its first hex digits; `hpti alert list`)"
                )
            };
            let Some(stored) = store.alert(&id).await? else {
                return Err(missing());
            };
            let by = by.unwrap_or_else(current_user);
            let ack = Acknowledgement {
                by: by.clone(),
                at: Timestamp::now(),
            };
            if !store
                .acknowledge(&stored.alert.fingerprint.to_string(), &ack)
                .await?
            {
                return Err(missing());
            }
            println!(
                "acknowledged {} ({}) as {}",
                stored.alert.fingerprint,
                crate::query::printable(&stored.alert.summary),
                crate::query::printable(&by)
            );
            Ok(())
        }
        AlertCommand::Silence(command) => silence(&*store, command).await,
    }
}

fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

async fn silence(store: &dyn AlertStore, command: SilenceCommand) -> anyhow::Result<()> {
    match command {
        SilenceCommand::Add {
            matchers,
            duration,
            comment,
            by,
        } => {
            let matchers = matchers
                .iter()
                .map(|m| LabelMatcher::parse(m).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let now = Timestamp::now();
            let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
            let silence = Silence::new(
                matchers,
                now,
                now.saturating_add_micros(micros),
                by.unwrap_or_else(current_user),
                comment,
            );
            store.save_silence(&silence).await?;
            println!("{}", silence.id);
            Ok(())
        }
        SilenceCommand::List { format } => {
            let silences = store.silences().await?;
            match format {
                Format::Json => {
                    for s in &silences {
                        println!("{}", serde_json::to_string(s)?);
                    }
                }
                Format::Text => {
                    let now = Timestamp::now();
                    for s in &silences {
                        let matchers: Vec<String> =
                            s.matchers.iter().map(ToString::to_string).collect();
                        println!(
                            "{}  {:<7}  until {}  {}  by {}: {}",
                            s.id,
                            if s.is_active(now) { "active" } else { "ended" },
                            s.ends_at,
                            crate::query::printable(&matchers.join(" ")),
                            crate::query::printable(&s.created_by),
                            crate::query::printable(&s.comment),
                        );
                    }
                }
            }
            Ok(())
        }
        SilenceCommand::Expire { id } => {
            let silences = store.silences().await?;
            let Some(mut silence) = silences.into_iter().find(|s| s.id == id) else {
                anyhow::bail!("no silence {id:?} (`hpti alert silence list`)");
            };
            let now = Timestamp::now();
            if silence.ends_at > now {
                silence.ends_at = now;
            }
            store.save_silence(&silence).await?;
            println!("expired {id}");
            Ok(())
        }
    }
}

fn list_alerts(alerts: &[StoredAlert], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            for alert in alerts {
                println!("{}", serde_json::to_string(alert)?);
            }
        }
        Format::Text => {
            for stored in alerts {
                let a = &stored.alert;
                let state = if a.ends_at.is_some() {
                    "resolved"
                } else if stored.acked.is_some() {
                    "acked"
                } else {
                    "firing"
                };
                println!(
                    "{}  {:<8}  {:<13}  {}  {}  {}",
                    &a.fingerprint.to_string()[..12],
                    state,
                    a.severity.as_str(),
                    a.raised_at,
                    crate::query::printable(&a.rule),
                    crate::query::printable(&a.summary),
                );
            }
        }
    }
    Ok(())
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
        rule.flush(&mut out);
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
