//! The stored record: the event's JSON exactly as the embedded log stores it (its payload byte
//! for byte), in the stream field `ev`, next to `ms` (ingest time) and `sup` (`1` when the
//! publisher chose the id), plus `id` and `ch` when the trim needs them.
//!
//! The append script assigns the seq, so the client sends each event's JSON in two halves
//! around it ([`split`]); the script joins them with the seq in between.

use ::redis::Value;
use socfeed_proto::{Event, EventDraft, Seq, TenantId};

use super::keys::seq_of_entry;
use crate::LogError;

/// An event's JSON without its seq: `before` ends with `"seq":`, `after` starts right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Halves {
    pub(crate) before: Vec<u8>,
    pub(crate) after: Vec<u8>,
}

/// Serialises `draft` as the event it becomes and cuts the JSON around its seq. `Event`
/// serialises `id` first and `seq` second; anything else is refused rather than stored wrong.
pub(crate) fn split(draft: &EventDraft) -> Result<Halves, LogError> {
    let corrupt = |message: String| LogError::Corrupt {
        tenant: draft.tenant_id.to_string(),
        seq: 0,
        message,
    };
    let event = draft.clone().into_event(0);
    let json = serde_json::to_vec(&event).map_err(|e| corrupt(format!("cannot encode: {e}")))?;
    let id =
        serde_json::to_string(&draft.id).map_err(|e| corrupt(format!("cannot encode: {e}")))?;
    let before = format!(r#"{{"id":{id},"seq":"#).into_bytes();
    let rest = json
        .strip_prefix(before.as_slice())
        .and_then(|rest| rest.strip_prefix(b"0"))
        .filter(|rest| rest.starts_with(b","))
        .ok_or_else(|| corrupt("the event JSON does not start with its id and seq".into()))?;
    Ok(Halves {
        before,
        after: rest.to_vec(),
    })
}

/// Decodes a record's event JSON, checking that it is the event stored at `(tenant, seq)`.
pub(crate) fn decode(tenant: &TenantId, seq: Seq, json: &[u8]) -> Result<Event, LogError> {
    let corrupt = |message: String| LogError::Corrupt {
        tenant: tenant.to_string(),
        seq,
        message,
    };
    let event: Event =
        serde_json::from_slice(json).map_err(|e| corrupt(format!("bad event json: {e}")))?;
    if event.tenant_id != *tenant || event.seq != seq {
        return Err(corrupt("record is another event".into()));
    }
    Ok(event)
}

/// A stream entry as XRANGE returns it: `[id, [field, value, …]]` (a map under some RESP3
/// servers). Returns its seq and the value of field `ev`.
pub(crate) fn entry(tenant: &TenantId, value: Value) -> Result<(Seq, Vec<u8>), LogError> {
    timed_entry(tenant, value).map(|e| (e.seq, e.ev))
}

/// A stream entry with its ingest time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimedEntry {
    pub(crate) seq: Seq,
    /// The event JSON (field `ev`).
    pub(crate) ev: Vec<u8>,
    /// Ingest time, unix ms (field `ms`), when the entry has a readable one.
    pub(crate) ms: Option<i64>,
}

/// Like [`entry`], with the field `ms` too.
pub(crate) fn timed_entry(tenant: &TenantId, value: Value) -> Result<TimedEntry, LogError> {
    let bad = |what: &str| LogError::Corrupt {
        tenant: tenant.to_string(),
        seq: 0,
        message: format!("stream entry: {what}"),
    };
    let Value::Array(mut parts) = value else {
        return Err(bad("not an array"));
    };
    if parts.len() != 2 {
        return Err(bad("not [id, fields]"));
    }
    let fields = parts.pop().unwrap_or(Value::Nil);
    let id = parts.pop().and_then(text).ok_or_else(|| bad("no id"))?;
    let seq = seq_of_entry(&id).ok_or_else(|| bad("id is not <seq>-0"))?;
    let pairs: Vec<(Value, Value)> = match fields {
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }
        Value::Map(pairs) => pairs,
        _ => return Err(bad("fields are not a list")),
    };
    let (mut ev, mut ms) = (None, None);
    for (name, value) in pairs {
        match bytes_ref(&name) {
            Some(b"ev") => ev = Some(bytes(value).ok_or_else(|| bad("ev"))?),
            Some(b"ms") => ms = int(&value),
            _ => {}
        }
    }
    let ev = ev.ok_or_else(|| bad("no ev field"))?;
    Ok(TimedEntry { seq, ev, ms })
}

