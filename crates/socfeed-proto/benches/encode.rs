//! Per-event costs of the wire formats: encoding one event into each dialect's frame (done once
//! per event, shared by every session) and matching a GOVERN subscriber's filters against the
//! fields extracted from it (done once per event per GOVERN session).
//!
//! `cargo bench -p socfeed-proto --bench encode`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;
use socfeed_proto::{Event, FilterFields, Filters, TenantId, aisoc, govern};

/// A ~200-byte alert payload with every field GOVERN filters look at.
const PAYLOAD: &str = r#"{"id":"alrt_01JBXYZ123","severity":"high","type":"policy_violation","title":"Prompt injection blocked on customer-support-bot","ai_system":{"id":"sys_01JABC789","name":"customer-support-bot","score":74}}"#;

fn event() -> Event {
    Event {
        id: "evt_01JBXYZ0000000000000000001".into(),
        seq: 123_456,
        tenant_id: TenantId::parse("3f6c2a0e-acme").expect("valid tenant id"),
        event_type: "alert.new".into(),
        payload: RawValue::from_string(PAYLOAD.into()).expect("payload is JSON"),
        ts: 1_700_000_000_123,
    }
}

/// What a SOC subscriber typically sets: a few severities, one type, one system, two event types.
fn filters(severities: &[&str]) -> Filters {
    Filters {
        severities: severities.iter().map(|s| (*s).to_owned()).collect(),
        types: vec!["policy_violation".into()],
        systems: vec!["customer-support-bot".into()],
        events: vec!["alert.new".into(), "alert.updated".into()],
    }
}

fn encode(c: &mut Criterion) {
    let e = event();
    assert!(
        (190..=230).contains(&PAYLOAD.len()),
        "payload is {} bytes",
        PAYLOAD.len()
    );
    let mut g = c.benchmark_group("encode");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("aisoc", |b| b.iter(|| aisoc::encode_event(black_box(&e))));
    g.bench_function("govern", |b| b.iter(|| govern::encode_event(black_box(&e))));
    g.finish();
}

fn filter(c: &mut Criterion) {
    let e = event();
    let fields = FilterFields::extract_raw(e.payload.get());
    assert_eq!(fields.severity.as_deref(), Some("high"), "fields extracted");
    let hit = filters(&["critical", "high"]);
    // Fails on the severity list, after the event-type list matched.
    let miss = filters(&["critical", "medium"]);
    assert!(hit.matches(&e.event_type, &fields));
    assert!(!miss.matches(&e.event_type, &fields));

    let mut g = c.benchmark_group("filter");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("match", |b| {
        b.iter(|| black_box(&hit).matches(black_box(&e.event_type), black_box(&fields)))
    });
    g.bench_function("miss", |b| {
        b.iter(|| black_box(&miss).matches(black_box(&e.event_type), black_box(&fields)))
    });
    // Once per event at ingest/replay, not per session; here for scale.
    g.bench_function("extract_raw", |b| {
        b.iter(|| FilterFields::extract_raw(black_box(e.payload.get())))
    });
    g.finish();
}

criterion_group!(benches, encode, filter);
criterion_main!(benches);
