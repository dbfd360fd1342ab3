//! Reading a feed in tests: every wait has a deadline.

use std::time::Duration;

use futures_util::StreamExt;
use socfeed_client::{Feed, FeedError, FeedItem, Gap, Status};
use socfeed_proto::Event;
use socfeed_testkit::WAIT;
use tokio::sync::watch;

/// The next item; panics after `WAIT` or when the stream ended.
pub(crate) async fn next_item(feed: &mut Feed) -> Result<FeedItem, FeedError> {
    tokio::time::timeout(WAIT, feed.next())
        .await
        .expect("an item within WAIT")
        .expect("the feed is still open")
}

/// The next `n` events; panics on a gap, an error or a timeout.
pub(crate) async fn events(feed: &mut Feed, n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match next_item(feed).await {
            Ok(FeedItem::Event(e)) => out.push(e),
            Ok(FeedItem::Gap(g)) => panic!("unexpected gap {g:?} after {} events", out.len()),
            Err(e) => panic!("feed failed after {} events: {e}", out.len()),
        }
    }
    out
}

/// The seqs of the next `n` events.
pub(crate) async fn seqs(feed: &mut Feed, n: usize) -> Vec<u64> {
    events(feed, n).await.iter().map(|e| e.seq).collect()
}

/// The next item, which must be a gap.
pub(crate) async fn gap(feed: &mut Feed) -> Gap {
    match next_item(feed).await {
        Ok(FeedItem::Gap(g)) => g,
        other => panic!("expected a gap, got {other:?}"),
    }
}

/// Asserts that no item arrives for `wait`.
pub(crate) async fn quiet(feed: &mut Feed, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, feed.next()).await {
        panic!("expected nothing, got {item:?}");
    }
}

/// Waits until the status satisfies `pred`; returns it.
pub(crate) async fn status_until(
    rx: &mut watch::Receiver<Status>,
    pred: impl Fn(&Status) -> bool,
) -> Status {
    let s = tokio::time::timeout(WAIT, rx.wait_for(|s| pred(s)))
        .await
        .expect("status within WAIT")
        .expect("status sender alive");
    s.clone()
}
