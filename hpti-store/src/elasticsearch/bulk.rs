//! `_bulk` request bodies (NDJSON, one `create` action and one ECS document per event)
//! and the per-item outcomes of their responses.
//!
//! Wire format: <https://www.elastic.co/guide/en/elasticsearch/reference/8.15/docs-bulk.html>.

use std::io::Write as _;

use hpti_core::event::{Event, Timestamp};
use serde::Deserialize;

use super::ecs::EcsDocument;

const DAY_MICROS: i64 = 86_400_000_000;

/// Builds `_bulk` bodies no larger than a byte limit.
///
/// ```
/// use hpti_core::testing::sample_events;
/// use hpti_core::event::Timestamp;
/// use hpti_store::elasticsearch::bulk::BulkEncoder;
///
/// let events = sample_events(Timestamp::parse_rfc3339("2026-01-03T10:00:00Z").unwrap());
/// let refs: Vec<_> = events.iter().collect();
/// let mut encoder = BulkEncoder::new("hpti-events", 5 << 20);
/// let encoded = encoder.encode(&refs, None);
/// assert_eq!(encoded.bodies.len(), 1);
/// let body = std::str::from_utf8(encoded.bodies[0].bytes()).unwrap();
/// assert!(body.starts_with(r#"{"create":{"_index":"hpti-events-2026.01.03","_id":""#));
/// ```
#[derive(Debug, Clone)]
pub struct BulkEncoder {
    prefix: String,
    max_bytes: usize,
    /// The day (micros / day) whose index name is in `index`.
    day: Option<i64>,
    index: String,
    item: Vec<u8>,
}

/// One `_bulk` request body and the events it carries.
#[derive(Debug, Clone, Default)]
pub struct BulkBody {
    bytes: Vec<u8>,
    /// (index of the event in the batch, offset of its action line in `bytes`).
    items: Vec<(usize, usize)>,
}

impl BulkBody {
    /// The NDJSON body.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many events it carries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it carries no event.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The batch index of the body's `n`-th item.
    pub fn batch_index(&self, n: usize) -> Option<usize> {
        self.items.get(n).map(|(i, _)| *i)
    }

    /// The batch indexes of its items, in order.
    pub fn batch_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.iter().map(|(i, _)| *i)
    }

    /// Splits the body in two halves of its items (for a 413 answer); `None` for a
    /// single item.
    pub fn split(&self) -> Option<(BulkBody, BulkBody)> {
        if self.items.len() < 2 {
            return None;
        }
        let mid = self.items.len() / 2;
        let cut = self.items[mid].1;
        let first = BulkBody {
            bytes: self.bytes[..cut].to_vec(),
            items: self.items[..mid].to_vec(),
        };
        let second = BulkBody {
            bytes: self.bytes[cut..].to_vec(),
            items: self.items[mid..]
                .iter()
                .map(|(i, off)| (*i, off - cut))
                .collect(),
        };
        Some((first, second))
    }
}

/// Bodies built from a batch, and the events refused before sending.
#[derive(Debug, Default)]
pub struct Encoded {
    /// Request bodies, each at most the encoder's byte limit.
    pub bodies: Vec<BulkBody>,
    /// (batch index, reason) of events that cannot be sent.
    pub rejected: Vec<(usize, String)>,
}

impl BulkEncoder {
    /// An encoder writing into `<prefix>-YYYY.MM.DD` indices, bodies of at most
    /// `max_bytes`.
    pub fn new(prefix: impl Into<String>, max_bytes: usize) -> Self {
        Self {
            prefix: prefix.into(),
            max_bytes,
            day: None,
            index: String::new(),
            item: Vec::with_capacity(4096),
        }
    }

    /// The daily index of an event time (UTC), or `None` outside the years 1 to 9999.
    pub fn index_for(&mut self, time: Timestamp) -> Option<&str> {
        let day = time.as_micros().div_euclid(DAY_MICROS);
        if self.day != Some(day) {
            let date = time.to_datetime()?;
            let year = chrono::Datelike::year(&date);
            if !(1..=9999).contains(&year) {
                return None;
            }
            self.index.clear();
            self.index.push_str(&self.prefix);
            self.index.push('-');
            self.index.push_str(&date.format("%Y.%m.%d").to_string());
            self.day = Some(day);
        }
        Some(&self.index)
    }

