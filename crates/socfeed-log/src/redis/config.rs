//! [`RedisConfig`]: where the Redis log connects, under which prefix, and its bounds.

use std::time::Duration;

use super::keys::DEFAULT_PREFIX;

/// How a [`super::RedisLog`] reaches Redis and keeps its history.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. RESP3 is used unless
    /// the URL asks for `?protocol=resp2`.
    pub url: String,
    /// Every key starts with it (see `keys.rs`); deployments sharing one Redis use different ones.
    pub prefix: String,
    /// The longest any one Redis call may take, connecting included. A call that runs out of
    /// it fails with [`crate::LogError::Unavailable`], or [`crate::LogError::Uncertain`] for
    /// an append that was already sent.
    pub timeout: Duration,
    /// Events older than this are trimmed by the appends of their tenant (and their keys expire
    /// this long after the tenant's last append). `None`: only `purge_before` removes events.
    pub retention: Option<Duration>,
    /// The most events one append or purge step removes from a tenant's front (bounded work per
    /// call; the rest goes with the next ones).
    pub trim_budget: usize,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `socfeed`, 2 s timeout, 24 h retention, 256 events per trim.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: Duration::from_secs(2),
            retention: Some(Duration::from_secs(24 * 3600)),
            trim_budget: 256,
        }
    }

    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.prefix = prefix.into();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> RedisConfig {
        self.timeout = timeout;
        self
    }

    pub fn retention(mut self, retention: Option<Duration>) -> RedisConfig {
        self.retention = retention;
        self
    }

    /// Retention in whole milliseconds for the scripts; 0 means none.
    pub(crate) fn retention_ms(&self) -> u64 {
        self.retention.map_or(0, |r| {
            u64::try_from(r.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// The timeout in whole milliseconds (at least 1), for commands that take one.
    pub(crate) fn timeout_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_millisecond_views() {
        let c = RedisConfig::new("redis://127.0.0.1:1/");
        assert_eq!(c.prefix, "socfeed");
        assert_eq!(c.timeout_ms(), 2000);
        assert_eq!(c.retention_ms(), 24 * 3600 * 1000);
        let c = c
            .retention(None)
            .timeout(Duration::from_micros(10))
            .prefix("x");
        assert_eq!((c.retention_ms(), c.timeout_ms()), (0, 1));
        assert_eq!(c.prefix, "x");
        let tiny = RedisConfig::new("").retention(Some(Duration::from_micros(1)));
        assert_eq!(tiny.retention_ms(), 1);
    }
}
