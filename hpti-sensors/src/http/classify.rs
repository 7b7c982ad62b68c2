//! Attack labels for the requests the HTTP honeypot receives.
//!
//! A [`Classifier`] holds a table of rules (`classify.toml` beside this file is the
//! built-in one, embedded at compile time). Each rule has a `label`, the `parts` of the
//! request it looks at, a `pattern` (a [`regex`] pattern) and a one-line
//! `description`:
//!
//! ```toml
//! [[rule]]
//! label = "sqli"
//! parts = ["query", "body", "path", "cookie"]
//! pattern = '''(?i)\bunion\s+select\b'''
//! description = "UNION-based SQL injection"
//! ```
//!
//! A request gets the label of every rule whose pattern matches one of the rule's
//! parts. Several rules may share a label.
//!
//! # Parts
//!
//! | part | what is scanned |
//! | --- | --- |
//! | `method` | the method as sent |
//! | `path` | the path of the target, percent-decoded |
//! | `query` | the query string of the target, `+` as space, percent-decoded |
//! | `body` | the body, decoded like `query` if it looks form-urlencoded, raw otherwise |
//! | `cookie` | the values of every `Cookie` header joined by `; `, decoded like `query` |
//! | `user_agent` | the values of every `User-Agent` header, one a line |
//! | `headers` | the value of every header (names are not included), one a line |
//!
//! Percent-decoding is applied up to twice so that double encoding (`%252e` for `.`)
//! does not hide a payload; an absolute-form target (`http://host/path`) loses its
//! scheme and authority first. Only the first 64 KiB of each part are scanned.
//!
//! # Matching
//!
//! The rules of each part are compiled into one [`regex::bytes::RegexSet`], so each part
//! is scanned once whatever the number of rules. Patterns match bytes, with Unicode
//! mode off: `\w`, `\s`, `\b` and `(?i)` are ASCII-only (compact automata, and a binary
//! or invalid UTF-8 body is scanned as it is), `.` matches any byte but `\n`, and a
//! non-ASCII literal matches its UTF-8 bytes. `(?m)` makes `^`/`$` match at line
//! boundaries, which is how a rule looks at the start of each header value.
//!
//! # Cost
//!
//! Building the built-in classifier takes about 0.1 s (release); do it once. An ordinary
//! request is classified in a few microseconds. A part of 64 KiB takes about 0.2 ms
//! when it is ordinary text; crafted punctuation soup that keeps the lazy DFA building
//! new states can take about 15 ms per 64 KiB part, so the whole request stays in the
//! tens of milliseconds at worst. Keep bounded repetitions in patterns small or replace
//! them with a class that stops at a delimiter (`[^>]*`): large bounds multiply
//! automaton states.

use std::borrow::Cow;
use std::fmt;

use regex::bytes::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

/// The built-in rule table.
const BUILTIN_TABLE: &str = include_str!("classify.toml");

/// How many bytes of one part are scanned.
const MAX_SCAN_BYTES: usize = 64 * 1024;

/// Bound of one compiled pattern or set (the `regex` crate's default is 10 MiB). The
/// built-in table's largest set, `path`, needs about 360 KiB.
const SIZE_LIMIT: usize = 1024 * 1024;

/// Bound of the lazy DFA cache of one set.
const DFA_SIZE_LIMIT: usize = 4 * 1024 * 1024;

/// One request as the classifier sees it (borrowed from the sensor's parsed request).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method as sent.
    pub method: &'a str,
    /// The request target exactly as sent (path and query, maybe absolute-form).
    pub target: &'a str,
    /// Header (name, value) pairs in wire order; names as sent (match case-insensitively).
    pub headers: &'a [(String, String)],
    /// The body as received (may be cut to a bound; may be binary).
    pub body: &'a [u8],
}

/// A place in the request that rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Method,
    Path,
    Query,
    Body,
    Cookie,
    UserAgent,
    Headers,
}

