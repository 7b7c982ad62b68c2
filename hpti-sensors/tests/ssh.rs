//! The SSH honeypot against real clients: russh's client, OpenSSH's `ssh`/`scp` with
//! `sshpass`, THC-Hydra, and raw sockets speaking malformed identifications. Each test
//! runs a real sensor on a loopback port with a pipeline collecting its events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{Event, EventKind};
use hpti_core::pipeline::Pipeline;
use hpti_core::testing::{MemorySink, require_tool};
use hpti_sensors::honeypot::HoneypotConfig;
use hpti_sensors::ssh::{SshConfig, SshSensor};
use russh::client;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Harness {
    addr: SocketAddr,
    events: MemorySink,
    pipeline: Option<Pipeline>,
    dir: tempfile::TempDir,
}

impl Harness {
    async fn start(configure: impl FnOnce(&mut HoneypotConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (mut pipeline, events) = hpti_core::testing::collecting_pipeline(dir.path());
        let mut honeypot = HoneypotConfig::default();
        honeypot.auth.userdb = vec!["root:x:!root".into(), "root:x:*".into()];
        honeypot.fetch.allow = vec!["127.0.0.1/32".into()];
        honeypot.limits.max_sessions_per_ip = 1000;
        configure(&mut honeypot);
        let mut sensor = SshSensor::bind(
            "ssh-test",
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
        sensor.set_auth_rejection_time(Duration::from_millis(10));
        let addr = sensor.local_addr();
        pipeline.spawn_source(
            &hpti_core::component::ComponentId::new("test-source").unwrap(),
            Arc::new(sensor),
        );
        Self {
            addr,
            events,
            pipeline: Some(pipeline),
            dir,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.events()
    }

    /// Waits (bounded) until `done` holds for the collected events.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        for _ in 0..400 {
            let events = self.events();
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}: {:#?}", self.events());
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    async fn stop(mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.shutdown().await;
        }
    }
}

fn closed(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SessionClosed { .. }))
        .count()
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

struct AnyHostKey;

impl client::Handler for AnyHostKey {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn connect(addr: SocketAddr) -> client::Handle<AnyHostKey> {
    let config = Arc::new(client::Config::default());
    client::connect(config, addr, AnyHostKey).await.unwrap()
}

/// Runs `command` on an exec channel; returns output and exit status.
async fn exec(handle: &client::Handle<AnyHostKey>, command: &str) -> (Vec<u8>, Option<u32>) {
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.exec(true, command).await.unwrap();
    let mut output = Vec::new();
    let mut status = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            russh::ChannelMsg::Data { data } => output.extend_from_slice(&data),
            russh::ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            russh::ChannelMsg::Close => break,
            _ => {}
        }
    }
    (output, status)
}

#[tokio::test]
async fn russh_client_logins_exec_and_everything_is_captured() {
    let harness = Harness::start(|_| {}).await;
    let mut handle = connect(harness.addr).await;
    let refused = handle.authenticate_password("root", "root").await.unwrap();
    assert!(!refused.success());
    let accepted = handle
        .authenticate_password("root", "hunter2")
        .await
        .unwrap();
    assert!(accepted.success());
    let (output, status) = exec(&handle, "uname -a; echo hi; nosuchcmd").await;
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("GNU/Linux"), "{text}");
    assert!(text.contains("hi\n"), "{text}");
    assert!(text.contains("nosuchcmd: command not found"), "{text}");
    assert_eq!(status, Some(127));
    handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();

    let events = harness.wait_for("session.closed", |e| closed(e) == 1).await;
    let session = events[0].session.clone().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.session.as_deref() == Some(&*session))
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds.first(), Some(&"session.started"));
    assert_eq!(kinds.last(), Some(&"session.closed"));
    let version = events.iter().find_map(|e| match &e.kind {
        EventKind::ClientVersion { version } => Some(version.clone()),
        _ => None,
    });
    assert!(version.unwrap().starts_with("SSH-2.0-russh"));
    let hassh = events.iter().find_map(|e| match &e.kind {
        EventKind::ClientFingerprint {
            method,
            fingerprint,
            algorithms,
        } => Some((method.clone(), fingerprint.clone(), algorithms.clone())),
        _ => None,
    });
    let (method, fingerprint, algorithms) = hassh.expect("a HASSH event");
    assert_eq!(method, "hassh");
    assert_eq!(fingerprint.len(), 32);
    let algorithms = algorithms.unwrap();
    assert_eq!(fingerprint, format!("{:x}", md5::compute(&algorithms)));
    assert!(algorithms.contains("curve25519-sha256"), "{algorithms}");
    let logins: Vec<(String, Option<String>, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LoginAttempt {
                username,
                password,
                success,
                ..
            } => Some((username.clone(), password.clone(), *success)),
            _ => None,
        })
        .collect();
    assert_eq!(
        logins,
        vec![
            ("root".into(), Some("root".into()), false),
            ("root".into(), Some("hunter2".into()), true),
        ]
    );
    assert!(events.iter().any(|e| matches!(&e.kind,
        EventKind::CommandInput { command } if command == "uname -a; echo hi; nosuchcmd")));
    assert!(
        events
            .iter()
            .all(|e| e.dst_port == Some(harness.addr.port()))
    );
    harness.stop().await;
}

