//! The replay→live seam under concurrent publishing, one way in at a time: an AiSOC subscribe
//! with `since`, the GOVERN WebSocket's `feed.replay`, GOVERN SSE. A backlog larger than the
//! recent-events cache is replayed in small log pages while a publisher keeps going, and the
//! client receives every event it asked for exactly once, in seq order, and nothing else.
//!
//! The last test has clients of every way in reconnect after every few events instead: many
//! short seams, each with events in flight.
//!
//! One publisher per fresh tenant: event number `n` gets seq `n`, so what a client should
//! receive is known from [`kind`] alone. No timing is asserted, only counts and orders.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socfeed_server::Engine;
use socfeed_testkit::{SseClient, TestServer, WAIT, WsClient, pub_token, sub_token};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Events published before the client connects.
const BACKLOG: u64 = 3000;
/// Events published while the client connects, replays and goes live.
const LIVE: u64 = 1000;
const TOTAL: u64 = BACKLOG + LIVE;
/// Live events published before the publisher waits for the client's first sign of life.
const HEAD_START: u64 = 100;
/// Events per publish while the client joins.
const LIVE_BATCH: u64 = 20;
const TENANT: &str = "acme";
/// Padding of each `alert.new` in the backlog (one event in five, and wanted by every client
/// here): the backlog a client is sent (at least 600 of them, 7 MB) is then larger than what
/// the socket buffers between server and client take in (about 4 MB on Linux), so a client
/// that stops reading stops a replay in the middle.
const PAD: usize = 12_000;

/// Type and severity of event number `n`: four channels, three severities and events without one.
fn kind(n: u64) -> (&'static str, Option<&'static str>) {
    match n % 5 {
        0 => ("alert.new", Some("high")),
        1 => ("case.updated", None),
        2 => ("alert.created", Some("low")),
        3 => ("system.score_changed", None),
        _ => ("detection.fired", Some("critical")),
    }
}

fn channel(event_type: &str) -> &'static str {
    match event_type.split('.').next() {
        Some("alert") => "alerts",
        Some("case") => "cases",
        Some("system") => "systems",
        Some("detection") => "detections",
        _ => panic!("no such type published: {event_type}"),
    }
}

/// Event number `n` as published, with `pad` bytes of padding if it is an `alert.new`.
fn event(n: u64, pad: usize) -> Value {
    let (event_type, severity) = kind(n);
    let mut payload = json!({"n": n});
    if event_type == "alert.new" && pad > 0 {
        payload["pad"] = "x".repeat(pad).into();
    }
    if let Some(s) = severity {
        payload["severity"] = s.into();
    }
    json!({"type": event_type, "payload": payload})
}

/// The seqs after `after` (up to [`TOTAL`]) that `keep` selects.
fn expected(after: u64, keep: impl Fn(u64) -> bool) -> Vec<u64> {
    (after + 1..=TOTAL).filter(|n| keep(*n)).collect()
}

fn last_of(want: &[u64]) -> u64 {
    *want.last().expect("something is expected")
}

/// A server whose replays cross log pages (64 events), the edge of the recent-events cache
/// (`cache` events, fewer than the backlog) and catch-up rounds (a session counts as far behind
/// beyond half its queue, 256 events). The embedded log answers a publish before the hub hands
/// the events on, so a session can read a head whose events are still on their way to it; the
/// memory log does both at once.
async fn server(cache: usize, log: Engine) -> Arc<TestServer> {
    Arc::new(
        TestServer::start_with(|c| {
            c.engine = log;
            c.replay_batch = 64;
            c.replay_cache = cache;
            c.queue_len = 512;
        })
        .await,
    )
}

/// Publishes events `from..=to`, `batch` at a time, checking that event `n` got seq `n`.
async fn publish_range(
    s: &TestServer,
    token: &str,
    (from, to): (u64, u64),
    batch: u64,
    pad: usize,
) {
    let mut n = from;
    while n <= to {
        let end = (n + batch - 1).min(to);
        let events: Vec<Value> = (n..=end).map(|n| event(n, pad)).collect();
        let seqs = s.publish_batch(token, &events).await;
        assert_eq!(seqs, (n..=end).collect::<Vec<_>>(), "event n gets seq n");
        n = end + 1;
    }
}

/// Events `1..=BACKLOG`, with `pad` bytes in each `alert.new`.
async fn publish_backlog(s: &TestServer, pad: usize) {
    publish_range(s, &pub_token(TENANT), (1, BACKLOG), 250, pad).await;
}

