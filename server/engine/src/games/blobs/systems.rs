//! The blobs game's systems, in tick order: steer (input), move, eat pellets, eat blobs, decay
//! (simulate); show the mass and keep the scoreboard (output). Blobs are taken in `NetId`
//! order wherever the order can change the outcome.

use bevy_ecs::prelude::*;
use glam::Vec2;
use shared::ScoreEntry;
use shared::schema::Encoding;

use super::rules::{self, DECAY_ABOVE, DECAY_PER_SEC, EAT_RATIO, PELLET_MASS, START_MASS, WORLD};
use super::{Blob, MASS, Pellet, Steer};
use crate::sim::components::{InputQueue, NetId, Position, Replicated, Velocity};
use crate::sim::resources::{Roster, Scoreboard, SimSettings, Tick};
use crate::sim::rng::SimRng;

/// How the mass field is quantized (the schema's encoding of it).
pub const MASS_ENCODING: Encoding = Encoding::Scalar { scale: 10.0, min: 0.0, max: 1.0e6 };

/// Each blob heads for its pointer, at full speed once the pointer is a radius away.
pub fn steer(mut blobs: Query<(&Blob, &InputQueue<Steer>, &mut Velocity)>) {
    for (blob, queue, mut vel) in &mut blobs {
        let toward = queue.current.input.toward;
        let reach = rules::radius(blob.mass).max(1.0);
        let vel_now = toward.normalize_or_zero() * rules::speed(blob.mass) * (toward.length() / reach).min(1.0);
        vel.set_if_neq(Velocity(vel_now));
    }
}

/// Moves every blob, kept inside the world.
pub fn move_blobs(mut blobs: Query<(&mut Position, &Velocity), With<Blob>>, settings: Res<SimSettings>) {
    let dt = settings.dt();
    for (mut pos, vel) in &mut blobs {
        if vel.0 != Vec2::ZERO {
            pos.0 = (pos.0 + vel.0 * dt).clamp(Vec2::ZERO, Vec2::splat(WORLD));
        }
    }
}

/// Blobs, in `NetId` order, eat the pellets under them; each eaten pellet goes back at a
/// random spot.
pub fn eat_pellets(
    mut blobs: Query<(&NetId, &Position, &mut Blob), Without<Pellet>>,
    mut pellets: Query<(Entity, &NetId, &mut Position), With<Pellet>>,
    mut rng: ResMut<SimRng>,
) {
    let mut order: Vec<_> = blobs.iter_mut().collect();
    order.sort_unstable_by_key(|(id, ..)| **id);
    let mut eaten: Vec<(NetId, Entity)> = Vec::new();
    for (_, pos, mut blob) in order {
        let r = rules::radius(blob.mass);
        let under = pellets.iter().filter(|(.., p)| p.0.distance_squared(pos.0) < r * r);
        eaten.extend(under.map(|(entity, id, _)| (*id, entity)));
        eaten.sort_unstable_by_key(|(id, _)| *id);
        for (_, entity) in eaten.drain(..) {
            if let Ok((.., mut pellet)) = pellets.get_mut(entity) {
                blob.mass += PELLET_MASS;
                pellet.0 = rules::random_spot(&mut rng);
            }
        }
    }
}

/// Blobs, in `NetId` order, eat the blobs whose centre they cover and whose mass is under 0.8
/// of theirs; the eaten start again small at a random spot.
pub fn eat_blobs(mut blobs: Query<(&NetId, &mut Position, &mut Blob)>, mut rng: ResMut<SimRng>) {
    let mut all: Vec<_> = blobs.iter_mut().collect();
    all.sort_unstable_by_key(|(id, ..)| **id);
    for eater in 0..all.len() {
        for prey in 0..all.len() {
            let (a, b) = (&all[eater], &all[prey]);
            let r = rules::radius(a.2.mass);
            if eater == prey || b.2.mass >= EAT_RATIO * a.2.mass || a.1.0.distance_squared(b.1.0) >= r * r {
                continue;
            }
            let gained = all[prey].2.mass;
            all[prey].2.mass = START_MASS;
            all[prey].1.0 = rules::random_spot(&mut rng);
            all[eater].2.mass += gained;
            all[eater].2.eaten += 1;
        }
    }
}

/// Mass above 50 decays, a share per second.
pub fn decay(mut blobs: Query<&mut Blob>, settings: Res<SimSettings>) {
    let keep = 1.0 - DECAY_PER_SEC * settings.dt();
    for mut blob in &mut blobs {
        if blob.mass > DECAY_ABOVE {
            blob.mass = DECAY_ABOVE + (blob.mass - DECAY_ABOVE) * keep;
        }
    }
}

/// Writes each blob's mass into its replicated field, where it changed.
pub fn show_mass(mut blobs: Query<(&Blob, &mut Replicated), Changed<Blob>>) {
    for (blob, mut replicated) in &mut blobs {
        let mass = MASS_ENCODING.quantize(blob.mass);
        if replicated.values[MASS] != mass {
            replicated.values[MASS] = mass;
        }
    }
}

/// The scoreboard: the 10 heaviest blobs, heaviest first (ties by client), once a second (mass
/// changes every tick, and the board need not).
pub fn keep_scoreboard(
    blobs: Query<(&Blob, &Replicated)>,
    roster: Res<Roster>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
    mut scoreboard: ResMut<Scoreboard>,
) {
    if !tick.0.is_multiple_of(u64::from(settings.tick_rate.max(1))) && !roster.is_changed() {
        return;
    }
    let mut rows: Vec<(f32, &Blob, &Replicated)> = blobs.iter().map(|(b, r)| (b.mass, b, r)).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.owner.cmp(&b.2.owner)));
    let rows: Vec<ScoreEntry> = rows
        .into_iter()
        .take(10)
        .map(|(mass, blob, r)| ScoreEntry {
            client: r.owner,
            name: roster.names.get(&crate::bridge::ClientId(r.owner)).cloned().unwrap_or_default(),
            values: vec![mass as i32, i32::try_from(blob.eaten).unwrap_or(i32::MAX)],
        })
        .collect();
    scoreboard.set_if_neq(Scoreboard(rows));
}
