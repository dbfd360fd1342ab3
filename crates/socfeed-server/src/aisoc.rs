//! The AiSOC session on `GET /ws`: channel subscriptions with `since` replay, pings, and the
//! events of the tenant's subscribed channels.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use socfeed_proto::aisoc::{self, ClientError, ClientMsg, ErrorCode};
use socfeed_proto::{Channel, CloseCode, Role, Seq, TenantId};

use crate::auth::{self, Denied, Principal, TokenSource};
use crate::delivery::{Delivery, Dialect};
use crate::hub::Registration;
use crate::state::{AppState, ConnectionGuard};
use crate::subscriptions::Subscriptions;
use crate::ws::{Ended, Heartbeat, WsConn, expiry, is_too_big};

/// Events read from the log per page during a replay.
const REPLAY_PAGE: usize = 512;
/// Most frames taken from the queue per write.
const BATCH: usize = 64;

/// `GET /ws`: upgrades first (browsers cannot read a refused upgrade's status), then closes with
/// 4001/4003 when the token does not hold.
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let found = auth::find_token(&headers, query.get("token").map(String::as_str));
    let principal = auth::authenticate(
        &state.verifier,
        &state.metrics,
        found.map(|f| f.0),
        Role::Subscriber,
    );
    let limit = state.config.max_message_size;
    let mut ws = ws.max_message_size(limit).max_frame_size(limit);
    if matches!(found, Some((_, TokenSource::Subprotocol))) {
        ws = ws.protocols(["bearer"]);
    }
    let defaults = UrlDefaults {
        since: query
            .get("since")
            .map(|s| s.parse::<Seq>().map_err(|_| s.clone())),
        epoch: query.get("epoch").cloned(),
    };
    ws.on_upgrade(move |socket| run(socket, state, principal, defaults))
}

/// `?since=` and `?epoch=` from the URL: defaults for every subscribe of the connection.
struct UrlDefaults {
    since: Option<Result<Seq, String>>,
    epoch: Option<String>,
}

async fn run(
    socket: WebSocket,
    state: Arc<AppState>,
    principal: Result<Principal, Denied>,
    defaults: UrlDefaults,
) {
    let _task = state.sessions.token();
    let _conn = ConnectionGuard::new(&state.metrics);
    let mut conn = WsConn {
        socket,
        shutdown: state.shutdown.clone(),
        overflow: tokio_util::sync::CancellationToken::new(),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(denied) => return conn.close(denied.close_code(), denied.message()).await,
    };
    let Some(tenant) = principal.tenant.clone() else {
        return conn.close(CloseCode::FORBIDDEN, "").await;
    };
    let (registration, queue) = state.hub.register(tenant.clone(), state.config.queue_len);
    conn.overflow = registration.overflow().clone();
    let mut session = Session {
        state: Arc::clone(&state),
        subs: Subscriptions::new(&principal.claims),
        tenant,
        registration,
        default_since: None,
        default_epoch: defaults.epoch,
        counted_subs: 0,
    };
    let mut first_error = None;
    match defaults.since {
        Some(Ok(s)) => session.default_since = Some(s),
        Some(Err(bad)) => {
            first_error = Some(ClientError {
                code: ErrorCode::BadRequest,
                message: format!(
                    "`since` in the URL must be a non-negative integer (got {bad:?}); ignored"
                ),
            })
        }
        None => {}
    }
    let (code, reason) = session
        .serve(&mut conn, queue, principal.claims.exp, first_error)
        .await;
    session.set_sub_gauge(0);
    // Leave the hub before the (possibly slow) close handshake.
    drop(session);
    if let Some(code) = code {
        conn.close(code, reason).await;
    }
}

struct Session {
    state: Arc<AppState>,
    subs: Subscriptions,
    tenant: TenantId,
    registration: Registration,
    default_since: Option<Seq>,
    default_epoch: Option<String>,
    counted_subs: usize,
}

