//! A fake Elasticsearch 8 built on wiremock: it parses the `_bulk` NDJSON, keeps
//! documents by `_index`/`_id`, and answers with the documented wire formats (201
//! `created`, 409 `version_conflict_engine_exception` for a duplicate `create`, `errors`,
//! `items: [{"create": {...}}]`; 404 `resource_not_found_exception` for a missing
//! template or policy). No Elasticsearch server can run here.
//!
//! Formats: <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/docs-bulk.html>,
//! <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/index-templates.html>,
//! <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/ilm-put-lifecycle.html>.

// A test double: a request it cannot parse is a bug of the sink, and panics the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use hpti_core::event::{Event, EventId};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the fake cluster holds and what it was asked.
#[derive(Default)]
pub struct EsState {
    /// (index, id) → the document.
    pub docs: BTreeMap<(String, String), Value>,
    /// Index templates by name.
    pub templates: BTreeMap<String, Value>,
    /// ILM policies by name.
    pub policies: BTreeMap<String, Value>,
    /// Sizes of the `_bulk` bodies received.
    pub bulk_sizes: Vec<usize>,
    /// Item failures to answer once for an id: (status, error object).
    pub fail_once: HashMap<String, (u16, Value)>,
    /// Item failures to answer every time for an id.
    pub fail_always: HashMap<String, (u16, Value)>,
    /// Answer every request with this status and body instead (auth failures).
    pub refuse_all: Option<(u16, Value)>,
    /// Answer `_bulk` requests larger than this with 413.
    pub max_content_length: Option<usize>,
}

/// A fake Elasticsearch 8 cluster: mount it on a [`MockServer`] ([`fake_es`]).
#[derive(Clone, Default)]
pub struct FakeEs(pub Arc<Mutex<EsState>>);

fn not_found(reason: String) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "error": {
            "root_cause": [{"type": "resource_not_found_exception", "reason": reason}],
            "type": "resource_not_found_exception",
            "reason": reason,
        },
        "status": 404,
    }))
}

impl FakeEs {
    /// What it holds, to read or to set up failures.
    pub fn state(&self) -> std::sync::MutexGuard<'_, EsState> {
        self.0.lock().unwrap()
    }

    /// Documents stored.
    pub fn count(&self) -> u64 {
        self.state().docs.len() as u64
    }

    /// The event stored under `id`, read back from `hpti.event` of its document.
    pub fn read_back(&self, id: EventId) -> Option<Event> {
        let id = id.to_string();
        let state = self.state();
        let doc = state.docs.iter().find(|((_, i), _)| *i == id)?.1;
        Some(serde_json::from_value(doc["hpti"]["event"].clone()).unwrap())
    }

    fn bulk(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state();
        state.bulk_sizes.push(request.body.len());
        if state
            .max_content_length
            .is_some_and(|max| request.body.len() > max)
        {
            return ResponseTemplate::new(413);
        }
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/x-ndjson"
        );
        let text = std::str::from_utf8(&request.body).unwrap();
        assert!(text.ends_with('\n'), "a _bulk body ends with a newline");
        let mut lines = text.lines();
        let mut items = Vec::new();
        let mut errors = false;
        while let Some(action) = lines.next() {
            let action: Value = serde_json::from_str(action).unwrap();
            let meta = &action["create"];
            assert!(meta.is_object(), "only create actions: {action}");
            let index = meta["_index"].as_str().unwrap().to_owned();
            let id = meta["_id"].as_str().unwrap().to_owned();
            let doc: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
            let failure = state
                .fail_once
                .remove(&id)
                .or_else(|| state.fail_always.get(&id).cloned());
            let item = if let Some((status, error)) = failure {
                errors = true;
                json!({"_index": index, "_id": id, "status": status, "error": error})
            } else if let std::collections::btree_map::Entry::Vacant(slot) =
                state.docs.entry((index.clone(), id.clone()))
            {
                slot.insert(doc);
                json!({"_index": index, "_id": id, "_version": 1, "result": "created",
                    "_shards": {"total": 2, "successful": 1, "failed": 0},
                    "_seq_no": 0, "_primary_term": 1, "status": 201})
            } else {
                errors = true;
                json!({"_index": index, "_id": id, "status": 409, "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": format!("[{id}]: version conflict, document already exists (current version [1])"),
                    "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0", "index": index,
                }})
            };
            items.push(json!({"create": item}));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"took": 30, "errors": errors, "items": items}))
    }
}

impl Respond for FakeEs {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some((status, body)) = self.state().refuse_all.clone() {
            return ResponseTemplate::new(status).set_body_json(body);
        }
        let path = request.url.path().to_owned();
        let method = request.method.as_str();
        if method == "POST" && path == "/_bulk" {
            return self.bulk(request);
        }
        let mut state = self.state();
        if let Some(name) = path.strip_prefix("/_index_template/") {
            return match method {
                "GET" => match state.templates.get(name) {
                    Some(t) => ResponseTemplate::new(200).set_body_json(json!({
                        "index_templates": [{"name": name, "index_template": t}]
                    })),
                    None => not_found(format!("index template matching [{name}] not found")),
                },
                "PUT" => {
                    let body: Value = serde_json::from_slice(&request.body).unwrap();
                    state.templates.insert(name.to_owned(), body);
                    ResponseTemplate::new(200).set_body_json(json!({"acknowledged": true}))
                }
                _ => ResponseTemplate::new(405),
            };
        }
        if let Some(name) = path.strip_prefix("/_ilm/policy/") {
            return match method {
                "GET" => match state.policies.get(name) {
                    Some(p) => ResponseTemplate::new(200).set_body_json(json!({
                        name: {"version": 1, "modified_date": "2026-01-01T00:00:00.000Z", "policy": p["policy"]}
                    })),
                    None => not_found(format!("Lifecycle policy not found: {name}")),
                },
                "PUT" => {
                    let body: Value = serde_json::from_slice(&request.body).unwrap();
                    state.policies.insert(name.to_owned(), body);
                    ResponseTemplate::new(200).set_body_json(json!({"acknowledged": true}))
                }
                _ => ResponseTemplate::new(405),
            };
        }
        not_found(format!("no handler for {method} {path}"))
    }
}

/// A [`MockServer`] answering as a fake Elasticsearch cluster, and the cluster.
pub async fn fake_es() -> (MockServer, FakeEs) {
    let server = MockServer::start().await;
    let fake = FakeEs::default();
    Mock::given(any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    (server, fake)
}
