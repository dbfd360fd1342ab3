//! The append: a batch is cut into one part per tenant (in order of first appearance) and each
//! part is one run of `append.lua` — atomic in Redis, all or nothing for that tenant.

use std::sync::LazyLock;

use ::redis::{ErrorKind, Script, ServerErrorKind, Value};
use socfeed_proto::{Event, EventDraft, Seq, TenantId};

use super::Inner;
use super::error::{BadReply, Effect, NoReply, bounded, classify, uncertain};
use super::record::{int, split, text};
use crate::channels::indexed;
use crate::{Appended, LogError, sequencer};

static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("trim.lua"),
        include_str!("append.lua")
    ))
});

/// One tenant's drafts, each with its index in the batch.
pub(crate) struct Part {
    pub(crate) tenant: TenantId,
    pub(crate) drafts: Vec<(usize, EventDraft)>,
}

/// Groups a batch by tenant, tenants in order of first appearance, drafts in batch order.
pub(crate) fn parts(drafts: Vec<EventDraft>) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for (index, draft) in drafts.into_iter().enumerate() {
        match parts.iter_mut().find(|p| p.tenant == draft.tenant_id) {
            Some(part) => part.drafts.push((index, draft)),
            None => parts.push(Part {
                tenant: draft.tenant_id.clone(),
                drafts: vec![(index, draft)],
            }),
        }
    }
    parts
}

/// What one part's script did.
pub(crate) struct Stored {
    /// Outcomes with their index in the batch.
    pub(crate) appended: Vec<(usize, Appended)>,
    /// The new events, in seq order.
    pub(crate) fresh: Vec<Event>,
    /// The head had no epoch: this append started a new history.
    pub(crate) created: bool,
    /// The epoch the events were stored in.
    pub(crate) epoch: String,
    /// When the script ran, in unix µs (Redis `TIME`).
    pub(crate) accepted_us: i64,
}

/// Runs the append script for one part (with `WAITAOF` in the same round trip when the log
/// waits for it). Encoding problems fail before anything is sent.
pub(crate) async fn append_part(inner: &Inner, part: Part) -> Result<Stored, LogError> {
    let keys = inner.keys.tenant(&part.tenant);
    let keys = [keys.head, keys.log, keys.chx, keys.ids];
    let mut args: Vec<Vec<u8>> = vec![
        sequencer::new_epoch().into_bytes(),
        inner.config.retention_ms().to_string().into_bytes(),
        inner.config.trim_budget.max(1).to_string().into_bytes(),
        inner.live_channel(&part.tenant).into_bytes(),
        part.drafts.len().to_string().into_bytes(),
    ];
    args.reserve(5 * part.drafts.len());
    for (_, draft) in &part.drafts {
        let halves = split(draft)?;
        let channel =
            indexed(&draft.event_type).map_or_else(String::new, |c| c.as_str().to_owned());
        args.push(if draft.id_supplied {
            b"1".to_vec()
        } else {
            b"0".to_vec()
        });
        args.push(draft.id.clone().into_bytes());
        args.push(channel.into_bytes());
        args.push(halves.before);
        args.push(halves.after);
    }
    let reply = if inner.waits_for_aof() {
        run_then_wait_aof(inner, &keys, &args).await?
    } else {
        let mut call = APPEND.prepare_invoke();
        call.key(&keys[..]).arg(&args);
        let mut conn = inner.conn.clone();
        bounded(
            inner.config.timeout,
            Effect::Write,
            "append to Redis",
            call.invoke_async(&mut conn),
        )
        .await?
    };
    // The script ran: an unreadable reply leaves the outcome unknown to the caller.
    let reply = Reply::parse(reply, part.drafts.len())
        .map_err(|e| uncertain("read the reply of an append", e))?;
    let mut appended = Vec::with_capacity(part.drafts.len());
    let mut fresh = Vec::new();
    for ((index, draft), (seq, duplicate)) in part.drafts.into_iter().zip(reply.outcomes) {
        appended.push((
            index,
            Appended {
                id: draft.id.clone(),
                seq,
                tenant_id: draft.tenant_id.clone(),
                duplicate,
            },
        ));
        if !duplicate {
            fresh.push(draft.into_event(seq));
        }
    }
    if reply.created {
        tracing::info!(tenant = %part.tenant, epoch = %reply.epoch, "new history for the tenant in Redis");
    }
    if reply.trimmed > 0 {
        tracing::debug!(tenant = %part.tenant, removed = reply.trimmed, more = reply.more, "retention trim");
    }
    Ok(Stored {
        appended,
        fresh,
        created: reply.created,
        epoch: reply.epoch,
        accepted_us: reply.us,
    })
}

