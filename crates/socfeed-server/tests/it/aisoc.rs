//! The AiSOC dialect on `/ws` (PROTOCOL §3).

use std::time::Duration;

use serde_json::json;
use socfeed_proto::Role;
use socfeed_testkit::{TestServer, WsClient, pub_token, sub_token, token, token_with};

async fn client(s: &TestServer, tenant: &str) -> WsClient {
    WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token(tenant))).await
}

#[tokio::test]
async fn nothing_arrives_before_subscribe_then_events_of_the_channel() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    let mut c = client(&s, "acme").await;
    s.publish_one(&p, "alert.created", json!({"title":"early"}))
        .await;
    c.expect_silence(Duration::from_millis(300)).await;

    let ack = c.subscribe("alerts", None).await;
    assert_eq!(ack["payload"]["channel"], "alerts");
    assert_eq!(ack["payload"]["seq"], 1);
    assert!(ack["payload"]["epoch"].is_string());

    s.publish_one(&p, "case.created", json!({})).await;
    s.publish_one(&p, "alert.updated", json!({"title":"x"}))
        .await;
    let e = c.next_non_ping().await;
    assert_eq!(e["type"], "alert.updated");
    assert_eq!(e["payload"], json!({"title":"x"}));
    assert_eq!(e["tenant_id"], "acme");
    assert_eq!(e["seq"], 3);
    assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    assert!(e["ts"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn ack_before_first_event_has_seq_zero_and_null_epoch() {
    let s = TestServer::start().await;
    let mut c = client(&s, "fresh").await;
    let ack = c.subscribe("all", None).await;
    assert_eq!(ack["payload"]["seq"], 0);
    assert!(ack["payload"]["epoch"].is_null());
}

#[tokio::test]
async fn since_replays_the_channel_then_goes_live() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    for i in 0..5 {
        s.publish_one(
            &p,
            if i % 2 == 0 {
                "alert.created"
            } else {
                "case.comment"
            },
            json!({"i": i}),
        )
        .await;
    }
    let mut c = client(&s, "acme").await;
    let ack = c.subscribe("alerts", Some(1)).await;
    assert_eq!(ack["payload"]["seq"], 5);
    assert!(ack["payload"].get("truncated").is_none());
    assert_eq!(c.next_non_ping().await["seq"], 3);
    assert_eq!(c.next_non_ping().await["seq"], 5);
    s.publish_one(&p, "alert.created", json!({})).await;
    assert_eq!(c.next_non_ping().await["seq"], 6);
}

#[tokio::test]
async fn url_since_is_the_default_for_every_subscribe() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    s.publish_one(&p, "alert.created", json!({})).await;
    s.publish_one(&p, "case.created", json!({})).await;
    let mut c = WsClient::connect(&format!(
        "{}?token={}&since=0",
        s.ws("/ws"),
        sub_token("acme")
    ))
    .await;
    c.subscribe("cases", None).await;
    assert_eq!(c.next_non_ping().await["type"], "case.created");
    c.subscribe("alerts", None).await;
    assert_eq!(c.next_non_ping().await["type"], "alert.created");
}

#[tokio::test]
async fn epoch_mismatch_and_old_cursors_are_truncated() {
    let s = TestServer::start_with(|c| c.retention = Duration::from_millis(400)).await;
    let p = pub_token("acme");
    s.publish_one(&p, "alert.created", json!({})).await;
    s.publish_one(&p, "alert.created", json!({})).await;
    let mut c = client(&s, "acme").await;
    c.send_json(&json!({"type":"subscribe","channel":"alerts","since":1,"epoch":"not-the-epoch"}))
        .await;
    let ack = c.next_non_ping().await;
    assert_eq!(ack["payload"]["truncated"], true, "{ack}");
    // Everything retained is replayed from the start.
    assert_eq!(c.next_non_ping().await["seq"], 1);
    assert_eq!(c.next_non_ping().await["seq"], 2);

    // Let retention drop both, then publish a third and resume from 1.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.publish_one(&p, "alert.created", json!({})).await;
    let mut c = client(&s, "acme").await;
    let ack = c.subscribe("alerts", Some(1)).await;
    assert_eq!(ack["payload"]["truncated"], true, "{ack}");
    assert_eq!(c.next_non_ping().await["seq"], 3);
}

