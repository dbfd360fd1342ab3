//! Limits (PROTOCOL §6): connections per tenant and per IP, messages per second, subscriptions per
//! connection, publish rate, handshake timeout; and single-use tickets.

use std::time::Duration;

use serde_json::{Value, json};
use socfeed_proto::Role;
use socfeed_testkit::{SseClient, TestServer, WsClient, pub_token, sub_token, token};

fn ws_url(s: &TestServer, tenant: &str) -> String {
    format!("{}?token={}", s.ws("/ws"), sub_token(tenant))
}

#[tokio::test]
async fn connections_per_tenant_are_capped_with_4029_and_429() {
    let s = TestServer::start_with(|c| c.max_connections_per_tenant = 2).await;
    let mut a = WsClient::connect(&ws_url(&s, "acme")).await;
    a.subscribe("all", None).await;
    let mut b = WsClient::connect(&format!(
        "{}?token={}",
        s.ws("/v1/soc/feed"),
        sub_token("acme")
    ))
    .await;
    b.send_json(&json!({"action":"subscribe","filters":{}}))
        .await;
    b.next_non_ping().await;
    let mut c = WsClient::connect(&ws_url(&s, "acme")).await;
    let closed = c.expect_close().await;
    assert_eq!(closed.code, 4029);
    assert!(closed.reason.contains("tenant"), "{closed:?}");
    let sse = SseClient::connect(
        &format!("{}?token={}", s.http("/v1/soc/feed/sse"), sub_token("acme")),
        &[],
    )
    .await;
    assert_eq!(sse.status, 429);
    // Another tenant is unaffected, and a freed slot can be taken again.
    WsClient::connect(&ws_url(&s, "globex"))
        .await
        .subscribe("all", None)
        .await;
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    WsClient::connect(&ws_url(&s, "acme"))
        .await
        .subscribe("all", None)
        .await;
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let s = TestServer::start_with(|c| c.max_connections_per_ip = 2).await;
    let mut a = WsClient::connect(&ws_url(&s, "t1")).await;
    a.subscribe("all", None).await;
    let mut b = WsClient::connect(&ws_url(&s, "t2")).await;
    b.subscribe("all", None).await;
    let closed = WsClient::connect(&ws_url(&s, "t3"))
        .await
        .expect_close()
        .await;
    assert_eq!(closed.code, 4029);
    assert!(closed.reason.contains("address"), "{closed:?}");
}

#[tokio::test]
async fn message_floods_close_with_4029() {
    let s = TestServer::start_with(|c| c.max_messages_per_second = 5).await;
    let mut c = WsClient::connect(&ws_url(&s, "acme")).await;
    for _ in 0..30 {
        if !c.try_send_text(r#"{"type":"pong"}"#).await {
            break;
        }
    }
    assert_eq!(c.expect_close().await.code, 4029);
}

#[tokio::test]
async fn subscriptions_per_connection_are_capped() {
    let s = TestServer::start_with(|c| c.max_subscriptions = 2).await;
    let mut c = WsClient::connect(&ws_url(&s, "acme")).await;
    c.subscribe("alerts", None).await;
    c.subscribe("cases", None).await;
    c.send_json(&json!({"type":"subscribe","channel":"ueba"}))
        .await;
    let e = c.next_non_ping().await;
    assert_eq!(e["payload"]["code"], "too_many_subscriptions");
    c.subscribe("alerts", None).await;
    c.send_json(&json!({"type":"unsubscribe","channel":"cases"}))
        .await;
    c.next_non_ping().await;
    c.subscribe("ueba", None).await;
}

#[tokio::test]
async fn publishers_over_their_rate_get_429_with_retry_after() {
    let s = TestServer::start_with(|c| c.publish_rate = 10).await;
    let t = pub_token("acme");
    let batch = |n: usize| {
        Value::Array(
            (0..n)
                .map(|_| json!({"type":"alert.created","payload":{}}))
                .collect(),
        )
    };
    assert_eq!(
        s.publish(&t, &batch(20)).await.0,
        202,
        "a burst of twice the rate"
    );
    let resp = reqwest::Client::new()
        .post(s.http("/v1/events"))
        .bearer_auth(&t)
        .json(&batch(5))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // Another publisher of the same tenant has its own budget.
    let other = socfeed_auth::Minter::hs256(socfeed_testkit::SECRET)
        .mint(&socfeed_auth::claims(
            "acme",
            "other-engine",
            &[Role::Publisher],
            None,
            Duration::from_secs(60),
        ))
        .unwrap();
    assert_eq!(s.publish(&other, &batch(5)).await.0, 202);
}

#[tokio::test]
async fn slow_handshakes_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(socfeed_testkit::WAIT, tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the half-sent request");
}

