//! `socfeed_proto::publish::parse_body`: a `POST /v1/events` body. The first input byte picks the
//! framing (even: `BodyFormat::Json`, odd: `BodyFormat::Ndjson`); the rest is the body.
//!
//! Invariants for an accepted body (protocol.md §1, §4, §5):
//! * every event has a valid type, its channel is `Channel::of(type)` and fits the channel charset,
//!   tenant ids and ids fit their rules;
//! * the payload is valid JSON, an object, with no raw line break, and is the published payload
//!   byte for byte except that CR/LF became spaces;
//! * a `ts` renders as RFC 3339 UTC with milliseconds and parses back to the same instant;
//! * re-publishing the normalised events (NDJSON and a JSON array) gives the same events;
//! * the AiSOC and GOVERN frames built from each event are one-line JSON carrying its fields.
//!
//! For a refused event, the reported index is within the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::value::RawValue;
use socfeed_fuzz::{
    is_channel_name, is_event_id, is_event_type, is_json, is_rfc3339_millis_shape, is_tenant_id,
    starts_object,
};
use socfeed_proto::publish::{BodyError, BodyFormat, InputEvent, parse_body};
use socfeed_proto::timefmt::{parse_rfc3339, rfc3339_millis};
use socfeed_proto::{Channel, Event, TenantId, aisoc, govern};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let format = if first & 1 == 0 {
        BodyFormat::Json
    } else {
        BodyFormat::Ndjson
    };
    match parse_body(body, format) {
        Ok(events) => accepted(body, format, &events),
        Err(BodyError::Body(m)) => assert!(!m.is_empty()),
        Err(BodyError::Event { index, message }) => {
            assert!(!message.is_empty());
            let text = std::str::from_utf8(body).expect("per-event errors come after UTF-8");
            let n = items(text, format).map_or(usize::MAX, |v| v.len());
            assert!(index < n, "index {index} of {n} items");
        }
    }
});

/// The raw items of a body, as the framing splits it (`None` when the framing itself fails).
fn items(text: &str, format: BodyFormat) -> Option<Vec<&str>> {
    match format {
        BodyFormat::Ndjson => Some(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect(),
        ),
        BodyFormat::Json if socfeed_fuzz::json_trim_start(text).starts_with('[') => {
            let v: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            Some(v.into_iter().map(RawValue::get).collect())
        }
        BodyFormat::Json => {
            let v: &RawValue = serde_json::from_str(text).ok()?;
            Some(vec![v.get()])
        }
    }
}

/// The payload and `ts` of an input event, as published.
#[derive(Deserialize)]
struct Published<'a> {
    #[serde(borrow)]
    payload: &'a RawValue,
    ts: Option<serde_json::Value>,
}

fn accepted(body: &[u8], format: BodyFormat, events: &[InputEvent]) {
    assert!(!events.is_empty());
    let text = std::str::from_utf8(body).expect("an accepted body is UTF-8");
    let raws = items(text, format).expect("an accepted body frames");
    assert_eq!(raws.len(), events.len());
    for (raw, e) in raws.iter().zip(events) {
        check_event(e);
        let published: Published<'_> =
            serde_json::from_str(raw).expect("an accepted event has a payload");
        check_ts(published.ts.as_ref(), e.ts);
        assert_eq!(
            e.payload.get(),
            published.payload.get().replace(['\n', '\r'], " "),
            "payload must be kept byte for byte but for line breaks"
        );
    }

    // The normalised events, published again, are the same events.
    let lines: Vec<String> = events.iter().map(to_wire).collect();
    let nd = lines.join("\n");
    same(
        events,
        &parse_body(nd.as_bytes(), BodyFormat::Ndjson).expect("re-publish NDJSON"),
    );
    let arr = format!("[{}]", lines.join(","));
    same(
        events,
        &parse_body(arr.as_bytes(), BodyFormat::Json).expect("re-publish array"),
    );

    for (i, e) in events.iter().enumerate() {
        check_frames(i as u64 + 1, e);
    }
}

fn check_event(e: &InputEvent) {
    assert!(is_event_type(&e.event_type), "type {:?}", e.event_type);
    assert!(
        is_channel_name(e.channel.as_str()),
        "channel {:?}",
        e.channel
    );
    assert_eq!(Channel::of(&e.event_type).as_ref(), Ok(&e.channel));
    let p = e.payload.get();
    assert!(
        starts_object(p) && p.starts_with('{'),
        "payload {p:?} is not an object"
    );
    assert!(
        !p.contains(['\n', '\r']),
        "payload {p:?} has a raw line break"
    );
    assert!(is_json(p), "payload {p:?} is not JSON");
    if let Some(t) = &e.tenant_id {
        assert!(is_tenant_id(t.as_str()), "tenant {t:?}");
    }
    if let Some(id) = &e.id {
        assert!(is_event_id(id), "id {id:?}");
    }
    if let Some(ts) = e.ts {
        let s = rfc3339_millis(ts);
        assert!(is_rfc3339_millis_shape(&s), "ts {ts} renders as {s:?}");
        assert_eq!(parse_rfc3339(&s), Some(ts), "ts {ts} renders as {s:?}");
    }
}

