//! The GOVERN dialect, on `GET /v1/soc/feed` (WebSocket) and `GET /v1/soc/feed/sse` (SSE):
//! every channel by default, narrowed by filters; on resume a `feed.replay` (WebSocket) or the
//! replayed events as ordinary events (SSE); `feed.heartbeat` every interval.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use socfeed_proto::govern::{self, ClientMsg, ReplayBuilder};
use socfeed_proto::{Channel, Claims, Filters};

use super::FeedRequestParts;
use super::feed_request::FeedRequest;
use crate::access::{Accepted, Admitted, Refusal};
use crate::config::Origins;
use crate::fanout::{Delivery, Format};
use crate::session::{
    self, Conn, Cursor, End, Fault, Message, Protocol, Reply, Scope, Seam, Subscriptions,
};
use crate::state::AppState;
use crate::transport::divert;
use crate::transport::sse::body;
use crate::transport::sse::stream::SseStream;
use crate::transport::ws::Upgrade;
use crate::transport::{Framing, Transport};
use tokio::net::TcpStream;

/// `GET /v1/soc/feed`: the feed over WebSocket (refusals close with 4001/4003/4029).
pub(crate) async fn ws_handler(request: FeedRequestParts, ws: Upgrade) -> Response {
    let feed = FeedRequest::parse(
        &request.query,
        &request.headers,
        request.state.config.replay_window,
    );
    super::upgrade(request, ws, move |claims, framing| {
        Govern::new(claims, feed, framing)
    })
}

/// `GET /v1/soc/feed/sse` on a connection hyper serves (kept alive after another request): the
/// feed as Server-Sent Events in the response body (refusals are plain 401/403/429).
pub(crate) async fn sse_handler(request: FeedRequestParts) -> Response {
    match SseStart::admit(request) {
        Ok(start) => body::respond(move |transport| Box::new(start).run(transport)),
        Err(refusal) => (refusal.status, format!("{}\n", refusal.message)).into_response(),
    }
}

/// The `Access-Control-Allow-Origin` of an SSE answer to an allowed `origin` (the CORS layer
/// adds it on the router's routes; a diverted stream gets it here).
fn allow_origin(state: &AppState, origin: Option<&str>) -> Option<String> {
    match (&state.config.allowed_origins, origin) {
        (_, None) => None,
        (Origins::Any, Some(_)) => Some("*".into()),
        (Origins::List(_), Some(o)) => Some(o.to_owned()),
    }
}

/// `GET /v1/soc/feed/sse` as the first request of a connection: the feed as Server-Sent Events
/// on the connection itself, in a task of its own. Admission happens here; the task that runs
/// for the stream's life holds only the connection and the boxed session.
pub(crate) fn sse_stream(
    state: Arc<AppState>,
    head: Parts,
    peer: SocketAddr,
    io: TcpStream,
    connection: &Arc<Accepted>,
) {
    let Parts { uri, headers, .. } = head;
    let request = FeedRequestParts::new(state, uri.query(), headers, peer, connection);
    let (stall, grace) = (
        super::stall(&request.state),
        super::close_grace(&request.state),
    );
    let cors = match &request.origin {
        Ok(origin) => allow_origin(&request.state, origin.as_deref()),
        Err(()) => None,
    };
    match SseStart::admit(request) {
        Ok(start) => {
            let start = Box::new(start);
            tokio::spawn(async move {
                let opened = SseStream::open(io, stall, grace, cors).await;
                if let Ok(transport) = opened {
                    start.run(transport).await;
                }
            });
        }
        Err(refusal) => {
            tokio::spawn(divert::refuse(io, refusal.status, refusal.message));
        }
    }
}

/// An admitted SSE request, ready to run on either SSE transport.
struct SseStart {
    state: Arc<AppState>,
    admitted: Admitted,
    feed: FeedRequest,
}

impl SseStart {
    fn admit(request: FeedRequestParts) -> Result<SseStart, Refusal> {
        let feed = FeedRequest::parse(
            &request.query,
            &request.headers,
            request.state.config.replay_window,
        );
        Ok(SseStart {
            admitted: request.admitted?,
            state: request.state,
            feed,
        })
    }

    /// Boxed, so that a stream's task holds a pointer until the stream starts; the box is freed
    /// here.
    fn run<T: Transport + 'static>(
        self: Box<Self>,
        transport: T,
    ) -> impl Future<Output = ()> + Send {
        let SseStart {
            state,
            admitted,
            feed,
        } = *self;
        session::open(transport, state, Ok(admitted), move |claims, framing| {
            Govern::new(claims, feed, framing)
        })
    }
}

/// A GOVERN session's state.
struct Govern {
    subs: Subscriptions,
    filters: Filters,
    /// The encoding of events for this session's transport.
    format: Format,
    /// The request, until the session starts (boxed: a session holds it only that long).
    request: Option<Box<FeedRequest>>,
}

impl Govern {
    fn new(claims: &Claims, mut request: FeedRequest, framing: Framing) -> Govern {
        Govern {
            subs: Subscriptions::new(claims),
            filters: request.filters.take().unwrap_or_default(),
            format: match framing {
                Framing::WebSocket => Format::Govern,
                Framing::EventStream => Format::GovernSse,
            },
            request: Some(Box::new(request)),
        }
    }

