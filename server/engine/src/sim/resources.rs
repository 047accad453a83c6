//! The engine's resources of the simulation World: settings, the tick, the id allocator, the
//! roster, the scoreboard, and the inbox/outbox pair through which the world talks to whoever
//! steps it. A game adds its own.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::prelude::{Entity, Resource};
use shared::{MapData, ScoreEntry};

use crate::bridge::{ClientId, ToNet, ToSim};

/// The engine's settings of a simulation (a game has its own). Everything here is part of what
/// a replay must match.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct SimSettings {
    /// Ticks per second.
    pub tick_rate: u16,
    /// Snapshots per second (at most `tick_rate`).
    pub snapshot_rate: u16,
    /// Most players at once; further joins are refused as `ServerFull`.
    pub max_players: u16,
    /// Seed of [`crate::sim::rng::SimRng`].
    pub seed: u64,
}

impl SimSettings {
    /// Seconds per tick.
    pub fn dt(&self) -> f32 {
        1.0 / f32::from(self.tick_rate)
    }
}

/// The world's map: its bounds, walls and spawn points, sent to clients in `Welcome`.
#[derive(Resource, Debug, Clone)]
pub struct WorldMap(pub MapData);

/// The scoreboard as the game keeps it (rows in increasing client id); the snapshot stage sends
/// it when it changes.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Scoreboard(pub Vec<ScoreEntry>);

/// The running game's replicated schema: what the snapshot stage's frames follow and what
/// `Welcome` tells clients.
#[derive(Resource, Debug, Clone)]
pub struct GameSchema(pub std::sync::Arc<shared::Schema>);

/// The number of the tick being simulated (1 for the first step); the simulation's only clock.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick(pub u64);

/// Allocates [`crate::sim::components::NetId`]s in increasing order, never 0 and never one
/// that is live.
///
/// Ids count up from 1. Before the count nears the end of the u32 space (4 billion entities:
/// months of shots on a busy server), [`Simulation::step`](crate::sim::Simulation::step)
/// starts it again from 0 with the live ids to skip ([`NetIds::resume`]); it never wraps by
/// itself. A run that never gets near the end behaves exactly as a plain counter.
#[derive(Resource, Debug, Default, Clone)]
pub struct NetIds {
    next: u32,
    /// Live ids above `next`: taken, so passed over (and forgotten once passed).
    skip: BTreeSet<u32>,
}

/// How far below `u32::MAX` the count starts again: more than one tick ever allocates (the
/// largest crowd, `--npcs 1000000`, spawns in the first tick).
pub const NET_ID_HEADROOM: u32 = 1 << 24;

impl NetIds {
    /// An allocator whose last id was `last`, with these ids live.
    pub fn resume(last: u32, live: impl IntoIterator<Item = u32>) -> NetIds {
        NetIds { next: last, skip: live.into_iter().filter(|&id| id > last).collect() }
    }

    /// The next id.
    pub fn allocate(&mut self) -> u32 {
        loop {
            self.next = self.next.wrapping_add(1);
            if self.next != 0 && !self.skip.remove(&self.next) {
                return self.next;
            }
        }
    }

    /// The last id handed out (0 before any).
    pub fn last(&self) -> u32 {
        self.next
    }

    /// Whether the count is near enough the end of the u32 space to start again.
    pub fn near_the_end(&self) -> bool {
        self.next >= u32::MAX - NET_ID_HEADROOM
    }
}

/// Who is connected, and which player entity each joined client controls. Ordered maps, so
/// iteration order never depends on hashing.
#[derive(Resource, Debug, Default)]
pub struct Roster {
    /// Connected, `Hello` not yet received.
    pub pending: BTreeSet<ClientId>,
    /// Joined clients and their player entities.
    pub players: BTreeMap<ClientId, Entity>,
    /// Joined players' names, from `Hello`.
    pub names: BTreeMap<ClientId, String>,
    /// Joined spectators and their names: they see the world and own nothing in it.
    pub spectators: BTreeMap<ClientId, String>,
}

/// Events for the next step, in arrival order. Filled by the runner (from the network) or by a
/// test harness; drained by the receive system.
#[derive(Resource, Debug, Default)]
pub struct Inbox(pub Vec<ToSim>);

/// Whether the snapshot stage runs. Off for headless replays, which need the world, not the
/// bytes; snapshots never change state, so this does not affect determinism.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotsEnabled(pub bool);

/// Network ids of entities despawned since the last frame (a hook on [`NetId`] removal
/// writes them), for the snapshot stage to remove from the next one. Emptied every step
/// while snapshots are off.
///
/// [`NetId`]: super::components::NetId
#[derive(Resource, Debug, Default)]
pub struct Despawned(pub Vec<u32>);

/// What the step produced for the network. Drained by the runner after each step.
#[derive(Resource, Debug, Default)]
pub struct Outbox(pub Vec<ToNet>);
