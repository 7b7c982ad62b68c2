//! hpti-enrich: enrichers behind [`hpti_core::enricher::Enricher`]. GeoIP and ASN read
//! MaxMind-format databases directly; remote sources (reputation services, lists)
//! implement [`lookup::Lookup`] and are wrapped in a caching, rate-limited, retrying
//! enricher. Each backend is a module behind its own feature.

#[cfg(feature = "abuseipdb")]
pub mod abuseipdb;
pub mod cached;
pub mod component;
pub mod file;
#[cfg(feature = "geoip")]
pub mod geoip;
#[cfg(any(feature = "abuseipdb", feature = "virustotal", feature = "rdap"))]
pub mod http;
#[cfg(feature = "iplist")]
pub mod iplist;
pub mod lookup;
#[cfg(feature = "rdap")]
pub mod rdap;
#[cfg(feature = "virustotal")]
pub mod virustotal;
