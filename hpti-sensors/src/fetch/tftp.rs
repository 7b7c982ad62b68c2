//! A minimal TFTP client (RFC 1350): one read request, octet mode, 512-byte blocks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::FetchError;

const BLOCK: usize = 512;
const OP_RRQ: u16 = 1;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
/// Disk full or allocation exceeded: what we tell a server whose file is too large.
const ERR_DISK_FULL: u16 = 3;

/// How long to wait for a packet before sending the last one again, and how often.
/// The caller's overall timeout bounds the whole transfer anyway.
pub(crate) const RETRANSMIT_AFTER: Duration = Duration::from_secs(2);
const RETRIES: u32 = 4;

fn packet(opcode: u16, rest: &[&[u8]]) -> Vec<u8> {
    let mut out = opcode.to_be_bytes().to_vec();
    for part in rest {
        out.extend_from_slice(part);
    }
    out
}

fn ack(block: u16) -> Vec<u8> {
    packet(OP_ACK, &[&block.to_be_bytes()])
}

fn io_error(e: std::io::Error) -> FetchError {
    FetchError::Connect(e.to_string())
}

/// Downloads `filename` from the server at `server` (already checked by the guard),
/// keeping at most `max_bytes`.
pub(crate) async fn fetch(
    server: SocketAddr,
    filename: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, FetchError> {
    if filename.is_empty() || filename.len() > 255 || filename.contains('\0') {
        return Err(FetchError::BadUrl(
            "TFTP file name must be 1 to 255 bytes without NUL".to_owned(),
        ));
    }
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((local, 0)).await.map_err(io_error)?;
    let mut last_sent = packet(OP_RRQ, &[filename.as_bytes(), b"\0octet\0"]);
    // The server answers from a fresh port (its transfer ID); until then we talk to
    // port 69 (or whatever the URL said).
    let mut peer = server;
    let mut transfer_id: Option<SocketAddr> = None;
    socket.send_to(&last_sent, peer).await.map_err(io_error)?;

    let mut data = Vec::new();
    let mut expected: u16 = 1;
    let mut retries = 0;
    let mut buf = [0u8; 4 + BLOCK + 1];
    loop {
        let (len, from) =
            match tokio::time::timeout(RETRANSMIT_AFTER, socket.recv_from(&mut buf)).await {
                Err(_) => {
                    retries += 1;
                    if retries > RETRIES {
                        return Err(FetchError::Timeout);
                    }
                    socket.send_to(&last_sent, peer).await.map_err(io_error)?;
                    continue;
                }
                Ok(received) => received.map_err(io_error)?,
            };
        // Only the server we asked, and once it picked a port, only that port.
        if from.ip() != server.ip() || transfer_id.is_some_and(|tid| tid != from) {
            continue;
        }
        let Some(packet) = buf.get(..len) else {
            continue;
        };
        let Some((head, payload)) = packet.split_first_chunk::<4>() else {
            continue;
        };
        let opcode = u16::from_be_bytes([head[0], head[1]]);
        let number = u16::from_be_bytes([head[2], head[3]]);
        match opcode {
            OP_DATA => {
                if payload.len() > BLOCK {
                    return Err(FetchError::Protocol(format!(
                        "TFTP data block of {} bytes",
                        payload.len()
                    )));
                }
                if transfer_id.is_none() {
                    transfer_id = Some(from);
                    peer = from;
                }
                if number == expected {
                    if (data.len() + payload.len()) as u64 > max_bytes {
                        let error = packet_error(ERR_DISK_FULL, "file too large");
                        let _ = socket.send_to(&error, peer).await;
                        return Err(FetchError::TooLarge { limit: max_bytes });
                    }
                    data.extend_from_slice(payload);
                    last_sent = ack(number);
                    socket.send_to(&last_sent, peer).await.map_err(io_error)?;
                    retries = 0;
                    if payload.len() < BLOCK {
                        return Ok(data);
                    }
                    // Block numbers roll over after 65535 in common implementations.
                    expected = expected.wrapping_add(1);
                } else if number == expected.wrapping_sub(1) && !data.is_empty() {
                    // Our ACK was lost: acknowledge the duplicate again.
                    socket.send_to(&ack(number), peer).await.map_err(io_error)?;
                }
            }
            OP_ERROR => {
                let text = payload.split(|&b| b == 0).next().unwrap_or_default();
                return Err(FetchError::Protocol(format!(
                    "TFTP error {number}: {}",
                    String::from_utf8_lossy(text)
                )));
            }
            _ => {}
        }
    }
}

fn packet_error(code: u16, message: &str) -> Vec<u8> {
    packet(OP_ERROR, &[&code.to_be_bytes(), message.as_bytes(), b"\0"])
}
