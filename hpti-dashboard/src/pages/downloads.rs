//! Captured files: the reference design's downloads page (hash, type, category, size,
//! count, first and last seen, sources, URLs, VirusTotal detections, YARA matches), and
//! one file with an escaped preview of its text and, for admins, the zipped file.

use std::io::Read as _;
use std::path::PathBuf;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hpti_store::DownloadSummary;
use hpti_store::query::MAX_LIMIT;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Login;
use crate::table::{self, Column, SortKey};

/// Most bytes of a text file previewed.
const PREVIEW_BYTES: u64 = 16 * 1024;

fn columns() -> Vec<Column<DownloadSummary>> {
    vec![
        Column {
            name: "sha256",
            label: "SHA-256",
            key: |r| SortKey::Text(r.sha256.clone()),
            descending_first: false,
        },
        Column {
            name: "type",
            label: "Type",
            key: |r| SortKey::Text(r.file.file_type.clone().unwrap_or_default()),
            descending_first: false,
        },
        Column {
            name: "category",
            label: "Category",
            key: |r| SortKey::Text(r.file.file_category.clone().unwrap_or_default()),
            descending_first: false,
        },
        Column {
            name: "size",
            label: "Size",
            key: |r| SortKey::Num(r.size.unwrap_or(0) as f64),
            descending_first: true,
        },
        Column {
            name: "count",
            label: "Count",
            key: |r| SortKey::Num(r.count as f64),
            descending_first: true,
        },
        Column {
            name: "first",
            label: "First seen",
            key: |r| SortKey::Num(r.first_seen.as_micros() as f64),
            descending_first: false,
        },
        Column {
            name: "last",
            label: "Last seen",
            key: |r| SortKey::Num(r.last_seen.as_micros() as f64),
            descending_first: true,
        },
        Column {
            name: "sources",
            label: "Sources",
            key: |r| SortKey::Num(r.sources as f64),
            descending_first: true,
        },
        Column {
            name: "vt",
            label: "VirusTotal",
            key: |r| SortKey::Num(f64::from(r.file.vt_detections.unwrap_or(0))),
            descending_first: true,
        },
    ]
}

/// `GET /downloads`: filters `q` (hash, URL, file name or type), `category`, `yara=yes`
/// (only files a rule matched), `vt=yes` (only files VirusTotal engines flag).
pub(crate) async fn list(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    super::Listing {
        query,
        picked,
        picker,
    }: super::Listing,
) -> Result<Response, PageError> {
    dashboard.viewed(crate::warm::Page::Downloads);
    let rows = rows(&dashboard, &picked).await?;
    let mut categories: Vec<String> = rows
        .iter()
        .filter_map(|r| r.file.file_category.clone())
        .collect();
    categories.sort();
    categories.dedup();
    let q = query.get("q").unwrap_or("").to_owned();
    let category = query.get("category").map(str::to_owned);
    let yara = query.get("yara") == Some("yes");
    let vt = query.get("vt") == Some("yes");
    let table = table::build(
        "/downloads",
        &query,
        &rows,
        &columns(),
        "count",
        |r| {
            (table::contains(&r.sha256, &q)
                || r.urls.iter().any(|u| table::contains(u, &q))
                || r.filenames.iter().any(|f| table::contains(f, &q))
                || table::contains(r.file.file_type.as_deref().unwrap_or(""), &q))
                && category
                    .as_ref()
                    .is_none_or(|c| r.file.file_category.as_ref() == Some(c))
                && (!yara || !r.file.yara_matches.is_empty())
                && (!vt || r.file.vt_detections.is_some_and(|d| d > 0))
        },
        |r| r,
    );
    let context = minijinja::context! {
        title => "Downloads",
        nav => "downloads",
        picker,
        table,
        q,
        category,
        categories,
        yara,
        vt,
    };
    crate::render::view(&dashboard, "downloads.html", context, &login, &headers)
}

/// `GET /downloads/{sha256}`.
pub(crate) async fn detail(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Result<Response, PageError> {
    let sha256 = sha256.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PageError::bad_parameter(
            "sha256",
            "not a SHA-256 (64 hex digits)",
        ));
    }
    let row = dashboard.api.event_queries().download(&sha256).await?;
    let path: Option<PathBuf> = dashboard
        .api
        .data_dir()
        .and_then(|dir| hpti_core::file::artifact_path(&dir.join("artifacts"), &sha256));
    let previewable = row.file.is_previewable
        || matches!(row.file.file_category.as_deref(), Some("script" | "text"));
    let (exists, preview) = match path {
        Some(path) => tokio::task::spawn_blocking(move || read_preview(&path, previewable))
            .await
            .unwrap_or((false, None)),
        None => (false, None),
    };
    let context = minijinja::context! {
        title => format!("File {sha256}"),
        nav => "downloads",
        row,
        exists,
        preview => preview.as_ref().map(|(text, _)| text.clone()),
        preview_cut => preview.as_ref().is_some_and(|(_, cut)| *cut),
        preview_limit => PREVIEW_BYTES,
        content_url => exists.then(|| format!("/api/v1/downloads/{sha256}/content")),
        password => hpti_api::ZIP_PASSWORD,
    };
    crate::render::view(&dashboard, "download.html", context, &login, &headers)
}

/// Whether the file exists, and its first bytes as text (lossy UTF-8) with whether it
/// was cut, when it is text.
fn read_preview(path: &std::path::Path, previewable: bool) -> (bool, Option<(String, bool)>) {
    let Ok(file) = std::fs::File::open(path) else {
        return (false, None);
    };
    if !previewable {
        return (true, None);
    }
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if file.take(PREVIEW_BYTES).read_to_end(&mut bytes).is_err() {
        return (true, None);
    }
    // Binary content is not previewed even when the analysis said text.
    if bytes.contains(&0) {
        return (true, None);
    }
    (
        true,
        Some((
            String::from_utf8_lossy(&bytes).into_owned(),
            size > PREVIEW_BYTES,
        )),
    )
}

/// The page's rows for `picked` (every row the window has, up to the store's limit),
/// through the cache.
pub(crate) async fn rows(
    dashboard: &Dashboard,
    picked: &crate::window::Picked,
) -> Result<std::sync::Arc<Vec<DownloadSummary>>, hpti_store::StoreError> {
    dashboard
        .ranked("downloads", picked, MAX_LIMIT, {
            let window = picked.window(MAX_LIMIT);
            move |store| async move { store.downloads(window).await }
        })
        .await
}
