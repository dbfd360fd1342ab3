//! The AiSOC dialect (`GET /ws`): client messages in, envelopes and control messages out.
//!
//! Out: `{"type","payload","tenant_id","ts"(RFC 3339),"id","seq"}` for events;
//! `{"type":"subscribed"|"unsubscribed"|"error"|"ping", ...}` for control.

use serde::Deserialize;
use serde_json::Value;

use crate::channel::Channel;
use crate::event::{Event, Seq};
use crate::timefmt;

/// A message from an AiSOC client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    Subscribe {
        channel: Channel,
        since: Option<Seq>,
        epoch: Option<String>,
    },
    Unsubscribe {
        channel: Channel,
    },
    Pong,
}

/// Error codes of `{"type":"error","payload":{"code",...}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    UnknownType,
    InvalidChannel,
    ForbiddenChannel,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidChannel => "invalid_channel",
            ErrorCode::ForbiddenChannel => "forbidden_channel",
        }
    }
}

/// Why a client message was refused; sent back as an `error` message, the connection stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub code: ErrorCode,
    pub message: String,
}

impl ClientError {
    fn new(code: ErrorCode, message: impl Into<String>) -> ClientError {
        ClientError {
            code,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: Option<Value>,
    channel: Option<Value>,
    since: Option<Value>,
    epoch: Option<Value>,
}

/// Parses one text frame from a client.
pub fn parse_client(text: &str) -> Result<ClientMsg, ClientError> {
    // A derived struct also reads a JSON array (`["pong",null,null,null]`); only an object is a
    // message.
    if !starts_object(text) {
        return Err(ClientError::new(ErrorCode::BadRequest, "not a JSON object"));
    }
    let w: Wire = serde_json::from_str(text)
        .map_err(|e| ClientError::new(ErrorCode::BadRequest, format!("not a JSON object: {e}")))?;
    let kind = match w.kind {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ClientError::new(
                ErrorCode::BadRequest,
                "`type` must be a string",
            ));
        }
        None => {
            return Err(ClientError::new(
                ErrorCode::BadRequest,
                "missing field `type`",
            ));
        }
    };
    let channel = || -> Result<Channel, ClientError> {
        match &w.channel {
            Some(Value::String(s)) => Channel::parse(s).map_err(|e| {
                ClientError::new(
                    ErrorCode::InvalidChannel,
                    format!("invalid channel {s:?}: {e}"),
                )
            }),
            Some(_) => Err(ClientError::new(
                ErrorCode::InvalidChannel,
                "`channel` must be a string",
            )),
            None => Err(ClientError::new(
                ErrorCode::BadRequest,
                "missing field `channel`",
            )),
        }
    };
    match kind.as_str() {
        "subscribe" => {
            let since = match &w.since {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    ClientError::new(
                        ErrorCode::BadRequest,
                        "`since` must be a non-negative integer",
                    )
                })?),
            };
            let epoch = match &w.epoch {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(ClientError::new(
                        ErrorCode::BadRequest,
                        "`epoch` must be a string",
                    ));
                }
            };
            Ok(ClientMsg::Subscribe {
                channel: channel()?,
                since,
                epoch,
            })
        }
        "unsubscribe" => Ok(ClientMsg::Unsubscribe {
            channel: channel()?,
        }),
        "pong" => Ok(ClientMsg::Pong),
        other => Err(ClientError::new(
            ErrorCode::UnknownType,
            format!("unknown message type {other:?} (expected subscribe, unsubscribe or pong)"),
        )),
    }
}

