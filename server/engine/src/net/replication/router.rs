//! The router thread: drains the simulation's [`ToNet`] channel, makes each snapshot tick's
//! changes a frame (its [`Framer`] holds the replication models, so that work is off the
//! simulation's tick), and hands each frame or state to its clients' [`SendQueue`]s. It owns the only map from client id to queue, which
//! connection tasks join and leave through [`Registry`], and knows which clients are
//! subscribed (welcomed) to broadcasts and states.
//!
//! With a view radius (`--view-radius`), it also applies interest management
//! (`shared::snapshot::interest`): for each state it builds one grid of the world frame, then
//! gives each player the frame of its own view, whose delta its writer then encodes against
//! the view it was last sent. Spectators get the shared world frame. This runs here, on the
//! network side, so it costs the simulation's tick nothing and cannot touch its state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crossbeam_channel::Receiver;
use shared::snapshot::interest::{Grid, Interest, View};

use super::send_queue::SendQueue;
use crate::bridge::{ClientId, Framer, StateUpdate, ToNet};

struct Entry {
    queue: Arc<SendQueue>,
    subscribed: bool,
    /// What this client saw last and from where (used only with a view radius).
    view: View,
}

/// Connected clients' queues. A connection registers before it tells the simulation it exists,
/// so every frame the simulation sends it finds its queue. The registry also hands out client
/// ids, under the same lock, so an id is never one that is live.
#[derive(Default)]
pub struct Registry {
    queues: Mutex<HashMap<ClientId, Entry>>,
    /// The view radius, if any: `None` sends every client the whole world.
    interest: Option<Interest>,
    /// The last client id handed out.
    last_id: Mutex<u32>,
}

impl Registry {
    /// A registry whose players are sent the entities within `view_radius` world units of
    /// their own player (0: everything to everyone, as [`Registry::default`]).
    pub fn with_view_radius(view_radius: f32) -> Self {
        Registry { queues: Mutex::default(), interest: Interest::new(view_radius), last_id: Mutex::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Entry>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a client's queue (not yet subscribed) under a new id: the next after the last one
    /// handed out, skipping 0 (the server's own chat identity) and any id still connected, so
    /// that after the u32 space wraps (4 billion connections) an id still never names two
    /// live clients.
    pub fn register(&self, queue: Arc<SendQueue>) -> ClientId {
        let mut queues = self.lock();
        let mut last = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            *last = last.wrapping_add(1);
            let id = ClientId(*last);
            if id.0 != 0 && !queues.contains_key(&id) {
                queues.insert(id, Entry { queue, subscribed: false, view: View::default() });
                return id;
            }
        }
    }

    /// Removes a client's queue.
    pub fn remove(&self, client: ClientId) {
        self.lock().remove(&client);
    }

    /// How many clients are connected.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn route(&self, message: ToNet, framer: &mut Framer) {
        let message = match message {
            // Framed before the lock is taken: connections come and go meanwhile.
            ToNet::Changes(update) => ToNet::State(framer.frame(update)),
            other => other,
        };
        let mut queues = self.lock();
        match message {
            ToNet::Send { client, frame } => {
                if let Some(entry) = queues.get(&client) {
                    entry.queue.push(frame);
                }
            }
            ToNet::Broadcast { frame } => {
                for entry in queues.values().filter(|e| e.subscribed) {
                    entry.queue.push(frame.clone());
                }
            }
            ToNet::Subscribe { client } => {
                if let Some(entry) = queues.get_mut(&client) {
                    entry.subscribed = true;
                }
            }
            ToNet::State(update) => self.route_state(&mut queues, &update),
            // Made a state above.
            ToNet::Changes(_) => {}
            ToNet::Close { client, reason, message } => {
                if let Some(entry) = queues.get(&client) {
                    entry.queue.close(reason, message);
                }
            }
        }
    }

    /// Puts a state in the slot of each subscriber it is for: the world frame, or with a view
    /// radius, each player's own view of it.
    fn route_state(&self, queues: &mut HashMap<ClientId, Entry>, update: &StateUpdate) {
        // One grid per state, whoever asks first; none when no one is subscribed.
        let mut grid: Option<Grid> = None;
        let mut send = |client: ClientId, entry: &mut Entry| {
            if !entry.subscribed {
                return;
            }
            let frame = match &self.interest {
                Some(interest) => {
                    let grid = grid.get_or_insert_with(|| Grid::build(&update.frame, interest.cell()));
                    entry.view.frame_for(interest, grid, &update.frame, client.0)
                }
                None => update.frame.clone(),
            };
            entry.queue.push_state(frame, update.ack(client));
        };
        match update.only {
            Some(client) => {
                if let Some(entry) = queues.get_mut(&client) {
                    send(client, entry);
                }
            }
            None => {
                for (client, entry) in queues.iter_mut() {
                    send(*client, entry);
                }
            }
        }
    }
}

/// Starts the router; it ends when the simulation drops its sender.
pub fn spawn(from_sim: Receiver<ToNet>, registry: Arc<Registry>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("net-router".into()).spawn(move || {
        let mut framer = Framer::default();
        for message in from_sim.iter() {
            registry.route(message, &mut framer);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_zero_and_live_clients_when_they_wrap() {
        let registry = Registry::default();
        let first = registry.register(Arc::default());
        assert_eq!(first, ClientId(1));
        *registry.last_id.lock().expect("lock") = u32::MAX - 1;
        assert_eq!(registry.register(Arc::default()), ClientId(u32::MAX));
        assert_eq!(registry.register(Arc::default()), ClientId(2), "0 is the server's; 1 is still live");
        registry.remove(first);
        *registry.last_id.lock().expect("lock") = 0;
        assert_eq!(registry.register(Arc::default()), ClientId(1), "1 left, so it may be used again");
        assert_eq!(registry.register(Arc::default()), ClientId(3), "2 is live");
    }
}
