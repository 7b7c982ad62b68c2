//! Query-string parameters, parsed by hand so that every bad value is a 400 that names
//! its parameter (never an extractor's plain-text rejection) and unknown ones are refused.

use std::net::IpAddr;

use hpti_core::event::Timestamp;
use hpti_store::query::MAX_LIMIT;
use hpti_store::{EventFilter, Window};

use crate::error::ApiError;

/// Rows a list returns when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;

/// A request's query string, as name/value pairs.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `query` (the part after `?`), refusing names outside `allowed` and names
    /// given twice.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if name.is_empty() && value.is_empty() {
                continue;
            }
            if !allowed.contains(&name.as_ref()) {
                let known = if allowed.is_empty() {
                    "this endpoint takes no parameters".to_owned()
                } else {
                    format!("unknown parameter (known: {})", allowed.join(", "))
                };
                return Err(ApiError::bad_parameter(&printable(&name), known));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad_parameter(&name, "given more than once"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `since`, `until` and `limit` as a store window.
    pub fn window(&self) -> Result<Window, ApiError> {
        let limit = self.limit()?;
        self.window_of(limit)
    }

    /// `limit` of an export: any number of events from 1 on, all when absent.
    pub fn export_limit(&self) -> Result<Option<u64>, ApiError> {
        match self.get("limit") {
            None => Ok(None),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(ApiError::bad_parameter(
                    "limit",
                    "must be a whole number of events from 1 on",
                )),
            },
        }
    }

    /// `since` and `until` as a window of pages of `limit` rows.
    pub fn window_of(&self, limit: u32) -> Result<Window, ApiError> {
        let since = self.time("since")?;
        let until = self.time("until")?;
        if let (Some(since), Some(until)) = (since, until)
            && until < since
        {
            return Err(ApiError::bad_parameter("until", "is before since"));
        }
        Ok(Window::default()
            .since_opt(since)
            .until_opt(until)
            .limit(limit))
    }

    /// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_parameter(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    /// A time: RFC 3339 (`2026-12-01T00:00:00Z`), or a duration before now (`24h`, `7d`).
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
            let micros = time.timestamp_micros();
            return Ok(Some(Timestamp::from_micros(micros)));
        }
        if let Ok(ago) = humantime::parse_duration(text) {
            let micros = i64::try_from(ago.as_micros()).unwrap_or(i64::MAX);
            return Ok(Some(Timestamp::now().saturating_add_micros(-micros)));
        }
        Err(ApiError::bad_parameter(
            name,
            "must be an RFC 3339 time (2026-12-01T00:00:00Z) or a duration before now (24h, 7d)",
        ))
    }

    /// The event filter: `src_ip`, `session`, `sensor`, `protocol`, `kind`, `command`.
    pub fn event_filter(&self) -> Result<EventFilter, ApiError> {
        let mut filter = EventFilter::default();
        if let Some(ip) = self.get("src_ip") {
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| ApiError::bad_parameter("src_ip", "not an IP address"))?;
            filter = filter.src_ip(ip);
        }
        for (name, value) in [
            ("session", self.get("session")),
            ("sensor", self.get("sensor")),
            ("protocol", self.get("protocol")),
            ("kind", self.get("kind")),
            ("command", self.get("command")),
        ] {
            let Some(value) = value else { continue };
            // Command lines are as long as attackers make them (the store keeps 64 KiB).
            let most = if name == "command" { 65_536 } else { 256 };
            if value.is_empty() || value.len() > most || value.chars().any(char::is_control) {
                return Err(ApiError::bad_parameter(
                    name,
                    format!("must be 1 to {most} printable characters"),
                ));
            }
            filter = match name {
                "session" => filter.session(value),
                "sensor" => filter.sensor(value),
                "protocol" => filter.protocol(value),
                "command" => filter.command(value),
                _ => filter.kind(value),
            };
        }
        filter
            .check()
            .map_err(|e| ApiError::bad_parameter("kind", e))?;
        Ok(filter)
    }
}

/// A name as it may be shown in an error (attacker-sent query strings end up in logs).
fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn bad_values_name_their_parameter() {
        let allowed = ["since", "until", "limit", "src_ip", "kind"];
        let detail = |q: &str| {
            let params = Params::parse(Some(q), &allowed);
            let err = match params {
                Err(e) => e,
                Ok(p) => p.window().and_then(|_| p.event_filter()).expect_err(q),
            };
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{q}");
            err.detail.unwrap()
        };
        assert!(detail("limit=0").starts_with("limit:"));
        assert!(detail("limit=10001").starts_with("limit:"));
        assert!(detail("limit=x").starts_with("limit:"));
        assert!(detail("since=yesterday").starts_with("since:"));
        assert!(detail("src_ip=1.2.3").starts_with("src_ip:"));
        assert!(detail("kind=nope").starts_with("kind:"));
        assert!(detail("colour=red").starts_with("colour:"));
        assert!(detail("limit=1&limit=2").starts_with("limit:"));
        assert!(detail("since=1h&until=2h").starts_with("until:"));
        let ok = Params::parse(Some("since=24h&limit=5&kind=login.attempt"), &allowed).unwrap();
        assert_eq!(ok.window().unwrap().limit, 5);
        assert_eq!(
            ok.event_filter().unwrap().kind.as_deref(),
            Some("login.attempt")
        );
        let at = Params::parse(Some("since=2026-12-01T00:00:00Z"), &allowed).unwrap();
        assert_eq!(
            at.window().unwrap().since,
            Some(Timestamp::from_micros(1_796_083_200_000_000))
        );
    }
}
