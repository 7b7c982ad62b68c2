//! [VirusTotal](https://www.virustotal.com) verdicts (API v3): how many engines call an
//! attacker's address ([`VirusTotalIp`]) or a downloaded or uploaded file
//! ([`VirusTotalFile`]) malicious, out of how many — "30/76 engines".
//!
//! Each [`fetch`](Lookup::fetch) makes exactly one request and classifies its outcome;
//! caching, rate limiting and retries belong to the caching wrapper every [`Lookup`] runs
//! in. Both lookups spend the same key's quota (4 requests a minute and 500 a day on the
//! public API). The classification:
//!
//! | answer | result |
//! | --- | --- |
//! | 200 with `{"data": {...}}` | `Ok(Some(report))` |
//! | 404 with error code `NotFoundError` | `Ok(None)`: VirusTotal has never seen it (cacheable) |
//! | 401, 403 | [`LookupErrorKind::Unauthorized`] |
//! | 400, 422 | [`LookupErrorKind::Rejected`], except 400 `NotAvailableYet`: temporary |
//! | 429 (`QuotaExceededError`, `TooManyRequestsError`) | [`LookupErrorKind::RateLimited`], waiting `Retry-After` if sent |
//! | 5xx, a 404 without `NotFoundError`, anything else, timeouts, connection errors, a body that is not the documented JSON | [`LookupErrorKind::Temporary`] |

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::event::{Event, EventKind, Reputation};
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Client, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::http::{self, ApiKey, ConfigError, is_global};
use crate::lookup::{Lookup, LookupError, LookupErrorKind};

/// Where VirusTotal's API lives.
pub const DEFAULT_BASE_URL: &str = "https://www.virustotal.com";

/// The environment variable [`VirusTotalConfig::from_env`] reads the API key from.
pub const KEY_ENV: &str = "HPTI_VIRUSTOTAL_KEY";

/// The `source` of the [`Reputation`]s these lookups add.
pub const SOURCE: &str = "virustotal";

/// How to reach VirusTotal.
#[derive(Debug, Clone)]
pub struct VirusTotalConfig {
    /// The API key (sent in the `x-apikey` header).
    pub api_key: ApiKey,
    /// Base URL of the API ([`DEFAULT_BASE_URL`]; a mock server's in tests).
    pub base_url: String,
    /// Limit of one whole request: connect, send, read (5 s).
    pub timeout: Duration,
}

impl VirusTotalConfig {
    /// The defaults with `api_key`.
    pub fn new(api_key: ApiKey) -> Self {
        Self {
            api_key,
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(5),
        }
    }

    /// The defaults with the key in [`KEY_ENV`] (`HPTI_VIRUSTOTAL_KEY`).
    pub fn from_env() -> Result<Self, ConfigError> {
        ApiKey::from_env(KEY_ENV).map(Self::new)
    }

    /// With another base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// With another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Engine verdicts of the last analysis (`last_analysis_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisStats {
    /// Engines that found it harmless.
    pub harmless: u32,
    /// Engines that found it malicious.
    pub malicious: u32,
    /// Engines that found it suspicious.
    pub suspicious: u32,
    /// Engines that found nothing.
    pub undetected: u32,
    /// Engines that timed out.
    pub timeout: u32,
    /// Engines that timed out for good (files).
    #[serde(rename = "confirmed-timeout")]
    pub confirmed_timeout: u32,
    /// Engines that failed (files).
    pub failure: u32,
    /// Engines that cannot analyse this type of file (files).
    #[serde(rename = "type-unsupported")]
    pub type_unsupported: u32,
}

impl AnalysisStats {
    /// All engines asked: the sum of every count.
    pub fn total(&self) -> u32 {
        [
            self.harmless,
            self.malicious,
            self.suspicious,
            self.undetected,
            self.timeout,
            self.confirmed_timeout,
            self.failure,
            self.type_unsupported,
        ]
        .into_iter()
        .fold(0u32, u32::saturating_add)
    }
}

/// What VirusTotal says about an address or a file: the parts of its object that
/// [`apply`](Lookup::apply) uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirusTotalReport {
    /// The object's id: the address, or the file's SHA-256.
    pub id: String,
    /// The object's type: `ip_address` or `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Engine verdicts; `None` when the object was never analysed.
    pub stats: Option<AnalysisStats>,
    /// VirusTotal's community reputation (negative is bad).
    pub reputation: Option<i64>,
    /// When it was last analysed (Unix time).
    pub last_analysis_date: Option<i64>,
    /// The autonomous system's owner (addresses).
    pub as_owner: Option<String>,
    /// The autonomous system's number (addresses).
    pub asn: Option<u32>,
    /// ISO 3166-1 alpha-2 country code (addresses).
    pub country: Option<String>,
    /// The most telling of the file's names (files).
    pub meaningful_name: Option<String>,
    /// The file's type, e.g. `ELF` (files).
    pub type_description: Option<String>,
    /// The suggested threat label, e.g. `trojan.mirai/gafgyt` (files).
    pub threat_label: Option<String>,
}

