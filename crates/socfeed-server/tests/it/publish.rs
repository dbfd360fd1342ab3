//! `POST /v1/events` (PROTOCOL §5).

use serde_json::{Value, json};
use socfeed_proto::Role;
use socfeed_testkit::{TestServer, pub_token, sub_token, token};

#[tokio::test]
async fn single_array_and_ndjson_are_accepted_with_seqs() {
    let s = TestServer::start().await;
    let t = pub_token("acme");
    let (status, body) = s
        .publish(&t, &json!({"type":"alert.created","payload":{"title":"a"}}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["events"][0]["seq"], 1);
    assert_eq!(body["events"][0]["tenant_id"], "acme");
    assert!(
        body["events"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("evt_")
    );

    let (status, body) = s
        .publish(
            &t,
            &json!([{"type":"case.created","payload":{}},{"type":"ueba.anomaly","payload":{}}]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["events"][1]["seq"], 3);

    let nd = "{\"type\":\"a.b\",\"payload\":{}}\n{\"type\":\"c.d\",\"payload\":{\"x\":1}}\n";
    let (status, body) = s.publish_raw(&t, "application/x-ndjson", nd.into()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert_eq!(body["events"][1]["seq"], 5);
}

#[tokio::test]
async fn a_bad_event_rejects_the_whole_batch_with_its_index() {
    let s = TestServer::start().await;
    let t = pub_token("acme");
    let (status, body) = s
        .publish(&t, &json!([{"type":"alert.created","payload":{}},{"type":"alert.created","payload":"nope"}]))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_event");
    assert_eq!(body["index"], 1);
    assert!(body["message"].as_str().unwrap().contains("payload"));
    // Nothing was stored: the next event gets seq 1.
    assert_eq!(s.publish_one(&t, "alert.created", json!({})).await, 1);

    let (status, body) = s
        .publish_raw(&t, "application/json", "{not json".into())
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_body");
    let (status, body) = s
        .publish_raw(
            &t,
            "application/x-ndjson",
            "{\"type\":\"a.b\",\"payload\":{}}\n[]\n".into(),
        )
        .await;
    assert_eq!((status, body["index"].clone()), (400, json!(1)));
}

#[tokio::test]
async fn auth_failures_are_401_and_403() {
    let s = TestServer::start().await;
    let ev = json!({"type":"alert.created","payload":{}});
    assert_eq!(s.publish("", &ev).await.0, 401);
    assert_eq!(s.publish("garbage", &ev).await.0, 401);
    let (status, body) = s.publish(&sub_token("acme"), &ev).await;
    assert_eq!(status, 403, "{body}");
    let other = json!({"type":"alert.created","payload":{},"tenant_id":"globex"});
    let (status, body) = s.publish(&pub_token("acme"), &other).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(s.publish(&token("acme", &[Role::Admin]), &ev).await.0, 202);
}

#[tokio::test]
async fn star_tokens_publish_anywhere_but_must_name_the_tenant() {
    let s = TestServer::start().await;
    let star = pub_token("*");
    let (status, body) = s
        .publish(&star, &json!({"type":"alert.created","payload":{}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["index"], 0);
    let (status, body) = s
        .publish(
            &star,
            &json!([{"type":"alert.created","payload":{},"tenant_id":"a"},{"type":"alert.created","payload":{},"tenant_id":"b"},{"type":"alert.created","payload":{},"tenant_id":"a"}]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let seqs: Vec<(Value, Value)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["tenant_id"].clone(), e["seq"].clone()))
        .collect();
    assert_eq!(
        seqs,
        vec![
            (json!("a"), json!(1)),
            (json!("b"), json!(1)),
            (json!("a"), json!(2))
        ]
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let s = TestServer::start_with(|c| c.max_body_size = 1024).await;
    let big = json!({"type":"alert.created","payload":{"blob":"x".repeat(2000)}});
    let (status, body) = s.publish(&pub_token("acme"), &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "body_too_large");
}

#[tokio::test]
async fn repeated_ids_are_stored_once() {
    let s = TestServer::start().await;
    let t = pub_token("acme");
    let ev = json!({"type":"alert.created","payload":{"n":1},"id":"alrt_42","ts":"2026-04-12T16:23:10+02:00"});
    let (_, first) = s.publish(&t, &ev).await;
    assert_eq!(first["events"][0]["id"], "alrt_42");
    assert!(first["events"][0].get("duplicate").is_none());
    let (status, again) = s.publish(&t, &ev).await;
    assert_eq!(status, 202);
    assert_eq!(again["events"][0]["seq"], first["events"][0]["seq"]);
    assert_eq!(again["events"][0]["duplicate"], true);
    // Another tenant may use the same id.
    let (_, other) = s.publish(&pub_token("globex"), &ev).await;
    assert!(other["events"][0].get("duplicate").is_none());
    assert_eq!(s.publish_one(&t, "alert.created", json!({})).await, 2);
}

/// Events whose frame would exceed `--max-event-size`, and payloads that are not I-JSON (nested
/// too deep, a member twice, a number beyond double range, a lone surrogate), are refused with
/// their index; nothing of the batch is stored.
#[tokio::test]
async fn oversized_and_odd_payloads_are_refused_with_their_index() {
    let s = TestServer::start_with(|c| c.max_event_size = 4096).await;
    let p = pub_token("acme");
    let ok = json!({"type": "alert.new", "payload": {"n": 1}});
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let bodies = [
        json!([ok, {"type": "alert.new", "payload": {"blob": "x".repeat(5000)}}]).to_string(),
        format!(r#"[{ok}, {{"type":"alert.new","payload":{{"d":{deep}}}}}]"#),
        format!(r#"[{ok}, {{"type":"alert.new","payload":{{"a":1,"a":2}}}}]"#),
        format!(
            r#"[{ok}, {{"type":"alert.new","payload":{{"n":{}}}}}]"#,
            "9".repeat(400)
        ),
        format!(r#"[{ok}, {{"type":"alert.new","payload":{{"s":"\ud800"}}}}]"#),
    ];
    for body in bodies {
        let (status, reply) = s.publish_raw(&p, "application/json", body.clone()).await;
        assert_eq!(status, 400, "{body:.80}: {reply}");
        assert_eq!(reply["error"], "invalid_event", "{reply}");
        assert_eq!(reply["index"], 1, "{reply}");
    }
    let (status, reply) = s.publish(&p, &ok).await;
    assert_eq!(status, 202);
    assert_eq!(
        reply["events"][0]["seq"], 1,
        "nothing of a refused batch was stored"
    );
}

/// A `--max-event-size` that cannot fit in `--max-frame-size` is a settings error.
#[test]
fn max_event_size_must_fit_in_max_frame_size() {
    let mut c = socfeed_server::Config::for_tests(std::path::Path::new("/nonexistent"), "s");
    c.max_frame_size = 64 * 1024;
    c.max_event_size = 64 * 1024;
    let err = c.validate().unwrap_err().to_string();
    assert!(
        err.contains("max-event-size") && err.contains("max-frame-size"),
        "{err}"
    );
    c.max_event_size = 32 * 1024;
    assert!(c.validate().is_ok());
}
