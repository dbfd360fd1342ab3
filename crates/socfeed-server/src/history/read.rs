//! Reading a history page from the log: after a cursor, or the latest events, narrowed to what
//! the token may read and the filters ask for. Reads go through the log's channel index when a
//! channel is named, so a page costs about what it returns.

use socfeed_log::{Head, LogError, SharedLog};
use socfeed_proto::{Event, FilterFields, Seq, TenantId};

use super::query::Query;
use crate::session::{self, Cursor};

/// Events read from the log at once.
const READ_BATCH: usize = 512;

/// A page of history.
pub(crate) struct Page {
    pub events: Vec<Event>,
    pub head: Head,
    pub truncated: bool,
}

/// The page `query` asks for of `tenant`; `readable` says whether the token may read an event.
pub(crate) async fn page(
    log: &SharedLog,
    tenant: &TenantId,
    query: &Query,
    readable: impl Fn(&Event) -> bool,
) -> Result<Page, LogError> {
    let head = log.head(tenant).await?;
    let keep = |e: &Event| {
        readable(e)
            && query.filters.as_ref().is_none_or(|f| {
                f.matches(&e.event_type, &FilterFields::extract_raw(e.payload.get()))
            })
    };
    let (events, truncated) = match query.since {
        Some(since) => {
            let cursor = Cursor::Seq {
                since,
                epoch: query.epoch.clone(),
            };
            let plan = session::plan(log, tenant, &head, &cursor, socfeed_log::now_ms()).await?;
            let events = forward(
                log,
                tenant,
                query,
                plan.after,
                plan.upto,
                query.limit,
                &keep,
            )
            .await?;
            (events, plan.truncated)
        }
        None => (latest(log, tenant, query, &head, &keep).await?, false),
    };
    Ok(Page {
        events,
        head,
        truncated,
    })
}

/// The first `limit` kept events of `(after, upto]` (of `query.channel`), ascending.
async fn forward(
    log: &SharedLog,
    tenant: &TenantId,
    query: &Query,
    mut after: Seq,
    upto: Seq,
    limit: usize,
    keep: &impl Fn(&Event) -> bool,
) -> Result<Vec<Event>, LogError> {
    let mut out = Vec::new();
    while after < upto && out.len() < limit {
        let batch = log
            .read(tenant, after, upto, query.channel.as_ref(), READ_BATCH)
            .await?;
        let full = batch.len() == READ_BATCH;
        after = batch.last().map_or(upto, |e| e.seq);
        out.extend(batch.into_iter().filter(|e| keep(e)));
        if !full {
            break;
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// The last `query.limit` kept events up to the head, ascending: windows read backwards from
/// the head, each twice as wide as the one before, until enough are kept or nothing older is
/// retained.
async fn latest(
    log: &SharedLog,
    tenant: &TenantId,
    query: &Query,
    head: &Head,
    keep: &impl Fn(&Event) -> bool,
) -> Result<Vec<Event>, LogError> {
    let floor = head.first_retained.saturating_sub(1);
    let mut upto = head.seq;
    let mut width = (query.limit as u64).max(64);
    let mut windows: Vec<Vec<Event>> = Vec::new();
    let mut kept = 0;
    while upto > floor && kept < query.limit {
        let after = upto.saturating_sub(width).max(floor);
        let window = forward(log, tenant, query, after, upto, usize::MAX, keep).await?;
        kept += window.len();
        windows.push(window);
        upto = after;
        width = width.saturating_mul(2);
    }
    let mut events: Vec<Event> = windows.into_iter().rev().flatten().collect();
    let excess = events.len().saturating_sub(query.limit);
    events.drain(..excess);
    Ok(events)
}
