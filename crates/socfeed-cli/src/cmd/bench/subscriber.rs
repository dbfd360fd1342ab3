//! One subscriber: connect on AiSOC, subscribe, wait for the ack (then, for GOVERN, reconnect to
//! the GOVERN feed after the acknowledged head), then count every event frame:
//! its seq (duplicates, and later loss) and, for events sent after the warm-up, the time from
//! publish to delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::failover::Marks;
use super::seqset::{Insert, SeqSet};
use super::wire;

/// Connecting and getting the subscribe ack must take no longer than this.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a subscriber waits for its close frame to go out at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Latencies are recorded in microseconds, up to a minute, with 3 significant digits.
pub(super) const LATENCY_MAX_US: u64 = 60_000_000;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What every subscriber needs to know: where to connect and what to send.
pub(super) struct Plan {
    /// `ws://…/ws?token=…`
    pub(super) url: String,
    /// `{"type":"subscribe","channel":…}`; none for nchan, where the URL is the subscription and
    /// seqs start at 1.
    pub(super) subscribe: Option<String>,
    /// With GOVERN subscribers, where they read from once the AiSOC WebSocket told them the
    /// head (they resume exactly after it).
    pub(super) follow: Option<Follow>,
    /// Where to resubscribe when the connection is lost (`--kill-node-after`).
    pub(super) resume: Option<Resume>,
}

/// The other nodes' AiSOC WebSocket URLs (with the token), and the channel to subscribe to
/// there with `since`.
pub(super) struct Resume {
    pub(super) urls: Vec<String>,
    pub(super) channel: String,
}

/// A GOVERN feed to read instead of the AiSOC WebSocket.
pub(super) enum Follow {
    /// `http://…/v1/soc/feed/sse?token=…`, resumed with `Last-Event-ID`.
    Sse(String),
    /// `ws://…/v1/soc/feed?token=…`, resumed with `&since=`.
    GovernWs(String),
}

/// One subscriber's live state, as the coordinator sees it while draining.
#[derive(Default)]
struct Progress {
    /// Highest seq received so far.
    last_seq: AtomicU64,
    /// Subscribed and not closed yet.
    open: AtomicBool,
    /// Unix ns of the resubscribe ack after a lost connection; 0 for none.
    resubscribed_ns: AtomicU64,
    /// Unix ns of the first event published after the kill received once resubscribed; 0 for none.
    recovered_ns: AtomicU64,
}

/// Shared by the coordinator and every subscriber.
pub(super) struct Board {
    /// Subscribers whose handshake finished, one way or the other.
    settled: AtomicUsize,
    /// Events sent (per their `t`) at or after this instant are measured; `u64::MAX` until set.
    measure_from_ns: AtomicU64,
    /// Tells every subscriber to close and report.
    stop: CancellationToken,
    /// Unix ns at which node 0 was killed; `u64::MAX` until then.
    killed_ns: AtomicU64,
    progress: Vec<Progress>,
}

impl Board {
    pub(super) fn new(subscribers: usize) -> Arc<Board> {
        Arc::new(Board {
            settled: AtomicUsize::new(0),
            measure_from_ns: AtomicU64::new(u64::MAX),
            stop: CancellationToken::new(),
            killed_ns: AtomicU64::new(u64::MAX),
            progress: (0..subscribers).map(|_| Progress::default()).collect(),
        })
    }

    pub(super) fn settled(&self) -> usize {
        self.settled.load(Ordering::Acquire)
    }

    pub(super) fn open(&self) -> usize {
        self.progress
            .iter()
            .filter(|p| p.open.load(Ordering::Relaxed))
            .count()
    }

    pub(super) fn measure_from(&self, unix_ns: u64) {
        self.measure_from_ns.store(unix_ns, Ordering::Relaxed);
    }

    /// Whether every open subscriber has received `seq` (events of a channel arrive in seq order).
    pub(super) fn caught_up(&self, seq: u64) -> bool {
        self.progress
            .iter()
            .all(|p| !p.open.load(Ordering::Relaxed) || p.last_seq.load(Ordering::Relaxed) >= seq)
    }

