//! Tick-duration statistics shared with the network side: a lock-free log-linear histogram
//! (exact below 64 µs, then 16 buckets per octave: ~6% resolution, up to 16 s), the tick count
//! and overruns. Cumulative since start; a reader takes two [`TickStatsSnapshot`]s and
//! subtracts, so windows never depend on when the simulation happens to reset anything.
//! Served as JSON at `GET /stats`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const EXACT: u64 = 64;
const SUB_BITS: u32 = 4;
const FIRST_OCTAVE: u32 = 6; // 64 = 2^6
const LAST_OCTAVE: u32 = 24; // ~16.7 s
const BUCKETS: usize = EXACT as usize + ((LAST_OCTAVE - FIRST_OCTAVE + 1) << SUB_BITS) as usize;

fn bucket_of(us: u64) -> usize {
    if us < EXACT {
        return us as usize;
    }
    let octave = (63 - us.leading_zeros()).min(LAST_OCTAVE);
    let sub = if octave == LAST_OCTAVE && us >= 1 << (LAST_OCTAVE + 1) {
        (1 << SUB_BITS) - 1
    } else {
        (us >> (octave - SUB_BITS)) & ((1 << SUB_BITS) - 1)
    };
    EXACT as usize + (((octave - FIRST_OCTAVE) << SUB_BITS) as u64 + sub) as usize
}

/// The smallest duration (µs) that falls in `bucket`.
fn bucket_floor(bucket: usize) -> u64 {
    if (bucket as u64) < EXACT {
        return bucket as u64;
    }
    let i = bucket as u64 - EXACT;
    let octave = FIRST_OCTAVE as u64 + (i >> SUB_BITS);
    let sub = i & ((1 << SUB_BITS) - 1);
    (1 << octave) + (sub << (octave - u64::from(SUB_BITS)))
}

/// Written by the simulation thread, read by anyone.
#[derive(Debug)]
pub struct TickStats {
    tick_rate: u16,
    counts: Vec<AtomicU64>,
    tick: AtomicU64,
    ticks_run: AtomicU64,
    overruns: AtomicU64,
    /// Player slots free after the last tick; `u32::MAX` where players do not apply (replays).
    player_slots_free: AtomicU32,
}

impl TickStats {
    /// Empty statistics for a simulation at `tick_rate`.
    pub fn new(tick_rate: u16) -> Self {
        TickStats {
            tick_rate,
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            tick: AtomicU64::new(0),
            ticks_run: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            player_slots_free: AtomicU32::new(u32::MAX),
        }
    }

    /// The simulation thread, after a tick: how many more players may join.
    pub fn set_player_slots_free(&self, free: u32) {
        self.player_slots_free.store(free, Ordering::Relaxed);
    }

    /// How many more players may join, as of the last tick; `None` where players do not apply.
    pub fn player_slots_free(&self) -> Option<u32> {
        match self.player_slots_free.load(Ordering::Relaxed) {
            u32::MAX => None,
            free => Some(free),
        }
    }

    /// Records one tick: its number and how long it took.
    pub fn record(&self, tick: u64, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.tick.store(tick, Ordering::Relaxed);
        self.ticks_run.fetch_add(1, Ordering::Relaxed);
        if took.as_secs_f64() * f64::from(self.tick_rate.max(1)) > 1.0 {
            self.overruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> TickStatsSnapshot {
        let buckets: Vec<(u64, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.load(Ordering::Relaxed) {
                0 => None,
                n => Some((bucket_floor(i), n)),
            })
            .collect();
        TickStatsSnapshot {
            tick_rate: self.tick_rate,
            tick: self.tick.load(Ordering::Relaxed),
            ticks_run: self.ticks_run.load(Ordering::Relaxed),
            overruns: self.overruns.load(Ordering::Relaxed),
            buckets,
        }
    }
}

/// Cumulative tick statistics at one moment (the JSON of `GET /stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TickStatsSnapshot {
    /// Configured ticks per second.
    pub tick_rate: u16,
    /// The last completed tick.
    pub tick: u64,
    /// Ticks run so far.
    pub ticks_run: u64,
    /// Ticks that took longer than their budget (1 / tick rate).
    pub overruns: u64,
    /// `(lowest µs of the bucket, ticks in it)` for the non-empty buckets, ascending.
    pub buckets: Vec<(u64, u64)>,
}

impl TickStatsSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &TickStatsSnapshot) -> TickStatsSnapshot {
        let buckets = self
            .buckets
            .iter()
            .filter_map(|&(floor, n)| {
                let before = earlier.buckets.iter().find(|(f, _)| *f == floor).map_or(0, |(_, n)| *n);
                (n > before).then_some((floor, n - before))
            })
            .collect();
        TickStatsSnapshot {
            tick_rate: self.tick_rate,
            tick: self.tick,
            ticks_run: self.ticks_run.saturating_sub(earlier.ticks_run),
            overruns: self.overruns.saturating_sub(earlier.overruns),
            buckets,
        }
    }

    /// The `q` quantile (0 to 1) of tick durations, as the floor of its bucket (within 6%).
    pub fn quantile(&self, q: f64) -> Duration {
        let total: u64 = self.buckets.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64 * q.clamp(0.0, 1.0)).ceil() as u64).max(1);
        let mut seen = 0;
        for &(floor, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(floor);
            }
        }
        Duration::from_micros(self.buckets.last().map_or(0, |b| b.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_then_within_six_percent() {
        for us in [0u64, 1, 63, 64, 65, 100, 1000, 16_667, 1_000_000, 40_000_000] {
            let floor = bucket_floor(bucket_of(us));
            assert!(floor <= us, "{us}: floor {floor}");
            if us < (1 << (LAST_OCTAVE + 1)) {
                assert!((us - floor) as f64 <= us as f64 / 16.0, "{us}: floor {floor}");
            }
        }
        for b in 1..BUCKETS {
            assert!(bucket_floor(b) > bucket_floor(b - 1), "bucket floors ascend");
            assert_eq!(bucket_of(bucket_floor(b)), b, "a floor falls in its own bucket");
        }
    }

    #[test]
    fn windows_subtract_and_quantiles_pick_the_right_bucket() {
        let stats = TickStats::new(60);
        for _ in 0..10 {
            stats.record(1, Duration::from_micros(10));
        }
        let before = stats.snapshot();
        for i in 0..100u64 {
            stats.record(2 + i, Duration::from_micros(if i < 98 { 20 } else { 20_000 }));
        }
        let window = stats.snapshot().since(&before);
        assert_eq!((window.ticks_run, window.overruns, window.tick), (100, 2, 101));
        assert_eq!(window.quantile(0.5), Duration::from_micros(20));
        assert!(window.quantile(0.99) >= Duration::from_micros(18_000), "{:?}", window.quantile(0.99));
    }
}
