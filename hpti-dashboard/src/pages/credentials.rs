//! Credential pairs ranked by attempts.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use hpti_store::CredentialCount;
use hpti_store::query::MAX_LIMIT;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Login;
use crate::table::{self, Column, SortKey};

fn columns() -> Vec<Column<CredentialCount>> {
    vec![
        Column {
            name: "username",
            label: "Username",
            key: |r| SortKey::Text(r.username.clone()),
            descending_first: false,
        },
        Column {
            name: "password",
            label: "Password",
            key: |r| SortKey::Text(r.password.clone().unwrap_or_default()),
            descending_first: false,
        },
        Column {
            name: "attempts",
            label: "Attempts",
            key: |r| SortKey::Num(r.attempts as f64),
            descending_first: true,
        },
        Column {
            name: "successes",
            label: "Accepted",
            key: |r| SortKey::Num(r.successes as f64),
            descending_first: true,
        },
        Column {
            name: "sources",
            label: "Addresses",
            key: |r| SortKey::Num(r.sources as f64),
            descending_first: true,
        },
    ]
}

/// `GET /credentials`: filters `username`, `password` (substrings), `accepted=yes`.
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
    dashboard.viewed(crate::warm::Page::Credentials);
    let rows = rows(&dashboard, &picked).await?;
    let username = query.get("username").unwrap_or("").to_owned();
    let password = query.get("password").unwrap_or("").to_owned();
    let accepted = query.get("accepted") == Some("yes");
    let table = table::build(
        "/credentials",
        &query,
        &rows,
        &columns(),
        "attempts",
        |r| {
            table::contains(&r.username, &username)
                && table::contains(r.password.as_deref().unwrap_or(""), &password)
                && (!accepted || r.successes > 0)
        },
        |r| r,
    );
    let context = minijinja::context! {
        title => "Credentials",
        nav => "credentials",
        picker,
        table,
        username,
        password,
        accepted,
    };
    crate::render::view(&dashboard, "credentials.html", context, &login, &headers)
}

/// The page's rows for `picked` (every row the window has, up to the store's limit),
/// through the cache.
pub(crate) async fn rows(
    dashboard: &Dashboard,
    picked: &crate::window::Picked,
) -> Result<std::sync::Arc<Vec<CredentialCount>>, hpti_store::StoreError> {
    dashboard
        .ranked("credentials", picked, MAX_LIMIT, {
            let window = picked.window(MAX_LIMIT);
            move |store| async move { store.credentials(window).await }
        })
        .await
}
