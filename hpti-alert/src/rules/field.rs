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
use hpti_core::event::EventKind;
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
    /// `data.<name>`: a field of the event's typed part, read from it directly.
    Data(String),
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
        if text.is_empty()
            || segments.iter().any(|s| s.is_empty())
            || text.contains(char::is_control)
        {
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
            _ if segments.len() == 2 && segments[0] == "data" => {
                Access::Data(segments[1].to_owned())
            }
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
        let mut out = Vec::new();
        match self.single(view) {
            Single::None => {}
            Single::One(scalar) => out.push(scalar),
            Single::Json(value) => push_scalars(value, &mut out),
        }
        out
    }

    /// Calls `f` with the values at this path, collected only when there are several.
    pub(crate) fn with_values<R>(
        &self,
        view: &EventView<'_>,
        f: impl FnOnce(&[Scalar<'_>]) -> R,
    ) -> R {
        match self.single(view) {
            Single::None => f(&[]),
            Single::One(scalar) => f(std::slice::from_ref(&scalar)),
            Single::Json(value) => {
                let mut values = Vec::new();
                push_scalars(value, &mut values);
                f(&values)
            }
        }
    }

    /// The value at this path without collecting: a common field, or the JSON found
    /// there (which may hold several).
    fn single<'a>(&self, view: &'a EventView<'_>) -> Single<'a> {
        let event = view.event_ref();
        let text = |s: &'a str| Single::One(Scalar::Str(Cow::Borrowed(s)));
        match &self.access {
            Access::Id => text(view.id_text()),
            Access::Time => text(view.time_text()),
            Access::Sensor => text(&event.sensor),
            Access::Protocol => text(event.protocol.as_str()),
            Access::Session => match &event.session {
                Some(s) => text(s),
                None => Single::None,
            },
            Access::SrcIp => text(view.src_ip_text()),
            Access::SrcPort => match event.src_port {
                Some(p) => Single::One(Scalar::Num(f64::from(p))),
                None => Single::None,
            },
            Access::DstIp => match view.dst_ip_text() {
                Some(ip) => text(ip),
                None => Single::None,
            },
            Access::DstPort => match event.dst_port {
                Some(p) => Single::One(Scalar::Num(f64::from(p))),
                None => Single::None,
            },
            Access::Kind => text(event.kind.name()),
            Access::Data(name) => match data_field(&event.kind, name) {
                Some(found) => found,
                // Fields of `unknown` events live in a map: read from the JSON form.
                None => {
                    match view
                        .kind_json()
                        .get("data")
                        .and_then(|data| data.get(name.as_str()))
                    {
                        None | Some(Value::Null) => Single::None,
                        Some(Value::String(s)) => text(s),
                        Some(other) => Single::Json(other),
                    }
                }
            },
            Access::Json(segments) => {
                // `data` and `enrichment` are read from their own parts, serialized
                // alone: most rules look only there, and the whole event costs more.
                let (mut value, rest) = match segments.first().map(String::as_str) {
                    Some("data") => (view.kind_json(), &segments[..]),
                    Some("enrichment") => match view.enrichment_json() {
                        Some(enrichment) => (enrichment, &segments[1..]),
                        None => return Single::None,
                    },
                    _ => (view.json(), &segments[..]),
                };
                for segment in rest {
                    value = match value {
                        Value::Object(map) => match map.get(segment) {
                            Some(v) => v,
                            None => return Single::None,
                        },
                        _ => return Single::None,
                    };
                }
                match value {
                    Value::Null => Single::None,
                    Value::String(s) => text(s),
                    other => Single::Json(other),
                }
            }
        }
    }

    /// The field's value as one text (several values joined with `,`), or `None` when
    /// the event does not have it. Borrowed from the event where it can be.
    pub fn text<'a>(&self, view: &'a EventView<'_>) -> Option<Cow<'a, str>> {
        match self.single(view) {
            Single::None => None,
            Single::One(Scalar::Str(s)) => Some(s),
            Single::One(other) => Some(Cow::Owned(other.to_text().into_owned())),
            Single::Json(value) => {
                let mut values = Vec::new();
                push_scalars(value, &mut values);
                if values.is_empty() {
                    return None;
                }
                Some(Cow::Owned(
                    values
                        .iter()
                        .map(|v| v.to_text().into_owned())
                        .collect::<Vec<_>>()
                        .join(","),
                ))
            }
        }
    }
}

/// `data.<name>` of a kind, as its JSON form has it (absent where the form leaves it
/// out); `None` for a kind whose fields are not known here (`unknown`).
fn data_field<'a>(kind: &'a EventKind, name: &str) -> Option<Single<'a>> {
    let text = |s: &'a str| Single::One(Scalar::Str(Cow::Borrowed(s)));
    let maybe = |s: &'a Option<String>| s.as_deref().map_or(Single::None, text);
    let num = |n: f64| Single::One(Scalar::Num(n));
    let flag = |b: bool| Single::One(Scalar::Bool(b));
    // u64 as f64 loses precision only past 2^53, as serde_json's f64 reading does.
    #[allow(clippy::cast_precision_loss)]
    let big = |n: u64| n as f64;
    Some(match (kind, name) {
        (EventKind::Unknown { .. }, _) => return None,
        (EventKind::SessionClosed { duration_ms, .. }, "duration_ms") => num(big(*duration_ms)),
        (EventKind::SessionClosed { recording, .. }, "recording") => maybe(recording),
        (EventKind::ClientVersion { version }, "version") => text(version),
        (EventKind::ClientFingerprint { method, .. }, "method") => text(method),
        (EventKind::ClientFingerprint { fingerprint, .. }, "fingerprint") => text(fingerprint),
        (EventKind::ClientFingerprint { algorithms, .. }, "algorithms") => maybe(algorithms),
        (EventKind::LoginAttempt { username, .. }, "username") => text(username),
        (EventKind::LoginAttempt { password, .. }, "password") => maybe(password),
        (EventKind::LoginAttempt { key_type, .. }, "key_type") => maybe(key_type),
        (
            EventKind::LoginAttempt {
                key_fingerprint, ..
            },
            "key_fingerprint",
        ) => maybe(key_fingerprint),
        (EventKind::LoginAttempt { method, .. }, "method") => text(method.as_str()),
        (EventKind::LoginAttempt { success, .. }, "success") => flag(*success),
        (EventKind::CommandInput { command }, "command") => text(command),
        (EventKind::FileDownload { url, .. }, "url") => text(url),
        (EventKind::FileDownload { sha256, .. }, "sha256") => maybe(sha256),
        (EventKind::FileDownload { size, .. }, "size") => {
            size.map_or(Single::None, |n| num(big(n)))
        }
        (EventKind::FileDownload { error, .. }, "error") => maybe(error),
        (EventKind::FileUpload { filename, .. }, "filename") => text(filename),
        (EventKind::FileUpload { sha256, .. }, "sha256") => maybe(sha256),
        (EventKind::FileUpload { size, .. }, "size") => size.map_or(Single::None, |n| num(big(n))),
        (EventKind::HttpRequest { method, .. }, "method") => text(method),
        (EventKind::HttpRequest { uri, .. }, "uri") => text(uri),
        (EventKind::HttpRequest { host, .. }, "host") => maybe(host),
        (EventKind::HttpRequest { user_agent, .. }, "user_agent") => maybe(user_agent),
        (EventKind::HttpRequest { status, .. }, "status") => {
            status.map_or(Single::None, |n| num(f64::from(n)))
        }
        // Lists and nested fields: their JSON form answers (`labels` matches an element).
        (EventKind::HttpRequest { .. }, "labels" | "detail") => return None,
        (EventKind::PortForward { host, .. }, "host") => text(host),
        (EventKind::PortForward { port, .. }, "port") => num(f64::from(*port)),
        (EventKind::PortForward { accepted, .. }, "accepted") => flag(*accepted),
        // A kind added to hpti-core and not listed here: its JSON form answers.
        _ if !is_known_kind(kind) => return None,
        _ => Single::None,
    })
}

