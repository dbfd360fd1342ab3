//! The WebSocket session loop both dialects share: live frames from the hub queue (batched),
//! client messages, heartbeats, silence (4002), token expiry (4001), overflow (4008), shutdown (1001).
//! What a dialect adds is its [`Protocol`]: how it answers client text and which frames it wants.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use socfeed_proto::CloseCode;
use socfeed_proto::{Claims, TenantId};
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::admit::{Admitted, Refusal};
use crate::delivery::Delivery;
use crate::hub::{Queue, Registration};
use crate::limits::Bucket;
use crate::limits::Slot;
use crate::queue::Taken;
use crate::state::{AppState, ConnectionGuard};
use crate::ws::{Clock, Due, Ended, Incoming, RecvError, ServerSocket, WsConn};

/// An admitted WebSocket session: its connection, who it is, its place in the hub, and what it
/// holds while it lives.
pub struct Opened {
    pub conn: WsConn,
    pub claims: Claims,
    pub tenant: TenantId,
    pub registration: Registration,
    pub queue: Queue,
    pub held: Held,
}

/// Released when the session ends: its session-tracker token, the connection gauge, its slot.
pub struct Held {
    _task: TaskTrackerToken,
    _gauge: ConnectionGuard,
    _slot: Slot,
}

/// Starts a session on an upgraded socket: a refused one is closed with its code (`None`), an
/// admitted one is registered in the hub (with nothing to receive yet).
pub async fn open(
    socket: ServerSocket,
    state: &AppState,
    admitted: Result<Admitted, Refusal>,
) -> Option<Opened> {
    let task = state.sessions.token();
    let gauge = ConnectionGuard::new(&state.metrics);
    let mut conn = WsConn::new(socket, state);
    let Admitted {
        claims,
        tenant,
        slot,
    } = match admitted {
        Ok(a) => a,
        Err(refusal) => {
            conn.close(refusal.code, &refusal.message).await;
            return None;
        }
    };
    let (registration, queue) = state.hub.register(tenant.clone(), state.config.queue_len);
    conn.signals = Some(queue.signals());
    Some(Opened {
        conn,
        claims,
        tenant,
        registration,
        queue,
        held: Held {
            _task: task,
            _gauge: gauge,
            _slot: slot,
        },
    })
}

/// Most frames taken from the queue per write.
const BATCH: usize = 64;

/// Why handling a client message stopped.
#[derive(Debug)]
pub enum Fault {
    /// Bad input: answered with an error message, the connection stays.
    Client { code: &'static str, message: String },
    /// The socket ended (or must close) while answering.
    Ended(Ended),
    /// The event log failed: close with 1011 so the client resumes elsewhere or later.
    Log,
}

impl Fault {
    pub fn client(code: &'static str, message: impl Into<String>) -> Fault {
        Fault::Client {
            code,
            message: message.into(),
        }
    }
}

impl From<Ended> for Fault {
    fn from(e: Ended) -> Fault {
        Fault::Ended(e)
    }
}

/// What a dialect plugs into the loop.
pub trait Protocol: Send {
    /// The heartbeat message sent with each Ping frame.
    fn heartbeat(&self, now_ms: i64) -> String;
    /// An error message for bad client input.
    fn error(&self, code: &str, message: &str) -> String;
    /// Handles one text message from the client.
    fn on_text(
        &mut self,
        conn: &mut WsConn,
        text: &str,
    ) -> impl Future<Output = Result<(), Fault>> + Send;
    /// The frame to send for a live event, or `None` when this session does not want it.
    fn frame<'d>(&self, delivery: &'d Delivery) -> Option<&'d str>;
}

