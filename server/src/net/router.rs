//! The router thread: drains the simulation's [`ToNet`] channel and hands each frame or state
//! to its clients' [`SendQueue`]s. It owns the only map from client id to queue, which
//! connection tasks join and leave through [`Registry`], and knows which clients are
//! subscribed (welcomed) to broadcasts and states.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crossbeam_channel::Receiver;

use super::send_queue::SendQueue;
use crate::bridge::{ClientId, ToNet};

struct Entry {
    queue: Arc<SendQueue>,
    subscribed: bool,
}

/// Connected clients' queues. A connection registers before it tells the simulation it exists,
/// so every frame the simulation sends it finds its queue.
#[derive(Default)]
pub struct Registry {
    queues: Mutex<HashMap<ClientId, Entry>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Entry>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a client's queue (not yet subscribed).
    pub fn insert(&self, client: ClientId, queue: Arc<SendQueue>) {
        self.lock().insert(client, Entry { queue, subscribed: false });
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

    fn route(&self, message: ToNet) {
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
            ToNet::State(update) => {
                let wanted = |client: &ClientId| update.only.is_none_or(|only| only == *client);
                for (client, entry) in queues.iter().filter(|(c, e)| e.subscribed && wanted(c)) {
                    entry.queue.push_state(update.frame.clone(), update.ack(*client));
                }
            }
            ToNet::Close { client, reason, message } => {
                if let Some(entry) = queues.get(&client) {
                    entry.queue.close(reason, message);
                }
            }
        }
    }
}

/// Starts the router; it ends when the simulation drops its sender.
pub fn spawn(from_sim: Receiver<ToNet>, registry: Arc<Registry>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("net-router".into()).spawn(move || {
        for message in from_sim.iter() {
            registry.route(message);
        }
    })
}
