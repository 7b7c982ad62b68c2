//! IP lists: Tor exit nodes, known scanners, blocklists. Each list is a file or URL of
//! addresses and CIDR blocks (one per line, `#` comments; the Tor Project's bulk exit list
//! and most feeds have this shape), refreshed on a schedule; a match adds the list's tag.
//!
//! A refresh that fails keeps the previous list (and says so in the log): a feed that is
//! down never empties the tags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::event::Event;

/// Where a list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// A local file.
    File(PathBuf),
    /// An HTTP(S) URL.
    Url(String),
}

/// One list.
#[derive(Debug, Clone)]
pub struct ListConfig {
    /// The tag a match adds (`tor`, `known-scanner`, ...).
    pub tag: String,
    /// Where the entries come from.
    pub source: ListSource,
    /// How often to read it again.
    pub refresh: Duration,
}

/// A list that could not be read the first time.
#[derive(Debug, thiserror::Error)]
#[error("IP list `{tag}`: {reason}")]
pub struct ListError {
    tag: String,
    reason: String,
}

/// Sorted, merged ranges of one address family, searched by binary search.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Ranges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Ord + Copy>(mut ranges: Vec<(T, T)>, next: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        if let Some(last) = merged.last_mut()
            && (start <= last.1 || next(last.1) == Some(start))
        {
            last.1 = last.1.max(end);
            continue;
        }
        merged.push((start, end));
    }
    merged
}

fn find<T: Ord + Copy>(ranges: &[(T, T)], value: T) -> bool {
    let index = ranges.partition_point(|(start, _)| *start <= value);
    index > 0 && ranges.get(index - 1).is_some_and(|(_, end)| value <= *end)
}

impl Ranges {
    /// Parses list text; returns the ranges and how many lines were not entries.
    fn parse(text: &str) -> (Self, usize) {
        let (mut v4, mut v6, mut bad) = (Vec::new(), Vec::new(), 0);
        for line in text.lines() {
            // Comments, and feeds' trailing fields ("1.2.3.4 ; comment", "1.2.3.4,tor").
            let entry = line
                .split(['#', ';', ',', ' ', '\t'])
                .next()
                .unwrap_or("")
                .trim();
            if entry.is_empty() {
                continue;
            }
            let (address, prefix) = match entry.split_once('/') {
                Some((a, p)) => (a, p.parse::<u8>().ok()),
                None => (entry, None),
            };
            match address.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => match prefix.unwrap_or(32) {
                    p @ 0..=32 => {
                        let mask = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
                        let start = u32::from(ip) & mask;
                        v4.push((start, start | !mask));
                    }
                    _ => bad += 1,
                },
                Ok(IpAddr::V6(ip)) => match prefix.unwrap_or(128) {
                    p @ 0..=128 => {
                        let mask = u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0);
                        let start = u128::from(ip) & mask;
                        v6.push((start, start | !mask));
                    }
                    _ => bad += 1,
                },
                Err(_) => bad += 1,
            }
        }
        let ranges = Self {
            v4: merge(v4, |v| v.checked_add(1)),
            v6: merge(v6, |v| v.checked_add(1)),
        };
        (ranges, bad)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(v6)),
            },
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

struct List {
    config: ListConfig,
    ranges: RwLock<Arc<Ranges>>,
}

/// Tags events whose source address is on a list.
///
/// ```no_run
/// # async fn demo() -> Result<(), hpti_enrich::iplist::ListError> {
/// use std::time::Duration;
/// use hpti_enrich::iplist::{IpListEnricher, ListConfig, ListSource};
/// let tor = ListConfig {
///     tag: "tor".into(),
///     source: ListSource::Url("https://check.torproject.org/torbulkexitlist".into()),
///     refresh: Duration::from_secs(3600),
/// };
/// let enricher = IpListEnricher::load(vec![tor]).await?;
/// enricher.spawn_refresh();
/// # Ok(()) }
/// ```
pub struct IpListEnricher {
    lists: Arc<Vec<List>>,
    client: reqwest::Client,
}

