//! Cluster mode (protocol.md §8): several nodes on one Redis serve one feed. Every test starts
//! its own `redis-server` (own port and directory, AOF with `appendfsync always`).

use std::time::Duration;

use serde_json::{Value, json};
use socfeed_redis_harness::RedisServer;
use socfeed_server::{Config, Engine};
use socfeed_testkit::{SseClient, TestServer, WsClient, pub_token, sub_token};

/// A node on `redis`, with settings `tweak` may change.
async fn node_with(redis: &RedisServer, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let engine: Engine = redis.url().parse().expect("a redis URL");
    TestServer::start_with(move |c| {
        c.engine = engine;
        c.engine_prefix = "cluster-test".into();
        tweak(c);
    })
    .await
}

async fn node(redis: &RedisServer) -> TestServer {
    node_with(redis, |_| {}).await
}

fn aisoc(s: &TestServer, tenant: &str) -> String {
    format!("{}?token={}", s.ws("/ws"), sub_token(tenant))
}

/// Publishes `n` events to `tenant` through `s`, one request each; returns their seqs.
async fn publish_n(s: &TestServer, tenant: &str, n: usize, tag: &str) -> Vec<u64> {
    let token = pub_token(tenant);
    let mut seqs = Vec::with_capacity(n);
    for i in 0..n {
        seqs.push(
            s.publish_one(&token, "alert.created", json!({"i": i, "by": tag}))
                .await,
        );
    }
    seqs
}

/// The next `n` event seqs a WebSocket client receives (AiSOC `seq`, GOVERN `seq`).
async fn seqs_ws(c: &mut WsClient, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let v = c.next_non_ping().await;
        if let Some(seq) = v["seq"].as_u64() {
            out.push(seq);
        }
    }
    out
}

async fn seqs_sse(c: &mut SseClient, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = c.next_event().await;
        if let Ok(seq) = e.id.parse::<u64>() {
            out.push(seq);
        }
    }
    out
}

/// Publishes on A reach subscribers of both dialects and SSE on B and C, every event once, in
/// order; another tenant's subscriber sees none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_one_feed() {
    let redis = RedisServer::start();
    let (a, b, c) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut on_b = WsClient::connect(&aisoc(&b, "acme")).await;
    on_b.subscribe("all", None).await;
    let mut govern_c = WsClient::connect(&format!(
        "{}?token={}",
        c.ws("/v1/soc/feed"),
        sub_token("acme")
    ))
    .await;
    govern_c
        .send_json(&json!({"action":"subscribe","filters":{}}))
        .await;
    govern_c.next_non_ping().await;
    let mut sse_b = SseClient::connect(
        &format!("{}?token={}", b.http("/v1/soc/feed/sse"), sub_token("acme")),
        &[],
    )
    .await;
    let mut other = WsClient::connect(&aisoc(&c, "globex")).await;
    other.subscribe("all", None).await;
    let sent = publish_n(&a, "acme", 150, "a").await;
    assert_eq!(sent, (1..=150).collect::<Vec<_>>());
    assert_eq!(seqs_ws(&mut on_b, 150).await, sent, "AiSOC on B");
    assert_eq!(seqs_ws(&mut govern_c, 150).await, sent, "GOVERN on C");
    assert_eq!(seqs_sse(&mut sse_b, 150).await, sent, "SSE on B");
    on_b.expect_silence(Duration::from_millis(300)).await;
    other.expect_silence(Duration::from_millis(100)).await;
}

/// Two nodes publishing at once to one tenant share one sequence: 1..N, no gap, no reuse; a
/// subscriber on a third node sees it in order. A publisher id repeated on another node is a
/// duplicate with the stored seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_two_nodes_get_one_sequence() {
    let redis = RedisServer::start();
    let (a, b, c) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut watcher = WsClient::connect(&aisoc(&c, "acme")).await;
    watcher.subscribe("all", None).await;
    let (on_a, on_b) = tokio::join!(
        publish_n(&a, "acme", 100, "a"),
        publish_n(&b, "acme", 100, "b")
    );
    let mut all: Vec<u64> = on_a.iter().chain(&on_b).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<_>>(),
        "one contiguous sequence"
    );
    assert_eq!(seqs_ws(&mut watcher, 200).await, all);

    let event = json!({"id": "evt_once", "type": "alert.created", "payload": {}});
    let (status, first) = a.publish(&pub_token("acme"), &event).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = b.publish(&pub_token("acme"), &event).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["events"][0]["seq"], first["events"][0]["seq"]);
    assert_eq!(again["events"][0]["duplicate"], true, "{again}");
}

/// A client that read part of the feed on one node resumes on another with its cursor and
/// misses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_resumes_on_any_node() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut first = WsClient::connect(&aisoc(&a, "acme")).await;
    first.subscribe("all", None).await;
    publish_n(&a, "acme", 30, "a").await;
    let got = seqs_ws(&mut first, 10).await;
    drop(first);
    publish_n(&a, "acme", 20, "a").await;
    let mut again = WsClient::connect(&aisoc(&b, "acme")).await;
    let ack = again.subscribe("all", Some(*got.last().unwrap())).await;
    assert_ne!(ack["payload"]["truncated"], true, "{ack}");
    let rest = seqs_ws(&mut again, 40).await;
    assert_eq!(rest, (11..=50).collect::<Vec<_>>());
}

