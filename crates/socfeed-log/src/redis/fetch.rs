//! The follower's reads: a page of a tenant's stream with each event's ingest time and, in the
//! same round trip (after the page), the tenant's epoch, so a page read across a lost history
//! is recognised; and the periodic head check, every followed tenant's epoch and seq in one
//! pipeline.

use ::redis::Value;
use socfeed_proto::{Event, Seq, TenantId};

use super::Inner;
use super::error::{Effect, bad_reply, bounded};
use super::keys::entry_id;
use super::record::{decode, int, text, timed_entry};
use crate::LogError;

/// Events of one page, with the tenant's epoch read right after them.
#[derive(Debug)]
pub(crate) struct Page {
    /// `None`: the tenant has no head (its history is gone).
    pub(crate) epoch: Option<String>,
    /// Ascending, each with its ingest time (unix ms) when the entry has one.
    pub(crate) events: Vec<(Event, Option<i64>)>,
}

/// At most `count` events with `after < seq <= upto`, then the epoch.
pub(crate) async fn page(
    inner: &Inner,
    tenant: &TenantId,
    after: Seq,
    upto: Seq,
    count: usize,
) -> Result<Page, LogError> {
    const CONTEXT: &str = "read missed events from Redis";
    let mut pipe = ::redis::pipe();
    pipe.cmd("XRANGE")
        .arg(inner.keys.log(tenant))
        .arg(entry_id(after + 1))
        .arg(entry_id(upto))
        .arg("COUNT")
        .arg(count)
        .cmd("HGET")
        .arg(inner.keys.head(tenant))
        .arg("epoch");
    let mut conn = inner.conn.clone();
    let (entries, epoch): (Value, Value) = bounded(
        inner.config.timeout,
        Effect::Read,
        CONTEXT,
        pipe.query_async(&mut conn),
    )
    .await?;
    let entries = match entries {
        Value::Array(items) => items,
        Value::Nil => Vec::new(),
        _ => return Err(bad_reply(CONTEXT, "XRANGE: not an array")),
    };
    let mut events = Vec::with_capacity(entries.len());
    for e in entries {
        let entry = timed_entry(tenant, e)?;
        events.push((decode(tenant, entry.seq, &entry.ev)?, entry.ms));
    }
    let epoch = match epoch {
        Value::Nil => None,
        other => Some(text(other).ok_or_else(|| bad_reply(CONTEXT, "epoch"))?),
    };
    Ok(Page { epoch, events })
}

/// A head as the periodic check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    /// `None`: no head.
    pub(crate) epoch: Option<String>,
    pub(crate) seq: Seq,
}

/// The heads of `tenants`, in one pipelined round trip; `None` for a head that cannot be read.
pub(crate) async fn heads(
    inner: &Inner,
    tenants: &[TenantId],
) -> Result<Vec<Option<Seen>>, LogError> {
    let mut pipe = ::redis::pipe();
    for t in tenants {
        pipe.cmd("HMGET")
            .arg(inner.keys.head(t))
            .arg("seq")
            .arg("epoch");
    }
    let mut conn = inner.conn.clone();
    let replies: Vec<Value> = bounded(
        inner.config.timeout,
        Effect::Read,
        "check the followed heads in Redis",
        pipe.query_async(&mut conn),
    )
    .await?;
    Ok(replies.into_iter().map(seen).collect())
}

/// `[seq, epoch]` as HMGET returns them.
fn seen(reply: Value) -> Option<Seen> {
    let Value::Array(items) = reply else {
        return None;
    };
    let mut items = items.into_iter();
    let (seq, epoch) = (items.next()?, items.next()?);
    match epoch {
        Value::Nil => Some(Seen {
            epoch: None,
            seq: 0,
        }),
        epoch => Some(Seen {
            epoch: Some(text(epoch)?),
            seq: int(&seq).and_then(|s| Seq::try_from(s).ok())?,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_heads_parse_or_are_skipped() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            seen(Value::Array(vec![bulk("7"), bulk("e1")])),
            Some(Seen {
                epoch: Some("e1".into()),
                seq: 7
            })
        );
        assert_eq!(
            seen(Value::Array(vec![Value::Nil, Value::Nil])),
            Some(Seen {
                epoch: None,
                seq: 0
            })
        );
        assert_eq!(seen(Value::Array(vec![bulk("x"), bulk("e1")])), None);
        assert_eq!(seen(Value::Array(vec![bulk("-1"), bulk("e1")])), None);
        assert_eq!(seen(Value::Nil), None);
    }
}
