//! IP lists from files and URLs, refreshed without losing entries when a feed is down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::time::Duration;

use hpti_core::enricher::Enricher;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_enrich::iplist::{IpListEnricher, ListConfig, ListSource};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn tags(enricher: &IpListEnricher, ip: &str) -> Vec<String> {
    let mut event = Event::new(
        "t",
        Protocol::Ssh,
        ip.parse().unwrap(),
        EventKind::SessionStarted,
    );
    enricher.enrich(&mut event).await.unwrap();
    event.enrichment.tags
}

#[tokio::test]
async fn a_tor_list_from_a_url_and_a_scanner_list_from_a_file_tag_events() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/torbulkexitlist"))
        .respond_with(ResponseTemplate::new(200).set_body_string("185.220.101.1\n185.220.101.2\n"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let scanners = dir.path().join("scanners.txt");
    std::fs::write(&scanners, "# research scanners\n198.51.100.0/24\n").unwrap();
    let enricher = IpListEnricher::load(vec![
        ListConfig {
            tag: "tor".into(),
            source: ListSource::Url(format!("{}/torbulkexitlist", server.uri())),
            refresh: Duration::from_secs(3600),
        },
        ListConfig {
            tag: "known-scanner".into(),
            source: ListSource::File(scanners.clone()),
            refresh: Duration::from_secs(3600),
        },
    ])
    .await
    .unwrap();
    assert_eq!(
        tags(&enricher, "185.220.101.2").await,
        vec!["tor".to_owned()]
    );
    assert_eq!(
        tags(&enricher, "198.51.100.77").await,
        vec!["known-scanner".to_owned()]
    );
    assert!(tags(&enricher, "192.0.2.1").await.is_empty());

    // The file changes: a refresh picks it up.
    std::fs::write(&scanners, "192.0.2.0/24\n").unwrap();
    enricher.refresh().await;
    assert_eq!(
        tags(&enricher, "192.0.2.1").await,
        vec!["known-scanner".to_owned()]
    );

    // The feed goes down: the previous entries stay.
    drop(server);
    enricher.refresh().await;
    assert_eq!(
        tags(&enricher, "185.220.101.1").await,
        vec!["tor".to_owned()]
    );
}

#[tokio::test]
async fn a_list_that_cannot_be_read_at_start_is_an_error_naming_it() {
    let err = IpListEnricher::load(vec![ListConfig {
        tag: "tor".into(),
        source: ListSource::File("/nonexistent/list.txt".into()),
        refresh: Duration::from_secs(60),
    }])
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("`tor`"), "{err}");
}