impl Part {
    const ALL: [Part; 7] = [
        Part::Method,
        Part::Path,
        Part::Query,
        Part::Body,
        Part::Cookie,
        Part::UserAgent,
        Part::Headers,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Method => "method",
            Part::Path => "path",
            Part::Query => "query",
            Part::Body => "body",
            Part::Cookie => "cookie",
            Part::UserAgent => "user_agent",
            Part::Headers => "headers",
        }
    }

    fn from_name(name: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What is wrong with a rule table given to [`Classifier::from_toml`].
///
/// Rules are numbered from 1, in the order of their `[[rule]]` entries.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// The text is not TOML, or not a table of `[[rule]]` entries with the known keys.
    #[error("classifier table: {0}")]
    Table(#[from] toml::de::Error),
    /// A label is empty or has characters other than `a-z`, `0-9`, `-`, `_`, `.`, `:`.
    #[error(
        "classifier rule {index} (label {label:?}): bad label (use a-z, 0-9, '-', '_', '.', ':')"
    )]
    BadLabel {
        /// The rule's position in the table, from 1.
        index: usize,
        /// The rule's label.
        label: String,
    },
    /// A rule names a part that does not exist.
    #[error(
        "classifier rule {index} (label {label:?}): unknown part {part:?} \
         (known: method, path, query, body, cookie, user_agent, headers)"
    )]
    UnknownPart {
        /// The rule's position in the table, from 1.
        index: usize,
        /// The rule's label.
        label: String,
        /// The part as written.
        part: String,
    },
    /// A rule has an empty `parts` list.
    #[error("classifier rule {index} (label {label:?}): no parts to look at")]
    NoParts {
        /// The rule's position in the table, from 1.
        index: usize,
        /// The rule's label.
        label: String,
    },
    /// A rule's pattern does not compile.
    #[error("classifier rule {index} (label {label:?}): bad pattern: {source}")]
    BadPattern {
        /// The rule's position in the table, from 1.
        index: usize,
        /// The rule's label.
        label: String,
        /// What the regex compiler said.
        source: regex::Error,
    },
    /// The rules of one part compile one by one but not together (size limit).
    #[error("classifier rules of part {part:?} ({rules} rules) do not compile together: {source}")]
    SetTooLarge {
        /// The part.
        part: &'static str,
        /// How many rules look at it.
        rules: usize,
        /// What the regex compiler said.
        source: regex::Error,
    },
}

/// The table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// One `[[rule]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    label: String,
    parts: Vec<String>,
    pattern: String,
    /// Documentation only: read by people, not by the classifier.
    #[serde(default, rename = "description")]
    _description: String,
}

/// The compiled rules of one part.
#[derive(Clone)]
struct PartScan {
    part: Part,
    set: RegexSet,
    /// Rule index (into [`Classifier::labels`]) of each pattern of `set`.
    rules: Vec<usize>,
}

