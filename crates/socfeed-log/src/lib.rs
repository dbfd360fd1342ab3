//! The event log: where an event gets its per-tenant `seq` and becomes durable.
//!
//! [`EventLog`] is the one trait every backend implements; its doc is the contract. Backends:
//! [`memory::MemoryLog`] (tests, ephemeral runs) and [`embedded::EmbeddedLog`] (the durable
//! default, on redb) and [`redis::RedisLog`] (shared by several nodes). The local backends mint
//! seqs and epochs only through [`sequencer::Sequencer`], from inside their append critical
//! section; the Redis log mints seqs inside its append script, atomically in Redis, with epochs
//! from [`sequencer::new_epoch`].

use std::sync::Arc;

use async_trait::async_trait;
use socfeed_proto::{Channel, Event, EventDraft, Seq, TenantId};

mod channels;
pub mod embedded;
pub mod follow;
pub mod memory;
pub mod redis;
pub mod sequencer;

#[cfg(test)]
mod conformance;

/// What `append` says about one draft, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub id: String,
    pub seq: Seq,
    pub tenant_id: TenantId,
    /// `true` when a publisher-supplied id was already stored for the tenant (or earlier in
    /// the same batch): nothing new was stored and `seq` is the stored event's.
    pub duplicate: bool,
}

/// A tenant's position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Highest seq ever assigned to the tenant; 0 before its first event.
    pub seq: Seq,
    /// Random string fixed when the tenant's history was created; `None` before its first event.
    pub epoch: Option<String>,
    /// Seq of the oldest event still retained; `seq + 1` when nothing is retained.
    pub first_retained: Seq,
}

/// Receives committed events, in commit order (and so in seq order per tenant). Called from
/// the log's append path once the events are durable, never before; `append` may return
/// before the listener is called (the embedded log replies first), and the listener must not
/// block.
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, events: Vec<Event>);

    /// The same, for events accepted at `accepted_us` (unix µs) — on another node, say — so
    /// the listener can measure how long they took to reach it.
    fn committed_at(&self, events: Vec<Event>, accepted_us: i64) {
        let _ = accepted_us;
        self.committed(events);
    }

    /// The engine lost `tenant`'s history (flushed, or restored from an older state) and gave it
    /// a new epoch: what the listener holds of it, and every position in it, is void.
    fn history_reset(&self, tenant: &TenantId) {
        let _ = tenant;
    }

    /// A cluster engine found `events` missing between the live messages it received (a lost
    /// message) and read them from its store before passing later ones on.
    fn gap_repaired(&self, events: u64) {
        let _ = events;
    }

    /// A cluster engine's subscription to live commits was lost and made again (its tenants
    /// were caught up from their last seq).
    fn resubscribed(&self) {}
}

/// A listener that drops everything (a log used only for reads and appends).
pub struct NoListener;

impl CommitListener for NoListener {
    fn committed(&self, _events: Vec<Event>) {}
}

