//! The two client dialects, each written once and run by the session loop on any transport:
//!
//! - [`aisoc`] — AiSOC on `GET /ws`: channel subscriptions with `since` replay.
//! - [`govern`] — GOVERN on `GET /v1/soc/feed` (WebSocket) and `GET /v1/soc/feed/sse` (SSE):
//!   every channel narrowed by filters, a `feed.replay` (or ordinary SSE events) on resume.
//! - [`feed_request`] — what a GOVERN request asks for (filters, cursor).

pub(crate) mod aisoc;
pub(crate) mod feed_request;
pub(crate) mod govern;

pub(crate) use self::feed_request::filters;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use socfeed_proto::{Claims, CloseCode};

use crate::access::{self, Accepted, Admitted, Refusal, TokenSource};
use crate::session::{self, Protocol};
use crate::state::AppState;
use crate::transport::Framing;
use crate::transport::ws::{Upgrade, WsTransport};

/// What every feed route reads of its request: who asks (admission) and what it asks for.
pub(crate) struct FeedRequestParts {
    state: Arc<AppState>,
    query: HashMap<String, String>,
    headers: HeaderMap,
    admitted: Result<Admitted, Refusal>,
    source: Option<TokenSource>,
    /// The request's `Origin` when it is allowed to open a feed (`Ok(None)`: no `Origin`);
    /// `Err` when it is not.
    origin: Result<Option<String>, ()>,
}

impl FromRequestParts<Arc<AppState>> for FeedRequestParts {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<FeedRequestParts, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // A connection the accept loop did not count is counted by address at admission.
        let connection = parts
            .extensions
            .get::<Arc<Accepted>>()
            .cloned()
            .unwrap_or_else(|| Arc::new(Accepted::Proxied));
        Ok(FeedRequestParts::new(
            Arc::clone(state),
            parts.uri.query(),
            parts.headers.clone(),
            peer,
            &connection,
        ))
    }
}

impl FeedRequestParts {
    /// Admits the request of `peer` on `connection`; `raw_query` is the query as sent
    /// (credentials are counted in it, parameters read from it, the last of a repeated one
    /// winning).
    fn new(
        state: Arc<AppState>,
        raw_query: Option<&str>,
        headers: HeaderMap,
        peer: SocketAddr,
        connection: &Arc<Accepted>,
    ) -> FeedRequestParts {
        let query: HashMap<String, String> =
            form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().map(str::to_owned).map_err(|_| ()))
            .transpose()
            .and_then(
                |o| match state.config.allowed_origins.allows(o.as_deref()) {
                    true => Ok(o),
                    false => Err(()),
                },
            );
        let client = access::client_ip(peer, &headers, &state.config.trusted_proxies);
        // A feed from an origin that may not open one is refused before its token is looked at.
        let (admitted, source) = match origin {
            Ok(_) => access::admit(&state, &headers, raw_query, client, connection),
            Err(()) => {
                state.audit.refused("feed", ORIGIN_REFUSED, None, client);
                let refusal = Refusal {
                    code: CloseCode::FORBIDDEN,
                    status: StatusCode::FORBIDDEN,
                    message: ORIGIN_REFUSED.into(),
                };
                (Err(refusal), None)
            }
        };
        FeedRequestParts {
            state,
            query,
            headers,
            admitted,
            source,
            origin,
        }
    }
}

/// The answer to a feed request from an origin that may not open one.
const ORIGIN_REFUSED: &str = "this origin may not open a feed (see --allowed-origins)";

/// Answers a WebSocket feed request: upgrades first (browsers cannot read a refused upgrade's
/// status), then runs the session `make` builds, or closes with the refusal's code.
fn upgrade<P, F>(request: FeedRequestParts, ws: Upgrade, make: F) -> Response
where
    P: Protocol<WsTransport> + 'static,
    F: FnOnce(&Claims, Framing) -> P + Send + 'static,
{
    let FeedRequestParts {
        state,
        admitted,
        source,
        origin,
        ..
    } = request;
    if origin.is_err() {
        return (StatusCode::FORBIDDEN, format!("{ORIGIN_REFUSED}\n")).into_response();
    }
    let limit = state.config.max_message_size;
    let (stall, grace) = (stall(&state), close_grace(&state));
    ws.on_upgrade(access::subprotocol(source), limit, move |socket| {
        session::open(
            WsTransport::new(socket, stall, grace),
            state,
            admitted,
            make,
        )
    })
}

/// How long a write may make no progress before the session is dropped as a slow consumer:
/// two heartbeat intervals.
fn stall(state: &AppState) -> Duration {
    state.config.heartbeat_interval * 2
}

/// How long a close may wait behind a full socket: the heartbeat interval, at least 5 s.
fn close_grace(state: &AppState) -> Duration {
    state.config.heartbeat_interval.max(Duration::from_secs(5))
}
