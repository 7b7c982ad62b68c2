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
use std::sync::Arc;
use std::time::Duration;

use hpti_core::event::{AuthMethod, EventKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout};

use super::command::{self, PROFTPD_MAX_LINE, ProCommand, ProFramed, ProLine, Target};
use super::listing::{self, FactContext, Shown};
use super::{
    ANONYMOUS_ROOT, ByteStream, Connection, DataFailure, DataPlan, End, Login, MAX_LISTING,
    MAX_RETR_BYTES, MAX_STOU_TRIES, Received, canonical,
};
use crate::policy::Credential;
use crate::shell::fs::{self, Access, Kind, Node};

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
/// Debian's `welcome.msg` (170 bytes), shown by `DisplayLogin` after an anonymous login
/// with `%U`, `%R`, `%T`, `%L` expanded.
const WELCOME: &str = "Welcome, archive user %U@%R !\n\nThe local time is: %T\n\nThis is an \
                       experimental FTP server.  If you have any unusual problems,\nplease \
                       report them via e-mail to <root@%L>.\n\n";

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

/// The SITE help block; `tail` replaces its last three body lines for `SITE HELP X`.
fn site_help(admin: &str, tail: Option<&str>) -> String {
    let mut out = String::from(
        "214-The following SITE commands are recognized (* =>'s unimplemented)\r\n CPFR <sp> \
         pathname\r\n CPTO <sp> pathname\r\n UTIME <sp> YYYYMMDDhhmm[ss] <sp> path\r\n \
         SYMLINK <sp> source <sp> destination\r\n RMDIR <sp> path\r\n MKDIR <sp> path\r\n The \
         following SITE extensions are recognized:\r\n RATIO -- show all ratios in effect\r\n \
         QUOTA\r\n",
    );
    match tail {
        Some(tail) => {
            let _ = write!(out, " {tail}\r\n");
        }
        None => out.push_str(" HELP\r\n CHGRP\r\n CHMOD\r\n"),
    }
    let _ = write!(out, "214 Direct comments to {admin}");
    out
}

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
            "OPTS" => return self.opts(&words, &arg).await,
            "CLNT" => return self.say("200 OK").await,
            "LANG" => return self.lang(&words).await,
            "HOST" => return self.host(&words).await,
            "ACCT" | "REIN" => {
                return self
                    .say(&format!("502 {verb_text} command not implemented"))
                    .await;
            }
            "SITE" if self.c.login.is_none() => return self.site_before_login(&raw, &words).await,
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

    async fn opts(&mut self, words: &[&str], arg: &str) -> Result<(), End> {
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
                let _ = arg;
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

    async fn site_before_login(&mut self, raw: &[u8], words: &[&str]) -> Result<(), End> {
        let Some(sub) = words.first().map(|w| w.to_ascii_uppercase()) else {
            return self.say("500 'SITE' requires parameters").await;
        };
        match sub.as_str() {
            "HELP" => self.site_help_reply(words).await,
            "RATIO" => self.ratio().await,
            "CPTO" => {
                self.say("503-Bad sequence of commands\r\n503 Bad sequence of commands")
                    .await
            }
            "CHMOD" | "CHGRP" if words.len() >= 3 => {
                self.say("530 Please login with USER and PASS").await?;
                self.say("530 Please login with USER and PASS").await
            }
            "CHMOD" | "CHGRP" | "CPFR" | "COPY" | "MKDIR" | "RMDIR" | "SYMLINK" | "UTIME"
            | "QUOTA" => self.say("530 Please login with USER and PASS").await,
            _ => {
                let _ = raw;
                self.say(&format!("500 'SITE {sub}' not understood")).await
            }
        }
    }

    async fn site_help_reply(&mut self, words: &[&str]) -> Result<(), End> {
        let admin = self.admin();
        let tail = match words.get(1).map(|w| w.to_ascii_uppercase()).as_deref() {
            None => None,
            Some("CHMOD") => Some("Syntax: SITE CHMOD <sp> mode <sp> pathname"),
            Some("CHGRP") => Some("Syntax: SITE CHGRP <sp> group <sp> pathname"),
            Some("HELP") => Some("Syntax: SITE HELP [<sp> site-command]"),
            Some(other) => {
                return self
                    .say(&format!("502 Unknown command 'SITE HELP {other}'"))
                    .await;
            }
        };
        self.say(&site_help(&admin, tail)).await
    }

    async fn ratio(&mut self) -> Result<(), End> {
        let reply = format!(
            "214 Current Ratio: ( -{}/0 +{}/0 (0 0 0 0) = 0/0 )",
            self.files_out, self.files_in
        );
        self.say(&reply).await
    }

    async fn user(&mut self, raw: &[u8], words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            self.mod_delay().await;
            return self.say("500 USER: command requires a parameter").await;
        }
        // The name is the whole argument, as ProFTPD takes it.
        let name = String::from_utf8_lossy(raw).into_owned();
        if let Some(login) = &self.c.login {
            return if !login.anonymous && login.name == name {
                let reply = format!("230 User {name} logged in");
                self.say(&reply).await
            } else {
                self.say("501 Reauthentication not supported").await
            };
        }
        self.typed_user = raw.to_vec();
        self.c.user = Some(name);
        if self.anonymous_name(raw) {
            return self
                .say("331 Anonymous login ok, send your complete email address as your password")
                .await;
        }
        self.send(&line(&[b"331 Password required for ", raw]))
            .await
    }

    /// `anonymous` and `ftp`, exactly (`UserAlias anonymous ftp`), when anonymous logins
    /// are on.
    fn anonymous_name(&self, raw: &[u8]) -> bool {
        self.c.config.anonymous && (raw == b"anonymous" || raw == b"ftp")
    }

    /// mod_delay's pause on some USER/PASS errors: about half of them waited 2.8–4.3 s
    /// (§4).
    async fn mod_delay(&self) {
        if fastrand::bool() {
            let factor = 0.93 + fastrand::f64() * 0.5;
            tokio::time::sleep(self.c.config.login_failure_delay.mul_f64(factor)).await;
        }
    }

    async fn pass(&mut self, password: &str) -> Result<(), End> {
        if self.c.login.is_some() {
            return self.say("503 You are already logged in").await;
        }
        let Some(user) = self.c.user.take() else {
            self.mod_delay().await;
            return self.say("503 Login with USER first").await;
        };
        let typed = std::mem::take(&mut self.typed_user);
        if self.anonymous_name(&typed) {
            self.c.session.auth_attempts += 1;
            self.c
                .session
                .emit(EventKind::LoginAttempt {
                    username: user.clone(),
                    password: Some(password.to_owned()),
                    key_type: None,
                    key_fingerprint: None,
                    method: AuthMethod::Password,
                    success: true,
                })
                .await;
            self.login_anonymous();
            return self.welcome(&typed).await;
        }
        let success = self
            .c
            .session
            .login(&user, Credential::Password(password), AuthMethod::Password)
            .await;
        if success {
            self.login_local(&user);
            return self.say(&format!("230 User {user} logged in")).await;
        }
        self.c.fails += 1;
        // PAM's fail delay only for accounts the host has; unknown names and root
        // (RootLogin off: no PAM) are refused at once (§4).
        if user != "root" && self.account(&user).is_some() {
            let jitter = 0.75 + fastrand::f64() * 0.5;
            tokio::time::sleep(self.c.config.login_failure_delay.mul_f64(jitter)).await;
        }
        self.say("530 Login incorrect.").await?;
        if self.c.fails >= self.c.config.max_login_fails.max(1) {
            return Err(End::TooManyAuth);
        }
        Ok(())
    }

    /// The fake host's `/etc/passwd` entry of `name`: uid, gid, home.
    fn account(&self, name: &str) -> Option<(u32, u32, String)> {
        let passwd = self.c.fs.read_file("/etc/passwd")?;
        let passwd = String::from_utf8_lossy(&passwd);
        passwd.lines().find_map(|entry| {
            let fields: Vec<&str> = entry.split(':').collect();
            match fields.as_slice() {
                [n, _, uid, gid, _, home, ..] if *n == name => {
                    Some((uid.parse().ok()?, gid.parse().ok()?, (*home).to_owned()))
                }
                _ => None,
            }
        })
    }

    /// A name of `/etc/passwd` (`by_uid`) or `/etc/group`, or the number.
    fn name_of(&self, id: u32, file: &str) -> String {
        let found = self.c.fs.read_file(file).and_then(|text| {
            String::from_utf8_lossy(&text).lines().find_map(|entry| {
                let mut fields = entry.split(':');
                let name = fields.next()?;
                let number = fields.nth(1)?.parse::<u32>().ok()?;
                (number == id).then(|| name.to_owned())
            })
        });
        found.unwrap_or_else(|| id.to_string())
    }

    fn login_anonymous(&mut self) {
        let now = chrono::Utc::now().timestamp();
        // What Debian's package creates: the `ftp` account's home with welcome.msg.
        let installed = self.c.fs.persona().boot_time - 40 * 86_400;
        if !self.c.fs.exists("/", "/srv") {
            let _ = self.c.fs.put("/srv", Node::dir(0o755, 0, 0, installed));
        }
        if !self.c.fs.exists("/", ANONYMOUS_ROOT) {
            let _ = self.c.fs.put(
                ANONYMOUS_ROOT,
                Node::dir(0o755, FTP_UID, NOGROUP, installed),
            );
        }
        let welcome = format!("{ANONYMOUS_ROOT}/welcome.msg");
        if !self.c.fs.exists("/", &welcome) {
            let _ = self.c.fs.put(
                &welcome,
                Node::file(
                    Arc::from(WELCOME.as_bytes()),
                    0o644,
                    0,
                    0,
                    installed.min(now),
                ),
            );
        }
        self.c.login = Some(Login {
            name: "ftp".to_owned(),
            anonymous: true,
            root: ANONYMOUS_ROOT.to_owned(),
            uid: FTP_UID,
            gid: NOGROUP,
        });
        self.c.cwd = "/".to_owned();
        self.transfer_deadline = Some(Instant::now() + self.c.config.no_transfer_timeout);
    }

    fn login_local(&mut self, user: &str) {
        let (uid, gid, home) = self.account(user).unwrap_or_else(|| {
            let uid = if user == "root" { 0 } else { 1000 };
            let home = if user == "root" {
                "/root".to_owned()
            } else {
                format!("/home/{user}")
            };
            (uid, uid, home)
        });
        self.c.login = Some(Login {
            name: user.to_owned(),
            anonymous: false,
            root: "/".to_owned(),
            uid,
            gid,
        });
        // No DefaultRoot in Debian's config: a local user sees the whole host.
        self.c.cwd = if self.c.fs.stat("/", &home).is_ok_and(|(_, n)| n.is_dir()) {
            home
        } else {
            "/".to_owned()
        };
        self.transfer_deadline = Some(Instant::now() + self.c.config.no_transfer_timeout);
    }

    /// `230-` and the expanded welcome.msg, then `230 Anonymous access granted, …`.
    async fn welcome(&mut self, typed: &[u8]) -> Result<(), End> {
        let (real, _) = self.c.locate("/welcome.msg");
        let text = self.c.fs.read_file(&real).unwrap_or_default();
        let now = chrono::Utc::now()
            .format("%a %b %d %H:%M:%S %Y")
            .to_string();
        let client = client_name(self.c.peer.ip());
        let host = self.host_name();
        let mut reply = Vec::new();
        for (i, text_line) in text
            .split(|b| *b == b'\n')
            .take(MAX_MESSAGE_LINES)
            .enumerate()
        {
            if i > 0 && text_line.is_empty() && i + 1 == text.split(|b| *b == b'\n').count() {
                break;
            }
            // An empty line of the file is sent as one space.
            reply.extend_from_slice(if i == 0 { b"230-" } else { b" " });
            reply.extend_from_slice(&expand(text_line, typed, &client, &now, &host));
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(b"230 Anonymous access granted, restrictions apply");
        self.send(&reply).await
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

    async fn passive(&mut self, extended: bool, words: &[&str]) -> Result<(), End> {
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

    async fn port(&mut self, words: &[&str]) -> Result<(), End> {
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

    async fn eprt(&mut self, words: &[&str]) -> Result<(), End> {
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
    async fn active(&mut self, address: std::net::SocketAddr, verb: &str) -> Result<(), End> {
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
    async fn open_data(&mut self) -> Result<Option<Box<dyn ByteStream>>, End> {
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

    fn mode_word(&self) -> &'static str {
        if self.ascii { "ASCII" } else { "BINARY" }
    }

    /// Sends `body` on a data connection after `opening`; `226` or `426`. `counted`
    /// bytes are added to the session's total (`STAT`: a file's own size, not the bytes
    /// TYPE A put on the wire).
    async fn send_data(&mut self, opening: &str, body: &[u8], counted: u64) -> Result<(), End> {
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

    fn transfer_done(&mut self) {
        self.transfer_deadline = Some(Instant::now() + self.c.config.no_transfer_timeout);
    }

    /// Owner and group names for listings: anonymous sessions show `ftp ftp` for every
    /// entry (DirFakeUser/DirFakeGroup), others the fake host's names.
    fn shown(&self, node: &Node) -> (String, String) {
        if self.anonymous() {
            return ("ftp".to_owned(), "ftp".to_owned());
        }
        (
            self.name_of(node.uid, "/etc/passwd"),
            self.name_of(node.gid, "/etc/group"),
        )
    }

    fn links(&self, real: &str, node: &Node) -> usize {
        if !node.is_dir() {
            return 1;
        }
        2 + self
            .c
            .fs
            .list(real)
            .iter()
            .take(MAX_LISTING)
            .filter(|(_, child)| child.is_dir())
            .count()
    }

    fn long_line(&self, name: &str, real: &str, node: &Node, now: i64) -> String {
        let (owner, group) = self.shown(node);
        let shown = Shown {
            owner: &owner,
            group: &group,
            links: self.links(real, node),
        };
        listing::proftpd_line(name, node, shown, now)
    }

    /// `LIST`/`STAT` lines of `arg` (options such as `-la` first, then a path), or
    /// `None` when the path does not exist.
    fn listing(&self, arg: &str, long: bool, all_by_default: bool) -> Option<Vec<String>> {
        let mut all = all_by_default;
        let mut recursive = false;
        let mut by_time = false;
        let mut path = "";
        for word in arg.split(' ').filter(|w| !w.is_empty()) {
            if let Some(flags) = word.strip_prefix('-') {
                all |= flags.contains('a');
                recursive |= flags.contains('R');
                by_time |= flags.contains('t');
            } else if path.is_empty() {
                path = word;
            }
        }
        let now = chrono::Utc::now().timestamp();
        if let Some(lines) = self.glob(path, long, now) {
            return (!lines.is_empty()).then_some(lines);
        }
        let (real, _) = self.c.locate(if path.is_empty() { "." } else { path });
        let (_, node) = self.c.fs.lstat("/", &real).ok()?;
        if !node.is_dir() {
            return Some(vec![if long {
                self.long_line(path, &real, &node, now)
            } else {
                format!("{path}\r\n")
            }]);
        }
        let mut entries = self.c.fs.list(&real);
        if long {
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        if by_time {
            // Newest first; the sort is stable, so equal times stay by name.
            entries.sort_by_key(|entry| std::cmp::Reverse(entry.1.mtime));
        }
        let mut lines = Vec::new();
        if all {
            if long {
                lines.push(self.long_line(".", &real, &node, now));
                let parent = self.parent_of(&real);
                if let Ok((_, up)) = self.c.fs.stat("/", &parent) {
                    lines.push(self.long_line("..", &parent, &up, now));
                }
            } else {
                lines.push(".\r\n".to_owned());
                lines.push("..\r\n".to_owned());
            }
        }
        for (name, child) in entries.into_iter().take(MAX_LISTING) {
            if name.starts_with('.') && !all {
                continue;
            }
            let child_real = format!("{}/{name}", real.trim_end_matches('/'));
            lines.push(if long {
                self.long_line(&name, &child_real, &child, now)
            } else if path.is_empty() {
                format!("{name}\r\n")
            } else {
                format!("{}/{name}\r\n", path.trim_end_matches('/'))
            });
        }
        if recursive && long {
            let mut budget = MAX_LISTING.saturating_sub(lines.len());
            self.recurse(&real, "", all, now, 0, &mut budget, &mut lines);
        }
        Some(lines)
    }

    /// `LIST -R`'s sections: each subdirectory, sorted, as an empty line, `path:` and
    /// its lines, depth first, within `budget` lines.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        real: &str,
        prefix: &str,
        all: bool,
        now: i64,
        depth: usize,
        budget: &mut usize,
        lines: &mut Vec<String>,
    ) {
        const MAX_DEPTH: usize = 8;
        if depth >= MAX_DEPTH {
            return;
        }
        let mut subdirs: Vec<String> = self
            .c
            .fs
            .list(real)
            .into_iter()
            .filter(|(name, node)| node.is_dir() && (all || !name.starts_with('.')))
            .map(|(name, _)| name)
            .collect();
        subdirs.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in subdirs {
            if *budget < 2 {
                return;
            }
            let shown = format!("{prefix}{name}");
            let child_real = format!("{}/{name}", real.trim_end_matches('/'));
            lines.push("\r\n".to_owned());
            lines.push(format!("{shown}:\r\n"));
            *budget -= 2;
            let mut entries = self.c.fs.list(&child_real);
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (entry, node) in entries {
                if entry.starts_with('.') && !all {
                    continue;
                }
                if *budget == 0 {
                    return;
                }
                let entry_real = format!("{child_real}/{entry}");
                lines.push(self.long_line(&entry, &entry_real, &node, now));
                *budget -= 1;
            }
            self.recurse(
                &child_real,
                &format!("{shown}/"),
                all,
                now,
                depth + 1,
                budget,
                lines,
            );
        }
    }

    /// The lines of a `*`/`?` pattern in its last component (`LIST *.txt`), sorted;
    /// `None` when `path` is no pattern.
    fn glob(&self, path: &str, long: bool, now: i64) -> Option<Vec<String>> {
        let (dir, pattern) = match path.rsplit_once('/') {
            Some((dir, pattern)) => (Some(dir), pattern),
            None => (None, path),
        };
        if !pattern.contains(['*', '?']) {
            return None;
        }
        let (real, _) = self.c.locate(match dir {
            Some("") => "/",
            Some(dir) => dir,
            None => ".",
        });
        let mut entries: Vec<(String, Node)> = self
            .c
            .fs
            .list(&real)
            .into_iter()
            .filter(|(name, _)| {
                !name.starts_with('.') && glob_matches(pattern.as_bytes(), name.as_bytes())
            })
            .take(MAX_LISTING)
            .collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let lines = entries
            .into_iter()
            .map(|(name, node)| {
                let shown = match dir {
                    Some(dir) => format!("{dir}/{name}"),
                    None => name.clone(),
                };
                if long {
                    let child = format!("{}/{name}", real.trim_end_matches('/'));
                    self.long_line(&shown, &child, &node, now)
                } else {
                    format!("{shown}\r\n")
                }
            })
            .collect();
        Some(lines)
    }

    /// The parent of `real`, not above the session's root.
    fn parent_of(&self, real: &str) -> String {
        let root = self.c.login.as_ref().map_or("/", |l| l.root.as_str());
        if real == root {
            real.to_owned()
        } else {
            fs::parent(real).to_owned()
        }
    }

    async fn list(&mut self, long: bool, raw: &[u8], arg: &str) -> Result<(), End> {
        let path: Vec<u8> = raw
            .split(|b| *b == b' ')
            .find(|w| !w.is_empty() && !w.starts_with(b"-"))
            .unwrap_or_default()
            .to_vec();
        let lines = self.listing(arg, long, false);
        let opening = format!(
            "150 Opening {} mode data connection for file list",
            self.mode_word()
        );
        let Some(lines) = lines else {
            if !long {
                return self
                    .refuse_with(450, &path, "No such file or directory")
                    .await;
            }
            // LIST opens the data connection first, then finds nothing (§6).
            let Some(mut data) = self.open_data().await? else {
                return Ok(());
            };
            self.say(&opening).await?;
            let _ = timeout(Duration::from_secs(5), data.shutdown()).await;
            return self
                .refuse_with(450, &path, "No such file or directory")
                .await;
        };
        let body = lines.concat();
        self.send_data(&opening, body.as_bytes(), body.len() as u64)
            .await
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

    /// A node's `MLSD`/`MLST` facts.
    fn facts_of(&self, real: &str, node: &Node, special: Option<&'static str>) -> String {
        let (owner_name, group_name) = match &self.c.login {
            Some(login) if !login.anonymous => {
                (login.name.clone(), self.name_of(login.gid, "/etc/group"))
            }
            _ => ("ftp".to_owned(), "ftp".to_owned()),
        };
        let uid = if self.anonymous() { FTP_UID } else { node.uid };
        let writable = if self.anonymous() {
            // The anonymous root belongs to `ftp` itself (perm shows it; Limit WRITE
            // still refuses).
            let (uid, gid) = (FTP_UID, NOGROUP);
            fs::may(node, uid, gid, Access::Write)
        } else {
            self.may_write(node)
        };
        let context = FactContext {
            special,
            writable,
            uid,
            owner_name: &owner_name,
            group_name: &group_name,
            inode: inode(real),
        };
        listing::facts(node, context, &self.facts)
    }

    async fn mlsd(&mut self, raw: &[u8], arg: &str) -> Result<(), End> {
        let target = if arg.trim().is_empty() { "." } else { arg };
        let (real, _) = self.c.locate(target);
        let node = match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.is_dir() => node,
            Ok(_) => {
                return self
                    .send(&line(&[b"550 '", raw, b"' is not a directory"]))
                    .await;
            }
            Err(_) => return self.refuse(raw, "No such file or directory").await,
        };
        let mut body = String::new();
        let _ = write!(body, "{} .\r\n", self.facts_of(&real, &node, Some("cdir")));
        let parent = self.parent_of(&real);
        if let Ok((_, up)) = self.c.fs.stat("/", &parent) {
            let _ = write!(body, "{} ..\r\n", self.facts_of(&parent, &up, Some("pdir")));
        }
        for (name, child) in self.c.fs.list(&real).into_iter().take(MAX_LISTING) {
            let child_real = format!("{}/{name}", real.trim_end_matches('/'));
            let _ = write!(
                body,
                "{} {name}\r\n",
                self.facts_of(&child_real, &child, None)
            );
        }
        let opening = format!(
            "150 Opening {} mode data connection for MLSD",
            self.mode_word()
        );
        self.send_data(&opening, body.as_bytes(), body.len() as u64)
            .await
    }

    async fn mlst(&mut self, raw: &[u8], arg: &str) -> Result<(), End> {
        let target = if arg.is_empty() { "." } else { arg };
        let (real, visible) = self.c.locate(target);
        let Ok((_, node)) = self.c.fs.stat("/", &real) else {
            return self
                .send(&line(&[b"550 '", raw, b"' cannot be listed"]))
                .await;
        };
        let shown_arg: Vec<u8> = if arg.is_empty() {
            self.c.cwd.as_bytes().to_vec()
        } else {
            raw.to_vec()
        };
        let entry = format!(" {} {visible}\r\n", self.facts_of(&real, &node, None));
        let mut reply = line(&[b"250-Start of list for ", &shown_arg, b"\r\n"]);
        reply.extend_from_slice(entry.as_bytes());
        reply.extend_from_slice(b"250 End of list");
        self.send(&reply).await
    }

    async fn status(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            let name = self
                .c
                .login
                .as_ref()
                .map_or("ftp", |l| l.name.as_str())
                .to_owned();
            let ip = canonical(self.c.peer.ip());
            let mut reply = format!(
                "211-Status of '{SERVER_NAME}'\r\n Connected from {} ({ip})\r\n Logged in as \
                 {name}\r\n TYPE: {}, STRUcture: File, Mode: Stream\r\n",
                client_name(ip),
                self.mode_word()
            );
            if self.transferred > 0 {
                let _ = write!(
                    reply,
                    " Total bytes transferred for session: {}\r\n",
                    self.transferred
                );
            }
            reply.push_str(" No data connection\r\n211 End of status");
            return self.say(&reply).await;
        }
        let Some(lines) = self.listing(arg, true, true) else {
            return self
                .refuse_with(450, raw, "No such file or directory")
                .await;
        };
        let path = words.iter().find(|w| !w.starts_with('-')).copied();
        let (real, _) = self.c.locate(path.unwrap_or("."));
        let is_dir = self.c.fs.stat("/", &real).is_ok_and(|(_, n)| n.is_dir());
        let code = if is_dir { "212" } else { "213" };
        let mut reply = format!("{code}-Status of {}:\r\n", path.unwrap_or("."));
        for listing_line in lines {
            reply.push(' ');
            reply.push_str(&listing_line);
        }
        let _ = write!(reply, "{code} End of status");
        self.say(&reply).await
    }

    async fn size(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.ascii {
            return self.say("550 SIZE not allowed in ASCII mode").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.kind == Kind::File => {
                self.say(&format!("213 {}", node.size())).await
            }
            Ok(_) => self.refuse(raw, "not a regular file").await,
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    async fn mdtm(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.kind == Kind::File => {
                self.say(&format!("213 {}", listing::mdtm(node.mtime)))
                    .await
            }
            Ok(_) => self.refuse(raw, "not a plain file").await,
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    async fn restart(&mut self, words: &[&str]) -> Result<(), End> {
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

    async fn byte_range(&mut self, words: &[&str]) -> Result<(), End> {
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

    async fn retrieve(&mut self, raw: &[u8], arg: &str) -> Result<(), End> {
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

    async fn store(&mut self, verb: &str, raw: &[u8], arg: &str) -> Result<(), End> {
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
            return self.refuse(raw, "No space left on device").await;
        }
        self.say("226 Transfer complete").await
    }

    /// `STOU`'s name: `ftp` and six random letters or digits, in the working directory.
    fn unique_name(&self) -> Option<(String, String)> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..MAX_STOU_TRIES).find_map(|_| {
            let name: String = (0..6)
                .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
                .collect();
            let (real, visible) = self.c.locate(&format!("ftp{name}"));
            (!self.c.fs.exists("/", &real)).then_some((real, visible))
        })
    }

    async fn make_dir(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Permission denied").await;
        }
        let (real, visible) = self.c.locate(arg);
        if self.c.fs.exists("/", &real) {
            return self.refuse(raw, "File exists").await;
        }
        if !self
            .c
            .fs
            .stat("/", fs::parent(&real))
            .is_ok_and(|(_, n)| n.is_dir())
        {
            return self.refuse(raw, "No such file or directory").await;
        }
        let (uid, gid) = self.ids();
        let now = chrono::Utc::now().timestamp();
        if !self.may_write_parent(&real)
            || self
                .c
                .fs
                .put(&real, Node::dir(0o755, uid, gid, now))
                .is_err()
        {
            return self.refuse(raw, "Permission denied").await;
        }
        let reply = format!(
            "257 \"{}\" - Directory successfully created",
            visible.replace('"', "\"\"")
        );
        self.say(&reply).await
    }

    async fn remove_dir(
        &mut self,
        verb: &str,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Permission denied").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.lstat("/", &real) {
            Ok((_, node)) if !node.is_dir() => self.refuse(raw, "Not a directory").await,
            Ok(_) if !self.c.fs.list(&real).is_empty() => {
                self.refuse(raw, "Directory not empty").await
            }
            Ok(_) if !self.may_write_parent(&real) => self.refuse(raw, "Permission denied").await,
            Ok(_) => {
                let _ = self.c.fs.remove_tree(&real);
                self.say(&format!("250 {verb} command successful")).await
            }
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    async fn delete(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Operation not permitted").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.lstat("/", &real) {
            Ok((_, node)) if node.is_dir() => self.refuse(raw, "Is a directory").await,
            Ok(_) if !self.may_write_parent(&real) => self.refuse(raw, "Permission denied").await,
            Ok(_) => {
                let _ = self.c.fs.remove_tree(&real);
                self.say("250 DELE command successful").await
            }
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    async fn rename_from(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Operation not permitted").await;
        }
        let (real, _) = self.c.locate(arg);
        if self.c.fs.lstat("/", &real).is_err() {
            return self.refuse(raw, "No such file or directory").await;
        }
        self.c.rename_from = Some(real);
        self.say("350 File or directory exists, ready for destination name")
            .await
    }

    async fn rename_to(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        let Some(from) = self.c.rename_from.take() else {
            return self.say("503 Bad sequence of commands").await;
        };
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        let (to, _) = self.c.locate(arg);
        if !self.may_write_parent(&to) {
            return self.refuse(raw, "Permission denied").await;
        }
        let moved = match self.c.fs.lstat("/", &from) {
            // Files, links and empty directories: a rename of a tree would copy it.
            Ok((_, node)) if !node.is_dir() || self.c.fs.list(&from).is_empty() => {
                self.c.fs.put(&to, node).is_ok() && self.c.fs.remove_tree(&from).is_ok()
            }
            _ => false,
        };
        if moved {
            self.say("250 Rename successful").await
        } else {
            self.refuse(raw, "Permission denied").await
        }
    }

    async fn site(&mut self, raw: &[u8], words: &[&str]) -> Result<(), End> {
        let Some(sub) = words.first().map(|w| w.to_ascii_uppercase()) else {
            return self.say("500 'SITE' requires parameters").await;
        };
        // What follows the sub-command, as typed.
        let rest: &[u8] = {
            let trimmed = raw.trim_ascii_start();
            trimmed
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(&trimmed[trimmed.len()..], |at| &trimmed[at + 1..])
        };
        let args = &words[1..];
        let anonymous = self.anonymous();
        match sub.as_str() {
            "HELP" => self.site_help_reply(words).await,
            "RATIO" => self.ratio().await,
            "QUOTA" => self.say("202 No quotas in effect").await,
            "CHMOD" => {
                let (Some(mode), Some(path)) = (args.first(), args.get(1)) else {
                    return self
                        .send(&line(&[
                            b"500-'SITE ",
                            &raw[..raw.len().min(4096)],
                            b"' not understood\r\n500 SITE not understood",
                        ]))
                        .await;
                };
                if anonymous {
                    return self
                        .send(&line(&[b"550 CHMOD ", rest, b": Permission denied"]))
                        .await;
                }
                let Ok(bits) = u32::from_str_radix(mode, 8) else {
                    return self.say(&format!("550 '{mode}': invalid mode")).await;
                };
                if bits > 0o7777 {
                    return self.say(&format!("550 '{mode}': invalid mode")).await;
                }
                let (real, _) = self.c.locate(path);
                match self.c.fs.lstat("/", &real) {
                    Ok((_, mut node)) if self.may_write(&node) || self.ids().0 == node.uid => {
                        node.mode = bits;
                        let _ = self.c.fs.put(&real, node);
                        self.say("200 SITE CHMOD command successful").await
                    }
                    Ok(_) => {
                        self.say(&format!("550 {path}: Operation not permitted"))
                            .await
                    }
                    Err(_) => {
                        self.say(&format!("550 {path}: No such file or directory"))
                            .await
                    }
                }
            }
            "CHGRP" => {
                let (Some(group), Some(path)) = (args.first(), args.get(1)) else {
                    return self
                        .send(&line(&[
                            b"500-'SITE ",
                            &raw[..raw.len().min(4096)],
                            b"' not understood\r\n500 SITE not understood",
                        ]))
                        .await;
                };
                if anonymous {
                    return self.say(&format!("550 {path}: Invalid argument")).await;
                }
                let (_, own_gid) = self.ids();
                let own = self.name_of(own_gid, "/etc/group");
                let (real, _) = self.c.locate(path);
                match self.c.fs.lstat("/", &real) {
                    Ok((_, mut node)) if *group == own || self.ids().0 == 0 => {
                        node.gid = if *group == own { own_gid } else { node.gid };
                        let _ = self.c.fs.put(&real, node);
                        self.say("200 SITE CHGRP command successful").await
                    }
                    Ok(_) => {
                        self.say(&format!("550 {path}: Operation not permitted"))
                            .await
                    }
                    Err(_) => {
                        self.say(&format!("550 {path}: No such file or directory"))
                            .await
                    }
                }
            }
            "MKDIR" | "RMDIR" | "UTIME" | "SYMLINK" | "COPY" if args.is_empty() => {
                self.say(&format!("500 'SITE {sub}' not understood")).await
            }
            "MKDIR" | "RMDIR" | "UTIME" if anonymous => {
                let reply = line(&[
                    b"550 ",
                    sub.as_bytes(),
                    b" ",
                    rest,
                    b": Operation not permitted",
                ]);
                self.send(&reply).await
            }
            "SYMLINK" | "COPY" if anonymous => {
                let target = args.get(1).copied().unwrap_or_default();
                self.say(&format!("550 {target}: Operation not permitted"))
                    .await
            }
            // mod_site_misc: MKDIR makes the missing parents too, RMDIR removes a tree.
            "MKDIR" => {
                let path = args.join(" ");
                let (real, _) = self.c.locate(&path);
                if self.make_parents(&real) {
                    self.say("200 SITE MKDIR command successful").await
                } else {
                    self.say(&format!("550 {path}: Permission denied")).await
                }
            }
            "RMDIR" => {
                let path = args.join(" ");
                let (real, _) = self.c.locate(&path);
                let dir = self.c.fs.lstat("/", &real).is_ok_and(|(_, n)| n.is_dir());
                if dir && self.may_write_parent(&real) && self.c.fs.remove_tree(&real).is_ok() {
                    self.say("200 SITE RMDIR command successful").await
                } else {
                    self.say(&format!("550 {path}: Permission denied")).await
                }
            }
            "UTIME" => {
                // `YYYYMMDDhhmm[ss] path` or `path atime mtime ctime UTC`.
                let (time, path) = if args.len() >= 5 {
                    (args[2], args[0])
                } else {
                    (args[0], args.get(1).copied().unwrap_or_default())
                };
                let (real, _) = self.c.locate(path);
                match (parse_time(time), self.c.fs.lstat("/", &real)) {
                    (Some(mtime), Ok((_, mut node))) => {
                        node.mtime = mtime;
                        let _ = self.c.fs.put(&real, node);
                        self.say("200 SITE UTIME command successful").await
                    }
                    (None, _) => self.say(&format!("550 {time}: Invalid argument")).await,
                    (_, Err(_)) => {
                        self.say(&format!("550 {path}: No such file or directory"))
                            .await
                    }
                }
            }
            "SYMLINK" => {
                let (Some(source), Some(target)) = (args.first(), args.get(1)) else {
                    return self.say("500 'SITE SYMLINK' not understood").await;
                };
                let (real, _) = self.c.locate(target);
                let (uid, gid) = self.ids();
                let now = chrono::Utc::now().timestamp();
                let mut link = Node::file(Arc::from(&b""[..]), 0o777, uid, gid, now);
                link.kind = Kind::Symlink(Arc::from(*source));
                if self.may_write_parent(&real)
                    && !self.c.fs.exists("/", &real)
                    && self.c.fs.put(&real, link).is_ok()
                {
                    self.say("200 SITE SYMLINK command successful").await
                } else {
                    self.say(&format!("550 {target}: Permission denied")).await
                }
            }
            "CPFR" => {
                let path = String::from_utf8_lossy(rest).into_owned();
                let (real, _) = self.c.locate(&path);
                if self.c.fs.stat("/", &real).is_ok() {
                    self.copy_from = Some(real);
                    self.say("350 File or directory exists, ready for destination name")
                        .await
                } else {
                    self.send(&line(&[b"550 ", rest, b": No such file or directory"]))
                        .await
                }
            }
            "CPTO" => {
                let Some(from) = self.copy_from.take() else {
                    return self
                        .say("503-Bad sequence of commands\r\n503 Bad sequence of commands")
                        .await;
                };
                let path = String::from_utf8_lossy(rest).into_owned();
                self.copy(&from, &path, rest, "250 Copy successful").await
            }
            "COPY" => {
                let (Some(source), Some(target)) = (args.first(), args.get(1)) else {
                    return self.say("500 'SITE COPY' not understood").await;
                };
                let (from, _) = self.c.locate(source);
                self.copy(
                    &from,
                    target,
                    target.as_bytes(),
                    "200 SITE COPY command successful",
                )
                .await
            }
            _ => self.say(&format!("500 'SITE {sub}' not understood")).await,
        }
    }

    /// Makes `real` and the directories above it that are missing, each where the
    /// session may write.
    fn make_parents(&mut self, real: &str) -> bool {
        const MAX_PARTS: usize = 32;
        let mut missing = Vec::new();
        let mut at = real.to_owned();
        while !self.c.fs.exists("/", &at) {
            if missing.len() >= MAX_PARTS || at == "/" {
                return false;
            }
            missing.push(at.clone());
            at = fs::parent(&at).to_owned();
        }
        let (uid, gid) = self.ids();
        let now = chrono::Utc::now().timestamp();
        for dir in missing.iter().rev() {
            if !self.may_write_parent(dir)
                || self.c.fs.put(dir, Node::dir(0o755, uid, gid, now)).is_err()
            {
                return false;
            }
        }
        !missing.is_empty()
    }

    /// mod_copy: copies a file of the fake host (any readable one, as the real module
    /// does: CVE-2015-3306's probes use it) within the session's view.
    async fn copy(&mut self, from: &str, to: &str, shown: &[u8], done: &str) -> Result<(), End> {
        if self.anonymous() {
            return self.refuse(shown, "Operation not permitted").await;
        }
        let (real, _) = self.c.locate(to);
        let now = chrono::Utc::now().timestamp();
        let source = self.c.fs.stat("/", from).ok().map(|(_, n)| n);
        let Some(source) = source.filter(|n| n.kind == Kind::File) else {
            return self.refuse(shown, "No such file or directory").await;
        };
        if !self.may_write_parent(&real) {
            return self.refuse(shown, "Permission denied").await;
        }
        let content = self
            .c
            .fs
            .content_of(&source, now, MAX_RETR_BYTES)
            .unwrap_or_default();
        let (uid, gid) = self.ids();
        let copied = Node::file(
            Arc::from(content.as_slice()),
            source.mode & 0o777,
            uid,
            gid,
            now,
        );
        if self.c.fs.put(&real, copied).is_err() {
            return self.refuse(shown, "No space left on device").await;
        }
        self.say(done).await
    }

    async fn modify_facts(&mut self, verb: &str, words: &[&str]) -> Result<(), End> {
        if self.anonymous() {
            return self.say("550 Unable to handle command").await;
        }
        let (Some(first), Some(_)) = (words.first(), words.get(1)) else {
            return self.say("501 Invalid number of parameters").await;
        };
        let path = words[1..].join(" ");
        let (real, _) = self.c.locate(&path);
        let Ok((_, mut node)) = self.c.fs.lstat("/", &real) else {
            return self
                .say(&format!("550 {path}: No such file or directory"))
                .await;
        };
        if verb == "MFMT" {
            let Some(mtime) = parse_time(first) else {
                return self.say(&format!("501 {first}: Invalid argument")).await;
            };
            node.mtime = mtime;
            let _ = self.c.fs.put(&real, node);
            return self.say(&format!("213 Modify={first}; {path}")).await;
        }
        for fact in first.split(';').filter(|f| !f.is_empty()) {
            let Some((name, value)) = fact.split_once('=') else {
                continue;
            };
            match name.to_ascii_lowercase().as_str() {
                "modify" => {
                    if let Some(mtime) = parse_time(value) {
                        node.mtime = mtime;
                    }
                }
                "unix.mode" => {
                    if let Ok(mode) = u32::from_str_radix(value, 8) {
                        node.mode = mode & 0o7777;
                    }
                }
                _ => {}
            }
        }
        let _ = self.c.fs.put(&real, node);
        self.say(&format!("213 {first} {path}")).await
    }
}

/// `welcome.msg`'s variables: `%U` the name as typed, `%R` the client, `%T` the time,
/// `%L` the server's host name.
fn expand(text: &[u8], user: &[u8], client: &str, now: &str, host: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 32);
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let value: Option<&[u8]> = match text.get(i + 1) {
                Some(b'U') => Some(user),
                Some(b'R') => Some(client.as_bytes()),
                Some(b'T') => Some(now.as_bytes()),
                Some(b'L') => Some(host.as_bytes()),
                _ => None,
            };
            if let Some(value) = value {
                out.extend_from_slice(value);
                i += 2;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// Whether `name` matches a shell pattern of `*` and `?` (iteratively: a hostile
/// pattern of many stars costs linear time per star, not exponential).
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// `YYYYMMDDhhmm[ss]` (UTC) as unix seconds.
fn parse_time(text: &str) -> Option<i64> {
    let format = match text.len() {
        12 => "%Y%m%d%H%M",
        14 => "%Y%m%d%H%M%S",
        _ => return None,
    };
    chrono::NaiveDateTime::parse_from_str(text, format)
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// TYPE A on the way out: a bare LF becomes CR LF.
fn to_crlf(bytes: &[u8]) -> Vec<u8> {
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
fn from_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &byte) in bytes.iter().enumerate() {
        if byte == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

/// A stable per-path number for `unique=` (FNV-1a, folded to 24 bits like the inode
/// numbers of a small filesystem).
fn inode(path: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    0x10_0000 | (hash & 0x0f_ffff)
}

#[cfg(test)]
mod tests {
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
