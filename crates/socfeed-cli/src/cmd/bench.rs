//! `socfeed bench`: a load generator. Many AiSOC subscribers on `/ws`, one publisher on
//! `POST /v1/events`; measures publish→deliver latency, deliveries per second, loss, duplicates,
//! server closes, and the CPU and memory of the server and of the generator itself.
//!
//! A run: (spawn the server) → ramp up the subscribers → publish for warm-up + duration → wait
//! for stragglers (drain) → close everything → report. Every phase is bounded in time, and
//! traffic only goes to this machine.

mod cluster;
mod failover;
mod fanout;
mod procfs;
mod publisher;
mod report;
mod seqset;
mod subscriber;
mod target;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use socfeed_proto::{Channel, Role, TenantId};
use socfeed_server::parse_duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::cluster::Cluster;
use self::procfs::{CpuTimes, Proc};
use self::publisher::Pace;
use self::report::{
    Connections, Deliveries, EngineUsage, Published, Results, ServerUsage, Setup, Usage,
};
use self::subscriber::{Board, Ending, Outcome};
use self::target::{SpawnArgs, Target};

/// Descriptors needed besides one per subscriber (publisher, runtime, stdio, /proc reads).
const FD_MARGIN: u64 = 64;
/// At a fixed rate, at most this many publish requests a second; above it batches grow.
const MAX_TICKS_PER_SECOND: f64 = 1000.0;
/// The default publish body limit of the server, with room for the JSON around the payloads.
const MAX_BODY: usize = 1024 * 1024;
/// How long subscribers get to report once told to stop.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the drain checks whether every session caught up.
const DRAIN_POLL: Duration = Duration::from_millis(5);

#[derive(clap::Args)]
pub struct Args {
    /// Server base URL (this machine only).
    #[arg(long, env = "SOCFEED_URL", default_value = "http://127.0.0.1:8086")]
    url: String,
    /// HS256 secret the server verifies tokens with; with --spawn a random one is used by default.
    #[arg(long, env = "SOCFEED_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Tenant of the tokens and the events.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// WebSocket subscribers.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 2000.0)]
    ramp: f64,
    /// Events per second (open loop).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Closed loop instead of --rate: send the next batch as soon as the previous one is acknowledged.
    #[arg(long, conflicts_with = "rate")]
    max: bool,
    /// Publish requests in flight with --max.
    #[arg(long, default_value_t = 1, requires = "max")]
    concurrency: usize,
    /// Events per publish request [default: 1, or 100 with --max].
    #[arg(long)]
    batch: Option<usize>,
    /// Size of each event's payload JSON, in bytes.
    #[arg(long, default_value_t = 200)]
    payload_size: usize,
    /// Measured publishing time, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Publishing before the measurement starts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// After publishing stops, how long to wait for deliveries still on their way.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    drain: Duration,
    /// Channel every subscriber subscribes to.
    #[arg(long, default_value = "all")]
    channel: String,
    /// How subscribers connect: `ws` (AiSOC WebSocket, `/ws`), `govern-ws` (GOVERN WebSocket,
    /// `/v1/soc/feed`, every channel), `sse` (GOVERN Server-Sent Events, `/v1/soc/feed/sse`,
    /// every channel), or `nchan`: not socfeed but an nginx + nchan server at --url, with
    /// WebSocket subscribers on `/sub/<id>` and one message per `POST /pub/<id>` (for
    /// side-by-side comparisons; see bench/compare.sh).
    #[arg(long, default_value = "ws", value_parser = ["ws", "govern-ws", "sse", "nchan"])]
    transport: String,
    /// Type of the published events (its channel must be --channel unless that is `all`).
    #[arg(long, default_value = "alert.created")]
    event_type: String,
    /// PID of the server, to report its memory and CPU (implied by --spawn).
    #[arg(long, conflicts_with = "spawn")]
    server_pid: Option<u32>,
    /// PID of a process the server depends on (e.g. redis-server), to report its CPU over the
    /// measured window as the engine's.
    #[arg(long, value_name = "PID")]
    engine_pid: Option<u32>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    spawn: SpawnArgs,
}

