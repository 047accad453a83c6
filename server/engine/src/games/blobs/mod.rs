//! Blobs: an agar-style game, the second on the engine's game API and written only through it
//! (this folder and `web-client/src/games/blobs.js` are the whole game).
//!
//! A 4000 × 4000 world with pellets (static entities, each eaten on contact and put back at a
//! seeded random spot) and one blob per player, steered toward its pointer at a speed that
//! falls with its mass. A blob eats pellets, and eats another blob of less than 0.8 of its mass
//! whose centre it covers; the eaten start again small. Mass above 50 decays slowly. The
//! scoreboard is the top 10 by mass.

pub mod rules;
pub mod systems;

use std::sync::Arc;

use bevy_ecs::prelude::*;
use glam::Vec2;
use serde::{Deserialize, Serialize};
use shared::schema::{Encoding, Hint, KindBuilder, Motion, SchemaError};
use shared::{GameInput, MapData, Schema};

use crate::sim::components::{Position, Replicated};
use crate::sim::game::{Game, Joining, Setup, Stage};
use crate::sim::rng::SimRng;

/// Kind index of a blob (a player's avatar).
pub const BLOB: u8 = 0;
/// Kind index of a pellet.
pub const PELLET: u8 = 1;
/// Value slot of a blob's mass.
pub const MASS: usize = 0;
/// Value slot of a pellet's hue.
pub const HUE: usize = 0;
/// Value slot of a blob's hue (chosen at random when it joins).
pub const BLOB_HUE: usize = 1;
/// The default `--view-radius`: about two screens of the world around a blob.
pub const VIEW_RADIUS: f32 = 1200.0;
/// Most pellets a world may hold.
pub const MAX_PELLETS: u32 = 100_000;

/// The blobs game's settings.
#[derive(Resource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blobs {
    /// Pellets in the world.
    pub pellets: u32,
}

impl Default for Blobs {
    fn default() -> Self {
        Blobs { pellets: 1500 }
    }
}

/// A player's input: where its pointer is, relative to its blob's centre, in world units. The
/// blob heads that way, at full speed once the pointer is a radius away or more.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Steer {
    /// The pointer's offset from the blob's centre.
    pub toward: Vec2,
}

impl GameInput for Steer {
    fn verify(&self) -> Result<(), &'static str> {
        if !self.toward.is_finite() {
            return Err("pointer offset is not finite");
        }
        if self.toward.abs().max_element() > rules::WORLD {
            return Err("pointer offset beyond the world");
        }
        Ok(())
    }
}

/// A player's blob.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blob {
    /// Its mass; its radius and speed follow from it.
    pub mass: f32,
    /// Blobs it has eaten.
    pub eaten: u32,
}

/// A pellet.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pellet;

/// The blobs schema.
pub fn schema() -> Result<Schema, SchemaError> {
    let kinds = vec![
        KindBuilder::new("Blob")
            .avatar()
            .motion(Motion::DeadReckoned)
            .field("mass", systems::MASS_ENCODING, Hint::Interpolate)
            .field("name", Encoding::Text { max_bytes: shared::message::MAX_NAME_BYTES as u16 }, Hint::Snap)
            .field("hue", Encoding::Byte, Hint::Snap)
            .build(),
        KindBuilder::new("Pellet").motion(Motion::Static).field("hue", Encoding::Byte, Hint::Snap).build(),
    ];
    Schema::new("blobs", kinds)?.with_scores(["mass", "eaten"])
}

/// The blobs world: the square, no walls, one spawn point in the middle (blobs spawn at random
/// spots; the map's spawn is only what a map must have).
pub fn map() -> MapData {
    let side = rules::WORLD;
    MapData { id: "blobs".into(), width: side, height: side, walls: Vec::new(), spawns: vec![Vec2::splat(side / 2.0)] }
}

impl Game for Blobs {
    const NAME: &'static str = "blobs";
    type Input = Steer;

    fn schema(&self) -> Result<Arc<Schema>, SchemaError> {
        schema().map(Arc::new)
    }

    fn check(&self) -> Result<(), String> {
        if self.pellets > MAX_PELLETS {
            return Err(format!("{} pellets is more than the {MAX_PELLETS} allowed", self.pellets));
        }
        Ok(())
    }

    fn spawns_at_start(&self) -> u64 {
        self.pellets.into()
    }

    fn map(&self) -> Option<MapData> {
        Some(map())
    }

    fn view_radius(&self) -> f32 {
        VIEW_RADIUS
    }

    fn build(&self, setup: &mut Setup) {
        setup.world().insert_resource(self.clone());
        for _ in 0..self.pellets {
            let (pos, hue) = {
                let mut rng = setup.world().resource_mut::<SimRng>();
                (rules::random_spot(&mut rng), rng.below(256) as i32)
            };
            setup.spawn(Replicated::new(PELLET).with(HUE, hue), pos, Vec2::ZERO).insert(Pellet);
        }
        setup.save::<Blob>().save::<Pellet>();
        setup.add_systems(Stage::Input, systems::steer);
        setup.add_systems(
            Stage::Simulate,
            (systems::move_blobs, systems::eat_pellets, systems::eat_blobs, systems::decay).chain(),
        );
        setup.add_systems(Stage::Output, (systems::show_mass, systems::keep_scoreboard));
    }

    fn join(&self, world: &mut World, player: Entity, who: &Joining) {
        let mut rng = world.resource_mut::<SimRng>();
        let (spot, hue) = (rules::random_spot(&mut rng), rng.below(256) as i32);
        let mut entity = world.entity_mut(player);
        entity.insert((Position(spot), Blob { mass: rules::START_MASS, eaten: 0 }));
        if let Some(mut replicated) = entity.get_mut::<Replicated>() {
            replicated.text = Some(who.name.as_str().into());
            replicated.values[BLOB_HUE] = hue;
        }
    }
}
