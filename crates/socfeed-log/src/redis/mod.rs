//! [`RedisLog`]: the event log on Redis, shared by every node given the same URL and prefix.
//!
//! * Layout: see `keys.rs`. A tenant's head (seq, epoch, last ingest time), its stream of
//!   events (entry id `<seq>-0`, so a seq range is an XRANGE), its channel index and its
//!   publisher ids all share the hash tag `{<tenant>}`.
//! * Append: `append.lua`, one atomic script run per tenant of a batch: dedup of supplied ids,
//!   epoch get-or-create, seq increment, XADD, channel index, PUBLISH on the tenant's live
//!   channel, trim by age and key expiry. Ingest time is Redis `TIME`, monotonic per tenant,
//!   so every node shares one clock.
//! * Atomicity is per tenant: a batch with several tenants is one script run per tenant, in
//!   order of first appearance. If a later tenant's run fails after an earlier one was stored,
//!   `append` fails with [`LogError::Uncertain`] (retrying with the same publisher ids is safe).
//!   The server only sends multi-tenant batches for `*` tokens.
//! * Every Redis call runs under [`RedisConfig::timeout`]; see `error.rs` for which failures
//!   are [`LogError::Unavailable`] (nothing done) and which [`LogError::Uncertain`].
//! * Following ([`EventLog::follow`]): while a tenant is followed, the [`CommitListener`] gets
//!   every new event of it, appended through any node, in seq order, once each: one pub/sub
//!   connection per log subscribes the followed tenants' live channels ([`Keys::live`],
//!   [`parse_live`]); one task per followed tenant orders live messages and this instance's
//!   own appends, repairs gaps from the stream, catches up after a lost connection and handles
//!   lost history (`followers.rs`, `pubsub.rs`, `follow.rs`, `position.rs`, `fetch.rs`). New
//!   events of tenants nobody follows reach no listener.
//! * Durability is Redis's: [`RedisLog::check_durability`] says whether an acknowledged append
//!   is on disk.

mod append;
mod config;
mod connect;
mod durability;
mod epoch;
mod error;
mod fetch;
mod follow;
mod followers;
mod keys;
mod live;
mod position;
mod pubsub;
mod purge;
mod read;
mod record;

#[cfg(test)]
mod follow_tests;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use async_trait::async_trait;
use socfeed_proto::{Channel, Event, EventDraft, Seq, TenantId};

use self::append::{Part, Stored, append_part, parts};
pub use self::config::RedisConfig;
pub use self::connect::BadUrl;
pub use self::durability::{DurabilityError, DurabilityMode, DurabilityReport};
pub use self::error::{BadReply, NoReply};
use self::error::{Effect, bounded};
use self::followers::Followers;
pub use self::keys::{DEFAULT_PREFIX, Keys, PrefixError};
pub use self::live::{LiveEvent, parse_live};
use crate::follow::Following;
use crate::{Appended, CommitListener, EventLog, Head, LogError};

/// The longest `ready` waits for Redis to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The Redis-backed event log. Cheap to share: clones of the `Arc` it is usually held in.
pub struct RedisLog {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    conn: ConnectionManager,
    keys: Keys,
    config: RedisConfig,
    /// `host:port` of the Redis server, for messages.
    server: String,
    listener: Arc<dyn CommitListener>,
    closed: AtomicBool,
    /// Appends under way hold it shared; `close` takes it exclusively to wait for them.
    drain: tokio::sync::RwLock<()>,
    /// Followed tenants and the pub/sub connection.
    followers: Followers,
    /// The client the pub/sub connection is made with.
    pubsub: ::redis::Client,
    /// Tenants this instance put in the registry.
    registered: Mutex<HashSet<TenantId>>,
    /// Appends wait for `WAITAOF` (set by a durability check that chose it).
    wait_aof: AtomicBool,
    /// Appends publish their live messages where nobody listens (a lost message, for tests).
    #[cfg(test)]
    mute_live: AtomicBool,
}

impl RedisLog {
    /// Connects (within the configured timeout) and checks that Redis answers.
    pub async fn open(
        config: RedisConfig,
        listener: Arc<dyn CommitListener>,
    ) -> Result<RedisLog, LogError> {
        let (keys, target) = prepare(&config)?;
        let conn = connect::connect(&target, config.timeout).await?;
        let log = RedisLog::new(conn, keys, target, config, listener)?;
        if !log.inner.ping().await {
            return Err(LogError::Unavailable {
                context: "Redis does not answer PING",
                source: None,
            });
        }
        Ok(log)
    }