    fn matches(&self, d: &Delivery) -> bool {
        self.filters.matches(&d.event.event_type, &d.fields)
    }

    /// Whether a replayed event is sent: allowed by the token and matching the filters.
    fn replays(&self, d: &Delivery) -> bool {
        self.subs.allowed(&d.channel) && self.matches(d)
    }

    /// The replay as `feed.replay` parts: one per full log page at least, none above the frame
    /// limit, the last with `more: false`.
    async fn replay_parts<T: Transport>(
        &self,
        conn: &mut Conn<T>,
        scope: &Scope,
        seam: &mut Seam<'_>,
        cursor: &Cursor,
    ) -> Result<u64, End> {
        let now = socfeed_log::now_ms();
        let from_ms = match (cursor, seam.plan()) {
            (Cursor::Window(w), _) => {
                now.saturating_sub(i64::try_from(w.as_millis()).unwrap_or(i64::MAX))
            }
            (Cursor::Seq { .. }, plan) => {
                // The cursor event's own time when still retained, else the first replayed one's.
                let at = plan.map_or(0, |p| p.after);
                let first = scope
                    .state
                    .log
                    .read(&scope.tenant, at.saturating_sub(1), at + 1, None, 2)
                    .await?;
                first.first().map_or(now, |e| e.ts)
            }
        };
        let config = &scope.state.config;
        let mut builder = ReplayBuilder::new(
            from_ms,
            now,
            seam.truncated(),
            seam.head().epoch.as_deref(),
            config.max_frame_size,
        );
        let mut sent = 0u64;
        while let Some(page) = seam.next_page().await? {
            let full_page = page.len() >= config.replay_batch;
            for d in page.iter().filter(|d| self.replays(d)) {
                sent += 1;
                if let Some(part) = builder.push(d.frame(Format::Govern), socfeed_log::now_ms()) {
                    conn.send_message("feed.replay", &part).await?;
                }
            }
            // A part per full log page: a client far behind sees progress at once.
            if full_page && let Some(part) = builder.flush(socfeed_log::now_ms()) {
                conn.send_message("feed.replay", &part).await?;
            }
        }
        let last = builder.finish(socfeed_log::now_ms());
        conn.send_message("feed.replay", &last).await?;
        Ok(sent)
    }

    /// The replay as ordinary events (SSE).
    async fn replay_events<T: Transport>(
        &self,
        conn: &mut Conn<T>,
        seam: &mut Seam<'_>,
    ) -> Result<u64, End> {
        let mut sent = 0;
        while let Some(page) = seam.next_page().await? {
            sent += conn
                .send_deliveries(&page, |d| {
                    self.replays(d).then(|| d.frame(Format::GovernSse))
                })
                .await?;
        }
        Ok(sent)
    }
}

impl<T: Transport> Protocol<T> for Govern {
    /// Reports request errors, replays when the client resumes, and registers every channel.
    async fn start(&mut self, conn: &mut Conn<T>, scope: &Scope) -> Result<(), End> {
        scope.state.metrics.subscriptions.inc();
        let request = self.request.take().unwrap_or_default();
        let now = socfeed_log::now_ms();
        for err in &request.errors {
            let error = govern::error("bad_request", err, now);
            conn.send_message("error", error.as_bytes()).await?;
        }
        let all = Channel::all();
        let interest = self.subs.interest_with(Some(&all));
        let cursor = request.cursor.as_ref();
        let mut seam = Seam::open(scope, interest, cursor, None).await?;
        if let Some(cursor) = cursor {
            let sent = match conn.framing() {
                Framing::WebSocket => self.replay_parts(conn, scope, &mut seam, cursor).await?,
                Framing::EventStream => self.replay_events(conn, &mut seam).await?,
            };
            let metrics = &scope.state.metrics;
            metrics.events_replayed.inc_by(sent);
            metrics.frames_sent.inc_by(sent);
        }
        self.subs.subscribe(&all, seam.floor());
        Ok(())
    }

    fn heartbeat(&self, now_ms: i64) -> Message {
        ("feed.heartbeat", govern::heartbeat(now_ms))
    }

    fn error(&self, code: &str, message: &str) -> String {
        govern::error(code, message, socfeed_log::now_ms())
    }

    async fn on_text(&mut self, conn: &mut Conn<T>, _: &Scope, text: &str) -> Reply {
        match govern::parse_client(text).map_err(|m| Fault::client("bad_request", m))? {
            ClientMsg::Pong => Ok(()),
            ClientMsg::Subscribe { filters } => {
                self.filters = filters;
                let ack = govern::subscribed(&self.filters, socfeed_log::now_ms());
                Ok(conn.send_message("feed.subscribed", ack.as_bytes()).await?)
            }
        }
    }

    fn frame<'d>(&self, d: &'d Delivery) -> Option<&'d Bytes> {
        (self.subs.wants(&d.channel, d.seq()) && self.matches(d)).then(|| d.frame(self.format))
    }

    fn ended(&mut self, scope: &Scope) {
        scope.state.metrics.subscriptions.dec();
    }
}
