//! One followed tenant: a task that owns its [`Position`] and is the only one to hand the
//! tenant's events to the listener, so they reach it in seq order, once each, whether they come
//! as live messages (from the pub/sub connection, `pubsub.rs`), as this node's own appends, or
//! from the stream (gaps, catch-ups).
//!
//! * Control inputs (always taken first): the subscription was confirmed (`Subscribed`: read
//!   the head; the first time it is the start position, later it is a catch-up), the
//!   connection was lost (`Down`), the periodic head check saw a head (`Checked`).
//! * Data inputs (a bounded queue; when it is full the pub/sub side drops them, and the gap is
//!   repaired from the stream): live messages and own appends. Taken only while live; at
//!   other times they are dropped, since the next head read covers them.
//! * A failed read leaves the tenant behind: the flow goes `Down` and the head is read again
//!   after a backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use socfeed_proto::{Event, Seq, TenantId};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::fetch::{self, Seen};
use super::position::{OnEvents, OnHead, Position};
use super::{Inner, epoch, parse_live, read};
use crate::follow::Flow;
use crate::{CommitListener, LogError, sequencer};

/// Events read from the stream per call.
const PAGE: usize = 512;

/// Retries of a failed head read or catch-up: from this, doubling up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Head reads one synchronisation may take (a renewal, or epochs changing under it, need more
/// than one) before it gives up until the next try.
const MAX_STEPS: usize = 4;

/// What the pub/sub connection tells a follower.
#[derive(Debug)]
pub(crate) enum Control {
    /// The tenant's subscription is confirmed on a (new) connection.
    Subscribed,
    /// The connection is lost: nothing arrives until `Subscribed` again.
    Down,
    /// The periodic head check saw this head.
    Checked(Seen),
}

/// Events for a follower.
#[derive(Debug)]
pub(crate) enum Data {
    /// A live message, as published (parsed by the follower, off the connection's task).
    Message(Vec<u8>),
    /// This node's own append: consecutive seqs of one epoch.
    Own {
        epoch: String,
        events: Vec<Event>,
        accepted_us: i64,
    },
}

/// Why a follower could not bring its tenant up to date (it retries).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error(transparent)]
    Redis(#[from] LogError),
    /// A page was read in another epoch than the position's.
    #[error("the tenant's epoch changed during a read")]
    EpochMoved,
    /// Epochs kept changing over several head reads.
    #[error("the tenant's epoch did not settle over {MAX_STEPS} head reads")]
    Unsettled,
    /// An input that needs the start position came before it.
    #[error("not started")]
    NotStarted,
    /// Nobody follows the tenant any more.
    #[error("no longer followed")]
    Released,
    /// The log is gone.
    #[error("the log was dropped")]
    Dropped,
}

/// The ends a follower is driven through.
pub(crate) struct Inputs {
    pub(crate) control: mpsc::UnboundedReceiver<Control>,
    pub(crate) data: mpsc::Receiver<Data>,
    pub(crate) flow: watch::Sender<Flow>,
    /// Set when the last holder let go: nothing more may reach the listener from this follower.
    pub(crate) released: Arc<AtomicBool>,
}

/// One tenant's follower task.
pub(crate) struct Follower {
    tenant: TenantId,
    log: Weak<Inner>,
    listener: Arc<dyn CommitListener>,
    inputs: Inputs,
    /// `None` until the first head read after the first confirmed subscription.
    pos: Option<Position>,
    /// The current connection's subscription is confirmed.
    subscribed: bool,
    /// Up to date since the last confirmation: no read failed, no input was dropped.
    synced: bool,
    /// When to try again after a failure.
    retry: Option<Instant>,
    /// The wait before the next retry.
    backoff: Duration,
}

impl Follower {
    pub(crate) fn new(
        tenant: TenantId,
        log: Weak<Inner>,
        listener: Arc<dyn CommitListener>,
        inputs: Inputs,
    ) -> Follower {
        Follower {
            tenant,
            log,
            listener,
            inputs,
            pos: None,
            subscribed: false,
            synced: false,
            retry: None,
            backoff: RETRY_MIN,
        }
    }

    /// Runs until nobody follows the tenant (its inputs close) or the log is dropped.
    pub(crate) async fn run(mut self) {
        loop {
            let retry_at = self.retry;
            let result = tokio::select! {
                biased;
                control = self.inputs.control.recv() => match control {
                    Some(control) => self.on_control(control).await,
                    None => return,
                },
                () = sleep_until(retry_at), if retry_at.is_some() => self.resync().await,
                data = self.inputs.data.recv() => match data {
                    Some(data) if self.live() => self.on_data(data).await,
                    Some(_) => Ok(()),
                    None => return,
                },
            };
            match result {
                Ok(()) => {}
                Err(SyncError::Released | SyncError::Dropped) => return,
                Err(e) => self.failed(&e),
            }
            if self.inputs.released.load(Ordering::SeqCst) {
                return;
            }
            self.publish_flow();
        }
    }

