//! The transport algorithms of each persona's OpenSSH release, exactly as its `sshd`
//! offers them, so that the server's KEXINIT (and the HASSHServer fingerprint computed
//! from it) and its EXT_INFO are those of the release the banner names. Ground truth:
//! `testdata/deception/ssh/README.md` §1–§2.

use std::borrow::Cow;

use russh::Preferred;
use russh::keys::{Algorithm, EcdsaCurve, HashAlg};
use russh::{cipher, compression, kex, mac};

use crate::shell::OsFlavor;

/// Debian 12, OpenSSH 9.2p1-2+deb12u4 and later: the un-suffixed sntrup761 name came with
/// deb12u4; the Terrapin backport appends only `kex-strict-s`, no `ext-info-s`.
const KEX_DEBIAN12_92: &[kex::Name] = &[
    kex::SNTRUP761X25519_SHA512,
    kex::SNTRUP761X25519_SHA512_OPENSSH,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Ubuntu 22.04, OpenSSH 8.9p1: sntrup761 still after the ECDH names (moved first in
/// 9.0); the Terrapin backport appends only `kex-strict-s`.
const KEX_UBUNTU2204_89: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::SNTRUP761X25519_SHA512_OPENSSH,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Ubuntu 24.04, OpenSSH 9.6p1: no un-suffixed sntrup761 alias; 9.6 appends both
/// pseudo-algorithms.
const KEX_UBUNTU2404_96: &[kex::Name] = &[
    kex::SNTRUP761X25519_SHA512_OPENSSH,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Ciphers of all three releases (both directions).
const CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_CTR,
    cipher::AES_192_CTR,
    cipher::AES_256_CTR,
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
];

/// MACs of all three releases (both directions).
const MACS: &[mac::Name] = &[
    mac::UMAC_64_ETM,
    mac::UMAC_128_ETM,
    mac::HMAC_SHA256_ETM,
    mac::HMAC_SHA512_ETM,
    mac::HMAC_SHA1_ETM,
    mac::UMAC_64,
    mac::UMAC_128,
    mac::HMAC_SHA256,
    mac::HMAC_SHA512,
    mac::HMAC_SHA1,
];

/// `server-sig-algs` of 9.2p1 (measured): `sshkey_alg_list(0,1,1)` in the post-9.0 order.
const SSA_92: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512";
/// `server-sig-algs` of 8.9p1: the same call in the older key type order.
const SSA_89: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ssh-rsa,rsa-sha2-256,rsa-sha2-512,ssh-dss,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com";
/// `server-sig-algs` of 9.6p1: the default `PubkeyAcceptedAlgorithms`' signature names.
const SSA_96: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";

/// The KEX proposal of the persona's OpenSSH, pseudo-algorithms included.
pub fn kex(os: OsFlavor) -> &'static [kex::Name] {
    match os {
        OsFlavor::Debian12 => KEX_DEBIAN12_92,
        OsFlavor::Ubuntu2204 => KEX_UBUNTU2204_89,
        OsFlavor::Ubuntu2404 => KEX_UBUNTU2404_96,
    }
}

/// The whole server proposal of the persona's OpenSSH, in its order.
pub fn preferred(os: OsFlavor) -> Preferred {
    Preferred {
        kex: Cow::Borrowed(kex(os)),
        // One entry per host key in sshd's HostKey order (rsa, ecdsa, ed25519); RSA as
        // its two SHA-2 signature names, never `ssh-rsa` (dropped in 8.8).
        key: Cow::Owned(vec![
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
            Algorithm::Ed25519,
        ]),
        cipher: Cow::Borrowed(CIPHERS),
        mac: Cow::Borrowed(MACS),
        compression: Cow::Borrowed(&[compression::NONE, compression::ZLIB_LEGACY]),
        ..Preferred::default()
    }
}

/// The extensions of the persona's first EXT_INFO (sent only to clients that offer
/// `ext-info-c`, whether or not the server offered `ext-info-s`, as sshd does).
pub fn ext_info(os: OsFlavor) -> Vec<(String, String)> {
    let (sig_algs, ping) = match os {
        OsFlavor::Debian12 => (SSA_92, false),
        OsFlavor::Ubuntu2204 => (SSA_89, false),
        OsFlavor::Ubuntu2404 => (SSA_96, true),
    };
    let mut extensions = vec![
        ("server-sig-algs".to_owned(), sig_algs.to_owned()),
        ("publickey-hostbound@openssh.com".to_owned(), "0".to_owned()),
    ];
    if ping {
        extensions.push(("ping@openssh.com".to_owned(), "0".to_owned()));
    }
    extensions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a real server's KEXINIT lists (README §1), so a typo in a constant or
    /// a reordering shows here before it shows in a fingerprint.
    #[test]
    fn kex_lists_match_the_releases() {
        let names = |os| {
            kex(os)
                .iter()
                .map(|n| n.as_ref())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            names(OsFlavor::Debian12),
            "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com"
        );
        assert_eq!(
            names(OsFlavor::Ubuntu2204),
            "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com"
        );
        assert_eq!(
            names(OsFlavor::Ubuntu2404),
            "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-s,kex-strict-s-v00@openssh.com"
        );
    }
}
