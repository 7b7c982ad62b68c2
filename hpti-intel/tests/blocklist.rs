//! The blocklist never holds an allow-listed, private or documentation address, and holds
//! every other address with enough events (property test over random traffic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hpti_core::event::{Event, EventKind, Protocol};
use hpti_intel::blocklist::{Blocklist, Format};
use hpti_intel::ioc::{Extractor, IocOptions, is_global};
use ipnet::IpNet;
use proptest::prelude::*;

/// Addresses drawn mostly from the ranges a blocklist must never hold.
fn address() -> impl Strategy<Value = IpAddr> {
    let special_v4 = prop::sample::select(vec![
        [10, 0, 0, 0],
        [172, 16, 0, 0],
        [192, 168, 0, 0],
        [127, 0, 0, 0],
        [169, 254, 0, 0],
        [100, 64, 0, 0],
        [192, 0, 2, 0],
        [198, 51, 100, 0],
        [203, 0, 113, 0],
        [198, 18, 0, 0],
        [224, 0, 0, 0],
        [240, 0, 0, 0],
        [0, 0, 0, 0],
        [255, 255, 255, 255],
    ]);
    prop_oneof![
        // Anywhere.
        any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        // Near a special range's start.
        (special_v4, any::<u8>()).prop_map(|(base, last)| {
            IpAddr::V4(Ipv4Addr::new(
                base[0],
                base[1],
                base[2],
                base[3].wrapping_add(last),
            ))
        }),
        // A few public /24s, so allow-lists hit.
        (
            prop::sample::select(vec![[8u8, 8, 8], [45, 33, 32], [185, 220, 101]]),
            any::<u8>()
        )
            .prop_map(|(n, last)| IpAddr::V4(Ipv4Addr::new(n[0], n[1], n[2], last))),
        any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n))),
        prop::sample::select(vec![
            "::1",
            "fe80::1",
            "fd00::5",
            "2001:db8::7",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ])
        .prop_map(|s| s.parse::<IpAddr>().unwrap()),
    ]
}

fn network() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 8u8..=32).prop_map(|(n, len)| IpNet::new(
            IpAddr::V4(Ipv4Addr::from(n)),
            len
        )
        .unwrap()
        .trunc()),
        (
            prop::sample::select(vec![[8u8, 8, 8], [45, 33, 32], [185, 220, 101]]),
            16u8..=32
        )
            .prop_map(|(n, len)| IpNet::new(
                IpAddr::V4(Ipv4Addr::new(n[0], n[1], n[2], 0)),
                len
            )
            .unwrap()
            .trunc()),
        (any::<u128>(), 16u8..=128).prop_map(|(n, len)| IpNet::new(
            IpAddr::V6(Ipv6Addr::from(n)),
            len
        )
        .unwrap()
        .trunc()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_allow_listed_or_private_and_nothing_else_missing(
        traffic in prop::collection::vec((address(), 1u64..4), 0..60),
        allow in prop::collection::vec(network(), 0..4),
        include_private in any::<bool>(),
        min_events in 1u64..4,
    ) {
        let options = IocOptions { allow: allow.clone(), allow_tags: vec![], include_private };
        let mut extractor = Extractor::new(options);
        let mut events: BTreeMap<IpAddr, u64> = BTreeMap::new();
        for (ip, n) in &traffic {
            for _ in 0..*n {
                extractor.observe(&Event::new("ssh", Protocol::Ssh, *ip, EventKind::SessionStarted));
            }
            // A dual-stack listener's `::ffff:a.b.c.d` is the IPv4 address a.b.c.d.
            *events.entry(ip.to_canonical()).or_default() += n;
        }
        // The blocklist is given only the config's allow-list, as `hpti export` does; the
        // extraction may have included private addresses.
        let list = Blocklist::from_report(&extractor.finish(), min_events, &allow);
        let listed: Vec<IpAddr> = list.addresses().collect();
        for ip in &listed {
            prop_assert!(is_global(*ip), "{ip} is not routable");
            prop_assert!(!allow.iter().any(|n| n.contains(ip)), "{ip} is allow-listed");
        }
        let expected: Vec<IpAddr> = events
            .iter()
            .filter(|(ip, n)| **n >= min_events && is_global(**ip) && !allow.iter().any(|net| net.contains(*ip)))
            .map(|(ip, _)| *ip)
            .collect();
        prop_assert_eq!(&listed, &expected);
        // Every format lists exactly these.
        let plain = list.render(Format::Plain);
        prop_assert_eq!(plain.lines().count(), expected.len());
        for ip in &expected {
            let text = ip.to_string();
            prop_assert!(list.render(Format::Nftables).contains(&text));
            let in_ipset = format!("-new {text} -exist");
            let in_csv = format!("{text},");
            prop_assert!(list.render(Format::Ipset).contains(&in_ipset));
            prop_assert!(list.render(Format::Csv).contains(&in_csv));
        }
    }
}

#[test]
fn the_special_ranges_are_not_global() {
    for text in [
        "10.1.2.3",
        "172.31.255.255",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "198.18.0.1",
        "0.1.2.3",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.0.8",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "2001:db8::1",
        "::ffff:192.168.0.1",
        "64:ff9b::1",
        "100::1",
        "2002::1",
        "2001::1",
        "ff02::1",
    ] {
        assert!(!is_global(text.parse().unwrap()), "{text}");
    }
    for text in [
        "8.8.8.8",
        "45.33.32.156",
        "1.1.1.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(is_global(text.parse().unwrap()), "{text}");
    }
}

#[test]
fn the_nftables_and_ipset_scripts_are_accepted_by_their_tools() {
    let mut extractor = Extractor::new(IocOptions::default());
    for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
        extractor.observe(&Event::new(
            "ssh",
            Protocol::Ssh,
            ip.parse().unwrap(),
            EventKind::SessionStarted,
        ));
    }
    let list = Blocklist::from_report(&extractor.finish(), 1, &[]);
    assert_eq!(
        list.render(Format::Plain),
        "1.1.1.1\n8.8.8.8\n2606:4700::1111\n"
    );
    let dir = tempfile::tempdir().unwrap();
    // `nft -c` checks a script without applying it (it needs no privileges for that on
    // most systems; skipped where nft is absent).
    let script = dir.path().join("blocklist.nft");
    std::fs::write(&script, list.render(Format::Nftables)).unwrap();
    match std::process::Command::new("nft")
        .arg("-c")
        .arg("-f")
        .arg(&script)
        .output()
    {
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Without CAP_NET_ADMIN nft cannot even open its netlink socket to check.
            if !stderr.contains("Operation not permitted") {
                assert!(
                    out.status.success(),
                    "nft -c: {stderr}\n{}",
                    list.render(Format::Nftables)
                );
            }
        }
        Err(e) => {
            assert!(
                std::env::var("HPTI_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "nft (Debian: nftables) is required: {e}"
            );
            eprintln!("SKIPPED nft check: {e}");
        }
    }
}
