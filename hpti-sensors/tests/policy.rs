//! Credential policy: userdb rules, accept_after, password pinning.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};

use hpti_sensors::policy::{AcceptAfter, Credential, CredentialPolicy, PolicyConfig, PolicyError};
use proptest::prelude::*;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

/// Rules only: no pinning, so each check is independent.
fn rules(userdb: &[&str]) -> CredentialPolicy {
    CredentialPolicy::new(PolicyConfig {
        userdb: userdb.iter().map(|&r| r.to_owned()).collect(),
        pin_first_password: false,
        ..PolicyConfig::default()
    })
    .unwrap()
}

fn password(policy: &CredentialPolicy, user: &str, pass: &str) -> bool {
    policy.check(ip(1), user, Credential::Password(pass))
}

#[test]
fn policy_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CredentialPolicy>();
}

#[test]
fn default_rules() {
    let policy = CredentialPolicy::new(PolicyConfig {
        pin_first_password: false,
        ..PolicyConfig::default()
    })
    .unwrap();
    assert!(!password(&policy, "root", "root"));
    assert!(!password(&policy, "root", "123456"));
    assert!(!password(&policy, "root", "IsThisAHoneyPot"));
    assert!(!password(&policy, "root", ""));
    assert!(password(&policy, "root", "admin"));
    assert!(password(&policy, "root", "P@ssw0rd"));
    assert!(!password(&policy, "admin", "admin"));
    assert!(password(&policy, "admin", "1234"));
    assert!(password(&policy, "pi", "raspberry"));
    assert!(!password(&policy, "pi", "raspberry1"));
    assert!(!password(&policy, "nobody", "whatever"));
}

#[test]
fn wildcards_and_exact_matches() {
    let policy = rules(&["*:x:letmein", "oracle:x:*"]);
    assert!(password(&policy, "anyone", "letmein"));
    assert!(password(&policy, "", "letmein"));
    assert!(!password(&policy, "anyone", "letmein2"));
    assert!(password(&policy, "oracle", "x"));
    assert!(
        !password(&policy, "Oracle", "x"),
        "exact match is case-sensitive"
    );
}

#[test]
fn negation_and_first_match_wins() {
    let policy = rules(&["root:x:!toor", "root:x:*"]);
    assert!(!password(&policy, "root", "toor"));
    assert!(password(&policy, "root", "toor2"));

    let reversed = rules(&["root:x:*", "root:x:!toor"]);
    assert!(password(&reversed, "root", "toor"));

    let star_negated = rules(&["guest:x:!*", "*:x:*"]);
    assert!(!password(&star_negated, "guest", "anything"));
    assert!(password(&star_negated, "other", "anything"));
}

#[test]
fn regex_rules() {
    let policy = rules(&[
        "/^adm/:x:!/^admin$/",
        "/^adm/:x:/[0-9]{4}/",
        "root:x:/secret/i",
    ]);
    assert!(!password(&policy, "admin", "admin"));
    assert!(password(&policy, "administrator", "pw1234"));
    assert!(!password(&policy, "administrator", "pw123"));
    assert!(!password(&policy, "xadmin", "1234"));
    // Unanchored search, as in Cowrie, with the `i` flag.
    assert!(password(&policy, "root", "mySECRETpw"));
    assert!(!password(&policy, "root", "secre"));
}

#[test]
fn colons_comments_and_blank_lines() {
    let policy = rules(&["# comment", "", "   ", "user:unused:pa:ss"]);
    assert!(password(&policy, "user", "pa:ss"));
    assert!(!password(&policy, "user", "pa"));
}

#[test]
fn no_rules_rejects_everything() {
    let policy = rules(&[]);
    assert!(!password(&policy, "root", "root"));
}

#[test]
fn public_keys() {
    let key = Credential::PublicKey {
        key_type: "ssh-ed25519",
        fingerprint: "SHA256:abc",
    };
    let default = CredentialPolicy::new(PolicyConfig::default()).unwrap();
    assert!(!default.check(ip(1), "root", key));
    let accepting = CredentialPolicy::new(PolicyConfig {
        accept_publickey: true,
        ..PolicyConfig::default()
    })
    .unwrap();
    assert!(accepting.check(ip(1), "root", key));
}

