//! Sessions with filters, and one session's events with its terminal recording played
//! in the page (the vendored asciinema player reads the API's recording route).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hpti_core::event::EventKind;
use hpti_store::SessionSummary;
use hpti_store::query::MAX_LIMIT;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Login;
use crate::table::{self, Column, SortKey};

fn columns() -> Vec<Column<SessionSummary>> {
    vec![
        Column {
            name: "started",
            label: "Started",
            key: |r| SortKey::Num(r.started.as_micros() as f64),
            descending_first: true,
        },
        Column {
            name: "ip",
            label: "Address",
            key: |r| SortKey::Text(r.src_ip.to_string()),
            descending_first: false,
        },
        Column {
            name: "protocol",
            label: "Protocol",
            key: |r| SortKey::Text(r.protocol.clone()),
            descending_first: false,
        },
        Column {
            name: "sensor",
            label: "Sensor",
            key: |r| SortKey::Text(r.sensor.clone()),
            descending_first: false,
        },
        Column {
            name: "client",
            label: "Client",
            key: |r| SortKey::Text(r.client_version.clone().unwrap_or_default()),
            descending_first: false,
        },
        Column {
            name: "logins",
            label: "Logins",
            key: |r| SortKey::Num(r.login_attempts as f64),
            descending_first: true,
        },
        Column {
            name: "commands",
            label: "Commands",
            key: |r| SortKey::Num(r.commands as f64),
            descending_first: true,
        },
        Column {
            name: "downloads",
            label: "Downloads",
            key: |r| SortKey::Num(r.downloads as f64),
            descending_first: true,
        },
        Column {
            name: "duration",
            label: "Duration",
            key: |r| SortKey::Num(r.duration_ms.unwrap_or(0) as f64),
            descending_first: true,
        },
    ]
}

/// `GET /sessions`: filters `q` (session id, address or client), `protocol`, `sensor`,
/// `ip`, `logged_in` (`yes`/`no`), `commands` (`yes`: only sessions that ran one).
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
    dashboard.viewed(crate::warm::Page::Sessions);
    let rows = rows(&dashboard, &picked).await?;
    let mut protocols: Vec<String> = rows.iter().map(|r| r.protocol.clone()).collect();
    protocols.sort();
    protocols.dedup();
    let mut sensors: Vec<String> = rows.iter().map(|r| r.sensor.clone()).collect();
    sensors.sort();
    sensors.dedup();
    let q = query.get("q").unwrap_or("").to_owned();
    let protocol = query.get("protocol").map(str::to_owned);
    let sensor = query.get("sensor").map(str::to_owned);
    let ip = query.get("ip").map(str::to_owned);
    let logged_in = match query.get("logged_in") {
        None => None,
        Some("yes") => Some(true),
        Some("no") => Some(false),
        Some(other) => {
            return Err(PageError::bad_parameter(
                "logged_in",
                format!("{other:?} is not yes or no"),
            ));
        }
    };
    let with_commands = query.get("commands") == Some("yes");
    let table = table::build(
        "/sessions",
        &query,
        &rows,
        &columns(),
        "started",
        |r| {
            (table::contains(&r.session, &q)
                || table::contains(&r.src_ip.to_string(), &q)
                || table::contains(r.client_version.as_deref().unwrap_or(""), &q))
                && protocol.as_ref().is_none_or(|p| &r.protocol == p)
                && sensor.as_ref().is_none_or(|s| &r.sensor == s)
                && ip.as_ref().is_none_or(|ip| r.src_ip.to_string() == *ip)
                && logged_in.is_none_or(|l| r.logged_in == l)
                && (!with_commands || r.commands > 0)
        },
        |r| r,
    );
    let context = minijinja::context! {
        title => "Sessions",
        nav => "sessions",
        picker,
        table,
        q,
        protocol,
        sensor,
        ip,
        logged_in => query.get("logged_in"),
        with_commands,
        protocols,
        sensors,
    };
    crate::render::view(&dashboard, "sessions.html", context, &login, &headers)
}

/// `GET /sessions/{id}`.
pub(crate) async fn detail(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(PageError::bad_parameter("session", "not a session id"));
    }
    let detail = dashboard.api.event_queries().session(&id).await?;
    let has_recording = detail.events.iter().any(|e| {
        matches!(
            &e.kind,
            EventKind::SessionClosed {
                recording: Some(_),
                ..
            }
        )
    }) && dashboard.api.data_dir().is_some();
    let recording =
        has_recording.then(|| format!("/api/v1/sessions/{}/recording", super::path_segment(&id)));
    let events: Vec<_> = detail.events.iter().map(super::live::row).collect();
    let context = minijinja::context! {
        title => format!("Session {id}"),
        nav => "sessions",
        summary => detail.summary,
        events,
        truncated => detail.truncated,
        recording,
    };
    crate::render::view(&dashboard, "session.html", context, &login, &headers)
}

/// The page's rows for `picked` (every row the window has, up to the store's limit),
/// through the cache.
pub(crate) async fn rows(
    dashboard: &Dashboard,
    picked: &crate::window::Picked,
) -> Result<std::sync::Arc<Vec<SessionSummary>>, hpti_store::StoreError> {
    dashboard
        .ranked("sessions", picked, MAX_LIMIT, {
            let window = picked.window(MAX_LIMIT);
            move |store| async move { store.sessions(window).await }
        })
        .await
}
