//! What every relational backend keeps of an event: typed columns for the queries, and a
//! document for the rest.

use std::borrow::Cow;

use hpti_core::event::{Event, EventKind, Truncation};

/// The part of an event the typed columns and the enrichments table do not hold: its kind
/// and data and raw record. Keeping only this in `doc` halves the bytes written per event;
/// the whole event is rebuilt from the columns, the document and its enrichment.
#[derive(serde::Serialize)]
pub(crate) struct StoredDoc<'a> {
    v: u32,
    #[serde(flatten)]
    kind: &'a EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: &'a Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    truncated: &'a [Truncation],
}

impl<'a> StoredDoc<'a> {
    pub(crate) fn of(event: &'a Event) -> Self {
        Self {
            v: event.schema_version,
            kind: &event.kind,
            raw: &event.raw,
            truncated: &event.truncated,
        }
    }
}

/// The typed columns of one event's kind, borrowed from it.
#[derive(Debug, Default, Clone)]
pub(crate) struct TypedColumns<'a> {
    pub(crate) username: Option<&'a str>,
    pub(crate) password: Option<&'a str>,
    pub(crate) success: Option<bool>,
    /// [`EventKind::attempted_command`]: a command line, or an HTTP attack request.
    pub(crate) command: Option<Cow<'a, str>>,
    pub(crate) url: Option<&'a str>,
    /// The name an uploaded file was given (uploads have no URL).
    pub(crate) filename: Option<&'a str>,
    pub(crate) sha256: Option<&'a str>,
    pub(crate) size: Option<i64>,
    /// A session.closed event's duration (SQLite reads it from the document instead).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) duration_ms: Option<i64>,
    /// A client.version event's version string (likewise).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) client_version: Option<&'a str>,
}

impl<'a> TypedColumns<'a> {
    pub(crate) fn of(event: &'a Event) -> Self {
        let mut row = Self::default();
        match &event.kind {
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => {
                row.username = Some(username);
                row.password = password.as_deref();
                row.success = Some(*success);
            }
            EventKind::CommandInput { .. } => row.command = event.kind.attempted_command(),
            EventKind::FileDownload {
                url, sha256, size, ..
            } => {
                row.url = Some(url);
                row.sha256 = sha256.as_deref();
                row.size = size.and_then(|s| i64::try_from(s).ok());
            }
            EventKind::FileUpload {
                filename,
                sha256,
                size,
            } => {
                row.filename = Some(filename);
                row.sha256 = sha256.as_deref();
                row.size = size.and_then(|s| i64::try_from(s).ok());
            }
            EventKind::HttpRequest { uri, .. } => {
                row.url = Some(uri);
                row.command = event.kind.attempted_command();
            }
            EventKind::SessionClosed { duration_ms, .. } => {
                row.duration_ms = i64::try_from(*duration_ms).ok();
            }
            EventKind::ClientVersion { version } => row.client_version = Some(version),
            _ => {}
        }
        row
    }
}
