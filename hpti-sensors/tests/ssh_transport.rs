//! The SSH sensor's transport against the OpenSSH release each persona names: the
//! KEXINIT (lists, order, HASSHServer) read by `testdata/deception/ssh/kexinit.py`,
//! password logins by OpenSSH's `ssh` through every algorithm russh lacked upstream
//! (sntrup761x25519, UMAC, HMAC-SHA1), and UMAC against RFC 4418's vectors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hpti_core::pipeline::Pipeline;
use hpti_core::testing::require_tool;
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_sensors::shell::{OsFlavor, Persona};
use hpti_sensors::ssh::{SshConfig, SshSensor};

/// A sensor showing `os`, on a loopback port, with its pipeline (kept alive) and data
/// directory.
async fn start(os: OsFlavor) -> (SocketAddr, Pipeline, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut persona = Persona::generate();
    persona.os = os;
    persona.seed &= i64::MAX as u64;
    std::fs::write(
        dir.path().join("persona.toml"),
        toml::to_string_pretty(&persona).unwrap(),
    )
    .unwrap();
    let (mut pipeline, _events) = hpti_core::testing::collecting_pipeline(dir.path());
    let mut honeypot = HoneypotConfig::default();
    honeypot.auth.userdb = vec!["root:x:!root".into(), "root:x:*".into()];
    honeypot.limits.max_sessions_per_ip = 1000;
    let sensor = SshSensor::bind(
        "ssh-transport",
        dir.path(),
        SshConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..SshConfig::default()
        },
        &honeypot,
        pipeline.metrics(),
    )
    .await
    .unwrap();
    let addr = sensor.local_addr();
    pipeline.spawn_source(
        &hpti_core::component::ComponentId::new("test-source").unwrap(),
        Arc::new(sensor),
    );
    (addr, pipeline, dir)
}

fn kexinit_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/deception/ssh/kexinit.py")
}

