//! An AiSOC session's subscriptions, and the replay→live seam: which live events it still wants.
//!
//! Each subscribed channel has a *floor*: the highest seq already covered (delivered by replay,
//! or the head at a subscribe without `since`). A live event passes only above its channel's
//! floor, so replay-then-live has neither a gap nor a duplicate. `all` has its own floor for
//! channels without one. Pure state, no IO.

use std::collections::{BTreeSet, HashMap};

use socfeed_proto::{Channel, Claims, Seq};

use crate::fanout::Interest;

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    explicit: BTreeSet<Channel>,
    floors: HashMap<Channel, Seq>,
    all: Option<Seq>,
    /// The token's allow-list; `None` admits every channel.
    allow: Option<Vec<Channel>>,
}

impl Subscriptions {
    pub(crate) fn new(claims: &Claims) -> Subscriptions {
        let allow = match &claims.channels {
            Some(list) if !list.iter().any(|c| c == socfeed_proto::channel::ALL) => {
                Some(list.iter().filter_map(|c| Channel::parse(c).ok()).collect())
            }
            _ => None,
        };
        Subscriptions {
            allow,
            ..Subscriptions::default()
        }
    }

    /// Whether the token admits events of `channel`.
    pub(crate) fn allowed(&self, channel: &Channel) -> bool {
        self.allow.as_ref().is_none_or(|a| a.contains(channel))
    }

    /// Whether a live event of `channel` at `seq` is to be delivered.
    pub(crate) fn wants(&self, channel: &Channel, seq: Seq) -> bool {
        if !self.allowed(channel) {
            return false;
        }
        match self.floors.get(channel).copied().or(self.all) {
            Some(floor) => seq > floor,
            None => false,
        }
    }

    /// Whether `target` (a channel or `all`) is subscribed already.
    pub(crate) fn has(&self, target: &Channel) -> bool {
        if target.is_all() {
            self.all.is_some()
        } else {
            self.explicit.contains(target)
        }
    }

    /// The hub interest these subscriptions need, plus `target` when given (registered before the
    /// head is read so that no live event slips between the head and the registration).
    pub(crate) fn interest_with(&self, target: Option<&Channel>) -> Interest {
        let all = self.all.is_some() || target.is_some_and(Channel::is_all);
        if all {
            return match &self.allow {
                None => Interest::All,
                Some(list) => Interest::Channels(list.clone()),
            };
        }
        let mut list: Vec<Channel> = self.explicit.iter().cloned().collect();
        if let Some(t) = target
            && !self.explicit.contains(t)
        {
            list.push(t.clone());
        }
        if list.is_empty() {
            Interest::Nothing
        } else {
            Interest::Channels(list)
        }
    }

    /// Whether live events of `channel` already reach this session (an explicit subscription or
    /// `all`). A subscribe with `since` replays only channels not yet covered, so that no event is
    /// delivered twice on one connection.
    pub(crate) fn covers(&self, channel: &Channel) -> bool {
        self.all.is_some() || self.explicit.contains(channel)
    }

    /// Records a subscribe of `target` once the head `head` is known. A target newly covered gets
    /// the head as its floor (a replay, if any, has just sent everything up to it); a target
    /// already covered keeps its floor.
    pub(crate) fn subscribe(&mut self, target: &Channel, head: Seq) {
        if target.is_all() {
            if self.all.is_none() {
                self.all = Some(head);
            }
            return;
        }
        if self.explicit.insert(target.clone()) {
            let floor = self
                .floors
                .get(target)
                .copied()
                .or(self.all)
                .unwrap_or(head);
            self.floors.insert(target.clone(), floor);
        }
    }

    /// Removes `target`; other subscriptions keep their floors.
    pub(crate) fn unsubscribe(&mut self, target: &Channel) {
        if target.is_all() {
            self.all = None;
            let explicit = &self.explicit;
            self.floors.retain(|c, _| explicit.contains(c));
        } else {
            self.explicit.remove(target);
            if self.all.is_none() {
                self.floors.remove(target);
            }
        }
    }

