//! The STIX 2.1 objects hpti writes, as serde types (the STIX crates on crates.io are
//! young and cover other subsets). Field names and value ranges are the specification's
//! (OASIS STIX 2.1, sections 4–7); conformance is checked with the OASIS validator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Properties every STIX domain object and relationship has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Common {
    /// Always `2.1`.
    pub spec_version: String,
    /// `<type>--<uuid>`.
    pub id: String,
    /// When the object was first made (STIX timestamp).
    pub created: String,
    /// This version's time (`created` or later).
    pub modified: String,
    /// The identity that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<String>,
    /// Its markings (TLP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_marking_refs: Vec<String>,
}

/// Properties of a cyber-observable object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoCommon {
    /// Always `2.1`.
    pub spec_version: String,
    /// `<type>--<uuidv5 of the ID contributing properties>`.
    pub id: String,
}

/// A STIX object, tagged by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StixObject {
    /// `identity`: the honeypot's operator.
    Identity {
        /// Common properties.
        #[serde(flatten)]
        common: Common,
        /// Its name.
        name: String,
        /// `organization`, `individual`, ...
        identity_class: String,
    },
    /// `marking-definition`: a TLP level.
    MarkingDefinition {
        /// `2.1`.
        spec_version: String,
        /// The TLP level's fixed id.
        id: String,
        /// Fixed by the specification.
        created: String,
        /// `tlp`.
        definition_type: String,
        /// `TLP:GREEN`, ...
        name: String,
        /// `{"tlp": "green"}`.
        definition: BTreeMap<String, String>,
    },
    /// `indicator`: a pattern to detect.
    Indicator {
        /// Common properties.
        #[serde(flatten)]
        common: Common,
        /// A short name.
        name: String,
        /// What hpti saw.
        description: String,
        /// `malicious-activity`, `anomalous-activity`, ...
        indicator_types: Vec<String>,
        /// A STIX pattern.
        pattern: String,
        /// `stix`.
        pattern_type: String,
        /// From when it holds.
        valid_from: String,
        /// 0–100.
        confidence: u8,
    },
    /// `observed-data`: what was observed, when, how often.
    ObservedData {
        /// Common properties.
        #[serde(flatten)]
        common: Common,
        /// First observation.
        first_observed: String,
        /// Last observation.
        last_observed: String,
        /// 1–999,999,999.
        number_observed: u64,
        /// The observables.
        object_refs: Vec<String>,
    },
    /// `sighting`: the indicator was seen by the honeypot.
    Sighting {
        /// Common properties.
        #[serde(flatten)]
        common: Common,
        /// First sighting.
        first_seen: String,
        /// Last sighting.
        last_seen: String,
        /// 0–999,999,999.
        count: u64,
        /// The indicator sighted.
        sighting_of_ref: String,
        /// What was observed.
        observed_data_refs: Vec<String>,
        /// Who saw it (the operator's identity).
        where_sighted_refs: Vec<String>,
    },
    /// `malware`: a family YARA or VirusTotal named.
    Malware {
        /// Common properties.
        #[serde(flatten)]
        common: Common,
        /// The family's name.
        name: String,
        /// What kind of malware (`bot`, `unknown`, ...).
        malware_types: Vec<String>,
        /// Always true: a family, not one sample.
        is_family: bool,
        /// Why hpti names it.
        description: String,
    },
    /// `relationship`.
    Relationship {
        /// Common properties.
        #[serde(flatten)]
        common: Common,
        /// `indicates`.
        relationship_type: String,
        /// From.
        source_ref: String,
        /// To.
        target_ref: String,
    },
    /// `ipv4-addr`.
    Ipv4Addr {
        /// Common properties.
        #[serde(flatten)]
        common: ScoCommon,
        /// The address.
        value: String,
    },
    /// `ipv6-addr`.
    Ipv6Addr {
        /// Common properties.
        #[serde(flatten)]
        common: ScoCommon,
        /// The address.
        value: String,
    },
    /// `url`.
    Url {
        /// Common properties.
        #[serde(flatten)]
        common: ScoCommon,
        /// The URL.
        value: String,
    },
    /// `domain-name`.
    DomainName {
        /// Common properties.
        #[serde(flatten)]
        common: ScoCommon,
        /// The name.
        value: String,
    },
    /// `file`.
    File {
        /// Common properties.
        #[serde(flatten)]
        common: ScoCommon,
        /// `MD5`, `SHA-1`, `SHA-256`.
        hashes: BTreeMap<String, String>,
        /// Size in bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        /// Media type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
    },
}

impl StixObject {
    /// The object's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Identity { common, .. }
            | Self::Indicator { common, .. }
            | Self::ObservedData { common, .. }
            | Self::Sighting { common, .. }
            | Self::Malware { common, .. }
            | Self::Relationship { common, .. } => &common.id,
            Self::MarkingDefinition { id, .. } => id,
            Self::Ipv4Addr { common, .. }
            | Self::Ipv6Addr { common, .. }
            | Self::Url { common, .. }
            | Self::DomainName { common, .. }
            | Self::File { common, .. } => &common.id,
        }
    }

    /// The object's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Identity { .. } => "identity",
            Self::MarkingDefinition { .. } => "marking-definition",
            Self::Indicator { .. } => "indicator",
            Self::ObservedData { .. } => "observed-data",
            Self::Sighting { .. } => "sighting",
            Self::Malware { .. } => "malware",
            Self::Relationship { .. } => "relationship",
            Self::Ipv4Addr { .. } => "ipv4-addr",
            Self::Ipv6Addr { .. } => "ipv6-addr",
            Self::Url { .. } => "url",
            Self::DomainName { .. } => "domain-name",
            Self::File { .. } => "file",
        }
    }

    /// This version's time: `modified`, or `created` for a marking definition; `None`
    /// for observables, which have no versions.
    pub fn version(&self) -> Option<&str> {
        match self {
            Self::Identity { common, .. }
            | Self::Indicator { common, .. }
            | Self::ObservedData { common, .. }
            | Self::Sighting { common, .. }
            | Self::Malware { common, .. }
            | Self::Relationship { common, .. } => Some(&common.modified),
            Self::MarkingDefinition { created, .. } => Some(created),
            _ => None,
        }
    }
}

/// A STIX bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// `bundle`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `bundle--<uuid>`.
    pub id: String,
    /// The objects.
    pub objects: Vec<StixObject>,
}
