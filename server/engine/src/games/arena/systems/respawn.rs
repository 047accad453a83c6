//! Respawn stage: dead players whose delay is over come back at a random spawn point.

use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::games::arena::components::Combatant;
use crate::games::arena::rules::MAX_HEALTH;
use crate::sim::components::{NetId, Position, Velocity};
use crate::sim::game::pick_spawn;
use crate::sim::resources::{Tick, WorldMap};
use crate::sim::rng::SimRng;

/// Revives due players in `NetId` order (each draws a spawn point from the RNG).
pub fn respawn(
    mut players: Query<(&NetId, &mut Combatant, &mut Position, &mut Velocity)>,
    mut rng: ResMut<SimRng>,
    map: Res<WorldMap>,
    tick: Res<Tick>,
) {
    let mut due: Vec<_> = players.iter_mut().filter(|(_, c, ..)| c.respawn_at.is_some_and(|at| at <= tick.0)).collect();
    due.sort_unstable_by_key(|(id, ..)| **id);
    for (_, mut combat, mut pos, mut vel) in due {
        *combat = Combatant { health: MAX_HEALTH, aim: combat.aim, cooldown: 0, respawn_at: None };
        pos.0 = pick_spawn(&mut rng, &map.0.spawns);
        vel.0 = Vec2::ZERO;
    }
}
