//! `POST /v1/events` bodies: one event object, a JSON array of them, or NDJSON; and the replies.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::channel::Channel;
use crate::event::{Seq, TenantId};
use crate::timefmt;

/// One publisher event after validation, before the server fills in tenant, id and time.
#[derive(Debug, Clone)]
pub struct InputEvent {
    pub event_type: String,
    pub channel: Channel,
    pub payload: Box<RawValue>,
    pub tenant_id: Option<TenantId>,
    pub id: Option<String>,
    /// Event time, unix milliseconds, normalised from RFC 3339 (any offset) or unix ms.
    pub ts: Option<i64>,
}

/// Why a publish body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body as a whole is unreadable (not JSON, empty, wrong top-level shape).
    #[error("{0}")]
    Body(String),
    /// Event `index` (0-based, in body order) is invalid.
    #[error("event {index}: {message}")]
    Event { index: usize, message: String },
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON object or a JSON array of objects.
    Json,
    /// One JSON object per line; blank lines are skipped.
    Ndjson,
}

/// Parses and validates a whole body; all or nothing.
pub fn parse_body(body: &[u8], format: BodyFormat) -> Result<Vec<InputEvent>, BodyError> {
    let text =
        std::str::from_utf8(body).map_err(|_| BodyError::Body("body is not UTF-8".into()))?;
    let raws: Vec<&str> = match format {
        BodyFormat::Ndjson => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect(),
        BodyFormat::Json => {
            let trimmed = text.trim_start();
            if trimmed.starts_with('[') {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
                    BodyError::Body(format!("body is not a JSON array of events: {e}"))
                })?;
                items.into_iter().map(RawValue::get).collect()
            } else {
                let item: &RawValue = serde_json::from_str(text)
                    .map_err(|e| BodyError::Body(format!("body is not valid JSON: {e}")))?;
                vec![item.get()]
            }
        }
    };
    if raws.is_empty() {
        return Err(BodyError::Body("no events in body".into()));
    }
    raws.iter()
        .enumerate()
        .map(|(index, raw)| parse_event(raw).map_err(|message| BodyError::Event { index, message }))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(rename = "type")]
    event_type: Option<Value>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    tenant_id: Option<Value>,
    id: Option<Value>,
    ts: Option<Value>,
}

/// Parses one event object.
pub fn parse_event(raw: &str) -> Result<InputEvent, String> {
    if !raw.trim_start().starts_with('{') {
        return Err("an event must be a JSON object".into());
    }
    let w: Wire<'_> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let event_type = match w.event_type {
        Some(Value::String(s)) => s,
        Some(_) => return Err("`type` must be a string".into()),
        None => return Err("missing field `type`".into()),
    };
    validate_type(&event_type)?;
    let channel =
        Channel::of(&event_type).map_err(|e| format!("`type` names an invalid channel: {e}"))?;
    let payload = match w.payload {
        Some(p) if p.get().trim_start().starts_with('{') => single_line(p),
        Some(_) => return Err("`payload` must be a JSON object".into()),
        None => return Err("missing field `payload`".into()),
    };
    let tenant_id = match w.tenant_id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(TenantId::parse(&s).map_err(|e| e.to_string())?),
        Some(_) => return Err("`tenant_id` must be a string".into()),
    };
    let id = match w.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.is_empty()
                || s.chars().count() > 128
                || s.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(
                    "`id` must be 1-128 characters without spaces or control characters".into(),
                );
            }
            Some(s)
        }
        Some(_) => return Err("`id` must be a string".into()),
    };
    let ts = match w.ts {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            timefmt::parse_rfc3339(&s)
                .ok_or_else(|| format!("`ts` is not an RFC 3339 time: {s:?}"))?,
        ),
        // Up to the end of year 9999: a later time has no RFC 3339 form for the AiSOC wire.
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .filter(|ms| (0..=timefmt::MAX_MS).contains(ms))
                .ok_or("`ts` as a number must be unix milliseconds from 0 to 253402300799999")?,
        ),
        Some(_) => return Err("`ts` must be an RFC 3339 string or unix milliseconds".into()),
    };
    Ok(InputEvent {
        event_type,
        channel,
        payload,
        tenant_id,
        id,
        ts,
    })
}

/// The payload with line breaks between tokens turned into spaces (JSON strings cannot hold raw
/// line breaks, so only insignificant whitespace changes): every frame then fits on one SSE
/// `data:` line. Any other byte is kept as published.
fn single_line(p: &RawValue) -> Box<RawValue> {
    let text = p.get();
    if !text.contains(['\n', '\r']) {
        return p.to_owned();
    }
    RawValue::from_string(text.replace(['\n', '\r'], " ")).unwrap_or_else(|_| p.to_owned())
}

/// An event type: dot-separated segments of `a-z 0-9 _ -`, 1–128 characters in all.
pub fn validate_type(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`type` must be dot-separated segments of a-z, 0-9, '_' or '-' (got {t:?})"
        ))
    }
}

