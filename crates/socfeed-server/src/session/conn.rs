//! The session's side of its transport: every write gives way to the session queue's signals
//! (overflow, shutdown), so a client that stopped reading never pins its task.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;

use super::End;
use crate::fanout::{Delivery, Signals, Taken};
use crate::transport::{Ending, Framing, Incoming, RecvError, Transport};

/// Frames handed to one `write_now` at most.
const BATCH_WRITE: usize = 64;

/// A placeholder for unused slots of a batch.
static NO_FRAME: Bytes = Bytes::new();

/// A transport whose writes give way to the session's signals.
pub(crate) struct Conn<T> {
    transport: T,
    signals: Signals,
}

impl<T: Transport> Conn<T> {
    pub(super) fn new(transport: T, signals: Signals) -> Conn<T> {
        Conn { transport, signals }
    }

    pub(crate) fn framing(&self) -> Framing {
        T::FRAMING
    }

    pub(super) async fn recv(&mut self) -> Result<Incoming, RecvError> {
        self.transport.recv().await
    }

    /// `f`, unless a signal comes first. The write is polled first: when it completes at once
    /// (the usual case) the signal future is never polled.
    async fn guard<F>(signals: &Signals, f: F) -> Result<(), End>
    where
        F: Future<Output = std::io::Result<()>>,
    {
        tokio::select! {
            biased;
            r = f => r.map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => End::Stalled,
                _ => End::PeerGone,
            }),
            signal = signals.ended() => Err(match signal {
                Taken::Overflowed => End::Overflow,
                Taken::Reset => End::HistoryReset,
                _ => End::Shutdown,
            }),
        }
    }

    /// Sends one message outside the event stream (`name` for transports that name messages).
    pub(crate) async fn send_message(&mut self, name: &str, message: &[u8]) -> Result<(), End> {
        Self::guard(&self.signals, self.transport.send_message(name, message)).await
    }

    pub(super) async fn send_ping(&mut self) -> Result<(), End> {
        Self::guard(&self.signals, self.transport.send_ping()).await
    }

    pub(super) async fn send_pong(&mut self, payload: &[u8]) -> Result<(), End> {
        Self::guard(&self.signals, self.transport.send_pong(payload)).await
    }

    /// Sends the frame `frame` gives for each delivery (none for those it skips), in as few
    /// writes as the transport allows; returns how many frames went out.
    pub(crate) async fn send_deliveries<F>(
        &mut self,
        deliveries: &[Arc<Delivery>],
        frame: F,
    ) -> Result<u64, End>
    where
        F: for<'d> Fn(&'d Delivery) -> Option<&'d Bytes>,
    {
        let mut pos = 0;
        let mut sent = 0u64;
        while pos < deliveries.len() {
            let transport = &mut self.transport;
            let (consumed, frames) = poll_fn(|cx| {
                // The next frames to send, and which delivery each came from.
                let mut frames: [&Bytes; BATCH_WRITE] = [&NO_FRAME; BATCH_WRITE];
                let mut from = [0usize; BATCH_WRITE];
                let (mut n, mut scanned) = (0, 0);
                for (i, d) in deliveries[pos..].iter().enumerate() {
                    if n == BATCH_WRITE {
                        break;
                    }
                    scanned = i + 1;
                    if let Some(f) = frame(d) {
                        (frames[n], from[n]) = (f, i);
                        n += 1;
                    }
                }
                let taken = transport.write_now(cx, &frames[..n]);
                // Deliveries are consumed up to the first frame the transport did not take.
                Poll::Ready(taken.map(|k| (if k == n { scanned } else { from[k] }, k)))
            })
            .await
            .map_err(|_| End::PeerGone)?;
            pos += consumed;
            sent += frames as u64;
            // Only a full socket makes this wait (boxed: it is rare, and every open session's
            // state would otherwise hold room for it).
            if self.transport.holds_back() {
                Box::pin(Self::guard(&self.signals, self.transport.flush())).await?;
            }
        }
        Ok(sent)
    }

    /// Ends the connection for `ending`.
    pub(super) async fn close(self, ending: Ending<'_>) {
        self.transport.close(ending).await;
    }
}