/// `true` when the first JSON token of `text` (after JSON whitespace only) opens an object.
pub(crate) fn starts_object(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    // Serialising a `&str` cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// Encodes an event as an AiSOC frame. Called once per event; the bytes are shared by every session.
pub fn encode_event(e: &Event) -> String {
    let payload = e.payload.get();
    let mut out = String::with_capacity(payload.len() + e.event_type.len() + e.id.len() + 128);
    out.push_str("{\"type\":");
    push_json_str(&mut out, &e.event_type);
    out.push_str(",\"payload\":");
    out.push_str(payload);
    out.push_str(",\"tenant_id\":");
    push_json_str(&mut out, e.tenant_id.as_str());
    out.push_str(",\"ts\":\"");
    timefmt::write_rfc3339_millis(&mut out, e.ts);
    out.push_str("\",\"id\":");
    push_json_str(&mut out, &e.id);
    out.push_str(",\"seq\":");
    out.push_str(&e.seq.to_string());
    out.push('}');
    out
}

fn control(kind: &str, payload: Value) -> String {
    serde_json::json!({"type": kind, "payload": payload}).to_string()
}

/// `{"type":"subscribed","payload":{"channel","seq","epoch","truncated"?}}`
pub fn subscribed(channel: &Channel, head: Seq, epoch: Option<&str>, truncated: bool) -> String {
    let mut p = serde_json::json!({"channel": channel.as_str(), "seq": head, "epoch": epoch});
    if truncated {
        p["truncated"] = Value::Bool(true);
    }
    control("subscribed", p)
}

/// `{"type":"unsubscribed","payload":{"channel"}}`
pub fn unsubscribed(channel: &Channel) -> String {
    control(
        "unsubscribed",
        serde_json::json!({"channel": channel.as_str()}),
    )
}

/// `{"type":"error","payload":{"code","message"}}`
pub fn error(err: &ClientError) -> String {
    error_message(err.code.as_str(), &err.message)
}

/// `{"type":"error","payload":{"code","message"}}` from its parts.
pub fn error_message(code: &str, message: &str) -> String {
    control(
        "error",
        serde_json::json!({"code": code, "message": message}),
    )
}

/// `{"type":"ping","ts":"..."}`
pub fn ping(now_ms: i64) -> String {
    serde_json::json!({"type": "ping", "ts": timefmt::rfc3339_millis(now_ms)}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TenantId;
    use serde_json::json;

    #[test]
    fn parses_client_messages() {
        assert_eq!(
            parse_client(r#"{"type":"subscribe","channel":"alerts","since":41,"epoch":"e1"}"#),
            Ok(ClientMsg::Subscribe {
                channel: Channel::parse("alerts").unwrap(),
                since: Some(41),
                epoch: Some("e1".into())
            })
        );
        assert_eq!(parse_client(r#"{"type":"pong"}"#), Ok(ClientMsg::Pong));
        assert!(matches!(
            parse_client(r#"{"type":"unsubscribe","channel":"all"}"#),
            Ok(ClientMsg::Unsubscribe { .. })
        ));
    }

    #[test]
    fn client_errors_have_codes() {
        let code = |t: &str| parse_client(t).unwrap_err().code;
        assert_eq!(code("not json"), ErrorCode::BadRequest);
        assert_eq!(code("[1]"), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"channel":"alerts"}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"subscribe"}"#), ErrorCode::BadRequest);
        assert_eq!(
            code(r#"{"type":"subscribe","channel":"alerts","since":-1}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(
            code(r#"{"type":"subscribe","channel":"Bad Name"}"#),
            ErrorCode::InvalidChannel
        );
    }

    #[test]
    fn event_frame_shape() {
        let e = Event {
            id: "evt_1".into(),
            seq: 7,
            tenant_id: TenantId::parse("t1").unwrap(),
            event_type: "alert.created".into(),
            payload: serde_json::value::RawValue::from_string(r#"{"title":"a \"b\""}"#.into())
                .unwrap(),
            ts: 1_777_802_400_000,
        };
        let v: Value = serde_json::from_str(&encode_event(&e)).unwrap();
        assert_eq!(
            v,
            json!({"type":"alert.created","payload":{"title":"a \"b\""},"tenant_id":"t1",
                   "ts":"2026-05-03T10:00:00.000Z","id":"evt_1","seq":7})
        );
    }

    /// Found while fuzzing: `govern_client` found `["pong"]` accepted, and this parser had the same
    /// flaw: a derived struct also reads a JSON array positionally, so `["pong",null,null,null]`
    /// was a pong and `["subscribe","alerts",41,"e"]` a subscribe.
    #[test]
    fn only_an_object_is_a_message() {
        for text in [
            r#"["pong",null,null,null]"#,
            r#"["subscribe","alerts",41,"e"]"#,
            r#" ["unsubscribe","alerts",null,null]"#,
        ] {
            assert_eq!(
                parse_client(text).unwrap_err().code,
                ErrorCode::BadRequest,
                "{text}"
            );
        }
        assert_eq!(
            parse_client(" \r\n\t{\"type\":\"pong\"}"),
            Ok(ClientMsg::Pong)
        );
    }
}
