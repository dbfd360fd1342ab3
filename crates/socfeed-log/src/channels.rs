//! Channels as the log sees them: which channel an event is indexed under, and which reads use
//! that index. Both backends keep, per tenant, the seqs of each channel's retained events, so a
//! read of one channel costs what it returns.

use socfeed_proto::Channel;

/// The channel a read is narrowed to: `None` when no channel is given or the channel is the
/// `all` pseudo-channel (every event is returned), else the channel whose index is read.
pub(crate) fn narrowed(channel: Option<&Channel>) -> Option<&Channel> {
    channel.filter(|c| !c.is_all())
}

/// The channel an event of `event_type` is indexed under ([`Channel::of`]): `None` when the type
/// maps to no valid channel (such an event is in no channel read) or to `all` (a read of `all`
/// takes every event without the index).
pub(crate) fn indexed(event_type: &str) -> Option<Channel> {
    Channel::of(event_type).ok().filter(|c| !c.is_all())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_no_channel_read_everything() {
        let alerts = Channel::parse("alerts").unwrap();
        assert_eq!(narrowed(None), None);
        assert_eq!(narrowed(Some(&Channel::all())), None);
        assert_eq!(narrowed(Some(&alerts)), Some(&alerts));
    }

    #[test]
    fn events_are_indexed_under_their_types_channel() {
        let name = |t: &str| indexed(t).map(|c| c.as_str().to_owned());
        assert_eq!(name("alert.created").as_deref(), Some("alerts"));
        assert_eq!(name("ueba.anomaly").as_deref(), Some("ueba"));
        assert_eq!(name("custom").as_deref(), Some("custom"));
        assert_eq!(name("all.x"), None);
        assert_eq!(name("Alert.created"), None);
        assert_eq!(name(".x"), None);
    }
}
