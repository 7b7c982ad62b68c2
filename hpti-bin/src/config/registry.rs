//! The registry: which config type reads a component table of each `type`. Adding a
//! backend is one line here; everything else about it lives in its own crate. A backend
//! behind a cargo feature of its crate gets the same feature in this binary and a
//! `#[cfg(feature = ...)]` on its line, so a build without it knows nothing of it.

use hpti_core::component::{ComponentId, EnricherConfig, NotifierConfig, SinkConfig, SourceConfig};
use hpti_store::QueryStoreConfig;
use hpti_store::live::LiveFeedConfig;
use serde::de::{DeserializeOwned, IntoDeserializer};

use super::schema::{Config, ConfigError, RawComponent};

/// A component table that does not fit its type: the error, and the path to the value
/// at fault inside the table (`persona`, `auth.userdb[2]`), which serde's messages such
/// as "invalid type" do not name.
#[derive(Debug)]
pub struct DeError {
    pub error: toml_edit::de::Error,
    pub path: String,
}

pub(crate) fn de<T: DeserializeOwned>(table: &toml_edit::Value) -> Result<T, DeError> {
    serde_path_to_error::deserialize(table.clone().into_deserializer()).map_err(|e| {
        let path = e.path().to_string();
        DeError {
            error: e.into_inner(),
            path,
        }
    })
}

/// A sink, and whether it also answers queries.
#[derive(Debug)]
pub enum SinkComponent {
    /// Stores only (Elasticsearch).
    #[cfg_attr(
        not(any(feature = "elasticsearch", feature = "nats")),
        allow(dead_code)
    )]
    Plain(Box<dyn SinkConfig>),
    /// Stores and answers `hpti query`.
    Queryable(Box<dyn QueryStoreConfig>),
    /// Stores and publishes a live feed (`hpti live`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Live(Box<dyn LiveFeedConfig>),
    /// The archive (`hpti ingest --from-archive` reads it back).
    #[cfg(feature = "archive")]
    Archive(Box<hpti_store::ArchiveSinkConfig>),
}

impl SinkComponent {
    /// The sink's config.
    pub fn config(&self) -> &dyn SinkConfig {
        match self {
            Self::Plain(config) => config.as_ref(),
            Self::Queryable(config) => config.as_ref(),
            Self::Live(config) => config.as_ref(),
            #[cfg(feature = "archive")]
            Self::Archive(config) => config.as_ref(),
        }
    }

    /// Its query side, if it has one.
    pub fn queries(&self) -> Option<&dyn QueryStoreConfig> {
        match self {
            Self::Queryable(config) => Some(config.as_ref()),
            _ => None,
        }
    }

    /// Its live feed, if it publishes one.
    #[cfg(feature = "redis")]
    pub fn feed(&self) -> Option<&dyn LiveFeedConfig> {
        match self {
            Self::Live(config) => Some(config.as_ref()),
            _ => None,
        }
    }

    /// Its archive settings, if it is the archive.
    #[cfg(feature = "archive")]
    pub fn archive(&self) -> Option<&hpti_store::ArchiveSinkConfig> {
        match self {
            Self::Archive(config) => Some(config.as_ref()),
            _ => None,
        }
    }
}

/// Reads one component table of a type into its config.
type Decoder<T> = fn(&toml_edit::Value, &Config) -> Result<T, DeError>;

type SinkDecoder = fn(&toml_edit::Value, &Config) -> Result<SinkComponent, DeError>;
type SourceDecoder = fn(&toml_edit::Value, &Config) -> Result<Box<dyn SourceConfig>, DeError>;
type EnricherDecoder = fn(&toml_edit::Value, &Config) -> Result<Box<dyn EnricherConfig>, DeError>;
type NotifierDecoder = fn(&toml_edit::Value, &Config) -> Result<Box<dyn NotifierConfig>, DeError>;

