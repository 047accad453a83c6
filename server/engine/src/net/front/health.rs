//! Liveness and readiness: what `/healthz` and `/readyz` answer, and what `POST /api/drain`
//! starts (the drain itself is [`crate::net::drain`], which the sessions hear too).
//!
//! - **Live** (`/healthz`): the process answers and the default room's tick advances. A probe
//!   that finds the same tick as a probe more than [`STALL`] earlier says the simulation is
//!   stuck. (Every room's tick, not only the default's, is the next step: see `rooms`.)
//! - **Ready** (`/readyz`): taking players: not draining, below `--max-connections`, and a
//!   place for a player: a room with a free place (the seat book counts them), or room for
//!   another room below `--max-rooms`.
//! - **Drain**: stop taking players (upgrades get 503), tell every client how long it has
//!   (`ServerMessage::Draining`), and close them with 1001 when the time is up or sooner once
//!   they have all left. SIGTERM and `POST /api/drain` start one; see `Server::drain`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A tick that has not moved for this long means the simulation is stuck.
pub const STALL: Duration = Duration::from_secs(2);

/// The tick seen by the last liveness probe, and when it changed.
#[derive(Debug, Default)]
pub struct Liveness {
    last: Mutex<Option<(u64, Instant)>>,
}

impl Liveness {
    /// Whether the tick has moved: `tick` is the simulation's tick now.
    pub fn alive(&self, tick: u64) -> bool {
        self.alive_at(tick, Instant::now())
    }

    fn alive_at(&self, tick: u64, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last {
            Some((seen, since)) if seen == tick => now.duration_since(since) <= STALL,
            _ => {
                *last = Some((tick, now));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_that_stops_moving_is_not_alive_after_the_stall_time() {
        let live = Liveness::default();
        let t0 = Instant::now();
        assert!(live.alive_at(10, t0));
        assert!(live.alive_at(10, t0 + Duration::from_secs(1)), "briefly still: fine");
        assert!(!live.alive_at(10, t0 + STALL + Duration::from_millis(1)), "stuck");
        assert!(live.alive_at(11, t0 + Duration::from_secs(5)), "moving again");
    }
}
