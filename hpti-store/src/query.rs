//! Backend-independent query types.

use std::fmt;
use std::net::IpAddr;

use async_trait::async_trait;
use hpti_core::event::{Enrichment, Event, EventId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Most rows one query returns, whatever limit it asks for.
pub const MAX_LIMIT: u32 = 10_000;

/// The time window and size of a query: events at or after `since` and before `until`.
///
/// ```
/// use hpti_core::event::Timestamp;
/// use hpti_store::Window;
/// let day = Window::default()
///     .since(Timestamp::from_micros(1_767_225_600_000_000))
///     .until(Timestamp::from_micros(1_767_312_000_000_000))
///     .limit(100);
/// assert_eq!(day.limit, 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Window {
    /// Only events at or after this time; `None` for all time.
    pub since: Option<Timestamp>,
    /// Only events before this time; `None` for up to now.
    pub until: Option<Timestamp>,
    /// Most rows returned (at most [`MAX_LIMIT`]).
    pub limit: u32,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            limit: 20,
        }
    }
}

impl Window {
    /// Only events at or after `time`.
    pub fn since(mut self, time: Timestamp) -> Self {
        self.since = Some(time);
        self
    }

    /// Only events before `time`.
    pub fn until(mut self, time: Timestamp) -> Self {
        self.until = Some(time);
        self
    }

    /// Sets the start, or all time for `None`.
    pub fn since_opt(mut self, time: Option<Timestamp>) -> Self {
        self.since = time;
        self
    }

    /// Sets the end, or up to now for `None`.
    pub fn until_opt(mut self, time: Option<Timestamp>) -> Self {
        self.until = time;
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The start in microseconds (the earliest representable time when unset).
    pub fn since_micros(&self) -> i64 {
        self.since.map_or(i64::MIN, Timestamp::as_micros)
    }

    /// The end in microseconds (the latest representable time when unset).
    pub fn until_micros(&self) -> i64 {
        self.until.map_or(i64::MAX, Timestamp::as_micros)
    }

    /// Refuses a window that ends before it starts or asks for no rows or too many: a
    /// backend calls this first, so every backend refuses the same questions.
    pub fn check(&self) -> Result<(), StoreError> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if until < since {
                return Err(StoreError::InvalidInput(format!(
                    "until ({until}) is before since ({since})"
                )));
            }
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(StoreError::InvalidInput(format!(
                "limit must be 1 to {MAX_LIMIT}, not {}",
                self.limit
            )));
        }
        Ok(())
    }
}

/// An hour in microseconds: the rollups' granularity.
pub(crate) const HOUR_MICROS: i64 = 3_600_000_000;

/// A day in microseconds: the daily rollups' granularity (UTC days).
pub(crate) const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// The first whole UTC day at or after `first_hour` (an hour's start): a window reads its
/// days from `first_whole_day` on from the daily rollups and the hours before it from the
/// hourly ones.
pub(crate) fn first_whole_day(first_hour: i64) -> i64 {
    let floor = first_hour.div_euclid(DAY_MICROS) * DAY_MICROS;
    if floor == first_hour {
        first_hour
    } else {
        floor.saturating_add(DAY_MICROS)
    }
}

/// How a backend with rollups answers a window's rankings ([`Window::span`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// Everything stored: the all-time totals.
    AllTime,
    /// From `since` on: whole hours from `first_hour` on from the hourly rollups,
    /// `[since, first_hour)` from the events, and distinct addresses from the pairs last
    /// seen at or after `since` (a pair has an event in the window exactly then).
    Since {
        /// The window's start, microseconds.
        since: i64,
        /// The first whole hour at or after `since`.
        first_hour: i64,
    },
    /// A window closed at both ends (microseconds): the events, since which addresses
    /// were seen *before* `until` no rollup can say.
    Between {
        /// The window's start.
        since: i64,
        /// The window's end (exclusive).
        until: i64,
    },
}

impl Window {
    /// How to answer this window over a store whose events span `oldest..=newest`
    /// (`None` when empty). A bound outside the stored events is dropped first: a window
    /// ending after the newest event (the API's "until now") reads as open-ended.
    pub(crate) fn span(&self, oldest: Option<i64>, newest: Option<i64>) -> Span {
        let since = self
            .since
            .map(Timestamp::as_micros)
            .filter(|since| oldest.is_some_and(|oldest| *since > oldest));
        let until = self
            .until
            .map(Timestamp::as_micros)
            .filter(|until| newest.is_none_or(|newest| *until <= newest));
        match (since, until) {
            (None, None) => Span::AllTime,
            (Some(since), None) => {
                let floor = since.div_euclid(HOUR_MICROS) * HOUR_MICROS;
                let first_hour = if floor == since {
                    since
                } else {
                    floor.saturating_add(HOUR_MICROS)
                };
                Span::Since { since, first_hour }
            }
            (since, Some(until)) => Span::Between {
                since: since.unwrap_or(i64::MIN),
                until,
            },
        }
    }
}