/// Errors of the log. Anything but `Closed` is a storage failure. Cheap to clone (a failed
/// group commit gives its error to every request of the group).
///
/// A remote store (Redis) adds two outcomes a local one never has: [`LogError::Unavailable`]
/// (nothing was done: retry later) and [`LogError::Uncertain`] (the request may or may not have
/// been applied). A server answers both with 503; retrying an append with the same
/// publisher-supplied ids is safe either way, since a stored id comes back as a duplicate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("the log is closed")]
    Closed,
    /// The store failed while doing `context`; `source` is its error, when it gave one.
    #[error("storage failed: {context}")]
    Storage {
        context: &'static str,
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The store could not be reached, or refused the request before doing anything (loading,
    /// out of memory, read-only): nothing was changed.
    #[error("storage unavailable: {context}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The request was sent but its outcome is unknown: no reply came in time, or the
    /// connection broke before it. An append may be stored in full, or not at all (per tenant:
    /// see the backend's doc). Drafts with generated ids may be stored twice if retried.
    #[error("outcome unknown: {context}")]
    Uncertain {
        context: &'static str,
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    #[error("corrupt record for tenant {tenant} seq {seq}: {message}")]
    Corrupt {
        tenant: String,
        seq: Seq,
        message: String,
    },
}

/// The event log contract.
///
/// * `append` is all or nothing: either every draft is durable (as far as the backend is
///   durable) and has a seq, or none is stored. (On Redis: for each tenant of the batch; see
///   [`redis::RedisLog`].) Seqs of a tenant are 1, 2, 3 … with no gap and
///   no reuse, across restarts, even after retention removed every event.
/// * A draft with `id_supplied` whose id is already stored for its tenant (and still retained)
///   is not stored again; its outcome carries the stored seq and `duplicate: true`. The same
///   holds for a repeated id within one batch.
/// * New events are handed to the [`CommitListener`] once durable (never before), in seq
///   order per tenant, possibly after `append` returned. Duplicates are not handed on.
/// * Reads see every acknowledged event that retention has not removed.
/// * Reads cost what they return: a read's work grows with the events it returns, not with the
///   tenant's other events. A read of one channel (any but `all`) looks only at that channel's
///   events after `after` (each backend keeps the seqs of every channel's events), so a cursor
///   on a quiet channel of a busy tenant replays cheaply.
/// * Nothing crosses tenants: every read takes a tenant and returns only its events.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends a batch (drafts may belong to several tenants).
    async fn append(&self, drafts: Vec<EventDraft>) -> Result<Vec<Appended>, LogError>;

    /// Events of `tenant` with `after < seq <= upto`, ascending, at most `limit` of them,
    /// only those whose type maps to `channel` ([`Channel::of`]) when a channel other than `all`
    /// is given.
    async fn read(
        &self,
        tenant: &TenantId,
        after: Seq,
        upto: Seq,
        channel: Option<&Channel>,
        limit: usize,
    ) -> Result<Vec<Event>, LogError>;

    /// The tenant's head, epoch and oldest retained seq.
    async fn head(&self, tenant: &TenantId) -> Result<Head, LogError>;

    /// The highest seq of `tenant` appended before `ingest_ms` (unix ms, server clock), or the
    /// seq just before the oldest retained event when all retained events are newer. Used to
    /// turn "the last 5 minutes" into a seq cursor.
    async fn seq_before(&self, tenant: &TenantId, ingest_ms: i64) -> Result<Seq, LogError>;

    /// Removes events appended before `ingest_ms` (unix ms) and forgets their ids.
    /// Returns how many were removed. Heads and epochs are kept.
    async fn purge_before(&self, ingest_ms: i64) -> Result<u64, LogError>;

    /// Whether the backend can serve requests (`/readyz`).
    async fn ready(&self) -> bool;

    /// Finishes pending appends and flushes; later appends fail with `Closed`.
    async fn close(&self) -> Result<(), LogError>;

    /// Starts following `tenant`'s commits made anywhere (see [`follow`]): until the returned
    /// [`follow::Following`] is dropped, they reach the listener in seq order, once each, while
    /// its flow is live. Local engines hand every commit to the listener anyway.
    fn follow(&self, tenant: &TenantId) -> follow::Following {
        let _ = tenant;
        follow::Following::local()
    }
}

impl LogError {
    /// A storage failure without an underlying error.
    pub fn storage(context: &'static str) -> LogError {
        LogError::Storage {
            context,
            source: None,
        }
    }

    /// Whether the store may have applied the request although it failed
    /// ([`LogError::Uncertain`]).
    pub fn is_uncertain(&self) -> bool {
        matches!(self, LogError::Uncertain { .. })
    }

    /// Whether the failure is the store being out of reach, now ([`LogError::Unavailable`] or
    /// [`LogError::Uncertain`]), as opposed to a broken store or a closed log.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            LogError::Unavailable { .. } | LogError::Uncertain { .. }
        )
    }
}

/// A shared handle to some log.
pub type SharedLog = Arc<dyn EventLog>;

/// Current unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
