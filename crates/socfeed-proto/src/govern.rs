//! The GOVERN dialect (`/v1/soc/feed`, WebSocket and SSE): `{"event","data","ts"(unix ms),"id","seq"}`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::aisoc::push_json_str;
use crate::event::Event;
use crate::filter::Filters;

/// A message from a GOVERN client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// Replace the session's filters.
    Subscribe { filters: Filters },
    /// Any frame counts as alive; an explicit pong is accepted too.
    Pong,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    action: String,
    #[serde(default)]
    filters: Option<Filters>,
}

/// Parses one text frame; the error text is sent back in an `error` event.
pub fn parse_client(text: &str) -> Result<ClientMsg, String> {
    let w: Wire = serde_json::from_str(text).map_err(|e| format!("invalid message: {e}"))?;
    match w.action.as_str() {
        "subscribe" => Ok(ClientMsg::Subscribe {
            filters: w.filters.unwrap_or_default(),
        }),
        "pong" => Ok(ClientMsg::Pong),
        other => Err(format!("unknown action {other:?} (expected subscribe)")),
    }
}

/// Encodes an event as a GOVERN envelope. Called once per event; shared by every session.
pub fn encode_event(e: &Event) -> Bytes {
    let payload = e.payload.get();
    let mut out = Vec::with_capacity(payload.len() + e.event_type.len() + e.id.len() + 80);
    out.extend_from_slice(b"{\"event\":");
    push_json_str(&mut out, &e.event_type);
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(e.ts.to_string().as_bytes());
    out.extend_from_slice(b",\"id\":");
    push_json_str(&mut out, &e.id);
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(e.seq.to_string().as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// A control message: `{"event": kind, "data": data, "ts": now_ms}`.
pub fn control(kind: &str, data: Value, now_ms: i64) -> String {
    serde_json::json!({"event": kind, "data": data, "ts": now_ms}).to_string()
}

/// `feed.subscribed` acknowledging the filters now in force.
pub fn subscribed(filters: &Filters, now_ms: i64) -> String {
    control(
        "feed.subscribed",
        serde_json::json!({ "filters": filters }),
        now_ms,
    )
}

/// `feed.heartbeat`.
pub fn heartbeat(now_ms: i64) -> String {
    control("feed.heartbeat", serde_json::json!({}), now_ms)
}

/// `error` with a code and a message; the connection stays.
pub fn error(code: &str, message: &str, now_ms: i64) -> String {
    control(
        "error",
        serde_json::json!({"code": code, "message": message}),
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TenantId;
    use serde_json::json;

    #[test]
    fn seed_subscribe_parses() {
        let m = parse_client(r#"{"action":"subscribe","filters":{"severities":["critical","high"],"types":["policy_violation","security_event"],"systems":["customer-support-bot","document-analyzer"]}}"#).unwrap();
        let ClientMsg::Subscribe { filters } = m else {
            panic!()
        };
        assert_eq!(filters.severities, ["critical", "high"]);
        assert!(parse_client(r#"{"action":"dance"}"#).is_err());
        assert!(parse_client(r#"{"action":"subscribe","filters":{"severity":["x"]}}"#).is_err());
    }

    #[test]
    fn envelope_shape() {
        let e = Event {
            id: "evt_1".into(),
            seq: 3,
            tenant_id: TenantId::parse("t").unwrap(),
            event_type: "alert.new".into(),
            payload: serde_json::value::RawValue::from_string(r#"{"severity":"high"}"#.into())
                .unwrap(),
            ts: 1_744_123_456_789,
        };
        let v: Value = serde_json::from_slice(&encode_event(&e)).unwrap();
        assert_eq!(
            v,
            json!({"event":"alert.new","data":{"severity":"high"},"ts":1744123456789u64,"id":"evt_1","seq":3})
        );
    }
}
