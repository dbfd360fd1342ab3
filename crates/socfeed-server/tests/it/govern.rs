//! The GOVERN feed over WebSocket (`/v1/soc/feed`, PROTOCOL §4), with the seed's own examples.

use std::time::Duration;

use serde_json::{Value, json};
use socfeed_testkit::{TestServer, WsClient, pub_token, sub_token};

pub(crate) fn alert_new() -> Value {
    serde_json::from_str(include_str!("fixtures/alert_new.json")).unwrap()
}

pub(crate) fn score_changed() -> Value {
    serde_json::from_str(include_str!("fixtures/system_score_changed.json")).unwrap()
}

fn seed_subscribe() -> Value {
    serde_json::from_str(include_str!("fixtures/subscribe_filters.json")).unwrap()
}

async fn feed(s: &TestServer, tenant: &str, query: &str) -> WsClient {
    WsClient::connect(&format!(
        "{}?token={}{query}",
        s.ws("/v1/soc/feed"),
        sub_token(tenant)
    ))
    .await
}

fn alert(severity: &str, kind: &str, system: &str) -> Value {
    json!({"severity": severity, "type": kind, "title": "t", "ai_system": {"id": "sys_x", "name": system}})
}

#[tokio::test]
async fn every_channel_by_default_in_the_govern_envelope() {
    let s = TestServer::start().await;
    let mut c = feed(&s, "acme", "").await;
    let p = pub_token("acme");
    let seq = s.publish_one(&p, "alert.new", alert_new()).await;
    s.publish_one(&p, "system.score_changed", score_changed())
        .await;
    s.publish_one(&p, "case.created", json!({"title": "c"}))
        .await;
    let e = c.next_non_ping().await;
    assert_eq!(e["event"], "alert.new");
    assert_eq!(e["data"], alert_new());
    assert_eq!(e["seq"], seq);
    assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    assert!(e["ts"].as_u64().unwrap() > 1_700_000_000_000);
    let e = c.next_non_ping().await;
    assert_eq!(e["event"], "system.score_changed");
    assert_eq!(e["data"], score_changed());
    assert_eq!(c.next_non_ping().await["event"], "case.created");
}

#[tokio::test]
async fn the_seed_filters_select_as_described_and_a_new_subscribe_replaces_them() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    let mut c = feed(&s, "acme", "").await;
    c.send_json(&seed_subscribe()).await;
    let ack = c.next_non_ping().await;
    assert_eq!(ack["event"], "feed.subscribed");
    assert_eq!(ack["data"]["filters"], seed_subscribe()["filters"]);

    s.publish_one(&p, "system.score_changed", score_changed())
        .await; // no severity: out
    s.publish_one(
        &p,
        "alert.new",
        alert("low", "policy_violation", "customer-support-bot"),
    )
    .await; // out
    s.publish_one(
        &p,
        "alert.new",
        alert("critical", "drift", "customer-support-bot"),
    )
    .await; // out
    s.publish_one(
        &p,
        "alert.new",
        alert("high", "security_event", "fraud-scorer"),
    )
    .await; // out
    let wanted = s.publish_one(&p, "alert.new", alert_new()).await;
    let e = c.next_non_ping().await;
    assert_eq!(e["seq"], wanted);
    c.expect_silence(Duration::from_millis(200)).await;

    c.send_json(&json!({"action":"subscribe","filters":{"events":["system.score_changed"],"systems":["sys_01JABC789"]}})).await;
    assert_eq!(c.next_non_ping().await["event"], "feed.subscribed");
    s.publish_one(&p, "alert.new", alert_new()).await;
    let score = s
        .publish_one(&p, "system.score_changed", score_changed())
        .await;
    assert_eq!(c.next_non_ping().await["seq"], score);

    c.send_json(&json!({"action":"subscribe","filters":{}}))
        .await;
    assert_eq!(c.next_non_ping().await["data"]["filters"], json!({}));
    let any = s.publish_one(&p, "case.created", json!({})).await;
    assert_eq!(c.next_non_ping().await["seq"], any);
}

