//! [`MemoryLog`]: the in-memory backend, for tests and ephemeral runs (nothing survives a restart).
//!
//! One mutex guards everything: appends, reads and purges all take it briefly. The listener is
//! called under it, so it sees events in seq order. Ingest times are monotonic per log
//! (`max(previous, now)`), which lets `seq_before` and `purge_before` work on each tenant's
//! queue as a sorted sequence. Each tenant also keeps the seqs of every channel's events, so a
//! read of one channel looks only at that channel's events.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use socfeed_proto::{Channel, Event, EventDraft, Seq, TenantId};

use crate::sequencer::Sequencer;
use crate::{Appended, CommitListener, EventLog, Head, LogError, channels, now_ms};

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

/// One tenant's retained events (contiguous seqs, oldest first), its supplied ids, and the seqs
/// of each channel's retained events (ascending; a channel is dropped once it has none).
#[derive(Default)]
struct TenantLog {
    events: VecDeque<(i64, Event)>,
    ids: HashMap<String, Seq>,
    channels: HashMap<Channel, VecDeque<Seq>>,
}

impl TenantLog {
    fn push(&mut self, ingest_ms: i64, event: Event) {
        if let Some(channel) = channels::indexed(&event.event_type) {
            self.channels
                .entry(channel)
                .or_default()
                .push_back(event.seq);
        }
        self.events.push_back((ingest_ms, event));
    }

    /// Removes the oldest event if it was ingested before `ingest_ms`.
    fn pop_older_than(&mut self, ingest_ms: i64) -> Option<Event> {
        if self.events.front().is_none_or(|(at, _)| *at >= ingest_ms) {
            return None;
        }
        let (_, event) = self.events.pop_front()?;
        if self.ids.get(&event.id) == Some(&event.seq) {
            self.ids.remove(&event.id);
        }
        if let Some(channel) = channels::indexed(&event.event_type)
            && let Some(seqs) = self.channels.get_mut(&channel)
        {
            // The oldest event is the oldest of its channel too.
            if seqs.front() == Some(&event.seq) {
                seqs.pop_front();
            }
            if seqs.is_empty() {
                self.channels.remove(&channel);
            }
        }
        Some(event)
    }

    /// The retained event with `seq` (seqs are contiguous, so it is found by position).
    fn event(&self, seq: Seq) -> Option<&Event> {
        let first = self.events.front()?.1.seq;
        let at = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.events.get(at).map(|(_, e)| e).filter(|e| e.seq == seq)
    }

    /// Events with `after < seq <= upto`, at most `limit`, of `channel` when given.
    fn read(&self, after: Seq, upto: Seq, channel: Option<&Channel>, limit: usize) -> Vec<Event> {
        let Some(channel) = channels::narrowed(channel) else {
            let start = self.events.partition_point(|(_, e)| e.seq <= after);
            return self
                .events
                .range(start..)
                .map(|(_, e)| e)
                .take_while(|e| e.seq <= upto)
                .take(limit)
                .cloned()
                .collect();
        };
        let Some(seqs) = self.channels.get(channel) else {
            return Vec::new();
        };
        let start = seqs.partition_point(|s| *s <= after);
        seqs.range(start..)
            .take_while(|s| **s <= upto)
            .take(limit)
            .filter_map(|s| self.event(*s))
            .cloned()
            .collect()
    }
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
            log.push(now, event.clone());
            fresh.push(event);
        }
        (outcomes, fresh)
    }

    fn purge_before(&mut self, ingest_ms: i64) -> u64 {
        let mut removed = 0;
        for log in self.tenants.values_mut() {
            while log.pop_older_than(ingest_ms).is_some() {
                removed += 1;
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
        Ok(inner
            .tenants
            .get(tenant)
            .map(|log| log.read(after, upto, channel, limit))
            .unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::draft;

    fn log_of(types: &[&str]) -> TenantLog {
        let mut log = TenantLog::default();
        for (i, ty) in types.iter().enumerate() {
            log.push(i as i64, draft("a", ty).into_event(i as Seq + 1));
        }
        log
    }

    fn seqs(events: &[Event]) -> Vec<Seq> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn channel_seqs_follow_appends_and_purges() {
        let mut log = log_of(&["alert.a", "ueba.b", "alert.c", "Bad.x", "ueba.d"]);
        let (ueba, alerts) = (
            Channel::parse("ueba").unwrap(),
            Channel::parse("alerts").unwrap(),
        );
        assert_eq!(seqs(&log.read(0, 5, Some(&ueba), 10)), [2, 5]);
        assert_eq!(seqs(&log.read(1, 5, Some(&alerts), 10)), [3]);
        assert_eq!(seqs(&log.read(0, 5, None, 10)), [1, 2, 3, 4, 5]);
        assert_eq!(log.channels.len(), 2, "`Bad.x` is in no channel");
        while log.pop_older_than(3).is_some() {}
        assert_eq!(seqs(&log.read(0, 5, Some(&ueba), 10)), [5]);
        assert!(
            !log.channels.contains_key(&alerts),
            "alerts has no event left"
        );
        while log.pop_older_than(5).is_some() {}
        assert!(log.channels.is_empty(), "empty channels are dropped");
        assert!(log.read(0, 9, Some(&ueba), 10).is_empty());
    }

    #[test]
    fn events_are_found_by_position() {
        let mut log = log_of(&["a.x", "a.x", "a.x"]);
        while log.pop_older_than(1).is_some() {}
        assert_eq!(log.event(1).map(|e| e.seq), None);
        assert_eq!(log.event(2).map(|e| e.seq), Some(2));
        assert_eq!(log.event(3).map(|e| e.seq), Some(3));
        assert_eq!(log.event(4).map(|e| e.seq), None);
    }
}
