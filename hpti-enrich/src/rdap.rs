//! The registered network of an attacker's address from [RDAP] (RFC 9082/9083, the
//! JSON successor of WHOIS): network handle and name, prefixes, registrant organisation,
//! abuse contact and country.
//!
//! Which registry to ask comes from IANA's bootstrap files (RFC 9224,
//! `https://data.iana.org/rdap/ipv4.json` and `ipv6.json`), fetched on first use and
//! refreshed daily; a fixed `server` (a mirror, a test server) skips the bootstrap.
//! Registries redirect queries for blocks transferred to another registry, so up to
//! [`RdapConfig::max_redirects`] redirects are followed (RDAP sends no API key that a
//! redirect could leak).
//!
//! One answer covers a whole network, so answers are also kept by address range: the
//! next address of the same network is answered without a query, whatever the per-address
//! cache of the caching wrapper says. The classification of one query:
//!
//! | answer | result |
//! | --- | --- |
//! | 200 with an `ip network` object | `Ok(Some(network))` |
//! | 404 | `Ok(None)`: no registry knows the address (cacheable) |
//! | 400, 422 | [`LookupErrorKind::Rejected`] |
//! | 429 | [`LookupErrorKind::RateLimited`], waiting `Retry-After` if sent |
//! | 401, 403 | [`LookupErrorKind::Unauthorized`] (a registry blocking the client) |
//! | 5xx, anything else, timeouts, connection errors, a body that is not RDAP JSON, an address no bootstrap entry covers | [`LookupErrorKind::Temporary`] |
//!
//! [RDAP]: https://www.rfc-editor.org/rfc/rfc9083

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hpti_core::event::{Event, Network};
use reqwest::header::ACCEPT;
use reqwest::{Client, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::http::{self, ConfigError, is_global};
use crate::lookup::{Lookup, LookupError, LookupErrorKind};

/// IANA's RDAP bootstrap registry (its `ipv4.json` and `ipv6.json`).
pub const DEFAULT_BOOTSTRAP_URL: &str = "https://data.iana.org/rdap/";

/// The `source` of the [`Network`] this lookup adds, and its [`Lookup::name`].
pub const SOURCE: &str = "rdap";

/// The media type of RDAP answers (RFC 7480 §4.2).
const RDAP_JSON: &str = "application/rdap+json";

/// How long a bootstrap file is used before it is fetched again.
const BOOTSTRAP_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// Most networks kept by address range.
const NETWORK_CACHE: usize = 10_000;

/// How deep entities nested in entities are searched for the registrant and abuse roles.
const MAX_ENTITY_DEPTH: usize = 4;

/// How to reach RDAP.
#[derive(Debug, Clone)]
pub struct RdapConfig {
    /// Where the bootstrap files live ([`DEFAULT_BOOTSTRAP_URL`]).
    pub bootstrap_url: String,
    /// A fixed RDAP server to ask instead of the bootstrap's (`https://rdap.example/`).
    pub server: Option<String>,
    /// Limit of one whole request: connect, send, read (5 s).
    pub timeout: Duration,
    /// Redirects followed from one registry to another (3).
    pub max_redirects: usize,
}

impl Default for RdapConfig {
    fn default() -> Self {
        Self {
            bootstrap_url: DEFAULT_BOOTSTRAP_URL.to_owned(),
            server: None,
            timeout: Duration::from_secs(5),
            max_redirects: 3,
        }
    }
}

/// What RDAP says about the network of an address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdapNetwork {
    /// The registry's handle.
    pub handle: Option<String>,
    /// The network's name.
    pub name: Option<String>,
    /// First address of the network.
    pub start: Option<IpAddr>,
    /// Last address of the network.
    pub end: Option<IpAddr>,
    /// Prefixes (from the `cidr0` extension, else computed from start and end).
    pub cidr: Vec<String>,
    /// Registrant organisation (the `fn` of the entity with role `registrant`).
    pub organization: Option<String>,
    /// Abuse e-mail (of the entity with role `abuse`, wherever it is nested).
    pub abuse_email: Option<String>,
    /// Country of the registration.
    pub country: Option<String>,
}

/// RDAP's `ip` query as a [`Lookup`] keyed by the event's source address.
pub struct Rdap {
    client: Client,
    bootstrap_base: Url,
    server: Option<Url>,
    bootstrap: tokio::sync::Mutex<Bootstraps>,
    networks: Mutex<NetworkRanges>,
}

