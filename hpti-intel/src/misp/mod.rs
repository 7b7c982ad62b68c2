//! MISP events from stored events: one per UTC day or per session, with `ip-src`, `url`,
//! `domain`, `ip-dst`, `sha256`, `md5`, `sha1`, `filename`, `hassh-md5` and `text`
//! (commands, SSH client versions) attributes, a `cowrie` object per session (MISP's template, version 3),
//! TLP and `honeypot-basic` tags, and a sighting on what was seen more than once.
//!
//! The events are MISP's own JSON (what `/events/add` takes and `MISPEvent().load()`
//! reads); uuids are UUIDv5 from the content, so a re-export updates the same event and
//! attributes. Categories are checked against MISP's `describeTypes` for each type.
//!
//! ```
//! use hpti_core::event::{AuthMethod, Event, EventKind, Protocol};
//! use hpti_intel::ioc::IocOptions;
//! use hpti_intel::misp::{Grouping, MispBuilder, MispOptions};
//!
//! let options = MispOptions { grouping: Grouping::Session, ..MispOptions::default() };
//! let ioc = IocOptions { include_private: true, ..IocOptions::default() };
//! let mut builder = MispBuilder::new(options, ioc);
//! builder.observe(&Event::new("ssh", Protocol::Ssh, "198.51.100.7".parse().unwrap(),
//!     EventKind::CommandInput { command: "uname -a".into() }).with_session("s1"));
//! let events = builder.finish();
//! let attributes = events[0]["Event"]["Attribute"].as_array().unwrap();
//! assert!(attributes.iter().any(|a| a["type"] == "ip-src" && a["value"] == "198.51.100.7"));
//! assert!(attributes.iter().any(|a| a["type"] == "text" && a["value"] == "uname -a"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use hpti_core::event::{Event, EventKind, Timestamp};
use hpti_store::{EventQueries, StoreError, Window};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ioc::{ClientKind, Extractor, IocOptions, IocReport};
use crate::stix::Tlp;

#[cfg(feature = "misp")]
mod sink;
#[cfg(feature = "misp")]
pub use sink::{MispSink, MispSinkConfig};

/// The namespace of hpti's MISP uuids.
const MISP_NAMESPACE: Uuid = Uuid::from_u128(0x9d3e_41b7_6c2a_5f08_b1e4_7a90_c35d_2e61);

/// The `cowrie` object template of MISP (misp-objects `objects/cowrie`).
const COWRIE_TEMPLATE_UUID: &str = "ae085d32-6534-4d52-b3eb-063fccb753e7";
const COWRIE_TEMPLATE_VERSION: &str = "3";

/// Most MISP events one export makes; more groups are counted, not written.
pub const MAX_EVENTS: usize = 10_000;
/// Most sessions described (as `cowrie` objects) in one MISP event.
pub const MAX_SESSIONS_PER_EVENT: usize = 1_000;
/// Most command lines (`text` attributes) in one MISP event.
pub const MAX_COMMANDS_PER_EVENT: usize = 1_000;

/// How stored events are cut into MISP events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// One MISP event per UTC day.
    #[default]
    Day,
    /// One MISP event per session.
    Session,
}

impl std::str::FromStr for Grouping {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" => Ok(Self::Day),
            "session" => Ok(Self::Session),
            other => Err(format!("unknown grouping `{other}` (day, session)")),
        }
    }
}

/// What the MISP events say about their maker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MispOptions {
    /// The operator's name (in each event's `info`, and each sighting's `source`).
    pub identity: String,
    /// The TLP tag, and the events' distribution (CLEAR: all communities, GREEN: this
    /// community, AMBER and RED: your organisation only).
    pub tlp: Tlp,
    /// One event per day or per session.
    pub grouping: Grouping,
}

impl Default for MispOptions {
    fn default() -> Self {
        Self {
            identity: "hpti honeypot".into(),
            tlp: Tlp::Green,
            grouping: Grouping::Day,
        }
    }
}

/// One session, as the `cowrie` object describes it.
#[derive(Debug, Clone)]
struct SessionFacts {
    session: String,
    src_ip: IpAddr,
    src_port: Option<u16>,
    dst_ip: Option<IpAddr>,
    dst_port: Option<u16>,
    protocol: String,
    sensor: String,
    started: Timestamp,
    username: Option<String>,
    passwords: BTreeSet<String>,
    input: Option<String>,
}

/// The events of one MISP event.
#[derive(Debug)]
struct Group {
    extractor: Extractor,
    sessions: BTreeMap<String, SessionFacts>,
    first: Timestamp,
    last: Timestamp,
}

