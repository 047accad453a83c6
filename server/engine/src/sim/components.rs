//! Components of simulated entities. Plain data; behaviour lives in `systems/`.

use bevy_ecs::prelude::Component;
use glam::Vec2;

use crate::bridge::ClientId;
pub use crate::sim::input_buffer::InputQueue;

/// Network id, unique for the run and never reused. Systems whose order matters iterate in
/// increasing `NetId`, never in storage order. Every entity with one is replicated, and so
/// carries a [`Replica`].
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[require(Replica)]
pub struct NetId(pub u32);

/// The motion of the entity's record in the last frame (none before its first): kept beside
/// the entity so that the snapshot stage can tell, without looking the record up, that an
/// entity at rest or moving as its model says costs nothing. Written by the snapshot stage
/// only; no game state, so neither hashed nor recorded.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replica(pub Option<shared::snapshot::Model>);

/// Position in world units.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Position(pub Vec2);

/// Velocity in world units per second.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Velocity(pub Vec2);

/// A player's identity and score.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Player {
    /// The controlling connection.
    pub client: ClientId,
    /// Display name.
    pub name: String,
    /// Kills scored.
    pub kills: u32,
    /// Times died.
    pub deaths: u32,
}

/// A player's combat state.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Combatant {
    /// Health points; 0 while dead.
    pub health: u8,
    /// Aim angle in radians.
    pub aim: f32,
    /// Ticks until the weapon may fire again.
    pub cooldown: u32,
    /// While dead: the tick at which the player respawns.
    pub respawn_at: Option<u64>,
}

/// The W1 crowd behaviour's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrowdPhase {
    /// Walking in a straight line, bouncing off the crowd square's edges.
    Moving,
    /// Standing still; the state does not change at all.
    Idle,
}

/// A W1 crowd NPC.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Npc {
    /// Current phase.
    pub phase: CrowdPhase,
    /// Ticks left in it, counting this one.
    pub ticks_left: u32,
}

/// A shot in flight.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projectile {
    /// Who fired it (scores the kill).
    pub shooter: ClientId,
    /// Tick after which it vanishes.
    pub expires_at: u64,
    /// Ticks back in time at which its targets are taken (lag compensation, see
    /// [`crate::sim::lag_comp`]): where its shooter saw them.
    pub rewind: u32,
}
