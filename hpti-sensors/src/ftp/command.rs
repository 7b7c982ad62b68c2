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
}