/// The lists and framing of README §1 and the published HASSHServer of each release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kexinit_equals_the_real_release() {
    if !require_tool("python3") {
        return;
    }
    let common_macs = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
    let ciphers = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
    let cases = [
        (
            OsFlavor::Debian12,
            "425d29fe50d8e4f5e37efb6e24bcf660",
            (1132, 11),
            "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com",
        ),
        (
            OsFlavor::Ubuntu2204,
            "41ff3ecd1458b0bf86e1b4891636213e",
            (1108, 10),
            "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com",
        ),
        (
            OsFlavor::Ubuntu2404,
            "e42184b06d45385a906f0803d04c83da",
            (1116, 7),
            "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-s,kex-strict-s-v00@openssh.com",
        ),
    ];
    for (os, hassh, (packet_length, padding_length), kex) in cases {
        let (addr, _pipeline, _dir) = start(os).await;
        let script = kexinit_script();
        let port = addr.port().to_string();
        let output = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .arg(script)
                .args(["127.0.0.1", &port])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(output.status.success(), "{os:?}: {output:?}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let list = |key: &str| {
            json[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(list("kex_algorithms"), kex, "{os:?}");
        assert_eq!(
            list("server_host_key_algorithms"),
            "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
            "{os:?}"
        );
        for dir in ["client_to_server", "server_to_client"] {
            assert_eq!(list(&format!("encryption_algorithms_{dir}")), ciphers);
            assert_eq!(list(&format!("mac_algorithms_{dir}")), common_macs);
            assert_eq!(
                list(&format!("compression_algorithms_{dir}")),
                "none,zlib@openssh.com"
            );
        }
        assert_eq!(json["hasshServer"], hassh, "{os:?}: {json}");
        // sshd's framing of the unencrypted KEXINIT (README §1): zero padding, block 8.
        assert_eq!(json["packet_length"], packet_length, "{os:?}");
        assert_eq!(json["padding_length"], padding_length, "{os:?}");
        assert_eq!(json["padding_all_zero"], true, "{os:?}");
        assert_eq!(json["first_kex_packet_follows"], false, "{os:?}");
    }
}

/// A password login and `echo ok` by OpenSSH's client through each algorithm that
/// vendored russh adds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_logs_in_through_every_added_algorithm() {
    if !require_tool("ssh") || !require_tool("sshpass") {
        return;
    }
    let (addr, _pipeline, _dir) = start(OsFlavor::Debian12).await;
    let cases: &[&[&str]] = &[
        &["-o", "KexAlgorithms=sntrup761x25519-sha512@openssh.com"],
        &["-o", "KexAlgorithms=sntrup761x25519-sha512"],
        &["-o", "MACs=umac-64-etm@openssh.com", "-c", "aes128-ctr"],
        &["-o", "MACs=umac-128-etm@openssh.com", "-c", "aes256-ctr"],
        &["-o", "MACs=umac-64@openssh.com", "-c", "aes128-ctr"],
        &["-o", "MACs=umac-128@openssh.com", "-c", "aes192-ctr"],
        &["-o", "MACs=hmac-sha1", "-c", "aes128-ctr"],
    ];
    for case in cases {
        let mut args: Vec<String> = ["-p", "s3cret-pass", "ssh"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for option in [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "PubkeyAuthentication=no",
            "PreferredAuthentications=password",
            "ConnectTimeout=10",
            "LogLevel=ERROR",
        ] {
            args.extend(["-o".to_string(), option.to_string()]);
        }
        args.extend(case.iter().map(|s| s.to_string()));
        args.extend([
            "-p".to_string(),
            addr.port().to_string(),
            "root@127.0.0.1".to_string(),
            "echo ok".to_string(),
        ]);
        let output = tokio::task::spawn_blocking(move || {
            Command::new("sshpass").args(&args).output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.trim(),
            "ok",
            "{case:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The first EXT_INFO as OpenSSH's client logs it: the release's own `server-sig-algs`
/// (not the host key list) and `publickey-hostbound@openssh.com`, plus 9.6's `ping`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_info_is_the_releases() {
    if !require_tool("ssh") || !require_tool("sshpass") {
        return;
    }
    let cases = [
        (
            OsFlavor::Debian12,
            "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512",
            false,
        ),
        (
            OsFlavor::Ubuntu2204,
            "ssh-ed25519,sk-ssh-ed25519@openssh.com,ssh-rsa,rsa-sha2-256,rsa-sha2-512,ssh-dss,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
            false,
        ),
        (
            OsFlavor::Ubuntu2404,
            "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256",
            true,
        ),
    ];
    for (os, sig_algs, ping) in cases {
        let (addr, _pipeline, _dir) = start(os).await;
        let args: Vec<String> = [
            "-p",
            "s3cret-pass",
            "ssh",
            "-v",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "-p",
            &addr.port().to_string(),
            "root@127.0.0.1",
            "echo ok",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let output = tokio::task::spawn_blocking(move || {
            Command::new("sshpass").args(&args).output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let ext: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.split_once("kex_input_ext_info: ").map(|(_, v)| v))
            .collect();
        assert_eq!(
            ext.first().copied(),
            Some(format!("server-sig-algs=<{sig_algs}>").as_str()),
            "{os:?}: {stderr}"
        );
        assert_eq!(
            ext.get(1).copied(),
            Some("publickey-hostbound@openssh.com=<0>"),
            "{os:?}"
        );
        assert_eq!(
            ext.get(2)
                .is_some_and(|l| l.starts_with("ping@openssh.com")),
            ping,
            "{os:?}: {ext:?}"
        );
        assert_eq!(ext.len(), if ping { 3 } else { 2 }, "{os:?}: {ext:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
    }
}

/// RFC 4418's appendix (key `abcdefghijklmnop`, nonce `bcdefghi`): the 64-bit column,
/// and the 96-bit column as the first 12 bytes of UMAC-128, with the full 128-bit tags
/// of Krovetz's reference code for the short messages. The `'a' * 2^25` row needs
/// POLY-128, which OpenSSH's `umac.c` leaves out as well.
#[test]
fn umac_rfc4418_vectors() {
    let key = b"abcdefghijklmnop";
    let nonce = b"bcdefghi";
    let a = |n: usize| vec![b'a'; n];
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            vec![],
            "6E155FAD26900BE1",
            "32FEDB100C79AD58F07FF7643CC60465",
        ),
        (a(3), "44B5CB542F220104", "185E4FE905CBA7BD85E4C2DC3D117D8D"),
        (
            a(1 << 10),
            "26BF2F5D60118BD9",
            "7A54ABE04AF82D60FB298C3CBD195BCB",
        ),
        (
            a(1 << 15),
            "27F8EF643B0D118D",
            "7B136BD911E4B734286EF2BE501F2C3C",
        ),
        (a(1 << 20), "A4477E87E9F55853", "F8ACFA3AC31CFEEA047F7B11"),
        (
            b"abc".to_vec(),
            "D4D7B9F6BD4FBFCF",
            "883C3D4B97A61976FFCF2323",
        ),
        (
            b"abc".repeat(500),
            "D4CF26DDEFD5C01A",
            "8824A260C53C66A36C9260A6",
        ),
    ];
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>();
    for (message, umac64, umac128) in cases {
        let mut tag = [0u8; 8];
        russh::mac::umac(key, nonce, &message, &mut tag);
        assert_eq!(hex(&tag), umac64, "UMAC-64, {} bytes", message.len());
        let mut tag = [0u8; 16];
        russh::mac::umac(key, nonce, &message, &mut tag);
        assert_eq!(
            &hex(&tag)[..umac128.len()],
            umac128,
            "UMAC-128, {} bytes",
            message.len()
        );
    }
}
