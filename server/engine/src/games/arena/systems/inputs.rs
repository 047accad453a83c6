//! Input stage: each player acts on its input for this tick (the engine took it from the
//! player's jitter buffer): sets its velocity and aim, and fires. Players go in `NetId` order,
//! so projectile ids are deterministic. A player moves exactly one step per tick whatever its
//! client sends.

use bevy_ecs::prelude::*;
use glam::Vec2;
use shared::{EntityKind, movement};

use crate::games::arena::components::{Combatant, Player, Projectile};
use crate::games::arena::rules::{
    FIRE_INTERVAL_SECS, PLAYER_RADIUS, PROJECTILE_LIFETIME_SECS, PROJECTILE_RADIUS, PROJECTILE_SPEED, ticks,
};
use crate::games::arena::{Arena, ArenaQueue, lag_comp};
use crate::sim::components::{NetId, Position, Replicated, Velocity};
use crate::sim::resources::{NetIds, SimSettings, Tick};

type PlayerInputs<'a> = (&'a NetId, &'a Player, &'a Position, &'a ArenaQueue, &'a mut Combatant, &'a mut Velocity);

/// Acts on each player's input for the tick.
pub fn apply_inputs(
    mut commands: Commands,
    mut players: Query<PlayerInputs>,
    mut ids: ResMut<NetIds>,
    arena: Res<Arena>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    let mut ordered: Vec<_> = players.iter_mut().collect();
    ordered.sort_unstable_by_key(|(id, ..)| **id);
    let max_rewind = lag_comp::max_rewind_ticks(arena.max_rewind_ms, settings.tick_rate);
    for (_, player, pos, queue, mut combat, mut vel) in ordered {
        let (input, view_tick) = (queue.current.input, queue.current.view_tick);
        combat.cooldown = combat.cooldown.saturating_sub(1);
        if combat.respawn_at.is_some() {
            vel.0 = Vec2::ZERO;
            continue;
        }
        vel.0 = movement::velocity(input.movement);
        combat.aim = input.aim;
        if input.fire() && combat.cooldown == 0 {
            combat.cooldown = ticks(FIRE_INTERVAL_SECS, settings.tick_rate);
            let dir = Vec2::new(libm::cosf(input.aim), libm::sinf(input.aim));
            commands.spawn((
                NetId(ids.allocate()),
                Replicated::owned(EntityKind::Projectile.index(), player.client),
                Position(pos.0 + dir * (PLAYER_RADIUS + PROJECTILE_RADIUS + 1.0)),
                Velocity(dir * PROJECTILE_SPEED),
                Projectile {
                    shooter: player.client,
                    expires_at: tick.0 + u64::from(ticks(PROJECTILE_LIFETIME_SECS, settings.tick_rate)),
                    rewind: lag_comp::rewind_ticks(tick.0, view_tick, max_rewind),
                },
            ));
        }
    }
}
