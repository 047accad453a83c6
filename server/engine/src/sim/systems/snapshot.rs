//! Snapshot stage: at the snapshot rate, turns the world into one quantized `Frame` (the
//! dead-reckoning models live in [`Replication`]) and hands it to the network side, which
//! encodes each client's delta. The tick's cost does not grow with the number of clients, nor
//! with the entities at rest or moving as their model says: change detection names the
//! entities whose state changed, each entity's [`Replica`] says whether its model moves, and
//! only the records that change are rebuilt (the frame shares the rest with the one before).
//! The game's [`Scoreboard`] goes out only when it changes.

use bevy_ecs::prelude::*;
use bevy_ecs::system::{SystemParam, SystemState};
use shared::snapshot::{EntityRecord, Model, Replicator};
use shared::{EntityState, GameInput, ScoreEntry, ServerMessage, codec};

use crate::bridge::{ClientId, OutFrame, StateUpdate, ToNet};
use crate::sim::components::{InputQueue, NetId, Position, Replica, Replicated, Velocity};
use crate::sim::resources::{Despawned, Outbox, Roster, Scoreboard, SimSettings, SnapshotsEnabled, Tick};

/// Whether `tick` is one at which a snapshot goes out: `snapshot_rate` of every `tick_rate`
/// ticks, evenly spread (every 3rd at 60/20).
pub fn is_snapshot_tick(tick: u64, tick_rate: u16, snapshot_rate: u16) -> bool {
    let (t, s) = (u64::from(tick_rate.max(1)), u64::from(snapshot_rate));
    tick > 0 && (tick * s) / t != ((tick - 1) * s) / t
}

/// The replicated state of the world, in increasing id. Also used by tests and tools that
/// inspect the world.
pub fn gather(world: &mut World) -> Vec<EntityState> {
    let mut entities = Vec::new();
    let mut state = SystemState::<Query<Whole>>::new(world);
    // A read-only query over plain components cannot fail validation.
    if let Ok(query) = state.get(world) {
        collect(&query, &mut entities);
    }
    entities
}

/// What a record is made of.
type Whole = (&'static NetId, &'static Position, &'static Velocity, &'static Replicated);

fn state_of(id: &NetId, pos: &Position, vel: &Velocity, replicated: &Replicated) -> EntityState {
    EntityState {
        id: id.0,
        kind: replicated.kind,
        owner: replicated.owner,
        pos: pos.0,
        vel: vel.0,
        values: replicated.values,
        text: replicated.text.clone(),
    }
}

fn collect(query: &Query<Whole>, entities: &mut Vec<EntityState>) {
    entities.clear();
    entities.extend(query.iter().map(|(id, pos, vel, replicated)| state_of(id, pos, vel, replicated)));
    // Storage order is runs sorted by id (ids follow spawn order within an archetype): a
    // stable sort merges them in linear time where an unstable one would sort from scratch.
    entities.sort_by_key(|e| e.id);
}

