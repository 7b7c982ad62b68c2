//! The overview: events over time by kind, the window's totals, the world map, the
//! countries and networks of the window's addresses, and the top addresses, credentials,
//! commands and client versions.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use std::sync::Arc;

use hpti_store::{
    AttackerSummary, CommandCount, CredentialCount, StoreError, TimeBucket, WindowOverview,
};

use crate::Dashboard;
use crate::charts;
use crate::error::PageError;
use crate::session::Login;
use crate::window::Picked;

/// Rows of each top list.
const TOP: usize = 10;

/// Countries the map shades (every country there is, in practice).
const MAP_COUNTRIES: u32 = 300;

/// A ranked name with its count (addresses for countries and networks, sessions for
/// client versions).
#[derive(Debug, Serialize)]
struct Ranked {
    name: String,
    /// A page that filters by it, if any.
    href: Option<String>,
    count: u64,
}

/// `GET /`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    super::Listing {
        query: _,
        picked,
        picker,
    }: super::Listing,
) -> Result<Response, PageError> {
    dashboard.viewed(crate::warm::Page::Overview);
    let (series, spread, attackers, credentials, commands) = gather(&dashboard, &picked).await;
    let series = series?;
    let spread = spread?;
    let attackers = attackers?;
    let chart = charts::time_chart(
        &series,
        picked.since.as_micros(),
        picked.until.as_micros(),
        picked.bucket_micros,
    );
    let total_of = |kind: &str| -> u64 {
        series
            .iter()
            .filter(|b| b.kind == kind)
            .map(|b| b.count)
            .sum()
    };
    let events: u64 = series.iter().map(|b| b.count).sum();
    // The map shades every country of the window; the tables show the top ones.
    let map = charts::world_map(&spread.countries.iter().cloned().collect());
    let window_pairs = picked.pairs();
    let attackers_link = |key: &str, value: &str| {
        let mut pairs: Vec<(&str, &str)> = window_pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push((key, value));
        crate::table::Query::default().link("/attackers", &pairs)
    };
    let countries: Vec<Ranked> = spread
        .countries
        .iter()
        .take(TOP)
        .map(|(code, n)| Ranked {
            name: match charts::country_name(code) {
                Some(name) => format!("{name} ({code})"),
                None => code.clone(),
            },
            href: Some(attackers_link("country", code)),
            count: *n,
        })
        .collect();
    let asns: Vec<Ranked> = spread
        .asns
        .iter()
        .take(TOP)
        .map(|(asn, n)| Ranked {
            name: format!("AS{asn}"),
            href: Some(attackers_link("asn", &asn.to_string())),
            count: *n,
        })
        .collect();
    let versions: Vec<Ranked> = spread
        .client_versions
        .iter()
        .take(TOP)
        .map(|(version, n)| Ranked {
            name: version.clone(),
            href: None,
            count: *n,
        })
        .collect();
    let context = minijinja::context! {
        title => "Overview",
        nav => "overview",
        picker,
        chart,
        map,
        totals => minijinja::context! {
            events,
            attackers => spread.addresses,
            logins => total_of("login.attempt"),
            commands => total_of("command.input"),
            downloads => total_of("file.download"),
            uploads => total_of("file.upload"),
            sessions => total_of("session.started"),
        },
        countries,
        asns,
        versions,
        credentials => credentials?.as_ref(),
        commands => commands?.as_ref(),
        attackers => attackers.as_ref(),
        window_query => crate::table::Query::default().link("", &window_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()),
    };
    crate::render::view(&dashboard, "overview.html", context, &login, &headers)
}

/// The overview's answers for `picked`, each through the cache (one may fail alone).
#[allow(clippy::type_complexity)]
pub(crate) async fn gather(
    dashboard: &Dashboard,
    picked: &Picked,
) -> (
    Result<Arc<Vec<TimeBucket>>, StoreError>,
    Result<Arc<WindowOverview>, StoreError>,
    Result<Arc<Vec<AttackerSummary>>, StoreError>,
    Result<Arc<Vec<CredentialCount>>, StoreError>,
    Result<Arc<Vec<CommandCount>>, StoreError>,
) {
    let top = picked.window(TOP as u32);
    let series_key = format!("series{}", picked.bucket_micros);
    futures::join!(
        dashboard.ranked(&series_key, picked, 1, {
            let (window, bucket) = (picked.window(1), picked.bucket_micros);
            move |store| async move { store.timeseries(window, bucket, None).await }
        },),
        dashboard.ranked("overview", picked, MAP_COUNTRIES, {
            let window = picked.window(MAP_COUNTRIES);
            move |store| async move { store.overview(window).await }
        },),
        dashboard.ranked("attackers", picked, TOP as u32, move |store| async move {
            store.attackers(top).await
        }),
        dashboard.ranked("credentials", picked, TOP as u32, move |store| async move {
            store.credentials(top).await
        }),
        dashboard.ranked("commands", picked, TOP as u32, move |store| async move {
            store.commands(top).await
        }),
    )
}
