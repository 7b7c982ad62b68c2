//! Parsers for foreign honeypot and system logs, behind the [`Parser`](crate::parser::Parser) trait.
//!
//! | format | parser | input |
//! | --- | --- | --- |
//! | `cowrie` | [`CowrieParser`] | Cowrie's JSON log (`cowrie.json`) |
//! | `opencanary` | [`OpenCanaryParser`] | OpenCanary's JSON log (`opencanary.log`) |
//! | `authlog` | [`AuthLogParser`] | OpenSSH `sshd` lines of syslog / `/var/log/auth.log` |
//!
//! Common rules:
//! * A parser never panics: malformed, truncated or hostile lines give a typed
//!   [`ParseError`]. Lines longer than [`MAX_LINE`] bytes are refused with
//!   [`ParseError::TooLong`].
//! * Blank lines give `Ok(None)`. Leading and trailing ASCII whitespace (a `\r` of a CRLF
//!   file, for instance) is not part of the record: it is left out of [`Event::raw`] and
//!   of the id.
//! * Ids are [`EventId::derived`](crate::event::EventId::derived) from the content, so
//!   re-ingesting the same log yields the same ids.
//! * [`Event::observed`] is left `None`: the collector sets it.
//!
//! [`Event::raw`]: crate::event::Event::raw
//! [`Event::observed`]: crate::event::Event::observed

use std::net::IpAddr;

use crate::event::Timestamp;
use crate::parser::ParseError;

mod authlog;
mod cowrie;
mod opencanary;

pub use authlog::AuthLogParser;
pub use cowrie::CowrieParser;
pub use opencanary::OpenCanaryParser;

/// The longest line the parsers accept, in bytes (the validator's limit for `raw`).
pub const MAX_LINE: usize = 256 * 1024;

/// Common entry checks: length, UTF-8, surrounding whitespace. `None` for a blank line.
fn prepare(line: &[u8]) -> Result<Option<&str>, ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::TooLong {
            len: line.len(),
            max: MAX_LINE,
        });
    }
    let text = std::str::from_utf8(line).map_err(|e| ParseError::Utf8(e.valid_up_to()))?;
    let text = text.trim_ascii();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(text))
}

/// The start of `text`, for error messages (at most 80 characters).
fn excerpt(text: &str) -> String {
    text.chars().take(80).collect()
}

/// An attacker address must be one a peer can have (the validator's rule).
fn peer_ip(field: &'static str, text: &str) -> Result<IpAddr, ParseError> {
    let ip: IpAddr = text.parse().map_err(|_| ParseError::InvalidField {
        field,
        reason: format!("not an IP address: {:?}", excerpt(text)),
    })?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(ParseError::InvalidField {
            field,
            reason: format!("{ip} cannot be a peer address"),
        });
    }
    Ok(ip)
}

/// What a timestamp without a zone designator means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoZone {
    /// Refuse it.
    Reject,
    /// Read it as UTC.
    Utc,
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]` into a [`Timestamp`].
///
/// Faster than chrono's RFC 3339 parser and also accepts what Cowrie writes when `TZ` is
/// not `UTC` (`+0100`, no colon) and what OpenCanary writes (a space, no zone). Fractions
/// beyond microseconds are truncated. `None` when the text is not such a time.
fn parse_datetime(text: &str, no_zone: NoZone) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut pos = 19;
    let mut micros: i64 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while let Some(d) = b.get(pos).filter(|c| c.is_ascii_digit()) {
            if pos - start < 6 {
                micros = micros * 10 + i64::from(d - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_secs: i64 = match b.get(pos..) {
        Some([]) if no_zone == NoZone::Utc => 0,
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..]) => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (two_digits(*h1, *h2)?, two_digits(*m1, *m2)?)
                }
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Some(Timestamp::from_micros(secs * 1_000_000 + micros))
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    let slice = b.get(start..start + len)?;
    let mut value = 0u32;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(c - b'0');
    }
    Some(value)
}

fn two_digits(a: u8, b: u8) -> Option<u32> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    } else {
        None
    }
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn datetime_forms() {
        let utc = Timestamp::parse_rfc3339("2026-11-21T13:28:45.384573Z").unwrap();
        for text in [
            "2026-11-21T13:28:45.384573Z",
            "2026-11-21T14:28:45.384573+0100",
            "2026-11-21T14:28:45.384573+01:00",
            "2026-11-21T12:28:45.384573-01:00",
            "2026-11-21T13:28:45.384573123Z",
        ] {
            assert_eq!(parse_datetime(text, NoZone::Reject), Some(utc), "{text}");
        }
        assert_eq!(
            parse_datetime("2026-11-21 13:28:45.384573", NoZone::Utc),
            Some(utc)
        );
        assert_eq!(
            parse_datetime("2026-11-21 13:28:45.384573", NoZone::Reject),
            None
        );
        for bad in [
            "",
            "2026-11-21",
            "2026-13-21T13:28:45Z",
            "2026-02-29T13:28:45Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T13:28:45.Z",
            "2026-11-21T13:28:45+1",
            "2026-11-21T13:28:45+01:0",
            "2026-11-21T13:28:45Zjunk",
            "2026-11-21X13:28:45Z",
            "٢٠٢٦-11-21T13:28:45Z",
        ] {
            assert_eq!(parse_datetime(bad, NoZone::Utc), None, "{bad}");
        }
        assert!(parse_datetime("2024-02-29T00:00:00Z", NoZone::Reject).is_some());
    }

    proptest! {
        #[test]
        fn datetime_agrees_with_chrono(
            secs in 0i64..4_102_444_800, micros in 0i64..1_000_000, offset_min in -1439i32..1440
        ) {
            let offset = chrono::FixedOffset::east_opt(offset_min * 60).unwrap();
            let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&offset);
            let text = format!("{}.{:06}{}", dt.format("%Y-%m-%dT%H:%M:%S"), micros, dt.format("%z"));
            let expected = Timestamp::from_micros(secs * 1_000_000 + micros);
            prop_assert_eq!(parse_datetime(&text, NoZone::Reject), Some(expected));
            let colon = format!("{}.{:06}{}", dt.format("%Y-%m-%dT%H:%M:%S"), micros, dt.format("%:z"));
            prop_assert_eq!(Timestamp::parse_rfc3339(&colon).ok(), Some(expected));
            prop_assert_eq!(parse_datetime(&colon, NoZone::Reject), Some(expected));
        }

        #[test]
        fn datetime_never_panics(text in "\\PC{0,40}") {
            let _ = parse_datetime(&text, NoZone::Utc);
        }
    }
}