/// Every replicated entity with its change ticks and model.
type Live =
    (&'static NetId, Ref<'static, Position>, Ref<'static, Velocity>, Ref<'static, Replicated>, &'static mut Replica);

/// The records that change in the next frame, found through change detection: nothing for an
/// entity whose record holds (its state unchanged and at rest, or moving as its model says);
/// else its record, remodelled from its state, if that differs from the last one.
fn remodel(live: &mut Query<Live>, replicator: &Replicator, tick: u64) -> Vec<EntityRecord> {
    let mut upserts = Vec::new();
    for (id, pos, vel, replicated, mut replica) in live.iter_mut() {
        let fields_changed = replicated.is_changed();
        if let Some(model) = &replica.0 {
            let changed = fields_changed || pos.is_changed() || vel.is_changed();
            if !changed && !model.moving() {
                continue;
            }
            if !fields_changed && replicator.keeps(model, pos.0, vel.0, tick) {
                continue;
            }
        }
        if let Some(record) = replicator.remodel(&state_of(id, &pos, &vel, &replicated), tick) {
            replica.0 = Some(Model::of(&record));
            upserts.push(record);
        }
    }
    upserts
}

/// Every entity's model set from `frame` (after a frame made from the whole state).
fn reset_models(live: &mut Query<Live>, frame: &shared::snapshot::Frame) {
    for (id, .., mut replica) in live.iter_mut() {
        replica.0 = frame.entities.find(id.0).map(Model::of);
    }
}

/// Buffers reused across snapshots, so a steady state allocates only the encoded bytes.
#[derive(Default)]
pub struct SnapshotScratch {
    entities: Vec<EntityState>,
}

/// The replication models. They advance at every snapshot tick, whoever is connected, so
/// the frames of a run depend on its inputs alone (a replay reproduces them).
#[derive(Resource, Debug)]
pub struct Replication {
    /// The models and the last frame's records.
    pub replicator: Replicator,
    /// The next frame is made from the whole state (the first one, and the first after
    /// snapshots were off, when no change was tracked).
    pub resync: bool,
}

impl Replication {
    /// Models for `replicator`'s schema; the first frame is made from the whole state.
    pub fn new(replicator: Replicator) -> Self {
        Replication { replicator, resync: true }
    }
}

/// The scoreboard as last broadcast, and who joined since and has not been sent it.
#[derive(Resource, Debug, Default)]
pub struct ScoreboardSync {
    sent: Option<Vec<ScoreEntry>>,
    /// Clients welcomed since the last snapshot tick.
    pub newcomers: Vec<ClientId>,
}

impl ScoreboardSync {
    /// Queues the scoreboard where it is due: to every subscriber if it changed since it was
    /// last sent, else to the newcomers alone.
    pub fn sync(&mut self, scores: &[ScoreEntry], out: &mut Vec<ToNet>) {
        let newcomers = std::mem::take(&mut self.newcomers);
        let changed = self.sent.as_deref() != Some(scores);
        if !changed && newcomers.is_empty() {
            return;
        }
        let bytes = match codec::encode(&ServerMessage::Scoreboard(scores.to_vec())) {
            Ok(bytes) => bytes::Bytes::from(bytes),
            Err(e) => {
                tracing::error!("cannot encode the scoreboard: {e}");
                return;
            }
        };
        if changed {
            self.sent = Some(scores.to_vec());
            out.push(ToNet::Broadcast { frame: OutFrame::reliable(bytes) });
        } else {
            for client in newcomers {
                out.push(ToNet::Send { client, frame: OutFrame::reliable(bytes.clone()) });
            }
        }
    }
}

/// What the snapshot stage writes.
#[derive(SystemParam)]
pub struct SnapshotOutput<'w> {
    replication: ResMut<'w, Replication>,
    scoreboard: ResMut<'w, ScoreboardSync>,
    outbox: ResMut<'w, Outbox>,
    despawned: ResMut<'w, Despawned>,
}

/// Run condition of [`send_snapshots`]: snapshots are on and this is a snapshot tick.
pub fn snapshot_due(settings: Res<SimSettings>, enabled: Res<SnapshotsEnabled>, tick: Res<Tick>) -> bool {
    enabled.0 && is_snapshot_tick(tick.0, settings.tick_rate, settings.snapshot_rate)
}

/// Makes this tick's frame and, if anyone is subscribed, queues it with each player's last
/// applied input, and the scoreboard where due.
#[allow(clippy::too_many_arguments, reason = "one system: the stage's whole working set")]
pub fn send_snapshots<I: GameInput>(
    whole: Query<Whole>,
    mut live: Query<Live>,
    queues: Query<&InputQueue<I>>,
    mut scratch: Local<SnapshotScratch>,
    out: SnapshotOutput,
    scores: Res<Scoreboard>,
    roster: Res<Roster>,
    tick: Res<Tick>,
) {
    let SnapshotOutput { mut replication, mut scoreboard, mut outbox, mut despawned } = out;
    let entities = &mut scratch.entities;
    let replication = &mut *replication;
    let frame = if replication.resync {
        collect(&whole, entities);
        let frame = replication.replicator.update(tick.0, entities);
        reset_models(&mut live, &frame);
        replication.resync = false;
        frame
    } else {
        let upserts = remodel(&mut live, &replication.replicator, tick.0);
        replication.replicator.commit(tick.0, upserts, &despawned.0)
    };
    despawned.0.clear();
    if roster.players.is_empty() && roster.spectators.is_empty() {
        return;
    }
    scoreboard.sync(&scores.0, &mut outbox.0);
    let acks = roster
        .players
        .iter()
        .filter_map(|(&client, &entity)| queues.get(entity).ok().map(|q| (client, q.current.seq)))
        .filter(|(_, seq)| *seq > 0)
        .collect();
    outbox.0.push(ToNet::State(StateUpdate { frame, only: None, acks }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ticks_are_evenly_spread() {
        let at = |rate, snap| (1..=60u64).filter(|t| is_snapshot_tick(*t, rate, snap)).collect::<Vec<_>>();
        assert_eq!(at(60, 20), (1..=20).map(|k| k * 3).collect::<Vec<_>>());
        assert_eq!(at(60, 60), (1..=60).collect::<Vec<_>>());
        assert_eq!(at(60, 0), Vec::<u64>::new());
        assert_eq!(at(30, 20).len(), 40, "2 seconds at 30 Hz give 40 snapshots at 20 Hz");
    }
}