fn sinks() -> Vec<(&'static str, SinkDecoder)> {
    vec![
        ("sqlite", |t, _| {
            Ok(SinkComponent::Queryable(Box::new(de::<
                hpti_store::SqliteSinkConfig,
            >(t)?)))
        }),
        #[cfg(feature = "postgres")]
        ("postgres", |t, _| {
            Ok(SinkComponent::Queryable(Box::new(de::<
                hpti_store::PostgresSinkConfig,
            >(t)?)))
        }),
        #[cfg(feature = "elasticsearch")]
        ("elasticsearch", |t, _| {
            Ok(SinkComponent::Plain(Box::new(de::<
                hpti_store::ElasticsearchSinkConfig,
            >(t)?)))
        }),
        #[cfg(feature = "archive")]
        ("archive", |t, _| {
            Ok(SinkComponent::Archive(Box::new(de::<
                hpti_store::ArchiveSinkConfig,
            >(t)?)))
        }),
        #[cfg(feature = "nats")]
        ("nats", |t, c| {
            let mut nats = de::<hpti_nats::NatsSinkConfig>(t)?;
            // The heartbeat lists the edge's sensors and sources.
            nats.sensors = c
                .components
                .iter()
                .filter(|raw| matches!(raw.kind, "sensors" | "sources"))
                .map(|raw| raw.id.clone())
                .collect();
            Ok(SinkComponent::Plain(Box::new(nats)))
        }),
        #[cfg(feature = "misp")]
        ("misp", |t, c| {
            let mut misp = de::<hpti_intel::misp::MispSinkConfig>(t)?;
            // What is never shared, and how it is marked, is `[intel]`'s.
            misp.intel = c.intel.clone();
            Ok(SinkComponent::Plain(Box::new(misp)))
        }),
        ("cowrie-json", |t, _| {
            Ok(SinkComponent::Plain(Box::new(de::<
                hpti_intel::cowrie::CowrieJsonSinkConfig,
            >(t)?)))
        }),
        #[cfg(feature = "redis")]
        ("redis", |t, _| {
            Ok(SinkComponent::Live(Box::new(de::<
                hpti_store::RedisSinkConfig,
            >(t)?)))
        }),
    ]
}

fn sensors() -> Vec<(&'static str, SourceDecoder)> {
    use hpti_sensors::component::HoneypotSensorConfig;
    vec![
        ("ssh", |t, c| {
            let ssh = de::<hpti_sensors::ssh::SshConfig>(t)?;
            Ok(Box::new(HoneypotSensorConfig::new(ssh, &c.honeypot)))
        }),
        ("telnet", |t, c| {
            let telnet = de::<hpti_sensors::telnet::TelnetConfig>(t)?;
            Ok(Box::new(HoneypotSensorConfig::new(telnet, &c.honeypot)))
        }),
        ("ftp", |t, c| {
            let ftp = de::<hpti_sensors::ftp::FtpConfig>(t)?;
            Ok(Box::new(HoneypotSensorConfig::new(ftp, &c.honeypot)))
        }),
        ("http", |t, c| {
            let http = de::<hpti_sensors::http::HttpConfig>(t)?;
            Ok(Box::new(HoneypotSensorConfig::new(http, &c.honeypot)))
        }),
    ]
}

fn sources() -> Vec<(&'static str, SourceDecoder)> {
    vec![
        ("file", |t, _| {
            Ok(Box::new(de::<hpti_core::collect::FileSourceConfig>(t)?))
        }),
        #[cfg(feature = "nats")]
        ("nats", |t, _| {
            Ok(Box::new(de::<hpti_nats::NatsSourceConfig>(t)?))
        }),
    ]
}

fn enrichers() -> Vec<(&'static str, EnricherDecoder)> {
    use hpti_enrich::component as e;
    vec![
        ("geoip", |t, _| {
            Ok(Box::new(de::<e::GeoIpEnricherConfig>(t)?))
        }),
        ("iplist", |t, _| {
            Ok(Box::new(de::<e::IpListEnricherConfig>(t)?))
        }),
        ("abuseipdb", |t, _| {
            Ok(Box::new(de::<e::AbuseIpDbEnricherConfig>(t)?))
        }),
        ("virustotal", |t, _| {
            Ok(Box::new(de::<e::VirusTotalEnricherConfig>(t)?))
        }),
        ("rdap", |t, _| Ok(Box::new(de::<e::RdapEnricherConfig>(t)?))),
    ]
}

fn notifiers() -> Vec<(&'static str, NotifierDecoder)> {
    use hpti_alert::notifiers as n;
    vec![
        ("webhook", |t, _| {
            Ok(Box::new(de::<n::webhook::WebhookNotifierConfig>(t)?))
        }),
        ("slack", |t, _| {
            Ok(Box::new(de::<n::slack::SlackNotifierConfig>(t)?))
        }),
        ("discord", |t, _| {
            Ok(Box::new(de::<n::discord::DiscordNotifierConfig>(t)?))
        }),
        ("pagerduty", |t, _| {
            Ok(Box::new(de::<n::pagerduty::PagerDutyNotifierConfig>(t)?))
        }),
        ("email", |t, _| {
            Ok(Box::new(de::<n::email::EmailNotifierConfig>(t)?))
        }),
    ]
}

/// Every component of a config, typed, in file order per kind.
#[derive(Debug, Default)]
pub struct Components {
    pub sinks: Vec<(ComponentId, SinkComponent)>,
    pub enrichers: Vec<(ComponentId, Box<dyn EnricherConfig>)>,
    pub sources: Vec<(ComponentId, Box<dyn SourceConfig>)>,
    pub sensors: Vec<(ComponentId, Box<dyn SourceConfig>)>,
    pub notifiers: Vec<(ComponentId, Box<dyn NotifierConfig>)>,
}