/// With Redis down: publishes get 503 `engine_unavailable` with `Retry-After` (never a 202),
/// `/readyz` 503 while `/healthz` stays 200, new feeds close with 1013. Once Redis is back
/// (restarted from its AOF), the retried ids are stored once, with the seqs and epoch they had,
/// and a session that stayed open receives what is published next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gets_503_and_recovers_without_loss() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut open = WsClient::connect(&aisoc(&b, "acme")).await;
    open.subscribe("all", None).await;
    let before = publish_n(&a, "acme", 5, "a").await;
    assert_eq!(seqs_ws(&mut open, 5).await, before);
    let head_epoch = epoch_of(&a).await;

    redis.kill9();
    let retried: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("evt_retry_{i}"), "type": "alert.created", "payload": {}}))
        .collect();
    for event in &retried {
        let resp = reqwest::Client::new()
            .post(a.http("/v1/events"))
            .bearer_auth(pub_token("acme"))
            .json(event)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 503);
        assert!(resp.headers().contains_key("retry-after"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "engine_unavailable", "{body}");
    }
    wait_for_status(&a, "/readyz", 503).await;
    assert_eq!(a.get("/healthz").await.0, 200);
    let refused = WsClient::connect(&aisoc(&a, "acme"))
        .await
        .expect_close()
        .await;
    assert_eq!(refused.code, 1013, "{refused:?}");

    redis.restart();
    wait_for_status(&a, "/readyz", 200).await;
    wait_for_status(&b, "/readyz", 200).await;
    let mut stored = Vec::new();
    for event in &retried {
        let (status, body) = a.publish(&pub_token("acme"), event).await;
        assert_eq!(status, 202, "{body}");
        stored.push(body["events"][0]["seq"].as_u64().unwrap());
    }
    assert_eq!(
        stored,
        (6..=10).collect::<Vec<_>>(),
        "stored once, after the first five"
    );
    for event in &retried {
        let (_, body) = b.publish(&pub_token("acme"), event).await;
        assert_eq!(body["events"][0]["duplicate"], true, "{body}");
    }
    assert_eq!(epoch_of(&b).await, head_epoch, "the AOF kept the epoch");
    assert_eq!(
        seqs_ws(&mut open, 5).await,
        stored,
        "the open session catches up"
    );
}

/// FLUSHALL loses every tenant's history: the next event starts a new epoch, open sessions are
/// told to resume (1013), and a client with an old cursor is told `truncated: true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_history_gets_a_new_epoch() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    publish_n(&a, "acme", 10, "a").await;
    let old_epoch = epoch_of(&a).await;
    let mut open = WsClient::connect(&aisoc(&b, "acme")).await;
    open.subscribe("all", None).await;
    redis.flushall();
    let seqs = publish_n(&a, "acme", 3, "a").await;
    assert_eq!(seqs, vec![1, 2, 3], "seqs start over in the new epoch");
    let new_epoch = epoch_of(&a).await;
    assert_ne!(new_epoch, old_epoch);
    assert_eq!(
        open.expect_close().await.code,
        1013,
        "the open session must resume"
    );
    let mut again = WsClient::connect(&format!("{}&epoch={old_epoch}", aisoc(&b, "acme"))).await;
    let ack = again.subscribe("all", Some(10)).await;
    assert_eq!(ack["payload"]["truncated"], true, "{ack}");
}

/// `--engine-durability strict` refuses a Redis that does not fsync before replying, naming
/// the setting; `relaxed` starts on it.
#[tokio::test]
async fn strict_durability_refuses_a_redis_without_fsync() {
    let redis = RedisServer::builder().config("appendonly", "no").start();
    let engine: Engine = redis.url().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path(), socfeed_testkit::SECRET);
    config.engine = engine;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = socfeed_server::Server::bind(listener, config.clone())
        .await
        .err()
        .expect("refused");
    let text = chain(&err);
    assert!(text.contains("appendfsync always"), "{text}");
    config.engine_durability = socfeed_server::Durability::Relaxed;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    assert!(socfeed_server::Server::bind(listener, config).await.is_ok());
}

/// The tenant's epoch, as a subscribe reply reports it.
async fn epoch_of(s: &TestServer) -> String {
    let mut c = WsClient::connect(&aisoc(s, "acme")).await;
    let ack = c.subscribe("all", None).await;
    ack["payload"]["epoch"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no epoch in {ack}"))
}

/// Waits until `path` answers `status` (the engine probe runs once a second).
async fn wait_for_status(s: &TestServer, path: &str, status: u16) {
    let deadline = tokio::time::Instant::now() + socfeed_testkit::WAIT;
    while s.get(path).await.0 != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An error with its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
