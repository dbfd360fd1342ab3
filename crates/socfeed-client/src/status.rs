//! The connection status a caller watches (`tokio::sync::watch`): the feed page's green, yellow
//! and red dot.

use std::time::Duration;

/// Where a feed's connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The first connection is being made (yellow).
    Connecting,
    /// Connected: the server answered (an ack, a replay, an event or a heartbeat) (green).
    Connected,
    /// The connection dropped; retry `attempt` (1 for the first) starts after `retry_in` (yellow).
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        /// Why the last connection ended or could not be made.
        reason: String,
    },
    /// Stopped for good: closed by the caller, or refused by the server (4001/4003) (red).
    Disconnected { reason: String },
}

impl Status {
    pub fn is_connected(&self) -> bool {
        matches!(self, Status::Connected)
    }

    /// `true` once the feed has stopped and will not reconnect.
    pub fn is_final(&self) -> bool {
        matches!(self, Status::Disconnected { .. })
    }
}
