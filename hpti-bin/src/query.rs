//! `hpti query`: what is in the store, as a table or JSON.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use hpti_core::event::Timestamp;
use hpti_store::Window;
use serde::Serialize;

use crate::config::Config;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum What {
    /// Sessions with activity in the window, newest first.
    Sessions,
    /// Captured files by SHA-256, most downloaded first.
    Downloads,
    /// Source addresses, most active first.
    Attackers,
    /// User name / password pairs, most tried first.
    Credentials,
    /// Command lines, most entered first.
    Commands,
}

#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// What to show.
    #[arg(value_enum)]
    what: What,
    /// Only the last DURATION (e.g. 24h, 7d, 30m); all time by default.
    #[arg(long, value_name = "DURATION")]
    since: Option<humantime::Duration>,
    /// Only until DURATION ago (e.g. `--since 48h --until 24h` is the day before
    /// yesterday's 24 hours); up to now by default.
    #[arg(long, value_name = "DURATION")]
    until: Option<humantime::Duration>,
    /// Most rows shown.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The time `duration` ago.
pub fn since(duration: Option<humantime::Duration>) -> Option<Timestamp> {
    duration.map(|d| {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Timestamp::now().saturating_add_micros(-micros)
    })
}

pub async fn query(config: &Config, args: &QueryArgs) -> anyhow::Result<()> {
    let store = config.open_queries().await?;
    let window = Window::default()
        .since_opt(since(args.since))
        .until_opt(since(args.until))
        .limit(args.limit);
    let time = |t: Timestamp| {
        let text = t.to_string();
        text.get(..19).unwrap_or(&text).replace('T', " ")
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    match args.what {
        What::Sessions => {
            let rows = store.sessions(window).await?;
            output(
                args.format,
                &rows,
                &[
                    "started", "session", "src_ip", "protocol", "duration", "logins", "in", "cmds",
                    "dl", "client",
                ],
                |r| {
                    vec![
                        time(r.started),
                        r.session.clone(),
                        r.src_ip.to_string(),
                        r.protocol.clone(),
                        r.duration_ms
                            .map_or("-".into(), |d| format!("{:.1}s", d as f64 / 1000.0)),
                        r.login_attempts.to_string(),
                        if r.logged_in { "yes" } else { "no" }.into(),
                        r.commands.to_string(),
                        r.downloads.to_string(),
                        opt(r.client_version.clone()),
                    ]
                },
            )
        }
        What::Downloads => {
            let rows = store.downloads(window).await?;
            output(
                args.format,
                &rows,
                &[
                    "sha256",
                    "count",
                    "uploads",
                    "size",
                    "first_seen",
                    "last_seen",
                    "sources",
                    "urls",
                    "uploaded as",
                ],
                |r| {
                    vec![
                        r.sha256.clone(),
                        r.count.to_string(),
                        r.uploads.to_string(),
                        r.size.map_or("-".into(), |s| s.to_string()),
                        time(r.first_seen),
                        time(r.last_seen),
                        listed(r.sources, &r.src_ips),
                        listed(r.url_count, &r.urls),
                        r.filenames.join("\n"),
                    ]
                },
            )
        }
        What::Attackers => {
            let rows = store.attackers(window).await?;
            output(
                args.format,
                &rows,
                &[
                    "src_ip",
                    "events",
                    "sessions",
                    "logins",
                    "cmds",
                    "country",
                    "asn",
                    "first_seen",
                    "last_seen",
                ],
                |r| {
                    vec![
                        r.src_ip.to_string(),
                        r.events.to_string(),
                        r.sessions.to_string(),
                        r.login_attempts.to_string(),
                        r.commands.to_string(),
                        opt(r.country.clone()),
                        r.asn.map_or("-".into(), |a| format!("AS{a}")),
                        time(r.first_seen),
                        time(r.last_seen),
                    ]
                },
            )
        }
        What::Credentials => {
            let rows = store.credentials(window).await?;
            output(
                args.format,
                &rows,
                &["username", "password", "attempts", "successes", "sources"],
                |r| {
                    vec![
                        r.username.clone(),
                        opt(r.password.clone()),
                        r.attempts.to_string(),
                        r.successes.to_string(),
                        r.sources.to_string(),
                    ]
                },
            )
        }
        What::Commands => {
            let rows = store.commands(window).await?;
            output(
                args.format,
                &rows,
                &["command", "count", "sources", "labels"],
                |r| {
                    vec![
                        r.command.clone(),
                        r.count.to_string(),
                        r.sources.to_string(),
                        r.labels.join(" "),
                    ]
                },
            )
        }
    }
}

fn output<T: Serialize>(
    format: Format,
    rows: &[T],
    header: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
            for row in rows {
                table.add_row(cells(row).into_iter().map(|c| printable(&c)));
            }
            println!("{table}");
            println!("{} row(s)", rows.len());
        }
    }
    Ok(())
}

/// Attacker-controlled text must not drive the terminal: control characters are escaped.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A capped list for a table cell: its items, then how many more there are.
fn listed(total: u64, items: &[String]) -> String {
    let more = total.saturating_sub(items.len() as u64);
    let mut cell = items.join("\n");
    if more > 0 {
        cell.push_str(&format!("\n(+{more} more)"));
    }
    cell
}
