//! The router: drains a simulation's [`ToNet`] messages, makes each snapshot tick's changes a
//! frame (its [`Framer`] holds the replication models, so that work is off the simulation's
//! tick), and hands each frame or state to its clients' [`SendQueue`]s. Each simulation has
//! one [`Route`]: the only map from client id to queue, which connection tasks join and leave
//! through its [`Registry`], and which clients are subscribed (welcomed) to broadcasts and
//! states.
//!
//! A process with many rooms routes them on a [`RouterPool`]: a fixed set of threads, each
//! room pinned to one (so its messages stay in order), so that no one thread does every
//! room's fan-out. A lone simulation (a replay) has a thread of its own ([`spawn`]).
//!
//! With a view radius (`--view-radius`), it also applies interest management
//! (`shared::snapshot::interest`): for each state it builds one grid of the world frame, then
//! gives each player the frame of its own view, whose delta its writer then encodes against
//! the view it was last sent. Spectators get the shared world frame. This runs here, on the
//! network side, so it costs the simulation's tick nothing and cannot touch its state.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender};
use shared::snapshot::interest::{Grid, Interest, View};

use super::send_queue::SendQueue;
use crate::bridge::{ClientId, Framer, StateUpdate, ToNet};

struct Entry {
    queue: Arc<SendQueue>,
    subscribed: bool,
    /// What this client saw last and from where (used only with a view radius).
    view: View,
}

/// The client ids of a process: unique across its rooms, so that the client board and the
/// admin's kick name one client by its id alone.
#[derive(Default)]
pub struct ClientIds {
    /// The last id handed out, and the ids live in any room.
    state: Mutex<(u32, HashSet<ClientId>)>,
}

impl ClientIds {
    /// The next id after the last one handed out, skipping 0 (the server's own chat identity)
    /// and any id still connected, so that after the u32 space wraps (4 billion connections)
    /// an id still never names two live clients.
    fn allocate(&self) -> ClientId {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, live) = &mut *state;
        loop {
            *last = last.wrapping_add(1);
            let id = ClientId(*last);
            if id.0 != 0 && live.insert(id) {
                return id;
            }
        }
    }

    fn free(&self, id: ClientId) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1.remove(&id);
    }
}

/// One simulation's connected clients' queues. A connection registers before it tells the
/// simulation it exists, so every frame the simulation sends it finds its queue. Ids come from
/// the process's [`ClientIds`].
#[derive(Default)]
pub struct Registry {
    queues: Mutex<HashMap<ClientId, Entry>>,
    /// The view radius, if any: `None` sends every client the whole world.
    interest: Option<Interest>,
    ids: Arc<ClientIds>,
}

impl Registry {
    /// A registry whose players are sent the entities within `view_radius` world units of
    /// their own player (0: everything to everyone, as [`Registry::default`]), taking ids
    /// from `ids`.
    pub fn new(view_radius: f32, ids: Arc<ClientIds>) -> Self {
        Registry { queues: Mutex::default(), interest: Interest::new(view_radius), ids }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Entry>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a client's queue (not yet subscribed) under a new id.
    pub fn register(&self, queue: Arc<SendQueue>) -> ClientId {
        let id = self.ids.allocate();
        self.lock().insert(id, Entry { queue, subscribed: false, view: View::default() });
        id
    }

    /// Removes a client's queue.
    pub fn remove(&self, client: ClientId) {
        if self.lock().remove(&client).is_some() {
            self.ids.free(client);
        }
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

/// One simulation's way out: its clients and its framer. Only one router thread at a time
/// routes a simulation's messages (its pinned pool thread, or its own), so the framer's lock
/// is never contended.
pub struct Route {
    /// The simulation's clients.
    pub registry: Arc<Registry>,
    framer: Mutex<Framer>,
}

impl Route {
    /// A route to `registry`'s clients, with a fresh framer.
    pub fn new(registry: Arc<Registry>) -> Arc<Route> {
        Arc::new(Route { registry, framer: Mutex::default() })
    }

    /// Hands one message to its clients, framing a snapshot tick's changes first (before the
    /// registry's lock is taken: connections come and go meanwhile).
    pub fn route(&self, message: ToNet) {
        let message = match message {
            ToNet::Changes(update) => {
                ToNet::State(self.framer.lock().unwrap_or_else(PoisonError::into_inner).frame(update))
            }
            other => other,
        };
        self.registry.route(message);
    }
}

/// A batch of one simulation's messages, in order, for its route.
pub type Batch = (Arc<Route>, Vec<ToNet>);

/// A fixed set of router threads for many simulations. A simulation always sends to the same
/// thread ([`RouterPool::lane`]), so its messages are routed in order.
pub struct RouterPool {
    lanes: Vec<Sender<Batch>>,
    handles: Vec<JoinHandle<()>>,
}

impl RouterPool {
    /// Starts `threads` router threads (at least one).
    pub fn spawn(threads: usize) -> std::io::Result<RouterPool> {
        let mut lanes = Vec::new();
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let (tx, rx) = crossbeam_channel::unbounded::<Batch>();
            handles.push(thread::Builder::new().name(format!("net-router-{n}")).spawn(move || {
                for (route, messages) in rx.iter() {
                    for message in messages {
                        route.route(message);
                    }
                }
            })?);
            lanes.push(tx);
        }
        Ok(RouterPool { lanes, handles })
    }

    /// The sender of lane `n` (modulo the number of threads).
    pub fn lane(&self, n: usize) -> Sender<Batch> {
        self.lanes[n % self.lanes.len()].clone()
    }

    /// Waits for every thread, which end once every sender of their lanes (each simulation
    /// thread's) is dropped; false if one panicked.
    pub fn join(self) -> bool {
        drop(self.lanes);
        // Every thread is joined, even after one that panicked.
        let mut ok = true;
        for handle in self.handles {
            ok &= handle.join().is_ok();
        }
        ok
    }
}

/// Starts a router thread of `route`'s own; it ends when the simulation drops its sender.
pub fn spawn(from_sim: Receiver<ToNet>, route: Arc<Route>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("net-router".into()).spawn(move || {
        for message in from_sim.iter() {
            route.route(message);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_zero_and_live_clients_when_they_wrap_across_rooms() {
        let ids = Arc::new(ClientIds::default());
        let (a, b) = (Registry::new(0.0, ids.clone()), Registry::new(0.0, ids.clone()));
        let first = a.register(Arc::default());
        assert_eq!(first, ClientId(1));
        assert_eq!(b.register(Arc::default()), ClientId(2), "another room takes the next id");
        ids.state.lock().expect("lock").0 = u32::MAX - 1;
        assert_eq!(a.register(Arc::default()), ClientId(u32::MAX));
        assert_eq!(b.register(Arc::default()), ClientId(3), "0 is the server's; 1 and 2 are live");
        a.remove(first);
        ids.state.lock().expect("lock").0 = 0;
        assert_eq!(b.register(Arc::default()), ClientId(1), "1 left, so it may be used again");
        assert_eq!(a.register(Arc::default()), ClientId(4), "2 and 3 are live");
    }
}
