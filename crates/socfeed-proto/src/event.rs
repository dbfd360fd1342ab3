//! The event as stored and fanned out, and the publisher's validated input.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::channel::Channel;

/// Per-tenant position of an event: 1, 2, 3 … assigned by the log at ingest; the resume cursor.
pub type Seq = u64;

/// A tenant's id: 1–128 characters of ASCII letters, digits and `_ - . : @`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant_id must be 1-128 characters of A-Z a-z 0-9 _ - . : @")]
pub struct TenantIdError;

impl TenantId {
    pub fn parse(s: &str) -> Result<TenantId, TenantIdError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@')
            });
        if ok {
            Ok(TenantId(Arc::from(s)))
        } else {
            Err(TenantIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TenantId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An event as stored in the log and delivered to subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub seq: Seq,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The publisher's JSON object, kept byte for byte.
    pub payload: Box<RawValue>,
    /// Event time, unix milliseconds.
    pub ts: i64,
}

impl Event {
    /// The channel of this event's type. Types are validated at ingest, so this only fails for
    /// records written by something other than socfeed.
    pub fn channel(&self) -> Option<Channel> {
        Channel::of(&self.event_type).ok()
    }
}

/// A validated event that has everything but its `seq`: the input to `EventLog::append`.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub tenant_id: TenantId,
    pub id: String,
    /// `true` when the publisher chose the id; only those ids are checked for duplicates.
    pub id_supplied: bool,
    pub event_type: String,
    pub payload: Box<RawValue>,
    /// Event time, unix milliseconds.
    pub ts: i64,
}

impl EventDraft {
    /// The stored event this draft becomes at `seq`.
    pub fn into_event(self, seq: Seq) -> Event {
        Event {
            id: self.id,
            seq,
            tenant_id: self.tenant_id,
            event_type: self.event_type,
            payload: self.payload,
            ts: self.ts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(TenantId::parse("3f6c2a0e-uuid-like").is_ok());
        assert!(TenantId::parse("acme.corp:eu@1").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("*").is_err());
        assert!(TenantId::parse("a/b").is_err());
        assert!(TenantId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn event_round_trips_with_payload_bytes_kept() {
        let raw = r#"{"id":"evt_1","seq":3,"tenant_id":"t1","type":"alert.created","payload":{"b":1,"a":[1, 2]},"ts":5}"#;
        let e: Event = serde_json::from_str(raw).unwrap();
        assert_eq!(e.payload.get(), r#"{"b":1,"a":[1, 2]}"#);
        assert_eq!(e.channel().unwrap().as_str(), "alerts");
        assert_eq!(serde_json::to_string(&e).unwrap(), raw);
    }
}
