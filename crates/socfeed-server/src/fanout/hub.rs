//! Fan-out registry: tenant → channel → sessions. Hands each committed event to the sessions that
//! want it without ever waiting for one.
//!
//! The hub is the log's [`CommitListener`]: it is called once per committed batch, in seq order,
//! and only [`offer`](super::queue::Sender::offer)s to each session's bounded queue. A full queue
//! marks that session as a slow consumer (it is woken and closes with 4008); nobody else waits.
//! At shutdown the hub signals every session it ever registered and that is still open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use socfeed_log::follow::{self, Following};
use socfeed_log::{CommitListener, EventLog, LogError};
use socfeed_proto::{Channel, Event, TenantId};

use super::delivery::Delivery;
use super::queue::{self, Offer};
use super::recent::RecentEvents;
use crate::metrics::Metrics;

/// The receiving end of a session's queue.
pub type Queue = queue::Receiver;

/// What a session wants delivered live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interest {
    /// Nothing (not subscribed yet).
    Nothing,
    /// Every channel of the tenant.
    All,
    /// These channels.
    Channels(Vec<Channel>),
}

/// The hub's side of one session.
#[derive(Debug)]
pub(crate) struct SessionHandle {
    id: u64,
    tenant: TenantId,
    tx: queue::Sender,
}

#[derive(Default)]
struct TenantSessions {
    all: HashMap<u64, Arc<SessionHandle>>,
    channels: HashMap<Channel, HashMap<u64, Arc<SessionHandle>>>,
    /// The engine follows the tenant's commits for as long as it has sessions here.
    following: Option<Following>,
}

impl TenantSessions {
    fn remove(&mut self, id: u64) {
        self.all.remove(&id);
        self.channels.retain(|_, sessions| {
            sessions.remove(&id);
            !sessions.is_empty()
        });
    }

    fn is_empty(&self) -> bool {
        self.all.is_empty() && self.channels.is_empty()
    }
}

/// The registry.
pub struct Hub {
    tenants: RwLock<HashMap<TenantId, Arc<RwLock<TenantSessions>>>>,
    /// Every open session, subscribed or not, for the shutdown signal.
    open: Mutex<HashMap<u64, queue::Sender>>,
    shutting_down: AtomicBool,
    next_id: AtomicU64,
    /// Live events seen, for sampling their fan-out latency.
    sampled: AtomicU64,
    metrics: Arc<Metrics>,
    /// Recent events of each tenant, for replays served from memory.
    pub recent: RecentEvents,
    /// The engine whose commits the hub receives, to follow tenants with sessions.
    engine: std::sync::OnceLock<std::sync::Weak<dyn EventLog>>,
}

impl Hub {
    /// A hub that keeps the last `recent_per_tenant` events of each tenant for replays, in at
    /// most `recent_bytes` for all tenants.
    pub fn new(metrics: Arc<Metrics>, recent_per_tenant: usize, recent_bytes: usize) -> Arc<Hub> {
        Arc::new(Hub {
            tenants: RwLock::default(),
            open: Mutex::default(),
            shutting_down: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            sampled: AtomicU64::new(0),
            metrics,
            recent: RecentEvents::new(recent_per_tenant, recent_bytes),
            engine: std::sync::OnceLock::new(),
        })
    }

    /// The engine to follow tenants on (set once, after the engine is opened with this hub as
    /// its listener).
    pub fn attach(&self, engine: &Arc<dyn EventLog>) {
        let _ = self.engine.set(Arc::downgrade(engine));
    }

    /// Waits (at most `within`) until every commit of `tenant` from now on reaches this hub:
    /// at once on a local engine; on a cluster engine once it follows the tenant (a session
    /// registers its interest first, which starts that).
    pub async fn live(
        &self,
        tenant: &TenantId,
        within: std::time::Duration,
    ) -> Result<(), LogError> {
        let flow = read(&self.tenants)
            .get(tenant)
            .and_then(|t| read(t).following.as_ref().and_then(Following::flow));
        follow::live(flow, within).await
    }

    /// A new session of `tenant` with a queue of `queue_len` frames; it receives nothing until
    /// [`Registration::set_interest`] says what it wants.
    pub fn register(self: &Arc<Hub>, tenant: TenantId, queue_len: usize) -> (Registration, Queue) {
        let (tx, rx) = queue::bounded(queue_len);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open_sessions().insert(id, tx.clone());
        if self.shutting_down.load(Ordering::Acquire) {
            tx.shut_down();
        }
        let handle = Arc::new(SessionHandle { id, tenant, tx });
        (
            Registration {
                hub: Arc::clone(self),
                handle,
            },
            rx,
        )
    }

