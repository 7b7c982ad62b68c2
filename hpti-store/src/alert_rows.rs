//! What the SQLite and PostgreSQL alert stores share: records kept as JSON documents, and
//! the key column of a notification group.

use hpti_core::alert_store::AlertStoreError;

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
