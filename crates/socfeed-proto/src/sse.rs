//! Server-Sent Events framing (`text/event-stream`): the bytes of one event, and the stream's
//! retry hint. The GOVERN feed over SSE sends each dialect message as one event.

use crate::event::Event;

/// One event: `event: <name>` and one `data:` line. `data` must hold no line break (every
/// envelope socfeed encodes fits on one line).
pub fn message(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + data.len() + 16);
    for part in [
        b"event: ".as_slice(),
        name.as_bytes(),
        b"\ndata: ",
        data,
        b"\n\n",
    ] {
        out.extend_from_slice(part);
    }
    out
}

/// A feed event: `id:` is its seq (so `Last-Event-ID` resumes exactly), `event:` its type,
/// `data:` its encoded envelope. Encoded once per event and shared by every SSE session.
pub fn event(e: &Event, envelope: &[u8]) -> Vec<u8> {
    let mut out = format!("id: {}\n", e.seq).into_bytes();
    out.extend_from_slice(&message(&e.event_type, envelope));
    out
}

/// The reconnect delay suggested to `EventSource` clients: `retry: <ms>`.
pub fn retry(ms: u64) -> String {
    format!("retry: {ms}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TenantId;

    #[test]
    fn an_event_is_id_type_and_one_data_line() {
        let e = Event {
            id: "evt_1".into(),
            seq: 42,
            tenant_id: TenantId::parse("t").unwrap(),
            event_type: "alert.new".into(),
            payload: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            ts: 0,
        };
        assert_eq!(
            event(&e, b"{\"x\":1}"),
            b"id: 42\nevent: alert.new\ndata: {\"x\":1}\n\n"
        );
        assert_eq!(message("error", b"{}"), b"event: error\ndata: {}\n\n");
        assert_eq!(retry(2000), "retry: 2000\n\n");
    }
}
