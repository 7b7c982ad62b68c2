//! Threat-intelligence exchange: what hpti captured, in the forms other tools take.
//!
//! - [`ioc`]: indicator extraction from stored events, the one source of every export;
//! - [`stix`]: STIX 2.1 bundles (indicators, observed data, sightings, malware);
//! - [`blocklist`]: address lists for firewalls (plain, CSV, nftables, ipset).
//!
//! This crate only reads and formats: it opens no listener and fetches nothing.

pub mod blocklist;
pub mod config;
pub mod ioc;
pub mod stix;

pub use config::IntelConfig;
