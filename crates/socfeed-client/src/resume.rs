//! Resume state: the last seq delivered on each stream, the tenant's epoch, and what an ack or a
//! replay header means for them. Pure: no IO, no clock.
//!
//! A *stream* is what the server orders by seq: a GOVERN feed is one stream (keyed `all`); an
//! AiSOC connection has one per subscribed channel (`all` when subscribed to every channel).
//! An event is delivered only when its seq is above its stream's position, and then becomes the
//! position: nothing is delivered twice, and a reconnect asks for `since = position`.

use std::collections::BTreeMap;

use socfeed_proto::{Channel, Seq};

use crate::item::Gap;

#[derive(Debug, Clone)]
pub(crate) struct Resume {
    epoch: Option<String>,
    positions: BTreeMap<Channel, Seq>,
    /// The position of a stream not seen yet (the caller's `since`); `None`: start live.
    default: Option<Seq>,
    /// Gaps name their channel (AiSOC).
    per_channel: bool,
}

/// What the server said about a (re)subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resumed {
    /// The `since` sent for this stream; `None` for a live start.
    pub asked: Option<Seq>,
    /// The tenant's head in an AiSOC ack; GOVERN replays carry none.
    pub head: Option<Seq>,
    pub epoch: Option<String>,
    pub truncated: bool,
}

impl Resume {
    pub(crate) fn new(since: Option<Seq>, epoch: Option<String>, per_channel: bool) -> Resume {
        Resume {
            epoch,
            positions: BTreeMap::new(),
            default: since,
            per_channel,
        }
    }

    /// The `since` to send for `stream`; `None` when nothing is known yet (live start).
    pub(crate) fn since(&self, stream: &Channel) -> Option<Seq> {
        self.positions.get(stream).copied().or(self.default)
    }

    /// The epoch to send with a `since`.
    pub(crate) fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    /// Whether an event at `seq` on `stream` is new; if so it becomes the stream's position.
    pub(crate) fn accept(&mut self, stream: &Channel, seq: Seq) -> bool {
        if self.since(stream).is_some_and(|floor| seq <= floor) {
            return false;
        }
        self.positions.insert(stream.clone(), seq);
        true
    }

    /// Applies an ack (AiSOC) or a replay header (GOVERN); returns the gap to report, if any.
    ///
    /// * A different epoch than the one known means the history was reset: every position
    ///   goes back to 0, since seqs started over.
    /// * `truncated` is a gap: the server resumes at its oldest retained event.
    /// * A live start (nothing asked) takes the head as the position, so the next reconnect
    ///   resumes from there.
    pub(crate) fn on_resumed(&mut self, stream: &Channel, r: Resumed) -> Option<Gap> {
        // A new epoch, or a history that is gone (no epoch, and the cursor is truncated), means
        // the positions held refer to a history that no longer exists.
        let changed = match (&self.epoch, &r.epoch) {
            (Some(a), Some(b)) => a != b,
            (Some(_), None) => r.truncated,
            _ => false,
        };
        if changed {
            self.positions.values_mut().for_each(|p| *p = 0);
            self.default = Some(0);
        }
        if changed || r.epoch.is_some() {
            self.epoch = r.epoch;
        }
        if let (None, Some(head)) = (r.asked, r.head) {
            let p = self.positions.entry(stream.clone()).or_insert(head);
            *p = (*p).max(head);
        }
        (r.truncated || changed).then(|| Gap {
            channel: self.per_channel.then(|| stream.clone()),
            after: r.asked.unwrap_or(0),
            epoch: self.epoch.clone(),
            epoch_changed: changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(s: &str) -> Channel {
        Channel::parse(s).unwrap()
    }

    #[test]
    fn an_emptied_history_resets_the_positions() {
        let mut r = Resume::new(None, None, false);
        r.on_resumed(&ch("all"), resumed(None, Some(7), "e1", false));
        assert_eq!(r.epoch.as_deref(), Some("e1"));
        let gap = r
            .on_resumed(
                &ch("all"),
                Resumed {
                    asked: Some(7),
                    head: Some(0),
                    epoch: None,
                    truncated: true,
                },
            )
            .expect("a gap");
        assert!(gap.epoch_changed);
        assert_eq!(r.epoch, None);
        assert!(r.positions.values().all(|p| *p == 0));
    }

    fn resumed(asked: Option<Seq>, head: Option<Seq>, epoch: &str, truncated: bool) -> Resumed {
        Resumed {
            asked,
            head,
            epoch: Some(epoch.into()),
            truncated,
        }
    }

    #[test]
    fn never_delivers_a_seq_twice() {
        let mut r = Resume::new(Some(3), None, false);
        let all = ch("all");
        assert_eq!(r.since(&all), Some(3));
        assert!(!r.accept(&all, 3));
        assert!(r.accept(&all, 4));
        assert!(!r.accept(&all, 4));
        assert!(!r.accept(&all, 2));
        assert!(r.accept(&all, 9));
        assert_eq!(r.since(&all), Some(9));
    }

    #[test]
    fn channels_resume_on_their_own() {
        let mut r = Resume::new(None, None, true);
        let (a, c) = (ch("alerts"), ch("cases"));
        assert_eq!(r.since(&a), None);
        assert_eq!(r.on_resumed(&a, resumed(None, Some(10), "e", false)), None);
        assert_eq!(r.on_resumed(&c, resumed(None, Some(11), "e", false)), None);
        assert!(r.accept(&a, 12));
        assert!(r.accept(&c, 13));
        assert!(!r.accept(&c, 11));
        assert_eq!((r.since(&a), r.since(&c)), (Some(12), Some(13)));
        assert_eq!(r.epoch(), Some("e"));
    }

    #[test]
    fn truncation_is_a_gap_and_keeps_positions() {
        let mut r = Resume::new(Some(5), Some("e".into()), true);
        let a = ch("alerts");
        let gap = r
            .on_resumed(&a, resumed(Some(5), Some(90), "e", true))
            .unwrap();
        assert_eq!(gap.channel, Some(a.clone()));
        assert_eq!((gap.after, gap.epoch_changed), (5, false));
        assert!(r.accept(&a, 40));
    }

    #[test]
    fn a_new_epoch_starts_over() {
        let mut r = Resume::new(None, None, false);
        let all = ch("all");
        r.on_resumed(&all, resumed(None, Some(0), "old", false));
        assert!(r.accept(&all, 50));
        let gap = r
            .on_resumed(&all, resumed(Some(50), None, "new", true))
            .unwrap();
        assert!(gap.epoch_changed);
        assert_eq!((gap.after, gap.epoch.as_deref()), (50, Some("new")));
        assert!(r.accept(&all, 1), "seqs of the new history are new");
        assert_eq!(r.since(&ch("cases")), Some(0));
    }

    #[test]
    fn learning_the_first_epoch_is_no_gap() {
        let mut r = Resume::new(Some(0), None, false);
        let all = ch("all");
        assert_eq!(r.on_resumed(&all, resumed(Some(0), None, "e", false)), None);
        assert_eq!(r.epoch(), Some("e"));
    }
}
