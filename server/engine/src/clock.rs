//! The fixed-step clock: when each tick is due, and what to do after a stall.
//!
//! Pure arithmetic on durations since start, so it is tested without sleeping. Tick `n` is due
//! at `origin + n * dt`; deadlines are never accumulated from "now", so the rate never drifts.
//! After a stall the loop catches up at most `max_catch_up` ticks at once; the rest are dropped
//! by moving the origin forward, and the caller logs how many.
//!
//! Also the wall clock's Unix time ([`unix_now`]), which tokens, the admin page and recording
//! headers are stamped with: here, at the bottom, so that each of those takes it from below.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most ticks run back to back after a stall before the rest are dropped (a quarter second
/// at 60 Hz): the live simulation thread's and a served replay's `max_catch_up`.
pub const MAX_CATCH_UP_TICKS: u32 = 15;

/// What the loop should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Nothing is due; sleep this long.
    Wait(Duration),
    /// Run `ticks` ticks now (at least 1). `dropped` ticks were skipped to get back on time.
    Run {
        /// Ticks to run back to back.
        ticks: u32,
        /// Ticks abandoned because the loop was too far behind.
        dropped: u64,
    },
}

/// Schedules fixed-rate ticks against a monotonic elapsed time.
#[derive(Debug, Clone)]
pub struct FixedClock {
    dt: Duration,
    max_catch_up: u32,
    origin: Duration,
    next: u64,
}

impl FixedClock {
    /// A clock with `rate` ticks per second whose first tick is due at elapsed time zero.
    pub fn new(rate: u32, max_catch_up: u32) -> Self {
        FixedClock {
            dt: Duration::from_secs(1) / rate.max(1),
            max_catch_up: max_catch_up.max(1),
            origin: Duration::ZERO,
            next: 0,
        }
    }

    /// The duration of one tick.
    pub fn dt(&self) -> Duration {
        self.dt
    }

    /// When the next tick is due, as elapsed time since start.
    pub fn next_deadline(&self) -> Duration {
        self.deadline(self.next)
    }

    /// Decides, at elapsed time `now`, whether ticks are due, and consumes them if so.
    pub fn poll(&mut self, now: Duration) -> Poll {
        let deadline = self.deadline(self.next);
        if now < deadline {
            return Poll::Wait(deadline - now);
        }
        let behind = (now - self.origin).as_nanos() / self.dt.as_nanos().max(1);
        let due = (behind as u64 + 1).saturating_sub(self.next);
        let run = due.min(u64::from(self.max_catch_up));
        let dropped = due - run;
        if dropped > 0 {
            // Shift the origin so that the ticks we skip are never due again.
            self.origin += self.dt.saturating_mul(u32::try_from(dropped).unwrap_or(u32::MAX));
        }
        self.next += run;
        Poll::Run { ticks: run as u32, dropped }
    }

    fn deadline(&self, tick: u64) -> Duration {
        let nanos = self.dt.as_nanos().saturating_mul(u128::from(tick));
        self.origin + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn first_tick_is_due_at_once_then_waits_one_step() {
        let mut c = FixedClock::new(50, 5);
        assert_eq!(c.poll(ms(0)), Poll::Run { ticks: 1, dropped: 0 });
        assert_eq!(c.poll(ms(1)), Poll::Wait(ms(19)));
        assert_eq!(c.poll(ms(20)), Poll::Run { ticks: 1, dropped: 0 });
    }

    #[test]
    fn deadlines_do_not_drift_with_late_wakeups() {
        let mut c = FixedClock::new(50, 5);
        // Wake 3 ms late every time: still due at 20, 40, 60..., never 23, 46...
        for n in 0..100u64 {
            assert_eq!(c.poll(ms(n * 20 + 3)), Poll::Run { ticks: 1, dropped: 0 }, "tick {n}");
            assert_eq!(c.poll(ms(n * 20 + 3)), Poll::Wait(ms(17)), "tick {n}");
        }
        assert_eq!(c.next_deadline(), ms(2000));
    }

    #[test]
    fn catches_up_a_bounded_number_of_ticks_then_drops_the_rest() {
        let mut c = FixedClock::new(50, 5);
        assert_eq!(c.poll(ms(0)), Poll::Run { ticks: 1, dropped: 0 });
        // Stall until 70 ms: ticks 1, 2, 3 (20, 40, 60 ms) are due, within the bound.
        assert_eq!(c.poll(ms(70)), Poll::Run { ticks: 3, dropped: 0 });
        assert_eq!(c.poll(ms(70)), Poll::Wait(ms(10)));
        // Stall for a second: ticks 4..=54 are due (51), run 5, drop 46.
        assert_eq!(c.poll(ms(1080)), Poll::Run { ticks: 5, dropped: 46 });
        // Back on schedule after the shift: the next tick is one step later, not a burst.
        assert_eq!(c.poll(ms(1080)), Poll::Wait(ms(20)));
        assert_eq!(c.poll(ms(1100)), Poll::Run { ticks: 1, dropped: 0 });
    }
}
