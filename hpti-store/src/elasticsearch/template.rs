//! The index template (ECS mapping) and the ILM policy the sink installs when absent.
//!
//! Daily indices (`<prefix>-YYYY.MM.DD`) are named by the events' own time, so an index
//! is never rolled over: the policy has a hot phase without rollover and, with
//! `retention`, a delete phase. `index.lifecycle.parse_origination_date` makes ILM age
//! an index from the date in its name rather than from its creation, so a day of old
//! events ingested today expires with its day.

use std::time::Duration;

use serde_json::{Value, json};

/// The `_meta.version` of what hpti installs; bumped when the mapping changes.
pub const TEMPLATE_VERSION: u64 = 1;

/// `keyword`, with `ignore_above` so that a 64 KiB attacker string is kept in `_source`
/// without making an immense term.
fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 1024})
}

/// The mapping of the documents built by [`EcsDocument`](super::ecs::EcsDocument).
pub fn mappings() -> Value {
    let endpoint = || {
        json!({"properties": {
            "ip": {"type": "ip"},
            "port": {"type": "long"},
            "geo": {"properties": {
                "location": {"type": "geo_point"},
                "country_iso_code": keyword(),
                "country_name": keyword(),
                "city_name": keyword(),
            }},
            "as": {"properties": {
                "number": {"type": "long"},
                "organization": {"properties": {
                    "name": {"type": "keyword", "ignore_above": 1024,
                             "fields": {"text": {"type": "match_only_text"}}},
                }},
            }},
        }})
    };
    json!({
        // Anything not listed is kept in _source but not indexed: no mapping explosion.
        "dynamic": false,
        "properties": {
            "@timestamp": {"type": "date"},
            "tags": keyword(),
            "event": {"properties": {
                "kind": keyword(),
                "category": keyword(),
                "type": keyword(),
                "action": keyword(),
                "id": keyword(),
                "outcome": keyword(),
                "created": {"type": "date"},
                "duration": {"type": "long"},
                "module": keyword(),
            }},
            "source": endpoint(),
            "destination": endpoint(),
            "network": {"properties": {
                "protocol": keyword(),
                "transport": keyword(),
            }},
            "observer": {"properties": {
                "name": keyword(),
                "type": keyword(),
            }},
            "user": {"properties": {"name": keyword()}},
            "user_agent": {"properties": {"original": {
                "type": "keyword", "ignore_above": 1024,
                "fields": {"text": {"type": "match_only_text"}},
            }}},
            "url": {"properties": {
                "full": {"type": "keyword", "ignore_above": 1024,
                         "fields": {"text": {"type": "match_only_text"}}},
                "original": {"type": "keyword", "ignore_above": 1024,
                             "fields": {"text": {"type": "match_only_text"}}},
            }},
            "file": {"properties": {
                "name": keyword(),
                "size": {"type": "long"},
                "hash": {"properties": {"sha256": keyword()}},
            }},
            "process": {"properties": {
                "command_line": {"type": "keyword", "ignore_above": 1024,
                                 "fields": {"text": {"type": "text"}}},
            }},
            "http": {"properties": {
                "request": {"properties": {"method": keyword()}},
                "response": {"properties": {"status_code": {"type": "long"}}},
            }},
            "related": {"properties": {
                "ip": {"type": "ip"},
                "user": keyword(),
                "hash": keyword(),
            }},
            "hpti": {"properties": {
                "session": keyword(),
                "password": keyword(),
                "auth_method": keyword(),
                "key_type": keyword(),
                "key_fingerprint": keyword(),
                "fingerprint": {"properties": {
                    "method": keyword(),
                    "value": keyword(),
                }},
                "download_error": keyword(),
                "forward": {"properties": {
                    "host": keyword(),
                    "port": {"type": "long"},
                }},
                "original_type": keyword(),
                "recording": keyword(),
                "reputation_score": {"type": "short"},
                // The exact hpti event: kept in _source, never indexed.
                "event": {"type": "object", "enabled": false},
            }},
        },
    })
}

/// The body of `PUT _index_template/<prefix>`.
pub fn index_template(prefix: &str) -> Value {
    json!({
        "index_patterns": [format!("{prefix}-*")],
        "priority": 200,
        "template": {
            "settings": {
                "index": {
                    "lifecycle": {
                        "name": prefix,
                        "parse_origination_date": true,
                    },
                    "codec": "best_compression",
                },
            },
            "mappings": mappings(),
        },
        "_meta": {"managed_by": "hpti", "version": TEMPLATE_VERSION},
    })
}

/// ILM's time unit form of `retention` (`90d`, `36h`, `90m`, `45s`): the largest unit
/// that divides it, at least whole seconds.
pub fn ilm_age(retention: Duration) -> String {
    let secs = retention.as_secs().max(1);
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs % len == 0 {
            return format!("{}{unit}", secs / len);
        }
    }
    format!("{secs}s")
}

/// The body of `PUT _ilm/policy/<prefix>`: hot without rollover (indices are daily by
/// name), then deleted `retention` after their day when one is set.
pub fn ilm_policy(retention: Option<Duration>) -> Value {
    let mut phases = json!({"hot": {"min_age": "0ms", "actions": {}}});
    if let (Some(retention), Some(map)) = (retention, phases.as_object_mut()) {
        map.insert(
            "delete".into(),
            json!({"min_age": ilm_age(retention), "actions": {"delete": {}}}),
        );
    }
    json!({"policy": {
        "_meta": {"managed_by": "hpti", "version": TEMPLATE_VERSION},
        "phases": phases,
    }})
}

/// Every field path the mapping indexes (`source.geo.country_iso_code`,
/// `process.command_line.text`), for checking saved objects against it.
pub fn mapped_fields() -> Vec<String> {
    fn walk(prefix: &str, node: &Value, out: &mut Vec<String>) {
        let Some(props) = node.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, field) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if field.get("type").is_some() {
                out.push(path.clone());
            }
            if let Some(multi) = field.get("fields").and_then(Value::as_object) {
                out.extend(multi.keys().map(|k| format!("{path}.{k}")));
            }
            walk(&path, field, out);
        }
    }
    let mut out = Vec::new();
    walk("", &mappings(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_becomes_an_ilm_age_and_a_delete_phase() {
        assert_eq!(ilm_age(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(ilm_age(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(ilm_age(Duration::from_secs(90)), "90s");
        assert_eq!(ilm_age(Duration::from_secs(120)), "2m");
        let policy = ilm_policy(Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], "7d");
        assert!(policy["policy"]["phases"]["hot"]["actions"]["rollover"].is_null());
        assert!(ilm_policy(None)["policy"]["phases"]["delete"].is_null());
    }

    #[test]
    fn the_mapping_lists_the_ecs_fields() {
        let fields = mapped_fields();
        for f in [
            "@timestamp",
            "source.ip",
            "source.geo.location",
            "source.as.number",
            "user.name",
            "url.full",
            "file.hash.sha256",
            "related.ip",
            "observer.name",
            "process.command_line.text",
            "hpti.event",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not mapped: {fields:?}");
        }
    }
}
