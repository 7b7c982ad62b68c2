//! [`CachedEnricher`]: any [`Lookup`] made production-ready.
//!
//! - **Two-level cache**: in process (moka) and, when configured, shared in Redis so
//!   several hpti processes share lookups. Negative answers ("nothing known") are cached
//!   too, with their own time to live; failures are not.
//! - **Single flight**: concurrent lookups of one key wait for one fetch (moka's
//!   `try_get_with`), so a burst of 10,000 events from one address costs one call.
//! - **Rate limit** per source (governor), waiting for a permit only as long as the
//!   per-lookup time budget allows.
//! - **Retries** of temporary failures with exponential backoff and jitter, honouring a
//!   service's `Retry-After`, within the budget.
//! - **Circuit breaker**: after consecutive failures the source is not asked for a
//!   cool-down period; then one trial call decides.
//!
//! None of this ever drops an event: a failed lookup is an [`EnrichError`], which the
//! pipeline records in `enrichment.failed` before storing the event anyway.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::event::Event;
use hpti_core::metrics::PipelineMetrics;
use moka::Expiry;
use moka::future::Cache;

use crate::lookup::{Lookup, LookupError, LookupErrorKind};

/// A rate: `count` calls per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Calls allowed...
    pub count: u32,
    /// ...per this period.
    pub per: Duration,
}

/// A rate limiter several sources can share (two lookups spending one API key's quota).
pub type SharedLimiter = Arc<DefaultDirectRateLimiter>;

impl Rate {
    /// A limiter for this rate (bursts up to `count`); `None` for a zero rate.
    pub fn limiter(self) -> Option<SharedLimiter> {
        let count = NonZeroU32::new(self.count)?;
        let period = self.per.checked_div(self.count)?;
        Quota::with_period(period).map(|q| Arc::new(RateLimiter::direct(q.allow_burst(count))))
    }

    /// `count` calls a day (AbuseIPDB's free tier: 1,000).
    pub const fn per_day(count: u32) -> Self {
        Self {
            count,
            per: Duration::from_secs(86_400),
        }
    }

    /// `count` calls a minute (VirusTotal's public API: 4).
    pub const fn per_minute(count: u32) -> Self {
        Self {
            count,
            per: Duration::from_secs(60),
        }
    }
}

/// How a [`CachedEnricher`] caches, limits and retries.
#[derive(Debug, Clone)]
pub struct CachedConfig {
    /// How long an answer stays cached.
    pub ttl: Duration,
    /// How long "nothing known" stays cached.
    pub negative_ttl: Duration,
    /// Most keys kept in memory.
    pub capacity: u64,
    /// Calls allowed to the source; `None` for no limit.
    pub rate: Option<Rate>,
    /// Retries of a temporary failure.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Upper bound of a backoff.
    pub max_backoff: Duration,
    /// Longest time one lookup may take, waits for permits and retries included.
    pub budget: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long an open circuit stays open.
    pub breaker_cooldown: Duration,
}

impl Default for CachedConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            negative_ttl: Duration::from_secs(3600),
            capacity: 100_000,
            rate: None,
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            budget: Duration::from_secs(2),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(60),
        }
    }
}

/// The shared second-level cache: Redis, keys `hpti:enrich:<source>:<key>`.
///
/// Redis is a cache, so its trouble never stops enrichment: every command has a short
/// timeout, a Redis that is down reads as a miss, and while it is down a new connection
/// is tried at most every [`RedisCache::RETRY`] (by one caller, whose attempt the others
/// wait for). Start-up never waits on it either: see [`RedisCache::lazy`].
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<RedisInner>,
}

struct RedisInner {
    client: redis::Client,
    state: std::sync::Mutex<RedisState>,
    /// Held by the one caller making a connection attempt: the others wait for its
    /// outcome (at most one attempt's timeouts) instead of missing the cache.
    connecting: tokio::sync::Mutex<()>,
}

enum RedisState {
    Connected(redis::aio::ConnectionManager),
    /// Not connected; the next attempt is due then.
    Down {
        retry_at: Instant,
    },
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.write_str("RedisCache")
    }
}

