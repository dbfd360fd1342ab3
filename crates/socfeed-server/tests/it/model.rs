//! Property test: random interleavings of publish / subscribe / unsubscribe / filter change /
//! reconnect-with-since across tenants, against a real server, over all three transports (AiSOC
//! WebSocket, GOVERN WebSocket, GOVERN SSE). Each session receives exactly the events its tenant,
//! channels and filters call for, in seq order (per channel for AiSOC), none twice.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use serde_json::{Value, json};
use socfeed_server::Engine;
use socfeed_testkit::{SseClient, TestServer, WsClient, pub_token, sub_token};

const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
const TYPES: [&str; 4] = [
    "alert.created",
    "case.updated",
    "system.score_changed",
    "alert.new",
];
const SEVERITIES: [Option<&str>; 4] = [Some("critical"), Some("high"), Some("low"), None];
const CHANNELS: [&str; 4] = ["alerts", "cases", "systems", "all"];

/// Sessions: (dialect, tenant index). t2 has publishers but no session.
const SESSIONS: [(Dialect, usize); 7] = [
    (Dialect::Aisoc, 0),
    (Dialect::Aisoc, 1),
    (Dialect::Govern, 0),
    (Dialect::Govern, 1),
    (Dialect::Aisoc, 0),
    (Dialect::Sse, 0),
    (Dialect::Sse, 1),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Aisoc,
    /// GOVERN over WebSocket.
    Govern,
    /// GOVERN over Server-Sent Events: filters only in the query, so a filter change reconnects.
    Sse,
}

#[derive(Debug, Clone)]
enum Op {
    Publish {
        tenant: usize,
        kind: usize,
        severity: usize,
    },
    Subscribe {
        session: usize,
        channel: usize,
    },
    Unsubscribe {
        session: usize,
        channel: usize,
    },
    Filter {
        session: usize,
        severities: Vec<usize>,
        events: Vec<usize>,
    },
    Reconnect {
        session: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let n = SESSIONS.len();
    prop_oneof![
        6 => (0..3usize, 0..4usize, 0..4usize).prop_map(|(tenant, kind, severity)| Op::Publish { tenant, kind, severity }),
        2 => (0..n, 0..4usize).prop_map(|(session, channel)| Op::Subscribe { session, channel }),
        1 => (0..n, 0..4usize).prop_map(|(session, channel)| Op::Unsubscribe { session, channel }),
        2 => (0..n, proptest::collection::vec(0..3usize, 0..3), proptest::collection::vec(0..4usize, 0..3))
            .prop_map(|(session, severities, events)| Op::Filter { session, severities, events }),
        1 => (0..n).prop_map(|session| Op::Reconnect { session }),
    ]
}

#[derive(Debug, Clone)]
struct Published {
    seq: u64,
    tenant: usize,
    kind: usize,
    severity: usize,
}

fn channel_of(kind: usize) -> &'static str {
    match TYPES[kind].split('.').next() {
        Some("alert") => "alerts",
        Some("case") => "cases",
        _ => "systems",
    }
}

/// A session's connection: a WebSocket (either dialect) or an SSE stream.
enum Conn {
    Ws(WsClient),
    Sse(SseClient),
}

impl Conn {
    /// The next message that is not a ping or heartbeat; for SSE the event's data (the GOVERN
    /// envelope), after checking that `id:` is its seq and `event:` its type.
    async fn next(&mut self) -> Value {
        match self {
            Conn::Ws(c) => c.next_non_ping().await,
            Conn::Sse(c) => {
                let e = c.next_event().await;
                let m: Value = serde_json::from_str(&e.data)
                    .unwrap_or_else(|_| panic!("SSE data is JSON: {e:?}"));
                if let Some(seq) = m["seq"].as_u64() {
                    assert_eq!(e.id, seq.to_string(), "{e:?}");
                    assert_eq!(m["event"], e.event.as_str(), "{e:?}");
                }
                m
            }
        }
    }

    async fn expect_silence(&mut self, wait: std::time::Duration) {
        match self {
            Conn::Ws(c) => c.expect_silence(wait).await,
            Conn::Sse(c) => c.expect_silence(wait).await,
        }
    }

    fn ws(&mut self) -> &mut WsClient {
        match self {
            Conn::Ws(c) => c,
            Conn::Sse(_) => unreachable!("client messages are for WebSocket sessions"),
        }
    }
}

/// The model of one session and its live connection.
struct Session {
    dialect: Dialect,
    tenant: usize,
    channels: BTreeSet<&'static str>,
    severities: Vec<usize>,
    events: Vec<usize>,
    expected: Vec<u64>,
    received: Vec<(u64, String)>,
    client: Conn,
}

impl Session {
    fn wants(&self, e: &Published) -> bool {
        if e.tenant != self.tenant {
            return false;
        }
        match self.dialect {
            Dialect::Aisoc => {
                self.channels.contains("all") || self.channels.contains(channel_of(e.kind))
            }
            Dialect::Govern | Dialect::Sse => {
                (self.severities.is_empty()
                    || SEVERITIES[e.severity]
                        .is_some_and(|s| self.severities.iter().any(|i| SEVERITIES[*i] == Some(s))))
                    && (self.events.is_empty() || self.events.contains(&e.kind))
            }
        }
    }

