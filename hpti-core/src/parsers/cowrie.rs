//! Cowrie's JSON log (`[output_jsonlog]`, `cowrie.json`), one JSON object per line.
//!
//! See `testdata/FORMATS.md` §1 for the format. The mapping:
//!
//! | `eventid` | kind |
//! | --- | --- |
//! | `cowrie.session.connect` | `session.started` (with the honeypot address as destination) |
//! | `cowrie.session.closed` | `session.closed` (`duration_ms`, or older Cowries' `duration` in seconds) |
//! | `cowrie.client.version` | `client.version` |
//! | `cowrie.client.kex` | `client.fingerprint` (`hassh`, `hasshAlgorithms`) |
//! | `cowrie.login.success` / `.failed` | `login.attempt` (password, or public key `type` + `fingerprint`) |
//! | `cowrie.command.input` | `command.input` |
//! | `cowrie.session.file_download` with a `url` | `file.download` (`shasum` → `sha256`, `size`) |
//! | `cowrie.session.file_download` without a `url` | `file.upload` (data the attacker wrote through a shell redirection or stdin: `destfile`, else `outfile`) |
//! | `cowrie.session.file_download.failed` | `file.download` with `error` (`"download failed"` when Cowrie gives no reason) |
//! | `cowrie.session.file_upload` | `file.upload` |
//! | `cowrie.direct-tcpip.request` | `port_forward.request` (target `dst_ip`:`dst_port`, `accepted: false`) |
//! | anything else | `unknown`, `original_type` = `eventid`, `fields` = every field of the line |
//!
//! `cowrie.command.failed` / `.success` stay `unknown`: Cowrie also logs `command.input`
//! for the same line, so commands are not counted twice.
//!
//! In `cowrie.direct-tcpip.*` events Cowrie overwrites `dst_ip`/`dst_port` with the
//! forwarding target; those events get the honeypot address remembered from the
//! session's `session.connect` instead (or none), and the target stays in the kind.
//!
//! Protocol: Cowrie's `protocol` field when present. Not every emitter writes it, so the
//! parser remembers each session's protocol from `session.connect` in a bounded map
//! (oldest sessions are forgotten first) and falls back to `ssh`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Mutex;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{NoZone, excerpt, parse_datetime, peer_ip, prepare};
use crate::event::{
    AuthMethod, Enrichment, Event, EventId, EventKind, Protocol, SCHEMA_VERSION, Truncation,
};
use crate::parser::{ParseContext, ParseError, Parser};

/// How many sessions the protocol map remembers by default.
pub const DEFAULT_SESSION_CAPACITY: usize = 16 * 1024;

/// Parses Cowrie's JSON log. Format name `cowrie`.
///
/// ```
/// use hpti_core::event::{EventKind, Protocol};
/// use hpti_core::parser::{ParseContext, Parser};
/// use hpti_core::parsers::CowrieParser;
///
/// let line = br#"{"session":"a8569aebcf53","protocol":"ssh","src_ip":"198.51.100.7","src_port":57290,"dst_ip":"192.0.2.1","dst_port":2222,"username":"root","password":"root","eventid":"cowrie.login.failed","sensor":"s1","timestamp":"2026-11-21T13:28:45.433677Z","message":"login attempt [root/root] failed"}"#;
/// let event = CowrieParser::new().parse(line, &ParseContext::default()).unwrap().unwrap();
/// assert_eq!(event.protocol, Protocol::Ssh);
/// assert!(matches!(event.kind, EventKind::LoginAttempt { success: false, .. }));
/// ```
#[derive(Debug)]
pub struct CowrieParser {
    sessions: Mutex<SessionMap>,
}

impl CowrieParser {
    /// A parser remembering up to [`DEFAULT_SESSION_CAPACITY`] sessions.
    pub fn new() -> Self {
        Self::with_session_capacity(DEFAULT_SESSION_CAPACITY)
    }

