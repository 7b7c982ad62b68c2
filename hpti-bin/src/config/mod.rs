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
        Ok(builder)
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
