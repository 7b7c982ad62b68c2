//! `hpti run`: the long-running service.

use hpti_alert::rules::ClockMode;
use std::sync::Arc;

use anyhow::Context as _;
use hpti_core::health::Health;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::Pipeline;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::{privileges, telemetry};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let mut shutdown = std::pin::pin!(telemetry::shutdown_signal());
    // A start that waits on something slow (a backend, a remote database) still obeys
    // SIGTERM and Ctrl-C: nothing has been captured yet, so stopping loses nothing.
    let (pipeline, mut registry, health, sinks, alerts) = tokio::select! {
        started = start(config) => started?,
        () = &mut shutdown => {
            tracing::warn!("stopped while starting");
            return Ok(());
        }
    };
    let health_for_api = health.clone();
    let api_metrics = hpti_api::ApiMetrics::register(&mut registry);
    let metrics_server = if config.metrics.enabled {
        let (addr, task) =
            telemetry::serve_metrics(config.metrics.listen, Arc::new(registry), health).await?;
        tracing::info!("metrics at http://{addr}/metrics, state at http://{addr}/health");
        Some(task)
    } else {
        None
    };
    let api_server = match crate::api::serve(config, health_for_api, api_metrics).await? {
        Some((base, task)) => {
            tracing::info!(
                "analyst API at {base}/api/v1/ (tokens: `hpti api token create --role viewer`)"
            );
            if config.api.as_ref().is_some_and(|api| api.dashboard) {
                tracing::info!("dashboard at {base}/ (log in with a token)");
            }
            Some(task)
        }
        None => None,
    };
    let reports = crate::report::schedule_all(Arc::new(config.clone())).await?;
    tracing::info!(
        sinks = ?sinks,
        dead_letters = %config.dead_letter_path().display(),
        "hpti is running; stop with Ctrl-C"
    );
    shutdown.await;
    for task in reports {
        task.abort();
    }
    tracing::info!("shutting down: draining queues and flushing sinks");
    pipeline.shutdown().await;
    crate::config::finish_alerts(alerts).await;
    if let Some(task) = metrics_server {
        task.abort();
    }
    if let Some(task) = api_server {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Builds and starts the pipeline and its sources: the running pipeline, the metrics
/// registry, the components' states and the sinks' ids.
async fn start(
    config: &Config,
) -> anyhow::Result<(
    Pipeline,
    Registry,
    Health,
    Vec<String>,
    Option<hpti_alert::manager::ManagerHandle>,
)> {
    // What `config check` refuses, refused the same way (key and line) before anything
    // is opened or bound.
    config.check().await?;
    let components = config.components()?;
    let mut registry = Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    let mut built = config
        .pipeline(&components, metrics.clone(), ClockMode::Live)
        .await?;
    let alerts = built.start_alerts();
    let mut pipeline = built.builder.start().context("cannot start the pipeline")?;
    // Sensors bind their ports as they are built; nothing reads from them until they
    // are spawned. Privileges go in between.
    let sources = config.sources(&components, &metrics).await?;
    privileges::raise_fd_limit(config, components.sensors.len());
    privileges::drop_privileges(config)?;
    for (id, source) in sources {
        pipeline.spawn_source(&id, source);
    }
    let sinks = built
        .sinks
        .iter()
        .map(|id| id.as_str().to_owned())
        .collect();
    Ok((pipeline, registry, metrics.health().clone(), sinks, alerts))
}
