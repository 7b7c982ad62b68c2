//! The enrichers as components: `[enrichers.<id>] type = "geoip" | "iplist" |
//! "abuseipdb" | "virustotal" | "rdap"`. Each config owns its keys, defaults and
//! `build()`; remote lookups are wrapped in the caching, rate-limited, retrying
//! [`CachedEnricher`](crate::cached::CachedEnricher), with Redis as a second cache level
//! shared between processes when `redis_url` is set.

#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
use std::sync::Arc;
#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
use std::time::Duration;

#[allow(unused_imports)]
use async_trait::async_trait;
#[allow(unused_imports)]
use hpti_core::component::{BuildContext, BuildError, EnricherConfig};
#[allow(unused_imports)]
use hpti_core::enricher::Enricher;
#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
use hpti_core::secret::Secret;
use serde::{Deserialize, Serialize};

#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
use crate::cached::{CachedConfig, CachedEnricher, Rate, RedisCache};

/// `type = "geoip"`: MaxMind-format databases (relative paths resolve against the data
/// directory); a database replaced on disk is reloaded without a restart.
#[cfg(feature = "geoip")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpEnricherConfig {
    /// A City or Country database.
    pub city: Option<std::path::PathBuf>,
    /// An ASN database.
    pub asn: Option<std::path::PathBuf>,
    /// An Anonymous-IP database.
    pub anonymous: Option<std::path::PathBuf>,
    /// How often the files are checked for replacement (default 60 s).
    #[serde(default = "default_reload_check", with = "humantime_serde")]
    pub reload_check: std::time::Duration,
}

#[cfg(feature = "geoip")]
fn default_reload_check() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

#[cfg(feature = "geoip")]
#[async_trait]
impl EnricherConfig for GeoIpEnricherConfig {
    fn read_paths(&self, cx: &BuildContext) -> Vec<std::path::PathBuf> {
        [&self.city, &self.asn, &self.anonymous]
            .into_iter()
            .flatten()
            .map(|p| cx.data_path(p))
            .collect()
    }

    async fn build(
        &self,
        cx: &BuildContext,
    ) -> Result<Vec<std::sync::Arc<dyn Enricher>>, BuildError> {
        let resolve = |p: &Option<std::path::PathBuf>| p.as_deref().map(|p| cx.data_path(p));
        let config = crate::geoip::GeoIpConfig {
            city: resolve(&self.city),
            asn: resolve(&self.asn),
            anonymous: resolve(&self.anonymous),
            reload_check: self.reload_check,
        };
        let enricher = crate::geoip::GeoIpEnricher::open(&config).map_err(|e| {
            // The error names the file: name its key too.
            let text = e.to_string();
            let key = [
                ("city", &config.city),
                ("asn", &config.asn),
                ("anonymous", &config.anonymous),
            ]
            .into_iter()
            .find(|(_, path)| {
                path.as_ref()
                    .is_some_and(|p| text.contains(&p.display().to_string()))
            })
            .map(|(key, _)| key);
            let err = BuildError::new("cannot open the GeoIP database", e);
            match key {
                Some(key) => err.at_key(key),
                None => err,
            }
        })?;
        Ok(vec![std::sync::Arc::new(enricher)])
    }
}

/// `type = "iplist"`: one list of addresses and CIDR blocks, from a file or a URL,
/// refreshed on a schedule; a match adds `tag`.
#[cfg(feature = "iplist")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpListEnricherConfig {
    /// The tag a match adds (`tor`, `known-scanner`).
    pub tag: String,
    /// A file (relative to the data directory).
    pub file: Option<std::path::PathBuf>,
    /// Or a URL.
    pub url: Option<String>,
    /// How often the list is read again (default 1 h).
    #[serde(default = "default_list_refresh", with = "humantime_serde")]
    pub refresh: std::time::Duration,
}

#[cfg(feature = "iplist")]
fn default_list_refresh() -> std::time::Duration {
    std::time::Duration::from_secs(3600)
}

#[cfg(feature = "iplist")]
#[async_trait]
impl EnricherConfig for IpListEnricherConfig {
    fn read_paths(&self, cx: &BuildContext) -> Vec<std::path::PathBuf> {
        self.file.iter().map(|p| cx.data_path(p)).collect()
    }

    async fn build(
        &self,
        cx: &BuildContext,
    ) -> Result<Vec<std::sync::Arc<dyn Enricher>>, BuildError> {
        use crate::iplist::{IpListEnricher, ListConfig, ListSource};
        let source = match (&self.file, &self.url) {
            (Some(file), None) => ListSource::File(cx.data_path(file)),
            (None, Some(url)) => ListSource::Url(url.clone()),
            _ => {
                return Err(BuildError::msg("give exactly one of `file` and `url`").at_key("file"));
            }
        };
        let enricher = IpListEnricher::load(vec![ListConfig {
            tag: self.tag.clone(),
            source,
            refresh: self.refresh,
        }])
        .await
        .map_err(|e| BuildError::new(format!("cannot load list {:?}", self.tag), e))?;
        enricher.spawn_refresh();
        Ok(vec![std::sync::Arc::new(enricher)])
    }
}

