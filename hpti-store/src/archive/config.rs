//! `[sinks.<id>] type = "archive"`: events as compressed JSON lines in a directory or an
//! S3-compatible bucket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::pipeline::BatchConfig;
use hpti_core::secret::Secret;
use serde::{Deserialize, Serialize};

use super::{ArchiveLocation, ArchiveOptions, ArchiveSink, S3Settings};

/// The archive sink's keys.
///
/// ```toml
/// [sinks.archive]
/// type = "archive"
/// url = "s3://honeypot-archive/hpti"          # or "file:///srv/hpti-archive"
/// endpoint = "https://s3.eu-central-1.example" # S3-compatible servers; AWS when unset
/// region = "eu-central-1"
/// access_key_id_env = "AWS_ACCESS_KEY_ID"
/// secret_access_key_env = "AWS_SECRET_ACCESS_KEY"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveSinkConfig {
    /// `file:///absolute/dir` (a relative `file:dir` is under the data directory) or
    /// `s3://bucket[/prefix]`.
    pub url: String,
    /// The S3 endpoint of a server other than AWS (MinIO, Ceph, Garage, moto).
    pub endpoint: Option<String>,
    /// The S3 region (`us-east-1` when unset).
    pub region: Option<String>,
    /// The access key id; prefer `access_key_id_env`.
    pub access_key_id: Option<Secret>,
    /// The environment variable holding the access key id.
    pub access_key_id_env: Option<String>,
    /// The secret access key; prefer `secret_access_key_env`.
    pub secret_access_key: Option<Secret>,
    /// The environment variable holding the secret access key.
    pub secret_access_key_env: Option<String>,
    /// Allow a plain `http://` endpoint (a server on loopback or a private network).
    pub allow_http: bool,
    /// zstd level, 1 (fastest) to 19.
    pub compression_level: i32,
    /// Most events in one object.
    pub batch_max_events: usize,
    /// Most bytes (uncompressed, about) in one object.
    pub batch_max_bytes: usize,
    /// How long events wait to fill an object: longer gives fewer, larger objects.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// How long one upload may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for ArchiveSinkConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            endpoint: None,
            region: None,
            access_key_id: None,
            access_key_id_env: None,
            secret_access_key: None,
            secret_access_key_env: None,
            allow_http: false,
            compression_level: 3,
            batch_max_events: 200_000,
            batch_max_bytes: 64 << 20,
            batch_linger: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
        }
    }
}

/// One of a `key` / `key_env` pair.
fn secret(
    value: Option<&Secret>,
    env: Option<&str>,
    key: &str,
) -> Result<Option<Secret>, BuildError> {
    match (value, env) {
        (Some(_), Some(_)) => {
            Err(BuildError::msg(format!("set only one of `{key}` and `{key}_env`")).at_key(key))
        }
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(var)) => match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(Some(Secret::new(value.trim()))),
            _ => Err(
                BuildError::msg(format!("the environment variable {var} is not set"))
                    .at_key(format!("{key}_env")),
            ),
        },
        (None, None) => Ok(None),
    }
}

impl ArchiveSinkConfig {
    /// Where the archive is, checked.
    pub fn location(&self, cx: &BuildContext) -> Result<ArchiveLocation, BuildError> {
        let url = self.url.trim();
        if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(BuildError::msg(
                    "`file://` needs an absolute path (`file:///srv/archive`); `file:dir` is under the data directory",
                )
                .at_key("url"));
            }
            return Ok(ArchiveLocation::Directory(PathBuf::from(rest)));
        }
        if let Some(rest) = url.strip_prefix("file:") {
            if rest.is_empty() {
                return Err(BuildError::msg("`file:` needs a directory").at_key("url"));
            }
            return Ok(ArchiveLocation::Directory(cx.data_path(Path::new(rest))));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(
                    BuildError::msg("`s3://` needs a bucket: `s3://bucket/prefix`").at_key("url"),
                );
            }
            let plain_http = self
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            if plain_http && !self.allow_http {
                return Err(BuildError::msg(
                    "a plain http:// endpoint sends the keys unencrypted: use https://, or set `allow_http = true` for a server on loopback or a private network",
                )
                .at_key("endpoint"));
            }
            return Ok(ArchiveLocation::S3(S3Settings {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                endpoint: self.endpoint.clone(),
                region: self.region.clone().unwrap_or_else(|| "us-east-1".into()),
                access_key_id: secret(
                    self.access_key_id.as_ref(),
                    self.access_key_id_env.as_deref(),
                    "access_key_id",
                )?,
                secret_access_key: secret(
                    self.secret_access_key.as_ref(),
                    self.secret_access_key_env.as_deref(),
                    "secret_access_key",
                )?,
                allow_http: self.allow_http,
            }));
        }
        if url.is_empty() {
            return Err(BuildError::msg(
                "an archive sink needs `url` (`file:///dir`, `file:dir` or `s3://bucket/prefix`)",
            ));
        }
        Err(
            BuildError::msg(format!("`{url}` is neither `file://...` nor `s3://...`"))
                .at_key("url"),
        )
    }

    /// The sink's options, checked.
    pub fn options(&self, cx: &BuildContext) -> Result<ArchiveOptions, BuildError> {
        if !(1..=19).contains(&self.compression_level) {
            return Err(BuildError::msg("must be 1 to 19").at_key("compression_level"));
        }
        Ok(ArchiveOptions {
            location: self.location(cx)?,
            compression_level: self.compression_level,
            timeout: self.timeout.max(Duration::from_secs(1)),
        })
    }
}

#[async_trait]
impl SinkConfig for ArchiveSinkConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        let sink = ArchiveSink::open(self.options(cx)?)
            .map_err(|e| BuildError::new("cannot open the archive", e).at_key("url"))?;
        let batch = BatchConfig::new(
            self.batch_max_events.max(1),
            self.batch_max_bytes.max(1 << 20),
            self.batch_linger,
            1,
        );
        Ok(BuiltSink::new(Arc::new(sink)).with_batching(batch))
    }

    fn write_paths(&self, cx: &BuildContext) -> Vec<PathBuf> {
        match self.location(cx) {
            Ok(ArchiveLocation::Directory(dir)) => vec![dir],
            _ => Vec::new(),
        }
    }
}
