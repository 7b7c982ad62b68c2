//! The store's answers kept for a short while (`[api] cache_ttl`), so that sorting,
//! paging and filtering a table, or reloading a page, do not ask the store again.
//!
//! Stale while revalidating: an answer computed at the store's current position is
//! served as it is. When new events have arrived since, the kept answer is still served
//! while it is younger than the TTL, and one refresh starts in the background, so the
//! next request gets an answer that includes them. Only a missing answer, or one older
//! than the TTL, is computed while the request waits. On a honeypot that stores events
//! every second, a 30-day ranking (seconds to compute at 10 million events) would
//! otherwise be computed again on every page view.
//!
//! A kept answer is refreshed at most once per ten times what it cost to compute (at
//! least a second apart, at most half the TTL): under a steady flood of events and
//! views, refreshing a ranking that took 200 ms keeps at most a tenth of a core busy,
//! and its answer is never more than a few seconds behind.

use std::any::Any;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpti_store::{EventQueries, StoreError};

type Value = Arc<dyn Any + Send + Sync>;

/// A kept answer: where the store was when it was computed, and when.
#[derive(Clone)]
struct Entry {
    position: Option<u64>,
    computed: Instant,
    /// How long computing it took.
    cost: Duration,
    value: Value,
}

impl Entry {
    /// Computes `load` at `position`, timing it.
    async fn load<T: Send + Sync + 'static>(
        load: Load<T>,
        store: Arc<dyn EventQueries>,
        position: Option<u64>,
    ) -> Result<Self, StoreError> {
        let started = Instant::now();
        let value = load(store).await?;
        Ok(Self {
            position,
            computed: Instant::now(),
            cost: started.elapsed(),
            value: Arc::new(value) as Value,
        })
    }

    /// Computed at the store's `position`: no event has arrived since.
    fn is_current(&self, position: Option<u64>) -> bool {
        position.is_some() && self.position == position
    }
}

/// Answers by key; nothing is kept when the TTL is zero.
#[derive(Clone)]
pub(crate) struct RowsCache {
    cache: Option<moka::future::Cache<String, Entry>>,
    ttl: Duration,
    /// Keys being refreshed in the background (one refresh per key at a time).
    refreshing: Arc<Mutex<HashSet<String>>>,
}

/// Most answers kept (each a window's rows, at most a few MB): the warmed pages' answers
/// for every preset window (six pages, ten answers, four windows) and room for more.
const CAPACITY: u64 = 128;

/// A stale answer is refreshed at most this many times its cost apart...
const REFRESH_COST_FACTOR: u32 = 10;
/// ... and never more often than this.
const MIN_REFRESH_AGE: Duration = Duration::from_secs(1);

/// The store's answer to a question, computed from an owned handle (so that it can run
/// after the request that asked has been answered).
pub(crate) type Load<T> = Box<
    dyn FnOnce(
            Arc<dyn EventQueries>,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send>>
        + Send,
>;

impl RowsCache {
    pub fn new(ttl: Duration) -> Self {
        let cache = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                // Unused answers go after twice the TTL: nothing is refreshed for a
                // dashboard nobody looks at.
                .time_to_idle(ttl.saturating_mul(2))
                .build()
        });
        Self {
            cache,
            ttl,
            refreshing: Arc::default(),
        }
    }

    /// The answer of `load` for `key`: kept (see the module's doc), or loaded once however
    /// many requests ask at the same time.
    pub async fn get<T>(
        &self,
        store: &Arc<dyn EventQueries>,
        key: String,
        load: Load<T>,
    ) -> Result<Arc<T>, StoreError>
    where
        T: Send + Sync + 'static,
    {
        let Some(cache) = &self.cache else {
            return load(store.clone()).await.map(Arc::new);
        };
        let position = store.position().await?;
        if let Some(entry) = cache.get(&key).await {
            let current = entry.is_current(position);
            let age = entry.computed.elapsed();
            if current || age < self.ttl {
                if !current && age >= self.refresh_after(entry.cost) {
                    self.refresh(cache, store, key, position, load);
                }
                return downcast(entry.value);
            }
            cache.invalidate(&key).await;
        }
        let entry = cache
            .try_get_with(key, Entry::load(load, store.clone(), position))
            .await
            .map_err(unshare)?;
        downcast(entry.value)
    }

    /// Makes sure `key` has an answer that is current or younger than half the TTL,
    /// computing it here (not in the background) when it has none, or a stale older one
    /// that no refresh is already replacing: what the warming loop asks, one answer at a
    /// time, so that it never computes several answers at once beside the pages viewed.
    pub async fn warm<T>(
        &self,
        store: &Arc<dyn EventQueries>,
        key: String,
        load: Load<T>,
    ) -> Result<Arc<T>, StoreError>
    where
        T: Send + Sync + 'static,
    {
        let Some(cache) = &self.cache else {
            return load(store.clone()).await.map(Arc::new);
        };
        let position = store.position().await?;
        if let Some(entry) = cache.get(&key).await {
            if entry.is_current(position)
                || self.is_refreshing(&key)
                || entry.computed.elapsed() < self.ttl / 2
            {
                return downcast(entry.value);
            }
        }
        let entry = Entry::load(load, store.clone(), position).await?;
        cache.insert(key, entry.clone()).await;
        downcast(entry.value)
    }

    /// Whether a background refresh of `key` runs (when the set cannot be read: assume so).
    fn is_refreshing(&self, key: &str) -> bool {
        self.refreshing
            .lock()
            .map_or(true, |refreshing| refreshing.contains(key))
    }

    /// How old a stale answer that cost `cost` must be before it is refreshed.
    fn refresh_after(&self, cost: Duration) -> Duration {
        cost.saturating_mul(REFRESH_COST_FACTOR)
            .max(MIN_REFRESH_AGE)
            .min(self.ttl / 2)
    }

    /// Recomputes `key` in the background with `load` (the request's own, which it no
    /// longer needs), unless a refresh of it is already running.
    fn refresh<T>(
        &self,
        cache: &moka::future::Cache<String, Entry>,
        store: &Arc<dyn EventQueries>,
        key: String,
        position: Option<u64>,
        load: Load<T>,
    ) where
        T: Send + Sync + 'static,
    {
        {
            let Ok(mut refreshing) = self.refreshing.lock() else {
                return;
            };
            if !refreshing.insert(key.clone()) {
                return;
            }
        }
        let (cache, store, refreshing) = (cache.clone(), store.clone(), self.refreshing.clone());
        tokio::spawn(async move {
            match Entry::load(load, store, position).await {
                Ok(entry) => cache.insert(key.clone(), entry).await,
                Err(err) => {
                    tracing::warn!(error = %err, key, "dashboard: refreshing an answer failed");
                }
            }
            if let Ok(mut refreshing) = refreshing.lock() {
                refreshing.remove(&key);
            }
        });
    }
}

