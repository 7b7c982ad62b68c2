//! The FTP control connection's framing and arguments, as vsftpd 3.0.3 reads them
//! (`testdata/ftp/vsftpd-3.0.3/NOTES.md`, §1): pure functions, fuzzed by
//! `fuzz/fuzz_targets/ftp_command.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// vsftpd's command line buffer: the LF must arrive within this many bytes.
pub const MAX_LINE: usize = 4096;

/// What the line reader found in the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A complete line (without its LF and a CR before it) and the bytes it used.
    Line(Vec<u8>, usize),
    /// No LF yet; more bytes are needed.
    Incomplete,
    /// [`MAX_LINE`] bytes without a LF: vsftpd answers `500 Input line too long.` and
    /// closes.
    TooLong,
}

/// Finds the first line in `buf`.
pub fn frame(buf: &[u8]) -> Framed {
    let window = &buf[..buf.len().min(MAX_LINE)];
    match window.iter().position(|&b| b == b'\n') {
        Some(at) => {
            let mut line = &buf[..at];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            Framed::Line(line.to_vec(), at + 1)
        }
        None if buf.len() >= MAX_LINE => Framed::TooLong,
        None => Framed::Incomplete,
    }
}

/// A command: the verb up to the first space, upper-cased, and everything after that
/// space verbatim (`CWD  pub` asks for " pub").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Upper-cased verb.
    pub verb: String,
    /// The argument, when the line had a space after the verb.
    pub arg: Option<String>,
}

/// Parses a framed line. BSD ftp's urgent `IAC IP IAC DM ABOR` is read as `ABOR`.
pub fn parse(line: &[u8]) -> Command {
    let mut line = line;
    while let [0xff, _, rest @ ..] = line {
        line = rest;
    }
    let text = String::from_utf8_lossy(line);
    let (verb, arg) = match text.split_once(' ') {
        Some((verb, arg)) => (verb, Some(arg.to_owned())),
        None => (text.as_ref(), None),
    };
    Command {
        verb: verb.to_ascii_uppercase(),
        arg,
    }
}

/// Where a `PORT` or `EPRT` asks the server to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A well-formed address.
    Address(SocketAddr),
    /// Unparsable (`500 Illegal PORT command.` / `500 Bad EPRT command.`).
    Malformed,
    /// `EPRT` with a protocol this listener does not serve (`500 Bad EPRT protocol.`).
    BadProtocol,
}

/// `PORT h1,h2,h3,h4,p1,p2`.
pub fn port_target(arg: &str) -> Target {
    let numbers: Vec<Option<u8>> = arg.split(',').map(|n| n.trim().parse().ok()).collect();
    match numbers.as_slice() {
        [Some(a), Some(b), Some(c), Some(d), Some(p1), Some(p2)] => {
            Target::Address(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)),
                u16::from(*p1) << 8 | u16::from(*p2),
            ))
        }
        _ => Target::Malformed,
    }
}

/// `EPRT |1|h|port|` (RFC 2428); the first character is the delimiter.
pub fn eprt_target(arg: &str, control_is_v6: bool) -> Target {
    let mut chars = arg.chars();
    let Some(delimiter) = chars.next() else {
        return Target::Malformed;
    };
    if delimiter.is_ascii_alphanumeric() {
        return Target::Malformed;
    }
    let parts: Vec<&str> = arg.split(delimiter).collect();
    let [_, protocol, host, port, _] = parts.as_slice() else {
        return Target::Malformed;
    };
    let ip = match (*protocol, control_is_v6) {
        ("1", _) => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        ("2", true) => host.parse().ok(),
        _ => return Target::BadProtocol,
    };
    match (ip, port.parse::<u16>()) {
        (Some(ip), Ok(port)) => Target::Address(SocketAddr::new(ip, port)),
        _ => Target::Malformed,
    }
}

/// `PASV`'s `(h1,h2,h3,h4,p1,p2)`; vsftpd shows `0,0,0,0` over IPv6.
pub fn pasv_reply(ip: IpAddr, port: u16) -> String {
    let octets = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or([0; 4], |v4| v4.octets()),
    };
    format!(
        "227 Entering Passive Mode ({},{},{},{},{},{}).",
        octets[0],
        octets[1],
        octets[2],
        octets[3],
        port >> 8,
        port & 0xff
    )
}

/// ProFTPD's command buffer: a line of at most this many bytes, its CRLF included, is
/// read (`testdata/ftp/proftpd-1.3.8/NOTES.md`, §1).
pub const PROFTPD_MAX_LINE: usize = 4102;

