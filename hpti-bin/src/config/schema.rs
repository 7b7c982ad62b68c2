//! The TOML configuration's schema: an embedded, documented default; unknown keys and
//! bad values are errors that name the key and the line.
//!
//! This file depends only on serde, toml, humantime-serde and hpti-core's data model, so
//! the config-loader fuzz target (`fuzz/fuzz_targets/config.rs`) compiles it directly.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The documented default configuration, printed by `hpti config default`.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    /// Who `hpti run` runs as once its ports are bound.
    pub privileges: PrivilegesSection,
    /// The self-sandbox of `hpti run`.
    pub sandbox: SandboxSection,
    pub pipeline: PipelineSection,
    /// Which sink the query commands (and the API) read.
    pub query: QuerySection,
    /// The alert rules.
    pub alerting: AlertingSection,
    /// Reports made and sent on a schedule (`[reports.<id>]`).
    pub reports: std::collections::BTreeMap<String, ReportSchedule>,
    /// The analyst API (served by `hpti run` when present).
    pub api: Option<ApiSection>,
    /// Analysis of captured files (type detection, YARA).
    pub analysis: AnalysisSection,
    /// The fake host the SSH and Telnet sensors show, and its rules.
    pub honeypot: HoneypotSection,
    /// The center's view of its edges (`hpti fleet`).
    pub fleet: FleetSection,
    /// What the intelligence exports (`hpti export`) leave out and how they mark it.
    pub intel: IntelSection,
    // The component kinds: tables keyed by id, each with a `type`. Checked to be tables
    // here, read by the registry (`registry.rs`) with their spans.
    sensors: Option<toml::Value>,
    sources: Option<toml::Value>,
    sinks: Option<toml::Value>,
    enrichers: Option<toml::Value>,
    notifiers: Option<toml::Value>,
    // The layout before components, recognised to say what to write instead.
    store: Option<toml::Value>,
    enrich: Option<toml::Value>,
    /// Every component table of the file, in file order.
    #[serde(skip)]
    pub components: Vec<RawComponent>,
    /// The component kinds the file names (a named kind replaces its defaults).
    #[serde(skip)]
    pub named_kinds: Vec<&'static str>,
    /// The file's text and name, for the registry's errors.
    #[serde(skip)]
    pub source: (String, String),
}

// The sensors' own schemas live in hpti-sensors; the config fuzz target compiles this
// file without that crate, so it reads that section as plain TOML.
#[cfg(not(fuzzing))]
pub type HoneypotSection = hpti_sensors::honeypot::HoneypotConfig;
#[cfg(fuzzing)]
pub type HoneypotSection = Option<toml::Value>;

// The API's schema lives in hpti-api (see `HoneypotSection`).
#[cfg(not(fuzzing))]
pub type ApiSection = hpti_api::ApiConfig;
#[cfg(fuzzing)]
pub type ApiSection = toml::Value;

// The analysis schema lives in hpti-enrich (see `HoneypotSection`).
#[cfg(not(fuzzing))]
pub type AnalysisSection = hpti_enrich::file::AnalysisConfig;
#[cfg(fuzzing)]
pub type AnalysisSection = Option<toml::Value>;

// The intelligence exports' schema lives in hpti-intel (see `HoneypotSection`).
#[cfg(not(fuzzing))]
pub type IntelSection = hpti_intel::IntelConfig;
#[cfg(fuzzing)]
pub type IntelSection = Option<toml::Value>;

/// The component kinds, in the order they are built.
pub const KINDS: &[&str] = &["sinks", "enrichers", "sources", "sensors", "notifiers"];

/// One `[<kind>.<id>]` table, its `type` taken out; the registry turns it into a typed
/// config.
#[derive(Debug, Clone)]
pub struct RawComponent {
    pub kind: &'static str,
    pub id: String,
    pub type_name: String,
    /// Line of the table's `type` key (or header).
    pub line: usize,
    /// The rest of the table, with its spans into the file.
    pub table: toml_edit::Value,
}

/// `[fleet]`: when `hpti fleet` flags an edge as silent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSection {
    /// An edge whose last heartbeat is older than this is flagged silent.
    #[serde(with = "humantime_serde")]
    pub silent_after: Duration,
}

