//! The simulation: a bevy_ecs `World` and `Schedule` stepped one fixed tick at a time.
//!
//! [`Simulation`] is driven from outside: push [`ToSim`] events, call [`Simulation::step`],
//! take the [`ToNet`] output. The runner (`crate::runner`) does this on its own thread against
//! the network; tests and tools do it in memory with no sockets and no clock
//! (`crate::harness`). Both live above this module and above `record`, whose recorder they
//! hand each step to: the simulation only journals, and knows no recorder.
//!
//! Determinism contract: systems read no wall clock (the [`Tick`] is the time), draw
//! randomness only from the seeded [`SimRng`] resource, iterate entities in `NetId` order
//! wherever order can matter, keep no hash-ordered state, and run single-threaded in the fixed
//! order of [`SimSet`].

pub mod checksum;
pub mod components;
pub mod geometry;
pub mod input_buffer;
pub mod journal;
pub mod lag_comp;
pub mod resources;
pub mod rng;
pub mod rules;
pub mod stats;
pub mod systems;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use shared::snapshot::Replicator;
use shared::{EntityState, MapData, ScoreEntry};

use crate::bridge::{ToNet, ToSim};
use components::NetId;
use journal::{Journal, JournalEntry};
use resources::{Arena, Despawned, Hits, Inbox, NetIds, Outbox, Roster, SimSettings, SnapshotsEnabled, Tick};
use rng::SimRng;
use systems::{chat, collisions, combat, crowd, inputs, movement, receive, respawn, snapshot};

/// The version of the simulation's behaviour. Bump it with any change that makes the same
/// inputs produce a different world (rules, systems, their order, the RNG's use): recordings
/// made by another version are refused rather than replayed into silent divergence.
pub const SIM_VERSION: u32 = 3;

/// The stages of a tick, run in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimSet {
    /// Inbox → roster, joins, input queues.
    Receive,
    /// One input per player: velocity, aim, firing.
    ApplyInputs,
    /// Integrate players; the W1 crowd walks.
    Movement,
    /// Players out of walls; where they are, kept for lag compensation; projectiles swept,
    /// hits found.
    Collisions,
    /// Hits → damage, deaths, score.
    Combat,
    /// Dead players come back.
    Respawn,
    /// State → encoded frames in the outbox.
    Snapshot,
}

/// Sizes of the simulation's per-client and per-despawn tables; see [`Simulation::footprint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Connected clients that have not said `Hello`.
    pub pending: usize,
    /// Joined players.
    pub players: usize,
    /// Joined spectators.
    pub spectators: usize,
    /// Entities in the World (players, NPCs, shots).
    pub entities: usize,
    /// Removed-component messages the World holds (of the last two steps at most).
    pub removed_component_messages: usize,
    /// Ticks of lag-compensation history held.
    pub lag_comp_ticks: usize,
}

/// A World and the Schedule that steps it.
pub struct Simulation {
    world: World,
    schedule: Schedule,
}

impl Simulation {
    /// A world with `map` and the crowd of `settings.npcs` NPCs spawned, at tick 0.
    pub fn new(settings: SimSettings, map: MapData) -> Self {
        let mut world = World::new();
        world.insert_resource(SimRng::new(settings.seed));
        let schema = shared::arena::schema();
        world.insert_resource(snapshot::Replication::new(Replicator::new(schema.clone(), settings.tick_rate)));
        world.init_resource::<Despawned>();
        // Despawns are told to the snapshot stage here: removal messages of a bare World last
        // one step (see `step`), and the stage runs every few.
        world.register_component_hooks::<NetId>().on_remove(|mut world, context| {
            if let Some(id) = world.get::<NetId>(context.entity).map(|id| id.0) {
                world.resource_mut::<Despawned>().0.push(id);
            }
        });
        world.insert_resource(resources::GameSchema(schema));
        world.insert_resource(settings);
        world.insert_resource(Arena(map));
        world.init_resource::<Tick>();
        world.init_resource::<NetIds>();
        world.init_resource::<Roster>();
        world.init_resource::<Inbox>();
        world.init_resource::<Outbox>();
        world.init_resource::<Hits>();
        world.init_resource::<lag_comp::TargetHistory>();
        world.init_resource::<receive::Joins>();
        world.init_resource::<chat::ChatInbox>();
        world.init_resource::<Journal>();
        world.insert_resource(SnapshotsEnabled(true));
        world.init_resource::<snapshot::ScoreboardSync>();
        crowd::spawn_crowd(&mut world);

        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets(
            (
                SimSet::Receive,
                SimSet::ApplyInputs,
                SimSet::Movement,
                SimSet::Collisions,
                SimSet::Combat,
                SimSet::Respawn,
                SimSet::Snapshot,
            )
                .chain(),
        );
        schedule.add_systems((
            (receive::drain_inbox, receive::admit_players, chat::broadcast_chat).chain().in_set(SimSet::Receive),
            inputs::apply_inputs.in_set(SimSet::ApplyInputs),
            (movement::move_players, crowd::wander).chain().in_set(SimSet::Movement),
            (collisions::collide_players, lag_comp::record_targets, collisions::sweep_projectiles)
                .chain()
                .in_set(SimSet::Collisions),
            combat::apply_hits.in_set(SimSet::Combat),
            respawn::respawn.in_set(SimSet::Respawn),
            snapshot::send_snapshots.run_if(snapshot::snapshot_due).in_set(SimSet::Snapshot),
        ));
        Simulation { world, schedule }
    }

