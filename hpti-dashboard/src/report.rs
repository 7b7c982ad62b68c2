//! Daily and weekly reports: an executive summary (totals and their change against the
//! period before), top attackers, countries, credentials and commands, new files with
//! their verdicts, notable sessions and alerts. Rendered as one self-contained HTML file
//! (inline CSS, charts as inline SVG, no script), as Markdown, or as PDF through headless
//! Chromium's print-to-PDF.
//!
//! ```no_run
//! # async fn demo(store: &dyn hpti_store::EventQueries) -> Result<(), hpti_dashboard::report::ReportError> {
//! use hpti_dashboard::report::{Period, Report};
//! let report = Report::gather(store, None, Period::Daily, hpti_core::event::Timestamp::now()).await?;
//! std::fs::write("daily.html", report.html()?).map_err(hpti_dashboard::report::ReportError::Io)?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use hpti_core::alert_store::AlertStore;
use hpti_core::event::Timestamp;
use hpti_store::query::MAX_LIMIT;
use hpti_store::{
    AttackerSummary, CommandCount, CredentialCount, DownloadSummary, EventQueries, SessionSummary,
    StoreError, Window,
};
use serde::Serialize;

use crate::charts;

/// Rows of each top list.
const TOP: usize = 10;
/// Longest a PDF may take to print.
const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// 24 hours.
    Daily,
    /// 7 days.
    Weekly,
}

impl Period {
    /// The period's length in microseconds.
    pub fn micros(self) -> i64 {
        match self {
            Self::Daily => 86_400_000_000,
            Self::Weekly => 7 * 86_400_000_000,
        }
    }

    /// Its chart's bucket in microseconds.
    fn bucket(self) -> i64 {
        match self {
            Self::Daily => 3_600_000_000,
            Self::Weekly => 6 * 3_600_000_000,
        }
    }

    /// `daily` or `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

impl std::str::FromStr for Period {
    type Err = ReportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            other => Err(ReportError::Invalid(format!(
                "period {other:?}: use daily or weekly"
            ))),
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    /// The alert store failed.
    #[error("the alert store: {0}")]
    Alerts(String),
    /// A template failed (a bug).
    #[error("report template: {0}")]
    Template(#[from] minijinja::Error),
    /// A file could not be written or read.
    #[error("{0}")]
    Io(std::io::Error),
    /// Chromium could not print the PDF.
    #[error("printing the PDF with {program}: {message}")]
    Print {
        /// The browser binary.
        program: String,
        /// What went wrong.
        message: String,
    },
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
}

/// One total and its change against the previous period.
#[derive(Debug, Clone, Serialize)]
pub struct Total {
    /// What is counted.
    pub label: &'static str,
    /// This period.
    pub value: u64,
    /// The period before.
    pub previous: u64,
    /// The change in percent, when the previous period had any.
    pub change: Option<f64>,
}

impl Total {
    fn new(label: &'static str, value: u64, previous: u64) -> Self {
        let change = (previous > 0)
            .then(|| ((value as f64 - previous as f64) / previous as f64 * 1000.0).round() / 10.0);
        Self {
            label,
            value,
            previous,
            change,
        }
    }
}

/// A ranked name and its count.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    /// The name (a country, an AS).
    pub name: String,
    /// Attacking addresses.
    pub addresses: u64,
    /// Their events.
    pub events: u64,
}

/// An alert raised in the period.
#[derive(Debug, Clone, Serialize)]
pub struct ReportAlert {
    /// Rule.
    pub rule: String,
    /// Severity.
    pub severity: String,
    /// What it counted by.
    pub key: String,
    /// One line for a human.
    pub summary: String,
    /// When it started.
    pub starts_at: Timestamp,
    /// Whether it still fires.
    pub firing: bool,
}

/// Everything a report shows, gathered from the store.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Daily or weekly.
    pub period: Period,
    /// Start (inclusive).
    pub since: Timestamp,
    /// End (exclusive).
    pub until: Timestamp,
    /// When it was made.
    pub generated: Timestamp,
    /// The executive summary.
    pub totals: Vec<Total>,
    /// Top attacking addresses.
    pub attackers: Vec<AttackerSummary>,
    /// Top countries by addresses.
    pub countries: Vec<Ranked>,
    /// Top networks by addresses.
    pub asns: Vec<Ranked>,
    /// Top credentials.
    pub credentials: Vec<CredentialCount>,
    /// Top commands.
    pub commands: Vec<CommandCount>,
    /// Files first seen in the period.
    pub new_files: Vec<DownloadSummary>,
    /// The sessions that did the most (commands and downloads).
    pub notable_sessions: Vec<SessionSummary>,
    /// Alerts raised in the period.
    pub alerts: Vec<ReportAlert>,
    /// Events per bucket and kind (drawn as SVG).
    #[serde(skip)]
    chart: charts::TimeChart,
}

