//! Token rules on `/ws` (PROTOCOL §2): upgrade, then close with 4001 / 4003.

use std::time::Duration;

use serde_json::{Value, json};
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
    // Algorithm confusion: HS256 "signed" with the configured public keys' bytes.
    for public in ["ec_public.pem", "rsa_public.pem"] {
        let bytes = std::fs::read(key(public)).unwrap();
        let forged = forge(&json!({"alg":"HS256"}), &good_claims(), Some(&bytes));
        assert_eq!(
            close_code(&s, &format!("?token={forged}")).await,
            4001,
            "{public}"
        );
    }
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

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with an arbitrary header and claims, HMAC-signed with `key` (or unsigned).
fn forge(header: &Value, claims: &Value, key: Option<&[u8]>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = match key {
        Some(k) => {
            let key = jsonwebtoken::EncodingKey::from_secret(k);
            jsonwebtoken::crypto::sign(
                signing_input.as_bytes(),
                &key,
                jsonwebtoken::Algorithm::HS256,
            )
            .unwrap()
        }
        None => String::new(),
    };
    format!("{signing_input}.{sig}")
}

fn good_claims() -> Value {
    json!({"sub":"tester","tenant_id":"acme","exp": now() + 600, "roles":["subscriber","publisher"]})
}

/// Known JWT attacks, each refused with 4001 on the WebSocket and 401 on publish.
#[tokio::test]
async fn known_jwt_attacks_are_refused_with_4001_and_401() {
    let s = TestServer::start_with(|c| {
        c.keys.public_key_pem = Some(key("rsa_public.pem"));
        c.keys.issuer = Some("https://idp.example".into());
        c.keys.audience = Some("socfeed".into());
    })
    .await;
    let hs = json!({"alg":"HS256","typ":"JWT"});
    let mut claims = good_claims();
    claims["iss"] = json!("https://idp.example");
    claims["aud"] = json!("socfeed");
    let ok = forge(&hs, &claims, Some(SECRET.as_bytes()));
    let with = |patch: Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        forge(&hs, &c, Some(SECRET.as_bytes()))
    };
    let rsa_public = std::fs::read(key("rsa_public.pem")).unwrap();
    let cases = vec![
        (
            "alg none",
            forge(&json!({"alg":"none","typ":"JWT"}), &claims, None),
        ),
        ("alg None", forge(&json!({"alg":"None"}), &claims, None)),
        (
            "HS256 keyed with the RSA public key",
            forge(&hs, &claims, Some(&rsa_public)),
        ),
        (
            "unknown kid",
            forge(
                &json!({"alg":"HS256","kid":"nope"}),
                &claims,
                Some(SECRET.as_bytes()),
            ),
        ),
        ("exp as a string", with(json!({"exp": "tomorrow"}))),
        ("roles as a string", with(json!({"roles": "subscriber"}))),
        ("tenant as a number", with(json!({"tenant_id": 7}))),
        ("no exp", with(json!({"exp": null}))),
        ("no sub", with(json!({"sub": null}))),
        ("nbf in the future", with(json!({"nbf": now() + 600}))),
        ("expired", with(json!({"exp": now() - 10}))),
        ("wrong iss", with(json!({"iss": "https://evil.example"}))),
        ("no iss", with(json!({"iss": null}))),
        ("wrong aud", with(json!({"aud": "other-service"}))),
        ("huge token", with(json!({"pad": "x".repeat(20_000)}))),
        ("wrong secret", forge(&hs, &claims, Some(b"guessed"))),
        ("garbage", "a.b.c".to_owned()),
    ];
    accepted(&s, &ok).await;
    for (name, t) in cases {
        assert_eq!(close_code(&s, &format!("?token={t}")).await, 4001, "{name}");
        let (status, _) = s
            .publish(&t, &json!({"type":"alert.created","payload":{}}))
            .await;
        assert_eq!(status, 401, "{name}");
    }
}

/// Asserts that a connection with `token` is accepted.
async fn accepted(s: &TestServer, token: &str) {
    let mut c = WsClient::connect(&format!("{}?token={token}", s.ws("/ws"))).await;
    c.subscribe("all", None).await;
}