fn decode<T>(
    registry: &[(&'static str, Decoder<T>)],
    raw: &RawComponent,
    config: &Config,
    text: &str,
    file: &str,
) -> Result<(ComponentId, T), ConfigError> {
    let id = ComponentId::new(&raw.id).map_err(|e| ConfigError {
        file: file.into(),
        line: Some(raw.line),
        key: Some(format!("{}.{}", raw.kind, raw.id)),
        message: e.to_string(),
    })?;
    let Some((_, decoder)) = registry.iter().find(|(name, _)| *name == raw.type_name) else {
        let known: Vec<&str> = registry.iter().map(|(name, _)| *name).collect();
        return Err(ConfigError {
            file: file.into(),
            line: Some(raw.line),
            key: Some(format!("{}.{}.type", raw.kind, raw.id)),
            message: format!(
                "unknown {} type `{}`; known types: {}",
                raw.kind.trim_end_matches('s'),
                raw.type_name,
                if known.is_empty() {
                    "none yet".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        });
    };
    let typed = decoder(&raw.table, config)
        .map_err(|err| ConfigError::of_component(raw, &err.error, &err.path, text, file))?;
    Ok((id, typed))
}

impl Components {
    /// Types every component of `config` (parsed from `text`, named `file` in errors).
    /// A kind the file does not name keeps its defaults: the SQLite sink `main` and the
    /// sensors `ssh`, `telnet`, `ftp` and `http`.
    pub fn read(config: &Config, text: &str, file: &str) -> Result<Self, ConfigError> {
        let mut components = Self::default();
        for raw in &config.components {
            match raw.kind {
                "sinks" => components
                    .sinks
                    .push(decode(&sinks(), raw, config, text, file)?),
                "enrichers" => {
                    components
                        .enrichers
                        .push(decode(&enrichers(), raw, config, text, file)?)
                }
                "sources" => components
                    .sources
                    .push(decode(&sources(), raw, config, text, file)?),
                "sensors" => components
                    .sensors
                    .push(decode(&sensors(), raw, config, text, file)?),
                "notifiers" => {
                    components
                        .notifiers
                        .push(decode(&notifiers(), raw, config, text, file)?)
                }
                _ => {}
            }
        }
        let default_id = |id: &str| {
            ComponentId::new(id).map_err(|e| ConfigError {
                file: file.into(),
                line: None,
                key: None,
                message: e.to_string(),
            })
        };
        if !config.named_kinds.contains(&"sinks") {
            components.sinks.push((
                default_id("main")?,
                SinkComponent::Queryable(Box::new(hpti_store::SqliteSinkConfig::default())),
            ));
        }
        if !config.named_kinds.contains(&"sensors") {
            use hpti_sensors::component::HoneypotSensorConfig;
            components.sensors.push((
                default_id("ssh")?,
                Box::new(HoneypotSensorConfig::new(
                    hpti_sensors::ssh::SshConfig::default(),
                    &config.honeypot,
                )),
            ));
            components.sensors.push((
                default_id("telnet")?,
                Box::new(HoneypotSensorConfig::new(
                    hpti_sensors::telnet::TelnetConfig::default(),
                    &config.honeypot,
                )),
            ));
            components.sensors.push((
                default_id("ftp")?,
                Box::new(HoneypotSensorConfig::new(
                    hpti_sensors::ftp::FtpConfig::default(),
                    &config.honeypot,
                )),
            ));
            components.sensors.push((
                default_id("http")?,
                Box::new(HoneypotSensorConfig::new(
                    hpti_sensors::http::HttpConfig::default(),
                    &config.honeypot,
                )),
            ));
        }
        Ok(components)
    }

    /// The sink the query commands read: `[query] store`, or the only queryable sink.
    pub fn query_store(
        &self,
        named: Option<&str>,
    ) -> Result<(&ComponentId, &dyn QueryStoreConfig), String> {
        let queryable: Vec<_> = self
            .sinks
            .iter()
            .filter_map(|(id, sink)| sink.queries().map(|q| (id, q)))
            .collect();
        match named {
            Some(name) => {
                let Some((id, sink)) = self.sinks.iter().find(|(id, _)| id.as_str() == name) else {
                    return Err(format!("query.store: no sink `{name}` in [sinks]"));
                };
                sink.queries()
                    .map(|q| (id, q))
                    .ok_or_else(|| format!("query.store: sink `{name}` does not answer queries"))
            }
            None => match queryable.as_slice() {
                [one] => Ok(*one),
                [] => Err("no sink answers queries (add a `type = \"sqlite\"` sink)".into()),
                _ => Err(format!(
                    "several sinks answer queries ({}): name one with `[query] store = \"<id>\"`",
                    queryable
                        .iter()
                        .map(|(id, _)| id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
        }
    }
}