impl Session {
    /// The session loop; returns the close code to send (none when the socket is already gone).
    async fn serve(
        &mut self,
        conn: &mut WsConn,
        mut queue: crate::hub::Queue,
        exp: u64,
        first_error: Option<ClientError>,
    ) -> (Option<CloseCode>, &'static str) {
        let ended = |e: Ended| (e.close_code(), "");
        if let Some(err) = first_error
            && let Err(e) = conn.send_text(aisoc::error(&err)).await
        {
            return ended(e);
        }
        let mut heartbeat = Heartbeat::new(self.state.config.heartbeat_interval);
        let mut expires = expiry(exp, self.state.config.keys.leeway);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                () = self.state.shutdown.cancelled() => return (Some(CloseCode::GOING_AWAY), ""),
                () = conn.overflow.cancelled() => return (Some(CloseCode::SLOW_CONSUMER), ""),
                () = &mut expires => return (Some(CloseCode::UNAUTHORIZED), "token expired"),
                () = &mut heartbeat.silence => {
                    self.state.metrics.heartbeat_timeouts.inc();
                    return (Some(CloseCode::HEARTBEAT_TIMEOUT), "");
                }
                _ = heartbeat.ticker.tick() => {
                    let ping = aisoc::ping(socfeed_log::now_ms());
                    if let Err(e) = conn.send_text(ping).await { return ended(e); }
                    if let Err(e) = conn.send_ping().await { return ended(e); }
                }
                msg = conn.socket.recv() => {
                    let msg = match msg {
                        None => return (None, ""),
                        Some(Err(e)) if is_too_big(&e) => return (Some(CloseCode::TOO_BIG), ""),
                        Some(Err(_)) => return (None, ""),
                        Some(Ok(m)) => m,
                    };
                    heartbeat.heard();
                    let reply = match msg {
                        Message::Text(text) => self.on_text(conn, text.as_str()).await,
                        Message::Binary(_) => Err(Fault::Client(ClientError {
                            code: ErrorCode::BadRequest,
                            message: "binary frames are not supported; send JSON text".into(),
                        })),
                        Message::Close(_) => return (Some(CloseCode::NORMAL), ""),
                        Message::Ping(_) | Message::Pong(_) => Ok(()),
                    };
                    match reply {
                        Ok(()) => {}
                        Err(Fault::Client(err)) => {
                            if let Err(e) = conn.send_text(aisoc::error(&err)).await { return ended(e); }
                        }
                        Err(Fault::Ended(e)) => return ended(e),
                        Err(Fault::Log) => return (Some(CloseCode(1011)), "event log unavailable"),
                    }
                }
                n = queue.recv_many(&mut batch, BATCH) => {
                    if n == 0 { return (Some(CloseCode::GOING_AWAY), ""); }
                    let subs = &self.subs;
                    let frames: Vec<_> = batch
                        .drain(..)
                        .filter(|d| subs.wants(&d.channel, d.seq()))
                        .map(|d| d.frame(Dialect::Aisoc).clone())
                        .collect();
                    let sent = frames.len() as u64;
                    if let Err(e) = conn.send_batch(frames).await { return ended(e); }
                    self.state.metrics.frames_sent.inc_by(sent);
                }
            }
        }
    }

    async fn on_text(&mut self, conn: &mut WsConn, text: &str) -> Result<(), Fault> {
        match aisoc::parse_client(text).map_err(Fault::Client)? {
            ClientMsg::Pong => Ok(()),
            ClientMsg::Unsubscribe { channel } => {
                self.subs.unsubscribe(&channel);
                self.registration
                    .set_interest(&self.subs.interest_with(None));
                self.set_sub_gauge(self.subs.count());
                conn.send_text(aisoc::unsubscribed(&channel))
                    .await
                    .map_err(Fault::Ended)
            }
            ClientMsg::Subscribe {
                channel,
                since,
                epoch,
            } => {
                self.subscribe(
                    conn,
                    channel,
                    since.or(self.default_since),
                    epoch.or_else(|| self.default_epoch.clone()),
                )
                .await
            }
        }
    }

    /// Registers for live events first, then reads the head, acknowledges, replays `(since, head]`
    /// and sets the channel's floor to the head: no gap, no duplicate.
    async fn subscribe(
        &mut self,
        conn: &mut WsConn,
        channel: Channel,
        since: Option<Seq>,
        epoch: Option<String>,
    ) -> Result<(), Fault> {
        if !channel.is_all() && !self.subs.allowed(&channel) {
            return Err(Fault::Client(ClientError {
                code: ErrorCode::ForbiddenChannel,
                message: format!("channel {channel} is not allowed by the token"),
            }));
        }
        self.registration
            .set_interest(&self.subs.interest_with(Some(&channel)));
        let head = self
            .state
            .log
            .head(&self.tenant)
            .await
            .map_err(|_| Fault::Log)?;
        let mut truncated = false;
        let mut after = since;
        if let Some(since) = since {
            let epoch_mismatch = epoch.is_some() && epoch != head.epoch;
            if epoch_mismatch || (since + 1 < head.first_retained && since < head.seq) {
                truncated = true;
                after = Some(head.first_retained.saturating_sub(1));
            }
        }
        let ack = aisoc::subscribed(&channel, head.seq, head.epoch.as_deref(), truncated);
        conn.send_text(ack).await.map_err(Fault::Ended)?;
        if let Some(after) = after {
            self.replay(conn, &channel, after, head.seq).await?;
        }
        self.subs.subscribe(&channel, head.seq, after.is_some());
        self.registration
            .set_interest(&self.subs.interest_with(None));
        self.set_sub_gauge(self.subs.count());
        Ok(())
    }

    async fn replay(
        &mut self,
        conn: &mut WsConn,
        channel: &Channel,
        mut after: Seq,
        upto: Seq,
    ) -> Result<(), Fault> {
        let filter = (!channel.is_all()).then_some(channel);
        while after < upto {
            let page = self
                .state
                .log
                .read(&self.tenant, after, upto, filter, REPLAY_PAGE)
                .await
                .map_err(|_| Fault::Log)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() == REPLAY_PAGE;
            let frames: Vec<_> = page
                .into_iter()
                .filter_map(Delivery::new)
                .filter(|d| self.subs.allowed(&d.channel))
                .map(|d| d.frame(Dialect::Aisoc).clone())
                .collect();
            let n = frames.len() as u64;
            conn.send_batch(frames).await.map_err(Fault::Ended)?;
            self.state.metrics.events_replayed.inc_by(n);
            self.state.metrics.frames_sent.inc_by(n);
            if !full {
                break;
            }
        }
        Ok(())
    }

    fn set_sub_gauge(&mut self, now: usize) {
        let delta = now as i64 - self.counted_subs as i64;
        self.state.metrics.subscriptions.inc_by(delta);
        self.counted_subs = now;
    }
}

enum Fault {
    Client(ClientError),
    Ended(Ended),
    Log,
}
