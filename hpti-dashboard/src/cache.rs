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
    value: Value,
}

/// Answers by key; nothing is kept when the TTL is zero.
#[derive(Clone)]
pub(crate) struct RowsCache {
    cache: Option<moka::future::Cache<String, Entry>>,
    ttl: Duration,
    /// Keys being refreshed in the background (one refresh per key at a time).
    refreshing: Arc<Mutex<HashSet<String>>>,
}

/// Most answers kept (each a window's rows, at most a few MB).
const CAPACITY: u64 = 64;

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
            let current = position.is_some() && entry.position == position;
            if current || entry.computed.elapsed() < self.ttl {
                if !current {
                    self.refresh(cache, store, key, position, load);
                }
                return downcast(entry.value);
            }
            cache.invalidate(&key).await;
        }
        let store = store.clone();
        let entry = cache
            .try_get_with(key, async move {
                let value = load(store).await?;
                Ok::<_, StoreError>(Entry {
                    position,
                    computed: Instant::now(),
                    value: Arc::new(value) as Value,
                })
            })
            .await
            .map_err(unshare)?;
        downcast(entry.value)
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
            match load(store).await {
                Ok(value) => {
                    let entry = Entry {
                        position,
                        computed: Instant::now(),
                        value: Arc::new(value) as Value,
                    };
                    cache.insert(key.clone(), entry).await;
                }
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

    use std::net::IpAddr;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;
    use hpti_core::event::{Event, EventId};
    use hpti_store::{
        AttackerDetail, AttackerSummary, CommandCount, CredentialCount, Cursor, DownloadSummary,
        EventFilter, EventPage, SessionDetail, SessionSummary, Window,
    };

    use super::*;

    /// A store whose position the test moves; it answers nothing else.
    #[derive(Default)]
    struct Moving {
        position: AtomicU64,
    }

    #[async_trait]
    impl EventQueries for Moving {
        async fn sessions(&self, _: Window) -> Result<Vec<SessionSummary>, StoreError> {
            Ok(vec![])
        }
        async fn attackers(&self, _: Window) -> Result<Vec<AttackerSummary>, StoreError> {
            Ok(vec![])
        }
        async fn credentials(&self, _: Window) -> Result<Vec<CredentialCount>, StoreError> {
            Ok(vec![])
        }
        async fn commands(&self, _: Window) -> Result<Vec<CommandCount>, StoreError> {
            Ok(vec![])
        }
        async fn downloads(&self, _: Window) -> Result<Vec<DownloadSummary>, StoreError> {
            Ok(vec![])
        }
        async fn count_events(&self) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn events(
            &self,
            window: Window,
            _: &EventFilter,
            _: Option<&Cursor>,
        ) -> Result<EventPage, StoreError> {
            Ok(EventPage::from_overfetch(vec![], window.limit))
        }
        async fn event(&self, id: EventId) -> Result<Event, StoreError> {
            Err(StoreError::NotFound(id.to_string()))
        }
        async fn session(&self, session: &str) -> Result<SessionDetail, StoreError> {
            Err(StoreError::NotFound(session.into()))
        }
        async fn attacker(&self, ip: IpAddr) -> Result<AttackerDetail, StoreError> {
            Err(StoreError::NotFound(ip.to_string()))
        }
        async fn position(&self) -> Result<Option<u64>, StoreError> {
            Ok(Some(self.position.load(Ordering::SeqCst)))
        }
    }

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
        // New events: the kept answer once more, and a refresh behind it.
        moving.position.store(1, Ordering::SeqCst);
        assert_eq!(*get().await.unwrap(), 1, "stale but young: served");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*get().await.unwrap(), 2, "the refreshed answer");
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one refresh, not one per request"
        );
        // Older than the TTL: computed while the request waits.
        moving.position.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(*get().await.unwrap(), 3, "too old to serve");
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
