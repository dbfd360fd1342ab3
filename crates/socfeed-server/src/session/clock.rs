//! A session's timers: ping, silence and token expiry on one timer ([`Clock`]), and write
//! pacing ([`Pace`], `--write-coalesce`).

use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, Sleep};

/// Far enough to mean never (a year), near enough for the timer wheel.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// A session's three deadlines on one timer: the next ping, silence (two intervals without any
/// frame from the client) and the token's expiry. The timer is set to the earliest; when it
/// fires, [`Clock::due`] says which one is due and sets it again.
pub(crate) struct Clock {
    interval: Duration,
    next_ping: Instant,
    silent_at: Instant,
    expires_at: Instant,
    timer: Pin<Box<Sleep>>,
}

/// What [`Clock::due`] found due, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The token expired (close with 4001).
    Expired,
    /// The client has been silent for two intervals (close with 4002).
    Silent,
    /// Time for a ping.
    Ping,
}

impl Clock {
    /// Pings every `interval`; a token with `exp` (unix seconds) expires after `leeway` more.
    /// A client that is not `heard` from (SSE sends nothing) is never silent.
    pub(crate) fn new(interval: Duration, exp: u64, leeway: Duration, heard: bool) -> Clock {
        let now = Instant::now();
        let expires_at = now + until_expiry(exp, leeway);
        let next_ping = now + interval;
        Clock {
            interval,
            next_ping,
            silent_at: if heard {
                now + interval * 2
            } else {
                now + NEVER
            },
            expires_at,
            timer: Box::pin(tokio::time::sleep_until(next_ping.min(expires_at))),
        }
    }

    /// Any frame from the client counts as alive. (The timer is not moved: a deadline only
    /// moves later, so it fires early at worst and is set again.)
    pub(crate) fn heard(&mut self) {
        self.silent_at = Instant::now() + self.interval * 2;
    }

    /// Waits until something is due. Cancel-safe.
    pub(crate) async fn due(&mut self) -> Due {
        loop {
            self.timer.as_mut().await;
            let now = Instant::now();
            let due = if now >= self.expires_at {
                Some(Due::Expired)
            } else if now >= self.silent_at {
                Some(Due::Silent)
            } else if now >= self.next_ping {
                self.next_ping = now + self.interval;
                Some(Due::Ping)
            } else {
                None
            };
            let next = self.next_ping.min(self.silent_at).min(self.expires_at);
            self.timer.as_mut().reset(next);
            if let Some(due) = due {
                return due;
            }
        }
    }
}

/// When a token with `exp` (unix seconds) expires, `leeway` included.
pub(super) fn expiry(exp: u64, leeway: Duration) -> Instant {
    Instant::now() + until_expiry(exp, leeway)
}

fn until_expiry(exp: u64, leeway: Duration) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::from_secs(exp) + leeway;
    at.saturating_sub(now).min(NEVER)
}

/// Write coalescing (`write_coalesce`): a session writes at most once per interval; events
/// that arrive sooner wait for the interval's end and go out together. The first event after a
/// quiet interval is written at once.
pub(crate) struct Pace {
    interval: std::time::Duration,
    last_write: Option<tokio::time::Instant>,
    /// Armed while events wait; made on first use (idle sessions hold no timer).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    holding: bool,
}

impl Pace {
    pub(crate) fn new(interval: std::time::Duration) -> Pace {
        Pace {
            interval,
            last_write: None,
            timer: None,
            holding: false,
        }
    }

    pub(crate) fn holding(&self) -> bool {
        self.holding
    }

    /// Events are here: whether they must wait (the timer is then armed); if not, the write
    /// about to happen is recorded.
    pub(crate) fn hold(&mut self) -> bool {
        if self.interval.is_zero() {
            return false;
        }
        let now = tokio::time::Instant::now();
        match self.last_write.map(|t| t + self.interval) {
            Some(until) if until > now => {
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(until),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(until))),
                }
                self.holding = true;
                true
            }
            _ => {
                self.last_write = Some(now);
                false
            }
        }
    }

    /// Resolves when the held events may go.
    pub(crate) async fn held(&mut self) {
        if let Some(timer) = &mut self.timer {
            timer.as_mut().await;
        }
    }

    /// The held events are being written.
    pub(crate) fn wrote(&mut self) {
        self.holding = false;
        self.last_write = Some(tokio::time::Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far_exp() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600
    }

    #[tokio::test(start_paused = true)]
    async fn pings_then_silence() {
        let second = Duration::from_secs(1);
        let mut clock = Clock::new(second, far_exp(), Duration::ZERO, true);
        let start = Instant::now();
        assert_eq!(clock.due().await, Due::Ping);
        assert_eq!(start.elapsed(), second);
        clock.heard();
        assert_eq!(clock.due().await, Due::Ping);
        // Heard at 1 s: silent from 3 s on, which wins over the ping also due at 3 s.
        assert_eq!(clock.due().await, Due::Silent);
        assert_eq!(start.elapsed(), 3 * second);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_comes_first() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut clock = Clock::new(Duration::from_secs(10), now, Duration::from_secs(2), true);
        let start = Instant::now();
        assert_eq!(clock.due().await, Due::Expired);
        assert!(start.elapsed() <= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_not_heard_from_is_never_silent() {
        let second = Duration::from_secs(1);
        let mut clock = Clock::new(second, far_exp(), Duration::ZERO, false);
        for _ in 0..5 {
            assert_eq!(clock.due().await, Due::Ping);
        }
    }
    #[tokio::test(start_paused = true)]
    async fn pace_writes_at_once_after_a_quiet_interval_and_holds_within_one() {
        let interval = Duration::from_millis(10);
        let mut pace = Pace::new(interval);
        assert!(!pace.hold(), "the first event goes out at once");
        tokio::time::advance(Duration::from_millis(3)).await;
        assert!(pace.hold(), "3 ms later: held");
        assert!(pace.holding());
        let start = tokio::time::Instant::now();
        pace.held().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(7),
            "until 10 ms after the write"
        );
        pace.wrote();
        assert!(!pace.holding());
        tokio::time::advance(interval).await;
        assert!(!pace.hold(), "a quiet interval later: at once again");
    }

    #[test]
    fn pace_zero_never_holds() {
        let mut pace = Pace::new(Duration::ZERO);
        assert!(!pace.hold());
        assert!(!pace.hold());
    }
}
