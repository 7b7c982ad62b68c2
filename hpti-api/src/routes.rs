//! The routes under `/api/v1/`, the token check in front of them, and the request log.

use std::net::IpAddr;
use std::path::{Component, Path};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::Uri;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hpti_core::Event;
use hpti_core::event::EventKind;
use hpti_store::query::MAX_LIMIT;
use hpti_store::{AttackerDetail, Cursor, EventFilter, EventQueries, SessionDetail, Window};
use serde::Serialize;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// The parameters of the ranked lists.
const WINDOW_PARAMS: &[&str] = &["since", "until", "limit"];
/// The parameters of `/events`.
const EVENT_PARAMS: &[&str] = &[
    "since", "until", "limit", "cursor", "src_ip", "session", "sensor", "protocol", "kind",
    "command",
];
/// The media type of the streamed export.
pub(crate) const NDJSON: &str = "application/x-ndjson";

pub(crate) fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/events", get(events))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", get(session))
        .route("/sessions/{id}/recording", get(recording))
        .route("/attackers", get(attackers))
        .route("/attackers/{ip}", get(attacker))
        .route("/credentials", get(credentials))
        .route("/commands", get(commands))
        .route("/downloads", get(crate::downloads::downloads))
        .route("/downloads/{sha256}", get(crate::downloads::download))
        .route(
            "/downloads/{sha256}/content",
            get(crate::downloads::content),
        )
        .route("/alerts", get(alerts))
        .route("/blocklist", get(crate::blocklist::blocklist))
        .route("/stats/timeseries", get(timeseries))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state.clone());
    let mut router = Router::new().nest("/api/v1", api).fallback(not_found);
    if state.inner.taxii_enabled {
        router = router.merge(
            crate::taxii::router()
                .layer(middleware::from_fn_with_state(state.clone(), authenticate))
                .with_state(state.clone()),
        );
    }
    // Outermost, so a browser's preflight (which carries no token) is answered.
    match cors(&state.inner.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// The CORS layer allowing `origins` to read the API with a token; `None` (no CORS
/// headers at all: browsers keep other sites' pages out) when there are none.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([axum::http::Method::GET])
            .allow_headers([header::AUTHORIZATION, header::IF_NONE_MATCH])
            .expose_headers([header::ETAG, header::LAST_MODIFIED])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Lets in requests with a valid bearer token (401 otherwise, with no detail), applies
/// the token's rate limit, and logs every request with its token, status and duration.
async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    // The dashboard's pages read the API with the login cookie. Every route here only
    // reads (GET), and the cookie is SameSite=Strict, so another site cannot use it.
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let caller = match bearer {
        Some(token) => state.inner.tokens.verify(token.trim()),
        None if reads => crate::auth::session_token(request.headers())
            .and_then(|token| state.inner.tokens.verify(token)),
        None => None,
    };
    let (name, response) = match caller {
        None => ("-".to_owned(), ApiError::unauthorized().into_response()),
        Some(caller) => {
            let limited = state
                .inner
                .limiter
                .as_ref()
                .is_some_and(|limiter| limiter.check_key(&caller.name).is_err());
            let name = caller.name.clone();
            if limited {
                (name, ApiError::too_many_requests().into_response())
            } else {
                request.extensions_mut().insert(caller);
                (name, next.run(request).await)
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        token = %name,
        %method,
        %path,
        status = response.status().as_u16(),
        duration_ms = seconds * 1000.0,
        "API request"
    );
    if let Some(metrics) = &state.inner.metrics {
        metrics.observe(
            route.as_deref().unwrap_or("unmatched"),
            response.status().as_u16(),
            seconds,
        );
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint: see /api/v1/openapi.json")
}

/// A request for a cached aggregate: who asks, for what, and with which validators.
pub(crate) struct Aggregate {
    state: ApiState,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
}

impl axum::extract::FromRequestParts<ApiState> for Aggregate {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &ApiState,
    ) -> Result<Self, ApiError> {
        // Set by `authenticate`, which every route sits behind.
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self {
            state: state.clone(),
            caller,
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl Aggregate {
    /// The query string, refusing names outside `allowed`.
    pub(crate) fn params(&self, allowed: &[&str]) -> Result<Params, ApiError> {
        Params::parse(self.uri.query(), allowed)
    }

    /// `rows` as the answer, through the cache.
    async fn answer<T: Serialize>(
        &self,
        rows: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<Response, ApiError> {
        self.state
            .cached(&self.caller, &self.uri, &self.headers, rows)
            .await
    }

    /// The shared state.
    pub(crate) fn state(&self) -> &ApiState {
        &self.state
    }

    /// The request's headers.
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A ranked list of the window from `rows`, which may reshape the store's rows.
    pub(crate) async fn ranked_with<T, F>(&self, rows: F) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        F: for<'q> FnOnce(
            &'q dyn EventQueries,
            Window,
        ) -> futures::future::BoxFuture<'q, Result<Vec<T>, ApiError>>,
    {
        let window = self.params(WINDOW_PARAMS)?.window()?;
        let queries = self.state.queries();
        match &self.state.inner.federation {
            None => {
                self.answer(async move {
                    Ok(Items {
                        items: rows(queries, window).await?,
                    })
                })
                .await
            }
            Some(federation) => {
                let list = self.uri.path().rsplit('/').next().unwrap_or_default();
                let query = self.uri.query();
                self.answer(async move {
                    let local = rows(queries, window)
                        .await?
                        .iter()
                        .map(serde_json::to_value)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(ApiError::internal)?;
                    federation
                        .merge(list, query, local, window.limit as usize)
                        .await
                })
                .await
            }
        }
    }

    /// A ranked list of the window (`since`, `until`, `limit`) as `{"items": [...]}`.
    async fn ranked<T, F>(&self, rows: F) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        F: for<'q> FnOnce(
            &'q dyn EventQueries,
            Window,
        )
            -> futures::future::BoxFuture<'q, Result<Vec<T>, hpti_store::StoreError>>,
    {
        self.ranked_with(move |queries: &dyn EventQueries, window| {
            let rows = rows(queries, window);
            Box::pin(async move { rows.await.map_err(ApiError::from) })
        })
        .await
    }
}

/// A list of rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Items<T> {
    /// The rows, most significant first.
    pub items: Vec<T>,
}

/// A page of events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventsPage {
    /// The events, newest first (each as in `docs/events.md`).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Event>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Events in a window, newest first, a page at a time; or, with `Accept:
/// application/x-ndjson`, all of them (or `limit`) streamed one per line.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration before now (24h)"),
        ("until" = Option<String>, Query, description = "RFC 3339 time, or a duration before now"),
        ("limit" = Option<u64>, Query, description = "Events per page, 1 to 10000 (default 100); with NDJSON, events in all (default: every one)"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
        ("src_ip" = Option<String>, Query, description = "Only events from this address"),
        ("session" = Option<String>, Query, description = "Only events of this session"),
        ("sensor" = Option<String>, Query, description = "Only events of this sensor or source"),
        ("protocol" = Option<String>, Query, description = "Only events of this protocol (ssh, telnet, ...)"),
        ("kind" = Option<String>, Query, description = "Only events of this kind (login.attempt, ...)"),
        ("command" = Option<String>, Query, description = "Only events whose command line is exactly this (as /commands ranks them)"),
    ),
    responses(
        (status = 200, description = "A page of events", body = EventsPage,
            content((EventsPage = "application/json"), (String = "application/x-ndjson"))),
        (status = 400, description = "A bad parameter, named", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref(), EVENT_PARAMS)?;
    let ndjson = accepts_ndjson(&headers);
    let (window, total) = if ndjson {
        (params.window_of(MAX_LIMIT)?, params.export_limit()?)
    } else {
        (params.window()?, None)
    };
    let filter = params.event_filter()?;
    let cursor = params.get("cursor").map(Cursor::from_string);
    if let Some(cursor) = &cursor {
        cursor
            .position()
            .map_err(|_| ApiError::bad_parameter("cursor", "not a cursor this API made"))?;
    }
    if ndjson {
        return Ok(export(state, window, filter, cursor, total));
    }
    let page = state
        .queries()
        .events(window, &filter, cursor.as_ref())
        .await?;
    Ok(Json(EventsPage {
        events: page.events,
        next: page.next.map(|c| c.as_str().to_owned()),
    })
    .into_response())
}

fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.split(';').next().is_some_and(|t| t.trim() == NDJSON))
}

/// Streams the window's events as NDJSON, a store page at a time: memory holds one page
/// whatever the export's size. A store error mid-way ends the body abruptly, so the
/// client sees a broken transfer, not a short export that looks whole.
fn export(
    state: ApiState,
    window: Window,
    filter: EventFilter,
    cursor: Option<Cursor>,
    total: Option<u64>,
) -> Response {
    /// The page being fetched while the previous one is sent.
    type Fetching = tokio::task::JoinHandle<Result<hpti_store::NdjsonPage, hpti_store::StoreError>>;
    struct Export {
        state: ApiState,
        window: Window,
        filter: EventFilter,
        left: Option<u64>,
        next: Option<Fetching>,
    }
    /// Starts fetching the page after `cursor` (at most `left` events).
    fn fetch(
        state: &ApiState,
        window: Window,
        filter: &EventFilter,
        cursor: Option<Cursor>,
        left: Option<u64>,
    ) -> Fetching {
        let page_size = left.map_or(MAX_LIMIT, |left| left.min(u64::from(MAX_LIMIT)) as u32);
        let (state, filter) = (state.clone(), filter.clone());
        tokio::spawn(async move {
            state
                .queries()
                .events_ndjson(window.limit(page_size), &filter, cursor.as_ref())
                .await
        })
    }
    let first = (total != Some(0)).then(|| fetch(&state, window, &filter, cursor, total));
    let start = Export {
        state,
        window,
        filter,
        left: total,
        next: first,
    };
    let stream = futures::stream::unfold(start, |mut at| async move {
        let fetching = at.next.take()?;
        let page = match fetching.await {
            Ok(Ok(page)) => page,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "NDJSON export failed mid-way");
                return Some((Err(std::io::Error::other(err.to_string())), at));
            }
            Err(err) => {
                tracing::error!(error = %err, "NDJSON export failed mid-way");
                return Some((Err(std::io::Error::other(err.to_string())), at));
            }
        };
        if let Some(left) = &mut at.left {
            *left = left.saturating_sub(page.count as u64);
        }
        // The next page is read while this one is sent.
        if page.next.is_some() && at.left != Some(0) {
            at.next = Some(fetch(&at.state, at.window, &at.filter, page.next, at.left));
        }
        Some((Ok(Bytes::from(page.lines)), at))
    });
    let mut response = Body::from_stream(stream).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