    fn live(&self) -> bool {
        self.pos.is_some() && self.subscribed && self.synced
    }

    fn publish_flow(&self) {
        let flow = if self.pos.is_none() {
            Flow::Starting
        } else if self.live() {
            Flow::Live
        } else {
            Flow::Down
        };
        self.inputs.flow.send_if_modified(|f| {
            let changed = *f != flow;
            *f = flow;
            changed
        });
    }

    fn failed(&mut self, e: &SyncError) {
        self.synced = false;
        if !self.subscribed {
            // The next confirmation reads the head anyway.
            self.retry = None;
            return;
        }
        tracing::warn!(tenant = %self.tenant, error = %e, retry_in = ?self.backoff, "following the tenant fell behind");
        self.retry = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
    }

    fn inner(&self) -> Result<Arc<Inner>, SyncError> {
        self.log.upgrade().ok_or(SyncError::Dropped)
    }

    async fn on_control(&mut self, control: Control) -> Result<(), SyncError> {
        match control {
            Control::Subscribed => {
                self.subscribed = true;
                self.synced = false;
                self.resync().await
            }
            Control::Down => {
                self.subscribed = false;
                self.synced = false;
                self.retry = None;
                Ok(())
            }
            Control::Checked(seen) => {
                let Some(pos) = self.pos.as_mut() else {
                    return Ok(());
                };
                let due =
                    self.subscribed && self.synced && pos.on_check(seen.epoch.as_deref(), seen.seq);
                if !due {
                    return Ok(());
                }
                let caught_up = self.sync().await?;
                self.repaired(caught_up);
                Ok(())
            }
        }
    }

    /// Reads the head and brings the tenant up to date (the first time: takes it as the start
    /// position).
    async fn resync(&mut self) -> Result<(), SyncError> {
        self.retry = None;
        if self.pos.is_none() {
            let head = read::head(&*self.inner()?, &self.tenant).await?;
            self.pos = Some(Position::start(&head));
        } else {
            self.sync().await?;
        }
        self.synced = true;
        self.backoff = RETRY_MIN;
        Ok(())
    }

    /// One head read and what it asks for; returns how many events a catch-up delivered.
    async fn sync(&mut self) -> Result<u64, SyncError> {
        let head = read::head(&*self.inner()?, &self.tenant).await?;
        let step = self.position()?.on_head(&head);
        self.apply(step).await
    }

    /// Carries out what a head read asked for; returns how many events a catch-up in the same
    /// epoch delivered (a new epoch's catch-up is not a repair).
    async fn apply(&mut self, mut step: OnHead) -> Result<u64, SyncError> {
        for _ in 0..MAX_STEPS {
            match step {
                OnHead::Same | OnHead::Gone => return Ok(0),
                OnHead::CatchUp { upto } => return self.catch_up(upto).await,
                OnHead::NewEpoch(new) => {
                    let from = self.position()?.epoch().map(str::to_owned);
                    self.position()?.restart(&new);
                    if new.reset {
                        self.listening()?;
                        tracing::warn!(tenant = %self.tenant, from = ?from, to = %new.epoch, "the tenant's history was reset");
                        self.listener.history_reset(&self.tenant);
                    }
                    self.catch_up(new.upto).await?;
                    return Ok(0);
                }
                OnHead::WentBack { epoch: seen } => {
                    let inner = self.inner()?;
                    let last = self.position()?.last();
                    let candidate = sequencer::new_epoch();
                    let now = epoch::renew(&inner, &self.tenant, &seen, &candidate).await?;
                    tracing::warn!(tenant = %self.tenant, epoch = %seen, delivered = last, renewed = ?now, "the stored history went back: a new epoch");
                    let head = read::head(&inner, &self.tenant).await?;
                    step = self.position()?.on_head(&head);
                }
            }
        }
        Err(SyncError::Unsettled)
    }

    async fn on_data(&mut self, data: Data) -> Result<(), SyncError> {
        let (epoch, events, accepted_us) = match data {
            Data::Message(bytes) => match parse_live(&bytes) {
                Ok(live) if live.event.tenant_id == self.tenant => {
                    (live.epoch, vec![live.event], live.accepted_us)
                }
                Ok(live) => {
                    tracing::warn!(tenant = %self.tenant, other = %live.event.tenant_id, "a live message of another tenant");
                    return Ok(());
                }
                Err(e) => {
                    // Its seq is unknown: a later message or the head check finds the gap.
                    tracing::warn!(tenant = %self.tenant, error = %e, "an unreadable live message");
                    return Ok(());
                }
            },
            Data::Own {
                epoch,
                events,
                accepted_us,
            } => (epoch, events, Some(accepted_us)),
        };
        self.on_events(&epoch, events, accepted_us).await
    }

