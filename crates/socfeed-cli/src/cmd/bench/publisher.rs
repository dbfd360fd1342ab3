//! The publisher: `POST /v1/events` at a fixed rate (open loop, a request per tick whatever the
//! replies do) or as fast as the 202s come back (closed loop). It keeps every acknowledged seq,
//! which is what subscribers must receive, and the latency of each 202.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use super::subscriber::LATENCY_MAX_US;
use super::wire;

/// One publish request may take this long before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At a fixed rate, at most this many requests are in flight; further ticks wait for a slot.
const MAX_IN_FLIGHT: usize = 64;

/// How fast to publish.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pace {
    /// Open loop: this many events a second.
    Rate(f64),
    /// Closed loop: `concurrency` requests in flight, each followed at once by the next.
    Max { concurrency: usize },
}

/// What to publish, how, and when.
pub(super) struct Plan {
    /// `http://…/v1/events`
    pub(super) url: String,
    pub(super) token: String,
    /// The server is nginx + nchan: one message per request, its seq numbered here.
    pub(super) nchan: bool,
    /// The next seq this publisher numbers (nchan only; socfeed assigns its own).
    pub(super) next_seq: AtomicU64,
    pub(super) event_type: String,
    pub(super) payload_size: usize,
    /// Events per request.
    pub(super) batch: usize,
    pub(super) pace: Pace,
    pub(super) start: Instant,
    /// Requests sent from here on are measured (the time before is the warm-up).
    pub(super) measure_from: Instant,
    /// No request is sent from here on.
    pub(super) end: Instant,
}

/// What the publisher did.
pub(super) struct Report {
    /// Every acknowledged seq, sorted, without repeats.
    pub(super) acked: Vec<u64>,
    /// Requests sent, failed ones included.
    pub(super) requests: u64,
    /// Events acknowledged for requests sent in the measured window.
    pub(super) measured_events: u64,
    /// Failed requests by reason (`HTTP 503`, `timeout`, …).
    pub(super) failures: BTreeMap<String, u64>,
    /// Time to the 202 of measured requests, in microseconds.
    pub(super) latency: Histogram<u64>,
}

/// One finished request.
struct Sent {
    started: Instant,
    elapsed: Duration,
    result: Result<Vec<u64>, String>,
}

/// Publishes from `plan.start` to `plan.end`, then waits for the requests still in flight.
pub(super) async fn run(plan: Plan) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let plan = Arc::new(plan);
    let mut report = match plan.pace {
        Pace::Rate(rate) => open_loop(&plan, &client, rate).await?,
        Pace::Max { concurrency } => closed_loop(&plan, &client, concurrency).await?,
    };
    report.acked.sort_unstable();
    report.acked.dedup();
    Ok(report)
}

async fn open_loop(
    plan: &Arc<Plan>,
    client: &reqwest::Client,
    rate: f64,
) -> anyhow::Result<Report> {
    let period = Duration::from_secs_f64(plan.batch as f64 / rate);
    let mut ticker = tokio::time::interval_at(plan.start, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    let mut report = Report::new()?;
    loop {
        if ticker.tick().await >= plan.end {
            break;
        }
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .context("publisher slots closed")?;
        let (task_plan, client) = (Arc::clone(plan), client.clone());
        in_flight.spawn(async move {
            let sent = post(&client, &task_plan).await;
            drop(slot);
            sent
        });
        while let Some(done) = in_flight.try_join_next() {
            report.absorb(done, plan.measure_from);
        }
    }
    while let Some(done) = in_flight.join_next().await {
        report.absorb(done, plan.measure_from);
    }
    Ok(report)
}

async fn closed_loop(
    plan: &Arc<Plan>,
    client: &reqwest::Client,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (plan, client) = (Arc::clone(plan), client.clone());
        workers.spawn(async move {
            let mut report = Report::new()?;
            tokio::time::sleep_until(plan.start).await;
            while Instant::now() < plan.end {
                report.absorb(Ok(post(&client, &plan).await), plan.measure_from);
            }
            anyhow::Ok(report)
        });
    }
    let mut total = Report::new()?;
    while let Some(done) = workers.join_next().await {
        total.merge(done.context("a publisher task failed")??)?;
    }
    Ok(total)
}

