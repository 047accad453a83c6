//! The smallest complete game on the engine: every player is a dot that walks where its arrow
//! keys (or WASD) say. Replicated, recorded, replayable and drawn in the browser by
//! `web-client/src/games/dots.js`; run it with `cargo run --release -p server --example dots`
//! and open http://127.0.0.1:8080/.

use std::process::ExitCode;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use engine::sim::components::{InputQueue, Position, Velocity};
use engine::sim::game::{Game, Joining, Setup, Stage};
use engine::sim::resources::{SimSettings, WorldMap};
use glam::Vec2;
use serde::{Deserialize, Serialize};
use shared::schema::{KindBuilder, Motion, Schema, SchemaError};
use shared::{GameInput, MapData};

/// Walking speed, world units per second.
pub const SPEED: f32 = 200.0;

/// The game. It has no settings, so its value is empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dots;

/// A player's input: the direction it walks, at most 1 long.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Walk(pub Vec2);

impl GameInput for Walk {
    fn verify(&self) -> Result<(), &'static str> {
        match self.0.is_finite() && self.0.length() <= 1.001 {
            true => Ok(()),
            false => Err("direction longer than 1"),
        }
    }
}

impl Game for Dots {
    const NAME: &'static str = "dots";
    type Input = Walk;

    fn schema(&self) -> Result<Arc<Schema>, SchemaError> {
        let dot = KindBuilder::new("Dot").avatar().motion(Motion::DeadReckoned).build();
        Schema::new("dots", vec![dot]).map(Arc::new)
    }

    fn map(&self) -> Option<MapData> {
        let spawns = vec![Vec2::new(400.0, 300.0)];
        Some(MapData { id: "dots".into(), width: 800.0, height: 600.0, walls: Vec::new(), spawns })
    }

    fn build(&self, setup: &mut Setup) {
        setup.add_systems(Stage::Input, walk);
        setup.add_systems(Stage::Simulate, step);
    }

    fn join(&self, world: &mut World, player: Entity, _who: &Joining) {
        let start = world.resource::<WorldMap>().0.spawns[0];
        world.entity_mut(player).insert(Position(start));
    }
}

/// Each dot's velocity is its input's direction at walking speed.
fn walk(mut dots: Query<(&InputQueue<Walk>, &mut Velocity)>) {
    for (queue, mut vel) in &mut dots {
        vel.set_if_neq(Velocity(queue.current.input.0 * SPEED));
    }
}

/// Each dot moves, and stays on the map.
fn step(mut dots: Query<(&mut Position, &Velocity)>, settings: Res<SimSettings>, map: Res<WorldMap>) {
    let size = Vec2::new(map.0.width, map.0.height);
    for (mut pos, vel) in &mut dots {
        if vel.0 != Vec2::ZERO {
            pos.0 = (pos.0 + vel.0 * settings.dt()).clamp(Vec2::ZERO, size);
        }
    }
}

#[allow(dead_code, reason = "the test includes this file for the game, not for main")]
fn main() -> ExitCode {
    engine::app::run(Dots)
}
