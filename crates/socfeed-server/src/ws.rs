//! WebSocket plumbing shared by both dialects: sends that give way to shutdown and overflow,
//! batched frame writes, closing with a code, heartbeat and token-expiry timers. The protocol
//! itself (handshake, framing, the socket) is in the submodules.

pub mod socket;
pub mod upgrade;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socfeed_proto::CloseCode;
use tokio::time::{Instant, Interval, Sleep};

pub use self::socket::RecvError;
pub use self::upgrade::{ServerSocket, Upgrade};
pub use socfeed_proto::wsframe as frame;
pub use socfeed_proto::wsframe::Incoming;

use crate::queue::{Signals, Taken};

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

    /// Sends several text frames with as few writes as the socket allows.
    pub async fn send_batch(&mut self, frames: &[&str]) -> Result<(), Ended> {
        let socket = &mut self.socket;
        poll_fn(|cx| {
            let mut payloads = frames.iter().map(|f| f.as_bytes());
            Poll::Ready(socket.write_now(cx, frame::TEXT, &mut payloads))
        })
        .await
        .map_err(|_| Ended::Io)?;
        self.flush().await
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

/// Ping schedule and the silence deadline (two intervals without any frame from the client).
pub struct Heartbeat {
    interval: Duration,
    pub ticker: Interval,
    pub silence: Pin<Box<Sleep>>,
}

impl Heartbeat {
    pub fn new(interval: Duration) -> Heartbeat {
        let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Heartbeat {
            interval,
            ticker,
            silence: Box::pin(tokio::time::sleep(interval * 2)),
        }
    }

    /// Any frame from the client counts as alive.
    pub fn heard(&mut self) {
        self.silence
            .as_mut()
            .reset(Instant::now() + self.interval * 2);
    }
}

/// A timer that fires when a token with `exp` (unix seconds) expires, leeway included.
pub fn expiry(exp: u64, leeway: Duration) -> Pin<Box<Sleep>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::from_secs(exp) + leeway;
    let left = at
        .saturating_sub(now)
        .min(Duration::from_secs(365 * 24 * 3600));
    Box::pin(tokio::time::sleep(left))
}
