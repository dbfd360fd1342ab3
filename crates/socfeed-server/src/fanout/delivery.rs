//! A committed event ready for fan-out: its routing facts extracted and its frames encoded once.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use socfeed_proto::{Channel, Event, FilterFields, aisoc, govern, sse};

/// The encodings of an event a session may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// AiSOC on `GET /ws`: `{"type","payload","tenant_id","ts","id","seq"}`.
    Aisoc,
    /// GOVERN over WebSocket (`GET /v1/soc/feed`): `{"event","data","ts","id","seq"}`.
    Govern,
    /// GOVERN over SSE (`GET /v1/soc/feed/sse`): the envelope as one SSE event with its seq as `id:`.
    GovernSse,
}

/// One event as the hub hands it to sessions. Shared (`Arc`) by every session that receives it;
/// each format is encoded at most once, on first use.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    pub channel: Channel,
    /// Payload fields GOVERN filters look at, extracted once.
    pub fields: FilterFields,
    /// For a sampled live event: when it was accepted (unix µs), to measure the fan-out
    /// latency at the sessions that write it. `None` for events read for a replay and for
    /// live ones not sampled.
    pub sampled_at: Option<i64>,
    aisoc: OnceLock<Bytes>,
    govern: OnceLock<Bytes>,
    govern_sse: OnceLock<Bytes>,
}

impl Delivery {
    /// Wraps a stored event. `None` for a record whose type has no valid channel (never written
    /// by socfeed's own ingest, which validates types).
    pub fn new(event: Event) -> Option<Arc<Delivery>> {
        Delivery::sampled(event, None)
    }

    /// Wraps a live event accepted at `sampled_at` (unix µs), when its fan-out latency is
    /// measured.
    pub fn sampled(event: Event, sampled_at: Option<i64>) -> Option<Arc<Delivery>> {
        let channel = event.channel()?;
        let fields = FilterFields::extract_raw(event.payload.get());
        Some(Arc::new(Delivery {
            event,
            channel,
            fields,
            sampled_at,
            aisoc: OnceLock::new(),
            govern: OnceLock::new(),
            govern_sse: OnceLock::new(),
        }))
    }

    /// The event's frame in `format`, encoded on first call and shared afterwards.
    pub fn frame(&self, format: Format) -> &Bytes {
        match format {
            Format::Aisoc => self
                .aisoc
                .get_or_init(|| aisoc::encode_event(&self.event).into()),
            Format::Govern => self
                .govern
                .get_or_init(|| govern::encode_event(&self.event).into()),
            Format::GovernSse => self
                .govern_sse
                .get_or_init(|| sse::event(&self.event, self.frame(Format::Govern)).into()),
        }
    }

    pub fn seq(&self) -> u64 {
        self.event.seq
    }
}

/// The current time in unix microseconds.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socfeed_proto::TenantId;

    #[test]
    fn frames_are_encoded_once_and_shared() {
        let e = Event {
            id: "evt_1".into(),
            seq: 1,
            tenant_id: TenantId::parse("t").unwrap(),
            event_type: "alert.new".into(),
            payload: serde_json::value::RawValue::from_string(r#"{"severity":"high"}"#.into())
                .unwrap(),
            ts: 0,
        };
        let d = Delivery::new(e).unwrap();
        assert_eq!(d.channel.as_str(), "alerts");
        assert_eq!(d.fields.severity.as_deref(), Some("high"));
        let a = d.frame(Format::Aisoc).as_ptr();
        assert_eq!(a, d.frame(Format::Aisoc).as_ptr());
        assert!(
            d.frame(Format::Govern)
                .starts_with(b"{\"event\":\"alert.new\"")
        );
        let sse = d.frame(Format::GovernSse);
        assert!(sse.starts_with(b"id: 1\nevent: alert.new\ndata: {\"event\""));
        assert!(sse.ends_with(b"}\n\n"));
    }
}
