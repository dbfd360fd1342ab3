//! WebSocket plumbing shared by both dialects: sends that give way to shutdown and overflow,
//! batched frame writes, closing with a code, heartbeat and token-expiry timers. The protocol
//! itself (handshake, framing, the socket) is in the submodules.

pub mod socket;
pub mod upgrade;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socfeed_proto::CloseCode;
use tokio::time::{Instant, Sleep};

pub use self::socket::RecvError;
pub use self::upgrade::{ServerSocket, Upgrade};
pub use socfeed_proto::wsframe as frame;
pub use socfeed_proto::wsframe::Incoming;

use crate::delivery::Delivery;
use crate::queue::{Signals, Taken};

/// Frames handed to one `write_now` at most.
const BATCH_WRITE: usize = 64;

/// Why a session stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The server is shutting down: close with 1001.
    Shutdown,
    /// The session's queue overflowed: close with 4008.
    Overflow,
    /// The socket failed or the peer went away.
    Io,
}

impl Ended {
    pub fn close_code(self) -> Option<CloseCode> {
        match self {
            Ended::Shutdown => Some(CloseCode::GOING_AWAY),
            Ended::Overflow => Some(CloseCode::SLOW_CONSUMER),
            Ended::Io => None,
        }
    }
}

/// A socket whose writes give way to the server's shutdown and the session's overflow, so a
/// client that stopped reading never pins its task.
pub struct WsConn {
    pub socket: ServerSocket,
    /// The session queue's signals (overflow, shutdown), once the session is registered.
    pub signals: Option<Signals>,
    /// How long a close frame may wait to be written before the connection is dropped: the
    /// heartbeat interval, at least 5 s.
    pub close_grace: Duration,
}

impl WsConn {
    /// A connection; writes give way to the session's signals once [`WsConn::signals`] is set.
    pub fn new(socket: ServerSocket, state: &crate::state::AppState) -> WsConn {
        WsConn {
            socket,
            signals: None,
            close_grace: state.config.heartbeat_interval.max(Duration::from_secs(5)),
        }
    }

    async fn guard<F: Future<Output = std::io::Result<()>>>(
        signals: &Option<Signals>,
        f: F,
    ) -> Result<(), Ended> {
        let Some(signals) = signals else {
            return f.await.map_err(|_| Ended::Io);
        };
        // The write comes first: when it completes at once (the usual case) the signal future
        // is never polled.
        tokio::select! {
            biased;
            r = f => r.map_err(|_| Ended::Io),
            signal = signals.ended() => Err(match signal {
                Taken::Overflowed => Ended::Overflow,
                _ => Ended::Shutdown,
            }),
        }
    }

    /// Sends one text message.
    pub async fn send_text(&mut self, text: impl AsRef<str>) -> Result<(), Ended> {
        let text = text.as_ref().as_bytes();
        Self::guard(&self.signals, self.socket.send(frame::TEXT, &[text])).await
    }

    /// Sends a Ping control frame.
    pub async fn send_ping(&mut self) -> Result<(), Ended> {
        Self::guard(&self.signals, self.socket.send(frame::PING, &[&[]])).await
    }

    /// Answers a client's Ping with its payload.
    pub async fn send_pong(&mut self, payload: &[u8]) -> Result<(), Ended> {
        Self::guard(&self.signals, self.socket.send(frame::PONG, &[payload])).await
    }

