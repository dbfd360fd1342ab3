//! Where a follower stands in a tenant's history, and what each thing it learns means: a pure
//! state machine (no IO) that `follow.rs` drives.
//!
//! A position is the epoch of what was delivered and the last seq delivered. Events (live
//! messages, this node's own appends) are delivered when they are the next ones; a later seq is
//! a gap, repaired from the stream first; another epoch is believed only once a fresh head read
//! shows it (a message from before a reset may still be in flight). A head read can say the
//! follower is behind (catch up), that the history is gone (flushed: the next epoch starts at
//! seq 0), that a new epoch replaced it (reset), or that the stored head is below what was
//! delivered in the same epoch (Redis went back to an older state: renew the epoch).

use socfeed_proto::Seq;

use crate::Head;

/// A follower's position in one tenant's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// The epoch of what was delivered; `None`: the tenant had no history when the follower
    /// started.
    epoch: Option<String>,
    /// The highest seq delivered, or the start position (the head when following started).
    last: Seq,
    /// A head read found the history gone (flushed): the next epoch starts from nothing.
    gone: bool,
    /// A head check saw this seq above `last`; if it is still above at the next check, the
    /// message that would have carried it was lost.
    suspect: Option<Seq>,
}

/// What to do with events of one epoch whose seqs run from `first` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnEvents {
    /// All of them were delivered already.
    Old,
    /// Deliver those above the position.
    Deliver,
    /// Read `(last, upto]` from the stream first (a gap).
    Repair { upto: Seq },
    /// Another epoch: read the head before believing it.
    Verify,
}

/// What a head read means for the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnHead {
    /// Nothing to do.
    Same,
    /// Read and deliver up to `upto`.
    CatchUp { upto: Seq },
    /// The history is gone (flushed) and no new one exists yet: nothing to deliver.
    Gone,
    /// Another epoch replaced the one delivered (or the tenant's first history began).
    NewEpoch(NewEpoch),
    /// The stored head of `epoch` is below what was delivered: renew the epoch.
    WentBack { epoch: String },
}

/// Where a new epoch's delivery starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewEpoch {
    pub(crate) epoch: String,
    /// Delivery goes on after this seq.
    pub(crate) base: Seq,
    /// The head read: catch up to it.
    pub(crate) upto: Seq,
    /// Something of another epoch was delivered: the listener must drop it (`history_reset`).
    pub(crate) reset: bool,
}

impl Position {
    /// The start position: the head read once the subscription was confirmed.
    pub(crate) fn start(head: &Head) -> Position {
        Position {
            last: if head.epoch.is_some() { head.seq } else { 0 },
            epoch: head.epoch.clone(),
            gone: false,
            suspect: None,
        }
    }

    pub(crate) fn last(&self) -> Seq {
        self.last
    }

    pub(crate) fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    /// Events of `epoch`, seqs `first..=end`.
    pub(crate) fn on_events(&self, epoch: &str, first: Seq, end: Seq) -> OnEvents {
        if self.epoch.as_deref() != Some(epoch) {
            OnEvents::Verify
        } else if end <= self.last {
            OnEvents::Old
        } else if first > self.last + 1 {
            OnEvents::Repair { upto: first - 1 }
        } else {
            OnEvents::Deliver
        }
    }

    /// A fresh head read (notes a gone history in place).
    pub(crate) fn on_head(&mut self, head: &Head) -> OnHead {
        match (head.epoch.as_deref(), self.epoch.as_deref()) {
            (None, None) => OnHead::Same,
            (None, Some(_)) => {
                self.gone = true;
                OnHead::Gone
            }
            (Some(stored), Some(mine)) if stored == mine => {
                self.gone = false;
                if head.seq < self.last {
                    OnHead::WentBack {
                        epoch: stored.to_owned(),
                    }
                } else if head.seq > self.last {
                    OnHead::CatchUp { upto: head.seq }
                } else {
                    OnHead::Same
                }
            }
            (Some(stored), _) => OnHead::NewEpoch(NewEpoch {
                epoch: stored.to_owned(),
                base: if self.fresh_start() { 0 } else { head.seq },
                upto: head.seq,
                reset: self.epoch.is_some(),
            }),
        }
    }

    /// Events of `epoch` starting at `first`, another epoch than the position's, checked
    /// against a head read since: if the head is of that epoch, delivery goes on from `first`
    /// (or from seq 0 when the history began from nothing); otherwise the events were stale
    /// and the head alone counts.
    pub(crate) fn on_verified(&mut self, epoch: &str, first: Seq, head: &Head) -> OnHead {
        if head.epoch.as_deref() != Some(epoch) || self.epoch.as_deref() == Some(epoch) {
            return self.on_head(head);
        }
        OnHead::NewEpoch(NewEpoch {
            epoch: epoch.to_owned(),
            base: if self.fresh_start() {
                0
            } else {
                first.saturating_sub(1).min(head.seq)
            },
            upto: head.seq,
            reset: self.epoch.is_some(),
        })
    }

    /// The periodic head check saw `(epoch, seq)`: whether a head read is due. A head above the
    /// position is normal while its messages are on the way, so it counts only when it is
    /// still not delivered at the next check.
    pub(crate) fn on_check(&mut self, epoch: Option<&str>, seq: Seq) -> bool {
        match (epoch, self.epoch.as_deref()) {
            (None, None) => false,
            (None, Some(_)) => !self.gone,
            (Some(stored), Some(mine)) if stored == mine => {
                if seq <= self.last {
                    self.suspect = None;
                    return false;
                }
                match self.suspect {
                    Some(seen) if self.last < seen => {
                        self.suspect = None;
                        true
                    }
                    _ => {
                        self.suspect = Some(seq);
                        false
                    }
                }
            }
            (Some(_), _) => true,
        }
    }