/// Gathers stored events into MISP events.
#[derive(Debug)]
pub struct MispBuilder {
    options: MispOptions,
    ioc: IocOptions,
    groups: BTreeMap<String, Group>,
    /// Events of groups beyond [`MAX_EVENTS`].
    pub dropped: u64,
}

impl MispBuilder {
    /// A builder cutting events as `options` say, leaving out what `ioc` excludes.
    pub fn new(options: MispOptions, ioc: IocOptions) -> Self {
        Self {
            options,
            ioc,
            groups: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// Takes one stored event into account.
    pub fn observe(&mut self, event: &Event) {
        if !self.ioc.exports(event.src_ip)
            || event
                .enrichment
                .tags
                .iter()
                .any(|t| self.ioc.allow_tags.contains(t))
        {
            return;
        }
        let key = match self.options.grouping {
            Grouping::Day => match event.time.to_datetime() {
                Some(dt) => dt.format("%Y-%m-%d").to_string(),
                None => return,
            },
            Grouping::Session => match &event.session {
                Some(session) => session.clone(),
                None => return,
            },
        };
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        let group = self.groups.entry(key).or_insert_with(|| Group {
            extractor: Extractor::new(self.ioc.clone()),
            sessions: BTreeMap::new(),
            first: event.time,
            last: event.time,
        });
        group.first = group.first.min(event.time);
        group.last = group.last.max(event.time);
        group.extractor.observe(event);
        let Some(session) = &event.session else {
            return;
        };
        if !group.sessions.contains_key(session) && group.sessions.len() >= MAX_SESSIONS_PER_EVENT {
            return;
        }
        let facts = group
            .sessions
            .entry(session.clone())
            .or_insert_with(|| SessionFacts {
                session: session.clone(),
                src_ip: event.src_ip,
                src_port: event.src_port,
                dst_ip: event.dst_ip,
                dst_port: event.dst_port,
                protocol: event.protocol.to_string(),
                sensor: event.sensor.clone(),
                started: event.time,
                username: None,
                passwords: BTreeSet::new(),
                input: None,
            });
        facts.started = facts.started.min(event.time);
        match &event.kind {
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => {
                if *success || facts.username.is_none() {
                    facts.username = Some(username.clone());
                }
                if let Some(password) = password
                    && facts.passwords.len() < 20
                {
                    facts.passwords.insert(password.clone());
                }
            }
            EventKind::CommandInput { command } if facts.input.is_none() => {
                facts.input = Some(command.clone());
            }
            _ => {}
        }
    }

    /// Adds the captured files' facts and digests to every group.
    pub async fn add_file_facts(
        &mut self,
        store: &dyn EventQueries,
        artifacts: Option<&Path>,
    ) -> Result<(), StoreError> {
        for group in self.groups.values_mut() {
            group.extractor.add_file_facts(store, artifacts).await?;
        }
        Ok(())
    }

    /// The MISP events, each `{"Event": {...}}`, in order of their key (day or session).
    pub fn finish(self) -> Vec<Value> {
        let options = self.options;
        self.groups
            .into_iter()
            .map(|(key, group)| {
                let report = group.extractor.finish();
                misp_event(
                    &options,
                    &key,
                    &report,
                    &group.sessions,
                    group.first,
                    group.last,
                )
            })
            .collect()
    }
}

fn epoch(time: Timestamp) -> String {
    (time.as_micros().div_euclid(1_000_000)).to_string()
}

fn iso(time: Timestamp) -> String {
    match time.to_datetime() {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        None => "1970-01-01T00:00:00.000000+00:00".into(),
    }
}

/// A category MISP's `describeTypes` allows for the type (checked here, since pymisp
/// and MISP silently replace a wrong one).
fn category_of(kind: &str) -> &'static str {
    match kind {
        "ip-src" | "ip-dst" | "url" | "domain" | "hassh-md5" | "port" => "Network activity",
        "sha256" | "md5" | "sha1" | "filename" => "Payload delivery",
        _ => "Other",
    }
}

/// Builds one event's attributes.
struct Attributes<'a> {
    event_uuid: &'a Uuid,
    source: &'a str,
    list: Vec<Value>,
    seen: BTreeSet<(String, String)>,
}