#[tokio::test]
async fn invalid_filter_messages_get_an_error_event_and_the_connection_stays() {
    let s = TestServer::start().await;
    let mut c = feed(&s, "acme", "").await;
    for bad in [
        "not json",
        r#"{"action":"dance"}"#,
        r#"{"action":"subscribe","filters":{"severity":["high"]}}"#,
        r#"{"action":"subscribe","filters":{"severities":"high"}}"#,
        r#"{"type":"subscribe","channel":"alerts"}"#,
    ] {
        c.send_text(bad).await;
        let e = c.next_non_ping().await;
        assert_eq!(e["event"], "error", "{bad}");
        assert_eq!(e["data"]["code"], "bad_request");
    }
    let seq = s
        .publish_one(&pub_token("acme"), "alert.new", alert_new())
        .await;
    assert_eq!(c.next_non_ping().await["seq"], seq);
}

#[tokio::test]
async fn heartbeats_arrive() {
    let s = TestServer::start_with(|c| c.heartbeat_interval = Duration::from_millis(300)).await;
    let mut c = feed(&s, "acme", "").await;
    let beat = c.next_json().await;
    assert_eq!(beat["event"], "feed.heartbeat");
    assert!(beat["ts"].is_u64());
    // Reading keeps the client alive: the test client answers Ping frames with Pongs.
    for _ in 0..4 {
        assert_eq!(c.next_json().await["event"], "feed.heartbeat");
    }
}

#[tokio::test]
async fn a_plain_connect_gets_no_replay() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    s.publish_one(&p, "alert.new", alert_new()).await;
    let mut c = feed(&s, "acme", "").await;
    c.expect_silence(Duration::from_millis(200)).await;
    let seq = s.publish_one(&p, "alert.new", alert_new()).await;
    assert_eq!(c.next_non_ping().await["seq"], seq);
}

#[tokio::test]
async fn replay_by_seq_then_live_with_filters_from_the_query() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    for sev in ["critical", "low", "critical", "high", "critical"] {
        s.publish_one(&p, "alert.new", alert(sev, "security_event", "doc-bot"))
            .await;
    }
    let mut c = feed(&s, "acme", "&since=1&severities=critical,high").await;
    let r = c.next_non_ping().await;
    assert_eq!(r["event"], "feed.replay");
    let seqs: Vec<u64> = r["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    assert_eq!(r["data"]["events"][0]["event"], "alert.new");
    assert_eq!(r["data"]["truncated"], false);
    assert_eq!(r["data"]["more"], false);
    assert!(r["data"]["epoch"].is_string());
    assert!(r["data"]["from"].as_str().unwrap() <= r["data"]["to"].as_str().unwrap());
    s.publish_one(&p, "alert.new", alert("low", "x", "y")).await;
    let live = s
        .publish_one(&p, "alert.new", alert("high", "x", "y"))
        .await;
    assert_eq!(c.next_non_ping().await["seq"], live);
}