#[tokio::test]
async fn bad_messages_get_errors_and_the_connection_stays() {
    let s = TestServer::start().await;
    let mut c = client(&s, "acme").await;
    for (msg, code) in [
        ("not json", "bad_request"),
        (r#"{"channel":"alerts"}"#, "bad_request"),
        (r#"{"type":"subscribe"}"#, "bad_request"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (
            r#"{"type":"subscribe","channel":"NOT VALID"}"#,
            "invalid_channel",
        ),
    ] {
        c.send_text(msg).await;
        let e = c.next_non_ping().await;
        assert_eq!(e["type"], "error", "{msg}");
        assert_eq!(e["payload"]["code"], code, "{msg}");
        assert!(
            e["payload"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    c.send_binary(&[1, 2, 3]).await;
    assert_eq!(c.next_non_ping().await["payload"]["code"], "bad_request");
    c.subscribe("alerts", None).await;
}

#[tokio::test]
async fn forbidden_channels_get_an_error_and_all_means_allowed_ones() {
    let s = TestServer::start().await;
    let t = token_with(
        "acme",
        &[Role::Subscriber],
        Some(vec!["alerts"]),
        Duration::from_secs(600),
    );
    let mut c = WsClient::connect(&format!("{}?token={t}", s.ws("/ws"))).await;
    c.send_json(&json!({"type":"subscribe","channel":"cases"}))
        .await;
    let e = c.next_non_ping().await;
    assert_eq!(e["payload"]["code"], "forbidden_channel");
    c.subscribe("all", None).await;
    let p = pub_token("acme");
    s.publish_one(&p, "case.created", json!({})).await;
    s.publish_one(&p, "alert.created", json!({})).await;
    let e = c.next_non_ping().await;
    assert_eq!(e["type"], "alert.created");
    c.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_and_unsubscribe_stops() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    let mut c = client(&s, "acme").await;
    c.subscribe("alerts", None).await;
    c.subscribe("all", None).await;
    s.publish_one(&p, "alert.created", json!({})).await;
    assert_eq!(c.next_non_ping().await["seq"], 1);
    c.expect_silence(Duration::from_millis(200)).await;
    c.send_json(&json!({"type":"unsubscribe","channel":"all"}))
        .await;
    assert_eq!(
        c.next_non_ping().await,
        json!({"type":"unsubscribed","payload":{"channel":"all"}})
    );
    s.publish_one(&p, "case.created", json!({})).await;
    s.publish_one(&p, "alert.created", json!({})).await;
    assert_eq!(c.next_non_ping().await["seq"], 3);
    c.send_json(&json!({"type":"unsubscribe","channel":"alerts"}))
        .await;
    c.next_non_ping().await;
    s.publish_one(&p, "alert.created", json!({})).await;
    c.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn token_in_header_or_subprotocol() {
    let s = TestServer::start().await;
    let t = sub_token("acme");
    let auth = format!("Bearer {t}");
    let (mut c, _) = WsClient::connect_with(&s.ws("/ws"), &[("authorization", &auth)]).await;
    c.subscribe("alerts", None).await;
    let proto = format!("bearer, {t}");
    let (mut c, headers) =
        WsClient::connect_with(&s.ws("/ws"), &[("sec-websocket-protocol", &proto)]).await;
    assert_eq!(headers.get("sec-websocket-protocol").unwrap(), "bearer");
    c.subscribe("alerts", None).await;
}

#[tokio::test]
async fn pings_arrive_and_silent_clients_are_closed_with_4002() {
    let s = TestServer::start_with(|c| c.heartbeat_interval = Duration::from_millis(300)).await;
    let mut c = client(&s, "acme").await;
    let ping = c.next_json().await;
    assert_eq!(ping["type"], "ping");
    assert!(ping["ts"].is_string());
    // The test client answers Ping frames only while it reads; a raw TCP client that never
    // answers is closed after two intervals.
    let raw = socfeed_testkit::raw_ws(s.addr, &format!("/ws?token={}", sub_token("acme"))).await;
    let code = socfeed_testkit::read_close_code(raw).await;
    assert_eq!(code, 4002);
}

#[tokio::test]
async fn a_client_that_keeps_talking_stays_open() {
    let s = TestServer::start_with(|c| c.heartbeat_interval = Duration::from_millis(200)).await;
    let mut c = client(&s, "acme").await;
    for _ in 0..8 {
        c.send_json(&json!({"type":"pong"})).await;
        match c.next_json_within(Duration::from_millis(100)).await {
            Ok(_) => {}
            Err(closed) => panic!("closed: {closed:?}"),
        }
    }
}

#[tokio::test]
async fn oversized_client_messages_close_with_1009() {
    let s = TestServer::start_with(|c| c.max_message_size = 1024).await;
    let mut c = client(&s, "acme").await;
    c.send_text(&format!(
        "{{\"type\":\"subscribe\",\"channel\":\"{}\"}}",
        "a".repeat(2000)
    ))
    .await;
    assert_eq!(c.expect_close().await.code, 1009);
}

#[tokio::test]
async fn admin_tokens_subscribe_too() {
    let s = TestServer::start().await;
    let t = token("acme", &[Role::Admin]);
    let mut c = WsClient::connect(&format!("{}?token={t}", s.ws("/ws"))).await;
    c.subscribe("all", None).await;
}
