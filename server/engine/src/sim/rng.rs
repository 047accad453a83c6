//! The simulation's only source of randomness: a seeded PCG32 held in the World.
//!
//! Written out here rather than taken from `rand` so that a recording made today replays
//! bit for bit after any dependency upgrade: the stream is fixed by this file alone.

use bevy_ecs::prelude::Resource;

/// PCG-XSH-RR 32 (O'Neill 2014) with a fixed stream, seeded through SplitMix64.
#[derive(Resource, Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

const MULTIPLIER: u64 = 6364136223846793005;
const INCREMENT: u64 = 1442695040888963407;

impl SimRng {
    /// A generator whose stream is a pure function of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = SimRng { state: splitmix64(seed) };
        rng.next_u32();
        rng
    }

    /// The generator's internal state (for state digests).
    pub fn state(&self) -> u64 {
        self.state
    }

    /// The next 32 uniformly distributed bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULTIPLIER).wrapping_add(INCREMENT);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in `0..n`, without modulo bias (Lemire's method). `n` must be positive.
    pub fn below(&mut self, n: u32) -> u32 {
        debug_assert!(n > 0, "below(0) has no values");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u64::from(self.next_u32()) * u64::from(n);
            if (m as u32) >= threshold {
                return (m >> 32) as u32;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range_inclusive(&mut self, lo: u32, hi: u32) -> u32 {
        debug_assert!(lo <= hi);
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u32(),
        }
    }

    /// Uniform in `[0, 1)`, with 24 bits of precision (every value exactly representable).
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u32() >> 31 == 1
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_fixed_by_the_seed() {
        let a: Vec<u32> = (0..4)
            .map({
                let mut r = SimRng::new(42);
                move |_| r.next_u32()
            })
            .collect();
        let mut r = SimRng::new(42);
        let b: Vec<u32> = (0..4).map(|_| r.next_u32()).collect();
        assert_eq!(a, b, "same seed, same stream");
        let mut other = SimRng::new(43);
        assert_ne!(a[0], other.next_u32(), "another seed, another stream");
        // Pinned values, cross-checked against an independent implementation: a change here
        // silently breaks every recording.
        assert_eq!(a, [1_768_956_483, 4_001_043_839, 743_431_577, 2_248_556_757], "PCG32 stream changed");
    }

    #[test]
    fn ranges_stay_in_bounds_and_cover_them() {
        let mut r = SimRng::new(7);
        let mut seen = [false; 121];
        for _ in 0..20_000 {
            let v = r.range_inclusive(60, 180);
            assert!((60..=180).contains(&v), "{v} out of [60, 180]");
            seen[(v - 60) as usize] = true;
            let u = r.unit_f32();
            assert!((0.0..1.0).contains(&u), "{u} out of [0, 1)");
        }
        assert!(seen.iter().all(|s| *s), "every value of [60, 180] is drawn");
        // The full range has no span to reject against: it is the raw stream.
        let mut copy = r.clone();
        assert_eq!(r.range_inclusive(0, u32::MAX), copy.next_u32());
    }
}