    /// Like [`RedisLog::open`], but connects on first use: a node can start while Redis is
    /// down (its calls fail with [`LogError::Unavailable`] until Redis is back). Only the URL
    /// and the prefix are checked here. Must be called within a tokio runtime.
    pub fn open_lazy(
        config: RedisConfig,
        listener: Arc<dyn CommitListener>,
    ) -> Result<RedisLog, LogError> {
        let (keys, target) = prepare(&config)?;
        let conn = connect::connect_lazy(&target, config.timeout)?;
        RedisLog::new(conn, keys, target, config, listener)
    }

    fn new(
        conn: ConnectionManager,
        keys: Keys,
        target: connect::Target,
        config: RedisConfig,
        listener: Arc<dyn CommitListener>,
    ) -> Result<RedisLog, LogError> {
        let pubsub = connect::client(&target)?;
        Ok(RedisLog {
            inner: Arc::new(Inner {
                conn,
                keys,
                server: target.server,
                listener,
                closed: AtomicBool::new(false),
                drain: tokio::sync::RwLock::new(()),
                followers: Followers::default(),
                pubsub,
                registered: Mutex::new(HashSet::new()),
                wait_aof: AtomicBool::new(false),
                #[cfg(test)]
                mute_live: AtomicBool::new(false),
                config,
            }),
        })
    }

    /// The key names this log uses.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// `host:port` of the Redis server (never its password).
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Checks whether Redis puts acknowledged appends on disk (see `durability.rs`). `strict`
    /// refuses a Redis that does not, with an error naming the setting to change; otherwise
    /// the report carries a warning. When the check settles on `WAITAOF`, every later append
    /// waits for it.
    pub async fn check_durability(
        &self,
        strict: bool,
    ) -> Result<DurabilityReport, DurabilityError> {
        let report = durability::check(&self.inner, strict).await?;
        self.inner
            .wait_aof
            .store(report.mode == DurabilityMode::WaitAof, Ordering::SeqCst);
        Ok(report)
    }

    /// Makes appends wait for `WAITAOF`, as a durability check that chose it would.
    #[cfg(test)]
    pub(crate) fn wait_for_aof(&self) {
        self.inner.wait_aof.store(true, Ordering::SeqCst);
    }

    /// Makes this instance's appends publish where no follower listens, as if every live
    /// message it sends were lost.
    #[cfg(test)]
    pub(crate) fn mute_live(&self) {
        self.inner.mute_live.store(true, Ordering::SeqCst);
    }

    /// How many tenants this instance follows.
    #[cfg(test)]
    pub(crate) fn followed(&self) -> usize {
        self.inner.followers.followed()
    }

    /// Atomically replaces the tenant's epoch with `candidate` when it is still `seen_epoch`;
    /// returns the epoch in force afterwards (`candidate`, or whatever another node put there;
    /// `None` when the tenant has no head, whose next append starts a new epoch anyway). Seqs
    /// continue from the stored head. For a node that saw a seq above the stored head in the
    /// same epoch (Redis went back to an older state).
    pub async fn renew_epoch(
        &self,
        tenant: &TenantId,
        seen_epoch: &str,
        candidate: &str,
    ) -> Result<Option<String>, LogError> {
        epoch::renew(&self.inner, tenant, seen_epoch, candidate).await
    }
}

/// The checked prefix and the parsed URL.
fn prepare(config: &RedisConfig) -> Result<(Keys, connect::Target), LogError> {
    let keys = Keys::new(&config.prefix).map_err(|e| LogError::Storage {
        context: "check the engine prefix",
        source: Some(Arc::new(e)),
    })?;
    Ok((keys, connect::target(&config.url)?))
}

impl Inner {
    fn registered(&self, tenant: &TenantId) -> bool {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(tenant)
    }

