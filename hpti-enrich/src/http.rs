//! What the HTTP reputation lookups share: the [`ApiKey`] that never prints, the
//! [`ConfigError`] of their constructors, [`is_global`] (which addresses are worth asking
//! about), and the crate-private plumbing that sends one request and classifies its
//! failure as a [`LookupError`].
//!
//! The client follows no redirects: services send their key in a custom header
//! (`Key`, `x-apikey`) that an HTTP client would forward to wherever a redirect points.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};

use crate::lookup::{LookupError, LookupErrorKind};

/// The largest response body read; more is a [`LookupErrorKind::Temporary`] failure (a
/// proxy's error page, not an API answer, which is a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// How much of a service's error text goes into an error message.
const MAX_DETAIL: usize = 200;

/// A service's API key. Its `Debug` prints `***`; it has no `Display`, and the lookups
/// send it only in a request header marked sensitive, never in a URL, an error or a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key, trimmed of surrounding white space. Fails when it is empty or holds
    /// characters an HTTP header cannot carry (the error does not repeat it).
    pub fn new(key: impl Into<String>) -> Result<Self, ConfigError> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::new("the API key is empty"));
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "the API key holds characters other than printable ASCII",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The key in the environment variable `var` (e.g. `HPTI_ABUSEIPDB_KEY`).
    pub fn from_env(var: &str) -> Result<Self, ConfigError> {
        match std::env::var(var) {
            Ok(value) => Self::new(value).map_err(|e| ConfigError::new(format!("{var}: {e}"))),
            Err(std::env::VarError::NotPresent) => {
                Err(ConfigError::new(format!("{var} is not set")))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(ConfigError::new(format!("{var} is not valid Unicode")))
            }
        }
    }

    /// The key as a header value marked sensitive (so `Debug` of the headers hides it).
    pub(crate) fn header_value(&self) -> Result<HeaderValue, ConfigError> {
        let mut value = HeaderValue::from_str(&self.0)
            .map_err(|_| ConfigError::new("the API key is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` with every occurrence of the key replaced by `***`: a last line of defence
    /// for text that came from elsewhere (a service echoing the request, a proxy page).
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A lookup that cannot be built: a missing or invalid API key, a bad base URL, an
/// out-of-range setting. The message never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Whether a public reputation service can know anything about `ip`: false for
/// unspecified, loopback, private (RFC 1918), shared (RFC 6598, carrier-grade NAT),
/// link-local, multicast and broadcast IPv4 addresses and for unspecified, loopback,
/// unique-local, link-local and multicast IPv6 ones. An IPv4-mapped IPv6 address
/// (`::ffff:10.0.0.1`) is judged as the IPv4 address it carries. Documentation ranges
/// (`203.0.113.0/24`, ...) count as global: they appear in tests and examples.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || shared
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global(IpAddr::V4(v4));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.is_multicast())
        }
    }
}

/// An HTTP client for one service: the whole request (connect, send, read) limited to
/// `timeout`, no redirects, an `hpti` user agent.
pub(crate) fn client(timeout: Duration) -> Result<Client, ConfigError> {
    if timeout.is_zero() {
        return Err(ConfigError::new("the request timeout must be above zero"));
    }
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hpti/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::new(format!("cannot build the HTTP client: {e}")))
}

/// A base URL (`https://api.abuseipdb.com`, or a mock server's) checked to be HTTP(S)
/// with a host, so paths can be appended to it. Plain HTTP to anything but a loopback
/// address is allowed (a local proxy) but logged: the key would travel in clear text.
pub(crate) fn base_url(service: &str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .map_err(|e| ConfigError::new(format!("{service}: invalid base URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::new(format!(
            "{service}: the base URL must be http:// or https://"
        )));
    }
    if url.host().is_none() {
        return Err(ConfigError::new(format!(
            "{service}: the base URL has no host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(format!(
            "{service}: the base URL must not hold credentials"
        )));
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        tracing::warn!(
            service,
            host,
            "base URL is plain HTTP: the API key is sent unencrypted"
        );
    }
    Ok(url)
}

/// `base` with `segments` appended as path segments (each percent-encoded as needed),
/// keeping any path prefix of `base`.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// One response, read whole.
pub(crate) struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// Sends `request` once and reads the body. Only transport failures are errors here
/// (all [`LookupErrorKind::Temporary`]); every status is returned for the caller to
/// classify. `what` names the request in messages (`abuseipdb check 192.0.2.1`).
pub(crate) async fn send(
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<Reply, LookupError> {
    let mut response = request.send().await.map_err(|e| transport(what, e))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(what, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(LookupError::new(
                LookupErrorKind::Temporary,
                format!("{what}: HTTP {status}: response body larger than {MAX_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A transport failure (timeout, refused connection, TLS, reset while reading) as a
/// temporary error. The URL is left out of the message.
fn transport(what: &str, error: reqwest::Error) -> LookupError {
    let cause = if error.is_timeout() {
        "request timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "failed reading the response"
    } else {
        "request failed"
    };
    let error = error.without_url();
    let mut message = format!("{what}: {cause}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        message.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    LookupError::new(LookupErrorKind::Temporary, message)
}

/// The `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3); a date in
/// the past is zero. `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let when = SystemTime::from(date);
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Service-supplied text fit for an error message: one line, at most [`MAX_DETAIL`]
/// characters.
pub(crate) fn detail(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    match line.char_indices().nth(MAX_DETAIL) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn global_addresses() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "118.25.6.39",
            "203.0.113.7",
            "100.128.0.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn api_key_never_prints() {
        let key = ApiKey::new("  s3cr3t-key \n").unwrap();
        assert_eq!(format!("{key:?}"), "\"***\"");
        assert_eq!(key.redact("a s3cr3t-key b"), "a *** b");
        assert!(ApiKey::new(" ").is_err());
        let err = ApiKey::new("bad key").unwrap_err();
        assert!(!err.to_string().contains("bad key"));
        assert!(ApiKey::from_env("HPTI_TEST_SURELY_UNSET_VARIABLE").is_err());
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("29"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(29)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = base_url("t", "https://proxy.example/vt/").unwrap();
        assert_eq!(
            endpoint(&base, &["api", "v3", "files", "ab"]).as_str(),
            "https://proxy.example/vt/api/v3/files/ab"
        );
        let base = base_url("t", "https://api.example").unwrap();
        assert_eq!(
            endpoint(&base, &["api", "v3", "ip_addresses", "2001:db8::1"]).as_str(),
            "https://api.example/api/v3/ip_addresses/2001:db8::1"
        );
        assert!(base_url("t", "ftp://x").is_err());
        assert!(base_url("t", "https://user:pw@x").is_err());
        assert!(base_url("t", "not a url").is_err());
    }

    #[test]
    fn details_are_short_single_lines() {
        assert_eq!(detail(" a\nb "), "a b");
        assert_eq!(detail(&"x".repeat(500)).chars().count(), MAX_DETAIL + 1);
    }
}
