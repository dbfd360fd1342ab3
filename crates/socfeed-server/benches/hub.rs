//! Fan-out cost: the hub handing one committed event to 10,000 sessions of its tenant that all
//! want every channel. Only the hand-off is timed; the queues are drained between iterations,
//! outside the measurement, so they never fill (no overflow path is taken).
//!
//! `cargo bench -p socfeed-server --bench hub`; ns per session = time per iteration / 10,000.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;
use socfeed_log::CommitListener;
use socfeed_proto::{Event, TenantId};
use socfeed_server::{Delivery, Hub, Interest, Metrics, Queue, Registration, Taken};

const SESSIONS: usize = 10_000;
const QUEUE_LEN: usize = 16;

const PAYLOAD: &str = r#"{"id":"alrt_01JBXYZ123","severity":"high","type":"policy_violation","title":"Prompt injection blocked on customer-support-bot","ai_system":{"id":"sys_01JABC789","name":"customer-support-bot","score":74}}"#;

fn event(tenant: &TenantId) -> Event {
    Event {
        id: "evt_01JBXYZ0000000000000000001".into(),
        seq: 1,
        tenant_id: tenant.clone(),
        event_type: "alert.new".into(),
        payload: RawValue::from_string(PAYLOAD.into()).expect("payload is JSON"),
        ts: 1_700_000_000_123,
    }
}

struct Fixture {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    tenant: TenantId,
    // Dropping a registration unregisters its session: keep them for the whole bench.
    _registrations: Vec<Registration>,
    queues: Vec<Queue>,
    taken: Vec<Arc<Delivery>>,
}

impl Fixture {
    fn new() -> Fixture {
        let metrics = Arc::new(Metrics::new());
        let hub = Hub::new(Arc::clone(&metrics), 0, 0);
        let tenant = TenantId::parse("bench").expect("valid tenant id");
        let (registrations, queues): (Vec<_>, Vec<_>) = (0..SESSIONS)
            .map(|_| {
                let (reg, queue) = hub.register(tenant.clone(), QUEUE_LEN);
                reg.set_interest(&Interest::All);
                (reg, queue)
            })
            .unzip();
        assert_eq!(hub.session_count(&tenant), SESSIONS);
        Fixture {
            hub,
            metrics,
            tenant,
            _registrations: registrations,
            queues,
            taken: Vec::new(),
        }
    }

    /// Empties every queue; panics unless each held exactly `per_queue` deliveries.
    fn drain(&mut self, per_queue: usize) {
        for q in &mut self.queues {
            self.taken.clear();
            while let Some(Taken::Items(_)) = q.try_take(&mut self.taken, usize::MAX) {}
            assert_eq!(
                self.taken.len(),
                per_queue,
                "a session missed or got extra deliveries"
            );
        }
    }

    /// Runs `iters` timed fan-outs of `once`, draining the queues after each, untimed.
    fn time(&mut self, iters: u64, mut once: impl FnMut(&Hub)) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let started = Instant::now();
            once(&self.hub);
            total += started.elapsed();
            self.drain(1);
        }
        assert_eq!(self.metrics.frames_dropped.get(), 0, "no queue overflowed");
        total
    }
}

fn fan_out(c: &mut Criterion) {
    let mut fx = Fixture::new();
    let delivery = Delivery::new(event(&fx.tenant)).expect("event has a channel");
    let template = event(&fx.tenant);

    let mut g = c.benchmark_group("hub");
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(50);
    g.throughput(Throughput::Elements(SESSIONS as u64));
    // The fan-out alone: one shared `Delivery` offered to every session.
    g.bench_function("broadcast/10k_sessions", |b| {
        b.iter_custom(|iters| fx.time(iters, |hub| hub.broadcast(black_box(&delivery))))
    });
    // What the log's writer calls per committed batch of one event: wrap it as a `Delivery`
    // (channel, filter fields), fan it out, keep it in the recent window (size 0 here).
    // Cloning the event is inside the timing (~100 ns, negligible next to the fan-out).
    g.bench_function("committed/10k_sessions", |b| {
        b.iter_custom(|iters| {
            fx.time(iters, |hub| {
                hub.committed(vec![black_box(template.clone())]);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
