//! The part of the SSH handshake hpti does itself, before russh: the identification
//! exchange (answered as OpenSSH answers malformed ones) and a tap on the client's first
//! binary packet, its `KEXINIT`, for the HASSH fingerprint (russh does not expose the
//! client's algorithm lists).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::sync::oneshot;

/// Longest identification line (RFC 4253 §4.2: 255 characters with CR LF).
const MAX_ID_LINE: usize = 255;

/// Largest first packet inspected (RFC 4253 §6.1: 35,000 bytes).
const MAX_KEXINIT_PACKET: usize = 35_000;

/// What OpenSSH's sshd sends before closing on an identification line that is not
/// `SSH-2.0-...` (kex.c, `kex_exchange_identification`).
pub const INVALID_ID: &[u8] = b"Invalid SSH identification string.\r\n";

/// What sshd sends to an SSH-1 client.
pub const MAJOR_VERSION_DIFFERS: &[u8] = b"Protocol major versions differ.\r\n";

/// Why the identification exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client sent something other than an SSH-2 identification.
    #[error("invalid identification: {0:?}")]
    Invalid(String),
    /// The client speaks SSH-1.
    #[error("protocol major versions differ: {0:?}")]
    MajorVersion(String),
    /// Nothing, or not a whole line, within the time allowed.
    #[error("timed out during banner exchange")]
    Timeout,
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
}

/// The client's identification line and whatever it sent after it in the same reads
/// (usually the start of its `KEXINIT`, which clients send without waiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// The line, with its line end.
    pub line: Vec<u8>,
    /// Bytes read past the line; russh must see them, so the [`Tap`] replays them.
    pub rest: Vec<u8>,
}

/// Sends `banner` (`SSH-2.0-...`, no line end) and reads the client's identification
/// line. On a malformed one, answers as sshd does and returns the error.
pub async fn exchange_identification<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    banner: &str,
    timeout: Duration,
) -> Result<Identification, HandshakeError> {
    stream.write_all(format!("{banner}\r\n").as_bytes()).await?;
    let identification = match tokio::time::timeout(timeout, read_line(stream)).await {
        Ok(identification) => identification?,
        Err(_) => return Err(HandshakeError::Timeout),
    };
    let text = String::from_utf8_lossy(&identification.line).into_owned();
    let trimmed = text.trim_end_matches(['\r', '\n']);
    // A line cut at the limit is invalid whatever it starts with (sshd: "banner line too
    // long"), and judged the same however the client's bytes were split into reads.
    let whole = identification.line.ends_with(b"\n");
    if whole && (trimmed.starts_with("SSH-2.0-") || trimmed.starts_with("SSH-1.99-")) {
        return Ok(identification);
    }
    if whole && trimmed.starts_with("SSH-1.") {
        let _ = stream.write_all(MAJOR_VERSION_DIFFERS).await;
        let _ = stream.shutdown().await;
        return Err(HandshakeError::MajorVersion(trimmed.to_owned()));
    }
    let _ = stream.write_all(INVALID_ID).await;
    let _ = stream.shutdown().await;
    Err(HandshakeError::Invalid(trimmed.chars().take(80).collect()))
}

