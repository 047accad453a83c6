//! The router thread: drains the simulation's [`ToNet`] channel and hands each frame to its
//! client's [`SendQueue`]. It owns the only map from client id to queue, which connection
//! tasks join and leave through [`Registry`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crossbeam_channel::Receiver;

use super::send_queue::SendQueue;
use crate::bridge::{ClientId, ToNet};

/// Connected clients' queues. A connection registers before it tells the simulation it exists,
/// so every frame the simulation sends it finds its queue.
#[derive(Default)]
pub struct Registry {
    queues: Mutex<HashMap<ClientId, Arc<SendQueue>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Arc<SendQueue>>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a client's queue.
    pub fn insert(&self, client: ClientId, queue: Arc<SendQueue>) {
        self.lock().insert(client, queue);
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
        let queues = self.lock();
        match message {
            ToNet::Send { client, frame } => {
                if let Some(queue) = queues.get(&client) {
                    queue.push(frame);
                }
            }
            ToNet::Broadcast { frame } => {
                for queue in queues.values() {
                    queue.push(frame.clone());
                }
            }
            ToNet::Close { client, reason, message } => {
                if let Some(queue) = queues.get(&client) {
                    queue.close(reason, message);
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
