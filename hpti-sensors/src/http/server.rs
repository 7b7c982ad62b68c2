//! The web servers a persona runs on: what each writes around an application's answer
//! — header order, `Server`, dates, ETags, keep-alive headers, error pages — copied
//! from Debian 12's Apache 2.4, nginx 1.22 and Tomcat 10.1 (`testdata/http/NOTES.md`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Which server a persona runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// Apache httpd 2.4 as Debian ships it.
    Apache,
    /// nginx as Debian ships it.
    Nginx,
    /// Apache Tomcat 10.1 as Debian ships it.
    Tomcat,
}

/// A server and its version strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Which server.
    pub kind: ServerKind,
    /// The `Server` header (`Apache/2.4.71 (Debian)`); Tomcat sends none.
    pub banner: String,
    /// The name in error-page signatures when the request has no usable `Host`
    /// (Apache's `ServerName`, else the machine's address).
    pub server_name: String,
    /// Seconds an idle keep-alive connection is kept (5, 65, 20).
    pub keepalive_timeout: Duration,
    /// Requests one connection may make (100, 1000, 100).
    pub max_keepalive_requests: u32,
}

impl Server {
    /// The stock server of `kind` with its captured version.
    pub fn stock(kind: ServerKind) -> Self {
        let (banner, timeout, max) = match kind {
            ServerKind::Apache => ("Apache/2.4.71 (Debian)", 5, 100),
            ServerKind::Nginx => ("nginx/1.22.1", 65, 1000),
            ServerKind::Tomcat => ("Apache Tomcat/10.1.60 (Debian)", 20, 100),
        };
        Self {
            kind,
            banner: banner.to_owned(),
            server_name: "127.0.0.1".to_owned(),
            keepalive_timeout: Duration::from_secs(timeout),
            max_keepalive_requests: max,
        }
    }

    /// The status line's reason phrase (Tomcat sends none; nginx says `Not Allowed`).
    pub fn reason(&self, status: u16) -> &'static str {
        match (self.kind, status) {
            (ServerKind::Tomcat, _) => "",
            (ServerKind::Nginx, 405) => "Not Allowed",
            (ServerKind::Nginx, 414) => "Request-URI Too Large",
            (ServerKind::Apache, 414) => "Request-URI Too Long",
            (_, s) => reason_phrase(s),
        }
    }
}

/// The standard reason phrase.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// What kind of answer a reply is: servers order headers differently for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A file served by the server itself (Last-Modified, ETag, Accept-Ranges).
    Static {
        /// The file's modification time.
        modified: SystemTime,
    },
    /// Output of an application (PHP, a servlet).
    Dynamic,
    /// An error page of the server.
    Error,
}

/// An answer before the server's framing.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The application's headers, in order (`X-Powered-By`, `Set-Cookie`, `Location`,
    /// `WWW-Authenticate`, `Allow`, ...).
    pub headers: Vec<(String, String)>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: bytes::Bytes,
    /// Static, dynamic or an error page.
    pub kind: ReplyKind,
    /// Close the connection after this answer.
    pub close: bool,
    /// HEAD on this answer sends no `Content-Length` (Apache's error pages).
    pub head_without_length: bool,
    /// The body goes out chunked (one chunk and the last), without `Content-Length`.
    pub chunked: bool,
    /// Where the application flushed its output (offsets into `body`): a generated
    /// body with flushes goes out chunked, one chunk per flush, as mod_php sends it.
    pub flushes: Vec<usize>,
    /// The status line says `HTTP/1.0` (the application set its own status line).
    pub status_http10: bool,
    /// How a static file goes out (see [`deliver`]).
    pub form: BodyForm,
}

/// How a static file's reply goes out: each has its own headers on each server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BodyForm {
    /// The whole file.
    #[default]
    Whole,
    /// `304 Not Modified`: the validators matched (the file has `total` bytes).
    NotModified {
        /// The file's length.
        total: usize,
    },
    /// `206 Partial Content`: bytes `start..=end` of `total`.
    Partial {
        /// First byte sent.
        start: usize,
        /// Last byte sent.
        end: usize,
        /// The file's length.
        total: usize,
    },
    /// `206` with several ranges: a `multipart/byteranges` body of a `total`-byte file
    /// (`vary`: the file's own type is one the server compresses).
    Multipart {
        /// The file's length.
        total: usize,
        /// Whether the file's type gets `Vary: Accept-Encoding`.
        vary: bool,
    },
    /// Compressed with gzip; the ETag is still made from the `original` length.
    Gzip {
        /// The file's length before compression.
        original: usize,
    },
}

/// The request headers that change how a static file is served, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Preconditions<'a> {
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `Range`.
    pub range: Option<&'a str>,
    /// `If-Range`.
    pub if_range: Option<&'a str>,
    /// `Accept-Encoding`.
    pub accept_encoding: Option<&'a str>,
    /// A HEAD request (never compressed or cut).
    pub head: bool,
}

