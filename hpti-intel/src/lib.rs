//! Threat-intelligence exchange: what hpti captured, in the forms other tools take.
//!
//! - [`ioc`]: indicator extraction from stored events, the one source of every export;
//! - [`stix`]: STIX 2.1 bundles (indicators, observed data, sightings, malware);
//! - [`misp`]: MISP events (attributes, `cowrie` objects, TLP and `honeypot-basic` tags);
//! - [`blocklist`]: address lists for firewalls (plain, CSV, nftables, ipset);
//! - [`cowrie`]: Cowrie 3.x JSON lines, as a sink (`type = "cowrie-json"`) and an export.
//!
//! It opens no listener and fetches nothing: it reads the store and writes files.

pub mod blocklist;
pub mod config;
pub mod cowrie;
mod error;
pub mod ioc;
pub mod misp;
pub mod stix;

pub use config::IntelConfig;
pub use error::IntelError;
