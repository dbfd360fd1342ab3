//! The results of a run and their two renderings: a text table and one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::procfs::CpuTimes;

/// Everything a run measured.
pub(super) struct Results {
    pub(super) setup: Setup,
    pub(super) connections: Connections,
    pub(super) published: Published,
    pub(super) deliveries: Deliveries,
    /// Sessions the server ended, by close code (or `no close frame`, `read error`).
    pub(super) server_closes: BTreeMap<String, u64>,
    /// Publish→deliver latency of measured events, microseconds.
    pub(super) latency: Histogram<u64>,
    /// Time to the 202 of measured publishes, microseconds.
    pub(super) publish_latency: Histogram<u64>,
    pub(super) server: Option<ServerUsage>,
    /// The engine's process (`--engine-pid`, e.g. redis-server) over the window.
    pub(super) engine: Option<EngineUsage>,
    pub(super) generator: Usage,
    /// CPU time every process of the machine used over the window, ours included.
    pub(super) machine_busy: Option<Duration>,
    /// The server's own acceptance → socket latency over the window (its `/metrics`).
    pub(super) server_fanout: Option<super::fanout::Summary>,
    /// With `--kill-node-after`: the subscribers of the killed node coming back on the others.
    pub(super) failover: Option<super::failover::Summary>,
}

/// What was asked for.
pub(super) struct Setup {
    pub(super) target: String,
    /// `spawned (embedded log, CPU 0)` or `external`.
    pub(super) server_kind: String,
    pub(super) subscribers: usize,
    /// Server nodes the subscribers are spread over (1 unless `--nodes`).
    pub(super) nodes: usize,
    pub(super) channel: String,
    /// `100 events/s` or `max (1 request in flight)`.
    pub(super) pace: String,
    pub(super) batch: usize,
    pub(super) payload_size: usize,
    pub(super) warmup: Duration,
    pub(super) duration: Duration,
}

pub(super) struct Connections {
    pub(super) established: u64,
    pub(super) failed: u64,
    pub(super) first_failure: Option<String>,
    /// From the first connect to the last subscribe ack.
    pub(super) ramp_time: Duration,
}

pub(super) struct Published {
    /// Acknowledged events, warm-up included.
    pub(super) events: u64,
    /// Acknowledged events of requests sent in the measured window.
    pub(super) measured_events: u64,
    pub(super) requests: u64,
    pub(super) failures: BTreeMap<String, u64>,
}

pub(super) struct Deliveries {
    /// Event frames received, warm-up and duplicates included.
    pub(super) frames: u64,
    /// Frames of events sent in the measured window.
    pub(super) measured: u64,
    /// Acknowledged events some subscribed session never received.
    pub(super) lost: u64,
    pub(super) duplicates: u64,
    /// Frames with a seq at or below the subscribe head.
    pub(super) unexpected: u64,
    /// Whether every open session received the last acknowledged event before the drain timeout.
    pub(super) caught_up: bool,
    /// From the end of publishing to the end of the drain.
    pub(super) drain_time: Duration,
}

/// CPU and memory of one process over the measured window (measured window plus drain).
pub(super) struct Usage {
    pub(super) cpu: Option<CpuTimes>,
    pub(super) wall: Duration,
    pub(super) rss_end: Option<u64>,
}

/// The server's figures; with several nodes, summed over them.
pub(super) struct ServerUsage {
    /// One per node, node 0 first.
    pub(super) pids: Vec<u32>,
    pub(super) usage: Usage,
    /// Before any subscriber connected.
    pub(super) rss_idle: Option<u64>,
    /// Once every subscriber was subscribed, before publishing.
    pub(super) rss_connected: Option<u64>,
}

/// A process the servers depend on, measured like them.
pub(super) struct EngineUsage {
    pub(super) pid: u32,
    pub(super) usage: Usage,
}

impl Results {
    fn deliveries_per_second(&self) -> f64 {
        self.deliveries.measured as f64 / self.setup.duration.as_secs_f64()
    }

    fn events_per_second(&self) -> f64 {
        self.published.measured_events as f64 / self.setup.duration.as_secs_f64()
    }

