//! A session's queue: the deliveries the hub handed it and not yet written, and the signals
//! that end a session from outside (it overflowed; its tenant's history was reset; the server
//! shuts down).
//!
//! The hub only ever [`Sender::offer`]s: a lock held for a push, never a wait. The session is
//! woken when its queue goes from empty to non-empty (it drains everything before it sleeps
//! again) and when a signal is raised. An idle queue holds no allocation besides its own
//! small header, which is shared with the hub's handle.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use super::delivery::Delivery;

/// Slots an empty queue may keep (256 bytes); more are given back.
const KEEP_SLOTS: usize = 32;

/// What [`Sender::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// The queue was full: the session is now marked as overflowed (and woken).
    Overflowed,
    /// The session had already overflowed: the delivery is dropped.
    Dropped,
    /// The session is gone.
    Gone,
}

/// What a session takes out of its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// This many deliveries were moved into the caller's buffer.
    Items(usize),
    /// The queue overflowed: some delivery was dropped, the session must close (4008).
    Overflowed,
    /// The engine lost the tenant's history (a new epoch): the session must start over from
    /// its cursor (1013).
    Reset,
    /// The server is shutting down (1001).
    Shutdown,
}

struct State {
    items: VecDeque<Arc<Delivery>>,
    overflowed: bool,
    reset: bool,
    shutdown: bool,
    receiver_gone: bool,
}

impl State {
    /// The raised signal, overflow first.
    fn signal(&self) -> Option<Taken> {
        if self.overflowed {
            Some(Taken::Overflowed)
        } else if self.reset {
            Some(Taken::Reset)
        } else if self.shutdown {
            Some(Taken::Shutdown)
        } else {
            None
        }
    }
}

struct Shared {
    state: Mutex<State>,
    capacity: usize,
    /// The session's task. It registers before it checks the state a last time, so a wake-up
    /// between its check and its sleep is not lost.
    waker: AtomicWaker,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The hub's end.
#[derive(Clone)]
pub(crate) struct Sender(Arc<Shared>);

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.0.capacity)
            .finish_non_exhaustive()
    }
}

/// The session's end.
pub struct Receiver(Arc<Shared>);

/// A queue holding at most `capacity` deliveries.
pub(crate) fn bounded(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            overflowed: false,
            reset: false,
            shutdown: false,
            receiver_gone: false,
        }),
        capacity: capacity.max(1),
        waker: AtomicWaker::new(),
    });
    (Sender(Arc::clone(&shared)), Receiver(shared))
}

impl Sender {
    /// Queues `delivery` without waiting.
    pub(crate) fn offer(&self, delivery: &Arc<Delivery>) -> Offer {
        let mut state = self.0.lock();
        if state.receiver_gone {
            return Offer::Gone;
        }
        if state.overflowed {
            return Offer::Dropped;
        }
        if state.items.len() >= self.0.capacity {
            state.overflowed = true;
            drop(state);
            self.0.waker.wake();
            return Offer::Overflowed;
        }
        state.items.push_back(Arc::clone(delivery));
        let first = state.items.len() == 1;
        drop(state);
        if first {
            self.0.waker.wake();
        }
        Offer::Queued
    }

    /// Tells the session its tenant's history was reset.
    pub(crate) fn reset(&self) {
        self.0.lock().reset = true;
        self.0.waker.wake();
    }

    /// Tells the session the server is shutting down.
    pub(crate) fn shut_down(&self) {
        self.0.lock().shutdown = true;
        self.0.waker.wake();
    }

    /// Whether the session overflowed.
    pub(crate) fn overflowed(&self) -> bool {
        self.0.lock().overflowed
    }
}

impl Receiver {
    /// Moves up to `max` deliveries into `out`, or reports a signal (signals come first);
    /// `None` when there is nothing.
    pub fn try_take(&mut self, out: &mut Vec<Arc<Delivery>>, max: usize) -> Option<Taken> {
        let mut state = self.0.lock();
        if let Some(signal) = state.signal() {
            return Some(signal);
        }
        let n = state.items.len().min(max);
        if n == 0 {
            // Drop what a burst made the queue grow to, but keep a few slots: a session that
            // receives one event at a time does not allocate for each.
            if state.items.capacity() > KEEP_SLOTS {
                state.items = VecDeque::new();
            }
            return None;
        }
        out.extend(state.items.drain(..n));
        Some(Taken::Items(n))
    }

