//! Command lines ranked by count, and the sessions that ran one of them.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use hpti_store::query::MAX_LIMIT;
use hpti_store::{CommandCount, EventFilter};
use serde::Serialize;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Login;
use crate::table::{self, Column, SortKey};

/// Most events read for the sessions of one command line.
const RUNS: u32 = 500;

fn columns() -> Vec<Column<CommandCount>> {
    vec![
        Column {
            name: "command",
            label: "Command",
            key: |r| SortKey::Text(r.command.clone()),
            descending_first: false,
        },
        Column {
            name: "count",
            label: "Times",
            key: |r| SortKey::Num(r.count as f64),
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

/// A session that ran the selected command line.
#[derive(Debug, Serialize)]
struct Run {
    session: Option<String>,
    src_ip: String,
    time: String,
    sensor: String,
    times: u64,
}

/// `GET /commands`: filter `q` (substring); `show` lists the sessions that ran that
/// exact command line in the window.
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
    let store = dashboard.api.event_queries().clone();
    dashboard.viewed(crate::warm::Page::Commands);
    let rows = rows(&dashboard, &picked).await?;
    let q = query.get("q").unwrap_or("").to_owned();
    let show = query.get("show").map(str::to_owned);
    let mut runs: Vec<Run> = Vec::new();
    let mut runs_capped = false;
    if let Some(command) = &show {
        let page = store
            .events(
                picked.window(RUNS),
                &EventFilter::default().command(command.clone()),
                None,
            )
            .await?;
        runs_capped = page.next.is_some();
        for event in &page.events {
            match runs.iter_mut().find(|r| r.session == event.session) {
                Some(run) => run.times += 1,
                None => runs.push(Run {
                    session: event.session.clone(),
                    src_ip: event.src_ip.to_string(),
                    time: super::live::row(event).time,
                    sensor: event.sensor.clone(),
                    times: 1,
                }),
            }
        }
    }
    let path = "/commands";
    let table = table::build(
        path,
        &query,
        &rows,
        &columns(),
        "count",
        |r| table::contains(&r.command, &q),
        |r| {
            let href = query.link(path, &[("show", &r.command)]);
            minijinja::context! { row => r, href }
        },
    );
    let context = minijinja::context! {
        title => "Commands",
        nav => "commands",
        picker,
        table,
        q,
        show,
        runs,
        runs_capped,
        runs_limit => RUNS,
        hide => query.link(path, &[("show", "")]),
    };
    crate::render::view(&dashboard, "commands.html", context, &login, &headers)
}

/// The page's rows for `picked` (every row the window has, up to the store's limit),
/// through the cache.
pub(crate) async fn rows(
    dashboard: &Dashboard,
    picked: &crate::window::Picked,
) -> Result<std::sync::Arc<Vec<CommandCount>>, hpti_store::StoreError> {
    dashboard
        .ranked("commands", picked, MAX_LIMIT, {
            let window = picked.window(MAX_LIMIT);
            move |store| async move { store.commands(window).await }
        })
        .await
}
