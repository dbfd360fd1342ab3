//! The real `socfeed` binary: acknowledged events survive SIGTERM and SIGKILL with the same ids
//! and seqs, and seqs continue after restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use socfeed_testkit::{ServerProcess, WsClient, pub_token, sub_token};
use tokio::sync::Mutex;

fn start(dir: &std::path::Path) -> ServerProcess {
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir,
        "127.0.0.1:0",
        &[],
    )
}

async fn publish(addr: SocketAddr, token: &str, body: &Value) -> Option<Value> {
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/v1/events"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    if resp.status().as_u16() != 202 {
        return None;
    }
    resp.json().await.ok()
}

/// Publishes from several tasks until `stop`; returns every acknowledged (seq → id).
async fn publish_until_killed(addr: SocketAddr, stop: Arc<AtomicBool>) -> BTreeMap<u64, String> {
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let token = pub_token("acme");
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let batch: Vec<Value> = (0..5)
                    .map(|k| json!({"type":"alert.created","payload":{"w": w, "i": i, "k": k}}))
                    .collect();
                match publish(addr, &token, &Value::Array(batch)).await {
                    Some(body) => {
                        let mut acked = acked.lock().await;
                        for e in body["events"].as_array().expect("events") {
                            acked.insert(
                                e["seq"].as_u64().expect("seq"),
                                e["id"].as_str().expect("id").to_owned(),
                            );
                        }
                    }
                    None => break,
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher");
    }
    Arc::try_unwrap(acked).expect("sole owner").into_inner()
}

/// Reads every stored event of `acme` from a fresh server and checks the acknowledged ones.
async fn check_restart(dir: &std::path::Path, acked: &BTreeMap<u64, String>) {
    let p = start(dir);
    let mut c = WsClient::connect(&format!("ws://{}/ws?token={}", p.addr, sub_token("acme"))).await;
    let ack = c.subscribe("all", Some(0)).await;
    let head = ack["payload"]["seq"].as_u64().expect("head");
    let last_acked = *acked.keys().last().expect("some events were acknowledged");
    assert!(
        head >= last_acked,
        "head {head} < last acknowledged {last_acked}"
    );
    let mut stored = BTreeMap::new();
    for _ in 0..head {
        let e = c.next_non_ping().await;
        stored.insert(
            e["seq"].as_u64().expect("seq"),
            e["id"].as_str().expect("id").to_owned(),
        );
    }
    for (seq, id) in acked {
        assert_eq!(
            stored.get(seq),
            Some(id),
            "acknowledged seq {seq} lost or changed"
        );
    }
    let body = publish(
        p.addr,
        &pub_token("acme"),
        &json!({"type":"alert.created","payload":{}}),
    )
    .await
    .expect("publish after restart");
    assert_eq!(body["events"][0]["seq"].as_u64(), Some(head + 1));
    p.signal("-TERM");
    p.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().expect("dir");
    let p = start(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = tokio::spawn(publish_until_killed(p.addr, Arc::clone(&stop)));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    p.signal("-KILL");
    stop.store(true, Ordering::Relaxed);
    p.wait();
    let acked = publishing.await.expect("publishers");
    assert!(acked.len() >= 20, "only {} acknowledged", acked.len());
    check_restart(dir.path(), &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sessions_with_1001_and_keeps_events() {
    let dir = tempfile::tempdir().expect("dir");
    let p = start(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let mut c = WsClient::connect(&format!("ws://{}/ws?token={}", p.addr, sub_token("acme"))).await;
    c.subscribe("all", None).await;
    let publishing = tokio::spawn(publish_until_killed(p.addr, Arc::clone(&stop)));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    p.signal("-TERM");
    assert_eq!(c.expect_close().await.code, 1001);
    stop.store(true, Ordering::Relaxed);
    let status = p.wait();
    assert!(status.success(), "graceful exit, got {status}");
    let acked = publishing.await.expect("publishers");
    check_restart(dir.path(), &acked).await;
}