    /// Waits for deliveries or a signal. Cancel-safe.
    pub async fn take(&mut self, out: &mut Vec<Arc<Delivery>>, max: usize) -> Taken {
        poll_fn(|cx| self.poll_take(cx, out, max)).await
    }

    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Arc<Delivery>>,
        max: usize,
    ) -> Poll<Taken> {
        if let Some(taken) = self.try_take(out, max) {
            return Poll::Ready(taken);
        }
        self.0.waker.register(cx.waker());
        match self.try_take(out, max) {
            Some(taken) => Poll::Ready(taken),
            None => Poll::Pending,
        }
    }

    /// The session's view of the signals alone, for waits outside the queue (a blocked write).
    pub fn signals(&self) -> Signals {
        Signals(Arc::clone(&self.0))
    }
}

/// Watches a queue's signals (not its deliveries).
#[derive(Clone)]
pub struct Signals(Arc<Shared>);

impl Signals {
    /// Resolves when a signal is raised; deliveries stay queued. Cancel-safe.
    pub async fn ended(&self) -> Taken {
        poll_fn(|cx| {
            if let Some(signal) = self.signal() {
                return Poll::Ready(signal);
            }
            self.0.waker.register(cx.waker());
            self.signal().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    fn signal(&self) -> Option<Taken> {
        self.0.lock().signal()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiver_gone = true;
        state.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use socfeed_proto::{Event, TenantId};

    fn d(seq: u64) -> Arc<Delivery> {
        Delivery::new(Event {
            id: format!("e{seq}"),
            seq,
            tenant_id: TenantId::parse("t").unwrap(),
            event_type: "alert.new".into(),
            payload: RawValue::from_string("{}".into()).unwrap(),
            ts: 0,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn queues_in_order_and_overflows_once() {
        let (tx, mut rx) = bounded(2);
        assert_eq!(tx.offer(&d(1)), Offer::Queued);
        assert_eq!(tx.offer(&d(2)), Offer::Queued);
        assert_eq!(tx.offer(&d(3)), Offer::Overflowed);
        assert_eq!(tx.offer(&d(4)), Offer::Dropped);
        assert!(tx.overflowed());
        let mut out = Vec::new();
        assert_eq!(rx.take(&mut out, 10).await, Taken::Overflowed);
        assert!(
            out.is_empty(),
            "an overflowed session delivers nothing more"
        );
    }

    #[tokio::test]
    async fn take_waits_and_batches() {
        let (tx, mut rx) = bounded(8);
        let waiter = tokio::spawn(async move {
            let mut out = Vec::new();
            let taken = rx.take(&mut out, 8).await;
            (taken, out.iter().map(|d| d.seq()).collect::<Vec<_>>(), rx)
        });
        tokio::task::yield_now().await;
        tx.offer(&d(1));
        tx.offer(&d(2));
        let (taken, seqs, mut rx) = waiter.await.unwrap();
        assert!(matches!(taken, Taken::Items(n) if n >= 1));
        let mut out = Vec::new();
        let _ = rx.try_take(&mut out, 8);
        let mut all = seqs;
        all.extend(out.iter().map(|d| d.seq()));
        assert_eq!(all, [1, 2]);
        tx.shut_down();
        assert_eq!(rx.take(&mut Vec::new(), 8).await, Taken::Shutdown);
    }

    #[tokio::test]
    async fn signals_are_not_deliveries() {
        let (tx, mut rx) = bounded(4);
        tx.offer(&d(1));
        let signals = rx.signals();
        let ended =
            tokio::time::timeout(std::time::Duration::from_millis(30), signals.ended()).await;
        assert!(ended.is_err(), "deliveries are not a signal");
        let mut out = Vec::new();
        assert_eq!(rx.take(&mut out, 4).await, Taken::Items(1));
        tx.shut_down();
        assert_eq!(signals.ended().await, Taken::Shutdown);
        drop(rx);
        assert_eq!(tx.offer(&d(2)), Offer::Gone);
    }
}