/// The wire format: `{"data": {"id", "type", "attributes": {...}}}`.
#[derive(Deserialize)]
struct Envelope {
    data: Object,
}

#[derive(Deserialize)]
struct Object {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    attributes: Attributes,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attributes {
    last_analysis_stats: Option<AnalysisStats>,
    reputation: Option<i64>,
    last_analysis_date: Option<i64>,
    as_owner: Option<String>,
    asn: Option<u32>,
    country: Option<String>,
    meaningful_name: Option<String>,
    type_description: Option<String>,
    popular_threat_classification: Option<ThreatClassification>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ThreatClassification {
    suggested_threat_label: Option<String>,
}

impl From<Object> for VirusTotalReport {
    fn from(object: Object) -> Self {
        let a = object.attributes;
        Self {
            id: object.id,
            kind: object.kind,
            stats: a.last_analysis_stats,
            reputation: a.reputation,
            last_analysis_date: a.last_analysis_date,
            as_owner: a.as_owner,
            asn: a.asn,
            country: a.country,
            meaningful_name: a.meaningful_name,
            type_description: a.type_description,
            threat_label: a
                .popular_threat_classification
                .and_then(|c| c.suggested_threat_label),
        }
    }
}

/// The error envelope: `{"error": {"code": "NotFoundError", "message": "..."}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The client both lookups share the logic of.
#[derive(Debug)]
struct Api {
    client: Client,
    base: Url,
    api_key: ApiKey,
    key_header: HeaderValue,
}

impl Api {
    fn new(config: VirusTotalConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            client: http::client(config.timeout)?,
            base: http::base_url(SOURCE, &config.base_url)?,
            key_header: config.api_key.header_value()?,
            api_key: config.api_key,
        })
    }

    fn error(&self, kind: LookupErrorKind, message: &str) -> LookupError {
        LookupError::new(kind, self.api_key.redact(message))
    }

    /// `GET {base}/api/v3/{collection}/{id}`, classified.
    async fn get(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<VirusTotalReport>, LookupError> {
        let what = format!("{SOURCE} {collection}/{id}");
        let url = http::endpoint(&self.base, &["api", "v3", collection, id]);
        let request = self
            .client
            .get(url)
            .header("x-apikey", self.key_header.clone())
            .header(ACCEPT, "application/json");
        let reply = http::send(&what, request)
            .await
            .map_err(|e| self.error(e.kind, &e.message))?;
        let status = reply.status;
        if status == StatusCode::OK {
            return match serde_json::from_slice::<Envelope>(&reply.body) {
                Ok(envelope) => Ok(Some(envelope.data.into())),
                Err(e) => Err(self.error(
                    LookupErrorKind::Temporary,
                    &format!("{what}: HTTP {status} with a malformed body: {e}"),
                )),
            };
        }
        let (code, detail) = match serde_json::from_slice::<ErrorEnvelope>(&reply.body) {
            Ok(envelope) => {
                let detail = http::detail(&format!(
                    "{}: {}",
                    envelope.error.code, envelope.error.message
                ));
                (envelope.error.code, detail)
            }
            Err(_) => (
                String::new(),
                http::detail(&String::from_utf8_lossy(&reply.body)),
            ),
        };
        let kind = match (status, code.as_str()) {
            (StatusCode::NOT_FOUND, "NotFoundError") => return Ok(None),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => LookupErrorKind::Unauthorized,
            (StatusCode::BAD_REQUEST, "NotAvailableYet") => LookupErrorKind::Temporary,
            (StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY, _) => {
                LookupErrorKind::Rejected
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => LookupErrorKind::RateLimited {
                retry_after: http::retry_after(&reply.headers),
            },
            _ => LookupErrorKind::Temporary,
        };
        Err(self.error(kind, &format!("{what}: HTTP {status}: {detail}")))
    }
}

/// Adds `report` as a `virustotal` [`Reputation`]: malicious engines out of all engines
/// asked, the rest in `details` (`type`, `suspicious`, `reputation`, ...).
fn apply_report(report: &VirusTotalReport, event: &mut Event) {
    let mut details = BTreeMap::new();
    let mut put = |name: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            details.insert(name.to_owned(), value);
        }
    };
    put("type", Some(report.kind.clone().into()));
    if let Some(stats) = &report.stats {
        put("suspicious", Some(stats.suspicious.into()));
        put("harmless", Some(stats.harmless.into()));
        put("undetected", Some(stats.undetected.into()));
    }
    put("reputation", report.reputation.map(Into::into));
    put(
        "last_analysis_date",
        report.last_analysis_date.map(Into::into),
    );
    put("as_owner", report.as_owner.clone().map(Into::into));
    put("asn", report.asn.map(Into::into));
    put("country", report.country.clone().map(Into::into));
    put(
        "meaningful_name",
        report.meaningful_name.clone().map(Into::into),
    );
    put(
        "type_description",
        report.type_description.clone().map(Into::into),
    );
    put("threat_label", report.threat_label.clone().map(Into::into));
    event.enrichment.reputation.push(Reputation {
        source: SOURCE.to_owned(),
        score: None,
        malicious: report.stats.map(|s| s.malicious),
        total: report.stats.map(|s| s.total()),
        details,
    });
}

