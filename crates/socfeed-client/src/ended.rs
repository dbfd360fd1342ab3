//! How one connection ended, and whether the feed goes on.

use std::fmt;
use std::time::Duration;

use socfeed_proto::CloseCode;

use crate::error::FeedError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The caller closed or dropped the feed.
    Stopped,
    /// The token hook failed.
    Token(String),
    /// TCP connect or WebSocket handshake failed (refused, timed out, HTTP error).
    Connect(String),
    /// The server refused the token or the rights: HTTP 401/403 at the handshake, close 4001 or
    /// 4003, or a `forbidden_channel` error (reported as 4003).
    Refused { code: u16, reason: String },
    /// The server closed with a code that asks for a reconnect (1001, 4002, 4008, 1011 …).
    Closed { code: u16, reason: String },
    /// The connection broke without a close frame (1006).
    Lost(String),
    /// Nothing arrived for the silence limit (two heartbeat intervals).
    Silent(Duration),
}

impl Ended {
    /// A close frame's code and reason, sorted by [`CloseCode::should_reconnect`].
    pub(crate) fn close(code: u16, reason: String) -> Ended {
        if CloseCode(code).should_reconnect() {
            Ended::Closed { code, reason }
        } else {
            Ended::Refused { code, reason }
        }
    }

    /// The error that stops the feed, when this ending does.
    pub(crate) fn fatal(&self) -> Option<FeedError> {
        match self {
            Ended::Refused { code, reason } => Some(FeedError::Auth {
                code: *code,
                reason: if reason.is_empty() {
                    CloseCode(*code).reason().to_string()
                } else {
                    reason.clone()
                },
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Stopped => f.write_str("closed by the client"),
            Ended::Token(e) => write!(f, "fetching a token: {e}"),
            Ended::Connect(e) => write!(f, "connecting: {e}"),
            Ended::Refused { code, reason } | Ended::Closed { code, reason } => {
                let reason = if reason.is_empty() {
                    CloseCode(*code).reason()
                } else {
                    reason
                };
                write!(f, "server closed the connection ({code} {reason})")
            }
            Ended::Lost(e) => write!(f, "connection lost: {e}"),
            Ended::Silent(d) => write!(f, "no message from the server for {d:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_codes_stop_the_feed() {
        for code in [4001, 4003] {
            let e = Ended::close(code, String::new());
            assert!(e.fatal().unwrap().is_auth(), "{code}");
        }
        for code in [1001, 1006, 1011, 4002, 4008, 4029] {
            assert!(
                Ended::close(code, String::new()).fatal().is_none(),
                "{code}"
            );
        }
        assert_eq!(
            Ended::close(4008, String::new()).to_string(),
            "server closed the connection (4008 slow consumer)"
        );
    }
}