    /// Sends the frame `frame` gives for each delivery (none for those it skips), in as few
    /// writes as the socket allows; returns how many frames went out.
    pub async fn send_deliveries<F>(
        &mut self,
        deliveries: &[Arc<Delivery>],
        frame: F,
    ) -> Result<u64, Ended>
    where
        F: for<'d> Fn(&'d Delivery) -> Option<&'d str>,
    {
        let mut pos = 0;
        let mut sent = 0u64;
        while pos < deliveries.len() {
            let socket = &mut self.socket;
            let (consumed, frames) = poll_fn(|cx| {
                // The next frames to send, and which delivery each came from.
                let mut bytes: [&[u8]; BATCH_WRITE] = [&[]; BATCH_WRITE];
                let mut from = [0usize; BATCH_WRITE];
                let (mut n, mut scanned) = (0, 0);
                for (i, d) in deliveries[pos..].iter().enumerate() {
                    if n == BATCH_WRITE {
                        break;
                    }
                    scanned = i + 1;
                    if let Some(f) = frame(d) {
                        (bytes[n], from[n]) = (f.as_bytes(), i);
                        n += 1;
                    }
                }
                let taken = socket.write_now(cx, frame::TEXT, &bytes[..n]);
                // Deliveries are consumed up to the first frame the socket did not take.
                Poll::Ready(taken.map(|k| (if k == n { scanned } else { from[k] }, k)))
            })
            .await
            .map_err(|_| Ended::Io)?;
            pos += consumed;
            sent += frames as u64;
            self.flush().await?;
        }
        Ok(sent)
    }

    /// Waits until the socket took every frame written so far.
    pub async fn flush(&mut self) -> Result<(), Ended> {
        Self::guard(&self.signals, self.socket.flush()).await
    }

    /// Closes with `code` (and a short reason), waiting briefly for the peer's close reply.
    ///
    /// A slow consumer's socket is usually full: the close frame goes out behind the frames
    /// already buffered, once the client reads them, or the connection is dropped after
    /// `close_grace`.
    pub async fn close(self, code: CloseCode, reason: &str) {
        let reason = if reason.is_empty() {
            code.reason()
        } else {
            reason
        };
        self.socket
            .close(code.0, truncate(reason, 120), self.close_grace)
            .await;
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A session's three deadlines on one timer: the next ping, silence (two intervals without any
/// frame from the client) and the token's expiry. The timer is set to the earliest; when it
/// fires, [`Clock::due`] says which one is due and sets it again.
pub struct Clock {
    interval: Duration,
    next_ping: Instant,
    silent_at: Instant,
    expires_at: Instant,
    timer: Pin<Box<Sleep>>,
}

/// What [`Clock::due`] found due, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The token expired (close with 4001).
    Expired,
    /// The client has been silent for two intervals (close with 4002).
    Silent,
    /// Time for a ping.
    Ping,
}

impl Clock {
    /// Pings every `interval`; a token with `exp` (unix seconds) expires after `leeway` more.
    pub fn new(interval: Duration, exp: u64, leeway: Duration) -> Clock {
        let now = Instant::now();
        let expires_at = now + until_expiry(exp, leeway);
        let next_ping = now + interval;
        Clock {
            interval,
            next_ping,
            silent_at: now + interval * 2,
            expires_at,
            timer: Box::pin(tokio::time::sleep_until(next_ping.min(expires_at))),
        }
    }

    /// Any frame from the client counts as alive. (The timer is not moved: a deadline only
    /// moves later, so it fires early at worst and is set again.)
    pub fn heard(&mut self) {
        self.silent_at = Instant::now() + self.interval * 2;
    }

    /// Waits until something is due. Cancel-safe.
    pub async fn due(&mut self) -> Due {
        loop {
            self.timer.as_mut().await;
            let now = Instant::now();
            let due = if now >= self.expires_at {
                Some(Due::Expired)
            } else if now >= self.silent_at {
                Some(Due::Silent)
            } else if now >= self.next_ping {
                self.next_ping = now + self.interval;
                Some(Due::Ping)
            } else {
                None
            };
            let next = self.next_ping.min(self.silent_at).min(self.expires_at);
            self.timer.as_mut().reset(next);
            if let Some(due) = due {
                return due;
            }
        }
    }
}

fn until_expiry(exp: u64, leeway: Duration) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::from_secs(exp) + leeway;
    at.saturating_sub(now)
        .min(Duration::from_secs(365 * 24 * 3600))
}

/// A timer that fires when a token with `exp` (unix seconds) expires, leeway included.
pub fn expiry(exp: u64, leeway: Duration) -> Pin<Box<Sleep>> {
    Box::pin(tokio::time::sleep(until_expiry(exp, leeway)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far_exp() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600
    }

    #[tokio::test(start_paused = true)]
    async fn pings_then_silence() {
        let second = Duration::from_secs(1);
        let mut clock = Clock::new(second, far_exp(), Duration::ZERO);
        let start = Instant::now();
        assert_eq!(clock.due().await, Due::Ping);
        assert_eq!(start.elapsed(), second);
        clock.heard();
        assert_eq!(clock.due().await, Due::Ping);
        // Heard at 1 s: silent from 3 s on, which wins over the ping also due at 3 s.
        assert_eq!(clock.due().await, Due::Silent);
        assert_eq!(start.elapsed(), 3 * second);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_comes_first() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut clock = Clock::new(Duration::from_secs(10), now, Duration::from_secs(2));
        let start = Instant::now();
        assert_eq!(clock.due().await, Due::Expired);
        assert!(start.elapsed() <= Duration::from_secs(2));
    }
}
