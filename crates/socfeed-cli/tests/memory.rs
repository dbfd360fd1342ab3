//! Memory has a budget, not a count: large events published to several tenants leave the
//! server's memory bounded by its cache settings, not by what was published.

use std::path::Path;

use serde_json::{Value, json};
use socfeed_testkit::{ServerProcess, pub_token, rss_kib};

/// 6 tenants × 20 events of 900 KB (108 MB, allowed by `--max-event-size 960KiB`) with an 8 MiB recent-events cache and an 8 MiB log
/// cache: the server grows by less than half of what was published (it kept every event in
/// memory, ~318 MiB per tenant of such events, when the cache was bounded by count only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_events_on_many_tenants_stay_within_the_cache_budgets() {
    let dir = tempfile::tempdir().expect("dir");
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir.path(),
        "127.0.0.1:0",
        &[
            "--replay-cache-bytes",
            "8MiB",
            "--log-cache-bytes",
            "8MiB",
            "--publish-rate",
            "0",
            "--max-event-size",
            "960KiB",
        ],
    );
    let pid = server.child.id();
    let before = rss_kib(pid);
    let blob = "x".repeat(900_000);
    let http = reqwest::Client::new();
    let mut published = 0u64;
    for tenant in 0..6 {
        let token = pub_token(&format!("t{tenant}"));
        for _ in 0..20 {
            let event: Value = json!({"type": "alert.new", "payload": {"blob": blob}});
            let status = http
                .post(format!("http://{}/v1/events", server.addr))
                .bearer_auth(&token)
                .json(&event)
                .send()
                .await
                .expect("publish")
                .status();
            assert_eq!(status.as_u16(), 202);
            published += blob.len() as u64;
        }
    }
    let grown = rss_kib(pid).saturating_sub(before) * 1024;
    println!(
        "memory: {published} bytes published over 6 tenants, server RSS grew by {grown} bytes"
    );
    assert!(
        grown < published / 2,
        "the server grew by {grown} bytes for {published} published"
    );
    drop(server);
}
