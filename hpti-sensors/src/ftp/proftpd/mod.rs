//! The ProFTPD persona (`server = "proftpd"`): Debian 12's ProFTPD 1.3.8 with its stock
//! `proftpd.conf` and the `<Anonymous ~ftp>` block it ships commented out turned on,
//! byte for byte where it was captured (`testdata/ftp/proftpd-1.3.8/NOTES.md`; the
//! section numbers below are that file's).
//!
//! It shares the connection state, the data connections, the fake filesystem and the
//! upload capture with the vsftpd persona; what differs is everything a client reads:
//! the framing (CRLF only, silent drops of long lines, Telnet answers), which commands
//! work before a login, every reply text, the listings (owner names, `MLSD`/`MLST`),
//! the login delays and the timeouts.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use hpti_core::event::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout};

use super::command::{self, PROFTPD_MAX_LINE, ProCommand, ProFramed, ProLine};
use super::listing::{self};
use super::{Connection, End, canonical};
use crate::shell::fs::{self, Access, Node};

mod data;
mod directory;
mod login;
mod site;

/// Debian's `ServerName`, shown in the greeting and `STAT`.
const SERVER_NAME: &str = "Debian";
/// The `ftp` account Debian's package creates (uid in the captures; DirFakeUser shows it
/// as every anonymous entry's owner).
const FTP_UID: u32 = 109;
/// `nogroup`, the anonymous root's group.
const NOGROUP: u32 = 65534;
/// Overflowing 4102-byte chunks of one line at which ProFTPD closes (§1: a line of
/// 12 302 bytes was dropped, one of 12 312 closed the connection).
const MAX_OVERFLOWS: usize = 3;
/// Telnet answers kept for the next reply: a line of `IAC WILL x` could ask for more.
const MAX_TELNET_ANSWERS: usize = 64;
/// Lines of a `.message` shown by `CWD` (`DisplayChdir`).
const MAX_MESSAGE_LINES: usize = 50;
const FEAT: &str = "211-Features:\r\n CLNT\r\n CSID\r\n EPRT\r\n EPSV\r\n HOST\r\n LANG \
                    C.UTF-8*\r\n MDTM\r\n MFF modify;UNIX.group;UNIX.mode;\r\n MFMT\r\n MLST \
                    modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;\
                    UNIX.mode*;UNIX.owner*;UNIX.ownername*;\r\n RANG STREAM\r\n REST \
                    STREAM\r\n SITE COPY\r\n SITE MKDIR\r\n SITE RMDIR\r\n SITE SYMLINK\r\n \
                    SITE UTIME\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End";

/// `HELP`'s command table (nmap names the server ProFTPD from its first line, §9); its
/// body lines end in four spaces.
const HELP: [&str; 7] = [
    " CWD     XCWD    CDUP    XCUP    SMNT*   QUIT    PORT    PASV    ",
    " EPRT    EPSV    ALLO    RNFR    RNTO    DELE    MDTM    RMD     ",
    " XRMD    MKD     XMKD    PWD     XPWD    SIZE    SYST    HELP    ",
    " NOOP    FEAT    OPTS    HOST    CLNT    AUTH*   CCC*    CONF*   ",
    " ENC*    MIC*    PBSZ*   PROT*   TYPE    STRU    MODE    RETR    ",
    " STOR    STOU    APPE    REST    ABOR    RANG    USER    PASS    ",
    " ACCT*   REIN*   LIST    NLST    STAT    SITE    MLSD    MLST    ",
];