#[tokio::test]
async fn shell_session_downloads_writes_and_records() {
    let server = wiremock::MockServer::start().await;
    let payload = b"#!/bin/sh\necho pwned\n".to_vec();
    wiremock::Mock::given(wiremock::matchers::path("/bins.sh"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_bytes(payload.clone()))
        .mount(&server)
        .await;
    let harness = Harness::start(|_| {}).await;
    let mut handle = connect(harness.addr).await;
    assert!(
        handle
            .authenticate_password("root", "toor")
            .await
            .unwrap()
            .success()
    );
    let mut channel = handle.channel_open_session().await.unwrap();
    channel
        .request_pty(true, "xterm-256color", 120, 40, 0, 0, &[])
        .await
        .unwrap();
    channel.request_shell(true).await.unwrap();
    let url = format!("{}/bins.sh", server.uri());
    let script = format!(
        "cd /tmp; wget {url}; cat bins.sh\necho -ne '\\x7fELF\\x01' > .x; chmod +x .x\nexit\n"
    );
    channel.data(script.as_bytes()).await.unwrap();
    let mut output = Vec::new();
    while let Some(msg) = channel.wait().await {
        match msg {
            russh::ChannelMsg::Data { data } => output.extend_from_slice(&data),
            russh::ChannelMsg::Close => break,
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("echo pwned"), "{text}");
    assert!(text.contains("\r\n"), "pty output has CRLF line ends");
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;

    let events = harness.wait_for("session.closed", |e| closed(e) == 1).await;
    let download = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::FileDownload {
                url: u,
                sha256,
                size,
                error,
            } => Some((u.clone(), sha256.clone(), *size, error.clone())),
            _ => None,
        })
        .expect("a download event");
    assert_eq!(download.0, url);
    assert_eq!(download.1.as_deref(), Some(&*sha256_hex(&payload)));
    assert_eq!(download.2, Some(payload.len() as u64));
    assert_eq!(download.3, None);
    let stored = harness
        .data_dir()
        .join("artifacts")
        .join(&sha256_hex(&payload)[..2])
        .join(sha256_hex(&payload));
    assert_eq!(std::fs::read(&stored).unwrap(), payload);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&stored).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0, "captured files are never executable");
    }
    let upload = events.iter().find_map(|e| match &e.kind {
        EventKind::FileUpload {
            filename, sha256, ..
        } => Some((filename.clone(), sha256.clone())),
        _ => None,
    });
    assert_eq!(
        upload,
        Some(("/tmp/.x".to_owned(), Some(sha256_hex(b"\x7fELF\x01"))))
    );
    let commands: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandInput { command } => Some(command.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(commands.len(), 3, "{commands:?}");
    let recording = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::SessionClosed { recording, .. } => recording.clone(),
            _ => None,
        })
        .expect("a recording");
    let cast = std::fs::read_to_string(harness.data_dir().join(&recording)).unwrap();
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 120);
    assert!(cast.contains("echo pwned"));
    harness.stop().await;
}

#[tokio::test]
async fn forwarding_is_captured_and_refused() {
    let harness = Harness::start(|_| {}).await;
    let mut handle = connect(harness.addr).await;
    assert!(
        handle
            .authenticate_password("root", "x1")
            .await
            .unwrap()
            .success()
    );
    let refused = handle
        .channel_open_direct_tcpip("smtp.example.com", 25, "127.0.0.1", 40000)
        .await;
    assert!(refused.is_err(), "direct-tcpip must be refused");
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    let events = harness.wait_for("session.closed", |e| closed(e) == 1).await;
    assert!(events.iter().any(|e| matches!(&e.kind,
        EventKind::PortForward { host, port: 25, accepted: false } if host == "smtp.example.com")));
    harness.stop().await;
}

