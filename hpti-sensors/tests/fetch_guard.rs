//! The address classifier behind the SSRF guard.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::IpAddr;

use hpti_sensors::fetch::forbidden_reason;

fn reason(text: &str) -> Option<&'static str> {
    forbidden_reason(text.parse::<IpAddr>().unwrap())
}

#[test]
fn forbidden_ipv4() {
    for (ip, why) in [
        ("0.0.0.0", "\"this network\""),
        ("0.1.2.3", "\"this network\""),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),
        ("192.0.0.8", "IETF"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.88.99.1", "6to4"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
    ] {
        let found = reason(ip).unwrap_or_else(|| panic!("{ip} should be forbidden"));
        assert!(found.contains(why), "{ip}: {found}");
    }
}

#[test]
fn forbidden_ipv6() {
    for (ip, why) in [
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "NAT64"),
        ("64:ff9b:1::1", "not global"),
        ("2002:c0a8:101::1", "6to4"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001::1", "IETF"),
        ("100::1", "not global"),
        ("4000::1", "not global"),
    ] {
        let found = reason(ip).unwrap_or_else(|| panic!("{ip} should be forbidden"));
        assert!(found.contains(why), "{ip}: {found}");
    }
}

#[test]
fn public_addresses_pass() {
    for ip in [
        "1.1.1.1",
        "8.8.8.8",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "2a00:1450::1",
    ] {
        assert_eq!(reason(ip), None, "{ip} should be allowed");
    }
}
