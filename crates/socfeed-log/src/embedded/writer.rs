//! The single writer thread of [`super::EmbeddedLog`]: group commit of appends, and purges.
//!
//! The thread takes the first waiting request, drains every other pending one (up to
//! [`MAX_GROUP_DRAFTS`] drafts), and stores all the appends in one redb write transaction
//! committed with [`Durability::Immediate`] (fsync). Only then does it reply to each request
//! and hand the new events to the listener, in seq order. If the transaction fails, every
//! request of the group gets the error and the sequencer heads are restored, so no seq is
//! skipped or reused. A purge request is run in its own transaction, in queue order between
//! groups of appends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, Durability, ReadableTable, WriteTransaction};
use socfeed_proto::{Event, EventDraft, Seq, TenantId};
use tokio::sync::{mpsc, oneshot};

use super::index::{self, BY_CHANNEL, INDEXED_UPTO};
use super::store::{self, EVENTS, HEADS, IDS, LAST_INGEST_MS, META, storage};
use crate::sequencer::{Sequencer, TenantHead};
use crate::{Appended, CommitListener, LogError, now_ms};

/// A group stops draining the queue once it holds this many drafts.
const MAX_GROUP_DRAFTS: usize = 16 * 1024;

/// A request to the writer thread; each carries the sender of its reply.
pub(super) enum Request {
    Append {
        drafts: Vec<EventDraft>,
        reply: AppendReply,
    },
    Purge {
        before_ms: i64,
        reply: oneshot::Sender<Result<u64, LogError>>,
    },
}

/// The writer's state: it alone owns the sequencer.
pub(super) struct Writer {
    pub(super) db: Arc<Database>,
    pub(super) sequencer: Sequencer,
    pub(super) last_ingest_ms: i64,
    pub(super) listener: Arc<dyn CommitListener>,
    pub(super) commits: Arc<AtomicU64>,
    /// Test hook: fail the next group's transaction just before committing.
    #[cfg(test)]
    pub(super) fail_next: Arc<std::sync::atomic::AtomicBool>,
}

/// What one append request gets back.
type Outcome = Result<Vec<Appended>, LogError>;
type AppendReply = oneshot::Sender<Outcome>;

/// One new event of a group, ready to insert.
struct Row {
    event: Event,
    id_supplied: bool,
    record: Vec<u8>,
}

/// One request, prepared: its outcomes and its new events.
struct Prepared {
    appended: Vec<Appended>,
    rows: Vec<Row>,
}

/// Heads as they were before the group touched them (to restore on failure).
type Before = HashMap<TenantId, Option<TenantHead>>;