impl std::fmt::Debug for Rdap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rdap")
            .field("bootstrap_base", &self.bootstrap_base.as_str())
            .field("server", &self.server.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

impl Rdap {
    /// A lookup with `config`; fails on a bad URL or a zero timeout.
    pub fn new(config: RdapConfig) -> Result<Self, ConfigError> {
        if config.timeout.is_zero() {
            return Err(ConfigError::new(
                "rdap: the request timeout must be above zero",
            ));
        }
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .user_agent(concat!("hpti/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::new(format!("rdap: cannot build the HTTP client: {e}")))?;
        let server = config
            .server
            .as_deref()
            .map(|s| http::base_url(SOURCE, s))
            .transpose()?;
        Ok(Self {
            client,
            bootstrap_base: http::base_url(SOURCE, &config.bootstrap_url)?,
            server,
            bootstrap: tokio::sync::Mutex::new(Bootstraps::default()),
            networks: Mutex::new(NetworkRanges::default()),
        })
    }

    /// The RDAP server responsible for `ip`: the fixed one, or the bootstrap's.
    async fn server_for(&self, ip: IpAddr) -> Result<Url, LookupError> {
        if let Some(server) = &self.server {
            return Ok(server.clone());
        }
        let file = if ip.is_ipv4() {
            "ipv4.json"
        } else {
            "ipv6.json"
        };
        let mut bootstraps = self.bootstrap.lock().await;
        let slot = if ip.is_ipv4() {
            &mut bootstraps.v4
        } else {
            &mut bootstraps.v6
        };
        let stale = slot
            .as_ref()
            .is_none_or(|b| b.fetched.elapsed() > BOOTSTRAP_REFRESH);
        if stale {
            match self.fetch_bootstrap(file).await {
                Ok(bootstrap) => *slot = Some(bootstrap),
                // A stale registry beats none: registries rarely move blocks.
                Err(e) if slot.is_none() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "rdap: keeping the old bootstrap"),
            }
        }
        slot.as_ref().and_then(|b| b.server_for(ip)).ok_or_else(|| {
            LookupError::new(
                LookupErrorKind::Temporary,
                format!("rdap {ip}: no registry in the bootstrap covers it"),
            )
        })
    }

    async fn fetch_bootstrap(&self, file: &str) -> Result<Bootstrap, LookupError> {
        let what = format!("rdap bootstrap {file}");
        let url = http::endpoint(&self.bootstrap_base, &[file]);
        let reply = http::send(&what, self.client.get(url)).await?;
        if reply.status != StatusCode::OK {
            return Err(LookupError::new(
                LookupErrorKind::Temporary,
                format!("{what}: HTTP {}", reply.status),
            ));
        }
        let parsed: BootstrapFile = serde_json::from_slice(&reply.body).map_err(|e| {
            LookupError::new(
                LookupErrorKind::Temporary,
                format!("{what}: malformed bootstrap file: {e}"),
            )
        })?;
        Ok(Bootstrap::new(parsed))
    }
}

#[async_trait]
impl Lookup for Rdap {
    type Key = IpAddr;
    type Value = RdapNetwork;

    fn name(&self) -> &str {
        SOURCE
    }

    /// The source address, unless no registry would know it ([`is_global`] is false).
    fn key(&self, event: &Event) -> Option<IpAddr> {
        is_global(event.src_ip).then_some(event.src_ip)
    }

    async fn fetch(&self, ip: &IpAddr) -> Result<Option<RdapNetwork>, LookupError> {
        let ip = *ip;
        let what = format!("{SOURCE} ip {ip}");
        if !is_global(ip) {
            return Err(LookupError::new(
                LookupErrorKind::Rejected,
                format!("{what}: not a public address"),
            ));
        }
        if let Ok(networks) = self.networks.lock()
            && let Some(network) = networks.find(ip)
        {
            return Ok(Some(network));
        }
        let server = self.server_for(ip).await?;
        let url = http::endpoint(&server, &["ip", &ip.to_string()]);
        let request = self
            .client
            .get(url)
            .header(ACCEPT, format!("{RDAP_JSON}, application/json;q=0.9"));
        let reply = http::send(&what, request).await?;
        let status = reply.status;
        let detail = || rdap_error_detail(&reply.body);
        match status {
            StatusCode::OK => {
                let network = parse_network(&reply.body).map_err(|e| {
                    LookupError::new(
                        LookupErrorKind::Temporary,
                        format!("{what}: HTTP {status} with a malformed body: {e}"),
                    )
                })?;
                if let Ok(mut networks) = self.networks.lock() {
                    networks.insert(&network);
                }
                Ok(Some(network))
            }
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Err(LookupError::new(
                LookupErrorKind::Rejected,
                format!("{what}: HTTP {status}: {}", detail()),
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(LookupError::new(
                LookupErrorKind::Unauthorized,
                format!("{what}: HTTP {status}: {}", detail()),
            )),
            StatusCode::TOO_MANY_REQUESTS => Err(LookupError::new(
                LookupErrorKind::RateLimited {
                    retry_after: http::retry_after(&reply.headers),
                },
                format!("{what}: HTTP {status}: {}", detail()),
            )),
            _ => Err(LookupError::new(
                LookupErrorKind::Temporary,
                format!("{what}: HTTP {status}: {}", detail()),
            )),
        }
    }

    /// Sets `enrichment.network`.
    fn apply(&self, value: &RdapNetwork, event: &mut Event) {
        event.enrichment.network = Some(Network {
            source: SOURCE.to_owned(),
            handle: value.handle.clone(),
            name: value.name.clone(),
            cidr: value.cidr.clone(),
            organization: value.organization.clone(),
            abuse_email: value.abuse_email.clone(),
            country: value.country.clone(),
        });
    }
}

/// An RDAP error body's `title` and `description` (RFC 9083 §6), else the body's start.
fn rdap_error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        title: Option<String>,
        #[serde(default)]
        description: Vec<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => {
            let mut parts: Vec<String> = e.title.into_iter().collect();
            parts.extend(e.description);
            http::detail(&parts.join(": "))
        }
        Err(_) => http::detail(&String::from_utf8_lossy(body)),
    }
}

/// The fields of an `ip network` object this lookup reads (RFC 9083 §5.4).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpNetworkObject {
    object_class_name: Option<String>,
    handle: Option<String>,
    name: Option<String>,
    start_address: Option<String>,
    end_address: Option<String>,
    country: Option<String>,
    #[serde(default)]
    entities: Vec<Entity>,
    #[serde(default)]
    cidr0_cidrs: Vec<Cidr0>,
}

/// An entity (RFC 9083 §5.1): its roles, contact card and nested entities.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    #[serde(default)]
    roles: Vec<String>,
    vcard_array: Option<serde_json::Value>,
    #[serde(default)]
    entities: Vec<Entity>,
}

