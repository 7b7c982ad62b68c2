//! A read-only TAXII 2.1 server (`[api] taxii = true`), behind the API's tokens.
//!
//! Discovery at `/taxii2/`, one API root at `/taxii2/hpti/` with two collections:
//! `hpti-indicators` (the operator's identity, the TLP marking, indicators, malware and
//! their relationships) and `hpti-sightings` (sightings, observed data and the
//! observables). Their objects are the STIX bundle `hpti export stix` would make of the
//! last `taxii_window` of events, recomputed when the store has new events (at most
//! every few seconds).
//!
//! An object's `date_added` is when this server first served that version of it (after
//! a restart, everything is new again): a polling client that passes `added_after` gets
//! every new version, however late the events behind it were stored. Pages are cut by `limit` (at most 1,000) with an
//! opaque `next` that stays valid while the collection changes, and carry
//! `X-TAXII-Date-Added-First`/`-Last`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hpti_core::event::Timestamp;
use hpti_intel::stix::StixObject;
use hpti_store::Window;
use serde_json::{Value, json};

use crate::ApiState;

/// TAXII's media type, on every answer.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// STIX's media type, of the collections' objects.
const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The API root's path segment.
const ROOT: &str = "hpti";
/// Most objects in one page.
const MAX_PAGE: usize = 1_000;
/// Objects in a page when the client does not say.
const DEFAULT_PAGE: usize = 100;
/// The longest request body the server says it accepts (it accepts none: read-only).
const MAX_CONTENT_LENGTH: u64 = 10 * 1024 * 1024;
/// A snapshot is recomputed at most this often, and only when the store moved.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// The two collections: (id, alias, title, description).
const COLLECTIONS: [(&str, &str, &str, &str); 2] = [
    (
        "6e0b2a43-54a1-5c2c-9a3f-1d5e5f8c7b01",
        "hpti-indicators",
        "hpti indicators",
        "Indicators of the addresses, URLs, hosts and files the honeypot saw, with malware families and their relationships",
    ),
    (
        "b7c9d0e4-0f6a-5b31-8e2d-4a7c6b5d3e02",
        "hpti-sightings",
        "hpti sightings",
        "The honeypot's sightings of its indicators, with the observed data and observables",
    ),
];

/// One object of a collection.
#[derive(Debug, Clone)]
struct Entry {
    /// `date_added`, in microseconds.
    added: i64,
    id: String,
    version: String,
    object: Arc<Value>,
}

/// The collections' contents at one store position.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// By collection id, sorted by (`date_added`, id).
    collections: BTreeMap<&'static str, Vec<Entry>>,
}

/// A snapshot, when it was made and at which store position.
type Made = (Instant, Option<u64>, Arc<Snapshot>);

/// The cached snapshot.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    held: tokio::sync::Mutex<Option<Made>>,
}

fn parse_stix_time(text: &str) -> Option<i64> {
    Timestamp::parse_rfc3339(text)
        .ok()
        .map(Timestamp::as_micros)
}

