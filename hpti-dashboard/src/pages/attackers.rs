//! Attacking addresses, and everything known about one.

use std::net::IpAddr;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hpti_store::query::MAX_LIMIT;
use hpti_store::{AttackerSummary, EventFilter, Window};

use crate::Dashboard;
use crate::charts;
use crate::error::PageError;
use crate::session::Login;
use crate::table::{self, Column, SortKey};

/// Events of an address's timeline.
const TIMELINE: u32 = 200;

fn columns() -> Vec<Column<AttackerSummary>> {
    vec![
        Column {
            name: "ip",
            label: "Address",
            key: |r| SortKey::Text(r.src_ip.to_string()),
            descending_first: false,
        },
        Column {
            name: "country",
            label: "Country",
            key: |r| SortKey::Text(r.country.clone().unwrap_or_default()),
            descending_first: false,
        },
        Column {
            name: "asn",
            label: "AS",
            key: |r| SortKey::Num(f64::from(r.asn.unwrap_or(0))),
            descending_first: false,
        },
        Column {
            name: "events",
            label: "Events",
            key: |r| SortKey::Num(r.events as f64),
            descending_first: true,
        },
        Column {
            name: "sessions",
            label: "Sessions",
            key: |r| SortKey::Num(r.sessions as f64),
            descending_first: true,
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
    ]
}

/// `GET /attackers`: filters `q` (address), `country`, `asn`.
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
    dashboard.viewed(crate::warm::Page::Attackers);
    let rows = rows(&dashboard, &picked).await?;
    let q = query.get("q").unwrap_or("").to_owned();
    let country = query.get("country").map(str::to_ascii_uppercase);
    let asn = match query.get("asn") {
        Some(text) => Some(text.trim_start_matches("AS").parse::<u32>().map_err(|_| {
            PageError::bad_parameter("asn", format!("{text:?} is not an AS number"))
        })?),
        None => None,
    };
    let table = table::build(
        "/attackers",
        &query,
        &rows,
        &columns(),
        "events",
        |r| {
            table::contains(&r.src_ip.to_string(), &q)
                && country
                    .as_ref()
                    .is_none_or(|c| r.country.as_deref() == Some(c.as_str()))
                && asn.is_none_or(|a| r.asn == Some(a))
        },
        |r| {
            let name = r.country.as_deref().and_then(charts::country_name);
            minijinja::context! { row => r, country_name => name }
        },
    );
    let context = minijinja::context! {
        title => "Attackers",
        nav => "attackers",
        picker,
        table,
        q,
        country,
        asn,
        reset => query.link("/attackers", &[("q", ""), ("country", ""), ("asn", "")]),
    };
    crate::render::view(&dashboard, "attackers.html", context, &login, &headers)
}

/// `GET /attackers/{ip}`.
pub(crate) async fn detail(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    Path(ip): Path<String>,
) -> Result<Response, PageError> {
    let address: IpAddr = ip
        .parse()
        .map_err(|_| PageError::bad_parameter("address", format!("{ip:?} is not an IP address")))?;
    let store = dashboard.api.event_queries().clone();
    let filter = EventFilter::default().src_ip(address);
    let (detail, timeline) = futures::join!(
        store.attacker(address),
        store.events(Window::default().limit(TIMELINE), &filter, None),
    );
    let detail = detail?;
    let timeline = timeline?;
    let country_name = detail
        .summary
        .country
        .as_deref()
        .and_then(charts::country_name);
    let events: Vec<_> = timeline.events.iter().map(super::live::row).collect();
    let context = minijinja::context! {
        title => format!("Attacker {address}"),
        nav => "attackers",
        detail,
        country_name,
        timeline => events,
        timeline_more => timeline.next.is_some(),
        timeline_limit => TIMELINE,
    };
    crate::render::view(&dashboard, "attacker.html", context, &login, &headers)
}

/// The page's rows for `picked` (every row the window has, up to the store's limit),
/// through the cache.
pub(crate) async fn rows(
    dashboard: &Dashboard,
    picked: &crate::window::Picked,
) -> Result<std::sync::Arc<Vec<AttackerSummary>>, hpti_store::StoreError> {
    dashboard
        .ranked("attackers", picked, MAX_LIMIT, {
            let window = picked.window(MAX_LIMIT);
            move |store| async move { store.attackers(window).await }
        })
        .await
}