    fn filters(&self) -> Value {
        let sev: Vec<&str> = self
            .severities
            .iter()
            .filter_map(|i| SEVERITIES[*i])
            .collect();
        let ev: Vec<&str> = self.events.iter().map(|i| TYPES[*i]).collect();
        json!({"severities": sev, "events": ev})
    }

    /// Reads until a message satisfying `done`, recording events on the way.
    async fn read_until(&mut self, done: impl Fn(&Value) -> bool) {
        loop {
            let m = self.client.next().await;
            if self.record(&m) {
                continue;
            }
            if done(&m) {
                return;
            }
            panic!("unexpected message {m}");
        }
    }

    /// Records an event or replay; `false` for anything else.
    fn record(&mut self, m: &Value) -> bool {
        if m["event"] == "feed.replay" {
            for e in m["data"]["events"].as_array().unwrap() {
                self.record(e);
            }
            return true;
        }
        let Some(seq) = m["seq"].as_u64() else {
            return false;
        };
        let kind = m
            .get("type")
            .or_else(|| m.get("event"))
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        let payload = m.get("payload").or_else(|| m.get("data")).unwrap();
        assert_eq!(
            payload["tenant"], TENANTS[self.tenant],
            "cross-tenant delivery: {m}"
        );
        self.received.push((seq, kind));
        true
    }

    /// Events after the cursor that match the current subscriptions or filters are replayed.
    fn expect_replay(&mut self, published: &[Published], since: u64) {
        for e in published.iter().filter(|e| e.seq > since) {
            if self.wants(e) {
                self.expected.push(e.seq);
            }
        }
    }

    fn last_received(&self) -> u64 {
        self.received.last().map_or(0, |(seq, _)| *seq)
    }

    async fn catch_up(&mut self) {
        while self.received.len() < self.expected.len() {
            let m = self.client.next().await;
            assert!(self.record(&m), "unexpected message {m}");
        }
    }

    /// The filters as query parameters (`&severities=..&events=..`, comma-separated).
    fn filter_query(&self) -> String {
        let mut q = String::new();
        let severities: Vec<&str> = self
            .severities
            .iter()
            .filter_map(|i| SEVERITIES[*i])
            .collect();
        let events: Vec<&str> = self.events.iter().map(|i| TYPES[*i]).collect();
        for (key, names) in [("severities", severities), ("events", events)] {
            if !names.is_empty() {
                q.push_str(&format!("&{key}={}", names.join(",")));
            }
        }
        q
    }

    /// Reconnects, resuming after the cursor's seq.
    async fn connect(&mut self, server: &TestServer, resume: Resume) {
        let filters = self.filter_query();
        self.client = open(server, self.dialect, self.tenant, Some(resume), &filters).await;
        match self.dialect {
            Dialect::Aisoc => {
                for ch in self.channels.clone() {
                    let msg = json!({"type":"subscribe","channel": ch, "since": resume.seq()});
                    self.client.ws().send_json(&msg).await;
                    self.read_until(|m| m["type"] == "subscribed").await;
                }
            }
            Dialect::Govern => {
                let m = self.client.next().await;
                assert!(self.record(&m) && m["event"] == "feed.replay", "{m}");
            }
            // Replayed events are ordinary events.
            Dialect::Sse => {}
        }
    }
}

/// Where a connection resumes.
#[derive(Debug, Clone, Copy)]
enum Resume {
    /// `?since=` (AiSOC: `since` in each subscribe).
    Since(u64),
    /// A `Last-Event-ID` header.
    LastEventId(u64),
}

impl Resume {
    fn seq(self) -> u64 {
        match self {
            Resume::Since(s) | Resume::LastEventId(s) => s,
        }
    }
}

/// A new connection of `dialect` for `tenant`, with GOVERN `filters` (a query string) and a
/// GOVERN cursor (AiSOC's goes in its subscribes).
async fn open(
    server: &TestServer,
    dialect: Dialect,
    tenant: usize,
    resume: Option<Resume>,
    filters: &str,
) -> Conn {
    let token = sub_token(TENANTS[tenant]);
    let path = match dialect {
        Dialect::Aisoc => {
            return Conn::Ws(
                WsClient::connect(&format!("{}?token={token}", server.ws("/ws"))).await,
            );
        }
        Dialect::Govern => "/v1/soc/feed",
        Dialect::Sse => "/v1/soc/feed/sse",
    };
    let mut query = format!("?token={token}{filters}");
    let id;
    let mut headers = Vec::new();
    match resume {
        Some(Resume::Since(s)) => query.push_str(&format!("&since={s}")),
        Some(Resume::LastEventId(s)) => {
            id = s.to_string();
            headers.push(("last-event-id", id.as_str()));
        }
        None => {}
    }
    if dialect == Dialect::Sse {
        let c = SseClient::connect(&format!("{}{query}", server.http(path)), &headers).await;
        assert_eq!(c.status, 200);
        Conn::Sse(c)
    } else {
        Conn::Ws(
            WsClient::connect_with(&format!("{}{query}", server.ws(path)), &headers)
                .await
                .0,
        )
    }
}

