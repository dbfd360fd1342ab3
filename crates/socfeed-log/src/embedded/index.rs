//! The channel index of [`super::EmbeddedLog`]: a `(tenant, channel, seq)` row for every
//! retained event whose type maps to a channel. Rows are written in the transaction that stores
//! their events, removed by the purge that removes them, and a read of one channel ranges over
//! them and fetches only the events they name: it costs what it returns, however many events of
//! other channels the tenant has.
//!
//! [`INDEXED_UPTO`] records, per tenant, the seq up to which every event is indexed; the writer
//! moves it with the head. A log written before the index has no such rows, and an older binary
//! appending to the log moves the heads but not them; [`catch_up`], run on open, indexes each
//! tenant's events between the two.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use socfeed_proto::{Channel, Event, Seq, TenantId};

use super::store::{self, EVENTS, storage};
use crate::LogError;
use crate::channels;
use crate::sequencer::TenantHead;

/// Channel index: `(tenant, channel, seq)` → nothing.
pub(super) const BY_CHANNEL: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("by_channel");
/// Tenant → the seq up to which every one of its events is in [`BY_CHANNEL`] (0 when absent).
pub(super) const INDEXED_UPTO: TableDefinition<&str, u64> = TableDefinition::new("indexed_upto");

type Rows<'txn> = redb::Table<'txn, (&'static str, &'static str, u64), ()>;

/// Adds the row of an event of `event_type` (nothing when the type is in no channel).
pub(super) fn insert(
    rows: &mut Rows<'_>,
    tenant: &str,
    seq: Seq,
    event_type: &str,
) -> Result<(), LogError> {
    if let Some(channel) = channels::indexed(event_type) {
        rows.insert((tenant, channel.as_str(), seq), ())
            .map_err(storage("index event"))?;
    }
    Ok(())
}

/// Removes the row of an event of `event_type`, if there is one.
pub(super) fn remove(
    rows: &mut Rows<'_>,
    tenant: &str,
    seq: Seq,
    event_type: &str,
) -> Result<(), LogError> {
    if let Some(channel) = channels::indexed(event_type) {
        rows.remove((tenant, channel.as_str(), seq))
            .map_err(storage("unindex event"))?;
    }
    Ok(())
}

/// Indexes the events of each tenant above its [`INDEXED_UPTO`] seq and up to its head (every
/// event, for a log written before the index), then records the heads as indexed. Returns how
/// many events were looked at.
pub(super) fn catch_up(
    txn: &WriteTransaction,
    heads: &[(TenantId, TenantHead)],
) -> Result<u64, LogError> {
    let events = txn
        .open_table(EVENTS)
        .map_err(storage("open events table"))?;
    let mut rows = txn
        .open_table(BY_CHANNEL)
        .map_err(storage("open channel index"))?;
    let mut upto = txn
        .open_table(INDEXED_UPTO)
        .map_err(storage("open channel index"))?;
    let mut looked_at = 0;
    for (tenant, head) in heads {
        let t = tenant.as_str();
        let done = upto
            .get(t)
            .map_err(storage("read channel index"))?
            .map_or(0, |g| g.value());
        if done >= head.seq {
            continue;
        }
        for item in events
            .range((t, done + 1)..=(t, head.seq))
            .map_err(storage("scan events"))?
        {
            let (key, value) = item.map_err(storage("scan events"))?;
            let seq = key.value().1;
            let names = store::names(t, seq, value.value())?;
            insert(&mut rows, t, seq, &names.event_type)?;
            looked_at += 1;
        }
        upto.insert(t, head.seq)
            .map_err(storage("write channel index"))?;
    }
    Ok(looked_at)
}

