//! Prometheus metrics: one registry per server, rendered as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    /// From an event's acceptance to its frame handed to a session's socket, sampled.
    pub fanout_seconds: Histogram,
    /// 1 while the engine answers its probe, 0 while it does not.
    pub engine_up: Gauge,
    /// Time the engine takes to answer its probe.
    pub engine_rtt_seconds: Histogram,
    pub engine_gaps_repaired: Counter,
    pub engine_resubscribes: Counter,
    node: Family<NodeLabel, Gauge>,
}

/// The `node` label of `socfeed_node_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

impl Metrics {
    /// The metrics of node `node`.
    pub fn for_node(node: &str) -> Metrics {
        let m = Metrics::new();
        m.node
            .get_or_create(&NodeLabel {
                node: node.to_owned(),
            })
            .set(1);
        m
    }

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
            fanout_seconds: Histogram::new([
                0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
                0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            engine_up: Gauge::default(),
            engine_rtt_seconds: Histogram::new([
                0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0,
            ]),
            engine_gaps_repaired: Counter::default(),
            engine_resubscribes: Counter::default(),
            node: Family::default(),
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
        registry.register(
            "fanout_seconds",
            "Time from an event's acceptance (its commit; on another node: its ingest time there) \
             to its frame handed to a session's socket; one event in 8, every session that writes it",
            m.fanout_seconds.clone(),
        );
        registry.register(
            "node_info",
            "This node (its --node-id), always 1",
            m.node.clone(),
        );
        registry.register(
            "engine_up",
            "1 while the engine (embedded log, memory or Redis) answers, else 0",
            m.engine_up.clone(),
        );
        registry.register(
            "engine_rtt_seconds",
            "Time the engine takes to answer a probe (once a second)",
            m.engine_rtt_seconds.clone(),
        );
        registry.register(
            "engine_gaps_repaired",
            "Events missing between live messages from the engine, read from its store instead",
            m.engine_gaps_repaired.clone(),
        );
        registry.register(
            "engine_resubscribes",
            "Times the subscription to the engine's live events was lost and made again",
            m.engine_resubscribes.clone(),
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
