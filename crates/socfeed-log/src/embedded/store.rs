//! The redb layout of [`super::EmbeddedLog`]: tables, the stored record format, and the read
//! queries (each runs inside one read transaction, on tokio's blocking pool).

use redb::{ReadableDatabase, TableDefinition};
use serde::Deserialize;
use socfeed_proto::{Channel, Event, Seq, TenantId};

use super::index;
use crate::{Head, LogError};

/// Events: `(tenant, seq)` → record (see [`encode`]).
pub(super) const EVENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("events");
/// Publisher-supplied ids of retained events: `(tenant, id)` → seq.
pub(super) const IDS: TableDefinition<(&str, &str), u64> = TableDefinition::new("ids");
/// Heads: tenant → `(highest seq ever assigned, epoch)`. Never purged.
pub(super) const HEADS: TableDefinition<&str, (u64, &str)> = TableDefinition::new("heads");
/// Log-wide values; [`LAST_INGEST_MS`] keeps ingest times monotonic across restarts.
pub(super) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
pub(super) const LAST_INGEST_MS: &str = "last_ingest_ms";

const FORMAT_V1: u8 = 1;
const FLAG_ID_SUPPLIED: u8 = 1;
const HEADER_LEN: usize = 10;

/// Maps any redb (or IO) error into [`LogError::Storage`] with what was being done.
pub(super) fn storage<E>(context: &'static str) -> impl FnOnce(E) -> LogError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| LogError::Storage {
        context,
        source: Some(std::sync::Arc::new(e)),
    }
}

/// A stored record: `[format = 1][flags: bit 0 = id supplied][ingest_ms: i64 BE]` followed by
/// the event's JSON (whose payload is a raw value, so it round-trips byte for byte).
pub(super) fn encode(
    ingest_ms: i64,
    id_supplied: bool,
    event: &Event,
) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 128 + event.payload.get().len());
    out.push(FORMAT_V1);
    out.push(if id_supplied { FLAG_ID_SUPPLIED } else { 0 });
    out.extend_from_slice(&ingest_ms.to_be_bytes());
    serde_json::to_writer(&mut out, event).map_err(|e| LogError::Corrupt {
        tenant: event.tenant_id.to_string(),
        seq: event.seq,
        message: format!("cannot encode: {e}"),
    })?;
    Ok(out)
}

/// The fixed part of a record.
pub(super) struct Header {
    pub(super) ingest_ms: i64,
    pub(super) id_supplied: bool,
}

pub(super) fn corrupt(tenant: &str, seq: Seq, message: impl Into<String>) -> LogError {
    LogError::Corrupt {
        tenant: tenant.to_owned(),
        seq,
        message: message.into(),
    }
}

/// Reads a record's header, checking its format.
pub(super) fn header(tenant: &str, seq: Seq, record: &[u8]) -> Result<Header, LogError> {
    let (Some(&FORMAT_V1), Some(&flags), Some(ms)) =
        (record.first(), record.get(1), record.get(2..HEADER_LEN))
    else {
        return Err(corrupt(tenant, seq, "short record or unknown format"));
    };
    let ms: [u8; 8] = ms
        .try_into()
        .map_err(|_| corrupt(tenant, seq, "short record"))?;
    Ok(Header {
        ingest_ms: i64::from_be_bytes(ms),
        id_supplied: flags & FLAG_ID_SUPPLIED != 0,
    })
}

/// Decodes a record stored at `(tenant, seq)`, checking that it is that event.
pub(super) fn decode(tenant: &str, seq: Seq, record: &[u8]) -> Result<Event, LogError> {
    header(tenant, seq, record)?;
    let event: Event = serde_json::from_slice(&record[HEADER_LEN..])
        .map_err(|e| corrupt(tenant, seq, format!("bad event json: {e}")))?;
    if event.tenant_id.as_str() != tenant || event.seq != seq {
        return Err(corrupt(tenant, seq, "record is another event"));
    }
    Ok(event)
}

/// The names of a stored event: its id (to forget supplied ids when purging) and its type (to
/// find its channel's index row).
pub(super) struct Names {
    pub(super) id: String,
    pub(super) event_type: String,
}

