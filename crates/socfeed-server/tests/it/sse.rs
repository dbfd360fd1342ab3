//! The GOVERN feed over Server-Sent Events (`/v1/soc/feed/sse`), parsed by a real SSE client.

use std::time::Duration;

use serde_json::{Value, json};
use socfeed_testkit::{SseClient, TestServer, pub_token, sub_token, token};

use crate::govern::{alert_new, score_changed};

async fn sse(s: &TestServer, tenant: &str, query: &str, headers: &[(&str, &str)]) -> SseClient {
    SseClient::connect(
        &format!(
            "{}?token={}{query}",
            s.http("/v1/soc/feed/sse"),
            sub_token(tenant)
        ),
        headers,
    )
    .await
}

#[tokio::test]
async fn events_are_framed_with_seq_ids_and_types() {
    let s = TestServer::start().await;
    let mut c = sse(&s, "acme", "", &[]).await;
    assert_eq!(c.status, 200);
    assert_eq!(c.headers["content-type"], "text/event-stream");
    assert_eq!(c.headers["cache-control"], "no-cache");
    assert_eq!(c.headers["x-accel-buffering"], "no");
    let p = pub_token("acme");
    let seq = s.publish_one(&p, "alert.new", alert_new()).await;
    let e = c.next_event().await;
    assert_eq!(e.id, seq.to_string());
    assert_eq!(e.event, "alert.new");
    let data: Value = serde_json::from_str(&e.data).unwrap();
    assert_eq!(data["data"], alert_new());
    assert_eq!(data["seq"], seq);
    // A pretty-printed payload still arrives on one data line.
    let pretty = serde_json::to_string_pretty(&score_changed()).unwrap();
    let body = format!("{{\"type\":\"system.score_changed\",\"payload\":{pretty}}}");
    assert_eq!(s.publish_raw(&p, "application/json", body).await.0, 202);
    let e = c.next_event().await;
    assert_eq!(
        serde_json::from_str::<Value>(&e.data).unwrap()["data"],
        score_changed()
    );
}

#[tokio::test]
async fn the_stream_starts_with_a_retry_hint() {
    use futures_util::StreamExt;
    let s = TestServer::start().await;
    let resp = reqwest::get(format!(
        "{}?token={}",
        s.http("/v1/soc/feed/sse"),
        sub_token("acme")
    ))
    .await
    .unwrap();
    let first = resp.bytes_stream().next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"retry: 2000\n\n");
}

