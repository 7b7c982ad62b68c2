//! A page that could not be shown: its status and a message for the analyst.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hpti_store::StoreError;

/// Why a page could not be shown (rendered as a small HTML page with the status).
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    /// An error page with `status` saying `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A 400 naming the parameter at fault.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("{name}: {message}"))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, format!("No {what}.")),
            StoreError::InvalidInput(what) => Self::new(StatusCode::BAD_REQUEST, what),
            other => {
                tracing::error!(error = %other, "dashboard: the store failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The store failed; the server's log says why.",
                )
            }
        }
    }
}

impl From<minijinja::Error> for PageError {
    fn from(err: minijinja::Error) -> Self {
        tracing::error!(error = %err, detail = ?err, "dashboard: a template failed");
        #[cfg(debug_assertions)]
        eprintln!("dashboard template error: {err:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A page template failed; the server's log says why.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} · hpti</title>\
             <link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body class=\"error-page\">\
             <main><h1>{status}</h1><p>{message}</p><p><a href=\"/\">Overview</a></p></main></body></html>",
            status = self.status,
            message = escape(&self.message),
        );
        (self.status, Html(body)).into_response()
    }
}

/// HTML-escapes `text` for element content and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}
