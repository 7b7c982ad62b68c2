//! Address blocklists for firewalls: the attacking addresses of an
//! [`IocReport`](crate::ioc::IocReport) with at least a number of events, never an
//! allow-listed network and never a private, loopback or documentation address, whatever
//! the extraction's options said.
//!
//! ```
//! use hpti_intel::blocklist::{Blocklist, Format};
//! use hpti_intel::ioc::{Extractor, IocOptions};
//! use hpti_core::event::{Event, EventKind, Protocol};
//!
//! let mut extractor = Extractor::new(IocOptions::default());
//! for ip in ["198.51.100.7", "10.0.0.1", "8.8.4.4"] {
//!     extractor.observe(&Event::new("ssh", Protocol::Ssh, ip.parse().unwrap(), EventKind::SessionStarted));
//! }
//! let list = Blocklist::from_report(&extractor.finish(), 1, &[]);
//! assert_eq!(list.render(Format::Plain), "8.8.4.4\n");
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ioc::{AddressIoc, IocReport, is_global};

/// How a blocklist is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One address per line.
    Plain,
    /// `ip,first_seen,last_seen,events,confidence,country,asn` with a header.
    Csv,
    /// An `nft -f` script: table `inet hpti`, sets `blocklist_v4` and `blocklist_v6`,
    /// flushed and refilled.
    Nftables,
    /// An `ipset restore` script: sets `hpti-blocklist` and `hpti-blocklist6`, refilled
    /// beside and swapped in.
    Ipset,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "plain" => Ok(Self::Plain),
            "csv" => Ok(Self::Csv),
            "nftables" => Ok(Self::Nftables),
            "ipset" => Ok(Self::Ipset),
            other => Err(format!(
                "unknown blocklist format `{other}` (plain, csv, nftables, ipset)"
            )),
        }
    }
}

impl Format {
    /// The media type of the rendered list.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        }
    }
}

/// The addresses to block, sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Blocklist {
    /// The entries, by address.
    pub entries: Vec<AddressIoc>,
}

impl Blocklist {
    /// The addresses of `report` with at least `min_events` events, outside `allow` and
    /// globally routable.
    pub fn from_report(report: &IocReport, min_events: u64, allow: &[IpNet]) -> Self {
        let mut entries: Vec<AddressIoc> = report
            .addresses
            .iter()
            .filter(|a| {
                a.events >= min_events
                    && is_global(a.ip)
                    && !allow.iter().any(|n| n.contains(&a.ip))
            })
            .cloned()
            .collect();
        entries.sort_by_key(|a| a.ip);
        Self { entries }
    }

    /// The addresses alone.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.entries.iter().map(|a| a.ip)
    }

    /// The list in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        let v4: Vec<IpAddr> = self.addresses().filter(IpAddr::is_ipv4).collect();
        let v6: Vec<IpAddr> = self.addresses().filter(IpAddr::is_ipv6).collect();
        match format {
            Format::Plain => {
                for ip in self.addresses() {
                    let _ = writeln!(out, "{ip}");
                }
            }
            Format::Csv => {
                out.push_str("ip,first_seen,last_seen,events,confidence,country,asn\n");
                for a in &self.entries {
                    let _ = writeln!(
                        out,
                        "{},{},{},{},{},{},{}",
                        a.ip,
                        a.first_seen,
                        a.last_seen,
                        a.events,
                        a.confidence,
                        a.country
                            .as_deref()
                            .filter(|c| c.chars().all(|c| c.is_ascii_alphabetic()))
                            .unwrap_or(""),
                        a.asn.map(|n| n.to_string()).unwrap_or_default()
                    );
                }
            }
            Format::Nftables => {
                out.push_str("# hpti blocklist: nft -f this-file\n");
                out.push_str("table inet hpti {\n}\n");
                for (set, kind, ips) in [
                    ("blocklist_v4", "ipv4_addr", &v4),
                    ("blocklist_v6", "ipv6_addr", &v6),
                ] {
                    let _ = writeln!(out, "add set inet hpti {set} {{ type {kind}; }}");
                    let _ = writeln!(out, "flush set inet hpti {set}");
                    for chunk in ips.chunks(1000) {
                        let list = chunk
                            .iter()
                            .map(IpAddr::to_string)
                            .collect::<Vec<_>>()
                            .join(", ");
                        let _ = writeln!(out, "add element inet hpti {set} {{ {list} }}");
                    }
                }
            }
            Format::Ipset => {
                // Filled beside the live set, then swapped in: the firewall never sees a
                // half-filled list, and `maxelem` fits the list (ipset's default is 65,536).
                for (set, family, ips) in [
                    ("hpti-blocklist", "inet", &v4),
                    ("hpti-blocklist6", "inet6", &v6),
                ] {
                    let maxelem = ips.len().max(65_536).next_power_of_two();
                    let _ = writeln!(
                        out,
                        "create {set} hash:ip family {family} maxelem {maxelem} -exist"
                    );
                    let _ = writeln!(
                        out,
                        "create {set}-new hash:ip family {family} maxelem {maxelem} -exist"
                    );
                    let _ = writeln!(out, "flush {set}-new");
                    for ip in ips {
                        let _ = writeln!(out, "add {set}-new {ip} -exist");
                    }
                    let _ = writeln!(out, "swap {set}-new {set}");
                    let _ = writeln!(out, "destroy {set}-new");
                }
            }
        }
        out
    }
}