/// `HELP <command>`'s syntax lines (`help.txt`).
const SYNTAX: [(&str, &str); 56] = [
    ("CWD", "<sp> pathname"),
    ("XCWD", "<sp> pathname"),
    ("CDUP", "(up one directory)"),
    ("XCUP", "(up one directory)"),
    ("SMNT", "is not implemented"),
    ("QUIT", "(close control connection)"),
    ("PORT", "<sp> h1,h2,h3,h4,p1,p2"),
    ("PASV", "(returns address/port)"),
    ("EPRT", "<sp> |proto|addr|port|"),
    ("EPSV", "(returns port |||port|)"),
    ("ALLO", "<sp> size"),
    ("RNFR", "<sp> pathname"),
    ("RNTO", "<sp> pathname"),
    ("DELE", "<sp> pathname"),
    ("MDTM", "<sp> pathname"),
    ("RMD", "<sp> pathname"),
    ("XRMD", "<sp> pathname"),
    ("MKD", "<sp> pathname"),
    ("XMKD", "<sp> pathname"),
    ("PWD", "(returns current working directory)"),
    ("XPWD", "(returns current working directory)"),
    ("SIZE", "<sp> pathname"),
    ("SYST", "(returns system type)"),
    ("HELP", "[<sp> command]"),
    ("NOOP", "(no operation)"),
    ("FEAT", "(returns feature list)"),
    ("OPTS", "<sp> command [<sp> options]"),
    ("HOST", "<cp> hostname"),
    ("CLNT", "<cp> client-info"),
    ("AUTH", "<sp> base64-data"),
    ("CCC", "(clears protection level)"),
    ("CONF", "<sp> base64-data"),
    ("ENC", "<sp> base64-data"),
    ("MIC", "<sp> base64-data"),
    ("PBSZ", "<sp> protection buffer size"),
    ("PROT", "<sp> protection code"),
    ("TYPE", "<sp> type-code (A, I, L 7, L 8)"),
    ("STRU", "is not implemented (always F)"),
    ("MODE", "is not implemented (always S)"),
    ("RETR", "<sp> pathname"),
    ("STOR", "<sp> pathname"),
    ("STOU", "(store unique filename)"),
    ("APPE", "<sp> pathname"),
    ("REST", "<sp> byte-count"),
    ("ABOR", "(abort current operation)"),
    ("RANG", "<sp> start-point <sp> end-point"),
    ("USER", "<sp> username"),
    ("PASS", "<sp> password"),
    ("ACCT", "is not implemented"),
    ("REIN", "is not implemented"),
    ("LIST", "[<sp> pathname]"),
    ("NLST", "[<sp> (pathname)]"),
    ("STAT", "[<sp> pathname]"),
    ("SITE", ""),
    ("MLSD", "[<sp> pathname]"),
    ("MLST", "[<sp> pathname]"),
];

/// Commands ProFTPD knows: before a login they get `530`, unknown ones `500 X not
/// understood`.
const KNOWN: [&str; 53] = [
    "CWD", "XCWD", "CDUP", "XCUP", "SMNT", "QUIT", "PORT", "PASV", "EPRT", "EPSV", "ALLO", "RNFR",
    "RNTO", "DELE", "MDTM", "RMD", "XRMD", "MKD", "XMKD", "PWD", "XPWD", "SIZE", "SYST", "HELP",
    "NOOP", "FEAT", "OPTS", "HOST", "CLNT", "TYPE", "STRU", "MODE", "RETR", "STOR", "STOU", "APPE",
    "REST", "ABOR", "RANG", "USER", "PASS", "ACCT", "REIN", "LIST", "NLST", "STAT", "SITE", "MLSD",
    "MLST", "MFMT", "MFF", "CSID", "LANG",
];

/// The greeting's address: the server's own address of this connection as Debian's
/// dual-stack `[::]` socket reports it (`::ffff:a.b.c.d` for an IPv4 client).
fn socket_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("::ffff:{v4}"),
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// The client's name as ProFTPD shows it (`%R`, `STAT`): no reverse lookup is made (it
/// would tell the attacker's DNS server when it is probed), except the loopback name
/// `/etc/hosts` gives.
fn client_name(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) if v4.is_loopback() && v4.octets() == [127, 0, 0, 1] => {
            "localhost".to_owned()
        }
        other => other.to_string(),
    }
}

/// Why a control connection's read stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    Login,
    NoTransfer,
    Idle,
    Session,
}