    /// Server RSS added per established connection.
    fn rss_per_connection(&self) -> Option<f64> {
        let s = self.server.as_ref()?;
        let (idle, connected) = (s.rss_idle?, s.rss_connected?);
        (self.connections.established > 0)
            .then(|| (connected as f64 - idle as f64) / self.connections.established as f64)
    }

    /// The one JSON object of `--json`.
    pub(super) fn to_json(&self) -> Value {
        let s = &self.setup;
        json!({
            "setup": {
                "target": s.target,
                "server": s.server_kind,
                "subscribers": s.subscribers,
                "nodes": s.nodes,
                "channel": s.channel,
                "pace": s.pace,
                "batch": s.batch,
                "payload_size": s.payload_size,
                "warmup_s": s.warmup.as_secs_f64(),
                "duration_s": s.duration.as_secs_f64(),
            },
            "connections": {
                "established": self.connections.established,
                "failed": self.connections.failed,
                "first_failure": self.connections.first_failure,
                "ramp_s": round3(self.connections.ramp_time.as_secs_f64()),
            },
            "published": {
                "events": self.published.events,
                "measured_events": self.published.measured_events,
                "events_per_s": round3(self.events_per_second()),
                "requests": self.published.requests,
                "failures": self.published.failures,
            },
            "deliveries": {
                "frames": self.deliveries.frames,
                "measured": self.deliveries.measured,
                "per_s": round3(self.deliveries_per_second()),
                "lost": self.deliveries.lost,
                "duplicates": self.deliveries.duplicates,
                "unexpected": self.deliveries.unexpected,
                "caught_up": self.deliveries.caught_up,
                "drain_s": round3(self.deliveries.drain_time.as_secs_f64()),
            },
            "server_closes": self.server_closes,
            "latency_ms": quantiles_json(&self.latency),
            "publish_latency_ms": quantiles_json(&self.publish_latency),
            "server_fanout_ms": self.server_fanout.as_ref().map(|f| json!({
                "observations": f.count,
                "p50_at_most": f.p50.map(|d| round3(d.as_secs_f64() * 1000.0)),
                "p99_at_most": f.p99.map(|d| round3(d.as_secs_f64() * 1000.0)),
            })),
            "server": self.server.as_ref().map(|srv| {
                let mut v = usage_json(&srv.usage, self.deliveries.measured, "cpu_us_per_delivery");
                v["pid"] = srv.pids.first().copied().into();
                v["pids"] = srv.pids.clone().into();
                v["nodes"] = srv.pids.len().into();
                v["rss_idle_bytes"] = srv.rss_idle.into();
                v["rss_connected_bytes"] = srv.rss_connected.into();
                v["rss_per_connection_bytes"] = self.rss_per_connection().map(round3).into();
                v
            }),
            "engine": self.engine.as_ref().map(|e| {
                let mut v = usage_json(&e.usage, self.published.measured_events, "cpu_us_per_event");
                v["pid"] = e.pid.into();
                v
            }),
            "generator": usage_json(&self.generator, self.deliveries.measured, "cpu_us_per_frame"),
            "failover": self.failover.as_ref().map(|f| {
                let s = |d: Option<Duration>| d.map(|d| round3(d.as_secs_f64()));
                json!({
                    "subscribers": f.subscribers,
                    "resubscribed": f.resubscribed,
                    "recovered": f.recovered,
                    "all_resubscribed_s": s(f.all_resubscribed),
                    "all_recovered_s": s(f.all_recovered),
                    "p50_recovered_s": s(f.p50_recovered),
                })
            }),
            "other_processes_cpu_s": self.other_cpu().map(|c| round3(c.as_secs_f64())),
        })
    }

    /// CPU the rest of the machine used over the window (a busy machine skews the figures).
    fn other_cpu(&self) -> Option<Duration> {
        let server = match &self.server {
            Some(srv) => srv.usage.cpu?.total(),
            None => Duration::ZERO,
        };
        let engine = match &self.engine {
            Some(e) => e.usage.cpu?.total(),
            None => Duration::ZERO,
        };
        Some(
            self.machine_busy?
                .saturating_sub(server + engine + self.generator.cpu?.total()),
        )
    }

