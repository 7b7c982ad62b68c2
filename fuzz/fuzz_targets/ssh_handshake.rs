//! The pre-russh SSH handshake (hpti-sensors/src/ssh/handshake.rs) on hostile bytes:
//! the `KEXINIT` parser, the identification exchange and the tap that replays it to
//! russh. Never panics, never stalls on a closed stream, and:
//!
//! * `KexInit::parse_packet` reads back what a well-formed packet holds, looks only at
//!   the packet's announced length, and its HASSH is 32 lower-case hex digits;
//! * `exchange_identification` fails with EOF exactly when the input has no line end and
//!   is shorter than 255 bytes; on success `line` ends with LF (its only one) within the
//!   first 255 bytes, `line + rest` is a prefix of the input, and the client sees only
//!   the banner; on refusal it sees the banner and sshd's message;
//! * through the [`Tap`], russh reads exactly the bytes the client sent, russh's banner is
//!   swallowed, and the sniffed `KEXINIT` is what `parse_packet` makes of the first packet.
//!
//! Input: `mode, bytes...`. The whole input is also parsed as a packet. Mode bit 7 set:
//! a duplex buffer larger than the input (one read gets everything); clear: a buffer of
//! `1 + (mode & 63)` bytes (many short reads; input cut to 4 KiB to bound the work).
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[path = "../../hpti-sensors/src/ssh/handshake.rs"]
#[allow(dead_code, unreachable_pub)]
mod handshake;

use handshake::{
    HandshakeError, INVALID_ID, Identification, KexInit, MAJOR_VERSION_DIFFERS, Tap,
    exchange_identification,
};

const BANNER: &str = "SSH-2.0-OpenSSH_9.2p1";
/// MAX_ID_LINE.
const MAX_ID_LINE: usize = 255;
/// MAX_KEXINIT_PACKET.
const MAX_KEXINIT_PACKET: usize = 35_000;

thread_local! {
    /// Paused clock: time advances only when every task waits, so a stall shows as an
    /// immediate `Timeout` instead of a hang, and a real timeout never fires spuriously.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
}