/// A line with its echo: replies quote what the client sent, byte for byte.
fn line(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The ProFTPD conversation over a shared [`Connection`].
struct Proftpd<'c> {
    c: &'c mut Connection,
    /// `IAC DONT/WONT` answers written in front of the next reply.
    telnet: Vec<u8>,
    /// A CR that ended one TCP segment (its LF, if it comes next, is no line end).
    split_cr: Option<usize>,
    /// 4102-byte chunks of the current line dropped so far.
    overflows: usize,
    /// Dropping the rest of an overlong line.
    skipping: bool,
    /// `TimeoutLogin`, from the connection's start.
    login_deadline: Instant,
    /// `TimeoutNoTransfer`, from the login or the last transfer.
    transfer_deadline: Option<Instant>,
    /// The facts `OPTS MLST` chose.
    facts: [bool; 10],
    /// `RANG`'s range for the next `RETR`.
    range: Option<(u64, u64)>,
    /// `SITE CPFR`'s source.
    copy_from: Option<String>,
    /// Bytes sent and received on data connections (`STAT`).
    transferred: u64,
    /// Files sent and received (`SITE RATIO`).
    files_out: u64,
    files_in: u64,
    /// The name of the last `USER`, as typed (`%U`).
    typed_user: Vec<u8>,
    /// The `TYPE` letter to show in `150` replies and `STAT`.
    ascii: bool,
}

/// Runs a connection as ProFTPD.
pub(super) async fn converse(
    c: &mut Connection,
    shutdown: &tokio_util::sync::CancellationToken,
) -> End {
    let login_deadline = Instant::now() + c.config.login_timeout;
    let mut pro = Proftpd {
        c,
        telnet: Vec::new(),
        split_cr: None,
        overflows: 0,
        skipping: false,
        login_deadline,
        transfer_deadline: None,
        facts: [true; 10],
        range: None,
        copy_from: None,
        transferred: 0,
        files_out: 0,
        files_in: 0,
        typed_user: Vec::new(),
        ascii: true,
    };
    let greeting = format!(
        "220 ProFTPD Server ({SERVER_NAME}) [{}]",
        socket_address(pro.c.local.ip())
    );
    if pro.send(greeting.as_bytes()).await.is_err() {
        return End::Closed;
    }
    loop {
        let line = tokio::select! {
            () = shutdown.cancelled() => return End::Shutdown,
            line = pro.read_line() => line,
        };
        let line = match line {
            Ok(line) => line,
            Err(end) => return end,
        };
        let (parsed, answers) = command::proftpd_parse(&line);
        if pro.telnet.len() + answers.len() <= MAX_TELNET_ANSWERS {
            pro.telnet.extend_from_slice(&answers);
        }
        let result = match parsed {
            ProLine::Blank => {
                pro.send(b"500 Invalid command: try being more creative")
                    .await
            }
            // "client sent HTTP command 'GET', disconnecting": no reply.
            ProLine::Foreign => return End::Closed,
            ProLine::Command(command) => pro.dispatch(command).await,
        };
        if let Err(end) = result {
            return end;
        }
    }
}

