//! `hpti report` and the `[reports.<id>]` schedule: the daily and weekly reports of
//! `hpti_dashboard::report`, written to a file or sent through notifiers.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{Datelike as _, Timelike as _};
use hpti_core::event::Timestamp;
use hpti_core::notify::{Notifier, ReportMessage};
use hpti_dashboard::report::{Period, Report};

use crate::config::Config;
use crate::config::ReportSchedule;

/// `hpti report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// `daily` (24 hours) or `weekly` (7 days).
    #[arg(long, default_value = "daily", value_parser = ["daily", "weekly"])]
    period: String,
    /// Start of the period (RFC 3339, `2026-12-06`, or a duration back from now like
    /// `48h`); by default the period ends now.
    #[arg(long)]
    since: Option<String>,
    /// `html` (one self-contained file), `pdf` (headless Chromium) or `md`.
    #[arg(long, default_value = "html", value_parser = ["html", "pdf", "md"])]
    format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The Chromium (or Chrome) that prints PDFs; by default the first on the PATH.
    #[arg(long)]
    chromium: Option<PathBuf>,
    /// Make the report of `[reports.<ID>]` now and send it through its notifiers (what
    /// the schedule does at its time).
    #[arg(long, value_name = "ID", conflicts_with_all = ["since", "format", "out"])]
    send: Option<String>,
}

/// Runs `hpti report`.
pub async fn report(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    if let Some(id) = &args.send {
        let schedule = config
            .reports
            .get(id)
            .with_context(|| format!("no [reports.{id}] in the configuration"))?;
        config.check().await?;
        let notifiers = notifiers(config, schedule).await?;
        return send(
            config,
            id,
            schedule,
            &notifiers,
            Timestamp::now(),
            args.chromium.clone(),
        )
        .await;
    }
    let period: Period = args.period.parse()?;
    let until = match &args.since {
        Some(text) => {
            let since = parse_since(text).with_context(|| format!("--since {text:?}"))?;
            Timestamp::from_micros(since.as_micros() + period.micros())
        }
        None => Timestamp::now(),
    };
    let report = gather(config, period, until).await?;
    let bytes = match args.format.as_str() {
        "md" => report.markdown()?.into_bytes(),
        "pdf" => {
            let browser = browser(args.chromium.clone())?;
            hpti_dashboard::report::pdf(&report.html()?, &browser).await?
        }
        _ => report.html()?.into_bytes(),
    };
    match &args.out {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("--out {}: cannot write", path.display()))?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(())
}

fn browser(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given.or_else(hpti_dashboard::report::find_chromium) {
        Some(path) => Ok(path),
        None => bail!(
            "a PDF is printed by headless Chromium, and none is on the PATH: install it \
             (Debian: apt-get install chromium) or give --chromium"
        ),
    }
}

pub(crate) fn parse_since(text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(time) = Timestamp::parse_rfc3339(text) {
        return Ok(time);
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(Timestamp::from_datetime(&midnight.and_utc()));
    }
    let ago = humantime::parse_duration(text)
        .context("an RFC 3339 time, a date (2026-12-06) or a duration back from now (48h)")?;
    let micros = i64::try_from(ago.as_micros()).unwrap_or(i64::MAX);
    Ok(Timestamp::now().saturating_add_micros(-micros))
}

async fn gather(config: &Config, period: Period, until: Timestamp) -> anyhow::Result<Report> {
    let queries = config
        .open_queries()
        .await
        .context("the report reads the query store")?;
    let components = config.components()?;
    let alerts = config.open_alert_store(&components).await.ok();
    let report = Report::gather(queries.as_ref(), alerts.as_deref(), period, until).await?;
    Ok(report)
}

/// The notifiers a report is sent through, built.
async fn notifiers(
    config: &Config,
    schedule: &ReportSchedule,
) -> anyhow::Result<Vec<(String, Arc<dyn Notifier>)>> {
    let components = config.components()?;
    let metrics = hpti_core::metrics::PipelineMetrics::default();
    let mut built = Vec::new();
    for id in &schedule.notify {
        let Some((component, notifier)) =
            components.notifiers.iter().find(|(c, _)| c.as_str() == id)
        else {
            bail!("no notifier `{id}` (add [notifiers.{id}])");
        };
        let notifier = notifier
            .build(&config.build_context(component, &metrics))
            .await
            .with_context(|| format!("notifiers.{id}"))?;
        built.push((id.clone(), notifier));
    }
    Ok(built)
}

