//! TLS for the sensors (HTTPS, FTP's `AUTH TLS`): the certificate (given, or a
//! self-signed one made once), and the client's hello read first (its server name and
//! its JA4 fingerprint are taken from the raw bytes), then replayed into rustls.
//!
//! JA4 (FoxIO's, the successor of JA3) as specified in
//! <https://github.com/FoxIO-LLC/ja4/blob/main/technical_details/JA4.md>: `t` (TCP),
//! the highest offered TLS version, `d`/`i` (a server name or not), the counts of cipher
//! suites and extensions, the first and last characters of the first ALPN value; then
//! the first 12 hex digits of the SHA-256 of the sorted cipher suites, and of the sorted
//! extensions (without SNI and ALPN) followed by the signature algorithms in their
//! order. GREASE values are ignored everywhere. Only the TCP form (`t`) is built: the
//! sensor has no QUIC listener.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;

/// `tls = { cert, key }`: the certificate chain and key (PEM); with neither, a
/// self-signed certificate for the persona's host name is made once and kept in the
/// data directory (`tls/<sensor>.crt`), as Debian's `ssl-cert` makes its "snakeoil" one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// The private key (PEM).
    pub key: Option<PathBuf>,
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// Only one of `cert` and `key` is given.
    #[error("tls needs both `cert` and `key`, or neither (a self-signed certificate)")]
    Incomplete,
    /// A file cannot be read or parsed.
    #[error("{key}: {path}: {detail}")]
    File {
        /// `cert` or `key`.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The self-signed certificate cannot be made or kept.
    #[error("self-signed certificate: {0}")]
    SelfSigned(String),
    /// rustls refused the certificate and key.
    #[error("{0}")]
    Config(String),
}

/// The rustls configuration of `config`: TLS 1.2 and 1.3, the ALPN protocols `alpn`
/// (`http/1.1` for a stock Apache without mod_http2; none for vsftpd).
pub fn server_config(
    config: &TlsConfig,
    data_dir: &Path,
    sensor: &str,
    hostname: &str,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    server_config_with(
        config,
        data_dir,
        sensor,
        hostname,
        alpn,
        rustls::crypto::ring::default_provider(),
    )
}

/// What Debian's vsftpd (OpenSSL 3.0 with vsftpd's built-in cipher list) accepts, as
/// captured (`testdata/ftp/vsftpd-3.0.3/NOTES.md`): TLS 1.3's three suites, the one
/// TLS 1.2 suite `ECDHE-RSA-AES256-GCM-SHA384` (its ECDSA twin for the self-signed
/// certificate, whose key is ECDSA: ring makes no RSA keys), and only the P-256 group,
/// so that a client offering X25519 first is asked again (a HelloRetryRequest) as
/// vsftpd asks it.
pub fn vsftpd_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{cipher_suite, default_provider, kx_group};
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::SECP256R1],
        ..default_provider()
    }
}

/// [`server_config`] with the cipher suites and groups of `provider`.
pub fn server_config_with(
    config: &TlsConfig,
    data_dir: &Path,
    sensor: &str,
    hostname: &str,
    alpn: &[&[u8]],
    provider: rustls::crypto::CryptoProvider,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert_path, key_path) = match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => (data_dir.join(cert), data_dir.join(key)),
        (None, None) => self_signed(data_dir, sensor, hostname)?,
        _ => return Err(TlsSetupError::Incomplete),
    };
    let file_error = |key: &'static str, path: &Path, detail: String| TlsSetupError::File {
        key,
        path: path.display().to_string(),
        detail,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| file_error("cert", &cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(
            "cert",
            &cert_path,
            "no certificate in it".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| file_error("key", &key_path, e.to_string()))?;
    let provider = Arc::new(provider);
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsSetupError::Config(e.to_string()))?;
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Stateless session tickets, as OpenSSL servers (Apache's mod_ssl, vsftpd) issue
    // them: a client may resume with one ticket more than once, as lftp does for each
    // FTP data connection (rustls' own cache hands out single-use TLS 1.3 tickets).
    server.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| TlsSetupError::Config(e.to_string()))?;
    Ok(Arc::new(server))
}

