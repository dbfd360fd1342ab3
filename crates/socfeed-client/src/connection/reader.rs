//! What one connection of each dialect keeps while it is read.

use std::collections::HashMap;

use socfeed_proto::{Channel, Event, Seq, TenantId, channel::ALL};

use crate::wire::{self, Incoming};

/// Per-dialect state of one connection.
pub(super) enum Reader {
    Aisoc {
        /// Subscribed to `all`: every event is on the one `all` stream.
        all: bool,
        /// The `since` sent for each channel, until its ack arrives.
        asked: HashMap<Channel, Option<Seq>>,
    },
    Govern {
        tenant: TenantId,
        asked: Option<Seq>,
        /// Inside a `feed.replay` split in parts: the parts after the first only add events.
        in_replay: bool,
    },
}

pub(super) fn all() -> Channel {
    Channel::parse(ALL).unwrap_or_else(|_| unreachable!("`all` is a valid channel"))
}

/// The channels to subscribe: none or any `all` means just `all`; duplicates once.
pub(super) fn channels(requested: &[Channel]) -> Vec<Channel> {
    if requested.is_empty() || requested.iter().any(Channel::is_all) {
        return vec![all()];
    }
    let mut out: Vec<Channel> = Vec::new();
    for c in requested {
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

impl Reader {
    pub(super) fn decode(&self, text: &str) -> Result<Incoming, wire::DecodeError> {
        match self {
            Reader::Aisoc { .. } => wire::aisoc::decode(text),
            Reader::Govern { tenant, .. } => wire::govern::decode(text, tenant),
        }
    }

    /// The resume stream an event belongs to.
    pub(super) fn stream_of(&self, e: &Event) -> Channel {
        match self {
            Reader::Aisoc { all: false, .. } => e.channel().unwrap_or_else(all),
            _ => all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chs(names: &[&str]) -> Vec<Channel> {
        names.iter().map(|n| Channel::parse(n).unwrap()).collect()
    }

    #[test]
    fn all_covers_everything_and_duplicates_go() {
        assert_eq!(channels(&[]), chs(&["all"]));
        assert_eq!(channels(&chs(&["alerts", "all"])), chs(&["all"]));
        assert_eq!(
            channels(&chs(&["cases", "alerts", "cases"])),
            chs(&["cases", "alerts"])
        );
    }
}
