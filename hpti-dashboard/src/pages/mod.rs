//! One module per page. Each handler reads the store through the API's state, shapes the
//! rows for its template, and renders it (whole, or its `main` block for the script).

pub(crate) mod alerts;
pub(crate) mod attackers;
pub(crate) mod commands;
pub(crate) mod credentials;
pub(crate) mod downloads;
pub(crate) mod live;
pub(crate) mod overview;
pub(crate) mod sessions;

use hpti_core::event::Timestamp;
use serde::Serialize;

use crate::error::PageError;
use crate::table::Query;
use crate::window::{Picked, WindowParams};

/// A preset of the window picker.
#[derive(Debug, Serialize)]
pub(crate) struct Preset {
    name: &'static str,
    href: String,
    active: bool,
}

/// The window picker of a page at `path`: presets linking to the same view in another
/// window, and the custom range's fields.
#[derive(Debug, Serialize)]
pub(crate) struct Picker {
    path: String,
    presets: Vec<Preset>,
    custom: bool,
    since: String,
    until: String,
    /// The page's other parameters, kept by the custom form as hidden fields.
    keep: Vec<(String, String)>,
    /// The window's and the sort's parameters, kept by a page's filter form.
    hold: Vec<(String, String)>,
}

/// The window a page's query asks for, and its picker.
pub(crate) fn window(path: &str, query: &Query) -> Result<(Picked, Picker), PageError> {
    let params = WindowParams {
        window: query.get("window").map(str::to_owned),
        since: query.get("since").map(str::to_owned),
        until: query.get("until").map(str::to_owned),
    };
    let picked = params.pick(Timestamp::now())?;
    let presets = picked
        .presets
        .iter()
        .map(|name| Preset {
            name,
            href: query.link(path, &[("window", name), ("since", ""), ("until", "")]),
            active: picked.name == *name,
        })
        .collect();
    let keep = query
        .pairs()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "window" | "since" | "until" | "page"))
        .cloned()
        .collect();
    let mut hold = picked.pairs();
    hold.extend(
        query
            .pairs()
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "sort" | "dir"))
            .cloned(),
    );
    let picker = Picker {
        hold,
        path: path.to_owned(),
        presets,
        custom: picked.name == "custom",
        since: picked.since_text.clone(),
        until: picked.until_text.clone(),
        keep,
    };
    Ok((picked, picker))
}

/// A page's raw query string, parsed.
pub(crate) fn query(raw: Option<String>) -> Query {
    Query::parse(raw.as_deref())
}

/// What a list page reads from its request: the query (kept for links) and the window
/// it asks for, with the picker that changes it.
pub(crate) struct Listing {
    pub query: Query,
    pub picked: Picked,
    pub picker: Picker,
}

impl axum::extract::FromRequestParts<crate::Dashboard> for Listing {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &crate::Dashboard,
    ) -> Result<Self, PageError> {
        let query = Query::parse(parts.uri.query());
        let (picked, picker) = window(parts.uri.path(), &query)?;
        Ok(Self {
            query,
            picked,
            picker,
        })
    }
}

/// `text` percent-encoded for one path segment (only unreserved characters kept).
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
