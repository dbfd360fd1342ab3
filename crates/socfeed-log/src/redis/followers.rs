//! Who follows which tenant on one [`super::RedisLog`]: a count per tenant, its follower task
//! (`follow.rs`) and the pub/sub connection task (`pubsub.rs`), started with the first follow.
//!
//! The first [`Following`] of a tenant starts its follower and subscribes its channel; more
//! followings share them; dropping the last one stops the follower (nothing more of it reaches
//! the listener) and unsubscribes. This node's own appends go to the tenant's follower, like
//! the live messages, or nowhere when nobody follows the tenant.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use socfeed_proto::{Event, TenantId};
use tokio::sync::{mpsc, watch};

use super::Inner;
use super::follow::{Data, Follower, Inputs};
use super::pubsub::{self, Command, Setup};
use crate::follow::{Flow, Following};

/// Inputs a follower's data queue holds before the connection drops live messages (and the
/// follower repairs the gap from the stream).
const DATA_QUEUE: usize = 4096;

/// The registry of one log.
#[derive(Default)]
pub(crate) struct Followers {
    state: Mutex<State>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, Entry>,
    /// The connection task, once started.
    connection: Option<mpsc::UnboundedSender<Command>>,
}

struct Entry {
    id: u64,
    holders: usize,
    data: mpsc::Sender<Data>,
    flow: watch::Receiver<Flow>,
    released: Arc<AtomicBool>,
}

/// What one [`Following`] holds: dropping it lets go of the tenant.
struct Hold {
    log: Weak<Inner>,
    tenant: TenantId,
    id: u64,
    /// For a follow that could not start (no runtime): keeps its flow `Down`.
    _flow: Option<watch::Sender<Flow>>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(inner) = self.log.upgrade() {
            inner.followers.release(&self.tenant, self.id);
        }
    }
}

impl Followers {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more holder of `tenant` (see the module doc). Must be called within a tokio
    /// runtime; outside one the following stays `Down`.
    pub(crate) fn follow(&self, log: &Arc<Inner>, tenant: &TenantId) -> Following {
        let hold = |id, flow| {
            Box::new(Hold {
                log: Arc::downgrade(log),
                tenant: tenant.clone(),
                id,
                _flow: flow,
            })
        };
        let mut state = self.state();
        if let Some(entry) = state.tenants.get_mut(tenant) {
            entry.holders += 1;
            return Following::new(entry.flow.clone(), hold(entry.id, None));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(tenant = %tenant, "following a tenant needs a tokio runtime");
            let (tx, rx) = watch::channel(Flow::Down);
            return Following::new(rx, hold(id, Some(tx)));
        };
        let (control, control_rx) = mpsc::unbounded_channel();
        let (data, data_rx) = mpsc::channel(DATA_QUEUE);
        let (flow_tx, flow) = watch::channel(Flow::Starting);
        let released = Arc::new(AtomicBool::new(false));
        let inputs = Inputs {
            control: control_rx,
            data: data_rx,
            flow: flow_tx,
            released: released.clone(),
        };
        let follower = Follower::new(
            tenant.clone(),
            Arc::downgrade(log),
            log.listener.clone(),
            inputs,
        );
        runtime.spawn(follower.run());
        let mut command = Command::Follow {
            tenant: tenant.clone(),
            id,
            control,
            data: data.clone(),
        };
        // A connection task that ended (it panicked) is started again.
        for _ in 0..2 {
            let connection = state.connection.get_or_insert_with(|| {
                pubsub::spawn(
                    &runtime,
                    Setup {
                        log: Arc::downgrade(log),
                        client: log.pubsub.clone(),
                        keys: log.keys.clone(),
                        timeout: log.config.timeout,
                        listener: log.listener.clone(),
                    },
                )
            });
            match connection.send(command) {
                Ok(()) => break,
                Err(mpsc::error::SendError(back)) => {
                    state.connection = None;
                    command = back;
                }
            }
        }
        state.tenants.insert(
            tenant.clone(),
            Entry {
                id,
                holders: 1,
                data,
                flow: flow.clone(),
                released,
            },
        );
        Following::new(flow, hold(id, None))
    }

    fn release(&self, tenant: &TenantId, id: u64) {
        let mut state = self.state();
        let Some(entry) = state.tenants.get_mut(tenant) else {
            return;
        };
        if entry.id != id {
            return;
        }
        entry.holders -= 1;
        if entry.holders > 0 {
            return;
        }
        if let Some(entry) = state.tenants.remove(tenant) {
            entry.released.store(true, Ordering::SeqCst);
        }
        if let Some(connection) = &state.connection {
            let _ = connection.send(Command::Unfollow {
                tenant: tenant.clone(),
                id,
            });
        }
    }

    /// This node's new events of `tenant` (consecutive seqs of `epoch`), for its follower.
    pub(crate) fn own(
        &self,
        tenant: &TenantId,
        epoch: String,
        events: Vec<Event>,
        accepted_us: i64,
    ) {
        let state = self.state();
        let Some(entry) = state.tenants.get(tenant) else {
            return;
        };
        let own = Data::Own {
            epoch,
            events,
            accepted_us,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = entry.data.try_send(own) {
            tracing::debug!(tenant = %tenant, "a follower's queue is full: an own append goes by the stream");
        }
    }

    /// How many tenants are followed (for tests).
    #[cfg(test)]
    pub(crate) fn followed(&self) -> usize {
        self.state().tenants.len()
    }
}