    /// Queues an event for the next step.
    pub fn push(&mut self, event: ToSim) {
        self.world.resource_mut::<Inbox>().0.push(event);
    }

    /// Runs one tick.
    pub fn step(&mut self) {
        if self.world.resource::<NetIds>().near_the_end() {
            let live: Vec<u32> = self.world.query::<&NetId>().iter(&self.world).map(|id| id.0).collect();
            self.world.insert_resource(NetIds::resume(0, live));
        }
        self.world.resource_mut::<Tick>().0 += 1;
        self.schedule.run(&mut self.world);
        if !self.world.resource::<SnapshotsEnabled>().0 || self.settings().snapshot_rate == 0 {
            // No frame is made, so none needs to know what left.
            self.world.resource_mut::<Despawned>().0.clear();
        }
        // A bare World never drops the removed-component messages a despawn writes (an App
        // does this every frame): without it every shot, NPC and player ever despawned stays
        // in memory. No system reads them or any change tick, so this changes no state.
        self.world.clear_trackers();
    }

    /// The sizes of the tables that follow clients and despawned entities (the bounded-memory
    /// tests assert they return to their baseline after joins and leaves).
    pub fn footprint(&mut self) -> Footprint {
        let roster = self.world.resource::<Roster>();
        let (pending, players, spectators) = (roster.pending.len(), roster.players.len(), roster.spectators.len());
        Footprint {
            pending,
            players,
            spectators,
            entities: self.world.query::<()>().iter(&self.world).count(),
            removed_component_messages: self
                .world
                .removed_components()
                .iter()
                .map(|(_, messages)| messages.len())
                .sum(),
            lag_comp_ticks: self.world.resource::<lag_comp::TargetHistory>().len(),
        }
    }
    /// Takes what the steps so far produced for the network.
    pub fn take_outbound(&mut self) -> Vec<ToNet> {
        std::mem::take(&mut self.world.resource_mut::<Outbox>().0)
    }

    /// Starts (or stops) journaling consumed events; see [`journal`].
    pub fn set_journal(&mut self, enabled: bool) {
        self.world.resource_mut::<Journal>().enabled = enabled;
    }

    /// Takes the journal entries of the steps since the last call.
    pub fn take_journal(&mut self) -> Vec<JournalEntry> {
        std::mem::take(&mut self.world.resource_mut::<Journal>().entries)
    }

    /// Turns the snapshot stage on or off (off: no snapshot is gathered or encoded). Turned
    /// back on, its first frame is made from the whole state.
    pub fn set_snapshots(&mut self, enabled: bool) {
        if enabled && !self.world.resource::<SnapshotsEnabled>().0 {
            self.world.resource_mut::<snapshot::Replication>().resync = true;
        }
        self.world.insert_resource(SnapshotsEnabled(enabled));
    }

    /// The digest of the whole state now; see [`checksum`].
    pub fn digest(&mut self) -> checksum::StateDigest {
        checksum::digest(&mut self.world)
    }

    /// The settings the world runs with.
    pub fn settings(&self) -> &SimSettings {
        self.world.resource::<SimSettings>()
    }

    /// How many more players may join (`max_players` less those joined).
    pub fn player_slots_free(&self) -> u32 {
        let joined = self.world.resource::<Roster>().players.len();
        u32::from(self.settings().max_players).saturating_sub(u32::try_from(joined).unwrap_or(u32::MAX))
    }

    /// The last completed tick (0 before the first step).
    pub fn tick(&self) -> u64 {
        self.world.resource::<Tick>().0
    }

    /// The replicated state and scoreboard as a snapshot would carry them now.
    pub fn state(&mut self) -> (Vec<EntityState>, Vec<ScoreEntry>) {
        snapshot::gather(&mut self.world)
    }

    /// The World, for inspection.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The World, for tests that set up a situation directly.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}
