//! A digest of the whole simulation state, for verifying replays.
//!
//! The hash is FNV-1a (64-bit) over a canonical byte string, integers little-endian:
//! `tick u64 · rng state u64 · last net id u32 · the saved resources · per entity in
//! increasing NetId: (id u32, entity hash u64)`. An entity's hash is FNV-1a 64 over its saved
//! parts as [`Saved`] writes them for a digest: the engine's (its replicated kind, owner and
//! fields, its position and velocity, a player's input in force) and the game's, each encoded
//! with the protocol codec (floats as their bits). Saved resources are written the same way.
//!
//! Inputs received but not yet applied are not state: a replay feeds inputs exactly when they
//! were applied, so its queues differ from the live run's while its world does not.
//! Per-entity hashes are kept (folded to 32 bits) so a mismatch can name the entities.

use bevy_ecs::prelude::*;
use bevy_ecs::world::EntityRef;

use crate::sim::components::NetId;
use crate::sim::resources::{NetIds, Tick};
use crate::sim::rng::SimRng;
use crate::sim::saved::Saved;

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

    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
}

/// Computes the digest of `world` now.
pub fn digest(world: &mut World) -> StateDigest {
    let mut query = world.query::<(EntityRef, &NetId)>();
    let world: &World = world;
    let tick = world.resource::<Tick>().0;
    let rng = world.resource::<SimRng>().state();
    let last_id = world.resource::<NetIds>().last();
    let Some(saved) = world.get_resource::<Saved>() else {
        return StateDigest { tick, hash: 0, entities: Vec::new() };
    };
    let mut bytes = Vec::new();
    let mut rows: Vec<(u32, u64)> = query
        .iter(world)
        .map(|(entity, id)| {
            bytes.clear();
            saved.write_entity(&entity, true, &mut bytes);
            (id.0, Fnv::new().bytes(&bytes).0)
        })
        .collect();
    rows.sort_unstable_by_key(|(id, _)| *id);
    bytes.clear();
    saved.write_resources(world, &mut bytes);
    let mut total = Fnv::new();
    total.u64(tick).u64(rng).u32(last_id).bytes(&bytes);
    for (id, hash) in &rows {
        total.u32(*id).u64(*hash);
    }
    let entities = rows.into_iter().map(|(id, h)| (id, (h ^ (h >> 32)) as u32)).collect();
    StateDigest { tick, hash: total.0, entities }
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
