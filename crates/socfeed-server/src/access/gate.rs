//! The door: every TCP connection is placed in its address's count the moment it is accepted
//! (see [`super::limits::Limits::accept`]), before it has sent a byte; connections of an address
//! at its limit are only told so, and beyond a few of those, closed at once.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::limits::{Accepted, LimitError};
use crate::state::AppState;

/// Decides what a just-accepted connection is.
pub(crate) struct Gate(Arc<AppState>);

impl Gate {
    pub(crate) fn new(state: Arc<AppState>) -> Gate {
        Gate(state)
    }

    /// The connection's place in its address's count; `None`: close it now.
    pub(crate) fn accept(&self, peer: SocketAddr) -> Option<Arc<Accepted>> {
        let ip = peer.ip().to_canonical();
        let state = &self.0;
        let proxy = state
            .config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&ip));
        let accepted = state.limits.accept(ip, proxy);
        if !matches!(accepted, Some(Accepted::Counted { .. } | Accepted::Proxied)) {
            let limit = LimitError::Ip(state.config.max_connections_per_ip).to_string();
            state.audit.refused("connection", &limit, None, ip);
        }
        accepted.map(Arc::new)
    }
}

/// Routes whose handlers answer an over-limit connection themselves (a WebSocket feed closes
/// with 4029 after the upgrade, so that browsers can read why).
const FEEDS: [&str; 3] = ["/ws", "/v1/soc/feed", "/v1/soc/feed/sse"];

/// Middleware: a request on a connection over its address's limit gets 429 (and the connection
/// is closed), except on the feed routes, whose admission refuses it in its own terms.
pub(crate) async fn refuse_over_limit(request: Request, next: Next) -> Response {
    let over = match request.extensions().get::<Arc<Accepted>>().map(|a| &**a) {
        Some(Accepted::Over { limit, .. }) => Some(*limit),
        _ => None,
    };
    match over {
        Some(limit) if !FEEDS.contains(&request.uri().path()) => {
            let body = serde_json::json!({
                "error": "too_many_connections",
                "message": LimitError::Ip(limit).to_string(),
            });
            let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        _ => next.run(request).await,
    }
}
