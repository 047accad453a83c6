//! The arena's components, beside the engine's (`NetId`, `Position`, `Velocity`,
//! `Replicated`). Plain data; behaviour lives in `systems/`. All of it is saved (hashed and
//! keyframed).

use bevy_ecs::prelude::Component;
use serde::{Deserialize, Serialize};

use crate::bridge::ClientId;

/// A player's identity and score.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrowdPhase {
    /// Walking in a straight line, bouncing off the crowd square's edges.
    Moving,
    /// Standing still; the state does not change at all.
    Idle,
}

/// A W1 crowd NPC.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Npc {
    /// Current phase.
    pub phase: CrowdPhase,
    /// Ticks left in it, counting this one.
    pub ticks_left: u32,
}

/// A shot in flight.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projectile {
    /// Who fired it (scores the kill).
    pub shooter: ClientId,
    /// Tick after which it vanishes.
    pub expires_at: u64,
    /// Ticks back in time at which its targets are taken (lag compensation, see
    /// [`super::lag_comp`]): where its shooter saw them.
    pub rewind: u32,
}
