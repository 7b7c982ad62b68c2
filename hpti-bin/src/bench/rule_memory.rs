//! `hpti bench rule-memory`: a frequency rule's memory with many distinct keys.
//!
//! Login events from `--keys` distinct addresses go through a `frequency` rule (per
//! `src_ip`, 50 in 1h: no key ever fires) capped at `--max-keys`, then through the same
//! rule with a cap as large as the key count, for comparison. Each pass reports the keys
//! held, the keys evicted and how much the process's resident memory grew.

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use hpti_alert::rules::{ClockMode, RuleOptions, RuleSpec, YamlRule};
use hpti_core::alert::AlertRule as _;
use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use serde::Serialize;

use super::ssh::proc_status_mb;

/// `hpti bench rule-memory` options.
#[derive(Debug, clap::Args)]
pub struct RuleMemoryArgs {
    /// Distinct keys (source addresses) sent through the rule.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// The rule's `max_keys`.
    #[arg(long, default_value_t = hpti_alert::rules::DEFAULT_MAX_KEYS)]
    max_keys: usize,
}

#[derive(Debug, Serialize)]
struct Pass {
    max_keys: usize,
    keys_held: usize,
    keys_evicted: u64,
    alerts: usize,
    rss_growth_mb: f64,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct RuleMemoryResult {
    bench: &'static str,
    keys: u64,
    capped: Pass,
    uncapped: Pass,
}

pub fn rule_memory(args: &RuleMemoryArgs) -> anyhow::Result<()> {
    // Capped first, from a fresh process: the uncapped pass may reuse memory the capped
    // one freed, which only makes the contrast smaller.
    let capped = pass(args.keys, args.max_keys)?;
    let uncapped = pass(args.keys, usize::try_from(args.keys)?.max(1))?;
    let result = RuleMemoryResult {
        bench: "rule-memory",
        keys: args.keys,
        capped,
        uncapped,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn pass(keys: u64, max_keys: usize) -> anyhow::Result<Pass> {
    let yaml = format!(
        "name: bench-memory
type: frequency
filter: {{ kind: login.attempt }}
query_key: src_ip
num_events: 50
timeframe: 1h
max_keys: {max_keys}
"
    );
    let spec = RuleSpec::parse(&yaml, Path::new("bench-memory.yml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rule = YamlRule::new(
        spec,
        &RuleOptions {
            clock: ClockMode::EventTime,
            state_dir: None,
        },
    );
    let rss = || proc_status_mb(None, "VmRSS:").unwrap_or(0.0);
    let before = rss();
    let started = std::time::Instant::now();
    let start = Timestamp::now();
    let mut out = Vec::new();
    for n in 0..keys {
        // One address per key; IPv6 so that any count fits.
        let ip = IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n)));
        let event = Event::new(
            "ssh-eu-1",
            Protocol::Ssh,
            ip,
            EventKind::LoginAttempt {
                username: "root".into(),
                password: Some("123456".into()),
                key_type: None,
                key_fingerprint: None,
                method: AuthMethod::Password,
                success: false,
            },
        )
        .with_time(start.saturating_add_micros(i64::try_from(n)?));
        rule.observe(&event, &mut out);
        if n % 10_000 == 0 {
            rule.on_tick(event.time, &mut out);
        }
    }
    let grown = rss() - before;
    Ok(Pass {
        max_keys,
        keys_held: rule.state_keys(),
        keys_evicted: rule.state_evictions(),
        alerts: out.len(),
        rss_growth_mb: grown,
        seconds: started.elapsed().as_secs_f64(),
    })
}
