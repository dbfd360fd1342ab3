//! Tokens and tickets never reach the server's log, even at the most verbose level; the audit
//! trail names who connected and who was refused.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use socfeed_testkit::{SECRET, SseClient, WsClient, pub_token, sub_token};

#[tokio::test]
async fn log_lines_never_contain_a_token_or_ticket() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_socfeed"))
        .args(["serve", "--bind", "127.0.0.1:0", "--jwt-secret", SECRET])
        .arg("--data-dir")
        .arg(dir.path())
        .env("SOCFEED_LOG_LEVEL", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("socfeed starts");
    let mut stderr = child.stderr.take().expect("stderr");
    // Read the log on a thread; find the address in it.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = tx.send(chunk.clone());
            all.push_str(&chunk);
        }
        all
    });
    let mut seen = String::new();
    let addr = loop {
        seen.push_str(
            &rx.recv_timeout(Duration::from_secs(10))
                .expect("server logs its address"),
        );
        if let Some(rest) = seen.split("addr=").nth(1)
            && let Some(addr) = rest.split_whitespace().next()
            && rest.contains(char::is_whitespace)
        {
            break addr.to_owned();
        }
    };
    let (sub, publisher) = (sub_token("acme"), pub_token("acme"));
    let http = reqwest::Client::new();
    let mut ws = WsClient::connect(&format!("ws://{addr}/ws?token={sub}")).await;
    ws.subscribe("all", None).await;
    let ticket: Value = http
        .post(format!("http://{addr}/v1/tickets"))
        .bearer_auth(&sub)
        .send()
        .await
        .expect("ticket")
        .json()
        .await
        .expect("json");
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    let sse = SseClient::connect(
        &format!("http://{addr}/v1/soc/feed/sse?ticket={ticket}"),
        &[],
    )
    .await;
    assert_eq!(sse.status, 200);
    let resp = http
        .post(format!("http://{addr}/v1/events"))
        .bearer_auth(&publisher)
        .json(&json!({"type":"alert.created","payload":{}}))
        .send()
        .await
        .expect("publish");
    assert_eq!(resp.status().as_u16(), 202);
    ws.next_non_ping().await;
    // Bad tokens are logged about no more than good ones.
    let mut bad = WsClient::connect(&format!("ws://{addr}/ws?token=not-a-real-token-abcdef")).await;
    assert_eq!(bad.expect_close().await.code, 4001);
    drop((ws, sse));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = reader.join().expect("log reader");
    assert!(log.contains("listening"), "the log was captured");
    for (name, secret) in [
        ("subscriber token", sub.as_str()),
        ("publisher token", publisher.as_str()),
        ("ticket", ticket.as_str()),
        ("bad token", "not-a-real-token-abcdef"),
    ] {
        assert!(!log.contains(secret), "the log contains a {name}");
    }
    // Nor any token's signature part alone.
    let signature = sub.rsplit('.').next().expect("signature");
    assert!(!log.contains(signature));
    // The audit trail: who connected and who was refused, with the client address.
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("socfeed::audit"))
        .collect();
    assert!(
        audit.iter().any(|l| l.contains("feed connection opened")
            && l.contains("tenant=\"acme\"")
            && l.contains("sub=\"tester\"")
            && l.contains("client=127.0.0.1")),
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(|l| l.contains("refused")
            && l.contains("request=\"feed\"")
            && l.contains("invalid token")
            && l.contains("client=127.0.0.1")),
        "{audit:#?}"
    );
}
