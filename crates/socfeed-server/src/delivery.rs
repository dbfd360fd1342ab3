//! A committed event ready for fan-out: its routing facts extracted and its frames encoded once.

use std::sync::{Arc, OnceLock};

use socfeed_proto::{Channel, Event, FilterFields, aisoc, govern};

/// The wire dialects a session may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `GET /ws`: `{"type","payload","tenant_id","ts","id","seq"}`.
    Aisoc,
    /// `GET /v1/soc/feed[/sse]`: `{"event","data","ts","id","seq"}`.
    Govern,
}

/// One event as the hub hands it to sessions. Shared (`Arc`) by every session that receives it;
/// each dialect's frame is encoded at most once, on first use.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    pub channel: Channel,
    /// Payload fields GOVERN filters look at, extracted once.
    pub fields: FilterFields,
    aisoc: OnceLock<String>,
    govern: OnceLock<String>,
}

impl Delivery {
    /// Wraps a stored event. `None` for a record whose type has no valid channel (never written
    /// by socfeed's own ingest, which validates types).
    pub fn new(event: Event) -> Option<Arc<Delivery>> {
        let channel = event.channel()?;
        let fields = FilterFields::extract_raw(event.payload.get());
        Some(Arc::new(Delivery {
            event,
            channel,
            fields,
            aisoc: OnceLock::new(),
            govern: OnceLock::new(),
        }))
    }

    /// The event's frame in `dialect`, encoded on first call and shared afterwards.
    pub fn frame(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Aisoc => self.aisoc.get_or_init(|| aisoc::encode_event(&self.event)),
            Dialect::Govern => self
                .govern
                .get_or_init(|| govern::encode_event(&self.event)),
        }
    }

    pub fn seq(&self) -> u64 {
        self.event.seq
    }
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
        let a = d.frame(Dialect::Aisoc).as_ptr();
        assert_eq!(a, d.frame(Dialect::Aisoc).as_ptr());
        assert!(
            d.frame(Dialect::Govern)
                .starts_with("{\"event\":\"alert.new\"")
        );
    }
}
