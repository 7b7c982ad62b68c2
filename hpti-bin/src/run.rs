//! `hpti run`: the long-running service.

use std::sync::Arc;

use anyhow::Context as _;
use hpti_core::collect::{CheckpointStore, CollectorOptions, FileCollector};
use hpti_core::metrics::PipelineMetrics;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::telemetry;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let shutdown = telemetry::shutdown_signal();
    let mut registry = Registry::default();
    let metrics = PipelineMetrics::new(&mut registry);
    let store = config.open_store().await?;
    let mut pipeline = config
        .pipeline(metrics.clone(), &store)
        .await?
        .start()
        .context("cannot start the pipeline")?;
    if !config.sources.is_empty() {
        let checkpoints = CheckpointStore::open(config.checkpoint_path())?;
        for source in &config.sources {
            let parser = hpti_core::parser::builtin(&source.format.0)
                .with_context(|| format!("sources.format: unknown format {:?}", source.format.0))?;
            tracing::info!(format = %source.format.0, paths = ?source.paths, follow = source.follow, "reading logs");
            pipeline.spawn_source(Arc::new(FileCollector::new(
                source.paths.clone(),
                Arc::from(parser),
                checkpoints.clone(),
                CollectorOptions {
                    sensor: source.sensor.clone(),
                    follow: source.follow,
                    poll_interval: source.poll_interval,
                    ..CollectorOptions::default()
                },
                metrics.clone(),
            )));
        }
    }
    if config.sensors.ssh.enabled {
        let sensor = hpti_sensors::ssh::SshSensor::bind(
            "ssh",
            &config.data.dir,
            config.sensors.ssh.clone(),
            &config.honeypot,
            &metrics,
        )
        .await
        .context("sensors.ssh")?;
        tracing::info!("SSH honeypot listening on {}", sensor.local_addr());
        pipeline.spawn_source(Arc::new(sensor));
    }
    if config.sensors.telnet.enabled {
        let sensor = hpti_sensors::telnet::TelnetSensor::bind(
            "telnet",
            &config.data.dir,
            config.sensors.telnet.clone(),
            &config.honeypot,
            &metrics,
        )
        .await
        .context("sensors.telnet")?;
        tracing::info!("Telnet honeypot listening on {}", sensor.local_addr());
        pipeline.spawn_source(Arc::new(sensor));
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
        store = %config.sqlite_options().path.display(),
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
