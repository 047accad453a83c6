//! Replicated state in simulation units: what the snapshot stage gathers about each entity,
//! and the scoreboard.
//!
//! All entity kinds share one flat [`EntityState`], like Quake III's `entityState_t`, whose
//! value slots the game's schema names. It is quantized into a
//! [`crate::snapshot::EntityRecord`] for the wire.

use std::sync::Arc;

use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::schema::MAX_VALUES;

/// What an entity is; decides how the client draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKind {
    /// A player-controlled circle.
    Player,
    /// A W1-crowd wanderer (see `../shared/WORKLOADS.md`).
    Npc,
    /// A shot in flight.
    Projectile,
}

/// The replicated state of one entity in one snapshot, in simulation units, as a game's
/// systems leave it for the snapshot stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    /// Network id: stable for the entity's life, never reused within a run. Snapshots list
    /// entities in increasing `id`.
    pub id: u32,
    /// Index of its kind in the game's schema.
    pub kind: u8,
    /// Owning client id (0: none).
    pub owner: u32,
    /// Position in world units.
    pub pos: Vec2,
    /// Velocity in world units per second.
    pub vel: Vec2,
    /// The kind's value fields, already quantized by their encodings (see
    /// `schema::Encoding::quantize`).
    pub values: [i32; MAX_VALUES],
    /// The kind's text field, if any.
    pub text: Option<Arc<str>>,
}

impl EntityState {
    /// An entity of `kind` at the origin, at rest, with every field 0.
    pub fn new(id: u32, kind: u8) -> Self {
        EntityState { id, kind, owner: 0, pos: Vec2::ZERO, vel: Vec2::ZERO, values: [0; MAX_VALUES], text: None }
    }
}

/// One row of the scoreboard, as the game keeps it (rows in the game's order: best first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// The player's client id (matches the `owner` of its entity).
    pub client: u32,
    /// Display name from `Hello`.
    pub name: String,
    /// One value per column of the game's schema (`Schema::scores`), in that order.
    pub values: Vec<i32>,
}