    /// A parser remembering up to `capacity` sessions' protocol and honeypot address
    /// (at least one).
    pub fn with_session_capacity(capacity: usize) -> Self {
        Self {
            sessions: Mutex::new(SessionMap::new(capacity.max(1))),
        }
    }

    /// How many sessions are remembered now.
    pub fn remembered_sessions(&self) -> usize {
        self.sessions.lock().map_or(0, |map| map.map.len())
    }

    fn remember(&self, session: &str, info: SessionInfo) {
        if let Ok(mut map) = self.sessions.lock() {
            map.insert(session, info);
        }
    }

    fn recall(&self, session: &str) -> Option<SessionInfo> {
        self.sessions.lock().ok()?.map.get(session).cloned()
    }
}

impl Default for CowrieParser {
    fn default() -> Self {
        Self::new()
    }
}

/// What `session.connect` told about a session.
#[derive(Debug, Clone)]
struct SessionInfo {
    protocol: Protocol,
    destination: Option<(IpAddr, u16)>,
}

/// A session → info map that forgets the oldest entries beyond its capacity.
#[derive(Debug)]
struct SessionMap {
    capacity: usize,
    map: HashMap<Box<str>, SessionInfo>,
    order: VecDeque<Box<str>>,
}

impl SessionMap {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn insert(&mut self, session: &str, info: SessionInfo) {
        if let Some(slot) = self.map.get_mut(session) {
            *slot = info;
            return;
        }
        while self.order.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        let key: Box<str> = session.into();
        self.order.push_back(key.clone());
        self.map.insert(key, info);
    }
}

/// A JSON value of a Cowrie field, borrowed from the line when it has no escapes.
///
/// Lenient on purpose: the `Raw` struct reads every line, and a field that is typed in
/// one event may have another type in an event this parser does not map.
#[derive(Debug, Default)]
enum Field<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    UInt(u64),
    NegInt,
    Float(f64),
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::UInt(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Field::NegInt, Field::UInt))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Field::Float(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an object"))
    }
}

impl<'a> Field<'a> {
    fn kind(&self) -> &'static str {
        match self {
            Self::Absent => "absent",
            Self::Str(_) => "a string",
            Self::UInt(_) | Self::NegInt => "an integer",
            Self::Float(_) => "a number",
            Self::Other(what) => what,
        }
    }

    fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    /// The string value; `None` when absent; an error for another type.
    fn opt_str(&self, field: &'static str) -> Result<Option<&str>, ParseError> {
        match self {
            Self::Absent => Ok(None),
            Self::Str(s) => Ok(Some(s)),
            other => Err(wrong_type(field, "a string", other.kind())),
        }
    }

    fn str(&self, field: &'static str) -> Result<&str, ParseError> {
        self.opt_str(field)?.ok_or(ParseError::MissingField(field))
    }

    fn opt_u64(&self, field: &'static str) -> Result<Option<u64>, ParseError> {
        match self {
            Self::Absent => Ok(None),
            Self::UInt(n) => Ok(Some(*n)),
            other => Err(wrong_type(field, "a non-negative integer", other.kind())),
        }
    }

    fn opt_port(&self, field: &'static str) -> Result<Option<u16>, ParseError> {
        match self.opt_u64(field)? {
            None => Ok(None),
            Some(n) => u16::try_from(n)
                .ok()
                .filter(|p| *p != 0)
                .map(Some)
                .ok_or_else(|| ParseError::InvalidField {
                    field,
                    reason: format!("{n} is not a port"),
                }),
        }
    }
}

fn wrong_type(field: &'static str, expected: &str, found: &str) -> ParseError {
    ParseError::InvalidField {
        field,
        reason: format!("expected {expected}, found {found}"),
    }
}

