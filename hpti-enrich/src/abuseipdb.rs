//! [AbuseIPDB](https://www.abuseipdb.com) reputation of attacker addresses (API v2,
//! `check` endpoint): a 0–100 abuse confidence score, the number of reports, usage type,
//! ISP, and whether the address is a Tor exit.
//!
//! [`AbuseIpDb`] makes exactly one request per [`fetch`](Lookup::fetch) and classifies
//! its outcome; caching, rate limiting and retries belong to the caching wrapper every
//! [`Lookup`] runs in. The classification:
//!
//! | answer | result |
//! | --- | --- |
//! | 200 with `{"data": {...}}` | `Ok(Some(report))` (AbuseIPDB knows every public address: an unreported one scores 0) |
//! | 401, 403 | [`LookupErrorKind::Unauthorized`] |
//! | 400, 422 | [`LookupErrorKind::Rejected`] |
//! | 429 | [`LookupErrorKind::RateLimited`], waiting `Retry-After` (else until `X-RateLimit-Reset`) |
//! | 5xx, 408, anything else, timeouts, connection errors, a body that is not the documented JSON | [`LookupErrorKind::Temporary`] |

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hpti_core::event::{Event, Reputation};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::http::{self, ApiKey, ConfigError, is_global};
use crate::lookup::{Lookup, LookupError, LookupErrorKind};

/// Where AbuseIPDB's API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.abuseipdb.com";

/// The environment variable [`AbuseIpDbConfig::from_env`] reads the API key from.
pub const KEY_ENV: &str = "HPTI_ABUSEIPDB_KEY";

/// The `source` of the [`Reputation`] this lookup adds, and its [`Lookup::name`].
pub const SOURCE: &str = "abuseipdb";

/// How to reach AbuseIPDB.
#[derive(Debug, Clone)]
pub struct AbuseIpDbConfig {
    /// The API key (sent in the `Key` header).
    pub api_key: ApiKey,
    /// Base URL of the API ([`DEFAULT_BASE_URL`]; a mock server's in tests).
    pub base_url: String,
    /// Only reports of the last this many days count (`maxAgeInDays`, 1–365; 90).
    pub max_age_days: u16,
    /// Limit of one whole request: connect, send, read (5 s).
    pub timeout: Duration,
}

impl AbuseIpDbConfig {
    /// The defaults with `api_key`.
    pub fn new(api_key: ApiKey) -> Self {
        Self {
            api_key,
            base_url: DEFAULT_BASE_URL.to_owned(),
            max_age_days: 90,
            timeout: Duration::from_secs(5),
        }
    }

    /// The defaults with the key in [`KEY_ENV`] (`HPTI_ABUSEIPDB_KEY`).
    pub fn from_env() -> Result<Self, ConfigError> {
        ApiKey::from_env(KEY_ENV).map(Self::new)
    }

    /// With another base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// With another `maxAgeInDays`.
    pub fn with_max_age_days(mut self, days: u16) -> Self {
        self.max_age_days = days;
        self
    }

    /// With another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What AbuseIPDB says about an address: the `data` object of its `check` answer.
/// Every field is optional, since the API may leave any of them out or null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AbuseIpDbReport {
    /// 0–100: how confident AbuseIPDB is that the address is abusive.
    pub abuse_confidence_score: Option<u8>,
    /// Reports within `maxAgeInDays`.
    pub total_reports: Option<u32>,
    /// Distinct reporters within `maxAgeInDays`.
    pub num_distinct_users: Option<u32>,
    /// `Data Center/Web Hosting/Transit`, `Fixed Line ISP`, ...
    pub usage_type: Option<String>,
    /// The ISP.
    pub isp: Option<String>,
    /// The ISP's domain.
    pub domain: Option<String>,
    /// Reverse DNS names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
    /// Whether the address is a Tor exit node.
    pub is_tor: Option<bool>,
    /// Whether AbuseIPDB whitelists the address (a known good crawler, say).
    pub is_whitelisted: Option<bool>,
    /// When it was last reported (RFC 3339).
    pub last_reported_at: Option<String>,
}

/// AbuseIPDB's `check` endpoint as a [`Lookup`] keyed by the event's source address.
#[derive(Debug)]
pub struct AbuseIpDb {
    client: Client,
    check_url: Url,
    api_key: ApiKey,
    key_header: HeaderValue,
    max_age_days: u16,
}

impl AbuseIpDb {
    /// A lookup with `config`; fails on an out-of-range `max_age_days`, a bad base URL,
    /// a zero timeout or a key that cannot be sent in a header.
    pub fn new(config: AbuseIpDbConfig) -> Result<Self, ConfigError> {
        if !(1..=365).contains(&config.max_age_days) {
            return Err(ConfigError::new(format!(
                "{SOURCE}: maxAgeInDays must be within 1..=365, not {}",
                config.max_age_days
            )));
        }
        let base = http::base_url(SOURCE, &config.base_url)?;
        Ok(Self {
            client: http::client(config.timeout)?,
            check_url: http::endpoint(&base, &["api", "v2", "check"]),
            key_header: config.api_key.header_value()?,
            api_key: config.api_key,
            max_age_days: config.max_age_days,
        })
    }