/// Runs the session until it ends; returns the close code to send (none when the socket is gone)
/// and a reason.
pub async fn drive<P: Protocol>(
    protocol: &mut P,
    conn: &mut WsConn,
    mut queue: Queue,
    state: &AppState,
    exp: u64,
) -> (Option<CloseCode>, &'static str) {
    let ended = |e: Ended| (e.close_code(), "");
    let mut clock = Clock::new(
        state.config.heartbeat_interval,
        exp,
        state.config.keys.leeway,
    );
    let mut batch = Vec::new();
    let mut pace = Pace::new(state.config.write_coalesce);
    let rate = f64::from(state.config.max_messages_per_second);
    let mut messages = Bucket::new(rate, Instant::now());
    let signals = queue.signals();
    loop {
        let holding = pace.holding();
        // The queue comes last: however busy it is, timers and client messages are looked at
        // on every turn.
        tokio::select! {
            biased;
            due = clock.due() => match due {
                Due::Expired => return (Some(CloseCode::UNAUTHORIZED), "token expired"),
                Due::Silent => {
                    state.metrics.heartbeat_timeouts.inc();
                    return (Some(CloseCode::HEARTBEAT_TIMEOUT), "");
                }
                Due::Ping => {
                    // Boxed, like every rare await below: an idle session's future stays small.
                    let beat = protocol.heartbeat(socfeed_log::now_ms());
                    let sent = Box::pin(async { conn.send_text(beat).await?; conn.send_ping().await }).await;
                    if let Err(e) = sent { return ended(e); }
                }
            },
            msg = conn.socket.recv() => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(RecvError::Frame(e)) => return (Some(CloseCode(e.close_code())), ""),
                    Err(RecvError::Closed | RecvError::Io(_)) => return (None, ""),
                };
                clock.heard();
                if messages.take(1.0, Instant::now()).is_err() {
                    return (Some(CloseCode::TOO_MANY), "too many messages");
                }
                let reply = match msg {
                    Incoming::Text(text) => {
                        // What was queued before this message is delivered under the state it
                        // was published in, before the message changes subscriptions or filters.
                        if let Some(code) = drain(&mut queue, &mut batch) { return (Some(code), ""); }
                        if let Err(e) = send_frames(protocol, conn, &mut batch, state).await { return ended(e); }
                        Box::pin(protocol.on_text(conn, &text)).await
                    }
                    Incoming::Binary => Err(Fault::client("bad_request", "binary frames are not supported; send JSON text")),
                    Incoming::Close(_) => return (Some(CloseCode::NORMAL), ""),
                    Incoming::Ping(payload) => Box::pin(conn.send_pong(&payload)).await.map_err(Fault::Ended),
                    Incoming::Pong => Ok(()),
                };
                match reply {
                    Ok(()) => {}
                    Err(Fault::Client { code, message }) => {
                        if let Err(e) = Box::pin(conn.send_text(protocol.error(code, &message))).await { return ended(e); }
                    }
                    Err(Fault::Ended(e)) => return ended(e),
                    Err(Fault::Log) => return (Some(CloseCode(1011)), "event log unavailable"),
                }
            }
            // Deliveries, or the overflow and shutdown signals (while deliveries are held back
            // for coalescing, only the signals).
            taken = async {
                if holding { signals.ended().await } else { queue.take(&mut batch, BATCH).await }
            } => {
                match taken {
                    Taken::Overflowed => return (Some(CloseCode::SLOW_CONSUMER), ""),
                    Taken::Shutdown => return (Some(CloseCode::GOING_AWAY), ""),
                    Taken::Items(_) => {}
                }
                if pace.hold() { continue; }
                if let Err(e) = send_frames(protocol, conn, &mut batch, state).await { return ended(e); }
            }
            () = pace.held(), if holding => {
                if let Some(code) = drain(&mut queue, &mut batch) { return (Some(code), ""); }
                pace.wrote();
                if let Err(e) = send_frames(protocol, conn, &mut batch, state).await { return ended(e); }
            }
        }
    }
}

/// Moves everything queued into `batch`; the close code when a signal is raised instead.
fn drain(queue: &mut Queue, batch: &mut Vec<Arc<Delivery>>) -> Option<CloseCode> {
    loop {
        match queue.try_take(batch, usize::MAX) {
            None => return None,
            Some(Taken::Items(_)) => {}
            Some(Taken::Overflowed) => return Some(CloseCode::SLOW_CONSUMER),
            Some(Taken::Shutdown) => return Some(CloseCode::GOING_AWAY),
        }
    }
}

/// Write coalescing (`write_coalesce`): a session writes at most once per interval; events
/// that arrive sooner wait for the interval's end and go out together. The first event after a
/// quiet interval is written at once.
struct Pace {
    interval: std::time::Duration,
    last_write: Option<tokio::time::Instant>,
    /// Armed while events wait; made on first use (idle sessions hold no timer).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    holding: bool,
}

impl Pace {
    fn new(interval: std::time::Duration) -> Pace {
        Pace {
            interval,
            last_write: None,
            timer: None,
            holding: false,
        }
    }

    fn holding(&self) -> bool {
        self.holding
    }

    /// Events are here: whether they must wait (the timer is then armed); if not, the write
    /// about to happen is recorded.
    fn hold(&mut self) -> bool {
        if self.interval.is_zero() {
            return false;
        }
        let now = tokio::time::Instant::now();
        match self.last_write.map(|t| t + self.interval) {
            Some(until) if until > now => {
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(until),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(until))),
                }
                self.holding = true;
                true
            }
            _ => {
                self.last_write = Some(now);
                false
            }
        }
    }

    /// Resolves when the held events may go.
    async fn held(&mut self) {
        if let Some(timer) = &mut self.timer {
            timer.as_mut().await;
        }
    }

    /// The held events are being written.
    fn wrote(&mut self) {
        self.holding = false;
        self.last_write = Some(tokio::time::Instant::now());
    }
}

/// Writes the frames of `batch` this session wants, in as few writes as the socket allows.
async fn send_frames<P: Protocol>(
    protocol: &P,
    conn: &mut WsConn,
    batch: &mut Vec<Arc<Delivery>>,
    state: &AppState,
) -> Result<(), Ended> {
    if batch.is_empty() {
        return Ok(());
    }
    let sent = conn.send_deliveries(batch, |d| protocol.frame(d)).await;
    batch.clear();
    state.metrics.frames_sent.inc_by(sent?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn pace_writes_at_once_after_a_quiet_interval_and_holds_within_one() {
        let interval = Duration::from_millis(10);
        let mut pace = Pace::new(interval);
        assert!(!pace.hold(), "the first event goes out at once");
        tokio::time::advance(Duration::from_millis(3)).await;
        assert!(pace.hold(), "3 ms later: held");
        assert!(pace.holding());
        let start = tokio::time::Instant::now();
        pace.held().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(7),
            "until 10 ms after the write"
        );
        pace.wrote();
        assert!(!pace.holding());
        tokio::time::advance(interval).await;
        assert!(!pace.hold(), "a quiet interval later: at once again");
    }

    #[test]
    fn pace_zero_never_holds() {
        let mut pace = Pace::new(Duration::ZERO);
        assert!(!pace.hold());
        assert!(!pace.hold());
    }
}