/// The text of a string reply.
pub(crate) fn text(value: Value) -> Option<String> {
    String::from_utf8(bytes(value)?).ok()
}

/// The bytes of a string reply.
pub(crate) fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

fn bytes_ref(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// An integer reply (or a string holding one, as Lua returns from `HGET`).
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn draft(id: &str, payload: &str) -> EventDraft {
        EventDraft {
            tenant_id: TenantId::parse("acme").unwrap(),
            id: id.to_owned(),
            id_supplied: true,
            event_type: "alert.created".into(),
            payload: RawValue::from_string(payload.to_owned()).unwrap(),
            ts: 1_700_000_000_123,
        }
    }

    #[test]
    fn halves_join_with_the_seq_into_the_embedded_record() {
        for id in ["plain", "quo\"te\\back", "uni\u{e9}\u{1F600}", "0"] {
            let d = draft(id, r#"{"n": 1,  "k":[1, 2], "s":"\u00e9"}"#);
            let h = split(&d).unwrap();
            let mut joined = h.before.clone();
            joined.extend_from_slice(b"42");
            joined.extend_from_slice(&h.after);
            let expected = serde_json::to_vec(&d.clone().into_event(42)).unwrap();
            assert_eq!(joined, expected, "{id}");
            let back = decode(&d.tenant_id, 42, &joined).unwrap();
            assert_eq!(back.payload.get(), d.payload.get());
        }
    }

    #[test]
    fn decode_refuses_another_tenants_or_seqs_record() {
        let d = draft("x", "{}");
        let json = serde_json::to_vec(&d.clone().into_event(3)).unwrap();
        assert!(decode(&d.tenant_id, 3, &json).is_ok());
        assert!(decode(&d.tenant_id, 4, &json).is_err());
        let other = TenantId::parse("other").unwrap();
        assert!(matches!(
            decode(&other, 3, &json),
            Err(LogError::Corrupt { .. })
        ));
        assert!(decode(&d.tenant_id, 3, b"{not json").is_err());
    }

    #[test]
    fn entries_parse_from_flat_fields_or_maps() {
        let t = TenantId::parse("a").unwrap();
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let flat = Value::Array(vec![
            bulk("7-0"),
            Value::Array(vec![bulk("ms"), bulk("1"), bulk("ev"), bulk("{}")]),
        ]);
        assert_eq!(entry(&t, flat.clone()).unwrap(), (7, b"{}".to_vec()));
        let timed = timed_entry(&t, flat).unwrap();
        assert_eq!((timed.seq, timed.ms), (7, Some(1)));
        let map = Value::Array(vec![
            bulk("8-0"),
            Value::Map(vec![(bulk("ev"), bulk("[]"))]),
        ]);
        assert_eq!(entry(&t, map).unwrap(), (8, b"[]".to_vec()));
        for bad in [
            Value::Nil,
            Value::Array(vec![bulk("7-1"), Value::Array(vec![])]),
            Value::Array(vec![bulk("7-0"), Value::Array(vec![bulk("ms"), bulk("1")])]),
        ] {
            assert!(entry(&t, bad).is_err());
        }
        assert_eq!(int(&bulk("12")), Some(12));
        assert_eq!(int(&Value::Int(-3)), Some(-3));
        assert_eq!(int(&Value::Nil), None);
    }
}