    /// A lookup with the defaults and the key in [`KEY_ENV`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(AbuseIpDbConfig::from_env()?)
    }

    fn error(&self, kind: LookupErrorKind, message: &str) -> LookupError {
        LookupError::new(kind, self.api_key.redact(message))
    }
}

/// The success envelope.
#[derive(Deserialize)]
struct Envelope {
    data: AbuseIpDbReport,
}

/// The error envelope: `{"errors": [{"detail": "...", "status": 422}]}`.
#[derive(Deserialize)]
struct Errors {
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    detail: Option<String>,
}

/// The `detail` texts of an error body, else the start of the body itself.
fn error_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<Errors>(body) {
        Ok(errors) => http::detail(
            &errors
                .errors
                .iter()
                .filter_map(|e| e.detail.as_deref())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(_) => http::detail(&String::from_utf8_lossy(body)),
    }
}

/// How long a 429 asks to wait: `Retry-After`, else the time until `X-RateLimit-Reset`
/// (a Unix time, sent with the daily quota).
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    http::retry_after(headers).or_else(|| {
        let reset: u64 = headers
            .get("x-ratelimit-reset")?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        Some(Duration::from_secs(reset).saturating_sub(now))
    })
}

#[async_trait]
impl Lookup for AbuseIpDb {
    type Key = IpAddr;
    type Value = AbuseIpDbReport;

    fn name(&self) -> &str {
        SOURCE
    }

    /// The source address, unless it is one no public service knows
    /// ([`is_global`] is false).
    fn key(&self, event: &Event) -> Option<IpAddr> {
        is_global(event.src_ip).then_some(event.src_ip)
    }

    async fn fetch(&self, ip: &IpAddr) -> Result<Option<AbuseIpDbReport>, LookupError> {
        let what = format!("{SOURCE} check {ip}");
        if !is_global(*ip) {
            return Err(self.error(
                LookupErrorKind::Rejected,
                &format!("{what}: not a public address"),
            ));
        }
        let request = self
            .client
            .get(self.check_url.clone())
            .query(&[
                ("ipAddress", ip.to_string()),
                ("maxAgeInDays", self.max_age_days.to_string()),
            ])
            .header("Key", self.key_header.clone())
            .header(ACCEPT, "application/json");
        let reply = http::send(&what, request)
            .await
            .map_err(|e| self.error(e.kind, &e.message))?;
        let status = reply.status;
        match status {
            StatusCode::OK => match serde_json::from_slice::<Envelope>(&reply.body) {
                Ok(envelope) => Ok(Some(envelope.data)),
                Err(e) => Err(self.error(
                    LookupErrorKind::Temporary,
                    &format!("{what}: HTTP {status} with a malformed body: {e}"),
                )),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(self.error(
                LookupErrorKind::Unauthorized,
                &format!(
                    "{what}: HTTP {status}, API key refused: {}",
                    error_detail(&reply.body)
                ),
            )),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Err(self.error(
                LookupErrorKind::Rejected,
                &format!(
                    "{what}: HTTP {status}, request rejected: {}",
                    error_detail(&reply.body)
                ),
            )),
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = rate_limit_wait(&reply.headers);
                let remaining = reply
                    .headers
                    .get("x-ratelimit-remaining")
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim);
                let quota = if remaining == Some("0") {
                    " (quota exhausted)"
                } else {
                    ""
                };
                Err(self.error(
                    LookupErrorKind::RateLimited { retry_after },
                    &format!(
                        "{what}: HTTP {status}{quota}: {}",
                        error_detail(&reply.body)
                    ),
                ))
            }
            _ => Err(self.error(
                LookupErrorKind::Temporary,
                &format!("{what}: HTTP {status}: {}", error_detail(&reply.body)),
            )),
        }
    }

    /// Adds a [`Reputation`] from `abuseipdb` (score: the confidence score, total: the
    /// number of reports) and the tag `tor` for a Tor exit.
    fn apply(&self, report: &AbuseIpDbReport, event: &mut Event) {
        let mut details = BTreeMap::new();
        let mut put = |name: &str, value: Option<serde_json::Value>| {
            if let Some(value) = value {
                details.insert(name.to_owned(), value);
            }
        };
        put("usage_type", report.usage_type.clone().map(Into::into));
        put("isp", report.isp.clone().map(Into::into));
        put("domain", report.domain.clone().map(Into::into));
        put("country_code", report.country_code.clone().map(Into::into));
        put("distinct_users", report.num_distinct_users.map(Into::into));
        put("is_tor", report.is_tor.map(Into::into));
        put("is_whitelisted", report.is_whitelisted.map(Into::into));
        put(
            "last_reported_at",
            report.last_reported_at.clone().map(Into::into),
        );
        if !report.hostnames.is_empty() {
            put("hostnames", Some(report.hostnames.clone().into()));
        }
        let enrichment = &mut event.enrichment;
        enrichment.reputation.push(Reputation {
            source: SOURCE.to_owned(),
            score: report.abuse_confidence_score.map(|s| s.min(100)),
            malicious: None,
            total: report.total_reports,
            details,
        });
        if report.is_tor == Some(true) && !enrichment.tags.iter().any(|t| t == "tor") {
            enrichment.tags.push("tor".to_owned());
        }
    }
}
