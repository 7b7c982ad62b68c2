//! hpti-enrich: enrichers behind [`hpti_core::enricher::Enricher`] — GeoIP and ASN from
//! MaxMind-format databases now; reputation services, RDAP and IP lists to follow. Each
//! backend is a module behind its own feature.

#[cfg(feature = "geoip")]
pub mod geoip;