impl Default for FleetSection {
    fn default() -> Self {
        Self {
            silent_after: Duration::from_secs(60),
        }
    }
}

/// `[query]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySection {
    /// The sink `hpti query` reads; by default the only sink that answers queries.
    pub store: Option<String>,
}

/// `[reports.<id>]`: a daily or weekly report made at `at` (UTC) and sent through the
/// notifiers of `notify` (e-mail: HTML and text, with the PDF attached).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSchedule {
    /// `daily` (the 24 hours before `at`) or `weekly` (the 7 days before).
    pub period: String,
    /// When, `HH:MM` in UTC.
    #[serde(default = "default_report_at")]
    pub at: String,
    /// The day of a weekly report (`monday`, the default, to `sunday`).
    #[serde(default)]
    pub weekday: Option<String>,
    /// The notifiers it is sent through (`[notifiers.<id>]`).
    pub notify: Vec<String>,
    /// Attach the PDF (printed by headless Chromium, when installed).
    #[serde(default = "default_report_pdf")]
    pub pdf: bool,
}

fn default_report_at() -> String {
    "07:00".into()
}

fn default_report_pdf() -> bool {
    true
}

impl ReportSchedule {
    /// `at` as (hour, minute), or why not.
    pub fn time_of_day(&self) -> Result<(u32, u32), String> {
        let bad = || format!("{:?} is not a time of day (HH:MM, UTC)", self.at);
        let (h, m) = self.at.split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 || self.at.len() != 5 {
            return Err(bad());
        }
        Ok((h, m))
    }

    /// The weekday of a weekly report, 0 for Monday to 6 for Sunday, or why not.
    pub fn weekday_index(&self) -> Result<u32, String> {
        const DAYS: [&str; 7] = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        let day = self.weekday.as_deref().unwrap_or("monday");
        DAYS.iter()
            .position(|d| d.eq_ignore_ascii_case(day))
            .map(|i| i as u32)
            .ok_or_else(|| format!("{day:?} is not a day of the week (monday to sunday)"))
    }
}

/// `[alerting]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingSection {
    /// Rule files or glob patterns (`rules/*.yml`), relative to the config file's
    /// directory.
    pub rules: Vec<String>,
    /// How long a new alert group waits for more alerts before it is sent.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// How long a group waits before a change is sent.
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// How long before a group that still fires is sent again.
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// A critical alert mutes lower-severity alerts with the same values of these labels.
    pub inhibit_equal: Vec<String>,
    /// How long a failed notification keeps being retried (with backoff) before it is
    /// dead-lettered: a notifier's outage shorter than this loses nothing.
    #[serde(with = "humantime_serde")]
    pub retry_for: Duration,
}

impl Default for AlertingSection {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            inhibit_equal: vec!["src_ip".into()],
            retry_for: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./hpti-data"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `[privileges]`: started as root (to bind ports 22, 23, ...), `hpti run` becomes this
/// user and group after binding and before reading any attacker input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivilegesSection {
    /// The user to become (unset: stay who started hpti).
    pub user: Option<String>,
    /// The group to become (default: the user's primary group).
    pub group: Option<String>,
}

/// `[sandbox]`: `hpti run` restricts its own filesystem access (Landlock).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSection {
    /// Read-write only in the data directory, read-only on the config, enrichment
    /// files and followed logs, execute nowhere; a warning where the kernel lacks it.
    pub landlock: bool,
}

