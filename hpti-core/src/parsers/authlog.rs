//! OpenSSH `sshd` lines of syslog / `/var/log/auth.log`.
//!
//! See `testdata/FORMATS.md` §3. Two line forms are read, each with an optional `<PRI>`:
//!
//! * classic (`RSYSLOG_TraditionalFileFormat`): `Nov 21 13:45:01 host sshd[123]: message`.
//!   It has no year and no zone: the time is read as **UTC**, in the current year, or the
//!   previous one when that would put it more than a day in the future (a December line
//!   read in January). Leap days go back to the last leap year.
//! * RFC 3339 (`RSYSLOG_FileFormat`): `2026-11-21T13:45:01.123456+00:00 host sshd[123]: message`.
//!
//! Only lines of `sshd` (and OpenSSH 9.8+'s `sshd-session`/`sshd-auth`) that name the
//! client's address become events; other programs, PAM lines (`pam_unix(sshd:auth)` names
//! `rhost=` but repeats the `Failed password` line that follows), `Server listening on`
//! and lines without an address give `Ok(None)`. A line that is not syslog at all is
//! [`ParseError::Unrecognised`].
//!
//! | message | kind |
//! | --- | --- |
//! | `Failed\|Accepted METHOD for [invalid user ]USER from IP port P ssh2[: KEYTYPE FP]` | `login.attempt` (no password: sshd does not log it) |
//! | `Connection from IP port P on IP port P [rdomain ""]` (`LogLevel VERBOSE`) | `session.started` with the destination |
//! | `Invalid user USER from IP port P` | `unknown` `sshd.invalid_user` |
//! | `Connection closed by …`, `Connection reset by …`, `Disconnected from …`, `Received disconnect from …`, `Disconnecting …` | `unknown` `sshd.disconnect` (`how`: `closed`, `reset`, `disconnected`, `received_disconnect`, `disconnecting`) |
//! | any other sshd message naming `IP port P` | `unknown` `sshd.other` |
//!
//! `unknown` fields: `host`, `program`, `pid`, `message`, and what was parsed (`username`,
//! `user_state`: `invalid`/`authenticating`/`authenticated`, `preauth`, `code`,
//! `description`, `reason`). A message that starts like one of the typed shapes but does
//! not parse as one (a truncated line) is an error, not an `unknown` event.
//!
//! Protocol `ssh`; sensor = the syslog host name (`-` falls back to the context's); no
//! session (`sshd[pid]` is not unique: the pre-auth and post-auth processes differ and
//! pids are reused). The id is derived from `authlog`, the line and its byte offset
//! (`ParseContext::offset`, little-endian), because identical lines within one second are
//! normal in auth.log. The id must not depend on the inferred year, or re-ingesting a
//! classic file in a later year would store every event again: its time part is the
//! line's month, day and time in the fixed (leap) year 2000, not the inferred time.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{NoZone, excerpt, parse_datetime, prepare};
use crate::event::{
    AuthMethod, Enrichment, Event, EventId, EventKind, Protocol, SCHEMA_VERSION, Timestamp,
};
use crate::parser::{ParseContext, ParseError, Parser};

/// Parses sshd lines of auth.log. Format name `authlog`.
///
/// ```
/// use hpti_core::event::{EventKind, Timestamp};
/// use hpti_core::parser::{ParseContext, Parser};
/// use hpti_core::parsers::AuthLogParser;
///
/// let parser = AuthLogParser::with_reference_time(Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap());
/// let line = b"Nov 21 13:33:38 vm sshd[24615]: Failed password for root from 198.51.100.4 port 57484 ssh2";
/// let event = parser.parse(line, &ParseContext::default()).unwrap().unwrap();
/// assert_eq!(event.time.to_string(), "2026-11-21T13:33:38.000000Z");
/// assert_eq!(event.sensor, "vm");
/// assert!(matches!(event.kind, EventKind::LoginAttempt { success: false, password: None, .. }));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthLogParser {
    reference: Option<Timestamp>,
}

impl AuthLogParser {
    /// A parser that infers the year of classic lines from the clock.
    pub fn new() -> Self {
        Self { reference: None }
    }