/// Only the names of a record, without decoding the rest.
pub(super) fn names(tenant: &str, seq: Seq, record: &[u8]) -> Result<Names, LogError> {
    #[derive(Deserialize)]
    struct NamesOnly {
        id: String,
        #[serde(rename = "type")]
        event_type: String,
    }
    let body = record.get(HEADER_LEN..).unwrap_or_default();
    serde_json::from_slice::<NamesOnly>(body)
        .map(|r| Names {
            id: r.id,
            event_type: r.event_type,
        })
        .map_err(|e| corrupt(tenant, seq, format!("bad event json: {e}")))
}

pub(super) fn begin(db: &redb::Database) -> Result<redb::ReadTransaction, LogError> {
    db.begin_read().map_err(storage("begin read transaction"))
}

pub(super) type EventsTable = redb::ReadOnlyTable<(&'static str, u64), &'static [u8]>;

pub(super) fn events(txn: &redb::ReadTransaction) -> Result<EventsTable, LogError> {
    txn.open_table(EVENTS).map_err(storage("open events table"))
}

/// The first stored event of `tenant` with `from <= seq <= to`: its seq and header.
fn first_from(
    table: &EventsTable,
    tenant: &str,
    from: Seq,
    to: Seq,
) -> Result<Option<(Seq, Header)>, LogError> {
    let mut range = table
        .range((tenant, from)..=(tenant, to))
        .map_err(storage("scan events"))?;
    match range.next() {
        None => Ok(None),
        Some(item) => {
            let (key, value) = item.map_err(storage("scan events"))?;
            let seq = key.value().1;
            Ok(Some((seq, header(tenant, seq, value.value())?)))
        }
    }
}

/// Events of `tenant` with `after < seq <= upto`, of `channel` (through the channel index when
/// it is a channel other than `all`), at most `limit`.
pub(super) fn read(
    db: &redb::Database,
    tenant: &TenantId,
    after: Seq,
    upto: Seq,
    channel: Option<&Channel>,
    limit: usize,
) -> Result<Vec<Event>, LogError> {
    if after >= upto || limit == 0 {
        return Ok(Vec::new());
    }
    let txn = begin(db)?;
    if let Some(channel) = crate::channels::narrowed(channel) {
        return index::read(&txn, tenant, channel, after, upto, limit);
    }
    let table = events(&txn)?;
    let t = tenant.as_str();
    let mut out = Vec::new();
    for item in table
        .range((t, after + 1)..=(t, upto))
        .map_err(storage("scan events"))?
        .take(limit)
    {
        let (key, value) = item.map_err(storage("scan events"))?;
        out.push(decode(t, key.value().1, value.value())?);
    }
    Ok(out)
}

/// The stored head of `tenant` and its oldest retained seq.
pub(super) fn head(db: &redb::Database, tenant: &TenantId) -> Result<Head, LogError> {
    let txn = begin(db)?;
    let heads = txn.open_table(HEADS).map_err(storage("open heads table"))?;
    let t = tenant.as_str();
    let Some(stored) = heads.get(t).map_err(storage("read head"))? else {
        return Ok(Head {
            seq: 0,
            epoch: None,
            first_retained: 1,
        });
    };
    let (seq, epoch) = stored.value();
    let first = first_from(&events(&txn)?, t, 0, Seq::MAX)?.map_or(seq + 1, |(s, _)| s);
    Ok(Head {
        seq,
        epoch: Some(epoch.to_owned()),
        first_retained: first,
    })
}

/// The highest seq of `tenant` ingested before `ingest_ms`, by binary search over the retained
/// seqs (ingest times are monotonic per log, so they are sorted by seq).
pub(super) fn seq_before(
    db: &redb::Database,
    tenant: &TenantId,
    ingest_ms: i64,
) -> Result<Seq, LogError> {
    let txn = begin(db)?;
    let heads = txn.open_table(HEADS).map_err(storage("open heads table"))?;
    let t = tenant.as_str();
    let head_seq = heads
        .get(t)
        .map_err(storage("read head"))?
        .map_or(0, |g| g.value().0);
    let table = events(&txn)?;
    let Some((first, first_header)) = first_from(&table, t, 0, Seq::MAX)? else {
        return Ok(head_seq);
    };
    if first_header.ingest_ms >= ingest_ms {
        return Ok(first - 1);
    }
    // Invariant: `lo` is a stored seq ingested before `ingest_ms`; the answer is in lo..=hi.
    let (mut lo, mut hi) = (first, head_seq.max(first));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match first_from(&table, t, mid, hi)? {
            Some((seq, h)) if h.ingest_ms < ingest_ms => lo = seq,
            _ => hi = mid - 1,
        }
    }
    Ok(lo)
}