/// The fields this parser reads; everything else is skipped without allocating.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow, default)]
    eventid: Field<'a>,
    #[serde(borrow, default)]
    timestamp: Field<'a>,
    #[serde(borrow, default)]
    sensor: Field<'a>,
    #[serde(borrow, default)]
    session: Field<'a>,
    #[serde(borrow, default)]
    protocol: Field<'a>,
    #[serde(borrow, default)]
    src_ip: Field<'a>,
    #[serde(borrow, default)]
    src_port: Field<'a>,
    #[serde(borrow, default)]
    dst_ip: Field<'a>,
    #[serde(borrow, default)]
    dst_port: Field<'a>,
    #[serde(borrow, default)]
    duration_ms: Field<'a>,
    #[serde(borrow, default)]
    duration: Field<'a>,
    #[serde(borrow, default)]
    version: Field<'a>,
    #[serde(borrow, default)]
    hassh: Field<'a>,
    #[serde(borrow, default, rename = "hasshAlgorithms")]
    hassh_algorithms: Field<'a>,
    #[serde(borrow, default)]
    username: Field<'a>,
    #[serde(borrow, default)]
    password: Field<'a>,
    #[serde(borrow, default)]
    fingerprint: Field<'a>,
    #[serde(borrow, default, rename = "type")]
    key_type: Field<'a>,
    #[serde(borrow, default)]
    input: Field<'a>,
    #[serde(borrow, default)]
    url: Field<'a>,
    #[serde(borrow, default)]
    shasum: Field<'a>,
    #[serde(borrow, default)]
    size: Field<'a>,
    #[serde(borrow, default)]
    error: Field<'a>,
    #[serde(borrow, default)]
    filename: Field<'a>,
    #[serde(borrow, default)]
    destfile: Field<'a>,
    #[serde(borrow, default)]
    outfile: Field<'a>,
    // What hpti's own Cowrie output (hpti-intel) adds so that its lines come back exactly:
    // the event id, what Cowrie's shapes cannot say, and the fields cut at capture.
    #[serde(borrow, default)]
    hpti_id: Field<'a>,
    #[serde(borrow, default)]
    hpti_method: Field<'a>,
    #[serde(borrow, default)]
    hpti_recording: Field<'a>,
    #[serde(default)]
    hpti_truncated: Option<Vec<Truncation>>,
}

impl Parser for CowrieParser {
    fn name(&self) -> &str {
        "cowrie"
    }

    fn parse(&self, line: &[u8], ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError> {
        let Some(text) = prepare(line)? else {
            return Ok(None);
        };
        let raw: Raw<'_> = serde_json::from_str(text).map_err(|e| ParseError::from_json(&e))?;

        let eventid = raw.eventid.str("eventid")?;
        let time_text = raw.timestamp.str("timestamp")?;
        let time =
            parse_datetime(time_text, NoZone::Reject).ok_or_else(|| ParseError::InvalidField {
                field: "timestamp",
                reason: format!("not an ISO 8601 time: {:?}", excerpt(time_text)),
            })?;
        let sensor = match raw.sensor.opt_str("sensor")? {
            Some(s) if !s.is_empty() => s,
            _ => ctx.sensor,
        };
        let session = raw.session.opt_str("session")?.filter(|s| !s.is_empty());
        let src_ip = peer_ip("src_ip", raw.src_ip.str("src_ip")?)?;
        let src_port = raw.src_port.opt_port("src_port")?;
        let forwarding = eventid.starts_with("cowrie.direct-tcpip.");
        // A forward's `dst_ip` is its target as the client sent it: often a host name.
        let dst_ip = match raw.dst_ip.opt_str("dst_ip")?.filter(|_| !forwarding) {
            Some(text) => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| ParseError::InvalidField {
                        field: "dst_ip",
                        reason: format!("not an IP address: {:?}", excerpt(text)),
                    })?,
            ),
            None => None,
        };
        let dst_port = raw.dst_port.opt_port("dst_port")?;
        let line_protocol = raw.protocol.opt_str("protocol")?.filter(|p| !p.is_empty());
        let line_destination = match (dst_ip, dst_port) {
            (Some(ip), Some(port)) if !ip.is_unspecified() && !ip.is_multicast() => {
                Some((ip, port))
            }
            _ => None,
        };

