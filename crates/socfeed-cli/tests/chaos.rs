//! Bounded chaos soaks (about a minute each): hundreds of clients on both dialects and SSE
//! disconnect and resume at random while tens of thousands of events are published.
//!
//! * One node on its embedded log, SIGKILLed and restarted once.
//! * Three nodes on one Redis (cluster mode): clients and publishers use any node; one node is
//!   SIGKILLed (its clients resume on the others) and Redis is `kill -9`ed and restarted from its
//!   AOF once.
//!
//! At the end every client has seen every committed event of its tenant exactly once and in
//! order: zero lost, zero duplicated, zero cross-tenant deliveries among acknowledged events.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use socfeed_redis_harness::RedisServer;
use socfeed_testkit::{ServerProcess, SseClient, WsClient, pub_token, sub_token};
use tokio::sync::Mutex;
use tokio::time::Instant;

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
/// Clients per tenant of each kind.
const PER_TENANT: [(Kind, usize); 3] = [(Kind::Aisoc, 40), (Kind::Govern, 20), (Kind::Sse, 20)];
/// Events each publisher gets acknowledged (9 publishers).
const QUOTA: u64 = 2_700;
/// Longest the publishing phase may take.
const PUBLISH_FOR: Duration = Duration::from_secs(120);
const CATCH_UP: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Aisoc,
    Govern,
    Sse,
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    last: u64,
    delivered: u64,
    lost: u64,
    duplicated: u64,
    cross_tenant: u64,
    connections: u64,
    /// How the last connections ended (close code or note), for diagnosis.
    ends: std::collections::VecDeque<String>,
}

impl Seen {
    fn ended(&mut self, how: String) {
        if self.ends.len() == 5 {
            self.ends.pop_front();
        }
        self.ends.push_back(how);
    }

    fn event(&mut self, tenant: &str, seq: u64, payload_tenant: &Value) {
        if payload_tenant != tenant {
            self.cross_tenant += 1;
            return;
        }
        if seq <= self.last {
            self.duplicated += 1;
            return;
        }
        self.lost += seq - self.last - 1;
        self.last = seq;
        self.delivered += 1;
    }
}

struct World {
    /// The nodes that serve now; each connection and publish picks one.
    nodes: Mutex<Vec<std::net::SocketAddr>>,
    /// Highest acknowledged seq per tenant.
    acked: Mutex<HashMap<&'static str, u64>>,
    acked_events: AtomicU64,
    /// Clients stop once this is set and they reached `target` of their tenant.
    targets: Mutex<Option<HashMap<&'static str, u64>>>,
}

impl World {
    fn new(nodes: Vec<std::net::SocketAddr>) -> Arc<World> {
        Arc::new(World {
            nodes: Mutex::new(nodes),
            acked: Mutex::new(HashMap::new()),
            acked_events: AtomicU64::new(0),
            targets: Mutex::new(None),
        })
    }

    /// A node to use now.
    async fn pick(&self) -> std::net::SocketAddr {
        let nodes = self.nodes.lock().await;
        nodes[rand::random_range(0..nodes.len())]
    }

