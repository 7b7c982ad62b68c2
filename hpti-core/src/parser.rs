//! The [`Parser`] trait: one line of a log in, an event or a typed error out.
//!
//! Parsers are pure functions of their input and depend on nothing heavier than serde, so
//! the fuzz targets that exercise them build quickly.

use crate::event::Event;

/// Where a line came from; parsers use it for deterministic ids and error reports.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// The source of the line (file path, socket name).
    pub source: &'a str,
    /// Byte offset of the line in its source.
    pub offset: u64,
    /// Source name to use when the record does not name one.
    pub sensor: &'a str,
}

impl Default for ParseContext<'_> {
    fn default() -> Self {
        Self {
            source: "-",
            offset: 0,
            sensor: "import",
        }
    }
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The line is not valid JSON (or not the JSON shape this format has).
    #[error("invalid JSON at column {column}: {message}")]
    Json {
        /// 1-based column of the error.
        column: usize,
        /// serde_json's message.
        message: String,
    },
    /// The line is not UTF-8.
    #[error("line is not valid UTF-8 (first bad byte at {0})")]
    Utf8(usize),
    /// A field the format requires is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field is present but its value is unusable.
    #[error("field `{field}`: {reason}")]
    InvalidField {
        /// The field's name in the input format.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The line does not match any record shape of this format.
    #[error("unrecognised line: {0}")]
    Unrecognised(String),
    /// The line is longer than the parser accepts.
    #[error("line is {len} bytes, over the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl ParseError {
    /// A short stable label for metrics (`json`, `missing_field`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Json { .. } => "json",
            Self::Utf8(_) => "utf8",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::Unrecognised(_) => "unrecognised",
            Self::TooLong { .. } => "too_long",
        }
    }

    /// Builds a [`ParseError::Json`] from a serde_json error.
    pub fn from_json(err: &serde_json::Error) -> Self {
        Self::Json {
            column: err.column(),
            message: err.to_string(),
        }
    }
}

/// Turns one line of a log format into an [`Event`].
///
/// `Ok(None)` means the line carries no event (a blank line, a comment, a record type the
/// format defines as noise); it is counted but not dead-lettered.
///
/// ```
/// use hpti_core::event::{Event, EventKind, Protocol};
/// use hpti_core::parser::{ParseContext, ParseError, Parser};
///
/// /// Parses `IP USER PASSWORD` lines from a home-grown brute-force log.
/// struct Triplets;
///
/// impl Parser for Triplets {
///     fn name(&self) -> &str { "triplets" }
///     fn parse(&self, line: &[u8], ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError> {
///         let text = std::str::from_utf8(line).map_err(|e| ParseError::Utf8(e.valid_up_to()))?;
///         let mut parts = text.split_whitespace();
///         let (Some(ip), Some(user), Some(pass)) = (parts.next(), parts.next(), parts.next()) else {
///             return Err(ParseError::Unrecognised(text.chars().take(80).collect()));
///         };
///         let ip = ip.parse().map_err(|_| ParseError::InvalidField { field: "ip", reason: "not an address".into() })?;
///         Ok(Some(Event::new(ctx.sensor, Protocol::Ssh, ip, EventKind::LoginAttempt {
///             username: user.into(), password: Some(pass.into()), key_type: None,
///             key_fingerprint: None, method: hpti_core::event::AuthMethod::Password, success: false,
///         })))
///     }
/// }
///
/// let event = Triplets.parse(b"198.51.100.4 root toor", &ParseContext::default()).unwrap().unwrap();
/// assert_eq!(event.src_ip.to_string(), "198.51.100.4");
/// assert!(Triplets.parse(b"garbage", &ParseContext::default()).is_err());
/// ```
pub trait Parser: Send + Sync {
    /// The format name used in config and on the command line (`hpti`, `cowrie`, ...).
    fn name(&self) -> &str;

    /// Parses one line (without its line terminator).
    fn parse(&self, line: &[u8], ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError>;
}

impl<P: Parser + ?Sized> Parser for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn parse(&self, line: &[u8], ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError> {
        (**self).parse(line, ctx)
    }
}

/// The native format: one JSON [`Event`] per line, as `docs/events.md` describes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeParser;

impl Parser for NativeParser {
    fn name(&self) -> &str {
        "hpti"
    }

    fn parse(&self, line: &[u8], _ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(trimmed)
            .map(Some)
            .map_err(|e| ParseError::from_json(&e))
    }
}

/// Looks a built-in parser up by its format name.
pub fn builtin(name: &str) -> Option<Box<dyn Parser>> {
    match name {
        "hpti" => Some(Box::new(NativeParser)),
        "cowrie" => Some(Box::new(crate::parsers::CowrieParser::new())),
        "opencanary" => Some(Box::new(crate::parsers::OpenCanaryParser)),
        "authlog" => Some(Box::new(crate::parsers::AuthLogParser::new())),
        _ => None,
    }
}

/// The names [`builtin`] knows.
pub const BUILTIN_FORMATS: &[&str] = &["hpti", "cowrie", "opencanary", "authlog"];