#[test]
fn first_password_is_pinned_per_ip_and_user() {
    let policy = CredentialPolicy::new(PolicyConfig {
        userdb: vec!["*:x:*".into()],
        ..PolicyConfig::default()
    })
    .unwrap();
    let (a, b) = (ip(1), ip(2));
    assert!(policy.check(a, "root", Credential::Password("first")));
    assert!(!policy.check(a, "root", Credential::Password("second")));
    assert!(policy.check(a, "root", Credential::Password("first")));
    // Another user from the same address has its own pin.
    assert!(policy.check(a, "admin", Credential::Password("second")));
    assert!(!policy.check(a, "admin", Credential::Password("first")));
    // Another address is unaffected.
    assert!(policy.check(b, "root", Credential::Password("second")));
    assert!(!policy.check(b, "root", Credential::Password("first")));
    // An IPv6 client is tracked on its own too.
    assert!(policy.check(
        "2001:db8::1".parse().unwrap(),
        "root",
        Credential::Password("third")
    ));
}

#[test]
fn rejected_passwords_do_not_pin() {
    let policy = CredentialPolicy::new(PolicyConfig {
        userdb: vec!["root:x:!root".into(), "root:x:*".into()],
        ..PolicyConfig::default()
    })
    .unwrap();
    assert!(!policy.check(ip(1), "root", Credential::Password("root")));
    assert!(policy.check(ip(1), "root", Credential::Password("hunter2")));
    assert!(!policy.check(ip(1), "root", Credential::Password("root")));
    assert!(!policy.check(ip(1), "root", Credential::Password("other")));
}

#[test]
fn accept_after_fixed_n() {
    let policy = CredentialPolicy::new(PolicyConfig {
        userdb: Vec::new(),
        accept_after: Some(AcceptAfter { min: 3, max: 3 }),
        ..PolicyConfig::default()
    })
    .unwrap();
    let a = ip(1);
    assert!(!policy.check(a, "root", Credential::Password("one")));
    assert!(!policy.check(a, "user", Credential::Password("two")));
    assert!(policy.check(a, "support", Credential::Password("three")));
    // The credential that got in keeps working; nothing else does.
    assert!(policy.check(a, "support", Credential::Password("three")));
    assert!(!policy.check(a, "support", Credential::Password("four")));
    assert!(!policy.check(a, "root", Credential::Password("five")));
    // Another address counts on its own.
    assert!(!policy.check(ip(2), "root", Credential::Password("one")));
    assert!(!policy.check(ip(2), "root", Credential::Password("two")));
    assert!(policy.check(ip(2), "root", Credential::Password("three")));
}

#[test]
fn accept_after_pins_even_without_pin_first_password() {
    let policy = CredentialPolicy::new(PolicyConfig {
        userdb: Vec::new(),
        accept_after: Some(AcceptAfter { min: 1, max: 1 }),
        pin_first_password: false,
        ..PolicyConfig::default()
    })
    .unwrap();
    assert!(policy.check(ip(1), "root", Credential::Password("x")));
    assert!(policy.check(ip(1), "root", Credential::Password("x")));
    assert!(!policy.check(ip(1), "root", Credential::Password("y")));
}

#[test]
fn accept_after_range_is_respected_per_ip() {
    let policy = CredentialPolicy::new(PolicyConfig {
        userdb: Vec::new(),
        accept_after: Some(AcceptAfter { min: 2, max: 5 }),
        ..PolicyConfig::default()
    })
    .unwrap();
    for last in 0..=200u8 {
        let attempt = (1..=10)
            .find(|n| policy.check(ip(last), "root", Credential::Password(&format!("pw{n}"))))
            .expect("accepted within 10 attempts");
        assert!((2..=5).contains(&attempt), "accepted at attempt {attempt}");
    }
}