    /// Waits until `share` of the whole quota is acknowledged.
    async fn reached(&self, share: f64) {
        let quota_total = QUOTA * (TENANTS.len() as u64) * 3;
        while (self.acked_events.load(Ordering::Relaxed) as f64) < quota_total as f64 * share {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A running client: what it is, its tenant, and what it will have seen.
type ClientTask = (Kind, &'static str, tokio::task::JoinHandle<Seen>);

/// Starts every client and publisher of a soak.
fn start_load(world: &Arc<World>) -> (Vec<ClientTask>, Vec<tokio::task::JoinHandle<()>>) {
    let mut clients = Vec::new();
    for tenant in TENANTS {
        for (kind, n) in PER_TENANT {
            for _ in 0..n {
                clients.push((
                    kind,
                    tenant,
                    tokio::spawn(client(Arc::clone(world), kind, tenant)),
                ));
            }
        }
    }
    let mut publishers = Vec::new();
    for tenant in TENANTS {
        for p in 0..3 {
            publishers.push(tokio::spawn(publisher(Arc::clone(world), tenant, p)));
        }
    }
    (clients, publishers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_socfeed"));
    let server = ServerProcess::start(
        bin,
        dir.path(),
        "127.0.0.1:0",
        &["--heartbeat-interval", "5s"],
    );
    let port = server.addr.port();
    let world = World::new(vec![server.addr]);
    let (clients, publishers) = start_load(&world);

    // Kill the server half-way through and restart it on the same port and data dir.
    world.reached(0.5).await;
    server.signal("-KILL");
    server.wait();
    let bind = format!("127.0.0.1:{port}");
    let server = ServerProcess::start(bin, dir.path(), &bind, &["--heartbeat-interval", "5s"]);
    *world.nodes.lock().await = vec![server.addr];

    finish(&world, clients, publishers, "chaos").await;
    server.signal("-TERM");
    assert!(server.wait().success());
}

/// Cluster mode: three nodes on one Redis; a third of the way through one node is SIGKILLed for
/// good, two thirds of the way Redis is `kill -9`ed and restarted from its AOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_in_cluster_mode_loses_and_duplicates_nothing() {
    let redis = RedisServer::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_socfeed"));
    let url = redis.url();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut nodes: Vec<ServerProcess> = dirs
        .iter()
        .map(|d| {
            ServerProcess::start(
                bin,
                d.path(),
                "127.0.0.1:0",
                &["--heartbeat-interval", "5s", "--engine", &url],
            )
        })
        .collect();
    let world = World::new(nodes.iter().map(|n| n.addr).collect());
    let (clients, publishers) = start_load(&world);

    world.reached(1.0 / 3.0).await;
    let killed = nodes.remove(0);
    *world.nodes.lock().await = nodes.iter().map(|n| n.addr).collect();
    killed.signal("-KILL");
    killed.wait();

    world.reached(2.0 / 3.0).await;
    redis.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();

    finish(&world, clients, publishers, "chaos (cluster)").await;
    for node in nodes {
        node.signal("-TERM");
        assert!(node.wait().success());
    }
}

/// Lets the publishers finish, sets every client's target to its tenant's head and checks
/// what the clients saw.
async fn finish(
    world: &Arc<World>,
    clients: Vec<ClientTask>,
    publishers: Vec<tokio::task::JoinHandle<()>>,
    name: &str,
) {
    let quota_total = QUOTA * publishers.len() as u64;
    for p in publishers {
        p.await.expect("publisher");
    }
    // Every client must reach its tenant's head (acknowledged or not, committed events count).
    let mut heads = HashMap::new();
    for tenant in TENANTS {
        let addr = world.pick().await;
        let mut c = WsClient::connect(&format!("ws://{addr}/ws?token={}", sub_token(tenant))).await;
        let ack = c.subscribe("all", None).await;
        let head = ack["payload"]["seq"].as_u64().expect("head");
        let acked = world.acked.lock().await.get(tenant).copied().unwrap_or(0);
        assert!(
            head >= acked,
            "{tenant}: head {head} below acknowledged {acked}"
        );
        heads.insert(tenant, head);
    }
    *world.targets.lock().await = Some(heads.clone());

    let mut total = Seen::default();
    let mut by_kind: HashMap<String, u64> = HashMap::new();
    for (kind, tenant, handle) in clients {
        let seen = handle.await.expect("client");
        assert_eq!(
            seen.last, heads[tenant],
            "{kind:?} client of {tenant} stopped at {}",
            seen.last
        );
        total.delivered += seen.delivered;
        total.lost += seen.lost;
        total.duplicated += seen.duplicated;
        total.cross_tenant += seen.cross_tenant;
        total.connections += seen.connections;
        *by_kind.entry(format!("{kind:?}")).or_default() += 1;
    }
    let acked = world.acked_events.load(Ordering::Relaxed);
    println!(
        "{name}: {acked} events acknowledged ({} committed), {} clients {by_kind:?}, {} connections, {} deliveries; lost {}, duplicated {}, cross-tenant {}",
        heads.values().sum::<u64>(),
        by_kind.values().sum::<u64>(),
        total.connections,
        total.delivered,
        total.lost,
        total.duplicated,
        total.cross_tenant
    );
    assert!(acked >= quota_total, "only {acked} events acknowledged");
    assert_eq!(
        (total.lost, total.duplicated, total.cross_tenant),
        (0, 0, 0)
    );
}

/// Publishes batches for `tenant` until its quota is acknowledged. A batch that fails (a node or
/// the engine is down; 503) is retried with the same ids, so it is stored once.
async fn publisher(world: Arc<World>, tenant: &'static str, me: usize) {
    let token = pub_token(tenant);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + PUBLISH_FOR;
    let mut mine = 0u64;
    while mine < QUOTA {
        assert!(
            Instant::now() < deadline,
            "{tenant}: publishing did not finish"
        );
        let n = rand::random_range(20..60);
        let batch: Vec<Value> = (0..n)
            .map(|i| json!({"id": format!("{tenant}-{me}-{}", mine + i), "type": if i % 3 == 0 { "alert.new" } else { "case.updated" }, "payload": {"tenant": tenant, "severity": "high"}}))
            .collect();
        loop {
            if publish_batch(&world, &http, &token, tenant, &batch).await {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{tenant}: publishing did not finish"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        world.acked_events.fetch_add(n, Ordering::Relaxed);
        mine += n;
        tokio::time::sleep(Duration::from_millis(rand::random_range(10..30))).await;
    }
}

/// Sends one batch to some node; whether it was acknowledged.
async fn publish_batch(
    world: &World,
    http: &reqwest::Client,
    token: &str,
    tenant: &'static str,
    batch: &[Value],
) -> bool {
    {
        let addr = world.pick().await;
        let sent = http
            .post(format!("http://{addr}/v1/events"))
            .bearer_auth(token)
            .json(&batch)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let Ok(resp) = sent else {
            return false;
        };
        if resp.status().as_u16() != 202 {
            return false;
        }
        let Ok(body) = resp.json::<Value>().await else {
            return false;
        };
        let max = body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .max();
        let mut acked = world.acked.lock().await;
        let entry = acked.entry(tenant).or_default();
        *entry = (*entry).max(max.unwrap_or(0));
        true
    }
}

/// One resuming client: connects, reads for a random while, drops the connection, resumes from
/// its last seq; until the final target of its tenant is reached.
async fn client(world: Arc<World>, kind: Kind, tenant: &'static str) -> Seen {
    let mut seen = Seen::default();
    let deadline = Instant::now() + PUBLISH_FOR + CATCH_UP + Duration::from_secs(20);
    loop {
        let target = world.targets.lock().await.as_ref().map(|t| t[tenant]);
        if target.is_some_and(|t| seen.last >= t) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{kind:?} client of {tenant} did not catch up (at {}, {} connections, {:?})",
            seen.last,
            seen.connections,
            seen.ends
        );
        let addr = world.pick().await;
        // Stay connected for a random while; once publishing is over, until caught up.
        let stay = match target {
            None => Duration::from_millis(rand::random_range(300..4000)),
            Some(_) => Duration::from_secs(5),
        };
        seen.connections += 1;
        let connected = match kind {
            Kind::Aisoc => aisoc(addr, tenant, stay, &mut seen).await,
            Kind::Govern => govern(addr, tenant, stay, &mut seen).await,
            Kind::Sse => sse(addr, tenant, stay, &mut seen).await,
        };
        if !connected {
            tokio::time::sleep(Duration::from_millis(rand::random_range(50..250))).await;
        }
    }
}

/// Returns whether a connection was made.
async fn aisoc(addr: std::net::SocketAddr, tenant: &str, stay: Duration, seen: &mut Seen) -> bool {
    let url = format!("ws://{addr}/ws?token={}", sub_token(tenant));
    let connect = tokio::time::timeout(
        Duration::from_secs(2),
        tokio_tungstenite::connect_async(url),
    );
    let Ok(Ok((stream, _))) = connect.await else {
        return false;
    };
    let mut c = WsClient { stream };
    c.send_json(&json!({"type":"subscribe","channel":"all","since": seen.last}))
        .await;
    let until = Instant::now() + stay;
    loop {
        match c
            .next_json_within(until.saturating_duration_since(Instant::now()))
            .await
        {
            Ok(Some(m)) => {
                if let Some(seq) = m["seq"].as_u64() {
                    seen.event(tenant, seq, &m["payload"]["tenant"]);
                }
            }
            Ok(None) => break seen.ended(format!("stayed {stay:?} until {}", seen.last)),
            Err(closed) => break seen.ended(format!("closed {closed:?} at {}", seen.last)),
        }
    }
    true
}

async fn govern(addr: std::net::SocketAddr, tenant: &str, stay: Duration, seen: &mut Seen) -> bool {
    let url = format!(
        "ws://{addr}/v1/soc/feed?token={}&since={}",
        sub_token(tenant),
        seen.last
    );
    let connect = tokio::time::timeout(
        Duration::from_secs(2),
        tokio_tungstenite::connect_async(url),
    );
    let Ok(Ok((stream, _))) = connect.await else {
        return false;
    };
    let mut c = WsClient { stream };
    let until = Instant::now() + stay;
    loop {
        match c
            .next_json_within(until.saturating_duration_since(Instant::now()))
            .await
        {
            Ok(Some(m)) if m["event"] == "feed.replay" => {
                for e in m["data"]["events"].as_array().into_iter().flatten() {
                    seen.event(tenant, e["seq"].as_u64().unwrap_or(0), &e["data"]["tenant"]);
                }
            }
            Ok(Some(m)) => {
                if let Some(seq) = m["seq"].as_u64() {
                    seen.event(tenant, seq, &m["data"]["tenant"]);
                }
            }
            Ok(None) => break seen.ended(format!("stayed {stay:?} until {}", seen.last)),
            Err(closed) => break seen.ended(format!("closed {closed:?} at {}", seen.last)),
        }
    }
    true
}

async fn sse(addr: std::net::SocketAddr, tenant: &str, stay: Duration, seen: &mut Seen) -> bool {
    let url = format!("http://{addr}/v1/soc/feed/sse?token={}", sub_token(tenant));
    let last = seen.last.to_string();
    let headers = [("last-event-id", last.as_str())];
    let connect = SseClient::try_connect(&url, &headers);
    let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
        return false;
    };
    if c.status != 200 {
        seen.ended(format!("status {}", c.status));
        return false;
    }
    let until = Instant::now() + stay;
    loop {
        match c
            .next_within(until.saturating_duration_since(Instant::now()))
            .await
        {
            Ok(Some(e)) if e.event == "feed.heartbeat" || e.id.is_empty() => {}
            Ok(Some(e)) => {
                let m: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                seen.event(tenant, m["seq"].as_u64().unwrap_or(0), &m["data"]["tenant"]);
            }
            Ok(None) => break seen.ended(format!("stayed {stay:?} until {}", seen.last)),
            Err(()) => break seen.ended(format!("stream ended at {}", seen.last)),
        }
    }
    true
}
