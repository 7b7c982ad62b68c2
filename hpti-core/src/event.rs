//! The event model: one [`Event`] type for everything a sensor or parser produces.
//!
//! The JSON form is the versioned schema documented in `docs/events.md`. Field names
//! follow IntelMQ/ECS usage where one exists (`src_ip`, `sha256`, `url`), and the two
//! times are kept apart: [`Event::time`] is when it happened at the source,
//! [`Event::observed`] when hpti saw it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Version of the JSON schema written by this crate (the `v` field).
pub const SCHEMA_VERSION: u32 = 1;

/// A UTC instant with microsecond precision.
///
/// Stored as microseconds since the Unix epoch so that it is `Copy`, totally ordered and
/// cheap to compare; rendered as RFC 3339 with six fractional digits (`2026-11-21T13:20:25.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    /// From microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the Unix epoch (rounded towards negative infinity).
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// From a chrono date-time; sub-microsecond digits are dropped.
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Self {
        Self(dt.timestamp_micros())
    }

    /// As a chrono UTC date-time, or `None` when out of chrono's range.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }

    /// Parses RFC 3339 (`2026-11-21T13:20:25.123Z`, any offset, any number of fractional digits).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        DateTime::parse_from_rfc3339(text)
            .map(|dt| Self::from_datetime(&dt))
            .map_err(|source| TimestampError {
                input: truncate_for_error(text),
                source,
            })
    }

    /// This instant shifted by a signed number of microseconds (saturating).
    pub const fn saturating_add_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(dt) => f.write_str(&dt.to_rfc3339_opts(SecondsFormat::Micros, true)),
            None => write!(f, "@{}us", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.to_datetime() {
            Some(dt) => serializer.collect_str(&dt.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            None => Err(serde::ser::Error::custom("timestamp out of range")),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(de::Error::custom)
    }
}

/// A string that is not a valid RFC 3339 timestamp.
#[derive(Debug, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {input:?}: {source}")]
pub struct TimestampError {
    input: String,
    #[source]
    source: chrono::ParseError,
}

fn truncate_for_error(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The unique id of an event: a UUIDv7, and the idempotency key of every sink.
///
/// Events that carry no id of their own (foreign logs) get a [`derived`](EventId::derived)
/// id that keeps the UUIDv7 layout (time in the high bits, so indexes stay append-mostly)
/// but takes its remaining bits from a hash of the content and origin, so re-ingesting the
/// same line yields the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// A fresh UUIDv7 for an event observed now.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// A deterministic id for an event at `time` whose identity is `parts`.
    ///
    /// The same `time` and `parts` always give the same id; parts are length-prefixed
    /// before hashing, so `["ab", "c"]` and `["a", "bc"]` differ.
    pub fn derived(time: Timestamp, parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        let millis = u64::try_from(time.as_millis()).unwrap_or(0);
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// From a UUID (any version is accepted, since foreign data may carry its own ids).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The 16 raw bytes, as stored in binary columns.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The application protocol an event was observed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// SSH (including SFTP/SCP subsystems).
    Ssh,
    /// Telnet.
    Telnet,
    /// HTTP or HTTPS.
    Http,
    /// FTP.
    Ftp,
    /// Anything else, by its lower-case name (`smb`, `mysql`, ...).
    Other(String),
}

impl Protocol {
    /// The lower-case name used in JSON and in the store.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ssh => "ssh",
            Self::Telnet => "telnet",
            Self::Http => "http",
            Self::Ftp => "ftp",
            Self::Other(name) => name,
        }
    }

    /// Parses a protocol name; unknown names become [`Protocol::Other`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "ssh" => Self::Ssh,
            "telnet" => Self::Telnet,
            "http" => Self::Http,
            "ftp" => Self::Ftp,
            other => Self::Other(other.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

/// How a client tried to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A password (SSH `password`, Telnet and FTP logins, HTTP forms).
    Password,
    /// SSH keyboard-interactive.
    KeyboardInteractive,
    /// SSH public key.
    Publickey,
    /// SSH `none` (a probe for allowed methods).
    None,
    /// Anything else a foreign log reports.
    Other,
}

impl AuthMethod {
    /// The kebab-case name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::KeyboardInteractive => "keyboard-interactive",
            Self::Publickey => "publickey",
            Self::None => "none",
            Self::Other => "other",
        }
    }
}

