//! `kill -HUP` makes the real binary re-read its key files; open connections stay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use socfeed_proto::Role;
use socfeed_testkit::{ServerProcess, WsClient};

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../socfeed-auth/tests/keys")
        .join(name)
}

fn token(private: &str) -> String {
    let claims = socfeed_auth::claims(
        "acme",
        "analyst",
        &[Role::Subscriber],
        None,
        Duration::from_secs(600),
    );
    socfeed_auth::Minter::from_private_pem_file(key(private))
        .expect("key")
        .mint(&claims)
        .expect("mint")
}

#[tokio::test]
async fn sighup_reloads_key_files_without_dropping_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let pem = dir.path().join("key.pem");
    std::fs::copy(key("rsa_public.pem"), &pem).expect("copy");
    let pem_arg = pem.to_str().expect("utf-8 path");
    let bin = Path::new(env!("CARGO_BIN_EXE_socfeed"));
    let server = ServerProcess::start(
        bin,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--jwt-public-key", pem_arg],
    );
    let url = |t: &str| format!("ws://{}/ws?token={t}", server.addr);
    let mut open = WsClient::connect(&url(&token("rsa_private.pem"))).await;
    open.subscribe("all", None).await;

    std::fs::copy(key("rsa2_public.pem"), &pem).expect("swap the key");
    server.signal("-HUP");
    // The reload is asynchronous: wait until the old key is refused.
    let mut refused = false;
    for _ in 0..50 {
        let mut c = WsClient::connect(&url(&token("rsa_private.pem"))).await;
        c.send_json(&json!({"type":"subscribe","channel":"all"}))
            .await;
        match c.next_json_within(Duration::from_secs(5)).await {
            Err(closed) if closed.code == 4001 => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(refused, "after SIGHUP the old key is refused");
    WsClient::connect(&url(&token("rsa2_private.pem")))
        .await
        .subscribe("all", None)
        .await;
    // The connection opened before the reload is still served.
    open.send_json(&json!({"type":"pong"})).await;
    open.expect_silence(Duration::from_millis(200)).await;
    server.signal("-TERM");
    assert!(server.wait().success());
}
