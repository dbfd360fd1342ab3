//! [`EmbeddedLog`]: the durable default backend, on redb (one file, `events.redb`, in a directory).
//!
//! Appends and purges go through one writer thread (see `writer.rs`), which owns the
//! [`Sequencer`] and commits groups of appends with fsync before
//! acknowledging them. Reads run as redb read transactions on tokio's blocking pool and never
//! wait behind the writer (redb readers see the last committed snapshot).
//!
//! Storage layout (`store.rs`):
//!
//! | table          | key                      | value                                        |
//! |----------------|--------------------------|----------------------------------------------|
//! | `events`       | `(tenant, seq)`          | `[1][flags][ingest_ms i64 BE]` + event JSON  |
//! | `ids`          | `(tenant, id)`           | seq, for publisher-supplied ids only         |
//! | `by_channel`   | `(tenant, channel, seq)` | nothing: the channel index (`index.rs`)      |
//! | `indexed_upto` | `tenant`                 | seq up to which the channel index is whole   |
//! | `heads`        | `tenant`                 | `(seq, epoch)`: never purged                 |
//! | `meta`         | `"last_ingest_ms"`       | keeps ingest times monotonic across restarts |
//!
//! A read of one channel ranges over `by_channel` and fetches only the events it names. On open,
//! every tenant whose head is above its `indexed_upto` seq (a log written before the index, or
//! appended to by an older binary) has those events indexed before the log serves anything.
//!
//! Purges run through the writer, in their own transaction between groups of appends: that
//! way a purge never races an append's duplicate check (an id is either still stored, or
//! forgotten together with its event), and the single redb write lock is never contended.

mod index;
mod store;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable};
use socfeed_proto::{Channel, Event, EventDraft, Seq, TenantId};
use tokio::sync::{mpsc, oneshot};

use self::store::{EVENTS, HEADS, IDS, LAST_INGEST_MS, META, storage};
use self::writer::{Request, Writer};
use crate::sequencer::{Sequencer, TenantHead};
use crate::{Appended, CommitListener, EventLog, Head, LogError};

/// The file holding the log inside its directory.
pub const FILE_NAME: &str = "events.redb";

/// How many requests may wait for the writer before `append` waits to enqueue.
const QUEUE_DEPTH: usize = 4096;

/// The redb-backed event log.
pub struct EmbeddedLog {
    db: Arc<Database>,
    queue: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    commits: Arc<AtomicU64>,
    #[cfg(test)]
    fail_next: Arc<std::sync::atomic::AtomicBool>,
}

/// The page cache [`EmbeddedLog::open`] gives redb.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl EmbeddedLog {
    /// Opens (or creates) the log in `dir`, loads the heads and starts the writer thread; redb's
    /// page cache gets its default size.
    pub fn open(dir: &Path, listener: Arc<dyn CommitListener>) -> Result<EmbeddedLog, LogError> {
        EmbeddedLog::open_with_cache(dir, listener, DEFAULT_CACHE_BYTES)
    }

    /// Like [`EmbeddedLog::open`], with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(
        dir: &Path,
        listener: Arc<dyn CommitListener>,
        cache_bytes: usize,
    ) -> Result<EmbeddedLog, LogError> {
        std::fs::create_dir_all(dir).map_err(storage("create log directory"))?;
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(dir.join(FILE_NAME))
            .map_err(storage("open events.redb"))?;
        let (heads, last_ingest_ms) = init(&db)?;
        let db = Arc::new(db);
        let commits = Arc::new(AtomicU64::new(0));
        #[cfg(test)]
        let fail_next = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = Writer {
            db: db.clone(),
            sequencer: Sequencer::from_heads(heads),
            last_ingest_ms,
            listener,
            commits: commits.clone(),
            #[cfg(test)]
            fail_next: fail_next.clone(),
        };
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let handle = std::thread::Builder::new()
            .name("socfeed-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(storage("start writer thread"))?;
        Ok(EmbeddedLog {
            db,
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            commits,
            #[cfg(test)]
            fail_next,
        })
    }

    /// How many write transactions of appends were committed since open (each may hold the
    /// appends of many concurrent `append` calls).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Makes the next group's transaction fail before its commit.
    #[cfg(test)]
    pub(crate) fn fail_next_commit(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> Request,
    ) -> Result<T, LogError> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let queue = queue.ok_or(LogError::Closed)?;
        let (tx, rx) = oneshot::channel();
        // The writer only drops the queue's receiver when it stopped abnormally (a panic).
        queue
            .send(make(tx))
            .await
            .map_err(|_| LogError::storage("the log writer has stopped"))?;
        drop(queue);
        rx.await
            .map_err(|_| LogError::storage("the log writer stopped before replying"))?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Database) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, LogError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || read(&db))
            .await
            .map_err(storage("read task failed"))?
    }

    fn stop(&self) -> Option<JoinHandle<()>> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Creates missing tables, loads the heads and the last ingest time, and brings the channel
