//! Liveness, readiness and the drain: what `/healthz`, `/readyz` and `POST /api/drain` answer,
//! and the state a drain puts the network layer in.
//!
//! - **Live** (`/healthz`): the process answers and its tick advances. A probe that finds the
//!   same tick as a probe more than [`STALL`] earlier says the simulation is stuck.
//! - **Ready** (`/readyz`): taking players: not draining, below `--max-connections`, and a
//!   player slot free (the simulation publishes how many after each tick).
//! - **Drain**: stop taking players (upgrades get 503), tell every client how long it has
//!   (`ServerMessage::Draining`), and close them with 1001 when the time is up or sooner once
//!   they have all left. SIGTERM and `POST /api/drain` start one; see `Server::drain`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A tick that has not moved for this long means the simulation is stuck.
pub const STALL: Duration = Duration::from_secs(2);

/// The drain's state, shared by every connection task.
#[derive(Debug)]
pub struct Drain {
    deadline: watch::Sender<Option<Instant>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain { deadline: watch::channel(None).0 }
    }
}

impl Drain {
    /// Starts draining, clients to be closed `within` from now. False if already draining (the
    /// first deadline stands).
    pub fn start(&self, within: Duration) -> bool {
        self.deadline.send_if_modified(|deadline| match deadline {
            Some(_) => false,
            None => {
                *deadline = Some(Instant::now() + within);
                true
            }
        })
    }

    /// When clients will be closed, if draining.
    pub fn deadline(&self) -> Option<Instant> {
        *self.deadline.borrow()
    }

    /// Whether a drain has started.
    pub fn is_draining(&self) -> bool {
        self.deadline().is_some()
    }

    /// Resolves once a drain has started; returns its deadline.
    pub async fn started(&self) -> Instant {
        let mut rx = self.deadline.subscribe();
        loop {
            if let Some(deadline) = *rx.borrow_and_update() {
                return deadline;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`: unreachable, but never spin.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Whole seconds left until `deadline` (rounded up, saturating).
pub fn seconds_left(deadline: Instant) -> u16 {
    let left = deadline.saturating_duration_since(Instant::now());
    u16::try_from(left.as_millis().div_ceil(1000)).unwrap_or(u16::MAX)
}

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
    fn a_drain_starts_once_and_counts_down() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        assert!(drain.start(Duration::from_secs(30)));
        let first = drain.deadline();
        assert!(!drain.start(Duration::from_secs(5)), "the first deadline stands");
        assert_eq!(drain.deadline(), first);
        let left = seconds_left(first.unwrap_or_else(Instant::now));
        assert!((29..=30).contains(&left), "{left}");
    }

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