/// Redis could not be reached, or its URL is not one.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis: {0}")]
pub struct RedisError(#[from] redis::RedisError);

impl RedisCache {
    /// How long a connection attempt may take.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// How long one GET or SET may take before it counts as a miss.
    pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
    /// The pause between connection attempts while Redis is down.
    pub const RETRY: Duration = Duration::from_secs(5);

    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`) now, within
    /// [`Self::CONNECT_TIMEOUT`], and reconnects as needed afterwards.
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let connection = Self::open(&client).await?;
        Ok(Self {
            inner: Arc::new(RedisInner {
                client,
                state: std::sync::Mutex::new(RedisState::Connected(connection)),
                connecting: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// A cache for `url` that connects on first use, so that a Redis that is down does
    /// not hold up start-up; only a malformed URL is an error. Until it is reachable,
    /// lookups go on without it.
    pub fn lazy(url: &str) -> Result<Self, RedisError> {
        Ok(Self {
            inner: Arc::new(RedisInner {
                client: redis::Client::open(url)?,
                state: std::sync::Mutex::new(RedisState::Down {
                    retry_at: Instant::now(),
                }),
                connecting: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Whether a connection is up now (after a first use, or [`Self::connect`]).
    pub fn is_connected(&self) -> bool {
        matches!(
            self.inner.state.lock().as_deref(),
            Ok(RedisState::Connected(_))
        )
    }

    async fn open(client: &redis::Client) -> Result<redis::aio::ConnectionManager, RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Self::CONNECT_TIMEOUT)
            .set_response_timeout(Self::COMMAND_TIMEOUT)
            .set_number_of_retries(1);
        // The manager's own retries are bounded by the timeouts above; this bounds the
        // whole, whatever the library does.
        match tokio::time::timeout(
            Self::CONNECT_TIMEOUT * 3,
            redis::aio::ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisError(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "connection attempt timed out",
            )))),
        }
    }

    /// The connection, connecting first if one is due; `None` while Redis is down.
    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        if let Some(ready) = self.ready_or_due()? {
            return Some(ready);
        }
        let _attempt = self.inner.connecting.lock().await;
        // Another caller may have connected, or failed, while this one waited.
        if let Some(ready) = self.ready_or_due()? {
            return Some(ready);
        }
        let outcome = Self::open(&self.inner.client).await;
        let mut state = self.inner.state.lock().ok()?;
        match outcome {
            Ok(connection) => {
                tracing::info!("redis cache connected");
                *state = RedisState::Connected(connection.clone());
                Some(connection)
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?Self::RETRY, "redis cache unreachable; enriching without it");
                *state = RedisState::Down {
                    retry_at: Instant::now() + Self::RETRY,
                };
                None
            }
        }
    }

    /// `Some(Some(connection))` when connected, `Some(None)` when an attempt is due,
    /// `None` while Redis is down and no attempt is due yet.
    fn ready_or_due(&self) -> Option<Option<redis::aio::ConnectionManager>> {
        let state = self.inner.state.lock().ok()?;
        match &*state {
            RedisState::Connected(connection) => Some(Some(connection.clone())),
            RedisState::Down { retry_at } if Instant::now() >= *retry_at => Some(None),
            RedisState::Down { .. } => None,
        }
    }

    async fn get(&self, key: &str) -> Option<String> {
        let mut connection = self.connection().await?;
        let mut command = redis::cmd("GET");
        command.arg(key);
        let query = command.query_async::<Option<String>>(&mut connection);
        match tokio::time::timeout(Self::COMMAND_TIMEOUT, query).await {
            Ok(Ok(value)) => value,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "redis cache read failed");
                None
            }
            Err(_) => {
                tracing::debug!("redis cache read timed out");
                None
            }
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) {
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let mut command = redis::cmd("SET");
        command
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1));
        let query = command.query_async::<()>(&mut connection);
        match tokio::time::timeout(Self::COMMAND_TIMEOUT, query).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!(error = %err, "redis cache write failed"),
            Err(_) => tracing::debug!("redis cache write timed out"),
        }
    }
}

/// A cached answer: the value, or `None` for "the source knows nothing".
type Answer<V> = Option<V>;

struct TtlByAnswer {
    ttl: Duration,
    negative_ttl: Duration,
}

impl<K, V> Expiry<K, Answer<V>> for TtlByAnswer {
    fn expire_after_create(&self, _key: &K, value: &Answer<V>, _now: Instant) -> Option<Duration> {
        Some(if value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        })
    }
}

/// Consecutive-failure circuit breaker.
#[derive(Debug, Default)]
struct Breaker {
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    /// Whether a call may go out now (closed, or the cool-down is over: a trial).
    fn allows(&self) -> bool {
        match self.open_until.lock() {
            Ok(guard) => guard.is_none_or(|until| Instant::now() >= until),
            Err(_) => true,
        }
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if let Ok(mut guard) = self.open_until.lock() {
            *guard = None;
        }
    }

    /// Keeps the circuit open until `until` whatever the failure count: the source asked
    /// to wait (a long `Retry-After`) or refused the credentials.
    fn hold(&self, until: Instant) {
        if let Ok(mut guard) = self.open_until.lock() {
            *guard = Some(guard.map_or(until, |current| current.max(until)));
        }
    }

    fn failure(&self, threshold: u32, cooldown: Duration) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= threshold
            && let Ok(mut guard) = self.open_until.lock()
        {
            *guard = Some(Instant::now() + cooldown);
        }
    }
}

/// A [`Lookup`] with caching, single flight, rate limit, retries and a circuit breaker.
///
/// ```
/// # use async_trait::async_trait;
/// # use hpti_core::event::Event;
/// # use hpti_enrich::lookup::{Lookup, LookupError};
/// # struct Nothing;
/// # #[async_trait]
/// # impl Lookup for Nothing {
/// #     type Key = std::net::IpAddr;
/// #     type Value = u8;
/// #     fn name(&self) -> &str { "nothing" }
/// #     fn key(&self, e: &Event) -> Option<Self::Key> { Some(e.src_ip) }
/// #     async fn fetch(&self, _: &Self::Key) -> Result<Option<u8>, LookupError> { Ok(None) }
/// #     fn apply(&self, _: &u8, _: &mut Event) {}
/// # }
/// use hpti_enrich::cached::{CachedConfig, CachedEnricher, Rate};
/// let enricher = CachedEnricher::new(Nothing, CachedConfig {
///     rate: Some(Rate::per_day(1000)),
///     ..CachedConfig::default()
/// });
/// ```
pub struct CachedEnricher<L: Lookup> {
    lookup: Arc<L>,
    memory: Cache<L::Key, Answer<L::Value>>,
    redis: Option<RedisCache>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    breaker: Breaker,
    config: CachedConfig,
    metrics: PipelineMetrics,
    /// `memory_hit`, created once: the hit path runs per event, and a label lookup
    /// (three strings allocated, a lock, a hash) cost more than the cache itself.
    memory_hits: prometheus_client::metrics::counter::Counter,
}

impl<L: Lookup> CachedEnricher<L> {
    /// Wraps `lookup`.
    pub fn new(lookup: L, config: CachedConfig) -> Self {
        let memory = Cache::builder()
            .max_capacity(config.capacity)
            .expire_after(TtlByAnswer {
                ttl: config.ttl,
                negative_ttl: config.negative_ttl,
            })
            .build();
        let limiter = config.rate.and_then(Rate::limiter);
        let metrics = PipelineMetrics::default();
        let memory_hits = metrics.counter("enrich_cache", lookup.name(), "memory_hit");
        Self {
            lookup: Arc::new(lookup),
            memory,
            redis: None,
            limiter,
            breaker: Breaker::default(),
            config,
            metrics,
            memory_hits,
        }
    }

    /// Spends this limiter's permits instead of its own (sources sharing one quota).
    pub fn with_shared_limiter(mut self, limiter: SharedLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Shares answers with other processes through Redis.
    pub fn with_redis(mut self, redis: RedisCache) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Counts cache hits and source calls in these metrics
    /// (`hpti_events_total{stage="enrich_cache",component=<source>,outcome=...}`).
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Self {
        self.memory_hits = metrics.counter("enrich_cache", self.lookup.name(), "memory_hit");
        self.metrics = metrics;
        self
    }

    /// The answer for `key`: from memory, else from Redis, else from the source (once,
    /// however many ask at the same time).
    pub async fn answer(&self, key: &L::Key) -> Result<Answer<L::Value>, Arc<LookupError>> {
        if let Some(cached) = self.memory.get(key).await {
            self.memory_hits.inc();
            return Ok(cached);
        }
        self.memory.try_get_with(key.clone(), self.load(key)).await
    }

    fn redis_key(&self, key: &L::Key) -> String {
        format!("hpti:enrich:{}:{key}", self.lookup.name())
    }

    async fn load(&self, key: &L::Key) -> Result<Answer<L::Value>, LookupError> {
        let name = self.lookup.name();
        if let Some(redis) = &self.redis
            && let Some(text) = redis.get(&self.redis_key(key)).await
            && let Ok(answer) = serde_json::from_str::<Answer<L::Value>>(&text)
        {
            self.metrics.count("enrich_cache", name, "redis_hit", 1);
            return Ok(answer);
        }
        self.metrics.count("enrich_cache", name, "miss", 1);
        let answer = self.fetch_within_budget(key).await?;
        if let Some(redis) = &self.redis
            && let Ok(text) = serde_json::to_string(&answer)
        {
            let ttl = if answer.is_some() {
                self.config.ttl
            } else {
                self.config.negative_ttl
            };
            redis.set(&self.redis_key(key), &text, ttl).await;
        }
        Ok(answer)
    }

    async fn fetch_within_budget(&self, key: &L::Key) -> Result<Answer<L::Value>, LookupError> {
        let name = self.lookup.name();
        let deadline = tokio::time::Instant::now() + self.config.budget;
        let mut attempt = 0u32;
        loop {
            if !self.breaker.allows() {
                self.metrics.count("enrich_cache", name, "circuit_open", 1);
                return Err(LookupError::new(
                    LookupErrorKind::Temporary,
                    format!("{name}: circuit open after repeated failures"),
                ));
            }
            if let Some(limiter) = &self.limiter
                && tokio::time::timeout_at(deadline, limiter.until_ready())
                    .await
                    .is_err()
            {
                self.metrics.count("enrich_cache", name, "rate_limited", 1);
                return Err(LookupError::new(
                    LookupErrorKind::RateLimited { retry_after: None },
                    format!("{name}: local rate limit reached"),
                ));
            }
            self.metrics.count("enrich_cache", name, "fetch", 1);
            let error = match self.lookup.fetch(key).await {
                Ok(answer) => {
                    self.breaker.success();
                    return Ok(answer);
                }
                Err(error) => error,
            };
            self.metrics.count("enrich_cache", name, "fetch_error", 1);
            match &error.kind {
                // A refused key refuses every address: stop asking until the cool-down
                // is over instead of spending a call per new address.
                LookupErrorKind::Unauthorized => {
                    self.breaker
                        .hold(Instant::now() + self.config.breaker_cooldown);
                    return Err(error);
                }
                // A wait longer than the budget (a daily quota) holds the whole source.
                LookupErrorKind::RateLimited {
                    retry_after: Some(after),
                } if *after > self.config.budget => {
                    self.breaker.hold(Instant::now() + *after);
                    return Err(error);
                }
                _ if !error.is_retryable() => return Err(error),
                _ => {}
            }
            self.breaker
                .failure(self.config.breaker_failures, self.config.breaker_cooldown);
            attempt += 1;
            let wait = match error.kind {
                LookupErrorKind::RateLimited {
                    retry_after: Some(after),
                } => after,
                _ => backoff(
                    self.config.initial_backoff,
                    self.config.max_backoff,
                    attempt,
                ),
            };
            if attempt > self.config.max_retries || tokio::time::Instant::now() + wait > deadline {
                return Err(error);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Exponential backoff with up to 25% jitter.
fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let base = initial
        .saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

#[async_trait]
impl<L: Lookup> Enricher for CachedEnricher<L> {
    fn name(&self) -> &str {
        self.lookup.name()
    }

    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        let Some(key) = self.lookup.key(event) else {
            return Ok(());
        };
        match self.answer(&key).await {
            Ok(Some(value)) => {
                self.lookup.apply(&value, event);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(EnrichError::msg(error.to_string())),
        }
    }
}