#[tokio::test]
async fn key_files_reload_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("key.pem");
    std::fs::copy(key("rsa_public.pem"), &pem).unwrap();
    let s = TestServer::start_with(|c| {
        c.keys.secret = None;
        c.keys.public_key_pem = Some(pem.clone());
    })
    .await;
    let old = socfeed_auth::Minter::from_private_pem_file(key("rsa_private.pem")).unwrap();
    let new = socfeed_auth::Minter::from_private_pem_file(key("rsa2_private.pem")).unwrap();
    let mut open = WsClient::connect(&format!(
        "{}?token={}",
        s.ws("/ws"),
        old.mint(&claims()).unwrap()
    ))
    .await;
    open.subscribe("all", None).await;

    std::fs::copy(key("rsa2_public.pem"), &pem).unwrap();
    s.keys.reload().unwrap();
    assert_eq!(
        close_code(&s, &format!("?token={}", old.mint(&claims()).unwrap())).await,
        4001
    );
    let mut fresh = WsClient::connect(&format!(
        "{}?token={}",
        s.ws("/ws"),
        new.mint(&claims()).unwrap()
    ))
    .await;
    fresh.subscribe("all", None).await;

    // A broken file keeps the keys in force.
    std::fs::write(&pem, "not a key").unwrap();
    assert!(s.keys.reload().is_err());
    WsClient::connect(&format!(
        "{}?token={}",
        s.ws("/ws"),
        new.mint(&claims()).unwrap()
    ))
    .await
    .subscribe("all", None)
    .await;

    // The first connection never noticed.
    open.send_json(&json!({"type":"pong"})).await;
    open.expect_silence(Duration::from_millis(200)).await;
}

/// Keys bound to an issuer verify only that issuer's tokens, and are found by (issuer, kid):
/// two issuers may both use kid `rsa-1` for different keys.
#[tokio::test]
async fn issuer_bound_keys_never_verify_another_issuers_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(key("jwks.json")).unwrap()).unwrap();
    let mut rsa2 = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "rsa-2")
        .unwrap()
        .clone();
    rsa2["kid"] = json!("rsa-1");
    let b_file = dir.path().join("b.json");
    std::fs::write(&b_file, json!({"keys": [rsa2]}).to_string()).unwrap();
    let s = TestServer::start_with(|c| {
        c.keys.secret = None;
        c.keys.issuer_jwks = vec![
            ("https://a.example".into(), key("jwks.json")),
            ("https://b.example".into(), b_file),
        ];
    })
    .await;
    let a_key = socfeed_auth::Minter::from_private_pem_file(key("rsa_private.pem"))
        .unwrap()
        .with_kid("rsa-1");
    let b_key = socfeed_auth::Minter::from_private_pem_file(key("rsa2_private.pem"))
        .unwrap()
        .with_kid("rsa-1");
    let with_iss = |iss: &str| {
        let mut c = claims();
        c.iss = Some(iss.into());
        c
    };
    accepted(&s, &a_key.mint(&with_iss("https://a.example")).unwrap()).await;
    accepted(&s, &b_key.mint(&with_iss("https://b.example")).unwrap()).await;
    for (name, t) in [
        (
            "A's key, B's issuer",
            a_key.mint(&with_iss("https://b.example")).unwrap(),
        ),
        (
            "B's key, A's issuer",
            b_key.mint(&with_iss("https://a.example")).unwrap(),
        ),
        (
            "unknown issuer",
            a_key.mint(&with_iss("https://c.example")).unwrap(),
        ),
        ("no issuer", a_key.mint(&claims()).unwrap()),
    ] {
        assert_eq!(close_code(&s, &format!("?token={t}")).await, 4001, "{name}");
    }
}

/// A backlog larger than socket buffers hold: 400 events of 60 KB (24 MB).
async fn big_backlog(s: &TestServer, tenant: &str) -> u64 {
    let blob = "x".repeat(60_000);
    let p = socfeed_testkit::pub_token(tenant);
    for _ in 0..40 {
        let batch: Vec<Value> = (0..10)
            .map(|_| json!({"type": "alert.new", "payload": {"blob": blob}}))
            .collect();
        s.publish_batch(&p, &batch).await;
    }
    400 * 60_000
}

