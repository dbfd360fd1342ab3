//! The session loop every dialect runs on every transport: live frames from the hub queue
//! (batched), client messages, heartbeats, silence, token expiry, overflow and shutdown, until
//! the session ends; then the one place an end becomes a close.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::clock::{self, Clock, Due, Pace};
use super::{Conn, End, Fault, Reply, Scope};
use crate::access::Bucket;
use crate::fanout::{Delivery, Queue, Taken};
use crate::transport::{Ending, Incoming, Transport};

/// Most frames taken from the queue per write.
const BATCH: usize = 64;

/// A dialect message outside the event stream: its name (SSE's `event:`) and its bytes.
pub(crate) type Message = (&'static str, String);

/// What a dialect plugs into the loop.
pub(crate) trait Protocol<T: Transport>: Send + Sync {
    /// What the session sends before the loop starts (request errors, a replay); registers the
    /// session's interest in the hub through the seam.
    fn start(
        &mut self,
        conn: &mut Conn<T>,
        scope: &Scope,
    ) -> impl Future<Output = Result<(), End>> + Send;
    /// The heartbeat message sent every interval.
    fn heartbeat(&self, now_ms: i64) -> Message;
    /// An error message: for bad client input, and for the ends that have one.
    fn error(&self, code: &str, message: &str) -> String;
    /// Handles one text message from the client.
    fn on_text(
        &mut self,
        conn: &mut Conn<T>,
        scope: &Scope,
        text: &str,
    ) -> impl Future<Output = Reply> + Send;
    /// The frame to send for a live event, or `None` when this session does not want it.
    fn frame<'d>(&self, delivery: &'d Delivery) -> Option<&'d Bytes>;
    /// The session ended (gauges).
    fn ended(&mut self, scope: &Scope);
}

/// Runs a registered session to its end, then closes the connection. The session's parts are
/// borrowed, not moved: an async fn keeps its arguments twice in its state, and this state is
/// what every open connection holds.
pub(super) async fn run<T: Transport, P: Protocol<T>>(
    protocol: &mut P,
    conn: &mut Conn<T>,
    scope: &Scope,
    queue: Queue,
) -> End {
    // A replay stops when the token expires: nothing is sent after that. (Awaited apart from the
    // match, so that the start's box is freed before the loop runs.)
    let expires = clock::expiry(scope.expires, scope.state.config.keys.leeway);
    let started = tokio::time::timeout_at(expires, Box::pin(protocol.start(conn, scope))).await;
    match started {
        Ok(Ok(())) => drive(protocol, conn, scope, queue).await,
        Ok(Err(end)) => end,
        Err(_) => End::TokenExpired,
    }
}

/// Ends a session: its gauges, the one log line a storage error gets, then the close.
pub(super) async fn finish<T: Transport, P: Protocol<T>>(
    mut protocol: P,
    conn: Conn<T>,
    scope: Scope,
    end: End,
) {
    protocol.ended(&scope);
    let metrics = &scope.state.metrics;
    match &end {
        End::Storage(e) => {
            tracing::error!(
                tenant = %scope.tenant,
                error = %crate::report(e),
                "session ended: the event log failed"
            );
        }
        End::Silent => {
            metrics.heartbeat_timeouts.inc();
        }
        End::Stalled => {
            metrics.slow_consumer_closes.inc();
        }
        _ => {}
    }
    let message = end.error().map(|(code, text)| protocol.error(code, text));
    // Leave the hub before the (possibly slow) close handshake.
    drop(scope.registration);
    if let Some(code) = end.close_code() {
        let ending = Ending {
            code,
            reason: end.reason(),
            message: message.as_deref().map(str::as_bytes),
        };
        conn.close(ending).await;
    }
}

