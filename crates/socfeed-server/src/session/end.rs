//! Why a session ended, and what each reason becomes on the wire: a WebSocket close code, an
//! SSE `error` event. This is the one place that mapping is made.

use socfeed_log::LogError;
use socfeed_proto::CloseCode;

use crate::transport::{FrameError, RecvError};

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum End {
    /// Its queue overflowed: it missed events and must resume (4008).
    #[error("the session's queue overflowed")]
    Overflow,
    /// Its socket took no byte for two heartbeat intervals while a write waited: the client
    /// stopped reading. Dropped (a close frame could not reach it), counted as a slow consumer.
    #[error("the client stopped reading")]
    Stalled,
    /// The server is shutting down (1001).
    #[error("the server is shutting down")]
    Shutdown,
    /// The token expired (4001).
    #[error("the token expired")]
    TokenExpired,
    /// The client sent nothing for two heartbeat intervals (4002).
    #[error("the client went silent")]
    Silent,
    /// The client sent more messages than its rate allows (4029).
    #[error("the client sent too many messages")]
    TooManyMessages,
    /// The client broke the WebSocket framing rules (1002, 1007, 1009).
    #[error("the client broke the protocol")]
    Protocol(#[source] FrameError),
    /// The client closed the connection (1000 in reply).
    #[error("the client closed the connection")]
    ClientClosed,
    /// The event log failed (1011), or the engine is out of reach (1013).
    #[error("the event log failed")]
    Storage(#[source] LogError),
    /// The engine lost the tenant's history (1013): the client resumes from its cursor and is
    /// told what was lost (`truncated`).
    #[error("the tenant's history was reset")]
    HistoryReset,
    /// The connection is gone: nothing more can be sent.
    #[error("the connection is gone")]
    PeerGone,
}

impl End {
    /// The WebSocket close code; `None` when the connection is gone.
    pub(crate) fn close_code(&self) -> Option<CloseCode> {
        Some(match self {
            End::Overflow => CloseCode::SLOW_CONSUMER,
            End::Shutdown => CloseCode::GOING_AWAY,
            End::TokenExpired => CloseCode::UNAUTHORIZED,
            End::Silent => CloseCode::HEARTBEAT_TIMEOUT,
            End::TooManyMessages => CloseCode::TOO_MANY,
            End::Protocol(e) => CloseCode(e.close_code()),
            End::ClientClosed => CloseCode::NORMAL,
            End::Storage(e) if e.is_unreachable() => CloseCode::TRY_AGAIN_LATER,
            End::Storage(_) => CloseCode::INTERNAL_ERROR,
            End::HistoryReset => CloseCode::TRY_AGAIN_LATER,
            End::Stalled | End::PeerGone => return None,
        })
    }

    /// The close reason, when it says more than the code's own reason.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            End::TokenExpired => "token expired",
            End::TooManyMessages => "too many messages",
            End::Storage(e) if e.is_unreachable() => "engine unavailable",
            End::Storage(_) => "event log unavailable",
            End::HistoryReset => "history reset; resume with your cursor",
            _ => "",
        }
    }

    /// The `error` a transport without close codes (SSE) sends last: code and message.
    pub(crate) fn error(&self) -> Option<(&'static str, &'static str)> {
        match self {
            End::TokenExpired => Some(("token_expired", "the token expired")),
            End::Storage(e) if e.is_unreachable() => Some((
                "engine_unavailable",
                "the engine is unavailable; resume later",
            )),
            End::Storage(_) => Some(("unavailable", "the event log is unavailable")),
            End::HistoryReset => Some((
                "history_reset",
                "the tenant's history was reset; resume with your cursor",
            )),
            _ => None,
        }
    }
}

impl From<LogError> for End {
    fn from(e: LogError) -> End {
        End::Storage(e)
    }
}

impl From<RecvError> for End {
    fn from(e: RecvError) -> End {
        match e {
            RecvError::Frame(e) => End::Protocol(e),
            RecvError::Closed | RecvError::Io(_) => End::PeerGone,
        }
    }
}

/// What handling a client message gives.
pub(crate) type Reply = Result<(), Fault>;

/// Why handling a client message stopped.
#[derive(Debug)]
pub(crate) enum Fault {
    /// Bad input: answered with an error message, the connection stays.
    Client { code: &'static str, message: String },
    /// The session must end.
    End(End),
}

impl Fault {
    pub(crate) fn client(code: &'static str, message: impl Into<String>) -> Fault {
        Fault::Client {
            code,
            message: message.into(),
        }
    }
}

impl From<End> for Fault {
    fn from(e: End) -> Fault {
        Fault::End(e)
    }
}

impl From<LogError> for Fault {
    fn from(e: LogError) -> Fault {
        Fault::End(End::Storage(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_has_its_code() {
        let cases = [
            (End::Overflow, Some(4008)),
            (End::Shutdown, Some(1001)),
            (End::TokenExpired, Some(4001)),
            (End::Silent, Some(4002)),
            (End::TooManyMessages, Some(4029)),
            (End::Protocol(FrameError::TooBig), Some(1009)),
            (End::Protocol(FrameError::BadUtf8), Some(1007)),
            (End::ClientClosed, Some(1000)),
            (End::Storage(LogError::Closed), Some(1011)),
            (End::Stalled, None),
            (End::PeerGone, None),
        ];
        for (end, code) in cases {
            assert_eq!(end.close_code().map(|c| c.0), code, "{end}");
        }
        assert_eq!(
            End::TokenExpired.error().map(|e| e.0),
            Some("token_expired")
        );
        assert!(End::Overflow.error().is_none());
    }
}
