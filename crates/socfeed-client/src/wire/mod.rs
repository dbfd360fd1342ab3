//! Server messages as the client reads them, and the messages it sends, for both dialects.
//! The encoders of the server side live in `socfeed_proto`; the tests here decode what they encode
//! and check that `socfeed_proto`'s parsers accept what this side sends.

pub(crate) mod aisoc;
pub(crate) mod govern;

use socfeed_proto::{Channel, Event, Seq};

/// One message from the server.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// An event (live or replayed).
    Event(Event),
    /// AiSOC `subscribed`.
    Subscribed(Ack),
    /// One GOVERN `feed.replay` part.
    Replay(ReplayPart),
    /// `{"type":"error"}` / `{"event":"error"}`: bad input; the connection stays.
    Error { code: String, message: String },
    /// Pings, heartbeats and acks that change nothing (`unsubscribed`, `feed.subscribed`).
    Other,
}

/// AiSOC `{"type":"subscribed","payload":{"channel","seq","epoch","truncated"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct Ack {
    pub channel: Channel,
    pub seq: Seq,
    #[serde(default)]
    pub epoch: Option<String>,
    #[serde(default)]
    pub truncated: bool,
}

/// GOVERN `feed.replay` data.
#[derive(Debug)]
pub(crate) struct ReplayPart {
    pub truncated: bool,
    pub epoch: Option<String>,
    /// Another part follows.
    pub more: bool,
    pub events: Vec<Event>,
}

/// A message the client could not read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable message from the server: {0}")]
pub(crate) struct DecodeError(pub String);

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> DecodeError {
        DecodeError(e.to_string())
    }
}

/// `{"code","message"}` of an error message.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}