/// The loop; returns why the session ended.
async fn drive<T: Transport, P: Protocol<T>>(
    protocol: &mut P,
    conn: &mut Conn<T>,
    scope: &Scope,
    mut queue: Queue,
) -> End {
    let config = &scope.state.config;
    let mut clock = Clock::new(
        config.heartbeat_interval,
        scope.expires,
        config.keys.leeway,
        T::HEARS_CLIENT,
    );
    let mut batch = Vec::new();
    let mut pace = Pace::new(config.write_coalesce);
    let rate = f64::from(config.max_messages_per_second);
    let mut messages = Bucket::new(rate, Instant::now());
    let signals = queue.signals();
    loop {
        let holding = pace.holding();
        // The queue comes last: however busy it is, timers and client messages are looked at
        // on every turn.
        tokio::select! {
            biased;
            due = clock.due() => match due {
                Due::Expired => return End::TokenExpired,
                Due::Silent => return End::Silent,
                Due::Ping => {
                    // Boxed, like every rare await below: an idle session's future stays small.
                    let (name, beat) = protocol.heartbeat(socfeed_log::now_ms());
                    let sent = Box::pin(async {
                        conn.send_message(name, beat.as_bytes()).await?;
                        conn.send_ping().await
                    })
                    .await;
                    if let Err(end) = sent { return end; }
                }
            },
            msg = conn.recv() => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => return e.into(),
                };
                clock.heard();
                if messages.take(1.0, Instant::now()).is_err() {
                    return End::TooManyMessages;
                }
                let reply = match msg {
                    Incoming::Text(text) => {
                        // What was queued before this message is delivered under the state it
                        // was published in, before the message changes subscriptions or filters.
                        if let Err(end) = drain(&mut queue, &mut batch) { return end; }
                        if let Err(end) = send_batch(protocol, conn, scope, &mut batch).await { return end; }
                        // A subscribe's replay stops when the token expires, like the start's.
                        let handled = Box::pin(async {
                            let expires = clock::expiry(scope.expires, config.keys.leeway);
                            let on_text = protocol.on_text(conn, scope, &text);
                            tokio::time::timeout_at(expires, on_text).await
                        })
                        .await;
                        handled.unwrap_or(Err(Fault::End(End::TokenExpired)))
                    }
                    Incoming::Binary => Err(Fault::client("bad_request", "binary frames are not supported; send JSON text")),
                    Incoming::Close(_) => return End::ClientClosed,
                    Incoming::Ping(payload) => Box::pin(conn.send_pong(&payload)).await.map_err(Fault::End),
                    Incoming::Pong => Ok(()),
                };
                match reply {
                    Ok(()) => {}
                    Err(Fault::Client { code, message }) => {
                        let error = protocol.error(code, &message);
                        if let Err(end) = Box::pin(conn.send_message("error", error.as_bytes())).await { return end; }
                    }
                    Err(Fault::End(end)) => return end,
                }
            }
            // Deliveries, or the overflow and shutdown signals (while deliveries are held back
            // for coalescing, only the signals).
            taken = async {
                if holding { signals.ended().await } else { queue.take(&mut batch, BATCH).await }
            } => {
                match taken {
                    Taken::Overflowed => return End::Overflow,
                    Taken::Reset => return End::HistoryReset,
                    Taken::Shutdown => return End::Shutdown,
                    Taken::Items(_) => {}
                }
                if pace.hold() { continue; }
                if let Err(end) = send_batch(protocol, conn, scope, &mut batch).await { return end; }
            }
            () = pace.held(), if holding => {
                if let Err(end) = drain(&mut queue, &mut batch) { return end; }
                pace.wrote();
                if let Err(end) = send_batch(protocol, conn, scope, &mut batch).await { return end; }
            }
        }
    }
}

/// Moves everything queued into `batch`, unless a signal is raised.
fn drain(queue: &mut Queue, batch: &mut Vec<Arc<Delivery>>) -> Result<(), End> {
    loop {
        match queue.try_take(batch, usize::MAX) {
            None => return Ok(()),
            Some(Taken::Items(_)) => {}
            Some(Taken::Overflowed) => return Err(End::Overflow),
            Some(Taken::Reset) => return Err(End::HistoryReset),
            Some(Taken::Shutdown) => return Err(End::Shutdown),
        }
    }
}

/// Writes the frames of `batch` this session wants, in as few writes as the transport allows.
async fn send_batch<T: Transport, P: Protocol<T>>(
    protocol: &P,
    conn: &mut Conn<T>,
    scope: &Scope,
    batch: &mut Vec<Arc<Delivery>>,
) -> Result<(), End> {
    if batch.is_empty() {
        return Ok(());
    }
    let sent = conn.send_deliveries(batch, |d| protocol.frame(d)).await;
    let metrics = &scope.state.metrics;
    if sent.is_ok() {
        observe_fanout(protocol, batch, metrics);
    }
    batch.clear();
    metrics.frames_sent.inc_by(sent?);
    Ok(())
}

/// The fan-out latency of the sampled live events of `batch` this session just handed to its
/// socket: from their acceptance to now.
fn observe_fanout<T: Transport, P: Protocol<T>>(
    protocol: &P,
    batch: &[Arc<Delivery>],
    metrics: &crate::metrics::Metrics,
) {
    let mut now = None;
    for d in batch {
        if let Some(accepted) = d.sampled_at
            && protocol.frame(d).is_some()
        {
            let now = *now.get_or_insert_with(crate::fanout::now_us);
            let micros = now.saturating_sub(accepted).max(0);
            metrics.fanout_seconds.observe(micros as f64 / 1e6);
        }
    }
}
