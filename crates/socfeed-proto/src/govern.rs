//! The GOVERN dialect (`/v1/soc/feed`, WebSocket and SSE): `{"event","data","ts"(unix ms),"id","seq"}`.

use serde::Deserialize;
use serde_json::Value;

use crate::aisoc::{push_json_str, starts_object};
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
    // A derived struct also reads a JSON array (`["pong"]`); only an object is a message.
    if !starts_object(text) {
        return Err("invalid message: not a JSON object".into());
    }
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
pub fn encode_event(e: &Event) -> String {
    let payload = e.payload.get();
    let mut out = String::with_capacity(payload.len() + e.event_type.len() + e.id.len() + 80);
    out.push_str("{\"event\":");
    push_json_str(&mut out, &e.event_type);
    out.push_str(",\"data\":");
    out.push_str(payload);
    out.push_str(",\"ts\":");
    out.push_str(&e.ts.to_string());
    out.push_str(",\"id\":");
    push_json_str(&mut out, &e.id);
    out.push_str(",\"seq\":");
    out.push_str(&e.seq.to_string());
    out.push('}');
    out
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

/// Builds `feed.replay` messages of at most `max` bytes each, in order:
/// `{"event":"feed.replay","data":{"from","to","events":[...],"truncated","epoch","more"},"ts"}`.
/// `more: true` says another `feed.replay` part follows; the last part has `more: false`.
/// An event larger than `max` on its own still gets a part of its own.
pub struct ReplayBuilder {
    head: String,
    events: Vec<u8>,
    count: usize,
    max: usize,
}

impl ReplayBuilder {
    pub fn new(
        from_ms: i64,
        to_ms: i64,
        truncated: bool,
        epoch: Option<&str>,
        max: usize,
    ) -> ReplayBuilder {
        let head = format!(
            "\"from\":\"{}\",\"to\":\"{}\",\"truncated\":{},\"epoch\":{}",
            crate::timefmt::rfc3339_millis(from_ms),
            crate::timefmt::rfc3339_millis(to_ms),
            truncated,
            serde_json::to_string(&epoch).unwrap_or_else(|_| "null".into()),
        );
        ReplayBuilder {
            head,
            events: Vec::new(),
            count: 0,
            max,
        }
    }

    /// Bytes of a message holding the current events, without the `ts` digits' variation.
    fn size_with(&self, extra: usize) -> usize {
        64 + self.head.len() + self.events.len() + 1 + extra
    }

    /// Adds one GOVERN envelope; returns a finished part when it did not fit in the current one.
    pub fn push(&mut self, frame: &[u8], now_ms: i64) -> Option<Vec<u8>> {
        let full = self.count > 0 && self.size_with(frame.len()) > self.max;
        let part = full.then(|| self.take(true, now_ms));
        if self.count > 0 {
            self.events.push(b',');
        }
        self.events.extend_from_slice(frame);
        self.count += 1;
        part
    }

    /// The events gathered so far as a part with `more: true` (`None` when there are none), so a
    /// long replay reaches the client in steps instead of only when a part is full.
    pub fn flush(&mut self, now_ms: i64) -> Option<Vec<u8>> {
        (self.count > 0).then(|| self.take(true, now_ms))
    }

    /// The last part.
    pub fn finish(mut self, now_ms: i64) -> Vec<u8> {
        self.take(false, now_ms)
    }

    fn take(&mut self, more: bool, now_ms: i64) -> Vec<u8> {
        let events = std::mem::take(&mut self.events);
        self.count = 0;
        let mut out = Vec::with_capacity(events.len() + self.head.len() + 80);
        out.extend_from_slice(b"{\"event\":\"feed.replay\",\"data\":{");
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(format!(",\"more\":{more},\"events\":[").as_bytes());
        out.extend_from_slice(&events);
        out.extend_from_slice(format!("]}},\"ts\":{now_ms}}}").as_bytes());
        out
    }
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
    fn replays_split_by_size_and_keep_order() {
        let frames: Vec<String> = (1..=10)
            .map(|i| {
                format!(
                    "{{\"event\":\"a.b\",\"seq\":{i},\"pad\":\"{}\"}}",
                    "x".repeat(100)
                )
            })
            .collect();
        let mut b = ReplayBuilder::new(0, 1000, false, Some("ep"), 600);
        let mut parts: Vec<Vec<u8>> = frames
            .iter()
            .filter_map(|f| b.push(f.as_bytes(), 5))
            .collect();
        parts.push(b.finish(5));
        assert!(parts.len() > 2);
        let mut seqs = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= 600, "part {i} is {} bytes", p.len());
            let v: Value = serde_json::from_slice(p).unwrap();
            assert_eq!(v["event"], "feed.replay");
            assert_eq!(v["data"]["more"], i + 1 < parts.len());
            assert_eq!(v["data"]["from"], "1970-01-01T00:00:00.000Z");
            assert_eq!(v["data"]["epoch"], "ep");
            seqs.extend(
                v["data"]["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["seq"].as_u64().unwrap()),
            );
        }
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        let empty: Value =
            serde_json::from_slice(&ReplayBuilder::new(0, 0, true, None, 600).finish(1)).unwrap();
        assert_eq!(empty["data"]["events"], json!([]));
        assert_eq!(empty["data"]["truncated"], true);
        assert!(empty["data"]["epoch"].is_null());
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
        let v: Value = serde_json::from_str(&encode_event(&e)).unwrap();
        assert_eq!(
            v,
            json!({"event":"alert.new","data":{"severity":"high"},"ts":1744123456789u64,"id":"evt_1","seq":3})
        );
    }

    /// Found by fuzzing (`govern_client`): a derived struct also reads a JSON array positionally,
    /// so `["pong"]` was a pong; the same held for `filters` given as a list of four lists.
    #[test]
    fn only_an_object_is_a_message() {
        for text in [
            r#"["pong"]"#,
            r#"["subscribe",{"severities":["high"]}]"#,
            r#"{"action":"subscribe","filters":[["high"],[],[],[]]}"#,
        ] {
            assert!(parse_client(text).is_err(), "{text}");
        }
        assert_eq!(
            parse_client("\n {\"action\":\"pong\"}"),
            Ok(ClientMsg::Pong)
        );
        assert_eq!(
            parse_client(r#"{"action":"subscribe","filters":null}"#),
            Ok(ClientMsg::Subscribe {
                filters: Filters::default()
            })
        );
    }
}
