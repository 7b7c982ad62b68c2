//! The Telnet state machine (hpti-sensors/src/telnet/protocol.rs) on hostile bytes:
//! never panics, what it extracts and answers is bounded by what it was fed, its answers
//! are well-formed, and how the bytes are split into reads changes nothing.
//!
//! Input: `flags, l1, l2, l3, payload...`. Bit 0 of `flags` runs the server's opening
//! negotiation first (as telnet/mod.rs does); `l1..l3` cycle as the chunk lengths
//! (`% 64`, 0 = an empty read followed by a 1-byte one) the payload is fed in.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../hpti-sensors/src/telnet/protocol.rs"]
#[allow(dead_code, unreachable_pub)]
mod protocol;

use protocol::{
    DO, DONT, IAC, OPT_AUTHENTICATION, OPT_BINARY, OPT_ECHO, OPT_ENCRYPT, OPT_LFLOW, OPT_LINEMODE,
    OPT_NAWS, OPT_NEW_ENVIRON, OPT_OLD_ENVIRON, OPT_SGA, OPT_STATUS, OPT_TM, OPT_TSPEED, OPT_TTYPE,
    OPT_XDISPLOC, SE, Telnet, WILL, WONT, encode,
};

/// The answer to `IAC AYT`, at most `MAX_AYT` times per connection.
const YES: &[u8] = b"\r\n[Yes]\r\n";
const MAX_AYT: usize = 16;
/// Negotiation commands kept in the trace (MAX_TRACE).
const MAX_TRACE: usize = 64;

/// The opening negotiation of telnet/mod.rs (`negotiate`, inetutils telnetd's), minus
/// the waits and the subnegotiation requests.
fn open(t: &mut Telnet) -> Vec<u8> {
    let mut out = t.offer_will(OPT_AUTHENTICATION);
    out.extend(t.offer_will(OPT_ENCRYPT));
    for option in [
        OPT_TTYPE,
        OPT_TSPEED,
        OPT_XDISPLOC,
        OPT_NEW_ENVIRON,
        OPT_OLD_ENVIRON,
    ] {
        out.extend(t.ask_do(option));
    }
    out.extend(t.offer_will(OPT_SGA));
    out.extend(t.ask_do(OPT_ECHO));
    out.extend(t.ask_do(OPT_LINEMODE));
    out.extend(t.ask_do(OPT_NAWS));
    out.extend(t.offer_will(OPT_STATUS));
    out.extend(t.ask_do(OPT_LFLOW));
    out.extend(t.offer_will(OPT_ECHO));
    out.extend(t.ask_do(OPT_TM));
    out.extend(t.ask_do(OPT_BINARY));
    out
}

/// Checks that a reply is only `IAC verb option` triples and AYT answers; returns the
/// number of AYT answers.
fn check_reply(reply: &[u8]) -> usize {
    let mut ayt = 0;
    let mut i = 0;
    while i < reply.len() {
        if reply[i..].starts_with(YES) {
            ayt += 1;
            i += YES.len();
        } else {
            assert!(
                i + 3 <= reply.len()
                    && reply[i] == IAC
                    && matches!(reply[i + 1], WILL | WONT | DO | DONT),
                "malformed reply {reply:02x?}"
            );
            i += 3;
        }
    }
    ayt
}

/// Options the client may enable on its side: `accept_his`, and ECHO once the opening
/// asked for it (telnetd's probe, taken and turned off later).
fn accepted_his(option: u8, opened: bool) -> bool {
    matches!(option, 0 | 3 | 6 | 24 | 31 | 32 | 33 | 34 | 35 | 36 | 39) || (opened && option == 1)
}

/// The two connections are in the same state, as far as it shows (comparing their
/// `Debug` forms would say more but costs more than the rest of the target).
fn same_state(a: &Telnet, b: &Telnet) {
    assert_eq!(a.window(), b.window());
    assert_eq!(a.terminal_type(), b.terminal_type());
    assert_eq!(a.trace(), b.trace());
    assert_eq!(a.echo(), b.echo());
    for option in 0..=255u8 {
        assert_eq!(a.his(option), b.his(option));
        assert_eq!(a.his_settled(option), b.his_settled(option));
        assert_eq!(a.sub_seen(option), b.sub_seen(option));
    }
    // The hidden state (our side's options, refusal counts, a command or
    // subnegotiation in progress) shows in how both take the same bytes again.
    let (mut a, mut b) = (a.clone(), b.clone());
    let (mut data_a, mut data_b) = (Vec::new(), Vec::new());
    for probe in [
        &[IAC, DO, OPT_ECHO, IAC, DONT, OPT_SGA, IAC, 246][..],
        &[IAC, SE, b'x'],
    ] {
        assert_eq!(a.receive(probe, &mut data_a), b.receive(probe, &mut data_b));
    }
    assert_eq!(data_a, data_b);
}

