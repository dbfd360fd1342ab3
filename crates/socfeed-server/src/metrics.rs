//! Prometheus metrics: one registry per server, rendered as text at `GET /metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The server's named metrics. Cheap to update: atomics only.
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub subscriptions: Gauge,
    pub events_published: Counter,
    pub publish_duplicates: Counter,
    pub frames_sent: Counter,
    pub events_replayed: Counter,
    pub slow_consumer_closes: Counter,
    pub frames_dropped: Counter,
    pub heartbeat_timeouts: Counter,
    pub auth_failures: Counter,
    pub log_append_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("socfeed");
        let m = Metrics {
            connections: Gauge::default(),
            subscriptions: Gauge::default(),
            events_published: Counter::default(),
            publish_duplicates: Counter::default(),
            frames_sent: Counter::default(),
            events_replayed: Counter::default(),
            slow_consumer_closes: Counter::default(),
            frames_dropped: Counter::default(),
            heartbeat_timeouts: Counter::default(),
            auth_failures: Counter::default(),
            log_append_seconds: Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Open client connections (WebSocket and SSE)",
            m.connections.clone(),
        );
        registry.register(
            "subscriptions",
            "Active channel subscriptions",
            m.subscriptions.clone(),
        );
        registry.register(
            "events_published",
            "Events stored and fanned out",
            m.events_published.clone(),
        );
        registry.register(
            "publish_duplicates",
            "Published events whose id was already stored (not stored again)",
            m.publish_duplicates.clone(),
        );
        registry.register(
            "frames_sent",
            "Event frames written to clients",
            m.frames_sent.clone(),
        );
        registry.register(
            "events_replayed",
            "Events sent from the log on resume",
            m.events_replayed.clone(),
        );
        registry.register(
            "slow_consumer_closes",
            "Sessions closed because their send queue overflowed (4008)",
            m.slow_consumer_closes.clone(),
        );
        registry.register(
            "frames_dropped",
            "Frames not queued because the session's queue was full",
            m.frames_dropped.clone(),
        );
        registry.register(
            "heartbeat_timeouts",
            "Sessions closed because the client went silent (4002)",
            m.heartbeat_timeouts.clone(),
        );
        registry.register(
            "auth_failures",
            "Rejected tokens (4001/401)",
            m.auth_failures.clone(),
        );
        registry.register(
            "log_append_seconds",
            "Time from append request to durable acknowledgement",
            m.log_append_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
