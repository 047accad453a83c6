//! The only link between the network layer and the simulation thread: two crossbeam channels
//! and the messages they carry. Nothing else crosses between the two sides.
//!
//! - net → sim, [`ToSim`]: a client connected, sent a (decoded, verified) message, or left.
//! - sim → net, [`ToNet`]: encoded frames for one client or for all, and closes.
//!
//! Both channels are unbounded so that neither side ever blocks on the other, and bounded in
//! practice: net → sim carries at most what each connection's message-rate limit lets through,
//! and sim → net is drained continuously by the router into per-client queues that are
//! themselves bounded (see `net::outbox`).

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, unbounded};
use shared::{ClientMessage, DisconnectReason};

/// Identifies one WebSocket connection for its whole life. Allocated by the network layer,
/// never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
}

/// How a frame is queued for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every frame is sent, in order (Welcome, Disconnect). Overflowing the queue disconnects
    /// the client as too slow.
    Reliable,
    /// State that supersedes its predecessor in the same slot (snapshots; replay status): an
    /// unsent one is replaced by the newest, so a slow client gets fresh state and its memory
    /// stays bounded.
    Latest(StateSlot),
}

/// The kinds of superseding state a client is sent; each has one slot in its send queue.
/// Slots drain in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSlot {
    /// `ReplayStatus` (replay servers).
    ReplayStatus = 0,
    /// `Snapshot`.
    Snapshot = 1,
}

impl StateSlot {
    /// How many slots there are.
    pub const COUNT: usize = 2;
}

/// One encoded WebSocket binary message: `head ++ body`. Split so that a body encoded once
/// (a snapshot's entities) is shared by every client, each adding only its small head.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFrame {
    /// Per-recipient prefix; often empty.
    pub head: Bytes,
    /// Shared payload.
    pub body: Bytes,
    /// Queueing policy.
    pub delivery: Delivery,
}

impl OutFrame {
    /// A frame with no per-client head.
    pub fn reliable(body: impl Into<Bytes>) -> Self {
        OutFrame { head: Bytes::new(), body: body.into(), delivery: Delivery::Reliable }
    }

    /// The frame's bytes as one buffer (copies only when there is a head).
    pub fn into_bytes(self) -> Bytes {
        if self.head.is_empty() {
            return self.body;
        }
        let mut joined = Vec::with_capacity(self.head.len() + self.body.len());
        joined.extend_from_slice(&self.head);
        joined.extend_from_slice(&self.body);
        joined.into()
    }

    /// Length in bytes on the wire (payload).
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Whether the frame carries no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// The same frame for every connected client.
    Broadcast {
        /// What to send.
        frame: OutFrame,
    },
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
