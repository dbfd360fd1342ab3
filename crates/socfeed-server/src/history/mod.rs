//! `GET /v1/events`: a tenant's stored events over HTTP, for a dashboard to draw the last alerts
//! before it subscribes with `since` = the last seq it drew. The token's channel allow-list and
//! the GOVERN filter parameters apply; events are AiSOC envelopes.

mod query;
mod read;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use socfeed_proto::{Channel, Event, aisoc};

use self::query::Query;
use crate::access::{self, Principal};
use crate::state::AppState;

pub(crate) async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let client = access::client_ip(peer, &headers, &state.config.trusted_proxies);
    let (principal, _) = access::authenticate_feed(&state, &headers, raw.as_deref());
    let (claims, tenant) = match principal {
        Ok(Principal {
            claims,
            tenant: Some(tenant),
        }) => (claims, tenant),
        Ok(_) => {
            let message = "a \"*\" token has no history to read";
            state.audit.refused("history", message, None, client);
            return error(StatusCode::FORBIDDEN, "forbidden", message);
        }
        Err(denied) => {
            state
                .audit
                .refused("history", denied.message(), None, client);
            let code = match denied.status() {
                StatusCode::FORBIDDEN => "forbidden",
                _ => "unauthorized",
            };
            return error(denied.status(), code, denied.message());
        }
    };
    let pairs: HashMap<String, String> =
        form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let query = match Query::parse(&pairs) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", &message),
    };
    if let Some(c) = &query.channel
        && !claims.allows_channel(c.as_str())
    {
        let message = format!("this token may not read channel {:?}", c.as_str());
        return error(StatusCode::FORBIDDEN, "forbidden_channel", &message);
    }
    let readable =
        |e: &Event| Channel::of(&e.event_type).is_ok_and(|c| claims.allows_channel(c.as_str()));
    match read::page(&state.log, &tenant, &query, readable).await {
        Ok(page) => reply(&page),
        Err(e) if e.is_unreachable() => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_unavailable",
                "the engine is unavailable; retry later",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(e) => {
            tracing::error!(error = %crate::report(&e), "reading history failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the event log is unavailable",
            )
        }
    }
}

/// `{"events":[AiSOC envelopes],"head":N,"epoch":"…","truncated":bool}`, the envelopes as
/// the feed encodes them.
fn reply(page: &read::Page) -> Response {
    let mut body = String::from("{\"events\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&aisoc::encode_event(e));
    }
    let epoch = serde_json::to_string(&page.head.epoch).unwrap_or_else(|_| "null".into());
    body.push_str(&format!(
        "],\"head\":{},\"epoch\":{epoch},\"truncated\":{}}}",
        page.head.seq, page.truncated
    ));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": code, "message": message});
    (status, axum::Json(body)).into_response()
}
