//! The W1 crowd (`../shared/WORKLOADS.md`): NPCs alternating MOVING and IDLE phases of
//! [60, 180] ticks at 60 Hz, walking at 100 units/s and bouncing off the edges of the
//! [0, 2000]² square, ignoring walls.
//!
//! Random draws happen in `NetId` order, in a fixed order per NPC:
//! - at spawn: x, y, phase (coin: heads MOVING), duration, then the direction if MOVING;
//! - at a phase change: duration, then the direction if the new phase is MOVING.
//!
//! Durations are drawn uniformly in whole ticks from 1 s to 3 s at the tick rate, and
//! directions as an angle uniform in [0, 2π).

use std::f32::consts::TAU;

use bevy_ecs::prelude::*;
use glam::Vec2;

use shared::EntityKind;

use crate::games::arena::Arena;
use crate::games::arena::components::{CrowdPhase, Npc};
use crate::games::arena::rules::{CROWD_PHASE_SECS, CROWD_SIDE, CROWD_SPEED, ticks};
use crate::sim::components::{NetId, Position, Replicated, Velocity};
use crate::sim::resources::{NetIds, SimSettings};
use crate::sim::rng::SimRng;

/// Spawns the crowd at start-up, before the first tick.
pub fn spawn_crowd(world: &mut World) {
    let tick_rate = world.resource::<SimSettings>().tick_rate;
    let npcs = world.resource::<Arena>().npcs;
    let mut bundles = Vec::with_capacity(npcs as usize);
    world.resource_scope(|world, mut rng: Mut<SimRng>| {
        let mut ids = world.resource_mut::<NetIds>();
        for _ in 0..npcs {
            let id = NetId(ids.allocate());
            let pos = Vec2::new(rng.unit_f32() * CROWD_SIDE, rng.unit_f32() * CROWD_SIDE);
            let phase = if rng.coin() { CrowdPhase::Moving } else { CrowdPhase::Idle };
            let (npc, vel) = start_phase(phase, &mut rng, tick_rate);
            bundles.push((id, Replicated::new(EntityKind::Npc.index()), Position(pos), Velocity(vel), npc));
        }
    });
    world.spawn_batch(bundles);
}

/// Draws a phase's duration (and direction when moving): the NPC and its velocity.
fn start_phase(phase: CrowdPhase, rng: &mut SimRng, tick_rate: u16) -> (Npc, Vec2) {
    let (shortest, longest) = CROWD_PHASE_SECS;
    let ticks_left = rng.range_inclusive(ticks(shortest, tick_rate), ticks(longest, tick_rate));
    let vel = match phase {
        CrowdPhase::Moving => {
            let angle = rng.unit_f32() * TAU;
            Vec2::new(libm::cosf(angle), libm::sinf(angle)) * CROWD_SPEED
        }
        CrowdPhase::Idle => Vec2::ZERO,
    };
    (Npc { phase, ticks_left }, vel)
}

/// Moves, bounces and counts down every NPC; those whose phase ends draw their next one in
/// `NetId` order.
pub fn wander(
    mut crowd: Query<(Entity, &NetId, &mut Npc, &mut Position, &mut Velocity)>,
    mut ending: Local<Vec<(NetId, Entity)>>,
    mut rng: ResMut<SimRng>,
    settings: Res<SimSettings>,
) {
    let dt = settings.dt();
    for (entity, id, mut npc, mut pos, mut vel) in &mut crowd {
        if npc.phase == CrowdPhase::Moving {
            let (p, v) = bounce(pos.0 + vel.0 * dt, vel.0);
            pos.0 = p;
            // Written only when it changes (a bounce): the snapshot stage skips what change
            // detection says is unchanged.
            vel.set_if_neq(Velocity(v));
        }
        npc.ticks_left -= 1;
        if npc.ticks_left == 0 {
            ending.push((*id, entity));
        }
    }
    ending.sort_unstable_by_key(|(id, _)| *id);
    for (_, entity) in ending.drain(..) {
        let Ok((_, _, mut npc, _, mut vel)) = crowd.get_mut(entity) else { continue };
        let next = match npc.phase {
            CrowdPhase::Moving => CrowdPhase::Idle,
            CrowdPhase::Idle => CrowdPhase::Moving,
        };
        let (fresh, v) = start_phase(next, &mut rng, settings.tick_rate);
        *npc = fresh;
        vel.0 = v;
    }
}

/// Reflects the overshoot past an edge of the crowd square and negates that velocity component.
fn bounce(mut pos: Vec2, mut vel: Vec2) -> (Vec2, Vec2) {
    for axis in 0..2 {
        if pos[axis] < 0.0 {
            pos[axis] = -pos[axis];
            vel[axis] = -vel[axis];
        } else if pos[axis] > CROWD_SIDE {
            pos[axis] = 2.0 * CROWD_SIDE - pos[axis];
            vel[axis] = -vel[axis];
        }
    }
    (pos, vel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_reflects_overshoot() {
        let (p, v) = bounce(Vec2::new(-3.0, 2001.5), Vec2::new(-100.0, 50.0));
        assert_eq!(p, Vec2::new(3.0, 1998.5));
        assert_eq!(v, Vec2::new(100.0, -50.0));
        let (p, v) = bounce(Vec2::new(10.0, 20.0), Vec2::new(-100.0, 50.0));
        assert_eq!((p, v), (Vec2::new(10.0, 20.0), Vec2::new(-100.0, 50.0)), "inside: untouched");
    }

    #[test]
    fn phases_last_60_to_180_ticks_at_60_hz() {
        let mut rng = SimRng::new(1);
        for _ in 0..1000 {
            let (npc, vel) = start_phase(CrowdPhase::Moving, &mut rng, 60);
            assert!((60..=180).contains(&npc.ticks_left), "{}", npc.ticks_left);
            assert!((vel.length() - CROWD_SPEED).abs() < 1e-3, "moving at 100 u/s: {vel}");
            let (npc, vel) = start_phase(CrowdPhase::Idle, &mut rng, 60);
            assert!((60..=180).contains(&npc.ticks_left));
            assert_eq!(vel, Vec2::ZERO, "idle NPCs stand still");
        }
    }
}
