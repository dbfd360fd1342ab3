//! `--kill-node-after`: node 0, which holds every subscriber, is SIGKILLed while events are
//! published to another node; each subscriber resubscribes on one of the others with the last
//! seq it received. The figure is the time from the kill until every subscriber has resubscribed
//! and received an event published after the kill; loss and duplicates are counted across it as
//! in any run.

use std::time::Duration;

use anyhow::{Context, bail};

/// A subscriber's timestamps around the kill (Unix nanoseconds; none when it did not happen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Marks {
    /// Its subscribe on another node was acknowledged.
    pub(super) resubscribed: Option<u64>,
    /// It received the first event published after the kill.
    pub(super) recovered: Option<u64>,
}

/// What the failover of one run measured.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Summary {
    /// Subscribers connected to the killed node.
    pub(super) subscribers: u64,
    pub(super) resubscribed: u64,
    pub(super) recovered: u64,
    /// From the kill until the last subscriber resubscribed / recovered (when all did).
    pub(super) all_resubscribed: Option<Duration>,
    pub(super) all_recovered: Option<Duration>,
    /// The median subscriber's time to recover.
    pub(super) p50_recovered: Option<Duration>,
}

/// Sums up the subscribers' marks against the instant of the kill.
pub(super) fn summarize(killed_ns: u64, marks: &[Marks]) -> Summary {
    let after = |t: u64| Duration::from_nanos(t.saturating_sub(killed_ns));
    let mut resubscribed: Vec<Duration> = marks
        .iter()
        .filter_map(|m| m.resubscribed)
        .map(after)
        .collect();
    let mut recovered: Vec<Duration> = marks
        .iter()
        .filter_map(|m| m.recovered)
        .map(after)
        .collect();
    resubscribed.sort();
    recovered.sort();
    let n = marks.len();
    let all = |v: &[Duration]| (v.len() == n).then(|| v.last().copied()).flatten();
    Summary {
        subscribers: n as u64,
        resubscribed: resubscribed.len() as u64,
        recovered: recovered.len() as u64,
        all_resubscribed: all(&resubscribed),
        all_recovered: all(&recovered),
        p50_recovered: recovered
            .get(recovered.len().saturating_sub(1) / 2)
            .copied(),
    }
}

/// SIGKILLs a process (the node's sockets close at once, as in a crash).
pub(super) fn kill(pid: u32) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).context("pid out of range")?;
    let Some(pid) = rustix::process::Pid::from_raw(raw) else {
        bail!("pid {raw} is not a process");
    };
    rustix::process::kill_process(pid, rustix::process::Signal::KILL)
        .with_context(|| format!("killing node 0 (pid {raw})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_last_subscriber_sets_the_figure() {
        let marks = [
            Marks {
                resubscribed: Some(1_000 + 5 * MS),
                recovered: Some(1_000 + 20 * MS),
            },
            Marks {
                resubscribed: Some(1_000 + 9 * MS),
                recovered: Some(1_000 + 12 * MS),
            },
            Marks {
                resubscribed: Some(1_000 + 7 * MS),
                recovered: Some(1_000 + 40 * MS),
            },
        ];
        let s = summarize(1_000, &marks);
        assert_eq!((s.subscribers, s.resubscribed, s.recovered), (3, 3, 3));
        assert_eq!(s.all_resubscribed, Some(Duration::from_millis(9)));
        assert_eq!(s.all_recovered, Some(Duration::from_millis(40)));
        assert_eq!(s.p50_recovered, Some(Duration::from_millis(20)));
    }

    #[test]
    fn one_subscriber_short_means_no_figure() {
        let marks = [
            Marks {
                resubscribed: Some(2 * MS),
                recovered: Some(3 * MS),
            },
            Marks {
                resubscribed: Some(2 * MS),
                recovered: None,
            },
        ];
        let s = summarize(0, &marks);
        assert_eq!(s.all_resubscribed, Some(Duration::from_millis(2)));
        assert_eq!(s.all_recovered, None);
        assert_eq!(s.recovered, 1);
        assert_eq!(summarize(0, &[]).p50_recovered, None);
    }
}