impl Report {
    /// Gathers the report of the `period` that ends at `until`.
    pub async fn gather(
        store: &dyn EventQueries,
        alerts: Option<&dyn AlertStore>,
        period: Period,
        until: Timestamp,
    ) -> Result<Self, ReportError> {
        let since = Timestamp::from_micros(until.as_micros() - period.micros());
        let before = Timestamp::from_micros(since.as_micros() - period.micros());
        let window = Window::default().since(since).until(until);
        let previous = Window::default().since(before).until(since);
        let (series, old_series, attackers, old_attackers, credentials, commands, files, sessions) = futures::join!(
            store.timeseries(window.limit(1), period.bucket(), None),
            store.timeseries(previous.limit(1), period.bucket(), None),
            store.attackers(window.limit(MAX_LIMIT)),
            store.attackers(previous.limit(MAX_LIMIT)),
            store.credentials(window.limit(TOP as u32)),
            store.commands(window.limit(TOP as u32)),
            store.downloads(window.limit(MAX_LIMIT)),
            store.sessions(window.limit(MAX_LIMIT)),
        );
        let (series, old_series) = (series?, old_series?);
        let (attackers, old_attackers, sessions) = (attackers?, old_attackers?, sessions?);
        let count = |series: &[hpti_store::TimeBucket], kind: Option<&str>| -> u64 {
            series
                .iter()
                .filter(|b| kind.is_none_or(|k| b.kind == k))
                .map(|b| b.count)
                .sum()
        };
        let totals = vec![
            Total::new("events", count(&series, None), count(&old_series, None)),
            Total::new(
                "unique attackers",
                attackers.len() as u64,
                old_attackers.len() as u64,
            ),
            Total::new(
                "login attempts",
                count(&series, Some("login.attempt")),
                count(&old_series, Some("login.attempt")),
            ),
            Total::new(
                "commands",
                count(&series, Some("command.input")),
                count(&old_series, Some("command.input")),
            ),
            Total::new(
                "downloads",
                count(&series, Some("file.download")),
                count(&old_series, Some("file.download")),
            ),
            Total::new(
                "uploads",
                count(&series, Some("file.upload")),
                count(&old_series, Some("file.upload")),
            ),
        ];
        let mut by_country: HashMap<String, (u64, u64)> = HashMap::new();
        let mut by_asn: HashMap<u32, (u64, u64)> = HashMap::new();
        for a in &attackers {
            if let Some(country) = &a.country {
                let e = by_country.entry(country.clone()).or_default();
                e.0 += 1;
                e.1 += a.events;
            }
            if let Some(asn) = a.asn {
                let e = by_asn.entry(asn).or_default();
                e.0 += 1;
                e.1 += a.events;
            }
        }
        let countries = rank(by_country.into_iter().map(|(code, (n, e))| Ranked {
            name: match charts::country_name(&code) {
                Some(name) => format!("{name} ({code})"),
                None => code,
            },
            addresses: n,
            events: e,
        }));
        let asns = rank(by_asn.into_iter().map(|(asn, (n, e))| Ranked {
            name: format!("AS{asn}"),
            addresses: n,
            events: e,
        }));
        let mut new_files: Vec<DownloadSummary> = files?
            .into_iter()
            .filter(|f| f.first_seen >= since)
            .collect();
        new_files.truncate(TOP * 2);
        let mut notable: Vec<SessionSummary> = sessions
            .into_iter()
            .filter(|s| s.commands + s.downloads > 0)
            .collect();
        notable.sort_by(|a, b| {
            (b.commands + b.downloads * 10)
                .cmp(&(a.commands + a.downloads * 10))
                .then_with(|| b.started.cmp(&a.started))
        });
        notable.truncate(TOP);
        let alerts = match alerts {
            Some(store) => store
                .alerts(false, 1000)
                .await
                .map_err(|e| ReportError::Alerts(e.to_string()))?
                .into_iter()
                .filter(|a| a.alert.raised_at >= since && a.alert.raised_at < until)
                .map(|a| ReportAlert {
                    firing: a.is_firing(),
                    rule: a.alert.rule,
                    severity: format!("{:?}", a.alert.severity).to_lowercase(),
                    key: a.alert.key,
                    summary: a.alert.summary,
                    starts_at: a.alert.starts_at,
                })
                .collect(),
            None => Vec::new(),
        };
        let chart = charts::time_chart(
            &series,
            since.as_micros(),
            until.as_micros() - 1,
            period.bucket(),
        );
        Ok(Self {
            period,
            since,
            until,
            generated: Timestamp::now(),
            totals,
            attackers: attackers.into_iter().take(TOP).collect(),
            countries,
            asns,
            credentials: credentials?,
            commands: commands?,
            new_files,
            notable_sessions: notable,
            alerts,
            chart,
        })
    }

