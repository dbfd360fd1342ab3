//! The most recent events of each tenant, as shared [`Delivery`]s with their frames already
//! encoded: replays of recent history (the usual reconnect) are served from memory instead of
//! reading and re-encoding from the log.
//!
//! Events arrive from the hub in commit order, so each tenant's window holds contiguous seqs.
//! After a restart the window starts empty and fills with new events; anything older comes
//! from the log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use socfeed_proto::{Channel, Seq, TenantId};

use super::delivery::Delivery;

/// Per-tenant windows of recent events.
pub struct RecentEvents {
    per_tenant: usize,
    windows: Mutex<HashMap<TenantId, VecDeque<Arc<Delivery>>>>,
}

impl RecentEvents {
    /// Keeps the last `per_tenant` events of each tenant (0 keeps nothing).
    pub fn new(per_tenant: usize) -> RecentEvents {
        RecentEvents {
            per_tenant,
            windows: Mutex::default(),
        }
    }

    /// Appends committed events (in commit order).
    pub fn push(&self, batch: &[Arc<Delivery>]) {
        if self.per_tenant == 0 || batch.is_empty() {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        for d in batch {
            let window = windows.entry(d.event.tenant_id.clone()).or_default();
            if window.back().is_some_and(|last| last.seq() + 1 != d.seq()) {
                // Not contiguous (cannot happen with one log): start over rather than serve a gap.
                window.clear();
            }
            if window.len() == self.per_tenant {
                window.pop_front();
            }
            window.push_back(Arc::clone(d));
        }
    }

    /// Events of `tenant` with `after < seq <= upto` (only `channel`'s when given), at most
    /// `limit`, when the window covers seq `after + 1`. Returns the events and the highest seq
    /// the answer covers (every event of the range up to it was considered); `None` when the
    /// window does not reach back far enough.
    pub fn range(
        &self,
        tenant: &TenantId,
        after: Seq,
        upto: Seq,
        channel: Option<&Channel>,
        limit: usize,
    ) -> Option<(Vec<Arc<Delivery>>, Seq)> {
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.get(tenant)?;
        let first = window.front()?.seq();
        let last = window.back()?.seq();
        if after + 1 < first || after >= last {
            return None;
        }
        let start = usize::try_from(after + 1 - first).ok()?;
        let mut out = Vec::new();
        let mut covered = after;
        for d in window.range(start..) {
            if d.seq() > upto || out.len() == limit {
                break;
            }
            covered = d.seq();
            if channel.is_none_or(|c| *c == d.channel) {
                out.push(Arc::clone(d));
            }
        }
        Some((out, covered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use socfeed_proto::Event;

    fn d(tenant: &str, seq: u64, ty: &str) -> Arc<Delivery> {
        Delivery::new(Event {
            id: format!("e{seq}"),
            seq,
            tenant_id: TenantId::parse(tenant).unwrap(),
            event_type: ty.into(),
            payload: RawValue::from_string("{}".into()).unwrap(),
            ts: 0,
        })
        .unwrap()
    }

    #[test]
    fn serves_covered_ranges_only() {
        let r = RecentEvents::new(4);
        let t = TenantId::parse("t").unwrap();
        r.push(&[
            d("t", 1, "alert.a"),
            d("t", 2, "case.b"),
            d("t", 3, "alert.c"),
        ]);
        r.push(&[
            d("t", 4, "alert.d"),
            d("t", 5, "case.e"),
            d("u", 1, "alert.x"),
        ]);
        // Window of t is now 2..=5.
        assert!(r.range(&t, 0, 5, None, 10).is_none(), "seq 1 fell out");
        let (evs, covered) = r.range(&t, 1, 5, None, 10).unwrap();
        assert_eq!(
            evs.iter().map(|d| d.seq()).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        assert_eq!(covered, 5);
        let alerts = Channel::parse("alerts").unwrap();
        let (evs, covered) = r.range(&t, 1, 4, Some(&alerts), 10).unwrap();
        assert_eq!(evs.iter().map(|d| d.seq()).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(covered, 4);
        let (evs, covered) = r.range(&t, 1, 5, None, 2).unwrap();
        assert_eq!((evs.len(), covered), (2, 3));
        assert!(
            r.range(&t, 5, 9, None, 10).is_none(),
            "nothing newer than the window"
        );
        assert!(
            r.range(&TenantId::parse("v").unwrap(), 0, 1, None, 1)
                .is_none()
        );
    }

    #[test]
    fn a_gap_restarts_the_window_and_zero_keeps_nothing() {
        let r = RecentEvents::new(8);
        let t = TenantId::parse("t").unwrap();
        r.push(&[d("t", 1, "a.b"), d("t", 2, "a.b")]);
        r.push(&[d("t", 7, "a.b")]);
        assert!(r.range(&t, 1, 7, None, 10).is_none());
        assert_eq!(r.range(&t, 6, 7, None, 10).unwrap().0.len(), 1);
        let none = RecentEvents::new(0);
        none.push(&[d("t", 1, "a.b")]);
        assert!(none.range(&t, 0, 1, None, 10).is_none());
    }
}
