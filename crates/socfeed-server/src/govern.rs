//! The GOVERN feed on `GET /v1/soc/feed` (WebSocket): every channel by default, narrowed by
//! filters; a `feed.replay` first when the client resumes; `feed.heartbeat` pings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use socfeed_proto::govern::{self, ClientMsg};
use socfeed_proto::{Channel, CloseCode, Filters, TenantId};

use crate::admit::{self, Admitted, Refusal};
use crate::delivery::{Delivery, Dialect};
use crate::feed::{self, FeedRequest};
use crate::hub::Registration;
use crate::session::{self, Fault, Protocol};
use crate::state::AppState;
use crate::subscriptions::Subscriptions;
use crate::ws::{ServerSocket, Upgrade, WsConn};

pub async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Upgrade,
) -> Response {
    let (admitted, source) = admit::admit(&state, &headers, &query, peer.ip());
    let request = FeedRequest::parse(&query, &headers, state.config.replay_window);
    let limit = state.config.max_message_size;
    ws.on_upgrade(crate::aisoc::subprotocol(source), limit, move |socket| {
        run(socket, state, admitted, request)
    })
}

async fn run(
    socket: ServerSocket,
    state: Arc<AppState>,
    admitted: Result<Admitted, Refusal>,
    request: FeedRequest,
) {
    let Some(session::Opened {
        mut conn,
        claims,
        tenant,
        registration,
        queue,
        held: _held,
    }) = Box::pin(session::open(socket, &state, admitted)).await
    else {
        return;
    };
    let mut session = Session {
        tenant,
        filters: request.filters.clone().unwrap_or_default(),
        subs: Subscriptions::new(&claims),
    };
    let all = Channel::parse(socfeed_proto::channel::ALL)
        .unwrap_or_else(|_| unreachable!("`all` is a valid name"));
    state.metrics.subscriptions.inc();
    let started = Box::pin(start(
        &state,
        &mut conn,
        &mut session,
        &registration,
        &all,
        &request,
    ))
    .await;
    let (code, reason) = match started {
        Ok(()) => session::drive(&mut session, &mut conn, queue, &state, claims.exp).await,
        Err(Fault::Ended(e)) => (e.close_code(), ""),
        Err(_) => (Some(CloseCode(1011)), "event log unavailable"),
    };
    state.metrics.subscriptions.dec();
    drop(registration);
    if let Some(code) = code {
        Box::pin(conn.close(code, reason)).await;
    }
}

/// Reports request errors, sends the replay when the client resumes, registers for live
/// events and sets the seam floor.
async fn start(
    state: &AppState,
    conn: &mut WsConn,
    session: &mut Session,
    registration: &Registration,
    all: &Channel,
    request: &FeedRequest,
) -> Result<(), Fault> {
    let now = socfeed_log::now_ms();
    for err in &request.errors {
        conn.send_text(govern::error("bad_request", err, now))
            .await?;
    }
    let interest = session.subs.interest_with(Some(all));
    let Some(cursor) = &request.cursor else {
        let head = feed::register_live(&state.log, &session.tenant, registration, &interest)
            .await
            .map_err(|_| Fault::Log)?;
        session.subs.subscribe(all, head.seq);
        return Ok(());
    };
    let tenant = session.tenant.clone();
    let mut replay = feed::Replay::start(state, &tenant, registration, interest, cursor)
        .await
        .map_err(|_| Fault::Log)?;
    let mut builder = govern::ReplayBuilder::new(
        replay.from_ms,
        now,
        replay.plan.truncated,
        replay.epoch.as_deref(),
        state.config.max_frame_size,
    );
    let mut sent = 0u64;
    while let Some(page) = replay.next_page().await.map_err(|_| Fault::Log)? {
        let full_page = page.len() >= state.config.replay_batch;
        for d in page
            .iter()
            .filter(|d| session.subs.allowed(&d.channel) && session.matches(d))
        {
            sent += 1;
            if let Some(part) = builder.push(d.frame(Dialect::Govern), socfeed_log::now_ms()) {
                conn.send_text(part).await?;
            }
        }
        // A part per full log page: a client far behind sees progress at once.
        if full_page && let Some(part) = builder.flush(socfeed_log::now_ms()) {
            conn.send_text(part).await?;
        }
    }
    conn.send_text(builder.finish(socfeed_log::now_ms()))
        .await?;
    state.metrics.events_replayed.inc_by(sent);
    session.subs.subscribe(all, replay.floor());
    Ok(())
}

struct Session {
    tenant: TenantId,
    filters: Filters,
    subs: Subscriptions,
}

impl Session {
    fn matches(&self, d: &Delivery) -> bool {
        self.filters.matches(&d.event.event_type, &d.fields)
    }
}

impl Protocol for Session {
    fn heartbeat(&self, now_ms: i64) -> String {
        govern::heartbeat(now_ms)
    }

    fn error(&self, code: &str, message: &str) -> String {
        govern::error(code, message, socfeed_log::now_ms())
    }

    async fn on_text(&mut self, conn: &mut WsConn, text: &str) -> Result<(), Fault> {
        match govern::parse_client(text).map_err(|m| Fault::client("bad_request", m))? {
            ClientMsg::Pong => Ok(()),
            ClientMsg::Subscribe { filters } => {
                self.filters = filters;
                Ok(conn
                    .send_text(govern::subscribed(&self.filters, socfeed_log::now_ms()))
                    .await?)
            }
        }
    }

    fn frame<'d>(&self, d: &'d Delivery) -> Option<&'d str> {
        (self.subs.wants(&d.channel, d.seq()) && self.matches(d)).then(|| d.frame(Dialect::Govern))
    }
}