/// What happened: the typed part of an [`Event`].
///
/// In JSON the variant is the `kind` field and its fields live under `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
#[non_exhaustive]
pub enum EventKind {
    /// A client connected.
    #[serde(rename = "session.started")]
    SessionStarted,
    /// A session ended.
    #[serde(rename = "session.closed")]
    SessionClosed {
        /// How long the session lasted, in milliseconds.
        duration_ms: u64,
        /// Path of the session recording (asciicast), relative to the data directory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<String>,
    },
    /// The client announced its software version (SSH banner, HTTP user agent of a tool).
    #[serde(rename = "client.version")]
    ClientVersion {
        /// The version string as sent.
        version: String,
    },
    /// A fingerprint of the client's handshake (HASSH for SSH, JA3/JA4 for TLS).
    #[serde(rename = "client.fingerprint")]
    ClientFingerprint {
        /// Fingerprint method: `hassh`, `ja3`, ...
        method: String,
        /// The fingerprint (for HASSH, the MD5 of `algorithms`).
        fingerprint: String,
        /// The cleartext the fingerprint was computed from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        algorithms: Option<String>,
    },
    /// A login attempt, successful or not.
    #[serde(rename = "login.attempt")]
    LoginAttempt {
        /// The user name offered.
        username: String,
        /// The password offered (password and keyboard-interactive methods).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// Public key algorithm (`ssh-ed25519`, ...), for public key attempts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_type: Option<String>,
        /// Public key fingerprint (`SHA256:...`), for public key attempts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_fingerprint: Option<String>,
        /// The authentication method.
        method: AuthMethod,
        /// Whether the honeypot let the client in.
        success: bool,
    },
    /// A command line the attacker entered.
    #[serde(rename = "command.input")]
    CommandInput {
        /// The line as entered.
        command: String,
    },
    /// A file the attacker made the honeypot fetch (wget, curl, tftp, ...).
    #[serde(rename = "file.download")]
    FileDownload {
        /// The URL requested.
        url: String,
        /// SHA-256 (lower-case hex) of the content, when fetched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// Size in bytes, when fetched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        /// Why the fetch failed or was refused, if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A file the attacker pushed to the honeypot (SFTP, SCP, FTP STOR, echo -e).
    #[serde(rename = "file.upload")]
    FileUpload {
        /// The name the attacker gave the file.
        filename: String,
        /// SHA-256 (lower-case hex) of the content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// Size in bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// An HTTP request to an HTTP sensor.
    #[serde(rename = "http.request")]
    HttpRequest {
        /// Request method.
        method: String,
        /// Request target (path and query) as sent.
        uri: String,
        /// The Host header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// The User-Agent header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
        /// The status code the sensor answered with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// What the request attempts, from the sensor's classifier (`sqli`, `log4shell`,
        /// `cve-2021-41773`, `scanner:sqlmap`, ...), sorted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
        /// The rest of the request and answer, when a sensor captured it (a foreign log
        /// usually has only the fields above).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<Box<HttpDetail>>,
    },
    /// A port-forwarding (SSH direct-tcpip) request.
    #[serde(rename = "port_forward.request")]
    PortForward {
        /// Requested destination host.
        host: String,
        /// Requested destination port.
        port: u16,
        /// Whether the honeypot accepted it (normally not).
        accepted: bool,
    },
    /// An event from a foreign log that has no typed kind here; nothing of it is dropped.
    #[serde(rename = "unknown")]
    Unknown {
        /// The foreign event type (e.g. Cowrie's `eventid`).
        original_type: String,
        /// Every field of the original record.
        #[serde(default)]
        fields: serde_json::Map<String, serde_json::Value>,
    },
}

/// What an HTTP sensor captured of a request beyond its line, host and agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HttpDetail {
    /// The protocol version of the request line (`HTTP/1.1`; `HTTP/0.9` for a bare
    /// `GET /`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Header fields as sent, in order (bounded by the sensor).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The start of the body (bounded; bytes that are not UTF-8 replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Size of the whole body in bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub body_size: u64,
    /// SHA-256 (lower-case hex) of the whole body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Bytes of the answer (status line, headers and body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_size: Option<u64>,
    /// The persona (application) that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The TLS server name the client asked for (HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_sni: Option<String>,
    /// The JA4 fingerprint of the client's TLS hello (HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
}

impl HttpDetail {
    /// An empty detail (fields are set one by one; the struct is non-exhaustive).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of its text, for size estimates.
    pub fn text_len(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.version.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 8)
                .sum::<usize>()
            + opt(&self.body)
            + opt(&self.body_sha256)
            + opt(&self.app)
            + opt(&self.tls_sni)
            + opt(&self.ja4)
            + 48
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl EventKind {
    /// The `kind` name used in JSON and in the store (`login.attempt`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SessionStarted => "session.started",
            Self::SessionClosed { .. } => "session.closed",
            Self::ClientVersion { .. } => "client.version",
            Self::ClientFingerprint { .. } => "client.fingerprint",
            Self::LoginAttempt { .. } => "login.attempt",
            Self::CommandInput { .. } => "command.input",
            Self::FileDownload { .. } => "file.download",
            Self::FileUpload { .. } => "file.upload",
            Self::HttpRequest { .. } => "http.request",
            Self::PortForward { .. } => "port_forward.request",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// What matters of the event in one line, as `hpti live` and the dashboard's tables
    /// show it: the credentials and whether they worked, the command line, the URL and
    /// hash, the request... Attacker-controlled text is included as is: escape it for
    /// where it is shown.
    ///
    /// ```
    /// use hpti_core::event::EventKind;
    /// let kind = EventKind::CommandInput { command: "uname -a".into() };
    /// assert_eq!(kind.detail(), "uname -a");
    /// ```
    pub fn detail(&self) -> String {
        match self {
            Self::SessionStarted => String::new(),
            Self::SessionClosed { duration_ms, .. } => {
                format!("after {:.1} s", *duration_ms as f64 / 1000.0)
            }
            Self::ClientVersion { version } => version.clone(),
            Self::ClientFingerprint {
                method,
                fingerprint,
                ..
            } => format!("{method} {fingerprint}"),
            Self::LoginAttempt {
                username,
                password,
                key_fingerprint,
                success,
                ..
            } => {
                let secret = password
                    .as_deref()
                    .or(key_fingerprint.as_deref())
                    .unwrap_or("");
                let outcome = if *success { "accepted" } else { "refused" };
                format!("{username} / {secret} {outcome}")
            }
            Self::CommandInput { command } => command.clone(),
            Self::FileDownload {
                url, sha256, error, ..
            } => match (sha256, error) {
                (None, Some(error)) => format!("{url} failed: {error}"),
                _ => format!("{url} {}", sha256.as_deref().unwrap_or("-")),
            },
            Self::FileUpload {
                filename, sha256, ..
            } => format!("{filename} {}", sha256.as_deref().unwrap_or("-")),
            Self::HttpRequest {
                method,
                uri,
                status,
                labels,
                ..
            } => {
                let status = status.map_or_else(|| "-".into(), |s| s.to_string());
                if labels.is_empty() {
                    format!("{method} {uri} {status}")
                } else {
                    format!("{method} {uri} {status} [{}]", labels.join(","))
                }
            }
            Self::PortForward {
                host,
                port,
                accepted,
            } => format!(
                "{host}:{port} {}",
                if *accepted { "accepted" } else { "refused" }
            ),
            Self::Unknown { original_type, .. } => original_type.clone(),
        }
    }

    /// What the attacker tried to have the honeypot run, as the commands views rank it:
    /// a command line, or an HTTP request that the classifier labelled as an attack, as
    /// `METHOD target`. A request labelled only with who sent it (`scanner:`, `tool:`)
    /// attempts nothing and is not a command.
    ///
    /// ```
    /// use hpti_core::event::EventKind;
    /// let request = EventKind::HttpRequest {
    ///     method: "GET".into(),
    ///     uri: "/?id=1' OR '1'='1".into(),
    ///     host: None,
    ///     user_agent: None,
    ///     status: Some(200),
    ///     labels: vec!["scanner:sqlmap".into(), "sqli".into()],
    ///     detail: None,
    /// };
    /// assert_eq!(request.attempted_command().as_deref(), Some("GET /?id=1' OR '1'='1"));
    /// ```
    pub fn attempted_command(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::CommandInput { command } => Some(std::borrow::Cow::Borrowed(command)),
            Self::HttpRequest {
                method,
                uri,
                labels,
                ..
            } if labels.iter().any(|l| is_attack_label(l)) => {
                Some(std::borrow::Cow::Owned(format!("{method} {uri}")))
            }
            _ => None,
        }
    }
}

/// Whether a classifier label names an attack (`sqli`, `log4shell`, `cve-2021-41773`)
/// rather than only the client that sent it (`scanner:nikto`, `tool:curl`).
pub fn is_attack_label(label: &str) -> bool {
    !(label.starts_with("scanner:") || label.starts_with("tool:"))
}

/// Where an address is, from a GeoIP database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// Country name (English).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City name (English).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

/// The autonomous system an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asn {
    /// AS number.
    pub number: u32,
    /// AS organisation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

/// A reputation verdict from one source (AbuseIPDB, VirusTotal, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reputation {
    /// Which service gave the verdict (`abuseipdb`, `virustotal`).
    pub source: String,
    /// A 0–100 score where higher is worse (AbuseIPDB's confidence score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// How many engines or reporters called it malicious.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malicious: Option<u32>,
    /// Out of how many engines or reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// Further fields the source returns (usage type, ISP, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, serde_json::Value>,
}

