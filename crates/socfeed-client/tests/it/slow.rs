//! A caller that stops reading: the feed stops reading its socket, the server's queue for it
//! overflows and it is closed with 4008; once the caller reads again every event arrives once.

use std::time::Duration;

use socfeed_client::{Feed, FeedConfig, NewEvent, Tokens};
use socfeed_testkit::{TestServer, sub_token};

use crate::support::read::{quiet, seqs};
use crate::support::{TENANT, fast, metric_until, publisher, range};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_4008_resumes_without_loss() {
    let server = TestServer::start_with(|c| c.queue_len = 16).await;
    let mut config = fast(FeedConfig::aisoc(server.http(""), []).since(0));
    config.buffer = 1;
    let mut feed = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
    let mut status = feed.status();
    crate::support::read::status_until(&mut status, socfeed_client::Status::is_connected).await;
    let p = publisher(&server.http(""));
    // 3000 events of 8 KiB: far more than the socket buffers hold.
    let pad = "x".repeat(8 * 1024);
    let total = 3000u64;
    for batch in 0..total / 100 {
        let events: Vec<NewEvent> = (0..100)
            .map(|i| {
                NewEvent::new(
                    "alert.created",
                    serde_json::json!({"i": batch * 100 + i, "pad": pad}),
                )
            })
            .collect();
        p.publish(&events).await.unwrap();
    }
    metric_until(&server, "socfeed_slow_consumer_closes_total", |v| v >= 1.0).await;
    assert_eq!(seqs(&mut feed, total as usize).await, range(1, total));
    quiet(&mut feed, Duration::from_millis(300)).await;
}
