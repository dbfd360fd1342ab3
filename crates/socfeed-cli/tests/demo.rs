//! `socfeed serve --demo`: prints a working token and URL, and live synthetic events flow.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use socfeed_testkit::WsClient;

#[tokio::test]
async fn the_demo_prints_a_token_and_url_that_receive_live_events() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_socfeed"))
        .args([
            "serve",
            "--demo",
            "--demo-rate",
            "50",
            "--bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("SOCFEED_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("socfeed starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut page = None;
    let mut ws = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let line = line.trim().to_owned();
        if line.starts_with("http://") {
            page = Some(line);
        } else if line.starts_with("ws://") {
            ws = Some(line.split_whitespace().next().expect("url").to_owned());
            break;
        }
    }
    let page = page.expect("a page URL is printed");
    assert!(page.contains("/?token="), "{page}");
    let html = reqwest::get(&page)
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("socfeed"));
    let mut c = WsClient::connect(&ws.expect("a WebSocket URL is printed")).await;
    c.subscribe("all", None).await;
    let mut types = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let e = c.next_non_ping().await;
        assert_eq!(e["tenant_id"], "demo");
        types.insert(e["type"].as_str().expect("type").to_owned());
    }
    assert!(types.len() >= 5, "a variety of SOC events: {types:?}");
    // The demo's events are counted like published ones.
    let base = page.split("/?token=").next().expect("base URL");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    assert!(value("socfeed_events_published_total") >= 40, "{metrics}");
    assert!(value("socfeed_log_append_seconds_count") >= 40, "{metrics}");
    let _ = child.kill();
    let _ = child.wait();
}