/// Makes the report of `[reports.<id>]` ending at `until` and sends it through each
/// notifier; every notifier is tried, and the first failure is returned.
async fn send(
    config: &Config,
    id: &str,
    schedule: &ReportSchedule,
    notifiers: &[(String, Arc<dyn Notifier>)],
    until: Timestamp,
    chromium: Option<PathBuf>,
) -> anyhow::Result<()> {
    let period: Period = schedule.period.parse()?;
    let report = gather(config, period, until).await?;
    let html = report.html()?;
    let mut message = ReportMessage::new(report.subject(), report.markdown()?, html.clone());
    if schedule.pdf {
        match browser(chromium) {
            Ok(browser) => match hpti_dashboard::report::pdf(&html, &browser).await {
                Ok(pdf) => {
                    let day = report
                        .until
                        .to_datetime()
                        .map(|t| t.format("%Y-%m-%d").to_string());
                    let name = format!("hpti-{}-{}.pdf", period.as_str(), day.unwrap_or_default());
                    message = message.attach(name, "application/pdf", pdf);
                }
                Err(err) => {
                    tracing::warn!(report = id, error = %err, "report sent without its PDF")
                }
            },
            Err(err) => {
                tracing::warn!(report = id, error = %format!("{err:#}"), "report sent without its PDF")
            }
        }
    }
    let mut failed = None;
    for (notifier_id, notifier) in notifiers {
        match notifier.send_report(&message).await {
            Ok(()) => {
                tracing::info!(report = id, notifier = %notifier_id, subject = %message.subject, "report sent")
            }
            Err(err) => {
                tracing::error!(report = id, notifier = %notifier_id, error = %err, "report not sent");
                failed.get_or_insert(anyhow::anyhow!(
                    "[reports.{id}] through notifiers.{notifier_id}: {err}"
                ));
            }
        }
    }
    match failed {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// The next time at or after `now` that `schedule` fires: its `at` (UTC) each day, or on
/// its weekday for a weekly report.
pub fn next_run(
    schedule: &ReportSchedule,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let (hour, minute) = schedule.time_of_day().map_err(anyhow::Error::msg)?;
    let weekday = schedule.weekday_index().map_err(anyhow::Error::msg)?;
    let weekly = schedule.period == "weekly";
    let today = now.date_naive();
    for days in 0..=7 {
        let day = today + chrono::Days::new(days);
        if weekly && day.weekday().num_days_from_monday() != weekday {
            continue;
        }
        let Some(at) = day.and_hms_opt(hour, minute, 0) else {
            continue;
        };
        let at = at.and_utc();
        if at > now || (at == now && now.nanosecond() == 0) {
            return Ok(at);
        }
    }
    bail!("no next run for this schedule")
}

/// Runs every `[reports.<id>]` on its schedule until the task is aborted.
pub async fn schedule_all(config: Arc<Config>) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for (id, schedule) in &config.reports {
        let notifiers = notifiers(&config, schedule).await?;
        let (config, id, schedule) = (config.clone(), id.clone(), schedule.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let now = chrono::Utc::now();
                let next = match next_run(&schedule, now) {
                    Ok(next) => next,
                    Err(err) => {
                        tracing::error!(report = %id, error = %format!("{err:#}"), "report schedule stopped");
                        return;
                    }
                };
                tracing::info!(report = %id, next = %next.format("%Y-%m-%d %H:%M UTC"), "next report");
                let wait = (next - now).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let until = Timestamp::from_datetime(&next);
                if let Err(err) = send(&config, &id, &schedule, &notifiers, until, None).await {
                    tracing::error!(report = %id, error = %format!("{err:#}"), "report failed");
                }
                // Past the minute, so the same run is not made twice.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn schedule(period: &str, at: &str, weekday: Option<&str>) -> ReportSchedule {
        ReportSchedule {
            period: period.into(),
            at: at.into(),
            weekday: weekday.map(Into::into),
            notify: vec!["mail".into()],
            pdf: true,
        }
    }

    #[test]
    fn daily_and_weekly_reports_run_at_their_time_in_utc() {
        // Monday 2026-12-07, 06:31:56 UTC.
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 12, 7, 6, 31, 56)
            .unwrap();
        let at = |s: &ReportSchedule| next_run(s, now).unwrap().to_rfc3339();
        assert_eq!(
            at(&schedule("daily", "07:00", None)),
            "2026-12-07T07:00:00+00:00"
        );
        assert_eq!(
            at(&schedule("daily", "06:00", None)),
            "2026-12-08T06:00:00+00:00"
        );
        assert_eq!(
            at(&schedule("weekly", "07:00", None)),
            "2026-12-07T07:00:00+00:00"
        );
        assert_eq!(
            at(&schedule("weekly", "06:00", None)),
            "2026-12-14T06:00:00+00:00"
        );
        assert_eq!(
            at(&schedule("weekly", "00:00", Some("friday"))),
            "2026-12-11T00:00:00+00:00"
        );
        assert!(next_run(&schedule("daily", "7:00", None), now).is_err());
        assert!(next_run(&schedule("daily", "24:00", None), now).is_err());
        assert!(next_run(&schedule("weekly", "07:00", Some("funday")), now).is_err());
    }
}