/// The collections of `objects`. A version already in `previous` keeps its `date_added`;
/// a new one is added at `now` (and always after everything added before), so a client
/// polling with `added_after` sees every new version, however late its events were
/// stored.
fn snapshot_of(objects: Vec<StixObject>, previous: Option<&Snapshot>, now: i64) -> Snapshot {
    let mut known: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut latest = i64::MIN;
    for entry in previous
        .iter()
        .flat_map(|p| p.collections.values())
        .flatten()
    {
        known.insert((entry.id.as_str(), entry.version.as_str()), entry.added);
        latest = latest.max(entry.added);
    }
    let added_now = now.max(latest.saturating_add(1));
    // Observables have no version: they are added with the observed data naming them.
    let mut observed_at: BTreeMap<String, String> = BTreeMap::new();
    for object in &objects {
        if let StixObject::ObservedData {
            common,
            object_refs,
            ..
        } = object
        {
            for id in object_refs {
                let entry = observed_at.entry(id.clone()).or_default();
                if common.modified > *entry {
                    *entry = common.modified.clone();
                }
            }
        }
    }
    let mut collections: BTreeMap<&'static str, Vec<Entry>> = BTreeMap::new();
    for object in objects {
        let id = object.id().to_owned();
        let version = match object.version() {
            Some(version) => version.to_owned(),
            None => observed_at.get(&id).cloned().unwrap_or_default(),
        };
        let collection = match object.type_name() {
            "identity" | "marking-definition" => None,
            "indicator" | "malware" | "relationship" => Some(COLLECTIONS[0].0),
            _ => Some(COLLECTIONS[1].0),
        };
        let Ok(value) = serde_json::to_value(&object) else {
            continue;
        };
        let added = known
            .get(&(id.as_str(), version.as_str()))
            .copied()
            .unwrap_or(added_now);
        let entry = Entry {
            added,
            id,
            version,
            object: Arc::new(value),
        };
        match collection {
            Some(collection) => collections.entry(collection).or_default().push(entry),
            // The maker and the marking belong with both.
            None => {
                for (collection, ..) in COLLECTIONS {
                    collections
                        .entry(collection)
                        .or_default()
                        .push(entry.clone());
                }
            }
        }
    }
    for entries in collections.values_mut() {
        entries.sort_by(|a, b| (a.added, &a.id).cmp(&(b.added, &b.id)));
    }
    Snapshot { collections }
}

impl ApiState {
    /// The collections now: the cached snapshot, or a new one when the store moved.
    async fn taxii_snapshot(&self) -> Result<Arc<Snapshot>, TaxiiError> {
        let cache = &self.inner.taxii;
        let mut held = cache.held.lock().await;
        let position = self.queries().position().await.ok().flatten();
        if let Some((made, at, snapshot)) = held.as_ref()
            && (made.elapsed() < REFRESH_EVERY || (position.is_some() && *at == position))
        {
            return Ok(Arc::clone(snapshot));
        }
        let until = Timestamp::now();
        let window_micros = i64::try_from(self.inner.taxii_window.as_micros()).unwrap_or(i64::MAX);
        let window = Window::default()
            .since(until.saturating_add_micros(-window_micros))
            .until(until);
        let intel = &self.inner.intel;
        let artifacts = self.data_dir().map(|d| d.join("artifacts"));
        let report = hpti_intel::ioc::extract(
            self.queries(),
            window,
            intel.ioc_options(),
            artifacts.as_deref(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "TAXII: cannot read the store");
            TaxiiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store cannot answer now",
            )
        })?;
        let bundle = hpti_intel::stix::bundle(&report, &intel.stix_options(0));
        let previous = held.as_ref().map(|(_, _, snapshot)| Arc::clone(snapshot));
        let snapshot = Arc::new(snapshot_of(
            bundle.objects,
            previous.as_deref(),
            Timestamp::now().as_micros(),
        ));
        *held = Some((Instant::now(), position, Arc::clone(&snapshot)));
        Ok(snapshot)
    }
}

/// An error as TAXII's error message resource.
#[derive(Debug)]
struct TaxiiError {
    status: StatusCode,
    title: String,
}

impl TaxiiError {
    fn new(status: StatusCode, title: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
        }
    }

    fn bad(title: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title)
    }

    fn not_found(title: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, title)
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "http_status": self.status.as_u16().to_string(),
        });
        taxii_json(self.status, &body, HeaderMap::new())
    }
}

fn taxii_json(status: StatusCode, body: &Value, mut headers: HeaderMap) -> Response {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TAXII_MEDIA_TYPE),
    );
    (status, headers, body.to_string()).into_response()
}

/// TAXII clients must ask for TAXII 2.1: anything else they accept is a 406.
async fn accept_taxii(request: Request, next: Next) -> Response {
    let accepted = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.replace(' ', "").to_ascii_lowercase())
        .collect::<Vec<_>>();
    let fits = accepted.is_empty()
        || accepted.iter().any(|a| {
            a == "application/taxii+json"
                || a.starts_with("application/taxii+json;") && a.contains("version=2.1")
                || a == "*/*"
        });
    if !fits {
        return TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("this server speaks {TAXII_MEDIA_TYPE}"),
        )
        .into_response();
    }
    next.run(request).await
}