impl Attributes<'_> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: &str,
        value: &str,
        to_ids: bool,
        comment: String,
        first: Timestamp,
        last: Timestamp,
        count: u64,
    ) {
        self.add_in(
            kind,
            category_of(kind),
            value,
            to_ids,
            comment,
            (first, last, count),
        );
    }

    /// An attribute in `category` (one `describeTypes` allows for `kind`).
    fn add_in(
        &mut self,
        kind: &str,
        category: &str,
        value: &str,
        to_ids: bool,
        comment: String,
        (first, last, count): (Timestamp, Timestamp, u64),
    ) {
        if value.is_empty() || !self.seen.insert((kind.to_owned(), value.to_owned())) {
            return;
        }
        let uuid = Uuid::new_v5(self.event_uuid, format!("{kind}|{value}").as_bytes());
        let mut attribute = json!({
            "uuid": uuid.to_string(),
            "type": kind,
            "category": category,
            "value": value,
            "to_ids": to_ids,
            "comment": comment,
            "timestamp": epoch(last),
            "first_seen": iso(first),
            "last_seen": iso(last.max(first)),
            "disable_correlation": false,
            "distribution": "5",
        });
        // Seen again: one sighting, at the last time.
        if count > 1 {
            attribute["Sighting"] = json!([{
                "uuid": Uuid::new_v5(&uuid, b"sighting").to_string(),
                "type": "0",
                "source": self.source,
                "date_sighting": epoch(last),
            }]);
        }
        self.list.push(attribute);
    }
}

fn tags(tlp: Tlp) -> Value {
    json!([
        { "name": format!("tlp:{}", tlp.as_str()) },
        { "name": "honeypot-basic:interaction-level=\"low\"" },
        { "name": "honeypot-basic:data-capture=\"attacks\"" },
        { "name": "honeypot-basic:containment=\"block\"" },
        { "name": "honeypot-basic:role=\"server\"" },
        { "name": "honeypot-basic:communication-interface=\"network-interface\"" },
    ])
}

fn distribution(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "3",
        Tlp::Green => "1",
        Tlp::Amber | Tlp::Red => "0",
    }
}

fn cowrie_object(event_uuid: &Uuid, facts: &SessionFacts) -> Value {
    let uuid = Uuid::new_v5(event_uuid, format!("cowrie|{}", facts.session).as_bytes());
    let mut attributes = Vec::new();
    let mut add = |relation: &str, kind: &str, value: String, correlate: bool| {
        if value.is_empty() {
            return;
        }
        attributes.push(json!({
            "uuid": Uuid::new_v5(&uuid, format!("{relation}|{value}").as_bytes()).to_string(),
            "object_relation": relation,
            "type": kind,
            "category": category_of(kind),
            "value": value,
            "to_ids": false,
            "disable_correlation": !correlate,
        }));
    };
    add("session", "text", facts.session.clone(), true);
    add("src_ip", "ip-src", facts.src_ip.to_string(), true);
    if let Some(port) = facts.src_port {
        add("src_port", "port", port.to_string(), false);
    }
    if let Some(ip) = facts.dst_ip {
        add("dst_ip", "ip-dst", ip.to_string(), false);
    }
    if let Some(port) = facts.dst_port {
        add("dst_port", "port", port.to_string(), false);
    }
    add("protocol", "text", facts.protocol.clone(), false);
    add("sensor", "text", facts.sensor.clone(), false);
    add("timestamp", "datetime", iso(facts.started), false);
    if let Some(username) = &facts.username {
        add("username", "text", username.clone(), true);
    }
    for password in &facts.passwords {
        add("password", "text", password.clone(), true);
    }
    if let Some(input) = &facts.input {
        add("input", "text", input.clone(), true);
    }
    json!({
        "uuid": uuid.to_string(),
        "name": "cowrie",
        "meta-category": "network",
        "description": "Cowrie honeypot object template",
        "template_uuid": COWRIE_TEMPLATE_UUID,
        "template_version": COWRIE_TEMPLATE_VERSION,
        "distribution": "5",
        "sharing_group_id": "0",
        "comment": "",
        "Attribute": attributes,
    })
}

