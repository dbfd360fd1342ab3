//! What a GOVERN feed request asks for (filters and resume cursor, from the query string and
//! `Last-Event-ID`) and the replay it gets; shared by the WebSocket and SSE transports.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use socfeed_log::{Head, LogError, SharedLog};
use socfeed_proto::{Filters, Seq, TenantId};

use crate::delivery::Delivery;
use crate::hub::{Interest, Registration};
use crate::replay::{self, Cursor, Plan, Reader};
use crate::state::AppState;

/// A feed request's filters and cursor; problems are reported to the client, not fatal.
#[derive(Debug, Clone, Default)]
pub struct FeedRequest {
    /// Filters from `?severities=&types=&systems=&events=` (comma-separated); `None` when absent.
    pub filters: Option<Filters>,
    pub cursor: Option<Cursor>,
    /// Messages about query parameters that were ignored.
    pub errors: Vec<String>,
}

impl FeedRequest {
    pub fn parse(
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        default_window: Duration,
    ) -> FeedRequest {
        let mut errors = Vec::new();
        let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
        let cursor =
            Cursor::from_request(query, last_event_id, default_window).unwrap_or_else(|e| {
                errors.push(format!("{e}; no replay"));
                None
            });
        let list = |key: &str| -> Vec<String> {
            query
                .get(key)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let filters = Filters {
            severities: list("severities"),
            types: list("types"),
            systems: list("systems"),
            events: list("events"),
        };
        let filters = (!filters.is_empty()).then_some(filters);
        FeedRequest {
            filters,
            cursor,
            errors,
        }
    }
}

/// A replay in progress: the planned range, the time it starts from, and the pages. While far
/// behind it reads from the log without live registration; once caught up it registers the
/// session for live events, reads the head once more and replays up to it: that head is the
/// seam [`Replay::floor`].
pub struct Replay<'a> {
    pub plan: Plan,
    /// `from` of `feed.replay`: the cursor event's time, or now minus the window.
    pub from_ms: i64,
    /// The tenant's epoch when the replay began.
    pub epoch: Option<String>,
    reader: Reader<'a>,
    log: &'a SharedLog,
    tenant: &'a TenantId,
    registration: &'a Registration,
    interest: Interest,
    slack: u64,
    floor: Option<Seq>,
}

impl<'a> Replay<'a> {
    pub async fn start(
        state: &'a AppState,
        tenant: &'a TenantId,
        registration: &'a Registration,
        interest: Interest,
        cursor: &Cursor,
    ) -> Result<Replay<'a>, LogError> {
        let now = socfeed_log::now_ms();
        let head = state.log.head(tenant).await?;
        let plan = replay::plan(&state.log, tenant, &head, cursor, now).await?;
        let from_ms = match cursor {
            Cursor::Window(w) => {
                now.saturating_sub(i64::try_from(w.as_millis()).unwrap_or(i64::MAX))
            }
            Cursor::Seq { .. } => {
                // The cursor event's own time when still retained, else the first replayed one's.
                let at = plan.after;
                let first = state
                    .log
                    .read(tenant, at.saturating_sub(1), at + 1, None, 2)
                    .await?;
                first.first().map_or(now, |e| e.ts)
            }
        };
        let reader = Reader::new(
            &state.log,
            &state.hub.recent,
            tenant,
            None,
            &plan,
            state.config.replay_batch,
        );
        Ok(Replay {
            plan,
            from_ms,
            epoch: head.epoch,
            reader,
            log: &state.log,
            tenant,
            registration,
            interest,
            slack: (state.config.queue_len / 2) as u64,
            floor: None,
        })
    }

    /// The next page; `None` once the replay reached the seam (the session is then registered).
    pub async fn next_page(&mut self) -> Result<Option<Vec<Arc<Delivery>>>, LogError> {
        loop {
            if let Some(page) = self.reader.next_page().await? {
                return Ok(Some(page));
            }
            if self.floor.is_some() {
                return Ok(None);
            }
            if !self.reader.fell_behind(self.slack).await? {
                self.floor = Some(
                    register_live(self.log, self.tenant, self.registration, &self.interest)
                        .await?
                        .seq,
                );
                self.reader.extend_to(self.floor.unwrap_or(0));
            }
        }
    }

    /// Live events must be above this seq; known once [`Replay::next_page`] returned `None`.
    pub fn floor(&self) -> Seq {
        self.floor.unwrap_or(0)
    }
}

/// Registers a session's interest, then reads the head: live events above it reach the session.
pub async fn register_live(
    log: &SharedLog,
    tenant: &TenantId,
    registration: &Registration,
    interest: &Interest,
) -> Result<Head, LogError> {
    registration.set_interest(interest);
    log.head(tenant).await
}