/// Serves a static file as Apache's and nginx's core do (`testdata/http/*/NOTES.md`):
/// `304` when `If-None-Match` names its ETag (or, without it, `If-Modified-Since` is
/// not older than the file), `206` for one satisfiable byte range (after `If-Range`),
/// `416` for one that is not, gzip when the client takes it and the server compresses
/// the type (Apache's mod_deflate at zlib's level 6 for Debian's types, nginx's `gzip on`
/// at level 1 for `text/html`). Tomcat's static files and other replies are unchanged.
pub fn deliver(
    server: &Server,
    mut reply: Reply,
    asked: &Preconditions<'_>,
    at: &Addressed<'_>,
) -> Reply {
    if reply.kind == ReplyKind::Dynamic {
        return compress_dynamic(server, reply, asked);
    }
    let ReplyKind::Static { modified } = reply.kind else {
        return reply;
    };
    if reply.status != 200 {
        return reply;
    }
    let total = reply.body.len();
    let etag = match server.kind {
        ServerKind::Apache => format!("\"{}\"", apache_etag(total, modified)),
        ServerKind::Nginx => format!("\"{}\"", nginx_etag(total, modified)),
        // Tomcat's ETag is weak (`W/"..."`): it matches If-None-Match, never If-Range.
        ServerKind::Tomcat => format!("\"{}\"", tomcat_etag(total, modified)),
    };
    let not_modified = match asked.if_none_match {
        Some(list) => list
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == etag),
        None => asked
            .if_modified_since
            .and_then(parse_http_date)
            .is_some_and(|since| since >= since_epoch(modified).as_secs()),
    };
    if not_modified {
        reply.status = 304;
        reply.body = bytes::Bytes::new();
        reply.form = BodyForm::NotModified { total };
        return reply;
    }
    if server.kind == ServerKind::Tomcat {
        // Tomcat's ranges and compression were not captured: the whole file.
        return reply;
    }
    let range_applies = match asked.if_range {
        None => true,
        Some(validator) if validator.starts_with('"') => validator.trim() == etag,
        Some(date) => parse_http_date(date) == Some(since_epoch(modified).as_secs()),
    };
    if let Some(range) = asked.range.filter(|_| range_applies && !asked.head) {
        match byte_ranges(range, total) {
            Some(Ok(ranges)) if ranges.len() == 1 => {
                let (start, end) = ranges[0];
                reply.status = 206;
                reply.body = reply.body.slice(start..=end);
                reply.form = BodyForm::Partial { start, end, total };
                return reply;
            }
            Some(Ok(ranges)) => return multipart(server, reply, &ranges, total),
            Some(Err(())) => {
                let mut refused = error_reply(server, ErrorCause::RangeNotSatisfiable, at);
                if server.kind == ServerKind::Nginx {
                    refused = refused.header("Content-Range", format!("bytes */{total}"));
                }
                return refused;
            }
            None => {}
        }
    }
    let (level, compresses) = match server.kind {
        ServerKind::Apache => (6, deflatable(reply.content_type.as_deref())),
        _ => (
            1,
            reply
                .content_type
                .as_deref()
                .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim() == "text/html")
                && total >= 20,
        ),
    };
    if takes_gzip(asked) && compresses && total > 0 && !asked.head {
        if let Some(compressed) = gzip_static(&reply.body, level) {
            reply.body = compressed;
            reply.form = BodyForm::Gzip { original: total };
            if server.kind == ServerKind::Nginx {
                reply.chunked = true;
            }
        }
    }
    reply
}