/// Which events [`EventQueries::events`] returns: each field set narrows the result
/// (AND); the time window and page size are the query's [`Window`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only events from this address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    /// Only events of this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Only events of this sensor or source (its component id or log name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// Only events of this protocol (`ssh`, `telnet`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Only events of this kind (`login.attempt`, ...; see `docs/events.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only events whose command line is exactly this: a shell or FTP command, or an
    /// attack request as the commands ranking shows it (`GET /?id=1'`); see
    /// [`EventKind::attempted_command`](hpti_core::event::EventKind::attempted_command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Every kind name an event can have, for checking [`EventFilter::kind`].
pub const EVENT_KINDS: &[&str] = &[
    "session.started",
    "session.closed",
    "client.version",
    "client.fingerprint",
    "login.attempt",
    "command.input",
    "file.download",
    "file.upload",
    "http.request",
    "port_forward.request",
    "unknown",
];

impl EventFilter {
    /// Only events from `ip`.
    pub fn src_ip(mut self, ip: IpAddr) -> Self {
        self.src_ip = Some(ip);
        self
    }

    /// Only events of `session`.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Only events of `sensor`.
    pub fn sensor(mut self, sensor: impl Into<String>) -> Self {
        self.sensor = Some(sensor.into());
        self
    }

    /// Only events of `protocol`.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Only events of `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Only events whose command line is `command`.
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = Some(command.into());
        self
    }

    /// Refuses an unknown kind (a typo would otherwise answer "nothing happened").
    pub fn check(&self) -> Result<(), StoreError> {
        match &self.kind {
            Some(kind) if !EVENT_KINDS.contains(&kind.as_str()) => {
                Err(StoreError::InvalidInput(format!(
                    "unknown kind {kind:?}; known kinds: {}",
                    EVENT_KINDS.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Where a page of [`EventQueries::events`] ended: pass it back to get the next page.
/// Opaque to callers; every backend orders events newest first by (time, id) and
/// encodes the last event's time and id the same way, so a cursor survives restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor that continues after `event`.
    pub fn after(event: &Event) -> Self {
        Self(format!(
            "{}.{}",
            event.time.as_micros(),
            event.id.as_uuid().simple()
        ))
    }

    /// The cursor that continues after the event at `time` with `id`.
    pub fn at(time: Timestamp, id: EventId) -> Self {
        Self(format!("{}.{}", time.as_micros(), id.as_uuid().simple()))
    }

    /// A cursor a caller handed back (not yet checked).
    pub fn from_string(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The cursor as text, for a URL or a command line.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The time and id of the last event of the previous page; a cursor that no backend
    /// made is invalid input.
    pub fn position(&self) -> Result<(Timestamp, EventId), StoreError> {
        let invalid = || StoreError::InvalidInput(format!("malformed cursor {:?}", self.0));
        let (time, id) = self.0.split_once('.').ok_or_else(invalid)?;
        let time: i64 = time.parse().map_err(|_| invalid())?;
        if id.len() != 32 {
            return Err(invalid());
        }
        let id: EventId = id.parse().map_err(|_| invalid())?;
        Ok((Timestamp::from_micros(time), id))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventPage {
    /// The events, newest first (by time, then id).
    pub events: Vec<Event>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

impl EventPage {
    /// A page of `events` (fetched with one more than `limit` asked for, to know whether
    /// another page follows): keeps `limit` and sets the cursor if there were more.
    pub fn from_overfetch(mut events: Vec<Event>, limit: u32) -> Self {
        let limit = limit as usize;
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(Cursor::after)
        } else {
            None
        };
        Self { events, next }
    }
}

/// A page of events as JSON lines ([`EventQueries::events_ndjson`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NdjsonPage {
    /// One event's JSON per line, each line ended by `\n`, newest first.
    pub lines: Vec<u8>,
    /// Events in `lines`.
    pub count: usize,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// Most events of one session's timeline ([`SessionDetail::events`]).
pub const MAX_TIMELINE_EVENTS: usize = 10_000;

/// One session and its events in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionDetail {
    /// The session's summary.
    pub summary: SessionSummary,
    /// Its events, oldest first (at most [`MAX_TIMELINE_EVENTS`]).
    pub events: Vec<Event>,
    /// Whether the session had more events than the timeline holds.
    pub truncated: bool,
}

impl SessionDetail {
    /// The detail of `summary` with its `events` (fetched with one more than
    /// [`MAX_TIMELINE_EVENTS`], to know whether it is cut).
    pub fn new(summary: SessionSummary, mut events: Vec<Event>) -> Self {
        let truncated = events.len() > MAX_TIMELINE_EVENTS;
        events.truncate(MAX_TIMELINE_EVENTS);
        Self {
            summary,
            events,
            truncated,
        }
    }
}

/// Most rows of each list of an [`AttackerDetail`].
pub const MAX_DETAIL_ROWS: u32 = 100;

/// Everything known about one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttackerDetail {
    /// Its totals over all time.
    pub summary: AttackerSummary,
    /// Every distinct enrichment its events carried (GeoIP, ASN, network, reputation,
    /// tags), the most recent first, at most [`MAX_DETAIL_ROWS`].
    pub enrichments: Vec<Enrichment>,
    /// Its sessions, the most recently opened first.
    pub sessions: Vec<SessionSummary>,
    /// The credentials it tried.
    pub credentials: Vec<CredentialCount>,
    /// The commands it entered.
    pub commands: Vec<CommandCount>,
    /// The files it downloaded.
    pub downloads: Vec<DownloadSummary>,
}

impl AttackerDetail {
    /// The detail of `summary` with the lists as given.
    pub fn new(
        summary: AttackerSummary,
        enrichments: Vec<Enrichment>,
        sessions: Vec<SessionSummary>,
        credentials: Vec<CredentialCount>,
        commands: Vec<CommandCount>,
        downloads: Vec<DownloadSummary>,
    ) -> Self {
        Self {
            summary,
            enrichments,
            sessions,
            credentials,
            commands,
            downloads,
        }
    }
}

/// One session, aggregated from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Session id.
    pub session: String,
    /// Source that saw it.
    pub sensor: String,
    /// Protocol.
    pub protocol: String,
    /// Attacker address.
    pub src_ip: IpAddr,
    /// First event of the session.
    pub started: Timestamp,
    /// Last event of the session.
    pub last_seen: Timestamp,
    /// Duration reported by the session-closed event, if it closed.
    pub duration_ms: Option<u64>,
    /// Client version string, if announced.
    pub client_version: Option<String>,
    /// Login attempts in the session.
    pub login_attempts: u64,
    /// Whether a login succeeded.
    pub logged_in: bool,
    /// Commands entered.
    pub commands: u64,
    /// Downloads attempted.
    pub downloads: u64,
}

/// Who attacked in a window, in aggregate ([`EventQueries::overview`]): how many
/// distinct addresses, how they spread over countries and networks, and which client
/// versions announced themselves. Each list is ranked (most first, ties by name) and
/// holds at most the window's limit of rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowOverview {
    /// Distinct source addresses with an event in the window.
    pub addresses: u64,
    /// Addresses per country code (ISO 3166-1 alpha-2); addresses without one are not
    /// counted.
    pub countries: Vec<(String, u64)>,
    /// Addresses per autonomous system number.
    pub asns: Vec<(u32, u64)>,
    /// `client.version` events in the window per version: the sessions that announced it.
    pub client_versions: Vec<(String, u64)>,
}

impl WindowOverview {
    /// Ranks `counts` (most first, ties by key) and keeps the first `limit`.
    pub fn ranked<K: Ord>(counts: impl IntoIterator<Item = (K, u64)>, limit: u32) -> Vec<(K, u64)> {
        let mut rows: Vec<(K, u64)> = counts.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows
    }
}

impl WindowOverview {
    /// From a backend's rows: the address count, `(what, key, addresses)` rows where
    /// `what` is `country` or `asn` (the number as text), and `(version, events)`.
    pub(crate) fn from_rows(
        addresses: i64,
        spread: Vec<(String, String, i64)>,
        versions: Vec<(String, i64)>,
        limit: u32,
    ) -> Self {
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut countries = Vec::new();
        let mut asns = Vec::new();
        for (what, key, n) in spread {
            match what.as_str() {
                "country" => countries.push((key, unsigned(n))),
                _ => asns.extend(key.parse::<u32>().ok().map(|asn| (asn, unsigned(n)))),
            }
        }
        Self {
            addresses: unsigned(addresses),
            countries: Self::ranked(countries, limit),
            asns: Self::ranked(asns, limit),
            client_versions: Self::ranked(
                versions.into_iter().map(|(v, n)| (v, unsigned(n))),
                limit,
            ),
        }
    }
}

/// Most `client.version` events the default [`EventQueries::overview`] reads.
const OVERVIEW_MAX_VERSION_EVENTS: u32 = 100_000;

/// One attacking address, ranked by activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackerSummary {
    /// Address.
    pub src_ip: IpAddr,
    /// Events from it.
    pub events: u64,
    /// Distinct sessions.
    pub sessions: u64,
    /// Login attempts.
    pub login_attempts: u64,
    /// Commands entered.
    pub commands: u64,
    /// First event.
    pub first_seen: Timestamp,
    /// Last event.
    pub last_seen: Timestamp,
    /// Country code from enrichment, if any.
    pub country: Option<String>,
    /// AS number from enrichment, if any.
    pub asn: Option<u32>,
}

/// A user name and password pair, ranked by attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialCount {
    /// User name.
    pub username: String,
    /// Password (`None` for key-based attempts).
    pub password: Option<String>,
    /// Attempts with this pair.
    pub attempts: u64,
    /// Of which succeeded.
    pub successes: u64,
    /// Distinct source addresses that tried it.
    pub sources: u64,
}

/// A command line, ranked by how often it was entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCount {
    /// The command line.
    pub command: String,
    /// Times entered.
    pub count: u64,
    /// Distinct source addresses.
    pub sources: u64,
    /// What the HTTP classifier said of the requests behind this line (`sqli`,
    /// `log4shell`, `scanner:sqlmap`): the most recently seen (at most [`MAX_LIST`]),
    /// sorted; empty for shell and FTP command lines.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A captured file (by SHA-256) and everything known about how it arrived: fetched by
/// the attacker (`file.download`, with a URL) or sent to the honeypot (`file.upload`,
/// with the name it was given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadSummary {
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Download and upload events with this hash.
    pub count: u64,
    /// Of which uploads.
    #[serde(default)]
    pub uploads: u64,
    /// First download.
    pub first_seen: Timestamp,
    /// Last download.
    pub last_seen: Timestamp,
    /// Size in bytes, if known.
    pub size: Option<u64>,
    /// Distinct source addresses that downloaded it.
    pub sources: u64,
    /// The most recently seen of them (at most [`MAX_LIST`]; ties by address), sorted.
    pub src_ips: Vec<String>,
    /// Distinct URLs it came from.
    pub url_count: u64,
    /// The most recently seen of them (at most [`MAX_LIST`]; ties by URL), sorted.
    pub urls: Vec<String>,
    /// The names uploads gave it, the most recently seen (at most [`MAX_LIST`]; ties by
    /// name), sorted.
    #[serde(default)]
    pub filenames: Vec<String>,
    /// Session of the latest download in the window (rankings only; `None` in an
    /// attacker's detail, and for downloads folded before hpti kept it).
    #[serde(default)]
    pub session: Option<String>,
    /// Address of the latest download in the window (rankings only).
    #[serde(default)]
    pub src_ip: Option<String>,
    /// URL of the latest download in the window (rankings only).
    #[serde(default)]
    pub url: Option<String>,
    /// What the file is and what VirusTotal says of it (rankings only).
    #[serde(default, flatten)]
    pub file: FileFacts,
}

/// What is known of a captured file itself, whoever downloaded it: the latest analysis of
/// its bytes ([`hpti_core::file::FileAnalysis`]) and the latest VirusTotal file report.
/// Every field is empty until the analysis or the report has been stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    /// `file(1)`-style description (`ELF 32-bit LSB executable, ARM`).
    pub file_type: Option<String>,
    /// Media type.
    pub mime: Option<String>,
    /// `executable`, `script`, `archive`, `document`, `media`, `text` or `data`.
    pub file_category: Option<String>,
    /// CPU architecture of an executable.
    pub arch: Option<String>,
    /// Text small enough to preview.
    pub is_previewable: bool,
    /// YARA rules that matched, sorted.
    pub yara_matches: Vec<String>,
    /// VirusTotal engines that call it malicious.
    pub vt_detections: Option<u32>,
    /// VirusTotal engines that gave a verdict.
    pub vt_total: Option<u32>,
    /// VirusTotal's suggested threat label (`trojan.mirai/gafgyt`).
    pub vt_threat_label: Option<String>,
}

