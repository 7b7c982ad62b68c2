//! Bounds on uploads (SFTP, SCP) while they are held in memory, before they are stored
//! by digest: one connection may upload at most `limits.max_upload_bytes` in all, and
//! every connection of a sensor together may hold at most `limits.max_upload_memory`
//! at once, so neither many channels on one connection nor many connections can make
//! the sensor allocate without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes of uploads in progress that a sensor's connections hold, against its cap.
#[derive(Debug)]
pub(crate) struct UploadMemory {
    held: AtomicU64,
    cap: u64,
}

impl UploadMemory {
    /// A pool of `cap` bytes.
    pub fn new(cap: u64) -> Arc<Self> {
        Arc::new(Self {
            held: AtomicU64::new(0),
            cap,
        })
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.cap)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        // Saturating: a release never exceeds what its holder took.
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(bytes))
            });
    }
}

/// What one upload (or one channel's uploads) holds of an [`UploadMemory`]; given back
/// when dropped, however the channel or connection ends.
#[derive(Debug)]
pub(crate) struct Held {
    pool: Arc<UploadMemory>,
    bytes: u64,
}

impl Held {
    /// Nothing held yet.
    pub fn none(pool: &Arc<UploadMemory>) -> Self {
        Self {
            pool: pool.clone(),
            bytes: 0,
        }
    }

    /// Takes `bytes` more, if the pool has them.
    pub fn grow(&mut self, bytes: u64) -> bool {
        if bytes == 0 {
            return true;
        }
        let taken = self.pool.take(bytes);
        if taken {
            self.bytes += bytes;
        }
        taken
    }

    /// Gives `bytes` back (an upload handed to the artifact store).
    pub fn shrink(&mut self, bytes: u64) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.pool.give_back(bytes);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.pool.give_back(self.bytes);
    }
}

/// What one connection has uploaded in all, against `limits.max_upload_bytes`.
#[derive(Debug, Default)]
pub(crate) struct ConnectionUploads(AtomicU64);

impl ConnectionUploads {
    /// Counts `bytes` more, if the total stays within `cap`.
    pub fn admit(&self, bytes: u64, cap: u64) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
                total.checked_add(bytes).filter(|t| *t <= cap)
            })
            .is_ok()
    }

    /// Uncounts `bytes` admitted for an upload the memory cap then refused.
    pub fn undo(&self, bytes: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_sub(bytes))
            });
    }

    /// Bytes uploaded so far.
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_refuses_past_its_cap_and_gets_everything_back_on_drop() {
        let pool = UploadMemory::new(100);
        let mut a = Held::none(&pool);
        let mut b = Held::none(&pool);
        assert!(a.grow(60));
        assert!(!b.grow(41), "60 + 41 > 100");
        assert!(b.grow(40));
        assert_eq!(pool.held(), 100);
        a.shrink(1_000);
        assert_eq!(pool.held(), 40, "a shrink gives back at most what was held");
        assert!(a.grow(10));
        drop(a);
        drop(b);
        assert_eq!(pool.held(), 0);
    }

    #[test]
    fn a_connection_total_is_capped_and_an_undo_frees_it() {
        let uploads = ConnectionUploads::default();
        assert!(uploads.admit(70, 100));
        assert!(!uploads.admit(31, 100));
        assert!(uploads.admit(30, 100));
        uploads.undo(30);
        assert_eq!(uploads.total(), 70);
        assert!(!uploads.admit(u64::MAX, u64::MAX), "no overflow");
    }
}