    /// A parser that infers the year of classic lines as if the time now were `now`
    /// (for reproducible imports and tests).
    pub fn with_reference_time(now: Timestamp) -> Self {
        Self {
            reference: Some(now),
        }
    }
}

/// The parts of a syslog line.
struct Header<'a> {
    time: Timestamp,
    /// The time the event id is derived from: `time` for lines that carry their year,
    /// the same month/day/time in 2000 for classic lines (year-independent).
    id_time: Timestamp,
    host: &'a str,
    program: &'a str,
    pid: Option<u32>,
    message: &'a str,
}

/// What a message said.
struct Parsed {
    kind: EventKind,
    src_ip: IpAddr,
    src_port: Option<u16>,
    destination: Option<(IpAddr, u16)>,
}

impl Parser for AuthLogParser {
    fn name(&self) -> &str {
        "authlog"
    }

    fn parse(&self, line: &[u8], ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError> {
        let Some(text) = prepare(line)? else {
            return Ok(None);
        };
        let now = self.reference.unwrap_or_else(Timestamp::now);
        let header = header(text, now)?;
        if !(header.program == "sshd" || header.program.starts_with("sshd-")) {
            return Ok(None);
        }
        let Some(parsed) = message(&header)? else {
            return Ok(None);
        };
        let sensor = if header.host == "-" {
            ctx.sensor
        } else {
            header.host
        };
        Ok(Some(Event {
            schema_version: SCHEMA_VERSION,
            id: EventId::derived(
                header.id_time,
                &[b"authlog", text.as_bytes(), &ctx.offset.to_le_bytes()],
            ),
            time: header.time,
            observed: None,
            sensor: sensor.to_owned(),
            protocol: Protocol::Ssh,
            session: None,
            src_ip: parsed.src_ip,
            src_port: parsed.src_port,
            dst_ip: parsed.destination.map(|(ip, _)| ip),
            dst_port: parsed.destination.map(|(_, port)| port),
            kind: parsed.kind,
            enrichment: Enrichment::default(),
            raw: Some(text.to_owned()),
            truncated: Vec::new(),
        }))
    }
}

fn unrecognised(text: &str) -> ParseError {
    ParseError::Unrecognised(excerpt(text))
}

/// Splits off the first space-separated token.
fn token(text: &str) -> Option<(&str, &str)> {
    let (first, rest) = text.split_once(' ')?;
    (!first.is_empty()).then_some((first, rest))
}

fn header(text: &str, now: Timestamp) -> Result<Header<'_>, ParseError> {
    let err = || unrecognised(text);
    // Optional <PRI>.
    let mut rest = text;
    if let Some(after) = rest.strip_prefix('<') {
        let (pri, after) = after.split_once('>').ok_or_else(err)?;
        if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        rest = after;
    }
    let (time, id_time, rest) = if rest.starts_with(|c: char| c.is_ascii_digit()) {
        let (stamp, rest) = token(rest).ok_or_else(err)?;
        let time = parse_datetime(stamp, NoZone::Utc).ok_or_else(|| ParseError::InvalidField {
            field: "timestamp",
            reason: format!("not an RFC 3339 time: {:?}", excerpt(stamp)),
        })?;
        (time, time, rest)
    } else {
        let (month, rest) = token(rest).ok_or_else(err)?;
        let month = month_number(month).ok_or_else(err)?;
        let (day, rest) = token(rest.trim_start_matches(' ')).ok_or_else(err)?;
        let day = small_number(day, 2).ok_or_else(err)?;
        let (clock, rest) = token(rest).ok_or_else(err)?;
        let (hour, minute, second) = clock_time(clock).ok_or_else(err)?;
        let time = infer_year(month, day, hour, minute, second, now).ok_or_else(|| {
            ParseError::InvalidField {
                field: "timestamp",
                reason: format!("no such date: month {month} day {day}"),
            }
        })?;
        let fixed = format!("2000-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z");
        let id_time = Timestamp::parse_rfc3339(&fixed).unwrap_or(time);
        (time, id_time, rest)
    };
    let (host, rest) = token(rest).ok_or_else(err)?;
    let (tag, message) = rest.split_once(':').ok_or_else(err)?;
    if tag.is_empty() || tag.contains(' ') {
        return Err(err());
    }
    let (program, pid) = match tag.split_once('[') {
        None => (tag, None),
        Some((program, pid)) => {
            let pid = pid.strip_suffix(']').ok_or_else(err)?;
            let pid = small_number(pid, 10).ok_or_else(err)?;
            (program, Some(pid))
        }
    };
    if program.is_empty() {
        return Err(err());
    }
    Ok(Header {
        time,
        id_time,
        host,
        program,
        pid,
        message: message.strip_prefix(' ').unwrap_or(message),
    })
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A decimal number of 1 to `max_len` digits.
fn small_number(text: &str, max_len: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn clock_time(text: &str) -> Option<(u32, u32, u32)> {
    let b = text.as_bytes();
    if b.len() != 8 || b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    let hour = small_number(text.get(0..2)?, 2)?;
    let minute = small_number(text.get(3..5)?, 2)?;
    let second = small_number(text.get(6..8)?, 2)?;
    (hour < 24 && minute < 60 && second < 60).then_some((hour, minute, second))
}

/// The most recent year (this one or up to 8 back, for 29 February) that makes the date
/// valid and not more than a day after `now`.
fn infer_year(
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    now: Timestamp,
) -> Option<Timestamp> {
    let this_year = now
        .to_datetime()
        .map_or(1970, |dt| chrono::Datelike::year(&dt));
    let limit = now.saturating_add_micros(24 * 3600 * 1_000_000);
    for back in 0..=8 {
        let year = this_year - back;
        let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z");
        if let Some(time) = parse_datetime(&text, NoZone::Reject) {
            if time <= limit {
                return Some(time);
            }
        }
    }
    None
}

/// A port: 1 to 5 digits, 1..=65535.
fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|p| *p != 0)
}

