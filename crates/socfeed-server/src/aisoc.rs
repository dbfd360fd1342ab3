//! The AiSOC session on `GET /ws`: channel subscriptions with `since` replay, pings, and the
//! events of the tenant's subscribed channels.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use socfeed_proto::aisoc::{self, ClientError, ClientMsg, ErrorCode};
use socfeed_proto::{Channel, Seq, TenantId};

use crate::admit::{self, Admitted, Refusal};
use crate::auth::TokenSource;
use crate::delivery::{Delivery, Dialect};
use crate::hub::Registration;
use crate::replay::{self, Cursor};
use crate::session::{self, Fault, Protocol};
use crate::state::AppState;
use crate::subscriptions::Subscriptions;
use crate::ws::{ServerSocket, Upgrade, WsConn};

/// `GET /ws`: upgrades first (browsers cannot read a refused upgrade's status), then closes with
/// 4001/4003 when the token does not hold.
pub async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Upgrade,
) -> Response {
    let (admitted, source) = admit::admit(&state, &headers, &query, peer.ip());
    let defaults = UrlDefaults {
        since: query
            .get("since")
            .map(|s| s.parse::<Seq>().map_err(|_| s.clone())),
        epoch: query.get("epoch").cloned(),
    };
    let limit = state.config.max_message_size;
    ws.on_upgrade(subprotocol(source), limit, move |socket| {
        run(socket, state, admitted, defaults)
    })
}

/// The `bearer` subprotocol is selected when the token came that way (browsers drop a
/// connection whose offered subprotocol the server does not select).
pub fn subprotocol(source: Option<TokenSource>) -> Option<&'static str> {
    (source == Some(TokenSource::Subprotocol)).then_some("bearer")
}

/// `?since=` and `?epoch=` from the URL: defaults for every subscribe of the connection.
struct UrlDefaults {
    since: Option<Result<Seq, String>>,
    epoch: Option<String>,
}

async fn run(
    socket: ServerSocket,
    state: Arc<AppState>,
    admitted: Result<Admitted, Refusal>,
    defaults: UrlDefaults,
) {
    let Some(session::Opened {
        mut conn,
        claims: principal,
        tenant,
        registration,
        queue,
        held: _held,
    }) = Box::pin(session::open(socket, &state, admitted)).await
    else {
        return;
    };
    let mut session = Session {
        state: Arc::clone(&state),
        subs: Subscriptions::new(&principal),
        tenant,
        registration,
        default_since: None,
        default_epoch: defaults.epoch,
        counted_subs: 0,
    };
    let mut early = Ok(());
    match defaults.since {
        Some(Ok(s)) => session.default_since = Some(s),
        Some(Err(bad)) => {
            early = Err(ClientError {
                code: ErrorCode::BadRequest,
                message: format!(
                    "`since` in the URL must be a non-negative integer (got {bad:?}); ignored"
                ),
            })
        }
        None => {}
    }
    let (code, reason) = match early {
        Err(err) => match Box::pin(conn.send_text(aisoc::error(&err))).await {
            Ok(()) => session::drive(&mut session, &mut conn, queue, &state, principal.exp).await,
            Err(e) => (e.close_code(), ""),
        },
        Ok(()) => session::drive(&mut session, &mut conn, queue, &state, principal.exp).await,
    };
    session.set_sub_gauge(0);
    // Leave the hub before the (possibly slow) close handshake.
    drop(session);
    if let Some(code) = code {
        Box::pin(conn.close(code, reason)).await;
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

impl Protocol for Session {
    fn heartbeat(&self, now_ms: i64) -> String {
        aisoc::ping(now_ms)
    }

    fn error(&self, code: &str, message: &str) -> String {
        aisoc::error_message(code, message)
    }

    async fn on_text(&mut self, conn: &mut WsConn, text: &str) -> Result<(), Fault> {
        let msg =
            aisoc::parse_client(text).map_err(|e| Fault::client(e.code.as_str(), e.message))?;
        match msg {
            ClientMsg::Pong => Ok(()),
            ClientMsg::Unsubscribe { channel } => {
                self.subs.unsubscribe(&channel);
                self.registration
                    .set_interest(&self.subs.interest_with(None));
                self.set_sub_gauge(self.subs.count());
                Ok(conn.send_text(aisoc::unsubscribed(&channel)).await?)
            }
            ClientMsg::Subscribe {
                channel,
                since,
                epoch,
            } => {
                let since = since.or(self.default_since);
                let epoch = epoch.or_else(|| self.default_epoch.clone());
                self.subscribe(conn, channel, since, epoch).await
            }
        }
    }

    fn frame<'d>(&self, d: &'d Delivery) -> Option<&'d str> {
        self.subs
            .wants(&d.channel, d.seq())
            .then(|| d.frame(Dialect::Aisoc))
    }
}

