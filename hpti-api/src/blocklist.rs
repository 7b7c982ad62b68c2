//! `GET /api/v1/blocklist`: attacking addresses for firewalls to poll, as text, with an
//! ETag so that an unchanged list costs a `304`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hpti_intel::blocklist::{Blocklist, Format};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;
use crate::routes::Aggregate;

/// The parameters of `/blocklist`.
const PARAMS: &[&str] = &["since", "until", "min_events", "format"];

/// The blocklist's parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for OpenAPI; parsed by `Params`
pub struct BlocklistParams {
    /// RFC 3339 time, or a duration before now (default 7d).
    since: Option<String>,
    /// RFC 3339 time, or a duration before now.
    until: Option<String>,
    /// Only addresses with at least this many events (default 1).
    min_events: Option<u64>,
    /// `plain` (default), `csv`, `nftables` or `ipset`.
    format: Option<String>,
}

/// Attacking addresses of the window: never `[intel] allow`-listed, never private,
/// loopback or documentation ranges. Text in the format asked for, with an ETag.
#[utoipa::path(get, path = "/api/v1/blocklist", params(BlocklistParams),
    responses((status = 200, content_type = "text/plain", body = String), (status = 304), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn blocklist(request: Aggregate) -> Result<Response, ApiError> {
    let params = request.params(PARAMS)?;
    let since = params.time("since")?.unwrap_or_else(|| {
        hpti_core::event::Timestamp::now().saturating_add_micros(-7 * 86_400_000_000)
    });
    let mut window = hpti_store::Window::default().since(since);
    if let Some(until) = params.time("until")? {
        window = window.until(until);
    }
    let min_events = match params.get("min_events") {
        None => 1,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ApiError::bad_parameter("min_events", "must be a whole number"))?,
    };
    let format: Format = params
        .get("format")
        .unwrap_or("plain")
        .parse()
        .map_err(|e: String| ApiError::bad_parameter("format", e))?;
    let state = request.state();
    let intel = state.intel();
    // Addresses only: no captured file is read for a blocklist.
    let report = hpti_intel::ioc::extract(
        state.event_queries().as_ref(),
        window,
        intel.ioc_options(),
        None,
    )
    .await
    .map_err(ApiError::from)?;
    let body = Blocklist::from_report(&report, min_events, &intel.allow).render(format);
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..16])
    );
    let unchanged = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        // A compressing proxy may have made it weak (`W/"..."`): the list is the same.
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok((StatusCode::OK, headers, Body::from(body)).into_response())
}
