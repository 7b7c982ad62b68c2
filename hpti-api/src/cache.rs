//! The short server-side cache of the expensive aggregates, and their ETags.
//!
//! An answer is kept for `cache_ttl`, keyed by the caller's role, the request's path and
//! query, and the store's position (its newest event, looked at most once a second): new
//! events make the next request compute again, so an answer is never more than about a
//! second behind what the store has folded, and at most `cache_ttl` old when the store
//! cannot say its position. Concurrent misses for one key compute once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

use crate::auth::Role;
use crate::error::ApiError;

/// Bytes of answers kept at most.
const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// How often the store's position is asked for.
const POSITION_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    role: Role,
    uri: String,
    position: Option<u64>,
}

/// An answer as sent: its JSON and its ETag.
#[derive(Debug)]
pub(crate) struct Answer {
    body: Bytes,
    etag: HeaderValue,
}

/// The cache (disabled with a TTL of zero).
pub(crate) struct ResponseCache {
    entries: Option<moka::future::Cache<Key, Arc<Answer>>>,
    position: Mutex<(Option<Instant>, Option<u64>)>,
}

impl ResponseCache {
    /// Keeps answers for `ttl` (none when zero).
    pub(crate) fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(MAX_BYTES)
                .weigher(|key: &Key, answer: &Arc<Answer>| {
                    u32::try_from(key.uri.len() + answer.body.len()).unwrap_or(u32::MAX)
                })
                .build()
        });
        Self {
            entries,
            position: Mutex::new((None, None)),
        }
    }

    /// The store's position, asked at most once a second.
    async fn position(&self, queries: &dyn hpti_store::EventQueries) -> Option<u64> {
        let mut held = self.position.lock().await;
        if held.0.is_some_and(|at| at.elapsed() < POSITION_EVERY) {
            return held.1;
        }
        // A store that cannot say keeps answers for the TTL.
        let position = queries.position().await.ok().flatten();
        *held = (Some(Instant::now()), position);
        position
    }

    /// The answer to `uri` for `role`: from the cache, or computed by `compute` (once
    /// for concurrent requests), as JSON with an ETag; a `304` when the request's
    /// `If-None-Match` already has it.
    pub(crate) async fn answer<T, F>(
        &self,
        queries: &dyn hpti_store::EventQueries,
        role: Role,
        uri: &str,
        request: &HeaderMap,
        compute: F,
    ) -> Result<Response, ApiError>
    where
        T: Serialize,
        F: std::future::Future<Output = Result<T, ApiError>>,
    {
        let answer = match &self.entries {
            None => Arc::new(render(compute.await?)?),
            Some(entries) => {
                let key = Key {
                    role,
                    uri: uri.to_owned(),
                    position: self.position(queries).await,
                };
                entries
                    .try_get_with(key, async { compute.await.and_then(render).map(Arc::new) })
                    .await
                    .map_err(|err: Arc<ApiError>| (*err).clone())?
            }
        };
        let unchanged = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == answer.etag || tag.trim() == "*");
        let mut response = if unchanged {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = answer.body.clone().into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, answer.etag.clone());
        // Revalidate every time: the ETag makes that cheap.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        Ok(response)
    }
}

fn render<T: Serialize>(value: T) -> Result<Answer, ApiError> {
    let body = serde_json::to_vec(&value).map_err(ApiError::internal)?;
    let digest = Sha256::digest(&body);
    let tag = format!("\"{}\"", hex::encode(&digest[..16]));
    let etag = HeaderValue::from_str(&tag).map_err(ApiError::internal)?;
    Ok(Answer {
        body: Bytes::from(body),
        etag,
    })
}
