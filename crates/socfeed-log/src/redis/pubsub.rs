//! The pub/sub connection of one [`super::RedisLog`]: a task, started by the first follow,
//! that keeps one connection subscribed to the live channel of every followed tenant and
//! routes each message to that tenant's follower (`follow.rs`) without waiting for it.
//!
//! * A follow subscribes the tenant's channel (the last unfollow unsubscribes it); once Redis
//!   confirms, the follower is told (`Subscribed`) and reads its head.
//! * Lost connection (closed, or no PONG within the timeout): every follower is told `Down`;
//!   the task connects again with a backoff (50 ms doubling to 1 s), subscribes every followed
//!   tenant in one command, tells the listener (`resubscribed`) and each follower, which
//!   catches up from its last seq.
//! * Every second, while connected: a PING, and every followed head in one pipeline
//!   (`fetch::heads`), handed to the followers, which repair a lost last message.
//! * Ends when the log is dropped (its command sender goes with it).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redis::aio::{PubSubSink, PubSubStream};
use ::redis::{Client, Msg, Value};
use futures_util::StreamExt;
use socfeed_proto::TenantId;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::{Instant, MissedTickBehavior};

use super::error::{NoReply, unavailable};
use super::fetch::{self, Seen};
use super::follow::{Control, Data};
use super::{Inner, Keys};
use crate::{CommitListener, LogError};

/// Reconnection backoff: from this, doubling up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// How often the connection is pinged and the followed heads checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What the log asks of the connection.
pub(crate) enum Command {
    /// Subscribe the tenant's channel; its follower gets `control` and `data`.
    Follow {
        tenant: TenantId,
        id: u64,
        control: mpsc::UnboundedSender<Control>,
        data: mpsc::Sender<Data>,
    },
    /// The follower `id` of the tenant is no longer wanted.
    Unfollow { tenant: TenantId, id: u64 },
}

/// What the connection's side tasks report.
enum Report {
    Pong { generation: u64, ok: bool },
    Heads(Vec<(TenantId, u64)>, Result<Vec<Option<Seen>>, LogError>),
}

/// What woke the task.
enum Wake {
    Command(Option<Command>),
    Message(Option<Msg>),
    Report(Report),
    Tick,
    Retry,
}

/// A followed tenant as the connection knows it.
struct Followed {
    id: u64,
    control: mpsc::UnboundedSender<Control>,
    data: mpsc::Sender<Data>,
}

/// Where the connection task connects and whom it tells.
pub(crate) struct Setup {
    pub(crate) log: Weak<Inner>,
    pub(crate) client: Client,
    pub(crate) keys: Keys,
    pub(crate) timeout: Duration,
    pub(crate) listener: Arc<dyn CommitListener>,
}

/// Starts the connection task on `runtime`; it ends when the returned sender is dropped.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    setup: Setup,
) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (reports, reported) = mpsc::unbounded_channel();
    let task = Connection {
        setup,
        commands: rx,
        reports,
        reported,
        tenants: HashMap::new(),
        sink: None,
        stream: None,
        generation: 0,
        backoff: RECONNECT_MIN,
        retry_at: Instant::now(),
        failures: 0,
        lost_while_following: false,
        pinging: false,
        checking: false,
    };
    runtime.spawn(task.run());
    tx
}

struct Connection {
    setup: Setup,
    commands: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
    reported: mpsc::UnboundedReceiver<Report>,
    tenants: HashMap<TenantId, Followed>,
    sink: Option<PubSubSink>,
    stream: Option<PubSubStream>,
    /// Counts connections, so a late report about an earlier one is ignored.
    generation: u64,
    backoff: Duration,
    retry_at: Instant,
    /// Connection attempts failed in a row (the first is logged).
    failures: u32,
    /// The connection was lost while tenants were followed: the next one is a resubscription.
    lost_while_following: bool,
    pinging: bool,
    checking: bool,
}

