//! Keyframes: the whole simulation state at one tick, copied aside in memory, so that a replay
//! can go back to it instead of re-simulating from tick 0 (see `record::replay`).
//!
//! A keyframe holds everything the simulation's future depends on: every entity's saved parts
//! (`sim::saved`: the engine's motion, replicated fields and input queue with its jitter-buffer
//! state, and every component the game saves), the saved resources, and the engine's
//! resources `Tick`, `SimRng`, `NetIds` and `Roster`, plus whether the journal is on.
//! Restoring it makes the same world: stepping on from a restored keyframe gives the same
//! digest at every tick as a straight run (tested in `tests/recordings.rs`).
//!
//! What it leaves out, and why that is exact:
//! - The stage buffers (`Inbox`, `Joins`, `ChatInbox`, `Outbox`, journal entries, a game's
//!   per-tick buffers) are empty between two steps, where keyframes are taken; restoring
//!   empties the engine's.
//! - Entities get new `Entity` handles: saved state names entities by `NetId`, and the roster,
//!   which holds handles, is rebuilt against the new ones.
//! - The snapshot stage's replication models and scoreboard memory are output state, not
//!   simulation state: the next frame after a restore is made from the whole state.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::prelude::*;
use bevy_ecs::world::EntityRef;

use crate::bridge::ClientId;
use crate::sim::Simulation;
use crate::sim::components::NetId;
use crate::sim::journal::Journal;
use crate::sim::resources::{Inbox, NetIds, Outbox, Roster, Tick};
use crate::sim::rng::SimRng;
use crate::sim::saved::Saved;
use crate::sim::systems::chat::ChatInbox;
use crate::sim::systems::receive::Joins;
use crate::sim::systems::snapshot::ChangeTracking;

/// The whole simulation state at one tick.
#[derive(Debug, Clone)]
pub struct Keyframe {
    tick: u64,
    rng: SimRng,
    last_id: u32,
    /// Each entity's id and saved parts, in increasing id.
    entities: Vec<(NetId, Box<[u8]>)>,
    resources: Vec<u8>,
    pending: BTreeSet<ClientId>,
    players: Vec<(ClientId, NetId)>,
    names: BTreeMap<ClientId, String>,
    spectators: BTreeMap<ClientId, String>,
    journal: bool,
}

impl Keyframe {
    /// Copies the state of `sim` now (between two steps).
    pub fn capture(sim: &mut Simulation) -> Keyframe {
        let world = sim.world_mut();
        let mut query = world.query::<(Entity, EntityRef, &NetId)>();
        let world: &World = world;
        let tick = world.resource::<Tick>().0;
        let saved = world.resource::<Saved>();
        let mut ids_of = BTreeMap::new();
        let mut bytes = Vec::new();
        let mut entities: Vec<(NetId, Box<[u8]>)> = query
            .iter(world)
            .map(|(entity, parts, id)| {
                ids_of.insert(entity, *id);
                bytes.clear();
                saved.write_entity(&parts, false, &mut bytes);
                (*id, bytes.as_slice().into())
            })
            .collect();
        entities.sort_unstable_by_key(|(id, _)| *id);
        let mut resources = Vec::new();
        saved.write_resources(world, &mut resources);
        let roster = world.resource::<Roster>();
        let players = roster.players.iter().filter_map(|(client, e)| Some((*client, *ids_of.get(e)?))).collect();
        Keyframe {
            tick,
            rng: world.resource::<SimRng>().clone(),
            last_id: world.resource::<NetIds>().last(),
            entities,
            resources,
            pending: roster.pending.clone(),
            players,
            names: roster.names.clone(),
            spectators: roster.spectators.clone(),
            journal: world.resource::<Journal>().enabled,
        }
    }

    /// The tick it was taken at.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Roughly the memory it holds, in bytes.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Keyframe>()
            + self.entities.iter().map(|(_, parts)| 24 + parts.len()).sum::<usize>()
            + self.resources.len()
            + (self.names.len() + self.spectators.len()) * 64
    }

    /// Puts `sim` back in this state. Fails only if the keyframe was taken of another game.
    pub fn restore(&self, sim: &mut Simulation) -> Result<(), String> {
        let world = sim.world_mut();
        let old: Vec<Entity> = world.query_filtered::<Entity, With<NetId>>().iter(world).collect();
        for entity in old {
            world.despawn(entity);
        }
        let result = world.resource_scope(|world, saved: Mut<Saved>| -> Result<_, String> {
            let mut handles = BTreeMap::new();
            for (id, parts) in &self.entities {
                let mut spawned = world.spawn(*id);
                saved.read_entity(&mut spawned, parts)?;
                handles.insert(*id, spawned.id());
            }
            saved.read_resources(world, &self.resources)?;
            Ok(handles)
        });
        let handles = result?;
        world.insert_resource(self.rng.clone());
        world.insert_resource(NetIds::resume(self.last_id, handles.keys().map(|id: &NetId| id.0)));
        world.insert_resource(Roster {
            pending: self.pending.clone(),
            players: self.players.iter().filter_map(|(client, id)| Some((*client, *handles.get(id)?))).collect(),
            names: self.names.clone(),
            spectators: self.spectators.clone(),
        });
        world.resource_mut::<Inbox>().0.clear();
        world.resource_mut::<Outbox>().0.clear();
        world.resource_mut::<Joins>().0.clear();
        world.resource_mut::<ChatInbox>().0.clear();
        world.resource_mut::<ChangeTracking>().resync = true;
        let mut journal = world.resource_mut::<Journal>();
        journal.entries.clear();
        journal.enabled = self.journal;
        world.insert_resource(Tick(self.tick));
        Ok(())
    }
}
