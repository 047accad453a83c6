//! The game API: what a game declares, and the one place the engine takes it in.
//!
//! A game is one type implementing [`Game`]: its settings (the type's value, recorded in every
//! recording's header), its replicated [`Schema`], its [`GameInput`], and hooks the engine
//! calls: [`Game::build`] once, to add resources, the first entities and systems to the
//! [`Stage`]s of a tick; [`Game::join`], [`Game::leave`] and [`Game::spectate`] as clients come
//! and go. Everything else is the engine's: the fixed tick, the network, input buffering,
//! replication from the schema, interest, recording, replay, checksums and keyframes (from
//! what the game [`Setup::save`]s), metrics and the admin page.
//!
//! The determinism contract holds for every game: its systems read no wall clock (the
//! [`Tick`](super::resources::Tick) is the time), draw randomness only from the World's
//! [`SimRng`](super::rng::SimRng), and iterate entities in [`NetId`] order wherever the order
//! can change the outcome.

use std::fmt;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleConfigs;
use bevy_ecs::system::ScheduleSystem;
use glam::Vec2;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::schema::SchemaError;
use shared::{GameInput, MapData, Schema};

use super::Simulation;
use super::components::{NetId, Position, Replicated, Velocity};
use super::resources::{NetIds, SimSettings};
use super::rng::SimRng;
use super::saved::Saved;
use crate::bridge::ClientId;

/// The stages of a tick, run in this order. The engine's own work comes first in
/// [`Stage::Receive`] and [`Stage::Input`] (the inbox, joins and leaves; each player's input for
/// the tick, taken from its buffer) and last in [`Stage::Output`] (the snapshot).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Events from the network: connections, joins, leaves, inputs queued, chat.
    Receive,
    /// Each player's input for this tick is in its [`InputQueue`](super::components::InputQueue)'s
    /// `current`; the game acts on it.
    Input,
    /// The game's rules.
    Simulate,
    /// The game writes what it shows: [`Replicated`] fields and the
    /// [`Scoreboard`](super::resources::Scoreboard). The snapshot follows.
    Output,
}

/// A client joining the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joining {
    /// Its connection (the `owner` of what it owns).
    pub client: ClientId,
    /// Its display name, trimmed.
    pub name: String,
}

/// A game: one type whose value is its settings.
pub trait Game: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// Its name: its schema's, its web client module's (`web-client/src/games/NAME.js`), and
    /// what `--game` and recordings call it.
    const NAME: &'static str;

    /// One tick of a player's input.
    type Input: GameInput;

    /// The replicated schema (its kinds, fields and encodings: `shared::schema`). It must have
    /// an avatar kind: a player's entity. Called once, when a simulation is made; a schema that
    /// does not check out stops the game from starting.
    fn schema(&self) -> Result<Arc<Schema>, SchemaError>;

    /// Checks the settings (a recording's header carries them, so they may come from a file).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// The game's own world, if it has one (blobs: a 4000 × 4000 square); else the server's
    /// `--map` (or the default arena map) is the world.
    fn map(&self) -> Option<MapData> {
        None
    }

    /// The default `--view-radius` (0: every client is sent everything): a large world wants
    /// one.
    fn view_radius(&self) -> f32 {
        0.0
    }

    /// How many entities [`Game::build`] spawns: a recording whose header asks for many must
    /// back them with a checksum that lists them (hostile files are refused before they cost
    /// that memory).
    fn spawns_at_start(&self) -> u64 {
        0
    }

    /// Sets the world up: resources, the first entities, the systems of each stage, and what of
    /// the state is saved.
    fn build(&self, setup: &mut Setup);

    /// A player joins: `player` is its entity, spawned by the engine with a [`NetId`], a
    /// [`Replicated`] of the avatar kind owned by the client, a [`Position`] at the origin, a
    /// [`Velocity`] of zero and an input queue. The game adds its components and places it.
    fn join(&self, world: &mut World, player: Entity, who: &Joining);

    /// A player leaves (its client is gone). By default its entity is despawned.
    fn leave(&self, world: &mut World, player: Entity) {
        world.despawn(player);
    }

    /// A spectator joins (it owns nothing and sends no input). Nothing by default.
    fn spectate(&self, world: &mut World, who: &Joining) {
        let _ = (world, who);
    }
}

/// Checks a game's encoded input (the network layer's half of `GameInput::decode`, so that a
/// bad input is refused with a close code before it crosses the bridge).
pub type InputCheck = fn(&[u8]) -> Result<(), &'static str>;

/// The [`InputCheck`] of game input `I`.
pub fn input_check<I: GameInput>(data: &[u8]) -> Result<(), &'static str> {
    I::decode(data).map(drop)
}

/// The game, held in the World for the engine's hooks.
#[derive(Resource)]
pub(crate) struct TheGame<G: Game>(pub G);

/// What [`Game::build`] gets: the World, and where systems and saved state go.
pub struct Setup<'a> {
    pub(crate) world: &'a mut World,
    pub(crate) schedule: &'a mut Schedule,
}

