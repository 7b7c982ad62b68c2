//! `hpti run`: the long-running service.

use std::sync::Arc;

use anyhow::Context as _;
use hpti_core::metrics::PipelineMetrics;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::telemetry;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let shutdown = telemetry::shutdown_signal();
    let components = config.components()?;
    let mut registry = Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    let built = config.pipeline(&components, metrics.clone()).await?;
    let mut pipeline = built.builder.start().context("cannot start the pipeline")?;
    for (id, source) in config.sources(&components, &metrics).await? {
        pipeline.spawn_source(&id, source);
    }
    let metrics_server = if config.metrics.enabled {
        let (addr, task) =
            telemetry::serve_metrics(config.metrics.listen, Arc::new(registry)).await?;
        tracing::info!("metrics at http://{addr}/metrics");
        Some(task)
    } else {
        None
    };
    tracing::info!(
        sinks = ?built.sinks.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        dead_letters = %config.dead_letter_path().display(),
        "hpti is running; stop with Ctrl-C"
    );
    shutdown.await;
    tracing::info!("shutting down: draining queues and flushing sinks");
    pipeline.shutdown().await;
    if let Some(task) = metrics_server {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
