//! Reading HTTP/1.x requests off a connection, bounded, the way Apache 2.4 reads them:
//! the request line and each header field at most [`RequestLimits::max_line_bytes`]
//! (`LimitRequestLine`/`LimitRequestFieldSize`), at most
//! [`RequestLimits::max_headers`] fields (`LimitRequestFields`), a body by
//! `Content-Length` or chunked up to [`RequestLimits::max_body_bytes`].
//!
//! The parser is a plain function over bytes ([`parse_head`]) so that it can be fuzzed
//! without a socket (`fuzz/fuzz_targets/http_request.rs`).

use bytes::{Buf, BytesMut};
use sha2::{Digest, Sha256};

/// Bounds of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request line and longest header field (Apache's 8190).
    pub max_line_bytes: usize,
    /// Most header fields (Apache's 100).
    pub max_headers: usize,
    /// Longest whole head (request line and fields): what one connection may make the
    /// sensor buffer before a body.
    pub max_head_bytes: usize,
    /// Largest body accepted; a longer one is refused with 413 and the connection closed.
    pub max_body_bytes: u64,
    /// Header lines without a colon or with a bad name are skipped rather than refused
    /// (nginx's `ignore_invalid_headers on`; Apache refuses them with a 400).
    pub ignore_invalid_headers: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 8190,
            max_headers: 100,
            max_head_bytes: 128 * 1024,
            max_body_bytes: 8 * 1024 * 1024,
            ignore_invalid_headers: false,
        }
    }
}

/// A parsed request line and header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method as sent (case kept: `get` is not `GET`).
    pub method: String,
    /// The request target as sent.
    pub target: String,
    /// `(major, minor)`; `(0, 9)` for a request line without a version.
    pub version: (u8, u8),
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (`Connection`) lists `token`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// `HTTP/1.1`, `HTTP/0.9`, ...
    pub fn version_text(&self) -> String {
        format!("HTTP/{}.{}", self.version.0, self.version.1)
    }

    /// How the body is framed.
    pub fn body_framing(&self) -> Result<Framing, HeadError> {
        if self.version == (0, 9) {
            return Ok(Framing::None);
        }
        if let Some(te) = self.header("transfer-encoding") {
            // Only `chunked` (last) is a body Apache reads; anything else is a 501 there,
            // a 400 here: both close.
            return if te
                .rsplit(',')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
            {
                Ok(Framing::Chunked)
            } else {
                Err(HeadError::BadRequest)
            };
        }
        let mut lengths = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        match lengths.next() {
            None => Ok(Framing::None),
            Some((_, value)) => {
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HeadError::BadRequest);
                }
                let length: u64 = value.parse().map_err(|_| HeadError::BadRequest)?;
                // Two different lengths: request smuggling; refused as Apache does.
                if lengths.any(|(_, other)| other.trim() != value) {
                    return Err(HeadError::BadRequest);
                }
                Ok(if length == 0 {
                    Framing::None
                } else {
                    Framing::Length(length)
                })
            }
        }
    }
}

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Malformed request line or header (Apache's plain 400).
    #[error("malformed request")]
    BadRequest,
    /// The request line is too long (414).
    #[error("request line too long")]
    LineTooLong,
    /// A header field is too long (400 with Apache's size note).
    #[error("header field too long")]
    FieldTooLong,
    /// Too many header fields (400 with Apache's count note).
    #[error("too many header fields")]
    TooManyFields,
}

/// What [`parse_head`] found in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole head, and the bytes it took.
    Complete(Head, usize),
    /// More bytes are needed (nothing is wrong so far).
    Partial,
}

/// Parses a request head at the start of `buf`. Leading empty lines are skipped (as
/// Apache and nginx skip them: a client sending only blank lines gets no answer).
pub fn parse_head(buf: &[u8], limits: &RequestLimits) -> Result<Parsed, HeadError> {
    let parsed = parse_head_unbounded(buf, limits)?;
    match &parsed {
        Parsed::Complete(_, used) if *used > limits.max_head_bytes => Err(HeadError::FieldTooLong),
        Parsed::Partial if buf.len() > limits.max_head_bytes => Err(HeadError::FieldTooLong),
        _ => Ok(parsed),
    }
}