/// The registered network an address belongs to, from RDAP (or WHOIS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Which service answered (`rdap`).
    pub source: String,
    /// The registry's handle of the network (`NET-8-8-8-0-2`, `RIPE-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// The network's name (`GOGL`, `CHINANET-GD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its prefixes in CIDR notation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidr: Vec<String>,
    /// The registrant organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Where to report abuse (an e-mail address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse_email: Option<String>,
    /// ISO 3166-1 alpha-2 country code of the registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// What enrichers added to an event; empty until an enricher fills it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    /// Geolocation of the source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// Autonomous system of the source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<Asn>,
    /// The registered network of the source address (RDAP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Reputation verdicts, one per source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reputation: Vec<Reputation>,
    /// Tags such as `tor`, `vpn`, `known-scanner`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Names of enrichers that failed or timed out for this event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// What the event's captured file is (file events whose content hpti holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<crate::file::FileAnalysis>,
}

impl Enrichment {
    /// True when no enricher has added anything.
    pub fn is_empty(&self) -> bool {
        self.geo.is_none()
            && self.asn.is_none()
            && self.network.is_none()
            && self.reputation.is_empty()
            && self.tags.is_empty()
            && self.failed.is_empty()
            && self.file.is_none()
    }
}

/// One thing that happened on a sensor or in a foreign log.
///
/// ```
/// use hpti_core::event::{AuthMethod, Event, EventKind, Protocol};
///
/// let event = Event::new(
///     "ssh-1",
///     Protocol::Ssh,
///     "203.0.113.7".parse().unwrap(),
///     EventKind::LoginAttempt {
///         username: "root".into(),
///         password: Some("123456".into()),
///         key_type: None,
///         key_fingerprint: None,
///         method: AuthMethod::Password,
///         success: false,
///     },
/// )
/// .with_session("c0ffee")
/// .with_source_port(50022);
/// let json = serde_json::to_string(&event).unwrap();
/// assert!(json.contains(r#""kind":"login.attempt""#));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Schema version of this record ([`SCHEMA_VERSION`]).
    #[serde(rename = "v", default = "schema_version")]
    pub schema_version: u32,
    /// Unique id; the idempotency key of every sink.
    pub id: EventId,
    /// When it happened, by the source's clock.
    pub time: Timestamp,
    /// When hpti observed it (for events read from foreign logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Timestamp>,
    /// Name of the sensor or log feed that produced it.
    pub sensor: String,
    /// Application protocol.
    pub protocol: Protocol,
    /// Session id shared by all events of one connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The attacker's address.
    pub src_ip: IpAddr,
    /// The attacker's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// The honeypot's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<IpAddr>,
    /// The honeypot's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// What enrichers added.
    #[serde(default, skip_serializing_if = "Enrichment::is_empty")]
    pub enrichment: Enrichment,
    /// The original record, for events parsed from foreign logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Fields cut to their limit where the event was captured, with what they were
    /// (see [`Event::truncate_long_fields`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<Truncation>,
}

