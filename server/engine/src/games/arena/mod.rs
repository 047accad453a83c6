//! The arena: top-down shooter on a walled map, with the W1 crowd of NPCs. The first game on
//! the engine's game API ([`crate::sim::game`]), and written only through it.
//!
//! Its schema and input live in `shared::arena`, where its Rust clients find them; its
//! browser part is `web-client/src/games/arena.js`.

pub mod components;
pub mod geometry;
pub mod lag_comp;
pub mod rules;
pub mod systems;

use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use shared::Schema;
use shared::schema::SchemaError;

use crate::bridge::ClientId;
use crate::limits;
use crate::sim::components::{InputQueue, NetId, Position};
use crate::sim::game::{Game, Joining, Setup, Stage, pick_spawn};
use crate::sim::resources::WorldMap;
use crate::sim::rng::SimRng;
use components::{Combatant, Npc, Player, Projectile};
use lag_comp::TargetHistory;
use rules::MAX_HEALTH;
use systems::{collisions, combat, crowd, inputs, movement, respawn, show};

/// The arena's settings (the game's value, recorded in every recording's header).
#[derive(Resource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arena {
    /// W1 crowd size.
    pub npcs: u32,
    /// Longest lag-compensation rewind, milliseconds (0: no lag compensation); see
    /// [`lag_comp`].
    pub max_rewind_ms: u16,
}

impl Default for Arena {
    fn default() -> Self {
        Arena { npcs: 0, max_rewind_ms: lag_comp::DEFAULT_MAX_REWIND_MS }
    }
}

/// An arena player's input buffer.
pub type ArenaQueue = InputQueue<shared::arena::Input>;

/// A projectile hit found by the collision pass, applied by the combat pass in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The victim's player entity.
    pub victim: NetId,
    /// Who fired.
    pub shooter: ClientId,
}

/// Hits of the current tick, in projectile id order (empty between ticks).
#[derive(Resource, Debug, Default)]
pub struct Hits(pub Vec<Hit>);

impl Game for Arena {
    const NAME: &'static str = "arena";
    type Input = shared::arena::Input;

    fn schema(&self) -> Result<Arc<Schema>, SchemaError> {
        Ok(shared::arena::schema())
    }

    fn check(&self) -> Result<(), String> {
        if self.npcs > limits::MAX_NPCS {
            return Err(format!("{} NPCs is more than the {} allowed", self.npcs, limits::MAX_NPCS));
        }
        if self.max_rewind_ms > limits::MAX_REWIND_MS {
            return Err(format!(
                "a rewind of {} ms is more than the {} ms allowed",
                self.max_rewind_ms,
                limits::MAX_REWIND_MS
            ));
        }
        Ok(())
    }

    fn spawns_at_start(&self) -> u64 {
        self.npcs.into()
    }

    fn build(&self, setup: &mut Setup) {
        let world = setup.world();
        world.insert_resource(self.clone());
        world.init_resource::<Hits>();
        world.init_resource::<TargetHistory>();
        crowd::spawn_crowd(world);
        setup.save::<Player>().save::<Combatant>().save::<Npc>().save::<Projectile>();
        setup.save_resource::<TargetHistory>();
        setup.add_systems(Stage::Input, inputs::apply_inputs);
        setup.add_systems(
            Stage::Simulate,
            (
                movement::move_players,
                crowd::wander,
                collisions::collide_players,
                lag_comp::record_targets,
                collisions::sweep_projectiles,
                combat::apply_hits,
                respawn::respawn,
            )
                .chain(),
        );
        setup.add_systems(Stage::Output, (show::show_players, show::keep_scoreboard));
    }

    fn join(&self, world: &mut World, player: Entity, who: &Joining) {
        let spawn = world
            .resource_scope(|world, mut rng: Mut<SimRng>| pick_spawn(&mut rng, &world.resource::<WorldMap>().0.spawns));
        world.entity_mut(player).insert((
            Position(spawn),
            Player { client: who.client, name: who.name.clone(), kills: 0, deaths: 0 },
            Combatant { health: MAX_HEALTH, aim: 0.0, cooldown: 0, respawn_at: None },
        ));
    }
}
