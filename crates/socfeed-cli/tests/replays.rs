//! Replays cost what they return: re-subscribing with a cursor to a channel that holds 5 events
//! costs the server about as much CPU in a tenant of 20,000 events as in a tenant of 5.
//!
//! Two connections per tenant each re-subscribe (AiSOC `subscribe` with `since: 0`, the 5-event
//! replay, `unsubscribe`) a few hundred times; the server's CPU time (`/proc/<pid>/stat`) is
//! taken around each tenant's phase. The recent-events cache is off, so both tenants' replays
//! are read from the log (with it, the small tenant's would come from memory and the ratio would
//! compare two paths instead of two log sizes). `SOCFEED_RESUBSCRIBES` sets the rounds per
//! connection.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use socfeed_testkit::{ServerProcess, WsClient, cpu_ticks, pub_token, sub_token};

/// Events of the big tenant, of which [`IN_CHANNEL`] are in [`CHANNEL`].
const BIG: usize = 20_000;
const IN_CHANNEL: usize = 5;
/// The channel replayed, and an event type of it and of another channel.
const CHANNEL: &str = "ueba";
const IN_TYPE: &str = "ueba.anomaly";
const OTHER_TYPE: &str = "alert.created";
const CONNECTIONS: usize = 2;
/// Events per publish request.
const BATCH: usize = 1_000;

/// `total` events, [`IN_CHANNEL`] of them (spread evenly) in [`CHANNEL`].
fn events(total: usize) -> Vec<Value> {
    let stride = total / IN_CHANNEL;
    (0..total)
        .map(|i| {
            let ty = if i % stride == stride / 2 {
                IN_TYPE
            } else {
                OTHER_TYPE
            };
            json!({"type": ty, "payload": {"n": i, "host": "srv-01", "rule": "r-17"}})
        })
        .collect()
}

/// Publishes `events` for `tenant`; returns the seqs of those in [`CHANNEL`].
async fn publish(addr: std::net::SocketAddr, tenant: &str, events: Vec<Value>) -> Vec<u64> {
    let http = reqwest::Client::new();
    let token = pub_token(tenant);
    let mut in_channel = Vec::new();
    for chunk in events.chunks(BATCH) {
        let resp = http
            .post(format!("http://{addr}/v1/events"))
            .bearer_auth(&token)
            .json(&chunk)
            .send()
            .await
            .expect("publish");
        assert_eq!(resp.status().as_u16(), 202);
        let body: Value = resp.json().await.expect("publish reply");
        let seqs = body["events"].as_array().expect("events");
        for (event, out) in chunk.iter().zip(seqs) {
            if event["type"] == IN_TYPE {
                in_channel.push(out["seq"].as_u64().expect("seq"));
            }
        }
    }
    in_channel
}

/// One re-subscribe: the ack, exactly the replay `want` (in order), then the unsubscribe's ack.
async fn resubscribe(c: &mut WsClient, want: &[u64]) {
    c.subscribe(CHANNEL, Some(0)).await;
    for &seq in want {
        let event = c.next_non_ping().await;
        assert_eq!(
            (event["type"].as_str(), event["seq"].as_u64()),
            (Some(IN_TYPE), Some(seq))
        );
    }
    c.send_json(&json!({"type": "unsubscribe", "channel": CHANNEL}))
        .await;
    let ack = c.next_non_ping().await;
    assert_eq!(
        ack["type"], "unsubscribed",
        "{ack} (a replayed event too many?)"
    );
}

/// Runs `rounds` re-subscribes on each of [`CONNECTIONS`] connections of `tenant` at once;
/// returns the server's CPU ticks for them (connecting and one warm-up round excluded).
async fn phase(server: &ServerProcess, tenant: &str, want: &[u64], rounds: usize) -> u64 {
    let url = format!("ws://{}/ws?token={}", server.addr, sub_token(tenant));
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut c = WsClient::connect(&url).await;
        resubscribe(&mut c, want).await;
        clients.push(c);
    }
    let pid = server.child.id();
    let before = cpu_ticks(pid);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let want = want.to_vec();
            tokio::spawn(async move {
                for _ in 0..rounds {
                    resubscribe(&mut c, &want).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("re-subscribing client");
    }
    cpu_ticks(pid) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_costs_what_the_replay_returns_not_the_tenants_log() {
    let rounds: usize = std::env::var("SOCFEED_RESUBSCRIBES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().expect("dir");
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir.path(),
        "127.0.0.1:0",
        // Publishing and re-subscribing as fast as the test can: no publish rate, and a
        // message rate per connection well above the default 20 a second.
        &[
            "--publish-rate",
            "0",
            "--max-messages-per-second",
            "100000",
            "--replay-cache",
            "0",
        ],
    );
    let big = publish(server.addr, "big", events(BIG)).await;
    let small = publish(server.addr, "small", events(IN_CHANNEL)).await;
    assert_eq!((big.len(), small.len()), (IN_CHANNEL, IN_CHANNEL));

    let started = Instant::now();
    let small_ticks = phase(&server, "small", &small, rounds).await;
    let big_ticks = phase(&server, "big", &big, rounds).await;
    let ratio = big_ticks as f64 / small_ticks.max(1) as f64;
    println!(
        "{} re-subscribes per tenant, {IN_CHANNEL} events replayed each: server CPU {:.2} s \
         for the tenant of {BIG} events, {:.2} s for the tenant of {IN_CHANNEL} (ratio {ratio:.2}), \
         {:.1} s in all",
        rounds * CONNECTIONS,
        big_ticks as f64 / 100.0,
        small_ticks as f64 / 100.0,
        started.elapsed().as_secs_f64(),
    );
    assert!(
        ratio < 2.0,
        "re-subscribing in the big tenant cost {big_ticks} ticks, in the small one {small_ticks}"
    );
}