#[tokio::test]
async fn last_event_id_and_duration_cursors() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    s.publish_one(&p, "alert.new", alert_new()).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.publish_one(&p, "alert.new", alert_new()).await;
    s.publish_one(&p, "alert.new", alert_new()).await;

    let url = format!("{}?token={}", s.ws("/v1/soc/feed"), sub_token("acme"));
    let (mut c, _) = WsClient::connect_with(&url, &[("last-event-id", "2")]).await;
    let r = c.next_non_ping().await;
    assert_eq!(r["data"]["events"].as_array().unwrap().len(), 1);
    assert_eq!(r["data"]["events"][0]["seq"], 3);

    let mut c = feed(&s, "acme", "&replay=1s").await;
    let r = c.next_non_ping().await;
    let seqs: Vec<u64> = r["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    let mut c = feed(&s, "acme", "&replay=5m").await;
    assert_eq!(
        c.next_non_ping().await["data"]["events"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let mut c = feed(&s, "acme", "&replay").await;
    assert_eq!(
        c.next_non_ping().await["data"]["events"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "default window 5m"
    );
}

#[tokio::test]
async fn cursors_older_than_retention_are_truncated() {
    let s = TestServer::start_with(|c| c.retention = Duration::from_millis(400)).await;
    let p = pub_token("acme");
    s.publish_one(&p, "alert.new", alert_new()).await;
    s.publish_one(&p, "alert.new", alert_new()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.publish_one(&p, "alert.new", alert_new()).await;
    let mut c = feed(&s, "acme", "&since=1").await;
    let r = c.next_non_ping().await;
    assert_eq!(r["data"]["truncated"], true);
    assert_eq!(r["data"]["events"][0]["seq"], 3);
    let mut c = feed(&s, "acme", "&since=3&epoch=wrong").await;
    let r = c.next_non_ping().await;
    assert_eq!(r["data"]["truncated"], true);
    assert_eq!(r["data"]["events"][0]["seq"], 3);
}

#[tokio::test]
async fn large_replays_are_split_into_ordered_parts() {
    let s = TestServer::start_with(|c| c.max_frame_size = 4096).await;
    let p = pub_token("acme");
    let batch: Vec<Value> = (0..60)
        .map(|i| json!({"type":"alert.new","payload":{"i": i, "pad": "x".repeat(150)}}))
        .collect();
    assert_eq!(s.publish(&p, &Value::Array(batch)).await.0, 202);
    let mut c = feed(&s, "acme", "&since=0").await;
    let mut seqs = Vec::new();
    let mut parts = 0;
    loop {
        let r = c.next_non_ping().await;
        assert_eq!(r["event"], "feed.replay");
        assert!(r.to_string().len() <= 4096);
        parts += 1;
        seqs.extend(
            r["data"]["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        if r["data"]["more"] == false {
            break;
        }
    }
    assert!(parts >= 3, "{parts} parts");
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
    let live = s.publish_one(&p, "alert.new", json!({})).await;
    assert_eq!(c.next_non_ping().await["seq"], live);
}

#[tokio::test]
async fn the_seam_holds_under_concurrent_publishing() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let p = pub_token("acme");
    for _ in 0..30 {
        s.publish_one(&p, "alert.new", json!({})).await;
    }
    let total = 300u64;
    let publisher = {
        let (s, p) = (std::sync::Arc::clone(&s), p.clone());
        tokio::spawn(async move {
            for _ in 30..total {
                s.publish_one(&p, "system.score_changed", json!({})).await;
            }
        })
    };
    let mut clients = Vec::new();
    for since in [0u64, 15, 29] {
        tokio::time::sleep(Duration::from_millis(15)).await;
        clients.push((since, feed(&s, "acme", &format!("&since={since}")).await));
    }
    publisher.await.unwrap();
    for (since, mut c) in clients {
        let mut got = Vec::new();
        let r = c.next_non_ping().await;
        got.extend(
            r["data"]["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        while got.len() < (total - since) as usize {
            got.push(c.next_non_ping().await["seq"].as_u64().unwrap());
        }
        assert_eq!(
            got,
            ((since + 1)..=total).collect::<Vec<_>>(),
            "since={since}"
        );
    }
}

#[tokio::test]
async fn tenants_are_isolated_and_bad_tokens_close_with_4001() {
    let s = TestServer::start().await;
    let mut a = feed(&s, "acme", "&since=0").await;
    let mut b = feed(&s, "globex", "").await;
    assert_eq!(a.next_non_ping().await["data"]["events"], json!([]));
    s.publish_one(&pub_token("globex"), "alert.new", alert_new())
        .await;
    let e = b.next_non_ping().await;
    assert_eq!(e["seq"], 1);
    a.expect_silence(Duration::from_millis(200)).await;
    let mut bad = WsClient::connect(&format!("{}?token=nope", s.ws("/v1/soc/feed"))).await;
    assert_eq!(bad.expect_close().await.code, 4001);
    let mut publisher_only = WsClient::connect(&format!(
        "{}?token={}",
        s.ws("/v1/soc/feed"),
        pub_token("acme")
    ))
    .await;
    assert_eq!(publisher_only.expect_close().await.code, 4003);
}

#[tokio::test]
async fn silent_clients_are_closed_with_4002() {
    let s = TestServer::start_with(|c| c.heartbeat_interval = Duration::from_millis(300)).await;
    let raw =
        socfeed_testkit::raw_ws(s.addr, &format!("/v1/soc/feed?token={}", sub_token("acme"))).await;
    assert_eq!(socfeed_testkit::read_close_code(raw).await, 4002);
}
