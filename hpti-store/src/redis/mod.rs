//! Redis: real-time counters and a live feed of events (`type = "redis"`).
//!
//! A best-effort sink ([`SinkCapabilities::BEST_EFFORT`]): the runtime never waits for
//! it, so a slow or absent Redis never holds back the durable stores; what it could not
//! take is counted as dropped. Each batch is folded in memory first (one `HINCRBY` per
//! distinct minute and field, not per event) and written as one `MULTI`/`EXEC`
//! transaction, so a batch counts wholly or not at all. Like any at-least-once consumer
//! of counters it may count a batch twice when the connection drops after `EXEC` ran and
//! before its answer arrived; the durable stores stay exact.
//!
//! Keys (with the default `prefix = "hpti"`; times are the event's, UTC):
//!
//! | key | type | what |
//! |---|---|---|
//! | `hpti:events` | stream | each event as JSON in field `event`, `MAXLEN ~ stream_max_len` |
//! | `hpti:counts:minute:YYYYMMDDHHMM` | hash | `total`, `kind:<kind>`, `sensor:<sensor>` |
//! | `hpti:sources:hour:YYYYMMDDHH` | HyperLogLog | distinct source addresses |
//! | `hpti:sources:day:YYYYMMDD` | HyperLogLog | distinct source addresses |
//! | `hpti:top:<board>:YYYYMMDD` | sorted set | `attackers` (source address, every event), `credentials` (JSON `[user, password]`, login attempts), `commands` (command lines and HTTP attack requests, as `hpti query commands`), `countries` (ISO code), `asns` (number) |
//!
//! Every key but the stream expires `retention` after its last write.

mod config;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, EventKind, Timestamp};
use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};
use tokio::sync::Mutex;

pub use config::RedisSinkConfig;

use crate::error::StoreError;
use crate::live::{FeedRead, LiveFeed};

/// The daily top-N boards, in the order of the docs.
pub const BOARDS: [&str; 5] = ["attackers", "credentials", "commands", "countries", "asns"];

/// A Redis sink's checked settings (see [`RedisSinkConfig`] for each).
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// The client for the configured URL.
    pub client: ::redis::Client,
    /// `host:port/db`, for messages (never the password).
    pub target: String,
    /// Key prefix.
    pub prefix: String,
    /// Lifetime of counters after their last write.
    pub retention: Duration,
    /// Whether events go to the stream.
    pub stream: bool,
    /// Approximate cap of the stream.
    pub stream_max_len: u64,
    /// Cap of each top-N set.
    pub top_capacity: u64,
    /// Cap of one top-N member, in bytes.
    pub max_member_bytes: usize,
    /// Time limit of one batch or connection attempt.
    pub timeout: Duration,
}

/// The names of the keys under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisKeys {
    prefix: String,
}

