//! Errors as JSON: `{"error": ..., "detail": ...}` with the status that fits.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hpti_store::StoreError;
use serde::Serialize;

/// An error answered to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short machine-readable word (`bad_request`, `not_found`, ...).
    pub error: &'static str,
    /// What was wrong, for people (never internal details).
    pub detail: Option<String>,
}

/// The body of an error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A short machine-readable word (`bad_request`, `unauthorized`, `not_found`, ...).
    pub error: String,
    /// What was wrong (absent for 401 and 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ApiError {
    /// 400, naming the parameter and what is wrong with it.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            detail: Some(format!("{name}: {message}")),
        }
    }

    /// 401, with no detail.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            detail: None,
        }
    }

    /// 403: the token's role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            error: "forbidden",
            detail: Some(detail.into()),
        }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            detail: Some(detail.into()),
        }
    }

    /// 429: the token's rate limit.
    pub fn too_many_requests() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "too_many_requests",
            detail: Some("this token's request rate is over its limit".into()),
        }
    }

    /// 500, logged here, with no detail for the caller.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "API request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "internal",
            detail: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidInput(detail) => Self {
                status: StatusCode::BAD_REQUEST,
                error: "bad_request",
                detail: Some(detail),
            },
            StoreError::NotFound(detail) => Self::not_found(detail),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.error.to_owned(),
                detail: self.detail,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
