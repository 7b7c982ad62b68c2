//! The FTP control connection's framing and parsing (hpti-sensors/src/ftp/command.rs) on
//! hostile bytes: never panics, a line is found within vsftpd's 4096 bytes or refused,
//! reading a stream line by line consumes exactly what it was given, and `PORT`/`EPRT`
//! arguments parse to well-formed addresses or a refusal. The same for ProFTPD's
//! framing (CRLF only, 4102 bytes) and parsing (Telnet answers, NUL, foreign words).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../hpti-sensors/src/ftp/command.rs"]
#[allow(dead_code, unreachable_pub)]
mod command;

use command::{Framed, MAX_LINE, PROFTPD_MAX_LINE, ProFramed, ProLine, Target};

fuzz_target!(|data: &[u8]| {
    // A stream read line by line: the lines and what follows the last are the input.
    let mut rest = data;
    let mut consumed = 0;
    loop {
        match command::frame(rest) {
            Framed::Line(line, used) => {
                assert!(used >= 1 && used <= rest.len() && used <= MAX_LINE);
                assert_eq!(rest[used - 1], b'\n');
                assert!(!line.contains(&b'\n'));
                assert!(line.len() < used);
                let parsed = command::parse(&line);
                assert!(!parsed.verb.bytes().any(|b| b.is_ascii_lowercase()));
                assert!(!parsed.verb.contains(' '));
                if let Some(arg) = &parsed.arg {
                    assert!(arg.len() <= line.len() * 3);
                    let _ = command::port_target(arg);
                    for v6 in [false, true] {
                        if let Target::Address(address) = command::eprt_target(arg, v6) {
                            assert!(v6 || address.is_ipv4());
                        }
                    }
                    if let Target::Address(address) = command::port_target(arg) {
                        let reply = command::pasv_reply(address.ip(), address.port());
                        assert!(reply.starts_with("227 Entering Passive Mode (") && reply.ends_with(")."));
                    }
                }
                consumed += used;
                rest = &rest[used..];
            }
            Framed::TooLong => {
                assert!(rest.len() >= MAX_LINE);
                assert!(!rest[..MAX_LINE].contains(&b'\n'));
                break;
            }
            Framed::Incomplete => {
                assert!(rest.len() < MAX_LINE && !rest.contains(&b'\n'));
                break;
            }
        }
    }
    assert_eq!(consumed + rest.len(), data.len());

    // ProFTPD: lines end at CR LF within 4102 bytes, else the chunk overflows.
    let mut rest = data;
    let split_cr = data.first().map(|b| usize::from(*b) % 64);
    loop {
        match command::proftpd_frame(rest, split_cr) {
            ProFramed::Line(line, used) => {
                assert!(used >= 2 && used <= rest.len() && used <= PROFTPD_MAX_LINE);
                assert_eq!(&rest[used - 2..used], b"\r\n");
                assert_eq!(line.len() + 2, used);
                let (parsed, answers) = command::proftpd_parse(&line);
                assert!(answers.len() % 3 == 0 && answers.len() <= line.len() * 3);
                if let ProLine::Command(c) = parsed {
                    assert!(!c.verb.is_empty() && c.verb.len() <= line.len());
                    assert!(!c.verb.iter().any(|b| b.is_ascii_lowercase() || *b == b' ' || *b == 0));
                }
                rest = &rest[used..];
            }
            ProFramed::Overflow => {
                assert!(rest.len() >= PROFTPD_MAX_LINE);
                rest = &rest[PROFTPD_MAX_LINE..];
            }
            ProFramed::Incomplete => {
                assert!(rest.len() < PROFTPD_MAX_LINE);
                break;
            }
        }
    }
});
