//! Keeps the listing pages an analyst looked at in the last hour answered for every
//! preset window, so that picking another window is served from the cache instead of
//! computed while the analyst waits (a 30-day ranking over 10 million events takes a few
//! hundred milliseconds on two cores).
//!
//! Only pages viewed in the last [`WARM_FOR`] are warmed, only while the cache is on,
//! and one answer at a time: a kept answer that is current (no new events) or younger
//! than half the TTL costs a lookup; a missing one, or a stale older one, is computed by
//! the loop itself, never several at once beside the pages being viewed.
//! The loop ends when nothing has been viewed for [`WARM_FOR`], and starts again with the
//! next view.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpti_core::event::Timestamp;
use hpti_store::StoreError;

use crate::Dashboard;
use crate::pages;
use crate::window::{Picked, WindowParams, preset_names};

/// How long after its last view a page is kept warm.
pub(crate) const WARM_FOR: Duration = Duration::from_secs(3600);

/// Fewest seconds between two passes (the cache's TTL halved, when longer).
const MIN_PERIOD: Duration = Duration::from_secs(5);

/// A listing page that has answers per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Page {
    /// `/`.
    Overview,
    /// `/attackers`.
    Attackers,
    /// `/sessions`.
    Sessions,
    /// `/credentials`.
    Credentials,
    /// `/commands`.
    Commands,
    /// `/downloads`.
    Downloads,
}

impl Page {
    /// Asks for the page's answers for `picked`, as a view of it would.
    async fn load(self, dashboard: &Dashboard, picked: &Picked) -> Result<(), StoreError> {
        match self {
            Self::Overview => {
                let (series, spread, attackers, credentials, commands) =
                    pages::overview::gather(dashboard, picked).await;
                series
                    .and(spread)
                    .and(attackers)
                    .and(credentials)
                    .and(commands)?;
            }
            Self::Attackers => drop(pages::attackers::rows(dashboard, picked).await?),
            Self::Sessions => drop(pages::sessions::rows(dashboard, picked).await?),
            Self::Credentials => drop(pages::credentials::rows(dashboard, picked).await?),
            Self::Commands => drop(pages::commands::rows(dashboard, picked).await?),
            Self::Downloads => drop(pages::downloads::rows(dashboard, picked).await?),
        }
        Ok(())
    }
}

/// Which pages were viewed when, and whether the warming loop runs.
#[derive(Default)]
pub(crate) struct Warmer {
    viewed: Mutex<HashMap<Page, Instant>>,
    running: AtomicBool,
    /// Wakes the loop for a page it does not keep warm yet.
    new_page: tokio::sync::Notify,
}

impl Warmer {
    /// The pages viewed within [`WARM_FOR`]; forgets the others.
    fn recent(&self) -> Vec<Page> {
        let Ok(mut viewed) = self.viewed.lock() else {
            return Vec::new();
        };
        viewed.retain(|_, at| at.elapsed() < WARM_FOR);
        let mut pages: Vec<Page> = viewed.keys().copied().collect();
        // The overview first: it is what a dashboard opens on.
        pages.sort_by_key(|page| *page != Page::Overview);
        pages
    }
}

impl Dashboard {
    /// Records a view of `page`, and starts keeping it warm if nothing does yet.
    pub(crate) fn viewed(&self, page: Page) {
        if self.api.cache_ttl().is_zero() {
            return;
        }
        let new = match self.warmer.viewed.lock() {
            Ok(mut viewed) => viewed.insert(page, Instant::now()).is_none(),
            Err(_) => false,
        };
        if !self.warmer.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(keep_warm(self.clone()));
        } else if new {
            self.warmer.new_page.notify_one();
        }
    }
}

/// Asks for every recently viewed page's answers for every preset window, then waits
/// half the TTL (or until a page not kept warm yet is viewed), until nothing has been
/// viewed for [`WARM_FOR`].
async fn keep_warm(dashboard: Dashboard) {
    let period = (dashboard.api.cache_ttl() / 2).max(MIN_PERIOD);
    let warmer: Arc<Warmer> = dashboard.warmer.clone();
    let dashboard = Dashboard {
        warming: true,
        ..dashboard
    };
    loop {
        let pages = warmer.recent();
        if pages.is_empty() {
            warmer.running.store(false, Ordering::SeqCst);
            // A view between the look and the store found the loop running: take it back.
            if warmer.recent().is_empty() || warmer.running.swap(true, Ordering::SeqCst) {
                return;
            }
            continue;
        }
        for name in preset_names() {
            let Ok(picked) = WindowParams::preset(name).pick(Timestamp::now()) else {
                continue;
            };
            for page in &pages {
                if let Err(err) = page.load(&dashboard, &picked).await {
                    tracing::debug!(error = %err, ?page, window = name, "dashboard: warming failed");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = warmer.new_page.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hpti_api::{ApiConfig, ApiState, TokenStore};
    use hpti_store::EventQueries;

    use super::*;
    use crate::stub::Moving;

    fn dashboard(store: &Arc<Moving>, ttl: Duration, dir: &tempfile::TempDir) -> Dashboard {
        let store: Arc<dyn EventQueries> = store.clone();
        let config = ApiConfig {
            cache_ttl: ttl,
            ..ApiConfig::default()
        };
        Dashboard::new(ApiState::new(store, TokenStore::open(dir.path()), &config))
    }

    /// The windows (in hours before now) `what` was asked for, in order.
    fn asked_hours(store: &Moving, what: &str) -> Vec<i64> {
        let now = Timestamp::now().as_micros();
        store
            .asked
            .lock()
            .unwrap()
            .iter()
            .filter(|(asked, _)| *asked == what)
            .map(|(_, window)| {
                let since = window.since.map_or(0, Timestamp::as_micros);
                ((now - since) as f64 / 3.6e9).round() as i64
            })
            .collect()
    }

    #[tokio::test]
    async fn a_viewed_page_is_answered_for_every_preset_window_and_no_other_page_is() {
        let store = Arc::new(Moving::default());
        let dir = tempfile::tempdir().unwrap();
        let dashboard = dashboard(&store, Duration::from_secs(60), &dir);
        dashboard.viewed(Page::Attackers);
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked_hours(&store, "attackers").len() < 4 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(asked_hours(&store, "attackers"), [1, 24, 168, 720]);
        assert!(asked_hours(&store, "credentials").is_empty());
        assert!(asked_hours(&store, "sessions").is_empty());
        // A view of another window is then served from the cache.
        let picked = WindowParams::preset("30d").pick(Timestamp::now()).unwrap();
        pages::attackers::rows(&dashboard, &picked).await.unwrap();
        assert_eq!(
            asked_hours(&store, "attackers").len(),
            4,
            "served, not asked"
        );
        assert!(dashboard.warmer.running.load(Ordering::SeqCst));
        // Another page, viewed while the loop waits out its period, is warmed at once.
        dashboard.viewed(Page::Credentials);
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked_hours(&store, "credentials").len() < 4 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(asked_hours(&store, "credentials"), [1, 24, 168, 720]);
        assert_eq!(
            asked_hours(&store, "attackers").len(),
            4,
            "kept answers are not asked again"
        );
    }

    #[tokio::test]
    async fn nothing_is_warmed_without_a_cache() {
        let store = Arc::new(Moving::default());
        let dir = tempfile::tempdir().unwrap();
        let dashboard = dashboard(&store, Duration::ZERO, &dir);
        dashboard.viewed(Page::Overview);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.asked.lock().unwrap().is_empty());
        assert!(!dashboard.warmer.running.load(Ordering::SeqCst));
    }
}