/// The keys every remote reputation service shares.
#[cfg(any(feature = "abuseipdb", feature = "virustotal"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiEnricherConfig {
    /// The key itself (prefer `api_key_env` or `api_key_file`: config files get copied
    /// around). Never shown in logs, errors or `Debug`.
    pub api_key: Option<Secret>,
    /// The environment variable holding the key (default `HPTI_ABUSEIPDB_KEY` /
    /// `HPTI_VIRUSTOTAL_KEY`).
    pub api_key_env: Option<String>,
    /// A file holding the key, readable by its owner only (refused otherwise).
    #[serde(default)]
    pub api_key_file: Option<std::path::PathBuf>,
    /// Another endpoint (a proxy, a test server).
    pub base_url: Option<String>,
    /// Calls allowed a day (the free tier by default).
    pub calls_per_day: Option<u32>,
    /// Calls allowed a minute.
    pub calls_per_minute: Option<u32>,
    /// How long an answer is kept (default 24 h).
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// How long "nothing known" is kept (default 1 h).
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub negative_ttl: Duration,
    /// Redis shared by hpti processes as the second cache level (`redis://...`; it may
    /// carry a password, so it is kept as a secret).
    pub redis_url: Option<Secret>,
}

#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
fn default_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}

#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
fn default_negative_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// The lookup's own budget: a margin under the pipeline's per-event timeout.
#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
fn budget(cx: &BuildContext) -> Duration {
    cx.enrich_timeout.mul_f64(0.9)
}

#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
async fn redis(url: Option<&Secret>) -> Result<Option<RedisCache>, BuildError> {
    // Lazy: a Redis that is down must not hold up start-up (it once hung `hpti run` for
    // minutes, deaf to SIGTERM); the cache connects when it can.
    match url {
        // The driver's error would repeat the URL: only its kind is kept.
        Some(url) => RedisCache::lazy(url.expose()).map(Some).map_err(|_| {
            BuildError::msg("not a Redis URL (redis://[:password@]host[:port][/db])")
                .at_key("redis_url")
        }),
        None => Ok(None),
    }
}

#[cfg(any(feature = "abuseipdb", feature = "virustotal"))]
impl ApiEnricherConfig {
    fn cached(&self, cx: &BuildContext, default_rate: Rate) -> CachedConfig {
        CachedConfig {
            ttl: self.ttl,
            negative_ttl: self.negative_ttl,
            rate: Some(match (self.calls_per_minute, self.calls_per_day) {
                (Some(n), _) => Rate::per_minute(n),
                (None, Some(n)) => Rate::per_day(n),
                (None, None) => default_rate,
            }),
            budget: budget(cx),
            ..CachedConfig::default()
        }
    }

    fn key(&self, cx: &BuildContext, default_env: &str) -> Result<crate::http::ApiKey, BuildError> {
        if let Some(path) = &self.api_key_file {
            let secret = Secret::from_file(&cx.data_path(path))
                .map_err(|e| BuildError::new("no API key", e).at_key("api_key_file"))?;
            return crate::http::ApiKey::new(secret.expose())
                .map_err(|e| BuildError::new("no API key", e).at_key("api_key_file"));
        }
        match (&self.api_key, &self.api_key_env) {
            (Some(value), _) => crate::http::ApiKey::new(value.expose())
                .map_err(|e| BuildError::new("no API key", e).at_key("api_key")),
            (None, env) => crate::http::ApiKey::from_env(env.as_deref().unwrap_or(default_env))
                .map_err(|e| BuildError::new("no API key", e).at_key("api_key_env")),
        }
    }
}

/// `type = "abuseipdb"`: IP reputation from AbuseIPDB (API v2).
#[cfg(feature = "abuseipdb")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AbuseIpDbEnricherConfig(pub ApiEnricherConfig);

#[cfg(feature = "abuseipdb")]
#[async_trait]
impl EnricherConfig for AbuseIpDbEnricherConfig {
    async fn build(&self, cx: &BuildContext) -> Result<Vec<Arc<dyn Enricher>>, BuildError> {
        let section = &self.0;
        let mut config =
            crate::abuseipdb::AbuseIpDbConfig::new(section.key(cx, "HPTI_ABUSEIPDB_KEY")?)
                .with_timeout(budget(cx));
        if let Some(url) = &section.base_url {
            config = config.with_base_url(url.clone());
        }
        let lookup = crate::abuseipdb::AbuseIpDb::new(config)
            .map_err(|e| BuildError::new("AbuseIPDB client", e).at_key("base_url"))?;
        let mut enricher = CachedEnricher::new(lookup, section.cached(cx, Rate::per_day(1000)))
            .with_metrics(cx.metrics.clone());
        if let Some(redis) = redis(section.redis_url.as_ref()).await? {
            enricher = enricher.with_redis(redis);
        }
        Ok(vec![Arc::new(enricher)])
    }

