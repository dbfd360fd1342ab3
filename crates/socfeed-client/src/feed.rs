//! The caller's handle: a `Stream` of items, a status watch, and shutdown.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::FeedConfig;
use crate::endpoint;
use crate::error::FeedError;
use crate::item::FeedItem;
use crate::status::Status;
use crate::supervisor::Supervisor;
use crate::token::Tokens;

/// A subscription that outlives connections.
///
/// A `Stream` of `Result<FeedItem, FeedError>`: events, each delivered once and in seq order per
/// stream (a GOVERN feed is one stream; an AiSOC feed has one per channel, or one for `all`),
/// and [`crate::Gap`]s where the server could not fill a resume. An `Err` is the last item:
/// the server refused the token (4001/4003), and the feed stopped. Otherwise the stream ends only
/// when the feed is closed.
///
/// Across channels of one AiSOC connection the server keeps seq order only per channel (a
/// channel's replay may follow live events of another), so each channel resumes from its own
/// last seq; subscribe to `all` (or use GOVERN) for one ordered stream.
///
/// Runs on a task of the current Tokio runtime. Dropping the feed stops it; [`Feed::close`]
/// also waits for the connection's close handshake.
pub struct Feed {
    items: mpsc::Receiver<Result<FeedItem, FeedError>>,
    status: watch::Receiver<Status>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Feed {
    /// Starts the feed: connects in the background and keeps reconnecting. Fails only when the
    /// URL cannot be used. Must be called within a Tokio runtime.
    pub fn connect(config: FeedConfig, tokens: Tokens) -> Result<Feed, FeedError> {
        let base = endpoint::base(&config.url, true).map_err(|reason| FeedError::Url {
            url: config.url.clone(),
            reason,
        })?;
        let (out, items) = mpsc::channel(config.buffer.max(1));
        let (status_tx, status) = watch::channel(Status::Connecting);
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            Supervisor {
                config,
                base,
                tokens,
                out,
                status: status_tx,
                stop: stop.clone(),
            }
            .run(),
        );
        Ok(Feed {
            items,
            status,
            stop,
            task: Some(task),
        })
    }

    /// The connection status, to watch (`changed().await`) or read (`borrow()`).
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Stops the feed: closes the connection with 1000 and waits for the task to end.
    pub async fn close(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Stream for Feed {
    type Item = Result<FeedItem, FeedError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_recv(cx)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
