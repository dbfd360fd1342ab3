//! Health, readiness, metrics, the page, and graceful shutdown.

use serde_json::json;
use socfeed_testkit::{TestServer, WsClient, pub_token, sub_token};

#[tokio::test]
async fn health_ready_metrics_and_page() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);
    s.publish_one(&pub_token("acme"), "alert.created", json!({}))
        .await;
    let (status, text) = s.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "socfeed_connections",
        "socfeed_subscriptions",
        "socfeed_events_published_total 1",
        "socfeed_frames_sent_total",
        "socfeed_events_replayed_total",
        "socfeed_slow_consumer_closes_total",
        "socfeed_auth_failures_total",
        "socfeed_log_append_seconds_bucket",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    let (status, page) = s.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("socfeed"));
}

#[tokio::test]
async fn shutdown_closes_sessions_with_1001_and_keeps_events_across_restart() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, body) = s
            .publish(&p, &json!({"type":"alert.created","payload":{"i": i}}))
            .await;
        ids.push(body["events"][0]["id"].as_str().unwrap().to_owned());
    }
    let mut c = WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
    let ack = c.subscribe("all", None).await;
    let epoch = ack["payload"]["epoch"].clone();
    let closing = tokio::spawn(async move { c.expect_close().await.code });
    let dir = s.stop().await;
    assert_eq!(closing.await.unwrap(), 1001);

    let s = TestServer::start_in(dir, |_| {}).await;
    let mut c = WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
    let ack = c.subscribe("all", Some(0)).await;
    assert_eq!(ack["payload"]["seq"], 5);
    assert_eq!(ack["payload"]["epoch"], epoch);
    for (i, id) in ids.iter().enumerate() {
        let e = c.next_non_ping().await;
        assert_eq!(e["seq"], i as u64 + 1);
        assert_eq!(e["id"], id.as_str());
    }
    assert_eq!(s.publish_one(&p, "alert.created", json!({})).await, 6);
}

/// With `--metrics-token`, `/metrics` answers only a request bearing it.
#[tokio::test]
async fn metrics_can_require_a_token() {
    let s = TestServer::start_with(|c| c.metrics_token = Some("m-secret".into())).await;
    assert_eq!(s.get("/metrics").await.0, 401);
    let get = |token: &'static str| {
        reqwest::Client::new()
            .get(s.http("/metrics"))
            .bearer_auth(token)
            .send()
    };
    let refused = get("wrong").await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let ok = get("m-secret").await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(ok.text().await.unwrap().contains("socfeed_connections"));
    assert_eq!(s.get("/healthz").await.0, 200, "only /metrics is guarded");
}

/// The page is sent with a Content-Security-Policy that allows only its own script and style (by
/// hash), no framing and no referrer.
#[tokio::test]
async fn the_page_has_security_headers() {
    let s = TestServer::start().await;
    let page = reqwest::get(s.http("/")).await.unwrap();
    let h = page.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("<script>"));
}

/// `/metrics` names the node, says the engine is up with its round trip, and measures the
/// fan-out at the server: one live event in eight, at every session that writes it.
#[tokio::test]
async fn metrics_carry_the_node_the_engine_and_the_fanout_latency() {
    let s = TestServer::start_with(|c| c.node_id = Some("node-a".into())).await;
    let mut subs = Vec::new();
    for _ in 0..3 {
        let mut c =
            WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token("acme"))).await;
        c.subscribe("all", None).await;
        subs.push(c);
    }
    for i in 0..16 {
        s.publish_one(&pub_token("acme"), "alert.created", json!({"i": i}))
            .await;
    }
    for c in &mut subs {
        for _ in 0..16 {
            c.next_non_ping().await;
        }
    }
    // 16 events, 2 of them sampled, each written by 3 sessions (observed just after the write,
    // so possibly just after the client read it).
    let deadline = tokio::time::Instant::now() + socfeed_testkit::WAIT;
    let (text, count) = loop {
        let (_, text) = s.get("/metrics").await;
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix("socfeed_fanout_seconds_count "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if count >= 6 || tokio::time::Instant::now() > deadline {
            break (text, count);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(count, 6, "{text}");
    assert!(
        text.contains("socfeed_node_info{node=\"node-a\"} 1"),
        "{text}"
    );
    assert!(text.contains("socfeed_engine_up 1"), "{text}");
    assert!(text.contains("socfeed_engine_rtt_seconds_count"), "{text}");
}