fn misp_event(
    options: &MispOptions,
    key: &str,
    report: &IocReport,
    sessions: &BTreeMap<String, SessionFacts>,
    first: Timestamp,
    last: Timestamp,
) -> Value {
    let grouping = match options.grouping {
        Grouping::Day => "day",
        Grouping::Session => "session",
    };
    let event_uuid = Uuid::new_v5(
        &MISP_NAMESPACE,
        format!("event|{}|{grouping}|{key}", options.identity).as_bytes(),
    );
    let mut attributes = Attributes {
        event_uuid: &event_uuid,
        source: &options.identity,
        list: Vec::new(),
        seen: BTreeSet::new(),
    };
    for address in &report.addresses {
        attributes.add(
            "ip-src",
            &address.ip.to_string(),
            address.confidence >= 50,
            format!(
                "{} events, {} logins ({} accepted), {} commands, {} files; confidence {}",
                address.events,
                address.logins,
                address.logins_accepted,
                address.commands,
                address.files,
                address.confidence
            ),
            address.first_seen,
            address.last_seen,
            address.events,
        );
    }
    for url in &report.urls {
        attributes.add(
            "url",
            &url.url,
            true,
            format!("confidence {}", url.confidence),
            url.first_seen,
            url.last_seen,
            url.count,
        );
    }
    for host in &report.hosts {
        let kind = if host.is_ip { "ip-dst" } else { "domain" };
        attributes.add(
            kind,
            &host.host,
            true,
            format!(
                "served attackers' files or took their connections; confidence {}",
                host.confidence
            ),
            host.first_seen,
            host.last_seen,
            host.count,
        );
    }
    for file in &report.files {
        let mut comment = file.file_type.clone().unwrap_or_default();
        if let Some(family) = file.family().filter(|_| file.is_flagged()) {
            comment = format!("{family}; {comment}");
        }
        let span = (file.first_seen, file.last_seen, file.count);
        attributes.add(
            "sha256",
            &file.sha256,
            true,
            comment.clone(),
            span.0,
            span.1,
            span.2,
        );
        if let Some(md5) = &file.md5 {
            attributes.add("md5", md5, true, comment.clone(), span.0, span.1, span.2);
        }
        if let Some(sha1) = &file.sha1 {
            attributes.add("sha1", sha1, true, comment.clone(), span.0, span.1, span.2);
        }
        for name in &file.names {
            attributes.add(
                "filename",
                name,
                false,
                format!("sha256 {}", file.sha256),
                span.0,
                span.1,
                span.2,
            );
        }
    }
    for client in report
        .clients
        .iter()
        .filter(|c| c.kind == ClientKind::Hassh)
    {
        attributes.add(
            "hassh-md5",
            &client.value,
            false,
            format!("SSH client of {} addresses", client.sources.len()),
            client.first_seen,
            client.last_seen,
            client.count,
        );
    }
    // MISP has no type for an SSH client's version string: `text`, said so.
    for client in report
        .clients
        .iter()
        .filter(|c| c.kind == ClientKind::Version)
    {
        attributes.add_in(
            "text",
            "Network activity",
            &client.value,
            false,
            format!("SSH client version, of {} addresses", client.sources.len()),
            (client.first_seen, client.last_seen, client.count),
        );
    }
    for command in report.commands.iter().take(MAX_COMMANDS_PER_EVENT) {
        attributes.add(
            "text",
            &command.command,
            false,
            "command entered".into(),
            command.first_seen,
            command.last_seen,
            command.count,
        );
    }
    let objects: Vec<Value> = sessions
        .values()
        .map(|s| cowrie_object(&event_uuid, s))
        .collect();
    let info = match options.grouping {
        Grouping::Day => format!("{}: honeypot activity on {key}", options.identity),
        Grouping::Session => {
            let from = sessions
                .get(key)
                .map(|s| format!(" from {}", s.src_ip))
                .unwrap_or_default();
            format!("{}: honeypot session {key}{from}", options.identity)
        }
    };
    let date = first
        .to_datetime()
        .map(|dt| dt.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let threat = if report.files.iter().any(|f| f.is_flagged()) {
        "2"
    } else {
        "3"
    };
    json!({
        "Event": {
            "uuid": event_uuid.to_string(),
            "info": info,
            "date": date,
            "threat_level_id": threat,
            "analysis": "2",
            "distribution": distribution(options.tlp),
            "published": false,
            "timestamp": epoch(last),
            "Tag": tags(options.tlp),
            "Attribute": attributes.list,
            "Object": objects,
        }
    })
}

/// The MISP events of the stored events of `window`, as MISP's own export wraps several:
/// `{"response": [{"Event": ...}, ...]}`, and how many events' groups were left out.
pub async fn export_misp(
    store: &dyn EventQueries,
    window: Window,
    options: MispOptions,
    ioc: IocOptions,
    artifacts: Option<&Path>,
) -> Result<(Value, u64), StoreError> {
    let mut builder = MispBuilder::new(options, ioc);
    crate::ioc::each_event(store, window, |event| builder.observe(event)).await?;
    builder.add_file_facts(store, artifacts).await?;
    let dropped = builder.dropped;
    Ok((json!({ "response": builder.finish() }), dropped))
}