/// A field cut to its limit where the event was captured: how long it was and its
/// digest, so the event is kept (not dead-lettered) and the full value stays provable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    /// The field (`command`, `url`, `uri`, `user_agent`, `version`).
    pub field: String,
    /// Its full length in bytes.
    pub length: u64,
    /// Lower-case hex SHA-256 of the full value.
    pub sha256: String,
}

/// Cuts `value` to at most `max` bytes (at a character boundary), recording it.
fn truncate_field(field: &str, value: &mut String, max: usize, cut: &mut Vec<Truncation>) {
    if value.len() <= max {
        return;
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(value.as_bytes());
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    let length = value.len() as u64;
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.truncate(end);
    cut.push(Truncation {
        field: field.to_owned(),
        length,
        sha256,
    });
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

impl Event {
    /// A new event happening now, with a fresh id.
    pub fn new(
        sensor: impl Into<String>,
        protocol: Protocol,
        src_ip: IpAddr,
        kind: EventKind,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            id: EventId::new(),
            time: Timestamp::now(),
            observed: None,
            sensor: sensor.into(),
            protocol,
            session: None,
            src_ip,
            src_port: None,
            dst_ip: None,
            dst_port: None,
            kind,
            enrichment: Enrichment::default(),
            raw: None,
            truncated: Vec::new(),
        }
    }

    /// Cuts the attacker-controlled free-text fields (a command line, a URL, an HTTP
    /// target or user agent, a client version) to `max` bytes, recording each cut's full
    /// length and SHA-256 in [`Event::truncated`]: what a sensor does before emitting, so
    /// that a 200 KB command is stored, cut, rather than refused by the validator.
    pub fn truncate_long_fields(&mut self, max: usize) {
        let cut = &mut self.truncated;
        match &mut self.kind {
            EventKind::CommandInput { command } => truncate_field("command", command, max, cut),
            EventKind::FileDownload { url, .. } => truncate_field("url", url, max, cut),
            EventKind::HttpRequest {
                uri, user_agent, ..
            } => {
                truncate_field("uri", uri, max, cut);
                if let Some(agent) = user_agent {
                    truncate_field("user_agent", agent, max, cut);
                }
            }
            EventKind::ClientVersion { version } => truncate_field("version", version, max, cut),
            _ => {}
        }
    }

    /// Sets the session id.
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Sets the source port.
    pub fn with_source_port(mut self, port: u16) -> Self {
        self.src_port = Some(port);
        self
    }

    /// Sets the destination address and port.
    pub fn with_destination(mut self, ip: IpAddr, port: u16) -> Self {
        self.dst_ip = Some(ip);
        self.dst_port = Some(port);
        self
    }

    /// Sets the time it happened.
    pub fn with_time(mut self, time: Timestamp) -> Self {
        self.time = time;
        self
    }

    /// Sets the id.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = id;
        self
    }

    /// About how many bytes the event takes encoded as JSON, without encoding it: the
    /// lengths of its strings plus a fixed allowance for names and numbers. Sinks'
    /// batches are cut by this (bulk APIs limit request bytes), so it errs on the high
    /// side for small events and is exact enough for large ones.
    pub fn size_hint(&self) -> usize {
        const FIXED: usize = 320;
        let opt = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 16);
        let kind = match &self.kind {
            EventKind::SessionStarted => 0,
            EventKind::SessionClosed { recording, .. } => opt(recording) + 24,
            EventKind::ClientVersion { version } => version.len(),
            EventKind::ClientFingerprint {
                method,
                fingerprint,
                algorithms,
            } => method.len() + fingerprint.len() + opt(algorithms),
            EventKind::LoginAttempt {
                username,
                password,
                key_type,
                key_fingerprint,
                ..
            } => username.len() + opt(password) + opt(key_type) + opt(key_fingerprint) + 40,
            EventKind::CommandInput { command } => command.len(),
            EventKind::FileDownload {
                url, sha256, error, ..
            } => url.len() + opt(sha256) + opt(error) + 24,
            EventKind::FileUpload {
                filename, sha256, ..
            } => filename.len() + opt(sha256) + 24,
            EventKind::HttpRequest {
                method,
                uri,
                host,
                user_agent,
                labels,
                detail,
                ..
            } => {
                method.len()
                    + uri.len()
                    + opt(host)
                    + opt(user_agent)
                    + labels.iter().map(|l| l.len() + 4).sum::<usize>()
                    + detail.as_ref().map_or(0, |d| d.text_len())
                    + 24
            }
            EventKind::PortForward { host, .. } => host.len() + 24,
            // Foreign records are rare and arbitrary: measure them.
            EventKind::Unknown {
                original_type,
                fields,
            } => original_type.len() + serde_json::to_string(fields).map_or(0, |s| s.len()),
        };
        let e = &self.enrichment;
        let enrichment = e.geo.as_ref().map_or(0, |g| {
            160 + opt(&g.country_code) + opt(&g.country) + opt(&g.city)
        }) + e.asn.as_ref().map_or(0, |a| 40 + opt(&a.organization))
            + e.network.as_ref().map_or(0, |n| {
                160 + n.source.len()
                    + opt(&n.handle)
                    + opt(&n.name)
                    + opt(&n.organization)
                    + opt(&n.abuse_email)
                    + n.cidr.iter().map(|c| c.len() + 4).sum::<usize>()
            })
            + e.reputation
                .iter()
                .map(|r| 96 + r.source.len() + r.details.len() * 48)
                .sum::<usize>()
            + e.tags
                .iter()
                .chain(&e.failed)
                .map(|t| t.len() + 4)
                .sum::<usize>();
        FIXED + self.sensor.len() + opt(&self.session) + opt(&self.raw) + kind + enrichment
    }
}

