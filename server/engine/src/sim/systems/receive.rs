//! Receive stage: turns the inbox into roster changes, joins (players and spectators), queued
//! inputs and chat lines, calling the game's join, leave and spectate hooks. One exclusive
//! system, so that the hooks get the World and every event is handled in arrival order.

use bevy_ecs::prelude::*;
use glam::Vec2;
use shared::{ClientMessage, DisconnectReason, ServerMessage, Welcome, codec};

use crate::bridge::{ClientId, OutFrame, ToNet, ToSim};
use crate::sim::components::{InputQueue, NetId, Position, Replicated, Velocity};
use crate::sim::game::{Game, Joining, TheGame};
use crate::sim::input_buffer::Queued;
use crate::sim::journal::{Journal, JournalEntry};
use crate::sim::resources::{GameSchema, Inbox, NetIds, Outbox, Roster, SimSettings, WorldMap};
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

/// `Hello`s of this tick, in arrival order (a buffer the stage reuses).
#[derive(Resource, Debug, Default)]
pub struct Joins(pub Vec<Join>);

/// The schema's avatar kind: what a player's entity is.
#[derive(Resource, Debug, Clone, Copy)]
pub struct AvatarKind(pub u8);

/// Drains the inbox in arrival order (connections, departures, inputs, chat; `Hello`s are
/// kept), then admits this tick's `Hello`s in order.
pub fn receive<G: Game>(world: &mut World) {
    let events = std::mem::take(&mut world.resource_mut::<Inbox>().0);
    let mut joins = std::mem::take(&mut world.resource_mut::<Joins>().0);
    for event in events {
        match event {
            ToSim::Connected { client, .. } => {
                world.resource_mut::<Roster>().pending.insert(client);
            }
            ToSim::Disconnected { client } => leave::<G>(world, client),
            ToSim::Message { client, message: ClientMessage::Hello { name, spectate, .. } } => {
                joins.push(Join { client, name: name.trim().to_owned(), spectate });
            }
            ToSim::Message { client, message: ClientMessage::Input(frame) } => {
                let Some(&entity) = world.resource::<Roster>().players.get(&client) else { continue };
                // The network layer checked the input with the game's own check; one that does
                // not decode here never reaches the game.
                let Ok(input) = Queued::<G::Input>::of(&frame) else { continue };
                if let Some(mut queue) = world.get_mut::<InputQueue<G::Input>>(entity) {
                    queue.push(input);
                }
            }
            ToSim::Message { client, message: ClientMessage::Chat { text } } => {
                world.resource_mut::<ChatInbox>().0.push((client, text));
            }
            ToSim::Announce { text } => world.resource_mut::<ChatInbox>().0.push((chat::SERVER, text)),
            // Answered by the network layer, or meant for a replay driver: never reach a live
            // simulation.
            ToSim::Message { message: ClientMessage::Ping { .. } | ClientMessage::ReplayControl(_), .. } => {}
        }
    }
    for join in joins.drain(..) {
        admit::<G>(world, join);
    }
    world.resource_mut::<Joins>().0 = joins;
}

fn leave<G: Game>(world: &mut World, client: ClientId) {
    let mut roster = world.resource_mut::<Roster>();
    roster.pending.remove(&client);
    roster.spectators.remove(&client);
    roster.names.remove(&client);
    let Some(entity) = roster.players.remove(&client) else { return };
    world.resource_scope(|world, game: Mut<TheGame<G>>| {
        if world.get_entity(entity).is_ok() {
            game.0.leave(world, entity);
        }
    });
    world.resource_mut::<Journal>().record(JournalEntry::Leave { client });
}

/// Spawns a player for a `Hello` while there is room, and welcomes it; refuses it when full.
/// A spectator is welcomed with no entity and takes no player slot. Every welcomed client is
/// subscribed to states and broadcasts, and gets the scoreboard at the next snapshot tick.
fn admit<G: Game>(world: &mut World, Join { client, name, spectate }: Join) {
    if !world.resource_mut::<Roster>().pending.remove(&client) {
        return; // already gone, or a second Hello the network layer let through
    }
    let who = Joining { client, name };
    if spectate {
        world.resource_mut::<Roster>().spectators.insert(client, who.name.clone());
        world.resource_scope(|world, game: Mut<TheGame<G>>| game.0.spectate(world, &who));
        welcome(world, client, 0);
        return;
    }
    let max_players = world.resource::<SimSettings>().max_players;
    if world.resource::<Roster>().players.len() >= usize::from(max_players) {
        world.resource_mut::<Outbox>().0.push(ToNet::Close {
            client,
            reason: DisconnectReason::ServerFull,
            message: format!("server full ({max_players} players)"),
        });
        return;
    }
    let id = world.resource_mut::<NetIds>().allocate();
    let avatar = world.resource::<AvatarKind>().0;
    let entity = world
        .spawn((
            NetId(id),
            Replicated::owned(avatar, client),
            Position(Vec2::ZERO),
            Velocity(Vec2::ZERO),
            InputQueue::<G::Input>::default(),
        ))
        .id();
    world.resource_scope(|world, game: Mut<TheGame<G>>| game.0.join(world, entity, &who));
    let mut roster = world.resource_mut::<Roster>();
    roster.players.insert(client, entity);
    roster.names.insert(client, who.name.clone());
    world.resource_mut::<Journal>().record(JournalEntry::Join { client, name: who.name });
    welcome(world, client, id);
}

/// Queues `Welcome` (entity 0 for a spectator), subscribes the client to the world, and has
/// the scoreboard sent to it at the next snapshot tick.
fn welcome(world: &mut World, client: ClientId, entity_id: u32) {
    let settings = world.resource::<SimSettings>();
    let welcome = ServerMessage::Welcome(Welcome {
        client_id: client.0,
        entity_id,
        tick_rate: settings.tick_rate,
        snapshot_rate: settings.snapshot_rate,
        schema: world.resource::<GameSchema>().0.clone(),
        map: world.resource::<WorldMap>().0.clone(),
    });
    match codec::encode(&welcome) {
        Ok(bytes) => {
            let out = &mut world.resource_mut::<Outbox>().0;
            out.push(ToNet::Send { client, frame: OutFrame::reliable(bytes) });
            out.push(ToNet::Subscribe { client });
            world.resource_mut::<ScoreboardSync>().newcomers.push(client);
        }
        Err(e) => tracing::error!(%client, "cannot encode Welcome: {e}"),
    }
}