/// Publishes the live events (`BACKLOG + 1..=TOTAL`) in small batches from another task. For
/// each stage `at` it publishes up to event `at`, then waits for the stage's [`Hold`] to be
/// released (bounded by [`WAIT`]: a client that failed drops its hold and the publisher goes on).
fn live_publisher<const N: usize>(
    s: &Arc<TestServer>,
    stages: [u64; N],
) -> (JoinHandle<()>, [Hold; N]) {
    let (progress, published) = watch::channel(BACKLOG);
    let mut gates = Vec::new();
    let holds = stages.map(|at| {
        let (gate, gated) = oneshot::channel();
        gates.push((at, gated));
        Hold {
            gate,
            published: published.clone(),
            until: at + PAUSE,
        }
    });
    let s = Arc::clone(s);
    let task = tokio::spawn(async move {
        let token = pub_token(TENANT);
        let mut next = BACKLOG + 1;
        let mut publish_to = async |to: u64| {
            while next <= to {
                let end = (next + LIVE_BATCH - 1).min(to);
                publish_range(&s, &token, (next, end), LIVE_BATCH, 0).await;
                progress.send_replace(end);
                next = end + 1;
            }
        };
        for (at, gated) in gates {
            publish_to(at).await;
            let _ = tokio::time::timeout(WAIT, gated).await;
        }
        publish_to(TOTAL).await;
    });
    (task, holds)
}

/// A client's hold on the live publisher. The client releases it on its first sign of life
/// (an ack, a first replay part, a first event): the publisher goes on, and the client stops
/// reading until [`PAUSE`] more events are out. A replay still under way then blocks on the
/// socket while the head moves on by more than the session's slack, so it has to catch up
/// again before registering; a session already live queues at most that many events.
struct Hold {
    gate: oneshot::Sender<()>,
    published: watch::Receiver<u64>,
    until: u64,
}

/// Events a client lets by while it does not read: more than the slack of a session with a
/// 512-event queue (256), well short of the queue itself.
const PAUSE: u64 = 350;

impl Hold {
    async fn release(mut self) {
        let _ = self.gate.send(());
        let until = self.until;
        let _ = tokio::time::timeout(WAIT, self.published.wait_for(|p| *p >= until)).await;
    }
}

/// Seq and type of a delivered event in either envelope, after checking that it is the event
/// published as number `seq`.
fn delivered(m: &Value) -> (u64, String) {
    let seq = m["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an event: {m}"));
    let event_type = m
        .get("type")
        .or_else(|| m.get("event"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no type: {m}"));
    let payload = m.get("payload").or_else(|| m.get("data")).expect("payload");
    assert_eq!(
        (payload["n"].as_u64(), event_type),
        (Some(seq), kind(seq).0),
        "seq {seq} carries event number {seq}: {m}"
    );
    (seq, event_type.to_owned())
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| delivered(e).0).collect()
}

/// Asserts that `got` is exactly `want`; otherwise names the duplicates, the missing seqs, the
/// unexpected ones and the first pair out of order.
fn assert_exactly_once_in_order(what: &str, got: &[u64], want: &[u64]) {
    if let Some(problem) = exactly_once_in_order(what, got, want) {
        panic!("{problem}");
    }
}

