//! `POST /v1/tickets`: a subscriber trades its Bearer token for a single-use ticket valid 30 s (less
//! when the token expires sooner), accepted as `?ticket=` by `/ws`, `/v1/soc/feed` and
//! `/v1/soc/feed/sse`.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use socfeed_proto::Role;

use super::auth;
use crate::state::AppState;

pub(crate) async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let token = auth::find_token(&headers, None).map(|(t, _)| t);
    let principal =
        match auth::authenticate(&state.verifier(), &state.metrics, token, Role::Subscriber) {
            Ok(p) => p,
            Err(d) => {
                let client = super::client_ip(peer, &headers, &state.config.trusted_proxies);
                state.audit.refused("ticket", d.message(), None, client);
                let code = if d.status() == StatusCode::FORBIDDEN {
                    "forbidden"
                } else {
                    "unauthorized"
                };
                return (
                    d.status(),
                    Json(json!({"error": code, "message": d.message()})),
                )
                    .into_response();
            }
        };
    match state.tickets.issue(principal.claims, Instant::now()) {
        Ok((ticket, life)) => (
            StatusCode::CREATED,
            Json(json!({"ticket": ticket, "expires_in": life.as_secs()})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": "rate_limited", "message": e.to_string()})),
        )
            .into_response(),
    }
}