    /// The text table.
    pub(super) fn to_text(&self) -> String {
        let mut out = String::new();
        let s = &self.setup;
        let _ = writeln!(
            out,
            "socfeed bench: {} subscribers{} on `{}`, {}, batches of {}, {}-byte payloads, {} measured after {} warm-up",
            s.subscribers,
            match s.nodes {
                1 => String::new(),
                n => format!(" over {n} nodes"),
            },
            s.channel,
            s.pace,
            s.batch,
            s.payload_size,
            humantime::format_duration(s.duration),
            humantime::format_duration(s.warmup),
        );
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "  {name:<18} {value}");
        };
        row("server", format!("{} ({})", s.target, s.server_kind));
        if s.nodes > 1 {
            row(
                "nodes",
                format!(
                    "{} (subscribers spread over them in turn, publishing to the first)",
                    s.nodes
                ),
            );
        }
        row("connections", self.connections_line());
        row("published", self.published_line());
        row("deliveries", self.deliveries_line());
        row(
            "loss",
            format!(
                "{} (unexpected seqs: {})",
                self.deliveries.lost, self.deliveries.unexpected
            ),
        );
        row("duplicates", self.deliveries.duplicates.to_string());
        row("server closes", closes_line(&self.server_closes));
        row("delivery latency", quantiles_line(&self.latency, true));
        row("publish 202", quantiles_line(&self.publish_latency, false));
        if let Some(f) = &self.server_fanout {
            let ms = |d: Option<Duration>| {
                d.map_or("over the last bucket".to_owned(), |d| {
                    format!("≤ {:.3} ms", d.as_secs_f64() * 1000.0)
                })
            };
            row(
                "server fan-out",
                format!(
                    "p50 {}, p99 {} ({} sampled deliveries; acceptance → socket, at the server)",
                    ms(f.p50),
                    ms(f.p99),
                    f.count
                ),
            );
        }
        if let Some(f) = &self.failover {
            row("failover", failover_line(f));
        }
        if let Some(srv) = &self.server {
            row("server RSS", self.server_rss_line(srv));
            let mut cpu = usage_line(&srv.usage, self.deliveries.measured, "delivery");
            if srv.pids.len() > 1 {
                let _ = write!(cpu, "; summed over {} nodes", srv.pids.len());
            }
            row("server CPU", cpu);
        }
        if let Some(e) = &self.engine {
            row(
                "engine CPU",
                format!(
                    "pid {}: {}",
                    e.pid,
                    usage_line(&e.usage, self.published.measured_events, "event")
                ),
            );
        }
        row(
            "generator CPU",
            usage_line(&self.generator, self.deliveries.measured, "received frame"),
        );
        if let Some(other) = self.other_cpu() {
            let share = other.as_secs_f64() / self.generator.wall.as_secs_f64().max(1e-9);
            row(
                "other processes",
                format!(
                    "{:.2} s CPU ({:.1}% of a core)",
                    other.as_secs_f64(),
                    share * 100.0
                ),
            );
        }
        out
    }

    fn connections_line(&self) -> String {
        let c = &self.connections;
        let mut line = format!(
            "{} established, {} failed, in {:.2} s",
            c.established,
            c.failed,
            c.ramp_time.as_secs_f64()
        );
        if let Some(first) = &c.first_failure {
            let _ = write!(line, " (first failure: {first})");
        }
        line
    }

    fn published_line(&self) -> String {
        let p = &self.published;
        let failed: u64 = p.failures.values().sum();
        let mut line = format!(
            "{} events in the window ({:.1}/s), {} in all, {} requests, {} failed",
            p.measured_events,
            self.events_per_second(),
            p.events,
            p.requests,
            failed
        );
        if failed > 0 {
            let _ = write!(line, " {:?}", p.failures);
        }
        line
    }

    fn deliveries_line(&self) -> String {
        let d = &self.deliveries;
        let drained = if d.caught_up {
            format!(
                "every session caught up {:.3} s after publishing stopped",
                d.drain_time.as_secs_f64()
            )
        } else {
            format!(
                "NOT caught up after the {:.1} s drain",
                d.drain_time.as_secs_f64()
            )
        };
        format!(
            "{} in the window ({:.0}/s), {} frames in all; {drained}",
            d.measured,
            self.deliveries_per_second(),
            d.frames
        )
    }

    fn server_rss_line(&self, srv: &ServerUsage) -> String {
        let pids = srv
            .pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut line = match srv.pids.len() {
            1 => format!("pid {pids}: {} idle", mib(srv.rss_idle)),
            n => format!(
                "{n} nodes (pids {pids}), summed: {} idle",
                mib(srv.rss_idle)
            ),
        };
        let _ = write!(line, ", {} connected", mib(srv.rss_connected));
        if let Some(per) = self.rss_per_connection() {
            let _ = write!(line, " ({:+.1} KiB per connection)", per / 1024.0);
        }
        let _ = write!(line, ", {} at the end", mib(srv.usage.rss_end));
        line
    }
}