fn exactly_once_in_order(what: &str, got: &[u64], want: &[u64]) -> Option<String> {
    if got == want {
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut duplicates: Vec<u64> = got.iter().copied().filter(|s| !seen.insert(*s)).collect();
    duplicates.truncate(10);
    let wanted: BTreeSet<u64> = want.iter().copied().collect();
    let missing: Vec<u64> = wanted.difference(&seen).copied().take(10).collect();
    let unexpected: Vec<u64> = seen.difference(&wanted).copied().take(10).collect();
    let disorder = got.windows(2).find(|w| w[0] >= w[1]);
    Some(format!(
        "{what}: {} events received, {} expected; duplicates {duplicates:?}, missing \
         {missing:?}, unexpected {unexpected:?}, first out of order {disorder:?}",
        got.len(),
        want.len()
    ))
}

/// The next WebSocket message that is not a ping or heartbeat; `awaiting` says what the test
/// waits for when nothing comes.
async fn next_ws(c: &mut WsClient, awaiting: impl Fn() -> String) -> Value {
    loop {
        match c.next_json_within(WAIT).await {
            Ok(Some(m)) if m["type"] == "ping" || m["event"] == "feed.heartbeat" => continue,
            Ok(Some(m)) => return m,
            Ok(None) => panic!("nothing within {WAIT:?} while waiting for {}", awaiting()),
            Err(closed) => panic!("closed ({closed:?}) while waiting for {}", awaiting()),
        }
    }
}

/// Reads AiSOC messages until each seq of `until` has arrived; returns them all (events and
/// `subscribed` acks) in arrival order. Anything else fails the test.
async fn read_aisoc(c: &mut WsClient, until: &[u64]) -> Vec<Value> {
    let mut waiting: BTreeSet<u64> = until.iter().copied().collect();
    let mut out: Vec<Value> = Vec::new();
    while !waiting.is_empty() {
        let m = next_ws(c, || {
            format!(
                "seqs {waiting:?} ({} messages so far, the last {:?})",
                out.len(),
                out.last()
            )
        })
        .await;
        match m["seq"].as_u64() {
            Some(seq) => {
                waiting.remove(&seq);
            }
            None => assert_eq!(m["type"], "subscribed", "unexpected message {m}"),
        }
        out.push(m);
    }
    out
}

/// A GOVERN `feed.replay` read part by part: `hold` is released once the first part arrived.
/// Checks that every part but the last has `more: true`, that all parts agree on `from`, `to`,
/// `truncated` and `epoch`, and that nothing was truncated. Returns the events and the number
/// of parts.
async fn read_replay(c: &mut WsClient, mut hold: Option<Hold>) -> (Vec<Value>, u32) {
    let mut events = Vec::new();
    let mut header: Option<Value> = None;
    let mut parts = 0;
    loop {
        let part = next_ws(c, || format!("feed.replay part {}", parts + 1)).await;
        assert_eq!(part["event"], "feed.replay", "{part}");
        parts += 1;
        let data = &part["data"];
        let h = json!([data["from"], data["to"], data["truncated"], data["epoch"]]);
        match &header {
            None => header = Some(h),
            Some(first) => assert_eq!(*first, h, "part {parts} differs from the first"),
        }
        assert_eq!(data["truncated"], false, "{part}");
        events.extend(data["events"].as_array().expect("events").iter().cloned());
        if let Some(h) = hold.take() {
            h.release().await;
        }
        match data["more"].as_bool() {
            Some(true) => continue,
            Some(false) => return (events, parts),
            None => panic!("no `more` in {part}"),
        }
    }
}

/// GOVERN live events until seq `last` (unless `seen` already holds it); no other `feed.replay`.
async fn read_govern_live(c: &mut WsClient, seen: &[Value], last: u64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    if seen.iter().any(|e| e["seq"] == last) {
        return out;
    }
    loop {
        let m = next_ws(c, || {
            format!(
                "seq {last} ({} live events so far, the last {:?})",
                out.len(),
                out.last()
            )
        })
        .await;
        assert_ne!(
            m["event"], "feed.replay",
            "a replay part after the last: {m}"
        );
        let done = delivered(&m).0 == last;
        out.push(m);
        if done {
            return out;
        }
    }
}

/// The next SSE event that is not a heartbeat, checked for `id:` = seq and `event:` = its type;
/// returns its GOVERN envelope. `awaiting` says what the test waits for when nothing comes.
async fn next_sse(c: &mut SseClient, awaiting: impl Fn() -> String) -> Value {
    let e = loop {
        match c.next_within(WAIT).await {
            Ok(Some(e)) if e.event == "feed.heartbeat" => continue,
            Ok(Some(e)) => break e,
            Ok(None) => panic!(
                "no SSE event within {WAIT:?} while waiting for {}",
                awaiting()
            ),
            Err(()) => panic!("the SSE stream ended while waiting for {}", awaiting()),
        }
    };
    let m: Value = serde_json::from_str(&e.data).unwrap_or_else(|_| panic!("{e:?}"));
    let (seq, event_type) = delivered(&m);
    assert_eq!(
        (e.id.as_str(), e.event.as_str()),
        (seq.to_string().as_str(), event_type.as_str())
    );
    m
}

/// SSE events until seq `last`; `hold` is released once the first event arrived.
async fn read_sse(c: &mut SseClient, mut hold: Option<Hold>, last: u64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let m = next_sse(c, || {
            format!(
                "seq {last} ({} events so far, the last {:?})",
                out.len(),
                out.last()
            )
        })
        .await;
        let seq = delivered(&m).0;
        out.push(m);
        if let Some(h) = hold.take() {
            h.release().await;
        }
        if seq == last {
            return out;
        }
    }
}

