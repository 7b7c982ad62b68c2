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
    pub pipeline: PipelineSection,
    pub store: StoreConfig,
    pub sources: Vec<SourceConfig>,
    pub enrich: EnrichConfig,
    pub sensors: SensorsConfig,
    /// The fake host the SSH and Telnet sensors show, and its rules.
    pub honeypot: HoneypotSection,
}

// The sensors' own schemas live in hpti-sensors; the config fuzz target compiles this
// file without that crate, so it reads those sections as plain TOML.
#[cfg(not(fuzzing))]
pub type HoneypotSection = hpti_sensors::honeypot::HoneypotConfig;
#[cfg(fuzzing)]
pub type HoneypotSection = Option<toml::Value>;
#[cfg(not(fuzzing))]
pub type SshSection = hpti_sensors::ssh::SshConfig;
#[cfg(fuzzing)]
pub type SshSection = Option<toml::Value>;
#[cfg(not(fuzzing))]
pub type TelnetSection = hpti_sensors::telnet::TelnetConfig;
#[cfg(fuzzing)]
pub type TelnetSection = Option<toml::Value>;

/// The network honeypots `hpti run` starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorsConfig {
    pub ssh: SshSection,
    pub telnet: TelnetSection,
}

/// Enrichers to run on every event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    pub geoip: Option<GeoIpSection>,
    /// Redis shared by hpti processes as the second cache level of remote lookups.
    pub redis_url: Option<String>,
    pub abuseipdb: Option<ApiSection>,
    pub virustotal: Option<ApiSection>,
    pub rdap: Option<RdapSection>,
    pub lists: Vec<ListSection>,
}

/// RDAP: the registered network of attacker addresses (no API key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdapSection {
    /// Where IANA's bootstrap files live.
    pub bootstrap_url: Option<String>,
    /// A fixed RDAP server instead of the bootstrap's.
    pub server: Option<String>,
    #[serde(default = "default_rdap_rate")]
    pub calls_per_minute: u32,
    #[serde(default = "default_rdap_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub negative_ttl: Duration,
}

fn default_rdap_rate() -> u32 {
    30
}

fn default_rdap_ttl() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

/// An IP list (Tor exits, scanners): a file or a URL, refreshed on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSection {
    pub tag: String,
    pub file: Option<PathBuf>,
    pub url: Option<String>,
    #[serde(default = "default_list_refresh", with = "humantime_serde")]
    pub refresh: Duration,
}

fn default_list_refresh() -> Duration {
    Duration::from_secs(3600)
}

/// A remote reputation service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// The key itself (prefer `api_key_env`: config files get copied around).
    pub api_key: Option<String>,
    /// The environment variable holding the key.
    pub api_key_env: Option<String>,
    /// Another endpoint (a proxy, a test server).
    pub base_url: Option<String>,
    /// Calls allowed a day / a minute (the free tiers by default).
    pub calls_per_day: Option<u32>,
    pub calls_per_minute: Option<u32>,
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub negative_ttl: Duration,
}

fn default_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_negative_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// MaxMind-format databases (relative paths resolve against `data.dir`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpSection {
    pub city: Option<PathBuf>,
    pub asn: Option<PathBuf>,
    pub anonymous: Option<PathBuf>,
    #[serde(default = "default_reload_check", with = "humantime_serde")]
    pub reload_check: Duration,
}

fn default_reload_check() -> Duration {
    Duration::from_secs(60)
}

/// A log collector `hpti run` starts: files in a known format, followed as they grow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub format: Format,
    pub paths: Vec<String>,
    #[serde(default = "default_true")]
    pub follow: bool,
    #[serde(default = "default_sensor")]
    pub sensor: String,
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
}

fn default_true() -> bool {
    true
}

fn default_sensor() -> String {
    "import".into()
}

fn default_poll() -> Duration {
    Duration::from_millis(250)
}

