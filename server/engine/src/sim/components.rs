//! The engine's components: what every replicated entity carries. A game adds its own
//! components beside them; behaviour lives in systems.

use std::sync::Arc;

use bevy_ecs::prelude::Component;
use glam::Vec2;
use serde::{Deserialize, Serialize};
use shared::schema::MAX_VALUES;

use crate::bridge::ClientId;
pub use crate::sim::input_buffer::InputQueue;

/// Network id, unique for the run and never reused. Systems whose order matters iterate in
/// increasing `NetId`, never in storage order. Every entity with one is replicated.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetId(pub u32);

/// Position in world units: the schema's position, which interest management and dead
/// reckoning follow.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position(pub Vec2);

/// Velocity in world units per second.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Velocity(pub Vec2);

/// What an entity replicates besides its motion: its kind in the game's schema, its owner and
/// its kind's fields, already quantized by their encodings (`schema::Encoding::quantize`).
/// A game writes the fields when they change (best with `set_if_neq`, so that an unchanged
/// entity costs the snapshot stage nothing).
#[derive(Component, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicated {
    /// Index of its kind in the schema.
    pub kind: u8,
    /// Owning client id (0: none).
    pub owner: u32,
    /// The kind's value fields, by slot.
    pub values: [i32; MAX_VALUES],
    /// The kind's text field, set at creation.
    pub text: Option<Arc<str>>,
}

impl Replicated {
    /// An entity of `kind`, owned by no one, every field 0.
    pub fn new(kind: u8) -> Self {
        Replicated { kind, owner: 0, values: [0; MAX_VALUES], text: None }
    }

    /// An entity of `kind` owned by `client`.
    pub fn owned(kind: u8, client: ClientId) -> Self {
        Replicated { owner: client.0, ..Replicated::new(kind) }
    }

    /// This with slot `slot` set to `value` (a slot past the last is ignored).
    pub fn with(mut self, slot: usize, value: i32) -> Self {
        if let Some(v) = self.values.get_mut(slot) {
            *v = value;
        }
        self
    }
}
