//! Snapshot stage: at the snapshot rate, gathers every entity's state in `NetId` order,
//! encodes it once, and queues one frame per player (shared body, per-client head).

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemState;
use bytes::Bytes;
use shared::{EntityKind, EntityState, ScoreEntry, codec};

use crate::bridge::{ClientId, Delivery, OutFrame, StateSlot, ToNet};
use crate::sim::components::{Combatant, InputQueue, NetId, Npc, Player, Position, Projectile, Velocity};
use crate::sim::resources::{Outbox, Roster, SimSettings, SnapshotsEnabled, Tick};

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
        entities.push(EntityState {
            id: id.0,
            kind: EntityKind::Player,
            pos: pos.0,
            vel: vel.0,
            aim: combat.aim,
            health: combat.health,
            owner: player.client.0,
        });
        scores.push(ScoreEntry {
            client: player.client.0,
            name: player.name.clone(),
            kills: player.kills,
            deaths: player.deaths,
        });
    }
    for (id, pos, vel) in npcs {
        entities.push(EntityState {
            id: id.0,
            kind: EntityKind::Npc,
            pos: pos.0,
            vel: vel.0,
            aim: 0.0,
            health: 0,
            owner: 0,
        });
    }
    for (id, pos, vel, shot) in projectiles {
        entities.push(EntityState {
            id: id.0,
            kind: EntityKind::Projectile,
            pos: pos.0,
            vel: vel.0,
            aim: 0.0,
            health: 0,
            owner: shot.shooter.0,
        });
    }
    entities.sort_unstable_by_key(|e| e.id);
    scores.sort_unstable_by_key(|s| s.client);
}

/// Buffers reused across snapshots, so a steady state allocates only the encoded bytes.
#[derive(Default)]
pub struct SnapshotScratch {
    entities: Vec<EntityState>,
    scores: Vec<ScoreEntry>,
}

/// Run condition of [`send_snapshots`]: snapshots are on, this is a snapshot tick, and
/// someone is there to receive it.
pub fn snapshot_due(
    settings: Res<SimSettings>,
    enabled: Res<SnapshotsEnabled>,
    tick: Res<Tick>,
    roster: Res<Roster>,
) -> bool {
    enabled.0 && !roster.players.is_empty() && is_snapshot_tick(tick.0, settings.tick_rate, settings.snapshot_rate)
}

/// Queues this tick's snapshot for every player.
pub fn send_snapshots(
    params: GatherParams,
    queues: Query<&InputQueue>,
    mut scratch: Local<SnapshotScratch>,
    mut outbox: ResMut<Outbox>,
    roster: Res<Roster>,
    tick: Res<Tick>,
) {
    let SnapshotScratch { entities, scores } = &mut *scratch;
    collect(&params, entities, scores);
    let recipients = roster.players.iter().map(|(&client, &entity)| {
        let acked = queues.get(entity).map_or(0, |q| q.current.seq);
        (client, acked)
    });
    frame_snapshot(tick.0, entities, scores, recipients, &mut outbox.0);
}

/// Encodes one snapshot once and queues it for each `(client, last applied input)`, each with
/// its own small head. The one snapshot path, for live players and replay spectators alike.
pub fn frame_snapshot(
    tick: u64,
    entities: &[EntityState],
    scores: &[ScoreEntry],
    recipients: impl IntoIterator<Item = (ClientId, u32)>,
    out: &mut Vec<ToNet>,
) {
    let body = match codec::encode_snapshot_body(entities, scores) {
        Ok(body) => Bytes::from(body),
        Err(e) => {
            tracing::error!(tick, "cannot encode snapshot: {e}");
            return;
        }
    };
    for (client, acked) in recipients {
        match codec::encode_snapshot_head(tick, acked) {
            Ok(head) => out.push(ToNet::Send {
                client,
                frame: OutFrame {
                    head: head.into(),
                    body: body.clone(),
                    delivery: Delivery::Latest(StateSlot::Snapshot),
                },
            }),
            Err(e) => tracing::error!(%client, "cannot encode snapshot head: {e}"),
        }
    }
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
