//! An hpti [`Event`] as an Elastic Common Schema (ECS) document.
//!
//! The document is serialized straight from borrowed fields (no intermediate
//! `serde_json::Value`), which is what keeps building `_bulk` bodies fast. Its fields are
//! exactly those mapped in [`template`](super::template); `hpti.event` carries the whole
//! hpti event as written, which is what it is read back from.

use std::net::IpAddr;

use hpti_core::event::{AuthMethod, Event, EventKind, Timestamp};
use serde::Serialize;

/// ECS `event.category` and `event.type` of an hpti kind (ECS's allowed values only),
/// and the outcome where the kind has one.
pub(crate) fn classify(kind: &EventKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        EventKind::SessionStarted => (&["network", "session"], &["connection", "start"]),
        EventKind::SessionClosed { .. } => (&["network", "session"], &["connection", "end"]),
        EventKind::ClientVersion { .. } | EventKind::ClientFingerprint { .. } => {
            (&["network"], &["protocol", "info"])
        }
        EventKind::LoginAttempt { .. } => (&["authentication"], &["start"]),
        EventKind::CommandInput { .. } => (&["process"], &["start"]),
        EventKind::FileDownload { .. } => (&["file", "network"], &["creation", "access"]),
        EventKind::FileUpload { .. } => (&["file"], &["creation"]),
        EventKind::HttpRequest { .. } => (&["web", "network"], &["access", "protocol"]),
        EventKind::PortForward { accepted: true, .. } => (&["network"], &["connection", "allowed"]),
        EventKind::PortForward { .. } => (&["network"], &["connection", "denied"]),
        _ => (&["intrusion_detection"], &["info"]),
    }
}

/// The ECS document of one event, borrowing from it.
#[derive(Serialize)]
pub(crate) struct EcsDocument<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Timestamp,
    event: EcsEvent<'a>,
    source: Endpoint<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<Endpoint<'a>>,
    network: Network<'a>,
    observer: Observer<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Named<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<Original<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Url<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<File<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<Process<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http<'a>>,
    related: Related<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    hpti: Hpti<'a>,
}

#[derive(Serialize)]
struct EcsEvent<'a> {
    kind: &'static str,
    category: &'static [&'static str],
    #[serde(rename = "type")]
    types: &'static [&'static str],
    action: &'static str,
    id: &'a hpti_core::event::EventId,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<Timestamp>,
    /// Nanoseconds, as ECS wants.
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    module: &'static str,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo: Option<Geo<'a>>,
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    asn: Option<As<'a>>,
}

#[derive(Serialize)]
struct Geo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city_name: Option<&'a str>,
}

#[derive(Serialize)]
struct Location {
    lat: f64,
    lon: f64,
}

#[derive(Serialize)]
struct As<'a> {
    number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<Named<'a>>,
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Original<'a> {
    original: &'a str,
}

#[derive(Serialize)]
struct Network<'a> {
    protocol: &'a str,
    transport: &'static str,
}

#[derive(Serialize)]
struct Observer<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Url<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    full: Option<&'a str>,
    original: &'a str,
}

#[derive(Serialize)]
struct File<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<Hash<'a>>,
}

#[derive(Serialize)]
struct Hash<'a> {
    sha256: &'a str,
}

#[derive(Serialize)]
struct Process<'a> {
    command_line: &'a str,
}

#[derive(Serialize)]
struct Http<'a> {
    request: HttpRequest<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<HttpResponse>,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    method: &'a str,
}

#[derive(Serialize)]
struct HttpResponse {
    status_code: u16,
}

#[derive(Serialize)]
struct Related<'a> {
    ip: Ips,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<[&'a str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<[&'a str; 1]>,
}

/// The source address, and the destination when known.
struct Ips(IpAddr, Option<IpAddr>);

impl Serialize for Ips {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = serializer.serialize_seq(Some(1 + usize::from(self.1.is_some())))?;
        seq.serialize_element(&self.0)?;
        if let Some(ip) = &self.1 {
            seq.serialize_element(ip)?;
        }
        seq.end()
    }
}

/// What ECS has no field for.
#[derive(Serialize)]
struct Hpti<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_fingerprint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<Fingerprint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<Forward<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recording: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reputation_score: Option<u8>,
    /// The whole hpti event, as written (mapped `enabled: false`: kept, not indexed).
    event: &'a Event,
}

#[derive(Serialize)]
struct Fingerprint<'a> {
    method: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Forward<'a> {
    host: &'a str,
    port: u16,
}

