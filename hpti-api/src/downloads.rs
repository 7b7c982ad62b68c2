//! The downloads view: every captured file with how it arrived and what it is
//! (`/downloads`, `/downloads/{sha256}`), and its content for admins, zipped with the
//! password `infected` (`/downloads/{sha256}/content`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hpti_store::{DownloadSummary, EventQueries};
use serde::Serialize;

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::{Aggregate, Items};

/// The password of the zip a captured file is served in: the convention of malware
/// repositories, so that nothing opens or scans the file by accident.
pub const ZIP_PASSWORD: &str = "infected";

/// Zips built at once: each holds up to a whole captured file in memory.
const CONCURRENT_ZIPS: usize = 4;

/// One captured file as the downloads page shows it: the store's row, with the names
/// Cowrie's tooling uses (`shasum`, `timestamp`, `outfile`) and whether the artifact
/// store still holds the file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DownloadView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    row: DownloadSummary,
    /// The SHA-256 again, under Cowrie's name.
    shasum: String,
    /// When the latest download happened (the row's `last_seen`).
    #[schema(value_type = String)]
    timestamp: hpti_core::event::Timestamp,
    /// Where the file is kept, relative to the data directory.
    outfile: Option<String>,
    /// Whether the artifact store still holds the file.
    exists: bool,
    /// Where an admin downloads it (zipped), when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_url: Option<String>,
}

impl DownloadView {
    /// `row` with what the artifact store under `data_dir` says of it (blocking: a stat).
    fn new(row: DownloadSummary, data_dir: Option<&Path>) -> Self {
        let relative = hpti_core::file::artifact_path(Path::new("artifacts"), &row.sha256);
        let exists = match (data_dir, &relative) {
            (Some(dir), Some(relative)) => dir.join(relative).is_file(),
            _ => false,
        };
        Self {
            shasum: row.sha256.clone(),
            timestamp: row.last_seen,
            outfile: relative.map(|p| p.to_string_lossy().into_owned()),
            exists,
            content_url: exists.then(|| format!("/api/v1/downloads/{}/content", row.sha256)),
            row,
        }
    }
}

/// The views of `rows`, off the async workers (each checks the file system).
async fn views(
    rows: Vec<DownloadSummary>,
    data_dir: Option<PathBuf>,
) -> Result<Vec<DownloadView>, ApiError> {
    tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .map(|row| DownloadView::new(row, data_dir.as_deref()))
            .collect()
    })
    .await
    .map_err(ApiError::internal)
}

/// Captured files ranked by downloads in the window, each with its latest download,
/// file type, YARA matches and VirusTotal verdict (one SQL statement).
#[utoipa::path(get, path = "/api/v1/downloads", params(crate::routes::WindowParams),
    responses((status = 200, body = Items<DownloadView>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn downloads(request: Aggregate) -> Result<Response, ApiError> {
    let data_dir = request.state().inner.data_dir.clone();
    request
        .ranked_with(move |queries: &dyn EventQueries, window| {
            Box::pin(async move {
                let rows = queries.downloads(window).await?;
                views(rows, data_dir).await
            })
        })
        .await
}

/// `sha256` in lower case if it is 64 hex digits; a 400 naming the parameter if not.
fn checked_sha256(sha256: &str) -> Result<String, ApiError> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha256.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_parameter(
            "sha256",
            "expected 64 hexadecimal digits",
        ))
    }
}

/// One captured file, over all time.
#[utoipa::path(get, path = "/api/v1/downloads/{sha256}",
    params(("sha256" = String, Path, description = "The file's SHA-256")),
    responses((status = 200, body = DownloadView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn download(
    State(state): State<ApiState>,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<DownloadView>, ApiError> {
    Params::parse(query.as_deref(), &[])?;
    let sha256 = checked_sha256(&sha256)?;
    let row = state.queries().download(&sha256).await?;
    let mut view = views(vec![row], state.inner.data_dir.clone()).await?;
    view.pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("no view of the row"))
}

/// A captured file's content, for admins only: a zip encrypted with the password
/// `infected` (ZipCrypto, which every unzip tool reads), always as an attachment.
#[utoipa::path(get, path = "/api/v1/downloads/{sha256}/content",
    params(("sha256" = String, Path, description = "The file's SHA-256")),
    responses(
        (status = 200, description = "application/zip holding the file, password `infected`", content_type = "application/zip"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin token"),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn content(
    State(state): State<ApiState>,
    caller: axum::Extension<Caller>,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "captured files are served to admin tokens only",
        ));
    }
    Params::parse(query.as_deref(), &[])?;
    let sha256 = checked_sha256(&sha256)?;
    let missing = || ApiError::not_found(format!("file {sha256} is not in the artifact store"));
    let dir = state.inner.data_dir.clone().ok_or_else(missing)?;
    let path =
        hpti_core::file::artifact_path(&dir.join("artifacts"), &sha256).ok_or_else(missing)?;
    let _permit = state
        .inner
        .zips
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let name = sha256.clone();
    let zipped = tokio::task::spawn_blocking(move || zip_file(&path, &name))
        .await
        .map_err(ApiError::internal)?;
    let zipped = match zipped {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let mut response = Body::from(zipped).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"{sha256}.zip\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The file at `path` in a zip of its own, named `name`, encrypted with
/// [`ZIP_PASSWORD`]. Blocking.
fn zip_file(path: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    use zip::unstable::write::FileOptionsExt as _;
    let content = std::fs::read(path)?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o600)
        .with_deprecated_encryption(ZIP_PASSWORD.as_bytes());
    zip.start_file(name, options)
        .map_err(std::io::Error::other)?;
    zip.write_all(&content)?;
    let cursor = zip.finish().map_err(std::io::Error::other)?;
    Ok(cursor.into_inner())
}

/// How many zips may be built at once.
pub(crate) fn zip_permits() -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(CONCURRENT_ZIPS)
}