/// One acknowledged event in a `202` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    pub id: String,
    pub seq: Seq,
    pub tenant_id: TenantId,
    /// `true` when an event with this publisher-supplied id was already stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The `202` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReply {
    pub accepted: usize,
    pub events: Vec<Acked>,
}

/// A publish error body: `{"error": code, "message": ..., "index"?: i}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Result<Vec<InputEvent>, BodyError> {
        parse_body(body.as_bytes(), BodyFormat::Json)
    }

    #[test]
    fn object_array_and_ndjson() {
        let e = one(r#"{"type":"alert.created","payload":{"title":"x",  "n":1}}"#).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].payload.get(), r#"{"title":"x",  "n":1}"#);
        assert_eq!(e[0].channel.as_str(), "alerts");
        let e = one(r#"[{"type":"a.b","payload":{}},{"type":"case.closed","payload":{},"id":"c1","tenant_id":"t2"}]"#).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id.as_deref(), Some("c1"));
        let nd = "{\"type\":\"a.b\",\"payload\":{}}\n\n{\"type\":\"c.d\",\"payload\":{}}\n";
        assert_eq!(
            parse_body(nd.as_bytes(), BodyFormat::Ndjson).unwrap().len(),
            2
        );
    }

    #[test]
    fn line_breaks_in_payloads_become_spaces() {
        let e = one("{\"type\":\"a.b\",\"payload\":{\n  \"x\": \"a\\nb\"\r\n}}").unwrap();
        assert_eq!(e[0].payload.get(), "{   \"x\": \"a\\nb\"  }");
    }

    #[test]
    fn failing_index_is_reported() {
        let err = one(r#"[{"type":"a.b","payload":{}},{"type":"a.b","payload":[]}]"#).unwrap_err();
        assert!(matches!(err, BodyError::Event { index: 1, .. }), "{err:?}");
        let nd = "{\"type\":\"a.b\",\"payload\":{}}\nnot json\n";
        assert!(matches!(
            parse_body(nd.as_bytes(), BodyFormat::Ndjson),
            Err(BodyError::Event { index: 1, .. })
        ));
        assert!(matches!(one("nope"), Err(BodyError::Body(_))));
        assert!(matches!(one("[]"), Err(BodyError::Body(_))));
        assert!(matches!(one("[1]"), Err(BodyError::Event { index: 0, .. })));
    }

    #[test]
    fn field_rules() {
        for bad in [
            r#"{"payload":{}}"#,
            r#"{"type":"Alert.Created","payload":{}}"#,
            r#"{"type":"alert..x","payload":{}}"#,
            r#"{"type":"alert.x"}"#,
            r#"{"type":"alert.x","payload":"s"}"#,
            r#"{"type":"alert.x","payload":{},"id":""}"#,
            r#"{"type":"alert.x","payload":{},"id":7}"#,
            r#"{"type":"alert.x","payload":{},"ts":"tomorrow"}"#,
            r#"{"type":"alert.x","payload":{},"ts":-1}"#,
            r#"{"type":"alert.x","payload":{},"tenant_id":"*"}"#,
            r#"{"type":"alert.x","payload":{},"extra":1}"#,
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
        let e = one(r#"{"type":"alert.x","payload":{},"ts":"2026-04-12T16:23:10+02:00"}"#).unwrap();
        assert_eq!(
            timefmt::rfc3339_millis(e[0].ts.unwrap()),
            "2026-04-12T14:23:10.000Z"
        );
        let e = one(r#"{"type":"alert.x","payload":{},"ts":1744123456789}"#).unwrap();
        assert_eq!(e[0].ts, Some(1_744_123_456_789));
    }

    /// Found by fuzzing (`publish_body`): a numeric `ts` after year 9999 was accepted, and
    /// `rfc3339_millis` cannot render it, so AiSOC frames said `1970-01-01T00:00:00.000Z`. An
    /// RFC 3339 `ts` whose offset moves it out of years 0000-9999 in UTC is refused too.
    #[test]
    fn ts_must_fit_rfc3339_utc() {
        for bad in [
            r#"{"type":"alert.x","payload":{},"ts":348824685135378}"#,
            r#"{"type":"alert.x","payload":{},"ts":253402300800000}"#,
            r#"{"type":"alert.x","payload":{},"ts":9223372036854775807}"#,
            r#"{"type":"alert.x","payload":{},"ts":"9999-12-31T23:59:59-01:00"}"#,
            r#"{"type":"alert.x","payload":{},"ts":"0000-01-01T00:00:00+01:00"}"#,
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
        let e = one(r#"{"type":"alert.x","payload":{},"ts":253402300799999}"#).unwrap();
        assert_eq!(
            timefmt::rfc3339_millis(e[0].ts.unwrap()),
            "9999-12-31T23:59:59.999Z"
        );
        let e =
            one(r#"{"type":"alert.x","payload":{},"ts":"9999-12-31T23:59:59.999+00:00"}"#).unwrap();
        assert_eq!(e[0].ts, Some(timefmt::MAX_MS));
    }
}
