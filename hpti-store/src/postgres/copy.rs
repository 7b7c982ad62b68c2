//! Events as `COPY ... FROM STDIN` text rows: tab-separated columns, `\N` for NULL,
//! backslash escapes for backslash, tab, newline and carriage return.

use std::io::Write as _;

use hpti_core::event::{Event, Timestamp};
use serde::Serialize;

use crate::columns::{StoredDoc, TypedColumns};

/// The columns of each row, in order (the events table's, as the migration creates it).
pub(super) const COLUMNS: &str = "id, ts, observed, sensor, protocol, session, src_ip, src_port, \
     dst_ip, dst_port, kind, username, password, success, command, url, filename, sha256, size, \
     country, asn, duration_ms, client_version, enrichment_id, doc";

/// What PostgreSQL text cannot hold (NUL) becomes this in the typed columns.
const NUL_REPLACEMENT: &str = "\u{FFFD}";

/// The document of an event: what the typed columns do not hold, plus the exact text of
/// the columns an event is rebuilt from when a NUL had to be replaced in them.
#[derive(Serialize)]
struct PgDoc<'a> {
    #[serde(flatten)]
    doc: StoredDoc<'a>,
    #[serde(skip_serializing_if = "Exact::is_empty")]
    exact: Exact<'a>,
}

/// Column values that differ from the event's (a NUL replaced): the event's own.
#[derive(Serialize, Default)]
pub(super) struct Exact<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
}

impl Exact<'_> {
    fn is_empty(&self) -> bool {
        self.sensor.is_none() && self.protocol.is_none() && self.session.is_none()
    }
}

/// The key of [`Exact`] in a stored document.
pub(super) const EXACT_KEY: &str = "exact";

/// The stored document of `event`.
pub(super) fn document(event: &Event) -> Result<String, serde_json::Error> {
    let has_nul = |s: &str| s.contains('\0');
    let exact = Exact {
        sensor: Some(event.sensor.as_str()).filter(|s| has_nul(s)),
        protocol: Some(event.protocol.as_str()).filter(|s| has_nul(s)),
        session: event.session.as_deref().filter(|s| has_nul(s)),
    };
    serde_json::to_string(&PgDoc {
        doc: StoredDoc::of(event),
        exact,
    })
}

/// Rows being built for one COPY.
pub(super) struct CopyBuffer {
    bytes: Vec<u8>,
}

impl CopyBuffer {
    /// Room for about `rows` rows.
    pub(super) fn with_capacity(rows: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(rows.saturating_mul(512)),
        }
    }

    /// The rows, ready to send.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends `event`'s row.
    pub(super) fn push_event(&mut self, event: &Event, doc: &str, enrichment_id: Option<i64>) {
        let typed = TypedColumns::of(event);
        let geo_country = event
            .enrichment
            .geo
            .as_ref()
            .and_then(|g| g.country_code.as_deref());
        let asn = event.enrichment.asn.as_ref().map(|a| i64::from(a.number));
        self.display(Some(event.id));
        self.tab();
        self.time(Some(event.time));
        self.tab();
        self.time(event.observed);
        self.tab();
        self.text(Some(&event.sensor));
        self.tab();
        self.text(Some(event.protocol.as_str()));
        self.tab();
        self.text(event.session.as_deref());
        self.tab();
        self.display(Some(event.src_ip));
        self.tab();
        self.display(event.src_port);
        self.tab();
        self.display(event.dst_ip);
        self.tab();
        self.display(event.dst_port);
        self.tab();
        self.text(Some(event.kind.name()));
        self.tab();
        self.text(typed.username);
        self.tab();
        self.text(typed.password);
        self.tab();
        self.display(typed.success.map(|s| if s { 't' } else { 'f' }));
        self.tab();
        self.text(typed.command.as_deref());
        self.tab();
        self.text(typed.url);
        self.tab();
        self.text(typed.filename);
        self.tab();
        self.text(typed.sha256);
        self.tab();
        self.display(typed.size);
        self.tab();
        self.text(geo_country);
        self.tab();
        self.display(asn);
        self.tab();
        self.display(typed.duration_ms);
        self.tab();
        self.text(typed.client_version);
        self.tab();
        self.display(enrichment_id);
        self.tab();
        self.text(Some(doc));
        self.bytes.push(b'\n');
    }

    fn tab(&mut self) {
        self.bytes.push(b'\t');
    }

    fn null(&mut self) {
        self.bytes.extend_from_slice(b"\\N");
    }

    /// A value whose text needs no escaping (numbers, addresses, ids).
    fn display(&mut self, value: Option<impl std::fmt::Display>) {
        match value {
            // Writing into a Vec cannot fail.
            Some(value) => {
                let _ = write!(self.bytes, "{value}");
            }
            None => self.null(),
        }
    }

    fn time(&mut self, time: Option<Timestamp>) {
        match time.and_then(|t| chrono::DateTime::from_timestamp_micros(t.as_micros())) {
            Some(time) => {
                let _ = write!(self.bytes, "{}", time.format("%Y-%m-%d %H:%M:%S%.6f+00"));
            }
            None => self.null(),
        }
    }

    fn text(&mut self, text: Option<&str>) {
        let Some(text) = text else {
            self.null();
            return;
        };
        let mut rest = text.as_bytes();
        while let Some(at) = rest
            .iter()
            .position(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0))
        {
            self.bytes.extend_from_slice(&rest[..at]);
            match rest[at] {
                b'\\' => self.bytes.extend_from_slice(b"\\\\"),
                b'\t' => self.bytes.extend_from_slice(b"\\t"),
                b'\n' => self.bytes.extend_from_slice(b"\\n"),
                b'\r' => self.bytes.extend_from_slice(b"\\r"),
                _ => self.bytes.extend_from_slice(NUL_REPLACEMENT.as_bytes()),
            }
            rest = &rest[at + 1..];
        }
        self.bytes.extend_from_slice(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_nul_replaced() {
        let mut buffer = CopyBuffer::with_capacity(1);
        buffer.text(Some("a\\b\tc\nd\re\0f"));
        buffer.tab();
        buffer.text(None);
        assert_eq!(
            String::from_utf8(buffer.into_bytes()).unwrap(),
            "a\\\\b\\tc\\nd\\re\u{FFFD}f\t\\N"
        );
    }

    #[test]
    fn times_have_microseconds_and_utc() {
        let mut buffer = CopyBuffer::with_capacity(1);
        buffer.time(Some(Timestamp::from_micros(1_767_225_600_000_001)));
        assert_eq!(
            String::from_utf8(buffer.into_bytes()).unwrap(),
            "2026-01-01 00:00:00.000001+00"
        );
    }
}
