//! What a feed yields: events, each once and in order, and explicit gaps.

use socfeed_proto::{Channel, Event, Seq};

/// One item of a feed's stream.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// An event not delivered before (its `seq` is above every seq delivered on its stream).
    Event(Event),
    /// The server could not fill a resume: events after `after` are partly gone.
    Gap(Gap),
}

/// The server answered a resume with `truncated: true`: the cursor was older than the retained
/// history, or its epoch did not match (the history was reset). Delivery continues from the
/// oldest retained event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The AiSOC channel whose replay is truncated; `None` for a GOVERN feed.
    pub channel: Option<Channel>,
    /// The resume cursor the server could not honour (the last seq delivered before the gap).
    pub after: Seq,
    /// The tenant's epoch as the server now reports it.
    pub epoch: Option<String>,
    /// `true` when the epoch differs from the one seen before: seqs started over and delivery
    /// restarts from the new history's oldest retained event.
    pub epoch_changed: bool,
}