#[cfg(test)]
mod truncation_tests {
    use super::*;
    use crate::validate::{Limits, Validator};

    /// A 200 KB exec command was once dead-lettered whole: now it is cut at a character
    /// boundary, with its full length and digest, and the validator takes it.
    #[test]
    fn a_long_command_is_cut_with_its_length_and_digest_and_then_valid() {
        let max = Limits::default().max_long_field;
        // A multi-byte character straddles the limit.
        let command = format!("{}é{}", "a".repeat(max - 1), "b".repeat(200_000 - max));
        let mut event = Event::new(
            "t",
            Protocol::Ssh,
            IpAddr::from([198, 51, 100, 1]),
            EventKind::CommandInput {
                command: command.clone(),
            },
        );
        assert!(Validator::new(Limits::default()).validate(&event).is_err());
        event.truncate_long_fields(max);
        let EventKind::CommandInput { command: cut } = &event.kind else {
            unreachable!()
        };
        assert_eq!(cut.len(), max - 1, "cut before the two-byte character");
        assert!(command.starts_with(cut.as_str()));
        let digest: String = sha2::Sha256::digest(command.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            event.truncated,
            vec![Truncation {
                field: "command".into(),
                length: command.len() as u64,
                sha256: digest,
            }]
        );
        Validator::new(Limits::default()).validate(&event).unwrap();
        // It survives serialization, and a short field is left alone.
        let back: Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back.truncated, event.truncated);
        let mut short = Event::new(
            "t",
            Protocol::Ssh,
            IpAddr::from([198, 51, 100, 1]),
            EventKind::CommandInput {
                command: "id".into(),
            },
        );
        short.truncate_long_fields(max);
        assert!(short.truncated.is_empty());
        assert!(!serde_json::to_string(&short).unwrap().contains("truncated"));
    }
}