/// VirusTotal's verdict on the event's source address
/// (`GET /api/v3/ip_addresses/{ip}`); named `virustotal-ip`.
#[derive(Debug)]
pub struct VirusTotalIp {
    api: Api,
}

impl VirusTotalIp {
    /// A lookup with `config`; fails on a bad base URL, a zero timeout or a key that
    /// cannot be sent in a header.
    pub fn new(config: VirusTotalConfig) -> Result<Self, ConfigError> {
        Api::new(config).map(|api| Self { api })
    }

    /// A lookup with the defaults and the key in [`KEY_ENV`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(VirusTotalConfig::from_env()?)
    }
}

#[async_trait]
impl Lookup for VirusTotalIp {
    type Key = IpAddr;
    type Value = VirusTotalReport;

    fn name(&self) -> &str {
        "virustotal-ip"
    }

    /// The source address, unless it is one no public service knows
    /// ([`is_global`] is false).
    fn key(&self, event: &Event) -> Option<IpAddr> {
        is_global(event.src_ip).then_some(event.src_ip)
    }

    async fn fetch(&self, ip: &IpAddr) -> Result<Option<VirusTotalReport>, LookupError> {
        if !is_global(*ip) {
            return Err(self.api.error(
                LookupErrorKind::Rejected,
                &format!("{SOURCE} ip_addresses/{ip}: not a public address"),
            ));
        }
        self.api.get("ip_addresses", &ip.to_string()).await
    }

    fn apply(&self, report: &VirusTotalReport, event: &mut Event) {
        apply_report(report, event);
    }
}

/// VirusTotal's verdict on the file of a `file.download` or `file.upload` event
/// (`GET /api/v3/files/{sha256}`); named `virustotal-file`.
#[derive(Debug)]
pub struct VirusTotalFile {
    api: Api,
}

impl VirusTotalFile {
    /// A lookup with `config`; fails on a bad base URL, a zero timeout or a key that
    /// cannot be sent in a header.
    pub fn new(config: VirusTotalConfig) -> Result<Self, ConfigError> {
        Api::new(config).map(|api| Self { api })
    }

    /// A lookup with the defaults and the key in [`KEY_ENV`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(VirusTotalConfig::from_env()?)
    }
}

/// `text` in lower case if it is a SHA-256 in hex.
fn sha256_key(text: &str) -> Option<String> {
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

#[async_trait]
impl Lookup for VirusTotalFile {
    type Key = String;
    type Value = VirusTotalReport;

    fn name(&self) -> &str {
        "virustotal-file"
    }

    /// The file's SHA-256 in lower-case hex; `None` for other events, files not fetched,
    /// and anything that is not 64 hex digits.
    fn key(&self, event: &Event) -> Option<String> {
        match &event.kind {
            EventKind::FileDownload {
                sha256: Some(sha256),
                ..
            }
            | EventKind::FileUpload {
                sha256: Some(sha256),
                ..
            } => sha256_key(sha256),
            _ => None,
        }
    }

    async fn fetch(&self, sha256: &String) -> Result<Option<VirusTotalReport>, LookupError> {
        let Some(sha256) = sha256_key(sha256) else {
            return Err(self.api.error(
                LookupErrorKind::Rejected,
                &format!("{SOURCE} files: not a SHA-256: {}", http::detail(sha256)),
            ));
        };
        self.api.get("files", &sha256).await
    }

    fn apply(&self, report: &VirusTotalReport, event: &mut Event) {
        apply_report(report, event);
    }
}
