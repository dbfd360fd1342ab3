//! The shared conformance suite: [`check_log`] runs every contract check of [`EventLog`]
//! against a backend, each on a fresh log; the test functions at the end run it on both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use socfeed_proto::{Channel, Event, EventDraft, Seq, TenantId};

use crate::embedded::EmbeddedLog;
use crate::follow::Following;
use crate::memory::MemoryLog;
use crate::redis::{RedisConfig, RedisLog};
use crate::{CommitListener, Head, LogError, SharedLog, now_ms};

/// The longest a test waits for something that must happen (never a timing assertion).
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(30);

/// A listener that keeps every committed event, in the order it was handed them, and counts
/// what a cluster engine reports.
#[derive(Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<Event>>,
    /// Per `history_reset`: the tenant and how many events had been seen before it.
    resets: Mutex<Vec<(TenantId, usize)>>,
    repaired: AtomicU64,
    resubscribes: AtomicU64,
    /// Batches handed with an acceptance time.
    timed: AtomicU64,
}

impl Recorder {
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The events of `t`, in the order they came.
    pub(crate) fn of(&self, t: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.tenant_id.as_str() == t)
            .collect()
    }

    /// The resets reported so far: tenant and how many events (of all tenants) came before.
    pub(crate) fn resets(&self) -> Vec<(TenantId, usize)> {
        self.resets.lock().unwrap().clone()
    }

    /// Events reported as repaired from the store.
    pub(crate) fn repaired(&self) -> u64 {
        self.repaired.load(Ordering::SeqCst)
    }

    pub(crate) fn resubscribes(&self) -> u64 {
        self.resubscribes.load(Ordering::SeqCst)
    }

    /// Batches that came with the time they were accepted.
    pub(crate) fn timed(&self) -> u64 {
        self.timed.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for what was seen (panics after [`HANG_GUARD`]).
    pub(crate) async fn wait_for(&self, what: &str, done: impl Fn(&Recorder) -> bool) {
        let deadline = tokio::time::Instant::now() + HANG_GUARD;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited too long for {what}; seen {} events",
                self.events().len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `(tenant, seq)` of everything seen.
    pub(crate) fn seqs(&self) -> Vec<(String, Seq)> {
        self.events()
            .iter()
            .map(|e| (e.tenant_id.to_string(), e.seq))
            .collect()
    }

    /// Asserts that each tenant's events arrived as seq 1, 2, 3 … (no gap, no repeat).
    pub(crate) fn assert_gap_free(&self) {
        let mut last = std::collections::HashMap::new();
        for e in self.events() {
            let prev = last.insert(e.tenant_id.clone(), e.seq).unwrap_or(0);
            assert_eq!(e.seq, prev + 1, "listener order for {}", e.tenant_id);
        }
    }
}

/// Returns once the listener has seen every append acknowledged so far: the log may reply
/// before it calls the listener, and a purge (of nothing) queues behind both.
pub(crate) async fn settle(log: &dyn crate::EventLog) {
    log.purge_before(i64::MIN).await.unwrap();
}

impl CommitListener for Recorder {
    fn committed(&self, events: Vec<Event>) {
        self.events.lock().unwrap().extend(events);
    }

    fn committed_at(&self, events: Vec<Event>, _accepted_us: i64) {
        self.timed.fetch_add(1, Ordering::SeqCst);
        self.committed(events);
    }

    fn history_reset(&self, tenant: &TenantId) {
        let seen = self.events.lock().unwrap().len();
        self.resets.lock().unwrap().push((tenant.clone(), seen));
    }

    fn gap_repaired(&self, events: u64) {
        self.repaired.fetch_add(events, Ordering::SeqCst);
    }

    fn resubscribed(&self) {
        self.resubscribes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A log under test, the listener it reports to, and its directory (if any).
pub(crate) struct Fixture {
    pub(crate) log: SharedLog,
    pub(crate) seen: Arc<Recorder>,
    pub(crate) _dir: Option<tempfile::TempDir>,
    pub(crate) _redis: Option<Arc<socfeed_redis_harness::RedisServer>>,
    /// Tenants followed for the whole check (on a cluster engine only they reach the listener).
    pub(crate) followed: Vec<(TenantId, Following)>,
}

impl Fixture {
    /// Returns once the listener has seen every append acknowledged so far (see [`settle`]);
    /// on a cluster engine, once it has seen each followed tenant's head.
    pub(crate) async fn settle(&self) {
        settle(&*self.log).await;
        for (t, _) in &self.followed {
            let head = self.log.head(t).await.unwrap().seq;
            self.seen
                .wait_for("the followed heads", |seen| {
                    seen.of(t.as_str()).last().map_or(0, |e| e.seq) >= head
                })
                .await;
        }
    }
}

pub(crate) fn memory() -> Fixture {
    let seen = Arc::new(Recorder::default());
    Fixture {
        log: Arc::new(MemoryLog::new(seen.clone())),
        seen,
        _dir: None,
        _redis: None,
        followed: Vec::new(),
    }
}

pub(crate) fn embedded() -> Fixture {
    let seen = Arc::new(Recorder::default());
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&dir.path().join("log"), seen.clone()).unwrap();
    Fixture {
        log: Arc::new(log),
        seen,
        _dir: Some(dir),
        _redis: None,
        followed: Vec::new(),
    }
}

pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// A draft whose id is generated (not checked for duplicates).
pub(crate) fn draft(t: &str, event_type: &str) -> EventDraft {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    EventDraft {
        tenant_id: tenant(t),
        id: format!("gen_{n:08}"),
        id_supplied: false,
        event_type: event_type.to_owned(),
        payload: RawValue::from_string(format!(r#"{{"n": {n},  "k":[1, 2]}}"#)).unwrap(),
        ts: 1_700_000_000_000 + n as i64,
    }
}

/// A draft with a publisher-supplied id.
pub(crate) fn supplied(t: &str, id: &str) -> EventDraft {
    EventDraft {
        id: id.to_owned(),
        id_supplied: true,
        ..draft(t, "alert.created")
    }
}

pub(crate) fn alerts(t: &str, n: usize) -> Vec<EventDraft> {
    (0..n).map(|_| draft(t, "alert.created")).collect()
}

/// Returns a time `cut` such that everything appended so far was ingested before it and
/// everything appended after this returns is ingested at or after it.
pub(crate) async fn cut() -> i64 {
    let cut = now_ms() + 1;
    while now_ms() <= cut {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    cut
}

pub(crate) async fn all(log: &SharedLog, t: &str) -> Vec<Event> {
    log.read(&tenant(t), 0, Seq::MAX, None, usize::MAX)
        .await
        .unwrap()
}

fn seqs(events: &[Event]) -> Vec<Seq> {
    events.iter().map(|e| e.seq).collect()
}

/// Runs every contract check against logs made by `make`, each on a fresh one.
pub(crate) async fn check_log<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Fixture>,
{
    seqs_are_per_tenant(make().await).await;
    epochs(make().await).await;
    batch_across_tenants(make().await).await;
    duplicates(make().await).await;
    listener_order(make().await).await;
    reads(make().await).await;
    channel_reads(make().await).await;
    seq_before(make().await).await;
    purge(make().await).await;
    tenant_isolation(make().await).await;
    close(make().await).await;
}

async fn seqs_are_per_tenant(f: Fixture) {
    let batch = vec![
        draft("a", "x"),
        draft("a", "x"),
        draft("b", "x"),
        draft("a", "x"),
    ];
    let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
    let out = f.log.append(batch).await.unwrap();
    let got: Vec<(&str, Seq, bool)> = out
        .iter()
        .map(|o| (o.tenant_id.as_str(), o.seq, o.duplicate))
        .collect();
    assert_eq!(
        got,
        [
            ("a", 1, false),
            ("a", 2, false),
            ("b", 1, false),
            ("a", 3, false)
        ]
    );
    assert_eq!(out.iter().map(|o| o.id.clone()).collect::<Vec<_>>(), ids);
    let out = f
        .log
        .append(vec![draft("b", "x"), draft("a", "x")])
        .await
        .unwrap();
    assert_eq!((out[0].seq, out[1].seq), (2, 4));
    assert_eq!(f.log.head(&tenant("a")).await.unwrap().seq, 4);
    assert_eq!(f.log.head(&tenant("b")).await.unwrap().seq, 2);
}

async fn epochs(f: Fixture) {
    let none = Head {
        seq: 0,
        epoch: None,
        first_retained: 1,
    };
    assert_eq!(f.log.head(&tenant("a")).await.unwrap(), none);
    f.log.append(alerts("a", 1)).await.unwrap();
    let first = f.log.head(&tenant("a")).await.unwrap();
    let epoch = first.epoch.clone().unwrap();
    assert_eq!(epoch.len(), 16);
    assert_eq!((first.seq, first.first_retained), (1, 1));
    f.log.append(alerts("a", 3)).await.unwrap();
    f.log.append(alerts("b", 1)).await.unwrap();
    assert_eq!(
        f.log.head(&tenant("a")).await.unwrap().epoch,
        Some(epoch.clone())
    );
    assert_ne!(f.log.head(&tenant("b")).await.unwrap().epoch, Some(epoch));
}

async fn batch_across_tenants(f: Fixture) {
    let batch = vec![
        draft("a", "x"),
        draft("b", "x"),
        draft("c", "x"),
        draft("b", "x"),
    ];
    let out = f.log.append(batch).await.unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(seqs(&all(&f.log, "a").await), [1]);
    assert_eq!(seqs(&all(&f.log, "b").await), [1, 2]);
    assert_eq!(seqs(&all(&f.log, "c").await), [1]);
    f.settle().await;
    assert_eq!(f.seen.events().len(), 4);
}

async fn duplicates(f: Fixture) {
    let out = f.log.append(vec![supplied("a", "x")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, false));
    let batch = vec![
        supplied("a", "x"),
        supplied("a", "y"),
        draft("a", "z"),
        supplied("a", "y"),
    ];
    let out = f.log.append(batch).await.unwrap();
    let got: Vec<(&str, Seq, bool)> = out
        .iter()
        .map(|o| (o.id.as_str(), o.seq, o.duplicate))
        .collect();
    assert_eq!(got[0], ("x", 1, true));
    assert_eq!(got[1], ("y", 2, false));
    assert_eq!((got[2].1, got[2].2), (3, false));
    assert_eq!(got[3], ("y", 2, true));
    assert_eq!(seqs(&all(&f.log, "a").await), [1, 2, 3]);
    f.settle().await;
    assert_eq!(
        f.seen.seqs(),
        [("a".into(), 1), ("a".into(), 2), ("a".into(), 3)]
    );
    // A batch of nothing but duplicates stores and delivers nothing.
    let out = f
        .log
        .append(vec![supplied("a", "x"), supplied("a", "y")])
        .await
        .unwrap();
    assert!(out.iter().all(|o| o.duplicate));
    f.settle().await;
    assert_eq!(f.seen.events().len(), 3);
    assert_eq!(f.log.head(&tenant("a")).await.unwrap().seq, 3);
}

async fn listener_order(f: Fixture) {
    for i in 0..10 {
        let t = if i % 3 == 0 { "b" } else { "a" };
        f.log
            .append(vec![draft(t, "x"), draft("a", "x")])
            .await
            .unwrap();
    }
    f.settle().await;
    f.seen.assert_gap_free();
    let a: Vec<Event> = f
        .seen
        .events()
        .into_iter()
        .filter(|e| e.tenant_id.as_str() == "a")
        .collect();
    let stored = all(&f.log, "a").await;
    assert_eq!(seqs(&a), seqs(&stored));
    assert_eq!(
        a.iter().map(|e| &e.id).collect::<Vec<_>>(),
        stored.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
}

async fn reads(f: Fixture) {
    let batch: Vec<EventDraft> = (0..10)
        .map(|i| {
            draft(
                "a",
                if i % 2 == 0 {
                    "alert.created"
                } else {
                    "case.updated"
                },
            )
        })
        .collect();
    let sent = batch.clone();
    f.log.append(batch).await.unwrap();
    let t = tenant("a");
    let alerts = Channel::parse("alerts").unwrap();
    let everything = all(&f.log, "a").await;
    assert_eq!(seqs(&everything), (1..=10).collect::<Vec<_>>());
    for (e, d) in everything.iter().zip(&sent) {
        assert_eq!((&e.id, &e.event_type, e.ts), (&d.id, &d.event_type, d.ts));
        assert_eq!(e.payload.get(), d.payload.get(), "payload bytes");
    }
    assert_eq!(
        seqs(&f.log.read(&t, 3, 7, None, 100).await.unwrap()),
        [4, 5, 6, 7]
    );
    assert_eq!(
        seqs(&f.log.read(&t, 0, 10, Some(&alerts), 100).await.unwrap()),
        [1, 3, 5, 7, 9]
    );
    assert_eq!(
        seqs(&f.log.read(&t, 3, 10, Some(&alerts), 2).await.unwrap()),
        [5, 7]
    );
    assert_eq!(
        seqs(&f.log.read(&t, 0, 10, None, 3).await.unwrap()),
        [1, 2, 3]
    );
    let cases = Channel::parse("cases").unwrap();
    assert_eq!(
        seqs(&f.log.read(&t, 8, 100, Some(&cases), 100).await.unwrap()),
        [10]
    );
    let every = Channel::parse("all").unwrap();
    assert_eq!(
        f.log
            .read(&t, 0, 10, Some(&every), 100)
            .await
            .unwrap()
            .len(),
        10
    );
    let other = Channel::parse("honeytokens").unwrap();
    assert!(
        f.log
            .read(&t, 0, 10, Some(&other), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.log.read(&t, 0, 10, None, 0).await.unwrap().is_empty());
    assert!(f.log.read(&t, 5, 5, None, 10).await.unwrap().is_empty());
    assert!(f.log.read(&t, 7, 3, None, 10).await.unwrap().is_empty());
    assert!(
        f.log
            .read(&t, Seq::MAX, Seq::MAX, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.log
            .read(&t, 10, Seq::MAX, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Types cycling over four channels, one in no channel and one in `all`'s name.
const MIXED: [&str; 6] = [
    "alert.created",
    "ueba.anomaly",
    "case.updated",
    "custom",
    "Not.a.channel",
    "all.odd",
];

/// What a read of `channel` must return, worked out from every event of the tenant.
fn expected(
    every: &[Event],
    after: Seq,
    upto: Seq,
    channel: Option<&Channel>,
    limit: usize,
) -> Vec<Seq> {
    every
        .iter()
        .filter(|e| after < e.seq && e.seq <= upto)
        .filter(|e| match channel {
            None => true,
            Some(c) if c.is_all() => true,
            Some(c) => Channel::of(&e.event_type).is_ok_and(|of| of == *c),
        })
        .take(limit)
        .map(|e| e.seq)
        .collect()
}

/// Every channel read over a grid of cursors, bounds and limits agrees with [`expected`].
async fn check_channel_reads(log: &SharedLog, t: &str) {
    let every = all(log, t).await;
    let channels: Vec<Option<Channel>> =
        ["alerts", "ueba", "cases", "custom", "honeytokens", "all"]
            .iter()
            .map(|c| Some(Channel::parse(c).unwrap()))
            .chain([None])
            .collect();
    let last = every.last().map_or(0, |e| e.seq);
    for channel in &channels {
        for after in [0, 1, 4, last / 2, last.saturating_sub(1), last] {
            for upto in [after + 1, last / 2, last, Seq::MAX] {
                for limit in [1, 2, 7, usize::MAX] {
                    let got = read_seqs(log, t, after, upto, channel.as_ref(), limit).await;
                    let want = expected(&every, after, upto, channel.as_ref(), limit);
                    assert_eq!(
                        got, want,
                        "read {channel:?} of {t} after {after} upto {upto} limit {limit}"
                    );
                }
            }
        }
    }
}

async fn read_seqs(
    log: &SharedLog,
    t: &str,
    after: Seq,
    upto: Seq,
    channel: Option<&Channel>,
    limit: usize,
) -> Vec<Seq> {
    seqs(
        &log.read(&tenant(t), after, upto, channel, limit)
            .await
            .unwrap(),
    )
}

async fn channel_reads(f: Fixture) {
    let mixed = |t: &str, n: usize| -> Vec<EventDraft> {
        (0..n).map(|i| draft(t, MIXED[i % MIXED.len()])).collect()
    };
    let ueba = Channel::parse("ueba").unwrap();
    // Two tenants with the same channels: neither reads the other's.
    f.log.append(mixed("a", 40)).await.unwrap();
    f.log.append(mixed("b", 7)).await.unwrap();
    check_channel_reads(&f.log, "a").await;
    check_channel_reads(&f.log, "b").await;
    assert_eq!(
        read_seqs(&f.log, "b", 0, Seq::MAX, Some(&ueba), 100).await,
        [2]
    );
    // Paging through one channel with a small limit meets each of its events once.
    let (mut after, mut paged) = (0, Vec::new());
    loop {
        let page = read_seqs(&f.log, "a", after, Seq::MAX, Some(&ueba), 2).await;
        let Some(&last) = page.last() else { break };
        paged.extend(page);
        after = last;
    }
    assert_eq!(paged, [2, 8, 14, 20, 26, 32, 38]);
    // `upto` stops a channel read even when later events of the channel exist.
    assert_eq!(
        read_seqs(&f.log, "a", 2, 19, Some(&ueba), 100).await,
        [8, 14]
    );

    // Across purges: what retention removed is gone from every channel, what came after is in.
    let cut1 = cut().await;
    f.log.append(mixed("a", 9)).await.unwrap();
    assert_eq!(f.log.purge_before(cut1).await.unwrap(), 47);
    assert_eq!(
        read_seqs(&f.log, "a", 0, Seq::MAX, Some(&ueba), 100).await,
        [42, 48]
    );
    check_channel_reads(&f.log, "a").await;
    assert!(
        read_seqs(&f.log, "b", 0, Seq::MAX, Some(&ueba), 100)
            .await
            .is_empty()
    );
    let cut2 = cut().await;
    assert_eq!(f.log.purge_before(cut2).await.unwrap(), 9);
    for c in ["alerts", "ueba", "cases", "custom"] {
        let c = Channel::parse(c).unwrap();
        assert!(
            read_seqs(&f.log, "a", 0, Seq::MAX, Some(&c), 100)
                .await
                .is_empty()
        );
    }
    f.log.append(mixed("a", 12)).await.unwrap();
    assert_eq!(
        read_seqs(&f.log, "a", 0, Seq::MAX, Some(&ueba), 100).await,
        [51, 57]
    );
    check_channel_reads(&f.log, "a").await;
}

async fn seq_before(f: Fixture) {
    let t = tenant("a");
    assert_eq!(f.log.seq_before(&t, now_ms()).await.unwrap(), 0);
    f.log.append(alerts("a", 3)).await.unwrap();
    let cut1 = cut().await;
    f.log.append(alerts("a", 2)).await.unwrap();
    let cut2 = cut().await;
    f.log.append(alerts("a", 1)).await.unwrap();
    assert_eq!(f.log.seq_before(&t, 0).await.unwrap(), 0);
    assert_eq!(f.log.seq_before(&t, cut1).await.unwrap(), 3);
    assert_eq!(f.log.seq_before(&t, cut2).await.unwrap(), 5);
    assert_eq!(f.log.seq_before(&t, i64::MAX).await.unwrap(), 6);
    assert_eq!(
        f.log.seq_before(&tenant("nobody"), i64::MAX).await.unwrap(),
        0
    );
    // Once the oldest events are gone, earlier times give the seq before the oldest retained.
    assert_eq!(f.log.purge_before(cut1).await.unwrap(), 3);
    assert_eq!(f.log.seq_before(&t, 0).await.unwrap(), 3);
    assert_eq!(f.log.seq_before(&t, cut2).await.unwrap(), 5);
}

async fn purge(f: Fixture) {
    let (a, b) = (tenant("a"), tenant("b"));
    f.log
        .append(vec![
            supplied("a", "p1"),
            supplied("a", "p2"),
            draft("a", "x"),
            draft("b", "x"),
        ])
        .await
        .unwrap();
    let cut = cut().await;
    f.log
        .append(vec![supplied("a", "k1"), draft("a", "x")])
        .await
        .unwrap();
    let (epoch_a, epoch_b) = (
        f.log.head(&a).await.unwrap().epoch,
        f.log.head(&b).await.unwrap().epoch,
    );

    assert_eq!(f.log.purge_before(cut).await.unwrap(), 4);
    assert_eq!(
        f.log.head(&a).await.unwrap(),
        Head {
            seq: 5,
            epoch: epoch_a,
            first_retained: 4
        }
    );
    assert_eq!(
        f.log.head(&b).await.unwrap(),
        Head {
            seq: 1,
            epoch: epoch_b,
            first_retained: 2
        }
    );
    assert_eq!(seqs(&all(&f.log, "a").await), [4, 5]);
    assert!(all(&f.log, "b").await.is_empty());
    assert_eq!(f.log.purge_before(cut).await.unwrap(), 0);

    // A purged id is forgotten; a retained one is still a duplicate. Seqs continue.
    let out = f
        .log
        .append(vec![
            supplied("a", "p1"),
            supplied("a", "k1"),
            draft("b", "x"),
        ])
        .await
        .unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (6, false));
    assert_eq!((out[1].seq, out[1].duplicate), (4, true));
    assert_eq!((out[2].seq, out[2].duplicate), (2, false));
    assert_eq!(f.log.head(&b).await.unwrap().first_retained, 2);
}

async fn tenant_isolation(f: Fixture) {
    f.log
        .append(vec![supplied("a", "same"), draft("a", "x")])
        .await
        .unwrap();
    let out = f.log.append(vec![supplied("b", "same")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, false));
    let b = all(&f.log, "b").await;
    assert_eq!(b.len(), 1);
    assert!(b.iter().all(|e| e.tenant_id.as_str() == "b"));
    assert!(
        all(&f.log, "a")
            .await
            .iter()
            .all(|e| e.tenant_id.as_str() == "a")
    );
    assert!(all(&f.log, "c").await.is_empty());
    assert!(
        f.log
            .read(&tenant("a:b"), 0, Seq::MAX, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn close(f: Fixture) {
    f.log.append(alerts("a", 2)).await.unwrap();
    assert!(f.log.ready().await);
    f.log.close().await.unwrap();
    assert!(matches!(
        f.log.append(alerts("a", 1)).await,
        Err(LogError::Closed)
    ));
    assert!(!f.log.ready().await);
    f.log.close().await.unwrap();
    assert_eq!(seqs(&all(&f.log, "a").await), [1, 2]);
}

#[tokio::test]
async fn memory_log_conforms() {
    check_log(|| async { memory() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_log_conforms() {
    check_log(|| async { embedded() }).await;
}

/// One private redis-server for the whole suite; every fixture gets a prefix of its own, so
/// each check starts from an empty log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_log_conforms() {
    let server = Arc::new(socfeed_redis_harness::RedisServer::start());
    check_log(|| redis(server.clone())).await;
}

/// A Redis log under a fresh prefix on `server`, with retention left to `purge_before`.
pub(crate) async fn redis(server: Arc<socfeed_redis_harness::RedisServer>) -> Fixture {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let seen = Arc::new(Recorder::default());
    let config = RedisConfig::new(server.url())
        .prefix(format!("conformance{n}"))
        .retention(None);
    let log: SharedLog = Arc::new(RedisLog::open(config, seen.clone()).await.unwrap());
    // Only followed tenants reach the listener: these are the ones the checks look at.
    let mut followed = Vec::new();
    for t in ["a", "b", "c"] {
        let following = log.follow(&tenant(t));
        crate::follow::live(following.flow(), HANG_GUARD)
            .await
            .unwrap();
        followed.push((tenant(t), following));
    }
    Fixture {
        log,
        seen,
        _dir: None,
        _redis: Some(server),
        followed,
    }
}