/// Events of one kind in one time bucket ([`EventQueries::timeseries`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeBucket {
    /// The bucket's start: a multiple of the interval since the Unix epoch.
    pub start: Timestamp,
    /// The events' kind.
    pub kind: String,
    /// Events of that kind in `[start, start + interval)`.
    pub count: u64,
}

/// Most buckets one [`EventQueries::timeseries`] window may span.
pub const MAX_BUCKETS: i64 = 10_000;

/// Checks a timeseries question: `since` given, `interval` at least a second, at most
/// [`MAX_BUCKETS`] buckets. Every backend calls this first.
pub fn check_timeseries(window: &Window, interval_micros: i64) -> Result<(), StoreError> {
    window.check()?;
    if interval_micros < 1_000_000 {
        return Err(StoreError::InvalidInput(
            "interval must be at least 1s".into(),
        ));
    }
    let Some(since) = window.since else {
        return Err(StoreError::InvalidInput(
            "a timeseries needs a start (since)".into(),
        ));
    };
    let until = window.until.unwrap_or_else(Timestamp::now);
    let span = until.as_micros().saturating_sub(since.as_micros());
    if span / interval_micros > MAX_BUCKETS {
        return Err(StoreError::InvalidInput(format!(
            "at most {MAX_BUCKETS} buckets: a longer interval or a shorter window"
        )));
    }
    Ok(())
}

