//! Connections cut mid-stream by a proxy (the client sees the TCP connection end without a
//! close frame, 1006) while a publisher keeps publishing: every event arrives once, in order.

use std::time::Duration;

use socfeed_client::{Feed, FeedConfig, FeedItem, Status, Tokens};
use socfeed_proto::{Channel, Filters};
use socfeed_testkit::{TestServer, sub_token};

use crate::support::proxy::Proxy;
use crate::support::read::{next_item, quiet, seqs, status_until};
use crate::support::{TENANT, fast, publish_n, publisher, range};

const TOTAL: usize = 400;

/// Publishes `TOTAL` events in small batches while the proxy cuts every connection now and then.
async fn cut_while_publishing(config: impl Fn(String) -> FeedConfig) {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let mut feed = Feed::connect(
        fast(config(proxy.url()).since(0)),
        Tokens::fixed(sub_token(TENANT)),
    )
    .unwrap();
    let p = publisher(&server.http(""));
    let publishing = tokio::spawn(async move {
        for _ in 0..TOTAL / 10 {
            publish_n(&p, "alert.created", 10).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let cutting = async {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(80)).await;
            proxy.cut();
        }
    };
    let (got, ()) = tokio::join!(seqs(&mut feed, TOTAL), cutting);
    publishing.await.unwrap();
    assert_eq!(got, range(1, TOTAL as u64));
    assert!(
        proxy.accepted() >= 3,
        "only {} connections",
        proxy.accepted()
    );
    quiet(&mut feed, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_delivers_every_event_once_across_cuts() {
    cut_while_publishing(|url| FeedConfig::govern(url, Filters::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_delivers_every_event_once_across_cuts() {
    cut_while_publishing(|url| FeedConfig::aisoc(url, [])).await;
}

/// Two AiSOC channels resume each from its own last seq: each channel's events arrive once and
/// in order, whatever the interleaving of replays and live events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_channels_resume_each_on_their_own() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let channels = ["alerts", "cases"].map(|c| Channel::parse(c).unwrap());
    let config = fast(FeedConfig::aisoc(proxy.url(), channels).since(0));
    let mut feed = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
    let p = publisher(&server.http(""));
    let publishing = tokio::spawn(async move {
        let mut by_type = (Vec::new(), Vec::new());
        for _ in 0..30 {
            by_type.0.extend(publish_n(&p, "alert.created", 5).await);
            by_type.1.extend(publish_n(&p, "case.updated", 5).await);
            publish_n(&p, "ueba.anomaly", 2).await; // not subscribed
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        by_type
    });
    let reading = async {
        let (mut alerts, mut cases) = (Vec::new(), Vec::new());
        while alerts.len() + cases.len() < 300 {
            match next_item(&mut feed).await.unwrap() {
                FeedItem::Event(e) if e.event_type == "alert.created" => alerts.push(e.seq),
                FeedItem::Event(e) if e.event_type == "case.updated" => cases.push(e.seq),
                other => panic!("unexpected {other:?}"),
            }
        }
        (alerts, cases)
    };
    let cutting = async {
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            proxy.cut();
        }
    };
    let (got, ()) = tokio::join!(reading, cutting);
    let published = publishing.await.unwrap();
    assert_eq!(got, published);
    quiet(&mut feed, Duration::from_millis(300)).await;
}

/// A GOVERN feed that starts live and is cut before its first event resumes by time window, so
/// the events published while it was away still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_live_start_misses_nothing_while_away() {
    let server = TestServer::start().await;
    let p = publisher(&server.http(""));
    assert_eq!(publish_n(&p, "alert.created", 3).await, range(1, 3));
    // Older than the window's one-second margin: not part of a feed started live after them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let proxy = Proxy::start(server.addr).await;
    let config = fast(FeedConfig::govern(proxy.url(), Filters::default()));
    let mut feed = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
    let mut status = feed.status();
    status_until(&mut status, Status::is_connected).await;
    proxy.refuse(true);
    proxy.cut();
    status_until(&mut status, |s| matches!(s, Status::Reconnecting { .. })).await;
    assert_eq!(publish_n(&p, "alert.created", 4).await, range(4, 7));
    proxy.refuse(false);
    assert_eq!(seqs(&mut feed, 4).await, range(4, 7));
    proxy.cut();
    assert_eq!(publish_n(&p, "alert.created", 2).await, range(8, 9));
    assert_eq!(seqs(&mut feed, 2).await, range(8, 9));
    quiet(&mut feed, Duration::from_millis(300)).await;
}