impl Default for SandboxSection {
    fn default() -> Self {
        Self { landlock: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    pub queue_capacity: NonZeroUsize,
    pub processor_batch: NonZeroUsize,
    pub sink_queue_batches: NonZeroUsize,
    pub batch_size: NonZeroUsize,
    pub batch_bytes: NonZeroUsize,
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    pub sink_concurrency: NonZeroUsize,
    pub max_retries: Retries,
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_retry_backoff: Duration,
    pub enrich_concurrency: NonZeroUsize,
    #[serde(with = "humantime_serde")]
    pub enrich_timeout: Duration,
    pub dead_letter_file: PathBuf,
    pub dead_letter_max_bytes: u64,
    #[serde(with = "humantime_serde")]
    pub alert_tick: Duration,
    /// Unset: `disk` when a sink is `nats` (the edge's outbox), else `memory`.
    pub buffer: Option<BufferKind>,
    pub buffer_max_bytes: u64,
    pub buffer_when_full: BufferWhenFull,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// `[pipeline] buffer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    Memory,
    Disk,
}

/// `[pipeline] buffer_when_full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferWhenFull {
    Block,
    DropNewest,
}

/// `[pipeline] max_retries`: a number, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries(pub u32);

impl<'de> Deserialize<'de> for Retries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u32),
            Word(String),
        }
        match Raw::deserialize(deserializer) {
            Ok(Raw::Count(n)) => Ok(Self(n)),
            Ok(Raw::Word(word)) if word == "unlimited" => Ok(Self(u32::MAX)),
            _ => Err(serde::de::Error::custom(
                "expected a number of retries or \"unlimited\"",
            )),
        }
    }
}

pub(crate) fn nonzero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