/// The start of the bucket of `time` (floored to a multiple of `interval` since the
/// epoch, negative times included).
pub fn bucket_start(time_micros: i64, interval_micros: i64) -> i64 {
    time_micros - time_micros.rem_euclid(interval_micros.max(1))
}

/// The YARA rule names of a `files.yara_matches` column (a JSON array), sorted.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn yara_names(text: Option<String>) -> Result<Vec<String>, StoreError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Decode(format!("column yara_matches: {e}")))?;
    names.sort();
    Ok(names)
}

/// An address's enrichments without what file events add about their file (its analysis,
/// VirusTotal's file report), each distinct one once, in the order given: an attacker's
/// detail describes the address, and a file's facts are in the downloads view.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn address_enrichments(
    enrichments: impl IntoIterator<Item = Enrichment>,
) -> Vec<Enrichment> {
    let mut distinct: Vec<Enrichment> = Vec::new();
    for mut enrichment in enrichments {
        enrichment.file = None;
        enrichment
            .reputation
            .retain(|r| r.details.get("type").and_then(|t| t.as_str()) != Some("file"));
        if !enrichment.is_empty() && !distinct.contains(&enrichment) {
            distinct.push(enrichment);
        }
    }
    distinct
}

/// Fills each command's [`CommandCount::labels`] from `(command, label, last seen)`
/// rows: the [`MAX_LIST`] most recently seen labels of each (ties by label), sorted.
pub(crate) fn attach_labels(
    commands: &mut [CommandCount],
    rows: impl IntoIterator<Item = (String, String, i64)>,
) {
    let mut seen: std::collections::HashMap<String, Vec<(i64, String)>> =
        std::collections::HashMap::new();
    for (command, label, last_seen) in rows {
        seen.entry(command).or_default().push((last_seen, label));
    }
    for command in commands {
        if let Some(mut labels) = seen.remove(&command.command) {
            labels.sort_by(|(a_seen, a), (b_seen, b)| b_seen.cmp(a_seen).then_with(|| a.cmp(b)));
            labels.truncate(MAX_LIST);
            let mut labels: Vec<String> = labels.into_iter().map(|(_, label)| label).collect();
            labels.sort();
            command.labels = labels;
        }
    }
}