/// What ProFTPD's line reader found in the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum ProFramed {
    /// A line (without its CRLF) and the bytes it used.
    Line(Vec<u8>, usize),
    /// No CRLF yet; more bytes are needed.
    Incomplete,
    /// [`PROFTPD_MAX_LINE`] bytes without a CRLF: ProFTPD drops them silently (and
    /// the rest of that line when its CRLF comes).
    Overflow,
}

/// Finds the first CRLF-terminated line in `buf`, as ProFTPD does: only CR LF ends a
/// line (a bare LF or CR stays in it), and not a CR that ended one TCP segment when the
/// LF came in the next (`split_cr`, the index of such a CR).
pub fn proftpd_frame(buf: &[u8], split_cr: Option<usize>) -> ProFramed {
    let window = &buf[..buf.len().min(PROFTPD_MAX_LINE)];
    let end = window
        .windows(2)
        .enumerate()
        .find(|(at, pair)| *pair == b"\r\n" && Some(*at) != split_cr)
        .map(|(at, _)| at);
    match end {
        Some(at) => ProFramed::Line(buf[..at].to_vec(), at + 2),
        None if buf.len() >= PROFTPD_MAX_LINE => ProFramed::Overflow,
        None => ProFramed::Incomplete,
    }
}

/// A line as ProFTPD reads it, after its Telnet bytes are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProLine {
    /// Empty, or starting with whitespace: `500 Invalid command: try being more
    /// creative`.
    Blank,
    /// Another protocol's first word (HTTP, SMTP, SSH): closed without a reply.
    Foreign,
    /// A command.
    Command(ProCommand),
}

/// A ProFTPD command: the word up to the first space, TAB, CR or LF, upper-cased
/// (ASCII only), and the bytes after that separator verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProCommand {
    /// The upper-cased command word, as bytes (it is echoed back raw).
    pub verb: Vec<u8>,
    /// The argument's bytes, when a separator followed the word.
    pub arg: Option<Vec<u8>>,
}

/// First words after which ProFTPD closes the connection silently (it logs "client sent
/// HTTP command"): HTTP methods and SMTP verbs, case-sensitive as sent.
const FOREIGN_WORDS: [&[u8]; 15] = [
    b"GET", b"POST", b"HEAD", b"OPTIONS", b"PUT", b"CONNECT", b"DELETE", b"PATCH", b"EHLO",
    b"HELO", b"MAIL", b"DATA", b"RCPT", b"RSET", b"VRFY",
];