/// The TAXII routes (mounted under the API's token check).
pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route(&format!("/taxii2/{ROOT}/"), get(api_root))
        .route(&format!("/taxii2/{ROOT}/collections/"), get(collections))
        .route(
            &format!("/taxii2/{ROOT}/collections/{{id}}/"),
            get(collection),
        )
        .route(
            &format!("/taxii2/{ROOT}/collections/{{id}}/objects/"),
            get(objects),
        )
        .route(
            &format!("/taxii2/{ROOT}/collections/{{id}}/objects/{{object}}/"),
            get(object),
        )
        .route(
            &format!("/taxii2/{ROOT}/collections/{{id}}/objects/{{object}}/versions/"),
            get(versions),
        )
        .route(
            &format!("/taxii2/{ROOT}/collections/{{id}}/manifest/"),
            get(manifest),
        )
        .layer(middleware::from_fn(accept_taxii))
}

async fn discovery() -> Response {
    taxii_json(
        StatusCode::OK,
        &json!({
            "title": "hpti TAXII server",
            "description": "Indicators and sightings from the hpti honeypot",
            "default": format!("/taxii2/{ROOT}/"),
            "api_roots": [format!("/taxii2/{ROOT}/")],
        }),
        HeaderMap::new(),
    )
}

async fn api_root() -> Response {
    taxii_json(
        StatusCode::OK,
        &json!({
            "title": "hpti",
            "description": "What the honeypot saw, as STIX 2.1",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": MAX_CONTENT_LENGTH,
        }),
        HeaderMap::new(),
    )
}

fn collection_json(index: usize) -> Value {
    let (id, alias, title, description) = COLLECTIONS[index];
    json!({
        "id": id,
        "alias": alias,
        "title": title,
        "description": description,
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

/// A collection by its id or alias.
fn find_collection(id: &str) -> Result<usize, TaxiiError> {
    COLLECTIONS
        .iter()
        .position(|(cid, alias, ..)| *cid == id || *alias == id)
        .ok_or_else(|| TaxiiError::not_found(format!("no collection {id:?}")))
}

async fn collections() -> Response {
    taxii_json(
        StatusCode::OK,
        &json!({ "collections": [collection_json(0), collection_json(1)] }),
        HeaderMap::new(),
    )
}

async fn collection(Path(id): Path<String>) -> Result<Response, TaxiiError> {
    let index = find_collection(&id)?;
    Ok(taxii_json(
        StatusCode::OK,
        &collection_json(index),
        HeaderMap::new(),
    ))
}

/// The filters and page of a request.
#[derive(Debug, Default)]
struct Filters {
    added_after: Option<i64>,
    limit: usize,
    next: Option<(i64, String)>,
    ids: Vec<String>,
    types: Vec<String>,
    versions: Vec<String>,
    spec_versions: Vec<String>,
}

impl Filters {
    fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, TaxiiError> {
        let mut filters = Self {
            limit: DEFAULT_PAGE,
            ..Self::default()
        };
        let list = |value: &str| -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        };
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(TaxiiError::bad(format!("unknown parameter {name:?}")));
            }
            match name.as_ref() {
                "added_after" => {
                    filters.added_after = Some(parse_stix_time(&value).ok_or_else(|| {
                        TaxiiError::bad(format!("added_after: not a timestamp: {value:?}"))
                    })?);
                }
                "limit" => {
                    let limit: usize = value
                        .parse()
                        .map_err(|_| TaxiiError::bad(format!("limit: not a number: {value:?}")))?;
                    if limit == 0 {
                        return Err(TaxiiError::bad("limit: must be at least 1"));
                    }
                    filters.limit = limit.min(MAX_PAGE);
                }
                "next" => {
                    let (added, id) = value
                        .split_once('.')
                        .and_then(|(a, id)| Some((a.parse::<i64>().ok()?, id.to_owned())))
                        .ok_or_else(|| TaxiiError::bad("next: not a token this server gave"))?;
                    filters.next = Some((added, id));
                }
                "match[id]" => filters.ids = list(&value),
                "match[type]" => filters.types = list(&value),
                "match[version]" => filters.versions = list(&value),
                "match[spec_version]" => filters.spec_versions = list(&value),
                _ => {}
            }
        }
        Ok(filters)
    }

    fn matches(&self, entry: &Entry) -> bool {
        let type_name = entry.object["type"].as_str().unwrap_or_default();
        let spec = entry.object["spec_version"].as_str().unwrap_or("2.1");
        // One version of each object: `first`, `last` and `all` all name it.
        let version_ok = self.versions.is_empty()
            || self
                .versions
                .iter()
                .any(|v| matches!(v.as_str(), "first" | "last" | "all") || *v == entry.version);
        self.added_after.is_none_or(|after| entry.added > after)
            && (self.ids.is_empty() || self.ids.contains(&entry.id))
            && (self.types.is_empty() || self.types.iter().any(|t| t == type_name))
            && version_ok
            && (self.spec_versions.is_empty() || self.spec_versions.iter().any(|s| s == spec))
    }
}

