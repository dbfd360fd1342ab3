//! WebSocket plumbing shared by both dialects: sends that give way to shutdown and overflow,
//! batched frame writes, closing with a code, heartbeat and token-expiry timers.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use socfeed_proto::CloseCode;
use tokio::time::{Instant, Interval, Sleep};
use tokio_util::sync::CancellationToken;

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
    pub socket: WebSocket,
    pub shutdown: CancellationToken,
    pub overflow: CancellationToken,
    /// How long a close frame may wait to be written before the connection is dropped: the
    /// heartbeat interval, at least 5 s.
    pub close_grace: Duration,
}

impl WsConn {
    /// A connection that gives way to the server's shutdown (its overflow token is set once the
    /// session is registered in the hub).
    pub fn new(socket: WebSocket, state: &crate::state::AppState) -> WsConn {
        WsConn {
            socket,
            shutdown: state.shutdown.clone(),
            overflow: CancellationToken::new(),
            close_grace: state.config.heartbeat_interval.max(Duration::from_secs(5)),
        }
    }

    async fn guard<F: Future<Output = Result<(), axum::Error>>>(
        shutdown: &CancellationToken,
        overflow: &CancellationToken,
        f: F,
    ) -> Result<(), Ended> {
        tokio::select! {
            r = f => r.map_err(|_| Ended::Io),
            () = overflow.cancelled() => Err(Ended::Overflow),
            () = shutdown.cancelled() => Err(Ended::Shutdown),
        }
    }

    /// Sends one text message.
    pub async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Ended> {
        Self::guard(
            &self.shutdown,
            &self.overflow,
            self.socket.send(Message::Text(text.into())),
        )
        .await
    }

    /// Sends a Ping control frame.
    pub async fn send_ping(&mut self) -> Result<(), Ended> {
        Self::guard(
            &self.shutdown,
            &self.overflow,
            self.socket.send(Message::Ping(bytes::Bytes::new())),
        )
        .await
    }

    /// Queues several frames and flushes once.
    pub async fn send_batch(
        &mut self,
        frames: impl IntoIterator<Item = Utf8Bytes>,
    ) -> Result<(), Ended> {
        let socket = &mut self.socket;
        let write = async move {
            for f in frames {
                socket.feed(Message::Text(f)).await?;
            }
            socket.flush().await
        };
        Self::guard(&self.shutdown, &self.overflow, write).await
    }

    /// Closes with `code` (and a short reason), waiting briefly for the peer's close reply.
    ///
    /// A slow consumer's socket is usually full: the close frame goes out behind the frames
    /// already buffered, once the client reads them, or the connection is dropped after
    /// `close_grace`.
    pub async fn close(mut self, code: CloseCode, reason: &str) {
        let reason = if reason.is_empty() {
            code.reason()
        } else {
            reason
        };
        let frame = CloseFrame {
            code: code.0,
            reason: truncate(reason, 120).into(),
        };
        if tokio::time::timeout(
            self.close_grace,
            self.socket.send(Message::Close(Some(frame))),
        )
        .await
        .is_err()
        {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
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

/// Whether a read error is the "message too big" one (close with 1009).
pub fn is_too_big(err: &axum::Error) -> bool {
    let text = err.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}
