//! Collision stage: players against walls and map bounds; projectiles swept along this tick's
//! path against walls, bounds and players (lag-compensated). Hits are recorded for the combat
//! stage.

use bevy_ecs::prelude::*;

use shared::movement;

use crate::games::arena::components::{Player, Projectile};
use crate::games::arena::geometry::{segment_hits_circle, segment_hits_rect};
use crate::games::arena::lag_comp::TargetHistory;
use crate::games::arena::rules::{PLAYER_RADIUS, PROJECTILE_RADIUS};
use crate::games::arena::{Hit, Hits};
use crate::sim::components::{NetId, Position, Velocity};
use crate::sim::resources::{SimSettings, Tick, WorldMap};
use crate::sim::systems::snapshot::is_snapshot_tick;

/// Pushes every player out of walls (in map order), then inside the map: the rule clients
/// replay ([`movement::confine`]).
pub fn collide_players(mut players: Query<&mut Position, With<Player>>, map: Res<WorldMap>) {
    for mut pos in &mut players {
        pos.0 = movement::confine(pos.0, &map.0);
    }
}

/// Moves each projectile along its path; one that meets a player first records a [`Hit`], one
/// that meets a wall or leaves the map or its lifetime ends is removed. Players are taken where
/// the shot's shooter saw them (its `rewind`, from [`TargetHistory`]) and must be alive now.
/// Projectiles and players are taken in `NetId` order, so simultaneous hits resolve the same
/// way every run.
#[allow(clippy::too_many_arguments, reason = "one system: a stage's whole working set")]
pub fn sweep_projectiles(
    mut commands: Commands,
    mut projectiles: Query<(Entity, &NetId, &Projectile, &mut Position, &Velocity), Without<Player>>,
    history: Res<TargetHistory>,
    mut hits: ResMut<Hits>,
    map: Res<WorldMap>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    let map = &map.0;
    let now = history.at(tick.0, 0).unwrap_or_default();
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
        // Where the shooter drew them; a tick no longer held (a rewind longer than the history,
        // which the cap prevents) falls back to now.
        let drawn = match shot.rewind {
            0 => None,
            back => history.drawn_at(tick.0.saturating_sub(u64::from(back)), tick.0, settings.tick_rate, |t| {
                is_snapshot_tick(t, settings.tick_rate, settings.snapshot_rate)
            }),
        };
        let victim = drawn
            .as_deref()
            .unwrap_or(now)
            .iter()
            .filter(|t| t.client != shot.shooter && now.iter().any(|alive| alive.id == t.id))
            .filter_map(|t| {
                segment_hits_circle(from, delta, t.pos, PLAYER_RADIUS + PROJECTILE_RADIUS).map(|at| (at, t.id))
            })
            .fold(None, |best: Option<(f32, NetId)>, hit| match best {
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
