//! Channels: the first segment of an event type, pluralised (`alert.created` → `alerts`).

use std::fmt;
use std::sync::Arc;

/// The name that means "every channel" in a subscribe.
pub const ALL: &str = "all";

/// A valid channel name: 1–64 characters of `a-z`, `0-9`, `_`, `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(Arc<str>);

/// Why a string is not a channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("channel name must be 1-64 characters")]
    Length,
    #[error("channel name may contain only a-z, 0-9, '_' and '-'")]
    Charset,
}

impl Channel {
    /// Validates a channel name as a client or a token names it (`all` is valid here too).
    pub fn parse(name: &str) -> Result<Channel, ChannelError> {
        validate(name)?;
        Ok(Channel(Arc::from(name)))
    }

    /// The channel an event type belongs to; an error when the first segment is not a valid name.
    pub fn of(event_type: &str) -> Result<Channel, ChannelError> {
        let first = event_type.split('.').next().unwrap_or(event_type);
        let name = match first {
            "alert" => "alerts",
            "case" => "cases",
            "detection" => "detections",
            "investigation" => "investigations",
            "ueba" => "ueba",
            "honeytoken" => "honeytokens",
            "playbook" => "playbooks",
            "system" => "systems",
            other => other,
        };
        Channel::parse(name)
    }

    /// The `all` pseudo-channel.
    pub fn all() -> Channel {
        Channel(Arc::from(ALL))
    }

    /// `true` for the `all` pseudo-channel.
    pub fn is_all(&self) -> bool {
        &*self.0 == ALL
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(name: &str) -> Result<(), ChannelError> {
    if name.is_empty() || name.len() > 64 {
        return Err(ChannelError::Length);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(ChannelError::Charset);
    }
    Ok(())
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Channel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Channel::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pluralises_known_prefixes() {
        for (ty, ch) in [
            ("alert.created", "alerts"),
            ("case.comment", "cases"),
            ("detection.triggered", "detections"),
            ("investigation.step", "investigations"),
            ("ueba.anomaly", "ueba"),
            ("honeytoken.touched", "honeytokens"),
            ("playbook.failed", "playbooks"),
            ("system.score_changed", "systems"),
            ("alert.new", "alerts"),
            ("foo.bar", "foo"),
            ("custom", "custom"),
        ] {
            assert_eq!(Channel::of(ty).unwrap().as_str(), ch, "{ty}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Channel::parse(""), Err(ChannelError::Length));
        assert_eq!(Channel::parse(&"a".repeat(65)), Err(ChannelError::Length));
        assert_eq!(Channel::parse("Alerts"), Err(ChannelError::Charset));
        assert_eq!(Channel::parse("a b"), Err(ChannelError::Charset));
        assert!(Channel::of("Alert.created").is_err());
        assert!(Channel::of(".x").is_err());
        assert!(Channel::parse("all").unwrap().is_all());
        assert!(Channel::parse("a-b_9").is_ok());
    }
}
