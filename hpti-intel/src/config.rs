//! `[intel]`: what every export leaves out and how it marks what it shares.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ioc::IocOptions;
use crate::stix::{StixOptions, Tlp};

/// The `[intel]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntelConfig {
    /// Networks never exported (your own, partners', scanners you trust).
    pub allow: Vec<IpNet>,
    /// Addresses an enricher tagged with one of these are never exported.
    pub allow_tags: Vec<String>,
    /// Also export addresses that are not globally routable (labs, tests).
    pub include_private: bool,
    /// The operator's name in STIX bundles and MISP events.
    pub identity: String,
    /// The TLP marking of what is shared: `clear`, `green`, `amber` or `red`.
    pub tlp: Tlp,
}

impl Default for IntelConfig {
    fn default() -> Self {
        let ioc = IocOptions::default();
        let stix = StixOptions::default();
        Self {
            allow: ioc.allow,
            allow_tags: ioc.allow_tags,
            include_private: ioc.include_private,
            identity: stix.identity,
            tlp: stix.tlp,
        }
    }
}

impl IntelConfig {
    /// The extraction's options.
    pub fn ioc_options(&self) -> IocOptions {
        IocOptions {
            allow: self.allow.clone(),
            allow_tags: self.allow_tags.clone(),
            include_private: self.include_private,
        }
    }

    /// The STIX options, with indicators from `min_confidence` on.
    pub fn stix_options(&self, min_confidence: u8) -> StixOptions {
        StixOptions {
            identity: self.identity.clone(),
            tlp: self.tlp,
            min_confidence,
        }
    }
}