        let kind = match eventid {
            "cowrie.session.connect" => EventKind::SessionStarted,
            "cowrie.session.closed" => EventKind::SessionClosed {
                duration_ms: duration_ms(&raw)?,
                recording: raw
                    .hpti_recording
                    .opt_str("hpti_recording")?
                    .map(str::to_owned),
            },
            "cowrie.client.version" => EventKind::ClientVersion {
                version: raw.version.str("version")?.to_owned(),
            },
            "cowrie.client.kex" => {
                let hassh = raw.hassh.str("hassh")?;
                if hassh.is_empty() {
                    return Err(ParseError::InvalidField {
                        field: "hassh",
                        reason: "empty".into(),
                    });
                }
                EventKind::ClientFingerprint {
                    method: "hassh".to_owned(),
                    fingerprint: hassh.to_owned(),
                    algorithms: raw
                        .hassh_algorithms
                        .opt_str("hasshAlgorithms")?
                        .map(str::to_owned),
                }
            }
            "cowrie.login.success" | "cowrie.login.failed" => login(&raw, eventid)?,
            "cowrie.command.input" => EventKind::CommandInput {
                command: raw.input.str("input")?.to_owned(),
            },
            "cowrie.session.file_download" => match raw.url.opt_str("url")? {
                Some(url) if !url.is_empty() => EventKind::FileDownload {
                    url: url.to_owned(),
                    sha256: sha256(&raw.shasum)?,
                    size: raw.size.opt_u64("size")?,
                    error: None,
                },
                _ => {
                    // Saved from a shell redirection or stdin: the attacker wrote it.
                    let destfile = raw.destfile.opt_str("destfile")?.filter(|d| !d.is_empty());
                    let filename = match destfile {
                        Some(d) => d,
                        None => raw.outfile.opt_str("outfile")?.unwrap_or_default(),
                    };
                    EventKind::FileUpload {
                        filename: filename.to_owned(),
                        sha256: Some(
                            sha256(&raw.shasum)?.ok_or(ParseError::MissingField("shasum"))?,
                        ),
                        size: raw.size.opt_u64("size")?,
                    }
                }
            },
            "cowrie.session.file_download.failed" => {
                let url = raw.url.str("url")?;
                if url.is_empty() {
                    return Err(ParseError::InvalidField {
                        field: "url",
                        reason: "empty".into(),
                    });
                }
                let error = raw
                    .error
                    .opt_str("error")?
                    .filter(|e| !e.is_empty())
                    .unwrap_or("download failed");
                EventKind::FileDownload {
                    url: url.to_owned(),
                    sha256: None,
                    size: None,
                    error: Some(error.to_owned()),
                }
            }
            "cowrie.session.file_upload" => EventKind::FileUpload {
                filename: raw.filename.str("filename")?.to_owned(),
                sha256: sha256(&raw.shasum)?,
                size: raw.size.opt_u64("size")?,
            },
            "cowrie.direct-tcpip.request" => {
                let host = raw.dst_ip.str("dst_ip")?;
                if host.is_empty() {
                    return Err(ParseError::InvalidField {
                        field: "dst_ip",
                        reason: "empty".into(),
                    });
                }
                EventKind::PortForward {
                    host: host.to_owned(),
                    port: dst_port.ok_or(ParseError::MissingField("dst_port"))?,
                    accepted: false,
                }
            }
            _ => {
                let fields: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(text).map_err(|e| ParseError::from_json(&e))?;
                EventKind::Unknown {
                    original_type: eventid.to_owned(),
                    fields,
                }
            }
        };

