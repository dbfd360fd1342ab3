//! Resuming: GOVERN replays split in `feed.replay` parts, filters applied to replays, and
//! `truncated: true` (an epoch that does not match) surfaced as a gap in both dialects.

use socfeed_client::{Feed, FeedConfig, NewEvent, Tokens};
use socfeed_proto::{Filters, Seq};
use socfeed_testkit::{TestServer, sub_token};

use crate::support::read::{gap, quiet, seqs};
use crate::support::{TENANT, fast, publisher, range};

/// 200 events of ~300 bytes; even seqs are `critical`, odd ones `low`.
async fn publish_mixed(server: &TestServer) {
    let p = publisher(&server.http(""));
    let events: Vec<NewEvent> = (1..=200)
        .map(|i| {
            let severity = if i % 2 == 0 { "critical" } else { "low" };
            NewEvent::new(
                "alert.new",
                serde_json::json!({"severity": severity, "pad": "x".repeat(250)}),
            )
        })
        .collect();
    let reply = p.publish(&events).await.unwrap();
    assert_eq!(reply.accepted, 200);
}

fn feed(server: &TestServer, filters: Filters, since: Seq) -> Feed {
    let config = fast(FeedConfig::govern(server.http(""), filters).since(since));
    Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_replays_in_parts_are_read_to_the_last() {
    let server = TestServer::start_with(|c| c.max_frame_size = 4096).await;
    publish_mixed(&server).await;
    let mut all = feed(&server, Filters::default(), 0);
    assert_eq!(seqs(&mut all, 200).await, range(1, 200));
    let mut tail = feed(&server, Filters::default(), 150);
    assert_eq!(seqs(&mut tail, 50).await, range(151, 200));
    let critical = Filters {
        severities: vec!["critical".into()],
        ..Filters::default()
    };
    let mut filtered = feed(&server, critical, 100);
    let want: Vec<u64> = (101..=200).filter(|s| s % 2 == 0).collect();
    assert_eq!(seqs(&mut filtered, 50).await, want);
    quiet(&mut filtered, std::time::Duration::from_millis(200)).await;
}

async fn epoch_mismatch_is_a_gap(config: impl Fn(String) -> FeedConfig, aisoc: bool) {
    let server = TestServer::start().await;
    let p = publisher(&server.http(""));
    crate::support::publish_n(&p, "alert.created", 5).await;
    let mut config = fast(config(server.http("")).since(2));
    config.epoch = Some("not-the-epoch".into());
    let mut feed = Feed::connect(config.clone(), Tokens::fixed(sub_token(TENANT))).unwrap();
    let g = gap(&mut feed).await;
    assert_eq!(g.after, 2);
    assert!(g.epoch_changed);
    assert_eq!(g.channel.is_some(), aisoc);
    let epoch = g.epoch.expect("the server's epoch");
    // Another history: everything retained in it is new.
    assert_eq!(seqs(&mut feed, 5).await, range(1, 5));

    // With the right epoch the same cursor resumes exactly.
    config.epoch = Some(epoch);
    let mut exact = Feed::connect(config, Tokens::fixed(sub_token(TENANT))).unwrap();
    assert_eq!(seqs(&mut exact, 3).await, range(3, 5));
    quiet(&mut exact, std::time::Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_truncated_resume_is_a_gap() {
    epoch_mismatch_is_a_gap(|url| FeedConfig::govern(url, Filters::default()), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_truncated_resume_is_a_gap() {
    epoch_mismatch_is_a_gap(|url| FeedConfig::aisoc(url, []), true).await;
}
