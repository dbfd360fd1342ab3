//! Ingest: `POST /v1/events` authenticates, decodes and validates the whole batch, appends it
//! to the log (durable before the reply) and replies 202 with each event's id and seq; the demo
//! generator ([`demo`]) appends through the same log.

mod append;
pub(crate) mod demo;

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use socfeed_proto::publish::{
    Acked, BodyError, BodyFormat, ErrorReply, InputEvent, PublishReply, parse_body,
};
use socfeed_proto::{EventDraft, Role};

use crate::access::{self, Principal};
use crate::config::Config;
use crate::state::AppState;

/// A refused publish.
#[derive(Debug)]
pub(crate) struct PublishError {
    status: StatusCode,
    reply: ErrorReply,
    /// Seconds to send as `Retry-After` (429).
    retry_after: Option<u64>,
}

impl PublishError {
    fn new(
        status: StatusCode,
        error: &str,
        message: impl Into<String>,
        index: Option<usize>,
    ) -> PublishError {
        PublishError {
            status,
            reply: ErrorReply {
                error: error.into(),
                message: message.into(),
                index,
            },
            retry_after: None,
        }
    }
}

impl IntoResponse for PublishError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.reply)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

pub(crate) async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PublishReply>), PublishError> {
    let token = access::find_token(&headers, None).map(|(t, _)| t);
    let principal = access::authenticate(&state.verifier(), &state.metrics, token, Role::Publisher)
        .map_err(|d| {
            let client = access::client_ip(peer, &headers, &state.config.trusted_proxies);
            state.audit.refused("publish", d.message(), None, client);
            let code = if d.status() == StatusCode::FORBIDDEN {
                "forbidden"
            } else {
                "unauthorized"
            };
            PublishError::new(d.status(), code, d.message(), None)
        })?;
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if body_timed_out(&rejection) {
            PublishError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {:?} (--body-timeout)",
                    state.config.body_timeout
                ),
                None,
            )
        } else if status == StatusCode::PAYLOAD_TOO_LARGE {
            PublishError::new(
                status,
                "body_too_large",
                format!(
                    "body exceeds the limit of {} bytes",
                    state.config.max_body_size
                ),
                None,
            )
        } else {
            PublishError::new(status, "invalid_body", rejection.body_text(), None)
        }
    })?;
    let format = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct)
            if ct.starts_with("application/x-ndjson") || ct.starts_with("application/ndjson") =>
        {
            BodyFormat::Ndjson
        }
        _ => BodyFormat::Json,
    };
    let inputs = parse_body(&body, format).map_err(|e| match e {
        BodyError::Body(message) => {
            PublishError::new(StatusCode::BAD_REQUEST, "invalid_body", message, None)
        }
        BodyError::Event { index, message } => PublishError::new(
            StatusCode::BAD_REQUEST,
            "invalid_event",
            message,
            Some(index),
        ),
    })?;
    check_shape(&inputs, &state.config)?;
    let publisher = format!("{}|{}", principal.claims.tenant_id, principal.claims.sub);
    if let Err(wait) = state
        .limits
        .publish(&publisher, inputs.len(), Instant::now())
    {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut err = PublishError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "publish rate of {} events/s exceeded; retry in {secs}s",
                state.config.publish_rate
            ),
            None,
        );
        err.retry_after = Some(secs);
        return Err(err);
    }
    let drafts = drafts(&principal, inputs, socfeed_log::now_ms())?;
    let appended = append::append(&state.log, &state.metrics, drafts)
        .await
        .map_err(append_failed)?;
    let events: Vec<Acked> = appended
        .into_iter()
        .map(|a| Acked {
            id: a.id,
            seq: a.seq,
            tenant_id: a.tenant_id,
            duplicate: a.duplicate,
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(PublishReply {
            accepted: events.len(),
            events,
        }),
    ))
}

/// Whether reading the body stopped at the body deadline.
fn body_timed_out(rejection: &BytesRejection) -> bool {
    let mut source = std::error::Error::source(rejection);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Bytes of a frame besides the payload, type, id and tenant, at most (the AiSOC envelope with
/// its seq and RFC 3339 time is the larger).
const FRAME_OVERHEAD: usize = 160;
/// Length of a generated event id (`evt_` + a ULID).
const GENERATED_ID: usize = 30;

/// The largest frame `input` can be encoded into, in either dialect.
fn frame_bound(input: &InputEvent) -> usize {
    input.payload.get().len()
        + input.event_type.len()
        + input.id.as_ref().map_or(GENERATED_ID, String::len)
        + input.tenant_id.as_ref().map_or(64, |t| t.as_str().len())
        + FRAME_OVERHEAD
}

/// Every event's frame within `--max-event-size` and every payload I-JSON within
/// `--max-payload-depth`; the first event that is not gets its index in the 400.
fn check_shape(inputs: &[InputEvent], config: &Config) -> Result<(), PublishError> {
    for (index, input) in inputs.iter().enumerate() {
        let refuse = |message: String| {
            PublishError::new(
                StatusCode::BAD_REQUEST,
                "invalid_event",
                message,
                Some(index),
            )
        };
        if frame_bound(input) > config.max_event_size {
            return Err(refuse(format!(
                "the event is larger than the limit of {} bytes (--max-event-size)",
                config.max_event_size
            )));
        }
        socfeed_proto::ijson::check(input.payload.get(), config.max_payload_depth)
            .map_err(refuse)?;
    }
    Ok(())
}

/// Resolves tenant, id and time of every input; all or nothing.
pub(crate) fn drafts(
    principal: &Principal,
    inputs: Vec<InputEvent>,
    now_ms: i64,
) -> Result<Vec<EventDraft>, PublishError> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| {
            let tenant_id = match (&principal.tenant, input.tenant_id) {
                (None, Some(t)) => t,
                (None, None) => {
                    return Err(PublishError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_event",
                        "`tenant_id` is required when publishing with a \"*\" token",
                        Some(index),
                    ));
                }
                (Some(own), Some(t)) if *own != t => {
                    return Err(PublishError::new(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        format!("the token may not publish to tenant {t}"),
                        Some(index),
                    ));
                }
                (Some(own), _) => own.clone(),
            };
            let id_supplied = input.id.is_some();
            Ok(EventDraft {
                tenant_id,
                id: input.id.unwrap_or_else(new_event_id),
                id_supplied,
                event_type: input.event_type,
                payload: input.payload,
                ts: input.ts.unwrap_or(now_ms),
            })
        })
        .collect()
}

/// `evt_` + a ULID.
pub(crate) fn new_event_id() -> String {
    format!("evt_{}", ulid::Ulid::new())
}

/// The answer to a failed append: always 503 (nothing the publisher can fix), never a 202.
/// An engine out of reach gets `engine_unavailable` with `Retry-After`; an outcome the node
/// cannot know (the engine may have stored the events) is answered the same way, since
/// retrying with the same ids stores them once.
fn append_failed(e: socfeed_log::LogError) -> PublishError {
    if e.is_unreachable() {
        tracing::warn!(error = %crate::report(&e), "append failed: engine unavailable");
        let message = match e.is_uncertain() {
            true => "the engine did not confirm the append; retry with the same ids",
            false => "the engine is unavailable; retry later",
        };
        let mut err = PublishError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine_unavailable",
            message,
            None,
        );
        err.retry_after = Some(1);
        return err;
    }
    tracing::error!(error = %crate::report(&e), "append failed");
    PublishError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the event log is unavailable",
        None,
    )
}
