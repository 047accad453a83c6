//! Keyframes: the whole simulation state at one tick, copied aside in memory, so that a replay
//! can go back to it instead of re-simulating from tick 0 (see `record::replay`).
//!
//! A keyframe holds everything the simulation's future depends on: every entity's components
//! (`NetId`, `Position`, `Velocity`, and a player's `Player`, `Combatant` and `InputQueue` with
//! its jitter-buffer state, an NPC's `Npc`, a projectile's `Projectile`), and the resources
//! `Tick`, `SimRng`, `NetIds`, `Roster` and the lag-compensation `TargetHistory`, plus whether
//! the journal is on. Restoring it makes the same world: stepping on from a restored keyframe
//! gives the same digest at every tick as a straight run (tested in `tests/recordings.rs`).
//!
//! What it leaves out, and why that is exact:
//! - The stage buffers (`Inbox`, `Hits`, `Joins`, `ChatInbox`, `Outbox`, journal entries) are
//!   empty between two steps, where keyframes are taken; restoring empties them.
//! - Entities get new `Entity` handles: nothing hashes or orders by them (the determinism
//!   contract orders by `NetId`); the roster and the lag-compensation history, which hold
//!   handles, are rebuilt against the new ones. A past target whose player has left since is
//!   given a handle that is despawned at once, as the live world's was: it matches nothing.
//! - The snapshot stage's replication models and scoreboard memory are output state, not
//!   simulation state, and are left as they are: replays run with snapshots off, and a served
//!   replay restarts its own replication at every seek.
//!
//! `TargetHistory` exposes no setter, so it is rebuilt by running its own system,
//! `lag_comp::record_targets`, once per kept tick, with the players set where they were then.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::prelude::*;
use bevy_ecs::system::RunSystemOnce;
use glam::Vec2;

use crate::bridge::ClientId;
use crate::sim::Simulation;
use crate::sim::components::{Combatant, InputQueue, NetId, Npc, Player, Position, Projectile, Velocity};
use crate::sim::journal::Journal;
use crate::sim::lag_comp::{self, TargetHistory};
use crate::sim::resources::{Hits, Inbox, NetIds, Outbox, Roster, Tick};
use crate::sim::rng::SimRng;
use crate::sim::systems::chat::ChatInbox;
use crate::sim::systems::receive::Joins;

/// A player's components (boxed in [`EntityRecord`]: few entities are players).
#[derive(Debug, Clone)]
struct PlayerRecord {
    player: Player,
    combat: Combatant,
    queue: InputQueue,
}

/// One entity's components.
#[derive(Debug, Clone)]
struct EntityRecord {
    id: NetId,
    pos: Position,
    vel: Velocity,
    player: Option<Box<PlayerRecord>>,
    npc: Option<Npc>,
    shot: Option<Projectile>,
}

/// A past tick's living players as lag compensation keeps them: `(net id, client, position)`.
type PastTargets = (u64, Vec<(NetId, ClientId, Vec2)>);

/// The whole simulation state at one tick.
#[derive(Debug, Clone)]
pub struct Keyframe {
    tick: u64,
    rng: SimRng,
    last_id: u32,
    entities: Vec<EntityRecord>,
    pending: BTreeSet<ClientId>,
    players: Vec<(ClientId, NetId)>,
    spectators: BTreeMap<ClientId, String>,
    history: Vec<PastTargets>,
    journal: bool,
}

type Row<'a> = (
    Entity,
    &'a NetId,
    &'a Position,
    &'a Velocity,
    Option<&'a Player>,
    Option<&'a Combatant>,
    Option<&'a InputQueue>,
    Option<&'a Npc>,
    Option<&'a Projectile>,
);

impl Keyframe {
    /// Copies the state of `sim` now (between two steps).
    pub fn capture(sim: &mut Simulation) -> Keyframe {
        let world = sim.world_mut();
        let tick = world.resource::<Tick>().0;
        let mut ids_of = BTreeMap::new();
        let mut entities: Vec<EntityRecord> = world
            .query::<Row>()
            .iter(world)
            .map(|(entity, id, pos, vel, player, combat, queue, npc, shot)| {
                ids_of.insert(entity, *id);
                let player = match (player, combat, queue) {
                    (Some(player), Some(combat), Some(queue)) => {
                        Some(Box::new(PlayerRecord { player: player.clone(), combat: *combat, queue: queue.clone() }))
                    }
                    _ => None,
                };
                EntityRecord { id: *id, pos: *pos, vel: *vel, player, npc: npc.copied(), shot: shot.copied() }
            })
            .collect();
        entities.sort_unstable_by_key(|e| e.id);
        let roster = world.resource::<Roster>();
        let players = roster.players.iter().filter_map(|(client, e)| Some((*client, *ids_of.get(e)?))).collect();
        let history = world.resource::<TargetHistory>();
        // Newest first: the targets 0, 1, 2… ticks back, as long as they are kept.
        let mut past: Vec<PastTargets> = (0..=tick)
            .map_while(|back| {
                let targets = history.at(tick, u32::try_from(back).ok()?)?;
                Some((tick - back, targets.iter().map(|t| (t.id, t.client, t.pos)).collect()))
            })
            .collect();
        past.reverse();
        Keyframe {
            tick,
            rng: world.resource::<SimRng>().clone(),
            last_id: world.resource::<NetIds>().last(),
            entities,
            pending: roster.pending.clone(),
            players,
            spectators: roster.spectators.clone(),
            history: past,
            journal: world.resource::<Journal>().enabled,
        }
    }

