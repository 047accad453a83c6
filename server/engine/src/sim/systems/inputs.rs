//! Apply-inputs stage: each player takes its input for this tick from its jitter buffer
//! ([`crate::sim::input_buffer`]: one per tick, surplus merged, a missing one repeats the
//! last), sets its velocity and aim, and fires. Players go in `NetId` order, so projectile ids
//! are deterministic. A player moves exactly one step per tick whatever its client sends.

use bevy_ecs::prelude::*;
use glam::Vec2;
use shared::movement;

use crate::sim::components::{Combatant, InputQueue, NetId, Player, Position, Projectile, Velocity};
use crate::sim::journal::{Journal, JournalEntry};
use crate::sim::lag_comp;
use crate::sim::resources::{NetIds, SimSettings, Tick};
use crate::sim::rules::{
    FIRE_INTERVAL_SECS, PLAYER_RADIUS, PROJECTILE_LIFETIME_SECS, PROJECTILE_RADIUS, PROJECTILE_SPEED, ticks,
};

type PlayerInputs<'a> = (&'a NetId, &'a Player, &'a Position, &'a mut InputQueue, &'a mut Combatant, &'a mut Velocity);

/// Consumes each player's newest input and acts on it.
pub fn apply_inputs(
    mut commands: Commands,
    mut players: Query<PlayerInputs>,
    mut ids: ResMut<NetIds>,
    mut journal: ResMut<Journal>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    let mut ordered: Vec<_> = players.iter_mut().collect();
    ordered.sort_unstable_by_key(|(id, ..)| **id);
    for (_, player, pos, mut queue, mut combat, mut vel) in ordered {
        if let Some(input) = queue.take() {
            journal.record(JournalEntry::Input { client: player.client, input });
        }
        let input = queue.current;
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
                Position(pos.0 + dir * (PLAYER_RADIUS + PROJECTILE_RADIUS + 1.0)),
                Velocity(dir * PROJECTILE_SPEED),
                Projectile {
                    shooter: player.client,
                    expires_at: tick.0 + u64::from(ticks(PROJECTILE_LIFETIME_SECS, settings.tick_rate)),
                    rewind: lag_comp::rewind_ticks(tick.0, input.view_tick, lag_comp::max_rewind_ticks(&settings)),
                },
            ));
        }
    }
}