    /// Tells every open session (and any registered later) that the server is shutting down.
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for tx in self.open_sessions().values() {
            tx.shut_down();
        }
    }

    fn open_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<u64, queue::Sender>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tenant(&self, tenant: &TenantId) -> Arc<RwLock<TenantSessions>> {
        if let Some(t) = read(&self.tenants).get(tenant) {
            return Arc::clone(t);
        }
        let mut tenants = write(&self.tenants);
        let entry = tenants.entry(tenant.clone()).or_insert_with(|| {
            let following = self
                .engine
                .get()
                .and_then(std::sync::Weak::upgrade)
                .map(|engine| engine.follow(tenant));
            Arc::new(RwLock::new(TenantSessions {
                following,
                ..TenantSessions::default()
            }))
        });
        Arc::clone(entry)
    }

    fn set_interest(&self, handle: &Arc<SessionHandle>, interest: &Interest) {
        let tenant = self.tenant(&handle.tenant);
        let mut t = write(&tenant);
        t.remove(handle.id);
        match interest {
            Interest::Nothing => {}
            Interest::All => {
                t.all.insert(handle.id, Arc::clone(handle));
            }
            Interest::Channels(list) => {
                for c in list {
                    t.channels
                        .entry(c.clone())
                        .or_default()
                        .insert(handle.id, Arc::clone(handle));
                }
            }
        }
    }

    fn unregister(&self, handle: &SessionHandle) {
        self.open_sessions().remove(&handle.id);
        let mut tenants = write(&self.tenants);
        if let Some(t) = tenants.get(&handle.tenant) {
            let empty = {
                let mut t = write(t);
                t.remove(handle.id);
                t.is_empty()
            };
            if empty && let Some(gone) = tenants.remove(&handle.tenant) {
                // No longer followed: on a cluster engine, what the cache holds of the tenant
                // would not stay contiguous.
                let local = read(&gone)
                    .following
                    .as_ref()
                    .is_none_or(Following::is_local);
                if !local {
                    self.recent.forget(&handle.tenant);
                }
            }
        }
    }

    /// Hands one event to every interested session of its tenant. Never blocks on a session.
    pub fn broadcast(&self, delivery: &Arc<Delivery>) {
        let Some(tenant) = read(&self.tenants).get(&delivery.event.tenant_id).cloned() else {
            return;
        };
        let t = read(&tenant);
        let by_channel = t.channels.get(&delivery.channel);
        for session in t
            .all
            .values()
            .chain(by_channel.into_iter().flat_map(|m| m.values()))
        {
            self.offer(session, delivery);
        }
    }

    fn offer(&self, session: &SessionHandle, delivery: &Arc<Delivery>) {
        match session.tx.offer(delivery) {
            Offer::Queued => {}
            Offer::Overflowed => {
                self.metrics.frames_dropped.inc();
                self.metrics.slow_consumer_closes.inc();
            }
            Offer::Dropped => {
                self.metrics.frames_dropped.inc();
            }
            Offer::Gone => {}
        }
    }

    /// Sessions currently registered for `tenant` (for tests and metrics).
    pub fn session_count(&self, tenant: &TenantId) -> usize {
        read(&self.tenants).get(tenant).map_or(0, |t| {
            let t = read(t);
            let mut ids: Vec<u64> = t.all.keys().copied().collect();
            ids.extend(t.channels.values().flat_map(|m| m.keys().copied()));
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        })
    }
}

/// One live event in this many has its fan-out latency measured (the first one included).
const SAMPLE_EVERY: u64 = 8;

impl CommitListener for Hub {
    fn committed(&self, events: Vec<Event>) {
        self.committed_at(events, super::delivery::now_us());
    }

    fn gap_repaired(&self, events: u64) {
        self.metrics.engine_gaps_repaired.inc_by(events);
    }

    fn resubscribed(&self) {
        self.metrics.engine_resubscribes.inc();
    }

    fn history_reset(&self, tenant: &TenantId) {
        self.recent.forget(tenant);
        let Some(t) = read(&self.tenants).get(tenant).cloned() else {
            return;
        };
        let t = read(&t);
        for session in t
            .all
            .values()
            .chain(t.channels.values().flat_map(|m| m.values()))
        {
            session.tx.reset();
        }
    }