/// The normalised `ts` is the published one: unix ms as given, or an RFC 3339 time in UTC with
/// its sub-millisecond digits cut (checked on the text for `Z` times with 3+ fraction digits);
/// date and time are separated by `T`, `t` or a space.
fn check_ts(published: Option<&serde_json::Value>, ts: Option<i64>) {
    use serde_json::Value;
    match published {
        None | Some(Value::Null) => assert_eq!(ts, None),
        Some(Value::Number(n)) => assert_eq!(ts, n.as_i64()),
        Some(Value::String(s)) => {
            let ts = ts.expect("a string ts is kept");
            let b = s.as_bytes();
            let z_millis = b.len() >= 24
                && b[19] == b'.'
                && b[b.len() - 1].eq_ignore_ascii_case(&b'Z')
                && b[20..b.len() - 1].iter().all(u8::is_ascii_digit)
                && &s[17..19] != "60";
            assert!(
                matches!(b.get(10), Some(b'T' | b't' | b' ')),
                "ts {s:?} accepted"
            );
            if z_millis {
                let rendered = rfc3339_millis(ts);
                assert!(
                    rendered.eq_ignore_ascii_case(&format!("{}T{}Z", &s[..10], &s[11..23])),
                    "ts {s:?} normalised to {rendered:?}"
                );
            }
        }
        Some(other) => panic!("ts {other} accepted"),
    }
}

/// An input event as a publisher would send it, with `ts` in the AiSOC wire form.
fn to_wire(e: &InputEvent) -> String {
    let mut out = format!(
        r#"{{"type":{},"payload":{}"#,
        serde_json::to_string(&e.event_type).unwrap(),
        e.payload.get()
    );
    if let Some(t) = &e.tenant_id {
        out += &format!(
            r#","tenant_id":{}"#,
            serde_json::to_string(t.as_str()).unwrap()
        );
    }
    if let Some(id) = &e.id {
        out += &format!(r#","id":{}"#, serde_json::to_string(id).unwrap());
    }
    if let Some(ts) = e.ts {
        out += &format!(r#","ts":"{}""#, rfc3339_millis(ts));
    }
    out.push('}');
    out
}

fn same(a: &[InputEvent], b: &[InputEvent]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.event_type, y.event_type);
        assert_eq!(x.channel, y.channel);
        assert_eq!(x.payload.get(), y.payload.get());
        assert_eq!(x.tenant_id, y.tenant_id);
        assert_eq!(x.id, y.id);
        assert_eq!(x.ts, y.ts);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AisocFrame<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    payload: &'a RawValue,
    tenant_id: String,
    ts: String,
    id: String,
    seq: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GovernFrame<'a> {
    event: String,
    #[serde(borrow)]
    data: &'a RawValue,
    ts: i64,
    id: String,
    seq: u64,
}

fn check_frames(seq: u64, e: &InputEvent) {
    let ev = Event {
        id: e.id.clone().unwrap_or_else(|| "evt_01JFUZZ".into()),
        seq,
        tenant_id: e
            .tenant_id
            .clone()
            .unwrap_or_else(|| TenantId::parse("fuzz").unwrap()),
        event_type: e.event_type.clone(),
        payload: e.payload.clone(),
        ts: e.ts.unwrap_or(1_744_123_456_789),
    };

    let a = aisoc::encode_event(&ev);
    assert!(!a.contains(['\n', '\r']));
    let a_text = a.as_str();
    let f: AisocFrame<'_> = serde_json::from_str(a_text).expect("AiSOC frame parses");
    assert_eq!(f.kind, ev.event_type);
    assert_eq!(f.payload.get(), ev.payload.get());
    assert_eq!(f.tenant_id, ev.tenant_id.as_str());
    assert_eq!(parse_rfc3339(&f.ts), Some(ev.ts), "AiSOC ts {:?}", f.ts);
    assert_eq!(f.id, ev.id);
    assert_eq!(f.seq, seq);

    let g = govern::encode_event(&ev);
    assert!(!g.contains(['\n', '\r']));
    let g_text = g.as_str();
    let f: GovernFrame<'_> = serde_json::from_str(g_text).expect("GOVERN frame parses");
    assert_eq!(f.event, ev.event_type);
    assert_eq!(f.data.get(), ev.payload.get());
    assert_eq!(f.ts, ev.ts);
    assert_eq!(f.id, ev.id);
    assert_eq!(f.seq, seq);
    let sse = socfeed_proto::sse::event(&ev, g.as_bytes());
    let sse = std::str::from_utf8(&sse).expect("SSE is UTF-8");
    assert_eq!(sse.matches('\n').count(), 4, "SSE event {sse:?}");
    assert!(sse.starts_with(&format!("id: {seq}\nevent: ")), "{sse:?}");
}