/// The kept self-signed certificate's files, made on first use.
fn self_signed(
    data_dir: &Path,
    sensor: &str,
    hostname: &str,
) -> Result<(PathBuf, PathBuf), TlsSetupError> {
    let dir = data_dir.join("tls");
    let cert = dir.join(format!("{sensor}.crt"));
    let key = dir.join(format!("{sensor}.key"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let failed = |e: &dyn std::fmt::Display| TlsSetupError::SelfSigned(e.to_string());
    std::fs::create_dir_all(&dir).map_err(|e| failed(&e))?;
    let mut params =
        rcgen::CertificateParams::new(vec![hostname.to_owned()]).map_err(|e| failed(&e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    // ssl-cert's snakeoil certificate is valid for ten years from its making.
    {
        use chrono::Datelike as _;
        let today = chrono::Utc::now().date_naive();
        let (year, month, day) = (today.year(), today.month() as u8, today.day().min(28) as u8);
        params.not_before = rcgen::date_time_ymd(year, month, day);
        params.not_after = rcgen::date_time_ymd(year + 10, month, day);
    }
    // ring makes no RSA keys: an ECDSA P-256 key (ssl-cert's is RSA 2048).
    let key_pair = rcgen::KeyPair::generate().map_err(|e| failed(&e))?;
    let certificate = params.self_signed(&key_pair).map_err(|e| failed(&e))?;
    write_private(&key, key_pair.serialize_pem().as_bytes()).map_err(|e| failed(&e))?;
    std::fs::write(&cert, certificate.pem()).map_err(|e| failed(&e))?;
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// What the client's hello says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelloFacts {
    /// The server name asked for (SNI).
    pub sni: Option<String>,
    /// The JA4 fingerprint.
    pub ja4: String,
}

/// Most bytes read while looking for a whole ClientHello.
const MAX_HELLO: usize = 16 * 1024;

/// Reads the first TLS record(s) until the whole ClientHello is there (or it cannot
/// be one). Returns every byte read, to be replayed into the TLS library, and the
/// hello's facts when it parsed.
pub async fn read_client_hello<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<(Vec<u8>, Option<HelloFacts>)> {
    let mut raw = Vec::with_capacity(1024);
    let mut handshake = Vec::new();
    loop {
        // One record header.
        while raw.len() < record_end(&raw).unwrap_or(5).min(MAX_HELLO) {
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok((raw, None));
            }
            raw.extend_from_slice(&chunk[..n]);
            if raw.len() >= 5 && raw[0] != 0x16 {
                return Ok((raw, None));
            }
        }
        // Gather the handshake bytes of every complete record read so far.
        handshake.clear();
        let mut at = 0;
        while let Some(end) = record_end(&raw[at..]).map(|e| at + e) {
            if end > raw.len() || raw[at] != 0x16 {
                break;
            }
            handshake.extend_from_slice(&raw[at + 5..end]);
            at = end;
        }
        if handshake.len() >= 4 {
            let length = 4
                + usize::from(handshake[1]) * 65536
                + usize::from(handshake[2]) * 256
                + usize::from(handshake[3]);
            if handshake[0] != 1 {
                return Ok((raw, None));
            }
            if handshake.len() >= length {
                return Ok((raw.clone(), client_hello(&handshake[4..length])));
            }
        }
        if raw.len() >= MAX_HELLO {
            return Ok((raw, None));
        }
        // Next record.
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok((raw, None));
        }
        raw.extend_from_slice(&chunk[..n]);
    }
}

/// The end of the record starting at `buf[0]`, when its header is there.
fn record_end(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 5).then(|| 5 + usize::from(buf[3]) * 256 + usize::from(buf[4]))
}

fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && (value >> 8) == (value & 0xff)
}

/// A cursor over a ClientHello body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn u16s(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
}