async fn aisoc(s: &TestServer) -> WsClient {
    WsClient::connect(&format!("{}?token={}", s.ws("/ws"), sub_token(TENANT))).await
}

async fn govern(s: &TestServer, query: &str) -> WsClient {
    WsClient::connect(&format!(
        "{}?token={}{query}",
        s.ws("/v1/soc/feed"),
        sub_token(TENANT)
    ))
    .await
}

async fn sse(s: &TestServer, query: &str, headers: &[(&str, &str)]) -> SseClient {
    let c = SseClient::connect(
        &format!(
            "{}?token={}{query}",
            s.http("/v1/soc/feed/sse"),
            sub_token(TENANT)
        ),
        headers,
    )
    .await;
    assert_eq!(c.status, 200);
    c
}

/// Nothing more arrives once the client has everything (a late duplicate would).
const AFTER: Duration = Duration::from_millis(100);

/// `all` from seq 0 while publishing: one subscription, so the whole stream is in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_all_since_zero_while_publishing() {
    let s = server(256, Engine::Embedded).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold]) = live_publisher(&s, [BACKLOG + HEAD_START]);
    let mut c = aisoc(&s).await;
    let ack = c.subscribe("all", Some(0)).await;
    assert!(ack["payload"].get("truncated").is_none(), "{ack}");
    assert!(ack["payload"]["seq"].as_u64().unwrap() >= BACKLOG, "{ack}");
    hold.release().await;
    let want = expected(0, |_| true);
    let got = read_aisoc(&mut c, &[last_of(&want)]).await;
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;
    assert_exactly_once_in_order("all since=0", &seqs(&got), &want);
}

/// One channel of a mixed stream, without the recent-events cache (every page from the log):
/// its events once and in order, nothing of the other channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_one_channel_since_zero_without_cache_while_publishing() {
    let s = server(0, Engine::Memory).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold]) = live_publisher(&s, [BACKLOG + HEAD_START]);
    let mut c = aisoc(&s).await;
    c.subscribe("alerts", Some(0)).await;
    hold.release().await;
    let want = expected(0, |n| channel(kind(n).0) == "alerts");
    let got = read_aisoc(&mut c, &[last_of(&want)]).await;
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;
    for m in &got {
        assert_eq!(channel(&delivered(m).1), "alerts", "{m}");
    }
    assert_exactly_once_in_order("alerts since=0", &seqs(&got), &want);
}

/// `alerts` from 0, then (while its replay is still arriving and events keep coming) `all` from
/// 0 on the same connection: `all` replays only the other channels, so every event arrives
/// exactly once, each channel in seq order; before the `all` ack only alerts arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_channel_then_all_on_one_connection_while_publishing() {
    let s = server(256, Engine::Embedded).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold1, hold2]) =
        live_publisher(&s, [BACKLOG + HEAD_START, BACKLOG + HEAD_START + PAUSE]);
    let mut c = aisoc(&s).await;
    c.subscribe("alerts", Some(0)).await;
    hold1.release().await;
    // An alert from the middle of the backlog: the alerts replay is under way.
    let halfway = (1..=BACKLOG / 2)
        .rev()
        .find(|n| channel(kind(*n).0) == "alerts")
        .unwrap();
    let mut got = read_aisoc(&mut c, &[halfway]).await;
    c.send_json(&json!({"type": "subscribe", "channel": "all", "since": 0}))
        .await;
    hold2.release().await;
    let channels = ["alerts", "cases", "systems", "detections"];
    let wants: BTreeMap<&str, Vec<u64>> = channels
        .iter()
        .map(|ch| (*ch, expected(0, |n| channel(kind(n).0) == *ch)))
        .collect();
    let lasts: Vec<u64> = wants.values().map(|w| last_of(w)).collect();
    got.extend(read_aisoc(&mut c, &lasts).await);
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;

    let acks: Vec<usize> = (0..got.len())
        .filter(|i| got[*i]["type"] == "subscribed")
        .collect();
    assert_eq!(acks.len(), 1, "one ack for `all`");
    let ack = &got[acks[0]];
    assert_eq!(ack["payload"]["channel"], "all", "{ack}");
    assert!(ack["payload"].get("truncated").is_none(), "{ack}");
    for m in &got[..acks[0]] {
        assert_eq!(
            channel(&delivered(m).1),
            "alerts",
            "before the `all` ack: {m}"
        );
    }
    let mut by_channel: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for m in got.iter().filter(|m| m["type"] != "subscribed") {
        let (seq, event_type) = delivered(m);
        by_channel
            .entry(channel(&event_type))
            .or_default()
            .push(seq);
    }
    assert_eq!(
        by_channel.keys().collect::<Vec<_>>(),
        wants.keys().collect::<Vec<_>>()
    );
    for (ch, want) in &wants {
        assert_exactly_once_in_order(ch, &by_channel[ch], want);
    }
}

