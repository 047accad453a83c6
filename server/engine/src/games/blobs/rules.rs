//! The blobs game's numbers and the rules that follow from mass.

use glam::Vec2;

use crate::sim::rng::SimRng;

/// Side of the square world.
pub const WORLD: f32 = 4000.0;
/// Mass of a new (or eaten) blob.
pub const START_MASS: f32 = 10.0;
/// Mass a pellet adds.
pub const PELLET_MASS: f32 = 1.0;
/// A blob eats another whose mass is below this share of its own.
pub const EAT_RATIO: f32 = 0.8;
/// Mass above this decays.
pub const DECAY_ABOVE: f32 = 50.0;
/// Share of the mass above [`DECAY_ABOVE`] lost per second.
pub const DECAY_PER_SEC: f32 = 0.01;
/// Speed of a blob of mass 1, units per second.
pub const BASE_SPEED: f32 = 400.0;

/// A blob's radius: its area grows with its mass.
pub fn radius(mass: f32) -> f32 {
    6.0 * libm::sqrtf(mass.max(0.0))
}

/// A blob's top speed: it falls with mass (200 units/s at the start, 100 at mass 100). `libm`,
/// not the platform's `powf`, so that every machine computes the same bits.
pub fn speed(mass: f32) -> f32 {
    BASE_SPEED * libm::powf(mass.max(1.0), -0.3)
}

/// A uniformly random spot in the world, from the World's generator.
pub fn random_spot(rng: &mut SimRng) -> Vec2 {
    Vec2::new(rng.unit_f32() * WORLD, rng.unit_f32() * WORLD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigger_is_wider_and_slower() {
        assert!((radius(START_MASS) - 18.97).abs() < 0.01);
        assert!((speed(START_MASS) - 200.5).abs() < 0.5);
        assert!((speed(100.0) - 100.5).abs() < 0.5);
        assert!(radius(200.0) > radius(100.0) && speed(200.0) < speed(100.0));
    }
}
