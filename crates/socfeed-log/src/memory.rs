//! [`MemoryLog`]: the in-memory backend, for tests and ephemeral runs (nothing survives a restart).
//!
//! One mutex guards everything: appends, reads and purges all take it briefly. The listener is
//! called under it, so it sees events in seq order. Ingest times are monotonic per log
//! (`max(previous, now)`), which lets `seq_before` and `purge_before` work on each tenant's
//! queue as a sorted sequence.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use socfeed_proto::{Channel, Event, EventDraft, Seq, TenantId};

use crate::sequencer::Sequencer;
use crate::{Appended, CommitListener, EventLog, Head, LogError, now_ms};

/// The in-memory event log.
pub struct MemoryLog {
    inner: Mutex<Inner>,
    listener: Arc<dyn CommitListener>,
}

#[derive(Default)]
struct Inner {
    sequencer: Sequencer,
    tenants: HashMap<TenantId, TenantLog>,
    last_ingest_ms: i64,
    closed: bool,
}

/// One tenant's retained events (contiguous seqs, oldest first) and its supplied ids.
#[derive(Default)]
struct TenantLog {
    events: VecDeque<(i64, Event)>,
    ids: HashMap<String, Seq>,
}

impl MemoryLog {
    /// An empty log handing committed events to `listener`.
    pub fn new(listener: Arc<dyn CommitListener>) -> MemoryLog {
        MemoryLog {
            inner: Mutex::new(Inner::default()),
            listener,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (every mutation is
        // completed before anything that could panic), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn append(&mut self, drafts: Vec<EventDraft>) -> (Vec<Appended>, Vec<Event>) {
        let now = now_ms().max(self.last_ingest_ms);
        self.last_ingest_ms = now;
        let mut outcomes = Vec::with_capacity(drafts.len());
        let mut fresh = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let log = self.tenants.entry(draft.tenant_id.clone()).or_default();
            if draft.id_supplied
                && let Some(&seq) = log.ids.get(&draft.id)
            {
                outcomes.push(Appended {
                    id: draft.id,
                    seq,
                    tenant_id: draft.tenant_id,
                    duplicate: true,
                });
                continue;
            }
            let (seq, _epoch) = self.sequencer.next(&draft.tenant_id);
            if draft.id_supplied {
                log.ids.insert(draft.id.clone(), seq);
            }
            outcomes.push(Appended {
                id: draft.id.clone(),
                seq,
                tenant_id: draft.tenant_id.clone(),
                duplicate: false,
            });
            let event = draft.into_event(seq);
            log.events.push_back((now, event.clone()));
            fresh.push(event);
        }
        (outcomes, fresh)
    }

    fn purge_before(&mut self, ingest_ms: i64) -> u64 {
        let mut removed = 0;
        for log in self.tenants.values_mut() {
            while log.events.front().is_some_and(|(at, _)| *at < ingest_ms) {
                if let Some((_, event)) = log.events.pop_front() {
                    if log.ids.get(&event.id) == Some(&event.seq) {
                        log.ids.remove(&event.id);
                    }
                    removed += 1;
                }
            }
        }
        removed
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, drafts: Vec<EventDraft>) -> Result<Vec<Appended>, LogError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(LogError::Closed);
        }
        let (outcomes, fresh) = inner.append(drafts);
        if !fresh.is_empty() {
            // Still under the lock: the listener sees every tenant's events in seq order.
            self.listener.committed(fresh);
        }
        Ok(outcomes)
    }

    async fn read(
        &self,
        tenant: &TenantId,
        after: Seq,
        upto: Seq,
        channel: Option<&Channel>,
        limit: usize,
    ) -> Result<Vec<Event>, LogError> {
        let inner = self.lock();
        let Some(log) = inner.tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        let start = log.events.partition_point(|(_, e)| e.seq <= after);
        Ok(log
            .events
            .range(start..)
            .map(|(_, e)| e)
            .take_while(|e| e.seq <= upto)
            .filter(|e| crate::in_channel(e, channel))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn head(&self, tenant: &TenantId) -> Result<Head, LogError> {
        let inner = self.lock();
        let Some(head) = inner.sequencer.head(tenant) else {
            return Ok(Head {
                seq: 0,
                epoch: None,
                first_retained: 1,
            });
        };
        let first = inner
            .tenants
            .get(tenant)
            .and_then(|log| log.events.front())
            .map_or(head.seq + 1, |(_, e)| e.seq);
        Ok(Head {
            seq: head.seq,
            epoch: Some(head.epoch.clone()),
            first_retained: first,
        })
    }

    async fn seq_before(&self, tenant: &TenantId, ingest_ms: i64) -> Result<Seq, LogError> {
        let inner = self.lock();
        let head = inner.sequencer.head(tenant).map_or(0, |h| h.seq);
        let Some(log) = inner.tenants.get(tenant) else {
            return Ok(head);
        };
        let Some((_, first)) = log.events.front() else {
            return Ok(head);
        };
        let older = log.events.partition_point(|(at, _)| *at < ingest_ms);
        Ok(first.seq - 1 + older as Seq)
    }

    async fn purge_before(&self, ingest_ms: i64) -> Result<u64, LogError> {
        Ok(self.lock().purge_before(ingest_ms))
    }

    async fn ready(&self) -> bool {
        !self.lock().closed
    }

    async fn close(&self) -> Result<(), LogError> {
        self.lock().closed = true;
        Ok(())
    }
}