impl Connection {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if self.wants_connection() && Instant::now() >= self.retry_at {
                self.connect().await;
            }
            let retry = self.wants_connection();
            let wake = tokio::select! {
                command = self.commands.recv() => Wake::Command(command),
                message = next(&mut self.stream) => Wake::Message(message),
                Some(report) = self.reported.recv() => Wake::Report(report),
                _ = tick.tick() => Wake::Tick,
                () = tokio::time::sleep_until(self.retry_at), if retry => Wake::Retry,
            };
            match wake {
                Wake::Command(None) => return,
                Wake::Command(Some(command)) => self.command(command).await,
                Wake::Message(Some(message)) => self.route(&message),
                Wake::Message(None) => self.lost("the connection closed"),
                Wake::Report(report) => self.report(report),
                Wake::Tick => self.tick(),
                Wake::Retry => {}
            }
        }
    }

    fn wants_connection(&self) -> bool {
        self.sink.is_none() && !self.tenants.is_empty()
    }

    /// Connects and subscribes every followed tenant, within the timeout.
    async fn connect(&mut self) {
        let channels: Vec<String> = self
            .tenants
            .keys()
            .map(|t| self.setup.keys.live(t))
            .collect();
        let client = self.setup.client.clone();
        let attempt = async move {
            let (mut sink, stream) = client.get_async_pubsub().await?.split();
            sink.subscribe(&channels).await?;
            Ok::<_, ::redis::RedisError>((sink, stream))
        };
        match tokio::time::timeout(self.setup.timeout, attempt).await {
            Ok(Ok((sink, stream))) => {
                self.generation += 1;
                self.sink = Some(sink);
                self.stream = Some(stream);
                self.backoff = RECONNECT_MIN;
                if self.failures > 0 {
                    tracing::info!(tenants = self.tenants.len(), "live events: connected again");
                }
                self.failures = 0;
                if std::mem::take(&mut self.lost_while_following) {
                    self.setup.listener.resubscribed();
                }
                for followed in self.tenants.values() {
                    let _ = followed.control.send(Control::Subscribed);
                }
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => unavailable("subscribe to live events", e),
                    _ => unavailable("subscribe to live events", NoReply(self.setup.timeout)),
                };
                if self.failures == 0 {
                    tracing::warn!(error = %error, "live events: cannot connect; retrying");
                }
                self.failures += 1;
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(RECONNECT_MAX);
            }
        }
    }

    fn lost(&mut self, why: &str) {
        self.sink = None;
        self.stream = None;
        self.pinging = false;
        if !self.tenants.is_empty() {
            tracing::warn!(
                why,
                tenants = self.tenants.len(),
                "live events: connection lost"
            );
            self.lost_while_following = true;
            for followed in self.tenants.values() {
                let _ = followed.control.send(Control::Down);
            }
        }
        self.retry_at = Instant::now() + self.backoff;
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Follow {
                tenant,
                id,
                control,
                data,
            } => {
                let channel = self.setup.keys.live(&tenant);
                self.tenants.insert(
                    tenant,
                    Followed {
                        id,
                        control: control.clone(),
                        data,
                    },
                );
                // Not connected: the next connection subscribes it with the others.
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                match tokio::time::timeout(self.setup.timeout, sink.subscribe(&channel)).await {
                    Ok(Ok(())) => {
                        let _ = control.send(Control::Subscribed);
                    }
                    _ => self.lost("a subscription was not confirmed"),
                }
            }
            Command::Unfollow { tenant, id } => {
                if self.tenants.get(&tenant).is_none_or(|f| f.id != id) {
                    return;
                }
                self.tenants.remove(&tenant);
                let channel = self.setup.keys.live(&tenant);
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                let done = tokio::time::timeout(self.setup.timeout, sink.unsubscribe(&channel));
                if !matches!(done.await, Ok(Ok(()))) {
                    self.lost("an unsubscription was not confirmed");
                }
            }
        }
    }

    /// Hands a message to its tenant's follower, or drops it when its queue is full (the
    /// follower repairs the gap from the stream).
    fn route(&self, message: &Msg) {
        let Some(tenant) = self.setup.keys.tenant_of_live(message.get_channel_name()) else {
            return;
        };
        let Some(followed) = self.tenants.get(&tenant) else {
            return;
        };
        let data = Data::Message(message.get_payload_bytes().to_vec());
        if let Err(TrySendError::Full(_)) = followed.data.try_send(data) {
            tracing::debug!(tenant = %tenant, "a follower's queue is full: a live message is dropped (repaired later)");
        }
    }

    /// A PING, and the head check (each at most one at a time), off this task.
    fn tick(&mut self) {
        let Some(sink) = self.sink.clone() else {
            return;
        };
        if !self.pinging {
            self.pinging = true;
            let (generation, timeout, reports) =
                (self.generation, self.setup.timeout, self.reports.clone());
            tokio::spawn(async move {
                let mut sink = sink;
                let pong = tokio::time::timeout(timeout, sink.ping::<Value>()).await;
                let ok = matches!(pong, Ok(Ok(_)));
                let _ = reports.send(Report::Pong { generation, ok });
            });
        }
        if !self.checking && !self.tenants.is_empty() {
            let Some(inner) = self.setup.log.upgrade() else {
                return;
            };
            self.checking = true;
            let followed: Vec<(TenantId, u64)> = self
                .tenants
                .iter()
                .map(|(t, f)| (t.clone(), f.id))
                .collect();
            let reports = self.reports.clone();
            tokio::spawn(async move {
                let tenants: Vec<TenantId> = followed.iter().map(|(t, _)| t.clone()).collect();
                let heads = fetch::heads(&inner, &tenants).await;
                drop(inner);
                let _ = reports.send(Report::Heads(followed, heads));
            });
        }
    }

    fn report(&mut self, report: Report) {
        match report {
            Report::Pong { generation, ok } => {
                self.pinging = false;
                if !ok && generation == self.generation && self.sink.is_some() {
                    self.lost("no PONG in time");
                }
            }
            Report::Heads(followed, heads) => {
                self.checking = false;
                let heads = match heads {
                    Ok(heads) => heads,
                    Err(e) => {
                        tracing::debug!(error = %e, "the head check failed");
                        return;
                    }
                };
                for ((tenant, id), seen) in followed.into_iter().zip(heads) {
                    let (Some(f), Some(seen)) = (self.tenants.get(&tenant), seen) else {
                        continue;
                    };
                    if f.id == id {
                        let _ = f.control.send(Control::Checked(seen));
                    }
                }
            }
        }
    }
}

/// The next message, or never when there is no connection.
async fn next(stream: &mut Option<PubSubStream>) -> Option<Msg> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}