    fn has_shared_cache(&self) -> bool {
        self.0.redis_url.is_some()
    }
}

/// `type = "virustotal"`: address and file reputation from VirusTotal (API v3); both
/// lookups share the key's rate limit.
#[cfg(feature = "virustotal")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VirusTotalEnricherConfig(pub ApiEnricherConfig);

#[cfg(feature = "virustotal")]
#[async_trait]
impl EnricherConfig for VirusTotalEnricherConfig {
    async fn build(&self, cx: &BuildContext) -> Result<Vec<Arc<dyn Enricher>>, BuildError> {
        let section = &self.0;
        let mut config =
            crate::virustotal::VirusTotalConfig::new(section.key(cx, "HPTI_VIRUSTOTAL_KEY")?)
                .with_timeout(budget(cx));
        if let Some(url) = &section.base_url {
            config = config.with_base_url(url.clone());
        }
        let settings = section.cached(cx, Rate::per_minute(4));
        let limiter = settings.rate.and_then(Rate::limiter);
        let client_error = |e| BuildError::new("VirusTotal client", e).at_key("base_url");
        let ip = crate::virustotal::VirusTotalIp::new(config.clone()).map_err(client_error)?;
        let file = crate::virustotal::VirusTotalFile::new(config).map_err(client_error)?;
        let mut ip = CachedEnricher::new(ip, settings.clone()).with_metrics(cx.metrics.clone());
        let mut file = CachedEnricher::new(file, settings).with_metrics(cx.metrics.clone());
        if let Some(limiter) = limiter {
            ip = ip.with_shared_limiter(limiter.clone());
            file = file.with_shared_limiter(limiter);
        }
        if let Some(redis) = redis(section.redis_url.as_ref()).await? {
            ip = ip.with_redis(redis.clone());
            file = file.with_redis(redis);
        }
        Ok(vec![Arc::new(ip), Arc::new(file)])
    }

    fn has_shared_cache(&self) -> bool {
        self.0.redis_url.is_some()
    }
}

/// `type = "rdap"`: registered network, organisation and abuse contact (RDAP, no key).
#[cfg(feature = "rdap")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdapEnricherConfig {
    /// Where IANA's bootstrap files live.
    pub bootstrap_url: Option<String>,
    /// A fixed RDAP server instead of the bootstrap's.
    pub server: Option<String>,
    /// Calls allowed a minute (default 30).
    #[serde(default = "default_rdap_rate")]
    pub calls_per_minute: u32,
    /// How long an answer is kept (default 7 days).
    #[serde(default = "default_rdap_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// How long "nothing known" is kept (default 1 h).
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub negative_ttl: Duration,
    /// Redis shared by hpti processes as the second cache level (kept as a secret).
    pub redis_url: Option<Secret>,
}

#[cfg(feature = "rdap")]
fn default_rdap_rate() -> u32 {
    30
}

#[cfg(feature = "rdap")]
fn default_rdap_ttl() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

#[cfg(feature = "rdap")]
#[async_trait]
impl EnricherConfig for RdapEnricherConfig {
    async fn build(&self, cx: &BuildContext) -> Result<Vec<Arc<dyn Enricher>>, BuildError> {
        let mut config = crate::rdap::RdapConfig {
            server: self.server.clone(),
            timeout: budget(cx),
            ..Default::default()
        };
        if let Some(url) = &self.bootstrap_url {
            config.bootstrap_url = url.clone();
        }
        let lookup = crate::rdap::Rdap::new(config)
            .map_err(|e| BuildError::new("RDAP client", e).at_key("bootstrap_url"))?;
        let settings = CachedConfig {
            ttl: self.ttl,
            negative_ttl: self.negative_ttl,
            rate: Some(Rate::per_minute(self.calls_per_minute)),
            budget: budget(cx),
            ..CachedConfig::default()
        };
        let mut enricher = CachedEnricher::new(lookup, settings).with_metrics(cx.metrics.clone());
        if let Some(redis) = redis(self.redis_url.as_ref()).await? {
            enricher = enricher.with_redis(redis);
        }
        Ok(vec![Arc::new(enricher)])
    }

    fn has_shared_cache(&self) -> bool {
        self.redis_url.is_some()
    }
}