    /// The subject line of a delivery (`hpti daily report, 2026-12-06 07:00 to ...`).
    pub fn subject(&self) -> String {
        format!(
            "hpti {} report: {} to {} UTC",
            self.period.as_str(),
            minute(self.since),
            minute(self.until)
        )
    }

    /// One self-contained HTML file (inline CSS and SVG, no script, nothing fetched).
    pub fn html(&self) -> Result<String, ReportError> {
        self.render("report.html")
    }

    /// Markdown (GitHub-flavoured tables), every stored string escaped.
    pub fn markdown(&self) -> Result<String, ReportError> {
        self.render("report.md")
    }

    fn render(&self, name: &str) -> Result<String, ReportError> {
        let env = report_environment();
        let template = env.get_template(name)?;
        Ok(template.render(minijinja::context! {
            r => self,
            chart => self.chart,
            since => minute(self.since),
            until => minute(self.until),
            generated => minute(self.generated),
            css => REPORT_CSS,
        })?)
    }
}

/// `2026-12-07 07:00`.
fn minute(time: Timestamp) -> String {
    time.to_datetime()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn rank(rows: impl Iterator<Item = Ranked>) -> Vec<Ranked> {
    let mut rows: Vec<Ranked> = rows.collect();
    rows.sort_by(|a, b| {
        b.addresses
            .cmp(&a.addresses)
            .then_with(|| a.name.cmp(&b.name))
    });
    rows.truncate(TOP);
    rows
}

const REPORT_CSS: &str = include_str!("../templates/report.css");

fn report_environment() -> minijinja::Environment<'static> {
    let mut env = crate::render::environment();
    env.add_filter("md", markdown_cell);
    for (name, source) in [
        ("report.html", include_str!("../templates/report.html")),
        ("report.md", include_str!("../templates/report.md")),
    ] {
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "report template does not parse");
        }
    }
    env
}

/// A value made safe for a Markdown table cell: no markup, no HTML, one line.
fn markdown_cell(value: minijinja::Value) -> String {
    let text = value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The first of these browsers on the `PATH`, for [`pdf`].
pub fn find_chromium() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Prints `html` to PDF with headless Chromium (`browser`): the HTML is written to a
/// private temporary directory and printed with no header or footer; nothing is fetched
/// (the report has no external resource, and Chromium's background networking is off).
pub async fn pdf(html: &str, browser: &Path) -> Result<Vec<u8>, ReportError> {
    let dir = tempdir()?;
    let page = dir.join("report.html");
    let out = dir.join("report.pdf");
    let profile = dir.join("profile");
    tokio::fs::write(&page, html)
        .await
        .map_err(ReportError::Io)?;
    let print_failed = |message: String| ReportError::Print {
        program: browser.display().to_string(),
        message,
    };
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PRINT_TIMEOUT, run)
        .await
        .map_err(|_| print_failed(format!("no PDF after {PRINT_TIMEOUT:?}")))?
        .map_err(|e| print_failed(e.to_string()))?;
    let bytes = tokio::fs::read(&out).await.map_err(|_| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(3).collect();
        print_failed(format!(
            "{} (wrote no PDF): {}",
            output.status,
            last.join(" / ")
        ))
    });
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let bytes = bytes?;
    if !bytes.starts_with(b"%PDF-") {
        return Err(print_failed("the output is not a PDF".into()));
    }
    Ok(bytes)
}

/// A fresh private directory under the system's temporary directory.
fn tempdir() -> Result<std::path::PathBuf, ReportError> {
    let mut random = [0u8; 8];
    let _ = getrandom::fill(&mut random);
    let dir = std::env::temp_dir().join(format!("hpti-report-{}", hex::encode(random)));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(&dir).map_err(ReportError::Io)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_carry_no_markup() {
        let cell = markdown_cell(minijinja::Value::from("a|b <script>`x`\n[l](http://e)"));
        assert_eq!(cell, "a\\|b &lt;script&gt;\\`x\\` \\[l\\](http://e)");
    }

    #[test]
    fn changes_are_percentages_of_the_previous_period() {
        assert_eq!(Total::new("x", 150, 100).change, Some(50.0));
        assert_eq!(Total::new("x", 0, 3).change, Some(-100.0));
        assert_eq!(Total::new("x", 5, 0).change, None);
    }
}