/// One page of the entries `filters` match, with its headers.
fn page<'a>(entries: &'a [Entry], filters: &Filters) -> (Vec<&'a Entry>, bool, HeaderMap) {
    let mut matching = entries.iter().filter(|e| filters.matches(e)).filter(|e| {
        filters
            .next
            .as_ref()
            .is_none_or(|(added, id)| (e.added, &e.id) > (*added, id))
    });
    let page: Vec<&Entry> = matching.by_ref().take(filters.limit).collect();
    let more = matching.next().is_some();
    let mut headers = HeaderMap::new();
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        for (name, entry) in [
            ("x-taxii-date-added-first", first),
            ("x-taxii-date-added-last", last),
        ] {
            if let Ok(value) = HeaderValue::from_str(&added_text(entry.added)) {
                headers.insert(name, value);
            }
        }
    }
    (page, more, headers)
}

/// A `date_added`, to the microsecond (what `added_after` is compared with).
fn added_text(micros: i64) -> String {
    Timestamp::from_micros(micros).to_string()
}

/// The envelope (or manifest) of a page, with `more` and `next`.
fn envelope(key: &str, items: Vec<Value>, page: &[&Entry], more: bool) -> Value {
    let mut body = json!({ "more": more });
    if more && let Some(last) = page.last() {
        body["next"] = Value::from(format!("{}.{}", last.added, last.id));
    }
    body[key] = Value::from(items);
    body
}

const LIST_PARAMS: &[&str] = &[
    "added_after",
    "limit",
    "next",
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
];

/// The entries of the collection `id` in the current snapshot, with the request's
/// filters (`allowed` parameters; `only` restricts to one object, which must exist).
async fn select(
    state: &ApiState,
    id: &str,
    query: Option<&str>,
    allowed: &[&str],
    only: Option<String>,
) -> Result<(Arc<Snapshot>, &'static str, Filters), TaxiiError> {
    let index = find_collection(id)?;
    let mut filters = Filters::parse(query, allowed)?;
    let snapshot = state.taxii_snapshot().await?;
    let collection = COLLECTIONS[index].0;
    if let Some(object) = only {
        let known = snapshot
            .collections
            .get(collection)
            .is_some_and(|entries| entries.iter().any(|e| e.id == object));
        if !known {
            return Err(TaxiiError::not_found(format!(
                "no object {object:?} in this collection"
            )));
        }
        filters.ids = vec![object];
    }
    Ok((snapshot, collection, filters))
}

