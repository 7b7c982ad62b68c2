//! `[sinks.<id>] type = "redis"`: real-time counters and a live feed in Redis.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
use hpti_core::pipeline::BatchConfig;
use hpti_core::secret::Secret;
use serde::{Deserialize, Serialize};

use super::{RedisFeed, RedisOptions, RedisSink};
use crate::live::{LiveFeed, LiveFeedConfig};
use crate::url::{resolve_url, url_key};

/// The Redis sink's keys.
///
/// ```toml
/// [sinks.live]
/// type = "redis"
/// url = "redis://127.0.0.1:6379/0"   # or url_env / url_file (a URL may hold a password)
/// prefix = "hpti"
/// retention = "8d"
/// stream_max_len = 10000
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSinkConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: Option<Secret>,
    /// The environment variable holding the URL.
    pub url_env: Option<String>,
    /// A file holding the URL, readable by its owner only (refused otherwise).
    pub url_file: Option<PathBuf>,
    /// The first part of every key hpti writes (`hpti:events`, `hpti:counts:minute:...`),
    /// so that several honeypots or tests can share one Redis.
    pub prefix: String,
    /// How long a counter, unique-address set or top-N set lives after its last write.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Publish every event to the stream `<prefix>:events` (what `hpti live` reads).
    pub stream: bool,
    /// About how many events the stream keeps (`XADD MAXLEN ~`): the oldest go first.
    pub stream_max_len: u64,
    /// Most members a daily top-N set keeps: after each batch the lowest ranked beyond
    /// it are removed, so a flood of distinct values cannot grow Redis without bound.
    pub top_capacity: u64,
    /// Longest member of a top-N set, in bytes (a command line, a user name); longer
    /// values are cut at a character boundary.
    pub max_member_bytes: usize,
    /// How long one batch (or a connection attempt) may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Most events in one batch.
    pub batch_max_events: usize,
    /// Longest a batch waits to fill.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
}

impl Default for RedisSinkConfig {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            url_file: None,
            prefix: "hpti".into(),
            retention: Duration::from_secs(8 * 86_400),
            stream: true,
            stream_max_len: 10_000,
            top_capacity: 10_000,
            max_member_bytes: 1024,
            timeout: Duration::from_secs(5),
            batch_max_events: 1000,
            batch_linger: Duration::from_millis(200),
        }
    }
}

impl RedisSinkConfig {
    /// The sink's options, checked.
    pub fn options(&self, cx: &BuildContext) -> Result<RedisOptions, BuildError> {
        let url = resolve_url(
            "Redis",
            self.url.as_ref(),
            self.url_file.as_deref(),
            self.url_env.as_deref(),
            cx,
        )?;
        let key = url_key(self.url_file.as_deref(), self.url_env.as_deref());
        let client = ::redis::Client::open(url.expose())
            .map_err(|e| BuildError::new("not a Redis URL", e).at_key(key))?;
        if self.prefix.is_empty() || self.prefix.chars().any(|c| c.is_whitespace()) {
            return Err(BuildError::msg("must be a non-empty name without spaces").at_key("prefix"));
        }
        if self.retention < Duration::from_secs(60) {
            return Err(BuildError::msg("must be at least 1m").at_key("retention"));
        }
        if self.top_capacity == 0 {
            return Err(BuildError::msg("must be at least 1").at_key("top_capacity"));
        }
        if self.max_member_bytes < 16 {
            return Err(BuildError::msg("must be at least 16").at_key("max_member_bytes"));
        }
        Ok(RedisOptions {
            client,
            target: target_of(url.expose()),
            prefix: self.prefix.clone(),
            retention: self.retention,
            stream: self.stream,
            stream_max_len: self.stream_max_len.max(1),
            top_capacity: self.top_capacity,
            max_member_bytes: self.max_member_bytes,
            timeout: self.timeout.max(Duration::from_millis(100)),
        })
    }
}

/// `host:port/db` of a Redis URL, without user or password, for messages.
fn target_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.to_owned()
}

#[async_trait]
impl SinkConfig for RedisSinkConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltSink, BuildError> {
        let sink = RedisSink::open(self.options(cx)?).await;
        let batch = BatchConfig::new(self.batch_max_events.max(1), 8 << 20, self.batch_linger, 1);
        Ok(BuiltSink::new(Arc::new(sink)).with_batching(batch))
    }
}

#[async_trait]
impl LiveFeedConfig for RedisSinkConfig {
    async fn open_feed(&self, cx: &BuildContext) -> Result<Box<dyn LiveFeed>, BuildError> {
        let options = self.options(cx)?;
        let target = options.target.clone();
        let feed = RedisFeed::connect(&options)
            .await
            .map_err(|e| BuildError::new(format!("cannot read the live feed at {target}"), e))?;
        Ok(Box::new(feed))
    }
}

#[cfg(test)]
mod tests {
    use super::target_of;

    #[test]
    fn the_target_never_shows_the_password() {
        assert_eq!(
            target_of("redis://user:s3cret@cache:6380/2"),
            "cache:6380/2"
        );
        assert_eq!(target_of("redis://127.0.0.1:6379"), "127.0.0.1:6379");
    }
}
