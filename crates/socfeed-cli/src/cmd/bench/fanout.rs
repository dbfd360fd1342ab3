//! The server's own fan-out latency: `socfeed_fanout_seconds` read from its `/metrics` at the
//! start and the end of the measured window, so latency is seen at the server as well as
//! through this load generator (whose own cost floors what it measures).

use std::collections::BTreeMap;
use std::time::Duration;

/// Cumulative bucket counts of the histogram: upper bound (seconds) → observations at or below.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Buckets(BTreeMap<OrderedBound, u64>);

/// A bucket's upper bound, ordered (`+Inf` last).
#[derive(Debug, Clone, Copy)]
pub(super) struct OrderedBound(f64);

impl PartialEq for OrderedBound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrderedBound {}

impl PartialOrd for OrderedBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// What the window's observations say.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Summary {
    pub(super) count: u64,
    /// Upper bounds of the buckets holding the median and the 99th percentile.
    pub(super) p50: Option<Duration>,
    pub(super) p99: Option<Duration>,
}

/// Reads the histogram from `http`'s `/metrics`; `None` when the server has none (another
/// server, an older socfeed, a metrics token).
pub(super) async fn scrape(http: &str) -> Option<Buckets> {
    let text = reqwest::Client::new()
        .get(format!("{http}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .text()
        .await
        .ok()?;
    let buckets = parse(&text);
    (!buckets.0.is_empty()).then_some(buckets)
}

/// The `socfeed_fanout_seconds_bucket{le="…"} N` lines of a Prometheus text exposition.
pub(super) fn parse(text: &str) -> Buckets {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("socfeed_fanout_seconds_bucket{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Some(le) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("le=\""))
            .and_then(|l| l.strip_suffix('"'))
        else {
            continue;
        };
        let bound = match le {
            "+Inf" => f64::INFINITY,
            other => match other.parse() {
                Ok(b) => b,
                Err(_) => continue,
            },
        };
        if let Ok(n) = value.trim().parse::<f64>() {
            out.insert(OrderedBound(bound), n as u64);
        }
    }
    Buckets(out)
}

/// The histograms of every node added up (each node counts its own sessions' deliveries);
/// `None` unless every node has one: a partial figure would pass for the whole.
pub(super) async fn scrape_all(nodes: &[String]) -> Option<Buckets> {
    let mut sum = Buckets::default();
    for http in nodes {
        sum.add(&scrape(http).await?);
    }
    Some(sum)
}

impl Buckets {
    /// Adds another node's counts, bucket by bucket.
    pub(super) fn add(&mut self, other: &Buckets) {
        for (bound, n) in &other.0 {
            *self.0.entry(*bound).or_default() += n;
        }
    }

    /// The observations made after `before`.
    pub(super) fn since(&self, before: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .map(|(b, n)| (*b, n.saturating_sub(before.0.get(b).copied().unwrap_or(0))))
                .collect(),
        )
    }

    pub(super) fn summary(&self) -> Summary {
        let count = self.0.values().copied().max().unwrap_or(0);
        let quantile = |q: f64| -> Option<Duration> {
            if count == 0 {
                return None;
            }
            let rank = (q * count as f64).ceil().max(1.0) as u64;
            let (bound, _) = self.0.iter().find(|(_, n)| **n >= rank)?;
            bound
                .0
                .is_finite()
                .then(|| Duration::from_secs_f64(bound.0))
        };
        Summary {
            count,
            p50: quantile(0.5),
            p99: quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP x\nsocfeed_fanout_seconds_sum 1.0\n\
        socfeed_fanout_seconds_bucket{le=\"0.001\"} 10\n\
        socfeed_fanout_seconds_bucket{le=\"0.0025\"} 10\n\
        socfeed_fanout_seconds_bucket{le=\"0.005\"} 10\n\
        socfeed_fanout_seconds_bucket{le=\"+Inf\"} 10\n";
    const AFTER: &str = "socfeed_fanout_seconds_bucket{le=\"0.001\"} 60\n\
        socfeed_fanout_seconds_bucket{le=\"0.0025\"} 105\n\
        socfeed_fanout_seconds_bucket{le=\"0.005\"} 110\n\
        socfeed_fanout_seconds_bucket{le=\"+Inf\"} 110\n\
        socfeed_other_bucket{le=\"1\"} 5\n";

    #[test]
    fn the_window_s_buckets_give_upper_bounds_of_its_quantiles() {
        let s = parse(AFTER).since(&parse(BEFORE)).summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Some(Duration::from_micros(1000)));
        assert_eq!(s.p99, Some(Duration::from_micros(5000)));
        assert_eq!(Buckets::default().summary().p50, None);
    }

    #[test]
    fn nodes_add_up_bucket_by_bucket() {
        let mut sum = parse(BEFORE);
        sum.add(&parse(AFTER));
        let s = sum.summary();
        assert_eq!(s.count, 120);
        assert_eq!(s.p50, Some(Duration::from_micros(1000)));
        assert_eq!(s.p99, Some(Duration::from_micros(5000)));
        let mut empty = Buckets::default();
        empty.add(&parse(BEFORE));
        assert_eq!(empty, parse(BEFORE));
    }
}