// The same values as hpti-core's `PipelineConfig::default()` (a test in `mod.rs` checks).
impl Default for PipelineSection {
    fn default() -> Self {
        Self {
            queue_capacity: nonzero(8192),
            processor_batch: nonzero(1024),
            sink_queue_batches: nonzero(8),
            batch_size: nonzero(1024),
            batch_bytes: nonzero(10 * 1024 * 1024),
            linger: Duration::from_millis(20),
            sink_concurrency: nonzero(2),
            max_retries: Retries(u32::MAX),
            retry_backoff: Duration::from_millis(100),
            max_retry_backoff: Duration::from_secs(10),
            enrich_concurrency: nonzero(256),
            enrich_timeout: Duration::from_secs(2),
            dead_letter_file: PathBuf::from("dead-letters.jsonl"),
            dead_letter_max_bytes: 1024 * 1024 * 1024,
            alert_tick: Duration::from_secs(1),
            buffer: None,
            buffer_max_bytes: 1024 * 1024 * 1024,
            buffer_when_full: BufferWhenFull::Block,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A configuration error located in its file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses a TOML document; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let mut config: Self =
            toml::from_str(text).map_err(|err| locate(err.message(), err.span(), text, file))?;
        config.check_old_layout(text, file)?;
        config.named_kinds = KINDS
            .iter()
            .copied()
            .filter(|kind| config.kind_value(kind).is_some())
            .collect();
        config.components = read_components(text, file)?;
        config.source = (text.to_owned(), file.to_owned());
        Ok(config)
    }

    fn kind_value(&self, kind: &str) -> Option<&toml::Value> {
        match kind {
            "sensors" => self.sensors.as_ref(),
            "sources" => self.sources.as_ref(),
            "sinks" => self.sinks.as_ref(),
            "enrichers" => self.enrichers.as_ref(),
            "notifiers" => self.notifiers.as_ref(),
            _ => None,
        }
    }

    /// The layout before components is refused with what to write instead.
    fn check_old_layout(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let error = |needle: &str, key: &str, message: String| ConfigError {
            file: file.into(),
            line: line_of(text, needle),
            key: Some(key.into()),
            message,
        };
        if self.store.is_some() {
            return Err(error(
                "[store",
                "store",
                "stores are sinks now: write `[sinks.main]` with `type = \"sqlite\"` and the \
                 keys of `[store.sqlite]` (path, synchronous, writer_cache_kib, cache_kib)"
                    .into(),
            ));
        }
        if matches!(self.sources, Some(toml::Value::Array(_))) {
            return Err(error(
                "[[sources]]",
                "sources",
                "log readers are components now: write each `[[sources]]` as `[sources.<id>]` \
                 with `type = \"file\"` and the same keys (format, paths, follow, sensor, \
                 poll_interval)"
                    .into(),
            ));
        }
        if self.enrich.is_some() {
            return Err(error(
                "[enrich",
                "enrich",
                "enrichers are components now: write `[enrich.geoip]` as `[enrichers.geo]` with \
                 `type = \"geoip\"`, each `[[enrich.lists]]` as `[enrichers.<tag>]` with \
                 `type = \"iplist\"`, `[enrich.abuseipdb]`/`virustotal`/`rdap` as \
                 `[enrichers.<id>]` with that `type`; `enrich.redis_url` goes into each of those \
                 as `redis_url`"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Reads `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            None => Self::parse(DEFAULT_TOML, "<default config>"),
            Some(path) => {
                let file = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    file: file.clone(),
                    line: None,
                    key: None,
                    message: format!("cannot read: {e}"),
                })?;
                Self::parse(&text, &file)
            }
        }
    }
}

/// The first line holding `needle`, 1-based.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.trim_start().starts_with(needle))
        .map(|n| n + 1)
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Every `[<kind>.<id>]` table with its `type`, its line and the rest of its keys (with
/// their spans, so a component's own errors name the line).
fn read_components(text: &str, file: &str) -> Result<Vec<RawComponent>, ConfigError> {
    let document = toml_edit::ImDocument::parse(text.to_owned())
        .map_err(|err| locate(err.message(), err.span(), text, file))?;
    let mut components = Vec::new();
    for &kind in KINDS {
        let Some(item) = document.get(kind) else {
            continue;
        };
        let Some(table) = item.as_table_like() else {
            return Err(ConfigError {
                file: file.into(),
                line: item.span().map(|s| line_at(text, s.start)),
                key: Some(kind.into()),
                message: format!("`{kind}` is a table of components: `[{kind}.<id>]`"),
            });
        };
        for (id, item) in table.iter() {
            let header_line = item.span().map(|s| line_at(text, s.start));
            let at = |key: String, line: Option<usize>, message: String| ConfigError {
                file: file.into(),
                line,
                key: Some(key),
                message,
            };
            let Some(component) = item.as_table_like() else {
                return Err(at(
                    format!("{kind}.{id}"),
                    header_line,
                    format!("a component is a table: `[{kind}.{id}]` with a `type`"),
                ));
            };
            let Some(type_item) = component.get("type") else {
                let hint = if component.contains_key("enabled") {
                    "; `enabled` is gone: leave a component out to turn it off"
                } else {
                    ""
                };
                return Err(at(
                    format!("{kind}.{id}.type"),
                    header_line.or_else(|| line_of(text, &format!("[{kind}.{id}]"))),
                    format!(
                        "missing: every component names its type (`type = \"{}\"`){hint}",
                        suggested_type(kind, id)
                    ),
                ));
            };
            let type_line = type_item.span().map(|s| line_at(text, s.start));
            let Some(type_name) = type_item.as_str() else {
                return Err(at(
                    format!("{kind}.{id}.type"),
                    type_line,
                    "must be a string".into(),
                ));
            };
            let mut rest = toml_edit::InlineTable::new();
            for (key, value) in component.iter() {
                if key == "type" {
                    continue;
                }
                match value.clone().into_value() {
                    Ok(value) => {
                        rest.insert(key, value);
                    }
                    Err(item) => {
                        return Err(at(
                            format!("{kind}.{id}.{key}"),
                            item.span().map(|s| line_at(text, s.start)).or(header_line),
                            "must be a value or a table".into(),
                        ));
                    }
                }
            }
            components.push(RawComponent {
                kind,
                id: id.to_owned(),
                type_name: type_name.to_owned(),
                line: type_line.or(header_line).unwrap_or(1),
                table: toml_edit::Value::InlineTable(rest),
            });
        }
    }
    Ok(components)
}

fn suggested_type(kind: &str, id: &str) -> &'static str {
    match (kind, id) {
        ("sensors", "telnet") => "telnet",
        ("sensors", "ftp") => "ftp",
        ("sensors", "http" | "web") => "http",
        ("sensors", _) => "ssh",
        ("sinks", _) => "sqlite",
        ("sources", _) => "file",
        ("enrichers", _) => "geoip",
        _ => "...",
    }
}