fn check_kexinit(k: &KexInit) {
    let algorithms = k.hassh_algorithms();
    assert_eq!(
        algorithms,
        format!("{};{};{};{}", k.kex, k.encryption, k.mac, k.compression)
    );
    let hassh = k.hassh();
    assert_eq!(hassh.len(), 32);
    assert!(
        hassh
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

fn parse_packet(data: &[u8]) {
    let Some(k) = KexInit::parse_packet(data) else {
        return;
    };
    check_kexinit(&k);
    // Only the announced packet counts: bytes after it change nothing.
    let length = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    assert!(data.len() >= 4 + length);
    assert_eq!(data[5], 20, "SSH_MSG_KEXINIT");
    assert_eq!(
        KexInit::parse_packet(&data[..4 + length]).as_ref(),
        Some(&k)
    );
}

fn name_list(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A well-formed packet (as the unit test's `kexinit_packet` builds it) with the input's
/// lines as name-lists reads back as those lists.
fn round_trip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lists: Vec<&str> = text.split('\n').take(10).collect();
    lists.resize(10, "");
    let mut payload = vec![20u8];
    payload.extend_from_slice(&[7u8; 16]);
    for list in &lists {
        name_list(&mut payload, list);
    }
    payload.extend_from_slice(&[0, 0, 0, 0, 0]);
    let padding = 4 + data.len() % 250;
    let mut packet = Vec::with_capacity(payload.len() + padding + 5);
    packet.extend_from_slice(&((payload.len() + padding + 1) as u32).to_be_bytes());
    packet.push(padding as u8);
    packet.extend_from_slice(&payload);
    packet.extend(std::iter::repeat_n(0u8, padding));
    let k = KexInit::parse_packet(&packet).expect("well-formed KEXINIT");
    assert_eq!(k.kex, lists[0]);
    assert_eq!(k.host_keys, lists[1]);
    assert_eq!(k.encryption, lists[2]);
    assert_eq!(k.mac, lists[4]);
    assert_eq!(k.compression, lists[6]);
    check_kexinit(&k);
    // A packet cut short is not a KEXINIT.
    assert_eq!(KexInit::parse_packet(&packet[..packet.len() - 1]), None);
}

/// What the tap must sniff from the bytes after the identification line.
fn expected_sniff(after: &[u8]) -> Option<KexInit> {
    let length = u32::from_be_bytes(after.get(..4)?.try_into().ok()?) as usize;
    if length > MAX_KEXINIT_PACKET || after.len() < length + 4 {
        return None;
    }
    KexInit::parse_packet(after)
}

fn exchange(mode: u8, input: &[u8]) {
    let (capacity, input) = if mode & 0x80 != 0 {
        (input.len().max(256), input)
    } else {
        (1 + usize::from(mode & 63), &input[..input.len().min(4096)])
    };
    let input: Arc<[u8]> = input.into();
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let (client, mut server) = tokio::io::duplex(capacity);
            let (mut client_read, mut client_write) = tokio::io::split(client);
            let sent = Arc::clone(&input);
            let writer = tokio::spawn(async move {
                // Fails with BrokenPipe once the server side is gone: fine.
                let _ = client_write.write_all(&sent).await;
                let _ = client_write.shutdown().await;
            });
            let reader = tokio::spawn(async move {
                let mut seen = Vec::new();
                client_read
                    .read_to_end(&mut seen)
                    .await
                    .expect("client read");
                seen
            });

            let result =
                exchange_identification(&mut server, BANNER, Duration::from_secs(10)).await;
            let greeting = format!("{BANNER}\r\n").into_bytes();
            let eof = !input.contains(&b'\n') && input.len() < MAX_ID_LINE;
            let expected_output = match result {
                Ok(Identification { line, rest }) => {
                    assert!(!eof);
                    let newline = line.iter().position(|&b| b == b'\n');
                    // A line cut at the limit is refused however the bytes were split
                    // into reads (this target found a whole-read long line accepted).
                    assert_eq!(newline.map(|at| at + 1), Some(line.len()), "one line end, last");
                    assert!(line.len() <= MAX_ID_LINE);
                    assert!(line.starts_with(b"SSH-2.0-") || line.starts_with(b"SSH-1.99-"));
                    assert!(input.starts_with(&line));
                    assert!(input[line.len()..].starts_with(&rest));

                    let expected = expected_sniff(&input[line.len()..]);
                    let identification = Identification { line, rest };
                    let (mut tap, sniffed) = Tap::new(server, identification, BANNER.len() + 2);
                    let mut replayed = Vec::new();
                    tap.read_to_end(&mut replayed).await.expect("tap read");
                    assert!(
                        replayed[..] == input[..],
                        "russh sees every byte once, in order"
                    );
                    // russh writes its own banner: swallowed; what follows goes through.
                    tap.write_all(format!("{BANNER}\r\nafter").as_bytes())
                        .await
                        .expect("tap write");
                    drop(tap);
                    assert_eq!(sniffed.await.ok(), expected);
                    [&greeting[..], b"after"].concat()
                }
                Err(HandshakeError::Io(error)) => {
                    assert!(eof, "{error}");
                    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
                    drop(server);
                    greeting
                }
                Err(HandshakeError::Invalid(text)) => {
                    assert!(!eof);
                    assert!(text.chars().count() <= 80);
                    drop(server);
                    [&greeting[..], INVALID_ID].concat()
                }
                Err(HandshakeError::MajorVersion(text)) => {
                    assert!(!eof);
                    assert!(text.starts_with("SSH-1."));
                    drop(server);
                    [&greeting[..], MAJOR_VERSION_DIFFERS].concat()
                }
                Err(HandshakeError::Timeout) => {
                    panic!("stalled on a closed, fully written stream")
                }
            };
            writer.await.expect("writer task");
            let seen = reader.await.expect("reader task");
            assert_eq!(seen, expected_output);
        });
    });
}

fuzz_target!(|data: &[u8]| {
    parse_packet(data);
    round_trip(data);
    if let Some((&mode, rest)) = data.split_first() {
        exchange(mode, rest);
    }
});