/// One prefix of the `cidr0` extension.
#[derive(Deserialize)]
struct Cidr0 {
    v4prefix: Option<String>,
    v6prefix: Option<String>,
    length: Option<u8>,
}

/// Reads an `ip network` answer.
pub fn parse_network(body: &[u8]) -> Result<RdapNetwork, serde_json::Error> {
    use serde::de::Error as _;
    let object: IpNetworkObject = serde_json::from_slice(body)?;
    if let Some(class) = &object.object_class_name
        && class != "ip network"
    {
        return Err(serde_json::Error::custom(format!(
            "objectClassName is {class:?}, not \"ip network\""
        )));
    }
    let start = object.start_address.as_deref().and_then(parse_ip);
    let end = object.end_address.as_deref().and_then(parse_ip);
    let mut cidr: Vec<String> = object
        .cidr0_cidrs
        .iter()
        .filter_map(|c| {
            let prefix = c.v4prefix.as_deref().or(c.v6prefix.as_deref())?;
            Some(format!("{}/{}", prefix, c.length?))
        })
        .collect();
    if cidr.is_empty()
        && let (Some(start), Some(end)) = (start, end)
    {
        cidr = range_to_cidrs(start, end);
    }
    let organization = find_role(&object.entities, "registrant", 0)
        .and_then(|e| vcard_text(e.vcard_array.as_ref()?, "fn"));
    let abuse_email = find_role(&object.entities, "abuse", 0)
        .and_then(|e| vcard_text(e.vcard_array.as_ref()?, "email"));
    Ok(RdapNetwork {
        handle: object.handle,
        name: object.name,
        start,
        end,
        cidr,
        organization,
        abuse_email,
        country: object.country,
    })
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    // Some registries write IPv4 addresses with a prefix length or spaces.
    text.trim().split('/').next()?.parse().ok()
}