#[tokio::test]
async fn filters_come_from_the_query() {
    let s = TestServer::start().await;
    let mut c = sse(
        &s,
        "acme",
        "&severities=critical,high&systems=customer-support-bot",
        &[],
    )
    .await;
    let p = pub_token("acme");
    s.publish_one(&p, "system.score_changed", score_changed())
        .await;
    s.publish_one(
        &p,
        "alert.new",
        json!({"severity":"low","ai_system":{"name":"customer-support-bot"}}),
    )
    .await;
    let seq = s.publish_one(&p, "alert.new", alert_new()).await;
    assert_eq!(c.next_event().await.id, seq.to_string());
    c.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn resume_with_last_event_id_replays_as_ordinary_events() {
    let s = TestServer::start().await;
    let p = pub_token("acme");
    for _ in 0..4 {
        s.publish_one(&p, "alert.new", alert_new()).await;
    }
    let mut c = sse(&s, "acme", "", &[("last-event-id", "2")]).await;
    assert_eq!(c.next_event().await.id, "3");
    assert_eq!(c.next_event().await.id, "4");
    s.publish_one(&p, "alert.new", alert_new()).await;
    let e = c.next_event().await;
    assert_eq!((e.id.as_str(), e.event.as_str()), ("5", "alert.new"));
}

#[tokio::test]
async fn heartbeats_are_sse_events() {
    let s = TestServer::start_with(|c| c.heartbeat_interval = Duration::from_millis(200)).await;
    let mut c = sse(&s, "acme", "", &[]).await;
    let e = c.next_any().await.unwrap();
    assert_eq!(e.event, "feed.heartbeat");
    assert!(serde_json::from_str::<Value>(&e.data).unwrap()["ts"].is_u64());
}

#[tokio::test]
async fn auth_errors_are_plain_http_statuses() {
    let s = TestServer::start().await;
    let url = s.http("/v1/soc/feed/sse");
    assert_eq!(SseClient::connect(&url, &[]).await.status, 401);
    assert_eq!(
        SseClient::connect(&format!("{url}?token=bad"), &[])
            .await
            .status,
        401
    );
    let publisher = format!(
        "Bearer {}",
        token("acme", &[socfeed_proto::Role::Publisher])
    );
    assert_eq!(
        SseClient::connect(&url, &[("authorization", &publisher)])
            .await
            .status,
        403
    );
    let bearer = format!("Bearer {}", sub_token("acme"));
    assert_eq!(
        SseClient::connect(&url, &[("authorization", &bearer)])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn tenants_are_isolated() {
    let s = TestServer::start().await;
    let mut a = sse(&s, "acme", "", &[]).await;
    let mut b = sse(&s, "globex", "&since=0", &[]).await;
    s.publish_one(&pub_token("globex"), "alert.new", alert_new())
        .await;
    let e = b.next_event().await;
    assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap()["seq"], 1);
    a.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn sse_sessions_end_at_shutdown() {
    let s = TestServer::start().await;
    let mut c = sse(&s, "acme", "", &[]).await;
    let dir = s.stop().await;
    assert!(c.next_any().await.is_none());
    drop(dir);
}

/// An SSE client that stops reading overflows its queue: its stream is ended and counted, and a
/// reading client keeps receiving every event.
#[tokio::test]
async fn slow_sse_consumers_are_cut_off_and_counted() {
    let s = TestServer::start_with(|c| c.queue_len = 32).await;
    let p = pub_token("acme");
    let mut fast = sse(&s, "acme", "", &[]).await;
    let slow = reqwest::get(format!(
        "{}?token={}",
        s.http("/v1/soc/feed/sse"),
        sub_token("acme")
    ))
    .await
    .unwrap();
    let blob = "x".repeat(60_000);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < 200 {
            fast.next_event().await;
            n += 1;
        }
        n
    });
    for _ in 0..20 {
        let batch: Vec<Value> = (0..10)
            .map(|_| json!({"type":"alert.new","payload":{"blob": blob}}))
            .collect();
        assert_eq!(s.publish(&p, &Value::Array(batch)).await.0, 202);
    }
    assert_eq!(reader.await.unwrap(), 200);
    // The slow stream ends once what was buffered is read.
    let mut body = slow.bytes_stream();
    let drained = tokio::time::timeout(socfeed_testkit::WAIT, async {
        use futures_util::StreamExt;
        let mut bytes = 0usize;
        while let Some(Ok(chunk)) = body.next().await {
            bytes += chunk.len();
        }
        bytes
    })
    .await
    .expect("the slow stream ends");
    assert!(
        drained < 200 * 60_000,
        "the slow client was cut off ({drained} bytes)"
    );
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "socfeed_slow_consumer_closes_total 1"),
        "{metrics}"
    );
}

/// Reads from `stream` until `needle` has arrived; returns everything read.
async fn read_until(stream: &mut tokio::net::TcpStream, needle: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(socfeed_testkit::WAIT, async {
        while !String::from_utf8_lossy(&got).contains(needle) {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {needle:?}: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {}", String::from_utf8_lossy(&got)));
    String::from_utf8_lossy(&got).into_owned()
}

/// A stream asked for on a connection that already served another request (as a browser reuses
/// one) is served in the response body, with the same events.
#[tokio::test]
async fn a_stream_on_a_kept_alive_connection_gets_the_same_events() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut conn, "ok\n").await;
    let request = format!(
        "GET /v1/soc/feed/sse?token={} HTTP/1.1\r\nHost: x\r\n\r\n",
        sub_token("acme")
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let head = read_until(&mut conn, "retry: 2000").await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let seq = s
        .publish_one(&pub_token("acme"), "alert.new", alert_new())
        .await;
    // Chunked: each event is a chunk of its own.
    let event = read_until(&mut conn, &format!("id: {seq}\nevent: alert.new\ndata: {{")).await;
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(event.contains("\r\n"), "{event}");
}

/// The first request of a connection is served on the connection itself: a close-delimited
/// response; a request head over 16 KiB gets 431.
#[tokio::test]
async fn a_first_request_stream_is_close_delimited_and_its_head_bounded() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let request = format!(
        "GET /v1/soc/feed/sse?token={} HTTP/1.1\r\nHost: x\r\n\r\n",
        sub_token("acme")
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let head = read_until(&mut conn, "retry: 2000\n\n").await;
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");

    let mut big = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let filler = "x".repeat(20_000);
    let request = format!("GET /v1/soc/feed/sse HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
    let _ = big.write_all(request.as_bytes()).await;
    let reply = read_until(&mut big, "\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
}