    pub(super) fn stop(&self) {
        self.stop.cancel();
    }

    /// Notes the instant node 0 is killed (events sent from then on count as after the kill).
    pub(super) fn killed(&self, unix_ns: u64) {
        self.killed_ns.store(unix_ns, Ordering::Relaxed);
    }

    /// Every subscriber's resubscribe and recovery times.
    pub(super) fn failover_marks(&self) -> Vec<Marks> {
        let mark = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|t| *t != 0);
        self.progress
            .iter()
            .map(|p| Marks {
                resubscribed: mark(&p.resubscribed_ns),
                recovered: mark(&p.recovered_ns),
            })
            .collect()
    }
}

/// How a subscriber's session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ending {
    /// We closed it at the end of the run.
    Stopped,
    /// The server sent a close frame with this code (1005 when it had none).
    ServerClosed(u16),
    /// The connection went away without a close frame.
    Dropped,
    /// A read failed.
    Error(String),
}

/// What a subscriber reports at the end.
pub(super) enum Outcome {
    /// The connection or the subscribe failed.
    Failed(String),
    /// It was subscribed; these are its counts.
    Ran(Box<Stats>),
}

/// One subscriber's counts.
pub(super) struct Stats {
    /// Publish→deliver latency of measured events, in microseconds.
    pub(super) latency: Histogram<u64>,
    /// Seqs received (after the head acknowledged on subscribe).
    pub(super) seen: SeqSet,
    /// Event frames received, duplicates included.
    pub(super) received: u64,
    /// Event frames of measured events (sent after the warm-up).
    pub(super) measured: u64,
    /// Event frames whose seq had been received before.
    pub(super) duplicates: u64,
    /// Event frames with a seq at or below the subscribe head, or implausibly far ahead.
    pub(super) unexpected: u64,
    pub(super) ending: Ending,
    last_seq: u64,
    /// Once resubscribed after a lost connection: events sent at or after this (the kill) count
    /// as its recovery. `u64::MAX` before.
    recover_from_ns: u64,
}

/// Runs one subscriber until the board says stop or the server closes it.
pub(super) async fn run(index: usize, plan: Arc<Plan>, board: Arc<Board>) -> Outcome {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_and_subscribe(&plan));
    let result = tokio::select! {
        r = handshake => r.unwrap_or_else(|_| Err(anyhow::anyhow!("no subscribe ack within {HANDSHAKE_TIMEOUT:?}"))),
        () = board.stop.cancelled() => Err(anyhow::anyhow!("stopped before the subscribe ack")),
    };
    let progress = &board.progress[index];
    let started = result.and_then(|(ws, head)| Ok((ws, Stats::new(head)?)));
    let (mut ws, mut stats) = match started {
        Ok(ok) => ok,
        Err(e) => {
            board.settled.fetch_add(1, Ordering::Release);
            return Outcome::Failed(format!("{e:#}"));
        }
    };
    if let Some(Follow::GovernWs(url)) = &plan.follow {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
        drop(ws);
        let url = format!("{url}&since={}", stats.last_seq);
        let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws_connect(&url)).await;
        let mut feed = match opened {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                board.settled.fetch_add(1, Ordering::Release);
                return Outcome::Failed(format!("{e:#}"));
            }
            Err(_) => {
                board.settled.fetch_add(1, Ordering::Release);
                return Outcome::Failed(format!(
                    "no GOVERN handshake within {HANDSHAKE_TIMEOUT:?}"
                ));
            }
        };
        progress.open.store(true, Ordering::Relaxed);
        board.settled.fetch_add(1, Ordering::Release);
        stats.ending = stats.receive(&mut feed, &board, progress).await;
        progress.open.store(false, Ordering::Relaxed);
        if stats.ending == Ending::Stopped {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, feed.close(None)).await;
        }
        return Outcome::Ran(Box::new(stats));
    }
    if let Some(Follow::Sse(url)) = &plan.follow {
        // The head is known: the WebSocket's work is done, the stream resumes after it.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
        drop(ws);
        let head = stats.last_seq.to_string();
        let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, sse_connect(url, &head)).await;
        let response = match opened {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                board.settled.fetch_add(1, Ordering::Release);
                return Outcome::Failed(format!("{e:#}"));
            }
            Err(_) => {
                board.settled.fetch_add(1, Ordering::Release);
                return Outcome::Failed(format!("no SSE response within {HANDSHAKE_TIMEOUT:?}"));
            }
        };
        progress.open.store(true, Ordering::Relaxed);
        board.settled.fetch_add(1, Ordering::Release);
        stats.ending = stats.receive_sse(response, &board, progress).await;
        progress.open.store(false, Ordering::Relaxed);
        return Outcome::Ran(Box::new(stats));
    }
    progress.open.store(true, Ordering::Relaxed);
    board.settled.fetch_add(1, Ordering::Release);
    loop {
        stats.ending = stats.receive(&mut ws, &board, progress).await;
        progress.open.store(false, Ordering::Relaxed);
        let Some(resume) = plan
            .resume
            .as_ref()
            .filter(|_| stats.ending != Ending::Stopped)
        else {
            break;
        };
        let Some(again) = resubscribe(index, resume, stats.last_seq, &board).await else {
            break;
        };
        ws = again;
        stats.recover_from_ns = board.killed_ns.load(Ordering::Relaxed);
        progress
            .resubscribed_ns
            .store(wire::unix_nanos(), Ordering::Relaxed);
        progress.open.store(true, Ordering::Relaxed);
    }
    if stats.ending == Ending::Stopped {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
    }
    Outcome::Ran(Box::new(stats))
}

