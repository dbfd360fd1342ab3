//! Typed errors of the subscriber and the publisher.

use std::time::Duration;

use socfeed_proto::publish::ErrorReply;

/// An error a token hook returns; the feed retries with backoff, a publish fails with it.
pub type TokenError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a feed stopped for good (the last item of its stream) or could not be created.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeedError {
    /// The server refused the token: close 4001 (missing, invalid or expired) or 4003 (no
    /// subscriber role, or a channel outside the allow-list), or 401/403 at the handshake.
    /// Not retried: it needs a new token or new rights.
    #[error("not authorised ({code}): {reason}")]
    Auth { code: u16, reason: String },
    /// The feed URL cannot be used.
    #[error("invalid feed URL {url:?}: {reason}")]
    Url { url: String, reason: String },
}

impl FeedError {
    /// `true` for [`FeedError::Auth`].
    pub fn is_auth(&self) -> bool {
        matches!(self, FeedError::Auth { .. })
    }
}

/// Why `POST /v1/events` failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The base URL cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// The token hook failed.
    #[error("fetching a token: {0}")]
    Token(TokenError),
    /// The request could not be sent or its reply read.
    #[error("POST /v1/events: {0}")]
    Http(#[from] reqwest::Error),
    /// The server refused the batch (400, 401, 403, 413, 429, 503 …); nothing was stored.
    #[error("POST /v1/events: {status} {}: {}", reply.error, reply.message)]
    Rejected {
        status: u16,
        reply: ErrorReply,
        /// `Retry-After` of a 429 or 503.
        retry_after: Option<Duration>,
    },
    /// A reply that is not the protocol's.
    #[error("POST /v1/events: unexpected reply {status}: {body}")]
    Unexpected { status: u16, body: String },
}
