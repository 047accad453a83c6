//! The arena's systems, one file per step of a tick.

pub mod collisions;
pub mod combat;
pub mod crowd;
pub mod inputs;
pub mod movement;
pub mod respawn;
pub mod show;