impl Proftpd<'_> {
    async fn read_line(&mut self) -> Result<Vec<u8>, End> {
        loop {
            match command::proftpd_frame(&self.c.buf, self.split_cr) {
                ProFramed::Line(line, used) => {
                    self.consume(used);
                    if self.skipping {
                        // The tail of an overlong line: dropped like its head.
                        self.skipping = false;
                        self.overflows = 0;
                        continue;
                    }
                    self.overflows = 0;
                    return Ok(line);
                }
                ProFramed::Overflow => {
                    self.consume(PROFTPD_MAX_LINE);
                    self.skipping = true;
                    self.overflows += 1;
                    // Each chunk cost ProFTPD a quarter second; at three it gave up
                    // about a second later, without a word (§1).
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if self.overflows >= MAX_OVERFLOWS {
                        tokio::time::sleep(Duration::from_millis(750)).await;
                        return Err(End::TooLong);
                    }
                    continue;
                }
                ProFramed::Incomplete => {}
            }
            let (deadline, why) = self.deadline();
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.c.stream.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) => return Err(End::Closed),
                Ok(Ok(n)) => {
                    // The framer looks at PROFTPD_MAX_LINE bytes at most: the buffer
                    // never holds more than that plus one read.
                    self.c.buf.extend_from_slice(&chunk[..n]);
                    // A CR that ended what the client had sent so far (not one this
                    // buffer cut off).
                    if n < chunk.len() && chunk[n - 1] == b'\r' {
                        self.split_cr = Some(self.c.buf.len() - 1);
                    }
                }
                Err(_) => return Err(self.timed_out(why).await),
            }
        }
    }

    fn consume(&mut self, used: usize) {
        self.c.buf.drain(..used);
        self.split_cr = self.split_cr.and_then(|at| at.checked_sub(used));
    }

    /// The first of the timeouts that applies now.
    fn deadline(&self) -> (Instant, Waited) {
        let idle = self.c.honeypot.limits.idle_timeout;
        let mut best = (Instant::now() + idle, Waited::Idle);
        let candidates = [
            (self.c.login.is_none()).then_some((self.login_deadline, Waited::Login)),
            self.transfer_deadline.map(|at| (at, Waited::NoTransfer)),
            Some((self.c.deadline, Waited::Session)),
        ];
        for (at, why) in candidates.into_iter().flatten() {
            if at <= best.0 {
                best = (at, why);
            }
        }
        best
    }

    async fn timed_out(&mut self, why: Waited) -> End {
        let seconds = |d: Duration| d.as_secs();
        let text = match why {
            Waited::Session => return End::SessionTimeout,
            Waited::Login => format!(
                "421 Login timeout ({} seconds): closing control connection",
                seconds(self.c.config.login_timeout)
            ),
            Waited::NoTransfer => format!(
                "421 No transfer timeout ({} seconds): closing control connection",
                seconds(self.c.config.no_transfer_timeout)
            ),
            Waited::Idle => format!(
                "421 Idle timeout ({} seconds): closing control connection",
                seconds(self.c.honeypot.limits.idle_timeout)
            ),
        };
        let _ = self.send(text.as_bytes()).await;
        End::Idle
    }

    async fn send(&mut self, reply: &[u8]) -> Result<(), End> {
        let mut bytes = std::mem::take(&mut self.telnet);
        bytes.extend_from_slice(reply);
        bytes.extend_from_slice(b"\r\n");
        match timeout(
            self.c.honeypot.limits.idle_timeout,
            self.c.stream.write_all(&bytes),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Closed),
            Err(_) => Err(End::Idle),
        }
    }

    async fn say(&mut self, reply: &str) -> Result<(), End> {
        self.send(reply.as_bytes()).await
    }

    /// The server's host name (`%L`, `ServerAdmin`'s default): ProFTPD resolves its own
    /// host name, which Debian's `/etc/hosts` maps to the persona's name.
    fn host_name(&self) -> String {
        self.c.fs.persona().hostname.clone()
    }

    fn admin(&self) -> String {
        format!("root@{}", self.host_name())
    }

    async fn dispatch(&mut self, command: ProCommand) -> Result<(), End> {
        let ProCommand { verb, arg } = command;
        let verb_text = String::from_utf8_lossy(&verb).into_owned();
        let raw = arg.unwrap_or_default();
        let arg = String::from_utf8_lossy(&raw).into_owned();
        if verb_text != "PASS" && verb_text != "USER" {
            let line = if arg.is_empty() {
                verb_text.clone()
            } else {
                format!("{verb_text} {arg}")
            };
            self.c
                .session
                .emit(EventKind::CommandInput { command: line })
                .await;
        }
        let words: Vec<&str> = arg.split_ascii_whitespace().collect();
        match verb_text.as_str() {
            "USER" => return self.user(&raw, &words).await,
            "PASS" => return self.pass(&arg).await,
            "QUIT" => {
                let _ = self.say("221 Goodbye.").await;
                return Err(End::Quit);
            }
            "SYST" => return self.say("215 UNIX Type: L8").await,
            // A local user's FEAT lists MFMT twice (captured, `local-user.txt`).
            "FEAT" if self.c.login.as_ref().is_some_and(|l| !l.anonymous) => {
                return self
                    .say(&FEAT.replace(" MFMT\r\n", " MFMT\r\n MFMT\r\n"))
                    .await;
            }
            "FEAT" => return self.say(FEAT).await,
            "HELP" => return self.help(&words).await,
            "NOOP" => return self.say("200 NOOP command successful").await,
            "TYPE" => return self.set_type(&words).await,
            "OPTS" => return self.opts(&words).await,
            "CLNT" => return self.say("200 OK").await,
            "LANG" => return self.lang(&words).await,
            "HOST" => return self.host(&words).await,
            "ACCT" | "REIN" => {
                return self
                    .say(&format!("502 {verb_text} command not implemented"))
                    .await;
            }
            "SITE" if self.c.login.is_none() => return self.site_before_login(&words).await,
            _ => {}
        }
        if !KNOWN.contains(&verb_text.as_str()) {
            return self
                .send(&line(&[b"500 ", &verb, b" not understood"]))
                .await;
        }
        if self.c.login.is_none() {
            self.say("530 Please login with USER and PASS").await?;
            if verb_text == "RNTO" {
                self.say("530 Please login with USER and PASS").await?;
            }
            return Ok(());
        }
        self.logged_in(&verb_text, &raw, &arg, &words).await
    }

    async fn help(&mut self, words: &[&str]) -> Result<(), End> {
        let Some(topic) = words.first() else {
            let mut reply = String::from(
                "214-The following commands are recognized (* =>'s unimplemented):\r\n",
            );
            for row in HELP {
                reply.push_str(row);
                reply.push_str("\r\n");
            }
            let _ = write!(reply, "214 Direct comments to {}", self.admin());
            return self.say(&reply).await;
        };
        let topic = topic.to_ascii_uppercase();
        if topic == "SITE" {
            return self.say("214-HELP\r\n CHGRP\r\n214 CHMOD").await;
        }
        // MFMT, MFF, CSID and LANG work but are not in the table: 502 (captured).
        match SYNTAX.iter().find(|(name, _)| *name == topic) {
            Some((name, syntax)) => self.say(&format!("214 Syntax: {name} {syntax}")).await,
            None => self.say(&format!("502 Unknown command '{topic}'")).await,
        }
    }

    async fn set_type(&mut self, words: &[&str]) -> Result<(), End> {
        let Some(first) = words.first() else {
            return self.say("500 'TYPE' not understood").await;
        };
        let second = words.get(1).map(|w| w.to_ascii_uppercase());
        let ok = match (first.to_ascii_uppercase().as_str(), second.as_deref()) {
            ("A", None | Some("N" | "T")) => {
                self.ascii = true;
                true
            }
            ("I", None) | ("L", Some("8" | "7")) => {
                self.ascii = false;
                true
            }
            _ => false,
        };
        self.c.binary = !self.ascii;
        if ok {
            self.say(&format!("200 Type set to {first}")).await
        } else {
            self.say(&format!("504 TYPE not implemented for '{first}' parameter"))
                .await
        }
    }

    async fn opts(&mut self, words: &[&str]) -> Result<(), End> {
        let Some(option) = words.first() else {
            return self.say("501 Invalid number of parameters").await;
        };
        match option.to_ascii_uppercase().as_str() {
            "UTF8" => match words.get(1).map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("ON") => self.say("200 UTF8 set to on").await,
                Some("OFF") => self.say("200 UTF8 set to off").await,
                _ => self.say("501 'OPTS UTF8' not understood").await,
            },
            "MLST" => {
                let list = words.get(1).copied().unwrap_or_default();
                let mut facts = [false; 10];
                for fact in list.split(';').filter(|f| !f.is_empty()) {
                    if let Some(i) = listing::FACTS
                        .iter()
                        .position(|f| f.eq_ignore_ascii_case(fact))
                    {
                        facts[i] = true;
                    }
                }
                self.facts = facts;
                if list.is_empty() {
                    self.say("200 MLST OPTS").await
                } else {
                    self.say(&format!("200 MLST OPTS {list}")).await
                }
            }
            _ => {
                self.say(&format!(
                    "500 OPTS {} not understood",
                    option.to_ascii_uppercase()
                ))
                .await
            }
        }
    }

    async fn lang(&mut self, words: &[&str]) -> Result<(), End> {
        if self.c.login.is_some() {
            return self.say("500 Unable to handle command").await;
        }
        match words.first() {
            None => self.say("200 Using default language C.UTF-8").await,
            Some(lang) if lang.eq_ignore_ascii_case("C.UTF-8") => {
                self.say("200 Using language C.UTF-8").await
            }
            Some(lang) => {
                self.say(&format!("504 Language {lang} not supported"))
                    .await
            }
        }
    }

    /// RFC 7151's `HOST`: only the server's own address is a known host.
    async fn host(&mut self, words: &[&str]) -> Result<(), End> {
        if self.c.login.is_some() {
            return self.say("503 Bad sequence of commands").await;
        }
        let Some(host) = words.first() else {
            return self.say("500 'HOST' not understood").await;
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ours = bare
            .parse::<IpAddr>()
            .is_ok_and(|ip| canonical(ip) == canonical(self.c.local.ip()));
        if ours && self.c.user.is_none() {
            self.say("220 HOST command successful").await
        } else {
            self.say(&format!("504 {host}: Unknown hostname provided"))
                .await
        }
    }

    fn anonymous(&self) -> bool {
        self.c.login.as_ref().is_some_and(|l| l.anonymous)
    }

    fn ids(&self) -> (u32, u32) {
        self.c.login.as_ref().map_or((0, 0), |l| (l.uid, l.gid))
    }

    /// Whether the session may write `node`.
    fn may_write(&self, node: &Node) -> bool {
        if self.anonymous() {
            return false;
        }
        let (uid, gid) = self.ids();
        fs::may(node, uid, gid, Access::Write)
    }

    /// Whether the session may create or remove entries in the parent of `real`.
    fn may_write_parent(&self, real: &str) -> bool {
        match self.c.fs.stat("/", fs::parent(real)) {
            Ok((_, parent)) => parent.is_dir() && self.may_write(&parent),
            Err(_) => false,
        }
    }

    async fn logged_in(
        &mut self,
        verb: &str,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        match verb {
            "PWD" | "XPWD" => {
                if !words.is_empty() {
                    return self.say("501 Invalid number of parameters").await;
                }
                let reply = format!(
                    "257 \"{}\" is the current directory",
                    self.c.cwd.replace('"', "\"\"")
                );
                self.say(&reply).await
            }
            "CWD" | "XCWD" => {
                if words.is_empty() {
                    return self.say("501 Invalid number of parameters").await;
                }
                self.change_dir(verb, raw, arg).await
            }
            "CDUP" | "XCUP" => self.change_dir(verb, b"..", "..").await,
            "MODE" => match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
                None => self.say("501 'MODE' not understood").await,
                Some("S") => self.say("200 Mode set to S").await,
                Some(mode @ ("B" | "C")) => {
                    self.say(&format!("504 'MODE {mode}' unsupported transfer mode"))
                        .await
                }
                Some(_) => {
                    self.send(&line(&[
                        b"501 'MODE ",
                        raw,
                        b"' unrecognized transfer mode",
                    ]))
                    .await
                }
            },
            "STRU" => match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
                None => self.say("501 'STRU' not understood").await,
                Some("F") => self.say("200 Structure set to F").await,
                Some(stru @ ("R" | "P")) => {
                    self.say(&format!("504 'STRU {stru}' unsupported structure type"))
                        .await
                }
                Some(_) => {
                    self.send(&line(&[
                        b"501 'STRU ",
                        raw,
                        b"' unrecognized structure type",
                    ]))
                    .await
                }
            },
            "PASV" => self.passive(false, words).await,
            "EPSV" => self.passive(true, words).await,
            "PORT" => self.port(words).await,
            "EPRT" => self.eprt(words).await,
            "LIST" | "NLST" => self.list(verb == "LIST", raw, arg).await,
            "MLSD" => self.mlsd(raw, arg).await,
            "MLST" => self.mlst(raw, arg).await,
            "STAT" => self.status(raw, arg, words).await,
            "SIZE" => self.size(raw, arg, words).await,
            "MDTM" => self.mdtm(raw, arg, words).await,
            "RETR" => self.retrieve(raw, arg).await,
            "REST" => self.restart(words).await,
            "RANG" => self.byte_range(words).await,
            "STOR" | "APPE" | "STOU" => self.store(verb, raw, arg).await,
            "MKD" | "XMKD" => self.make_dir(raw, arg, words).await,
            "RMD" | "XRMD" => self.remove_dir(verb, raw, arg, words).await,
            "DELE" => self.delete(raw, arg, words).await,
            "RNFR" => self.rename_from(raw, arg, words).await,
            "RNTO" => self.rename_to(raw, arg, words).await,
            "SITE" => self.site(raw, words).await,
            "ABOR" => self.say("226 Abort successful").await,
            "SMNT" => self.say("502 SMNT command not implemented").await,
            "ALLO" => match words.first() {
                None => self.say("504 'ALLO' not understood").await,
                Some(size) if size.parse::<u64>().is_err() => {
                    self.say(&format!("504 {size}: Invalid ALLO argument"))
                        .await
                }
                Some(_) if self.anonymous() => {
                    self.say("202 No storage allocation necessary").await
                }
                Some(_) => self.say("200 ALLO command successful").await,
            },
            "CSID" => {
                self.say("200 name=ProFTPD;version=1.3.8;casesensitive=1;")
                    .await
            }
            "MFMT" | "MFF" => self.modify_facts(verb, words).await,
            _ => {
                self.send(&line(&[b"500 ", verb.as_bytes(), b" not understood"]))
                    .await
            }
        }
    }

    /// `550 <what the client typed>: <reason>`.
    async fn refuse(&mut self, raw: &[u8], reason: &str) -> Result<(), End> {
        self.send(&line(&[b"550 ", raw, b": ", reason.as_bytes()]))
            .await
    }

    async fn change_dir(&mut self, verb: &str, raw: &[u8], arg: &str) -> Result<(), End> {
        let target = if arg == "~" && !self.anonymous() {
            let home = self
                .c
                .login
                .as_ref()
                .and_then(|l| self.account(&l.name))
                .map(|(_, _, home)| home);
            match home {
                Some(home) => home,
                None => return self.refuse(raw, "No such file or directory").await,
            }
        } else if arg.starts_with('~') {
            return self.refuse(raw, "No such file or directory").await;
        } else {
            arg.to_owned()
        };
        let (real, visible) = self.c.locate(&target);
        let (uid, gid) = self.ids();
        match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.is_dir() => {
                if !self.anonymous() && !fs::may(&node, uid, gid, Access::Exec) {
                    return self.refuse(raw, "Permission denied").await;
                }
                self.c.cwd = visible;
                let mut reply = Vec::new();
                if let Some(message) = self
                    .c
                    .fs
                    .read_file(&format!("{}/.message", real.trim_end_matches('/')))
                {
                    for (i, text) in message
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                        .take(MAX_MESSAGE_LINES)
                        .enumerate()
                    {
                        reply.extend_from_slice(if i == 0 { b"250-" } else { b" " });
                        reply.extend_from_slice(text);
                        reply.extend_from_slice(b"\r\n");
                    }
                }
                reply.extend_from_slice(format!("250 {verb} command successful").as_bytes());
                self.send(&reply).await
            }
            Ok(_) => self.refuse(raw, "Not a directory").await,
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    fn mode_word(&self) -> &'static str {
        if self.ascii { "ASCII" } else { "BINARY" }
    }

    async fn refuse_with(&mut self, code: u16, raw: &[u8], reason: &str) -> Result<(), End> {
        let code = code.to_string();
        self.send(&line(&[
            code.as_bytes(),
            b" ",
            raw,
            b": ",
            reason.as_bytes(),
        ]))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::data::{from_crlf, to_crlf};
    use super::directory::glob_matches;
    use super::login::{WELCOME, expand};
    use super::site::parse_time;
    use super::*;

    #[test]
    fn welcome_variables_expand_and_ascii_converts() {
        assert_eq!(
            expand(
                b"Welcome, archive user %U@%R !",
                b"anonymous",
                "localhost",
                "",
                ""
            ),
            b"Welcome, archive user anonymous@localhost !"
        );
        assert_eq!(
            expand(b"100%% <root@%L>", b"", "", "", "h"),
            b"100%% <root@h>"
        );
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
        assert_eq!(from_crlf(b"a\r\nb\nc\r"), b"a\nb\nc\r");
        assert_eq!(parse_time("20200101000000"), Some(1_577_836_800));
        assert_eq!(parse_time("2021"), None);
        assert_eq!(WELCOME.len(), 170, "Debian's welcome.msg is 170 bytes");
        assert!(glob_matches(b"*.txt", b"README.txt"));
        assert!(glob_matches(b"R?ADME*", b"README.txt"));
        assert!(!glob_matches(b"*.txt", b"data.bin"));
        assert!(glob_matches(b"**a*", b"banana"));
        assert!(!glob_matches(b"a*b", b"aXbY"));
    }

    #[test]
    fn help_table_rows_are_proftpds_columns() {
        for row in HELP {
            assert_eq!(row.len(), 65, "{row:?}");
        }
        assert_eq!(
            socket_address("127.0.0.1".parse().unwrap()),
            "::ffff:127.0.0.1"
        );
        assert_eq!(client_name("127.0.0.1".parse().unwrap()), "localhost");
        assert_eq!(client_name("203.0.113.9".parse().unwrap()), "203.0.113.9");
    }
}
