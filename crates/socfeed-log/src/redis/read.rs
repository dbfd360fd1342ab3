//! Reads: events by seq range (XRANGE by entry id), by channel (the lex index, then the
//! entries, in one script), the head, and `seq_before` (a binary search in a script). Each
//! Redis call is one page of at most [`PAGE`] events, under the log's timeout.

use std::sync::LazyLock;

use ::redis::{Script, Value};
use socfeed_proto::{Channel, Event, Seq, TenantId};

use super::Inner;
use super::error::{Effect, bad_reply, bounded};
use super::keys::{channel_member, entry_id, seq_of_entry};
use super::record::{bytes, decode, entry, int, text};
use crate::channels::{indexed, narrowed};
use crate::{Head, LogError};

/// The most events one Redis call returns.
const PAGE: usize = 512;

static HEAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("head.lua")));
static SEQ_BEFORE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seq_before.lua")));
static READ_CHANNEL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("read_channel.lua")));

/// Events with `after < seq <= upto`, ascending, at most `limit`, of `channel` when given.
pub(crate) async fn read(
    inner: &Inner,
    tenant: &TenantId,
    after: Seq,
    upto: Seq,
    channel: Option<&Channel>,
    limit: usize,
) -> Result<Vec<Event>, LogError> {
    let mut out = Vec::new();
    let mut from = after;
    while from < upto && out.len() < limit {
        let page = PAGE.min(limit - out.len());
        let (events, scanned, last) = match narrowed(channel) {
            Some(c) => by_channel(inner, tenant, c, from, upto, page).await?,
            None => by_seq(inner, tenant, from, upto, page).await?,
        };
        out.extend(events);
        match last {
            Some(last) if scanned == page && last < upto => from = last,
            _ => break,
        }
    }
    Ok(out)
}

/// One page of events by seq: returns them, how many entries were scanned, and the last seq.
async fn by_seq(
    inner: &Inner,
    tenant: &TenantId,
    after: Seq,
    upto: Seq,
    page: usize,
) -> Result<(Vec<Event>, usize, Option<Seq>), LogError> {
    let mut conn = inner.conn.clone();
    let mut cmd = ::redis::cmd("XRANGE");
    cmd.arg(inner.keys.log(tenant))
        .arg(entry_id(after + 1))
        .arg(entry_id(upto))
        .arg("COUNT")
        .arg(page);
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Read,
        "read events from Redis",
        cmd.query_async(&mut conn),
    )
    .await?;
    let entries = array(reply, "XRANGE")?;
    let scanned = entries.len();
    let mut events = Vec::with_capacity(scanned);
    for e in entries {
        let (seq, json) = entry(tenant, e)?;
        events.push(decode(tenant, seq, &json)?);
    }
    let last = events.last().map(|e| e.seq);
    Ok((events, scanned, last))
}

/// One page of a channel's events: the index members in range, then their entries.
async fn by_channel(
    inner: &Inner,
    tenant: &TenantId,
    channel: &Channel,
    after: Seq,
    upto: Seq,
    page: usize,
) -> Result<(Vec<Event>, usize, Option<Seq>), LogError> {
    let mut conn = inner.conn.clone();
    let mut call = READ_CHANNEL.key(inner.keys.channel_index(tenant));
    call.key(inner.keys.log(tenant))
        .arg(format!("[{}", channel_member(channel, after + 1)))
        .arg(format!("[{}", channel_member(channel, upto)))
        .arg(page);
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Read,
        "read a channel from Redis",
        call.invoke_async(&mut conn),
    )
    .await?;
    let mut items = array(reply, "channel read")?.into_iter();
    let scanned = items
        .next()
        .as_ref()
        .and_then(int)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad_reply("read a channel from Redis", "no member count"))?;
    let last = items
        .next()
        .and_then(text)
        .ok_or_else(|| bad_reply("read a channel from Redis", "no last member"))?;
    let last = if last.is_empty() {
        None
    } else {
        Some(
            last.parse::<Seq>()
                .map_err(|_| bad_reply("read a channel from Redis", "last member"))?,
        )
    };
    let mut events = Vec::new();
    while let Some(id) = items.next() {
        let seq = text(id)
            .as_deref()
            .and_then(seq_of_entry)
            .ok_or_else(|| bad_reply("read a channel from Redis", "entry id"))?;
        let json = items
            .next()
            .and_then(bytes)
            .ok_or_else(|| bad_reply("read a channel from Redis", "entry without event"))?;
        let event = decode(tenant, seq, &json)?;
        if indexed(&event.event_type).as_ref() == Some(channel) {
            events.push(event);
        }
    }
    Ok((events, scanned, last))
}

/// The tenant's head with its oldest retained seq, read atomically.
pub(crate) async fn head(inner: &Inner, tenant: &TenantId) -> Result<Head, LogError> {
    let mut conn = inner.conn.clone();
    let mut call = HEAD.key(inner.keys.head(tenant));
    call.key(inner.keys.log(tenant));
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Read,
        "read a head from Redis",
        call.invoke_async(&mut conn),
    )
    .await?;
    let bad = |what: &str| bad_reply("read a head from Redis", what.to_owned());
    let mut items = array(reply, "head")?.into_iter().map(text);
    let (Some(Some(seq)), Some(Some(epoch)), Some(Some(first))) =
        (items.next(), items.next(), items.next())
    else {
        return Err(bad("not three strings"));
    };
    if epoch.is_empty() {
        // No history (never written, or lost): whatever is left of one is not served.
        return Ok(Head {
            seq: 0,
            epoch: None,
            first_retained: 1,
        });
    }
    let seq: Seq = seq.parse().map_err(|_| bad("seq"))?;
    let first_retained = if first.is_empty() {
        seq + 1
    } else {
        seq_of_entry(&first).ok_or_else(|| bad("first entry id"))?
    };
    Ok(Head {
        seq,
        epoch: Some(epoch),
        first_retained,
    })
}

/// The highest seq ingested before `ingest_ms` (see `seq_before.lua`).
pub(crate) async fn seq_before(
    inner: &Inner,
    tenant: &TenantId,
    ingest_ms: i64,
) -> Result<Seq, LogError> {
    let mut conn = inner.conn.clone();
    let mut call = SEQ_BEFORE.key(inner.keys.head(tenant));
    call.key(inner.keys.log(tenant)).arg(ingest_ms);
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Read,
        "find a seq by time in Redis",
        call.invoke_async(&mut conn),
    )
    .await?;
    int(&reply)
        .and_then(|n| Seq::try_from(n).ok())
        .ok_or_else(|| bad_reply("find a seq by time in Redis", "not a seq"))
}

fn array(reply: Value, what: &str) -> Result<Vec<Value>, LogError> {
    match reply {
        Value::Array(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        _ => Err(bad_reply(
            "read from Redis",
            format!("{what}: not an array"),
        )),
    }
}