async fn run(ops: Vec<Op>) {
    let server = TestServer::start_with(|c| c.engine = Engine::Memory).await;
    let mut sessions = Vec::new();
    for (dialect, tenant) in SESSIONS {
        // An SSE session cannot tell when its stream is live, but a cursor makes that moot:
        // whatever is published before it is live comes in its replay.
        let resume = (dialect == Dialect::Sse).then_some(Resume::Since(0));
        sessions.push(Session {
            dialect,
            tenant,
            channels: BTreeSet::new(),
            severities: vec![],
            events: vec![],
            expected: vec![],
            received: vec![],
            client: open(&server, dialect, tenant, resume, "").await,
        });
    }
    let mut published: Vec<Published> = Vec::new();
    for op in ops {
        match op {
            Op::Publish {
                tenant,
                kind,
                severity,
            } => {
                let mut payload = json!({"tenant": TENANTS[tenant]});
                if let Some(s) = SEVERITIES[severity] {
                    payload["severity"] = s.into();
                }
                let seq = server
                    .publish_one(&pub_token(TENANTS[tenant]), TYPES[kind], payload)
                    .await;
                let e = Published {
                    seq,
                    tenant,
                    kind,
                    severity,
                };
                for s in &mut sessions {
                    if s.wants(&e) {
                        s.expected.push(seq);
                    }
                }
                published.push(e);
            }
            // Channels are AiSOC's.
            Op::Subscribe { session, .. } | Op::Unsubscribe { session, .. }
                if sessions[session].dialect != Dialect::Aisoc => {}
            Op::Subscribe { session, channel } => {
                let s = &mut sessions[session];
                s.client
                    .ws()
                    .send_json(&json!({"type":"subscribe","channel": CHANNELS[channel]}))
                    .await;
                s.read_until(|m| m["type"] == "subscribed").await;
                s.channels.insert(CHANNELS[channel]);
            }
            Op::Unsubscribe { session, channel } => {
                let s = &mut sessions[session];
                s.client
                    .ws()
                    .send_json(&json!({"type":"unsubscribe","channel": CHANNELS[channel]}))
                    .await;
                s.read_until(|m| m["type"] == "unsubscribed").await;
                s.channels.remove(CHANNELS[channel]);
            }
            Op::Filter {
                session,
                severities,
                events,
            } => {
                let s = &mut sessions[session];
                if s.dialect == Dialect::Aisoc {
                    continue;
                }
                s.severities = severities;
                s.events = events;
                if s.dialect == Dialect::Sse {
                    // Filters are in the query: reconnect with the new ones, after the last
                    // event received.
                    s.catch_up().await;
                    let since = s.last_received();
                    s.expect_replay(&published, since);
                    s.connect(&server, Resume::Since(since)).await;
                    continue;
                }
                let msg = json!({"action":"subscribe","filters": s.filters()});
                s.client.ws().send_json(&msg).await;
                s.read_until(|m| m["event"] == "feed.subscribed").await;
            }
            Op::Reconnect { session } => {
                let s = &mut sessions[session];
                s.catch_up().await;
                if s.dialect == Dialect::Sse {
                    // As an EventSource does: `Last-Event-ID` of the last event received.
                    let since = s.last_received();
                    s.expect_replay(&published, since);
                    s.connect(&server, Resume::LastEventId(since)).await;
                } else {
                    let since = s.expected.last().copied().unwrap_or(0);
                    s.expect_replay(&published, since);
                    s.connect(&server, Resume::Since(since)).await;
                }
            }
        }
    }
    for s in &mut sessions {
        s.catch_up().await;
    }
    // Nothing more arrives (a late duplicate would), checked on every session at once.
    futures_util::future::join_all(sessions.iter_mut().map(|s| {
        s.client
            .expect_silence(std::time::Duration::from_millis(50))
    }))
    .await;
    for s in &sessions {
        let got: Vec<u64> = s.received.iter().map(|(seq, _)| *seq).collect();
        let unique: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "duplicates in {got:?}");
        let want: BTreeSet<u64> = s.expected.iter().copied().collect();
        assert_eq!(
            unique, want,
            "{:?} session of tenant {}",
            s.dialect, s.tenant
        );
        // In seq order: the whole stream for GOVERN, each channel's stream for AiSOC.
        let mut by_channel: HashMap<&str, Vec<u64>> = HashMap::new();
        for (seq, kind) in &s.received {
            let key = if s.dialect != Dialect::Aisoc {
                "all"
            } else {
                channel_of(TYPES.iter().position(|t| t == kind).unwrap())
            };
            by_channel.entry(key).or_default().push(*seq);
        }
        for (ch, seqs) in by_channel {
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "{ch} out of order: {seqs:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sessions_receive_exactly_what_they_asked_for(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