impl<'a> EcsDocument<'a> {
    /// The document of `event`.
    pub(crate) fn new(event: &'a Event) -> Self {
        let (category, types) = classify(&event.kind);
        let enrichment = &event.enrichment;
        let geo = enrichment.geo.as_ref().map(|g| Geo {
            location: match (g.latitude, g.longitude) {
                (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => {
                    Some(Location { lat, lon })
                }
                _ => None,
            },
            country_iso_code: g.country_code.as_deref(),
            country_name: g.country.as_deref(),
            city_name: g.city.as_deref(),
        });
        let asn = enrichment.asn.as_ref().map(|a| As {
            number: a.number,
            organization: a.organization.as_deref().map(|name| Named { name }),
        });
        let mut doc = Self {
            timestamp: event.time,
            event: EcsEvent {
                kind: "event",
                category,
                types,
                action: event.kind.name(),
                id: &event.id,
                outcome: None,
                created: event.observed,
                duration: None,
                module: "hpti",
            },
            source: Endpoint {
                ip: Some(event.src_ip),
                port: event.src_port,
                geo,
                asn,
            },
            destination: (event.dst_ip.is_some() || event.dst_port.is_some()).then_some(Endpoint {
                ip: event.dst_ip,
                port: event.dst_port,
                geo: None,
                asn: None,
            }),
            network: Network {
                protocol: event.protocol.as_str(),
                transport: "tcp",
            },
            observer: Observer {
                name: &event.sensor,
                kind: "honeypot",
            },
            user: None,
            user_agent: None,
            url: None,
            file: None,
            process: None,
            http: None,
            related: Related {
                ip: Ips(event.src_ip, event.dst_ip),
                user: None,
                hash: None,
            },
            tags: &enrichment.tags,
            hpti: Hpti {
                session: event.session.as_deref(),
                password: None,
                auth_method: None,
                key_type: None,
                key_fingerprint: None,
                fingerprint: None,
                download_error: None,
                forward: None,
                original_type: None,
                recording: None,
                reputation_score: enrichment.reputation.iter().filter_map(|r| r.score).max(),
                event,
            },
        };
        match &event.kind {
            EventKind::SessionStarted => {}
            EventKind::SessionClosed {
                duration_ms,
                recording,
            } => {
                doc.event.duration = Some(duration_ms.saturating_mul(1_000_000));
                doc.hpti.recording = recording.as_deref();
            }
            EventKind::ClientVersion { version } => {
                doc.user_agent = Some(Original { original: version });
            }
            EventKind::ClientFingerprint {
                method,
                fingerprint,
                ..
            } => {
                doc.hpti.fingerprint = Some(Fingerprint {
                    method,
                    value: fingerprint,
                });
                doc.related.hash = Some([fingerprint]);
            }
            EventKind::LoginAttempt {
                username,
                password,
                key_type,
                key_fingerprint,
                method,
                success,
            } => {
                doc.user = Some(Named { name: username });
                doc.related.user = Some([username]);
                doc.event.outcome = Some(if *success { "success" } else { "failure" });
                doc.hpti.password = password.as_deref();
                doc.hpti.auth_method = Some(auth_method(*method));
                doc.hpti.key_type = key_type.as_deref();
                doc.hpti.key_fingerprint = key_fingerprint.as_deref();
            }
            EventKind::CommandInput { command } => {
                doc.process = Some(Process {
                    command_line: command,
                });
            }
            EventKind::FileDownload {
                url,
                sha256,
                size,
                error,
            } => {
                doc.url = Some(Url {
                    full: Some(url),
                    original: url,
                });
                doc.file = Some(File {
                    name: None,
                    size: *size,
                    hash: sha256.as_deref().map(|sha256| Hash { sha256 }),
                });
                doc.related.hash = sha256.as_deref().map(|h| [h]);
                doc.event.outcome = Some(if error.is_some() {
                    "failure"
                } else {
                    "success"
                });
                doc.hpti.download_error = error.as_deref();
            }
            EventKind::FileUpload {
                filename,
                sha256,
                size,
            } => {
                doc.file = Some(File {
                    name: Some(filename),
                    size: *size,
                    hash: sha256.as_deref().map(|sha256| Hash { sha256 }),
                });
                doc.related.hash = sha256.as_deref().map(|h| [h]);
            }
            EventKind::HttpRequest {
                method,
                uri,
                user_agent,
                status,
                ..
            } => {
                doc.http = Some(Http {
                    request: HttpRequest { method },
                    response: status.map(|status_code| HttpResponse { status_code }),
                });
                doc.url = Some(Url {
                    full: None,
                    original: uri,
                });
                doc.user_agent = user_agent.as_deref().map(|original| Original { original });
            }
            EventKind::PortForward {
                host,
                port,
                accepted,
            } => {
                doc.hpti.forward = Some(Forward { host, port: *port });
                doc.event.outcome = Some(if *accepted { "success" } else { "failure" });
            }
            EventKind::Unknown { original_type, .. } => {
                doc.hpti.original_type = Some(original_type);
            }
            _ => {}
        }
        doc
    }
}

fn auth_method(method: AuthMethod) -> &'static str {
    method.as_str()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use hpti_core::testing::{enriched_event, sample_events};

    #[test]
    fn every_sample_kind_maps_to_ecs_fields_and_carries_the_event() {
        let base = Timestamp::parse_rfc3339("2026-01-03T10:00:00Z").unwrap();
        let mut events = sample_events(base);
        events.push(enriched_event(base));
        for event in &events {
            let doc = serde_json::to_value(EcsDocument::new(event)).unwrap();
            assert_eq!(doc["event"]["kind"], "event");
            assert_eq!(doc["event"]["action"], event.kind.name());
            assert_eq!(doc["observer"]["type"], "honeypot");
            let back: Event = serde_json::from_value(doc["hpti"]["event"].clone()).unwrap();
            assert_eq!(&back, event);
            match &event.kind {
                EventKind::LoginAttempt { username, .. } => {
                    assert_eq!(doc["user"]["name"], username.as_str());
                    assert_eq!(doc["related"]["user"][0], username.as_str());
                }
                EventKind::CommandInput { command } => {
                    assert_eq!(doc["process"]["command_line"], command.as_str());
                }
                EventKind::FileDownload { url, sha256, .. } => {
                    assert_eq!(doc["url"]["full"], url.as_str());
                    assert_eq!(doc["file"]["hash"]["sha256"], sha256.as_deref().unwrap());
                }
                _ => {}
            }
        }
        let enriched = serde_json::to_value(EcsDocument::new(&enriched_event(base))).unwrap();
        assert_eq!(enriched["source"]["geo"]["country_iso_code"], "NL");
        assert_eq!(enriched["source"]["geo"]["location"]["lat"], 52.374);
        assert_eq!(enriched["source"]["as"]["number"], 64500);
        assert_eq!(enriched["hpti"]["password"], "1234");
        assert_eq!(enriched["hpti"]["reputation_score"], 100);
    }
}
