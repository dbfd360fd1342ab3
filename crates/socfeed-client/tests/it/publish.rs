//! `POST /v1/events` through `Publisher`: typed replies, safe retries, typed refusals.

use socfeed_client::{NewEvent, PublishError, Publisher, Tokens};
use socfeed_testkit::{TestServer, pub_token, sub_token};

use crate::support::{TENANT, publisher};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_batches_and_reports_duplicates() {
    let server = TestServer::start().await;
    let p = publisher(&server.http(""));
    let batch = vec![
        NewEvent::new("alert.created", serde_json::json!({"title": "a"})).with_id("a-1"),
        NewEvent::new("case.created", serde_json::json!({"title": "c"})),
    ];
    let reply = p.publish(&batch).await.unwrap();
    assert_eq!(reply.accepted, 2);
    assert_eq!(
        reply.events.iter().map(|a| a.seq).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(reply.events[0].id, "a-1");
    assert_eq!(reply.events[0].tenant_id.as_str(), TENANT);
    let again = p.publish(&batch[..1]).await.unwrap();
    assert!(again.events[0].duplicate);
    assert_eq!(again.events[0].seq, 1);
    let raw = p
        .publish(&[serde_json::json!({"type": "ueba.anomaly", "payload": {}})])
        .await
        .unwrap();
    assert_eq!(raw.events[0].seq, 3);
    let none = p.publish::<NewEvent>(&[]).await.unwrap();
    assert_eq!(none.accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_typed() {
    let server = TestServer::start().await;
    let ok = NewEvent::new("alert.created", serde_json::json!({}));
    let rejected = |r: Result<_, PublishError>| match r {
        Err(PublishError::Rejected { status, reply, .. }) => (status, reply),
        other => panic!("expected a refusal, got {other:?}"),
    };

    let bad = NewEvent::new("Not A Type", serde_json::json!({}));
    let (status, reply) = rejected(
        publisher(&server.http(""))
            .publish(&[ok.clone(), bad])
            .await,
    );
    assert_eq!(
        (status, reply.error.as_str(), reply.index),
        (400, "invalid_event", Some(1))
    );

    let anon = Publisher::new(&server.http(""), Tokens::fixed("nope")).unwrap();
    let (status, reply) = rejected(anon.publish(std::slice::from_ref(&ok)).await);
    assert_eq!((status, reply.error.as_str()), (401, "unauthorized"));

    let subscriber = Publisher::new(&server.http(""), Tokens::fixed(sub_token(TENANT))).unwrap();
    assert_eq!(
        rejected(subscriber.publish(std::slice::from_ref(&ok)).await).0,
        403
    );

    let failing = Publisher::new(
        &server.http(""),
        Tokens::from_fn(|| async { Err::<String, _>("idp down") }),
    )
    .unwrap();
    assert!(matches!(
        failing.publish(std::slice::from_ref(&ok)).await,
        Err(PublishError::Token(_))
    ));

    let nowhere = Publisher::new("http://127.0.0.1:1", Tokens::fixed(pub_token(TENANT))).unwrap();
    assert!(matches!(
        nowhere.publish(&[ok]).await,
        Err(PublishError::Http(_))
    ));
    assert!(matches!(
        Publisher::new("https://h", Tokens::fixed("t")),
        Err(PublishError::Url { .. })
    ));
}