impl IpListEnricher {
    /// Reads every list once; a list that cannot be read is an error naming it.
    pub async fn load(configs: Vec<ListConfig>) -> Result<Self, ListError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ListError {
                tag: "*".into(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        let mut lists = Vec::with_capacity(configs.len());
        for config in configs {
            let ranges = read(&client, &config).await.map_err(|reason| ListError {
                tag: config.tag.clone(),
                reason,
            })?;
            lists.push(List {
                config,
                ranges: RwLock::new(Arc::new(ranges)),
            });
        }
        Ok(Self {
            lists: Arc::new(lists),
            client,
        })
    }

    /// Reads every list again now; a list that fails keeps its previous entries.
    pub async fn refresh(&self) {
        refresh_all(&self.lists, &self.client, false).await;
    }

    /// Refreshes each list on its schedule for as long as the runtime runs.
    pub fn spawn_refresh(&self) -> tokio::task::JoinHandle<()> {
        let (lists, client) = (self.lists.clone(), self.client.clone());
        let every = lists
            .iter()
            .map(|l| l.config.refresh)
            .min()
            .unwrap_or(Duration::from_secs(3600))
            .max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                refresh_all(&lists, &client, true).await;
            }
        })
    }

    /// How many merged ranges each list holds, by tag.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        self.lists
            .iter()
            .map(|l| {
                let len = l.ranges.read().map(|r| r.len()).unwrap_or(0);
                (l.config.tag.clone(), len)
            })
            .collect()
    }
}

async fn refresh_all(lists: &[List], client: &reqwest::Client, on_schedule: bool) {
    for list in lists {
        if on_schedule && list.config.refresh.is_zero() {
            continue;
        }
        match read(client, &list.config).await {
            Ok(ranges) => {
                if let Ok(mut slot) = list.ranges.write() {
                    *slot = Arc::new(ranges);
                }
            }
            Err(reason) => {
                tracing::warn!(list = %list.config.tag, %reason, "IP list refresh failed; keeping the previous entries")
            }
        }
    }
}

/// Largest list accepted (the Tor exit list is ~30 KB, big blocklists a few MB).
const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

async fn read(client: &reqwest::Client, config: &ListConfig) -> Result<Ranges, String> {
    let text = match &config.source {
        ListSource::File(path) => tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ListSource::Url(url) => {
            let response = client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("cannot fetch the list: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!("the list server answered {}", response.status()));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| format!("cannot read the list: {}", e.without_url()))?;
            if bytes.len() > MAX_LIST_BYTES {
                return Err(format!("the list is over {MAX_LIST_BYTES} bytes"));
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let (ranges, bad) = Ranges::parse(&text);
    if bad > 0 {
        tracing::debug!(list = %config.tag, bad, "lines that are not addresses were skipped");
    }
    if ranges.len() == 0 && bad > 0 {
        return Err("no line of the list is an address or CIDR block".into());
    }
    Ok(ranges)
}

#[async_trait]
impl Enricher for IpListEnricher {
    fn name(&self) -> &str {
        "iplist"
    }

    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        for list in self.lists.iter() {
            let hit = list
                .ranges
                .read()
                .map(|ranges| ranges.contains(event.src_ip))
                .unwrap_or(false);
            let tags = &mut event.enrichment.tags;
            if hit && !tags.contains(&list.config.tag) {
                tags.push(list.config.tag.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_blocks_comments_and_feed_suffixes() {
        let (ranges, bad) = Ranges::parse(
            "# Tor exit list\n198.51.100.7\n203.0.113.0/25 ; scanner\n2001:db8::/32\n\n10.0.0.1,foo\nnot-an-ip\n198.51.100.8\n",
        );
        assert_eq!(bad, 1);
        for hit in [
            "198.51.100.7",
            "198.51.100.8",
            "203.0.113.127",
            "2001:db8::1",
            "10.0.0.1",
            "::ffff:198.51.100.7",
        ] {
            assert!(ranges.contains(hit.parse().unwrap()), "{hit}");
        }
        for miss in ["198.51.100.9", "203.0.113.128", "2001:db9::1", "10.0.0.2"] {
            assert!(!ranges.contains(miss.parse().unwrap()), "{miss}");
        }
        assert_eq!(
            ranges.v4.len(),
            3,
            "adjacent .7 and .8 merge: {:?}",
            ranges.v4
        );
    }

    #[test]
    fn edges_of_the_address_space() {
        let (ranges, _) = Ranges::parse("0.0.0.0/0\n::/0\n");
        assert!(ranges.contains("255.255.255.255".parse().unwrap()));
        assert!(ranges.contains("ffff::1".parse().unwrap()));
        let (ranges, bad) = Ranges::parse("1.2.3.4/33\n::1/129\n");
        assert_eq!((ranges.len(), bad), (0, 2));
    }
}