/// Most addresses and URLs one [`DownloadSummary`] lists: a sample fetched by a botnet
/// comes from thousands of addresses, and a ranking row must stay small.
pub const MAX_LIST: usize = 100;

/// The questions analysts ask of a store: the `hpti query` command and the API read
/// through it. Every backend that answers queries implements all of it and passes
/// [`testing::query_conformance`](crate::testing::query_conformance) with exactly the
/// rows SQLite returns.
///
/// Windows are half-open (`since` inclusive, `until` exclusive). A backend refuses a
/// bad question with [`StoreError::InvalidInput`] ([`Window::check`],
/// [`EventFilter::check`], [`Cursor::position`]) and a missing event, session or
/// address with [`StoreError::NotFound`].
///
/// ```
/// use std::net::IpAddr;
/// use async_trait::async_trait;
/// use hpti_core::event::{Event, EventId};
/// use hpti_store::{AttackerDetail, EventFilter, EventPage, EventQueries, SessionDetail, StoreError, Window};
/// use hpti_store::{AttackerSummary, CommandCount, CredentialCount, DownloadSummary, SessionSummary};
///
/// /// A store that has seen nothing.
/// struct Empty;
///
/// #[async_trait]
/// impl EventQueries for Empty {
///     async fn sessions(&self, _: Window) -> Result<Vec<SessionSummary>, StoreError> { Ok(vec![]) }
///     async fn attackers(&self, _: Window) -> Result<Vec<AttackerSummary>, StoreError> { Ok(vec![]) }
///     async fn credentials(&self, _: Window) -> Result<Vec<CredentialCount>, StoreError> { Ok(vec![]) }
///     async fn commands(&self, _: Window) -> Result<Vec<CommandCount>, StoreError> { Ok(vec![]) }
///     async fn downloads(&self, _: Window) -> Result<Vec<DownloadSummary>, StoreError> { Ok(vec![]) }
///     async fn count_events(&self) -> Result<u64, StoreError> { Ok(0) }
///     async fn events(&self, window: Window, filter: &EventFilter, _: Option<&hpti_store::Cursor>) -> Result<EventPage, StoreError> {
///         window.check()?;
///         filter.check()?;
///         Ok(EventPage::from_overfetch(vec![], window.limit))
///     }
///     async fn event(&self, id: EventId) -> Result<Event, StoreError> {
///         Err(StoreError::NotFound(format!("event {id}")))
///     }
///     async fn session(&self, session: &str) -> Result<SessionDetail, StoreError> {
///         Err(StoreError::NotFound(format!("session {session:?}")))
///     }
///     async fn attacker(&self, ip: IpAddr) -> Result<AttackerDetail, StoreError> {
///         Err(StoreError::NotFound(format!("address {ip}")))
///     }
/// }
/// ```
#[async_trait]
pub trait EventQueries: Send + Sync {
    /// Sessions with activity in the window, the most recently opened first (by arrival).
    async fn sessions(&self, window: Window) -> Result<Vec<SessionSummary>, StoreError>;
    /// Source addresses ranked by events in the window.
    async fn attackers(&self, window: Window) -> Result<Vec<AttackerSummary>, StoreError>;
    /// Credential pairs ranked by attempts in the window.
    async fn credentials(&self, window: Window) -> Result<Vec<CredentialCount>, StoreError>;
    /// Command lines ranked by count in the window.
    async fn commands(&self, window: Window) -> Result<Vec<CommandCount>, StoreError>;
    /// Captured files ranked by downloads in the window.
    async fn downloads(&self, window: Window) -> Result<Vec<DownloadSummary>, StoreError>;
    /// One captured file by SHA-256 (lower-case hex), over all time: the row
    /// [`downloads`](Self::downloads) ranks, found or [`StoreError::NotFound`]. The
    /// default pages through the all-time ranking; a backend answers it with one lookup.
    async fn download(&self, sha256: &str) -> Result<DownloadSummary, StoreError> {
        self.downloads(Window::default().limit(MAX_LIMIT))
            .await?
            .into_iter()
            .find(|d| d.sha256 == sha256)
            .ok_or_else(|| StoreError::NotFound(format!("file {sha256}")))
    }
    /// Records the analysis of a file's bytes made at `analysed` (`hpti analysis
    /// rescan`); an analysis older than the stored one is ignored. Stores that keep no
    /// file facts refuse with [`StoreError::InvalidInput`].
    async fn record_file_analysis(
        &self,
        sha256: &str,
        analysis: &hpti_core::file::FileAnalysis,
        analysed: Timestamp,
    ) -> Result<(), StoreError> {
        let _ = (sha256, analysis, analysed);
        Err(StoreError::InvalidInput(
            "this store keeps no file analyses".into(),
        ))
    }
    /// All events stored.
    async fn count_events(&self) -> Result<u64, StoreError>;
    /// Events in the window that match `filter`, newest first, `window.limit` at a time;
    /// `after` continues where a previous page ended.
    async fn events(
        &self,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<EventPage, StoreError>;
    /// One event by its id.
    async fn event(&self, id: EventId) -> Result<Event, StoreError>;
    /// One session with its events in order.
    async fn session(&self, session: &str) -> Result<SessionDetail, StoreError>;
    /// Everything known about one address.
    async fn attacker(&self, ip: IpAddr) -> Result<AttackerDetail, StoreError>;

    /// The page [`events`](Self::events) would give, as JSON lines (an export). The
    /// default serializes that page; a backend may write the stored documents out
    /// without rebuilding each event.
    async fn events_ndjson(
        &self,
        window: Window,
        filter: &EventFilter,
        after: Option<&Cursor>,
    ) -> Result<NdjsonPage, StoreError> {
        let page = self.events(window, filter, after).await?;
        let mut lines = Vec::with_capacity(page.events.len() * 512);
        for event in &page.events {
            serde_json::to_writer(&mut lines, event)
                .map_err(|e| StoreError::Decode(format!("event {}: {e}", event.id)))?;
            lines.push(b'\n');
        }
        Ok(NdjsonPage {
            lines,
            count: page.events.len(),
            next: page.next,
        })
    }

    /// Where the store is: a number that grows with every event stored (the newest
    /// event's sequence number), cheap to ask; caches key on it. `None` (the default):
    /// the store cannot say.
    async fn position(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// The window's attackers in aggregate. The default derives it from
    /// [`attackers`](Self::attackers) (up to [`MAX_LIMIT`] addresses) and the window's
    /// `client.version` events (up to 100,000); stores with rollups answer from them.
    async fn overview(&self, window: Window) -> Result<WindowOverview, StoreError> {
        derived_overview(self, window).await
    }

    /// Events per `interval_micros` bucket and kind in the window (only of `kind` when
    /// given), ordered by bucket then kind; empty buckets are absent. See
    /// [`check_timeseries`] for what is refused. Stores that cannot answer keep this
    /// default, which says so.
    async fn timeseries(
        &self,
        _window: Window,
        _interval_micros: i64,
        _kind: Option<&str>,
    ) -> Result<Vec<TimeBucket>, StoreError> {
        Err(StoreError::InvalidInput(
            "this store has no timeseries".into(),
        ))
    }
}

/// [`EventQueries::overview`] derived from a store's lists: its default, and what a store
/// with rollups falls back to for a window they cannot answer.
pub async fn derived_overview<Q: EventQueries + ?Sized>(
    store: &Q,
    window: Window,
) -> Result<WindowOverview, StoreError> {
    window.check()?;
    let attackers = store.attackers(window.limit(MAX_LIMIT)).await?;
    let mut countries: std::collections::HashMap<String, u64> = Default::default();
    let mut asns: std::collections::HashMap<u32, u64> = Default::default();
    for attacker in &attackers {
        if let Some(country) = &attacker.country {
            *countries.entry(country.clone()).or_default() += 1;
        }
        if let Some(asn) = attacker.asn {
            *asns.entry(asn).or_default() += 1;
        }
    }
    let mut versions: std::collections::HashMap<String, u64> = Default::default();
    let filter = EventFilter::default().kind("client.version");
    let mut after: Option<Cursor> = None;
    let mut read = 0u32;
    while read < OVERVIEW_MAX_VERSION_EVENTS {
        let page = store
            .events(window.limit(MAX_LIMIT), &filter, after.as_ref())
            .await?;
        for event in &page.events {
            if let hpti_core::event::EventKind::ClientVersion { version } = &event.kind {
                *versions.entry(version.clone()).or_default() += 1;
            }
        }
        read = read.saturating_add(u32::try_from(page.events.len()).unwrap_or(u32::MAX));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(WindowOverview {
        addresses: u64::try_from(attackers.len()).unwrap_or(u64::MAX),
        countries: WindowOverview::ranked(countries, window.limit),
        asns: WindowOverview::ranked(asns, window.limit),
        client_versions: WindowOverview::ranked(versions, window.limit),
    })
}

/// A sink config whose sink also answers [`EventQueries`] (`[query] store = "<id>"`
/// names one). Query processes (`hpti query`, the API) open it read-only: no
/// migrations, no background tasks, no writes.
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use hpti_core::component::{BuildContext, BuildError, BuiltSink, SinkConfig};
/// use hpti_store::{EventQueries, QueryStoreConfig};
///
/// #[derive(Debug)]
/// struct NothingConfig;
/// # struct Nothing;
/// # #[async_trait]
/// # impl hpti_core::sink::Sink for Nothing {
/// #     fn name(&self) -> &str { "nothing" }
/// #     async fn write(&self, _: &[&hpti_core::Event]) -> Result<hpti_core::sink::WriteReport, hpti_core::sink::SinkError> {
/// #         Ok(hpti_core::sink::WriteReport::delivered())
/// #     }
/// # }
/// # #[async_trait]
/// # impl EventQueries for Nothing {
/// #     async fn sessions(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::SessionSummary>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn attackers(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::AttackerSummary>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn credentials(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::CredentialCount>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn commands(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::CommandCount>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn downloads(&self, _: hpti_store::Window) -> Result<Vec<hpti_store::DownloadSummary>, hpti_store::StoreError> { Ok(vec![]) }
/// #     async fn count_events(&self) -> Result<u64, hpti_store::StoreError> { Ok(0) }
/// #     async fn events(&self, _: hpti_store::Window, _: &hpti_store::EventFilter, _: Option<&hpti_store::Cursor>) -> Result<hpti_store::EventPage, hpti_store::StoreError> { Ok(hpti_store::EventPage::from_overfetch(vec![], 1)) }
/// #     async fn event(&self, id: hpti_core::event::EventId) -> Result<hpti_core::Event, hpti_store::StoreError> { Err(hpti_store::StoreError::NotFound(id.to_string())) }
/// #     async fn session(&self, s: &str) -> Result<hpti_store::SessionDetail, hpti_store::StoreError> { Err(hpti_store::StoreError::NotFound(s.into())) }
/// #     async fn attacker(&self, ip: std::net::IpAddr) -> Result<hpti_store::AttackerDetail, hpti_store::StoreError> { Err(hpti_store::StoreError::NotFound(ip.to_string())) }
/// # }
///
/// #[async_trait]
/// impl SinkConfig for NothingConfig {
///     async fn build(&self, _cx: &BuildContext) -> Result<BuiltSink, BuildError> {
///         Ok(BuiltSink::new(Arc::new(Nothing)))
///     }
/// }
///
/// #[async_trait]
/// impl QueryStoreConfig for NothingConfig {
///     async fn open_queries(&self, _cx: &BuildContext) -> Result<Arc<dyn EventQueries>, BuildError> {
///         Ok(Arc::new(Nothing))
///     }
/// }
/// ```
#[async_trait]
pub trait QueryStoreConfig: hpti_core::component::SinkConfig {
    /// Opens the store read-only for queries.
    async fn open_queries(
        &self,
        cx: &hpti_core::component::BuildContext,
    ) -> Result<std::sync::Arc<dyn EventQueries>, hpti_core::component::BuildError>;

    /// Opens the store for queries and for the writes that are not events (`hpti
    /// analysis rescan` records file analyses); backends that refuse such writes keep
    /// this default, the read-only handle.
    async fn open_writable_queries(
        &self,
        cx: &hpti_core::component::BuildContext,
    ) -> Result<std::sync::Arc<dyn EventQueries>, hpti_core::component::BuildError> {
        self.open_queries(cx).await
    }

    /// Opens where the alert manager keeps alerts, silences and its notification log
    /// (created if needed; any process may write to it while hpti runs).
    async fn open_alert_store(
        &self,
        _cx: &hpti_core::component::BuildContext,
    ) -> Result<std::sync::Arc<dyn hpti_core::alert_store::AlertStore>, StoreError> {
        Err(StoreError::InvalidInput(
            "this store keeps no alerts (use SQLite or PostgreSQL as the query store)".into(),
        ))
    }

    /// Writes a consistent copy of the store to `out` while it may be in use (`hpti
    /// store backup`), and says what was written. Backends with their own tools
    /// (PostgreSQL's `pg_dump`) keep this default, which says so.
    async fn backup(
        &self,
        _cx: &hpti_core::component::BuildContext,
        _out: &std::path::Path,
    ) -> Result<Backup, StoreError> {
        Err(StoreError::InvalidInput(
            "this store has no `hpti store backup`: use the backend's own backup tools".into(),
        ))
    }

    /// Creates or upgrades the store's schema (`hpti store migrate`) and says what it did.
    /// Opening a store for writing migrates too; this is for doing it ahead, from a
    /// deployment script or with another role.
    async fn migrate(
        &self,
        _cx: &hpti_core::component::BuildContext,
    ) -> Result<String, StoreError> {
        Err(StoreError::InvalidInput(
            "this store has no schema to migrate".into(),
        ))
    }

    /// What the store holds (`hpti store stats`): events, bytes, and its partitions
    /// where it has any.
    async fn stats(
        &self,
        _cx: &hpti_core::component::BuildContext,
    ) -> Result<StoreStats, StoreError> {
        Err(StoreError::InvalidInput(
            "this store has no `hpti store stats`".into(),
        ))
    }

    /// Drops what is older than the configured retention (`hpti store retention`), or with
    /// `dry_run` only lists it.
    async fn retention(
        &self,
        _cx: &hpti_core::component::BuildContext,
        _dry_run: bool,
    ) -> Result<RetentionPlan, StoreError> {
        Err(StoreError::InvalidInput(
            "this store has no retention (PostgreSQL drops whole partitions: `retention = \"90d\"`)".into(),
        ))
    }
}

/// What a store holds ([`QueryStoreConfig::stats`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// Where: a file, or a server and database (never with a password).
    pub location: String,
    /// Stored events.
    pub events: u64,
    /// Bytes on disk, indexes and summaries included.
    pub bytes: u64,
    /// The partitions of the events, oldest first (none for an unpartitioned store).
    pub partitions: Vec<PartitionStats>,
}

impl StoreStats {
    /// Stats of a store at `location`.
    pub fn new(location: String, events: u64, bytes: u64, partitions: Vec<PartitionStats>) -> Self {
        Self {
            location,
            events,
            bytes,
            partitions,
        }
    }
}

/// One partition of the events: the time span it holds, its rows and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PartitionStats {
    /// Its table name.
    pub name: String,
    /// Its first instant.
    pub from: Timestamp,
    /// The instant after its last.
    pub to: Timestamp,
    /// Rows it holds.
    pub rows: u64,
    /// Bytes on disk, its indexes included.
    pub bytes: u64,
}

impl PartitionStats {
    /// Stats of partition `name` holding `[from, to)`.
    pub fn new(name: String, from: Timestamp, to: Timestamp, rows: u64, bytes: u64) -> Self {
        Self {
            name,
            from,
            to,
            rows,
            bytes,
        }
    }
}

/// What retention dropped, or with a dry run would drop ([`QueryStoreConfig::retention`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetentionPlan {
    /// Events before this instant are expired (`None`: no retention is configured).
    pub cutoff: Option<Timestamp>,
    /// The partitions wholly before the cutoff, oldest first.
    pub expired: Vec<PartitionStats>,
    /// Whether they were dropped (false for a dry run).
    pub dropped: bool,
}

impl RetentionPlan {
    /// A plan for `expired` partitions before `cutoff`.
    pub fn new(cutoff: Option<Timestamp>, expired: Vec<PartitionStats>, dropped: bool) -> Self {
        Self {
            cutoff,
            expired,
            dropped,
        }
    }
}

/// A backup written by [`QueryStoreConfig::backup`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backup {
    /// Where.
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Events in it.
    pub events: u64,
}

impl Backup {
    /// A backup at `path` of `bytes` holding `events`.
    pub fn new(path: std::path::PathBuf, bytes: u64, events: u64) -> Self {
        Self {
            path,
            bytes,
            events,
        }
    }
}