        // Protocol and honeypot address: the line's own, else what session.connect said.
        let mut protocol = line_protocol.map(Protocol::from_name);
        let mut destination = if forwarding { None } else { line_destination };
        if let Some(session) = session {
            if eventid == "cowrie.session.connect" {
                self.remember(
                    session,
                    SessionInfo {
                        protocol: protocol.clone().unwrap_or(Protocol::Ssh),
                        destination,
                    },
                );
            } else if protocol.is_none() || (forwarding && destination.is_none()) {
                if let Some(info) = self.recall(session) {
                    protocol = protocol.or(Some(info.protocol));
                    if forwarding {
                        destination = info.destination;
                    }
                }
            }
        }

        // hpti's own output names the event's id: ingesting it again stores nothing twice.
        let id = match raw.hpti_id.opt_str("hpti_id")? {
            Some(id) => id.parse().map_err(|_| ParseError::InvalidField {
                field: "hpti_id",
                reason: format!("not an event id: {:?}", excerpt(id)),
            })?,
            None => EventId::derived(time, &[b"cowrie", text.as_bytes()]),
        };
        Ok(Some(Event {
            schema_version: SCHEMA_VERSION,
            id,
            time,
            observed: None,
            sensor: sensor.to_owned(),
            protocol: protocol.unwrap_or(Protocol::Ssh),
            session: session.map(str::to_owned),
            src_ip,
            src_port,
            dst_ip: destination.map(|(ip, _)| ip),
            dst_port: destination.map(|(_, port)| port),
            kind,
            enrichment: Enrichment::default(),
            raw: Some(text.to_owned()),
            truncated: {
                // Only ever a few fields are cut; a line claiming more is not believed.
                let mut cut = raw.hpti_truncated.unwrap_or_default();
                cut.truncate(16);
                cut
            },
        }))
    }
}

fn duration_ms(raw: &Raw<'_>) -> Result<u64, ParseError> {
    if let Some(ms) = raw.duration_ms.opt_u64("duration_ms")? {
        return Ok(ms);
    }
    // Cowrie before 2.x: `duration` in seconds, a float (or an integer).
    let seconds = match &raw.duration {
        Field::Absent => return Err(ParseError::MissingField("duration_ms")),
        Field::UInt(n) => return Ok(n.saturating_mul(1000)),
        Field::Float(f) => *f,
        other => return Err(wrong_type("duration", "a number", other.kind())),
    };
    if !seconds.is_finite() || !(0.0..=1e12).contains(&seconds) {
        return Err(ParseError::InvalidField {
            field: "duration",
            reason: format!("{seconds} is not a duration"),
        });
    }
    // In range by the check above; `as` saturates anyway.
    Ok((seconds * 1000.0).round() as u64)
}

fn login(raw: &Raw<'_>, eventid: &str) -> Result<EventKind, ParseError> {
    let username = raw.username.str("username")?.to_owned();
    let password = raw.password.opt_str("password")?;
    let fingerprint = raw.fingerprint.opt_str("fingerprint")?;
    let key_type = raw.key_type.opt_str("type")?;
    let (method, password, key_type, key_fingerprint) = match (password, fingerprint) {
        (Some(p), _) => (AuthMethod::Password, Some(p.to_owned()), None, None),
        (None, Some(fp)) => (
            AuthMethod::Publickey,
            None,
            key_type.map(str::to_owned),
            Some(fp.to_owned()),
        ),
        // Cowrie's `auth_none` checker logs only the user name.
        (None, None) if raw.key_type.is_absent() => (AuthMethod::None, None, None, None),
        (None, None) => (
            AuthMethod::Publickey,
            None,
            key_type.map(str::to_owned),
            None,
        ),
    };
    // hpti's output says when the method is not the one Cowrie's shape implies
    // (keyboard-interactive is written like a password).
    let method = match raw.hpti_method.opt_str("hpti_method")? {
        Some("keyboard-interactive") => AuthMethod::KeyboardInteractive,
        Some("other") => AuthMethod::Other,
        _ => method,
    };
    Ok(EventKind::LoginAttempt {
        username,
        password,
        key_type,
        key_fingerprint,
        method,
        success: eventid == "cowrie.login.success",
    })
}