/// The first entity with `role`, breadth first: registries nest the abuse contact under
/// the registrant organisation (ARIN) or list it at the top (RIPE, APNIC).
fn find_role<'a>(entities: &'a [Entity], role: &str, depth: usize) -> Option<&'a Entity> {
    if depth > MAX_ENTITY_DEPTH {
        return None;
    }
    entities
        .iter()
        .find(|e| e.roles.iter().any(|r| r.eq_ignore_ascii_case(role)))
        .or_else(|| {
            entities
                .iter()
                .find_map(|e| find_role(&e.entities, role, depth + 1))
        })
}

/// The text value of the first `property` (`fn`, `email`) of a jCard (RFC 7095):
/// `["vcard", [["fn", {}, "text", "Google LLC"], ...]]`.
fn vcard_text(vcard: &serde_json::Value, property: &str) -> Option<String> {
    vcard
        .get(1)?
        .as_array()?
        .iter()
        .filter_map(|p| p.as_array())
        .find(|p| p.first().and_then(|n| n.as_str()) == Some(property))
        .and_then(|p| p.get(3)?.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The fewest prefixes covering `start..=end` (both the same family), at most 32 of
/// them (a registry range is a handful of prefixes).
fn range_to_cidrs(start: IpAddr, end: IpAddr) -> Vec<String> {
    let (mut low, high, bits, v4) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (
            u128::from(u32::from(s)),
            u128::from(u32::from(e)),
            32u32,
            true,
        ),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128u32, false),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    while low <= high && out.len() < 32 {
        // The largest block aligned at `low` that does not pass `high`.
        let mut size = if low == 0 {
            bits
        } else {
            low.trailing_zeros().min(bits)
        };
        while size > 0 && (size >= 128 || low + ((1u128 << size) - 1) > high) {
            size -= 1;
        }
        let address = if v4 {
            IpAddr::V4(std::net::Ipv4Addr::from(
                u32::try_from(low).unwrap_or(u32::MAX),
            ))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(low))
        };
        out.push(format!("{address}/{}", bits - size));
        let step = if size >= 128 {
            u128::MAX
        } else {
            1u128 << size
        };
        match low.checked_add(step) {
            Some(next) => low = next,
            None => break,
        }
    }
    out
}

/// IANA's bootstrap file (RFC 9224 §3): `services` is a list of
/// `[[prefixes...], [server URLs...]]`.
#[derive(Deserialize)]
struct BootstrapFile {
    services: Vec<(Vec<String>, Vec<String>)>,
}

#[derive(Default)]
struct Bootstraps {
    v4: Option<Bootstrap>,
    v6: Option<Bootstrap>,
}

/// A parsed bootstrap file: prefixes and the server each maps to.
struct Bootstrap {
    entries: Vec<(IpAddr, u8, Url)>,
    fetched: Instant,
}

impl Bootstrap {
    fn new(file: BootstrapFile) -> Self {
        let mut entries = Vec::new();
        for (prefixes, urls) in file.services {
            // RFC 9224 §3: prefer HTTPS when a service lists several URLs.
            let url = urls
                .iter()
                .find(|u| u.starts_with("https://"))
                .or_else(|| urls.first())
                .and_then(|u| Url::parse(u).ok());
            let Some(url) = url else { continue };
            for prefix in prefixes {
                let Some((address, length)) = prefix.split_once('/') else {
                    continue;
                };
                if let (Ok(address), Ok(length)) = (address.parse(), length.parse()) {
                    entries.push((address, length, url.clone()));
                }
            }
        }
        Self {
            entries,
            fetched: Instant::now(),
        }
    }

    /// The server of the longest prefix holding `ip`.
    fn server_for(&self, ip: IpAddr) -> Option<Url> {
        self.entries
            .iter()
            .filter(|(network, length, _)| prefix_contains(*network, *length, ip))
            .max_by_key(|(_, length, _)| *length)
            .map(|(_, _, url)| url.clone())
    }
}

fn prefix_contains(network: IpAddr, length: u8, ip: IpAddr) -> bool {
    let (network, ip, bits) = match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    let length = u32::from(length);
    if length == 0 {
        return true;
    }
    if length > bits {
        return false;
    }
    let shift = bits - length;
    network.checked_shr(shift) == ip.checked_shr(shift)
}

