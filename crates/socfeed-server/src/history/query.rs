//! What a history request asks for: `GET /v1/events?since=&limit=&channel=&epoch=` and the GOVERN
//! filter parameters.

use std::collections::HashMap;

use socfeed_proto::{Channel, Filters, Seq};

/// Events a page holds when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Most events a page may hold.
pub(crate) const MAX_LIMIT: usize = 1000;

/// A parsed history request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// Events after this seq, ascending; `None`: the latest `limit`.
    pub since: Option<Seq>,
    /// The epoch the cursor was taken in, when the client sends it back.
    pub epoch: Option<String>,
    pub limit: usize,
    /// One channel (`None` or `all`: every channel the token may read).
    pub channel: Option<Channel>,
    pub filters: Option<Filters>,
}

impl Query {
    /// Parses the query string's pairs; the error is for the caller (400 `bad_request`).
    pub(crate) fn parse(pairs: &HashMap<String, String>) -> Result<Query, String> {
        let since = match pairs.get("since") {
            Some(s) => Some(
                s.parse::<Seq>()
                    .map_err(|_| format!("`since` must be a non-negative integer (got {s:?})"))?,
            ),
            None => None,
        };
        let limit = match pairs.get("limit") {
            Some(l) => match l.parse::<usize>() {
                Ok(0) | Err(_) => {
                    return Err(format!("`limit` must be 1 to {MAX_LIMIT} (got {l:?})"));
                }
                Ok(n) => n.min(MAX_LIMIT),
            },
            None => DEFAULT_LIMIT,
        };
        let channel = match pairs.get("channel").map(String::as_str) {
            None | Some("") => None,
            Some(name) => Some(Channel::parse(name).map_err(|e| format!("`channel`: {e}"))?),
        };
        Ok(Query {
            since,
            epoch: pairs.get("epoch").filter(|e| !e.is_empty()).cloned(),
            limit,
            channel: channel.filter(|c| !c.is_all()),
            filters: crate::dialect::filters(pairs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<Query, String> {
        Query::parse(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_limits_channels_and_filters() {
        let d = q(&[]).unwrap();
        assert_eq!(
            (d.since, d.limit, d.channel, d.filters),
            (None, 100, None, None)
        );
        let full = q(&[
            ("since", "7"),
            ("limit", "5000"),
            ("channel", "alerts"),
            ("severities", "critical, high"),
            ("epoch", "e1"),
        ])
        .unwrap();
        assert_eq!(full.since, Some(7));
        assert_eq!(full.limit, MAX_LIMIT, "clamped");
        assert_eq!(full.channel.unwrap().as_str(), "alerts");
        assert_eq!(full.filters.unwrap().severities, vec!["critical", "high"]);
        assert_eq!(full.epoch.as_deref(), Some("e1"));
        assert_eq!(q(&[("channel", "all")]).unwrap().channel, None);
        for bad in [
            ("since", "-1"),
            ("limit", "0"),
            ("limit", "x"),
            ("channel", "No Such"),
        ] {
            assert!(q(&[bad]).is_err(), "{bad:?}");
        }
    }
}