/// Whether the client takes gzip (`Accept-Encoding`, without `q=0`).
fn takes_gzip(asked: &Preconditions<'_>) -> bool {
    asked.accept_encoding.is_some_and(|list| {
        list.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

/// An application's 200 on Apache, compressed as Debian's mod_deflate does for its
/// types (`NOTES-php.md`, "gzip"); phpMyAdmin compresses its own output
/// (`X-ob_mode`, PHP's ob_gzhandler), which puts `Content-Encoding` among its headers.
fn compress_dynamic(server: &Server, mut reply: Reply, asked: &Preconditions<'_>) -> Reply {
    let compresses = server.kind == ServerKind::Apache
        && reply.status == 200
        && deflatable(reply.content_type.as_deref())
        && !reply.body.is_empty()
        && !asked.head
        && takes_gzip(asked);
    if !compresses {
        return reply;
    }
    let Some(compressed) = gzip(&reply.body, 6) else {
        return reply;
    };
    let original = reply.body.len();
    reply.body = compressed.into();
    reply.flushes.clear();
    reply.chunked = false;
    reply.form = BodyForm::Gzip { original };
    if reply
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("x-ob_mode"))
    {
        reply
            .headers
            .push(("Content-Encoding".to_owned(), "gzip".to_owned()));
    }
    reply
}

/// Most ranges served from one request (Apache's `MaxRanges` default); more get the
/// whole file.
const MAX_RANGES: usize = 200;

/// The `bytes=` ranges of a `total`-byte file that can be satisfied, in the order asked:
/// `Some(Err(()))` when none can, `None` when the header is not a byte-range list (then
/// the whole file is sent).
fn byte_ranges(header: &str, total: usize) -> Option<Result<Vec<(usize, usize)>, ()>> {
    let specs = header.trim().strip_prefix("bytes=")?;
    let mut ranges = Vec::new();
    for (i, spec) in specs.split(',').enumerate() {
        if i >= MAX_RANGES {
            return None;
        }
        let range = byte_range(&format!("bytes={}", spec.trim()), total)?;
        if let Ok(range) = range {
            ranges.push(range);
        }
    }
    if ranges.is_empty() {
        return Some(Err(()));
    }
    Some(Ok(ranges))
}

/// `206` with a `multipart/byteranges` body, framed as each server frames it (Apache:
/// a random 16-hex boundary and lower-case part headers; nginx: a counter of 20 digits).
fn multipart(server: &Server, mut reply: Reply, ranges: &[(usize, usize)], total: usize) -> Reply {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NGINX_BOUNDARY: AtomicU64 = AtomicU64::new(1);
    let part_type = reply.content_type.clone().unwrap_or_default();
    let (boundary, type_header, range_header) = match server.kind {
        ServerKind::Apache => (
            format!("{:016x}", fastrand::u64(..)),
            "Content-type",
            "Content-range",
        ),
        _ => (
            format!("{:020}", NGINX_BOUNDARY.fetch_add(1, Ordering::Relaxed)),
            "Content-Type",
            "Content-Range",
        ),
    };
    let mut body = Vec::new();
    for &(start, end) in ranges {
        let head = format!(
            "\r\n--{boundary}\r\n{type_header}: {part_type}\r\n{range_header}: bytes \
             {start}-{end}/{total}\r\n\r\n"
        );
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(&reply.body[start..=end]);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let vary = deflatable(reply.content_type.as_deref());
    reply.status = 206;
    reply.body = body.into();
    reply.content_type = Some(format!("multipart/byteranges; boundary={boundary}"));
    reply.form = BodyForm::Multipart { total, vary };
    reply
}

/// One `bytes=` range of a `total`-byte file: `Some(Ok((first, last)))`, `Some(Err(()))`
/// when it cannot be satisfied, `None` when the header is not one byte range (then the
/// whole file is sent).
fn byte_range(header: &str, total: usize) -> Option<Result<(usize, usize), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let range = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: usize = suffix.parse().ok()?;
            if n == 0 || total == 0 {
                return Some(Err(()));
            }
            (total - n.min(total), total - 1)
        }
        (first, last) => {
            let first: usize = first.parse().ok()?;
            let last = if last.is_empty() {
                usize::MAX
            } else {
                last.parse().ok()?
            };
            if last < first {
                return None;
            }
            if first >= total {
                return Some(Err(()));
            }
            (first, last.min(total - 1))
        }
    };
    Some(Ok(range))
}

/// Compressed static files: a persona's file is compressed once, not per request
/// (compressing the 10.7 KB default page costs about as much as serving 16 requests).
/// Keyed by the file's allocation; the entry holds the original `Bytes`, so that
/// allocation cannot be freed and reused for other content while the entry lives.
type GzipCache = moka::sync::Cache<(usize, usize, u32), (bytes::Bytes, bytes::Bytes)>;

/// Bytes of compressed files kept (the least recently used go first).
const GZIP_CACHE_BYTES: u64 = 64 * 1024 * 1024;

fn gzip_static(body: &bytes::Bytes, level: u32) -> Option<bytes::Bytes> {
    static CACHE: std::sync::OnceLock<GzipCache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        moka::sync::Cache::builder()
            .weigher(|_, (original, compressed): &(bytes::Bytes, bytes::Bytes)| {
                u32::try_from(original.len() + compressed.len()).unwrap_or(u32::MAX)
            })
            .max_capacity(GZIP_CACHE_BYTES)
            .build()
    });
    let key = (body.as_ptr() as usize, body.len(), level);
    if let Some((_, compressed)) = cache.get(&key) {
        return Some(compressed);
    }
    let compressed = bytes::Bytes::from(gzip(body, level)?);
    cache.insert(key, (body.clone(), compressed.clone()));
    Some(compressed)
}

/// gzip as the servers write it: no name or time, OS `3` (Unix).
fn gzip(body: &[u8], level: u32) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::GzBuilder::new().operating_system(3).write(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::new(level),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

/// An HTTP date (`Sun, 06 Dec 2026 20:57:48 GMT`) as unix seconds.
fn parse_http_date(text: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .and_then(|t| u64::try_from(t.timestamp()).ok())
}

impl Reply {
    /// A reply with a body and content type.
    pub fn new(
        status: u16,
        kind: ReplyKind,
        content_type: Option<String>,
        body: bytes::Bytes,
    ) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type,
            body,
            kind,
            close: false,
            head_without_length: false,
            chunked: false,
            flushes: Vec::new(),
            status_http10: false,
            form: BodyForm::Whole,
        }
    }

    /// Adds an application header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// The request facts the framing depends on.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// Request version.
    pub version: (u8, u8),
    /// The request said `Connection: keep-alive`.
    pub asked_keepalive: bool,
    /// The request said `Connection: close`.
    pub asked_close: bool,
    /// A HEAD request.
    pub head: bool,
    /// Requests left on this connection after this one (`max` of Apache's header).
    pub requests_left: u32,
}

