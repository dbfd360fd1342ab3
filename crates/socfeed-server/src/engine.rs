//! Opening the engine `--engine` names: the log (and, on Redis, the live fan-out between nodes)
//! with the hub as its listener.

use std::sync::Arc;

use socfeed_log::SharedLog;
use socfeed_log::embedded::EmbeddedLog;
use socfeed_log::memory::MemoryLog;
use socfeed_log::redis::{RedisConfig, RedisLog};

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::ServeError;
use crate::config::{Config, Durability, Engine};
use crate::fanout::Hub;
use crate::state::AppState;

/// The log of `config.engine`, delivering its commits to `hub`. On Redis, checks at once that
/// acknowledged appends will be on disk (`--engine-durability strict`) or warns that they may
/// not be (`relaxed`).
pub(crate) async fn open(config: &Config, hub: &Arc<Hub>) -> Result<SharedLog, ServeError> {
    let log = open_log(config, hub).await?;
    hub.attach(&log);
    Ok(log)
}

async fn open_log(config: &Config, hub: &Arc<Hub>) -> Result<SharedLog, ServeError> {
    match &config.engine {
        Engine::Memory => Ok(Arc::new(MemoryLog::new(hub.clone()))),
        Engine::Embedded => {
            let dir = config.data_dir.clone();
            let cache = config.log_cache_bytes;
            let listener = hub.clone();
            let opened = tokio::task::spawn_blocking(move || {
                EmbeddedLog::open_with_cache(&dir, listener, cache)
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
            let log = opened.map_err(|source| ServeError::Log {
                dir: config.data_dir.clone(),
                source,
            })?;
            Ok(Arc::new(log))
        }
        Engine::Redis(url) => {
            let engine = url.to_string();
            let redis = RedisConfig::new(url.expose())
                .prefix(config.engine_prefix.clone())
                .retention(Some(config.retention));
            let log =
                RedisLog::open(redis, hub.clone())
                    .await
                    .map_err(|source| ServeError::Engine {
                        engine: engine.clone(),
                        source,
                    })?;
            let strict = config.engine_durability == Durability::Strict;
            let report = log
                .check_durability(strict)
                .await
                .map_err(|source| ServeError::Durability { engine, source })?;
            for warning in &report.warnings {
                tracing::warn!(engine = %url, "{warning}");
            }
            Ok(Arc::new(log))
        }
    }
}

/// How often the engine is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Asks the engine whether it can serve, once a second, until shutdown: `/metrics` gets its
/// health and round-trip time, and admission refuses feeds it cannot serve (1013 / 503) while
/// it is down. A change is logged once.
pub(crate) async fn probe(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let started = Instant::now();
        let up = state.log.ready().await;
        let m = &state.metrics;
        if up {
            m.engine_rtt_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        m.engine_up.set(i64::from(up));
        let was = state.engine_up.swap(up, Ordering::Relaxed);
        match (was, up) {
            (true, false) => {
                tracing::warn!(engine = %state.config.engine, "the engine does not answer")
            }
            (false, true) => {
                tracing::info!(engine = %state.config.engine, "the engine answers again")
            }
            _ => {}
        }
    }
}

/// This node's name: `--node-id`, else the host name and the port it listens on.
pub(crate) fn node_id(config: &Config, listener: &tokio::net::TcpListener) -> String {
    if let Some(id) = &config.node_id {
        return id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "socfeed".into());
    match listener.local_addr() {
        Ok(addr) => format!("{host}:{}", addr.port()),
        Err(_) => host,
    }
}
