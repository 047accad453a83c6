//! A digest of the whole simulation state, for verifying replays.
//!
//! The hash is FNV-1a (64-bit) over a canonical byte string, all integers little-endian and
//! floats as their IEEE 754 bits:
//! `tick u64 · rng state u64 · last net id u32 · per entity in increasing NetId: (id u32,
//! entity hash u64)`. An entity's hash is FNV-1a 64 over `kind u8 · pos.x · pos.y · vel.x ·
//! vel.y` followed by its kind's hidden state:
//! - player: `client u32 · name length u32 · name bytes · kills u32 · deaths u32 · health u8 ·
//!   aim · cooldown u32 · respawn_at u64 (u64::MAX if alive) · current input (seq u32 ·
//!   movement.x · movement.y · aim · buttons u8)`;
//! - NPC: `phase u8 (0 moving, 1 idle) · ticks_left u32`;
//! - projectile: `shooter u32 · expires_at u64`.
//!
//! Inputs received but not yet applied are not state: a replay feeds inputs exactly when they
//! were applied, so its queues differ from the live run's while its world does not.
//! Per-entity hashes are kept (folded to 32 bits) so a mismatch can name the entities.

use bevy_ecs::prelude::*;
use bevy_ecs::query::QueryItem;
use bevy_ecs::system::SystemState;
use glam::Vec2;

use crate::sim::components::{Combatant, CrowdPhase, InputQueue, NetId, Npc, Player, Position, Projectile, Velocity};
use crate::sim::resources::{NetIds, Tick};
use crate::sim::rng::SimRng;

/// The state digest at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDigest {
    /// The tick.
    pub tick: u64,
    /// FNV-1a 64 of the whole state.
    pub hash: u64,
    /// `(net id, entity hash folded to 32 bits)` in increasing id.
    pub entities: Vec<(u32, u32)>,
}

/// FNV-1a 64 of `bytes`; the hash of state digests and of a recording's map.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    Fnv::new().bytes(bytes).0
}

/// FNV-1a, 64-bit.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv(Self::OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(Self::PRIME);
        }
        self
    }

    fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes(&[v])
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn f32(&mut self, v: f32) -> &mut Self {
        self.u32(v.to_bits())
    }

    fn vec2(&mut self, v: Vec2) -> &mut Self {
        self.f32(v.x).f32(v.y)
    }
}

/// Everything an entity's hash covers.
type Hashed = (
    &'static NetId,
    &'static Position,
    &'static Velocity,
    Option<(&'static Player, &'static Combatant, &'static InputQueue)>,
    Option<&'static Npc>,
    Option<&'static Projectile>,
);

/// Computes the digest of `world` now.
pub fn digest(world: &mut World) -> StateDigest {
    let tick = world.resource::<Tick>().0;
    let rng = world.resource::<SimRng>().state();
    let last_id = world.resource::<NetIds>().last();
    let mut state = SystemState::<Query<Hashed>>::new(world);
    let mut rows: Vec<(u32, u64)> = match state.get(world) {
        Ok(query) => query.iter().map(|row| (row.0.0, entity_hash(row))).collect(),
        Err(_) => Vec::new(),
    };
    rows.sort_unstable_by_key(|(id, _)| *id);
    let mut total = Fnv::new();
    total.u64(tick).u64(rng).u32(last_id);
    for (id, hash) in &rows {
        total.u32(*id).u64(*hash);
    }
    let entities = rows.into_iter().map(|(id, h)| (id, (h ^ (h >> 32)) as u32)).collect();
    StateDigest { tick, hash: total.0, entities }
}

fn entity_hash((_, pos, vel, player, npc, shot): QueryItem<Hashed>) -> u64 {
    let mut h = Fnv::new();
    let kind = match (&player, &npc) {
        (Some(_), _) => 0,
        (None, Some(_)) => 1,
        (None, None) => 2,
    };
    h.u8(kind).vec2(pos.0).vec2(vel.0);
    if let Some((player, combat, queue)) = player {
        h.u32(player.client.0).u32(player.name.len() as u32).bytes(player.name.as_bytes());
        h.u32(player.kills).u32(player.deaths).u8(combat.health).f32(combat.aim).u32(combat.cooldown);
        h.u64(combat.respawn_at.unwrap_or(u64::MAX));
        let input = queue.current;
        h.u32(input.seq).vec2(input.movement).f32(input.aim).u8(input.buttons).u32(input.view_tick);
    }
    if let Some(npc) = npc {
        h.u8(match npc.phase {
            CrowdPhase::Moving => 0,
            CrowdPhase::Idle => 1,
        })
        .u32(npc.ticks_left);
    }
    if let Some(shot) = shot {
        h.u32(shot.shooter.0).u64(shot.expires_at).u32(shot.rewind);
    }
    h.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        assert_eq!(Fnv::new().0, 0xcbf2_9ce4_8422_2325, "hash of the empty string");
        assert_eq!(Fnv::new().bytes(b"a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv::new().bytes(b"foobar").0, 0x8594_4171_f739_67e8);
    }
}
