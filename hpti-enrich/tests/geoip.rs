//! The GeoIP enricher against MaxMind's public test databases (testdata/geoip, whose
//! README lists the known answers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::path::PathBuf;
use std::time::Duration;

use hpti_core::enricher::Enricher;
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_enrich::geoip::{GeoIpConfig, GeoIpEnricher};

fn db(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/geoip")
        .join(name)
}

fn event(ip: &str) -> Event {
    Event::new(
        "t",
        Protocol::Ssh,
        ip.parse().unwrap(),
        EventKind::SessionStarted,
    )
}

fn all() -> GeoIpConfig {
    GeoIpConfig {
        city: Some(db("GeoIP2-City-Test.mmdb")),
        asn: Some(db("GeoLite2-ASN-Test.mmdb")),
        anonymous: Some(db("GeoIP2-Anonymous-IP-Test.mmdb")),
        reload_check: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn fills_country_city_coordinates_and_asn() {
    let enricher = GeoIpEnricher::open(&all()).unwrap();
    let mut london = event("81.2.69.160");
    enricher.enrich(&mut london).await.unwrap();
    let geo = london.enrichment.geo.unwrap();
    assert_eq!(geo.country_code.as_deref(), Some("GB"));
    assert_eq!(geo.country.as_deref(), Some("United Kingdom"));
    assert_eq!(geo.city.as_deref(), Some("London"));
    assert!(geo.latitude.is_some() && geo.longitude.is_some());

    let mut google = event("1.0.0.1");
    enricher.enrich(&mut google).await.unwrap();
    let asn = google.enrichment.asn.unwrap();
    assert_eq!(asn.number, 15169);
    assert_eq!(asn.organization.as_deref(), Some("Google Inc."));

    let mut japan = event("2001:218::1");
    enricher.enrich(&mut japan).await.unwrap();
    assert_eq!(
        japan.enrichment.geo.unwrap().country_code.as_deref(),
        Some("JP")
    );
}

#[tokio::test]
async fn anonymity_flags_become_tags() {
    let enricher = GeoIpEnricher::open(&all()).unwrap();
    // From GeoIP2-Anonymous-IP-Test.source.json: 1.2.0.0/16 is an anonymous VPN.
    let mut vpn = event("1.2.0.1");
    enricher.enrich(&mut vpn).await.unwrap();
    assert!(
        vpn.enrichment.tags.contains(&"vpn".to_owned()),
        "{:?}",
        vpn.enrichment
    );
    // 1.124.213.1 (1.124.213.0/24) is a Tor exit node.
    let mut tor = event("1.124.213.1");
    enricher.enrich(&mut tor).await.unwrap();
    assert!(
        tor.enrichment.tags.contains(&"tor".to_owned()),
        "{:?}",
        tor.enrichment
    );
}

#[tokio::test]
async fn unknown_and_private_addresses_are_left_alone() {
    let enricher = GeoIpEnricher::open(&all()).unwrap();
    for ip in ["10.1.2.3", "127.0.0.1", "203.0.113.9"] {
        let mut e = event(ip);
        enricher.enrich(&mut e).await.unwrap();
        assert!(e.enrichment.is_empty(), "{ip}: {:?}", e.enrichment);
    }
}

#[test]
fn corrupt_or_missing_databases_are_errors_at_start() {
    for name in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        "does-not-exist.mmdb",
    ] {
        let config = GeoIpConfig {
            city: Some(db(name)),
            ..GeoIpConfig::default()
        };
        let err = GeoIpEnricher::open(&config)
            .err()
            .unwrap_or_else(|| panic!("{name} opened"));
        assert!(
            err.to_string().contains(name),
            "the error names the file: {err}"
        );
    }
}

#[tokio::test]
async fn a_replaced_database_is_reloaded_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("GeoLite2-Country.mmdb");
    // Start with the ASN database under the country name: it has no country data.
    std::fs::copy(db("GeoLite2-ASN-Test.mmdb"), &live).unwrap();
    let enricher = GeoIpEnricher::open(&GeoIpConfig {
        city: Some(live.clone()),
        reload_check: Duration::ZERO,
        ..GeoIpConfig::default()
    })
    .unwrap();
    let mut before = event("81.2.69.160");
    enricher.enrich(&mut before).await.unwrap();
    assert!(before.enrichment.geo.is_none());
    // geoipupdate writes a new file and renames it into place.
    std::thread::sleep(Duration::from_millis(20));
    let fresh = dir.path().join("new.mmdb");
    std::fs::copy(db("GeoIP2-City-Test.mmdb"), &fresh).unwrap();
    std::fs::rename(&fresh, &live).unwrap();
    let mut after = event("81.2.69.160");
    enricher.enrich(&mut after).await.unwrap();
    assert_eq!(
        after.enrichment.geo.unwrap().city.as_deref(),
        Some("London")
    );
}

/// A reload reads and probes a whole file: on a runtime thread, a large one would stall
/// every task of that thread. On a current-thread runtime a timer task must keep ticking
/// while the enricher reloads a replaced (here: large and unreadable) database.
#[test]
fn a_reload_does_not_stall_the_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("GeoLite2-City.mmdb");
        std::fs::copy(db("GeoIP2-City-Test.mmdb"), &live).unwrap();
        let enricher = GeoIpEnricher::open(&GeoIpConfig {
            city: Some(live.clone()),
            reload_check: Duration::ZERO,
            ..GeoIpConfig::default()
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // 256 MiB that are no database: read whole, then refused (the old one is kept).
        let big = dir.path().join("big.mmdb");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&big).unwrap();
            let block = vec![0x5au8; 1024 * 1024];
            for _ in 0..256 {
                file.write_all(&block).unwrap();
            }
        }
        std::fs::rename(&big, &live).unwrap();

        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticking = done.clone();
        let ticker = tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            let mut last = std::time::Instant::now();
            let mut interval = tokio::time::interval(Duration::from_millis(2));
            while !ticking.load(std::sync::atomic::Ordering::Relaxed) {
                interval.tick().await;
                longest = longest.max(last.elapsed());
                last = std::time::Instant::now();
            }
            longest
        });
        tokio::task::yield_now().await;
        let started = std::time::Instant::now();
        let mut london = event("81.2.69.160");
        enricher.enrich(&mut london).await.unwrap();
        let reload = started.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let longest_gap = ticker.await.unwrap();
        assert!(
            longest_gap < reload / 2,
            "the timer stalled for {longest_gap:?} of a {reload:?} reload"
        );
        assert_eq!(
            london.enrichment.geo.unwrap().city.as_deref(),
            Some("London"),
            "the old database is kept"
        );
        assert!(
            reload >= Duration::from_millis(20),
            "the reload must take long enough to be measured ({reload:?})"
        );
    });
}