impl Exchange {
    /// Whether the connection stays open after `reply`.
    pub fn keeps_open(&self, server: &Server, reply: &Reply) -> bool {
        if reply.close || self.asked_close || self.requests_left == 0 {
            return false;
        }
        let persistent = match self.version {
            (1, 0) => self.asked_keepalive,
            (0, _) => false,
            _ => true,
        };
        // nginx answers everything past HTTP/1.1 with 505 and closes.
        persistent && !(server.kind == ServerKind::Nginx && self.version.0 > 1)
    }
}

/// Writes the status line, headers and (unless HEAD) body of `reply` as `server` would.
/// Returns whether the connection stays open.
pub fn write_reply(
    server: &Server,
    reply: &Reply,
    exchange: &Exchange,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> bool {
    let app_closes = reply
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
    let date = http_date(now);
    let length = reply.body.len();
    // Apache's content-length filter buffers 8000 bytes of generated output: a longer
    // body goes out chunked, or unframed until close to an HTTP/1.0 client.
    let dynamic_apache = server.kind == ServerKind::Apache && reply.kind == ReplyKind::Dynamic;
    let framing = if matches!(reply.form, BodyForm::NotModified { .. }) {
        BodyFraming::Unstated
    } else if reply.chunked {
        BodyFraming::Chunked
    } else if dynamic_apache && exchange.head {
        BodyFraming::Unstated
    } else if matches!(reply.form, BodyForm::Gzip { .. }) && dynamic_apache {
        // mod_deflate hands the content-length filter the whole compressed body.
        BodyFraming::Length
    } else if dynamic_apache && (length > APACHE_BUFFERED_OUTPUT || !reply.flushes.is_empty()) {
        if exchange.version.0 == 1 && exchange.version.1 == 0 {
            BodyFraming::UntilClose
        } else {
            BodyFraming::Chunked
        }
    } else if exchange.head && reply.head_without_length {
        BodyFraming::Unstated
    } else {
        BodyFraming::Length
    };
    let open =
        exchange.keeps_open(server, reply) && !app_closes && framing != BodyFraming::UntilClose;
    let chunked = framing == BodyFraming::Chunked;
    let mut h = String::with_capacity(256);
    let protocol = if reply.status_http10 { "1.0" } else { "1.1" };
    let _ = write!(
        h,
        "HTTP/{protocol} {} {}\r\n",
        reply.status,
        server.reason(reply.status)
    );
    let app = |h: &mut String| {
        for (name, value) in &reply.headers {
            let _ = write!(h, "{name}: {value}\r\n");
        }
    };
    let content_type = |h: &mut String| {
        if let Some(ct) = &reply.content_type {
            let _ = write!(h, "Content-Type: {ct}\r\n");
        }
    };
    let length_header = |h: &mut String| match framing {
        BodyFraming::Length => {
            let _ = write!(h, "Content-Length: {length}\r\n");
        }
        BodyFraming::Chunked => h.push_str("Transfer-Encoding: chunked\r\n"),
        BodyFraming::Unstated | BodyFraming::UntilClose => {}
    };
    match server.kind {
        ServerKind::Apache => {
            let _ = write!(h, "Date: {date}\r\nServer: {}\r\n", server.banner);
            let connection = |h: &mut String| {
                if app_closes {
                } else if open && exchange.asked_keepalive {
                    let _ = write!(
                        h,
                        "Keep-Alive: timeout={}, max={}\r\nConnection: Keep-Alive\r\n",
                        server.keepalive_timeout.as_secs(),
                        exchange.requests_left
                    );
                } else if !open {
                    h.push_str("Connection: close\r\n");
                }
            };
            match reply.kind {
                ReplyKind::Static { modified } => {
                    let (size, suffix) = match reply.form {
                        BodyForm::Partial { total, .. }
                        | BodyForm::NotModified { total }
                        | BodyForm::Multipart { total, .. } => (total, ""),
                        BodyForm::Gzip { original } => (original, "-gzip"),
                        BodyForm::Whole => (length, ""),
                    };
                    let _ = write!(
                        h,
                        "Last-Modified: {}\r\nETag: \"{}{suffix}\"\r\nAccept-Ranges: bytes\r\n",
                        http_date(modified),
                        apache_etag(size, modified)
                    );
                    app(&mut h);
                    let vary = match reply.form {
                        BodyForm::Multipart { vary, .. } => vary,
                        _ => size > 0 && deflatable(reply.content_type.as_deref()),
                    };
                    match reply.form {
                        BodyForm::NotModified { .. } => {}
                        BodyForm::Gzip { .. } => {
                            h.push_str("Vary: Accept-Encoding\r\nContent-Encoding: gzip\r\n");
                            length_header(&mut h);
                        }
                        BodyForm::Partial { start, end, total } => {
                            length_header(&mut h);
                            if vary {
                                h.push_str("Vary: Accept-Encoding\r\n");
                            }
                            let _ = write!(h, "Content-Range: bytes {start}-{end}/{total}\r\n");
                        }
                        BodyForm::Whole | BodyForm::Multipart { .. } => {
                            length_header(&mut h);
                            if vary {
                                h.push_str("Vary: Accept-Encoding\r\n");
                            }
                        }
                    }
                    connection(&mut h);
                }
                ReplyKind::Dynamic => {
                    app(&mut h);
                    // mod_deflate's Vary: on 200s of compressible types it saw a body of.
                    if reply.status == 200
                        && length > 0
                        && !exchange.head
                        && deflatable(reply.content_type.as_deref())
                    {
                        h.push_str("Vary: Accept-Encoding\r\n");
                    }
                    // mod_deflate names its coding after Vary; PHP's ob_gzhandler set
                    // its own among the application's headers.
                    let app_coded = reply
                        .headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("content-encoding"));
                    if matches!(reply.form, BodyForm::Gzip { .. }) && !app_coded {
                        h.push_str("Content-Encoding: gzip\r\n");
                    }
                    // Connection headers come after a Content-Length (Apache adds them
                    // once the length is known) and before Transfer-Encoding.
                    if framing == BodyFraming::Length {
                        length_header(&mut h);
                        connection(&mut h);
                    } else {
                        connection(&mut h);
                        length_header(&mut h);
                    }
                }
                ReplyKind::Error => {
                    app(&mut h);
                    length_header(&mut h);
                    connection(&mut h);
                }
            }
            if !matches!(reply.form, BodyForm::NotModified { .. }) {
                content_type(&mut h);
            }
        }
        ServerKind::Nginx => {
            let _ = write!(h, "Server: {}\r\nDate: {date}\r\n", server.banner);
            let connection = if open { "keep-alive" } else { "close" };
            if let (ReplyKind::Static { modified }, BodyForm::NotModified { total }) =
                (reply.kind, reply.form)
            {
                let _ = write!(
                    h,
                    "Last-Modified: {}\r\nConnection: {connection}\r\nETag: \"{}\"\r\n",
                    http_date(modified),
                    nginx_etag(total, modified)
                );
            } else if let (ReplyKind::Static { modified }, BodyForm::Gzip { original }) =
                (reply.kind, reply.form)
            {
                content_type(&mut h);
                let _ = write!(h, "Last-Modified: {}\r\n", http_date(modified));
                length_header(&mut h);
                let _ = write!(
                    h,
                    "Connection: {connection}\r\nETag: W/\"{}\"\r\nContent-Encoding: gzip\r\n",
                    nginx_etag(original, modified)
                );
            } else if let (ReplyKind::Static { modified }, BodyForm::Multipart { total, .. }) =
                (reply.kind, reply.form)
            {
                content_type(&mut h);
                length_header(&mut h);
                let _ = write!(
                    h,
                    "Last-Modified: {}\r\nConnection: {connection}\r\nETag: \"{}\"\r\n",
                    http_date(modified),
                    nginx_etag(total, modified)
                );
            } else if let (
                ReplyKind::Static { modified },
                BodyForm::Partial { start, end, total },
            ) = (reply.kind, reply.form)
            {
                content_type(&mut h);
                length_header(&mut h);
                let _ = write!(
                    h,
                    "Last-Modified: {}\r\nConnection: {connection}\r\nETag: \"{}\"\r\n\
                     Content-Range: bytes {start}-{end}/{total}\r\n",
                    http_date(modified),
                    nginx_etag(total, modified)
                );
            } else if let ReplyKind::Static { modified } = reply.kind {
                content_type(&mut h);
                length_header(&mut h);
                let _ = write!(
                    h,
                    "Last-Modified: {}\r\nConnection: {connection}\r\nETag: \"{}\"\r\n\
                     Accept-Ranges: bytes\r\n",
                    http_date(modified),
                    nginx_etag(length, modified)
                );
                app(&mut h);
            } else if reply.kind == ReplyKind::Error {
                content_type(&mut h);
                length_header(&mut h);
                // 416's Content-Range follows Connection (captured); a 301's Location
                // precedes it.
                for (name, value) in &reply.headers {
                    if name != "Content-Range" {
                        let _ = write!(h, "{name}: {value}\r\n");
                    }
                }
                let _ = write!(h, "Connection: {connection}\r\n");
                for (name, value) in reply.headers.iter().filter(|(n, _)| n == "Content-Range") {
                    let _ = write!(h, "{name}: {value}\r\n");
                }
            } else {
                content_type(&mut h);
                length_header(&mut h);
                let _ = write!(h, "Connection: {connection}\r\n");
                app(&mut h);
            }
        }
        ServerKind::Tomcat if matches!(reply.form, BodyForm::NotModified { .. }) => {
            if let (ReplyKind::Static { modified }, BodyForm::NotModified { total }) =
                (reply.kind, reply.form)
            {
                let _ = write!(h, "ETag: W/\"{}\"\r\n", tomcat_etag(total, modified));
            }
            let _ = write!(h, "Date: {date}\r\n");
            if open && exchange.asked_keepalive {
                let _ = write!(
                    h,
                    "Keep-Alive: timeout={}\r\nConnection: keep-alive\r\n",
                    server.keepalive_timeout.as_secs()
                );
            }
        }
        ServerKind::Tomcat => {
            if let ReplyKind::Static { modified } = reply.kind {
                let _ = write!(
                    h,
                    "Accept-Ranges: bytes\r\nETag: W/\"{}\"\r\nLast-Modified: {}\r\n",
                    tomcat_etag(length, modified),
                    http_date(modified)
                );
            }
            app(&mut h);
            content_type(&mut h);
            if reply.kind == ReplyKind::Error {
                h.push_str("Content-Language: en\r\n");
            }
            length_header(&mut h);
            let _ = write!(h, "Date: {date}\r\n");
            if open && exchange.asked_keepalive {
                let _ = write!(
                    h,
                    "Keep-Alive: timeout={}\r\nConnection: keep-alive\r\n",
                    server.keepalive_timeout.as_secs()
                );
            } else if !open {
                h.push_str("Connection: close\r\n");
            }
        }
    }
    h.push_str("\r\n");
    out.extend_from_slice(h.as_bytes());
    if !exchange.head {
        if chunked {
            let mut start = 0;
            let ends = reply
                .flushes
                .iter()
                .copied()
                .filter(|&end| end <= reply.body.len())
                .chain(std::iter::once(reply.body.len()));
            for end in ends {
                if end > start {
                    out.extend_from_slice(format!("{:x}\r\n", end - start).as_bytes());
                    out.extend_from_slice(&reply.body[start..end]);
                    out.extend_from_slice(b"\r\n");
                    start = end;
                }
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&reply.body);
        }
    }
    open
}

