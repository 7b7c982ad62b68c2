//! The store's answers kept for a short while (`[api] cache_ttl`), so that sorting,
//! paging and filtering a table, or reloading a page, do not ask the store again. A key
//! holds the store's position: new events make the next request ask again (at most once
//! a second while events arrive, as the API's cache does).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use hpti_store::{EventQueries, StoreError};

type Entry = Arc<dyn Any + Send + Sync>;

/// Answers by key; nothing is kept when the TTL is zero.
#[derive(Clone)]
pub(crate) struct RowsCache {
    cache: Option<moka::future::Cache<String, Entry>>,
}

/// Most answers kept (each a window's rows, at most a few MB).
const CAPACITY: u64 = 64;

impl RowsCache {
    pub fn new(ttl: Duration) -> Self {
        let cache = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build()
        });
        Self { cache }
    }

    /// The answer of `load` for `key` at the store's current position: kept, or loaded
    /// once however many requests ask at the same time.
    pub async fn get<T, F>(
        &self,
        store: &dyn EventQueries,
        key: String,
        load: F,
    ) -> Result<Arc<T>, StoreError>
    where
        T: Send + Sync + 'static,
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let Some(cache) = &self.cache else {
            return load.await.map(Arc::new);
        };
        // A store that cannot say where it is changes under the key: keep nothing.
        let Some(position) = store.position().await? else {
            return load.await.map(Arc::new);
        };
        let key = format!("{position}:{key}");
        let entry = cache
            .try_get_with(key, async move { load.await.map(|v| Arc::new(v) as Entry) })
            .await
            .map_err(|e| match Arc::try_unwrap(e) {
                Ok(err) => err,
                Err(shared) => StoreError::Decode(shared.to_string()),
            })?;
        entry
            .downcast::<T>()
            .map_err(|_| StoreError::Decode("dashboard cache: a key with two types".into()))
    }
}
