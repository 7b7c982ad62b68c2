//! The terms a `new_term` rule has seen: bounded (least recently seen dropped first) and
//! kept across restarts in a file of the data directory, written atomically.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hashlink::LinkedHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Terms longer than this are remembered by their SHA-256.
const MAX_TERM_BYTES: usize = 512;
/// How often changed terms are written while running.
const SAVE_EVERY: Duration = Duration::from_secs(5);

#[derive(Serialize, Deserialize)]
struct TermFile {
    version: u32,
    /// `[field, term]`, least recently seen first.
    terms: Vec<(String, String)>,
}

/// Seen terms of one rule.
pub struct TermStore {
    /// `field NUL term` (field paths hold no control character), so a term seen again
    /// is found without building a key.
    seen: LinkedHashMap<String, ()>,
    scratch: String,
    max_terms: usize,
    evicted: u64,
    path: Option<PathBuf>,
    dirty: bool,
    last_save: Instant,
}

impl TermStore {
    /// Reads the terms saved at `path` (none if it is absent or unreadable: logged).
    pub fn open(path: Option<PathBuf>, max_terms: usize) -> Self {
        let mut store = Self {
            seen: LinkedHashMap::new(),
            scratch: String::new(),
            max_terms: max_terms.max(1),
            evicted: 0,
            path,
            dirty: false,
            last_save: Instant::now(),
        };
        if let Some(path) = &store.path {
            match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice::<TermFile>(&bytes) {
                    Ok(file) if file.version == 1 => {
                        for (field, term) in file.terms {
                            store.remember(&field, &term);
                        }
                    }
                    Ok(_) | Err(_) => {
                        tracing::warn!(path = %path.display(), "new_term state file unreadable: starting with no terms seen");
                    }
                },
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "new_term state file unreadable: starting with no terms seen");
                }
            }
        }
        store.dirty = false;
        store
    }

    fn remember(&mut self, field: &str, term: &str) -> bool {
        self.scratch.clear();
        self.scratch.push_str(field);
        self.scratch.push('\0');
        self.scratch.push_str(term);
        if self.seen.to_back(self.scratch.as_str()).is_some() {
            return false;
        }
        while self.seen.len() >= self.max_terms {
            self.seen.pop_front();
            self.evicted += 1;
        }
        self.seen.insert(self.scratch.clone(), ());
        self.dirty = true;
        true
    }

    /// Records `value` of `field`; true when it was never seen before.
    pub fn insert(&mut self, field: &str, value: &str) -> bool {
        if value.len() > MAX_TERM_BYTES {
            let digest = Sha256::digest(value.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            return self.remember(field, &format!("sha256:{hex}"));
        }
        self.remember(field, value)
    }

    /// Terms held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Terms forgotten to stay under the cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Writes the terms if they changed and the last write is a while ago.
    pub fn save_if_due(&mut self) {
        if self.dirty && self.last_save.elapsed() >= SAVE_EVERY {
            self.save();
        }
    }

    /// Writes the terms if they changed (a temporary file renamed over the old one).
    pub fn save(&mut self) {
        let Some(path) = &self.path else {
            return;
        };
        if !self.dirty {
            return;
        }
        self.last_save = Instant::now();
        let file = TermFile {
            version: 1,
            terms: self
                .seen
                .keys()
                .filter_map(|key| key.split_once('\0'))
                .map(|(field, term)| (field.to_owned(), term.to_owned()))
                .collect(),
        };
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
            {
                use std::io::Write as _;
                let mut out = std::fs::File::create(&tmp)?;
                out.write_all(&bytes)?;
                out.sync_all()?;
            }
            std::fs::rename(&tmp, path)
        })();
        match result {
            Ok(()) => self.dirty = false,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "new_term state not saved; retried later");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_survive_a_restart_and_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerting/new_term-x.json");
        let mut store = TermStore::open(Some(path.clone()), 3);
        assert!(store.insert("data.sha256", "aa"));
        assert!(!store.insert("data.sha256", "aa"));
        assert!(store.insert("data.sha256", "bb"));
        assert!(store.insert("data.version", "aa"), "terms are per field");
        store.save();
        let mut again = TermStore::open(Some(path.clone()), 3);
        assert!(!again.insert("data.sha256", "aa"));
        assert!(!again.insert("data.sha256", "bb"));
        assert!(again.insert("data.sha256", "cc"));
        assert_eq!(again.len(), 3);
        assert_eq!(again.evicted(), 1);
        // A long term is remembered by digest.
        let long = "x".repeat(10_000);
        assert!(again.insert("data.command", &long));
        assert!(!again.insert("data.command", &long));
        again.save();
        assert!(std::fs::metadata(&path).unwrap().len() < 2_000);
        // A broken file is not fatal.
        std::fs::write(&path, b"{not json").unwrap();
        let mut broken = TermStore::open(Some(path), 3);
        assert!(broken.insert("data.sha256", "aa"));
    }
}
