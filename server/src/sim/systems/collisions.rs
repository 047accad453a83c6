//! Collision stage: players against walls and map bounds; projectiles swept along this tick's
//! path against walls, bounds and players. Hits are recorded for the combat stage.

use bevy_ecs::prelude::*;

use crate::sim::components::{Combatant, NetId, Player, Position, Projectile, Velocity};
use shared::movement;

use crate::sim::geometry::{segment_hits_circle, segment_hits_rect};
use crate::sim::resources::{Arena, Hit, Hits, SimSettings, Tick};
use crate::sim::rules::{PLAYER_RADIUS, PROJECTILE_RADIUS};

/// Pushes every player out of walls (in map order), then inside the map: the rule clients
/// replay ([`movement::confine`]).
pub fn collide_players(mut players: Query<&mut Position, With<Player>>, arena: Res<Arena>) {
    for mut pos in &mut players {
        pos.0 = movement::confine(pos.0, &arena.0);
    }
}

/// Moves each projectile along its path; one that meets a player first records a [`Hit`], one
/// that meets a wall or leaves the map or its lifetime ends is removed. Projectiles and
/// players are taken in `NetId` order, so simultaneous hits resolve the same way every run.
pub fn sweep_projectiles(
    mut commands: Commands,
    mut projectiles: Query<(Entity, &NetId, &Projectile, &mut Position, &Velocity), Without<Player>>,
    players: Query<(Entity, &NetId, &Player, &Position, &Combatant)>,
    mut hits: ResMut<Hits>,
    arena: Res<Arena>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    let map = &arena.0;
    let mut targets: Vec<_> = players.iter().filter(|(.., c)| c.respawn_at.is_none()).collect();
    targets.sort_unstable_by_key(|(_, id, ..)| **id);
    let mut shots: Vec<_> = projectiles.iter_mut().collect();
    shots.sort_unstable_by_key(|(_, id, ..)| **id);
    let dt = settings.dt();
    for (entity, _, shot, mut pos, vel) in shots {
        if tick.0 > shot.expires_at {
            commands.entity(entity).despawn();
            continue;
        }
        let from = pos.0;
        let delta = vel.0 * dt;
        let wall_t = map
            .walls
            .iter()
            .filter_map(|w| segment_hits_rect(from, delta, w, PROJECTILE_RADIUS))
            .fold(f32::INFINITY, f32::min);
        let victim = targets
            .iter()
            .filter(|(_, _, p, ..)| p.client != shot.shooter)
            .filter_map(|(e, _, _, p, _)| {
                segment_hits_circle(from, delta, p.0, PLAYER_RADIUS + PROJECTILE_RADIUS).map(|t| (t, *e))
            })
            .fold(None, |best: Option<(f32, Entity)>, hit| match best {
                Some(b) if b.0 <= hit.0 => Some(b),
                _ => Some(hit),
            });
        match victim {
            Some((t, victim)) if t <= wall_t => {
                hits.0.push(Hit { victim, shooter: shot.shooter });
                commands.entity(entity).despawn();
            }
            _ if wall_t.is_finite() => {
                commands.entity(entity).despawn();
            }
            _ => {
                let to = from + delta;
                let inside = to.x >= 0.0 && to.y >= 0.0 && to.x <= map.width && to.y <= map.height;
                if inside {
                    pos.0 = to;
                } else {
                    commands.entity(entity).despawn();
                }
            }
        }
    }
}
