//! Liveness and readiness: what `/healthz` and `/readyz` answer, and what `POST /api/drain`
//! starts (the drain itself is [`crate::net::drain`], which the sessions hear too).
//!
//! - **Live** (`/healthz`): the process answers and every room's tick advances. A probe that
//!   finds a room at the same tick as a probe more than [`STALL`] earlier says that room's
//!   simulation is stuck (and with it, its simulation thread: a zombie room is not hidden by
//!   the others).
//! - **Ready** (`/readyz`): taking players: not draining, below `--max-connections`, and a
//!   place for a player: a room with a free place (the seat book counts them), or room for
//!   another room below `--max-rooms`.
//! - **Drain**: stop taking players (upgrades get 503), tell every client how long it has
//!   (`ServerMessage::Draining`), and close them with 1001 when the time is up or sooner once
//!   they have all left. SIGTERM and `POST /api/drain` start one; see `Server::drain`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A tick that has not moved for this long means the simulation is stuck.
pub const STALL: Duration = Duration::from_secs(2);

/// Each room's tick as the last liveness probe saw it, and when it changed.
#[derive(Debug, Default)]
pub struct Liveness {
    last: Mutex<HashMap<String, (u64, Instant)>>,
}

impl Liveness {
    /// The first room whose tick has not moved for [`STALL`], given every room's tick now;
    /// `None` while all move. Rooms no longer listed are forgotten.
    pub fn stuck(&self, ticks: &[(String, u64)]) -> Option<String> {
        self.stuck_at(ticks, Instant::now())
    }

    fn stuck_at(&self, ticks: &[(String, u64)], now: Instant) -> Option<String> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.retain(|room, _| ticks.iter().any(|(id, _)| id == room));
        let mut stuck = None;
        for (room, tick) in ticks {
            match last.get(room) {
                Some(&(seen, since)) if seen == *tick => {
                    if now.duration_since(since) > STALL && stuck.is_none() {
                        stuck = Some(room.clone());
                    }
                }
                _ => {
                    last.insert(room.clone(), (*tick, now));
                }
            }
        }
        stuck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_whose_tick_stops_moving_is_stuck_after_the_stall_time_whatever_the_others_do() {
        let live = Liveness::default();
        let t0 = Instant::now();
        let rooms = |a: u64, b: u64| vec![("a".to_owned(), a), ("b".to_owned(), b)];
        assert_eq!(live.stuck_at(&rooms(10, 5), t0), None);
        assert_eq!(live.stuck_at(&rooms(10, 50), t0 + Duration::from_secs(1)), None, "briefly still: fine");
        let late = t0 + STALL + Duration::from_millis(1);
        assert_eq!(live.stuck_at(&rooms(10, 200), late), Some("a".into()), "a is stuck though b moves");
        assert_eq!(live.stuck_at(&rooms(11, 300), t0 + Duration::from_secs(5)), None, "moving again");
        assert_eq!(live.stuck_at(&[("b".to_owned(), 400)], t0 + Duration::from_secs(9)), None, "a is gone");
        assert!(!live.last.lock().unwrap().contains_key("a"), "and forgotten");
    }
}