/// How long a lost subscriber keeps trying the other nodes, and how long it waits between tries.
const RESUBSCRIBE_FOR: Duration = Duration::from_secs(30);
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(50);

/// Subscribes again on another node (in turn from `index`) with `since` = `last_seq`, until it
/// works, the run stops, or [`RESUBSCRIBE_FOR`]; the socket once acknowledged.
async fn resubscribe(index: usize, resume: &Resume, last_seq: u64, board: &Board) -> Option<Ws> {
    let subscribe =
        serde_json::json!({"type": "subscribe", "channel": resume.channel, "since": last_seq})
            .to_string();
    let deadline = tokio::time::Instant::now() + RESUBSCRIBE_FOR;
    for attempt in 0.. {
        let url = resume
            .urls
            .get((index + attempt) % resume.urls.len().max(1))?;
        let tried = tokio::time::timeout(HANDSHAKE_TIMEOUT, subscribe_at(url, &subscribe));
        let done = tokio::select! {
            r = tried => r.ok().and_then(Result::ok),
            () = board.stop.cancelled() => return None,
        };
        if let Some((ws, _head)) = done {
            return Some(ws);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
    }
    None
}

/// Opens the SSE stream resuming after `last_event_id`.
async fn sse_connect(url: &str, last_event_id: &str) -> anyhow::Result<reqwest::Response> {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream")
        .header("last-event-id", last_event_id)
        .send()
        .await
        .context("connecting the SSE stream")?;
    if !response.status().is_success() {
        bail!("the SSE stream was refused with {}", response.status());
    }
    Ok(response)
}

/// Opens a WebSocket with small buffers (the generator holds thousands).
async fn ws_connect(url: &str) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .context("connecting")?;
    Ok(ws)
}

/// Connects, subscribes and returns the socket with the head seq of the ack.
async fn connect_and_subscribe(plan: &Plan) -> anyhow::Result<(Ws, u64)> {
    match &plan.subscribe {
        Some(subscribe) => subscribe_at(&plan.url, subscribe).await,
        None => Ok((ws_connect(&plan.url).await?, 0)),
    }
}

/// Connects to `url`, sends `subscribe` and waits for its ack: the socket and the ack's head.
async fn subscribe_at(url: &str, subscribe: &str) -> anyhow::Result<(Ws, u64)> {
    let mut ws = ws_connect(url).await?;
    ws.send(Message::text(subscribe))
        .await
        .context("sending subscribe")?;
    loop {
        let msg = ws
            .next()
            .await
            .context("closed before the subscribe ack")?
            .context("reading the subscribe ack")?;
        match msg {
            Message::Text(text) => {
                if let Some(head) = subscribe_ack(text.as_str())? {
                    return Ok((ws, head));
                }
            }
            Message::Close(frame) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                bail!("closed by the server with {code} before the subscribe ack");
            }
            _ => {}
        }
    }
}

