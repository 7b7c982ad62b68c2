//! hpti-enrich: enrichers behind [`hpti_core::enricher::Enricher`]. GeoIP and ASN read
//! MaxMind-format databases directly; remote sources (reputation services, lists)
//! implement [`lookup::Lookup`] and are wrapped in a caching, rate-limited, retrying
//! enricher. Each backend is a module behind its own feature.

pub mod cached;
#[cfg(feature = "geoip")]
pub mod geoip;
pub mod lookup;
