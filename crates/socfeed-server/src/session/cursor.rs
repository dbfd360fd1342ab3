//! Resume: a client's cursor (`since` + `epoch`, `Last-Event-ID`, `replay=5m`) and the seq range
//! it asks for against the tenant's head.

use std::collections::HashMap;
use std::time::Duration;

use socfeed_log::{Head, LogError, SharedLog};
use socfeed_proto::{Seq, TenantId};

/// Where a client wants to resume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// After this seq (from `since`, `Last-Event-ID`), in the history named by `epoch` if given.
    Seq { since: Seq, epoch: Option<String> },
    /// Everything ingested in the last `Duration`.
    Window(Duration),
}

impl Cursor {
    /// The GOVERN cursor of a request: `?since=` (with `?epoch=`), else `Last-Event-ID`, else
    /// `?replay=<duration>` (an empty `?replay` means `default_window`). `None`: no replay.
    pub(crate) fn from_request(
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
pub(crate) struct Plan {
    /// Replay events with `after < seq <= upto`.
    pub after: Seq,
    pub upto: Seq,
    /// Some events the cursor asked for are no longer retained (or the epoch changed).
    pub truncated: bool,
}

/// Plans a replay of `cursor` against the tenant's `head`.
pub(crate) async fn plan(
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
            // A cursor beyond every seq ever assigned: the history it was taken in is gone
            // (flushed, or restored from an older state), whatever epoch it names.
            let ahead = *since > head.seq;
            if epoch_mismatch || too_old || ahead {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cursor_ahead_of_the_head_is_truncated() {
        let log: SharedLog = std::sync::Arc::new(socfeed_log::memory::MemoryLog::new(
            std::sync::Arc::new(socfeed_log::NoListener),
        ));
        let tenant = TenantId::parse("t").unwrap();
        let head = Head {
            seq: 3,
            epoch: Some("e2".into()),
            first_retained: 1,
        };
        let plan = |since, epoch: Option<&str>| Cursor::Seq {
            since,
            epoch: epoch.map(str::to_owned),
        };
        for (cursor, truncated, after) in [
            (plan(2, Some("e2")), false, 2),
            (plan(3, None), false, 3),
            (plan(5, None), true, 0),
            (plan(5, Some("e2")), true, 0),
            (plan(1, Some("e1")), true, 0),
        ] {
            let p = super::plan(&log, &tenant, &head, &cursor, 0).await.unwrap();
            assert_eq!(
                (p.truncated, p.after, p.upto),
                (truncated, after, 3),
                "{cursor:?}"
            );
        }
    }

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
