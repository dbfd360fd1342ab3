//! The live message the append script publishes on `<prefix>:{<tenant>}:live` for every new
//! event: `{"epoch":"<epoch>","seq":<seq>,"us":<unix µs>,"event":<the stored event JSON>}`
//! (`us`, the Redis `TIME` of the append, may be missing: messages of older scripts have none).
//! A node's follower (`follow.rs`) turns it back into the event with [`parse_live`]; a seq that
//! is not the one after the last it delivered is a gap to repair from the stream.

use serde::Deserialize;
use socfeed_proto::{Event, Seq};

use crate::LogError;

/// A published event with the epoch of its history.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub epoch: String,
    pub event: Event,
    /// When Redis accepted it, unix µs (`None` in messages without it).
    pub accepted_us: Option<i64>,
}

#[derive(Deserialize)]
struct Wire {
    epoch: String,
    seq: Seq,
    #[serde(default)]
    us: Option<i64>,
    event: Event,
}

/// Parses a live message, checking that its seq is its event's.
pub fn parse_live(message: &[u8]) -> Result<LiveEvent, LogError> {
    let corrupt = |seq: Seq, message: String| LogError::Corrupt {
        tenant: String::new(),
        seq,
        message,
    };
    let wire: Wire = serde_json::from_slice(message)
        .map_err(|e| corrupt(0, format!("bad live message: {e}")))?;
    if wire.seq != wire.event.seq || wire.epoch.is_empty() {
        return Err(LogError::Corrupt {
            tenant: wire.event.tenant_id.to_string(),
            seq: wire.seq,
            message: "live message disagrees with its event".into(),
        });
    }
    Ok(LiveEvent {
        epoch: wire.epoch,
        event: wire.event,
        accepted_us: wire.us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_script_builds() {
        let ev = r#"{"id":"x","seq":7,"tenant_id":"a","type":"alert.created","payload":{"n": 1},"ts":5}"#;
        let msg = format!(r#"{{"epoch":"00aa","seq":7,"event":{ev}}}"#);
        let live = parse_live(msg.as_bytes()).unwrap();
        assert_eq!((live.epoch.as_str(), live.event.seq), ("00aa", 7));
        assert_eq!(live.event.payload.get(), r#"{"n": 1}"#);
        assert_eq!(live.accepted_us, None);
        let timed = format!(r#"{{"epoch":"00aa","seq":7,"us":1700000000123456,"event":{ev}}}"#);
        let live = parse_live(timed.as_bytes()).unwrap();
        assert_eq!(live.accepted_us, Some(1_700_000_000_123_456));
        let wrong = format!(r#"{{"epoch":"00aa","seq":8,"event":{ev}}}"#);
        assert!(parse_live(wrong.as_bytes()).is_err());
        assert!(parse_live(b"nope").is_err());
    }
}