/// A connection that sends nothing at all is closed after the same deadline, and so is a
/// half-sent SSE request head (read by the server itself, not by hyper).
#[tokio::test]
async fn silent_connections_and_slow_sse_heads_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let mut silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /v1/soc/feed/sse HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for (name, tcp) in [("silent", &mut silent), ("slow SSE head", &mut slow)] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(socfeed_testkit::WAIT, tcp.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the {name} connection was closed");
        assert!(buf.is_empty(), "{name}: {}", String::from_utf8_lossy(&buf));
    }
    assert_eq!(s.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn tickets_are_single_use_and_keep_tokens_out_of_urls() {
    let s = TestServer::start().await;
    let ticket = |t: String| {
        let url = s.http("/v1/tickets");
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = ticket(sub_token("acme")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 30);
    let t = body["ticket"].as_str().unwrap().to_owned();
    let mut c = WsClient::connect(&format!("{}?ticket={t}", s.ws("/ws"))).await;
    c.subscribe("all", None).await;
    let seq = s
        .publish_one(&pub_token("acme"), "alert.created", json!({}))
        .await;
    assert_eq!(c.next_non_ping().await["seq"], seq);
    // Used once: refused on every endpoint.
    let reuse = WsClient::connect(&format!("{}?ticket={t}", s.ws("/v1/soc/feed")))
        .await
        .expect_close()
        .await;
    assert_eq!(reuse.code, 4001);
    let sse = SseClient::connect(&format!("{}?ticket={t}", s.http("/v1/soc/feed/sse")), &[]).await;
    assert_eq!(sse.status, 401);
    let (_, body) = ticket(sub_token("acme")).await;
    let fresh = body["ticket"].as_str().unwrap();
    let sse = SseClient::connect(
        &format!("{}?ticket={fresh}", s.http("/v1/soc/feed/sse")),
        &[],
    )
    .await;
    assert_eq!(sse.status, 200);
    assert_eq!(ticket("bad".into()).await.0, 401);
    assert_eq!(ticket(token("acme", &[Role::Publisher])).await.0, 403);
}

/// Waits until `/metrics` has every line of `want`.
async fn metrics_reach(s: &TestServer, want: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + socfeed_testkit::WAIT;
    loop {
        let (_, text) = s.get("/metrics").await;
        if want.iter().all(|w| text.lines().any(|l| l == *w)) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never had {want:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client that stops reading while a write waits (here: a 12 MB replay) is dropped once its
/// socket has taken nothing for two heartbeat intervals, and counted as a slow consumer, though
/// its queue never overflowed and its silence could not be checked while the write waited.
#[tokio::test]
async fn a_socket_that_stops_draining_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start_with(|c| {
        c.heartbeat_interval = Duration::from_millis(300);
        c.queue_len = 100_000;
    })
    .await;
    let blob = "x".repeat(60_000);
    let p = pub_token("acme");
    for _ in 0..20 {
        let batch: Vec<Value> = (0..10)
            .map(|_| json!({"type": "alert.new", "payload": {"blob": blob}}))
            .collect();
        s.publish_batch(&p, &batch).await;
    }
    let mut raw =
        socfeed_testkit::raw_ws(s.addr, &format!("/ws?token={}", sub_token("acme"))).await;
    let subscribe = br#"{"type":"subscribe","channel":"all","since":0}"#;
    raw.write_all(&socfeed_proto::wsframe::client_frame(
        true,
        0x1,
        subscribe,
        [9, 9, 9, 9],
    ))
    .await
    .unwrap();
    metrics_reach(
        &s,
        &[
            "socfeed_slow_consumer_closes_total 1",
            "socfeed_connections 0",
        ],
    )
    .await;
    drop(raw);
}

/// Behind a trusted proxy the per-address limit counts the forwarded client address; from
/// anyone else the forwarding headers are ignored.
#[tokio::test]
async fn trusted_proxies_name_the_client_address() {
    async fn open(s: &TestServer, forwarded_for: &str) -> (WsClient, Value) {
        let url = ws_url(s, "acme");
        let (mut c, _) = WsClient::connect_with(&url, &[("x-forwarded-for", forwarded_for)]).await;
        c.send_json(&json!({"type":"subscribe","channel":"all"}))
            .await;
        let first = c.next_json_within(socfeed_testkit::WAIT).await;
        let first = match first {
            Ok(Some(v)) => v,
            Ok(None) => Value::Null,
            Err(closed) => json!({"closed": closed.code}),
        };
        (c, first)
    }
    let behind = TestServer::start_with(|c| {
        c.max_connections_per_ip = 1;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let (_a, first) = open(&behind, "203.0.113.1").await;
    assert_eq!(first["type"], "subscribed", "{first}");
    let (_b, second) = open(&behind, "203.0.113.1").await;
    assert_eq!(second, json!({"closed": 4029}), "the same client again");
    let (_c, other) = open(&behind, "198.51.100.2, 203.0.113.2").await;
    assert_eq!(other["type"], "subscribed", "another client: {other}");

    let direct = TestServer::start_with(|c| c.max_connections_per_ip = 1).await;
    let (_a, first) = open(&direct, "203.0.113.1").await;
    assert_eq!(first["type"], "subscribed", "{first}");
    let (_b, second) = open(&direct, "203.0.113.2").await;
    assert_eq!(
        second,
        json!({"closed": 4029}),
        "untrusted headers are ignored"
    );
}

/// `--allowed-origins`: a feed opened from another origin is refused with 403 (WebSocket before
/// the upgrade, SSE as the answer); an allowed origin's SSE, publish and ticket requests get CORS
/// answers, preflight included. Requests without `Origin` (not from a browser) are not affected.
#[tokio::test]
async fn origins_are_checked_and_allowed_ones_get_cors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| {
        c.allowed_origins = "https://soc.example.com".parse().unwrap();
    })
    .await;
    let good = "https://soc.example.com";
    let evil = "https://evil.example";
    // WebSocket upgrades.
    for (origin, want) in [(evil, "HTTP/1.1 403"), (good, "HTTP/1.1 101")] {
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let req = format!(
            "GET /ws?token={} HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            sub_token("acme")
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(std::str::from_utf8(&head).unwrap(), want, "{origin}");
    }
    // SSE (each a connection's first request).
    let sse = |origin: &'static str| {
        reqwest::Client::new()
            .get(format!(
                "{}?token={}",
                s.http("/v1/soc/feed/sse"),
                sub_token("acme")
            ))
            .header("origin", origin)
            .send()
    };
    assert_eq!(sse(evil).await.unwrap().status().as_u16(), 403);
    let ok = sse(good).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], good);
    assert_eq!(
        SseClient::connect(
            &format!("{}?token={}", s.http("/v1/soc/feed/sse"), sub_token("acme")),
            &[]
        )
        .await
        .status,
        200,
        "no Origin: not a browser's cross-origin request"
    );
    // Preflight and the publish itself.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, s.http("/v1/events"))
        .header("origin", good)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], good);
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("last-event-id"),
        "{allowed}"
    );
    let published = reqwest::Client::new()
        .post(s.http("/v1/events"))
        .header("origin", good)
        .bearer_auth(pub_token("acme"))
        .json(&json!({"type": "alert.new", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status().as_u16(), 202);
    assert_eq!(published.headers()["access-control-allow-origin"], good);
    let refused = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, s.http("/v1/tickets"))
        .header("origin", evil)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// A publish body sent too slowly is cut off with 408 once `--body-timeout` has passed.
#[tokio::test]
async fn slow_bodies_get_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.body_timeout = Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"type\":",
        pub_token("acme")
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(socfeed_testkit::WAIT, tcp.read(&mut reply))
        .await
        .expect("the server answers")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("body_timeout"), "{reply}");
}