/// A log format name that a built-in parser reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(pub String);

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if hpti_core::parser::BUILTIN_FORMATS.contains(&name.as_str()) {
            Ok(Self(name))
        } else {
            Err(serde::de::Error::custom(format!(
                "unknown format `{name}`, expected one of {}",
                hpti_core::parser::BUILTIN_FORMATS.join(", ")
            )))
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
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    pub sink_concurrency: NonZeroUsize,
    pub max_retries: u32,
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_retry_backoff: Duration,
    pub enrich_concurrency: NonZeroUsize,
    #[serde(with = "humantime_serde")]
    pub enrich_timeout: Duration,
    pub dead_letter_file: PathBuf,
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
            linger: Duration::from_millis(20),
            sink_concurrency: nonzero(2),
            max_retries: 5,
            retry_backoff: Duration::from_millis(100),
            max_retry_backoff: Duration::from_secs(10),
            enrich_concurrency: nonzero(256),
            enrich_timeout: Duration::from_secs(2),
            dead_letter_file: PathBuf::from("dead-letters.jsonl"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub sqlite: SqliteSection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteSection {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    pub writer_cache_kib: u32,
    pub cache_kib: u32,
}

impl Default for SqliteSection {
    fn default() -> Self {
        Self {
            path: PathBuf::from("hpti.db"),
            synchronous: Synchronous::Normal,
            writer_cache_kib: 16 * 1024,
            cache_kib: 8 * 1024,
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
        toml::from_str(text).map_err(|err| locate(&err, text, file))
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

/// Turns toml's error into one that names the line and the full key path.
fn locate(err: &toml::de::Error, text: &str, file: &str) -> ConfigError {
    let message = err.message().trim().to_owned();
    let Some(span) = err.span() else {
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
    let key = match (table, leaf) {
        (Some(table), Some(leaf)) if !line_text.trim_start().starts_with('[') => {
            Some(format!("{table}.{leaf}"))
        }
        (Some(table), _) => Some(table),
        (None, leaf) => leaf,
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
    fn the_embedded_default_parses_and_matches_the_built_in_defaults() {
        let parsed = Config::parse(DEFAULT_TOML, "default").unwrap();
        let built_in = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{built_in:?}"));
    }

    #[test]
    fn an_empty_file_is_the_default() {
        let parsed = Config::parse("", "empty").unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
    }

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

    #[test]
    fn bad_values_name_the_key_and_line() {
        for (text, line, key) in [
            ("[pipeline]\nlinger = \"soon\"\n", 2, "pipeline.linger"),
            ("[pipeline]\n\nbatch_size = 0\n", 3, "pipeline.batch_size"),
            ("[metrics]\nlisten = \"localhost\"\n", 2, "metrics.listen"),
            ("[log]\nformat = \"xml\"\n", 2, "log.format"),
            (
                "[store.sqlite]\nsynchronous = \"off\"\n",
                2,
                "store.sqlite.synchronous",
            ),
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
    fn sources_are_checked_too() {
        let ok = Config::parse(
            "[[sources]]\nformat = \"hpti\"\npaths = [\"/var/log/x.jsonl*\"]\n",
            "f",
        )
        .unwrap();
        assert_eq!(ok.sources.len(), 1);
        assert!(
            ok.sources[0].follow,
            "sources of `hpti run` follow their files by default"
        );
        let err = Config::parse("[[sources]]\nformat = \"cowrei\"\npaths = []\n", "f").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.key.as_deref(), Some("sources.format"), "{err}");
        assert!(err.message.contains("unknown format `cowrei`"), "{err}");
        let err = Config::parse("[[sources]]\nformat = \"hpti\"\n", "f").unwrap_err();
        assert!(err.message.contains("paths"), "{err}");
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

    #[test]
    fn relative_paths_resolve_against_the_data_dir() {
        let config = Config::parse("[data]\ndir = \"/var/lib/hpti\"\n", "f").unwrap();
        assert_eq!(
            config.sqlite_options().path,
            PathBuf::from("/var/lib/hpti/hpti.db")
        );
        assert_eq!(
            config.dead_letter_path(),
            PathBuf::from("/var/lib/hpti/dead-letters.jsonl")
        );
    }
}