impl Session {
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
            return Err(Fault::client(
                ErrorCode::ForbiddenChannel.as_str(),
                format!("channel {channel} is not allowed by the token"),
            ));
        }
        let limit = self.state.config.max_subscriptions;
        if !self.subs.has(&channel) && self.subs.count() >= limit {
            return Err(Fault::client(
                "too_many_subscriptions",
                format!("at most {limit} subscriptions per connection"),
            ));
        }
        // A channel this connection already receives is not replayed again (at most once).
        let covered = if channel.is_all() {
            self.subs.has(&channel)
        } else {
            self.subs.covers(&channel)
        };
        let state = Arc::clone(&self.state);
        let tenant = self.tenant.clone();
        let log = &state.log;
        let Some(since) = since.filter(|_| !covered) else {
            // Register first, then read the head: live events above it follow the ack.
            self.registration
                .set_interest(&self.subs.interest_with(Some(&channel)));
            let head = log.head(&tenant).await.map_err(|_| Fault::Log)?;
            conn.send_text(aisoc::subscribed(
                &channel,
                head.seq,
                head.epoch.as_deref(),
                false,
            ))
            .await?;
            self.subs.subscribe(&channel, head.seq);
            self.registration
                .set_interest(&self.subs.interest_with(None));
            self.set_sub_gauge(self.subs.count());
            return Ok(());
        };
        let head = log.head(&tenant).await.map_err(|_| Fault::Log)?;
        let plan = replay::plan(
            log,
            &tenant,
            &head,
            &Cursor::Seq { since, epoch },
            socfeed_log::now_ms(),
        )
        .await
        .map_err(|_| Fault::Log)?;
        conn.send_text(aisoc::subscribed(
            &channel,
            head.seq,
            head.epoch.as_deref(),
            plan.truncated,
        ))
        .await?;
        let filter = (!channel.is_all()).then_some(&channel);
        let mut reader = replay::Reader::new(
            log,
            &state.hub.recent,
            &tenant,
            filter,
            &plan,
            state.config.replay_batch,
        );
        // Catch up from the log while far behind, so live events cannot overflow the queue
        // during a long replay; then register, read the head once more and replay the rest.
        let slack = (state.config.queue_len / 2) as u64;
        loop {
            send_replay(&self.subs, &state, conn, &mut reader).await?;
            if !reader.fell_behind(slack).await.map_err(|_| Fault::Log)? {
                break;
            }
        }
        self.registration
            .set_interest(&self.subs.interest_with(Some(&channel)));
        let head = log.head(&tenant).await.map_err(|_| Fault::Log)?;
        reader.extend_to(head.seq);
        send_replay(&self.subs, &state, conn, &mut reader).await?;
        self.subs.subscribe(&channel, head.seq);
        self.registration
            .set_interest(&self.subs.interest_with(None));
        self.set_sub_gauge(self.subs.count());
        Ok(())
    }

    fn set_sub_gauge(&mut self, now: usize) {
        let delta = now as i64 - self.counted_subs as i64;
        self.state.metrics.subscriptions.inc_by(delta);
        self.counted_subs = now;
    }
}

/// Sends what `reader` has left, skipping channels the connection already receives.
async fn send_replay(
    subs: &Subscriptions,
    state: &AppState,
    conn: &mut WsConn,
    reader: &mut replay::Reader<'_>,
) -> Result<(), Fault> {
    while let Some(page) = reader.next_page().await.map_err(|_| Fault::Log)? {
        let n = conn
            .send_deliveries(&page, |d| {
                (subs.allowed(&d.channel) && !subs.covers(&d.channel))
                    .then(|| d.frame(Dialect::Aisoc))
            })
            .await?;
        state.metrics.events_replayed.inc_by(n);
        state.metrics.frames_sent.inc_by(n);
    }
    Ok(())
}
