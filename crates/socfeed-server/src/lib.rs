//! socfeed's server as a library.
//!
//! ```text
//! POST /v1/events ─ ingest ─▶ log.append (seq, durable) ─▶ hub (encode once, offer)
//!                          └─ 202                          └▶ session queues ─▶ /ws (AiSOC),
//!                                                             /v1/soc/feed[/sse] (GOVERN)
//! ```
//!
//! [`Server::bind`] opens the log and prepares the routes; [`Server::run`] serves until the
//! shutdown future resolves, then closes sessions with 1001 and flushes the log. Tests and the
//! `socfeed` binary both go through here.

mod access;
mod config;
mod dialect;
mod engine;
mod fanout;
mod history;
mod http;
mod ingest;
mod metrics;
mod retention;
mod session;
mod state;
mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socfeed_auth::Verifier;
use socfeed_log::SharedLog;
use socfeed_proto::TenantId;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{
    Config, ConfigError, Durability, Engine, Networks, Origins, RedisUrl, parse_duration,
    parse_size,
};
pub use fanout::{Delivery, Hub, Interest, Queue, Registration, Taken};
pub use metrics::Metrics;

use crate::state::AppState;

/// Why the server could not start or stopped with an error (the cause is its source).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening the event log in {dir}")]
    Log {
        dir: std::path::PathBuf,
        source: socfeed_log::LogError,
    },
    #[error("connecting to the engine at {engine}")]
    Engine {
        engine: String,
        source: socfeed_log::LogError,
    },
    #[error("the engine at {engine} cannot promise durable acknowledgements")]
    Durability {
        engine: String,
        source: socfeed_log::redis::DurabilityError,
    },
    #[error("loading token keys")]
    Keys(#[from] socfeed_auth::KeyError),
    #[error("serving HTTP")]
    Io(#[from] std::io::Error),
}

/// How long shutdown waits for sessions to close before flushing the log anyway.
const SESSION_DRAIN: Duration = Duration::from_secs(5);

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    background: TaskTracker,
}

impl Server {
    /// Opens the log and loads keys; does not accept connections yet.
    pub async fn bind(listener: TcpListener, config: Config) -> Result<Server, ServeError> {
        let node = engine::node_id(&config, &listener);
        let metrics = Arc::new(Metrics::for_node(&node));
        let hub = Hub::new(
            Arc::clone(&metrics),
            config.replay_cache,
            config.replay_cache_bytes,
        );
        let verifier = Verifier::from_settings(&config.keys)?;
        let log = engine::open(&config, &hub).await?;
        let limits = access::Limits::new(&config);
        let state = Arc::new(AppState {
            config,
            log,
            hub,
            verifier: std::sync::RwLock::new(Arc::new(verifier)),
            metrics,
            limits,
            tickets: access::Tickets::default(),
            audit: access::Audit::default(),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
            engine_up: std::sync::atomic::AtomicBool::new(true),
        });
        let background = TaskTracker::new();
        background.spawn(engine::probe(Arc::clone(&state)));
        background.spawn(retention::run(
            Arc::clone(&state.log),
            state.config.retention,
            state.shutdown.clone(),
        ));
        Ok(Server {
            listener,
            state,
            background,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that reloads the key files (for SIGHUP) while the server runs.
    pub fn key_reloader(&self) -> KeyReloader {
        KeyReloader(Arc::clone(&self.state))
    }

    /// The server's event log (for in-process publishers such as the demo generator).
    pub fn log(&self) -> SharedLog {
        Arc::clone(&self.state.log)
    }

    /// Starts the demo generator for `tenant` at `per_second` events a second.
    pub fn spawn_demo(&self, tenant: TenantId, per_second: f64) {
        self.background.spawn(ingest::demo::run(
            self.log(),
            Arc::clone(&self.state.metrics),
            tenant,
            per_second,
            self.state.shutdown.clone(),
        ));
    }

    /// Serves until `shutdown` resolves; then stops accepting, closes sessions with 1001,
    /// and closes (flushes) the log.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            state,
            background,
        } = self;
        let token = state.shutdown.clone();
        let router = http::router(Arc::clone(&state));
        let watcher = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown => token.cancel(),
                    () = token.cancelled() => {}
                }
            })
        };
        // Sessions learn of the shutdown from their queues (WebSocket) or the token (SSE).
        let signal = {
            let (token, hub) = (token.clone(), Arc::clone(&state.hub));
            tokio::spawn(async move {
                token.cancelled().await;
                hub.shut_down();
            })
        };
        transport::accept::serve(
            listener,
            router,
            http::divert(Arc::clone(&state)),
            access::Gate::new(Arc::clone(&state)),
            token.clone(),
            state.config.handshake_timeout,
        )
        .await;
        watcher.abort();
        token.cancel();
        let _ = signal.await;
        state.sessions.close();
        if tokio::time::timeout(SESSION_DRAIN, state.sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!("sessions did not close in time; flushing the log anyway");
        }
        background.close();
        background.wait().await;
        if let Err(e) = state.log.close().await {
            tracing::error!(error = %report(&e), "closing the event log");
        }
        Ok(())
    }
}

/// Reloads token keys from the configured files without dropping connections.
#[derive(Clone)]
pub struct KeyReloader(Arc<AppState>);

impl KeyReloader {
    /// Re-reads the key files; on error the keys in force stay.
    pub fn reload(&self) -> Result<(), socfeed_auth::KeyError> {
        self.0.reload_keys()
    }
}

/// An error with its sources, for a log line: `outer: cause: root cause`.
pub(crate) fn report(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Binds and serves in one call.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::bind(listener, config).await?.run(shutdown).await
}
