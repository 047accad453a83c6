//! The simulation: a bevy_ecs `World` and `Schedule` stepped one fixed tick at a time.
//!
//! [`Simulation`] is driven from outside: push [`ToSim`] events, call [`Simulation::step`],
//! take the [`ToNet`] output. The runner (`crate::runner`) does this on its own thread against
//! the network; tests and tools do it in memory with no sockets and no clock
//! (`crate::harness`). Both live above this module and above `record`, whose recorder they
//! hand each step to: the simulation only journals, and knows no recorder.
//!
//! The World runs one [`Game`] (see [`game`]): the engine's systems (receive, inputs, chat,
//! snapshot) and the game's, in the [`Stage`]s of a tick.
//!
//! Determinism contract: systems read no wall clock (the [`Tick`] is the time), draw
//! randomness only from the seeded [`SimRng`] resource, iterate entities in `NetId` order
//! wherever order can matter, keep no hash-ordered state, and run single-threaded in the fixed
//! order of the [`Stage`]s.

pub mod checksum;
pub mod components;
pub mod game;
pub mod input_buffer;
pub mod journal;
pub mod resources;
pub mod rng;
pub mod saved;
pub mod stats;
pub mod systems;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use shared::{EntityState, MapData, ScoreEntry};

use crate::bridge::{ToNet, ToSim};
use components::{InputQueue, NetId, Position, Replicated, Velocity};
use game::{Game, GameError, Setup, Stage, TheGame};
use journal::{Journal, JournalEntry};
use resources::{
    Despawned, GameSchema, Inbox, NetIds, Outbox, Roster, Scoreboard, SimSettings, SnapshotsEnabled, Tick, WorldMap,
};
use rng::SimRng;
use saved::Saved;
use systems::{chat, inputs, receive, snapshot};

/// The version of the engine's part of a simulation's behaviour. Bump it with any change that
/// makes the same inputs produce a different world (the stages, input buffering, joins, the
/// RNG): recordings made by another version are refused rather than replayed into silent
/// divergence. A game versions its own rules in its settings.
pub const SIM_VERSION: u32 = 4;

/// The engine's steps within the stages, around the game's systems.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EngineSet {
    /// Before the game's input systems: each player's input for the tick.
    TakeInputs,
    /// After the game's output systems: the snapshot.
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
    /// Entities in the World.
    pub entities: usize,
    /// Removed-component messages the World holds (of the last two steps at most).
    pub removed_component_messages: usize,
}

/// Which game a simulation runs, as a recording's header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameId {
    /// [`Game::NAME`].
    pub name: &'static str,
    /// The game's settings, encoded with the protocol codec.
    pub settings: Vec<u8>,
}

/// A World and the Schedule that steps it.
pub struct Simulation {
    world: World,
    schedule: Schedule,
    game: GameId,
    input_check: game::InputCheck,
    view_radius: f32,
}

impl Simulation {
    /// A world running `game` at tick 0, with what the game's build spawns, on the game's own
    /// map if it has one ([`Game::map`]), else on `map`.
    pub fn new<G: Game>(game: G, settings: SimSettings, map: MapData) -> Result<Self, GameError> {
        let map = game.map().unwrap_or(map);
        let invalid = |why: String| GameError::Invalid { game: G::NAME, why };
        let schema = game.schema().map_err(|e| invalid(e.to_string()))?;
        if schema.game() != G::NAME {
            return Err(invalid(format!("its schema is named {:?}", schema.game())));
        }
        let Some(avatar) = schema.kinds().iter().position(|k| k.avatar) else {
            return Err(invalid("its schema has no avatar kind".into()));
        };
        game.check().map_err(|why| GameError::Settings { game: G::NAME, why })?;
        let id = GameId {
            name: G::NAME,
            settings: shared::codec::encode(&game).map_err(|e| invalid(format!("settings do not encode: {e}")))?,
        };
        let mut world = World::new();
        world.insert_resource(SimRng::new(settings.seed));
        world.init_resource::<snapshot::ChangeTracking>();
        world.init_resource::<Despawned>();
        // Despawns are told to the snapshot stage here: removal messages of a bare World last
        // one step (see `step`), and the stage runs every few.
        world.register_component_hooks::<NetId>().on_remove(|mut world, context| {
            if let Some(id) = world.get::<NetId>(context.entity).map(|id| id.0) {
                world.resource_mut::<Despawned>().0.push(id);
            }
        });
        world.insert_resource(GameSchema(schema));
        world.insert_resource(receive::AvatarKind(avatar as u8));
        world.insert_resource(settings);
        world.insert_resource(WorldMap(map));
        world.init_resource::<Tick>();
        world.init_resource::<NetIds>();
        world.init_resource::<Roster>();
        world.init_resource::<Inbox>();
        world.init_resource::<Outbox>();
        world.init_resource::<Scoreboard>();
        world.init_resource::<receive::Joins>();
        world.init_resource::<chat::ChatInbox>();
        world.init_resource::<Journal>();
        world.insert_resource(SnapshotsEnabled(true));
        world.init_resource::<snapshot::ScoreboardSync>();
        let mut saved = Saved::default();
        saved.component::<Replicated>();
        saved.component::<Position>();
        saved.component::<Velocity>();
        saved.component_hashed_as::<InputQueue<G::Input>>(inputs::digest_queue::<G::Input>);
        world.insert_resource(saved);

        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets(
            (Stage::Receive, EngineSet::TakeInputs, Stage::Input, Stage::Simulate, Stage::Output, EngineSet::Snapshot)
                .chain(),
        );
        schedule.add_systems((
            (receive::receive::<G>, chat::broadcast_chat).chain().in_set(Stage::Receive),
            inputs::take_inputs::<G::Input>.in_set(EngineSet::TakeInputs),
            snapshot::send_snapshots::<G::Input>.run_if(snapshot::snapshot_due).in_set(EngineSet::Snapshot),
        ));
        game.build(&mut Setup { world: &mut world, schedule: &mut schedule });
        world.insert_resource(TheGame(game));
        let view_radius = world.resource::<TheGame<G>>().0.view_radius();
        Ok(Simulation { world, schedule, game: id, input_check: game::input_check::<G::Input>, view_radius })
    }

    /// Which game it runs.
    pub fn game(&self) -> &GameId {
        &self.game
    }

    /// The game's default view radius ([`Game::view_radius`]).
    pub fn default_view_radius(&self) -> f32 {
        self.view_radius
    }

    /// The world's map.
    pub fn map(&self) -> &MapData {
        &self.world.resource::<WorldMap>().0
    }

    /// The check of the running game's inputs, for the network layer.
    pub fn input_check(&self) -> game::InputCheck {
        self.input_check
    }

    /// The running game's replicated schema.
    pub fn schema(&self) -> std::sync::Arc<shared::Schema> {
        self.world.resource::<GameSchema>().0.clone()
    }

    /// Entities per schema kind, in kind order (kinds with none left out).
    pub fn entities_per_kind(&mut self) -> Vec<(u8, usize)> {
        let mut counts = std::collections::BTreeMap::<u8, usize>::new();
        for replicated in self.world.query::<&Replicated>().iter(&self.world) {
            *counts.entry(replicated.kind).or_default() += 1;
        }
        counts.into_iter().collect()
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
            self.world.resource_mut::<snapshot::ChangeTracking>().resync = true;
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
        (snapshot::gather(&mut self.world), self.world.resource::<Scoreboard>().0.clone())
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
