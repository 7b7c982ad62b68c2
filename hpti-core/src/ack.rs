//! End-to-end acknowledgements (after Vector's batch notifiers).
//!
//! A source that needs to know when its events are safe (a file collector committing
//! offsets) creates an [`AckBatch`], attaches a clone to every event it emits, and awaits
//! the [`AckReceiver`]. Every stage that finishes with an event merges its outcome into the
//! batch; when the last clone is dropped the receiver resolves with the worst outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

/// The fate of a batch of events, worst outcome first when merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DeliveryStatus {
    /// Durable in every sink.
    Delivered = 0,
    /// At least one event was refused and is durable in the dead-letter file instead.
    DeadLettered = 1,
    /// At least one event is neither stored nor dead-lettered (the dead-letter write failed,
    /// or the pipeline was torn down): the source must not commit past it.
    Failed = 2,
}

impl DeliveryStatus {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Delivered,
            1 => Self::DeadLettered,
            _ => Self::Failed,
        }
    }

    /// True when every event is accounted for (stored or dead-lettered), so a source may
    /// commit its position past them.
    pub fn is_accounted_for(self) -> bool {
        self != Self::Failed
    }
}

struct Inner {
    status: AtomicU8,
    sender: Mutex<Option<oneshot::Sender<DeliveryStatus>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let status = DeliveryStatus::from_u8(*self.status.get_mut());
        let sender = match self.sender.get_mut() {
            Ok(sender) => sender.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(sender) = sender {
            // The source may have stopped listening; that is its choice.
            let _ = sender.send(status);
        }
    }
}

/// A token shared by all events of one batch. Cheap to clone.
#[derive(Clone)]
pub struct AckBatch {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AckBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckBatch")
            .field("status", &self.status())
            .finish()
    }
}

impl AckBatch {
    /// A new batch and the receiver that resolves when all its clones are gone.
    pub fn new() -> (Self, AckReceiver) {
        let (sender, receiver) = oneshot::channel();
        let batch = Self {
            inner: Arc::new(Inner {
                status: AtomicU8::new(DeliveryStatus::Delivered as u8),
                sender: Mutex::new(Some(sender)),
            }),
        };
        (batch, AckReceiver { receiver })
    }

    /// Merges an outcome into the batch (the worst outcome wins).
    pub fn update(&self, status: DeliveryStatus) {
        self.inner.status.fetch_max(status as u8, Ordering::AcqRel);
    }

    /// The outcome merged so far.
    pub fn status(&self) -> DeliveryStatus {
        DeliveryStatus::from_u8(self.inner.status.load(Ordering::Acquire))
    }
}

/// Resolves with the batch's merged [`DeliveryStatus`] once every event of it is done.
#[derive(Debug)]
pub struct AckReceiver {
    receiver: oneshot::Receiver<DeliveryStatus>,
}

impl AckReceiver {
    /// Waits on a thread outside the async runtime (a disk worker) for the outcome.
    pub fn blocking_wait(self) -> DeliveryStatus {
        self.receiver
            .blocking_recv()
            .unwrap_or(DeliveryStatus::Failed)
    }
}

impl Future for AckReceiver {
    type Output = DeliveryStatus;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(DeliveryStatus::Failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_with_worst_status_after_last_clone_drops() {
        let (batch, mut receiver) = AckBatch::new();
        let a = batch.clone();
        let b = batch.clone();
        drop(batch);
        a.update(DeliveryStatus::DeadLettered);
        drop(a);
        assert!(futures::poll!(&mut receiver).is_pending());
        b.update(DeliveryStatus::Delivered);
        drop(b);
        assert_eq!(receiver.await, DeliveryStatus::DeadLettered);
    }

    #[tokio::test]
    async fn untouched_batch_is_delivered() {
        let (batch, receiver) = AckBatch::new();
        drop(batch);
        assert_eq!(receiver.await, DeliveryStatus::Delivered);
    }
}
