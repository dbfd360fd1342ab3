//! What every request handler and session shares.

use std::sync::{Arc, PoisonError, RwLock};

use socfeed_auth::Verifier;
use socfeed_log::SharedLog;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::tickets::Tickets;

pub struct AppState {
    pub config: Config,
    pub log: SharedLog,
    pub hub: Arc<Hub>,
    /// Token keys; swapped whole on reload (SIGHUP), never edited in place.
    pub verifier: RwLock<Arc<Verifier>>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    pub tickets: Tickets,
    /// Cancelled when the server starts shutting down; sessions then close with 1001.
    pub shutdown: CancellationToken,
    /// Every session holds a token of this tracker; shutdown waits for all of them.
    pub sessions: TaskTracker,
}

impl AppState {
    /// The key set in force now.
    pub fn verifier(&self) -> Arc<Verifier> {
        Arc::clone(&self.verifier.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads key files and swaps the key set; on error the old keys stay in force.
    /// Open connections are not touched.
    pub fn reload_keys(&self) -> Result<(), socfeed_auth::KeyError> {
        let fresh = Arc::new(Verifier::from_settings(&self.config.keys)?);
        *self
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// Counts an open connection in the `connections` gauge for as long as it lives.
pub struct ConnectionGuard(Arc<Metrics>);

impl ConnectionGuard {
    pub fn new(metrics: &Arc<Metrics>) -> ConnectionGuard {
        metrics.connections.inc();
        ConnectionGuard(Arc::clone(metrics))
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}
