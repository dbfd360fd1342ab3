//! The replay→live seam: the one way a subscription starts, for every dialect and transport.
//!
//! Without a cursor the session registers its interest in the hub, then reads the head: live
//! events above it follow. With one, it plans the range the cursor asks for and reads it page
//! by page, catching up from the log while it is far behind (so live events cannot overflow its
//! queue during a long replay), then registers, reads the head once more and replays up to it.
//! Either way the last head read after registering is the *floor*: live events at or below it
//! were replayed (or came before the subscription) and are skipped. So replay-then-live has no
//! gap and no duplicate. On a cluster engine the head is read only once the engine follows the
//! tenant (registering starts that; [`Scope::live`] waits for it), so every commit above the
//! floor reaches the queue.

use std::sync::Arc;

use socfeed_log::{Head, LogError};
use socfeed_proto::{Channel, Seq};

use super::Scope;
use super::cursor::{self, Cursor, Plan};
use super::reader::Reader;
use crate::fanout::{Delivery, Interest};

/// One subscription's way from its cursor to the live stream.
pub(crate) struct Seam<'a> {
    scope: &'a Scope,
    /// The head when the seam opened.
    head: Head,
    plan: Option<Plan>,
    reader: Option<Reader<'a>>,
    interest: Interest,
    slack: u64,
    floor: Option<Seq>,
}

impl<'a> Seam<'a> {
    /// Opens the seam of a subscription that needs `interest` (what the session already
    /// receives plus the new target), resuming after `cursor` (none: live only); a replay reads
    /// only `channel` when given.
    pub(crate) async fn open(
        scope: &'a Scope,
        interest: Interest,
        cursor: Option<&Cursor>,
        channel: Option<Channel>,
    ) -> Result<Seam<'a>, LogError> {
        let log = &scope.state.log;
        let Some(cursor) = cursor else {
            scope.registration.set_interest(&interest);
            scope.live().await?;
            let head = log.head(&scope.tenant).await?;
            return Ok(Seam {
                scope,
                floor: Some(head.seq),
                head,
                plan: None,
                reader: None,
                interest,
                slack: 0,
            });
        };
        let head = log.head(&scope.tenant).await?;
        let plan = cursor::plan(log, &scope.tenant, &head, cursor, socfeed_log::now_ms()).await?;
        let config = &scope.state.config;
        let reader = Reader::new(
            log,
            &scope.state.hub.recent,
            &scope.tenant,
            channel,
            &plan,
            config.replay_batch,
        );
        Ok(Seam {
            scope,
            head,
            plan: Some(plan),
            reader: Some(reader),
            interest,
            slack: (config.queue_len / 2) as u64,
            floor: None,
        })
    }

    /// The tenant's head when the seam opened (after registering, when there is no cursor).
    pub(crate) fn head(&self) -> &Head {
        &self.head
    }

    /// The replayed range; `None` without a cursor.
    pub(crate) fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// Whether the cursor asked for events that are gone (or for another epoch).
    pub(crate) fn truncated(&self) -> bool {
        self.plan.as_ref().is_some_and(|p| p.truncated)
    }

    /// The next page of the replay; `None` once the seam is reached (the session is then
    /// registered and [`Seam::floor`] known).
    pub(crate) async fn next_page(&mut self) -> Result<Option<Vec<Arc<Delivery>>>, LogError> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        loop {
            if let Some(page) = reader.next_page().await? {
                return Ok(Some(page));
            }
            if self.floor.is_some() {
                return Ok(None);
            }
            if !reader.fell_behind(self.slack).await? {
                self.scope.registration.set_interest(&self.interest);
                self.scope.live().await?;
                let floor = self.scope.state.log.head(&self.scope.tenant).await?.seq;
                reader.extend_to(floor);
                self.floor = Some(floor);
            }
        }
    }

    /// Live events must be above this seq; known once [`Seam::next_page`] returned `None`.
    pub(crate) fn floor(&self) -> Seq {
        self.floor.unwrap_or(self.head.seq)
    }
}
