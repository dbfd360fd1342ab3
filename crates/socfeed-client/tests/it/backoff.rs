//! The reconnect schedule as a pure function: bounds, growth, cap, jitter, reset.

use std::time::Duration;

use socfeed_client::{Backoff, Retry};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn defaults_are_half_a_second_to_thirty_reset_after_ten() {
    let b = Backoff::default();
    assert_eq!(
        (b.initial, b.max, b.reset_after),
        (ms(500), ms(30_000), ms(10_000))
    );
}

#[test]
fn ceiling_doubles_and_caps() {
    let b = Backoff::default();
    let ceilings: Vec<u64> = (0..9).map(|a| b.ceiling(a).as_millis() as u64).collect();
    assert_eq!(
        ceilings,
        [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
    );
    for a in [31, 32, 64, 1000, u32::MAX] {
        assert_eq!(b.ceiling(a), ms(30_000), "attempt {a} must not overflow");
    }
}

#[test]
fn full_jitter_stays_within_zero_and_the_ceiling() {
    let b = Backoff::default();
    for attempt in 0..40 {
        let ceiling = b.ceiling(attempt);
        assert_eq!(b.delay(attempt, 0.0), Duration::ZERO);
        assert_eq!(b.delay(attempt, 1.0), ceiling);
        for i in 0..1000 {
            let unit = f64::from(i) / 1000.0;
            let d = b.delay(attempt, unit);
            assert!(
                d <= ceiling,
                "attempt {attempt} unit {unit}: {d:?} > {ceiling:?}"
            );
        }
        // Uniform: the mean over an even grid is half the ceiling.
        let mean = (0..1000)
            .map(|i| b.delay(attempt, f64::from(i) / 999.0))
            .sum::<Duration>()
            / 1000;
        let half = ceiling / 2;
        assert!(
            mean.abs_diff(half) <= ceiling / 100,
            "attempt {attempt}: mean {mean:?}"
        );
    }
}

#[test]
fn out_of_range_units_are_clamped() {
    let b = Backoff::default();
    assert_eq!(b.delay(2, -3.0), Duration::ZERO);
    assert_eq!(b.delay(2, 7.0), ms(2000));
    assert_eq!(b.delay(2, f64::NAN), Duration::ZERO);
}

#[test]
fn retries_grow_until_a_stable_connection_resets_them() {
    let mut r = Retry::new(Backoff::default());
    let top: Vec<u64> = (0..8)
        .map(|_| r.next_delay(1.0).as_millis() as u64)
        .collect();
    assert_eq!(top, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    assert_eq!(r.attempt(), 8);
    r.connection_ended(ms(9_999));
    assert_eq!(r.attempt(), 8, "a short-lived connection does not reset");
    assert_eq!(r.next_delay(1.0), ms(30_000));
    r.connection_ended(ms(10_000));
    assert_eq!(r.attempt(), 0);
    assert_eq!(r.next_delay(1.0), ms(500));
    assert_eq!(r.next_delay(0.5), ms(500));
}

#[test]
fn custom_schedules() {
    let b = Backoff {
        initial: ms(20),
        max: ms(200),
        reset_after: ms(1000),
    };
    assert_eq!(b.ceiling(0), ms(20));
    assert_eq!(b.ceiling(3), ms(160));
    assert_eq!(b.ceiling(4), ms(200));
    let huge = Backoff {
        initial: Duration::from_secs(u64::MAX / 2),
        max: Duration::from_secs(60),
        reset_after: ms(0),
    };
    assert_eq!(
        huge.ceiling(5),
        Duration::from_secs(60),
        "overflow caps at max"
    );
}