/// Labels requests with the attacks they carry, from a table of rules.
///
/// Built once per sensor and shared (it is `Send + Sync`); [`Classifier::classify`]
/// scans each part of a request once, whatever the number of rules.
///
/// ```
/// use hpti_sensors::http::classify::{Classifier, RequestParts};
///
/// let classifier = Classifier::builtin();
/// let headers = vec![(
///     "User-Agent".to_string(),
///     "sqlmap/1.8.4#stable (https://sqlmap.org)".to_string(),
/// )];
/// let request = RequestParts {
///     method: "GET",
///     target: "/item.php?id=1%20UNION%20ALL%20SELECT%20NULL,NULL--%20-",
///     headers: &headers,
///     body: b"",
/// };
/// assert_eq!(classifier.classify(&request), ["scanner:sqlmap", "sqli"]);
/// ```
#[derive(Clone)]
pub struct Classifier {
    /// The label of each rule, by rule index.
    labels: Vec<Box<str>>,
    /// One entry per part that at least one rule looks at.
    scans: Vec<PartScan>,
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("rules", &self.labels.len())
            .field(
                "parts",
                &self.scans.iter().map(|s| s.part.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Classifier {
    /// The classifier of the built-in table (`classify.toml`); a classifier without
    /// rules if that table did not compile (a unit test makes sure it does).
    pub fn builtin() -> Self {
        Self::from_toml(BUILTIN_TABLE).unwrap_or_else(|e| {
            // A unit test proves the table compiles; this only guards a broken build.
            tracing::error!(error = %e, "the built-in HTTP attack table does not compile");
            Self::empty()
        })
    }

    /// A classifier without rules: every request gets no label.
    fn empty() -> Self {
        Self {
            labels: Vec::new(),
            scans: Vec::new(),
        }
    }

    /// Compiles a rule table (see the module documentation for its format).
    pub fn from_toml(text: &str) -> Result<Self, ClassifyError> {
        let table: TableFile = toml::from_str(text)?;
        let mut labels = Vec::with_capacity(table.rule.len());
        let mut by_part: [Vec<usize>; Part::ALL.len()] = Default::default();
        for (i, rule) in table.rule.iter().enumerate() {
            let index = i + 1;
            let label = rule.label.clone();
            if !valid_label(&label) {
                return Err(ClassifyError::BadLabel { index, label });
            }
            if rule.parts.is_empty() {
                return Err(ClassifyError::NoParts { index, label });
            }
            let mut parts = Vec::with_capacity(rule.parts.len());
            for name in &rule.parts {
                let Some(part) = Part::from_name(name) else {
                    return Err(ClassifyError::UnknownPart {
                        index,
                        label,
                        part: name.clone(),
                    });
                };
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
            if let Err(source) = RegexBuilder::new(&rule.pattern)
                .unicode(false)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(DFA_SIZE_LIMIT)
                .build()
            {
                return Err(ClassifyError::BadPattern {
                    index,
                    label,
                    source,
                });
            }
            for part in parts {
                by_part[part.index()].push(i);
            }
            labels.push(label.into_boxed_str());
        }
        let mut scans = Vec::new();
        for part in Part::ALL {
            let rules = std::mem::take(&mut by_part[part.index()]);
            if rules.is_empty() {
                continue;
            }
            let set = RegexSetBuilder::new(rules.iter().map(|&r| &table.rule[r].pattern))
                .unicode(false)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(DFA_SIZE_LIMIT)
                .build()
                .map_err(|source| ClassifyError::SetTooLarge {
                    part: part.name(),
                    rules: rules.len(),
                    source,
                })?;
            scans.push(PartScan { part, set, rules });
        }
        Ok(Self { labels, scans })
    }

    /// The labels of a request: sorted, without duplicates, empty when no rule matched.
    pub fn classify(&self, request: &RequestParts<'_>) -> Vec<&str> {
        let mut hits: Vec<&str> = Vec::new();
        let (path, query) = split_target(request.target);
        for scan in &self.scans {
            let text = part_text(scan.part, request, path, query);
            if text.is_empty() {
                continue;
            }
            for m in scan.set.matches(&text).iter() {
                if let Some(label) = scan.rules.get(m).and_then(|&r| self.labels.get(r)) {
                    hits.push(label);
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// Every label the table can produce, sorted, without duplicates.
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self.labels.iter().map(|l| &**l).collect();
        labels.sort_unstable();
        labels.dedup();
        labels
    }
}

/// `a-z`, `0-9`, `-`, `_`, `.`, `:`; not empty.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b))
}

/// The first [`MAX_SCAN_BYTES`] of `bytes`.
fn capped(bytes: &[u8]) -> &[u8] {
    bytes.get(..MAX_SCAN_BYTES).unwrap_or(bytes)
}

/// The text of one part of a request, as its rules see it.
fn part_text<'r>(
    part: Part,
    request: &RequestParts<'r>,
    path: &'r [u8],
    query: &'r [u8],
) -> Cow<'r, [u8]> {
    match part {
        Part::Method => Cow::Borrowed(capped(request.method.as_bytes())),
        Part::Path => decode_twice(capped(path), false),
        Part::Query => decode_twice(capped(query), true),
        Part::Body => {
            let body = capped(request.body);
            if looks_form_urlencoded(request.headers, body) {
                decode_twice(body, true)
            } else {
                Cow::Borrowed(body)
            }
        }
        Part::Cookie => match join_values(request.headers, Some("cookie"), b"; ") {
            Cow::Borrowed(v) => decode_twice(v, true),
            Cow::Owned(v) => Cow::Owned(decode_twice(&v, true).into_owned()),
        },
        Part::UserAgent => join_values(request.headers, Some("user-agent"), b"\n"),
        Part::Headers => join_values(request.headers, None, b"\n"),
    }
}

/// The values of the headers named `name` (all headers if `None`), joined by `sep`,
/// at most [`MAX_SCAN_BYTES`]. Borrowed when there is only one.
fn join_values<'r>(
    headers: &'r [(String, String)],
    name: Option<&str>,
    sep: &[u8],
) -> Cow<'r, [u8]> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| name.is_none_or(|name| n.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v.as_bytes());
    let Some(first) = values.next() else {
        return Cow::Borrowed(b"");
    };
    let Some(second) = values.next() else {
        return Cow::Borrowed(capped(first));
    };
    let mut out = Vec::with_capacity(first.len() + sep.len() + second.len());
    for value in [first, second].into_iter().chain(values) {
        if !out.is_empty() {
            out.extend_from_slice(sep);
        }
        let room = MAX_SCAN_BYTES.saturating_sub(out.len());
        out.extend_from_slice(value.get(..room).unwrap_or(value));
        if out.len() >= MAX_SCAN_BYTES {
            out.truncate(MAX_SCAN_BYTES);
            break;
        }
    }
    Cow::Owned(out)
}

/// The path and the query string (without `?`) of a request target. An absolute-form
/// target (`http://host:port/path?query`) loses its scheme and authority.
fn split_target(target: &str) -> (&[u8], &[u8]) {
    let mut t = target.as_bytes();
    for scheme in [&b"http://"[..], b"https://"] {
        if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &t[scheme.len()..];
            let start = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(rest.len());
            t = &rest[start..];
            break;
        }
    }
    match t.iter().position(|&b| b == b'?') {
        Some(q) => (&t[..q], &t[q + 1..]),
        None => (t, b""),
    }
}

/// Whether a body is decoded as a form: its `Content-Type` says
/// `application/x-www-form-urlencoded`, or there is none and the body is printable
/// ASCII without spaces with an `=` (`a=1&b=2`).
fn looks_form_urlencoded(headers: &[(String, String)], body: &[u8]) -> bool {
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_bytes());
    match content_type {
        Some(ct) => contains_ignore_ascii_case(ct, b"application/x-www-form-urlencoded"),
        None => {
            let body = body.trim_ascii_end();
            body.contains(&b'=') && body.iter().all(|b| b.is_ascii_graphic())
        }
    }
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Percent-decoding applied twice (the second pass does not turn `+` into a space).
fn decode_twice(input: &[u8], plus_as_space: bool) -> Cow<'_, [u8]> {
    match percent_decode(input, plus_as_space) {
        Cow::Borrowed(b) => Cow::Borrowed(b),
        Cow::Owned(once) => {
            if once.contains(&b'%') {
                Cow::Owned(percent_decode(&once, false).into_owned())
            } else {
                Cow::Owned(once)
            }
        }
    }
}

