//! Snapshot stage: at the snapshot rate, turns the world into one quantized `Frame` (the
//! dead-reckoning models live in [`Replication`]) and hands it to the network side, which
//! encodes each client's delta. The tick's cost does not grow with the number of clients, nor
//! with the entities at rest or moving as their model says: change detection names the
//! entities whose state changed, each entity's [`Replica`] says whether its model moves, and
//! only the records that change are rebuilt (the frame shares the rest with the one before).
//! The scoreboard goes out only when it changes.

use bevy_ecs::prelude::*;
use bevy_ecs::system::{SystemParam, SystemState};
use shared::schema::Encoding;
use shared::snapshot::{EntityRecord, Model, Replicator};
use shared::{EntityKind, EntityState, ScoreEntry, ServerMessage, arena, codec};

use crate::bridge::{ClientId, OutFrame, StateUpdate, ToNet};
use crate::sim::components::{Combatant, InputQueue, NetId, Npc, Player, Position, Projectile, Replica, Velocity};
use crate::sim::resources::{Despawned, Outbox, Roster, SimSettings, SnapshotsEnabled, Tick};

/// Whether `tick` is one at which a snapshot goes out: `snapshot_rate` of every `tick_rate`
/// ticks, evenly spread (every 3rd at 60/20).
pub fn is_snapshot_tick(tick: u64, tick_rate: u16, snapshot_rate: u16) -> bool {
    let (t, s) = (u64::from(tick_rate.max(1)), u64::from(snapshot_rate));
    tick > 0 && (tick * s) / t != ((tick - 1) * s) / t
}

/// The replicated state of the world, in increasing id, and the scoreboard in client order.
/// Also used by tests and tools that inspect the world.
pub fn gather(world: &mut World) -> (Vec<EntityState>, Vec<ScoreEntry>) {
    let mut entities = Vec::new();
    let mut scores = Vec::new();
    let mut state = SystemState::<GatherParams>::new(world);
    // Read-only queries over plain components cannot fail validation.
    if let Ok(params) = state.get(world) {
        collect(&params, &mut entities, &mut scores);
    }
    (entities, scores)
}

type GatherParams<'w, 's> = (
    Query<'w, 's, (&'static NetId, &'static Position, &'static Velocity, &'static Player, &'static Combatant)>,
    Query<'w, 's, (&'static NetId, &'static Position, &'static Velocity), With<Npc>>,
    Query<'w, 's, (&'static NetId, &'static Position, &'static Velocity, &'static Projectile)>,
);

fn collect(params: &GatherParams, entities: &mut Vec<EntityState>, scores: &mut Vec<ScoreEntry>) {
    let (players, npcs, projectiles) = params;
    entities.clear();
    scores.clear();
    for (id, pos, vel, player, combat) in players {
        entities.push(player_state(id, pos, vel, player, combat));
        scores.push(ScoreEntry {
            client: player.client.0,
            name: player.name.clone(),
            kills: player.kills,
            deaths: player.deaths,
        });
    }
    for (id, pos, vel) in npcs {
        entities.push(EntityState { pos: pos.0, vel: vel.0, ..EntityState::new(id.0, EntityKind::Npc.index()) });
    }
    for (id, pos, vel, shot) in projectiles {
        entities.push(EntityState {
            owner: shot.shooter.0,
            pos: pos.0,
            vel: vel.0,
            ..EntityState::new(id.0, EntityKind::Projectile.index())
        });
    }
    // Each query yields sorted runs (ids follow spawn order): a stable sort merges them in
    // linear time where an unstable one would sort the world from scratch.
    entities.sort_by_key(|e| e.id);
    scores.sort_unstable_by_key(|s| s.client);
}

fn player_state(id: &NetId, pos: &Position, vel: &Velocity, player: &Player, combat: &Combatant) -> EntityState {
    let mut state = EntityState {
        owner: player.client.0,
        pos: pos.0,
        vel: vel.0,
        ..EntityState::new(id.0, EntityKind::Player.index())
    };
    state.values[arena::HEALTH] = combat.health.into();
    state.values[arena::AIM] = Encoding::Angle { steps: arena::AIM_STEPS }.quantize(combat.aim);
    state
}

/// The entities with their change ticks and models, by kind (disjoint by their filters).
type LiveParams<'w, 's> = (
    Query<
        'w,
        's,
        (
            &'static NetId,
            Ref<'static, Position>,
            Ref<'static, Velocity>,
            Ref<'static, Player>,
            Ref<'static, Combatant>,
            &'static mut Replica,
        ),
        (Without<Npc>, Without<Projectile>),
    >,
    Query<
        'w,
        's,
        (&'static NetId, Ref<'static, Position>, Ref<'static, Velocity>, &'static mut Replica),
        (With<Npc>, Without<Player>, Without<Projectile>),
    >,
    Query<
        'w,
        's,
        (
            &'static NetId,
            Ref<'static, Position>,
            Ref<'static, Velocity>,
            Ref<'static, Projectile>,
            &'static mut Replica,
        ),
        (Without<Player>, Without<Npc>),
    >,
);

/// One entity's part of the next frame: nothing when its record holds (its state unchanged
/// and at rest, or moving as its model says); else its record, remodelled from `state`, if
/// that differs from the last one.
struct Remodel<'a> {
    replicator: &'a Replicator,
    tick: u64,
    upserts: Vec<EntityRecord>,
}

impl Remodel<'_> {
    fn entity(
        &mut self,
        replica: &mut Replica,
        pos: &Ref<Position>,
        vel: &Ref<Velocity>,
        fields_changed: bool,
        state: impl FnOnce() -> EntityState,
    ) {
        if let Some(model) = &replica.0 {
            let changed = fields_changed || pos.is_changed() || vel.is_changed();
            if !changed && !model.moving() {
                return;
            }
            if !fields_changed && self.replicator.keeps(model, pos.0, vel.0, self.tick) {
                return;
            }
        }
        if let Some(record) = self.replicator.remodel(&state(), self.tick) {
            replica.0 = Some(Model::of(&record));
            self.upserts.push(record);
        }
    }
}