/// Bytes of generated output Apache buffers before it must choose chunking.
const APACHE_BUFFERED_OUTPUT: usize = 8000;

/// How a body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFraming {
    Length,
    Chunked,
    /// No framing header (HEAD of generated output).
    Unstated,
    /// No framing header; the connection closes after the body.
    UntilClose,
}

/// Types mod_deflate compresses on Debian (`AddOutputFilterByType DEFLATE ...`).
fn deflatable(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "text/html"
            | "text/plain"
            | "text/xml"
            | "text/css"
            | "text/javascript"
            | "application/javascript"
            | "application/x-javascript"
            | "application/rss+xml"
            | "application/xml"
    )
}

/// Why the server itself answers with an error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCause {
    /// Not found (404).
    NotFound,
    /// Forbidden (403).
    Forbidden,
    /// A malformed request (400).
    BadRequest,
    /// A path that climbs above the root (400).
    InvalidUri,
    /// A header field over the limit (400).
    FieldTooLong,
    /// Too many header fields (400).
    TooManyFields,
    /// Request line over the limit (414).
    UriTooLong,
    /// The method is not allowed here (405).
    MethodNotAllowed,
    /// An unknown method (501).
    NotImplemented,
    /// A body over the limit (413).
    BodyTooLarge,
    /// An unsupported protocol version (nginx's 505).
    VersionNotSupported,
    /// A directory without its slash: redirect (301) to this location.
    MovedPermanently,
    /// A byte range past the end of the file (416).
    RangeNotSatisfiable,
}