fn downcast<T: Send + Sync + 'static>(value: Value) -> Result<Arc<T>, StoreError> {
    value
        .downcast::<T>()
        .map_err(|_| StoreError::Decode("dashboard cache: a key with two types".into()))
}

fn unshare(err: Arc<StoreError>) -> StoreError {
    match Arc::try_unwrap(err) {
        Ok(err) => err,
        Err(shared) => StoreError::Decode(shared.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::stub::Moving;

    /// A loader that answers how many times a loader of `loads` has run, this one included.
    fn counting(loads: &Arc<AtomicU64>) -> Load<u64> {
        let loads = loads.clone();
        Box::new(move |_| Box::pin(async move { Ok(loads.fetch_add(1, Ordering::SeqCst) + 1) }))
    }

    #[tokio::test]
    async fn a_stale_answer_is_served_once_while_it_is_refreshed_and_an_old_one_is_not() {
        let moving = Arc::new(Moving::default());
        let store: Arc<dyn EventQueries> = moving.clone();
        let loads = Arc::new(AtomicU64::new(0));
        let cache = RowsCache::new(Duration::from_millis(400));
        let get = || cache.get(&store, "k".to_owned(), counting(&loads));

        assert_eq!(*get().await.unwrap(), 1);
        assert_eq!(*get().await.unwrap(), 1, "the same position: kept");
        // New events: the kept answer, not refreshed while younger than the refresh age
        // (half the TTL here, under the one-second floor).
        moving.position.store(1, Ordering::SeqCst);
        assert_eq!(*get().await.unwrap(), 1, "stale but young: served");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*get().await.unwrap(), 1);
        assert_eq!(loads.load(Ordering::SeqCst), 1, "too young to refresh");
        // Older than the refresh age: served once more, and a refresh behind it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(*get().await.unwrap(), 1, "stale: served while refreshed");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*get().await.unwrap(), 2, "the refreshed answer");
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one refresh, not one per request"
        );
        // Older than the TTL: computed while the request waits.
        moving.position.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(420)).await;
        assert_eq!(*get().await.unwrap(), 3, "too old to serve");
    }

    #[tokio::test]
    async fn warming_computes_in_line_only_what_is_missing_or_stale_and_half_the_ttl_old() {
        let moving = Arc::new(Moving::default());
        let store: Arc<dyn EventQueries> = moving.clone();
        let loads = Arc::new(AtomicU64::new(0));
        let cache = RowsCache::new(Duration::from_millis(400));
        let warm = || cache.warm(&store, "k".to_owned(), counting(&loads));

        assert_eq!(*warm().await.unwrap(), 1, "missing: computed");
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert_eq!(*warm().await.unwrap(), 1, "old but current: kept");
        moving.position.store(1, Ordering::SeqCst);
        assert_eq!(
            *warm().await.unwrap(),
            2,
            "stale and half the TTL old: computed"
        );
        assert_eq!(*warm().await.unwrap(), 2, "current again: kept");
        moving.position.store(2, Ordering::SeqCst);
        assert_eq!(*warm().await.unwrap(), 2, "stale but young: kept");
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // A view of the stale answer gets it (young: no refresh before the refresh age).
        let got = cache.get(&store, "k".to_owned(), counting(&loads)).await;
        assert_eq!(*got.unwrap(), 2);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_zero_ttl_keeps_nothing() {
        let store: Arc<dyn EventQueries> = Arc::new(Moving::default());
        let loads = Arc::new(AtomicU64::new(0));
        let cache = RowsCache::new(Duration::ZERO);
        for expected in 1..=3 {
            let got = cache.get(&store, "k".to_owned(), counting(&loads)).await;
            assert_eq!(*got.unwrap(), expected);
        }
    }
}
