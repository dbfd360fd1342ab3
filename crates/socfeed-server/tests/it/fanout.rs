//! Fan-out rules: tenant isolation, the replay→live seam, slow consumers.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use socfeed_testkit::{TestServer, WsClient, pub_token, sub_token};

#[tokio::test]
async fn tenants_never_see_each_others_events_and_seqs_are_per_tenant() {
    let s = TestServer::start().await;
    let mut a = WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
    let mut b = WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("globex"))).await;
    a.subscribe("all", None).await;
    b.subscribe("all", Some(0)).await;
    for i in 0..20 {
        let tenant = if i % 3 == 0 { "globex" } else { "acme" };
        s.publish_one(
            &pub_token(tenant),
            "alert.created",
            json!({"i": i, "tenant": tenant}),
        )
        .await;
    }
    let mut seen_a = Vec::new();
    for _ in 0..13 {
        let e = a.next_non_ping().await;
        assert_eq!(e["tenant_id"], "acme");
        assert_eq!(e["payload"]["tenant"], "acme");
        seen_a.push(e["seq"].as_u64().unwrap());
    }
    let mut seen_b = Vec::new();
    for _ in 0..7 {
        let e = b.next_non_ping().await;
        assert_eq!(e["tenant_id"], "globex");
        seen_b.push(e["seq"].as_u64().unwrap());
    }
    assert_eq!(seen_a, (1..=13).collect::<Vec<_>>());
    assert_eq!(seen_b, (1..=7).collect::<Vec<_>>());
    a.expect_silence(Duration::from_millis(200)).await;
    b.expect_silence(Duration::from_millis(200)).await;
}

/// Subscribing with `since` while another task publishes continuously: every event after the
/// cursor arrives exactly once and in order, across the replay→live seam.
#[tokio::test]
async fn the_seam_has_no_gap_and_no_duplicate_under_concurrent_publishing() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let p = pub_token("acme");
    for _ in 0..50 {
        s.publish_one(&p, "alert.created", json!({})).await;
    }
    let total = 400u64;
    let publisher = {
        let s = std::sync::Arc::clone(&s);
        let p = p.clone();
        tokio::spawn(async move {
            for i in 0..(total - 50) {
                let ty = if i % 2 == 0 {
                    "alert.created"
                } else {
                    "case.updated"
                };
                s.publish_one(&p, ty, json!({"i": i})).await;
            }
        })
    };
    let mut clients = Vec::new();
    for since in [0u64, 10, 25, 49] {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut c =
            WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
        c.subscribe("all", Some(since)).await;
        clients.push((since, c));
    }
    publisher.await.unwrap();
    for (since, mut c) in clients {
        let mut expect = since + 1;
        while expect <= total {
            let e = c.next_non_ping().await;
            assert_eq!(e["seq"].as_u64().unwrap(), expect, "client since={since}");
            expect += 1;
        }
        c.expect_silence(Duration::from_millis(100)).await;
    }
}

/// A client that never reads overflows its queue and is closed with 4008; a reading client keeps
/// receiving every event.
#[tokio::test]
async fn slow_consumers_are_closed_with_4008_and_others_keep_receiving() {
    let s = TestServer::start_with(|c| c.queue_len = 16).await;
    let p = pub_token("acme");
    let mut fast = WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
    fast.subscribe("all", None).await;
    let mut slow = WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
    slow.subscribe("all", None).await;
    // Big events fill the slow client's socket buffers, then its queue.
    let blob = "x".repeat(60_000);
    let reader = tokio::spawn(async move {
        let mut seqs = HashSet::new();
        while seqs.len() < 300 {
            let e: Value = fast.next_non_ping().await;
            seqs.insert(e["seq"].as_u64().unwrap());
        }
        seqs.len()
    });
    for _ in 0..30 {
        let batch: Vec<Value> = (0..10)
            .map(|_| json!({"type":"alert.created","payload":{"blob": blob}}))
            .collect();
        let (status, body) = s.publish(&p, &Value::Array(batch)).await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(reader.await.unwrap(), 300);
    assert_eq!(slow.expect_close().await.code, 4008);
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "socfeed_slow_consumer_closes_total 1"),
        "{metrics}"
    );
}