/// Networks already answered, by address range, oldest evicted first.
#[derive(Default)]
struct NetworkRanges {
    by_start: BTreeMap<u128, (u128, bool, Arc<RdapNetwork>)>,
    order: VecDeque<u128>,
}

fn ordinal(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
        IpAddr::V6(v6) => (u128::from(v6), false),
    }
}

impl NetworkRanges {
    fn find(&self, ip: IpAddr) -> Option<RdapNetwork> {
        let (value, v4) = ordinal(ip);
        // Ranges of both families share the map: check the family too.
        self.by_start
            .range(..=value)
            .rev()
            .take(8)
            .find(|(_, (end, family, _))| *family == v4 && value <= *end)
            .map(|(_, (_, _, network))| network.as_ref().clone())
    }

    fn insert(&mut self, network: &RdapNetwork) {
        let (Some(start), Some(end)) = (network.start, network.end) else {
            return;
        };
        let ((start, v4), (end, end_v4)) = (ordinal(start), ordinal(end));
        if v4 != end_v4 || end < start {
            return;
        }
        if self
            .by_start
            .insert(start, (end, v4, Arc::new(network.clone())))
            .is_none()
        {
            self.order.push_back(start);
        }
        while self.order.len() > NETWORK_CACHE {
            if let Some(oldest) = self.order.pop_front() {
                self.by_start.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_become_prefixes() {
        assert_eq!(
            range_to_cidrs(ip("8.8.8.0"), ip("8.8.8.255")),
            ["8.8.8.0/24"]
        );
        assert_eq!(
            range_to_cidrs(ip("10.0.0.0"), ip("10.0.2.255")),
            ["10.0.0.0/23", "10.0.2.0/24"]
        );
        assert_eq!(
            range_to_cidrs(ip("0.0.0.0"), ip("255.255.255.255")),
            ["0.0.0.0/0"]
        );
        assert_eq!(range_to_cidrs(ip("1.2.3.4"), ip("1.2.3.4")), ["1.2.3.4/32"]);
        assert_eq!(
            range_to_cidrs(
                ip("2001:db8::"),
                ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
            ),
            ["2001:db8::/32"]
        );
        assert!(range_to_cidrs(ip("1.2.3.4"), ip("::1")).is_empty());
        assert!(range_to_cidrs(ip("1.2.3.4"), ip("1.2.3.3")).is_empty());
    }

    #[test]
    fn prefixes_contain() {
        assert!(prefix_contains(ip("41.0.0.0"), 8, ip("41.1.2.3")));
        assert!(!prefix_contains(ip("41.0.0.0"), 8, ip("42.1.2.3")));
        assert!(prefix_contains(ip("2c00::"), 12, ip("2c0f:f000::1")));
        assert!(!prefix_contains(ip("2c00::"), 12, ip("2a00::1")));
        assert!(!prefix_contains(ip("41.0.0.0"), 8, ip("::1")));
        assert!(!prefix_contains(ip("41.0.0.0"), 40, ip("41.0.0.1")));
    }

    #[test]
    fn network_ranges_answer_by_range_and_family() {
        let mut ranges = NetworkRanges::default();
        let network = RdapNetwork {
            name: Some("N".into()),
            start: Some(ip("8.8.8.0")),
            end: Some(ip("8.8.8.255")),
            ..RdapNetwork::default()
        };
        ranges.insert(&network);
        assert_eq!(ranges.find(ip("8.8.8.8")), Some(network));
        assert_eq!(ranges.find(ip("8.8.9.8")), None);
        assert_eq!(ranges.find(ip("::808:808")), None);
    }

    #[test]
    fn vcards_give_text_values() {
        let vcard = serde_json::json!([
            "vcard",
            [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", " Google LLC "],
                ["email", {}, "text", "network-abuse@google.com"]
            ]
        ]);
        assert_eq!(vcard_text(&vcard, "fn").as_deref(), Some("Google LLC"));
        assert_eq!(
            vcard_text(&vcard, "email").as_deref(),
            Some("network-abuse@google.com")
        );
        assert_eq!(vcard_text(&vcard, "tel"), None);
        assert_eq!(vcard_text(&serde_json::json!("x"), "fn"), None);
    }
}
