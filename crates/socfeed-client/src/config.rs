//! What a feed connects to and how it behaves across reconnects.

use std::time::Duration;

use socfeed_proto::{Channel, Filters, Seq};

use crate::backoff::Backoff;

/// Which dialect, and what to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    /// `GET /ws`: these channels (`all` for every channel). Each channel resumes on its own;
    /// see [`crate::Feed`] for the ordering across channels.
    Aisoc { channels: Vec<Channel> },
    /// `GET /v1/soc/feed`: every channel, narrowed by `filters` (sent as query parameters, so
    /// replays are filtered too).
    Govern { filters: Filters },
}

/// A feed's settings. Build one with [`FeedConfig::aisoc`] or [`FeedConfig::govern`] and adjust
/// the public fields.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// The server's base URL: `http://host:8086` or `ws://host:8086` (a path prefix is kept).
    pub url: String,
    pub dialect: Dialect,
    /// Start after this seq (replaying what is retained); `None` starts with live events.
    pub since: Option<Seq>,
    /// The epoch `since` belongs to, if known (a mismatch is reported as a [`crate::Gap`]).
    pub epoch: Option<String>,
    /// The reconnect schedule.
    pub backoff: Backoff,
    /// The server's heartbeat interval: the connection is given up when nothing at all arrives
    /// for two of them (default 30 s, so 60 s of silence).
    pub heartbeat_interval: Duration,
    /// How long the token hook, and then the TCP connect plus WebSocket handshake, may each
    /// take (default 10 s).
    pub connect_timeout: Duration,
    /// Items held for a caller that is not reading (default 1024). When full, the feed stops
    /// reading its socket; a server whose queue then overflows closes with 4008 and the feed
    /// resumes.
    pub buffer: usize,
}

impl FeedConfig {
    fn new(url: impl Into<String>, dialect: Dialect) -> FeedConfig {
        FeedConfig {
            url: url.into(),
            dialect,
            since: None,
            epoch: None,
            backoff: Backoff::default(),
            heartbeat_interval: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            buffer: 1024,
        }
    }

    /// An AiSOC feed of `channels` (none means `all`).
    pub fn aisoc(
        url: impl Into<String>,
        channels: impl IntoIterator<Item = Channel>,
    ) -> FeedConfig {
        FeedConfig::new(
            url,
            Dialect::Aisoc {
                channels: channels.into_iter().collect(),
            },
        )
    }

    /// A GOVERN feed narrowed by `filters` (empty filters: everything).
    pub fn govern(url: impl Into<String>, filters: Filters) -> FeedConfig {
        FeedConfig::new(url, Dialect::Govern { filters })
    }

    /// Starts after `seq`.
    pub fn since(mut self, seq: Seq) -> FeedConfig {
        self.since = Some(seq);
        self
    }

    /// How long without any message before the connection is given up: two heartbeat intervals.
    pub fn silence_limit(&self) -> Duration {
        self.heartbeat_interval.saturating_mul(2)
    }
}