    /// Events up to `seq` were delivered (or are gone and skipped).
    pub(crate) fn delivered(&mut self, seq: Seq) {
        self.last = self.last.max(seq);
    }

    /// Delivery goes on in a new epoch.
    pub(crate) fn restart(&mut self, new: &NewEpoch) {
        self.epoch = Some(new.epoch.clone());
        self.last = new.base;
        self.gone = false;
        self.suspect = None;
    }

    /// Whether the next epoch starts from nothing (no history when following started, or a
    /// history seen gone since).
    fn fresh_start(&self) -> bool {
        self.epoch.is_none() || self.gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(epoch: Option<&str>, seq: Seq) -> Head {
        Head {
            seq,
            epoch: epoch.map(str::to_owned),
            first_retained: 1,
        }
    }

    fn at(epoch: &str, last: Seq) -> Position {
        Position::start(&head(Some(epoch), last))
    }

    #[test]
    fn events_are_delivered_in_order_once_and_gaps_repaired_first() {
        let p = at("e1", 5);
        assert_eq!(p.on_events("e1", 3, 5), OnEvents::Old);
        assert_eq!(p.on_events("e1", 6, 6), OnEvents::Deliver);
        assert_eq!(p.on_events("e1", 4, 8), OnEvents::Deliver);
        assert_eq!(p.on_events("e1", 9, 9), OnEvents::Repair { upto: 8 });
        assert_eq!(p.on_events("e2", 1, 1), OnEvents::Verify);
        let mut p = p;
        p.delivered(9);
        p.delivered(7);
        assert_eq!(p.last(), 9);
    }

    #[test]
    fn heads_say_catch_up_went_back_or_gone() {
        let mut p = at("e1", 5);
        assert_eq!(p.on_head(&head(Some("e1"), 5)), OnHead::Same);
        assert_eq!(p.on_head(&head(Some("e1"), 9)), OnHead::CatchUp { upto: 9 });
        assert_eq!(
            p.on_head(&head(Some("e1"), 4)),
            OnHead::WentBack { epoch: "e1".into() }
        );
        assert_eq!(p.on_head(&head(None, 0)), OnHead::Gone);
    }

    #[test]
    fn a_new_epoch_starts_from_its_head_or_from_nothing_after_a_flush() {
        // Renewed elsewhere (seqs go on): from the head.
        let mut p = at("e1", 5);
        let step = p.on_head(&head(Some("e2"), 7));
        let expected = NewEpoch {
            epoch: "e2".into(),
            base: 7,
            upto: 7,
            reset: true,
        };
        assert_eq!(step, OnHead::NewEpoch(expected.clone()));
        p.restart(&expected);
        assert_eq!((p.epoch(), p.last()), (Some("e2"), 7));
        // Seen gone first: the new history began at seq 0.
        let mut p = at("e1", 5);
        assert_eq!(p.on_head(&head(None, 0)), OnHead::Gone);
        let OnHead::NewEpoch(n) = p.on_head(&head(Some("e2"), 3)) else {
            panic!()
        };
        assert_eq!((n.base, n.upto, n.reset), (0, 3, true));
        // No history when following started: the first one is no reset.
        let mut p = Position::start(&head(None, 0));
        let OnHead::NewEpoch(n) = p.on_head(&head(Some("e1"), 2)) else {
            panic!()
        };
        assert_eq!((n.base, n.upto, n.reset), (0, 2, false));
    }

    #[test]
    fn another_epoch_in_a_message_counts_only_when_the_head_shows_it() {
        let mut p = at("e1", 5);
        // A flush then an append: the message is seq 1 of e2.
        let OnHead::NewEpoch(n) = p.on_verified("e2", 1, &head(Some("e2"), 2)) else {
            panic!()
        };
        assert_eq!((n.base, n.upto, n.reset), (0, 2, true));
        // Renewed elsewhere, then appended: from the message on.
        let OnHead::NewEpoch(n) = p.on_verified("e3", 6, &head(Some("e3"), 8)) else {
            panic!()
        };
        assert_eq!((n.base, n.upto), (5, 8));
        // A stale message of an epoch the head no longer has: the head alone counts.
        assert_eq!(p.on_verified("e0", 3, &head(Some("e1"), 5)), OnHead::Same);
    }

    #[test]
    fn a_head_check_asks_for_a_read_only_when_something_stays_wrong() {
        let mut p = at("e1", 5);
        assert!(!p.on_check(Some("e1"), 5));
        // Above: in flight, probably. Delivered by the next check: fine.
        assert!(!p.on_check(Some("e1"), 7));
        p.delivered(7);
        assert!(!p.on_check(Some("e1"), 9));
        // Still not delivered a check later: the last message was lost.
        assert!(p.on_check(Some("e1"), 9));
        assert!(!p.on_check(Some("e1"), 4));
        assert!(p.on_check(Some("e2"), 1));
        assert!(p.on_check(None, 0));
        p.on_head(&head(None, 0));
        assert!(!p.on_check(None, 0));
        assert!(!Position::start(&head(None, 0)).on_check(None, 0));
    }
}
