//! The connection: URL → `ConnectionInfo` (RESP3 unless asked otherwise), TLS set up for
//! `rediss://`, and a `ConnectionManager` (one multiplexed connection, reconnected in the
//! background) whose every timeout is the log's.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion};

use super::error::{Effect, bounded};
use crate::LogError;

/// A Redis URL that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid engine URL: {0}")]
pub struct BadUrl(String);

/// Where the log connects: what `Client::open` takes, and `host:port` for messages (never the
/// password).
pub(crate) struct Target {
    pub(crate) info: ConnectionInfo,
    pub(crate) server: String,
}

/// Parses the URL. RESP3 unless the URL says `protocol=`; TLS needs a process-wide rustls
/// crypto provider, installed here (ring) when none is yet.
pub(crate) fn target(url: &str) -> Result<Target, LogError> {
    let bad = |message: String| LogError::Storage {
        context: "parse the engine URL",
        source: Some(Arc::new(BadUrl(message))),
    };
    let mut info = url.into_connection_info().map_err(|e| bad(e.to_string()))?;
    if !asks_protocol(url) {
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        info = info.set_redis_settings(redis);
    }
    if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        // Fails only when a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    if !info.addr().is_supported() {
        return Err(bad(format!("{} is not supported here", info.addr())));
    }
    let server = info.addr().to_string();
    Ok(Target { info, server })
}

fn asks_protocol(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("protocol"))
    })
}

pub(crate) fn client(target: &Target) -> Result<Client, LogError> {
    Client::open(target.info.clone()).map_err(|e| LogError::Storage {
        context: "parse the engine URL",
        source: Some(Arc::new(e)),
    })
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
}

/// Connects (within `timeout`) and returns the manager.
pub(crate) async fn connect(
    target: &Target,
    timeout: Duration,
) -> Result<ConnectionManager, LogError> {
    bounded(
        timeout,
        Effect::Read,
        "connect to Redis",
        ConnectionManager::new_with_config(client(target)?, manager_config(timeout)),
    )
    .await
}

/// A manager that connects on first use (Redis may be down now). Needs a tokio runtime.
pub(crate) fn connect_lazy(
    target: &Target,
    timeout: Duration,
) -> Result<ConnectionManager, LogError> {
    ConnectionManager::new_lazy_with_config(client(target)?, manager_config(timeout)).map_err(|e| {
        LogError::Storage {
            context: "set up the Redis connection",
            source: Some(Arc::new(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_unless_asked_and_no_password_in_the_name() {
        let t = target("redis://user:secret@127.0.0.1:6390/2").unwrap();
        assert_eq!(t.info.redis_settings().protocol(), ProtocolVersion::RESP3);
        assert_eq!(t.info.redis_settings().db(), 2);
        assert_eq!(t.server, "127.0.0.1:6390");
        let t = target("redis://127.0.0.1:6390/?protocol=resp2").unwrap();
        assert_eq!(t.info.redis_settings().protocol(), ProtocolVersion::RESP2);
    }

    #[test]
    fn tls_urls_are_understood() {
        let t = target("rediss://cache.example:6380/").unwrap();
        assert!(matches!(t.info.addr(), ConnectionAddr::TcpTls { .. }));
        assert_eq!(t.server, "cache.example:6380");
        // A TLS client can be built (the crypto provider is in place).
        assert!(Client::open(t.info).is_ok());
    }

    #[test]
    fn bad_urls_are_storage_errors_naming_the_url_problem() {
        for url in ["http://x", "nonsense", "redis://:99999999"] {
            let e = target(url)
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            assert!(matches!(e, LogError::Storage { .. }), "{url}: {e:?}");
        }
    }
}