impl RedisKeys {
    /// The keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The stream of events.
    pub fn stream(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// The counters of the minute `time` falls in.
    pub fn minute(&self, time: Timestamp) -> String {
        format!("{}:counts:minute:{}", self.prefix, digits(time, 12))
    }

    /// The distinct source addresses of the hour `time` falls in.
    pub fn sources_hour(&self, time: Timestamp) -> String {
        format!("{}:sources:hour:{}", self.prefix, digits(time, 10))
    }

    /// The distinct source addresses of the day `time` falls in.
    pub fn sources_day(&self, time: Timestamp) -> String {
        format!("{}:sources:day:{}", self.prefix, digits(time, 8))
    }

    /// The top-N set `board` (one of [`BOARDS`]) of the day `time` falls in.
    pub fn top(&self, board: &str, time: Timestamp) -> String {
        format!("{}:top:{board}:{}", self.prefix, digits(time, 8))
    }
}

/// `YYYYMMDDHHMM` cut to `len` digits, in UTC.
fn digits(time: Timestamp, len: usize) -> String {
    let text = time.to_datetime().map_or_else(
        || "000000000000".to_owned(),
        |t| t.format("%Y%m%d%H%M").to_string(),
    );
    text.chars().take(len).collect()
}

/// The top-N member of a credential pair: a JSON array, so no user name or password can
/// be mistaken for a separator.
pub fn credential_member(username: &str, password: Option<&str>) -> String {
    serde_json::to_string(&(username, password)).unwrap_or_default()
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A batch folded into the increments Redis receives.
#[derive(Debug, Default)]
struct Tally {
    /// Minute key → field → increment.
    minutes: HashMap<String, HashMap<String, i64>>,
    /// HyperLogLog key → addresses.
    sources: HashMap<String, Vec<String>>,
    /// Top-N key → member → increment.
    tops: HashMap<String, HashMap<String, f64>>,
}

impl Tally {
    fn of(events: &[&Event], keys: &RedisKeys, max_member: usize) -> Self {
        let mut tally = Self::default();
        // Events of a batch mostly share their minute: format its keys once.
        let mut minute_of: HashMap<i64, [String; 3]> = HashMap::new();
        let mut day_of: HashMap<i64, [String; 5]> = HashMap::new();
        for event in events {
            let minute = event.time.as_micros().div_euclid(60_000_000);
            let [minute_key, hour_key, day_key] = minute_of
                .entry(minute)
                .or_insert_with(|| {
                    [
                        keys.minute(event.time),
                        keys.sources_hour(event.time),
                        keys.sources_day(event.time),
                    ]
                })
                .clone();
            let day = event.time.as_micros().div_euclid(86_400_000_000);
            let tops = day_of
                .entry(day)
                .or_insert_with(|| BOARDS.map(|board| keys.top(board, event.time)));
            let fields = tally.minutes.entry(minute_key).or_default();
            *fields.entry("total".into()).or_default() += 1;
            *fields
                .entry(format!("kind:{}", event.kind.name()))
                .or_default() += 1;
            *fields
                .entry(format!("sensor:{}", cut(&event.sensor, max_member)))
                .or_default() += 1;

            let address = event.src_ip.to_string();
            tally
                .sources
                .entry(hour_key)
                .or_default()
                .push(address.clone());
            tally
                .sources
                .entry(day_key)
                .or_default()
                .push(address.clone());

            let mut bump = |board: usize, member: String| {
                *tally
                    .tops
                    .entry(tops[board].clone())
                    .or_default()
                    .entry(member)
                    .or_default() += 1.0;
            };
            bump(0, address);
            match &event.kind {
                EventKind::LoginAttempt {
                    username, password, ..
                } => {
                    let half = max_member / 2;
                    bump(
                        1,
                        credential_member(
                            cut(username, half),
                            password.as_deref().map(|p| cut(p, half)),
                        ),
                    );
                }
                // Command lines and HTTP attack requests, as the stores' commands view.
                kind => {
                    if let Some(command) = kind.attempted_command() {
                        bump(2, cut(&command, max_member).to_owned());
                    }
                }
            }
            if let Some(country) = event
                .enrichment
                .geo
                .as_ref()
                .and_then(|g| g.country_code.as_deref())
            {
                bump(3, cut(country, max_member).to_owned());
            }
            if let Some(asn) = &event.enrichment.asn {
                bump(4, asn.number.to_string());
            }
        }
        tally
    }
}

/// Whether a Redis failure may pass: connection trouble and a server that is loading,
/// busy or out of memory (until keys expire) may; a wrong-type key will not.
fn class_of(err: &::redis::RedisError) -> ErrorClass {
    let transient_code = matches!(
        err.code(),
        Some("OOM" | "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "READONLY")
    );
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || transient_code
    {
        ErrorClass::Temporary
    } else {
        ErrorClass::Permanent
    }
}

/// The Redis sink: counters, unique-address sets, top-N sets and the event stream.
pub struct RedisSink {
    options: RedisOptions,
    keys: RedisKeys,
    /// The connection, once made; it reconnects by itself afterwards.
    connection: Mutex<Option<::redis::aio::ConnectionManager>>,
}

impl std::fmt::Debug for RedisSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSink")
            .field("target", &self.options.target)
            .field("prefix", &self.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSink {
    /// A sink for `options`. It connects now if it can; a Redis that is down does not
    /// stop hpti from starting (the sink is best-effort): each write tries again.
    pub async fn open(options: RedisOptions) -> Self {
        let keys = RedisKeys::new(options.prefix.clone());
        let sink = Self {
            options,
            keys,
            connection: Mutex::new(None),
        };
        if let Err(err) = sink.connection().await {
            tracing::warn!(target = %sink.options.target, error = %err, "redis sink: cannot connect yet; counting what it drops until it can");
        }
        sink
    }

    /// The key names this sink writes.
    pub fn keys(&self) -> &RedisKeys {
        &self.keys
    }

    async fn connection(&self) -> Result<::redis::aio::ConnectionManager, ::redis::RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = ::redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(self.options.timeout)
            .set_response_timeout(self.options.timeout)
            .set_number_of_retries(1);
        let connect =
            ::redis::aio::ConnectionManager::new_with_config(self.options.client.clone(), config);
        let connection = match tokio::time::timeout(self.options.timeout * 2, connect).await {
            Ok(connection) => connection?,
            Err(_) => {
                return Err(::redis::RedisError::from((
                    ::redis::ErrorKind::IoError,
                    "connection attempt timed out",
                )));
            }
        };
        tracing::info!(target = %self.options.target, "redis sink connected");
        *slot = Some(connection.clone());
        Ok(connection)
    }

    fn pipeline(&self, events: &[&Event]) -> ::redis::Pipeline {
        let options = &self.options;
        let tally = Tally::of(events, &self.keys, options.max_member_bytes);
        let ttl = i64::try_from(options.retention.as_secs()).unwrap_or(i64::MAX);
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for (key, fields) in &tally.minutes {
            for (field, n) in fields {
                pipe.hincr(key, field, *n).ignore();
            }
            pipe.expire(key, ttl).ignore();
        }
        for (key, addresses) in &tally.sources {
            pipe.pfadd(key, addresses).ignore();
            pipe.expire(key, ttl).ignore();
        }
        let keep = i64::try_from(options.top_capacity).unwrap_or(i64::MAX);
        for (key, members) in &tally.tops {
            for (member, n) in members {
                pipe.zincr(key, member, *n).ignore();
            }
            if members.len() as u64 > 0 {
                // Ranks ascend with the score: this keeps the `keep` highest.
                pipe.zremrangebyrank(key, 0, -(keep.saturating_add(1)) as isize)
                    .ignore();
            }
            pipe.expire(key, ttl).ignore();
        }
        if options.stream {
            let stream = self.keys.stream();
            for event in events {
                let Ok(json) = serde_json::to_string(event) else {
                    continue;
                };
                pipe.cmd("XADD")
                    .arg(&stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(options.stream_max_len)
                    .arg("*")
                    .arg("event")
                    .arg(json)
                    .ignore();
            }
        }
        pipe
    }
}

#[async_trait]
impl Sink for RedisSink {
    fn name(&self) -> &str {
        "redis"
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::BEST_EFFORT
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        if events.is_empty() {
            return Ok(WriteReport::delivered());
        }
        let target = &self.options.target;
        let mut connection = self.connection().await.map_err(|e| {
            SinkError::new(
                class_of(&e),
                format!("cannot connect to redis at {target}"),
                e,
            )
        })?;
        let pipe = self.pipeline(events);
        match tokio::time::timeout(
            self.options.timeout,
            pipe.query_async::<()>(&mut connection),
        )
        .await
        {
            Ok(Ok(())) => Ok(WriteReport::delivered()),
            Ok(Err(err)) => Err(SinkError::new(
                class_of(&err),
                format!("redis at {target} refused the batch"),
                err,
            )),
            Err(_) => Err(SinkError::msg(
                ErrorClass::Temporary,
                format!(
                    "redis at {target} did not answer within {:?}",
                    self.options.timeout
                ),
            )),
        }
    }
}

/// A reader of the event stream (`hpti live`).
pub struct RedisFeed {
    connection: ::redis::aio::MultiplexedConnection,
    stream: String,
    /// The id of the last entry returned (`0-0` before any).
    last_id: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFeed")
            .field("stream", &self.stream)
            .field("last_id", &self.last_id)
            .finish_non_exhaustive()
    }
}

/// Most entries one read returns.
const READ_COUNT: usize = 1000;

fn store_error(err: ::redis::RedisError) -> StoreError {
    StoreError::Database {
        class: class_of(&err),
        source: Box::new(err),
    }
}

impl RedisFeed {
    /// Connects to the stream of a sink with `options`.
    pub async fn connect(options: &RedisOptions) -> Result<Self, StoreError> {
        // A blocking read waits up to its own limit; the response timeout sits above it.
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(options.timeout)
            .set_response_timeout(options.timeout + Duration::from_secs(60));
        let connection = options
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| StoreError::Connect {
                target: options.target.clone(),
                class: class_of(&e),
                source: Box::new(e),
            })?;
        Ok(Self {
            connection,
            stream: RedisKeys::new(options.prefix.clone()).stream(),
            last_id: "0-0".into(),
            timeout: options.timeout,
        })
    }

    fn decode(&mut self, entries: Vec<::redis::streams::StreamId>) -> FeedRead {
        let mut read = FeedRead::default();
        for entry in entries {
            let decoded = match entry.map.get("event") {
                Some(::redis::Value::BulkString(bytes)) => serde_json::from_slice::<Event>(bytes)
                    .map_err(|e| format!("not an hpti event: {e}")),
                Some(_) => Err("field `event` is not a string".to_owned()),
                None => Err("no field `event`".to_owned()),
            };
            match decoded {
                Ok(event) => read.events.push(event),
                Err(reason) => read.skipped.push(format!("{}: {reason}", entry.id)),
            }
            self.last_id = entry.id;
        }
        read
    }
}

#[async_trait]
impl LiveFeed for RedisFeed {
    async fn recent(&mut self, count: usize) -> Result<FeedRead, StoreError> {
        let newest: ::redis::streams::StreamRangeReply = ::redis::cmd("XREVRANGE")
            .arg(&self.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut self.connection)
            .await
            .map_err(store_error)?;
        let mut entries = newest.ids;
        entries.reverse();
        let Some(last) = entries.last().map(|e| e.id.clone()) else {
            return Ok(FeedRead::default());
        };
        if count == 0 {
            self.last_id = last;
            return Ok(FeedRead::default());
        }
        Ok(self.decode(entries))
    }

    async fn next(&mut self, wait: Duration) -> Result<FeedRead, StoreError> {
        let block = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let reply: Option<::redis::streams::StreamReadReply> = tokio::time::timeout(
            wait + self.timeout,
            ::redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(block)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&self.last_id)
                .query_async(&mut self.connection),
        )
        .await
        .map_err(|_| StoreError::Database {
            class: ErrorClass::Temporary,
            source: "redis did not answer a blocking read in time".into(),
        })?
        .map_err(store_error)?;
        let entries = reply
            .map(|reply| reply.keys.into_iter().flat_map(|key| key.ids).collect())
            .unwrap_or_default();
        Ok(self.decode(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_by_utc_time() {
        let keys = RedisKeys::new("hp");
        let time = Timestamp::parse_rfc3339("2026-12-05T21:52:44.5Z").unwrap();
        assert_eq!(keys.minute(time), "hp:counts:minute:202612052152");
        assert_eq!(keys.sources_hour(time), "hp:sources:hour:2026120521");
        assert_eq!(keys.sources_day(time), "hp:sources:day:20261205");
        assert_eq!(keys.top("commands", time), "hp:top:commands:20261205");
        assert_eq!(keys.stream(), "hp:events");
    }

    #[test]
    fn members_are_cut_at_a_character_boundary() {
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(credential_member("ro\"ot", None), r#"["ro\"ot",null]"#);
    }
}
