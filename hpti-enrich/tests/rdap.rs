//! The RDAP lookup against a mock of IANA's bootstrap files and of registries' RDAP
//! servers, with answers shaped as ARIN and RIPE send them (RFC 9083 `ip network`
//! objects, jCard entities, the `cidr0` extension) and the documented error answers.

#![cfg(feature = "rdap")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::IpAddr;
use std::time::Duration;

use hpti_core::enricher::Enricher;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_enrich::cached::{CachedConfig, CachedEnricher};
use hpti_enrich::lookup::{Lookup, LookupErrorKind};
use hpti_enrich::rdap::{Rdap, RdapConfig};
use serde_json::json;
use wiremock::matchers::{header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// IANA's `ipv4.json` layout, with the registries living on the mock server.
fn bootstrap_v4(server: &MockServer) -> serde_json::Value {
    json!({
        "description": "RDAP bootstrap file for IPv4 address allocations",
        "publication": "2026-11-01T00:00:00Z",
        "services": [
            [["8.0.0.0/8", "23.0.0.0/8"], [format!("{}/arin/", server.uri())]],
            [["118.0.0.0/8"], [format!("{}/apnic/", server.uri())]],
            [["185.0.0.0/8"], [format!("{}/ripe/", server.uri())]]
        ],
        "version": "1.0"
    })
}

fn bootstrap_v6(server: &MockServer) -> serde_json::Value {
    json!({
        "description": "RDAP bootstrap file for IPv6 address allocations",
        "publication": "2026-11-01T00:00:00Z",
        "services": [
            [["2001:4800::/23", "2600::/12"], [format!("{}/arin/", server.uri())]],
            [["2a00::/12"], [format!("{}/ripe/", server.uri())]]
        ],
        "version": "1.0"
    })
}

/// ARIN's answer for 8.8.8.8, abridged: the abuse contact is nested in the registrant.
fn arin_google() -> serde_json::Value {
    json!({
        "rdapConformance": ["nro_rdap_profile_0", "rdap_level_0", "cidr0", "arin_originas0"],
        "notices": [{"title": "Terms of Service", "description": ["By using the ARIN RDAP/Whois service, you are agreeing to the RDAP/Whois Terms of Use"]}],
        "handle": "NET-8-8-8-0-2",
        "startAddress": "8.8.8.0",
        "endAddress": "8.8.8.255",
        "ipVersion": "v4",
        "name": "GOGL",
        "type": "DIRECT ALLOCATION",
        "parentHandle": "NET-8-0-0-0-0",
        "objectClassName": "ip network",
        "cidr0_cidrs": [{"v4prefix": "8.8.8.0", "length": 24}],
        "entities": [{
            "handle": "GOGL",
            "vcardArray": ["vcard", [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", "Google LLC"],
                ["adr", {"label": "1600 Amphitheatre Parkway\nMountain View\nCA\n94043\nUnited States"}, "text", ["", "", "", "", "", "", ""]],
                ["kind", {}, "text", "org"]
            ]],
            "roles": ["registrant"],
            "objectClassName": "entity",
            "entities": [{
                "handle": "ABUSE5250-ARIN",
                "vcardArray": ["vcard", [
                    ["version", {}, "text", "4.0"],
                    ["fn", {}, "text", "Abuse"],
                    ["kind", {}, "text", "group"],
                    ["email", {}, "text", "network-abuse@google.com"],
                    ["tel", {"type": ["work", "voice"]}, "text", "+1-650-253-0000"]
                ]],
                "roles": ["abuse"],
                "objectClassName": "entity"
            }]
        }]
    })
}

/// RIPE's answer layout: the abuse contact at the top, no cidr0, a range.
fn ripe_network() -> serde_json::Value {
    json!({
        "handle": "185.220.100.0 - 185.220.101.255",
        "name": "TOR-EXIT",
        "country": "DE",
        "startAddress": "185.220.100.0",
        "endAddress": "185.220.101.255",
        "ipVersion": "v4",
        "objectClassName": "ip network",
        "entities": [
            {"handle": "ORG-ZA1-RIPE", "roles": ["registrant"], "objectClassName": "entity",
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Zwiebelfreunde e.V."], ["kind", {}, "text", "org"]]]},
            {"handle": "AR-RIPE", "roles": ["abuse"], "objectClassName": "entity",
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Abuse contact"], ["email", {}, "text", "abuse@example.org"]]]}
        ]
    })
}

fn rdap_json(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(serde_json::to_vec(&body).unwrap(), "application/rdap+json")
}

async fn server_with_bootstrap() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bootstrap/ipv4.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(bootstrap_v4(&server)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bootstrap/ipv6.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(bootstrap_v6(&server)))
        .mount(&server)
        .await;
    server
}

fn rdap(server: &MockServer) -> Rdap {
    Rdap::new(RdapConfig {
        bootstrap_url: format!("{}/bootstrap/", server.uri()),
        timeout: Duration::from_secs(2),
        ..RdapConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn bootstrap_picks_the_registry_and_one_answer_covers_the_network() {
    let server = server_with_bootstrap().await;
    Mock::given(method("GET"))
        .and(path("/arin/ip/8.8.8.8"))
        .and(header_regex("accept", r"^application/rdap\+json"))
        .respond_with(rdap_json(arin_google()))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = rdap(&server);
    let network = lookup.fetch(&ip("8.8.8.8")).await.unwrap().unwrap();
    assert_eq!(network.handle.as_deref(), Some("NET-8-8-8-0-2"));
    assert_eq!(network.name.as_deref(), Some("GOGL"));
    assert_eq!(network.cidr, ["8.8.8.0/24"]);
    assert_eq!(network.organization.as_deref(), Some("Google LLC"));
    assert_eq!(
        network.abuse_email.as_deref(),
        Some("network-abuse@google.com")
    );
    assert_eq!(network.start, Some(ip("8.8.8.0")));
    // Another address of the same network: answered from the range, no query (expect(1)).
    let again = lookup.fetch(&ip("8.8.8.200")).await.unwrap().unwrap();
    assert_eq!(again, network);
    // A third address elsewhere in ARIN's space: a query, but no second bootstrap fetch.
    Mock::given(method("GET"))
        .and(path("/arin/ip/23.5.6.7"))
        .respond_with(rdap_error(404, "Not Found"))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(lookup.fetch(&ip("23.5.6.7")).await.unwrap(), None);
    let bootstraps = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/bootstrap/ipv4.json")
        .count();
    assert_eq!(bootstraps, 1);
    server.verify().await;
}

#[tokio::test]
async fn ripe_layout_and_range_to_prefixes() {
    let server = server_with_bootstrap().await;
    Mock::given(method("GET"))
        .and(path("/ripe/ip/185.220.101.4"))
        .respond_with(rdap_json(ripe_network()))
        .expect(1)
        .mount(&server)
        .await;
    let network = rdap(&server)
        .fetch(&ip("185.220.101.4"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(network.cidr, ["185.220.100.0/23"]);
    assert_eq!(network.organization.as_deref(), Some("Zwiebelfreunde e.V."));
    assert_eq!(network.abuse_email.as_deref(), Some("abuse@example.org"));
    assert_eq!(network.country.as_deref(), Some("DE"));
}

#[tokio::test]
async fn ipv6_uses_the_ipv6_bootstrap() {
    let server = server_with_bootstrap().await;
    let mut body = ripe_network();
    body["startAddress"] = json!("2a00:1450::");
    body["endAddress"] = json!("2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff");
    Mock::given(method("GET"))
        .and(path("/ripe/ip/2a00:1450:4001::1"))
        .respond_with(rdap_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let network = rdap(&server)
        .fetch(&ip("2a00:1450:4001::1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(network.cidr, ["2a00:1450::/32"]);
}

#[tokio::test]
async fn a_registry_redirect_is_followed() {
    let server = server_with_bootstrap().await;
    // ARIN answers for a block transferred to RIPE with a redirect (RFC 7480 §5.2).
    Mock::given(method("GET"))
        .and(path("/arin/ip/23.1.2.3"))
        .respond_with(
            ResponseTemplate::new(301)
                .insert_header("location", format!("{}/ripe/ip/23.1.2.3", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut body = ripe_network();
    body["startAddress"] = json!("23.1.2.0");
    body["endAddress"] = json!("23.1.2.255");
    Mock::given(method("GET"))
        .and(path("/ripe/ip/23.1.2.3"))
        .respond_with(rdap_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let network = rdap(&server).fetch(&ip("23.1.2.3")).await.unwrap().unwrap();
    assert_eq!(network.cidr, ["23.1.2.0/24"]);
}

#[tokio::test]
async fn a_fixed_server_skips_the_bootstrap() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rdap/ip/8.8.8.8"))
        .respond_with(rdap_json(arin_google()))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = Rdap::new(RdapConfig {
        bootstrap_url: "http://127.0.0.1:9/never/".into(),
        server: Some(format!("{}/rdap/", server.uri())),
        ..RdapConfig::default()
    })
    .unwrap();
    assert!(lookup.fetch(&ip("8.8.8.8")).await.unwrap().is_some());
}

/// Mounts `response` for 118.25.6.39 at APNIC and returns the outcome.
async fn outcome(
    response: ResponseTemplate,
) -> Result<Option<hpti_enrich::rdap::RdapNetwork>, hpti_enrich::lookup::LookupError> {
    let server = server_with_bootstrap().await;
    Mock::given(method("GET"))
        .and(path("/apnic/ip/118.25.6.39"))
        .respond_with(response)
        .mount(&server)
        .await;
    rdap(&server).fetch(&ip("118.25.6.39")).await
}

fn rdap_error(code: u16, title: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_raw(
        serde_json::to_vec(&json!({"errorCode": code, "title": title, "description": ["detail"]}))
            .unwrap(),
        "application/rdap+json",
    )
}

#[tokio::test]
async fn documented_errors_are_classified() {
    assert_eq!(outcome(rdap_error(404, "Not Found")).await.unwrap(), None);
    let error = outcome(rdap_error(400, "Bad Request")).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Rejected, "{error}");
    assert!(error.message.contains("Bad Request: detail"), "{error}");
    let error = outcome(rdap_error(429, "Too Many Requests").insert_header("retry-after", "7"))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind,
        LookupErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    let error = outcome(rdap_error(403, "Forbidden")).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Unauthorized);
    let error = outcome(ResponseTemplate::new(503)).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    let error = outcome(ResponseTemplate::new(200).set_body_string("{not json"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    assert!(error.message.contains("malformed"), "{error}");
    // An entity answer where a network was asked for is malformed too.
    let error = outcome(rdap_json(
        json!({"objectClassName": "entity", "handle": "X"}),
    ))
    .await
    .unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    let error = outcome(rdap_json(arin_google()).set_delay(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    assert!(error.message.contains("timed out"), "{error}");
}

#[tokio::test]
async fn an_address_outside_every_bootstrap_prefix_is_temporary() {
    let server = server_with_bootstrap().await;
    let error = rdap(&server).fetch(&ip("41.1.2.3")).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    assert!(error.message.contains("no registry"), "{error}");
}

#[tokio::test]
async fn a_failed_bootstrap_is_temporary_and_retried_later() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bootstrap/ipv4.json"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bootstrap/ipv4.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(bootstrap_v4(&server)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/arin/ip/8.8.8.8"))
        .respond_with(rdap_json(arin_google()))
        .mount(&server)
        .await;
    let lookup = rdap(&server);
    let error = lookup.fetch(&ip("8.8.8.8")).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Temporary);
    assert!(lookup.fetch(&ip("8.8.8.8")).await.unwrap().is_some());
}

#[tokio::test]
async fn private_addresses_are_not_asked_about() {
    let server = MockServer::start().await;
    let lookup = rdap(&server);
    let event = Event::new(
        "t",
        Protocol::Ssh,
        ip("10.0.0.1"),
        EventKind::SessionStarted,
    );
    assert_eq!(lookup.key(&event), None);
    let error = lookup.fetch(&ip("192.168.1.1")).await.unwrap_err();
    assert_eq!(error.kind, LookupErrorKind::Rejected);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn enrichment_carries_the_network() {
    let server = server_with_bootstrap().await;
    Mock::given(method("GET"))
        .and(path("/arin/ip/8.8.8.8"))
        .respond_with(rdap_json(arin_google()))
        .expect(1)
        .mount(&server)
        .await;
    let enricher = CachedEnricher::new(rdap(&server), CachedConfig::default());
    let mut event = Event::new("t", Protocol::Ssh, ip("8.8.8.8"), EventKind::SessionStarted);
    enricher.enrich(&mut event).await.unwrap();
    let network = event.enrichment.network.expect("network set");
    assert_eq!(network.source, "rdap");
    assert_eq!(network.organization.as_deref(), Some("Google LLC"));
    assert_eq!(
        network.abuse_email.as_deref(),
        Some("network-abuse@google.com")
    );
    assert!(event.enrichment.failed.is_empty());
}
