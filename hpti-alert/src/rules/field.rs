//! Field paths into an event's JSON form (`docs/events.md`): `kind`, `src_ip`,
//! `data.success`, `enrichment.geo.country_code`, and the values found there.
//!
//! The common fields are read from the event directly; anything under `data`,
//! `enrichment` or another nested field comes from the event's JSON form, built once per
//! event and shared by every rule ([`EventView`]).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use hpti_core::Event;
use serde_json::Value;

/// A field of the event, by its dotted path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    text: String,
    access: Access,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Access {
    Id,
    Time,
    Sensor,
    Protocol,
    Session,
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Kind,
    /// Any other path, looked up in the event's JSON form.
    Json(Vec<String>),
}

/// A path that is empty or has an empty segment (`data..x`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a field path (dotted names such as `data.username`)")]
pub struct BadFieldPath(pub String);

impl FieldPath {
    /// Parses a dotted path.
    pub fn parse(text: &str) -> Result<Self, BadFieldPath> {
        let segments: Vec<&str> = text.split('.').collect();
        if text.is_empty() || segments.iter().any(|s| s.is_empty()) {
            return Err(BadFieldPath(text.to_owned()));
        }
        let access = match text {
            "id" => Access::Id,
            "time" => Access::Time,
            "sensor" => Access::Sensor,
            "protocol" => Access::Protocol,
            "session" => Access::Session,
            "src_ip" => Access::SrcIp,
            "src_port" => Access::SrcPort,
            "dst_ip" => Access::DstIp,
            "dst_port" => Access::DstPort,
            "kind" => Access::Kind,
            _ => Access::Json(segments.into_iter().map(str::to_owned).collect()),
        };
        Ok(Self {
            text: text.to_owned(),
            access,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is the event's `kind` (rules are indexed by it).
    pub(crate) fn is_kind(&self) -> bool {
        self.access == Access::Kind
    }

    /// The values at this path: none when absent or null, several for an array.
    pub fn values<'a>(&self, view: &'a EventView<'_>) -> Vec<Scalar<'a>> {
        let event = view.event;
        let one = |s: Scalar<'a>| vec![s];
        match &self.access {
            Access::Id => one(Scalar::Str(Cow::Owned(event.id.to_string()))),
            Access::Time => one(Scalar::Str(Cow::Owned(event.time.to_string()))),
            Access::Sensor => one(Scalar::Str(Cow::Borrowed(&view.event_ref().sensor))),
            Access::Protocol => one(Scalar::Str(Cow::Borrowed(
                view.event_ref().protocol.as_str(),
            ))),
            Access::Session => match &view.event_ref().session {
                Some(s) => one(Scalar::Str(Cow::Borrowed(s))),
                None => Vec::new(),
            },
            Access::SrcIp => one(Scalar::Str(Cow::Owned(event.src_ip.to_string()))),
            Access::SrcPort => event
                .src_port
                .map(|p| one(Scalar::Num(f64::from(p))))
                .unwrap_or_default(),
            Access::DstIp => event
                .dst_ip
                .map(|ip| one(Scalar::Str(Cow::Owned(ip.to_string()))))
                .unwrap_or_default(),
            Access::DstPort => event
                .dst_port
                .map(|p| one(Scalar::Num(f64::from(p))))
                .unwrap_or_default(),
            Access::Kind => one(Scalar::Str(Cow::Borrowed(event.kind.name()))),
            Access::Json(segments) => {
                let mut value = view.json();
                for segment in segments {
                    value = match value {
                        Value::Object(map) => match map.get(segment) {
                            Some(v) => v,
                            None => return Vec::new(),
                        },
                        _ => return Vec::new(),
                    };
                }
                let mut out = Vec::new();
                push_scalars(value, &mut out);
                out
            }
        }
    }

    /// The field's value as one text (several values joined with `,`), or `None` when
    /// the event does not have it.
    pub fn text(&self, view: &EventView<'_>) -> Option<String> {
        let values = self.values(view);
        if values.is_empty() {
            return None;
        }
        Some(
            values
                .iter()
                .map(|v| v.to_text().into_owned())
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn push_scalars<'a>(value: &'a Value, out: &mut Vec<Scalar<'a>>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(Scalar::Bool(*b)),
        Value::Number(n) => out.push(Scalar::Num(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => out.push(Scalar::Str(Cow::Borrowed(s))),
        Value::Array(items) => {
            for item in items {
                // One level: an array of objects is matched as their JSON text.
                match item {
                    Value::Array(_) | Value::Object(_) => {
                        out.push(Scalar::Str(Cow::Owned(item.to_string())));
                    }
                    _ => push_scalars(item, out),
                }
            }
        }
        Value::Object(_) => out.push(Scalar::Str(Cow::Owned(value.to_string()))),
    }
}

/// One value found at a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// Text (addresses and times are text too).
    Str(Cow<'a, str>),
    /// A number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl Scalar<'_> {
    /// The value as text, as it appears in the JSON form (`22`, `true`, `root`).
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Self::Str(s) => Cow::Borrowed(s),
            Self::Num(n) => Cow::Owned(format_number(*n)),
            Self::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }

    /// The value as a number, if it is one (or text that reads as one).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Num(n) => Some(*n),
            Self::Str(s) => s.trim().parse().ok(),
            Self::Bool(_) => None,
        }
    }
}

/// A number as JSON writes it: integers without a fraction.
pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// One event as the rules see it; its JSON form is built on first use and shared.
pub struct EventView<'e> {
    event: &'e Event,
    json: OnceCell<Value>,
    /// Sigma's fields only, and with the event's own beneath them.
    #[cfg(feature = "sigma")]
    sigma: OnceCell<(Value, rsigma_parser::LogSource)>,
    #[cfg(feature = "sigma")]
    sigma_raw: OnceCell<(Value, rsigma_parser::LogSource)>,
}

impl<'e> EventView<'e> {
    /// A view of `event`.
    pub fn new(event: &'e Event) -> Self {
        Self {
            event,
            json: OnceCell::new(),
            #[cfg(feature = "sigma")]
            sigma: OnceCell::new(),
            #[cfg(feature = "sigma")]
            sigma_raw: OnceCell::new(),
        }
    }

    /// The event itself.
    pub fn event_ref(&self) -> &'e Event {
        self.event
    }

    /// The event as Sigma rules see it (fields and logsource), built once: with the
    /// event's own fields too when `raw` (a superset serves either).
    #[cfg(feature = "sigma")]
    pub fn sigma(&self, raw: bool) -> &(Value, rsigma_parser::LogSource) {
        if let Some(full) = self.sigma_raw.get() {
            return full;
        }
        if raw {
            self.sigma_raw
                .get_or_init(|| super::sigma::sigma_event(self.event, true))
        } else {
            self.sigma
                .get_or_init(|| super::sigma::sigma_event(self.event, false))
        }
    }

    /// The event's JSON form.
    pub fn json(&self) -> &Value {
        self.json
            .get_or_init(|| serde_json::to_value(self.event).unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::event::{AuthMethod, EventKind, Protocol, Timestamp};

    fn login() -> Event {
        Event::new(
            "ssh-1",
            Protocol::Ssh,
            "203.0.113.7".parse().unwrap(),
            EventKind::LoginAttempt {
                username: "root".into(),
                password: Some("123456".into()),
                method: AuthMethod::Password,
                key_type: None,
                key_fingerprint: None,
                success: false,
            },
        )
        .with_time(Timestamp::from_micros(1_700_000_000_000_000))
    }

    #[test]
    fn common_and_nested_fields() {
        let event = login();
        let view = EventView::new(&event);
        let get = |p: &str| FieldPath::parse(p).unwrap().text(&view);
        assert_eq!(get("kind").as_deref(), Some("login.attempt"));
        assert_eq!(get("src_ip").as_deref(), Some("203.0.113.7"));
        assert_eq!(get("data.username").as_deref(), Some("root"));
        assert_eq!(get("data.success").as_deref(), Some("false"));
        assert_eq!(get("data.missing"), None);
        assert_eq!(get("session"), None);
        assert_eq!(get("sensor").as_deref(), Some("ssh-1"));
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "data.", ".x", "a..b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