impl ConfigError {
    /// An error of component `kind.id` from its config type's deserializer; `path` is
    /// where in the table it is (empty or `.` for the table itself).
    pub fn of_component(
        component: &RawComponent,
        err: &toml_edit::de::Error,
        path: &str,
        text: &str,
        file: &str,
    ) -> Self {
        let mut located = locate(err.message(), err.span(), text, file);
        if located.line.is_none() {
            located.line = Some(component.line);
        }
        let prefix = format!("{}.{}", component.kind, component.id);
        let unknown = err
            .message()
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        // serde's path may or may not end with an unknown key itself.
        let path = path.trim_matches('.');
        let full = match (path.is_empty(), unknown) {
            (true, Some(leaf)) => format!("{prefix}.{leaf}"),
            (false, Some(leaf)) if path != leaf && !path.ends_with(&format!(".{leaf}")) => {
                format!("{prefix}.{path}.{leaf}")
            }
            (false, Some(_)) => format!("{prefix}.{path}"),
            (false, None) => format!("{prefix}.{path}"),
            (true, None) => prefix.clone(),
        };
        let already = located.key.as_deref().is_some_and(|k| k == full);
        if !already && full != prefix {
            located.key = Some(full.clone());
            if let Some(line) = line_of_key(text, &full) {
                located.line = Some(line);
            }
        } else if !located
            .key
            .as_deref()
            .is_some_and(|k| k.starts_with(&prefix))
        {
            located.key = Some(prefix);
        }
        located
    }
}

/// The line that sets dotted `key` (`sensors.ssh.auth.userdb`): its own table header
/// (`[sensors.ssh.auth]`), or `userdb = ...` in the nearest table above it that is a
/// prefix of the key. Array indexes (`userdb[2]`) are dropped.
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let key: String = key.split('[').next().unwrap_or(key).to_owned();
    let header = |l: &str| {
        let l = l.trim();
        l.strip_prefix("[[")
            .and_then(|h| h.strip_suffix("]]"))
            .or_else(|| l.strip_prefix('[').and_then(|h| h.split(']').next()))
            .map(|h| {
                h.split('.')
                    .map(|p| p.trim().trim_matches('"'))
                    .collect::<Vec<_>>()
                    .join(".")
            })
    };
    let mut table = String::new();
    let mut best = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(h) = header(line) {
            if h == key {
                return Some(n + 1);
            }
            table = h;
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        if lhs.is_empty() || lhs.starts_with('#') {
            continue;
        }
        let full = if table.is_empty() {
            lhs.to_owned()
        } else {
            format!("{table}.{lhs}")
        };
        if full == key {
            best = Some(n + 1);
        }
    }
    best
}