/// Where a request was addressed, for signatures and redirects.
#[derive(Debug, Clone)]
pub struct Addressed<'a> {
    /// Host from the `Host` header without its port; `None` when the request failed
    /// before the header was read or had none.
    pub host: Option<&'a str>,
    /// The port the client connected to (or named in `Host`).
    pub port: u16,
    /// The method.
    pub method: &'a str,
    /// The request path (for Tomcat's message; escaped here).
    pub path: &'a str,
    /// The redirect target for [`ErrorCause::MovedPermanently`].
    pub location: Option<&'a str>,
}

/// The server's own error page for `cause`.
pub fn error_reply(server: &Server, cause: ErrorCause, at: &Addressed<'_>) -> Reply {
    let status = match cause {
        ErrorCause::NotFound => 404,
        ErrorCause::Forbidden => 403,
        ErrorCause::BadRequest
        | ErrorCause::InvalidUri
        | ErrorCause::FieldTooLong
        | ErrorCause::TooManyFields => 400,
        ErrorCause::UriTooLong => 414,
        ErrorCause::MethodNotAllowed => 405,
        ErrorCause::NotImplemented => 501,
        ErrorCause::BodyTooLarge => 413,
        ErrorCause::VersionNotSupported => 505,
        ErrorCause::MovedPermanently => 301,
        ErrorCause::RangeNotSatisfiable => 416,
    };
    let close = matches!(
        cause,
        ErrorCause::BadRequest
            | ErrorCause::InvalidUri
            | ErrorCause::FieldTooLong
            | ErrorCause::TooManyFields
            | ErrorCause::UriTooLong
            | ErrorCause::NotImplemented
            | ErrorCause::BodyTooLarge
            | ErrorCause::VersionNotSupported
    );
    let mut reply = match server.kind {
        ServerKind::Apache => apache_error(server, status, cause, at),
        ServerKind::Nginx => nginx_error(server, status, cause, at),
        ServerKind::Tomcat => tomcat_error(server, status, cause, at),
    };
    reply.close = close
        || (server.kind == ServerKind::Nginx && at.method == "TRACE")
        || (server.kind == ServerKind::Tomcat && status == 400);
    reply
}

