//! Clean shutdown: `close()` and drop both end the connection and leave the status final.

use socfeed_client::{Feed, FeedConfig, Status, Tokens};
use socfeed_proto::Filters;
use socfeed_testkit::{TestServer, sub_token};

use crate::support::read::status_until;
use crate::support::{TENANT, fast, metric_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_drop_end_the_connection() {
    let server = TestServer::start().await;
    for close in [true, false] {
        for config in [
            fast(FeedConfig::govern(server.http(""), Filters::default())),
            fast(FeedConfig::aisoc(server.http(""), [])),
        ] {
            let feed = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
            let mut status = feed.status();
            status_until(&mut status, Status::is_connected).await;
            metric_until(&server, "socfeed_connections", |v| v == 1.0).await;
            if close {
                feed.close().await;
                assert_eq!(
                    *status.borrow(),
                    Status::Disconnected {
                        reason: "closed by the client".into()
                    }
                );
            } else {
                drop(feed);
                status_until(&mut status, Status::is_final).await;
            }
            metric_until(&server, "socfeed_connections", |v| v == 0.0).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_urls_are_refused_up_front() {
    for url in ["https://example.test", "ftp://h", "no url"] {
        let err = Feed::connect(FeedConfig::aisoc(url, []), Tokens::fixed("t")).err();
        assert!(
            matches!(err, Some(socfeed_client::FeedError::Url { .. })),
            "{url}: {err:?}"
        );
    }
}
