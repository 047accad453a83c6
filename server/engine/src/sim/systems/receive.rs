//! Receive stage: turns the inbox into roster changes, joins (players and spectators), queued
//! inputs and chat lines.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use glam::Vec2;
use shared::{ClientMessage, DisconnectReason, ServerMessage, Welcome, codec};

use crate::bridge::{ClientId, OutFrame, ToNet, ToSim};
use crate::sim::components::{Combatant, InputQueue, NetId, Player, Position, Velocity};
use crate::sim::journal::{Journal, JournalEntry};
use crate::sim::resources::{Arena, GameSchema, Inbox, NetIds, Outbox, Roster, SimSettings};
use crate::sim::rng::SimRng;
use crate::sim::rules::MAX_HEALTH;
use crate::sim::systems::chat::{self, ChatInbox};
use crate::sim::systems::snapshot::ScoreboardSync;

/// A `Hello` of this tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// Who.
    pub client: ClientId,
    /// Display name, trimmed.
    pub name: String,
    /// Whether it asked to spectate.
    pub spectate: bool,
}

/// `Hello`s of this tick, in arrival order, for [`admit_players`].
#[derive(Resource, Debug, Default)]
pub struct Joins(pub Vec<Join>);

/// Drains the inbox in arrival order: connections, departures, inputs; `Hello`s go to [`Joins`].
pub fn drain_inbox(
    mut commands: Commands,
    mut inbox: ResMut<Inbox>,
    mut roster: ResMut<Roster>,
    mut joins: ResMut<Joins>,
    mut journal: ResMut<Journal>,
    mut chat: ResMut<ChatInbox>,
    mut queues: Query<&mut InputQueue>,
) {
    for event in inbox.0.drain(..) {
        match event {
            ToSim::Connected { client, .. } => {
                roster.pending.insert(client);
            }
            ToSim::Disconnected { client } => {
                roster.pending.remove(&client);
                roster.spectators.remove(&client);
                if let Some(entity) = roster.players.remove(&client) {
                    commands.entity(entity).despawn();
                    journal.record(JournalEntry::Leave { client });
                }
            }
            ToSim::Message { client, message: ClientMessage::Hello { name, spectate, .. } } => {
                joins.0.push(Join { client, name: name.trim().to_owned(), spectate });
            }
            ToSim::Message { client, message: ClientMessage::Input(input) } => {
                let Some(entity) = roster.players.get(&client) else { continue };
                let Ok(mut queue) = queues.get_mut(*entity) else { continue };
                queue.push(input);
            }
            // Answered by the network layer, or meant for a replay driver: never reach a live
            // simulation.
            ToSim::Message { client, message: ClientMessage::Chat { text } } => chat.0.push((client, text)),
            ToSim::Announce { text } => chat.0.push((chat::SERVER, text)),
            ToSim::Message { message: ClientMessage::Ping { .. } | ClientMessage::ReplayControl(_), .. } => {}
        }
    }
}

/// What admitting a player touches besides the roster.
#[derive(SystemParam)]
pub struct Admission<'w> {
    ids: ResMut<'w, NetIds>,
    rng: ResMut<'w, SimRng>,
    outbox: ResMut<'w, Outbox>,
    journal: ResMut<'w, Journal>,
    scoreboard: ResMut<'w, ScoreboardSync>,
    settings: Res<'w, SimSettings>,
    arena: Res<'w, Arena>,
    schema: Res<'w, GameSchema>,
}

/// Spawns a player for each `Hello` while there is room, and welcomes it; refuses the rest.
/// Spectators are welcomed with no entity and take no player slot. Every welcomed client is
/// subscribed to states and broadcasts, and gets the scoreboard at the next snapshot tick.
pub fn admit_players(
    mut commands: Commands,
    mut joins: ResMut<Joins>,
    mut roster: ResMut<Roster>,
    admission: Admission,
) {
    let Admission { mut ids, mut rng, mut outbox, mut journal, mut scoreboard, settings, arena, schema } = admission;
    let game = (&*settings, &*arena, &*schema);
    for Join { client, name, spectate } in joins.0.drain(..) {
        if !roster.pending.remove(&client) {
            continue; // already gone, or a second Hello the network layer let through
        }
        if spectate {
            roster.spectators.insert(client, name);
            welcome(&mut outbox.0, client, 0, game);
            scoreboard.newcomers.push(client);
            continue;
        }
        if roster.players.len() >= usize::from(settings.max_players) {
            outbox.0.push(ToNet::Close {
                client,
                reason: DisconnectReason::ServerFull,
                message: format!("server full ({} players)", settings.max_players),
            });
            continue;
        }
        let id = ids.allocate();
        let spawn = pick_spawn(&mut rng, &arena.0.spawns);
        let entity = commands
            .spawn((
                NetId(id),
                Position(spawn),
                Velocity(Vec2::ZERO),
                Player { client, name: name.clone(), kills: 0, deaths: 0 },
                Combatant { health: MAX_HEALTH, aim: 0.0, cooldown: 0, respawn_at: None },
                InputQueue::default(),
            ))
            .id();
        roster.players.insert(client, entity);
        journal.record(JournalEntry::Join { client, name });
        welcome(&mut outbox.0, client, id, game);
        scoreboard.newcomers.push(client);
    }
}

/// Queues `Welcome` (entity 0 for a spectator) and subscribes the client to the world.
fn welcome(out: &mut Vec<ToNet>, client: ClientId, entity_id: u32, game: (&SimSettings, &Arena, &GameSchema)) {
    let (settings, arena, schema) = game;
    let welcome = ServerMessage::Welcome(Welcome {
        client_id: client.0,
        entity_id,
        tick_rate: settings.tick_rate,
        snapshot_rate: settings.snapshot_rate,
        schema: schema.0.clone(),
        map: arena.0.clone(),
    });
    match codec::encode(&welcome) {
        Ok(bytes) => {
            out.push(ToNet::Send { client, frame: OutFrame::reliable(bytes) });
            out.push(ToNet::Subscribe { client });
        }
        Err(e) => tracing::error!(%client, "cannot encode Welcome: {e}"),
    }
}

/// A uniformly chosen spawn point (maps are validated to have at least one).
pub fn pick_spawn(rng: &mut SimRng, spawns: &[Vec2]) -> Vec2 {
    let count = u32::try_from(spawns.len()).unwrap_or(u32::MAX).max(1);
    spawns.get(rng.below(count) as usize).copied().unwrap_or(Vec2::ZERO)
}
