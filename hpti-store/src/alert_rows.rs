//! What the SQLite and PostgreSQL alert stores share: records kept as JSON documents
//! (an alert's acknowledgement beside its document), and the key column of a notification
//! group.

use hpti_core::alert::Alert;
use hpti_core::alert_store::{Acknowledgement, AlertStoreError, StoredAlert};
use hpti_core::event::Timestamp;

/// The key column of a group: its key's SHA-256 in hex (a group key holds attacker-chosen
/// label values, which PostgreSQL's text cannot always hold).
pub(crate) fn group_digest(key: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A record as its JSON document.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, AlertStoreError> {
    serde_json::to_string(value).map_err(|e| AlertStoreError::new("cannot encode", e))
}

/// A record from its JSON document.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, AlertStoreError> {
    serde_json::from_str(doc).map_err(|e| AlertStoreError::new("a stored record is unreadable", e))
}

/// A stored alert's document: all but the acknowledgement, which has a column of its own
/// written only by `acknowledge` (so that saving an alert never undoes an ack).
pub(crate) fn alert_doc(stored: &StoredAlert) -> Result<String, AlertStoreError> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        alert: &'a Alert,
        #[serde(skip_serializing_if = "Option::is_none")]
        notified_at: Option<Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        escalated_at: Option<Timestamp>,
        updated_at: Timestamp,
    }
    json(&Doc {
        alert: &stored.alert,
        notified_at: stored.notified_at,
        escalated_at: stored.escalated_at,
        updated_at: stored.updated_at,
    })
}

/// A stored alert from its document and acknowledgement column (rows written before the
/// column existed keep theirs in the document).
pub(crate) fn parse_alert(doc: &str, acked: Option<&str>) -> Result<StoredAlert, AlertStoreError> {
    let mut stored: StoredAlert = parse(doc)?;
    if let Some(acked) = acked {
        stored.acked = Some(parse::<Acknowledgement>(acked)?);
    }
    Ok(stored)
}
