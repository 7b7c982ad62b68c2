//! The configuration: its schema (`schema.rs`) and what the binary builds from it.

mod schema;

use std::path::{Path, PathBuf};

use hpti_core::pipeline::{BatchConfig, PipelineConfig, RetryPolicy};
use hpti_store::SqliteOptions;

pub use schema::*;

impl Config {
    /// The pipeline builder with the configured metrics, enrichers and store.
    pub async fn pipeline(
        &self,
        metrics: hpti_core::metrics::PipelineMetrics,
        store: &hpti_store::SqliteStore,
    ) -> anyhow::Result<hpti_core::pipeline::PipelineBuilder> {
        use anyhow::Context as _;
        let metrics_for_enrichers = metrics.clone();
        let mut builder = hpti_core::pipeline::Pipeline::builder(self.pipeline_config())
            .metrics(metrics)
            .sink(std::sync::Arc::new(store.clone()));
        if let Some(geoip) = &self.enrich.geoip {
            let resolve = |p: &Option<PathBuf>| p.as_deref().map(|p| self.data_path(p));
            let enricher =
                hpti_enrich::geoip::GeoIpEnricher::open(&hpti_enrich::geoip::GeoIpConfig {
                    city: resolve(&geoip.city),
                    asn: resolve(&geoip.asn),
                    anonymous: resolve(&geoip.anonymous),
                    reload_check: geoip.reload_check,
                })
                .context("enrich.geoip")?;
            builder = builder.enricher(std::sync::Arc::new(enricher));
        }
        if !self.enrich.lists.is_empty() {
            use hpti_enrich::iplist::{IpListEnricher, ListConfig, ListSource};
            let mut lists = Vec::new();
            for list in &self.enrich.lists {
                let source = match (&list.file, &list.url) {
                    (Some(file), None) => ListSource::File(self.data_path(file)),
                    (None, Some(url)) => ListSource::Url(url.clone()),
                    _ => anyhow::bail!(
                        "enrich.lists (tag {:?}): give exactly one of `file` and `url`",
                        list.tag
                    ),
                };
                lists.push(ListConfig {
                    tag: list.tag.clone(),
                    source,
                    refresh: list.refresh,
                });
            }
            let enricher = IpListEnricher::load(lists).await.context("enrich.lists")?;
            enricher.spawn_refresh();
            builder = builder.enricher(std::sync::Arc::new(enricher));
        }
        for enricher in self.remote_enrichers(metrics_for_enrichers).await? {
            builder = builder.enricher(enricher);
        }
        Ok(builder)
    }