#[test]
fn bad_userdb_names_the_line() {
    let error = CredentialPolicy::new(PolicyConfig {
        userdb: vec![
            "root:x:*".into(),
            "# fine".into(),
            "".into(),
            "garbage".into(),
        ],
        ..PolicyConfig::default()
    })
    .unwrap_err();
    assert!(
        matches!(error, PolicyError::Userdb { line: 4, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("line 4"), "{error}");

    for bad in ["root:x:/(/", "root:x:/a/g", ":x:pw", "root:pw"] {
        let error = CredentialPolicy::new(PolicyConfig {
            userdb: vec![bad.into()],
            ..PolicyConfig::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("line 1"), "{bad}: {error}");
    }
}

#[test]
fn userdb_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("userdb.txt");
    std::fs::write(&path, "# header\r\nroot:x:!nope\r\nroot:x:*\r\n").unwrap();
    let policy = CredentialPolicy::new(PolicyConfig {
        userdb: vec!["*:x:*".into()],
        userdb_file: Some(path.clone()),
        pin_first_password: false,
        ..PolicyConfig::default()
    })
    .unwrap();
    assert!(!password(&policy, "root", "nope"));
    assert!(password(&policy, "root", "yes"));
    // The file replaced the inline list.
    assert!(!password(&policy, "admin", "yes"));

    std::fs::write(&path, "root:x:*\nroot:x:/[/\n").unwrap();
    let error = CredentialPolicy::new(PolicyConfig {
        userdb_file: Some(path.clone()),
        ..PolicyConfig::default()
    })
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("userdb.txt line 2"), "{message}");

    let missing = CredentialPolicy::new(PolicyConfig {
        userdb_file: Some(dir.path().join("missing.txt")),
        ..PolicyConfig::default()
    })
    .unwrap_err();
    assert!(matches!(missing, PolicyError::Io { .. }), "{missing:?}");
}

#[test]
fn bad_accept_after() {
    for (min, max) in [(0, 3), (5, 4)] {
        let error = CredentialPolicy::new(PolicyConfig {
            accept_after: Some(AcceptAfter { min, max }),
            ..PolicyConfig::default()
        })
        .unwrap_err();
        assert!(
            matches!(error, PolicyError::AcceptAfter { .. }),
            "{error:?}"
        );
    }
}

#[test]
fn config_from_json() {
    let config: PolicyConfig = serde_json::from_str(
        r#"{"userdb": ["root:x:*"], "accept_after": {"min": 2, "max": 6}, "forget_after": "1h"}"#,
    )
    .unwrap();
    assert_eq!(config.userdb, ["root:x:*"]);
    assert_eq!(config.accept_after, Some(AcceptAfter { min: 2, max: 6 }));
    assert_eq!(config.forget_after, std::time::Duration::from_secs(3600));
    assert!(config.pin_first_password);
    assert!(!config.accept_publickey);
    assert!(serde_json::from_str::<PolicyConfig>(r#"{"user_db": []}"#).is_err());
    assert!(
        serde_json::from_str::<PolicyConfig>(r#"{"accept_after": {"min": 1, "max": 2, "x": 3}}"#)
            .is_err()
    );
}

proptest! {
    #[test]
    fn check_never_panics(
        user in any::<String>(),
        pass in any::<String>(),
        ip_bits in any::<u32>(),
        key in any::<bool>(),
    ) {
        let policy = CredentialPolicy::new(PolicyConfig {
            accept_after: Some(AcceptAfter { min: 1, max: 3 }),
            ..PolicyConfig::default()
        })
        .unwrap();
        let ip = IpAddr::V4(Ipv4Addr::from(ip_bits));
        let credential = if key {
            Credential::PublicKey { key_type: &user, fingerprint: &pass }
        } else {
            Credential::Password(&pass)
        };
        for _ in 0..3 {
            let _ = policy.check(ip, &user, credential);
        }
    }

    #[test]
    fn arbitrary_userdb_never_panics(
        lines in proptest::collection::vec(any::<String>(), 0..5),
        user in any::<String>(),
        pass in any::<String>(),
    ) {
        let config = PolicyConfig { userdb: lines, ..PolicyConfig::default() };
        if let Ok(policy) = CredentialPolicy::new(config) {
            let _ = policy.check(ip(9), &user, Credential::Password(&pass));
        }
    }

    #[test]
    fn userdb_shaped_lines_never_panic(
        user in "[*!/a-z()\\[\\]]{0,6}",
        pass in "[*!/a-z()\\[\\]:]{0,8}",
        flags in "(|i|g)",
        probe in "[a-z]{0,6}",
    ) {
        let config = PolicyConfig {
            userdb: vec![format!("{user}:x:{pass}{flags}")],
            ..PolicyConfig::default()
        };
        if let Ok(policy) = CredentialPolicy::new(config) {
            let _ = policy.check(ip(9), &probe, Credential::Password(&probe));
        }
    }
}
