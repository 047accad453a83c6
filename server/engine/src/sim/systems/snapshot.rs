//! Snapshot stage: at the snapshot rate, reports what changed in the replicated state to the
//! network side, whose [`Framer`](crate::bridge::Framer) makes the quantized frame (and keeps
//! the dead-reckoning models) on its own thread. The tick's cost is a walk of the change
//! ticks plus the changes: change detection names the entities whose fields or velocity
//! changed (sent whole) and those that only moved (sent as a position); an entity nothing
//! wrote costs a glance. It does not grow with the number of clients. The game's
//! [`Scoreboard`] goes out only when it changes.

use bevy_ecs::prelude::*;
use bevy_ecs::system::{SystemParam, SystemState};
use shared::snapshot::Changes;
use shared::{EntityState, GameInput, ScoreEntry, ServerMessage, codec};

use crate::bridge::{ChangeUpdate, ClientId, OutFrame, ToNet};
use crate::sim::components::{InputQueue, NetId, Position, Replicated, Velocity};
use crate::sim::resources::{Despawned, GameSchema, Outbox, Roster, Scoreboard, SimSettings, SnapshotsEnabled, Tick};

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

/// Every replicated entity that changed since the stage last ran, with its change ticks.
type Live = (&'static NetId, Ref<'static, Position>, Ref<'static, Velocity>, Ref<'static, Replicated>);
type LiveFilter = Or<(Changed<Position>, Changed<Velocity>, Changed<Replicated>)>;

/// What change detection saw change since the stage last ran, in storage order (the framer
/// sorts): whole states for entities new or with changed fields or velocity, positions for
/// those that only moved. `sizes` is the last report's, so the buffers are allocated once.
fn changed(live: &Query<Live, LiveFilter>, changes: &mut Changes, sizes: &mut (usize, usize)) {
    changes.states.reserve(sizes.0);
    changes.moves.reserve(sizes.1);
    for (id, pos, vel, replicated) in live.iter() {
        if replicated.is_changed() || vel.is_changed() {
            changes.states.push(state_of(id, &pos, &vel, &replicated));
        } else if pos.is_changed() {
            changes.moves.push((id.0, pos.0));
        }
    }
    *sizes = (changes.states.len(), changes.moves.len());
}

/// Whether the next report is the whole state: the first one, and the first after snapshots
/// were off or the world was restored, when no change was tracked.
#[derive(Resource, Debug)]
pub struct ChangeTracking {
    /// The next report is whole.
    pub resync: bool,
}

impl Default for ChangeTracking {
    fn default() -> Self {
        ChangeTracking { resync: true }
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
    tracking: ResMut<'w, ChangeTracking>,
    scoreboard: ResMut<'w, ScoreboardSync>,
    outbox: ResMut<'w, Outbox>,
    despawned: ResMut<'w, Despawned>,
}

/// Run condition of [`send_snapshots`]: snapshots are on and this is a snapshot tick.
pub fn snapshot_due(settings: Res<SimSettings>, enabled: Res<SnapshotsEnabled>, tick: Res<Tick>) -> bool {
    enabled.0 && is_snapshot_tick(tick.0, settings.tick_rate, settings.snapshot_rate)
}

/// Reports this tick's changes and, if anyone is subscribed, each player's last applied
/// input, and queues the scoreboard where due.
#[allow(clippy::too_many_arguments, reason = "one system: the stage's whole working set")]
pub fn send_snapshots<I: GameInput>(
    whole: Query<Whole>,
    live: Query<Live, LiveFilter>,
    mut sizes: Local<(usize, usize)>,
    queues: Query<&InputQueue<I>>,
    out: SnapshotOutput,
    scores: Res<Scoreboard>,
    roster: Res<Roster>,
    schema: Res<GameSchema>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    let SnapshotOutput { mut tracking, mut scoreboard, mut outbox, mut despawned } = out;
    let mut changes = Changes { tick: tick.0, whole: tracking.resync, ..Changes::default() };
    if tracking.resync {
        collect(&whole, &mut changes.states);
        tracking.resync = false;
    } else {
        changed(&live, &mut changes, &mut sizes);
        changes.removed = std::mem::take(&mut despawned.0);
    }
    despawned.0.clear();
    let subscribed = !(roster.players.is_empty() && roster.spectators.is_empty());
    let acks = if subscribed {
        scoreboard.sync(&scores.0, &mut outbox.0);
        roster
            .players
            .iter()
            .filter_map(|(&client, &entity)| queues.get(entity).ok().map(|q| (client, q.current.seq)))
            .filter(|(_, seq)| *seq > 0)
            .collect()
    } else {
        Vec::new()
    };
    let (schema, tick_rate) = (schema.0.clone(), settings.tick_rate);
    outbox.0.push(ToNet::Changes(ChangeUpdate { schema, tick_rate, changes, acks }));
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