/// `IP port P` at the start of `text`; returns the rest after the port digits.
fn addr_port_prefix(text: &str) -> Option<(IpAddr, u16, &str)> {
    let (ip, after) = text.split_once(" port ")?;
    let ip: IpAddr = ip.parse().ok()?;
    let end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let port = port_number(after.get(..end)?)?;
    Some((ip, port, after.get(end..)?))
}

/// `[invalid user X |authenticating user X |user X ]IP[ port P]`, the whole of `text`.
/// A user's state (`invalid`, ...) and name.
type User<'a> = (&'static str, &'a str);

fn target(text: &str) -> Option<(Option<User<'_>>, IpAddr, Option<u16>)> {
    let (before, port) = match text.rsplit_once(" port ") {
        Some((before, p)) => match port_number(p) {
            Some(port) => (before, Some(port)),
            None => (text, None),
        },
        None => (text, None),
    };
    let (who, ip) = match before.rsplit_once(' ') {
        Some((who, ip)) => (Some(who), ip),
        None => (None, before),
    };
    let ip: IpAddr = ip.parse().ok()?;
    let user = match who {
        None => None,
        Some(who) => Some(user_state(who)?),
    };
    Some((user, ip, port))
}

/// `invalid user X` / `authenticating user X` / `user X`.
fn user_state(who: &str) -> Option<User<'_>> {
    if let Some(user) = who.strip_prefix("invalid user ") {
        Some(("invalid", user))
    } else if let Some(user) = who.strip_prefix("authenticating user ") {
        Some(("authenticating", user))
    } else {
        who.strip_prefix("user ")
            .map(|user| ("authenticated", user))
    }
}

fn auth_method(name: &str) -> AuthMethod {
    match name {
        "password" => AuthMethod::Password,
        "publickey" => AuthMethod::Publickey,
        "none" => AuthMethod::None,
        m if m == "keyboard-interactive" || m.starts_with("keyboard-interactive/") => {
            AuthMethod::KeyboardInteractive
        }
        _ => AuthMethod::Other,
    }
}

