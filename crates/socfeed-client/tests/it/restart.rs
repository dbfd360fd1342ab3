//! The server is stopped (sessions get 1001) and started again on the same data dir and port;
//! the feed reconnects with backoff while it is down and resumes without a gap or a duplicate.

use socfeed_client::{Feed, FeedConfig, Status, Tokens};
use socfeed_proto::{Channel, Filters};
use socfeed_testkit::sub_token;

use crate::support::node::Node;
use crate::support::read::{quiet, seqs, status_until};
use crate::support::{TENANT, fast, publish_n, publisher, range};

async fn survives_restarts(config: impl Fn(String) -> FeedConfig) {
    let mut node = Node::start(|_| {}).await;
    let url = node.url();
    let mut feed = Feed::connect(
        fast(config(url.clone()).since(0)),
        Tokens::fixed(sub_token(TENANT)),
    )
    .unwrap();
    let mut status = feed.status();
    let p = publisher(&url);

    assert_eq!(publish_n(&p, "alert.created", 10).await, range(1, 10));
    assert_eq!(seqs(&mut feed, 10).await, range(1, 10));

    for round in 0..3u64 {
        status_until(&mut status, Status::is_connected).await;
        let (dir, addr, tweak) = node.stop().await;
        let s = status_until(&mut status, |s| matches!(s, Status::Reconnecting { .. })).await;
        let Status::Reconnecting { reason, .. } = s else {
            unreachable!()
        };
        assert!(
            reason.contains("1001") || reason.contains("connect"),
            "{reason}"
        );
        // Down for a while: attempts fail with connection refused and back off.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        node = Node::start_at(dir, addr, tweak).await;
        // Published after the restart, possibly before the feed is back: replayed or live.
        let first = 11 + round * 20;
        assert_eq!(
            publish_n(&p, "case.created", 10).await,
            range(first, first + 9)
        );
        status_until(&mut status, Status::is_connected).await;
        assert_eq!(
            publish_n(&p, "alert.created", 10).await,
            range(first + 10, first + 19)
        );
        assert_eq!(
            seqs(&mut feed, 20).await,
            range(first, first + 19),
            "round {round}"
        );
    }
    quiet(&mut feed, std::time::Duration::from_millis(300)).await;
    feed.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_resumes_across_server_restarts() {
    survives_restarts(|url| FeedConfig::govern(url, Filters::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_resumes_across_server_restarts() {
    survives_restarts(|url| FeedConfig::aisoc(url, [Channel::parse("all").unwrap()])).await;
}