fn apache_error(server: &Server, status: u16, cause: ErrorCause, at: &Addressed<'_>) -> Reply {
    let method = html_escape(at.method);
    let location = at.location.map(html_escape).unwrap_or_default();
    let message = match cause {
        ErrorCause::NotFound => "The requested URL was not found on this server.".to_owned(),
        ErrorCause::Forbidden => "You don't have permission to access this resource.".to_owned(),
        ErrorCause::BadRequest | ErrorCause::InvalidUri => {
            "Your browser sent a request that this server could not understand.<br />\n".to_owned()
        }
        ErrorCause::FieldTooLong => "Your browser sent a request that this server could not \
                                     understand.<br />\nSize of a request header field exceeds \
                                     server limit."
            .to_owned(),
        ErrorCause::TooManyFields => "Your browser sent a request that this server could not \
                                      understand.<br />\nThe number of request header fields \
                                      exceeds this server's limit."
            .to_owned(),
        ErrorCause::UriTooLong => {
            "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n"
                .to_owned()
        }
        ErrorCause::MethodNotAllowed => {
            format!("The requested method {method} is not allowed for this URL.")
        }
        ErrorCause::NotImplemented => format!("{method} not supported for current URL.<br />\n"),
        ErrorCause::BodyTooLarge => format!(
            "The requested resource does not allow request data with {method} requests, or the \
             amount of data provided in\nthe request exceeds the capacity limit."
        ),
        ErrorCause::VersionNotSupported => {
            "Your browser sent a request that this server could not understand.<br />\n".to_owned()
        }
        ErrorCause::MovedPermanently => {
            format!("The document has moved <a href=\"{location}\">here</a>.")
        }
        ErrorCause::RangeNotSatisfiable => "None of the range-specifier values in the \
                                            Range\nrequest-header field overlap the current \
                                            extent\nof the selected resource."
            .to_owned(),
    };
    let reason = reason_phrase(status);
    let reason = if status == 414 {
        "Request-URI Too Long"
    } else {
        reason
    };
    let host = at
        .host
        .map_or_else(|| server.server_name.clone(), html_escape);
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n\
         <html><head>\n<title>{status} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n\
         <p>{message}</p>\n<hr>\n<address>{} Server at {host} Port {}</address>\n</body></html>\n",
        server.banner, at.port
    );
    let mut reply = Reply::new(
        status,
        ReplyKind::Error,
        Some("text/html; charset=iso-8859-1".to_owned()),
        body.into(),
    );
    reply.head_without_length = true;
    match cause {
        ErrorCause::MethodNotAllowed => {
            let allow = if at.method == "TRACE" {
                ""
            } else {
                "OPTIONS,HEAD,GET,POST"
            };
            reply = reply.header("Allow", allow);
        }
        ErrorCause::NotImplemented => reply = reply.header("Allow", "OPTIONS,HEAD,GET,POST"),
        ErrorCause::MovedPermanently => {
            reply = reply.header("Location", at.location.unwrap_or("/"));
        }
        // Apache's byterange filter answers 416 chunked (captured).
        ErrorCause::RangeNotSatisfiable => reply.chunked = true,
        _ => {}
    }
    reply
}

fn nginx_error(server: &Server, status: u16, cause: ErrorCause, at: &Addressed<'_>) -> Reply {
    let reason = server.reason(status);
    let (title, extra) = match cause {
        ErrorCause::FieldTooLong | ErrorCause::TooManyFields => (
            "400 Request Header Or Cookie Too Large".to_owned(),
            "<center>Request Header Or Cookie Too Large</center>\r\n",
        ),
        _ => (format!("{status} {reason}"), ""),
    };
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}\
         </h1></center>\r\n{extra}<hr><center>{}</center>\r\n</body>\r\n</html>\r\n",
        server.banner
    );
    let mut reply = Reply::new(
        status,
        ReplyKind::Error,
        Some("text/html".to_owned()),
        body.into(),
    );
    if cause == ErrorCause::MovedPermanently {
        reply = reply.header("Location", at.location.unwrap_or("/"));
    }
    reply
}

