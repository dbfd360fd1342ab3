//! The GOVERN feed over Server-Sent Events: `GET /v1/soc/feed/sse`.
//!
//! Same auth, filters and resume as the WebSocket feed, but one SSE event per feed event:
//! `id:` is the seq, `event:` the type, `data:` the GOVERN envelope. Replayed events arrive as
//! ordinary events. 401/403 are plain HTTP errors before the stream starts.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use socfeed_proto::{Channel, TenantId, govern};
use tokio::sync::mpsc;

use crate::admit::{self, Admitted};
use crate::delivery::{Delivery, Dialect};
use crate::feed::{FeedRequest, Replay, register_live};
use crate::hub::{Queue, Registration};
use crate::queue::{Signals, Taken};
use crate::state::{AppState, ConnectionGuard};
use crate::subscriptions::Subscriptions;
use crate::ws::expiry;

/// Reconnect delay suggested to EventSource clients, in milliseconds.
const RETRY_MS: u64 = 2000;
/// Chunks buffered between the session task and the response body.
const PIPE: usize = 2;

pub async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Admitted {
        claims,
        tenant,
        slot,
    } = match admit::admit(&state, &headers, &query, peer.ip()).0 {
        Ok(a) => a,
        Err(refusal) => return (refusal.status, format!("{}\n", refusal.message)).into_response(),
    };
    let request = FeedRequest::parse(&query, &headers, state.config.replay_window);
    let (registration, queue) = state.hub.register(tenant.clone(), state.config.queue_len);
    let mut subs = Subscriptions::new(&claims);
    let all = Channel::parse(socfeed_proto::channel::ALL)
        .unwrap_or_else(|_| unreachable!("`all` is a valid name"));
    let (tx, rx) = mpsc::channel::<Bytes>(PIPE);
    let task_state = Arc::clone(&state);
    let token = state.sessions.token();
    tokio::spawn(async move {
        let _token = token;
        let _slot = slot;
        let _conn = ConnectionGuard::new(&task_state.metrics);
        task_state.metrics.subscriptions.inc();
        let mut stream = Stream {
            state: &task_state,
            tx,
            tenant,
            request,
            registration,
            signals: queue.signals(),
            exp: claims.exp,
        };
        if stream.start(&mut subs, &all).await.is_ok() {
            stream.live(&subs, queue).await;
        }
        task_state.metrics.subscriptions.dec();
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    }));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Why the stream stopped.
struct Stop;

struct Stream<'a> {
    state: &'a AppState,
    tx: mpsc::Sender<Bytes>,
    tenant: TenantId,
    request: FeedRequest,
    registration: Registration,
    signals: Signals,
    exp: u64,
}

impl Stream<'_> {
    /// Writes one chunk, giving way to overflow, shutdown and a client that went away.
    async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), Stop> {
        // The send comes first: when there is room (the usual case) the signal future is never
        // polled.
        tokio::select! {
            biased;
            r = self.tx.send(chunk.into()) => r.map_err(|_| Stop),
            _ = self.signals.ended() => Err(Stop),
        }
    }

    /// Appends one SSE event to `out`.
    fn push_event(out: &mut String, d: &Delivery) {
        out.push_str(&govern::sse_head(d.seq(), &d.event.event_type));
        out.push_str(d.frame(Dialect::Govern));
        out.push_str("\n\n");
    }

    fn matches(&self, d: &Delivery) -> bool {
        self.request
            .filters
            .as_ref()
            .is_none_or(|f| f.matches(&d.event.event_type, &d.fields))
    }

    /// `retry:`, request errors, the replay, the live registration and the seam floor.
    async fn start(&mut self, subs: &mut Subscriptions, all: &Channel) -> Result<(), Stop> {
        self.send(format!("retry: {RETRY_MS}\n\n")).await?;
        for err in &self.request.errors {
            let data = govern::error("bad_request", err, socfeed_log::now_ms());
            self.send(format!("event: error\ndata: {data}\n\n")).await?;
        }
        let interest = subs.interest_with(Some(all));
        let Some(cursor) = self.request.cursor.clone() else {
            let head = register_live(&self.state.log, &self.tenant, &self.registration, &interest)
                .await
                .map_err(|_| Stop)?;
            subs.subscribe(all, head.seq);
            return Ok(());
        };
        let tenant = self.tenant.clone();
        let mut replay = Replay::start(self.state, &tenant, &self.registration, interest, &cursor)
            .await
            .map_err(|_| Stop)?;
        let mut sent = 0;
        while let Some(page) = replay.next_page().await.map_err(|_| Stop)? {
            // One chunk (one write) per page.
            let mut chunk = String::new();
            for d in page
                .iter()
                .filter(|d| subs.allowed(&d.channel) && self.matches(d))
            {
                Self::push_event(&mut chunk, d);
                sent += 1;
            }
            if !chunk.is_empty() {
                self.send(chunk).await?;
            }
        }
        self.state.metrics.events_replayed.inc_by(sent);
        subs.subscribe(all, replay.floor());
        Ok(())
    }

    async fn live(&mut self, subs: &Subscriptions, mut queue: Queue) {
        let interval = self.state.config.heartbeat_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut expires = expiry(self.exp, self.state.config.keys.leeway);
        let mut batch = Vec::with_capacity(64);
        loop {
            tokio::select! {
                biased;
                () = self.tx.closed() => return,
                () = &mut expires => {
                    let data = govern::error("token_expired", "the token expired", socfeed_log::now_ms());
                    let _ = self.send(format!("event: error\ndata: {data}\n\n")).await;
                    return;
                }
                _ = ticker.tick() => {
                    let beat = govern::heartbeat(socfeed_log::now_ms());
                    if self.send(format!("event: feed.heartbeat\ndata: {beat}\n\n")).await.is_err() { return; }
                }
                taken = queue.take(&mut batch, 64) => {
                    if !matches!(taken, Taken::Items(_)) { return; }
                    let mut sent = 0;
                    let mut chunk = String::new();
                    for d in batch.drain(..).filter(|d| subs.wants(&d.channel, d.seq()) && self.matches(d)) {
                        Self::push_event(&mut chunk, &d);
                        sent += 1;
                    }
                    if !chunk.is_empty() && self.send(chunk).await.is_err() { return; }
                    self.state.metrics.frames_sent.inc_by(sent);
                }
            }
        }
    }
}
