//! Refused tokens stop the feed with an auth error (4001, 4003, `forbidden_channel`), and are not
//! retried; the token hook is asked before every connection, and its failures are retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use socfeed_client::{Feed, FeedConfig, FeedError, Status, Tokens};
use socfeed_proto::{Channel, Filters, Role};
use socfeed_testkit::{TestServer, WAIT, pub_token, sub_token, token_with};

use crate::support::proxy::Proxy;
use crate::support::read::{next_item, seqs, status_until};
use crate::support::{TENANT, fast, publish_n, publisher, range};

fn both(url: &str) -> [FeedConfig; 2] {
    [
        fast(FeedConfig::govern(url, Filters::default())),
        fast(FeedConfig::aisoc(url, [])),
    ]
}

/// A well-formed token whose signature does not match: the server, not the client, refuses it.
fn badly_signed() -> String {
    let mut t = sub_token(TENANT);
    let last = t.pop().unwrap();
    t.push(if last == 'A' { 'B' } else { 'A' });
    t
}

/// The feed's last item is `Auth { code }`, then the stream ends and the status is final.
async fn refused_with(mut feed: Feed, code: u16) -> String {
    let mut status = feed.status();
    let reason = match next_item(&mut feed).await {
        Err(FeedError::Auth { code: c, reason }) if c == code => reason,
        other => panic!("expected Auth({code}), got {other:?}"),
    };
    assert!(
        tokio::time::timeout(WAIT, feed.next())
            .await
            .unwrap()
            .is_none()
    );
    status_until(&mut status, Status::is_final).await;
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_4001_and_is_not_retried() {
    let server = TestServer::start().await;
    for config in both(&server.http("")) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let tokens = Tokens::from_fn(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(badly_signed()) }
        });
        refused_with(Feed::connect(config, tokens).unwrap(), 4001).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "not retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_stream_is_4001() {
    let server = TestServer::start().await;
    let p = publisher(&server.http(""));
    for config in both(&server.http("")) {
        let token = token_with(TENANT, &[Role::Subscriber], None, Duration::from_secs(2));
        let mut feed = Feed::connect(config, Tokens::fixed(token)).unwrap();
        let mut status = feed.status();
        status_until(&mut status, Status::is_connected).await;
        let published = publish_n(&p, "alert.created", 1).await;
        assert_eq!(seqs(&mut feed, 1).await, published);
        assert_eq!(refused_with(feed, 4001).await, "token expired");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_subscriber_role_is_4003() {
    let server = TestServer::start().await;
    for config in both(&server.http("")) {
        let feed = Feed::connect(config, Tokens::fixed(pub_token(TENANT))).unwrap();
        refused_with(feed, 4003).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_outside_the_allow_list_is_refused() {
    let server = TestServer::start().await;
    let token = token_with(TENANT, &[Role::Subscriber], Some(vec!["cases"]), WAIT * 6);
    let config = FeedConfig::aisoc(server.http(""), [Channel::parse("alerts").unwrap()]);
    let reason = refused_with(Feed::connect(config, Tokens::fixed(token)).unwrap(), 4003).await;
    assert!(reason.contains("alerts"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_hook_runs_before_every_connection_and_its_failures_are_retried() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let tokens = Tokens::from_fn(move || {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                Err::<String, _>("identity provider unavailable")
            } else {
                Ok(sub_token(TENANT))
            }
        }
    });
    let config = fast(FeedConfig::govern(proxy.url(), Filters::default()).since(0));
    let mut feed = Feed::connect(config, tokens).unwrap();
    let mut status = feed.status();
    let p = publisher(&server.http(""));
    assert_eq!(publish_n(&p, "alert.created", 3).await, range(1, 3));
    assert_eq!(seqs(&mut feed, 3).await, range(1, 3));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two failures, then a token"
    );
    for round in 0..3u64 {
        status_until(&mut status, Status::is_connected).await;
        proxy.cut();
        let s = 4 + round * 2;
        assert_eq!(publish_n(&p, "alert.created", 2).await, range(s, s + 1));
        assert_eq!(seqs(&mut feed, 2).await, range(s, s + 1));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2 + proxy.accepted(),
        "one fresh token per connection"
    );
    assert!(proxy.accepted() >= 4, "three cuts, three reconnects");
}