/// The checked settings of a run.
struct Settings {
    tenant: TenantId,
    channel: Channel,
    pace: Pace,
    batch: usize,
    secret: String,
    /// Tells this run's channels apart from earlier runs' (nchan keeps messages between runs).
    run_id: u64,
}

impl Settings {
    fn check(args: &Args) -> anyhow::Result<Settings> {
        let tenant = TenantId::parse(&args.tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
        let channel = Channel::parse(&args.channel).context("--channel")?;
        let of_type = Channel::of(&args.event_type).context("--event-type")?;
        ensure!(
            channel.is_all() || channel == of_type,
            "--event-type {} is on channel {}, not {}: subscribers would see nothing",
            args.event_type,
            of_type.as_str(),
            channel.as_str()
        );
        ensure!(
            args.ramp > 0.0 && args.ramp.is_finite(),
            "--ramp must be a positive number"
        );
        ensure!(
            args.rate > 0.0 && args.rate.is_finite(),
            "--rate must be a positive number"
        );
        ensure!(!args.duration.is_zero(), "--duration must be more than 0s");
        ensure!(
            args.spawn.kill_node_after.is_none()
                || (args.spawn.nodes >= 2 && args.transport == "ws"),
            "--kill-node-after needs --nodes 2 or more and --transport ws"
        );
        let (pace, batch) = pace_and_batch(args)?;
        ensure!(
            !args.nchan() || (batch == 1 && !args.spawn.spawn),
            "--transport nchan publishes one message per request (--batch 1; use --concurrency \
             for more in flight; a rate above 1000/s needs --max) to an nginx + nchan at --url (no --spawn)"
        );
        ensure!(
            batch * (args.payload_size + args.event_type.len() + 32) < MAX_BODY,
            "a batch of {batch} events of {} bytes exceeds the 1 MiB publish limit",
            args.payload_size
        );
        Ok(Settings {
            tenant,
            channel,
            pace,
            batch,
            secret: secret(args)?,
            run_id: wire::unix_nanos(),
        })
    }
}

fn pace_and_batch(args: &Args) -> anyhow::Result<(Pace, usize)> {
    if args.max {
        let batch = args.batch.unwrap_or(100);
        ensure!(batch > 0, "--batch must be at least 1");
        return Ok((
            Pace::Max {
                concurrency: args.concurrency.max(1),
            },
            batch,
        ));
    }
    let asked = args.batch.unwrap_or(1);
    ensure!(asked > 0, "--batch must be at least 1");
    let needed = (args.rate / MAX_TICKS_PER_SECOND).ceil() as usize;
    if needed > asked {
        eprintln!(
            "bench: {} events/s needs batches of at least {needed}; using {needed}",
            args.rate
        );
    }
    Ok((Pace::Rate(args.rate), asked.max(needed)))
}

impl Args {
    /// Whether the server under test is nginx + nchan rather than socfeed.
    fn nchan(&self) -> bool {
        self.transport == "nchan"
    }
}

fn secret(args: &Args) -> anyhow::Result<String> {
    if args.nchan() {
        return Ok(String::new());
    }
    match (&args.jwt_secret, args.spawn.spawn) {
        (Some(s), _) => Ok(s.clone()),
        (None, true) => Ok(format!(
            "bench-{}-{}",
            wire::unix_nanos(),
            std::process::id()
        )),
        (None, false) => {
            bail!("--jwt-secret is needed to mint tokens for a running server (or use --spawn)")
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let settings = Settings::check(&args)?;
    procfs::ensure_fd_limit(args.subscribers as u64 + FD_MARGIN)?;
    let spawned = match args.spawn.spawn {
        true => Some(Cluster::start(&args.spawn, &settings.secret, args.subscribers).await?),
        false => None,
    };
    let results = bench(&args, &settings, spawned.as_ref()).await;
    if let Some(server) = spawned {
        server.stop().await?;
    }
    let results = results?;
    if args.json {
        println!("{}", results.to_json());
    } else {
        print!("{}", results.to_text());
    }
    Ok(())
}

/// The processes whose CPU a run reports besides its own.
struct Watched {
    /// The server's nodes (empty when its pid is unknown).
    server: Vec<Proc>,
    engine: Option<Proc>,
}

/// The run itself, against a server that is up (with `--nodes`, several).
async fn bench(
    args: &Args,
    settings: &Settings,
    spawned: Option<&Cluster>,
) -> anyhow::Result<Results> {
    let targets = match spawned {
        Some(c) => c.targets(),
        None => vec![Target::parse(&args.url)?],
    };
    let server_pids = match spawned {
        Some(c) => c.pids(),
        None => args.server_pid.into_iter().collect(),
    };
    let watched = Watched {
        server: server_pids.iter().copied().map(Proc::Pid).collect(),
        engine: args.engine_pid.map(Proc::Pid),
    };
    let rss_idle = rss(&watched.server);
    let board = Board::new(args.subscribers);
    let ramp = ramp_up(args, settings, &targets, &board, &watched.server).await?;
    let window = publish_and_drain(args, settings, &targets, &board, &watched).await?;
    board.stop();
    let tally = Tally::of(collect(ramp.handles).await, &window.published.acked)?;
    let rss_end = rss(&watched.server);
    let server = (!server_pids.is_empty()).then(|| ServerUsage {
        usage: window.after.server_usage(&window.before, rss_end),
        pids: server_pids,
        rss_idle,
        rss_connected: ramp.rss_connected,
    });
    let engine = args.engine_pid.map(|pid| EngineUsage {
        pid,
        usage: window
            .after
            .engine_usage(&window.before, rss(&[Proc::Pid(pid)])),
    });
    Ok(results(
        setup(args, settings, &targets, spawned.is_some()),
        ramp.time,
        window,
        tally,
        (server, engine),
    ))
}

/// The subscribers, once every one of them is subscribed (or failed).
struct Ramp {
    handles: Vec<JoinHandle<Outcome>>,
    time: Duration,
    /// Server RSS with every subscriber connected, before publishing.
    rss_connected: Option<u64>,
}

async fn ramp_up(
    args: &Args,
    settings: &Settings,
    targets: &[Target],
    board: &Arc<Board>,
    server: &[Proc],
) -> anyhow::Result<Ramp> {
    let plans = match args.spawn.kill_node_after {
        // Every subscriber on node 0, to resubscribe on the others once it is killed.
        Some(_) => {
            let others = targets
                .iter()
                .skip(1)
                .map(|t| subscriber_plan(args, settings, t).map(|p| p.url.clone()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let first = targets.first().context("no server to subscribe to")?;
            let mut plan = subscriber_plan(args, settings, first)?;
            if let Some(p) = Arc::get_mut(&mut plan) {
                p.resume = Some(subscriber::Resume {
                    urls: others,
                    channel: settings.channel.as_str().to_owned(),
                });
            }
            vec![plan]
        }
        None => targets
            .iter()
            .map(|t| subscriber_plan(args, settings, t))
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    let started = Instant::now();
    let handles = connect_all(&plans, args.subscribers, args.ramp, board).await;
    let time = started.elapsed();
    eprintln!(
        "bench: {} of {} subscribers subscribed in {:.2} s; publishing",
        board.open(),
        args.subscribers,
        time.as_secs_f64()
    );
    Ok(Ramp {
        handles,
        time,
        rss_connected: rss(server),
    })
}

/// The publishing window and the drain after it.
struct Window {
    published: publisher::Report,
    caught_up: bool,
    drain_time: Duration,
    /// At the start of the measured window (after the warm-up).
    before: Snapshot,
    /// At the end of the drain.
    after: Snapshot,
    /// The server's fan-out latency over the window, from its `/metrics`.
    server_fanout: Option<fanout::Summary>,
    /// With `--kill-node-after`: how the subscribers of the killed node came back.
    failover: Option<failover::Summary>,
}

async fn publish_and_drain(
    args: &Args,
    settings: &Settings,
    targets: &[Target],
    board: &Arc<Board>,
    watched: &Watched,
) -> anyhow::Result<Window> {
    // With a node to kill, publishing goes to the last node, which stays up.
    let target = match args.spawn.kill_node_after {
        Some(_) => targets.last(),
        None => targets.first(),
    }
    .context("no server to publish to")?;
    let nodes: Vec<String> = targets.iter().map(|t| t.http.clone()).collect();
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + args.warmup;
    board.measure_from(wire::unix_nanos() + duration_nanos(measure_from - Instant::now()));
    let plan = publisher_plan(args, settings, target, start)?;
    let publishing = tokio::spawn(publisher::run(plan));
    let killing = match (args.spawn.kill_node_after, watched.server.first()) {
        (Some(after), Some(&Proc::Pid(pid))) => {
            let board = Arc::clone(board);
            Some(tokio::spawn(async move {
                tokio::time::sleep_until(start + after).await;
                let at = wire::unix_nanos();
                board.killed(at);
                failover::kill(pid).map(|()| at)
            }))
        }
        _ => None,
    };
    tokio::time::sleep_until(measure_from).await;
    let before = Snapshot::take(watched);
    let fanout_before = fanout::scrape_all(&nodes).await;
    let published = publishing.await.context("the publisher failed")??;
    let drain_started = Instant::now();
    let caught_up = drain(board, published.last_seq(), args.drain).await;
    let drain_time = drain_started.elapsed();
    let after = Snapshot::take(watched);
    let fanout_after = fanout::scrape_all(&nodes).await;
    let server_fanout = fanout_after
        .zip(fanout_before)
        .map(|(a, b)| a.since(&b).summary());
    let failover = match killing {
        Some(task) => {
            let killed_ns = task.await.context("the kill task failed")??;
            Some(failover::summarize(killed_ns, &board.failover_marks()))
        }
        None => None,
    };
    eprintln!("bench: published {} events; closing", published.acked.len());
    Ok(Window {
        published,
        caught_up,
        drain_time,
        before,
        after,
        server_fanout,
        failover,
    })
}

fn results(
    setup: Setup,
    ramp_time: Duration,
    window: Window,
    tally: Tally,
    (server, engine): (Option<ServerUsage>, Option<EngineUsage>),
) -> Results {
    let Window {
        published,
        caught_up,
        drain_time,
        before,
        after,
        server_fanout,
        failover,
    } = window;
    Results {
        setup,
        connections: Connections {
            established: tally.established,
            failed: tally.failed,
            first_failure: tally.first_failure,
            ramp_time,
        },
        published: Published {
            events: published.acked.len() as u64,
            measured_events: published.measured_events,
            requests: published.requests,
            failures: published.failures,
        },
        deliveries: Deliveries {
            frames: tally.frames,
            measured: tally.measured,
            lost: tally.lost,
            duplicates: tally.duplicates,
            unexpected: tally.unexpected,
            caught_up,
            drain_time,
        },
        server_closes: tally.closes,
        latency: tally.latency,
        publish_latency: published.latency,
        server,
        engine,
        generator: after.own_usage(&before),
        machine_busy: after.machine_busy(&before),
        server_fanout,
        failover,
    }
}

fn subscriber_plan(
    args: &Args,
    settings: &Settings,
    target: &Target,
) -> anyhow::Result<Arc<subscriber::Plan>> {
    if args.nchan() {
        return Ok(Arc::new(subscriber::Plan {
            url: format!("{}/sub/{}", target.ws_base(), nchan_channel(settings)),
            subscribe: None,
            follow: None,
            resume: None,
        }));
    }
    let token = mint(args, settings, "bench-subscriber", Role::Subscriber)?;
    Ok(Arc::new(subscriber::Plan {
        url: format!("{}?token={token}", target.ws),
        subscribe: Some(
            serde_json::json!({"type": "subscribe", "channel": settings.channel.as_str()})
                .to_string(),
        ),
        follow: match args.transport.as_str() {
            "sse" => Some(subscriber::Follow::Sse(format!(
                "{}/v1/soc/feed/sse?token={token}",
                target.http
            ))),
            "govern-ws" => Some(subscriber::Follow::GovernWs(format!(
                "{}/v1/soc/feed?token={token}",
                target.ws_base()
            ))),
            _ => None,
        },
        resume: None,
    }))
}

fn publisher_plan(
    args: &Args,
    settings: &Settings,
    target: &Target,
    start: Instant,
) -> anyhow::Result<publisher::Plan> {
    let (url, token, nchan) = match args.nchan() {
        true => (
            format!("{}/pub/{}", target.http, nchan_channel(settings)),
            String::new(),
            true,
        ),
        false => (
            format!("{}/v1/events", target.http),
            mint(args, settings, "bench-publisher", Role::Publisher)?,
            false,
        ),
    };
    Ok(publisher::Plan {
        url,
        token,
        nchan,
        next_seq: std::sync::atomic::AtomicU64::new(1),
        event_type: args.event_type.clone(),
        payload_size: args.payload_size,
        batch: settings.batch,
        pace: settings.pace,
        start,
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
    })
}

/// The nchan channel of this run: new for every run, so no message of an earlier run is replayed
/// to the subscribers.
fn nchan_channel(settings: &Settings) -> String {
    format!("{}_{}", settings.channel.as_str(), settings.run_id)
}

/// A token of the bench tenant that outlives the whole run.
fn mint(args: &Args, settings: &Settings, sub: &str, role: Role) -> anyhow::Result<String> {
    let ttl = Duration::from_secs(3600) + args.warmup + args.duration + args.drain;
    let claims = socfeed_auth::claims(settings.tenant.as_str(), sub, &[role], None, ttl);
    socfeed_auth::Minter::hs256(&settings.secret)
        .mint(&claims)
        .context("minting a token")
}

/// Starts `n` subscribers at `ramp` a second, spread over `plans` (one per node) in turn, and
/// waits until each has its subscribe ack or failed.
async fn connect_all(
    plans: &[Arc<subscriber::Plan>],
    n: usize,
    ramp: f64,
    board: &Arc<Board>,
) -> Vec<JoinHandle<Outcome>> {
    let started = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for index in 0..n {
        tokio::time::sleep_until(started + Duration::from_secs_f64(index as f64 / ramp)).await;
        let plan = &plans[index % plans.len()];
        handles.push(tokio::spawn(subscriber::run(
            index,
            Arc::clone(plan),
            Arc::clone(board),
        )));
    }
    // Each handshake has its own timeout; the deadline only guards against a task that died.
    let deadline = Instant::now() + subscriber::HANDSHAKE_TIMEOUT + Duration::from_secs(5);
    while board.settled() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handles
}

/// Waits until every open session received `last_seq`, or `limit`; whether they all did.
async fn drain(board: &Board, last_seq: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if board.caught_up(last_seq) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Every subscriber's outcome; one that does not report in time counts as failed.
async fn collect(handles: Vec<JoinHandle<Outcome>>) -> Vec<Outcome> {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let mut outcomes = Vec::with_capacity(handles.len());
    for handle in handles {
        let abort = handle.abort_handle();
        let outcome = match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Outcome::Failed(format!("subscriber task failed: {e}")),
            Err(_) => {
                abort.abort();
                Outcome::Failed("subscriber did not report in time".into())
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// The subscribers' counts added up.
struct Tally {
    established: u64,
    failed: u64,
    first_failure: Option<String>,
    frames: u64,
    measured: u64,
    lost: u64,
    duplicates: u64,
    unexpected: u64,
    closes: BTreeMap<String, u64>,
    latency: hdrhistogram::Histogram<u64>,
}

impl Tally {
    fn of(outcomes: Vec<Outcome>, acked: &[u64]) -> anyhow::Result<Tally> {
        let mut t = Tally {
            established: 0,
            failed: 0,
            first_failure: None,
            frames: 0,
            measured: 0,
            lost: 0,
            duplicates: 0,
            unexpected: 0,
            closes: BTreeMap::new(),
            latency: hdrhistogram::Histogram::new_with_bounds(1, subscriber::LATENCY_MAX_US, 3)
                .context("creating a histogram")?,
        };
        for outcome in outcomes {
            match outcome {
                Outcome::Failed(reason) => {
                    t.failed += 1;
                    t.first_failure.get_or_insert(reason);
                }
                Outcome::Ran(stats) => t.add(&stats, acked)?,
            }
        }
        Ok(t)
    }

    fn add(&mut self, s: &subscriber::Stats, acked: &[u64]) -> anyhow::Result<()> {
        self.established += 1;
        self.frames += s.received;
        self.measured += s.measured;
        self.duplicates += s.duplicates;
        self.unexpected += s.unexpected;
        self.lost += s.seen.missing(acked);
        self.latency.add(&s.latency).context("merging latencies")?;
        let closed = match &s.ending {
            Ending::Stopped => None,
            Ending::ServerClosed(code) => Some(code.to_string()),
            Ending::Dropped => Some("no close frame".to_owned()),
            Ending::Error(_) => Some("read error".to_owned()),
        };
        if let Some(key) = closed {
            *self.closes.entry(key).or_default() += 1;
        }
        Ok(())
    }
}

/// CPU times of the server (its nodes summed), of the engine, of this process and of the whole
/// machine at one instant.
struct Snapshot {
    at: Instant,
    server: Option<CpuTimes>,
    engine: Option<CpuTimes>,
    own: Option<CpuTimes>,
    machine: Option<Duration>,
}

impl Snapshot {
    fn take(watched: &Watched) -> Snapshot {
        let server = match watched.server.is_empty() {
            true => None,
            false => warn(procfs::cpu_sum(&watched.server)),
        };
        Snapshot {
            at: Instant::now(),
            server,
            engine: watched.engine.and_then(|p| warn(p.cpu())),
            own: warn(Proc::Own.cpu()),
            machine: warn(procfs::machine_busy()),
        }
    }

    fn server_usage(&self, before: &Snapshot, rss_end: Option<u64>) -> Usage {
        let cpu = self.server.zip(before.server).map(|(a, b)| a.since(b));
        Usage {
            cpu,
            wall: self.at - before.at,
            rss_end,
        }
    }

    fn engine_usage(&self, before: &Snapshot, rss_end: Option<u64>) -> Usage {
        let cpu = self.engine.zip(before.engine).map(|(a, b)| a.since(b));
        Usage {
            cpu,
            wall: self.at - before.at,
            rss_end,
        }
    }

    fn own_usage(&self, before: &Snapshot) -> Usage {
        let cpu = self.own.zip(before.own).map(|(a, b)| a.since(b));
        Usage {
            cpu,
            wall: self.at - before.at,
            rss_end: Proc::Own.rss().ok(),
        }
    }

    fn machine_busy(&self, before: &Snapshot) -> Option<Duration> {
        Some(self.machine?.saturating_sub(before.machine?))
    }
}

/// The processes' resident memory summed; `None` for none.
fn rss(processes: &[Proc]) -> Option<u64> {
    match processes.is_empty() {
        true => None,
        false => warn(procfs::rss_sum(processes)),
    }
}

/// The value, or `None` after printing why there is none.
fn warn<T>(result: anyhow::Result<T>) -> Option<T> {
    result.map_err(|e| eprintln!("bench: {e:#}")).ok()
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn setup(args: &Args, settings: &Settings, targets: &[Target], spawned: bool) -> Setup {
    let server_kind = match spawned {
        false if args.nchan() => "nginx + nchan (external)".to_owned(),
        false => "external".to_owned(),
        true => {
            let log = args.spawn.engine.to_string();
            let cpu = args
                .spawn
                .server_cpu
                .as_deref()
                .map(|c| format!(", CPU {c}"))
                .unwrap_or_default();
            let queue = args
                .spawn
                .queue_len
                .map(|q| format!(", queue {q}"))
                .unwrap_or_default();
            let extra = match args.spawn.server_args.is_empty() {
                true => String::new(),
                false => format!(", {}", args.spawn.server_args.join(" ")),
            };
            let nodes = match args.spawn.nodes {
                1 => String::new(),
                n => format!("{n} nodes, "),
            };
            format!("spawned, {nodes}{log} log{cpu}{queue}{extra}")
        }
    };
    let pace = match settings.pace {
        Pace::Rate(rate) => format!("{rate} events/s"),
        Pace::Max { concurrency } => format!("max ({concurrency} request(s) in flight)"),
    };
    Setup {
        target: targets
            .iter()
            .map(|t| t.http.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        server_kind,
        subscribers: args.subscribers,
        nodes: targets.len(),
        channel: settings.channel.as_str().to_owned(),
        pace,
        batch: settings.batch,
        payload_size: args.payload_size,
        warmup: args.warmup,
        duration: args.duration,
    }
}
