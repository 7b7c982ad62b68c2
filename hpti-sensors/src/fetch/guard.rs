//! The SSRF guard: which addresses a fetch may connect to.
//!
//! Every path to a socket goes through [`Guard::check`]: IP-literal URLs (which
//! reqwest connects to without asking any resolver), names (through
//! [`GuardedResolver`], so the connection goes to the very address that was checked
//! and DNS rebinding has no window), redirect hops, and the TFTP/FTP clients.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::Host;

/// Why `ip` must not be fetched from, or `None` for a public unicast address.
///
/// IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by
/// the embedded address, because that is where the packets may end up.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "\"this network\" 0.0.0.0/8",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let s = ip.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated but still routable
    // on some stacks).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return v4_reason(low32);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_reason(low32).map(|_| "NAT64 of a forbidden IPv4 address");
    }
    if s[0] == 0x2002 {
        let embedded = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return v4_reason(embedded).map(|_| "6to4 of a forbidden IPv4 address");
    }
    let reason = if s[0] & 0xfe00 == 0xfc00 {
        "unique local (private)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 || s[0] == 0x3fff && s[1] < 0x1000 {
        "documentation"
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        // 2001::/23: Teredo, benchmarking, ORCHID, AS112 and other special purposes.
        "IETF protocol assignments"
    } else if s[0] & 0xe000 != 0x2000 {
        // Only 2000::/3 is global unicast; everything else (64:ff9b:1::/48, 100::/64,
        // unassigned space) has no business being fetched from.
        "not global unicast"
    } else {
        return None;
    };
    Some(reason)
}

/// A connection refused by the guard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("forbidden address {address} ({reason})")]
pub(crate) struct Blocked {
    pub(crate) address: IpAddr,
    pub(crate) reason: &'static str,
}

/// A name that could not be turned into an address.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot resolve {host}: {message}")]
pub(crate) struct DnsFailed {
    pub(crate) host: String,
    pub(crate) message: String,
}

/// Why [`resolve_checked`] failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error(transparent)]
    Dns(#[from] DnsFailed),
}

/// A redirect chain longer than allowed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("more than {0} redirects")]
pub(crate) struct TooManyRedirects(pub(crate) usize);

/// A redirect to a scheme the fetcher does not follow.
#[derive(Debug, Clone, thiserror::Error)]
#[error("redirect to unsupported scheme {0:?}")]
pub(crate) struct RedirectScheme(pub(crate) String);

/// An `allow` entry that is neither an IP address nor a CIDR.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid allow entry {0:?}: expected an IP address or a CIDR such as 127.0.0.1/32")]
pub struct InvalidAllowEntry(pub String);

/// The allow list and the checks built on it.
#[derive(Clone, Default)]
pub(crate) struct Guard {
    allow: Vec<IpNet>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.allow.iter().map(|n| n.to_string()))
            .finish()
    }
}

impl Guard {
    /// Parses `allow` entries: CIDRs or bare addresses (a single host).
    pub(crate) fn new(allow: &[String]) -> Result<Self, InvalidAllowEntry> {
        let allow = allow
            .iter()
            .map(|entry| {
                let text = entry.trim();
                IpNet::from_str(text)
                    .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| InvalidAllowEntry(entry.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    /// `Ok` when `ip` is public or explicitly allowed.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let Some(reason) = forbidden_reason(ip) else {
            return Ok(());
        };
        // `::ffff:127.0.0.1` is allowed exactly when 127.0.0.1 is.
        let canonical = ip.to_canonical();
        if self
            .allow
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        Err(Blocked {
            address: ip,
            reason,
        })
    }

    /// Checks an IP-literal host; names are left to [`resolve_checked`].
    pub(crate) fn check_host(&self, host: &Host<&str>) -> Result<(), Blocked> {
        match host {
            Host::Ipv4(ip) => self.check(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => self.check(IpAddr::V6(*ip)),
            Host::Domain(_) => Ok(()),
        }
    }
}

/// Resolves `host` and keeps only the addresses the guard lets through.
pub(crate) async fn resolve_checked(
    guard: &Guard,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| DnsFailed {
            host: host.to_owned(),
            message: e.to_string(),
        })?;
    let mut allowed = Vec::new();
    let mut blocked = None;
    for addr in found {
        match guard.check(addr.ip()) {
            Ok(()) => allowed.push(addr),
            Err(b) => {
                blocked.get_or_insert(b);
            }
        }
    }
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    Err(match blocked {
        Some(b) => b.into(),
        None => DnsFailed {
            host: host.to_owned(),
            message: "no addresses".to_owned(),
        }
        .into(),
    })
}

/// Addresses for a URL's host: the literal itself (checked) or the checked
/// resolution of the name.
pub(crate) async fn url_addrs(
    guard: &Guard,
    url: &Url,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveError> {
    match url.host() {
        Some(Host::Ipv4(ip)) => {
            guard.check(IpAddr::V4(ip))?;
            Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)])
        }
        Some(Host::Ipv6(ip)) => {
            guard.check(IpAddr::V6(ip))?;
            Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)])
        }
        Some(Host::Domain(name)) => resolve_checked(guard, name, port).await,
        None => Err(DnsFailed {
            host: String::new(),
            message: "URL has no host".to_owned(),
        }
        .into()),
    }
}

/// The resolver reqwest uses for every name, redirects included.
pub(crate) struct GuardedResolver(pub(crate) Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(&guard, &host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Follows at most `max` redirects, re-checking literal hosts on every hop (names
/// are checked by [`GuardedResolver`] when connecting).
pub(crate) fn redirect_policy(guard: Arc<Guard>, max: usize) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            return attempt.error(TooManyRedirects(max));
        }
        let url = attempt.url();
        if !matches!(url.scheme(), "http" | "https") {
            let scheme = url.scheme().to_owned();
            return attempt.error(RedirectScheme(scheme));
        }
        let checked = match url.host() {
            Some(host) => guard.check_host(&host),
            None => Ok(()),
        };
        match checked {
            Ok(()) => attempt.follow(),
            Err(blocked) => attempt.error(blocked),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn allow_accepts_bare_addresses_and_cidrs() {
        let guard = Guard::new(&["127.0.0.1".into(), "10.1.0.0/16".into()]).unwrap();
        assert!(guard.check(ip("127.0.0.1")).is_ok());
        assert!(guard.check(ip("::ffff:127.0.0.1")).is_ok());
        assert!(guard.check(ip("127.0.0.2")).is_err());
        assert!(guard.check(ip("10.1.200.3")).is_ok());
        assert!(guard.check(ip("10.2.0.1")).is_err());
        assert!(guard.check(ip("8.8.8.8")).is_ok());
        assert!(Guard::new(&["nonsense".into()]).is_err());
    }
}