/// index up to the heads.
fn init(db: &Database) -> Result<(Vec<(TenantId, TenantHead)>, i64), LogError> {
    let txn = db
        .begin_write()
        .map_err(storage("begin write transaction"))?;
    let mut heads = Vec::new();
    let last_ingest_ms;
    {
        txn.open_table(EVENTS)
            .map_err(storage("open events table"))?;
        txn.open_table(IDS).map_err(storage("open ids table"))?;
        let table = txn.open_table(HEADS).map_err(storage("open heads table"))?;
        for item in table.iter().map_err(storage("load heads"))? {
            let (key, value) = item.map_err(storage("load heads"))?;
            let (seq, epoch) = value.value();
            let tenant = TenantId::parse(key.value()).map_err(|e| LogError::Corrupt {
                tenant: key.value().to_owned(),
                seq,
                message: format!("stored head: {e}"),
            })?;
            heads.push((
                tenant,
                TenantHead {
                    seq,
                    epoch: epoch.to_owned(),
                },
            ));
        }
        let meta = txn.open_table(META).map_err(storage("open meta table"))?;
        last_ingest_ms = meta
            .get(LAST_INGEST_MS)
            .map_err(storage("load last ingest time"))?
            .map_or(0, |g| g.value());
    }
    let indexed = index::catch_up(&txn, &heads)?;
    if indexed > 0 {
        tracing::info!(events = indexed, "event log: indexed events by channel");
    }
    txn.commit().map_err(storage("commit table creation"))?;
    Ok((heads, last_ingest_ms))
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(&self, drafts: Vec<EventDraft>) -> Result<Vec<Appended>, LogError> {
        if drafts.is_empty() {
            let open = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some();
            return if open {
                Ok(Vec::new())
            } else {
                Err(LogError::Closed)
            };
        }
        self.request(|reply| Request::Append { drafts, reply })
            .await
    }

    async fn read(
        &self,
        tenant: &TenantId,
        after: Seq,
        upto: Seq,
        channel: Option<&Channel>,
        limit: usize,
    ) -> Result<Vec<Event>, LogError> {
        let (tenant, channel) = (tenant.clone(), channel.cloned());
        self.blocking(move |db| store::read(db, &tenant, after, upto, channel.as_ref(), limit))
            .await
    }

    async fn head(&self, tenant: &TenantId) -> Result<Head, LogError> {
        let tenant = tenant.clone();
        self.blocking(move |db| store::head(db, &tenant)).await
    }

    async fn seq_before(&self, tenant: &TenantId, ingest_ms: i64) -> Result<Seq, LogError> {
        let tenant = tenant.clone();
        self.blocking(move |db| store::seq_before(db, &tenant, ingest_ms))
            .await
    }

    async fn purge_before(&self, ingest_ms: i64) -> Result<u64, LogError> {
        self.request(|reply| Request::Purge {
            before_ms: ingest_ms,
            reply,
        })
        .await
    }

    async fn ready(&self) -> bool {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.as_ref().is_some_and(|q| !q.is_closed()) && self.db.begin_read().is_ok()
    }

    /// Stops accepting, lets the writer finish every queued request (each committed with
    /// fsync), and waits for it to exit. Reads keep working.
    async fn close(&self) -> Result<(), LogError> {
        let Some(handle) = self.stop() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(storage("wait for the writer"))?
            .map_err(|_| LogError::storage("the log writer panicked"))
    }
}

impl Drop for EmbeddedLog {
    /// Acknowledged appends are already durable; this only lets queued requests finish and
    /// waits for the writer so the file is released (a reopen in the same process works).
    fn drop(&mut self) {
        if let Some(handle) = self.stop() {
            let _ = handle.join();
        }
    }
}