    /// The tick it was taken at.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Roughly the memory it holds, in bytes (entities dominate; a player's extras are few).
    pub fn approx_bytes(&self) -> usize {
        let players = self.entities.iter().filter(|e| e.player.is_some()).count();
        std::mem::size_of::<Keyframe>()
            + self.entities.len() * std::mem::size_of::<EntityRecord>()
            + players * (std::mem::size_of::<PlayerRecord>() + 64)
            + self.history.iter().map(|(_, t)| 32 + t.len() * 16).sum::<usize>()
    }

    /// Puts `sim` back in this state.
    pub fn restore(&self, sim: &mut Simulation) {
        let world = sim.world_mut();
        let old: Vec<Entity> = world.query_filtered::<Entity, With<NetId>>().iter(world).collect();
        for entity in old {
            world.despawn(entity);
        }
        let mut handles = BTreeMap::new();
        for e in &self.entities {
            let mut spawned = world.spawn((e.id, e.pos, e.vel));
            if let Some(p) = &e.player {
                spawned.insert((p.player.clone(), p.combat, p.queue.clone()));
            }
            if let Some(npc) = e.npc {
                spawned.insert(npc);
            }
            if let Some(shot) = e.shot {
                spawned.insert(shot);
            }
            handles.insert(e.id, spawned.id());
        }
        world.insert_resource(self.rng.clone());
        world.insert_resource(NetIds::resume(self.last_id, handles.keys().map(|id: &NetId| id.0)));
        world.insert_resource(Roster {
            pending: self.pending.clone(),
            players: self.players.iter().filter_map(|(client, id)| Some((*client, *handles.get(id)?))).collect(),
            spectators: self.spectators.clone(),
        });
        world.resource_mut::<Inbox>().0.clear();
        world.resource_mut::<Outbox>().0.clear();
        world.resource_mut::<Hits>().0.clear();
        world.resource_mut::<Joins>().0.clear();
        world.resource_mut::<ChatInbox>().0.clear();
        let mut journal = world.resource_mut::<Journal>();
        journal.entries.clear();
        journal.enabled = self.journal;
        self.rebuild_history(world, &handles);
        world.insert_resource(Tick(self.tick));
    }

    /// Rebuilds lag compensation's history by running its system at each kept tick, with the
    /// players where they were then, then puts the players back as they are now.
    fn rebuild_history(&self, world: &mut World, handles: &BTreeMap<NetId, Entity>) {
        world.insert_resource(TargetHistory::default());
        let players: Vec<(NetId, Entity)> = self
            .entities
            .iter()
            .filter(|e| e.player.is_some())
            .filter_map(|e| Some((e.id, *handles.get(&e.id)?)))
            .collect();
        for (tick, targets) in &self.history {
            let mut departed = Vec::new();
            for &(id, entity) in &players {
                let then = targets.iter().find(|t| t.0 == id);
                if let Some(&(_, _, pos)) = then {
                    world.entity_mut(entity).insert(Position(pos));
                }
                if let Some(mut combat) = world.get_mut::<Combatant>(entity) {
                    combat.respawn_at = if then.is_some() { None } else { Some(u64::MAX) };
                }
            }
            for &(id, client, pos) in targets.iter().filter(|t| !handles.contains_key(&t.0)) {
                let player = Player { client, name: String::new(), kills: 0, deaths: 0 };
                let combat = Combatant { health: 0, aim: 0.0, cooldown: 0, respawn_at: None };
                departed.push(world.spawn((id, Position(pos), player, combat)).id());
            }
            world.insert_resource(Tick(*tick));
            if let Err(e) = world.run_system_once(lag_comp::record_targets) {
                tracing::error!("cannot rebuild the lag-compensation history: {e}");
            }
            for entity in departed {
                world.despawn(entity);
            }
        }
        for e in self.entities.iter().filter(|e| e.player.is_some()) {
            let (Some(p), Some(&entity)) = (&e.player, handles.get(&e.id)) else { continue };
            world.entity_mut(entity).insert((e.pos, p.combat));
        }
    }
}