    /// AbuseIPDB, VirusTotal and RDAP, each behind the caching, rate-limited, retrying wrapper.
    /// `hpti enrich warm` runs them alone to fill the shared cache.
    pub async fn remote_enrichers(
        &self,
        metrics: hpti_core::metrics::PipelineMetrics,
    ) -> anyhow::Result<Vec<std::sync::Arc<dyn hpti_core::enricher::Enricher>>> {
        use anyhow::Context as _;
        use hpti_enrich::cached::{CachedConfig, CachedEnricher, Rate, RedisCache};
        use hpti_enrich::http::ApiKey;
        use std::sync::Arc;

        let enrich = &self.enrich;
        let mut enrichers: Vec<Arc<dyn hpti_core::enricher::Enricher>> = Vec::new();
        if enrich.abuseipdb.is_none() && enrich.virustotal.is_none() && enrich.rdap.is_none() {
            return Ok(enrichers);
        }
        let redis = match &enrich.redis_url {
            Some(url) => Some(RedisCache::connect(url).await.context("enrich.redis_url")?),
            None => None,
        };
        // Leave the pipeline's per-event timeout a margin over the lookup's own budget.
        let budget = self.pipeline.enrich_timeout.mul_f64(0.9);
        let cached = |section: &ApiSection, default_rate: Rate| CachedConfig {
            ttl: section.ttl,
            negative_ttl: section.negative_ttl,
            rate: Some(match (section.calls_per_minute, section.calls_per_day) {
                (Some(n), _) => Rate::per_minute(n),
                (None, Some(n)) => Rate::per_day(n),
                (None, None) => default_rate,
            }),
            budget,
            ..CachedConfig::default()
        };
        let key = |section: &ApiSection, key: &str, default_env: &str| -> anyhow::Result<ApiKey> {
            match (&section.api_key, &section.api_key_env) {
                (Some(value), _) => ApiKey::new(value.clone()),
                (None, env) => ApiKey::from_env(env.as_deref().unwrap_or(default_env)),
            }
            .with_context(|| format!("enrich.{key}: API key"))
        };
        if let Some(section) = &enrich.abuseipdb {
            let mut config = hpti_enrich::abuseipdb::AbuseIpDbConfig::new(key(
                section,
                "abuseipdb",
                "HPTI_ABUSEIPDB_KEY",
            )?)
            .with_timeout(budget);
            if let Some(url) = &section.base_url {
                config = config.with_base_url(url.clone());
            }
            let lookup =
                hpti_enrich::abuseipdb::AbuseIpDb::new(config).context("enrich.abuseipdb")?;
            let mut enricher = CachedEnricher::new(lookup, cached(section, Rate::per_day(1000)))
                .with_metrics(metrics.clone());
            if let Some(redis) = &redis {
                enricher = enricher.with_redis(redis.clone());
            }
            enrichers.push(Arc::new(enricher));
        }
        if let Some(section) = &enrich.virustotal {
            let mut config = hpti_enrich::virustotal::VirusTotalConfig::new(key(
                section,
                "virustotal",
                "HPTI_VIRUSTOTAL_KEY",
            )?)
            .with_timeout(budget);
            if let Some(url) = &section.base_url {
                config = config.with_base_url(url.clone());
            }
            let settings = cached(section, Rate::per_minute(4));
            // One key, one quota: the address and file lookups share a limiter.
            let limiter = settings.rate.and_then(Rate::limiter);
            let ip = hpti_enrich::virustotal::VirusTotalIp::new(config.clone())
                .context("enrich.virustotal")?;
            let file = hpti_enrich::virustotal::VirusTotalFile::new(config)
                .context("enrich.virustotal")?;
            let mut ip = CachedEnricher::new(ip, settings.clone()).with_metrics(metrics.clone());
            let mut file = CachedEnricher::new(file, settings).with_metrics(metrics.clone());
            if let Some(limiter) = limiter {
                ip = ip.with_shared_limiter(limiter.clone());
                file = file.with_shared_limiter(limiter);
            }
            if let Some(redis) = &redis {
                ip = ip.with_redis(redis.clone());
                file = file.with_redis(redis.clone());
            }
            enrichers.push(Arc::new(ip));
            enrichers.push(Arc::new(file));
        }
        if let Some(section) = &enrich.rdap {
            let mut config = hpti_enrich::rdap::RdapConfig {
                server: section.server.clone(),
                timeout: budget,
                ..Default::default()
            };
            if let Some(url) = &section.bootstrap_url {
                config.bootstrap_url = url.clone();
            }
            let lookup = hpti_enrich::rdap::Rdap::new(config).context("enrich.rdap")?;
            let settings = CachedConfig {
                ttl: section.ttl,
                negative_ttl: section.negative_ttl,
                rate: Some(Rate::per_minute(section.calls_per_minute)),
                budget,
                ..CachedConfig::default()
            };
            let mut enricher = CachedEnricher::new(lookup, settings).with_metrics(metrics.clone());
            if let Some(redis) = &redis {
                enricher = enricher.with_redis(redis.clone());
            }
            enrichers.push(Arc::new(enricher));
        }
        Ok(enrichers)
    }

    /// Opens the configured store; the error names the config key.
    pub async fn open_store(&self) -> anyhow::Result<hpti_store::SqliteStore> {
        use anyhow::Context as _;
        let options = self.sqlite_options();
        hpti_store::SqliteStore::open(options.clone())
            .await
            .with_context(|| format!("store.sqlite.path: {}", options.path.display()))
    }

    /// A path from the config, resolved against the data directory.
    pub fn data_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.data.dir.join(path)
        }
    }

    pub fn sqlite_options(&self) -> SqliteOptions {
        let mut options = SqliteOptions::new(self.data_path(&self.store.sqlite.path));
        options.synchronous_full = self.store.sqlite.synchronous == Synchronous::Full;
        options.writer_cache_kib = self.store.sqlite.writer_cache_kib;
        options.cache_kib = self.store.sqlite.cache_kib;
        options
    }

    pub fn pipeline_config(&self) -> PipelineConfig {
        let p = &self.pipeline;
        PipelineConfig {
            queue_capacity: p.queue_capacity.get(),
            processor_batch: p.processor_batch.get(),
            sink_queue_batches: p.sink_queue_batches.get(),
            batch: BatchConfig {
                max_events: p.batch_size.get(),
                linger: p.linger,
                concurrency: p.sink_concurrency.get(),
            },
            retry: RetryPolicy {
                max_retries: p.max_retries,
                initial_backoff: p.retry_backoff,
                max_backoff: p.max_retry_backoff,
            },
            enrich_concurrency: p.enrich_concurrency.get(),
            enrich_timeout: p.enrich_timeout,
            dead_letter_path: self.data_path(&p.dead_letter_file),
            dead_letter_capacity: 1024,
            dead_letter_max_bytes: PipelineConfig::default().dead_letter_max_bytes,
        }
    }

    pub fn dead_letter_path(&self) -> PathBuf {
        self.data_path(&self.pipeline.dead_letter_file)
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.data.dir.join("checkpoints.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_defaults_are_the_runtime_defaults() {
        let from_config = Config::default().pipeline_config();
        let core = PipelineConfig {
            dead_letter_path: from_config.dead_letter_path.clone(),
            dead_letter_capacity: from_config.dead_letter_capacity,
            ..PipelineConfig::default()
        };
        assert_eq!(format!("{from_config:?}"), format!("{core:?}"));
    }
}