impl Setup<'_> {
    /// The World, to insert resources and spawn the first entities.
    pub fn world(&mut self) -> &mut World {
        self.world
    }

    /// Adds `systems` to `stage`.
    pub fn add_systems<M>(&mut self, stage: Stage, systems: impl IntoScheduleConfigs<ScheduleSystem, M>) -> &mut Self {
        let configs: ScheduleConfigs<ScheduleSystem> = systems.into_configs();
        self.schedule.add_systems(configs.in_set(stage));
        self
    }

    /// Saves component `C`: state digests hash it and keyframes copy it. Every component that
    /// the game's future depends on must be saved (it must name entities by [`NetId`], not by
    /// `Entity`).
    pub fn save<C: Component + Serialize + DeserializeOwned>(&mut self) -> &mut Self {
        self.world.resource_mut::<Saved>().component::<C>();
        self
    }

    /// Saves resource `R`, as [`Setup::save`] does a component.
    pub fn save_resource<R: Resource + Serialize + DeserializeOwned>(&mut self) -> &mut Self {
        self.world.resource_mut::<Saved>().resource::<R>();
        self
    }

    /// Spawns an entity replicated as `replicated` at `pos`, moving at `vel`, with a fresh
    /// [`NetId`].
    pub fn spawn(&mut self, replicated: Replicated, pos: Vec2, vel: Vec2) -> EntityWorldMut<'_> {
        spawn(self.world, replicated, pos, vel)
    }
}

/// Spawns an entity replicated as `replicated` at `pos`, moving at `vel`, with a fresh
/// [`NetId`].
pub fn spawn(world: &mut World, replicated: Replicated, pos: Vec2, vel: Vec2) -> EntityWorldMut<'_> {
    let id = world.resource_mut::<NetIds>().allocate();
    world.spawn((NetId(id), replicated, Position(pos), Velocity(vel)))
}

/// A uniformly chosen spawn point of `spawns` (the origin if there is none), drawn from the
/// World's generator.
pub fn pick_spawn(rng: &mut SimRng, spawns: &[Vec2]) -> Vec2 {
    let count = u32::try_from(spawns.len()).unwrap_or(u32::MAX).max(1);
    spawns.get(rng.below(count) as usize).copied().unwrap_or(Vec2::ZERO)
}

/// Why a game could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
    /// No game of that name is known.
    #[error("no game named {0:?} (known: {1})")]
    Unknown(String, String),
    /// The settings do not decode, or fail the game's check.
    #[error("bad {game} settings: {why}")]
    Settings {
        /// The game.
        game: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The game's schema cannot run on the engine.
    #[error("the {game} game cannot run: {why}")]
    Invalid {
        /// The game.
        game: &'static str,
        /// What is wrong.
        why: String,
    },
}

type Make = fn(&[u8], SimSettings, MapData) -> Result<Simulation, GameError>;
type Inspect = fn(&[u8]) -> Result<u64, GameError>;

/// The games a process can run, by name: what `--game` chooses from and what a recording's
/// header is replayed with. Built at the top (the server binary, tests), so that the layers
/// that replay know no game.
#[derive(Clone, Default)]
pub struct Catalog {
    games: Vec<(&'static str, Make, Inspect)>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

fn settings_of<G: Game>(bytes: &[u8]) -> Result<G, GameError> {
    let game: G =
        shared::codec::decode(bytes).map_err(|e| GameError::Settings { game: G::NAME, why: e.to_string() })?;
    game.check().map_err(|why| GameError::Settings { game: G::NAME, why })?;
    Ok(game)
}

fn make<G: Game>(bytes: &[u8], settings: SimSettings, map: MapData) -> Result<Simulation, GameError> {
    Simulation::new(settings_of::<G>(bytes)?, settings, map)
}

fn inspect<G: Game>(bytes: &[u8]) -> Result<u64, GameError> {
    Ok(settings_of::<G>(bytes)?.spawns_at_start())
}

impl Catalog {
    /// This catalog with `G` in it.
    pub fn with<G: Game>(mut self) -> Self {
        self.games.retain(|(name, ..)| *name != G::NAME);
        self.games.push((G::NAME, make::<G>, inspect::<G>));
        self
    }

    /// The names of its games, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.games.iter().map(|(name, ..)| *name)
    }

    fn find(&self, name: &str) -> Result<&(&'static str, Make, Inspect), GameError> {
        self.games
            .iter()
            .find(|(n, ..)| *n == name)
            .ok_or_else(|| GameError::Unknown(name.to_owned(), self.names().collect::<Vec<_>>().join(", ")))
    }

    /// A simulation of game `name` with its encoded `game_settings`.
    pub fn make(
        &self,
        name: &str,
        game_settings: &[u8],
        settings: SimSettings,
        map: MapData,
    ) -> Result<Simulation, GameError> {
        (self.find(name)?.1)(game_settings, settings, map)
    }

    /// Checks game `name`'s encoded settings without building anything; returns how many
    /// entities it spawns at start.
    pub fn inspect(&self, name: &str, game_settings: &[u8]) -> Result<u64, GameError> {
        (self.find(name)?.2)(game_settings)
    }
}
