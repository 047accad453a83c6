//! What the shared crate's property tests have in common: a small seedable generator
//! (splitmix64) to drive random worlds, so a failing case is reproducible from its seed.

#![allow(dead_code, reason = "each test crate uses the part it needs")]

use glam::Vec2;

/// splitmix64: small, seedable, good enough to drive the cases.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[lo, hi)`.
    pub fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (self.next() >> 40) as f32 / (1u64 << 24) as f32 * (hi - lo)
    }

    /// A velocity at one of `speeds`, in any direction.
    pub fn vel_among(&mut self, speeds: &[f32]) -> Vec2 {
        let speed = speeds[self.below(speeds.len() as u64) as usize];
        let angle = self.f32(0.0, std::f32::consts::TAU);
        Vec2::new(angle.cos(), angle.sin()) * speed
    }

    /// A point in the W1 square, [0, 2000)².
    pub fn point(&mut self) -> Vec2 {
        Vec2::new(self.f32(0.0, 2000.0), self.f32(0.0, 2000.0))
    }
}
