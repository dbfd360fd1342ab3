//! Property test: random interleavings of publish / subscribe / unsubscribe / filter change /
//! reconnect-with-since across tenants, against a real server. Each session receives exactly the
//! events its tenant, channels and filters call for, in seq order (per channel for AiSOC), none twice.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use serde_json::{Value, json};
use socfeed_server::LogBackend;
use socfeed_testkit::{TestServer, WsClient, pub_token, sub_token};

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
const SESSIONS: [(Dialect, usize); 5] = [
    (Dialect::Aisoc, 0),
    (Dialect::Aisoc, 1),
    (Dialect::Govern, 0),
    (Dialect::Govern, 1),
    (Dialect::Aisoc, 0),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Aisoc,
    Govern,
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
    prop_oneof![
        6 => (0..3usize, 0..4usize, 0..4usize).prop_map(|(tenant, kind, severity)| Op::Publish { tenant, kind, severity }),
        2 => (0..5usize, 0..4usize).prop_map(|(session, channel)| Op::Subscribe { session, channel }),
        1 => (0..5usize, 0..4usize).prop_map(|(session, channel)| Op::Unsubscribe { session, channel }),
        2 => (0..5usize, proptest::collection::vec(0..3usize, 0..3), proptest::collection::vec(0..4usize, 0..3))
            .prop_map(|(session, severities, events)| Op::Filter { session, severities, events }),
        1 => (0..5usize).prop_map(|session| Op::Reconnect { session }),
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

/// The model of one session and its live connection.
struct Session {
    dialect: Dialect,
    tenant: usize,
    channels: BTreeSet<&'static str>,
    severities: Vec<usize>,
    events: Vec<usize>,
    expected: Vec<u64>,
    received: Vec<(u64, String)>,
    client: WsClient,
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
            Dialect::Govern => {
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
            let m = self.client.next_non_ping().await;
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

    async fn catch_up(&mut self) {
        while self.received.len() < self.expected.len() {
            let m = self.client.next_non_ping().await;
            assert!(self.record(&m), "unexpected message {m}");
        }
    }

    async fn connect(&mut self, server: &TestServer, since: Option<u64>) {
        let token = sub_token(TENANTS[self.tenant]);
        match self.dialect {
            Dialect::Aisoc => {
                self.client =
                    WsClient::connect(&format!("{}?token={token}", server.ws("/ws"))).await;
                for ch in self.channels.clone() {
                    let mut msg = json!({"type":"subscribe","channel": ch});
                    if let Some(s) = since {
                        msg["since"] = s.into();
                    }
                    self.client.send_json(&msg).await;
                    self.read_until(|m| m["type"] == "subscribed").await;
                }
            }
            Dialect::Govern => {
                let mut url = format!("{}?token={token}", server.ws("/v1/soc/feed"));
                if let Some(s) = since {
                    url.push_str(&format!("&since={s}"));
                }
                for (key, list) in [("severities", &self.severities), ("events", &self.events)] {
                    let names: Vec<&str> = list
                        .iter()
                        .filter_map(|i| {
                            if key == "events" {
                                Some(TYPES[*i])
                            } else {
                                SEVERITIES[*i]
                            }
                        })
                        .collect();
                    if !names.is_empty() {
                        url.push_str(&format!("&{key}={}", names.join(",")));
                    }
                }
                self.client = WsClient::connect(&url).await;
                if since.is_some() {
                    let m = self.client.next_non_ping().await;
                    assert!(self.record(&m) && m["event"] == "feed.replay", "{m}");
                }
            }
        }
    }
}

async fn run(ops: Vec<Op>) {
    let server = TestServer::start_with(|c| c.log = LogBackend::Memory).await;
    let mut sessions = Vec::new();
    for (dialect, tenant) in SESSIONS {
        let url = match dialect {
            Dialect::Aisoc => format!("{}?token={}", server.ws("/ws"), sub_token(TENANTS[tenant])),
            Dialect::Govern => format!(
                "{}?token={}",
                server.ws("/v1/soc/feed"),
                sub_token(TENANTS[tenant])
            ),
        };
        sessions.push(Session {
            dialect,
            tenant,
            channels: BTreeSet::new(),
            severities: vec![],
            events: vec![],
            expected: vec![],
            received: vec![],
            client: WsClient::connect(&url).await,
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
            Op::Subscribe { session, channel } | Op::Unsubscribe { session, channel }
                if sessions[session].dialect == Dialect::Govern =>
            {
                let _ = channel;
            }
            Op::Subscribe { session, channel } => {
                let s = &mut sessions[session];
                s.client
                    .send_json(&json!({"type":"subscribe","channel": CHANNELS[channel]}))
                    .await;
                s.read_until(|m| m["type"] == "subscribed").await;
                s.channels.insert(CHANNELS[channel]);
            }
            Op::Unsubscribe { session, channel } => {
                let s = &mut sessions[session];
                s.client
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
                let msg = json!({"action":"subscribe","filters": s.filters()});
                s.client.send_json(&msg).await;
                s.read_until(|m| m["event"] == "feed.subscribed").await;
            }
            Op::Reconnect { session } => {
                let s = &mut sessions[session];
                s.catch_up().await;
                let since = s.expected.last().copied().unwrap_or(0);
                // Events after the cursor that match the current subscriptions are replayed.
                for e in published.iter().filter(|e| e.seq > since) {
                    if s.wants(e) {
                        s.expected.push(e.seq);
                    }
                }
                s.connect(&server, Some(since)).await;
            }
        }
    }
    for s in &mut sessions {
        s.catch_up().await;
        s.client
            .expect_silence(std::time::Duration::from_millis(50))
            .await;
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
            let key = if s.dialect == Dialect::Govern {
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
