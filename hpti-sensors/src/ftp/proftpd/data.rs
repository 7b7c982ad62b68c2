//! Data connections (PASV/EPSV/PORT/EPRT with ProFTPD's bounce rules) and the
//! transfers: RETR with REST and RANG, STOR/STOU (APPE and restarts refused), TYPE A
//! line-end conversion (§5, §7).

use std::net::IpAddr;
use std::sync::Arc;

use hpti_core::event::EventKind;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout};

use super::*;
use crate::ftp::command::{self, Target};
use crate::ftp::{
    ByteStream, DataFailure, DataPlan, End, MAX_RETR_BYTES, MAX_STOU_TRIES, Received, canonical,
};
use crate::shell::fs::{self, Kind, Node};

impl Proftpd<'_> {
    pub(super) async fn passive(&mut self, extended: bool, words: &[&str]) -> Result<(), End> {
        if extended {
            match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("ALL") => {
                    self.c.epsv_all = true;
                    return self.say("200 EPSV ALL command successful").await;
                }
                None | Some("1" | "2") => {}
                Some("3") => {
                    return self
                        .say("522 Network protocol not supported, use (1,2)")
                        .await;
                }
                Some(_) => return self.say("501 EPSV: unknown network protocol").await,
            }
        } else if self.c.epsv_all {
            return self
                .say("500 Illegal PASV command, EPSV ALL in effect")
                .await;
        }
        self.c.data = None;
        let Some(listener) = self.c.bind_passive().await else {
            return self
                .say("425 Unable to build data connection: Address already in use")
                .await;
        };
        let port = listener.local_addr().map_or(0, |a| a.port());
        self.c.data = Some(DataPlan::Passive(listener));
        let reply = if extended {
            format!("229 Entering Extended Passive Mode (|||{port}|)")
        } else {
            let shown = self.c.config.passive_address.unwrap_or(self.c.local.ip());
            command::pasv_reply(shown, port)
        };
        self.say(&reply).await
    }

    pub(super) async fn port(&mut self, words: &[&str]) -> Result<(), End> {
        if self.c.epsv_all {
            return self
                .say("500 Illegal PORT command, EPSV ALL in effect")
                .await;
        }
        let Some(arg) = words.first() else {
            return self.say("501 Invalid number of parameters").await;
        };
        let address = match command::port_target(arg) {
            Target::Address(a) if a.port() != 0 && !a.ip().is_unspecified() => a,
            _ => return self.say("501 Illegal PORT command").await,
        };
        self.active(address, "PORT").await
    }

    pub(super) async fn eprt(&mut self, words: &[&str]) -> Result<(), End> {
        if self.c.epsv_all {
            return self
                .say("500 Illegal EPRT command, EPSV ALL in effect")
                .await;
        }
        let Some(arg) = words.first() else {
            return self.say("501 Invalid number of parameters").await;
        };
        let unsupported = "522 Network protocol not supported, use (1,2)";
        let Some(delimiter) = arg.chars().next().filter(|c| !c.is_ascii_alphanumeric()) else {
            return self.say(unsupported).await;
        };
        let parts: Vec<&str> = arg.split(delimiter).collect();
        let [_, protocol, host, port, ..] = parts.as_slice() else {
            return self.say(unsupported).await;
        };
        let ip: Option<IpAddr> = match *protocol {
            "1" => host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
            "2" => host.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
            _ => return self.say(unsupported).await,
        };
        match (ip, port.parse::<u16>()) {
            (Some(ip), Ok(port)) if port != 0 && !ip.is_unspecified() => {
                self.active(std::net::SocketAddr::new(ip, port), "EPRT")
                    .await
            }
            _ => self.say("500 Illegal EPRT command").await,
        }
    }

    /// ProFTPD's bounce rules (§5): a port below 1024 or a foreign public address is
    /// refused; a private (RFC 1918) address is taken for NAT and replaced by the
    /// client's own. Either way nothing connects to a third party; a foreign address is
    /// recorded as an FTP bounce attempt.
    pub(super) async fn active(
        &mut self,
        address: std::net::SocketAddr,
        verb: &str,
    ) -> Result<(), End> {
        let illegal = format!("500 Illegal {verb} command");
        self.c.data = None;
        let client = canonical(self.c.peer.ip());
        let asked = canonical(address.ip());
        if address.port() < 1024 {
            return self.say(&illegal).await;
        }
        if asked != client {
            self.c
                .session
                .emit(EventKind::PortForward {
                    host: asked.to_string(),
                    port: address.port(),
                    accepted: false,
                })
                .await;
            let private = matches!(asked, IpAddr::V4(v4) if v4.is_private());
            if !private || !client.is_ipv4() {
                return self.say(&illegal).await;
            }
        }
        self.c.data = Some(DataPlan::Active(std::net::SocketAddr::new(
            self.c.peer.ip(),
            address.port(),
        )));
        self.say(&format!("200 {verb} command successful")).await
    }

    /// The data connection of a transfer, or the reply that refuses it (sent).
    pub(super) async fn open_data(&mut self) -> Result<Option<Box<dyn ByteStream>>, End> {
        match self.c.open_data_tcp().await {
            Ok(stream) => Ok(Some(Box::new(stream))),
            Err(DataFailure::NoPlan | DataFailure::Failed) => {
                self.say("425 Unable to build data connection: Connection refused")
                    .await?;
                Ok(None)
            }
            Err(DataFailure::NobodyCame) => {
                self.say("425 Unable to build data connection: Connection timed out")
                    .await?;
                Ok(None)
            }
        }
    }

    /// Sends `body` on a data connection after `opening`; `226` or `426`. `counted`
    /// bytes are added to the session's total (`STAT`: a file's own size, not the bytes
    /// TYPE A put on the wire).
    pub(super) async fn send_data(
        &mut self,
        opening: &str,
        body: &[u8],
        counted: u64,
    ) -> Result<(), End> {
        let Some(mut data) = self.open_data().await? else {
            return Ok(());
        };
        self.transferred += counted;
        self.say(opening).await?;
        let sent = timeout(self.c.config.data_timeout, async {
            data.write_all(body).await?;
            data.shutdown().await
        })
        .await;
        self.transfer_done();
        match sent {
            Ok(Ok(())) => self.say("226 Transfer complete").await,
            _ => {
                self.say("426 Transfer aborted. Data connection closed")
                    .await
            }
        }
    }

    pub(super) fn transfer_done(&mut self) {
        self.transfer_deadline = Some(Instant::now() + self.c.config.no_transfer_timeout);
    }

    pub(super) async fn restart(&mut self, words: &[&str]) -> Result<(), End> {
        let Some(offset) = words.first() else {
            return self.say("500 'REST' not understood").await;
        };
        let Ok(offset) = offset.parse::<u64>() else {
            return self
                .say("501 REST requires a value greater than or equal to 0")
                .await;
        };
        if self.ascii {
            return self
                .say("501 REST: Resuming transfers not allowed in ASCII mode")
                .await;
        }
        self.c.rest = offset;
        self.say(&format!(
            "350 Restarting at {offset}. Send STORE or RETRIEVE to initiate transfer"
        ))
        .await
    }

    pub(super) async fn byte_range(&mut self, words: &[&str]) -> Result<(), End> {
        let (Some(start), Some(end)) = (words.first(), words.get(1)) else {
            return self.say("500 'RANG' not understood").await;
        };
        match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(start), Ok(end)) if start < end => {
                self.range = Some((start, end));
                self.say(&format!(
                    "350 Transferring byte range of {} bytes starting from {start}",
                    end - start + 1
                ))
                .await
            }
            (Ok(_), Ok(_)) => self.say("501 RANG start must be less than end").await,
            _ => self.say("501 Invalid number of parameters").await,
        }
    }

    pub(super) async fn retrieve(&mut self, raw: &[u8], arg: &str) -> Result<(), End> {
        if arg.trim().is_empty() {
            return self.say("500 'RETR' not understood").await;
        }
        let rest = std::mem::take(&mut self.c.rest);
        let range = self.range.take();
        let (real, _) = self.c.locate(arg);
        let now = chrono::Utc::now().timestamp();
        let node = match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.kind == Kind::File => node,
            Ok(_) => return self.refuse(raw, "Not a regular file").await,
            Err(_) => return self.refuse(raw, "No such file or directory").await,
        };
        let content = self
            .c
            .fs
            .content_of(&node, now, MAX_RETR_BYTES)
            .unwrap_or_default();
        let (from, to) = match range {
            Some((start, end)) => (start, end.saturating_add(1)),
            None => (rest, u64::MAX),
        };
        let len = content.len() as u64;
        if from > len {
            self.c.data = None;
            return self
                .send(&line(&[b"554 REST: invalid ", raw, b" argument"]))
                .await;
        }
        let slice = &content[usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(content.len())
            ..usize::try_from(to.min(len))
                .unwrap_or(usize::MAX)
                .min(content.len())];
        let body = if self.ascii {
            to_crlf(slice)
        } else {
            slice.to_vec()
        };
        let opening = line(&[
            format!("150 Opening {} mode data connection for ", self.mode_word()).as_bytes(),
            raw,
            format!(" ({} bytes)", slice.len()).as_bytes(),
        ]);
        let opening = String::from_utf8_lossy(&opening).into_owned();
        let counted = slice.len() as u64;
        let before = self.transferred;
        self.send_data(&opening, &body, counted).await?;
        if self.transferred > before {
            self.files_out += 1;
        }
        Ok(())
    }

    pub(super) async fn store(&mut self, verb: &str, raw: &[u8], arg: &str) -> Result<(), End> {
        let rest = std::mem::take(&mut self.c.rest);
        let unique = (verb == "STOU").then(|| self.unique_name()).flatten();
        if verb != "STOU" && arg.trim().is_empty() {
            return self.say(&format!("500 '{verb}' not understood")).await;
        }
        if self.anonymous() {
            let shown: Vec<u8> = match &unique {
                Some((_, visible)) => fs::base_name(visible).as_bytes().to_vec(),
                None => raw.to_vec(),
            };
            return self.refuse(&shown, "Operation not permitted").await;
        }
        let (real, visible) = match (verb, unique) {
            ("STOU", Some(names)) => names,
            ("STOU", None) => return self.say("550 Unable to handle command").await,
            _ => self.c.locate(arg),
        };
        if verb == "APPE" || rest > 0 {
            return self
                .send(&line(&[
                    b"451 ",
                    raw,
                    b": Append/Restart not permitted, try again",
                ]))
                .await;
        }
        let existing = self.c.fs.stat("/", &real).ok().map(|(_, n)| n);
        if existing.as_ref().is_some_and(|n| n.kind != Kind::File) {
            return self.refuse(raw, "Not a regular file").await;
        }
        let allowed = match &existing {
            Some(node) => self.may_write(node),
            None => self.may_write_parent(&real),
        };
        if !allowed {
            let parent_missing = existing.is_none()
                && !self
                    .c
                    .fs
                    .stat("/", fs::parent(&real))
                    .is_ok_and(|(_, n)| n.is_dir());
            let reason = if parent_missing {
                "No such file or directory"
            } else {
                "Permission denied"
            };
            return self.refuse(raw, reason).await;
        }
        let Some(mut data) = self.open_data().await? else {
            return Ok(());
        };
        let opening = if verb == "STOU" {
            format!("150 FILE: {}", fs::base_name(&visible))
        } else {
            let opening = line(&[
                format!("150 Opening {} mode data connection for ", self.mode_word()).as_bytes(),
                raw,
            ]);
            String::from_utf8_lossy(&opening).into_owned()
        };
        self.say(&opening).await?;
        let Received {
            bytes,
            held,
            refused,
            stalled,
            broken,
        } = self.c.receive(&mut data).await;
        drop(data);
        self.transfer_done();
        self.transferred += bytes.len() as u64;
        // SITE RATIO does not count STOU's files (captured: `+4` after 4 STORs and 3
        // STOUs).
        if verb != "STOU" {
            self.files_in += 1;
        }
        let stored = if self.ascii { from_crlf(&bytes) } else { bytes };
        let now = chrono::Utc::now().timestamp();
        let (uid, gid) = self.ids();
        let kept = stored.len() as u64 <= fs::DEFAULT_OVERLAY_BYTES
            && self
                .c
                .fs
                .put(
                    &real,
                    Node::file(Arc::from(stored.as_slice()), 0o644, uid, gid, now),
                )
                .is_ok();
        self.c.session.core().upload(&visible, stored).await;
        drop(held);
        if stalled {
            // TimeoutStalled: the control connection closes without a reply (§8).
            return Err(End::Idle);
        }
        if broken {
            return self
                .say("426 Transfer aborted. Data connection closed")
                .await;
        }
        if refused || !kept {
            // A failed write: ProFTPD's 451 with strerror(ENOSPC).
            return self.refuse_with(451, raw, "No space left on device").await;
        }
        self.say("226 Transfer complete").await
    }

    /// `STOU`'s name: `ftp` and six random letters or digits, in the working directory.
    pub(super) fn unique_name(&self) -> Option<(String, String)> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..MAX_STOU_TRIES).find_map(|_| {
            let name: String = (0..6)
                .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
                .collect();
            let (real, visible) = self.c.locate(&format!("ftp{name}"));
            (!self.c.fs.exists("/", &real)).then_some((real, visible))
        })
    }
}

/// TYPE A on the way out: a bare LF becomes CR LF.
pub(super) fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut previous = 0u8;
    for &byte in bytes {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

/// TYPE A on the way in: CR LF becomes LF.
pub(super) fn from_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &byte) in bytes.iter().enumerate() {
        if byte == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}