/// The facts of a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Option<HelloFacts> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    r.take(32)?; // random
    r.vec8()?; // session id
    let ciphers: Vec<u16> = u16s(r.vec16()?).filter(|c| !is_grease(*c)).collect();
    r.vec8()?; // compression methods
    let mut extensions = Vec::new();
    let mut sni = None;
    let mut alpn_first: Option<Vec<u8>> = None;
    let mut signature_algorithms = Vec::new();
    let mut versions = Vec::new();
    if let Some(ext_bytes) = r.vec16() {
        let mut e = Reader(ext_bytes);
        while !e.0.is_empty() {
            let kind = e.u16()?;
            let data = e.vec16()?;
            if is_grease(kind) {
                continue;
            }
            extensions.push(kind);
            let mut d = Reader(data);
            match kind {
                0x0000 => {
                    // server_name_list: type (0 = host_name), name.
                    let mut list = Reader(d.vec16()?);
                    if list.u8()? == 0 {
                        sni = Some(String::from_utf8_lossy(list.vec16()?).into_owned());
                    }
                }
                0x0010 => {
                    let mut list = Reader(d.vec16()?);
                    alpn_first = list.vec8().map(<[u8]>::to_vec);
                }
                0x000d => {
                    signature_algorithms = u16s(d.vec16()?).filter(|s| !is_grease(*s)).collect();
                }
                0x002b => {
                    versions = u16s(d.vec8()?).filter(|v| !is_grease(*v)).collect();
                }
                _ => {}
            }
        }
    }
    let version = versions.iter().copied().max().unwrap_or(legacy_version);
    let version = match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        _ => "00",
    };
    let alpn = match alpn_first.as_deref() {
        None | Some([]) => "00".to_owned(),
        Some(value) => {
            let (first, last) = (value[0], value[value.len() - 1]);
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
                format!("{}{}", first as char, last as char)
            } else {
                let hex = format!("{first:02x}{last:02x}");
                format!("{}{}", &hex[..1], &hex[3..])
            }
        }
    };
    let a = format!(
        "t{version}{}{:02}{:02}{alpn}",
        if sni.is_some() { 'd' } else { 'i' },
        ciphers.len().min(99),
        extensions.len().min(99)
    );
    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let b = truncated_hash(&hex_list(&sorted_ciphers));
    let mut sorted_extensions: Vec<u16> = extensions
        .iter()
        .copied()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    sorted_extensions.sort_unstable();
    let c_input = if signature_algorithms.is_empty() {
        hex_list(&sorted_extensions)
    } else {
        format!(
            "{}_{}",
            hex_list(&sorted_extensions),
            hex_list(&signature_algorithms)
        )
    };
    let c = if sorted_extensions.is_empty() && signature_algorithms.is_empty() {
        "000000000000".to_owned()
    } else {
        truncated_hash(&c_input)
    };
    Some(HelloFacts {
        sni,
        ja4: format!("{a}_{b}_{c}"),
    })
}