/// `SHA256:` + 43 base64 digits, or `MD5:` + 16 colon-separated hex pairs.
fn valid_fingerprint(fp: &str) -> bool {
    if let Some(b64) = fp.strip_prefix("SHA256:") {
        b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    } else if let Some(hex) = fp.strip_prefix("MD5:") {
        hex.len() == 47
            && hex.bytes().enumerate().all(|(i, b)| {
                if i % 3 == 2 {
                    b == b':'
                } else {
                    b.is_ascii_hexdigit()
                }
            })
    } else {
        false
    }
}

fn message(header: &Header<'_>) -> Result<Option<Parsed>, ParseError> {
    let full = header.message;
    let (msg, preauth) = match full.strip_suffix(" [preauth]") {
        Some(m) => (m, true),
        None => (full, false),
    };
    let mut fields = Map::new();
    fields.insert("host".into(), Value::from(header.host));
    fields.insert("program".into(), Value::from(header.program));
    if let Some(pid) = header.pid {
        fields.insert("pid".into(), Value::from(pid));
    }
    fields.insert("message".into(), Value::from(full));
    if preauth {
        fields.insert("preauth".into(), Value::Bool(true));
    }
    let unknown = |original_type: &str, fields: Map<String, Value>, ip, port| Parsed {
        kind: EventKind::Unknown {
            original_type: original_type.to_owned(),
            fields,
        },
        src_ip: ip,
        src_port: port,
        destination: None,
    };
    let insert_user = |fields: &mut Map<String, Value>, user: Option<(&str, &str)>| {
        if let Some((state, name)) = user {
            fields.insert("username".into(), Value::from(name));
            fields.insert("user_state".into(), Value::from(state));
        }
    };

    // Failed / Accepted METHOD for ...
    for (prefix, success) in [("Failed ", false), ("Accepted ", true)] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((method, rest)) = rest.split_once(" for ") {
                if !method.is_empty() && !method.contains(' ') {
                    return login(rest, method, success).map(Some);
                }
            }
        }
    }

    if let Some(rest) = msg.strip_prefix("Invalid user ") {
        let (user, (_, ip, port)) = rightmost(rest, " from ", |tail| {
            target(tail).filter(|(who, _, _)| who.is_none())
        })
        .ok_or_else(|| unrecognised(full))?;
        let ip = check_ip(ip)?;
        fields.insert("username".into(), Value::from(user));
        return Ok(Some(unknown("sshd.invalid_user", fields, ip, port)));
    }

    let disconnects: [(&str, &str); 3] = [
        ("Connection closed by ", "closed"),
        ("Connection reset by ", "reset"),
        ("Disconnected from ", "disconnected"),
    ];
    for (prefix, how) in disconnects {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (user, ip, port) = target(rest).ok_or_else(|| unrecognised(full))?;
            let ip = check_ip(ip)?;
            insert_user(&mut fields, user);
            fields.insert("how".into(), Value::from(how));
            return Ok(Some(unknown("sshd.disconnect", fields, ip, port)));
        }
    }

    if let Some(rest) = msg.strip_prefix("Received disconnect from ") {
        let (ip, port, after) = addr_port_prefix(rest).ok_or_else(|| unrecognised(full))?;
        let (code, description) = after
            .strip_prefix(':')
            .and_then(|a| a.split_once(':'))
            .ok_or_else(|| unrecognised(full))?;
        let code = small_number(code, 5).ok_or_else(|| unrecognised(full))?;
        let ip = check_ip(ip)?;
        fields.insert("how".into(), Value::from("received_disconnect"));
        fields.insert("code".into(), Value::from(code));
        fields.insert(
            "description".into(),
            Value::from(description.strip_prefix(' ').unwrap_or(description)),
        );
        return Ok(Some(unknown("sshd.disconnect", fields, ip, Some(port))));
    }

    if let Some(rest) = msg.strip_prefix("Disconnecting ") {
        if let Some(((user, ip, port), reason)) = rightmost_split(rest, ": ", target) {
            let ip = check_ip(ip)?;
            insert_user(&mut fields, user);
            fields.insert("how".into(), Value::from("disconnecting"));
            fields.insert("reason".into(), Value::from(reason));
            return Ok(Some(unknown("sshd.disconnect", fields, ip, port)));
        }
    }

    if let Some(rest) = msg.strip_prefix("Connection from ") {
        if let Some((ip, port, after)) = addr_port_prefix(rest) {
            if let Some((dst_ip, dst_port, tail)) =
                after.strip_prefix(" on ").and_then(addr_port_prefix)
            {
                if tail.is_empty() || tail.starts_with(" rdomain") {
                    let destination = (!dst_ip.is_unspecified() && !dst_ip.is_multicast())
                        .then_some((dst_ip, dst_port));
                    return Ok(Some(Parsed {
                        kind: EventKind::SessionStarted,
                        src_ip: check_ip(ip)?,
                        src_port: Some(port),
                        destination,
                    }));
                }
            }
        }
    }

    if msg.starts_with("Server listening on ") {
        return Ok(None);
    }
    // Anything else naming the client: the rightmost `IP port P`.
    let found = rightmost(msg, " port ", |after| {
        let end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        port_number(after.get(..end)?)
    });
    if let Some((before, port)) = found {
        let ip_text = before.rsplit(' ').next().unwrap_or(before);
        if let Ok(ip) = ip_text.parse::<IpAddr>() {
            if !ip.is_unspecified() && !ip.is_multicast() {
                return Ok(Some(unknown("sshd.other", fields, ip, Some(port))));
            }
        }
    }
    Ok(None)
}

