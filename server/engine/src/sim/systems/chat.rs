//! Chat stage (runs in `Stage::Receive`, after admission): stamps each chat line and server
//! announcement of this tick with the tick and the sender's name, journals it (so recordings
//! carry chat and replays play it back), and broadcasts it to every client as a chat frame
//! (in order; a slow reader loses old lines rather than its connection: see
//! `net::replication::send_queue`). Chat never touches the simulated state.

use bevy_ecs::prelude::*;
use shared::{ChatLine, ServerMessage, codec};

use crate::bridge::{ClientId, OutFrame, ToNet};
use crate::sim::journal::{Journal, JournalEntry};
use crate::sim::resources::{Outbox, Roster, Tick};

/// The sender id of server announcements.
pub const SERVER: ClientId = ClientId(0);
/// The name announcements go out under.
pub const SERVER_NAME: &str = "server";

/// Chat lines of this tick in arrival order: (sender, text); [`SERVER`] for announcements.
/// Filled by the receive stage.
#[derive(Resource, Debug, Default)]
pub struct ChatInbox(pub Vec<(ClientId, String)>);

/// Broadcasts this tick's lines. A line from a client that is not joined (it left in the same
/// tick) is dropped.
pub fn broadcast_chat(
    mut inbox: ResMut<ChatInbox>,
    roster: Res<Roster>,
    tick: Res<Tick>,
    mut journal: ResMut<Journal>,
    mut outbox: ResMut<Outbox>,
) {
    for (client, text) in inbox.0.drain(..) {
        let name = if client == SERVER {
            SERVER_NAME.to_owned()
        } else if let Some(name) = roster.spectators.get(&client) {
            name.clone()
        } else if let Some(name) = roster.names.get(&client) {
            name.clone()
        } else {
            continue;
        };
        journal.record(JournalEntry::Chat { client, name: name.clone(), text: text.clone() });
        outbox.0.push(chat_frame(client, name, tick.0, text));
    }
}

/// The broadcast of one chat line (also used by replays to play recorded lines back).
pub fn chat_frame(client: ClientId, name: String, tick: u64, text: String) -> ToNet {
    let line = ServerMessage::Chat(ChatLine { from: client.0, name, tick, text });
    // A chat line of checked text always encodes; an empty broadcast would be harmless.
    let bytes = codec::encode(&line).unwrap_or_default();
    ToNet::Broadcast { frame: OutFrame::chat(bytes) }
}