/// A token that expires during a replay ends the session with 4001 (or an SSE `token_expired`
/// event) when it expires: the rest of the replay is not sent. The clients read nothing until
/// the token has expired.
#[tokio::test]
async fn a_replay_stops_when_the_token_expires() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let backlog = big_backlog(&s, "acme").await;
    let short = || token_with("acme", &[Role::Subscriber], None, Duration::from_secs(2));
    let govern =
        socfeed_testkit::raw_ws(s.addr, &format!("/v1/soc/feed?token={}&since=0", short())).await;
    let mut aisoc = socfeed_testkit::raw_ws(s.addr, &format!("/ws?token={}", short())).await;
    let subscribe = br#"{"type":"subscribe","channel":"all","since":0}"#;
    aisoc
        .write_all(&socfeed_proto::wsframe::client_frame(
            true,
            0x1,
            subscribe,
            [1, 2, 3, 4],
        ))
        .await
        .unwrap();
    let mut sse = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let request = format!(
        "GET /v1/soc/feed/sse?token={}&since=0 HTTP/1.1\r\nHost: x\r\n\r\n",
        short()
    );
    sse.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (name, tcp) in [("GOVERN", govern), ("AiSOC", aisoc)] {
        let (code, bytes) = socfeed_testkit::read_close(tcp).await;
        assert_eq!(code, 4001, "{name}");
        assert!(
            bytes < backlog / 2,
            "{name}: {bytes} of {backlog} bytes sent"
        );
    }
    let mut got = Vec::new();
    tokio::time::timeout(socfeed_testkit::WAIT, sse.read_to_end(&mut got))
        .await
        .expect("the SSE stream ends")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    let tail = &text[text.len().saturating_sub(200)..];
    let last = tail
        .rsplit("\n\n")
        .find(|e| !e.trim().is_empty())
        .unwrap_or("");
    assert!(
        last.starts_with("event: error\ndata: ") && last.contains(r#""code":"token_expired""#),
        "the stream ends with a token_expired error: {tail}"
    );
    assert!(
        (got.len() as u64) < backlog / 2,
        "SSE: {} of {backlog} bytes sent",
        got.len()
    );
}

/// A ticket is valid no longer than its token.
#[tokio::test]
async fn tickets_never_outlive_their_token() {
    let s = TestServer::start().await;
    let token = token_with("acme", &[Role::Subscriber], None, Duration::from_secs(1));
    let reply = s.ticket(&token).await;
    assert!(reply["expires_in"].as_u64().unwrap() <= 1, "{reply}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ticket = reply["ticket"].as_str().unwrap();
    assert_eq!(close_code(&s, &format!("?ticket={ticket}")).await, 4001);
}

/// A request that carries two different tokens, or a token and a ticket, is refused: 4001 on a
/// WebSocket, 401 on SSE, `ambiguous_credentials` either way. The same token twice is one
/// credential.
#[tokio::test]
async fn ambiguous_credentials_are_refused() {
    let s = TestServer::start().await;
    let (a, b) = (
        token("acme", &[Role::Subscriber]),
        token_with("acme", &[Role::Subscriber], None, Duration::from_secs(120)),
    );
    assert_ne!(a, b);
    let ticket = s.ticket(&a).await["ticket"].as_str().unwrap().to_owned();
    let bearer_b = format!("Bearer {b}");
    let refused = |query: String, headers: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (mut c, _) = WsClient::connect_with(&format!("{}{query}", s.ws("/ws")), &hs).await;
            let closed = c.expect_close().await;
            assert_eq!(closed.code, 4001, "{query} {headers:?}");
            assert!(closed.reason.contains("ambiguous"), "{closed:?}");
        }
    };
    refused(
        format!("?token={a}"),
        vec![("authorization", bearer_b.clone())],
    )
    .await;
    refused(format!("?token={a}&token={b}"), vec![]).await;
    refused(format!("?token={a}&ticket={ticket}"), vec![]).await;
    refused(
        format!("?ticket={ticket}"),
        vec![("authorization", format!("Bearer {a}"))],
    )
    .await;
    // SSE: a plain 401 naming the reason.
    let sse = reqwest::Client::new()
        .get(format!("{}?token={a}", s.http("/v1/soc/feed/sse")))
        .header("authorization", &bearer_b)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status().as_u16(), 401);
    assert!(sse.text().await.unwrap().contains("ambiguous_credentials"));
    // One token sent twice is one credential.
    let (mut same, _) = WsClient::connect_with(
        &format!("{}?token={a}", s.ws("/ws")),
        &[("authorization", &format!("Bearer {a}"))],
    )
    .await;
    same.subscribe("all", None).await;
}