fn check_ip(ip: IpAddr) -> Result<IpAddr, ParseError> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(ParseError::InvalidField {
            field: "src_ip",
            reason: format!("{ip} cannot be a peer address"),
        });
    }
    Ok(ip)
}

/// Tries `parse` on what follows each occurrence of `sep`, from the rightmost one; returns
/// the text before the first that parses and its result.
fn rightmost<'a, T>(
    text: &'a str,
    sep: &str,
    parse: impl Fn(&'a str) -> Option<T>,
) -> Option<(&'a str, T)> {
    let mut end = text.len();
    while let Some(i) = text.get(..end)?.rfind(sep) {
        if let Some(value) = text.get(i + sep.len()..).and_then(&parse) {
            return Some((text.get(..i)?, value));
        }
        end = i;
    }
    None
}

/// Like [`rightmost`] but parses what comes *before* the separator; returns the result
/// and the text after.
fn rightmost_split<'a, T>(
    text: &'a str,
    sep: &str,
    parse: impl Fn(&'a str) -> Option<T>,
) -> Option<(T, &'a str)> {
    let mut end = text.len();
    while let Some(i) = text.get(..end)?.rfind(sep) {
        if let Some(value) = text.get(..i).and_then(&parse) {
            return Some((value, text.get(i + sep.len()..)?));
        }
        end = i;
    }
    None
}

