//! The systems of one tick, one file per stage, run in the order of [`super::SimSet`].

pub mod chat;
pub mod collisions;
pub mod combat;
pub mod crowd;
pub mod inputs;
pub mod movement;
pub mod receive;
pub mod respawn;
pub mod snapshot;
