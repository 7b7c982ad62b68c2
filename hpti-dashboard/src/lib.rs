//! The web dashboard: what analysts look at. Server-rendered HTML pages (minijinja
//! templates compiled into the binary) over the analyst API's store, tokens and alerts,
//! plus a few small scripts of its own and the vendored asciinema player. Nothing is
//! fetched from another origin at run time.
//!
//! A crate of its own because it is one job (HTML, cookies, CSRF, charts) that the JSON
//! API should not carry; it is built on [`hpti_api::ApiState`] so both serve the same
//! store behind the same tokens, and `hpti run` mounts [`router`] beside the API's.
//!
//! ```no_run
//! # async fn demo(queries: std::sync::Arc<dyn hpti_store::EventQueries>) -> std::io::Result<()> {
//! use hpti_api::{ApiConfig, ApiState, TokenStore};
//! let state = ApiState::new(queries, TokenStore::open(std::path::Path::new("data")), &ApiConfig::default());
//! let app = hpti_api::router(state.clone()).merge(hpti_dashboard::router(state));
//! let (addr, server) = hpti_api::serve(ApiConfig::default().listen, app).await?;
//! println!("dashboard at http://{addr}/");
//! # server.abort(); Ok(()) }
//! ```

mod assets;
mod cache;
mod charts;
mod error;
mod pages;
mod render;
pub mod report;
mod security;
mod session;
#[cfg(test)]
mod stub;
mod table;
mod warm;
mod window;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use hpti_api::ApiState;

pub use error::PageError;

/// What the pages share: the API's state and the dashboard's own secrets.
#[derive(Clone)]
pub(crate) struct Dashboard {
    api: ApiState,
    /// Keys the CSRF tokens (per process: a restart asks forms to be reloaded).
    csrf_key: Arc<[u8; 32]>,
    templates: Arc<minijinja::Environment<'static>>,
    /// The store's answers, kept for `[api] cache_ttl`.
    rows: cache::RowsCache,
    /// Keeps the pages viewed lately answered for every preset window.
    warmer: Arc<warm::Warmer>,
    /// This handle is the warming loop's: answers are computed in line, one at a time
    /// ([`cache::RowsCache::warm`]).
    warming: bool,
}

impl Dashboard {
    /// The store's rows of `kind` for `picked`'s window (at most `limit`), through the cache.
    /// `load` gets the store (owned: a stale answer's refresh runs after the request).
    async fn ranked<T, F, Fut>(
        &self,
        kind: &str,
        picked: &window::Picked,
        limit: u32,
        load: F,
    ) -> Result<Arc<T>, hpti_store::StoreError>
    where
        T: Send + Sync + 'static,
        F: FnOnce(Arc<dyn hpti_store::EventQueries>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, hpti_store::StoreError>> + Send + 'static,
    {
        let key = format!("{kind}:{}:{limit}", picked.cache_key());
        let load: cache::Load<T> = Box::new(move |store| Box::pin(load(store)));
        if self.warming {
            self.rows.warm(self.api.event_queries(), key, load).await
        } else {
            self.rows.get(self.api.event_queries(), key, load).await
        }
    }

    fn new(api: ApiState) -> Self {
        let mut csrf_key = [0u8; 32];
        if getrandom::fill(&mut csrf_key).is_err() {
            // Without randomness the key is still secret enough for one process: the
            // address of a heap value and the time are not known to a remote page.
            let seed = format!("{:p}{:?}", &csrf_key, std::time::SystemTime::now());
            csrf_key = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
                seed.as_bytes(),
            ))
            .into();
        }
        Self {
            rows: cache::RowsCache::new(api.cache_ttl()),
            api,
            csrf_key: Arc::new(csrf_key),
            templates: Arc::new(render::environment()),
            warmer: Arc::default(),
            warming: false,
        }
    }
}

/// The dashboard's routes: `/` and the pages below it, `/login`, `/logout`, and the
/// static files under `/assets/`. Every page but the login page needs the login cookie.
pub fn router(api: ApiState) -> Router {
    let dashboard = Dashboard::new(api);
    let pages = Router::new()
        .route("/", get(pages::overview::page))
        .route("/attackers", get(pages::attackers::list))
        .route("/attackers/{ip}", get(pages::attackers::detail))
        .route("/sessions", get(pages::sessions::list))
        .route("/sessions/{id}", get(pages::sessions::detail))
        .route("/credentials", get(pages::credentials::list))
        .route("/commands", get(pages::commands::list))
        .route("/downloads", get(pages::downloads::list))
        .route("/downloads/{sha256}", get(pages::downloads::detail))
        .route("/alerts", get(pages::alerts::list))
        .route(
            "/alerts/{fingerprint}/ack",
            post(pages::alerts::acknowledge),
        )
        .route("/alerts/silences", post(pages::alerts::silence))
        .route("/live", get(pages::live::page))
        .route("/live/events", get(pages::live::stream))
        .route("/logout", post(session::logout))
        .layer(axum::middleware::from_fn_with_state(
            dashboard.clone(),
            session::require_login,
        ));
    Router::new()
        .merge(pages)
        .route("/login", get(session::login_page).post(session::login))
        .route("/assets/{*file}", get(assets::serve))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(dashboard)
}
