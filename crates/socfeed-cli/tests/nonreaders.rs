//! Clients that subscribe and never read while events flow: the server closes them as slow
//! consumers (4008), its memory stays bounded, and a reading client still gets every event.
//! `SOCFEED_NONREADERS` sets how many (default 2,000; RELIABILITY.md records a 10,000 run).

use std::path::Path;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use socfeed_testkit::{ServerProcess, WsClient, pub_token, rss_kib, sub_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_reading_clients_are_cut_off_and_memory_stays_bounded() {
    let n: usize = std::env::var("SOCFEED_NONREADERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let (soft, hard) = rlimit::Resource::NOFILE.get().expect("rlimit");
    if soft < hard {
        rlimit::Resource::NOFILE
            .set(hard, hard)
            .expect("raise the fd limit");
    }
    let dir = tempfile::tempdir().expect("dir");
    let limits = [
        "--queue-len",
        "32",
        "--max-connections-per-ip",
        "20000",
        "--max-connections-per-tenant",
        "20000",
    ];
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir.path(),
        "127.0.0.1:0",
        &limits,
    );
    let addr = server.addr;
    let pid = server.child.id();
    let idle = rss_kib(pid);

    let url = format!("ws://{addr}/ws?token={}", sub_token("acme"));
    let sleepers: Vec<WsClient> = stream::iter(0..n)
        .map(|_| {
            let url = url.clone();
            async move {
                // A small receive buffer, as a stalled mobile client has: the server's writes
                // block soon and its queue fills.
                let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                socket.set_recv_buffer_size(4096).expect("rcvbuf");
                let tcp = socket.connect(addr).await.expect("connect");
                let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
                let (stream, _) = tokio_tungstenite::client_async(url, tcp)
                    .await
                    .expect("handshake");
                let mut c = WsClient { stream };
                c.subscribe("all", None).await;
                c
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let connected = rss_kib(pid);
    let mut reader = WsClient::connect(&url).await;
    reader.subscribe("all", None).await;
    let total = 300u64;
    // The reader reports how far it got: the publisher keeps within its queue of it (a 202 does
    // not wait for the fan-out, so an unpaced publisher could outrun even a reading client).
    let (progress, mut read_up_to) = tokio::sync::watch::channel(0u64);
    let reading = tokio::spawn(async move {
        for seq in 1..=total {
            assert_eq!(reader.next_non_ping().await["seq"], seq);
            let _ = progress.send(seq);
        }
    });

    // 300 events of 8 KiB: more than a sleeper's socket buffers and queue can hold.
    let blob = "x".repeat(8 * 1024);
    let http = reqwest::Client::new();
    let mut peak = connected;
    for round in 0..(total / 10) {
        let behind = (round * 10).saturating_sub(10);
        tokio::time::timeout(
            Duration::from_secs(30),
            read_up_to.wait_for(|got| *got >= behind),
        )
        .await
        .expect("the reader keeps up")
        .expect("the reader is running");
        let batch: Vec<Value> = (0..10)
            .map(|_| json!({"type":"alert.created","payload":{"blob": blob}}))
            .collect();
        let resp = http
            .post(format!("http://{addr}/v1/events"))
            .bearer_auth(pub_token("acme"))
            .json(&batch)
            .send()
            .await
            .expect("publish");
        assert_eq!(resp.status().as_u16(), 202);
        peak = peak.max(rss_kib(pid));
    }
    reading
        .await
        .expect("the reading client got every event in order");
    // Every sleeper's socket and queue filled up: each is cut off as a slow consumer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    peak = peak.max(rss_kib(pid));
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let metrics: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("socfeed_slow_consumer_closes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let per_conn = (connected.saturating_sub(idle)) as f64 / n as f64;
    println!(
        "non-readers: {n} connections, server RSS idle {idle} KiB, connected {connected} KiB ({per_conn:.1} KiB each), peak while flooding {peak} KiB, slow-consumer closes {metrics}"
    );
    // Bounded: the flood may not cost more than the events themselves held a few times over, plus
    // what the connections already cost (queues hold shared frames, not copies).
    let flood = peak.saturating_sub(connected);
    assert!(
        flood < 512 * 1024,
        "server grew by {flood} KiB while flooding {n} non-readers"
    );
    assert_eq!(
        metrics, n as u64,
        "every non-reader was closed as a slow consumer"
    );
    drop(sleepers);
    server.signal("-TERM");
    server.wait();
}
