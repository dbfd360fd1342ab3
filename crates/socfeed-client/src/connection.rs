//! One connection: fetch a token, connect, (re)subscribe from the resume state, then read until
//! the connection ends, delivering each new event and each gap. The supervisor decides what next.
//!
//! * [`reader`] — what one connection of each dialect keeps (the `since` it asked, replay parts).
//! * [`open`] — token, URL, handshake and the subscribe messages.
//! * [`session`] — the read loop: watchdog, events, acks, replays, close frames.

mod open;
mod reader;
mod session;

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::FeedConfig;
use crate::ended::Ended;
use crate::error::FeedError;
use crate::item::FeedItem;
use crate::resume::Resume;
use crate::status::Status;
use crate::token::Tokens;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where delivered items go.
pub(crate) type Items = mpsc::Sender<Result<FeedItem, FeedError>>;

/// What one connection borrows from the supervisor.
pub(crate) struct Link<'a> {
    pub config: &'a FeedConfig,
    pub base: &'a Url,
    pub tokens: &'a Tokens,
    pub resume: &'a mut Resume,
    pub out: &'a Items,
    pub status: &'a watch::Sender<Status>,
    pub stop: &'a CancellationToken,
    /// GOVERN, nothing delivered yet, not the first connection: replay this window instead of
    /// connecting live, so nothing published while disconnected is missed.
    pub window: Option<Duration>,
}

/// How the connection ended, and since when it was up (the server had answered).
pub(crate) struct Outcome {
    pub ended: Ended,
    pub up_since: Option<Instant>,
}

/// Runs one connection to its end.
pub(crate) async fn run(link: Link<'_>) -> Outcome {
    let mut up_since = None;
    let ended = match open::open(&link).await {
        Ok((ws, reader)) => session::read(link, ws, reader, &mut up_since).await,
        Err(e) => e,
    };
    Outcome { ended, up_since }
}
