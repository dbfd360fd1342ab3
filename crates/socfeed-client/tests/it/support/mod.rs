//! Helpers: a restartable server on a fixed port, a TCP proxy that cuts or freezes connections,
//! and ways to read a feed with deadlines.

pub(crate) mod node;
pub(crate) mod proxy;
pub(crate) mod read;

use std::time::Duration;

use socfeed_client::{Backoff, FeedConfig, NewEvent, Publisher, Tokens};
use socfeed_testkit::pub_token;

pub(crate) const TENANT: &str = "acme";

/// A schedule quick enough for tests: 20 ms doubling to 200 ms, reset after 1 s.
pub(crate) fn fast(mut config: FeedConfig) -> FeedConfig {
    config.backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        reset_after: Duration::from_secs(1),
    };
    config.connect_timeout = Duration::from_secs(2);
    config
}

/// A publisher for [`TENANT`] at `url`.
pub(crate) fn publisher(url: &str) -> Publisher {
    Publisher::new(url, Tokens::fixed(pub_token(TENANT))).expect("publisher")
}

/// Publishes `n` events of `event_type` (batches of 50) and returns their seqs.
pub(crate) async fn publish_n(p: &Publisher, event_type: &str, n: usize) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(n);
    let events: Vec<NewEvent> = (0..n)
        .map(|i| NewEvent::new(event_type, serde_json::json!({"i": i, "severity": "high"})))
        .collect();
    for batch in events.chunks(50) {
        let reply = p.publish(batch).await.expect("publish");
        seqs.extend(reply.events.iter().map(|a| a.seq));
    }
    seqs
}

/// `a..=b` as a vector.
pub(crate) fn range(a: u64, b: u64) -> Vec<u64> {
    (a..=b).collect()
}

/// The value of a Prometheus sample named exactly `name` on the server's `/metrics` (0 if absent).
pub(crate) async fn metric(server: &socfeed_testkit::TestServer, name: &str) -> f64 {
    let (_, text) = server.get("/metrics").await;
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until `metric(name)` satisfies `pred`.
pub(crate) async fn metric_until(
    server: &socfeed_testkit::TestServer,
    name: &str,
    pred: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = tokio::time::Instant::now() + socfeed_testkit::WAIT;
    loop {
        let v = metric(server, name).await;
        if pred(v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} stuck at {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