/// Sends one batch stamped with the current time.
async fn post(client: &reqwest::Client, plan: &Plan) -> Sent {
    let started = Instant::now();
    let result = if plan.nchan {
        let seq = plan.next_seq.fetch_add(1, Ordering::Relaxed);
        let body = wire::nchan_message(seq, plan.payload_size, wire::unix_nanos());
        send_nchan(client, plan, body, seq).await
    } else {
        let body = wire::publish_body(
            &plan.event_type,
            plan.batch,
            plan.payload_size,
            wire::unix_nanos(),
        );
        send(client, plan, body).await
    };
    Sent {
        started,
        elapsed: started.elapsed(),
        result,
    }
}

async fn send(client: &reqwest::Client, plan: &Plan, body: String) -> Result<Vec<u64>, String> {
    let response = client
        .post(&plan.url)
        .bearer_auth(&plan.token)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| failure(&e))?;
    if status != StatusCode::ACCEPTED {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    acked_seqs(&bytes).ok_or_else(|| "unreadable 202 reply".to_owned())
}

/// One message to nchan's publisher location; any 2xx acknowledges it.
async fn send_nchan(
    client: &reqwest::Client,
    plan: &Plan,
    body: String,
    seq: u64,
) -> Result<Vec<u64>, String> {
    let response = client
        .post(&plan.url)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    let status = response.status();
    response.bytes().await.map_err(|e| failure(&e))?;
    match status.is_success() {
        true => Ok(vec![seq]),
        false => Err(format!("HTTP {}", status.as_u16())),
    }
}

/// A short, bounded set of failure names (they key a map).
fn failure(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else if e.is_body() || e.is_decode() {
        "reply body error"
    } else {
        "request error"
    };
    kind.to_owned()
}

/// The seqs of a 202 reply: `{"accepted":n,"events":[{"id","seq","tenant_id"},…]}`.
fn acked_seqs(body: &[u8]) -> Option<Vec<u64>> {
    let reply: serde_json::Value = serde_json::from_slice(body).ok()?;
    reply["events"]
        .as_array()?
        .iter()
        .map(|e| e["seq"].as_u64())
        .collect()
}

impl Report {
    fn new() -> anyhow::Result<Report> {
        Ok(Report {
            acked: Vec::new(),
            requests: 0,
            measured_events: 0,
            failures: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
                .context("creating a histogram")?,
        })
    }

    fn absorb(&mut self, done: Result<Sent, JoinError>, measure_from: Instant) {
        self.requests += 1;
        let sent = match done {
            Ok(sent) => sent,
            Err(_) => {
                *self
                    .failures
                    .entry("publisher task failed".into())
                    .or_default() += 1;
                return;
            }
        };
        match sent.result {
            Ok(seqs) => {
                if sent.started >= measure_from {
                    self.latency
                        .saturating_record(sent.elapsed.as_micros().try_into().unwrap_or(u64::MAX));
                    self.measured_events += seqs.len() as u64;
                }
                self.acked.extend(seqs);
            }
            Err(reason) => *self.failures.entry(reason).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Report) -> anyhow::Result<()> {
        self.acked.extend(other.acked);
        self.requests += other.requests;
        self.measured_events += other.measured_events;
        for (reason, n) in other.failures {
            *self.failures.entry(reason).or_default() += n;
        }
        self.latency
            .add(&other.latency)
            .context("merging publish latencies")?;
        Ok(())
    }

    /// Highest acknowledged seq (0 when nothing was acknowledged).
    pub(super) fn last_seq(&self) -> u64 {
        self.acked.last().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_acked_seqs() {
        let body = br#"{"accepted":2,"events":[{"id":"evt_a","seq":7,"tenant_id":"b"},{"id":"evt_b","seq":8,"tenant_id":"b"}]}"#;
        assert_eq!(acked_seqs(body), Some(vec![7, 8]));
        assert_eq!(acked_seqs(b"{}"), None);
        assert_eq!(acked_seqs(b"not json"), None);
    }
}