/// The head seq of a `subscribed` ack; `None` for other frames (pings); an error for `error`.
fn subscribe_ack(text: &str) -> anyhow::Result<Option<u64>> {
    let value: serde_json::Value =
        serde_json::from_str(text).context("the server sent a frame that is not JSON")?;
    match value["type"].as_str() {
        Some("subscribed") => {
            let head = value["payload"]["seq"]
                .as_u64()
                .context("subscribe ack without a seq")?;
            Ok(Some(head))
        }
        Some("error") => bail!("subscribe refused: {}", value["payload"]),
        _ => Ok(None),
    }
}

impl Stats {
    fn new(head: u64) -> anyhow::Result<Stats> {
        Ok(Stats {
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
                .context("creating a histogram")?,
            seen: SeqSet::after(head),
            received: 0,
            measured: 0,
            duplicates: 0,
            unexpected: 0,
            ending: Ending::Stopped,
            last_seq: head,
            recover_from_ns: u64::MAX,
        })
    }

    async fn receive(&mut self, ws: &mut Ws, board: &Board, progress: &Progress) -> Ending {
        let stop = board.stop.cancelled();
        tokio::pin!(stop);
        loop {
            let msg = tokio::select! {
                biased;
                () = &mut stop => return Ending::Stopped,
                msg = ws.next() => msg,
            };
            match msg {
                Some(Ok(Message::Text(text))) => {
                    self.on_frame(
                        text.as_bytes(),
                        board.measure_from_ns.load(Ordering::Relaxed),
                        progress,
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ending::ServerClosed(frame.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ending::Error(e.to_string()),
                None => return Ending::Dropped,
            }
        }
    }

    /// Reads SSE events until stopped: every `data:` line is a GOVERN envelope (heartbeats carry
    /// no seq and are skipped by `on_frame`).
    async fn receive_sse(
        &mut self,
        response: reqwest::Response,
        board: &Board,
        progress: &Progress,
    ) -> Ending {
        let mut body = response.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        let stop = board.stop.cancelled();
        tokio::pin!(stop);
        loop {
            let chunk = tokio::select! {
                biased;
                () = &mut stop => return Ending::Stopped,
                chunk = body.next() => chunk,
            };
            let chunk = match chunk {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Ending::Error(e.to_string()),
                None => return Ending::Dropped,
            };
            pending.extend_from_slice(&chunk);
            let measure_from = board.measure_from_ns.load(Ordering::Relaxed);
            let mut start = 0;
            while let Some(end) = pending[start..].iter().position(|b| *b == b'\n') {
                let line = &pending[start..start + end];
                if let Some(data) = line.strip_prefix(b"data: ") {
                    self.on_frame(data, measure_from, progress);
                }
                start += end + 1;
            }
            pending.drain(..start);
        }
    }

    /// The hot path: two substring searches, a bit set, a histogram record.
    fn on_frame(&mut self, frame: &[u8], measure_from_ns: u64, progress: &Progress) {
        let Some(seq) = wire::seq(frame) else { return };
        self.received += 1;
        match self.seen.insert(seq) {
            Insert::New => {}
            Insert::Again => {
                self.duplicates += 1;
                return;
            }
            Insert::OutOfRange => {
                self.unexpected += 1;
                return;
            }
        }
        if seq > self.last_seq {
            self.last_seq = seq;
            progress.last_seq.store(seq, Ordering::Relaxed);
        }
        let Some(sent_ns) = wire::sent_at(frame) else {
            return;
        };
        if sent_ns >= measure_from_ns {
            let latency_us = wire::unix_nanos().saturating_sub(sent_ns) / 1_000;
            self.latency.saturating_record(latency_us);
            self.measured += 1;
        }
        if sent_ns >= self.recover_from_ns {
            self.recover_from_ns = u64::MAX;
            progress
                .recovered_ns
                .store(wire::unix_nanos(), Ordering::Relaxed);
        }
    }
}