/// One line, LF-terminated, at most [`MAX_ID_LINE`] bytes (a longer one is returned
/// cut, and judged invalid), and the bytes read past it.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Identification> {
    // Whole reads, not a read per byte: the extra bytes go to russh through the tap, and
    // a handshake costs a few system calls instead of one per character of the line.
    let mut buffer = Vec::with_capacity(READ_CHUNK);
    let mut searched = 0;
    loop {
        let limit = buffer.len().min(MAX_ID_LINE);
        if let Some(end) = buffer[searched.min(limit)..limit]
            .iter()
            .position(|b| *b == b'\n')
        {
            return Ok(split_line(buffer, searched + end + 1));
        }
        if buffer.len() >= MAX_ID_LINE {
            return Ok(split_line(buffer, MAX_ID_LINE));
        }
        searched = buffer.len();
        if buffer.capacity() == buffer.len() {
            buffer.reserve(READ_CHUNK);
        }
        if stream.read_buf(&mut buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The line (the first `at` bytes, in a buffer of its own size: it is kept for the whole
/// connection) and the rest.
fn split_line(mut buffer: Vec<u8>, at: usize) -> Identification {
    let rest = buffer.split_off(at);
    buffer.shrink_to_fit();
    Identification { line: buffer, rest }
}

/// Bytes asked of the socket per read while waiting for the identification line: a
/// client's line and whole `KEXINIT` usually arrive together and fit.
const READ_CHUNK: usize = 2048;

/// The algorithm lists of a client's `KEXINIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexInit {
    /// Key exchange algorithms.
    pub kex: String,
    /// Host key algorithms.
    pub host_keys: String,
    /// Ciphers, client to server.
    pub encryption: String,
    /// MACs, client to server.
    pub mac: String,
    /// Compression, client to server.
    pub compression: String,
}

impl KexInit {
    /// The HASSH cleartext: `kex;encryption;mac;compression` (Salesforce's HASSH).
    pub fn hassh_algorithms(&self) -> String {
        format!(
            "{};{};{};{}",
            self.kex, self.encryption, self.mac, self.compression
        )
    }

    /// The HASSH fingerprint: MD5 of [`KexInit::hassh_algorithms`], lower-case hex.
    pub fn hassh(&self) -> String {
        format!("{:x}", md5::compute(self.hassh_algorithms()))
    }

    /// Parses a binary packet (`uint32 length, byte padding, payload, padding`) holding
    /// `SSH_MSG_KEXINIT`.
    pub fn parse_packet(packet: &[u8]) -> Option<Self> {
        let length = u32::from_be_bytes(packet.get(..4)?.try_into().ok()?) as usize;
        let padding = usize::from(*packet.get(4)?);
        let payload = packet
            .get(5..4 + length)?
            .get(..length.checked_sub(padding + 1)?)?;
        if *payload.first()? != 20 {
            return None;
        }
        let mut rest = payload.get(17..)?;
        let mut next = || -> Option<String> {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let value = rest.get(4..4 + len)?;
            rest = rest.get(4 + len..)?;
            Some(String::from_utf8_lossy(value).into_owned())
        };
        let kex = next()?;
        let host_keys = next()?;
        let encryption = next()?;
        let _encryption_s2c = next()?;
        let mac = next()?;
        let _mac_s2c = next()?;
        let compression = next()?;
        Some(Self {
            kex,
            host_keys,
            encryption,
            mac,
            compression,
        })
    }
}

/// The stream russh runs on: replays the identification line hpti already read,
/// swallows russh's own copy of the banner hpti already sent, and hands the client's
/// first packet (its `KEXINIT`) to a [`oneshot`] once whole.
pub struct Tap<S> {
    inner: S,
    replay: Vec<u8>,
    replayed: usize,
    swallow: usize,
    sniff: Option<(Vec<u8>, oneshot::Sender<KexInit>)>,
}

impl<S> Tap<S> {
    /// Wraps `inner`; the client's identification (line and the bytes read past it) is
    /// replayed to russh, the first `banner_len` bytes russh writes are dropped.
    pub fn new(
        inner: S,
        identification: Identification,
        banner_len: usize,
    ) -> (Self, oneshot::Receiver<KexInit>) {
        let (tx, rx) = oneshot::channel();
        let Identification { mut line, rest } = identification;
        line.extend_from_slice(&rest);
        let mut tap = Self {
            inner,
            replay: line,
            replayed: 0,
            swallow: banner_len,
            sniff: Some((Vec::with_capacity(2048), tx)),
        };
        tap.observe(&rest);
        (tap, rx)
    }

    fn observe(&mut self, bytes: &[u8]) {
        let Some((buffer, _)) = &mut self.sniff else {
            return;
        };
        buffer.extend_from_slice(
            &bytes[..bytes
                .len()
                .min(MAX_KEXINIT_PACKET + 4 - buffer.len().min(MAX_KEXINIT_PACKET + 4))],
        );
        if buffer.len() < 4 {
            return;
        }
        let length = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
        if length > MAX_KEXINIT_PACKET {
            self.sniff = None;
            return;
        }
        if buffer.len() >= length + 4
            && let Some((buffer, tx)) = self.sniff.take()
            && let Some(kexinit) = KexInit::parse_packet(&buffer)
        {
            let _ = tx.send(kexinit);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.replay.len() {
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            if this.replayed == this.replay.len() {
                // Read once; the tap lives as long as the connection.
                this.replay = Vec::new();
                this.replayed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result
            && this.sniff.is_some()
        {
            let new = buf.filled()[before..].to_vec();
            this.observe(&new);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.swallow > 0 {
            let n = self.swallow.min(buf.len());
            self.swallow -= n;
            return Poll::Ready(Ok(n));
        }
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn name_list(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }

    pub(crate) fn kexinit_packet() -> Vec<u8> {
        let mut payload = vec![20u8];
        payload.extend_from_slice(&[7u8; 16]);
        for list in [
            "curve25519-sha256,ext-info-c",
            "ssh-ed25519",
            "chacha20-poly1305@openssh.com,aes128-ctr",
            "chacha20-poly1305@openssh.com,aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none,zlib@openssh.com",
            "none",
            "",
            "",
        ] {
            name_list(&mut payload, list);
        }
        payload.extend_from_slice(&[0, 0, 0, 0, 0]);
        let padding = 8 - (payload.len() + 5) % 8 + 4;
        let mut packet = Vec::new();
        packet.extend_from_slice(&((payload.len() + padding + 1) as u32).to_be_bytes());
        packet.push(padding as u8);
        packet.extend_from_slice(&payload);
        packet.extend(std::iter::repeat_n(0u8, padding));
        packet
    }

    #[test]
    fn kexinit_gives_hassh() {
        let kexinit = KexInit::parse_packet(&kexinit_packet()).unwrap();
        assert_eq!(
            kexinit.hassh_algorithms(),
            "curve25519-sha256,ext-info-c;chacha20-poly1305@openssh.com,aes128-ctr;hmac-sha2-256;none,zlib@openssh.com"
        );
        assert_eq!(
            kexinit.hassh(),
            format!("{:x}", md5::compute(kexinit.hassh_algorithms()))
        );
        assert_eq!(kexinit.hassh().len(), 32);
    }

    #[test]
    fn truncated_or_foreign_packets_are_not_kexinit() {
        let packet = kexinit_packet();
        for cut in 0..packet.len() - 1 {
            // Cutting into the padding leaves a whole payload; anything shorter fails.
            let _ = KexInit::parse_packet(&packet[..cut]);
        }
        let mut other = packet.clone();
        other[5] = 21;
        assert_eq!(KexInit::parse_packet(&other), None);
        assert_eq!(KexInit::parse_packet(&[0xff; 8]), None);
    }

    #[tokio::test]
    async fn malformed_identifications_get_sshd_answers() {
        let too_long = [&b"SSH-2.0-"[..], &[b'A'; 300], b"\r\n"].concat();
        for (input, answer) in [
            (&b"GET / HTTP/1.1\r\n"[..], INVALID_ID),
            (b"\r\n", INVALID_ID),
            (b"SSH-1.5-old\r\n", MAJOR_VERSION_DIFFERS),
            // Longer than RFC 4253 allows, line end included (found by the fuzz target:
            // whole in one read it used to pass).
            (&too_long, INVALID_ID),
        ] {
            let (mut client, mut server) = tokio::io::duplex(1024);
            client.write_all(input).await.unwrap();
            let result = exchange_identification(
                &mut server,
                "SSH-2.0-OpenSSH_9.2p1",
                Duration::from_secs(5),
            )
            .await;
            assert!(result.is_err());
            drop(server);
            let mut seen = Vec::new();
            client.read_to_end(&mut seen).await.unwrap();
            assert_eq!(seen, [&b"SSH-2.0-OpenSSH_9.2p1\r\n"[..], answer].concat());
        }
        let (mut client, mut server) = tokio::io::duplex(1024);
        client
            .write_all(b"SSH-2.0-Go\r\n\x00\x00\x00\x0c")
            .await
            .unwrap();
        let identification =
            exchange_identification(&mut server, "SSH-2.0-X", Duration::from_secs(5))
                .await
                .unwrap();
        assert_eq!(identification.line, b"SSH-2.0-Go\r\n");
        assert_eq!(identification.rest, b"\x00\x00\x00\x0c");
    }

    #[tokio::test]
    async fn the_tap_replays_swallows_and_sniffs() {
        let (mut client, server) = tokio::io::duplex(65536);
        let identification = Identification {
            line: b"SSH-2.0-c\r\n".to_vec(),
            rest: Vec::new(),
        };
        let (mut tap, rx) = Tap::new(server, identification, 5);
        client.write_all(&kexinit_packet()).await.unwrap();
        let mut first = vec![0u8; 11];
        tap.read_exact(&mut first).await.unwrap();
        assert_eq!(first, b"SSH-2.0-c\r\n");
        let mut packet = vec![0u8; kexinit_packet().len()];
        tap.read_exact(&mut packet).await.unwrap();
        assert_eq!(
            rx.await.unwrap().encryption,
            "chacha20-poly1305@openssh.com,aes128-ctr"
        );
        tap.write_all(b"HELLOworld").await.unwrap();
        drop(tap);
        let mut seen = Vec::new();
        client.read_to_end(&mut seen).await.unwrap();
        assert_eq!(seen, b"world");
    }

    /// A client that sends its line and `KEXINIT` in one write, the way OpenSSH does,
    /// split at every possible point between reads: russh sees every byte once, in order,
    /// and the `KEXINIT` is still sniffed.
    #[tokio::test]
    async fn bytes_read_past_the_line_reach_russh_and_the_sniffer() {
        let wire = [&b"SSH-2.0-c\r\n"[..], &kexinit_packet()].concat();
        for split in [1, 5, 11, 12, 40, wire.len()] {
            let (mut client, mut server) = tokio::io::duplex(65536);
            client.write_all(&wire[..split]).await.unwrap();
            let identification =
                exchange_identification(&mut server, "SSH-2.0-X", Duration::from_secs(5));
            let writer = async {
                tokio::task::yield_now().await;
                client.write_all(&wire[split..]).await.unwrap();
                client
            };
            let (identification, client) = tokio::join!(identification, writer);
            let identification = identification.unwrap();
            assert_eq!(identification.line, b"SSH-2.0-c\r\n", "split {split}");
            let (mut tap, rx) = Tap::new(server, identification, 0);
            let mut seen = vec![0u8; wire.len()];
            tap.read_exact(&mut seen).await.unwrap();
            assert_eq!(seen, wire, "split {split}");
            assert_eq!(
                rx.await.unwrap().kex,
                KexInit::parse_packet(&kexinit_packet()).unwrap().kex
            );
            drop(client);
        }
    }
}
