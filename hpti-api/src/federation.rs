//! Multi-source mode: a central API that answers its lists from its own store and from
//! other hpti instances' APIs (`[api.sources.<id>]`), queried concurrently, merged, and
//! labelled with where each row came from. A source that fails or times out is reported
//! in the answer's `sources`, never fails it.
//!
//! Merging: downloads are deduplicated by SHA-256 (counts summed, first and last seen
//! merged, addresses and URLs joined, the latest download's session and address kept,
//! `honeypots` listing every instance that saw the file); the other lists are joined and
//! ranked again by their measure (events, attempts, count, start). A row's `source` is
//! the instance it came from (for a merged download, the one with the latest download).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `[api.sources.<id>]`: another hpti instance's API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Its base URL (`https://hp-eu-1:8080`).
    pub url: String,
    /// The environment variable holding a viewer token of that instance.
    pub token_env: String,
    /// Longest one request to it may take (default 5 s).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// How one instance answered a federated request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct SourceStatus {
    /// The instance's id (`local` for this one, else its `[api.sources.<id>]`).
    pub id: String,
    /// `ok` or `error`.
    pub status: &'static str,
    /// Rows it gave.
    pub items: usize,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A federated list: the merged rows and how each instance answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FederatedItems {
    /// The merged rows, each with its `source`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Every instance asked, this one first.
    pub sources: Vec<SourceStatus>,
}

/// One remote instance, ready to ask.
#[derive(Debug, Clone)]
struct Remote {
    id: String,
    base: reqwest::Url,
    token: String,
    timeout: Duration,
}

/// The instances a central API asks.
#[derive(Debug, Clone)]
pub struct Federation {
    local: String,
    remotes: Vec<Remote>,
    client: reqwest::Client,
}

/// Why `[api.sources]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// A URL does not parse or is not http(s).
    #[error("api.sources.{id}.url: {detail}")]
    Url {
        /// The source.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// The token's environment variable is not set.
    #[error("api.sources.{id}.token_env: the environment variable {var} is not set")]
    Token {
        /// The source.
        id: String,
        /// The variable.
        var: String,
    },
    /// The HTTP client could not be built.
    #[error("the HTTP client of api.sources: {0}")]
    Client(String),
}

/// Largest answer read from a source (a list of 10,000 rows is a few megabytes).
const MAX_SOURCE_BYTES: usize = 64 * 1024 * 1024;