    /// Events of `epoch` with consecutive seqs.
    async fn on_events(
        &mut self,
        epoch: &str,
        events: Vec<Event>,
        accepted_us: Option<i64>,
    ) -> Result<(), SyncError> {
        let (Some(first), Some(end)) = (events.first(), events.last()) else {
            return Ok(());
        };
        let (first, end) = (first.seq, end.seq);
        for _ in 0..MAX_STEPS {
            match self.position()?.on_events(epoch, first, end) {
                OnEvents::Old => return Ok(()),
                OnEvents::Deliver => {
                    let last = self.position()?.last();
                    let fresh: Vec<Event> = events.into_iter().filter(|e| e.seq > last).collect();
                    return self.deliver(fresh, accepted_us);
                }
                OnEvents::Repair { upto } => {
                    let repaired = self.catch_up(upto).await?;
                    self.repaired(repaired);
                }
                OnEvents::Verify => {
                    let head = read::head(&*self.inner()?, &self.tenant).await?;
                    let step = self.position()?.on_verified(epoch, first, &head);
                    self.apply(step).await?;
                    if self.position()?.epoch() != Some(epoch) {
                        // Stale: of an epoch the head does not have.
                        return Ok(());
                    }
                }
            }
        }
        Err(SyncError::Unsettled)
    }

    /// Reads the stream after the position up to `upto` and delivers it, page by page; returns
    /// how many events it delivered. Events the stream no longer holds (trimmed) cannot be
    /// delivered: the listener is told the history was reset and delivery goes on after them.
    async fn catch_up(&mut self, upto: Seq) -> Result<u64, SyncError> {
        let mut delivered = 0;
        loop {
            let (last, epoch) = {
                let pos = self.position()?;
                (pos.last(), pos.epoch().map(str::to_owned))
            };
            if last >= upto {
                return Ok(delivered);
            }
            let page = fetch::page(&*self.inner()?, &self.tenant, last, upto, PAGE).await?;
            if page.epoch != epoch {
                return Err(SyncError::EpochMoved);
            }
            let contiguous = page.events.first().is_some_and(|(e, _)| e.seq == last + 1);
            if !contiguous {
                let resume = page.events.first().map_or(upto, |(e, _)| e.seq - 1);
                self.skip(last, resume)?;
                continue;
            }
            // Delivered in runs of one ingest time (one append), up to any jump in the seqs.
            let mut run: Vec<Event> = Vec::new();
            let mut run_ms: Option<i64> = None;
            for (expected, (event, ms)) in (last + 1..).zip(page.events) {
                if event.seq != expected {
                    break;
                }
                if ms != run_ms && !run.is_empty() {
                    delivered += run.len() as u64;
                    self.deliver(std::mem::take(&mut run), run_ms.map(|ms| ms * 1000))?;
                }
                run_ms = ms;
                run.push(event);
            }
            delivered += run.len() as u64;
            self.deliver(run, run_ms.map(|ms| ms * 1000))?;
        }
    }

    /// Events `(last, resume]` are gone from the stream.
    fn skip(&mut self, last: Seq, resume: Seq) -> Result<(), SyncError> {
        self.listening()?;
        tracing::warn!(tenant = %self.tenant, after = last, upto = resume, "events missed by this node are no longer retained");
        self.listener.history_reset(&self.tenant);
        self.position()?.delivered(resume);
        Ok(())
    }

    /// Fails once nobody follows the tenant: from then on nothing of it reaches the listener
    /// from here (a new following has a follower of its own).
    fn listening(&self) -> Result<(), SyncError> {
        if self.inputs.released.load(Ordering::SeqCst) {
            return Err(SyncError::Released);
        }
        Ok(())
    }

    fn deliver(&mut self, events: Vec<Event>, accepted_us: Option<i64>) -> Result<(), SyncError> {
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        self.listening()?;
        match accepted_us {
            Some(us) => self.listener.committed_at(events, us),
            None => self.listener.committed(events),
        }
        self.position()?.delivered(last);
        Ok(())
    }

    fn repaired(&self, events: u64) {
        if events > 0 && self.listening().is_ok() {
            tracing::debug!(tenant = %self.tenant, events, "repaired a gap from the stream");
            self.listener.gap_repaired(events);
        }
    }

    fn position(&mut self) -> Result<&mut Position, SyncError> {
        // Inputs that need a position are taken only once there is one.
        self.pos.as_mut().ok_or(SyncError::NotStarted)
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