/// Sessions with activity in the window, the most recently opened first.
#[utoipa::path(get, path = "/api/v1/sessions", params(WindowParams),
    responses((status = 200, body = Items<Object>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn sessions(request: Aggregate) -> Result<Response, ApiError> {
    request
        .ranked(|queries: &dyn EventQueries, window| queries.sessions(window))
        .await
}

/// Source addresses ranked by events in the window.
#[utoipa::path(get, path = "/api/v1/attackers", params(WindowParams),
    responses((status = 200, body = Items<Object>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn attackers(request: Aggregate) -> Result<Response, ApiError> {
    request
        .ranked(|queries: &dyn EventQueries, window| queries.attackers(window))
        .await
}

/// User name and password pairs ranked by attempts in the window.
#[utoipa::path(get, path = "/api/v1/credentials", params(WindowParams),
    responses((status = 200, body = Items<Object>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn credentials(request: Aggregate) -> Result<Response, ApiError> {
    request
        .ranked(|queries: &dyn EventQueries, window| queries.credentials(window))
        .await
}

/// Command lines ranked by count in the window.
#[utoipa::path(get, path = "/api/v1/commands", params(WindowParams),
    responses((status = 200, body = Items<Object>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn commands(request: Aggregate) -> Result<Response, ApiError> {
    request
        .ranked(|queries: &dyn EventQueries, window| queries.commands(window))
        .await
}

/// The window parameters of the ranked lists.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for OpenAPI; parsed by `Params`
pub struct WindowParams {
    /// RFC 3339 time, or a duration before now (24h).
    since: Option<String>,
    /// RFC 3339 time, or a duration before now.
    until: Option<String>,
    /// Rows, 1 to 10000 (default 100).
    limit: Option<u32>,
}

/// One session: its summary, its events in order, and where its recording is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    detail: SessionDetail,
    /// The path of its terminal recording (asciicast), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    recording_url: Option<String>,
}

/// One session with its timeline.
#[utoipa::path(get, path = "/api/v1/sessions/{id}",
    params(("id" = String, Path, description = "The session id")),
    responses((status = 200, body = SessionView), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn session(
    State(state): State<ApiState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<SessionView>, ApiError> {
    Params::parse(query.as_deref(), &[])?;
    check_text("id", &id)?;
    let detail = state.queries().session(&id).await?;
    let recording_url = recording_of(&detail).map(|_| {
        format!(
            "/api/v1/sessions/{}/recording",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        )
    });
    Ok(Json(SessionView {
        detail,
        recording_url,
    }))
}

/// The recording a session's close names, relative to the data directory.
fn recording_of(detail: &SessionDetail) -> Option<&str> {
    detail.events.iter().rev().find_map(|e| match &e.kind {
        EventKind::SessionClosed {
            recording: Some(path),
            ..
        } => Some(path.as_str()),
        _ => None,
    })
}

/// A session's terminal recording (asciicast v2).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/recording",
    params(("id" = String, Path, description = "The session id")),
    responses((status = 200, description = "asciicast v2", content_type = "application/x-asciicast"), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn recording(
    State(state): State<ApiState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    Params::parse(query.as_deref(), &[])?;
    check_text("id", &id)?;
    let detail = state.queries().session(&id).await?;
    let no_recording = || ApiError::not_found(format!("session {id:?} has no recording"));
    let relative = recording_of(&detail).ok_or_else(no_recording)?;
    let data_dir = state.inner.data_dir.as_deref().ok_or_else(no_recording)?;
    // The path came from an event (a log may have been forged): only plain components
    // below the data directory are followed.
    let relative = Path::new(relative);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(no_recording());
    }
    let bytes = tokio::fs::read(data_dir.join(relative))
        .await
        .map_err(|_| no_recording())?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-asciicast"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// Everything known about one address.
#[utoipa::path(get, path = "/api/v1/attackers/{ip}",
    params(("ip" = String, Path, description = "The address")),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn attacker(
    State(state): State<ApiState>,
    axum::extract::Path(ip): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<AttackerDetail>, ApiError> {
    Params::parse(query.as_deref(), &[])?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| ApiError::bad_parameter("ip", "not an IP address"))?;
    Ok(Json(state.queries().attacker(ip).await?))
}

/// Event counts per time bucket and kind.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Timeseries {
    /// The bucket width, as asked (`1h`).
    pub interval: String,
    /// One row per bucket and kind with events, oldest first (empty buckets absent).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<hpti_store::TimeBucket>,
}

/// Events per `interval` (default `1h`) and kind over the window (default: the last 24
/// hours), for charts; only of `kind` when given. At most 10,000 buckets.
#[utoipa::path(get, path = "/api/v1/stats/timeseries",
    params(
        ("interval" = Option<String>, Query, description = "Bucket width, at least 1s (default 1h)"),
        ("kind" = Option<String>, Query, description = "Only events of this kind"),
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration before now (default 24h)"),
        ("until" = Option<String>, Query, description = "RFC 3339 time, or a duration before now"),
    ),
    responses((status = 200, body = Timeseries), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn timeseries(request: Aggregate) -> Result<Response, ApiError> {
    let params = request.params(&["interval", "kind", "since", "until"])?;
    let interval = params.get("interval").unwrap_or("1h");
    let micros = humantime::parse_duration(interval)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .filter(|m| *m >= 1_000_000)
        .ok_or_else(|| {
            ApiError::bad_parameter("interval", "must be a duration of at least 1s (1h, 5m)")
        })?;
    let mut window = params.window()?.limit(1);
    if window.since.is_none() {
        window =
            window.since(hpti_core::event::Timestamp::now().saturating_add_micros(-86_400_000_000));
    }
    let kind = params.event_filter()?.kind;
    let queries = request.state.queries();
    let rows = async {
        let items = queries
            .timeseries(window, micros, kind.as_deref())
            .await
            .map_err(|err| match err {
                hpti_store::StoreError::InvalidInput(detail) if detail.contains("bucket") => {
                    ApiError::bad_parameter("interval", detail)
                }
                other => ApiError::from(other),
            })?;
        Ok(Timeseries {
            interval: interval.to_owned(),
            items,
        })
    };
    request.answer(rows).await
}

/// Alerts, most recently updated first: `state=firing` (the default) or `state=all`
/// (resolved ones too), with their acknowledgements.
#[utoipa::path(get, path = "/api/v1/alerts",
    params(
        ("state" = Option<String>, Query, description = "`firing` (default) or `all`"),
        ("limit" = Option<u32>, Query, description = "Rows, 1 to 10000 (default 100)"),
    ),
    responses((status = 200, body = Items<Object>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn alerts(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Items<hpti_core::alert_store::StoredAlert>>, ApiError> {
    let params = Params::parse(query.as_deref(), &["state", "limit"])?;
    let firing_only = match params.get("state") {
        None | Some("firing") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::bad_parameter("state", "must be firing or all")),
    };
    let limit = params.limit()?;
    let store = state
        .inner
        .alerts
        .as_ref()
        .ok_or_else(|| ApiError::not_found("alerting is not configured here"))?;
    let items = store
        .alerts(firing_only, limit as usize)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Items { items }))
}

/// The running components' state: `ok`, or `degraded` (503) when one is failing.
#[utoipa::path(get, path = "/api/v1/health",
    responses((status = 200, body = Object), (status = 503, body = Object), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn health(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    Params::parse(query.as_deref(), &[])?;
    let report = state.inner.health.as_ref().map_or_else(
        || hpti_core::health::Health::default().report(),
        hpti_core::health::Health::report,
    );
    let status = if report.status == hpti_core::health::Status::Ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(report)).into_response())
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn openapi_json() -> Response {
    Json(crate::openapi()).into_response()
}

/// Refuses a path segment no store key can be.
fn check_text(name: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(ApiError::bad_parameter(
            name,
            "must be 1 to 256 printable characters",
        ));
    }
    Ok(())
}