    /// Number of subscriptions (`all` counts as one).
    pub(crate) fn count(&self) -> usize {
        self.explicit.len() + usize::from(self.all.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(s: &str) -> Channel {
        Channel::parse(s).unwrap()
    }

    fn claims(channels: Option<Vec<&str>>) -> Claims {
        Claims {
            sub: "u".into(),
            tenant_id: "t".into(),
            exp: 0,
            roles: vec![],
            channels: channels.map(|l| l.into_iter().map(String::from).collect()),
            iss: None,
            aud: None,
            nbf: None,
            iat: None,
        }
    }

    #[test]
    fn live_events_pass_only_above_the_floor() {
        let mut s = Subscriptions::new(&claims(None));
        assert!(!s.wants(&ch("alerts"), 1));
        s.subscribe(&ch("alerts"), 10);
        assert!(!s.wants(&ch("alerts"), 10));
        assert!(s.wants(&ch("alerts"), 11));
        assert!(!s.wants(&ch("cases"), 11));
        s.subscribe(&ch("all"), 20);
        assert!(
            s.wants(&ch("alerts"), 15),
            "the alerts subscription still wants 15"
        );
        assert!(!s.wants(&ch("cases"), 15));
        assert!(s.wants(&ch("cases"), 21));
    }

    #[test]
    fn new_coverage_starts_at_the_head_and_old_coverage_keeps_its_floor() {
        let mut s = Subscriptions::new(&claims(None));
        s.subscribe(&ch("alerts"), 10);
        assert!(s.covers(&ch("alerts")) && !s.covers(&ch("cases")));
        s.subscribe(&ch("all"), 30);
        assert!(s.wants(&ch("alerts"), 25), "alerts keeps its own floor");
        assert!(!s.wants(&ch("cases"), 25));
        assert!(s.covers(&ch("cases")));
        s.subscribe(&ch("cases"), 40);
        assert!(
            s.wants(&ch("cases"), 35),
            "covered by all: keeps all's floor"
        );
        s.subscribe(&ch("alerts"), 50);
        assert!(s.wants(&ch("alerts"), 31), "re-subscribe keeps the floor");
    }

    #[test]
    fn unsubscribe_and_interest() {
        let mut s = Subscriptions::new(&claims(None));
        assert_eq!(s.interest_with(None), Interest::Nothing);
        assert_eq!(
            s.interest_with(Some(&ch("alerts"))),
            Interest::Channels(vec![ch("alerts")])
        );
        s.subscribe(&ch("alerts"), 0);
        s.subscribe(&ch("all"), 0);
        assert_eq!(s.interest_with(None), Interest::All);
        assert_eq!(s.count(), 2);
        s.unsubscribe(&ch("all"));
        assert_eq!(
            s.interest_with(None),
            Interest::Channels(vec![ch("alerts")])
        );
        assert!(!s.wants(&ch("cases"), 5));
        s.unsubscribe(&ch("alerts"));
        assert_eq!(s.interest_with(None), Interest::Nothing);
        assert!(!s.wants(&ch("alerts"), 5));
    }

    #[test]
    fn allow_list_narrows_all() {
        let mut s = Subscriptions::new(&claims(Some(vec!["alerts", "cases"])));
        s.subscribe(&ch("all"), 0);
        assert_eq!(
            s.interest_with(None),
            Interest::Channels(vec![ch("alerts"), ch("cases")])
        );
        assert!(s.wants(&ch("alerts"), 1));
        assert!(!s.wants(&ch("ueba"), 1));
        assert!(!s.allowed(&ch("ueba")));
        let open = Subscriptions::new(&claims(Some(vec!["all"])));
        assert!(open.allowed(&ch("ueba")));
    }
}