/// `shasum` as lower-case hex; an error when present but not a SHA-256.
fn sha256(field: &Field<'_>) -> Result<Option<String>, ParseError> {
    let Some(text) = field.opt_str("shasum")? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseError::InvalidField {
            field: "shasum",
            reason: format!("not a SHA-256 hex digest: {:?}", excerpt(text)),
        });
    }
    Ok(Some(text.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(protocol: Protocol) -> SessionInfo {
        SessionInfo {
            protocol,
            destination: None,
        }
    }

    #[test]
    fn session_map_is_bounded_and_forgets_the_oldest() {
        let mut map = SessionMap::new(3);
        for i in 0..10 {
            map.insert(&format!("s{i}"), info(Protocol::Telnet));
            assert!(map.map.len() <= 3 && map.order.len() <= 3);
        }
        assert!(map.map.contains_key("s9") && !map.map.contains_key("s6"));
        // Re-inserting a known session updates it in place.
        map.insert("s9", info(Protocol::Ssh));
        assert_eq!(map.order.len(), 3);
        assert_eq!(
            map.map.get("s9").map(|i| i.protocol.clone()),
            Some(Protocol::Ssh)
        );
    }

    #[test]
    fn protocol_comes_from_session_connect_when_missing() {
        let parser = CowrieParser::with_session_capacity(2);
        let ctx = ParseContext::default();
        let connect = br#"{"eventid":"cowrie.session.connect","session":"t1","protocol":"telnet","src_ip":"198.51.100.1","src_port":4000,"dst_ip":"192.0.2.1","dst_port":23,"timestamp":"2026-11-21T13:00:00.000000Z"}"#;
        let later = br#"{"eventid":"cowrie.command.input","session":"t1","src_ip":"198.51.100.1","input":"id","timestamp":"2026-11-21T13:00:01.000000Z"}"#;
        let fwd = br#"{"eventid":"cowrie.direct-tcpip.request","session":"t1","src_ip":"198.51.100.1","dst_ip":"10.0.0.1","dst_port":8000,"timestamp":"2026-11-21T13:00:01.000000Z"}"#;
        parser.parse(connect, &ctx).unwrap();
        let event = parser.parse(later, &ctx).unwrap().unwrap();
        assert_eq!(event.protocol, Protocol::Telnet);
        let event = parser.parse(fwd, &ctx).unwrap().unwrap();
        assert_eq!(event.dst_ip, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(event.dst_port, Some(23));
        assert!(matches!(
            event.kind,
            EventKind::PortForward { port: 8000, .. }
        ));
        assert_eq!(event.sensor, "import");
        // Unknown sessions fall back to ssh.
        let other = br#"{"eventid":"cowrie.command.input","session":"zz","src_ip":"198.51.100.1","input":"id","timestamp":"2026-11-21T13:00:01.000000Z"}"#;
        assert_eq!(
            parser.parse(other, &ctx).unwrap().unwrap().protocol,
            Protocol::Ssh
        );
    }

    #[test]
    fn old_cowrie_duration_in_seconds() {
        let line = br#"{"eventid":"cowrie.session.closed","session":"a","src_ip":"198.51.100.1","duration":1.5,"timestamp":"2026-11-21T14:00:00.000000+0100"}"#;
        let event = CowrieParser::new()
            .parse(line, &ParseContext::default())
            .unwrap()
            .unwrap();
        assert!(matches!(
            event.kind,
            EventKind::SessionClosed {
                duration_ms: 1500,
                ..
            }
        ));
        assert_eq!(event.time.to_string(), "2026-11-21T13:00:00.000000Z");
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let line = br#"{"eventid":"cowrie.command.input","session":"a","src_ip":"198.51.100.1","input":"echo \"\u00e9\"\n","timestamp":"2026-11-21T13:00:00.000000Z"}"#;
        let event = CowrieParser::new()
            .parse(line, &ParseContext::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            event.kind,
            EventKind::CommandInput {
                command: "echo \"é\"\n".into()
            }
        );
    }
}
