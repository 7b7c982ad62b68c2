//! `[sinks.<id>] type = "elasticsearch"`: events in Elasticsearch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::pipeline::BatchConfig;
use hpti_core::secret::Secret;
use serde::{Deserialize, Serialize};

use super::{
    Auth, DEFAULT_MAX_BYTES, ElasticsearchError, ElasticsearchOptions, ElasticsearchSink,
    check_prefix,
};

/// The Elasticsearch sink's keys.
///
/// ```toml
/// [sinks.es]
/// type = "elasticsearch"
/// url = "https://es.internal:9200"
/// index_prefix = "hpti-events"      # daily indices hpti-events-YYYY.MM.DD
/// retention = "90d"                 # ILM deletes an index 90 days after its day
/// username = "hpti_writer"
/// password_env = "HPTI_ES_PASSWORD" # or password_file, or api_key_env / api_key_file
/// ca_file = "/etc/hpti/es-ca.pem"   # a private CA
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElasticsearchSinkConfig {
    /// The cluster: `http(s)://host:9200` (a path prefix is kept, for a proxy). No
    /// credentials in it: use `username` and `password_*` or `api_key_*`.
    pub url: Option<String>,
    /// Indices are `<index_prefix>-YYYY.MM.DD` (the event's day, UTC); the index
    /// template and the ILM policy are named `<index_prefix>`.
    pub index_prefix: String,
    /// ILM deletes an index this long after its day; older events are refused
    /// (dead-lettered). None by default: kept until deleted by hand.
    #[serde(with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// The user of basic authentication (needs a password).
    pub username: Option<String>,
    /// Its password. Config files get copied around: prefer `password_env` or
    /// `password_file`.
    pub password: Option<Secret>,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// A file holding the password, readable by its owner only (refused otherwise).
    pub password_file: Option<PathBuf>,
    /// An API key (`Authorization: ApiKey ...`): the `encoded` value Elasticsearch
    /// returned when it was created, or `id:api_key`. Prefer `api_key_env` or
    /// `api_key_file`.
    pub api_key: Option<Secret>,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// A file holding the API key, readable by its owner only.
    pub api_key_file: Option<PathBuf>,
    /// PEM file of the CA (or CAs) that signed the cluster's certificate, trusted
    /// besides the usual public ones.
    pub ca_file: Option<PathBuf>,
    /// Largest `_bulk` request body in bytes (default 5 MiB). A larger batch is sent as
    /// several requests; an event larger on its own is dead-lettered.
    pub max_bytes: usize,
    /// Time limit of one request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Install the index template and ILM policy at start when they are absent (never
    /// overwritten). Off when an operator manages them.
    pub install_template: bool,
}

impl Default for ElasticsearchSinkConfig {
    fn default() -> Self {
        Self {
            url: None,
            index_prefix: "hpti-events".into(),
            retention: None,
            username: None,
            password: None,
            password_env: None,
            password_file: None,
            api_key: None,
            api_key_env: None,
            api_key_file: None,
            ca_file: None,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: Duration::from_secs(30),
            install_template: true,
        }
    }
}

