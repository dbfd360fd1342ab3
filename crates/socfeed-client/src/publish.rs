//! `POST /v1/events` over HTTP: a batch in, the typed `202` reply (or a typed refusal) out.

use std::time::Duration;

use serde::Serialize;
use socfeed_proto::publish::{ErrorReply, PublishReply};
use url::Url;

use crate::endpoint;
use crate::error::PublishError;
use crate::token::Tokens;

/// One event to publish (`type` and `payload` required; the rest optional, see PROTOCOL §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// A publisher-chosen id makes retries safe: a repeat is stored once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Event time, unix milliseconds; the server's clock when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, payload: serde_json::Value) -> NewEvent {
        NewEvent {
            event_type: event_type.into(),
            payload,
            tenant_id: None,
            id: None,
            ts: None,
        }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> NewEvent {
        self.id = Some(id.into());
        self
    }
}

/// Publishes batches to one server.
#[derive(Debug, Clone)]
pub struct Publisher {
    http: reqwest::Client,
    url: Url,
    tokens: Tokens,
}

impl Publisher {
    /// A publisher for the server at `base_url` (`http://host:8086`).
    pub fn new(base_url: &str, tokens: Tokens) -> Result<Publisher, PublishError> {
        let base = endpoint::base(base_url, false).map_err(|reason| PublishError::Url {
            url: base_url.into(),
            reason,
        })?;
        Ok(Publisher {
            http: reqwest::Client::new(),
            url: endpoint::join(&base, "/v1/events"),
            tokens,
        })
    }

    /// Publishes `events` as one all-or-nothing batch (any `Serialize` shaped like an input
    /// event: [`NewEvent`], a `serde_json::Value` …). An empty batch sends nothing.
    pub async fn publish<E: Serialize>(&self, events: &[E]) -> Result<PublishReply, PublishError> {
        if events.is_empty() {
            return Ok(PublishReply {
                accepted: 0,
                events: Vec::new(),
            });
        }
        let token = self.tokens.fetch().await.map_err(PublishError::Token)?;
        let resp = self
            .http
            .post(self.url.clone())
            .bearer_auth(token)
            .json(events)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.text().await?;
        if status == 202 {
            return serde_json::from_str(&body)
                .map_err(|_| PublishError::Unexpected { status, body });
        }
        match serde_json::from_str::<ErrorReply>(&body) {
            Ok(reply) => Err(PublishError::Rejected {
                status,
                reply,
                retry_after,
            }),
            Err(_) => Err(PublishError::Unexpected { status, body }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_event_is_a_valid_input_event() {
        let e = NewEvent::new("alert.created", serde_json::json!({"title": "t"})).with_id("a1");
        let text = serde_json::to_string(&e).unwrap();
        let parsed = socfeed_proto::publish::parse_event(&text).unwrap();
        assert_eq!(parsed.event_type, "alert.created");
        assert_eq!(parsed.id.as_deref(), Some("a1"));
        assert_eq!(
            text,
            r#"{"type":"alert.created","payload":{"title":"t"},"id":"a1"}"#
        );
    }
}
