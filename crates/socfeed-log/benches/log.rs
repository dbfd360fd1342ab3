//! The event log's data path: durable appends (batches of 100 ~200-byte events, from 1 writer and
//! from 8 concurrent writers, which the embedded log's writer folds into shared commits) and
//! replay reads (1,000 events of one tenant by seq range, with and without a channel filter,
//! from a log holding 100,000 events). The in-memory log is measured alongside for scale.
//!
//! `cargo bench -p socfeed-log --bench log`
//!
//! The embedded log lives in a temporary directory on the default temp filesystem; every
//! commit is fsynced, so append figures depend on the disk.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;
use socfeed_log::embedded::EmbeddedLog;
use socfeed_log::memory::MemoryLog;
use socfeed_log::{EventLog, NoListener};
use socfeed_proto::{Channel, EventDraft, Seq, TenantId};
use tempfile::TempDir;
use tokio::runtime::Runtime;

const BATCH: usize = 100;
const WRITERS: [usize; 2] = [1, 8];
const PREFILL: u64 = 100_000;
const READ_LEN: u64 = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn tenant() -> TenantId {
    TenantId::parse("bench").expect("valid tenant id")
}

/// A ~200-byte payload (as in the `append_throughput` test).
fn payload() -> String {
    format!(
        r#"{{"host":"srv-01","rule":"{}","score":97}}"#,
        "r".repeat(160)
    )
}

/// `n` drafts of `tenant` with generated ids; event types alternate between the `alerts` and
/// `cases` channels so channel-filtered reads skip every other event.
fn drafts(tenant: &TenantId, payload: &str, n: usize) -> Vec<EventDraft> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (0..n)
        .map(|_| {
            let i = NEXT.fetch_add(1, Ordering::Relaxed);
            EventDraft {
                tenant_id: tenant.clone(),
                id: format!("gen_{i:010}"),
                id_supplied: false,
                event_type: if i.is_multiple_of(2) {
                    "alert.created"
                } else {
                    "case.updated"
                }
                .to_owned(),
                payload: RawValue::from_string(payload.to_owned()).expect("payload is JSON"),
                ts: 1_700_000_000_000 + i as i64,
            }
        })
        .collect()
}

/// Appends `batches` concurrently, one task each, and checks every draft got a seq.
async fn append_concurrently(log: &Arc<dyn EventLog>, batches: Vec<Vec<EventDraft>>) {
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let log = Arc::clone(log);
            tokio::spawn(async move {
                let n = batch.len();
                let out = log.append(batch).await.expect("append");
                assert_eq!(out.len(), n, "every draft appended");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("append task");
    }
}

fn open_embedded() -> (TempDir, Arc<EmbeddedLog>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), Arc::new(NoListener)).expect("open embedded log");
    (dir, Arc::new(log))
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let (t, p) = (tenant(), payload());
    let mut g = c.benchmark_group("log_append");
    g.measurement_time(Duration::from_secs(4));
    g.sample_size(10);
    for writers in WRITERS {
        g.throughput(Throughput::Elements((writers * BATCH) as u64));
        let id = format!("{writers}x{BATCH}");

        let (dir, embedded) = open_embedded();
        let log: Arc<dyn EventLog> = embedded.clone();
        let mut appends = 0u64;
        g.bench_function(BenchmarkId::new("embedded", &id), |b| {
            b.iter_batched(
                || (0..writers).map(|_| drafts(&t, &p, BATCH)).collect(),
                |batches| {
                    appends += writers as u64;
                    rt.block_on(append_concurrently(&log, batches));
                },
                BatchSize::SmallInput,
            )
        });
        if appends > 0 {
            eprintln!(
                "log_append/embedded/{id}: {appends} appends in {} commits ({:.1} appends per commit)",
                embedded.commits(),
                appends as f64 / embedded.commits().max(1) as f64
            );
        }
        rt.block_on(log.close()).expect("close embedded log");
        drop((log, embedded, dir));

        let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new(Arc::new(NoListener)));
        g.bench_function(BenchmarkId::new("memory", &id), |b| {
            b.iter_batched(
                || (0..writers).map(|_| drafts(&t, &p, BATCH)).collect(),
                |batches| rt.block_on(append_concurrently(&log, batches)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A log of each backend holding `PREFILL` events of one tenant.
struct Filled {
    _dir: TempDir,
    embedded: Arc<dyn EventLog>,
    memory: Arc<dyn EventLog>,
}

impl Filled {
    fn new(rt: &Runtime, t: &TenantId) -> Filled {
        let (dir, embedded) = open_embedded();
        let embedded: Arc<dyn EventLog> = embedded;
        let memory: Arc<dyn EventLog> = Arc::new(MemoryLog::new(Arc::new(NoListener)));
        let p = payload();
        for log in [&embedded, &memory] {
            rt.block_on(async {
                for _ in 0..PREFILL / 1_000 {
                    append_concurrently(log, vec![drafts(t, &p, 1_000)]).await;
                }
                let head = log.head(t).await.expect("head");
                assert_eq!(head.seq, PREFILL);
            });
        }
        Filled {
            _dir: dir,
            embedded,
            memory,
        }
    }
}

fn read(c: &mut Criterion) {
    let rt = runtime();
    let t = tenant();
    let alerts = Channel::parse("alerts").expect("valid channel");
    // Built on first use, so a filter that skips these benches skips the fill too.
    let mut filled: Option<Filled> = None;
    let mut g = c.benchmark_group("log_read");
    g.measurement_time(Duration::from_secs(4));
    g.sample_size(20);
    g.throughput(Throughput::Elements(READ_LEN));
    for backend in ["embedded", "memory"] {
        // (name, channel, seqs spanned): every event of the range, or the alerts among twice
        // as many seqs (half of the events are cases).
        for (name, channel, span) in [
            ("1000_any_channel", None, READ_LEN),
            ("1000_of_alerts", Some(&alerts), 2 * READ_LEN),
        ] {
            let mut k: Seq = 0;
            g.bench_function(BenchmarkId::new(backend, name), |b| {
                let f = filled.get_or_insert_with(|| Filled::new(&rt, &t));
                let log = if backend == "embedded" {
                    &f.embedded
                } else {
                    &f.memory
                };
                b.iter(|| {
                    // Walk the log rather than re-reading one range.
                    k += 1;
                    let after = (k * 7_919) % (PREFILL - span);
                    let events = rt
                        .block_on(log.read(&t, after, after + span, channel, READ_LEN as usize))
                        .expect("read");
                    assert_eq!(events.len() as u64, READ_LEN);
                    black_box(events)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