/// Whether [`data_field`] lists every field of this kind.
fn is_known_kind(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::SessionStarted
            | EventKind::SessionClosed { .. }
            | EventKind::ClientVersion { .. }
            | EventKind::ClientFingerprint { .. }
            | EventKind::LoginAttempt { .. }
            | EventKind::CommandInput { .. }
            | EventKind::FileDownload { .. }
            | EventKind::FileUpload { .. }
            | EventKind::HttpRequest { .. }
            | EventKind::PortForward { .. }
    )
}

/// What a path finds before it is collected.
enum Single<'a> {
    None,
    One(Scalar<'a>),
    Json(&'a Value),
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

/// One event as the rules see it; its texts and JSON parts are built on first use and
/// shared by every rule.
pub struct EventView<'e> {
    event: &'e Event,
    json: OnceCell<Value>,
    kind_json: OnceCell<Value>,
    enrichment_json: OnceCell<Value>,
    id: OnceCell<String>,
    time: OnceCell<String>,
    src_ip: OnceCell<String>,
    dst_ip: OnceCell<Option<String>>,
    #[cfg(feature = "sigma")]
    sigma_logsource: OnceCell<rsigma_parser::LogSource>,
}

impl<'e> EventView<'e> {
    /// A view of `event`.
    pub fn new(event: &'e Event) -> Self {
        Self {
            event,
            json: OnceCell::new(),
            kind_json: OnceCell::new(),
            enrichment_json: OnceCell::new(),
            id: OnceCell::new(),
            time: OnceCell::new(),
            src_ip: OnceCell::new(),
            dst_ip: OnceCell::new(),
            #[cfg(feature = "sigma")]
            sigma_logsource: OnceCell::new(),
        }
    }

    /// The event itself.
    pub fn event_ref(&self) -> &'e Event {
        self.event
    }

    /// The event as Sigma rules see it: with the event's own fields beneath Sigma's
    /// when `raw`.
    #[cfg(feature = "sigma")]
    pub fn sigma(&self, raw: bool) -> super::sigma::SigmaEvent<'_> {
        super::sigma::SigmaEvent::from_view(self, raw.then(|| self.json()))
    }

    /// The event's Sigma logsource, built once.
    #[cfg(feature = "sigma")]
    pub fn sigma_logsource(&self) -> &rsigma_parser::LogSource {
        self.sigma_logsource
            .get_or_init(|| super::sigma::sigma_logsource(self.event))
    }

    /// The event's JSON form.
    pub fn json(&self) -> &Value {
        self.json
            .get_or_init(|| serde_json::to_value(self.event).unwrap_or(Value::Null))
    }

    /// `{"kind": ..., "data": {...}}`: the event's typed part, as in its JSON form.
    fn kind_json(&self) -> &Value {
        self.kind_json
            .get_or_init(|| serde_json::to_value(&self.event.kind).unwrap_or(Value::Null))
    }

    /// The `enrichment` object of the JSON form (`None` when the form leaves it out).
    fn enrichment_json(&self) -> Option<&Value> {
        if self.event.enrichment.is_empty() {
            return None;
        }
        Some(
            self.enrichment_json.get_or_init(|| {
                serde_json::to_value(&self.event.enrichment).unwrap_or(Value::Null)
            }),
        )
    }

    fn id_text(&self) -> &str {
        self.id.get_or_init(|| self.event.id.to_string())
    }

    fn time_text(&self) -> &str {
        self.time.get_or_init(|| self.event.time.to_string())
    }

    pub(crate) fn src_ip_text(&self) -> &str {
        self.src_ip.get_or_init(|| self.event.src_ip.to_string())
    }

    pub(crate) fn dst_ip_text(&self) -> Option<&str> {
        self.dst_ip
            .get_or_init(|| self.event.dst_ip.map(|ip| ip.to_string()))
            .as_deref()
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

    /// Every path reads what the event's whole JSON form holds there, though `data` and
    /// `enrichment` are read from parts serialized alone.
    #[test]
    fn paths_read_the_json_form() {
        let mut event = login().with_session("c0ffee").with_source_port(50022);
        event.raw = Some("{\"eventid\":\"cowrie.login.failed\"}".into());
        let whole = |event: &Event, path: &str| -> Vec<String> {
            let mut value = serde_json::to_value(event).unwrap();
            for segment in path.split('.') {
                value = match value.get(segment) {
                    Some(v) => v.clone(),
                    None => return Vec::new(),
                };
            }
            let mut out = Vec::new();
            push_scalars(&value, &mut out);
            out.iter().map(|v| v.to_text().into_owned()).collect()
        };
        let paths = [
            "id",
            "time",
            "sensor",
            "protocol",
            "session",
            "src_ip",
            "src_port",
            "dst_ip",
            "dst_port",
            "kind",
            "data",
            "data.username",
            "data.password",
            "data.success",
            "data.method",
            "data.key_type",
            "data.missing",
            "enrichment",
            "enrichment.tags",
            "enrichment.geo.country_code",
            "raw",
            "v",
            "truncated",
        ];
        for round in 0..2 {
            let view = EventView::new(&event);
            for path in paths {
                let field = FieldPath::parse(path).unwrap();
                let ours: Vec<String> = field
                    .values(&view)
                    .iter()
                    .map(|v| v.to_text().into_owned())
                    .collect();
                assert_eq!(ours, whole(&event, path), "{path} (round {round})");
                let text = field.text(&view).map(|t| t.into_owned());
                let joined = Some(ours.join(",")).filter(|_| !ours.is_empty());
                assert_eq!(text, joined, "{path} (round {round})");
            }
            // Round two: with enrichment.
            event.enrichment.tags = vec!["tor".into(), "known-scanner".into()];
            event.enrichment.geo = Some(hpti_core::event::Geo {
                country_code: Some("NL".into()),
                ..Default::default()
            });
        }
    }

    /// `data.<name>` read from the kind itself is what the JSON form holds, for every
    /// kind and every field name any kind has (and one none has).
    #[test]
    fn data_fields_read_as_the_json_form_for_every_kind() {
        use hpti_core::event::AuthMethod;
        let mut unknown_fields = serde_json::Map::new();
        unknown_fields.insert("method".into(), Value::from("x"));
        unknown_fields.insert("size".into(), Value::from(3));
        let kinds = vec![
            EventKind::SessionStarted,
            EventKind::SessionClosed {
                duration_ms: 1234,
                recording: Some("r.cast".into()),
            },
            EventKind::SessionClosed {
                duration_ms: 0,
                recording: None,
            },
            EventKind::ClientVersion {
                version: "SSH-2.0-Go".into(),
            },
            EventKind::ClientFingerprint {
                method: "hassh".into(),
                fingerprint: "ab12".into(),
                algorithms: Some("a;b".into()),
            },
            EventKind::LoginAttempt {
                username: "root".into(),
                password: None,
                key_type: Some("ssh-ed25519".into()),
                key_fingerprint: Some("SHA256:x".into()),
                method: AuthMethod::Publickey,
                success: true,
            },
            EventKind::CommandInput {
                command: "uname -a".into(),
            },
            EventKind::FileDownload {
                url: "http://x/y".into(),
                sha256: Some("ab".into()),
                size: Some(9_007_199_254_740_993),
                error: Some("timeout".into()),
            },
            EventKind::FileUpload {
                filename: "a.sh".into(),
                sha256: None,
                size: Some(5),
            },
            EventKind::HttpRequest {
                method: "GET".into(),
                uri: "/".into(),
                host: Some("h".into()),
                user_agent: None,
                status: Some(404),
                labels: Vec::new(),
                detail: None,
            },
            EventKind::PortForward {
                host: "10.0.0.1".into(),
                port: 25,
                accepted: false,
            },
            EventKind::Unknown {
                original_type: "x.y".into(),
                fields: unknown_fields,
            },
        ];
        let names = [
            "duration_ms",
            "recording",
            "version",
            "method",
            "fingerprint",
            "algorithms",
            "username",
            "password",
            "key_type",
            "key_fingerprint",
            "success",
            "command",
            "url",
            "sha256",
            "size",
            "error",
            "filename",
            "uri",
            "host",
            "user_agent",
            "status",
            "port",
            "accepted",
            "original_type",
            "fields",
            "nothing",
        ];
        for kind in kinds {
            let event = Event::new("s", Protocol::Ssh, "192.0.2.1".parse().unwrap(), kind);
            let json = serde_json::to_value(&event).unwrap();
            let view = EventView::new(&event);
            for name in names {
                let path = FieldPath::parse(&format!("data.{name}")).unwrap();
                let mut expected = Vec::new();
                if let Some(v) = json.get("data").and_then(|d| d.get(name)) {
                    push_scalars(v, &mut expected);
                }
                assert_eq!(
                    path.values(&view),
                    expected,
                    "data.{name} of {}",
                    event.kind.name()
                );
            }
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "data.", ".x", "a..b", "data.a\0b", "data.\u{1f}"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
