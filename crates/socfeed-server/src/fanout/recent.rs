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

/// Per-tenant windows of recent events, within a count per tenant and a byte budget for all.
pub struct RecentEvents {
    per_tenant: usize,
    budget: usize,
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    by_tenant: HashMap<TenantId, Window>,
    /// What every window holds, by [`cost`].
    bytes: usize,
}

#[derive(Default)]
struct Window {
    events: VecDeque<Arc<Delivery>>,
    bytes: usize,
}

/// What a cached delivery may come to hold: the event and up to three encodings of it.
fn cost(d: &Delivery) -> usize {
    let e = &d.event;
    4 * (e.payload.get().len() + e.id.len() + e.event_type.len()) + 512
}

impl Windows {
    fn clear(&mut self, tenant: &TenantId) {
        if let Some(w) = self.by_tenant.remove(tenant) {
            self.bytes -= w.bytes;
        }
    }

    /// Drops the oldest event of the largest window (so a tenant with big events gives up its
    /// own history first, and one with small ones keeps its share).
    fn evict_from_largest(&mut self) {
        let Some(tenant) = self
            .by_tenant
            .iter()
            .max_by_key(|(_, w)| w.bytes)
            .map(|(t, _)| t.clone())
        else {
            return;
        };
        let Some(w) = self.by_tenant.get_mut(&tenant) else {
            return;
        };
        if let Some(d) = w.events.pop_front() {
            w.bytes -= cost(&d);
            self.bytes -= cost(&d);
        }
        if w.events.is_empty() {
            self.clear(&tenant);
        }
    }
}

impl RecentEvents {
    /// Keeps the last `per_tenant` events of each tenant (0 keeps nothing), and at most
    /// `budget` bytes in all.
    pub fn new(per_tenant: usize, budget: usize) -> RecentEvents {
        RecentEvents {
            per_tenant,
            budget,
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
            let tenant = &d.event.tenant_id;
            let size = cost(d);
            let contiguous = windows
                .by_tenant
                .get(tenant)
                .and_then(|w| w.events.back())
                .is_none_or(|last| last.seq() + 1 == d.seq());
            if !contiguous || size > self.budget {
                // A gap (cannot happen with one log), or an event too big to keep: start over
                // rather than serve a window with a hole.
                windows.clear(tenant);
                if size > self.budget {
                    continue;
                }
            }
            let w = windows.by_tenant.entry(tenant.clone()).or_default();
            let mut freed = 0;
            if w.events.len() == self.per_tenant
                && let Some(old) = w.events.pop_front()
            {
                freed = cost(&old);
            }
            w.events.push_back(Arc::clone(d));
            w.bytes = w.bytes - freed + size;
            windows.bytes = windows.bytes - freed + size;
            while windows.bytes > self.budget {
                windows.evict_from_largest();
            }
        }
    }

    /// Drops what is kept of `tenant` (its history was reset, or it is no longer followed).
    pub fn forget(&self, tenant: &TenantId) {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear(tenant);
    }

    /// Bytes held (by the estimate the budget is kept with).
    pub fn bytes(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
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
        let window = &windows.by_tenant.get(tenant)?.events;
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
        sized(tenant, seq, ty, 0)
    }

    /// An event whose payload has `pad` more bytes.
    fn sized(tenant: &str, seq: u64, ty: &str, pad: usize) -> Arc<Delivery> {
        let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(pad));
        Delivery::new(Event {
            id: format!("e{seq}"),
            seq,
            tenant_id: TenantId::parse(tenant).unwrap(),
            event_type: ty.into(),
            payload: RawValue::from_string(payload).unwrap(),
            ts: 0,
        })
        .unwrap()
    }

    #[test]
    fn the_byte_budget_holds_and_big_events_go_first() {
        let budget = 400_000;
        let r = RecentEvents::new(4096, budget);
        let (big, small) = (
            TenantId::parse("big").unwrap(),
            TenantId::parse("small").unwrap(),
        );
        for seq in 1..=20 {
            r.push(&[sized("small", seq, "a.b", 100)]);
        }
        // 1 MiB events: each is over the budget alone and is not kept at all.
        r.push(&[sized("big", 1, "a.b", 1 << 20)]);
        assert!(r.range(&big, 0, 1, None, 10).is_none());
        // 60 KB events: the big tenant's window shrinks, the small one's stays whole.
        for seq in 2..=40 {
            r.push(&[sized("big", seq, "a.b", 60_000)]);
            assert!(r.bytes() <= budget, "{} > {budget}", r.bytes());
        }
        let (kept, _) = r.range(&small, 0, 20, None, 100).unwrap();
        assert_eq!(kept.len(), 20, "the small tenant keeps its share");
        let (recent, covered) = r.range(&big, 39, 40, None, 100).unwrap();
        assert_eq!((recent.len(), covered), (1, 40));
        assert!(
            r.range(&big, 1, 40, None, 100).is_none(),
            "old big events are gone"
        );
    }

    #[test]
    fn serves_covered_ranges_only() {
        let r = RecentEvents::new(4, usize::MAX);
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
        let r = RecentEvents::new(8, usize::MAX);
        let t = TenantId::parse("t").unwrap();
        r.push(&[d("t", 1, "a.b"), d("t", 2, "a.b")]);
        r.push(&[d("t", 7, "a.b")]);
        assert!(r.range(&t, 1, 7, None, 10).is_none());
        assert_eq!(r.range(&t, 6, 7, None, 10).unwrap().0.len(), 1);
        let none = RecentEvents::new(0, usize::MAX);
        none.push(&[d("t", 1, "a.b")]);
        assert!(none.range(&t, 0, 1, None, 10).is_none());
    }
}