fn parse_head_unbounded(buf: &[u8], limits: &RequestLimits) -> Result<Parsed, HeadError> {
    let mut pos = 0;
    // Blank lines before the request line.
    loop {
        match buf.get(pos..) {
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\n', ..]) => pos += 1,
            Some([b'\r']) | Some([]) | None => return Ok(Parsed::Partial),
            _ => break,
        }
    }
    let Some(line_end) = memchr::memchr(b'\n', &buf[pos..]) else {
        if buf.len() - pos > limits.max_line_bytes {
            return Err(HeadError::LineTooLong);
        }
        return Ok(Parsed::Partial);
    };
    let line = trim_cr(&buf[pos..pos + line_end]);
    if line.len() > limits.max_line_bytes {
        return Err(HeadError::LineTooLong);
    }
    let (method, target, version) = request_line(line)?;
    pos += line_end + 1;
    let mut head = Head {
        method,
        target,
        version,
        headers: Vec::new(),
    };
    if version == (0, 9) {
        return Ok(Parsed::Complete(head, pos));
    }
    loop {
        let Some(end) = memchr::memchr(b'\n', &buf[pos..]) else {
            if buf.len() - pos > limits.max_line_bytes {
                return Err(HeadError::FieldTooLong);
            }
            return Ok(Parsed::Partial);
        };
        let line = trim_cr(&buf[pos..pos + end]);
        pos += end + 1;
        if line.is_empty() {
            return Ok(Parsed::Complete(head, pos));
        }
        if line.len() > limits.max_line_bytes {
            return Err(HeadError::FieldTooLong);
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // obs-fold: a continuation of the previous field (joined with a space).
            let Some((_, value)) = head.headers.last_mut() else {
                return Err(HeadError::BadRequest);
            };
            let more = trim_ows(line);
            if more.iter().any(|&b| b == 0 || b == b'\r') {
                return Err(HeadError::BadRequest);
            }
            value.push(' ');
            value.push_str(&String::from_utf8_lossy(more));
            continue;
        }
        if head.headers.len() >= limits.max_headers {
            return Err(HeadError::TooManyFields);
        }
        let colon = memchr::memchr(b':', line);
        let valid = colon.is_some_and(|c| c > 0 && line[..c].iter().all(|&b| is_token(b)));
        let Some(colon) = colon.filter(|_| valid) else {
            if limits.ignore_invalid_headers {
                continue;
            }
            return Err(HeadError::BadRequest);
        };
        let name = &line[..colon];
        let value = trim_ows(&line[colon + 1..]);
        if value.iter().any(|&b| b == 0 || b == b'\r') {
            return Err(HeadError::BadRequest);
        }
        head.headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
}

fn request_line(line: &[u8]) -> Result<(String, String, (u8, u8)), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().ok_or(HeadError::BadRequest)?;
    let version = parts.next();
    if parts.next().is_some()
        || method.is_empty()
        || target.is_empty()
        || !method.iter().all(|&b| is_token(b))
        || target.iter().any(|&b| b <= b' ' || b == 0x7f)
    {
        return Err(HeadError::BadRequest);
    }
    let version = match version {
        None => (0, 9),
        Some(v) => match v {
            [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                (major - b'0', minor - b'0')
            }
            _ => return Err(HeadError::BadRequest),
        },
    };
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        version,
    ))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A body as it arrives: the first `keep` bytes kept, all of it hashed.
#[derive(Debug)]
pub struct BodySink {
    kept: Vec<u8>,
    keep: usize,
    hasher: Sha256,
    size: u64,
}

