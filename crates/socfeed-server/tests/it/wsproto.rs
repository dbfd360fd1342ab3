//! The WebSocket layer itself over real TCP: the handshake's refusals, fragmented and interleaved
//! client frames, Ping/Pong, and the close codes for broken frames (1002, 1007, 1009).

use std::time::Duration;

use serde_json::Value;
use socfeed_testkit::{TestServer, sub_token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    socfeed_proto::wsframe::client_frame(fin, opcode, payload, MASK)
}

/// Reads one server frame: (opcode, payload). Server frames are never masked or fragmented.
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let mut h = [0u8; 2];
        tcp.read_exact(&mut h).await.unwrap();
        assert_eq!(h[0] & 0xF0, 0x80, "FIN set, no reserved bits");
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let mut len = u64::from(h[1] & 0x7F);
        if len == 126 {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b).await.unwrap();
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b).await.unwrap();
            len = u64::from_be_bytes(b);
        }
        let mut payload = vec![0u8; len as usize];
        tcp.read_exact(&mut payload).await.unwrap();
        (h[0] & 0x0F, payload)
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a frame within 10 s")
}

/// The next text frame that is not a ping message, as JSON.
async fn next_json(tcp: &mut TcpStream) -> Value {
    loop {
        let (op, payload) = read_frame(tcp).await;
        if op == 0x1 {
            let v: Value = serde_json::from_slice(&payload).unwrap();
            if v["type"] != "ping" {
                return v;
            }
        }
    }
}

/// The code of the server's Close frame (skipping anything before it).
async fn close_code(tcp: &mut TcpStream) -> u16 {
    loop {
        let (op, payload) = read_frame(tcp).await;
        if op == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

async fn connect(s: &TestServer) -> TcpStream {
    socfeed_testkit::raw_ws(s.addr, &format!("/ws?token={}", sub_token("acme"))).await
}

/// A raw connection subscribed to `alerts`, past its ack.
async fn subscribed_to_alerts(s: &TestServer) -> TcpStream {
    let mut tcp = connect(s).await;
    let subscribe = br#"{"type":"subscribe","channel":"alerts"}"#;
    tcp.write_all(&frame(true, 0x1, subscribe)).await.unwrap();
    assert_eq!(next_json(&mut tcp).await["type"], "subscribed");
    tcp
}

#[tokio::test]
async fn fragments_with_a_ping_between_make_one_message() {
    let s = TestServer::start().await;
    let mut tcp = connect(&s).await;
    let msg = br#"{"type":"subscribe","channel":"alerts"}"#;
    let mut bytes = frame(false, 0x1, &msg[..10]);
    bytes.extend(frame(true, 0x9, b"are you there"));
    bytes.extend(frame(false, 0x0, &msg[10..20]));
    bytes.extend(frame(true, 0x0, &msg[20..]));
    tcp.write_all(&bytes).await.unwrap();
    let (op, payload) = read_frame(&mut tcp).await;
    assert_eq!((op, payload.as_slice()), (0xA, &b"are you there"[..]));
    let ack = next_json(&mut tcp).await;
    assert_eq!(ack["type"], "subscribed");
    assert_eq!(ack["payload"]["channel"], "alerts");
}

#[tokio::test]
async fn a_client_close_is_answered_with_1000() {
    let s = TestServer::start().await;
    let mut tcp = connect(&s).await;
    tcp.write_all(&frame(true, 0x8, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut tcp).await, 1000);
}

#[tokio::test]
async fn broken_frames_close_with_their_codes() {
    let s = TestServer::start_with(|c| c.max_message_size = 1024).await;
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", unmasked, 1002),
        (
            "reserved bit",
            {
                let mut f = frame(true, 0x1, b"{}");
                f[0] |= 0x40;
                f
            },
            1002,
        ),
        ("unknown opcode", frame(true, 0x3, b""), 1002),
        ("fragmented ping", frame(false, 0x9, b""), 1002),
        ("stray continuation", frame(true, 0x0, b"x"), 1002),
        ("text is not UTF-8", frame(true, 0x1, &[0xC3, 0x28]), 1007),
        (
            "too big in one frame",
            frame(true, 0x1, &[b' '; 2000]),
            1009,
        ),
        (
            "too big in fragments",
            [
                frame(false, 0x1, &[b' '; 600]),
                frame(true, 0x0, &[b' '; 600]),
            ]
            .concat(),
            1009,
        ),
    ];
    for (name, bytes, code) in cases {
        let mut tcp = connect(&s).await;
        tcp.write_all(&bytes).await.unwrap();
        assert_eq!(close_code(&mut tcp).await, code, "{name}");
    }
}

#[tokio::test]
async fn oversized_frames_are_refused_on_their_header() {
    // A header announcing 1 GiB is refused at once: the server does not wait for the payload.
    let s = TestServer::start().await;
    let mut tcp = connect(&s).await;
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&MASK);
    tcp.write_all(&header).await.unwrap();
    assert_eq!(close_code(&mut tcp).await, 1009);
}

#[tokio::test]
async fn handshakes_that_are_not_websocket_are_refused_with_a_status() {
    let s = TestServer::start().await;
    let t = sub_token("acme");
    let ask = |request: String| async move {
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = vec![0u8; 1024];
        let n = tcp.read(&mut head).await.unwrap();
        String::from_utf8_lossy(&head[..n]).into_owned()
    };
    let plain = ask(format!("GET /ws?token={t} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
    assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
    let old = ask(format!(
        "GET /ws?token={t} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ))
    .await;
    assert!(old.starts_with("HTTP/1.1 426"), "{old}");
    assert!(
        old.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{old}"
    );
    let keyless = ask(format!(
        "GET /ws?token={t} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ))
    .await;
    assert!(keyless.starts_with("HTTP/1.1 400"), "{keyless}");
}

#[tokio::test]
async fn many_events_arrive_whole_and_in_order_through_a_slow_reader() {
    // A reader that takes its time makes the server's writes partial: frames must still arrive
    // whole, in seq order, none lost.
    let s = TestServer::start().await;
    let mut tcp = subscribed_to_alerts(&s).await;
    let publisher = socfeed_testkit::pub_token("acme");
    let pad = "x".repeat(4000);
    let batch: Vec<Value> = (0..200)
        .map(|i| serde_json::json!({"type":"alert.created","payload":{"i":i,"pad":pad}}))
        .collect();
    for chunk in batch.chunks(50) {
        let (status, _) = s.publish(&publisher, &Value::Array(chunk.to_vec())).await;
        assert_eq!(status, 202);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut last = 0;
    for i in 0..200 {
        let event = next_json(&mut tcp).await;
        let seq = event["seq"].as_u64().unwrap();
        assert!(seq > last, "in order");
        last = seq;
        assert_eq!(event["payload"]["i"], i);
    }
}

#[tokio::test]
async fn coalesced_writes_lose_and_reorder_nothing() {
    let s = TestServer::start_with(|c| c.write_coalesce = Duration::from_millis(50)).await;
    let mut tcp = subscribed_to_alerts(&s).await;
    let publisher = socfeed_testkit::pub_token("acme");
    for i in 0..20 {
        let one = serde_json::json!({"type":"alert.created","payload":{"i":i}});
        assert_eq!(s.publish(&publisher, &one).await.0, 202);
    }
    for i in 0..20 {
        let event = next_json(&mut tcp).await;
        assert_eq!(event["payload"]["i"], i);
        assert_eq!(event["seq"], i + 1);
    }
}