/// EVALSHA and `WAITAOF 1 0 <timeout>` in one pipeline on one connection, so the wait covers
/// the script's writes (it waits for the connection's earlier writes); the script is loaded
/// and the pair sent again when Redis does not know it. Past the connection, any failure
/// leaves the outcome unknown: the script may have run without its fsync being confirmed.
async fn run_then_wait_aof(
    inner: &Inner,
    keys: &[String],
    args: &[Vec<u8>],
) -> Result<Value, LogError> {
    const CONTEXT: &str = "append to Redis and wait for its fsync";
    let mut pipe = ::redis::pipe();
    pipe.cmd("EVALSHA")
        .arg(APPEND.get_hash())
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .cmd("WAITAOF")
        .arg(1)
        .arg(0)
        .arg(inner.config.timeout_ms());
    let mut conn = inner.conn.clone();
    let run = async {
        match pipe.query_async::<(Value, Value)>(&mut conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                APPEND.load_async(&mut conn).await?;
                pipe.query_async::<(Value, Value)>(&mut conn).await
            }
            other => other,
        }
    };
    match tokio::time::timeout(inner.config.timeout, run).await {
        Err(_) => Err(uncertain(CONTEXT, NoReply(inner.config.timeout))),
        Ok(Err(e)) if e.is_connection_refusal() => Err(classify(Effect::Write, CONTEXT, e)),
        Ok(Err(e)) => Err(uncertain(CONTEXT, e)),
        Ok(Ok((reply, waited))) => {
            let local = match &waited {
                Value::Array(counts) => counts.first().and_then(int),
                _ => None,
            };
            if local.is_some_and(|n| n >= 1) {
                Ok(reply)
            } else {
                Err(uncertain(
                    CONTEXT,
                    BadReply(format!(
                        "WAITAOF did not confirm the local fsync: {waited:?}"
                    )),
                ))
            }
        }
    }
}

/// The script's reply: `{epoch, created, trimmed, more, us, (seq, duplicate)…}`.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    epoch: String,
    created: bool,
    trimmed: u64,
    more: bool,
    /// The run's Redis `TIME`, unix µs.
    us: i64,
    outcomes: Vec<(Seq, bool)>,
}

impl Reply {
    fn parse(reply: Value, drafts: usize) -> Result<Reply, BadReply> {
        let bad = |what: &str| BadReply(format!("append: {what}"));
        let Value::Array(items) = reply else {
            return Err(bad("not an array"));
        };
        if items.len() != 5 + 2 * drafts {
            return Err(bad(&format!("{} values for {drafts} drafts", items.len())));
        }
        let mut items = items.into_iter();
        let epoch = items.next().and_then(text).ok_or_else(|| bad("epoch"))?;
        let mut number = |what: &str| items.next().as_ref().and_then(int).ok_or_else(|| bad(what));
        let created = number("created")? == 1;
        let trimmed = u64::try_from(number("trimmed")?).map_err(|_| bad("trimmed"))?;
        let more = number("more")? == 1;
        let us = number("us")?;
        let mut outcomes = Vec::with_capacity(drafts);
        for _ in 0..drafts {
            let seq = Seq::try_from(number("seq")?).map_err(|_| bad("seq"))?;
            if seq == 0 {
                return Err(bad("seq 0"));
            }
            outcomes.push((seq, number("duplicate")? == 1));
        }
        Ok(Reply {
            epoch,
            created,
            trimmed,
            more,
            us,
            outcomes,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn draft(t: &str, id: &str) -> EventDraft {
        EventDraft {
            tenant_id: TenantId::parse(t).unwrap(),
            id: id.into(),
            id_supplied: false,
            event_type: "alert.created".into(),
            payload: RawValue::from_string("{}".into()).unwrap(),
            ts: 0,
        }
    }

    #[test]
    fn parts_keep_first_appearance_and_batch_order() {
        let batch = vec![
            draft("a", "1"),
            draft("b", "2"),
            draft("a", "3"),
            draft("c", "4"),
            draft("b", "5"),
        ];
        let got: Vec<(String, Vec<usize>)> = parts(batch)
            .into_iter()
            .map(|p| {
                (
                    p.tenant.to_string(),
                    p.drafts.iter().map(|(i, _)| *i).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a".into(), vec![0, 2]),
                ("b".into(), vec![1, 4]),
                ("c".into(), vec![3])
            ]
        );
    }

    #[test]
    fn replies_parse_or_are_refused() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let ok = Value::Array(vec![
            bulk("00112233aabbccdd"),
            Value::Int(1),
            Value::Int(0),
            Value::Int(0),
            bulk("1700000000123456"),
            Value::Int(1),
            Value::Int(0),
            Value::Int(1),
            Value::Int(1),
        ]);
        assert_eq!(
            Reply::parse(ok.clone(), 2).unwrap(),
            Reply {
                epoch: "00112233aabbccdd".into(),
                created: true,
                trimmed: 0,
                more: false,
                us: 1_700_000_000_123_456,
                outcomes: vec![(1, false), (1, true)],
            }
        );
        assert!(Reply::parse(ok, 3).is_err());
        assert!(Reply::parse(Value::Nil, 0).is_err());
        let zero = Value::Array(vec![
            bulk("e"),
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
            Value::Int(1),
            Value::Int(0),
            Value::Int(0),
        ]);
        assert!(Reply::parse(zero, 1).is_err());
    }
}
