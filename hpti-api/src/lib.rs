//! The analyst API: hpti's store over authenticated HTTP (axum), read through
//! [`EventQueries`], with an OpenAPI 3.1 description generated from the code.
//!
//! A crate of its own because it is one job with its own dependencies (an HTTP server,
//! tokens, OpenAPI) that neither the store nor the binary should carry: `hpti run` serves
//! it under `[api]`, and a tool embedding hpti can mount [`router`] in its own server.
//!
//! ```no_run
//! # async fn demo(queries: std::sync::Arc<dyn hpti_store::EventQueries>) -> std::io::Result<()> {
//! use hpti_api::{ApiConfig, ApiState, TokenStore};
//! let state = ApiState::new(queries, TokenStore::open(std::path::Path::new("data")), &ApiConfig::default());
//! let (addr, server) = hpti_api::serve(ApiConfig::default().listen, hpti_api::router(state)).await?;
//! println!("API at http://{addr}/api/v1/");
//! # server.abort(); Ok(()) }
//! ```

pub mod auth;
mod blocklist;
mod cache;
mod config;
mod downloads;
mod error;
pub mod federation;
mod metrics;
mod openapi;
mod params;
mod routes;
mod taxii;
pub mod tls;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use hpti_core::health::Health;
use hpti_store::EventQueries;

pub use auth::{Caller, Role, SESSION_COOKIE, TokenError, TokenInfo, TokenStore, session_token};
pub use config::ApiConfig;
pub use downloads::ZIP_PASSWORD;
pub use error::{ApiError, ErrorBody};
pub use metrics::ApiMetrics;
pub use openapi::openapi;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    queries: Arc<dyn EventQueries>,
    tokens: TokenStore,
    health: Option<Health>,
    alerts: Option<Arc<dyn hpti_core::alert_store::AlertStore>>,
    data_dir: Option<std::path::PathBuf>,
    limiter: Option<governor::DefaultKeyedRateLimiter<String>>,
    cache: cache::ResponseCache,
    /// How long aggregates may be kept (`[api] cache_ttl`).
    cache_ttl: std::time::Duration,
    /// Bounds the captured files zipped at once.
    zips: tokio::sync::Semaphore,
    /// The other instances whose lists are merged with this one's, if any.
    federation: Option<federation::Federation>,
    /// Origins allowed by CORS.
    cors_origins: Vec<String>,
    metrics: Option<ApiMetrics>,
    taxii_enabled: bool,
    taxii_window: std::time::Duration,
    taxii: taxii::SnapshotCache,
    intel: hpti_intel::IntelConfig,
}

impl ApiState {
    /// The API over `queries`, letting in the holders of `tokens`.
    pub fn new(queries: Arc<dyn EventQueries>, tokens: TokenStore, config: &ApiConfig) -> Self {
        let limiter = NonZeroU32::new(config.rate_limit).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            governor::RateLimiter::keyed(governor::Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            inner: Arc::new(Inner {
                queries,
                tokens,
                health: None,
                alerts: None,
                data_dir: None,
                limiter,
                cache: cache::ResponseCache::new(config.cache_ttl),
                cache_ttl: config.cache_ttl,
                zips: downloads::zip_permits(),
                federation: None,
                cors_origins: config.cors_origins.clone(),
                metrics: None,
                taxii_enabled: config.taxii,
                taxii_window: config.taxii_window,
                taxii: taxii::SnapshotCache::default(),
                intel: hpti_intel::IntelConfig::default(),
            }),
        }
    }

    /// Answers `/health` with the running pipeline's components.
    pub fn with_health(mut self, health: Health) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.health = Some(health);
        }
        self
    }

    /// Answers `/alerts` from the alert manager's store.
    pub fn with_alerts(mut self, alerts: Arc<dyn hpti_core::alert_store::AlertStore>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.alerts = Some(alerts);
        }
        self
    }

    /// Counts requests in `metrics`.
    pub fn with_metrics(mut self, metrics: ApiMetrics) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.metrics = Some(metrics);
        }
        self
    }

    /// Merges the lists with those of `federation`'s instances (multi-source mode).
    pub fn with_federation(mut self, federation: Option<federation::Federation>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.federation = federation;
        }
        self
    }

    /// What the TAXII collections leave out and how they mark what they share
    /// (`[intel]`).
    pub fn with_intel(mut self, intel: hpti_intel::IntelConfig) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.intel = intel;
        }
        self
    }

    /// The `[intel]` settings the exports of the API follow.
    pub fn intel(&self) -> &hpti_intel::IntelConfig {
        &self.inner.intel
    }

    /// Serves session recordings and captured files from `dir` (the data directory they
    /// are relative to; captured files are under `artifacts/`).
    pub fn with_data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.data_dir = Some(dir.into());
        }
        self
    }

    fn queries(&self) -> &dyn EventQueries {
        self.inner.queries.as_ref()
    }

    /// The store the API reads (the dashboard's pages read the same).
    pub fn event_queries(&self) -> &Arc<dyn EventQueries> {
        &self.inner.queries
    }

    /// The tokens the API lets in.
    pub fn tokens(&self) -> &TokenStore {
        &self.inner.tokens
    }

    /// The alert manager's store, if the API answers `/alerts`.
    pub fn alert_store(&self) -> Option<&Arc<dyn hpti_core::alert_store::AlertStore>> {
        self.inner.alerts.as_ref()
    }

    /// The data directory recordings and captured files are read from, if any.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.inner.data_dir.as_deref()
    }

    /// How long aggregates may be kept server-side (`[api] cache_ttl`; zero: not at all).
    pub fn cache_ttl(&self) -> std::time::Duration {
        self.inner.cache_ttl
    }

    /// The running pipeline's health, if known.
    pub fn health(&self) -> Option<&Health> {
        self.inner.health.as_ref()
    }

    /// The answer of `rows` for this request, through the cache.
    async fn cached<T: serde::Serialize>(
        &self,
        caller: &Caller,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        rows: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<axum::response::Response, ApiError> {
        let key = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        self.inner
            .cache
            .answer(self.queries(), caller.role, key, headers, rows)
            .await
    }
}

/// The API's routes, all under `/api/v1/` and all behind a token.
pub fn router(state: ApiState) -> Router {
    routes::router(state)
}

/// Serves `router` on `listen` until the task is aborted: the address bound (port 0
/// picks one) and the server's task.
pub async fn serve(
    listen: SocketAddr,
    router: Router,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(error = %err, "API server stopped");
        }
    });
    Ok((addr, task))
}

/// Serves `router` over HTTPS (`config` from [`tls::server_config`]) on `listen` until
/// the task is aborted: the address bound and the server's task.
pub async fn serve_tls(
    listen: SocketAddr,
    router: Router,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let listener = tls::TlsListener::new(listener, config)?;
    let addr = axum::serve::Listener::local_addr(&listener)?;
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(error = %err, "API server stopped");
        }
    });
    Ok((addr, task))
}