/// Reads a framed line as ProFTPD does and returns it with the Telnet answers to send
/// in front of the next reply: `IAC WILL/WONT x` gets `IAC DONT x`, `IAC DO/DONT x`
/// gets `IAC WONT x`, `IAC IAC` is one 0xff byte, other `IAC x` pairs (IP, DM) are
/// dropped; a NUL ends the line.
pub fn proftpd_parse(line: &[u8]) -> (ProLine, Vec<u8>) {
    const IAC: u8 = 0xff;
    let mut clean = Vec::with_capacity(line.len());
    let mut answers = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let byte = line[i];
        if byte == 0 {
            break;
        }
        if byte != IAC {
            clean.push(byte);
            i += 1;
            continue;
        }
        match line.get(i + 1) {
            Some(&IAC) => {
                clean.push(IAC);
                i += 2;
            }
            Some(&option_verb @ 251..=254) => {
                if let Some(&option) = line.get(i + 2) {
                    let answer = if option_verb <= 252 { 254 } else { 252 };
                    answers.extend_from_slice(&[IAC, answer, option]);
                }
                i += 3;
            }
            _ => i += 2,
        }
    }
    let separator = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    if clean.first().is_none_or(separator) {
        return (ProLine::Blank, answers);
    }
    let (word, arg) = match clean.iter().position(separator) {
        Some(at) => (&clean[..at], Some(clean[at + 1..].to_vec())),
        None => (&clean[..], None),
    };
    if FOREIGN_WORDS.contains(&word)
        || clean.starts_with(b"SSH-2.0-")
        || clean.starts_with(b"SSH-1.99-")
    {
        return (ProLine::Foreign, answers);
    }
    let command = ProCommand {
        verb: word.to_ascii_uppercase(),
        arg,
    };
    (ProLine::Command(command), answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_lf_within_4096_bytes() {
        assert_eq!(
            frame(b"USER x\r\nPASS"),
            Framed::Line(b"USER x".to_vec(), 8)
        );
        assert_eq!(frame(b"NOOP\n"), Framed::Line(b"NOOP".to_vec(), 5));
        assert_eq!(frame(b"NOOP\r"), Framed::Incomplete);
        let mut ok = vec![b'A'; 4094];
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(frame(&ok), Framed::Line(_, 4096)));
        let mut long = vec![b'A'; 4095];
        long.extend_from_slice(b"\r\n");
        assert_eq!(frame(&long), Framed::TooLong);
        assert_eq!(frame(&[b'A'; 4096]), Framed::TooLong);
        assert_eq!(frame(&[b'A'; 4095]), Framed::Incomplete);
    }

    #[test]
    fn verbs_are_case_blind_and_arguments_verbatim() {
        assert_eq!(
            parse(b"cwd  pub"),
            Command {
                verb: "CWD".into(),
                arg: Some(" pub".into())
            }
        );
        assert_eq!(parse(b"NoOp").verb, "NOOP");
        assert_eq!(parse(b"SYST\tx").verb, "SYST\tX");
        assert_eq!(parse(b"\xff\xf4\xff\xf2ABOR").verb, "ABOR");
    }

    #[test]
    fn port_and_eprt_targets() {
        assert_eq!(
            port_target("127,0,0,1,156,138"),
            Target::Address("127.0.0.1:40074".parse().unwrap())
        );
        assert_eq!(port_target("127,0,0,1,156"), Target::Malformed);
        assert_eq!(port_target("300,0,0,1,1,1"), Target::Malformed);
        assert_eq!(
            eprt_target("|1|10.1.2.3|4000|", false),
            Target::Address("10.1.2.3:4000".parse().unwrap())
        );
        assert_eq!(eprt_target("|2|::1|4000|", false), Target::BadProtocol);
        assert_eq!(eprt_target("|3|x|4000|", false), Target::BadProtocol);
        assert_eq!(eprt_target("127.0.0.1", false), Target::Malformed);
        assert_eq!(eprt_target("", false), Target::Malformed);
    }

    #[test]
    fn pasv_reply_has_vsftpd_punctuation() {
        assert_eq!(
            pasv_reply("127.0.0.1".parse().unwrap(), 40074),
            "227 Entering Passive Mode (127,0,0,1,156,138)."
        );
    }

    #[test]
    fn proftpd_lines_end_at_crlf_only_within_4102_bytes() {
        assert_eq!(
            proftpd_frame(b"NOOP\r\nSYST", None),
            ProFramed::Line(b"NOOP".to_vec(), 6)
        );
        assert_eq!(proftpd_frame(b"NOOP\nSYST", None), ProFramed::Incomplete);
        assert_eq!(
            proftpd_frame(b"NOOP\nSYST\r\n", None),
            ProFramed::Line(b"NOOP\nSYST".to_vec(), 11)
        );
        // The CR ended a segment and the LF came in the next: not a line end.
        assert_eq!(
            proftpd_frame(b"NOOP\r\nSYST\r\n", Some(4)),
            ProFramed::Line(b"NOOP\r\nSYST".to_vec(), 12)
        );
        let mut ok = vec![b'A'; 4100];
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(proftpd_frame(&ok, None), ProFramed::Line(_, 4102)));
        let mut long = vec![b'A'; 4101];
        long.extend_from_slice(b"\r\n");
        assert_eq!(proftpd_frame(&long, None), ProFramed::Overflow);
        assert_eq!(proftpd_frame(&[b'A'; 4096], None), ProFramed::Incomplete);
    }

    #[test]
    fn proftpd_words_telnet_and_foreign_protocols() {
        let command = |line: &[u8]| match proftpd_parse(line).0 {
            ProLine::Command(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(command(b"noop").verb, b"NOOP");
        assert_eq!(command(b"SYST\tx").verb, b"SYST");
        assert_eq!(command(b"CWD  pub").arg.as_deref(), Some(&b" pub"[..]));
        assert_eq!(command(b"NO\0OP").verb, b"NO");
        assert_eq!(command(b"\xff\xf4\xff\xf2ABOR").verb, b"ABOR");
        assert_eq!(command(b"\xff\xff").verb, b"\xff");
        assert_eq!(command(b"\xc3\xa9t").verb, b"\xc3\xa9T");
        assert_eq!(proftpd_parse(b"\xff\xfb\x01NOOP").1, b"\xff\xfe\x01");
        assert_eq!(proftpd_parse(b"\xff\xfd\x03NOOP").1, b"\xff\xfc\x03");
        for blank in [&b""[..], b"  NOOP", b"\tSYST", b"\0", b" "] {
            assert_eq!(proftpd_parse(blank).0, ProLine::Blank, "{blank:?}");
        }
        for foreign in [&b"GET / HTTP/1.0"[..], b"EHLO x", b"SSH-2.0-OpenSSH_9.2"] {
            assert_eq!(proftpd_parse(foreign).0, ProLine::Foreign);
        }
        assert!(matches!(proftpd_parse(b"get /").0, ProLine::Command(_)));
    }
}
