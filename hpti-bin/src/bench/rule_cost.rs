//! `hpti bench rule-cost`: what the rules cost per event, without the pipeline around them.
//!
//! The bench traffic of `hpti bench pipeline` is generated first (not timed), then shown
//! to the rules of `--rules DIR` as one rule set, on one thread, in event time (one
//! synthetic second per 10,000 events, so windows open and close as at that rate). With
//! `--per-rule` each rule is also timed alone, the costliest first. Compare the figure
//! with the CPU the pipeline spends per event without rules (`/usr/bin/time` around
//! `hpti bench pipeline`): that ratio is the throughput the rules take on a machine whose
//! cores the pipeline already fills.

use std::path::PathBuf;
use std::time::Instant;

use hpti_alert::rules::{ClockMode, RuleOptions, RuleSet, RuleSpec, RuleType, YamlRule};
use hpti_core::alert::AlertRule as _;
use hpti_core::event::{Event, Timestamp};
use serde::Serialize;

use super::{SessionIds, Traffic};

/// `hpti bench rule-cost` options.
#[derive(Debug, clap::Args)]
pub struct RuleCostArgs {
    /// The rule files (`*.yml`) of this directory (`scripts/bench-rules.py DIR`).
    #[arg(long)]
    rules: PathBuf,
    /// Events to show the rules.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Seed of the synthetic traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also time each rule alone.
    #[arg(long)]
    per_rule: bool,
}

#[derive(Debug, Serialize)]
struct Pass {
    ns_per_event: f64,
    events_per_sec: f64,
    alerts: usize,
}

#[derive(Debug, Serialize)]
struct RuleAlone {
    rule: String,
    #[serde(rename = "type")]
    rule_type: String,
    ns_per_event: f64,
    alerts: usize,
}

#[derive(Debug, Serialize)]
struct RuleCostResult {
    bench: &'static str,
    events: u64,
    rules: usize,
    all: Pass,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    per_rule: Vec<RuleAlone>,
}

pub fn rule_cost(args: &RuleCostArgs) -> anyhow::Result<()> {
    let specs = hpti_alert::rules::load_rules(&["*.yml".to_owned()], &args.rules)?;
    let start = Timestamp::now();
    let mut traffic = Traffic::new(args.seed, SessionIds::TimeOrdered).with_clock(start, 100);
    let events: Vec<Event> = (0..args.events).map(|_| traffic.next_event()).collect();
    let rules = specs
        .iter()
        .map(|s| match s.rule_type {
            RuleType::Sigma => s.sigma.len(),
            _ => 1,
        })
        .sum();
    let all = time(specs.clone(), &events)?;
    let mut per_rule = Vec::new();
    if args.per_rule {
        for spec in &specs {
            let pass = time(vec![spec.clone()], &events)?;
            per_rule.push(RuleAlone {
                rule: spec.name.clone(),
                rule_type: format!("{:?}", spec.rule_type).to_lowercase(),
                ns_per_event: pass.ns_per_event,
                alerts: pass.alerts,
            });
        }
        per_rule.sort_by(|a, b| b.ns_per_event.total_cmp(&a.ns_per_event));
    }
    let result = RuleCostResult {
        bench: "rule-cost",
        events: args.events,
        rules,
        all,
        per_rule,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn time(specs: Vec<RuleSpec>, events: &[Event]) -> anyhow::Result<Pass> {
    let state = super::tempdir_for_bench()?;
    let options = RuleOptions {
        clock: ClockMode::EventTime,
        state_dir: Some(state.clone()),
    };
    let mut set = RuleSet::new(
        specs
            .into_iter()
            .map(|spec| YamlRule::new(spec, &options))
            .collect(),
    );
    let mut out = Vec::new();
    let mut alerts = 0;
    let started = Instant::now();
    for (n, event) in events.iter().enumerate() {
        set.observe(event, &mut out);
        // The pipeline ticks the rules once a second: here, every 10,000 events.
        if n % 10_000 == 9_999 {
            set.on_tick(event.time, &mut out);
        }
        alerts += out.len();
        out.clear();
    }
    set.flush(&mut out);
    let seconds = started.elapsed().as_secs_f64();
    alerts += out.len();
    drop(set);
    let _ = std::fs::remove_dir_all(&state);
    let count = events.len().max(1) as f64;
    Ok(Pass {
        ns_per_event: seconds * 1e9 / count,
        events_per_sec: count / seconds.max(f64::EPSILON),
        alerts,
    })
}
