//! `GET /v1/events` (protocol.md §10): stored events over HTTP — after a cursor or the latest,
//! paged, ascending, within the token's channels and the filters, one tenant only, `truncated`
//! as for a feed cursor.

use std::time::Duration;

use serde_json::{Value, json};
use socfeed_proto::Role;
use socfeed_testkit::{TestServer, WsClient, pub_token, sub_token, token_with};

async fn history(s: &TestServer, token: &str, query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(s.http(&format!("/v1/events?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn seqs(body: &Value) -> Vec<u64> {
    body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {body}"))
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

/// 30 events of three kinds: seq n is an alert (critical when n is odd), a case or a detection.
async fn seed(s: &TestServer, tenant: &str) {
    let events: Vec<Value> = (1..=30u64)
        .map(|n| match n % 3 {
            0 => json!({"type": "case.updated", "payload": {"n": n}}),
            1 => json!({"type": "alert.created", "payload": {"n": n, "severity": if n % 2 == 1 { "critical" } else { "low" }}}),
            _ => json!({"type": "detection.created", "payload": {"n": n}}),
        })
        .collect();
    s.publish_batch(&pub_token(tenant), &events).await;
}

#[tokio::test]
async fn pages_after_a_cursor_and_the_latest_ascending() {
    let s = TestServer::start().await;
    seed(&s, "acme").await;
    let t = sub_token("acme");
    let (status, first) = history(&s, &t, "since=0&limit=10").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(seqs(&first), (1..=10).collect::<Vec<_>>());
    assert_eq!(first["head"], 30);
    assert_eq!(first["truncated"], false);
    assert!(first["epoch"].is_string(), "{first}");
    let e = &first["events"][0];
    assert_eq!(e["type"], "alert.created", "{e}");
    assert!(
        e["tenant_id"] == "acme" && e["id"].is_string() && e["ts"].is_string(),
        "{e}"
    );
    let (_, next) = history(&s, &t, "since=10&limit=10").await;
    assert_eq!(seqs(&next), (11..=20).collect::<Vec<_>>());
    let (_, latest) = history(&s, &t, "limit=5").await;
    assert_eq!(
        seqs(&latest),
        (26..=30).collect::<Vec<_>>(),
        "the latest, ascending"
    );
    let (_, default) = history(&s, &t, "").await;
    assert_eq!(seqs(&default).len(), 30, "up to 100 by default");
    // Then live from the last seq drawn: nothing missed, nothing twice.
    let mut c = WsClient::connect(&format!("{}?token={t}", s.ws("/ws"))).await;
    c.subscribe("all", Some(30)).await;
    s.publish_one(&pub_token("acme"), "alert.created", json!({}))
        .await;
    assert_eq!(c.next_non_ping().await["seq"], 31);
}

#[tokio::test]
async fn channels_filters_and_the_allow_list_narrow_the_page() {
    let s = TestServer::start().await;
    seed(&s, "acme").await;
    let t = sub_token("acme");
    let (_, alerts) = history(&s, &t, "channel=alerts&limit=3").await;
    assert_eq!(seqs(&alerts), vec![22, 25, 28], "the latest three alerts");
    let (_, since) = history(&s, &t, "channel=alerts&since=20").await;
    assert_eq!(seqs(&since), vec![22, 25, 28]);
    let (_, critical) = history(&s, &t, "severities=critical&limit=3").await;
    assert_eq!(seqs(&critical), vec![13, 19, 25]);
    let (_, events) = history(&s, &t, "events=case.updated&since=0&limit=2").await;
    assert_eq!(seqs(&events), vec![3, 6]);
    let cases_only = token_with(
        "acme",
        &[Role::Subscriber],
        Some(vec!["cases"]),
        Duration::from_secs(60),
    );
    let (_, allowed) = history(&s, &cases_only, "limit=100").await;
    assert_eq!(seqs(&allowed), (1..=10).map(|n| n * 3).collect::<Vec<_>>());
    let (status, refused) = history(&s, &cases_only, "channel=alerts").await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"], "forbidden_channel");
}

#[tokio::test]
async fn tenants_are_isolated_and_bad_requests_are_refused() {
    let s = TestServer::start().await;
    seed(&s, "acme").await;
    let (_, other) = history(&s, &sub_token("globex"), "since=0").await;
    assert_eq!(seqs(&other), Vec::<u64>::new());
    assert_eq!(other["head"], 0);
    assert_eq!(other["epoch"], Value::Null);
    for (query, want) in [
        ("since=x", 400),
        ("limit=0", 400),
        ("channel=Bad Name", 400),
    ] {
        assert_eq!(
            history(&s, &sub_token("acme"), query).await.0,
            want,
            "{query}"
        );
    }
    assert_eq!(history(&s, "not-a-token", "").await.0, 401);
    let anyone = token_with("*", &[Role::Publisher], None, Duration::from_secs(60));
    assert!(matches!(history(&s, &anyone, "").await.0, 401 | 403));
    let other = sub_token("globex");
    let (status, body) = history(&s, &sub_token("acme"), &format!("token={other}")).await;
    assert_eq!(status, 401, "two credentials: {body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("credential"),
        "{body}"
    );
}

#[tokio::test]
async fn a_cursor_from_another_history_or_too_old_is_truncated() {
    let s = TestServer::start_with(|c| c.retention = Duration::from_secs(3600)).await;
    seed(&s, "acme").await;
    let t = sub_token("acme");
    let (_, good) = history(&s, &t, "since=0&limit=1").await;
    let epoch = good["epoch"].as_str().unwrap().to_owned();
    let (_, same) = history(&s, &t, &format!("since=5&epoch={epoch}&limit=2")).await;
    assert_eq!(
        (seqs(&same), same["truncated"].clone()),
        (vec![6, 7], json!(false))
    );
    let (_, other) = history(&s, &t, "since=5&epoch=another&limit=2").await;
    assert_eq!(other["truncated"], true);
    assert_eq!(seqs(&other), vec![1, 2], "from the oldest retained event");
    let (_, ahead) = history(&s, &t, "since=99&limit=2").await;
    assert_eq!(ahead["truncated"], true, "beyond the head");
}

#[tokio::test]
async fn history_answers_cors_for_allowed_origins() {
    let s = TestServer::start_with(|c| {
        c.allowed_origins = "https://soc.example.com".parse().unwrap();
    })
    .await;
    let resp = reqwest::Client::new()
        .get(s.http("/v1/events?limit=1"))
        .bearer_auth(sub_token("acme"))
        .header("origin", "https://soc.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://soc.example.com"
    );
}
