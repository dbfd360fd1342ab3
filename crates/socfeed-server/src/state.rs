//! What every request handler and session shares.

use std::sync::{Arc, PoisonError, RwLock};

use socfeed_auth::Verifier;
use socfeed_log::SharedLog;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{Audit, Limits, Tickets};
use crate::config::Config;
use crate::fanout::Hub;
use crate::metrics::Metrics;

pub(crate) struct AppState {
    pub config: Config,
    pub log: SharedLog,
    pub hub: Arc<Hub>,
    /// Token keys; swapped whole on reload (SIGHUP), never edited in place.
    pub verifier: RwLock<Arc<Verifier>>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    pub tickets: Tickets,
    /// The audit trail of connections and refusals.
    pub audit: Audit,
    /// Cancelled when the server starts shutting down; sessions then close with 1001.
    pub shutdown: CancellationToken,
    /// Every session holds a token of this tracker; shutdown waits for all of them.
    pub sessions: TaskTracker,
    /// Whether the engine answered its last probe (see `engine::probe`).
    pub engine_up: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// Whether the engine answered its last probe.
    pub(crate) fn engine_up(&self) -> bool {
        self.engine_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key set in force now.
    pub(crate) fn verifier(&self) -> Arc<Verifier> {
        Arc::clone(&self.verifier.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads key files and swaps the key set; on error the old keys stay in force.
    /// Open connections are not touched.
    pub(crate) fn reload_keys(&self) -> Result<(), socfeed_auth::KeyError> {
        let fresh = Arc::new(Verifier::from_settings(&self.config.keys)?);
        *self
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// Counts an open connection in the `connections` gauge for as long as it lives.
pub(crate) struct ConnectionGuard(Arc<Metrics>);

impl ConnectionGuard {
    pub(crate) fn new(metrics: &Arc<Metrics>) -> ConnectionGuard {
        metrics.connections.inc();
        ConnectionGuard(Arc::clone(metrics))
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}