    /// Encodes a batch: events older than `oldest` (past retention), outside the years
    /// 1 to 9999 or larger than the byte limit on their own are refused; the rest go
    /// into bodies that each stay within the limit.
    pub fn encode(&mut self, events: &[&Event], oldest: Option<Timestamp>) -> Encoded {
        let mut out = Encoded::default();
        let mut body = BulkBody::default();
        for (i, event) in events.iter().enumerate() {
            if oldest.is_some_and(|oldest| event.time < oldest) {
                out.rejected
                    .push((i, "the event is older than the sink's retention".into()));
                continue;
            }
            let mut item = std::mem::take(&mut self.item);
            item.clear();
            let written = self.write_item(&mut item, event);
            match written {
                Err(reason) => out.rejected.push((i, reason)),
                Ok(()) if item.len() > self.max_bytes => out.rejected.push((
                    i,
                    format!(
                        "the event takes {} bytes in a _bulk request, more than max_bytes ({})",
                        item.len(),
                        self.max_bytes
                    ),
                )),
                Ok(()) => {
                    if !body.is_empty() && body.bytes.len() + item.len() > self.max_bytes {
                        out.bodies.push(std::mem::take(&mut body));
                        body.bytes.reserve(self.max_bytes.min(1 << 20));
                    }
                    body.items.push((i, body.bytes.len()));
                    body.bytes.extend_from_slice(&item);
                }
            }
            self.item = item;
        }
        if !body.is_empty() {
            out.bodies.push(body);
        }
        out
    }

    fn write_item(&mut self, item: &mut Vec<u8>, event: &Event) -> Result<(), String> {
        let Some(index) = self.index_for(event.time) else {
            return Err("the event time is outside the years 1 to 9999".into());
        };
        let mut id = uuid::Uuid::encode_buffer();
        let id = event.id.as_uuid().hyphenated().encode_lower(&mut id);
        item.extend_from_slice(b"{\"create\":{\"_index\":\"");
        item.extend_from_slice(index.as_bytes());
        item.extend_from_slice(b"\",\"_id\":\"");
        item.extend_from_slice(id.as_bytes());
        item.extend_from_slice(b"\"}}\n");
        serde_json::to_writer(&mut *item, &EcsDocument::new(event))
            .map_err(|e| format!("cannot encode the event: {e}"))?;
        // serde_json never writes a raw newline inside a document.
        let _ = item.write_all(b"\n");
        Ok(())
    }
}

/// A `_bulk` response (only what hpti reads of it).
#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    /// Whether any item failed.
    #[serde(default)]
    pub errors: bool,
    /// One entry per action, in the order of the request.
    #[serde(default)]
    pub items: Vec<BulkItem>,
}

/// One item of a `_bulk` response: `{"create": {...}}` (or `index`, `update`, `delete`).
#[derive(Debug, Deserialize)]
pub struct BulkItem {
    /// The result of the item's action, whichever it was.
    #[serde(alias = "index", alias = "update", alias = "delete")]
    pub create: Option<ItemResult>,
}

/// The status and error of one bulk item.
#[derive(Debug, Deserialize)]
pub struct ItemResult {
    /// HTTP status of the item.
    pub status: u16,
    /// Why it failed, if it did.
    pub error: Option<EsError>,
}

/// An Elasticsearch error object: `type`, `reason`, `caused_by`.
#[derive(Debug, Clone, Deserialize)]
pub struct EsError {
    /// `mapper_parsing_exception`, `es_rejected_execution_exception`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The human-readable reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// The underlying error.
    #[serde(default)]
    pub caused_by: Option<Box<EsError>>,
}

impl std::fmt::Display for EsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind)?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        let mut cause = self.caused_by.as_deref();
        let mut depth = 0;
        while let (Some(c), true) = (cause, depth < 4) {
            write!(f, " (caused by {}", c.kind)?;
            if let Some(reason) = &c.reason {
                write!(f, ": {reason}")?;
            }
            f.write_str(")")?;
            cause = c.caused_by.as_deref();
            depth += 1;
        }
        Ok(())
    }
}

/// What became of one bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Stored now (201) or already (409 on `create`).
    Delivered,
    /// Refused for its content (mapping, parsing): dead-letter it with the reason.
    Rejected(String),
    /// Could not be stored this time (429, a full queue, a shard unavailable).
    Retry(String),
}

/// Error types that mean the document itself cannot be indexed.
const DOCUMENT_ERRORS: &[&str] = &[
    "mapper_parsing_exception",
    "document_parsing_exception",
    "strict_dynamic_mapping_exception",
    "illegal_argument_exception",
    "parse_exception",
    "json_parse_exception",
    "x_content_parse_exception",
    "document_source_missing_exception",
];