    fn mark_registered(&self, tenant: &TenantId) {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone());
    }

    /// Whether appends wait for `WAITAOF` (the durability check chose it).
    fn waits_for_aof(&self) -> bool {
        self.wait_aof.load(Ordering::SeqCst)
    }

    /// The channel an append publishes its live messages on.
    fn live_channel(&self, tenant: &TenantId) -> String {
        #[cfg(test)]
        if self.mute_live.load(Ordering::SeqCst) {
            return format!("{}:muted", self.keys.live(tenant));
        }
        self.keys.live(tenant)
    }

    /// PING within the timeout, and within [`READY_TIMEOUT`] at most (a readiness probe).
    async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        let ping = ::redis::cmd("PING");
        bounded(
            self.config.timeout.min(READY_TIMEOUT),
            Effect::Read,
            "PING Redis",
            ping.query_async::<String>(&mut conn),
        )
        .await
        .is_ok_and(|pong| pong == "PONG")
    }

    /// A whole batch, part by part (see the module doc on atomicity).
    async fn append(self: Arc<Self>, drafts: Vec<EventDraft>) -> Result<Vec<Appended>, LogError> {
        let mut outcomes: Vec<Option<Appended>> = vec![None; drafts.len()];
        let mut stored_any = false;
        for part in parts(drafts) {
            match self.append_part(part).await {
                Ok(stored) => {
                    for (index, appended) in stored.appended {
                        outcomes[index] = Some(appended);
                    }
                    stored_any = true;
                }
                Err(e) if stored_any => {
                    return Err(LogError::Uncertain {
                        context: "append a batch of several tenants: the first ones were stored",
                        source: Some(Arc::new(e)),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        outcomes
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| LogError::storage("an append outcome is missing"))
    }

    /// One tenant's part: the script, `WAITAOF` when chosen, then the new events to the
    /// tenant's follower (which orders them with the other nodes' events).
    async fn append_part(&self, part: Part) -> Result<Stored, LogError> {
        let tenant = part.tenant.clone();
        purge::register(self, &tenant, false).await?;
        let mut stored = append_part(self, part).await?;
        if stored.created {
            // After a flush the registry lost the tenant too.
            if let Err(e) = purge::register(self, &tenant, true).await {
                tracing::warn!(tenant = %tenant, error = %e, "could not register the tenant for purges");
            }
        }
        let fresh: Vec<Event> = std::mem::take(&mut stored.fresh);
        if !fresh.is_empty() {
            let epoch = stored.epoch.clone();
            self.followers
                .own(&tenant, epoch, fresh, stored.accepted_us);
        }
        Ok(stored)
    }
}

#[async_trait]
impl EventLog for RedisLog {
    /// Atomic per tenant (see the module doc); runs to its end even if the caller stops
    /// waiting, so `close` can wait for it.
    async fn append(&self, drafts: Vec<EventDraft>) -> Result<Vec<Appended>, LogError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(LogError::Closed);
        }
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _under_way = inner.drain.read().await;
            inner.clone().append(drafts).await
        })
        .await
        .map_err(|e| LogError::Storage {
            context: "append task failed",
            source: Some(Arc::new(e)),
        })?
    }

    async fn read(
        &self,
        tenant: &TenantId,
        after: Seq,
        upto: Seq,
        channel: Option<&Channel>,
        limit: usize,
    ) -> Result<Vec<Event>, LogError> {
        read::read(&self.inner, tenant, after, upto, channel, limit).await
    }

    async fn head(&self, tenant: &TenantId) -> Result<Head, LogError> {
        read::head(&self.inner, tenant).await
    }

    async fn seq_before(&self, tenant: &TenantId, ingest_ms: i64) -> Result<Seq, LogError> {
        read::seq_before(&self.inner, tenant, ingest_ms).await
    }

    /// Every tenant in the registry, one bounded step at a time (`purge.rs`); ingest times are
    /// Redis's clock.
    async fn purge_before(&self, ingest_ms: i64) -> Result<u64, LogError> {
        purge::purge_before(&self.inner, ingest_ms).await
    }

    /// Open, and Redis answers PING within the timeout (1 s at most).
    async fn ready(&self) -> bool {
        !self.inner.closed.load(Ordering::SeqCst) && self.inner.ping().await
    }

    /// Refuses new appends and waits (at most twice the timeout) for those under way. Reads
    /// keep working; Redis has nothing to flush.
    async fn close(&self) -> Result<(), LogError> {
        self.inner.closed.store(true, Ordering::SeqCst);
        let drain = self.inner.drain.write();
        let _ = tokio::time::timeout(self.inner.config.timeout * 2, drain).await;
        Ok(())
    }

    /// Subscribes to the tenant's live channel (the first following of it) and orders what
    /// arrives with this instance's own appends; see the module doc.
    fn follow(&self, tenant: &TenantId) -> Following {
        self.inner.followers.follow(&self.inner, tenant)
    }
}