impl Federation {
    /// The federation of `sources`, this instance named `local`; tokens are read from
    /// the environment now. Source URLs are the operator's: loopback and private
    /// addresses are allowed (they are where sibling honeypots usually are).
    pub fn new(
        local: &str,
        sources: &BTreeMap<String, SourceConfig>,
    ) -> Result<Option<Self>, FederationError> {
        if sources.is_empty() {
            return Ok(None);
        }
        let mut remotes = Vec::new();
        for (id, source) in sources {
            let base = reqwest::Url::parse(&source.url).map_err(|e| FederationError::Url {
                id: id.clone(),
                detail: e.to_string(),
            })?;
            if !matches!(base.scheme(), "http" | "https") {
                return Err(FederationError::Url {
                    id: id.clone(),
                    detail: format!("expected http:// or https://, not {}", base.scheme()),
                });
            }
            let token = std::env::var(&source.token_env).map_err(|_| FederationError::Token {
                id: id.clone(),
                var: source.token_env.clone(),
            })?;
            remotes.push(Remote {
                id: id.clone(),
                base,
                token,
                timeout: source.timeout,
            });
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("hpti/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FederationError::Client(e.to_string()))?;
        Ok(Some(Self {
            local: local.to_owned(),
            remotes,
            client,
        }))
    }

    /// The rows of `list` (`downloads`, `attackers`, ...) with the query string `query`
    /// from every remote, with this instance's `local` rows, merged; at most `limit`.
    pub(crate) async fn merge(
        &self,
        list: &str,
        query: Option<&str>,
        local: Vec<Value>,
        limit: usize,
    ) -> Result<FederatedItems, ApiError> {
        let asked = self
            .remotes
            .iter()
            .map(|remote| self.fetch(remote, list, query));
        let answers = futures::future::join_all(asked).await;
        let mut sources = vec![SourceStatus {
            id: self.local.clone(),
            status: "ok",
            items: local.len(),
            error: None,
        }];
        let mut rows: Vec<(String, Vec<Value>)> = vec![(self.local.clone(), local)];
        for (remote, answer) in self.remotes.iter().zip(answers) {
            match answer {
                Ok(items) => {
                    sources.push(SourceStatus {
                        id: remote.id.clone(),
                        status: "ok",
                        items: items.len(),
                        error: None,
                    });
                    rows.push((remote.id.clone(), items));
                }
                Err(error) => {
                    tracing::warn!(source = %remote.id, %error, "a federated source failed");
                    sources.push(SourceStatus {
                        id: remote.id.clone(),
                        status: "error",
                        items: 0,
                        error: Some(error),
                    });
                }
            }
        }
        let items = merge_rows(list, rows, &self.local, limit);
        Ok(FederatedItems { items, sources })
    }

    /// One remote's `items` for `list`, or why not.
    async fn fetch(
        &self,
        remote: &Remote,
        list: &str,
        query: Option<&str>,
    ) -> Result<Vec<Value>, String> {
        let mut url = remote
            .base
            .join(&format!("api/v1/{list}"))
            .map_err(|e| e.to_string())?;
        url.set_query(query);
        let response = self
            .client
            .get(url)
            .bearer_auth(&remote.token)
            .timeout(remote.timeout)
            .send()
            .await
            .map_err(|e| without_url(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_SOURCE_BYTES as u64)
        {
            return Err("answer too large".into());
        }
        let body = response.bytes().await.map_err(|e| without_url(&e))?;
        if body.len() > MAX_SOURCE_BYTES {
            return Err("answer too large".into());
        }
        #[derive(Deserialize)]
        struct Items {
            items: Vec<Value>,
        }
        serde_json::from_slice::<Items>(&body)
            .map(|answer| answer.items)
            .map_err(|e| format!("not a list: {e}"))
    }
}

/// An HTTP client error without the URL (it may carry a token in a query someday, and
/// the source's id already says where).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() || error.is_body() {
        "bad answer"
    } else {
        "request failed"
    };
    match std::error::Error::source(error) {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

/// The measure a list is ranked by (descending), for lists merged by joining.
fn measure(list: &str) -> &'static str {
    match list {
        "attackers" => "events",
        "credentials" => "attempts",
        "commands" => "count",
        "sessions" => "started",
        _ => "count",
    }
}

/// Merges each instance's rows of `list`, labelling them, and keeps the top `limit`.
pub(crate) fn merge_rows(
    list: &str,
    per_source: Vec<(String, Vec<Value>)>,
    local: &str,
    limit: usize,
) -> Vec<Value> {
    let mut merged: Vec<Value> = if list == "downloads" {
        merge_downloads(per_source, local)
    } else {
        per_source
            .into_iter()
            .flat_map(|(source, rows)| {
                rows.into_iter().map(move |mut row| {
                    if let Some(object) = row.as_object_mut() {
                        object.insert("source".into(), Value::String(source.clone()));
                    }
                    row
                })
            })
            .collect()
    };
    let key = measure(list);
    merged.sort_by(|a, b| {
        compare(&b[key], &a[key])
            .then_with(|| compare(&b["last_seen"], &a["last_seen"]))
            .then_with(|| compare(&a["sha256"], &b["sha256"]))
            .then_with(|| compare(&a["source"], &b["source"]))
    });
    merged.truncate(limit);
    merged
}

/// Orders JSON numbers as numbers and everything else as text (times are RFC 3339
/// with a fixed number of digits, so text order is time order).
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        _ => a
            .as_str()
            .unwrap_or_default()
            .cmp(b.as_str().unwrap_or_default()),
    }
}

/// Downloads of every instance, one row per SHA-256.
fn merge_downloads(per_source: Vec<(String, Vec<Value>)>, local: &str) -> Vec<Value> {
    let mut by_hash: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (source, rows) in per_source {
        for row in rows {
            let Value::Object(mut row) = row else {
                continue;
            };
            let Some(sha256) = row.get("sha256").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            // Content is served by the instance that holds it, not through this one.
            if source != local {
                row.remove("content_url");
            }
            row.insert("source".into(), Value::String(source.clone()));
            row.insert(
                "honeypots".into(),
                Value::Array(vec![Value::String(source.clone())]),
            );
            match by_hash.get_mut(&sha256) {
                None => {
                    by_hash.insert(sha256, row);
                }
                Some(seen) => absorb(seen, row),
            }
        }
    }
    by_hash.into_values().map(Value::Object).collect()
}

