//! hpti-enrich: enrichers (GeoIP, ASN, reputation, Tor/VPN lists) behind
//! [`hpti_core::enricher::Enricher`]. They arrive with the enrichment issue; this crate is
//! the place they live.