fn failover_line(f: &super::failover::Summary) -> String {
    let s = |d: Option<Duration>| {
        d.map_or("not all".to_owned(), |d| {
            format!("{:.3} s", d.as_secs_f64())
        })
    };
    format!(
        "node 0 killed: {} of {} subscribers resubscribed (all within {}), {} received an event \
         published after the kill (all within {}, median {})",
        f.resubscribed,
        f.subscribers,
        s(f.all_resubscribed),
        f.recovered,
        s(f.all_recovered),
        s(f.p50_recovered),
    )
}

fn quantiles_json(h: &Histogram<u64>) -> Value {
    json!({
        "samples": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p99_9": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": round3(h.mean() / 1000.0),
    })
}

fn quantiles_line(h: &Histogram<u64>, full: bool) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    let q = |q: f64| format!("{:.3}", ms(h.value_at_quantile(q)));
    if full {
        format!(
            "p50 {} ms  p90 {} ms  p99 {} ms  p99.9 {} ms  max {:.3} ms  ({} samples)",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            ms(h.max()),
            h.len()
        )
    } else {
        format!(
            "p50 {} ms  p99 {} ms  max {:.3} ms  ({} requests)",
            q(0.5),
            q(0.99),
            ms(h.max()),
            h.len()
        )
    }
}

fn closes_line(closes: &BTreeMap<String, u64>) -> String {
    if closes.is_empty() {
        return "none".into();
    }
    closes
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage_line(u: &Usage, count: u64, unit: &str) -> String {
    let Some(cpu) = u.cpu else {
        return "not measured".into();
    };
    let mut line = format!(
        "{:.2} s (user {:.2}, system {:.2}) over {:.2} s ({:.1}% of a core)",
        cpu.total().as_secs_f64(),
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64(),
        u.wall.as_secs_f64(),
        cpu_share(u).unwrap_or(0.0) * 100.0
    );
    if let Some(us) = per(u, count) {
        let _ = write!(line, ", {us:.2} µs per {unit}");
    }
    line
}

fn usage_json(u: &Usage, count: u64, per_key: &str) -> Value {
    let secs = |d: Duration| round3(d.as_secs_f64());
    let mut v = json!({
        "cpu_s": u.cpu.map(|c| secs(c.total())),
        "cpu_user_s": u.cpu.map(|c| secs(c.user)),
        "cpu_system_s": u.cpu.map(|c| secs(c.system)),
        "cpu_share": cpu_share(u).map(round3),
        "wall_s": secs(u.wall),
        "rss_end_bytes": u.rss_end,
    });
    v[per_key] = per(u, count).map(round3).into();
    v
}

/// CPU time as a share of one core over the window.
fn cpu_share(u: &Usage) -> Option<f64> {
    let wall = u.wall.as_secs_f64();
    (wall > 0.0).then_some(u.cpu?.total().as_secs_f64() / wall)
}

/// Microseconds of CPU per unit of work.
fn per(u: &Usage, count: u64) -> Option<f64> {
    (count > 0).then_some(u.cpu?.total().as_secs_f64() * 1e6 / count as f64)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "?".into(),
        |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    )
}