    fn committed_at(&self, events: Vec<Event>, accepted_us: i64) {
        let deliveries: Vec<Arc<Delivery>> = events
            .into_iter()
            .filter_map(|e| {
                let n = self.sampled.fetch_add(1, Ordering::Relaxed);
                Delivery::sampled(e, n.is_multiple_of(SAMPLE_EVERY).then_some(accepted_us))
            })
            .collect();
        for d in &deliveries {
            self.broadcast(d);
        }
        self.recent.push(&deliveries);
    }
}

/// A session's membership in the hub; leaving the hub is dropping this.
pub struct Registration {
    hub: Arc<Hub>,
    handle: Arc<SessionHandle>,
}

impl Registration {
    pub fn set_interest(&self, interest: &Interest) {
        self.hub.set_interest(&self.handle, interest);
    }

    /// Whether this session's queue overflowed.
    pub fn overflowed(&self) -> bool {
        self.handle.tx.overflowed()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(&self.handle);
    }
}

/// Lock helpers: a poisoned lock means a panic elsewhere already; keep serving with the data.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn event(tenant: &str, seq: u64, ty: &str) -> Event {
        Event {
            id: format!("evt_{seq}"),
            seq,
            tenant_id: TenantId::parse(tenant).unwrap(),
            event_type: ty.into(),
            payload: RawValue::from_string("{}".into()).unwrap(),
            ts: 0,
        }
    }

    fn seqs(q: &mut Queue) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(super::queue::Taken::Items(_)) = q.try_take(&mut out, 64) {}
        out.iter().map(|d| d.seq()).collect()
    }

    #[test]
    fn shutdown_reaches_every_open_session() {
        let hub = Hub::new(Arc::new(Metrics::new()), 0, 0);
        let t = TenantId::parse("t").unwrap();
        let (_subscribed, mut q1) = hub.register(t.clone(), 4);
        _subscribed.set_interest(&Interest::All);
        let (_idle, mut q2) = hub.register(t.clone(), 4);
        hub.shut_down();
        let (_late, mut q3) = hub.register(t, 4);
        for q in [&mut q1, &mut q2, &mut q3] {
            assert_eq!(
                q.try_take(&mut Vec::new(), 4),
                Some(super::queue::Taken::Shutdown)
            );
        }
    }

    fn ch(s: &str) -> Channel {
        Channel::parse(s).unwrap()
    }

    #[test]
    fn routes_by_tenant_and_channel() {
        let hub = Hub::new(Arc::new(Metrics::new()), 0, 0);
        let t1 = TenantId::parse("t1").unwrap();
        let (alerts, mut q_alerts) = hub.register(t1.clone(), 8);
        alerts.set_interest(&Interest::Channels(vec![ch("alerts")]));
        let (all, mut q_all) = hub.register(t1.clone(), 8);
        all.set_interest(&Interest::All);
        let (other, mut q_other) = hub.register(TenantId::parse("t2").unwrap(), 8);
        other.set_interest(&Interest::All);

        hub.committed(vec![
            event("t1", 1, "alert.created"),
            event("t1", 2, "case.closed"),
        ]);
        assert_eq!(seqs(&mut q_alerts), [1]);
        assert_eq!(seqs(&mut q_all), [1, 2]);
        assert!(seqs(&mut q_other).is_empty());
        assert_eq!(hub.session_count(&t1), 2);
        drop(alerts);
        drop(all);
        assert_eq!(hub.session_count(&t1), 0);
    }

    #[test]
    fn overflow_marks_only_the_slow_session() {
        let metrics = Arc::new(Metrics::new());
        let hub = Hub::new(Arc::clone(&metrics), 0, 0);
        let t = TenantId::parse("t").unwrap();
        let (slow, _q_slow) = hub.register(t.clone(), 2);
        slow.set_interest(&Interest::All);
        let (fast, mut q_fast) = hub.register(t, 16);
        fast.set_interest(&Interest::All);
        for seq in 1..=5 {
            hub.committed(vec![event("t", seq, "alert.x")]);
            assert_eq!(seqs(&mut q_fast), [seq]);
        }
        assert!(slow.overflowed());
        assert!(!fast.overflowed());
        assert_eq!(metrics.slow_consumer_closes.get(), 1);
        assert_eq!(metrics.frames_dropped.get(), 3);
    }
}
