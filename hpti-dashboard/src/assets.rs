//! The static files, compiled into the binary: the dashboard's stylesheet and script and
//! the vendored asciinema player (`assets/vendor/`, see its README for provenance).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (path under `/assets/`, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "vendor/asciinema-player/asciinema-player.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/asciinema-player/asciinema-player.min.js"),
    ),
    (
        "vendor/asciinema-player/asciinema-player.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/asciinema-player/asciinema-player.css"),
    ),
];

/// `GET /assets/{file}`: a static file, cached by the browser for an hour.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(path, _, _)| *path == file) {
        Some((_, content_type, bytes)) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            response
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