impl Writer {
    /// Serves requests until every sender is gone and the queue is empty.
    pub(super) fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        while let Some(first) = queue.blocking_recv() {
            let mut group: Vec<(Vec<EventDraft>, AppendReply)> = Vec::new();
            let mut drafts = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append { drafts: d, reply } => {
                        drafts += d.len();
                        group.push((d, reply));
                    }
                    Request::Purge { before_ms, reply } => {
                        self.commit_group(std::mem::take(&mut group));
                        drafts = 0;
                        let _ = reply.send(self.purge(before_ms));
                    }
                }
                if drafts < MAX_GROUP_DRAFTS {
                    next = queue.try_recv().ok();
                }
            }
            self.commit_group(group);
        }
    }

    /// Stores a group of appends in one transaction and replies to each request.
    fn commit_group(&mut self, group: Vec<(Vec<EventDraft>, AppendReply)>) {
        if group.is_empty() {
            return;
        }
        let (batches, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let mut before = Before::new();
        match self.write_group(batches, &mut before) {
            Ok((outcomes, fresh)) => {
                // Replies first: a publisher's acknowledgement does not wait for the fan-out.
                // The next group is not committed before the listener returns, so it still
                // sees every commit in order.
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
                if !fresh.is_empty() {
                    self.listener.committed(fresh);
                }
            }
            Err(e) => {
                for (tenant, head) in before {
                    self.sequencer.restore(&tenant, head);
                }
                tracing::error!(error = %e, requests = replies.len(), "event log group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// The transaction of a group. The outer error fails the whole group; an inner error
    /// (a request whose events cannot be encoded) fails only that request.
    fn write_group(
        &mut self,
        batches: Vec<Vec<EventDraft>>,
        before: &mut Before,
    ) -> Result<(Vec<Outcome>, Vec<Event>), LogError> {
        let ingest_ms = now_ms().max(self.last_ingest_ms);
        let txn = self.begin()?;
        let mut outcomes = Vec::with_capacity(batches.len());
        let mut fresh = Vec::new();
        {
            let mut events = txn
                .open_table(EVENTS)
                .map_err(storage("open events table"))?;
            let mut ids = txn.open_table(IDS).map_err(storage("open ids table"))?;
            let mut by_channel = txn
                .open_table(BY_CHANNEL)
                .map_err(storage("open channel index"))?;
            // Supplied ids given a seq in this group (a request's rows reach `ids` only once
            // the whole request is prepared).
            let mut seen: HashMap<(TenantId, String), Seq> = HashMap::new();
            for drafts in batches {
                let rows = match self.prepare(drafts, &ids, &mut seen, before, ingest_ms)? {
                    Ok(Prepared { appended, rows }) => {
                        outcomes.push(Ok(appended));
                        rows
                    }
                    Err(e) => {
                        outcomes.push(Err(e));
                        continue;
                    }
                };
                for row in rows {
                    let (t, seq) = (row.event.tenant_id.as_str(), row.event.seq);
                    events
                        .insert((t, seq), row.record.as_slice())
                        .map_err(storage("insert event"))?;
                    index::insert(&mut by_channel, t, seq, &row.event.event_type)?;
                    if row.id_supplied {
                        ids.insert((t, row.event.id.as_str()), seq)
                            .map_err(storage("insert id"))?;
                    }
                    fresh.push(row.event);
                }
            }
        }
        if fresh.is_empty() {
            txn.abort().map_err(storage("abort empty transaction"))?;
            return Ok((outcomes, fresh));
        }
        {
            let mut heads = txn.open_table(HEADS).map_err(storage("open heads table"))?;
            let mut indexed = txn
                .open_table(INDEXED_UPTO)
                .map_err(storage("open channel index"))?;
            for tenant in before.keys() {
                if let Some(h) = self.sequencer.head(tenant) {
                    heads
                        .insert(tenant.as_str(), (h.seq, h.epoch.as_str()))
                        .map_err(storage("write head"))?;
                    indexed
                        .insert(tenant.as_str(), h.seq)
                        .map_err(storage("write channel index"))?;
                }
            }
            let mut meta = txn.open_table(META).map_err(storage("open meta table"))?;
            meta.insert(LAST_INGEST_MS, ingest_ms)
                .map_err(storage("write last ingest time"))?;
        }
        #[cfg(test)]
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(LogError::storage("injected failure"));
        }
        txn.commit().map_err(storage("commit appends"))?;
        self.last_ingest_ms = ingest_ms;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok((outcomes, fresh))
    }

    /// Assigns seqs to one request's drafts and encodes its new events, recording in `before`
    /// the heads it touches first. On an inner error this request's heads are restored and
    /// nothing of it is kept.
    fn prepare(
        &mut self,
        drafts: Vec<EventDraft>,
        ids: &impl ReadableTable<(&'static str, &'static str), u64>,
        seen: &mut HashMap<(TenantId, String), Seq>,
        before: &mut Before,
        ingest_ms: i64,
    ) -> Result<Result<Prepared, LogError>, LogError> {
        let mut mine = Before::new();
        let mut mine_seen = Vec::new();
        let mut appended = Vec::with_capacity(drafts.len());
        let mut rows = Vec::with_capacity(drafts.len());
        for draft in drafts {
            if draft.id_supplied
                && let Some(seq) = self.known_id(&draft, ids, seen)?
            {
                appended.push(Appended {
                    id: draft.id,
                    seq,
                    tenant_id: draft.tenant_id,
                    duplicate: true,
                });
                continue;
            }
            if !mine.contains_key(&draft.tenant_id) {
                mine.insert(
                    draft.tenant_id.clone(),
                    self.sequencer.head(&draft.tenant_id).cloned(),
                );
            }
            let (seq, _epoch) = self.sequencer.next(&draft.tenant_id);
            if draft.id_supplied {
                seen.insert((draft.tenant_id.clone(), draft.id.clone()), seq);
                mine_seen.push((draft.tenant_id.clone(), draft.id.clone()));
            }
            appended.push(Appended {
                id: draft.id.clone(),
                seq,
                tenant_id: draft.tenant_id.clone(),
                duplicate: false,
            });
            let id_supplied = draft.id_supplied;
            let event = draft.into_event(seq);
            match store::encode(ingest_ms, id_supplied, &event) {
                Ok(record) => rows.push(Row {
                    event,
                    id_supplied,
                    record,
                }),
                Err(e) => {
                    for (tenant, head) in mine {
                        self.sequencer.restore(&tenant, head);
                    }
                    for key in mine_seen {
                        seen.remove(&key);
                    }
                    return Ok(Err(e));
                }
            }
        }
        for (tenant, head) in mine {
            before.entry(tenant).or_insert(head);
        }
        Ok(Ok(Prepared { appended, rows }))
    }

    /// The seq already holding a supplied id: earlier in this group, or stored and retained.
    fn known_id(
        &self,
        draft: &EventDraft,
        ids: &impl ReadableTable<(&'static str, &'static str), u64>,
        seen: &HashMap<(TenantId, String), Seq>,
    ) -> Result<Option<Seq>, LogError> {
        if let Some(&seq) = seen.get(&(draft.tenant_id.clone(), draft.id.clone())) {
            return Ok(Some(seq));
        }
        let stored = ids
            .get((draft.tenant_id.as_str(), draft.id.as_str()))
            .map_err(storage("look up id"))?;
        Ok(stored.map(|g| g.value()))
    }

    /// Removes events ingested before `before_ms`, tenant by tenant from the oldest seq, with
    /// their channel index rows, and forgets their supplied ids. Heads are kept. One
    /// transaction.
    fn purge(&mut self, before_ms: i64) -> Result<u64, LogError> {
        let txn = self.begin()?;
        let mut removed = 0;
        {
            let mut events = txn
                .open_table(EVENTS)
                .map_err(storage("open events table"))?;
            let mut ids = txn.open_table(IDS).map_err(storage("open ids table"))?;
            let mut by_channel = txn
                .open_table(BY_CHANNEL)
                .map_err(storage("open channel index"))?;
            let heads = txn.open_table(HEADS).map_err(storage("open heads table"))?;
            let tenants = heads
                .iter()
                .map_err(storage("list tenants"))?
                .map(|item| item.map(|(k, _)| k.value().to_owned()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage("list tenants"))?;
            for t in &tenants {
                let t = t.as_str();
                let mut doomed: Vec<(Seq, bool, store::Names)> = Vec::new();
                for item in events
                    .range((t, 0)..=(t, Seq::MAX))
                    .map_err(storage("scan events"))?
                {
                    let (key, value) = item.map_err(storage("scan events"))?;
                    let seq = key.value().1;
                    let header = store::header(t, seq, value.value())?;
                    if header.ingest_ms >= before_ms {
                        break;
                    }
                    let names = store::names(t, seq, value.value())?;
                    doomed.push((seq, header.id_supplied, names));
                }
                for (seq, id_supplied, names) in doomed {
                    events.remove((t, seq)).map_err(storage("remove event"))?;
                    index::remove(&mut by_channel, t, seq, &names.event_type)?;
                    removed += 1;
                    if !id_supplied {
                        continue;
                    }
                    let id = names.id;
                    let points_here = ids
                        .get((t, id.as_str()))
                        .map_err(storage("look up id"))?
                        .map(|g| g.value())
                        == Some(seq);
                    if points_here {
                        ids.remove((t, id.as_str())).map_err(storage("remove id"))?;
                    }
                }
            }
        }
        txn.commit().map_err(storage("commit purge"))?;
        Ok(removed)
    }

    fn begin(&self) -> Result<WriteTransaction, LogError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(storage("begin write transaction"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(storage("set durability"))?;
        Ok(txn)
    }
}
