//! Token rules on `/ws` (PROTOCOL §2): upgrade, then close with 4001 / 4003.

use std::time::Duration;

use serde_json::json;
use socfeed_proto::{Claims, Role};
use socfeed_testkit::{SECRET, TestServer, WsClient, token, token_with};

async fn close_code(s: &TestServer, query: &str) -> u16 {
    let mut c = WsClient::connect(&format!("{}{query}", s.ws("/ws"))).await;
    c.expect_close().await.code
}

fn mint(claims: &Claims, secret: &str) -> String {
    socfeed_auth::Minter::hs256(secret).mint(claims).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Claims {
    socfeed_auth::claims(
        "acme",
        "tester",
        &[Role::Subscriber],
        None,
        Duration::from_secs(600),
    )
}

#[tokio::test]
async fn missing_malformed_and_badly_signed_tokens_get_4001() {
    let s = TestServer::start().await;
    assert_eq!(close_code(&s, "").await, 4001);
    assert_eq!(close_code(&s, "?token=").await, 4001);
    assert_eq!(close_code(&s, "?token=not.a.jwt").await, 4001);
    assert_eq!(
        close_code(&s, &format!("?token={}", mint(&claims(), "another-secret"))).await,
        4001
    );
    let (status, _) = s.get("/metrics").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_get_4001() {
    let s = TestServer::start().await;
    let mut expired = claims();
    expired.exp = now() - 60;
    assert_eq!(
        close_code(&s, &format!("?token={}", mint(&expired, SECRET))).await,
        4001
    );
    let mut early = claims();
    early.nbf = Some(now() + 600);
    assert_eq!(
        close_code(&s, &format!("?token={}", mint(&early, SECRET))).await,
        4001
    );
}

#[tokio::test]
async fn a_token_without_the_subscriber_role_gets_4003() {
    let s = TestServer::start().await;
    assert_eq!(
        close_code(&s, &format!("?token={}", token("acme", &[Role::Publisher]))).await,
        4003
    );
    assert_eq!(
        close_code(&s, &format!("?token={}", token("acme", &[]))).await,
        4003
    );
    assert_eq!(
        close_code(&s, &format!("?token={}", token("*", &[Role::Subscriber]))).await,
        4003
    );
}

#[tokio::test]
async fn the_connection_closes_with_4001_when_the_token_expires() {
    let s = TestServer::start().await;
    let t = token_with("acme", &[Role::Subscriber], None, Duration::from_secs(2));
    let mut c = WsClient::connect(&format!("{}?token={t}", s.ws("/ws"))).await;
    c.subscribe("all", None).await;
    let closed = c.expect_close().await;
    assert_eq!(closed.code, 4001);
    assert!(closed.reason.contains("expired"), "{closed:?}");
}

#[tokio::test]
async fn auth_failures_are_counted() {
    let s = TestServer::start().await;
    close_code(&s, "?token=garbage").await;
    s.publish("garbage", &json!({"type":"a.b","payload":{}}))
        .await;
    let (_, text) = s.get("/metrics").await;
    let line = text
        .lines()
        .find(|l| l.starts_with("socfeed_auth_failures_total"))
        .unwrap();
    assert!(line.ends_with(" 2"), "{line}");
}

fn key(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../socfeed-auth/tests/keys")
        .join(name)
}

/// Public-key configurations end to end: an ES256 PEM key and a JWKS file (kid-selected RS256 and
/// EdDSA); an HS256 token is then refused (no shared secret is configured, so no confusion).
#[tokio::test]
async fn public_keys_and_jwks_verify_tokens_and_nothing_else() {
    let s = TestServer::start_with(|c| {
        c.keys.secret = None;
        c.keys.public_key_pem = Some(key("ec_public.pem"));
        c.keys.jwks_file = Some(key("jwks.json"));
    })
    .await;
    let es = socfeed_auth::Minter::from_private_pem_file(key("ec_private.pem")).unwrap();
    let rs = socfeed_auth::Minter::from_private_pem_file(key("rsa_private.pem"))
        .unwrap()
        .with_kid("rsa-1");
    let ed = socfeed_auth::Minter::from_private_pem_file(key("ed25519_private.pem"))
        .unwrap()
        .with_kid("ed-1");
    for minter in [es, rs, ed] {
        let t = minter.mint(&claims()).unwrap();
        let mut c = WsClient::connect(&format!("{}?token={t}", s.ws("/ws"))).await;
        c.subscribe("alerts", None).await;
    }
    assert_eq!(
        close_code(&s, &format!("?token={}", mint(&claims(), SECRET))).await,
        4001
    );
    let wrong_kid = socfeed_auth::Minter::from_private_pem_file(key("rsa_private.pem"))
        .unwrap()
        .with_kid("rsa-2");
    assert_eq!(
        close_code(
            &s,
            &format!("?token={}", wrong_kid.mint(&claims()).unwrap())
        )
        .await,
        4001
    );
}