/// GOVERN WebSocket from seq 0 while publishing: the `feed.replay` parts, then live events, the
/// whole stream in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_ws_since_zero_while_publishing() {
    let s = server(256, Engine::Embedded).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold]) = live_publisher(&s, [BACKLOG + HEAD_START]);
    let mut c = govern(&s, "&since=0").await;
    let (replayed, parts) = read_replay(&mut c, Some(hold)).await;
    assert!(
        parts > 1,
        "a replay of {} events in one part",
        replayed.len()
    );
    // Everything published before the connection is in the replay.
    assert!(
        replayed.len() as u64 >= BACKLOG,
        "{} replayed",
        replayed.len()
    );
    let want = expected(0, |_| true);
    let live = read_govern_live(&mut c, &replayed, last_of(&want)).await;
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;
    let got: Vec<u64> = seqs(&replayed).into_iter().chain(seqs(&live)).collect();
    assert_exactly_once_in_order("GOVERN since=0", &got, &want);
}

/// GOVERN WebSocket with query filters, without the recent-events cache: the replay and the
/// live events are filtered alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_ws_since_zero_with_query_filters_while_publishing() {
    let s = server(0, Engine::Memory).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold]) = live_publisher(&s, [BACKLOG + HEAD_START]);
    let mut c = govern(&s, "&since=0&severities=high,critical").await;
    let (replayed, _) = read_replay(&mut c, Some(hold)).await;
    let want = expected(0, |n| matches!(kind(n).1, Some("high" | "critical")));
    let live = read_govern_live(&mut c, &replayed, last_of(&want)).await;
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;
    let got: Vec<u64> = seqs(&replayed).into_iter().chain(seqs(&live)).collect();
    assert_exactly_once_in_order("GOVERN since=0 severities=high,critical", &got, &want);
}

/// SSE resuming with `Last-Event-ID: 0` while publishing: replayed and live events alike, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_last_event_id_zero_while_publishing() {
    let s = server(256, Engine::Embedded).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold]) = live_publisher(&s, [BACKLOG + HEAD_START]);
    let mut c = sse(&s, "", &[("last-event-id", "0")]).await;
    let want = expected(0, |_| true);
    let got = read_sse(&mut c, Some(hold), last_of(&want)).await;
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;
    assert_exactly_once_in_order("SSE Last-Event-ID: 0", &seqs(&got), &want);
}

/// SSE with `?since=0` and an event-type filter, without the recent-events cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_since_zero_with_an_event_filter_while_publishing() {
    let s = server(0, Engine::Memory).await;
    publish_backlog(&s, PAD).await;
    let (publisher, [hold]) = live_publisher(&s, [BACKLOG + HEAD_START]);
    let mut c = sse(&s, "&since=0&events=alert.new,case.updated", &[]).await;
    let want = expected(0, |n| matches!(kind(n).0, "alert.new" | "case.updated"));
    let got = read_sse(&mut c, Some(hold), last_of(&want)).await;
    publisher.await.unwrap();
    c.expect_silence(AFTER).await;
    assert_exactly_once_in_order(
        "SSE since=0 events=alert.new,case.updated",
        &seqs(&got),
        &want,
    );
}

/// A cursor at the head exactly, on each way in: nothing at or below it arrives (the AiSOC ack
/// names the head, the GOVERN replay is one empty part), then every later event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_at_the_head_replays_nothing_and_then_every_event_once() {
    let s = server(256, Engine::Embedded).await;
    publish_backlog(&s, 0).await;
    let head = BACKLOG;
    let mut g = govern(&s, &format!("&since={head}")).await;
    let (replayed, parts) = read_replay(&mut g, None).await;
    assert_eq!((replayed.len(), parts), (0, 1), "{replayed:?}");
    let head_id = head.to_string();
    let mut e = sse(&s, "", &[("last-event-id", &head_id)]).await;
    let mut a = aisoc(&s).await;
    let ack = a.subscribe("all", Some(head)).await;
    assert_eq!(ack["payload"]["seq"], head, "{ack}");
    assert!(ack["payload"].get("truncated").is_none(), "{ack}");
    // The AiSOC session is at its seam (and the SSE one may be) while this starts.
    let (publisher, []) = live_publisher(&s, []);
    let want = expected(head, |_| true);
    let last = [last_of(&want)];
    let (from_aisoc, from_govern, from_sse) = tokio::join!(
        read_aisoc(&mut a, &last),
        read_govern_live(&mut g, &[], last[0]),
        read_sse(&mut e, None, last[0]),
    );
    publisher.await.unwrap();
    a.expect_silence(AFTER).await;
    g.expect_silence(AFTER).await;
    e.expect_silence(AFTER).await;
    assert_exactly_once_in_order("AiSOC since=head", &seqs(&from_aisoc), &want);
    assert_exactly_once_in_order("GOVERN since=head", &seqs(&from_govern), &want);
    assert_exactly_once_in_order("SSE Last-Event-ID=head", &seqs(&from_sse), &want);
}

