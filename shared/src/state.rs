//! Replicated state in simulation units: what the snapshot stage gathers about each entity,
//! and the scoreboard.
//!
//! All entity kinds share one flat [`EntityState`], like Quake III's `entityState_t`. It is
//! quantized into a [`crate::snapshot::EntityRecord`] for the wire; [`EntityState::FIELDS`]
//! lists its fields, and a test fails when one is added without being listed (and so without
//! a decision about how it is replicated).

use glam::Vec2;
use serde::{Deserialize, Serialize};

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

/// The replicated state of one entity in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    /// Network id: stable for the entity's life, never reused within a run. Snapshots list
    /// entities in increasing `id`.
    pub id: u32,
    /// What the entity is.
    pub kind: EntityKind,
    /// Position in world units.
    pub pos: Vec2,
    /// Velocity in world units per second.
    pub vel: Vec2,
    /// Aim angle in radians (players), 0 otherwise.
    pub aim: f32,
    /// Health points (players; 0 while dead), 0 otherwise.
    pub health: u8,
    /// Owning client id: the controlling client of a player, the shooter of a projectile,
    /// 0 for none.
    pub owner: u32,
}

impl EntityState {
    /// The fields. Each maps to a field of `EntityRecord` (see `snapshot::frame`); the test
    /// below fails when a field is added to the struct but not here.
    pub const FIELDS: [&'static str; 7] = ["id", "kind", "pos", "vel", "aim", "health", "owner"];
}

/// One row of the scoreboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// The player's client id (matches [`EntityState::owner`] of its entity).
    pub client: u32,
    /// Display name from `Hello`.
    pub name: String,
    /// Kills scored.
    pub kills: u32,
    /// Times died.
    pub deaths: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_table_covers_every_field() {
        let state = EntityState {
            id: 0,
            kind: EntityKind::Npc,
            pos: Vec2::ZERO,
            vel: Vec2::ZERO,
            aim: 0.0,
            health: 0,
            owner: 0,
        };
        // Destructuring without `..` stops compiling when a field is added.
        let EntityState { id: _, kind: _, pos: _, vel: _, aim: _, health: _, owner: _ } = state;
        let value = serde_json::to_value(state).expect("serializable");
        let names: Vec<&str> =
            value.as_object().expect("struct serializes as a map").keys().map(String::as_str).collect();
        let mut table = EntityState::FIELDS.to_vec();
        let mut names_sorted = names.clone();
        table.sort_unstable();
        names_sorted.sort_unstable();
        assert_eq!(table, names_sorted, "EntityState::FIELDS must name every field");
    }
}
