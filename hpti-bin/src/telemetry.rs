//! Logging, the Prometheus endpoint and signal handling.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::response::IntoResponse as _;
use hpti_core::health::{Health, Status};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init_logging(config: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("HPTI_LOG")
        .or_else(|_| EnvFilter::try_new(&config.level))
        .with_context(|| format!("log.level {:?} is not a valid filter", config.level))?;
    // The NATS client logs every (re)connection at info, which hpti_nats already says
    // once in its own words; a filter that names async_nats keeps its own choice.
    let filter = if filter.to_string().contains("async_nats") {
        filter
    } else {
        filter.add_directive("async_nats=warn".parse()?)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Serves `GET /metrics` in the Prometheus text format, and `GET /health` (each
/// component's state as JSON: 200 when all work, 503 while one fails), until the process
/// ends.
pub async fn serve_metrics(
    listen: SocketAddr,
    registry: Arc<Registry>,
    health: Health,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("metrics.listen: cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let registry = registry.clone();
                async move {
                    let mut body = String::new();
                    match prometheus_client::encoding::text::encode(&mut body, &registry) {
                        Ok(()) => (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            body,
                        )
                            .into_response(),
                        Err(_) => (
                            [(axum::http::header::CONTENT_TYPE, "text/plain")],
                            "encoding failed".to_owned(),
                        )
                            .into_response(),
                    }
                }
            }),
        )
        .route(
            "/health",
            axum::routing::get(move || {
                let report = health.report();
                async move {
                    let code = match report.status {
                        Status::Ok => axum::http::StatusCode::OK,
                        _ => axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    };
                    let body = serde_json::to_string(&report).unwrap_or_default();
                    (
                        code,
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response()
                }
            }),
        );
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "metrics server stopped");
        }
    });
    Ok((bound, task))
}

/// Resolves on SIGINT or SIGTERM.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // The handlers are installed now, not when the future is first polled: a SIGTERM that
    // arrives while hpti is still starting must be a clean shutdown, not a kill.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            match (terminate, interrupt) {
                (Some(mut terminate), Some(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                (Some(mut only), None) | (None, Some(mut only)) => {
                    only.recv().await;
                }
                (None, None) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
