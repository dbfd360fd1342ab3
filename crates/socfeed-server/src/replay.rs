//! Resume: turning a client's cursor (`since` + `epoch`, `Last-Event-ID`, `replay=5m`) into a seq
//! range, and reading that range from the log page by page.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use socfeed_log::{Head, LogError, SharedLog};
use socfeed_proto::{Channel, Seq, TenantId};

use crate::delivery::Delivery;
use crate::recent::RecentEvents;

/// Where a client wants to resume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this seq (from `since`, `Last-Event-ID`), in the history named by `epoch` if given.
    Seq { since: Seq, epoch: Option<String> },
    /// Everything ingested in the last `Duration`.
    Window(Duration),
}

impl Cursor {
    /// The GOVERN cursor of a request: `?since=` (with `?epoch=`), else `Last-Event-ID`, else
    /// `?replay=<duration>` (an empty `?replay` means `default_window`). `None`: no replay.
    pub fn from_request(
        query: &HashMap<String, String>,
        last_event_id: Option<&str>,
        default_window: Duration,
    ) -> Result<Option<Cursor>, String> {
        let epoch = query.get("epoch").filter(|e| !e.is_empty()).cloned();
        if let Some(s) = query.get("since") {
            let since = s
                .parse()
                .map_err(|_| format!("`since` must be a non-negative integer (got {s:?})"))?;
            return Ok(Some(Cursor::Seq { since, epoch }));
        }
        if let Some(id) = last_event_id.map(str::trim).filter(|s| !s.is_empty()) {
            let since = id
                .parse()
                .map_err(|_| format!("`Last-Event-ID` must be a seq (got {id:?})"))?;
            return Ok(Some(Cursor::Seq { since, epoch }));
        }
        if let Some(r) = query.get("replay") {
            let window = if r.is_empty() {
                default_window
            } else {
                crate::config::parse_duration(r).map_err(|e| format!("`replay`: {e}"))?
            };
            return Ok(Some(Cursor::Window(window)));
        }
        Ok(None)
    }
}

/// A seq range to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Replay events with `after < seq <= upto`.
    pub after: Seq,
    pub upto: Seq,
    /// Some events the cursor asked for are no longer retained (or the epoch changed).
    pub truncated: bool,
}

/// Plans a replay of `cursor` against the tenant's `head`.
pub async fn plan(
    log: &SharedLog,
    tenant: &TenantId,
    head: &Head,
    cursor: &Cursor,
    now_ms: i64,
) -> Result<Plan, LogError> {
    let oldest = head.first_retained.saturating_sub(1);
    match cursor {
        Cursor::Seq { since, epoch } => {
            let epoch_mismatch = epoch.is_some() && *epoch != head.epoch;
            let too_old = *since < oldest && *since < head.seq;
            if epoch_mismatch || too_old {
                Ok(Plan {
                    after: oldest,
                    upto: head.seq,
                    truncated: true,
                })
            } else {
                Ok(Plan {
                    after: *since,
                    upto: head.seq,
                    truncated: false,
                })
            }
        }
        Cursor::Window(window) => {
            let since_ms =
                now_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
            let after = log.seq_before(tenant, since_ms).await?;
            Ok(Plan {
                after,
                upto: head.seq,
                truncated: false,
            })
        }
    }
}

/// Rounds of catching up without live registration before a session registers anyway.
const MAX_CATCH_UP_ROUNDS: u32 = 16;

/// Reads `(after, upto]` of one tenant (optionally one channel) page by page. The range can be
/// extended while reading, so a session far behind can catch up before it registers for live
/// events (and so before live events can fill its queue).
pub struct Reader<'a> {
    log: &'a SharedLog,
    recent: &'a RecentEvents,
    tenant: &'a TenantId,
    channel: Option<&'a Channel>,
    after: Seq,
    upto: Seq,
    page: usize,
    rounds: u32,
}

impl<'a> Reader<'a> {
    pub fn new(
        log: &'a SharedLog,
        recent: &'a RecentEvents,
        tenant: &'a TenantId,
        channel: Option<&'a Channel>,
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

    /// Everything up to this seq has been read.
    pub fn position(&self) -> Seq {
        self.after
    }

    /// Extends the range to `upto`.
    pub fn extend_to(&mut self, upto: Seq) {
        self.upto = self.upto.max(upto);
    }

    /// The next page, or `None` when the range is exhausted. Recent events come from memory
    /// (frames already encoded); older ones from the log.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Arc<Delivery>>>, LogError> {
        while self.after < self.upto {
            if let Some((page, covered)) =
                self.recent
                    .range(self.tenant, self.after, self.upto, self.channel, self.page)
            {
                self.after = covered;
                if !page.is_empty() {
                    return Ok(Some(page));
                }
                continue;
            }
            let page = self
                .log
                .read(self.tenant, self.after, self.upto, self.channel, self.page)
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
    pub async fn fell_behind(&mut self, slack: u64) -> Result<bool, LogError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cursors_from_requests() {
        let w = Duration::from_secs(300);
        assert_eq!(Cursor::from_request(&q(&[]), None, w), Ok(None));
        assert_eq!(
            Cursor::from_request(&q(&[("since", "7"), ("epoch", "e")]), Some("3"), w),
            Ok(Some(Cursor::Seq {
                since: 7,
                epoch: Some("e".into())
            }))
        );
        assert_eq!(
            Cursor::from_request(&q(&[]), Some("3"), w),
            Ok(Some(Cursor::Seq {
                since: 3,
                epoch: None
            }))
        );
        assert_eq!(
            Cursor::from_request(&q(&[("replay", "2m")]), None, w),
            Ok(Some(Cursor::Window(Duration::from_secs(120))))
        );
        assert_eq!(
            Cursor::from_request(&q(&[("replay", "")]), None, w),
            Ok(Some(Cursor::Window(w)))
        );
        assert!(Cursor::from_request(&q(&[("since", "x")]), None, w).is_err());
        assert!(Cursor::from_request(&q(&[]), Some("evt_1"), w).is_err());
        assert!(Cursor::from_request(&q(&[("replay", "soon")]), None, w).is_err());
    }
}