/// `[invalid user ]USER from IP port P ssh2[: KEYTYPE FINGERPRINT ...]`.
fn login(rest: &str, method: &str, success: bool) -> Result<Parsed, ParseError> {
    let parsed = rightmost(rest, " from ", |tail| {
        let (ip, port, after) = addr_port_prefix(tail)?;
        let key = if after == " ssh2" {
            None
        } else {
            Some(after.strip_prefix(" ssh2: ")?)
        };
        Some((ip, port, key))
    });
    let Some((user, (ip, port, key))) = parsed else {
        return Err(unrecognised(rest));
    };
    let username = user.strip_prefix("invalid user ").unwrap_or(user);
    let (key_type, key_fingerprint) = match key {
        // sshd always names the key of a public key or host-based attempt.
        None if matches!(method, "publickey" | "hostbased") => return Err(unrecognised(rest)),
        None => (None, None),
        Some(key) => {
            let mut parts = key.split(' ');
            let (Some(key_type), Some(fp)) = (parts.next(), parts.next()) else {
                return Err(unrecognised(rest));
            };
            if key_type.is_empty() || !valid_fingerprint(fp) {
                return Err(ParseError::InvalidField {
                    field: "key_fingerprint",
                    reason: format!("not a key fingerprint: {:?}", excerpt(key)),
                });
            }
            (Some(key_type.to_owned()), Some(fp.to_owned()))
        }
    };
    Ok(Parsed {
        kind: EventKind::LoginAttempt {
            username: username.to_owned(),
            password: None,
            key_type,
            key_fingerprint,
            method: auth_method(method),
            success,
        },
        src_ip: check_ip(ip)?,
        src_port: Some(port),
        destination: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> AuthLogParser {
        AuthLogParser::with_reference_time(
            Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap(),
        )
    }

    fn parse(line: &str) -> Result<Option<Event>, ParseError> {
        parser().parse(line.as_bytes(), &ParseContext::default())
    }

    fn unknown_type(event: &Event) -> &str {
        match &event.kind {
            EventKind::Unknown { original_type, .. } => original_type,
            _ => "",
        }
    }

    #[test]
    fn the_id_of_a_classic_line_does_not_depend_on_the_inferred_year() {
        let line = b"Nov 21 13:33:35 vm sshd[1]: Failed password for root from 198.51.100.9 port 5000 ssh2";
        let ctx = ParseContext::default();
        let at = |now: &str| {
            AuthLogParser::with_reference_time(Timestamp::parse_rfc3339(now).unwrap())
                .parse(line, &ctx)
                .unwrap()
                .unwrap()
        };
        let (this_year, next_year) = (at("2026-11-22T00:00:00Z"), at("2027-12-01T00:00:00Z"));
        assert_ne!(this_year.time, next_year.time, "the inferred years differ");
        assert_eq!(this_year.id, next_year.id);
        // The offset still tells identical lines apart.
        let other = AuthLogParser::with_reference_time(
            Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap(),
        )
        .parse(
            line,
            &ParseContext {
                offset: 100,
                ..ParseContext::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_ne!(other.id, this_year.id);
        // 29 February has an id too (2000 is a leap year).
        let leap = AuthLogParser::with_reference_time(
            Timestamp::parse_rfc3339("2028-03-01T00:00:00Z").unwrap(),
        )
        .parse(b"Feb 29 10:00:00 vm sshd[1]: Failed password for root from 198.51.100.9 port 5000 ssh2", &ctx)
        .unwrap()
        .unwrap();
        assert_eq!(
            leap.id.as_uuid().get_timestamp().map(|t| t.to_unix().0),
            Some(951_818_400)
        );
    }

    #[test]
    fn year_inference() {
        let now = Timestamp::parse_rfc3339("2026-01-02T10:00:00Z").unwrap();
        let p = AuthLogParser::with_reference_time(now);
        let ctx = ParseContext::default();
        let line = b"Dec 31 23:59:59 h sshd[1]: Connection closed by 198.51.100.1 port 22";
        let e = p.parse(line, &ctx).unwrap().unwrap();
        assert_eq!(e.time.to_string(), "2025-12-31T23:59:59.000000Z");
        // Within a day ahead counts as this year (clock skew).
        let line = b"Jan  3 09:00:00 h sshd[1]: Connection closed by 198.51.100.1 port 22";
        let e = p.parse(line, &ctx).unwrap().unwrap();
        assert_eq!(e.time.to_string(), "2026-01-03T09:00:00.000000Z");
        // 29 February goes back to the last leap year.
        let line = b"Feb 29 12:00:00 h sshd[1]: Connection closed by 198.51.100.1 port 22";
        let e = p.parse(line, &ctx).unwrap().unwrap();
        assert_eq!(e.time.to_string(), "2024-02-29T12:00:00.000000Z");
        let line = b"Feb 30 12:00:00 h sshd[1]: Connection closed by 198.51.100.1 port 22";
        assert!(p.parse(line, &ctx).is_err());
    }

    #[test]
    fn rfc3339_prefix_and_pri() {
        let e = parse("<38>2026-11-21T13:45:01.123456+01:00 host2 sshd-session[9]: Accepted keyboard-interactive/pam for bob from 2001:db8::7 port 4000 ssh2")
            .unwrap()
            .unwrap();
        assert_eq!(e.time.to_string(), "2026-11-21T12:45:01.123456Z");
        assert_eq!(e.sensor, "host2");
        assert_eq!(e.src_ip.to_string(), "2001:db8::7");
        assert!(matches!(
            e.kind,
            EventKind::LoginAttempt {
                method: AuthMethod::KeyboardInteractive,
                success: true,
                ..
            }
        ));
    }

    #[test]
    fn hostile_user_names() {
        let e = parse("Nov 21 13:33:35 vm sshd[1]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 198.51.100.9 port 5000 ssh2")
            .unwrap()
            .unwrap();
        assert_eq!(e.src_ip.to_string(), "198.51.100.9");
        assert!(
            matches!(&e.kind, EventKind::LoginAttempt { username, .. } if username == "x from 6.6.6.6 port 1 ssh2")
        );
        let e = parse("Nov 21 13:33:35 vm sshd[1]: Invalid user a from 6.6.6.6 port 1 from 198.51.100.9 port 5000")
            .unwrap()
            .unwrap();
        assert_eq!(e.src_ip.to_string(), "198.51.100.9");
        let e = parse("Nov 21 13:33:35 vm sshd[1]: Invalid user  from 198.51.100.9 port 5000")
            .unwrap()
            .unwrap();
        assert_eq!(unknown_type(&e), "sshd.invalid_user");
    }

    #[test]
    fn shapes() {
        let e = parse("Nov 21 13:33:35 vm sshd[1]: Connection from 198.51.100.9 port 5000 on 192.0.2.1 port 22 rdomain \"\"")
            .unwrap()
            .unwrap();
        assert_eq!(e.kind, EventKind::SessionStarted);
        assert_eq!(e.dst_port, Some(22));
        let e = parse("Nov 21 13:33:35 vm sshd[1]: Received disconnect from 198.51.100.9 port 5000:11: Bye Bye [preauth]")
            .unwrap()
            .unwrap();
        assert_eq!(unknown_type(&e), "sshd.disconnect");
        let e = parse("Nov 21 13:33:35 vm sshd[1]: Unable to negotiate with 198.51.100.9 port 5000: no matching key exchange method found.")
            .unwrap()
            .unwrap();
        assert_eq!(unknown_type(&e), "sshd.other");
        assert_eq!(e.src_port, Some(5000));
        for none in [
            "Nov 21 13:33:35 vm sshd[1]: Server listening on 0.0.0.0 port 22.",
            "Nov 21 13:33:35 vm CRON[5]: pam_unix(cron:session): session opened for user root",
            "Nov 21 13:33:35 vm sshd[1]: Received signal 15; terminating.",
            "Nov 21 13:33:35 vm sshd[1]:",
            "Nov 21 13:33:35 vm kernel: [ 1.0] eth0 port 5",
        ] {
            assert!(parse(none).unwrap().is_none(), "{none}");
        }
        for bad in [
            "garbage",
            "Nov 21 13:33:35",
            "Nov 21 13:33:35 vm",
            "Nov 21 13:33:35 vm sshd[1",
            "Nov 21 13:33:35 vm sshd[x]: hi",
            "Foo 21 13:33:35 vm sshd[1]: hi",
            "Nov 32 13:33:35 vm sshd[1]: hi",
            "Nov 21 25:33:35 vm sshd[1]: hi",
            "2026-11-21T13:45 vm sshd[1]: hi",
            "Nov 21 13:33:35 vm sshd[1]: Failed password for root from 198.51.100.1 port 22 ssh",
            "Nov 21 13:33:35 vm sshd[1]: Failed password for root from 0.0.0.0 port 22 ssh2",
            "Nov 21 13:33:35 vm sshd[1]: Accepted publickey for u from 198.51.100.1 port 22 ssh2: ED25519 SHA256:abc",
            "Nov 21 13:33:35 vm sshd[1]: Invalid user x from 198.51.100.1 port",
            "Nov 21 13:33:35 vm sshd[1]: Connection closed by invalid user x 198.51.100.1 po",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
