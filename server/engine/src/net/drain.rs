//! The drain: the process stops taking players and gives those it has a deadline. The front
//! starts it (SIGTERM, `POST /api/drain`) and refuses upgrades while it runs; every session
//! hears it and warns its client (`ServerMessage::Draining`). Beside the shutdown signal
//! ([`super::stopping`]) because every layer of the network hears it.

use std::time::{Duration, Instant};

use tokio::sync::watch;

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
}
