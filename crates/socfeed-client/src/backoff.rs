//! The reconnect schedule: exponential backoff with full jitter, reset after a stable connection.
//! Pure: the random number and the uptime are passed in, so the schedule is tested without a clock.

use std::time::Duration;

/// Exponential backoff with full jitter.
///
/// The delay before retry `attempt` (0 for the first retry after a drop) is uniform in
/// `[0, min(max, initial · 2^attempt)]`. A connection that stayed up for at least `reset_after`
/// resets the count, so the next drop starts again at `initial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub reset_after: Duration,
}

impl Default for Backoff {
    /// 0.5 s, doubling up to 30 s; reset after a connection that stayed up 10 s.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The largest delay retry `attempt` may wait: `min(max, initial · 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The delay of retry `attempt` for a uniform random `unit` in `[0, 1)` (full jitter).
    /// Values outside `[0, 1]` are clamped.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        self.ceiling(attempt).mul_f64(unit)
    }
}

/// Retry state of one feed: which attempt comes next.
#[derive(Debug, Clone)]
pub struct Retry {
    backoff: Backoff,
    attempt: u32,
}

impl Retry {
    pub fn new(backoff: Backoff) -> Retry {
        Retry {
            backoff,
            attempt: 0,
        }
    }

    /// The attempt number the next [`Retry::next_delay`] uses (0 after a reset).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next retry, drawn with `unit` in `[0, 1)`; counts the attempt.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let d = self.backoff.delay(self.attempt, unit);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// A connection ended after being up for `uptime`: a stable one resets the schedule.
    pub fn connection_ended(&mut self, uptime: Duration) {
        if uptime >= self.backoff.reset_after {
            self.attempt = 0;
        }
    }
}