impl ItemResult {
    /// Classifies the item.
    pub fn outcome(&self) -> ItemOutcome {
        let status = self.status;
        let error = self.error.as_ref();
        let describe = || match error {
            Some(e) => format!("elasticsearch answered {status}: {e}"),
            None => format!("elasticsearch answered {status}"),
        };
        if matches!(status, 200 | 201 | 409) {
            return ItemOutcome::Delivered;
        }
        let kind = error.map(|e| e.kind.as_str()).unwrap_or_default();
        if status == 429 || kind == "es_rejected_execution_exception" {
            return ItemOutcome::Retry(describe());
        }
        if status == 400 || DOCUMENT_ERRORS.contains(&kind) {
            return ItemOutcome::Rejected(describe());
        }
        ItemOutcome::Retry(describe())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use hpti_core::testing::sample_events;

    fn base() -> Timestamp {
        Timestamp::parse_rfc3339("2026-01-03T23:59:59.9999Z").unwrap()
    }

    #[test]
    fn bodies_are_ndjson_pairs_in_daily_indices_within_the_limit() {
        let events = sample_events(base());
        let refs: Vec<&Event> = events.iter().collect();
        let mut encoder = BulkEncoder::new("hpti-events", 1 << 20);
        let one = encoder.encode(&refs, None);
        assert!(one.rejected.is_empty());
        assert_eq!(one.bodies.len(), 1);
        let text = std::str::from_utf8(one.bodies[0].bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), events.len() * 2);
        assert!(text.ends_with('\n'));
        // The first event is on the 3rd, the others after midnight.
        assert!(lines[0].contains("hpti-events-2026.01.03"), "{}", lines[0]);
        assert!(lines[2].contains("hpti-events-2026.01.04"), "{}", lines[2]);
        assert!(lines[0].contains(&events[0].id.to_string()));

        let largest = one.bodies[0]
            .items
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .max()
            .unwrap();
        let limit = largest * 3;
        let split = encoder.encode(&refs, None);
        assert_eq!(split.bodies.len(), 1);
        let split = BulkEncoder::new("p", limit).encode(&refs, None);
        assert!(split.bodies.len() > 1);
        assert!(split.bodies.iter().all(|b| b.bytes().len() <= limit));
        let indexes: Vec<usize> = split
            .bodies
            .iter()
            .flat_map(|b| b.batch_indexes())
            .collect();
        assert_eq!(indexes, (0..events.len()).collect::<Vec<_>>());
    }

    #[test]
    fn an_event_over_the_limit_or_past_retention_is_refused_alone() {
        let events = sample_events(base());
        let refs: Vec<&Event> = events.iter().collect();
        let encoded = BulkEncoder::new("hpti-events", 200).encode(&refs, None);
        assert_eq!(encoded.rejected.len(), events.len());
        assert!(encoded.rejected[0].1.contains("max_bytes (200)"));
        let oldest = base().saturating_add_micros(1);
        let encoded = BulkEncoder::new("hpti-events", 1 << 20).encode(&refs, Some(oldest));
        assert_eq!(encoded.rejected.len(), 1);
        assert_eq!(encoded.rejected[0].0, 0);
        assert_eq!(encoded.bodies[0].len(), events.len() - 1);
    }

    #[test]
    fn a_body_splits_into_halves_that_are_valid_bodies() {
        let events = sample_events(base());
        let refs: Vec<&Event> = events.iter().collect();
        let body = BulkEncoder::new("x", 1 << 20)
            .encode(&refs, None)
            .bodies
            .remove(0);
        let (a, b) = body.split().unwrap();
        assert_eq!(a.len() + b.len(), body.len());
        assert!(
            std::str::from_utf8(b.bytes())
                .unwrap()
                .starts_with("{\"create\"")
        );
        assert_eq!([a.bytes(), b.bytes()].concat(), body.bytes());
        assert_eq!(b.batch_index(0), Some(a.len()));
    }

    #[test]
    fn items_are_classified() {
        let item = |status, kind: &str| ItemResult {
            status,
            error: (!kind.is_empty()).then(|| EsError {
                kind: kind.into(),
                reason: Some("why".into()),
                caused_by: None,
            }),
        };
        assert_eq!(item(201, "").outcome(), ItemOutcome::Delivered);
        assert_eq!(
            item(409, "version_conflict_engine_exception").outcome(),
            ItemOutcome::Delivered
        );
        assert!(matches!(
            item(429, "es_rejected_execution_exception").outcome(),
            ItemOutcome::Retry(_)
        ));
        assert!(matches!(
            item(503, "unavailable_shards_exception").outcome(),
            ItemOutcome::Retry(_)
        ));
        let ItemOutcome::Rejected(reason) = item(400, "document_parsing_exception").outcome()
        else {
            panic!("not rejected")
        };
        assert!(
            reason.contains("document_parsing_exception: why"),
            "{reason}"
        );
    }
}