#[tokio::test]
async fn malformed_identifications_get_openssh_answers_and_the_server_carries_on() {
    let harness = Harness::start(|_| {}).await;
    for (input, answer) in [
        (
            &b"GET / HTTP/1.1\r\n"[..],
            &b"Invalid SSH identification string.\r\n"[..],
        ),
        (b"\r\n", b"Invalid SSH identification string.\r\n"),
        (
            b"SSH-1.5-OldClient\r\n",
            b"Protocol major versions differ.\r\n",
        ),
        (
            &[0xffu8; 300][..],
            b"Invalid SSH identification string.\r\n",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(harness.addr).await.unwrap();
        stream.write_all(input).await.unwrap();
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut seen))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("SSH-2.0-OpenSSH_"), "{text}");
        assert!(seen.ends_with(answer), "{text}");
    }
    // Garbage after a good identification: russh's error, a clean disconnect.
    let mut stream = tokio::net::TcpStream::connect(harness.addr).await.unwrap();
    stream
        .write_all(b"SSH-2.0-fuzz\r\n\x00\x00\xff\xffgarbage")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut seen)).await;
    drop(stream);
    // Still serving.
    let mut handle = connect(harness.addr).await;
    assert!(
        handle
            .authenticate_password("root", "ok")
            .await
            .unwrap()
            .success()
    );
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    let events = harness.wait_for("six sessions", |e| closed(e) == 6).await;
    assert!(events.iter().any(|e| matches!(&e.kind,
        EventKind::ClientVersion { version } if version == "GET / HTTP/1.1")));
    harness.stop().await;
}