/// A TCP connection counts toward `--max-connections-per-ip` from accept, before it sends a
/// byte: with the address's places taken by silent sockets, a WebSocket feed closes with 4029
/// and any other request gets 429; a few such refusals at a time, beyond which the address's
/// connections are closed at once. The places come back when the sockets close.
#[tokio::test]
async fn silent_connections_count_toward_the_address_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.max_connections_per_ip = 3).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let closed = WsClient::connect(&ws_url(&s, "acme"))
        .await
        .expect_close()
        .await;
    assert_eq!(closed.code, 4029);
    assert!(closed.reason.contains("address"), "{closed:?}");
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::time::timeout(socfeed_testkit::WAIT, tcp.read_to_string(&mut reply))
        .await
        .expect("answered and closed")
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    assert!(reply.contains("retry-after: 1"), "{reply}");
    assert!(reply.contains("too_many_connections"), "{reply}");
    // Past the few refused in words, closed at accept without a reply.
    let mut refusing = Vec::new();
    for _ in 0..8 {
        refusing.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut dropped = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(socfeed_testkit::WAIT, dropped.read_to_end(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    drop(silent);
    drop(refusing);
    tokio::time::sleep(Duration::from_millis(200)).await;
    WsClient::connect(&ws_url(&s, "acme"))
        .await
        .subscribe("all", None)
        .await;
}

/// A kept-alive connection that goes quiet after a request is closed by the same deadline as
/// one that never spoke: it holds its address's place only so long.
#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(socfeed_testkit::WAIT, tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the idle connection was closed");
    assert!(
        String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
}