fn tomcat_error(server: &Server, status: u16, cause: ErrorCause, at: &Addressed<'_>) -> Reply {
    let (message, description) = match cause {
        ErrorCause::NotFound => (
            format!(
                "The requested resource [{}] is not available",
                tomcat_escape(at.path)
            ),
            "The origin server did not find a current representation for the target resource \
             or is not willing to disclose that one exists.",
        ),
        ErrorCause::Forbidden => (
            "Access to the specified resource has been forbidden.".to_owned(),
            "The server understood the request but refuses to authorize it.",
        ),
        ErrorCause::MethodNotAllowed => (
            format!("{} method is not allowed", tomcat_escape(at.method)),
            "The method received in the request-line is known by the origin server but not \
             supported by the target resource.",
        ),
        ErrorCause::NotImplemented => (
            format!(
                "Method [{}] is not implemented by this Servlet for this URI",
                tomcat_escape(at.method)
            ),
            "The server does not support the functionality required to fulfill the request.",
        ),
        ErrorCause::InvalidUri => (
            "Invalid URI".to_owned(),
            "The server cannot or will not process the request due to something that is \
             perceived to be a client error (e.g., malformed request syntax, invalid request \
             message framing, or deceptive request routing).",
        ),
        _ => (
            String::new(),
            "The server cannot or will not process the request due to something that is \
             perceived to be a client error (e.g., malformed request syntax, invalid request \
             message framing, or deceptive request routing).",
        ),
    };
    let reason = reason_phrase(status);
    let message = if message.is_empty() {
        message
    } else {
        format!("<p><b>Message</b> {message}</p>")
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><title>HTTP Status {status} \u{2013} {reason}\
         </title><style type=\"text/css\">body {{font-family:Tahoma,Arial,sans-serif;}} h1, h2, \
         h3, b {{color:white;background-color:#525D76;}} h1 {{font-size:22px;}} h2 \
         {{font-size:16px;}} h3 {{font-size:14px;}} p {{font-size:12px;}} a {{color:black;}} \
         .line {{height:1px;background-color:#525D76;border:none;}}</style></head><body><h1>HTTP \
         Status {status} \u{2013} {reason}</h1><hr class=\"line\" /><p><b>Type</b> Status \
         Report</p>{message}<p><b>Description</b> {description}</p><hr \
         class=\"line\" /><h3>{}</h3></body></html>",
        server.banner
    );
    let mut reply = Reply::new(
        status,
        ReplyKind::Error,
        Some("text/html;charset=utf-8".to_owned()),
        body.into(),
    );
    if cause == ErrorCause::MethodNotAllowed {
        reply = reply.header("Allow", "HEAD, DELETE, POST, GET, OPTIONS, PUT");
    }
    if cause == ErrorCause::MovedPermanently {
        reply = reply.header("Location", at.location.unwrap_or("/"));
    }
    reply
}

/// Tomcat's escaping of the path in its messages (`/` becomes `&#47;`).
fn tomcat_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '/' => out.push_str("&#47;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// HTML-escapes attacker-controlled text shown in a page.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// IMF-fixdate (`Sun, 06 Dec 2026 20:59:34 GMT`).
pub fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Apache's `FileETag MTime Size`: `size-hex "-" mtime-µs-hex`.
fn apache_etag(size: usize, modified: SystemTime) -> String {
    format!("{size:x}-{:x}", since_epoch(modified).as_micros())
}

/// nginx: `mtime-s-hex "-" size-hex`.
fn nginx_etag(size: usize, modified: SystemTime) -> String {
    format!("{:x}-{size:x}", since_epoch(modified).as_secs())
}

/// Tomcat (weak): `size "-" mtime-ms`, decimal.
fn tomcat_etag(size: usize, modified: SystemTime) -> String {
    format!("{size}-{}", since_epoch(modified).as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> Exchange {
        Exchange {
            version: (1, 1),
            asked_keepalive: false,
            asked_close: false,
            head: false,
            requests_left: 99,
        }
    }

    #[test]
    fn ranges_of_a_file() {
        assert_eq!(byte_range("bytes=0-10", 100), Some(Ok((0, 10))));
        assert_eq!(byte_range("bytes=-5", 100), Some(Ok((95, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(byte_range("bytes=99-", 100), Some(Ok((99, 99))));
        assert_eq!(byte_range("bytes=90-1000", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=5-2", 100), None);
        assert_eq!(byte_range("bytes=0-1,3-4", 100), None);
        assert_eq!(
            byte_ranges("bytes=0-1, 5-6,200-", 100),
            Some(Ok(vec![(0, 1), (5, 6)]))
        );
        assert_eq!(byte_ranges("bytes=200-,300-", 100), Some(Err(())));
        assert_eq!(byte_ranges("bytes=0-1,x", 100), None);
        assert_eq!(byte_range("items=0-1", 100), None);
        assert_eq!(byte_range("bytes=x-1", 100), None);
        assert_eq!(
            parse_http_date("Sun, 06 Dec 2026 20:57:48 GMT"),
            Some(1_796_590_668)
        );
    }

    #[test]
    fn etags_match_the_captures() {
        // get-root.http of each capture.
        let apache = UNIX_EPOCH + Duration::from_micros(0x0006_61fd_5ca0_9044);
        assert_eq!(apache_etag(10701, apache), "29cd-661fd5ca09044");
        let nginx = UNIX_EPOCH + Duration::from_secs(0x6b15_cc4b);
        assert_eq!(nginx_etag(615, nginx), "6b15cc4b-267");
        let tomcat = UNIX_EPOCH + Duration::from_millis(1_796_591_032_766);
        assert_eq!(tomcat_etag(1905, tomcat), "1905-1796591032766");
    }

    #[test]
    fn apache_404_is_the_captured_page() {
        let server = Server::stock(ServerKind::Apache);
        let at = Addressed {
            host: Some("localhost"),
            port: 8181,
            method: "GET",
            path: "/nonexistent",
            location: None,
        };
        let reply = error_reply(&server, ErrorCause::NotFound, &at);
        let mut out = Vec::new();
        let now = UNIX_EPOCH + Duration::from_secs(1_796_590_958);
        assert!(write_reply(&server, &reply, &exchange(), now, &mut out));
        let captured = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/http/apache-2.4-debian/get-nonexistent.http"
        ))
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&captured)
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
        assert_eq!(tomcat_escape("/a<b"), "&#47;a&lt;b");
    }
}