/// Turns toml's error into one that names the line and the full key path.
fn locate(
    message: &str,
    span: Option<std::ops::Range<usize>>,
    text: &str,
    file: &str,
) -> ConfigError {
    let message = message.trim().to_owned();
    let Some(span) = span else {
        return ConfigError {
            file: file.into(),
            line: None,
            key: None,
            message,
        };
    };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key_on_line = line_text
        .split_once('=')
        .map(|(key, _)| key.trim().trim_matches('"').to_owned())
        .filter(|key| !key.is_empty() && !key.starts_with('#') && !key.starts_with('['));
    let unknown_field = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let leaf = unknown_field.or(key_on_line);
    // On a table header line the key is that header's, not the table before it.
    let header_on_line = line_text
        .trim()
        .strip_prefix('[')
        .map(|h| {
            h.split(']')
                .next()
                .unwrap_or(h)
                .trim_matches('[')
                .trim()
                .to_owned()
        })
        .filter(|h| !h.is_empty());
    let key = match (header_on_line, table, leaf) {
        (Some(header), _, _) => Some(header),
        (None, Some(table), Some(leaf)) => Some(format!("{table}.{leaf}")),
        (None, Some(table), None) => Some(table),
        (None, None, leaf) => leaf,
    };
    ConfigError {
        file: file.into(),
        line: Some(line),
        key,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let text = "[data]\ndir = \"x\"\n\n[pipeline]\nbatch_size = 10\nbatchsize = 5\n";
        let err = Config::parse(text, "hpti.toml").unwrap_err();
        assert_eq!(err.line, Some(6));
        assert_eq!(err.key.as_deref(), Some("pipeline.batchsize"));
        let shown = err.to_string();
        assert!(
            shown.starts_with("hpti.toml:6: key `pipeline.batchsize`: unknown field"),
            "{shown}"
        );
    }

    /// A syntax error on a table header once named the table before it.
    #[test]
    fn syntax_errors_name_the_line_and_the_key_on_it() {
        for (text, line, key) in [
            (
                "[data]\ndir = \"x\"\n[metrics\nenabled = true\n",
                3,
                "metrics",
            ),
            ("[data]\ndir = \"x\"\n[data]\ndir = \"y\"\n", 3, "data"),
            (
                "[metrics]\nlisten = \"127.0.0.1:1\nenabled = true\n",
                2,
                "metrics.listen",
            ),
            ("[metrics]\nenabled = tru\n", 2, "metrics.enabled"),
        ] {
            let err = Config::parse(text, "f").unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert_eq!(err.key.as_deref(), Some(key), "{text:?}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        for (text, line, key) in [
            ("[pipeline]\nlinger = \"soon\"\n", 2, "pipeline.linger"),
            ("[pipeline]\n\nbatch_size = 0\n", 3, "pipeline.batch_size"),
            ("[metrics]\nlisten = \"localhost\"\n", 2, "metrics.listen"),
            ("[log]\nformat = \"xml\"\n", 2, "log.format"),
            (
                "[pipeline]\nqueue_capacity = -1\n",
                2,
                "pipeline.queue_capacity",
            ),
        ] {
            let err = Config::parse(text, "f").unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert_eq!(err.key.as_deref(), Some(key), "{text:?}: {err}");
        }
    }

    #[test]
    fn components_are_read_with_their_type_and_line() {
        let text = "[sinks.main]\ntype = \"sqlite\"\npath = \"a.db\"\n\n[sinks.copy]\npath = \"b.db\"\ntype = \"sqlite\"\n\n[sensors.ssh2]\ntype = \"ssh\"\nlisten = \"127.0.0.1:2022\"\n";
        let config = Config::parse(text, "f").unwrap();
        let seen: Vec<_> = config
            .components
            .iter()
            .map(|c| (c.kind, c.id.as_str(), c.type_name.as_str(), c.line))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("sinks", "main", "sqlite", 2),
                ("sinks", "copy", "sqlite", 7),
                ("sensors", "ssh2", "ssh", 10),
            ]
        );
        assert_eq!(config.named_kinds, vec!["sinks", "sensors"]);
        assert!(
            !config.components.iter().any(|c| c
                .table
                .as_inline_table()
                .is_some_and(|t| t.contains_key("type"))),
            "the type is taken out of the table the component type reads"
        );
    }

    #[test]
    fn a_component_without_a_type_is_an_error_with_a_hint() {
        let err = Config::parse(
            "[sensors.ssh]\nenabled = true\nlisten = \"127.0.0.1:22\"\n",
            "f",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("sensors.ssh.type"), "{err}");
        assert_eq!(err.line, Some(1), "{err}");
        assert!(err.message.contains("type = \"ssh\""), "{err}");
        assert!(err.message.contains("`enabled` is gone"), "{err}");
    }

    #[test]
    fn the_old_layout_says_what_to_write_instead() {
        for (text, line, key, says) in [
            (
                "[data]\ndir = \"x\"\n[store.sqlite]\npath = \"a.db\"\n",
                3,
                "store",
                "[sinks.main]",
            ),
            (
                "[[sources]]\nformat = \"hpti\"\npaths = [\"x\"]\n",
                1,
                "sources",
                "[sources.<id>]",
            ),
            (
                "\n[enrich.geoip]\ncity = \"x\"\n",
                2,
                "enrich",
                "[enrichers.geo]",
            ),
        ] {
            let err = Config::parse(text, "f").unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert_eq!(err.key.as_deref(), Some(key), "{text:?}: {err}");
            assert!(err.message.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_tables_are_errors() {
        let err = Config::parse("[sensorz]\nx = 1\n", "f").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("sensorz"), "{err}");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = Config::parse("[data]\ndir = \n", "f").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
