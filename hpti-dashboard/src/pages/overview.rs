//! The overview: events over time by kind, the window's totals, the world map, and the
//! top addresses' countries and networks, credentials, commands and client versions.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use hpti_store::query::MAX_LIMIT;
use serde::Serialize;

use crate::Dashboard;
use crate::charts;
use crate::error::PageError;
use crate::session::Login;

/// Rows of each top list.
const TOP: usize = 10;

/// A ranked name with its count (and, for countries and networks, the events).
#[derive(Debug, Serialize)]
struct Ranked {
    name: String,
    /// A page that filters by it, if any.
    href: Option<String>,
    count: u64,
    events: u64,
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
    let store = dashboard.api.event_queries().clone();
    let window = picked.window(MAX_LIMIT);
    let top = picked.window(TOP as u32);
    // The same keys as the lists' pages: a click from here to a list reuses the rows.
    let series_key = format!("series{}", picked.bucket_micros);
    let (series, attackers, sessions, credentials, commands) = futures::join!(
        dashboard.ranked(
            &series_key,
            &picked,
            1,
            store.timeseries(picked.window(1), picked.bucket_micros, None),
        ),
        dashboard.ranked("attackers", &picked, MAX_LIMIT, store.attackers(window)),
        dashboard.ranked("sessions", &picked, MAX_LIMIT, store.sessions(window)),
        dashboard.ranked("credentials", &picked, TOP as u32, store.credentials(top)),
        dashboard.ranked("commands", &picked, TOP as u32, store.commands(top)),
    );
    let series = series?;
    let attackers = attackers?;
    let sessions = sessions?;
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

    let mut by_country: HashMap<String, (u64, u64)> = HashMap::new();
    let mut by_asn: HashMap<u32, (u64, u64)> = HashMap::new();
    for attacker in attackers.iter() {
        if let Some(country) = &attacker.country {
            let entry = by_country.entry(country.clone()).or_default();
            entry.0 += 1;
            entry.1 += attacker.events;
        }
        if let Some(asn) = attacker.asn {
            let entry = by_asn.entry(asn).or_default();
            entry.0 += 1;
            entry.1 += attacker.events;
        }
    }
    let map = charts::world_map(
        &by_country
            .iter()
            .map(|(code, (addresses, _))| (code.clone(), *addresses))
            .collect(),
    );
    let window_pairs = picked.pairs();
    let attackers_link = |key: &str, value: &str| {
        let mut pairs: Vec<(&str, &str)> = window_pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push((key, value));
        crate::table::Query::default().link("/attackers", &pairs)
    };
    let countries = rank(by_country.into_iter().map(|(code, (n, e))| {
        let name = match charts::country_name(&code) {
            Some(name) => format!("{name} ({code})"),
            None => code.clone(),
        };
        let href = Some(attackers_link("country", &code));
        Ranked {
            name,
            href,
            count: n,
            events: e,
        }
    }));
    let asns = rank(by_asn.into_iter().map(|(asn, (n, e))| Ranked {
        name: format!("AS{asn}"),
        href: Some(attackers_link("asn", &asn.to_string())),
        count: n,
        events: e,
    }));
    let mut by_version: HashMap<&str, u64> = HashMap::new();
    for session in sessions.iter() {
        if let Some(version) = &session.client_version {
            *by_version.entry(version.as_str()).or_default() += 1;
        }
    }
    let versions = rank(by_version.into_iter().map(|(version, n)| Ranked {
        name: version.to_owned(),
        href: None,
        count: n,
        events: 0,
    }));
    let context = minijinja::context! {
        title => "Overview",
        nav => "overview",
        picker,
        chart,
        map,
        totals => minijinja::context! {
            events,
            attackers => attackers.len(),
            attackers_capped => attackers.len() >= MAX_LIMIT as usize,
            logins => total_of("login.attempt"),
            commands => total_of("command.input"),
            downloads => total_of("file.download"),
            uploads => total_of("file.upload"),
            sessions => sessions.len(),
            sessions_capped => sessions.len() >= MAX_LIMIT as usize,
        },
        cap => MAX_LIMIT,
        countries,
        asns,
        versions,
        credentials => credentials?.as_ref(),
        commands => commands?.as_ref(),
        attackers => attackers.iter().take(TOP).collect::<Vec<_>>(),
        window_query => crate::table::Query::default().link("", &window_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()),
    };
    crate::render::view(&dashboard, "overview.html", context, &login, &headers)
}

/// The `TOP` largest by count (ties by name).
fn rank(rows: impl Iterator<Item = Ranked>) -> Vec<Ranked> {
    let mut rows: Vec<Ranked> = rows.collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    rows.truncate(TOP);
    rows
}