/// Events of `channel` (not `all`) of `tenant` with `after < seq <= upto`, at most `limit`.
pub(super) fn read(
    txn: &redb::ReadTransaction,
    tenant: &TenantId,
    channel: &Channel,
    after: Seq,
    upto: Seq,
    limit: usize,
) -> Result<Vec<Event>, LogError> {
    let rows = txn
        .open_table(BY_CHANNEL)
        .map_err(storage("open channel index"))?;
    let events = store::events(txn)?;
    let (t, c) = (tenant.as_str(), channel.as_str());
    let mut out = Vec::new();
    for item in rows
        .range((t, c, after + 1)..=(t, c, upto))
        .map_err(storage("scan channel index"))?
    {
        if out.len() >= limit {
            break;
        }
        let seq = item.map_err(storage("scan channel index"))?.0.value().2;
        // No event for a row: an older binary purged it without its row. It is not retained.
        let Some(record) = events.get((t, seq)).map_err(storage("read event"))? else {
            continue;
        };
        let event = store::decode(t, seq, record.value())?;
        if channels::indexed(&event.event_type).as_ref() != Some(channel) {
            return Err(store::corrupt(
                t,
                seq,
                format!(
                    "indexed under channel {c}, but of type {}",
                    event.event_type
                ),
            ));
        }
        out.push(event);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
    use socfeed_proto::{Channel, Event, Seq};

    use super::{BY_CHANNEL, INDEXED_UPTO};
    use crate::conformance::{cut, draft, tenant};
    use crate::embedded::store::{self, EVENTS, HEADS};
    use crate::embedded::{EmbeddedLog, FILE_NAME};
    use crate::{EventLog, NoListener};

    fn open(dir: &Path) -> EmbeddedLog {
        EmbeddedLog::open(dir, Arc::new(NoListener)).unwrap()
    }

    /// The log's file opened directly (the log must be closed and dropped).
    fn raw(dir: &Path) -> Database {
        Database::create(dir.join(FILE_NAME)).unwrap()
    }

    fn rows(dir: &Path) -> u64 {
        let db = raw(dir);
        let txn = db.begin_read().unwrap();
        txn.open_table(BY_CHANNEL).unwrap().len().unwrap()
    }

    async fn read(log: &EmbeddedLog, t: &str, channel: &str) -> Vec<Seq> {
        let channel = Channel::parse(channel).unwrap();
        let events = log
            .read(&tenant(t), 0, Seq::MAX, Some(&channel), usize::MAX)
            .await
            .unwrap();
        events.iter().map(|e| e.seq).collect()
    }

    /// `n` events cycling over alerts, ueba and a type in no channel.
    fn mixed(t: &str, n: usize) -> Vec<socfeed_proto::EventDraft> {
        let types = ["alert.created", "ueba.anomaly", "Not.a.channel"];
        (0..n).map(|i| draft(t, types[i % types.len()])).collect()
    }

    #[tokio::test]
    async fn a_log_written_before_the_index_is_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.append(mixed("a", 9)).await.unwrap();
        log.append(mixed("b", 3)).await.unwrap();
        drop(log);
        // Back to the layout without the index: its two tables never existed.
        let db = raw(dir.path());
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(BY_CHANNEL).unwrap());
        assert!(txn.delete_table(INDEXED_UPTO).unwrap());
        txn.commit().unwrap();
        drop(db);

        let log = open(dir.path());
        assert_eq!(read(&log, "a", "ueba").await, [2, 5, 8]);
        assert_eq!(read(&log, "a", "alerts").await, [1, 4, 7]);
        assert_eq!(read(&log, "b", "ueba").await, [2]);
        // New events are indexed as they come.
        log.append(mixed("a", 3)).await.unwrap();
        assert_eq!(read(&log, "a", "ueba").await, [2, 5, 8, 11]);
        drop(log);
        assert_eq!(
            rows(dir.path()),
            10,
            "8 events of a and 2 of b are in a channel"
        );
        let log = open(dir.path());
        assert_eq!(read(&log, "a", "alerts").await, [1, 4, 7, 10]);
    }

    /// Stores `event` as a binary without the index did: the event and the head, nothing else.
    fn append_without_index(dir: &Path, event: &Event) {
        let db = raw(dir);
        let txn = db.begin_write().unwrap();
        {
            let record = store::encode(0, false, event).unwrap();
            let t = event.tenant_id.as_str();
            let mut events = txn.open_table(EVENTS).unwrap();
            events.insert((t, event.seq), record.as_slice()).unwrap();
            let mut heads = txn.open_table(HEADS).unwrap();
            let epoch = heads.get(t).unwrap().unwrap().value().1.to_owned();
            heads.insert(t, (event.seq, epoch.as_str())).unwrap();
        }
        txn.commit().unwrap();
    }

    #[tokio::test]
    async fn events_an_older_binary_appended_are_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.append(mixed("a", 3)).await.unwrap();
        drop(log);
        append_without_index(dir.path(), &draft("a", "ueba.login").into_event(4));
        append_without_index(dir.path(), &draft("a", "alert.new").into_event(5));

        let log = open(dir.path());
        assert_eq!(read(&log, "a", "ueba").await, [2, 4]);
        assert_eq!(read(&log, "a", "alerts").await, [1, 5]);
        let out = log.append(mixed("a", 2)).await.unwrap();
        assert_eq!(out[1].seq, 7);
        assert_eq!(read(&log, "a", "ueba").await, [2, 4, 7]);
    }

    #[tokio::test]
    async fn purges_take_the_rows_with_the_events() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.append(mixed("a", 6)).await.unwrap();
        let cut = cut().await;
        log.append(mixed("a", 3)).await.unwrap();
        assert_eq!(log.purge_before(cut).await.unwrap(), 6);
        assert_eq!(read(&log, "a", "ueba").await, [8]);
        drop(log);
        assert_eq!(
            rows(dir.path()),
            2,
            "only the rows of seqs 7 and 8 are left"
        );
    }

    #[tokio::test]
    async fn a_row_whose_event_an_older_binary_purged_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.append(mixed("a", 6)).await.unwrap();
        drop(log);
        // An older binary's purge removes events and leaves their rows.
        let db = raw(dir.path());
        let txn = db.begin_write().unwrap();
        {
            let mut events = txn.open_table(EVENTS).unwrap();
            for seq in 1..=3 {
                events.remove(("a", seq)).unwrap();
            }
        }
        txn.commit().unwrap();
        drop(db);

        let log = open(dir.path());
        assert_eq!(read(&log, "a", "ueba").await, [5]);
        assert_eq!(read(&log, "a", "alerts").await, [4]);
        let channel = Channel::parse("ueba").unwrap();
        let page = log
            .read(&tenant("a"), 0, Seq::MAX, Some(&channel), 1)
            .await
            .unwrap();
        assert_eq!(
            page.len(),
            1,
            "a skipped row does not count against the limit"
        );
    }
}