/// Events published while clients resume over and over.
const CHURN: u64 = 600;

/// The ways in, for a client that keeps reconnecting.
#[derive(Clone, Copy, Debug)]
enum Way {
    Aisoc,
    GovernWs,
    Sse,
}

/// A new connection resuming after `since` (AiSOC: a subscribe to `all`); reads at least `n`
/// events (a GOVERN replay whole) or up to event `last`, then drops the connection.
async fn resume_once(s: &TestServer, way: Way, since: u64, n: usize, last: u64) -> Vec<Value> {
    let awaiting = || format!("{way:?} events after {since}");
    let mut got: Vec<Value> = Vec::new();
    let more = |got: &[Value]| got.len() < n && got.last().is_none_or(|m| m["seq"] != last);
    match way {
        Way::Aisoc => {
            let mut c = aisoc(s).await;
            c.subscribe("all", Some(since)).await;
            while more(&got) {
                got.push(next_ws(&mut c, awaiting).await);
            }
        }
        Way::GovernWs => {
            let mut c = govern(s, &format!("&since={since}")).await;
            got = read_replay(&mut c, None).await.0;
            while more(&got) {
                let m = next_ws(&mut c, awaiting).await;
                assert_ne!(m["event"], "feed.replay", "{m}");
                got.push(m);
            }
        }
        Way::Sse => {
            let id = since.to_string();
            let mut c = sse(s, "", &[("last-event-id", &id)]).await;
            while more(&got) {
                got.push(next_sse(&mut c, awaiting).await);
            }
        }
    }
    got
}

/// A client that reconnects after every few events, resuming after the last one it read, until
/// it has event `last`: every connection crosses the seam while events keep coming. Returns
/// what each connection delivered, with the cursor it resumed from.
async fn churn(s: &TestServer, way: Way, last: u64) -> Vec<(u64, Vec<u64>)> {
    let mut connections = Vec::new();
    let mut since = 0;
    for n in [1, 2, 5, 1, 3, 8].into_iter().cycle() {
        if since >= last {
            break;
        }
        let got = seqs(&resume_once(s, way, since, n, last).await);
        let next = got.iter().copied().max().unwrap_or(since);
        connections.push((since, got));
        since = next;
    }
    connections
}

/// Clients of each way in reconnect after every few events while a publisher publishes a few
/// events at a time: hundreds of seams, each with events in flight. Across its connections a
/// client gets every event once and in order, each connection only events after its cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_again_and_again_while_publishing_repeats_and_loses_nothing() {
    let s = server(256, Engine::Embedded).await;
    let token = pub_token(TENANT);
    let publisher = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let mut n = 1;
            for batch in [1, 2, 3].into_iter().cycle() {
                if n > CHURN {
                    break;
                }
                let end = (n + batch - 1).min(CHURN);
                publish_range(&s, &token, (n, end), batch, 0).await;
                n = end + 1;
            }
        })
    };
    let (aisoc, govern, sse) = tokio::join!(
        churn(&s, Way::Aisoc, CHURN),
        churn(&s, Way::GovernWs, CHURN),
        churn(&s, Way::Sse, CHURN),
    );
    publisher.await.unwrap();
    let want: Vec<u64> = (1..=CHURN).collect();
    let mut problems = Vec::new();
    for (way, connections) in [("AiSOC", aisoc), ("GOVERN", govern), ("SSE", sse)] {
        let mut got = Vec::new();
        for (since, seqs) in &connections {
            if let Some(s) = seqs.iter().find(|s| *s <= since) {
                problems.push(format!("{way}: {s} on a connection resuming after {since}"));
            }
            got.extend(seqs);
        }
        problems.extend(exactly_once_in_order(way, &got, &want));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