/// The page of a selection as an envelope whose `key` lists `item` of each entry.
fn answer(
    snapshot: &Snapshot,
    collection: &str,
    filters: &Filters,
    key: &str,
    item: impl Fn(&Entry) -> Value,
) -> Response {
    let entries = snapshot
        .collections
        .get(collection)
        .map_or(&[][..], Vec::as_slice);
    let (page, more, headers) = page(entries, filters);
    let items = page.iter().map(|e| item(e)).collect();
    taxii_json(StatusCode::OK, &envelope(key, items, &page, more), headers)
}

async fn objects(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (snapshot, collection, filters) =
        select(&state, &id, query.as_deref(), LIST_PARAMS, None).await?;
    Ok(answer(&snapshot, collection, &filters, "objects", |e| {
        (*e.object).clone()
    }))
}

async fn manifest(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (snapshot, collection, filters) =
        select(&state, &id, query.as_deref(), LIST_PARAMS, None).await?;
    Ok(answer(&snapshot, collection, &filters, "objects", |e| {
        json!({
            "id": e.id,
            "date_added": added_text(e.added),
            "version": e.version,
            "media_type": STIX_MEDIA_TYPE,
        })
    }))
}

async fn object(
    State(state): State<ApiState>,
    Path((id, object)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    const PARAMS: &[&str] = &[
        "added_after",
        "limit",
        "next",
        "match[version]",
        "match[spec_version]",
    ];
    let (snapshot, collection, filters) =
        select(&state, &id, query.as_deref(), PARAMS, Some(object)).await?;
    Ok(answer(&snapshot, collection, &filters, "objects", |e| {
        (*e.object).clone()
    }))
}

async fn versions(
    State(state): State<ApiState>,
    Path((id, object)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    const PARAMS: &[&str] = &["added_after", "limit", "next", "match[spec_version]"];
    let (snapshot, collection, filters) =
        select(&state, &id, query.as_deref(), PARAMS, Some(object)).await?;
    Ok(answer(&snapshot, collection, &filters, "versions", |e| {
        Value::from(e.version.clone())
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use hpti_core::event::{Event, EventKind, Protocol};
    use hpti_intel::ioc::{Extractor, IocOptions};

    fn objects(events: &[(&str, i64)]) -> Vec<StixObject> {
        let mut extractor = Extractor::new(IocOptions {
            include_private: true,
            ..IocOptions::default()
        });
        for (ip, seconds) in events {
            extractor.observe(
                &Event::new(
                    "ssh",
                    Protocol::Ssh,
                    ip.parse().unwrap(),
                    EventKind::SessionStarted,
                )
                .with_time(Timestamp::from_micros(
                    1_780_000_000_000_000 + seconds * 1_000_000,
                )),
            );
        }
        hpti_intel::stix::bundle(&extractor.finish(), &Default::default()).objects
    }

    #[test]
    fn date_added_moves_forward_for_new_versions_only_even_for_late_events() {
        let first = snapshot_of(
            objects(&[("198.51.100.1", 0), ("198.51.100.2", 0)]),
            None,
            5_000,
        );
        let of = |snapshot: &Snapshot, id_part: &str| -> Vec<i64> {
            snapshot.collections[COLLECTIONS[0].0]
                .iter()
                .filter(|e| {
                    e.object["pattern"]
                        .as_str()
                        .is_some_and(|p| p.contains(id_part))
                })
                .map(|e| e.added)
                .collect()
        };
        assert_eq!(of(&first, "198.51.100.1"), [5_000]);
        // Later: .1 seen again (a new version), but by an event older than the first
        // snapshot's time (stored late); .2 unchanged.
        let second = snapshot_of(
            objects(&[
                ("198.51.100.1", 0),
                ("198.51.100.1", 1),
                ("198.51.100.2", 0),
            ]),
            Some(&first),
            4_000,
        );
        assert_eq!(of(&second, "198.51.100.2"), [5_000], "unchanged: kept");
        assert_eq!(
            of(&second, "198.51.100.1"),
            [5_001],
            "after everything added before"
        );
    }
}
