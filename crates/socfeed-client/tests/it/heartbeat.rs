//! Heartbeats: a healthy connection stays up; one that goes silent (a proxy that stops
//! forwarding) is given up after two heartbeat intervals and the feed resumes; a feed whose
//! caller stops reading is closed by the server with 4002 and resumes too.

use std::time::Duration;

use socfeed_client::{Feed, FeedConfig, Status, Tokens};
use socfeed_proto::Filters;
use socfeed_testkit::{TestServer, sub_token};

use crate::support::proxy::Proxy;
use crate::support::read::{quiet, seqs, status_until};
use crate::support::{TENANT, fast, metric_until, publish_n, publisher, range};

/// Heartbeats for the silence tests: long enough that a loaded machine does not miss two.
const BEAT: Duration = Duration::from_millis(500);
/// Heartbeats for the 4002 test, where the server is meant to give up quickly.
const FAST_BEAT: Duration = Duration::from_millis(200);

async fn beat_server(beat: Duration) -> TestServer {
    TestServer::start_with(move |c| c.heartbeat_interval = beat).await
}

async fn silence_is_detected(config: impl Fn(String) -> FeedConfig) {
    let server = beat_server(BEAT).await;
    let proxy = Proxy::start(server.addr).await;
    let mut config = fast(config(proxy.url()).since(0));
    config.heartbeat_interval = BEAT;
    let mut feed = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
    let mut status = feed.status();
    let p = publisher(&server.http(""));
    assert_eq!(publish_n(&p, "alert.created", 5).await, range(1, 5));
    assert_eq!(seqs(&mut feed, 5).await, range(1, 5));

    // Five intervals of heartbeats only: still the same connection.
    status_until(&mut status, Status::is_connected).await;
    tokio::time::sleep(BEAT * 5).await;
    assert!(!status.has_changed().unwrap(), "{:?}", *status.borrow());
    assert_eq!(proxy.accepted(), 1);

    proxy.freeze();
    assert_eq!(publish_n(&p, "alert.created", 5).await, range(6, 10));
    let s = status_until(&mut status, |s| matches!(s, Status::Reconnecting { .. })).await;
    let Status::Reconnecting { reason, .. } = s else {
        unreachable!()
    };
    assert!(
        reason.contains("no message from the server for 1s"),
        "{reason}"
    );
    assert_eq!(seqs(&mut feed, 5).await, range(6, 10));
    assert_eq!(proxy.accepted(), 2);
    quiet(&mut feed, BEAT * 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_gives_up_a_silent_connection_and_resumes() {
    silence_is_detected(|url| FeedConfig::govern(url, Filters::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_gives_up_a_silent_connection_and_resumes() {
    silence_is_detected(|url| FeedConfig::aisoc(url, [])).await;
}

/// A caller that stops reading blocks the feed's socket reads, so no Pong goes back: the server
/// closes with 4002, and once the caller reads again the feed resumes after the last seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_heartbeat_timeout_4002_resumes() {
    let server = beat_server(FAST_BEAT).await;
    let mut config = fast(FeedConfig::govern(server.http(""), Filters::default()).since(0));
    config.heartbeat_interval = FAST_BEAT;
    config.buffer = 1;
    let mut feed = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
    let p = publisher(&server.http(""));
    assert_eq!(publish_n(&p, "alert.created", 30).await, range(1, 30));
    metric_until(&server, "socfeed_heartbeat_timeouts_total", |v| v >= 1.0).await;
    assert_eq!(publish_n(&p, "alert.created", 5).await, range(31, 35));
    assert_eq!(seqs(&mut feed, 35).await, range(1, 35));
    quiet(&mut feed, FAST_BEAT * 2).await;
}
