//! A custom enricher, written as a user of the hpti crates would: it tags source addresses
//! that fall in CIDR blocks of known research scanners, read from a plain text list.
//!
//! Run: `cargo run -p hpti-examples --example custom_enricher`

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::event::Event;

/// One `address/prefix` block.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.split_once('/')?;
        let network: IpAddr = address.trim().parse().ok()?;
        let prefix: u8 = prefix.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Tags events whose source is in a listed block with the block's tag.
pub struct ScannerTagger {
    blocks: Vec<(Cidr, String)>,
}

impl ScannerTagger {
    /// Reads lines of `CIDR TAG` (`#` starts a comment).
    pub fn from_list(text: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(cidr), Some(tag)) = (parts.next(), parts.next()) else {
                return Err(format!("line {}: expected `CIDR TAG`", number + 1));
            };
            let cidr =
                Cidr::parse(cidr).ok_or(format!("line {}: bad CIDR {cidr:?}", number + 1))?;
            blocks.push((cidr, tag.to_owned()));
        }
        Ok(Self { blocks })
    }
}

#[async_trait]
impl Enricher for ScannerTagger {
    fn name(&self) -> &str {
        "scanner-list"
    }

    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        for (cidr, tag) in &self.blocks {
            if cidr.contains(event.src_ip) && !event.enrichment.tags.contains(tag) {
                event.enrichment.tags.push(tag.clone());
            }
        }
        Ok(())
    }
}

const LIST: &str = "\
# Documentation ranges standing in for real scanner networks.
198.51.100.0/24  known-scanner
2001:db8::/32    known-scanner
203.0.113.128/25 research
";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let tagger = Arc::new(ScannerTagger::from_list(LIST)?);
    for address in ["198.51.100.23", "203.0.113.200", "192.0.2.1"] {
        let mut event = Event::new(
            "example",
            hpti_core::event::Protocol::Ssh,
            address.parse().map_err(|e| format!("{e}"))?,
            hpti_core::event::EventKind::SessionStarted,
        );
        tagger.enrich(&mut event).await.map_err(|e| e.to_string())?;
        println!("{address}: {:?}", event.enrichment.tags);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::event::{EventKind, Protocol};

    async fn tags(ip: &str) -> Vec<String> {
        let tagger = ScannerTagger::from_list(LIST).unwrap();
        let mut event = Event::new(
            "t",
            Protocol::Ssh,
            ip.parse().unwrap(),
            EventKind::SessionStarted,
        );
        tagger.enrich(&mut event).await.unwrap();
        event.enrichment.tags
    }

    #[tokio::test]
    async fn tags_addresses_inside_listed_blocks_only() {
        assert_eq!(tags("198.51.100.255").await, vec!["known-scanner"]);
        assert_eq!(tags("2001:db8:1::5").await, vec!["known-scanner"]);
        assert_eq!(tags("203.0.113.128").await, vec!["research"]);
        assert!(tags("203.0.113.127").await.is_empty());
        assert!(tags("198.51.101.1").await.is_empty());
    }

    #[test]
    fn bad_lists_name_the_line() {
        let err = ScannerTagger::from_list("10.0.0.0/8 a\n10.0.0.0/40 b\n")
            .err()
            .unwrap();
        assert!(err.starts_with("line 2"), "{err}");
    }
}