impl BodySink {
    /// Keeps the first `keep` bytes.
    pub fn new(keep: usize) -> Self {
        Self {
            kept: Vec::new(),
            keep,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Takes the next bytes of the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.hasher.update(bytes);
        let room = self.keep.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    /// The finished body.
    pub fn finish(self) -> Body {
        let digest = self.hasher.finalize();
        Body {
            complete: self.size == self.kept.len() as u64,
            kept: self.kept,
            size: self.size,
            sha256: if self.size == 0 {
                None
            } else {
                Some(digest.iter().map(|b| format!("{b:02x}")).collect())
            },
        }
    }
}

/// A received body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// Its first bytes (all of it when `complete`).
    pub kept: Vec<u8>,
    /// Whether `kept` is the whole body.
    pub complete: bool,
    /// Its size.
    pub size: u64,
    /// SHA-256 of the whole, when not empty.
    pub sha256: Option<String>,
}

/// Progress of a chunked body decoder working over a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Inside the trailer section.
    Trailer,
    /// The body is complete.
    Done,
}

/// Decodes as much of a chunked body as `buf` holds, moving the data into `sink`.
/// `Ok(())` with `state == Done` means complete; `Ok(())` otherwise means more bytes
/// are needed. The total is bounded by `max`.
pub fn decode_chunked(
    buf: &mut BytesMut,
    state: &mut ChunkState,
    sink: &mut BodySink,
    max: u64,
) -> Result<(), ChunkError> {
    loop {
        match *state {
            ChunkState::Done => return Ok(()),
            ChunkState::Size => {
                let Some(end) = memchr::memchr(b'\n', buf) else {
                    return if buf.len() > 1024 {
                        Err(ChunkError::Malformed)
                    } else {
                        Ok(())
                    };
                };
                let line = trim_cr(&buf[..end]);
                let digits = line
                    .split(|&b| b == b';')
                    .next()
                    .map(trim_ows)
                    .unwrap_or_default();
                if digits.is_empty() || digits.len() > 15 {
                    return Err(ChunkError::Malformed);
                }
                let mut size: u64 = 0;
                for &d in digits {
                    let v = (d as char).to_digit(16).ok_or(ChunkError::Malformed)?;
                    size = size * 16 + u64::from(v);
                }
                buf.advance(end + 1);
                if sink.size + size > max {
                    return Err(ChunkError::TooLarge);
                }
                *state = if size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(size)
                };
            }
            ChunkState::Data(left) => {
                if buf.is_empty() {
                    return Ok(());
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                sink.push(&buf[..take]);
                buf.advance(take);
                let left = left - take as u64;
                *state = if left == 0 {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(left)
                };
            }
            ChunkState::DataEnd => match buf.first() {
                None => return Ok(()),
                Some(b'\n') => {
                    buf.advance(1);
                    *state = ChunkState::Size;
                }
                Some(b'\r') => {
                    if buf.len() < 2 {
                        return Ok(());
                    }
                    if buf[1] != b'\n' {
                        return Err(ChunkError::Malformed);
                    }
                    buf.advance(2);
                    *state = ChunkState::Size;
                }
                Some(_) => return Err(ChunkError::Malformed),
            },
            ChunkState::Trailer => {
                let Some(end) = memchr::memchr(b'\n', buf) else {
                    return if buf.len() > 8192 {
                        Err(ChunkError::Malformed)
                    } else {
                        Ok(())
                    };
                };
                let empty = trim_cr(&buf[..end]).is_empty();
                buf.advance(end + 1);
                if empty {
                    *state = ChunkState::Done;
                }
            }
        }
    }
}

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Bad chunk framing.
    #[error("malformed chunked body")]
    Malformed,
    /// Over the body limit.
    #[error("body too large")]
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Parsed, HeadError> {
        parse_head(text.as_bytes(), &RequestLimits::default())
    }

    #[test]
    fn a_simple_request() {
        let Parsed::Complete(head, used) =
            parse("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent:  curl/8 \r\n\r\nrest").unwrap()
        else {
            panic!("partial")
        };
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/a?b=1");
        assert_eq!(head.version, (1, 1));
        assert_eq!(head.header("user-agent"), Some("curl/8"));
        assert_eq!(
            used,
            "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent:  curl/8 \r\n\r\n".len()
        );
    }

    #[test]
    fn partial_until_the_blank_line() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap(),
            Parsed::Partial
        );
        assert_eq!(parse("\r\n\r\n").unwrap(), Parsed::Partial);
        assert_eq!(parse("GET / HT").unwrap(), Parsed::Partial);
    }

    #[test]
    fn http09_and_odd_versions() {
        let Parsed::Complete(head, _) = parse("GET /\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(head.version, (0, 9));
        let Parsed::Complete(head, _) = parse("GET / HTTP/9.9\r\n\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(head.version, (9, 9));
        assert_eq!(
            parse("GET / HTTP/1.1 extra\r\n\r\n"),
            Err(HeadError::BadRequest)
        );
        assert_eq!(parse("GARBAGE\r\n\r\n"), Err(HeadError::BadRequest));
        assert_eq!(parse("GET / HTTP/1.10\r\n\r\n"), Err(HeadError::BadRequest));
    }

    #[test]
    fn bounds() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&long), Err(HeadError::LineTooLong));
        let unfinished = format!("GET /{}", "a".repeat(9000));
        assert_eq!(parse(&unfinished), Err(HeadError::LineTooLong));
        let field = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&field), Err(HeadError::FieldTooLong));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(101));
        assert_eq!(parse(&many), Err(HeadError::TooManyFields));
        let lenient = RequestLimits {
            max_headers: 10_000,
            max_head_bytes: 4096,
            ..RequestLimits::default()
        };
        let big = format!("GET / HTTP/1.1\r\n{}", "X: yyyyyyyyyyyy\r\n".repeat(400));
        assert_eq!(
            parse_head(big.as_bytes(), &lenient),
            Err(HeadError::FieldTooLong)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n"),
            Err(HeadError::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            Err(HeadError::BadRequest)
        );
        // A NUL smuggled into a folded line (found by fuzzing).
        assert_eq!(
            parse("GET / HTTP/1.1\r\nX: a\r\n  b\0c\r\n\r\n"),
            Err(HeadError::BadRequest)
        );
    }

    #[test]
    fn framing() {
        let head = |h: &str| {
            let Parsed::Complete(head, _) = parse(&format!("POST / HTTP/1.1\r\n{h}\r\n")).unwrap()
            else {
                panic!()
            };
            head
        };
        assert_eq!(
            head("Content-Length: 5\r\n").body_framing(),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            head("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n").body_framing(),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            head("Content-Length: 5\r\nContent-Length: 6\r\n").body_framing(),
            Err(HeadError::BadRequest)
        );
        assert_eq!(
            head("Content-Length: -1\r\n").body_framing(),
            Err(HeadError::BadRequest)
        );
    }

    #[test]
    fn chunked_bodies() {
        let mut buf = BytesMut::from(&b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nT: v\r\n\r\nNEXT"[..]);
        let mut state = ChunkState::Size;
        let mut sink = BodySink::new(100);
        decode_chunked(&mut buf, &mut state, &mut sink, 1000).unwrap();
        assert_eq!(state, ChunkState::Done);
        assert_eq!(&buf[..], b"NEXT");
        let body = sink.finish();
        assert_eq!(body.kept, b"Wikipedia");
        assert!(body.complete);

        let mut buf = BytesMut::from(&b"ffff\r\n"[..]);
        let mut state = ChunkState::Size;
        let mut sink = BodySink::new(10);
        assert_eq!(
            decode_chunked(&mut buf, &mut state, &mut sink, 100),
            Err(ChunkError::TooLarge)
        );
    }

    #[test]
    fn body_sink_keeps_the_start_and_hashes_all() {
        let mut sink = BodySink::new(3);
        sink.push(b"ab");
        sink.push(b"cdef");
        let body = sink.finish();
        assert_eq!(body.kept, b"abc");
        assert!(!body.complete);
        assert_eq!(body.size, 6);
        assert_eq!(
            body.sha256.as_deref(),
            Some("bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721")
        );
    }
}