/// A secret from whichever of its three keys is set, or `None`.
fn secret(
    cx: &BuildContext,
    what: &str,
    key: &str,
    value: &Option<Secret>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, BuildError> {
    match (value, env, file) {
        (None, None, None) => Ok(None),
        (Some(value), None, None) => Ok(Some(value.clone())),
        (None, Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
            _ => Err(BuildError::msg(format!(
                "no {what}: the environment variable {var} is not set"
            ))
            .at_key(format!("{key}_env"))),
        },
        (None, None, Some(path)) => Secret::from_file(&cx.data_path(path))
            .map(Some)
            .map_err(|e| BuildError::new(format!("no {what}"), e).at_key(format!("{key}_file"))),
        _ => Err(BuildError::msg(format!(
            "set only one of `{key}`, `{key}_env` and `{key}_file`"
        ))
        .at_key(key)),
    }
}

impl ElasticsearchSinkConfig {
    /// The sink's options, with secrets and the CA file read.
    pub fn options(&self, cx: &BuildContext) -> Result<ElasticsearchOptions, BuildError> {
        let Some(url) = &self.url else {
            return Err(
                BuildError::msg("an Elasticsearch sink needs `url` (https://host:9200)")
                    .at_key("url"),
            );
        };
        let mut options = ElasticsearchOptions::new(url).map_err(|e| invalid(e, "url"))?;
        check_prefix(&self.index_prefix).map_err(|e| invalid(e, "index_prefix"))?;
        options.index_prefix = self.index_prefix.clone();
        if self.retention.is_some_and(|r| r.as_secs() == 0) {
            return Err(
                BuildError::msg("retention must be at least one second").at_key("retention")
            );
        }
        options.retention = self.retention;
        let password = secret(
            cx,
            "Elasticsearch password",
            "password",
            &self.password,
            &self.password_env,
            &self.password_file,
        )?;
        let api_key = secret(
            cx,
            "Elasticsearch API key",
            "api_key",
            &self.api_key,
            &self.api_key_env,
            &self.api_key_file,
        )?;
        options.auth = match (&self.username, password, api_key) {
            (None, None, None) => Auth::None,
            (Some(username), Some(password), None) => {
                if username.is_empty() || username.contains(':') {
                    return Err(BuildError::msg("a user name may not be empty or hold `:`")
                        .at_key("username"));
                }
                Auth::Basic {
                    username: username.clone(),
                    password,
                }
            }
            (None, None, Some(key)) => Auth::ApiKey(key),
            (Some(_), None, None) => {
                return Err(BuildError::msg(
                    "`username` needs `password`, `password_env` or `password_file`",
                )
                .at_key("username"));
            }
            (None, Some(_), None) => {
                return Err(
                    BuildError::msg("a password needs `username`").at_key(self.password_key())
                );
            }
            (_, _, Some(_)) => {
                return Err(BuildError::msg(
                    "use either basic authentication (`username` and a password) or an API key, not both",
                )
                .at_key(self.api_key_key()));
            }
        };
        if let Some(path) = &self.ca_file {
            let path = cx.data_path(path);
            let pem = std::fs::read(&path).map_err(|e| {
                BuildError::new(format!("cannot read {}", path.display()), e).at_key("ca_file")
            })?;
            options.ca_pem = Some(pem);
        }
        if self.max_bytes < 1024 {
            return Err(BuildError::msg("max_bytes must be at least 1024").at_key("max_bytes"));
        }
        options.max_bytes = self.max_bytes;
        if self.timeout.is_zero() {
            return Err(BuildError::msg("timeout must be more than zero").at_key("timeout"));
        }
        options.timeout = self.timeout;
        options.install_template = self.install_template;
        Ok(options)
    }

    fn password_key(&self) -> &'static str {
        if self.password_env.is_some() {
            "password_env"
        } else if self.password_file.is_some() {
            "password_file"
        } else {
            "password"
        }
    }

    fn api_key_key(&self) -> &'static str {
        if self.api_key_env.is_some() {
            "api_key_env"
        } else if self.api_key_file.is_some() {
            "api_key_file"
        } else {
            "api_key"
        }
    }

    /// The batching the sink asks for: bodies of `max_bytes` hold events whose hpti
    /// JSON ([`Event::size_hint`](hpti_core::event::Event::size_hint)) is about half of
    /// it (each document has the ECS fields and the event itself), so a batch is cut at
    /// half of `max_bytes` to go out as one request most of the time.
    pub fn batching(&self) -> BatchConfig {
        let mut batch = BatchConfig::default();
        batch.max_bytes = (self.max_bytes / 2).max(1);
        batch.max_events = 4096;
        batch
    }
}

fn invalid(e: ElasticsearchError, key: &str) -> BuildError {
    BuildError::new("invalid value", e).at_key(key)
}

#[async_trait]
impl SinkConfig for ElasticsearchSinkConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        let options = self.options(cx)?;
        let target = options.target();
        let sink = ElasticsearchSink::open(options)
            .await
            .map_err(|e| match e {
                ElasticsearchError::Client(_) if self.ca_file.is_some() => {
                    BuildError::new("cannot use the CA certificate", e).at_key("ca_file")
                }
                ElasticsearchError::Auth { .. } => {
                    let key = if self.username.is_some() {
                        "username"
                    } else if self.api_key.is_some()
                        || self.api_key_env.is_some()
                        || self.api_key_file.is_some()
                    {
                        self.api_key_key()
                    } else {
                        "url"
                    };
                    BuildError::new(format!("cannot install the index template in {target}"), e)
                        .at_key(key)
                }
                e => BuildError::new(format!("cannot set up {target}"), e).at_key("url"),
            })?;
        Ok(BuiltSink::new(Arc::new(sink)).with_batching(self.batching()))
    }
}