/// One pass of percent-decoding: `%XX` (either case of hex digit) becomes the byte,
/// a `%` not followed by two hex digits stays, `+` becomes a space if `plus_as_space`.
fn percent_decode(input: &[u8], plus_as_space: bool) -> Cow<'_, [u8]> {
    if !input
        .iter()
        .any(|&b| b == b'%' || (plus_as_space && b == b'+'))
    {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'%' => {
                let hi = input.get(i + 1).and_then(|&h| hex_value(h));
                let lo = input.get(i + 2).and_then(|&l| hex_value(l));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_as_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/http/classify/attacks.tsv"
    ));
    const BENIGN: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/http/classify/benign.tsv"
    ));

    /// One corpus line (format: see the comment at the top of the corpus files).
    struct Case {
        line: usize,
        labels: Vec<String>,
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Case {
        fn parts(&self) -> RequestParts<'_> {
            RequestParts {
                method: &self.method,
                target: &self.target,
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    /// `Name: value` pieces joined by ` | `; a piece that does not start with a header
    /// name and a colon belongs to the value before it (a value may hold ` | `).
    fn parse_headers(field: &str) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = Vec::new();
        if field.is_empty() {
            return headers;
        }
        for piece in field.split(" | ") {
            let name_end = piece.find(':').filter(|&i| {
                i > 0
                    && piece[..i]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            });
            match (name_end, headers.last_mut()) {
                (None, Some((_, value))) => {
                    value.push_str(" | ");
                    value.push_str(piece);
                }
                (None, None) => panic!("header field does not start with a header: {field:?}"),
                (Some(i), _) => headers.push((
                    piece[..i].to_string(),
                    piece[i + 1..].trim_start().to_string(),
                )),
            }
        }
        headers
    }

    /// `\t`, `\n`, `\r`, `\\` and `\xHH` escapes.
    fn unescape(field: &str) -> Vec<u8> {
        let bytes = field.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                match bytes[i + 1] {
                    b't' => out.push(b'\t'),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b'\\' => out.push(b'\\'),
                    b'x' if i + 3 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 4;
                        continue;
                    }
                    other => panic!("unknown escape \\{} in {field:?}", other as char),
                }
                i += 2;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    fn parse_corpus(text: &str) -> Vec<Case> {
        let mut cases = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut fields = line.splitn(5, '\t');
            let labels = fields.next().unwrap_or_default();
            let method = fields.next().unwrap_or_default();
            let target = fields.next().unwrap_or_default();
            let headers = fields.next().unwrap_or_default();
            let body = fields.next().unwrap_or_default();
            assert!(
                !method.is_empty() && !target.is_empty(),
                "line {}: needs at least labels, method and target: {line:?}",
                i + 1
            );
            cases.push(Case {
                line: i + 1,
                labels: labels
                    .split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
                method: method.to_string(),
                target: target.to_string(),
                headers: parse_headers(headers),
                body: unescape(body),
            });
        }
        cases
    }

    #[test]
    fn builtin_table_compiles_and_every_label_has_an_attack() {
        let classifier = Classifier::from_toml(BUILTIN_TABLE).unwrap();
        assert!(!classifier.labels().is_empty());
        let table: TableFile = toml::from_str(BUILTIN_TABLE).unwrap();
        for (i, rule) in table.rule.iter().enumerate() {
            assert!(
                !rule._description.is_empty() && !rule._description.contains('\n'),
                "rule {} ({}) needs a one-line description",
                i + 1,
                rule.label
            );
        }
        let attacks = parse_corpus(ATTACKS);
        let missing: Vec<&str> = classifier
            .labels()
            .into_iter()
            .filter(|label| !attacks.iter().any(|c| c.labels.iter().any(|l| l == label)))
            .collect();
        assert!(
            missing.is_empty(),
            "labels without an attack line: {missing:?}"
        );
        // And the corpus expects no label the table cannot produce.
        let labels = classifier.labels();
        for case in &attacks {
            assert!(
                !case.labels.is_empty(),
                "attack line {} has no label",
                case.line
            );
            for label in &case.labels {
                assert!(
                    labels.contains(&label.as_str()),
                    "attack line {}: unknown label {label:?}",
                    case.line
                );
            }
        }
        assert_eq!(Classifier::builtin().labels(), labels);
    }

    #[test]
    fn every_attack_gets_its_labels() {
        let classifier = Classifier::builtin();
        let attacks = parse_corpus(ATTACKS);
        assert!(attacks.len() >= 150, "only {} attack lines", attacks.len());
        let mut misses = Vec::new();
        for case in &attacks {
            let got = classifier.classify(&case.parts());
            let missing: Vec<&String> = case
                .labels
                .iter()
                .filter(|l| !got.contains(&l.as_str()))
                .collect();
            if !missing.is_empty() {
                misses.push(format!(
                    "line {}: missing {missing:?}, got {got:?}: {} {}",
                    case.line, case.method, case.target
                ));
            }
        }
        println!(
            "attack recall: {}/{} lines fully labelled",
            attacks.len() - misses.len(),
            attacks.len()
        );
        assert!(
            misses.is_empty(),
            "{} misses:\n{}",
            misses.len(),
            misses.join("\n")
        );
    }

    #[test]
    fn benign_false_positive_rate() {
        let classifier = Classifier::builtin();
        let benign = parse_corpus(BENIGN);
        assert!(benign.len() >= 300, "only {} benign lines", benign.len());
        let mut flagged = Vec::new();
        for case in &benign {
            assert!(
                case.labels.is_empty(),
                "benign line {} has labels",
                case.line
            );
            let attacks: Vec<&str> = classifier
                .classify(&case.parts())
                .into_iter()
                .filter(|l| hpti_core::event::is_attack_label(l))
                .collect();
            if !attacks.is_empty() {
                flagged.push(format!(
                    "line {}: {attacks:?}: {} {}",
                    case.line, case.method, case.target
                ));
            }
        }
        let rate = flagged.len() as f64 / benign.len() as f64;
        println!(
            "benign false positives: {}/{} ({:.2}%)\n{}",
            flagged.len(),
            benign.len(),
            rate * 100.0,
            flagged.join("\n")
        );
        assert!(
            rate <= 0.01,
            "false-positive rate {:.2}% above 1%",
            rate * 100.0
        );
    }

    /// A small deterministic generator (xorshift64*), so that the fuzz-like tests need
    /// no crate and always see the same inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Bytes biased towards what the decoder and the patterns care about.
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            const PIECES: &[&[u8]] = &[
                b"%",
                b"%2",
                b"%25",
                b"%00",
                b"%0d%0a",
                b"%c0%af",
                b"%ff",
                b"+",
                b"../",
                b"${",
                b"jndi:",
                b"<script",
                b"'",
                b"\"",
                b" or 1=1",
                b"union select",
                b"() {",
                b"\xe5\x98",
                b"\xff\xfe",
                b"\xc3",
                b"=",
                b"&",
                b";",
                b"|",
                b"`",
                b"$(",
                b"\n",
                b"\r",
                b"\x00",
            ];
            let mut out = Vec::with_capacity(len + 16);
            while out.len() < len {
                if self.below(3) == 0 {
                    out.extend_from_slice(PIECES[self.below(PIECES.len())]);
                } else {
                    out.push(self.next() as u8);
                }
            }
            out
        }

        /// Valid UTF-8 text (what `&str` fields can hold) from [`Rng::bytes`].
        fn text(&mut self, len: usize) -> String {
            String::from_utf8_lossy(&self.bytes(len)).into_owned()
        }
    }

    #[test]
    fn huge_and_arbitrary_requests_do_not_panic() {
        let classifier = Classifier::builtin();
        // A 1 MiB body, form-encoded and raw, and a 100 KB target.
        let big_body: Vec<u8> = b"a=%2541&b="
            .iter()
            .copied()
            .cycle()
            .take(1 << 20)
            .collect();
        let long_target = format!("/{}?q={}", "a/".repeat(25_000), "%25".repeat(17_000));
        assert!(long_target.len() >= 100_000);
        for content_type in [
            "application/x-www-form-urlencoded",
            "application/octet-stream",
        ] {
            let headers = vec![
                ("Content-Type".to_string(), content_type.to_string()),
                ("Cookie".to_string(), "x=".repeat(40_000)),
                ("Cookie".to_string(), "y=%41".repeat(20_000)),
                ("User-Agent".to_string(), "U".repeat(70_000)),
            ];
            let request = RequestParts {
                method: "POST",
                target: &long_target,
                headers: &headers,
                body: &big_body,
            };
            let _ = classifier.classify(&request);
        }
        // An attack past the first 64 KiB of the body is not seen (the bound holds).
        let mut late = vec![b'x'; MAX_SCAN_BYTES];
        late.extend_from_slice(b"<?php system($_GET['c']); ?>");
        let request = RequestParts {
            method: "POST",
            target: "/",
            headers: &[],
            body: &late,
        };
        assert!(classifier.classify(&request).is_empty());

        // Arbitrary bytes in the body; arbitrary text elsewhere, whose percent escapes
        // decode to invalid UTF-8.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..2_000 {
            let len = rng.below(if round % 100 == 0 { 70_000 } else { 300 });
            let body = rng.bytes(len);
            let target = rng.text(200);
            let headers: Vec<(String, String)> = (0..rng.below(6))
                .map(|i| {
                    let name = ["Cookie", "User-Agent", "Content-Type", "Referer", "X-A"][i % 5];
                    (name.to_string(), rng.text(100))
                })
                .collect();
            let method = rng.text(8);
            let request = RequestParts {
                method: &method,
                target: &target,
                headers: &headers,
                body: &body,
            };
            let labels = classifier.classify(&request);
            assert!(
                labels.windows(2).all(|w| w[0] < w[1]),
                "not sorted and deduplicated: {labels:?}"
            );
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(&*percent_decode(b"a%41%4a%4A+b", true), b"aAJJ b");
        assert_eq!(&*percent_decode(b"a+b", false), b"a+b");
        assert_eq!(&*percent_decode(b"%", true), b"%");
        assert_eq!(&*percent_decode(b"%4", true), b"%4");
        assert_eq!(&*percent_decode(b"%zz%%41", true), b"%zz%A");
        assert_eq!(&*percent_decode(b"%ff%00", false), b"\xff\x00");
        assert!(matches!(percent_decode(b"plain", true), Cow::Borrowed(_)));
        // Twice, and only twice; `+` is a space in the first pass only.
        assert_eq!(&*decode_twice(b"%252e%252e%252f", false), b"../");
        assert_eq!(&*decode_twice(b"%25252e", false), b"%2e");
        assert_eq!(&*decode_twice(b"%%32%65", false), b".");
        assert_eq!(&*decode_twice(b"1%2B1+2", true), b"1+1 2");

        assert_eq!(split_target("/a/b?x=1?y"), (&b"/a/b"[..], &b"x=1?y"[..]));
        assert_eq!(split_target("/a"), (&b"/a"[..], &b""[..]));
        assert_eq!(split_target("HTTP://Host:80/p?q"), (&b"/p"[..], &b"q"[..]));
        assert_eq!(split_target("https://host?q"), (&b""[..], &b"q"[..]));
        assert_eq!(split_target("*"), (&b"*"[..], &b""[..]));

        let form = [(
            "content-type".to_string(),
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8".to_string(),
        )];
        let json = [("Content-Type".to_string(), "application/json".to_string())];
        assert!(looks_form_urlencoded(&form, b"{}"));
        assert!(!looks_form_urlencoded(&json, b"a=1"));
        assert!(looks_form_urlencoded(&[], b"a=1&b=%27\r\n"));
        assert!(!looks_form_urlencoded(&[], b"a = 1"));
        assert!(!looks_form_urlencoded(&[], b"plain"));
    }

    #[test]
    fn parts_and_joining() {
        let table = r#"
            [[rule]]
            label = "in-cookie"
            parts = ["cookie"]
            pattern = '''a b; c=\.\./'''
            description = "cookie values are joined by '; ' and decoded"

            [[rule]]
            label = "second-header-line"
            parts = ["headers"]
            pattern = '''(?m)^two$'''
            description = "every header value is a line"

            [[rule]]
            label = "ua"
            parts = ["user_agent", "method", "user_agent"]
            pattern = '''^(?:Agent|PROPFIND)$'''
            description = "user agent and method"
        "#;
        let classifier = Classifier::from_toml(table).unwrap();
        let headers = [
            ("Cookie".to_string(), "a+b".to_string()),
            ("X-One".to_string(), "one".to_string()),
            ("cookie".to_string(), "c=%252e%252e%252f".to_string()),
            ("X-Two".to_string(), "two".to_string()),
            ("user-agent".to_string(), "Agent".to_string()),
        ];
        let request = RequestParts {
            method: "GET",
            target: "/",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            classifier.classify(&request),
            ["in-cookie", "second-header-line", "ua"]
        );
        let request = RequestParts {
            method: "PROPFIND",
            target: "/",
            headers: &[],
            body: b"",
        };
        assert_eq!(classifier.classify(&request), ["ua"]);
        assert_eq!(
            classifier.labels(),
            ["in-cookie", "second-header-line", "ua"]
        );
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Classifier>();
    }

    #[test]
    fn table_errors_name_the_rule_and_label() {
        let good = "[[rule]]\nlabel = \"ok\"\nparts = [\"path\"]\npattern = 'a'\n";
        let bad_regex = format!(
            "{good}[[rule]]\nlabel = \"broken\"\nparts = [\"query\"]\npattern = '(unclosed'\n"
        );
        let err = Classifier::from_toml(&bad_regex).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ClassifyError::BadPattern { index: 2, ref label, .. } if label == "broken")
        );
        assert!(
            text.contains("rule 2") && text.contains("\"broken\"") && text.contains("pattern"),
            "{text}"
        );

        let bad_part = format!(
            "{good}{good}[[rule]]\nlabel = \"where\"\nparts = [\"query\", \"referer\"]\npattern = 'a'\n"
        );
        let err = Classifier::from_toml(&bad_part).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ClassifyError::UnknownPart { index: 3, .. }));
        assert!(
            text.contains("rule 3") && text.contains("\"where\"") && text.contains("\"referer\""),
            "{text}"
        );

        let no_parts = "[[rule]]\nlabel = \"none\"\nparts = []\npattern = 'a'\n";
        assert!(matches!(
            Classifier::from_toml(no_parts),
            Err(ClassifyError::NoParts { index: 1, .. })
        ));
        let bad_label = "[[rule]]\nlabel = \"Has Space\"\nparts = [\"path\"]\npattern = 'a'\n";
        assert!(matches!(
            Classifier::from_toml(bad_label),
            Err(ClassifyError::BadLabel { index: 1, .. })
        ));
        let unknown_key =
            "[[rule]]\nlabel = \"x\"\nparts = [\"path\"]\npattern = 'a'\nseverity = 3\n";
        assert!(matches!(
            Classifier::from_toml(unknown_key),
            Err(ClassifyError::Table(_))
        ));
        // Unicode classes are not available: patterns are ASCII-only byte patterns.
        let unicode = "[[rule]]\nlabel = \"u\"\nparts = [\"body\"]\npattern = '\\p{Greek}'\n";
        assert!(matches!(
            Classifier::from_toml(unicode),
            Err(ClassifyError::BadPattern { index: 1, .. })
        ));
        // A pattern past the size limit is refused, naming its rule.
        let huge = "[[rule]]\nlabel = \"huge\"\nparts = [\"body\"]\npattern = '(?:a{0,1000}b{0,1000}){50}'\n";
        assert!(matches!(
            Classifier::from_toml(huge),
            Err(ClassifyError::BadPattern { index: 1, .. })
        ));

        // Rules that compile one by one but not together name their part.
        let big = |label: &str| {
            format!(
                "[[rule]]\nlabel = \"{label}\"\nparts = [\"body\"]\npattern = '{label}[a-z]{{6000}}'\n"
            )
        };
        let together = format!("{}{}{}", big("x"), big("y"), big("z"));
        let err = Classifier::from_toml(&together).unwrap_err();
        assert!(
            matches!(
                err,
                ClassifyError::SetTooLarge {
                    part: "body",
                    rules: 3,
                    ..
                }
            ),
            "{err}"
        );

        // An empty table is valid and labels nothing.
        let empty = Classifier::from_toml("").unwrap();
        assert!(empty.labels().is_empty());
        let request = RequestParts {
            method: "GET",
            target: "/?id=1%20union%20select%201",
            headers: &[],
            body: b"",
        };
        assert!(empty.classify(&request).is_empty());
        assert!(Classifier::empty().classify(&request).is_empty());
    }
}