/// The records that change in the next frame, found through change detection.
fn remodel(live: &mut LiveParams, replicator: &Replicator, tick: u64) -> Vec<EntityRecord> {
    let (players, npcs, projectiles) = live;
    let mut work = Remodel { replicator, tick, upserts: Vec::new() };
    for (id, pos, vel, player, combat, mut replica) in players.iter_mut() {
        let fields = player.is_changed() || combat.is_changed();
        work.entity(&mut replica, &pos, &vel, fields, || player_state(id, &pos, &vel, &player, &combat));
    }
    for (id, pos, vel, mut replica) in npcs.iter_mut() {
        work.entity(&mut replica, &pos, &vel, false, || EntityState {
            pos: pos.0,
            vel: vel.0,
            ..EntityState::new(id.0, EntityKind::Npc.index())
        });
    }
    for (id, pos, vel, shot, mut replica) in projectiles.iter_mut() {
        work.entity(&mut replica, &pos, &vel, shot.is_changed(), || EntityState {
            owner: shot.shooter.0,
            pos: pos.0,
            vel: vel.0,
            ..EntityState::new(id.0, EntityKind::Projectile.index())
        });
    }
    work.upserts
}

/// Every entity's model set from `frame` (after a frame made from the whole state).
fn reset_models(live: &mut LiveParams, frame: &shared::snapshot::Frame) {
    let model = |id: &NetId| frame.entities.find(id.0).map(Model::of);
    let (players, npcs, projectiles) = live;
    players.iter_mut().for_each(|(id, .., mut replica)| replica.0 = model(id));
    npcs.iter_mut().for_each(|(id, .., mut replica)| replica.0 = model(id));
    projectiles.iter_mut().for_each(|(id, .., mut replica)| replica.0 = model(id));
}

fn scores_of(players: &Query<(&NetId, &Position, &Velocity, &Player, &Combatant)>, scores: &mut Vec<ScoreEntry>) {
    scores.clear();
    scores.extend(players.iter().map(|(.., player, _)| ScoreEntry {
        client: player.client.0,
        name: player.name.clone(),
        kills: player.kills,
        deaths: player.deaths,
    }));
    scores.sort_unstable_by_key(|s| s.client);
}

/// Buffers reused across snapshots, so a steady state allocates only the encoded bytes.
#[derive(Default)]
pub struct SnapshotScratch {
    entities: Vec<EntityState>,
    scores: Vec<ScoreEntry>,
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
pub fn send_snapshots(
    params: GatherParams,
    mut live: LiveParams,
    queues: Query<&InputQueue>,
    mut scratch: Local<SnapshotScratch>,
    out: SnapshotOutput,
    roster: Res<Roster>,
    tick: Res<Tick>,
) {
    let SnapshotOutput { mut replication, mut scoreboard, mut outbox, mut despawned } = out;
    let SnapshotScratch { entities, scores } = &mut *scratch;
    let replication = &mut *replication;
    let frame = if replication.resync {
        collect(&params, entities, scores);
        let frame = replication.replicator.update(tick.0, entities);
        reset_models(&mut live, &frame);
        replication.resync = false;
        frame
    } else {
        scores_of(&params.0, scores);
        let upserts = remodel(&mut live, &replication.replicator, tick.0);
        replication.replicator.commit(tick.0, upserts, &despawned.0)
    };
    despawned.0.clear();
    if roster.players.is_empty() && roster.spectators.is_empty() {
        return;
    }
    scoreboard.sync(scores, &mut outbox.0);
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