fn ssh_options(addr: SocketAddr) -> Vec<String> {
    [
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        "-p",
        &addr.port().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_client_exec_scp_and_sftp() {
    if !require_tool("ssh") || !require_tool("sshpass") || !require_tool("scp") {
        return;
    }
    let harness = Harness::start(|_| {}).await;
    let addr = harness.addr;
    let options = ssh_options(addr);
    let run = move |mut args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let mut all = vec!["-p".to_string(), "s3cret-pass".to_string()];
            all.append(&mut args);
            Command::new("sshpass").args(&all).output().unwrap()
        })
    };
    let mut args = vec!["ssh".to_string()];
    args.extend(options.clone());
    args.extend(["root@127.0.0.1".into(), "cat /etc/hostname; id".into()]);
    let output = run(args).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("uid=0(root)"), "{stdout}");

    let upload = harness.data_dir().join("payload.bin");
    let content: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&upload, &content).unwrap();
    // scp over SFTP (the default since OpenSSH 9.0), then the legacy protocol.
    for legacy in [false, true] {
        let mut args = vec!["scp".to_string()];
        if legacy {
            args.push("-O".into());
        }
        args.extend(options.iter().map(|o| {
            if o == "-p" {
                "-P".to_string()
            } else {
                o.clone()
            }
        }));
        args.push(upload.display().to_string());
        args.push("root@127.0.0.1:/tmp/".into());
        let output = run(args).await.unwrap();
        assert!(
            output.status.success(),
            "scp (legacy {legacy}): {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let events = harness.wait_for("three sessions", |e| closed(e) == 3).await;
    let uploads: Vec<(String, Option<String>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileUpload {
                filename, sha256, ..
            } => Some((filename.clone(), sha256.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        uploads,
        vec![
            ("/tmp/payload.bin".to_owned(), Some(sha256_hex(&content))),
            ("/tmp/payload.bin".to_owned(), Some(sha256_hex(&content))),
        ]
    );
    let version = events.iter().find_map(|e| match &e.kind {
        EventKind::ClientVersion { version } => Some(version.clone()),
        _ => None,
    });
    assert!(version.unwrap().starts_with("SSH-2.0-OpenSSH_"));
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hydra_attempts_are_all_captured() {
    if !require_tool("hydra") {
        return;
    }
    // Every attempt fails, so Hydra tries the whole list.
    let harness = Harness::start(|h| {
        h.auth.userdb = vec!["admin:x:!/.*/".into()];
    })
    .await;
    let passwords: Vec<String> = (0..20).map(|i| format!("pw-{i:02}")).collect();
    let list = harness.data_dir().join("passwords.txt");
    std::fs::write(&list, passwords.join("\n") + "\n").unwrap();
    let addr = harness.addr;
    let started = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("hydra")
            .args(["-l", "admin", "-P"])
            .arg(&list)
            .args([
                "-t",
                "4",
                "-I",
                "-s",
                &addr.port().to_string(),
                "ssh://127.0.0.1",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // Not a speed figure: Hydra takes 1-2 s here. A connection left hanging at the
    // auth-attempt limit made it wait out its 32 s response timeout (and lose that
    // password); sshd drops the connection at once.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "hydra waited {:?} on a hanging connection",
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("0 valid password"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tried: BTreeSet<String> = harness
        .wait_for("every password", |events| {
            let seen: BTreeSet<&str> = events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::LoginAttempt {
                        password: Some(p), ..
                    } => Some(p.as_str()),
                    _ => None,
                })
                .collect();
            passwords.iter().all(|p| seen.contains(p.as_str()))
        })
        .await
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LoginAttempt {
                username,
                password: Some(p),
                success,
                ..
            } => {
                assert_eq!(username, "admin");
                assert!(!success);
                Some(p.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(tried, passwords.iter().cloned().collect::<BTreeSet<_>>());
    harness.stop().await;
}

/// Logs in as root and runs one command on a connection of its own.
async fn exec_on_new_connection(addr: SocketAddr, command: &str) -> String {
    let mut handle = connect(addr).await;
    assert!(
        handle
            .authenticate_password("root", "letmein")
            .await
            .unwrap()
            .success()
    );
    let (output, _) = exec(&handle, command).await;
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    String::from_utf8_lossy(&output).into_owned()
}

#[tokio::test]
async fn an_address_finds_its_files_again_only_when_keeping_is_on_and_within_bounds() {
    let harness = Harness::start(|honeypot| {
        honeypot.keep_filesystem.enabled = true;
        honeypot.keep_filesystem.max_bytes_per_ip = 4096;
    })
    .await;
    exec_on_new_connection(
        harness.addr,
        "echo dropped-by-bot > /tmp/.x; chmod 777 /tmp/.x",
    )
    .await;
    assert_eq!(
        exec_on_new_connection(harness.addr, "cat /tmp/.x").await,
        "dropped-by-bot\n",
        "the second session of the address sees the first one's file"
    );
    // A session whose changes exceed the bound is not kept, and neither is what came
    // before it: the address starts over from the base image.
    let big = "A".repeat(5000);
    exec_on_new_connection(harness.addr, &format!("echo {big} > /tmp/big")).await;
    let after = exec_on_new_connection(harness.addr, "cat /tmp/.x; ls /tmp").await;
    assert!(after.contains("No such file"), "{after}");
    assert!(!after.contains("big"), "{after}");
    harness.stop().await;

    // Off (the default): every session starts from the base image.
    let harness = Harness::start(|_| {}).await;
    exec_on_new_connection(harness.addr, "echo dropped-by-bot > /tmp/.x").await;
    let second = exec_on_new_connection(harness.addr, "cat /tmp/.x").await;
    assert!(second.contains("No such file"), "{second}");
    harness.stop().await;
}

/// Opens an SFTP session with russh-sftp's raw client (offsets under the test's control).
async fn raw_sftp(handle: &client::Handle<AnyHostKey>) -> russh_sftp::client::RawSftpSession {
    let channel = handle.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    let sftp = russh_sftp::client::RawSftpSession::new(channel.into_stream());
    sftp.init().await.unwrap();
    sftp
}

#[tokio::test]
async fn sftp_holes_and_uploads_past_the_session_bound_are_refused_without_allocating() {
    use russh_sftp::protocol::{FileAttributes, OpenFlags};
    let harness = Harness::start(|h| h.limits.max_upload_bytes = 100_000).await;
    let mut handle = connect(harness.addr).await;
    assert!(
        handle
            .authenticate_password("root", "hunter2")
            .await
            .unwrap()
            .success()
    );
    let sftp = raw_sftp(&handle).await;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;

    // A write far past the end (a hole) fails, and so does one past the per-file cap.
    let hole = sftp
        .open("/tmp/hole", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    assert!(
        sftp.write(&hole, 32 * 1024 * 1024 - 10, vec![1; 10])
            .await
            .is_err()
    );
    assert!(sftp.write(&hole, 1, vec![1; 10]).await.is_err());
    // Sequential and overlapping writes still work.
    sftp.write(&hole, 0, b"hello ".to_vec()).await.unwrap();
    sftp.write(&hole, 6, b"world".to_vec()).await.unwrap();
    sftp.write(&hole, 0, b"H".to_vec()).await.unwrap();
    sftp.close(&hole).await.unwrap();

    // Many handles together stay within the session's bound.
    let mut handles = Vec::new();
    for i in 0..8 {
        let h = sftp
            .open(format!("/tmp/part{i}"), flags, FileAttributes::empty())
            .await
            .unwrap()
            .handle;
        handles.push(h);
    }
    let mut accepted = 0u64;
    for h in &handles {
        if sftp.write(h, 0, vec![7; 30_000]).await.is_ok() {
            accepted += 30_000;
        }
    }
    assert_eq!(
        accepted, 90_000,
        "the fourth 30 kB write passes the 100 kB bound"
    );
    for h in handles {
        sftp.close(h).await.unwrap();
    }
    let refused =
        harness
            .pipeline
            .as_ref()
            .unwrap()
            .metrics()
            .get("sensor", "ssh-test", "upload_refused");
    assert_eq!(refused, 2 + 5);
    handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    let events = harness.wait_for("session.closed", |e| closed(e) == 1).await;
    let uploads: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileUpload { filename, size, .. } => Some((filename.clone(), *size)),
            _ => None,
        })
        .collect();
    assert!(
        uploads.contains(&("/tmp/hole".to_string(), Some(11))),
        "{uploads:?}"
    );
    harness.stop().await;
}

fn sensor_counter(harness: &Harness, outcome: &str) -> u64 {
    harness
        .pipeline
        .as_ref()
        .unwrap()
        .metrics()
        .get("sensor", "ssh-test", outcome)
}

async fn logged_in(addr: SocketAddr) -> client::Handle<AnyHostKey> {
    let mut handle = connect(addr).await;
    assert!(
        handle
            .authenticate_password("root", "hunter2")
            .await
            .unwrap()
            .success()
    );
    handle
}

/// 20,000 shell channels on one connection once took 150 MB: channels open at once are
/// capped as sshd's `MaxSessions` caps them, and a closed channel frees its slot.
#[tokio::test]
async fn channels_past_max_channels_are_refused_and_a_closed_one_frees_its_slot() {
    let harness = Harness::start(|h| h.limits.max_channels = 3).await;
    let handle = logged_in(harness.addr).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(handle.channel_open_session().await.unwrap());
    }
    for _ in 0..5 {
        let refused = handle.channel_open_session().await;
        assert!(
            matches!(
                refused,
                Err(russh::Error::ChannelOpenFailure(
                    russh::ChannelOpenFailure::AdministrativelyProhibited
                ))
            ),
            "{refused:?}"
        );
    }
    assert_eq!(sensor_counter(&harness, "channel_refused"), 5);

    // The client closes one; the server forgets it, and a new one opens.
    let first = open.remove(0);
    first.close().await.unwrap();
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(channel) = handle.channel_open_session().await {
            reopened = Some(channel);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reopened = reopened.expect("a slot is free after a close");
    reopened.exec(true, "echo still-served").await.unwrap();
    let mut reopened = reopened;
    let mut output = Vec::new();
    while let Some(msg) = reopened.wait().await {
        match msg {
            russh::ChannelMsg::Data { data } => output.extend_from_slice(&data),
            russh::ChannelMsg::Close => break,
            _ => {}
        }
    }
    assert_eq!(String::from_utf8_lossy(&output), "still-served\n");
    harness.stop().await;
}

/// A second SFTP channel on the same connection once got a fresh upload budget (4 GB
/// of RSS from two channels): the budget is the connection's, over all its channels.
#[tokio::test]
async fn the_upload_bound_holds_across_the_sftp_channels_of_one_connection() {
    use russh_sftp::protocol::{FileAttributes, OpenFlags};
    let harness = Harness::start(|h| h.limits.max_upload_bytes = 100_000).await;
    let handle = logged_in(harness.addr).await;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let first = raw_sftp(&handle).await;
    let second = raw_sftp(&handle).await;
    let a = first
        .open("/tmp/a", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    let b = second
        .open("/tmp/b", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    first.write(&a, 0, vec![1; 60_000]).await.unwrap();
    assert!(
        second.write(&b, 0, vec![2; 60_000]).await.is_err(),
        "60 kB + 60 kB on one connection passes its 100 kB bound"
    );
    second.write(&b, 0, vec![2; 40_000]).await.unwrap();
    first.close(&a).await.unwrap();
    // Closed files still count: the bound is on what the connection uploads.
    let c = first
        .open("/tmp/c", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    assert!(first.write(&c, 0, vec![3; 1]).await.is_err());
    assert_eq!(sensor_counter(&harness, "upload_refused"), 2);
    harness.stop().await;
}

/// Many connections each within their own bound still share the sensor's memory: past
/// `max_upload_memory`, writes of any connection fail until an upload is stored.
#[tokio::test]
async fn uploads_in_progress_share_the_sensors_memory_bound() {
    use russh_sftp::protocol::{FileAttributes, OpenFlags};
    let harness = Harness::start(|h| h.limits.max_upload_memory = 100_000).await;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let one = logged_in(harness.addr).await;
    let two = logged_in(harness.addr).await;
    let sftp_one = raw_sftp(&one).await;
    let sftp_two = raw_sftp(&two).await;
    let a = sftp_one
        .open("/tmp/a", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    let b = sftp_two
        .open("/tmp/b", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    sftp_one.write(&a, 0, vec![1; 70_000]).await.unwrap();
    assert!(sftp_two.write(&b, 0, vec![2; 70_000]).await.is_err());
    assert_eq!(sensor_counter(&harness, "upload_refused"), 1);
    // The first upload is stored by digest: its memory is free for the other.
    sftp_one.close(&a).await.unwrap();
    sftp_two.write(&b, 0, vec![2; 70_000]).await.unwrap();
    sftp_two.close(&b).await.unwrap();
    // A connection that ends with a file still open gives its memory back too.
    let c = sftp_one
        .open("/tmp/c", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    sftp_one.write(&c, 0, vec![3; 90_000]).await.unwrap();
    one.disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    let d = sftp_two
        .open("/tmp/d", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    let mut stored = false;
    for _ in 0..100 {
        if sftp_two.write(&d, 0, vec![4; 90_000]).await.is_ok() {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored, "the ended connection's memory came back");
    harness.stop().await;
}

/// 6,000 port-forward requests once made 6,000 events: the first `max_forward_requests`
/// of a connection are recorded, all are refused, the rest are counted.
#[tokio::test]
async fn port_forward_requests_past_the_bound_are_refused_and_only_counted() {
    let harness = Harness::start(|h| h.limits.max_forward_requests = 3).await;
    let handle = logged_in(harness.addr).await;
    for port in 0..10u32 {
        let refused = handle
            .channel_open_direct_tcpip("10.0.0.1", 8000 + port, "127.0.0.1", 40000)
            .await;
        assert!(refused.is_err());
    }
    for port in 0..4u32 {
        let denied = handle.tcpip_forward("0.0.0.0", 9000 + port).await;
        assert!(denied.is_err(), "{denied:?}");
    }
    handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    let events = harness.wait_for("session.closed", |e| closed(e) == 1).await;
    let forwards = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PortForward { .. }))
        .count();
    assert_eq!(forwards, 3);
    assert_eq!(sensor_counter(&harness, "forward_unrecorded"), 11);
    harness.stop().await;
}

/// A 200 KB exec command was once dead-lettered ("over the limit of 65536"): it reaches
/// the sinks cut to the limit, with its full length and SHA-256.
#[tokio::test]
async fn a_huge_exec_command_is_kept_cut_with_its_length_and_digest() {
    let harness = Harness::start(|_| {}).await;
    let handle = logged_in(harness.addr).await;
    let command = format!("echo {}", "A".repeat(200_000));
    let _ = exec(&handle, &command).await;
    handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    let events = harness.wait_for("session.closed", |e| closed(e) == 1).await;
    let cut = events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::CommandInput { command } if command.starts_with("echo AAAA")))
        .expect("the command is stored");
    let EventKind::CommandInput { command: stored } = &cut.kind else {
        unreachable!()
    };
    assert_eq!(stored.len(), 65_536);
    assert_eq!(cut.truncated.len(), 1);
    assert_eq!(cut.truncated[0].field, "command");
    assert_eq!(cut.truncated[0].length, command.len() as u64);
    assert_eq!(cut.truncated[0].sha256, sha256_hex(command.as_bytes()));
    harness.stop().await;
}