fn hex_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn truncated_hash(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A stream that first yields bytes already read from it.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `prefix`, then `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            at: 0,
            inner,
        }
    }

    /// The bytes of the prefix not read yet, and the inner stream.
    pub fn into_parts(mut self) -> (Vec<u8>, S) {
        let unread = self.prefix.split_off(self.at.min(self.prefix.len()));
        (unread, self.inner)
    }

    /// The inner stream (a write to it bypasses nothing: the prefix is only read).
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello assembled by hand: TLS 1.3 offered in supported_versions, GREASE
    /// in ciphers and extensions, SNI, ALPN h2, two signature algorithms.
    fn hello() -> Vec<u8> {
        let mut ext = Vec::new();
        let mut push = |kind: u16, data: &[u8]| {
            ext.extend_from_slice(&kind.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(data);
        };
        push(0x0a0a, &[]); // GREASE
        let name = b"example.com";
        let mut sni = vec![0, (name.len() + 3) as u8, 0, 0, name.len() as u8];
        sni.extend_from_slice(name);
        push(0x0000, &sni);
        push(
            0x0010,
            &[0, 9, 2, b'h', b'2', 6, b'h', b't', b't', b'p', b'/'],
        );
        push(0x000d, &[0, 4, 0x04, 0x03, 0x08, 0x04]);
        push(0x002b, &[4, 0x03, 0x04, 0x03, 0x03]);
        push(0x0017, &[]);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 6, 0x1a, 0x1a, 0x13, 0x01, 0xc0, 0x2b]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        body
    }

    #[test]
    fn ja4_of_a_hand_made_hello() {
        let facts = client_hello(&hello()).unwrap();
        assert_eq!(facts.sni.as_deref(), Some("example.com"));
        // Computed by hand from the specification:
        //   a: t, 13, d, 2 ciphers (GREASE out), 5 extensions (GREASE out), ALPN "h2".
        //   b: sha256("1301,c02b")[:12]
        //   c: sha256("000d,0017,002b_0403,0804")[:12]
        let b = truncated_hash("1301,c02b");
        let c = truncated_hash("000d,0017,002b_0403,0804");
        assert_eq!(facts.ja4, format!("t13d0205h2_{b}_{c}"));
        assert_eq!(b.len(), 12);
    }

    /// A Chrome 143 hello as tls.browserleaks.com reported it (its JA4, and the
    /// original orders of its `ja4_ro`): an independent implementation's answer.
    #[test]
    fn ja4_matches_an_independent_implementation() {
        let ciphers = [
            0x1301u16, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
            0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let extensions = [
            0x002du16, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b,
            0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b,
        ];
        let signatures = [
            0x0403u16, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let mut ext = Vec::new();
        // Chrome puts GREASE first and last.
        ext.extend_from_slice(&[0x3a, 0x3a, 0, 0]);
        for kind in extensions {
            let data: Vec<u8> = match kind {
                0x0000 => {
                    let name = b"tls.browserleaks.com";
                    let mut d = vec![0, (name.len() + 3) as u8, 0, 0, name.len() as u8];
                    d.extend_from_slice(name);
                    d
                }
                0x0010 => vec![
                    0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
                ],
                0x000d => {
                    let mut d = vec![0, (signatures.len() * 2) as u8];
                    for s in signatures {
                        d.extend_from_slice(&s.to_be_bytes());
                    }
                    d
                }
                0x002b => vec![6, 0xda, 0xda, 0x03, 0x04, 0x03, 0x03],
                _ => Vec::new(),
            };
            ext.extend_from_slice(&kind.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(&data);
        }
        ext.extend_from_slice(&[0x4a, 0x4a, 0, 1, 0]);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[9; 32]);
        body.push(0);
        let mut suites = vec![0x8a, 0x8a];
        for c in ciphers {
            suites.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&(suites.len() as u16).to_be_bytes());
        body.extend_from_slice(&suites);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let facts = client_hello(&body).unwrap();
        assert_eq!(facts.ja4, "t13d1516h2_8daaf6152771_d8a2da3f94cd");
        assert_eq!(facts.sni.as_deref(), Some("tls.browserleaks.com"));
    }

    #[test]
    fn grease_is_recognised() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x1a1a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn truncated_hellos_do_not_panic() {
        let full = hello();
        for n in 0..full.len() {
            let _ = client_hello(&full[..n]);
        }
    }

    #[tokio::test]
    async fn a_hello_split_over_records_is_read_whole() {
        let body = hello();
        let mut handshake = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        handshake.extend_from_slice(&body);
        let (first, second) = handshake.split_at(20);
        let mut wire = Vec::new();
        for part in [first, second] {
            wire.extend_from_slice(&[0x16, 0x03, 0x01]);
            wire.extend_from_slice(&(part.len() as u16).to_be_bytes());
            wire.extend_from_slice(part);
        }
        wire.extend_from_slice(b"rest");
        let mut stream = &wire[..];
        let (raw, facts) = read_client_hello(&mut stream).await.unwrap();
        assert!(wire.starts_with(&raw));
        assert_eq!(facts.unwrap().sni.as_deref(), Some("example.com"));
    }
}