fuzz_target!(|data: &[u8]| {
    let (header, payload) = data.split_at(data.len().min(4));
    let flags = header.first().copied().unwrap_or(0);
    let lengths = header.get(1..).unwrap_or(&[]);

    let mut split = Telnet::new();
    let mut whole = Telnet::new();
    if flags & 1 != 0 {
        let opening = open(&mut split);
        assert_eq!(check_reply(&opening), 0);
        assert_eq!(opening, open(&mut whole));
    }

    // Fed in chunks.
    let mut data_split = Vec::new();
    let mut reply_split = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let mut len = lengths
            .get(i % lengths.len().max(1))
            .map_or(rest.len(), |&l| usize::from(l % 64));
        i += 1;
        if len == 0 {
            let before = data_split.len();
            assert!(split.receive(&[], &mut data_split).is_empty());
            assert_eq!(data_split.len(), before);
            len = 1;
        }
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let before = data_split.len();
        let reply = split.receive(chunk, &mut data_split);
        assert!(data_split.len() - before <= chunk.len());
        assert!(reply.len() <= chunk.len() * 3 + YES.len() * MAX_AYT);
        reply_split.extend(reply);
    }

    // Fed at once.
    let mut data_whole = Vec::new();
    let reply_whole = whole.receive(payload, &mut data_whole);

    // Splitting changes nothing: every byte is handled by the same state transition
    // whatever read it arrives in (the only per-call state is the reply buffer).
    assert_eq!(data_split, data_whole);
    assert_eq!(reply_split, reply_whole);
    same_state(&split, &whole);

    // Bounds: data at most one byte per byte fed (commands removed); each 3-byte reply
    // is paid for by the 3 bytes `IAC verb option`, each AYT answer (9 bytes for the 2
    // of `IAC AYT`) at most 16 times.
    assert!(data_whole.len() <= payload.len());
    if !payload.contains(&IAC) {
        assert_eq!(data_whole, payload);
    }
    let ayt = check_reply(&reply_whole);
    assert!(ayt <= MAX_AYT);
    assert!(reply_whole.len() <= payload.len() + (YES.len() - 2) * MAX_AYT);

    // The same bytes again, at once on both: answered alike (this compares the state the
    // getters do not show, e.g. refusal counts, for the options the input touched).
    let (mut again_split, mut again_whole) = (Vec::new(), Vec::new());
    assert_eq!(
        split.receive(payload, &mut again_split),
        whole.receive(payload, &mut again_whole)
    );
    assert_eq!(again_split, again_whole);
    same_state(&split, &whole);

    // What was learnt is within its limits.
    let t = &mut whole;
    if let Some((width, height)) = t.window() {
        assert!((1..=1000).contains(&width) && (1..=1000).contains(&height));
    }
    if let Some(term) = t.terminal_type() {
        assert!(!term.is_empty() && term.len() <= 40, "{term:?}");
        assert!(
            term.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.+".contains(&b)),
            "{term:?}"
        );
    }
    let trace = t.trace();
    assert_eq!(t.negotiated(), !trace.is_empty());
    if !trace.is_empty() {
        let entries: Vec<&str> = trace.split(',').collect();
        assert!(entries.len() <= MAX_TRACE);
        for entry in entries {
            let (verb, option) = entry.split_once(' ').expect("verb option");
            assert!(
                matches!(verb, "WILL" | "WONT" | "DO" | "DONT" | "SB"),
                "{entry}"
            );
            assert!(option.parse::<u8>().is_ok(), "{entry}");
        }
    }
    for option in 0..=255u8 {
        // The client can never turn on an option we do not accept.
        assert!(
            !t.his(option) || accepted_his(option, flags & 1 != 0),
            "option {option}"
        );
    }
    if let Some(user) = t.take_env_user() {
        assert!(
            !user.is_empty() && user.len() <= 64 && !user.starts_with('-'),
            "{user:?}"
        );
        assert!(
            user.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-$".contains(&b))
        );
    }
    assert_eq!(t.take_env_user(), None);
    let resize = t.take_resize();
    assert!(resize.is_none() || resize == t.window());
    assert_eq!(t.take_resize(), None);

    // Output encoding: a fresh receiver reads back the output, with the NUL telnetd puts
    // after a bare CR, and has nothing to answer.
    let encoded = encode(payload);
    let mut expected = Vec::with_capacity(encoded.len());
    for (k, &b) in payload.iter().enumerate() {
        expected.push(b);
        if b == b'\r' && payload.get(k + 1) != Some(&b'\n') {
            expected.push(0);
        }
    }
    let iacs = payload.iter().filter(|&&b| b == IAC).count();
    assert_eq!(encoded.len(), expected.len() + iacs);
    let mut decoded = Vec::new();
    assert!(Telnet::new().receive(&encoded, &mut decoded).is_empty());
    assert_eq!(decoded, expected);
});
