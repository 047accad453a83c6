//! The only link between the network layer and the simulation thread: two crossbeam channels
//! and the messages they carry. Nothing else crosses between the two sides.
//!
//! - net → sim, [`ToSim`]: a client connected, sent a (decoded, verified) message, or left.
//! - sim → net, [`ToNet`]: encoded frames for one client or for all subscribers, closes, and
//!   each snapshot tick's [`Changes`] to the replicated state. The network side's [`Framer`]
//!   turns those into the quantized world ([`Frame`]) on its own thread, off the tick; the
//!   frame is state, not bytes, so that each client's delta is encoded against what that
//!   client's socket actually got.
//!
//! Both channels are unbounded so that neither side ever blocks on the other, and bounded in
//! practice: net → sim carries at most what each connection's message-rate limit lets through,
//! and sim → net is drained continuously by the router into per-client queues that are
//! themselves bounded (see `net::replication::send_queue`).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, unbounded};
use shared::Schema;
use shared::snapshot::{Changes, Frame, Replicator};
use shared::{ClientMessage, DisconnectReason};

/// Identifies one WebSocket connection for its whole life. Allocated by the network layer,
/// never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ClientId(pub u32);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

/// Network → simulation.
#[derive(Debug, Clone, PartialEq)]
pub enum ToSim {
    /// A WebSocket upgrade completed.
    Connected {
        /// The new connection.
        client: ClientId,
        /// The peer's address, for logs.
        addr: SocketAddr,
    },
    /// A message that decoded and passed [`ClientMessage::verify`] for the connection's state.
    Message {
        /// Who sent it.
        client: ClientId,
        /// What they sent.
        message: ClientMessage,
    },
    /// The connection is gone, for whatever reason.
    Disconnected {
        /// Who left.
        client: ClientId,
    },
    /// A server announcement from `POST /api/announce`, to broadcast to every client.
    Announce {
        /// The line (checked by the chat rules).
        text: String,
    },
}

/// How a frame is queued for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every frame is sent, in order (Welcome, Scoreboard, Disconnect). Overflowing the queue
    /// disconnects the client as too slow.
    Reliable,
    /// A `ReplayStatus`, which supersedes its predecessor: an unsent one is replaced by the
    /// newest. (Snapshots have a slot of their own: see `net::replication::send_queue`.)
    LatestStatus,
    /// A chat line: sent in order, but a reader that falls behind loses the oldest lines past a
    /// small cap instead of being disconnected (chat is not game-critical).
    Chat,
}

/// One encoded WebSocket binary message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFrame {
    /// The message's bytes.
    pub bytes: Bytes,
    /// Queueing policy.
    pub delivery: Delivery,
}

impl OutFrame {
    /// A frame sent reliably, in order.
    pub fn reliable(bytes: impl Into<Bytes>) -> Self {
        OutFrame { bytes: bytes.into(), delivery: Delivery::Reliable }
    }

    /// A chat line (see [`Delivery::Chat`]).
    pub fn chat(bytes: impl Into<Bytes>) -> Self {
        OutFrame { bytes: bytes.into(), delivery: Delivery::Chat }
    }
}

/// A snapshot tick's state for the subscribed clients.
#[derive(Debug, Clone, PartialEq)]
pub struct StateUpdate {
    /// The quantized world; shared by every client.
    pub frame: Arc<Frame>,
    /// Only this client (a newcomer to a paused replay), or every subscriber (`None`).
    pub only: Option<ClientId>,
    /// `last_input_seq` of each player with inputs applied, in increasing client id; clients
    /// not listed (spectators, players before their first input) get 0.
    pub acks: Vec<(ClientId, u32)>,
}

impl StateUpdate {
    /// The `last_input_seq` for `client`.
    pub fn ack(&self, client: ClientId) -> u32 {
        self.acks.binary_search_by_key(&client, |(c, _)| *c).map_or(0, |i| self.acks[i].1)
    }
}

/// A snapshot tick's changes to the replicated state, which the network side's [`Framer`]
/// makes a [`StateUpdate`] of. Sent at every snapshot tick, whoever is subscribed, so that
/// the frames of a run depend on its inputs alone (a replay reproduces them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeUpdate {
    /// The schema the states follow (a framer starts with the first one it is sent).
    pub schema: Arc<Schema>,
    /// Ticks per second, which the models' extrapolation needs.
    pub tick_rate: u16,
    /// What changed since the last update.
    pub changes: Changes,
    /// As [`StateUpdate::acks`]; empty when no one is subscribed.
    pub acks: Vec<(ClientId, u32)>,
}

/// The network side's replicator: makes each [`ChangeUpdate`] the [`StateUpdate`] of its
/// frame. One per simulation, fed its updates in order.
#[derive(Debug, Default)]
pub struct Framer {
    replicator: Option<Replicator>,
}

impl Framer {
    /// The state `update` makes.
    pub fn frame(&mut self, update: ChangeUpdate) -> StateUpdate {
        let ChangeUpdate { schema, tick_rate, changes, acks } = update;
        let replicator = match &mut self.replicator {
            Some(replicator) if Arc::ptr_eq(replicator.schema(), &schema) => replicator,
            slot => slot.insert(Replicator::new(schema, tick_rate)),
        };
        StateUpdate { frame: replicator.advance(changes), only: None, acks }
    }
}

/// Simulation → network.
#[derive(Debug, Clone, PartialEq)]
pub enum ToNet {
    /// A frame for one client.
    Send {
        /// Recipient.
        client: ClientId,
        /// What to send.
        frame: OutFrame,
    },
    /// The same frame for every subscribed client.
    Broadcast {
        /// What to send.
        frame: OutFrame,
    },
    /// From now on, send `client` the state updates and broadcasts (after its `Welcome`).
    Subscribe {
        /// Who.
        client: ClientId,
    },
    /// The state for every subscribed client.
    State(StateUpdate),
    /// What changed, for the [`Framer`] to make the state for every subscribed client of.
    Changes(ChangeUpdate),
    /// Send `Disconnect` with this reason, then close the connection with its code.
    Close {
        /// Who.
        client: ClientId,
        /// Why.
        reason: DisconnectReason,
        /// Detail for humans.
        message: String,
    },
}

/// Both ends of both channels, created together.
pub struct Bridge {
    /// Network side: sends to the simulation.
    pub to_sim: Sender<ToSim>,
    /// Simulation side: receives from the network.
    pub from_net: Receiver<ToSim>,
    /// Simulation side: sends to the network.
    pub to_net: Sender<ToNet>,
    /// Network side: receives from the simulation.
    pub from_sim: Receiver<ToNet>,
}

impl Bridge {
    /// Creates the two channels.
    pub fn new() -> Self {
        let (to_sim, from_net) = unbounded();
        let (to_net, from_sim) = unbounded();
        Bridge { to_sim, from_net, to_net, from_sim }
    }
}

impl Default for Bridge {
    fn default() -> Self {
        Self::new()
    }
}
