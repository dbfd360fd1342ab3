//! The few bytes the bench reads and writes: publish bodies carrying the send time, and the
//! `seq` and send time found in a delivered frame without parsing its JSON.
//!
//! A delivered AiSOC frame is `{"type":…,"payload":{"t":<unix ns>,"pad":"…"},"tenant_id":…,
//! "ts":…,"id":…,"seq":N}`: the payload comes byte for byte as published, so `"t":` is ours
//! (no other field can hold that text: types, tenants and ids have no quotes), and `"seq":` is
//! the last field.

use std::time::{SystemTime, UNIX_EPOCH};

const SENT_AT: &[u8] = b"\"t\":";
const SEQ: &[u8] = b"\"seq\":";

/// Nanoseconds since the Unix epoch (the clock both processes share).
pub(super) fn unix_nanos() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// The send time a frame carries in its payload, if it is one of ours.
pub(super) fn sent_at(frame: &[u8]) -> Option<u64> {
    let at = frame.windows(SENT_AT.len()).position(|w| w == SENT_AT)?;
    leading_number(&frame[at + SENT_AT.len()..])
}

/// The seq of an event frame (none for pings, acks and errors).
pub(super) fn seq(frame: &[u8]) -> Option<u64> {
    let at = frame.windows(SEQ.len()).rposition(|w| w == SEQ)?;
    leading_number(&frame[at + SEQ.len()..])
}

/// The unsigned decimal at the start of `bytes`.
fn leading_number(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    bytes[..digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A JSON array of `count` events of `event_type`, each with the payload
/// `{"t":<sent_ns>,"pad":"xx…"}` padded to `payload_size` bytes (when that is larger than the
/// bare payload).
pub(super) fn publish_body(
    event_type: &str,
    count: usize,
    payload_size: usize,
    sent_ns: u64,
) -> String {
    let bare = format!("{{\"t\":{sent_ns},\"pad\":\"\"}}");
    let pad = "x".repeat(payload_size.saturating_sub(bare.len()));
    let event =
        format!("{{\"type\":\"{event_type}\",\"payload\":{{\"t\":{sent_ns},\"pad\":\"{pad}\"}}}}");
    let mut body = String::with_capacity(count * (event.len() + 1) + 2);
    body.push('[');
    for i in 0..count {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&event);
    }
    body.push(']');
    body
}

/// One nchan message: `{"t":<sent_ns>,"pad":"xx…","seq":N}`, padded to `size` bytes. nchan
/// delivers the body as it is, so it carries the seq that socfeed would put in its envelope
/// (last, where [`seq`] looks for it).
pub(super) fn nchan_message(seq: u64, size: usize, sent_ns: u64) -> String {
    let bare = format!("{{\"t\":{sent_ns},\"pad\":\"\",\"seq\":{seq}}}");
    let pad = "x".repeat(size.saturating_sub(bare.len()));
    format!("{{\"t\":{sent_ns},\"pad\":\"{pad}\",\"seq\":{seq}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: &[u8] = br#"{"type":"alert.created","payload":{"t":1700000000123456789,"pad":"xx"},"tenant_id":"bench","ts":"2026-01-01T00:00:00.000Z","id":"evt_01J","seq":42}"#;

    #[test]
    fn finds_send_time_and_seq() {
        assert_eq!(sent_at(FRAME), Some(1_700_000_000_123_456_789));
        assert_eq!(seq(FRAME), Some(42));
    }

    #[test]
    fn control_frames_have_no_seq_or_time() {
        let ping = br#"{"type":"ping","ts":"2026-01-01T00:00:00.000Z"}"#;
        assert_eq!(seq(ping), None);
        assert_eq!(sent_at(ping), None);
        assert_eq!(seq(br#"{"seq":}"#), None);
        assert_eq!(seq(br#"{"seq":99999999999999999999999}"#), None);
    }

    #[test]
    fn bodies_have_the_payload_size_and_parse_back() {
        let body = publish_body("alert.created", 3, 200, 1_234);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let events = value.as_array().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["type"], "alert.created");
        assert_eq!(events[2]["payload"]["t"], 1_234);
        assert_eq!(events[1]["payload"].to_string().len(), 200);
        let message = nchan_message(9, 200, 1_234);
        assert_eq!(message.len(), 200);
        assert_eq!(seq(message.as_bytes()), Some(9));
        assert_eq!(sent_at(message.as_bytes()), Some(1_234));
        let small = publish_body("alert.created", 1, 0, 7);
        assert_eq!(sent_at(small.as_bytes()), Some(7));
    }
}