/// Folds another instance's row of the same file into `seen`.
fn absorb(seen: &mut Map<String, Value>, row: Map<String, Value>) {
    let number = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    for counter in ["count", "uploads", "sources", "url_count"] {
        let total = number(seen, counter) + number(&row, counter);
        seen.insert(counter.into(), total.into());
    }
    let text = |m: &Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if text(&row, "first_seen") < text(seen, "first_seen") {
        seen.insert("first_seen".into(), row["first_seen"].clone());
    }
    // The latest download's details come with it.
    if text(&row, "last_seen") > text(seen, "last_seen") {
        for key in [
            "last_seen",
            "timestamp",
            "session",
            "src_ip",
            "url",
            "source",
        ] {
            if let Some(value) = row.get(key) {
                seen.insert(key.into(), value.clone());
            }
        }
    }
    if number(&row, "size") > number(seen, "size") {
        seen.insert("size".into(), row["size"].clone());
    }
    for list in ["src_ips", "urls", "filenames", "yara_matches", "honeypots"] {
        let mut joined: Vec<String> = [seen.get(list), row.get(list)]
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        joined.sort();
        joined.dedup();
        joined.truncate(hpti_store::MAX_LIST);
        seen.insert(list.into(), joined.into());
    }
    // What one instance knows of the file and another does not.
    for fact in [
        "file_type",
        "mime",
        "file_category",
        "arch",
        "vt_threat_label",
        "outfile",
    ] {
        if seen.get(fact).is_none_or(Value::is_null) {
            if let Some(value) = row.get(fact) {
                seen.insert(fact.into(), value.clone());
            }
        }
    }
    if number(&row, "vt_total") > number(seen, "vt_total") {
        for key in ["vt_detections", "vt_total"] {
            if let Some(value) = row.get(key) {
                seen.insert(key.into(), value.clone());
            }
        }
    }
    for flag in ["is_previewable", "exists"] {
        let any = [seen.get(flag), row.get(flag)]
            .into_iter()
            .flatten()
            .any(|v| v.as_bool() == Some(true));
        seen.insert(flag.into(), any.into());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn downloads_merge_by_hash_and_other_lists_join_and_rank_again() {
        let a = vec![
            json!({"sha256": "aa", "count": 2, "uploads": 1, "sources": 1, "url_count": 1,
            "filenames": ["/root/a"], "first_seen": "2026-01-01T00:00:05.000000Z", "last_seen": "2026-01-01T00:00:09.000000Z",
            "session": "s1", "src_ip": "198.51.100.1", "url": "http://x/a", "size": 4,
            "src_ips": ["198.51.100.1"], "urls": ["http://x/a"], "yara_matches": [],
            "file_type": null, "vt_total": null, "exists": true, "content_url": "/api/v1/downloads/aa/content"}),
        ];
        let b = vec![
            json!({"sha256": "aa", "count": 3, "sources": 2, "url_count": 1,
                "first_seen": "2026-01-01T00:00:01.000000Z", "last_seen": "2026-01-01T00:00:20.000000Z",
                "session": "s2", "src_ip": "203.0.113.9", "url": "http://y/a", "size": 4,
                "src_ips": ["203.0.113.9", "198.51.100.1"], "urls": ["http://y/a"],
                "yara_matches": ["Mirai_Bot"], "file_type": "ELF", "vt_total": 60, "vt_detections": 30,
                "exists": false, "content_url": "/api/v1/downloads/aa/content"}),
            json!({"sha256": "bb", "count": 9, "last_seen": "2026-01-01T00:00:02.000000Z"}),
        ];
        let merged = merge_rows(
            "downloads",
            vec![("local".into(), a), ("eu".into(), b)],
            "local",
            10,
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0]["sha256"], "bb", "ranked by the summed count");
        let aa = &merged[1];
        assert_eq!(aa["count"], 5);
        assert_eq!(
            aa["uploads"], 1,
            "uploads add up; a row without any has none"
        );
        assert_eq!(aa["filenames"], json!(["/root/a"]));
        assert_eq!(aa["sources"], 3);
        assert_eq!(aa["first_seen"], "2026-01-01T00:00:01.000000Z");
        assert_eq!(aa["last_seen"], "2026-01-01T00:00:20.000000Z");
        assert_eq!(
            (&aa["session"], &aa["source"]),
            (&json!("s2"), &json!("eu"))
        );
        assert_eq!(aa["honeypots"], json!(["eu", "local"]));
        assert_eq!(aa["src_ips"], json!(["198.51.100.1", "203.0.113.9"]));
        assert_eq!(aa["yara_matches"], json!(["Mirai_Bot"]));
        assert_eq!(
            (&aa["file_type"], &aa["vt_total"]),
            (&json!("ELF"), &json!(60))
        );
        assert_eq!(aa["exists"], true);
        assert_eq!(
            aa["content_url"], "/api/v1/downloads/aa/content",
            "the local row's"
        );

        let attackers = merge_rows(
            "attackers",
            vec![
                ("local".into(), vec![json!({"src_ip": "a", "events": 3})]),
                (
                    "eu".into(),
                    vec![
                        json!({"src_ip": "b", "events": 7}),
                        json!({"src_ip": "a", "events": 1}),
                    ],
                ),
            ],
            "local",
            2,
        );
        assert_eq!(
            attackers,
            vec![
                json!({"src_ip": "b", "events": 7, "source": "eu"}),
                json!({"src_ip": "a", "events": 3, "source": "local"}),
            ]
        );
    }
}
