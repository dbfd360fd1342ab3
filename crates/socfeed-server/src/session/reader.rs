//! Reading a seq range of one tenant page by page: recent events from memory (frames already
//! encoded), older ones from the log.

use std::sync::Arc;

use socfeed_log::{LogError, SharedLog};
use socfeed_proto::{Channel, Seq, TenantId};

use super::cursor::Plan;
use crate::fanout::{Delivery, RecentEvents};

/// Rounds of catching up without live registration before a session registers anyway.
const MAX_CATCH_UP_ROUNDS: u32 = 16;

/// Reads `(after, upto]` of one tenant (optionally one channel) page by page. The range can be
/// extended while reading, so a session far behind can catch up before it registers for live
/// events (and so before live events can fill its queue).
pub(crate) struct Reader<'a> {
    log: &'a SharedLog,
    recent: &'a RecentEvents,
    tenant: &'a TenantId,
    channel: Option<Channel>,
    after: Seq,
    upto: Seq,
    page: usize,
    rounds: u32,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        log: &'a SharedLog,
        recent: &'a RecentEvents,
        tenant: &'a TenantId,
        channel: Option<Channel>,
        plan: &Plan,
        page: usize,
    ) -> Reader<'a> {
        Reader {
            log,
            recent,
            tenant,
            channel,
            after: plan.after,
            upto: plan.upto,
            page: page.max(1),
            rounds: 0,
        }
    }

    /// Extends the range to `upto`.
    pub(crate) fn extend_to(&mut self, upto: Seq) {
        self.upto = self.upto.max(upto);
    }

    /// The next page, or `None` when the range is exhausted. Recent events come from memory
    /// (frames already encoded); older ones from the log.
    pub(crate) async fn next_page(&mut self) -> Result<Option<Vec<Arc<Delivery>>>, LogError> {
        while self.after < self.upto {
            if let Some((page, covered)) = self.recent.range(
                self.tenant,
                self.after,
                self.upto,
                self.channel.as_ref(),
                self.page,
            ) {
                self.after = covered;
                if !page.is_empty() {
                    return Ok(Some(page));
                }
                continue;
            }
            let page = self
                .log
                .read(
                    self.tenant,
                    self.after,
                    self.upto,
                    self.channel.as_ref(),
                    self.page,
                )
                .await?;
            match page.last() {
                Some(last) if page.len() == self.page => self.after = last.seq,
                _ => self.after = self.upto,
            }
            if !page.is_empty() {
                return Ok(Some(page.into_iter().filter_map(Delivery::new).collect()));
            }
        }
        Ok(None)
    }

    /// After the range is read: when the tenant's head has run more than `slack` events ahead,
    /// extends the range to it and returns `true` (read on before registering for live events).
    /// Gives up after a bounded number of rounds.
    pub(crate) async fn fell_behind(&mut self, slack: u64) -> Result<bool, LogError> {
        self.rounds += 1;
        if self.rounds > MAX_CATCH_UP_ROUNDS {
            return Ok(false);
        }
        let head = self.log.head(self.tenant).await?.seq;
        if head > self.after.saturating_add(slack) {
            self.extend_to(head);
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
