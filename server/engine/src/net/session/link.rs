//! The link between sessions and one simulation: the one part of the network layer there is
//! one of per simulation, so a process hosting many simulations holds many links behind one
//! front.

use std::sync::Arc;

use crossbeam_channel::Sender;

use super::chat_limit::ChatBudget;
use crate::bridge::ToSim;
use crate::net::replication::delta_cache::DeltaCache;
use crate::net::replication::router::Registry;
use crate::sim::game::InputCheck;
use crate::sim::stats::TickStats;

/// One simulation, as its sessions (and the front's `/stats` and probes) reach it.
pub struct SimLink {
    /// The room's id (empty for a replay's one room).
    pub room: String,
    /// Into the simulation.
    pub to_sim: Sender<ToSim>,
    /// Client queues, shared with the router.
    pub registry: Arc<Registry>,
    /// Encoded snapshot bodies, shared by every session of this simulation.
    pub deltas: DeltaCache,
    /// The running game's check of an input's game part.
    pub check_input: InputCheck,
    /// Whether the simulation is a replay, which takes `ReplayControl`.
    pub replay: bool,
    /// The simulation's tick statistics, served at `GET /stats`.
    pub stats: Arc<TickStats>,
    /// `--chat-lines-per-second`: the chat budget of this simulation's clients together. Per
    /// simulation because a line is broadcast to the clients of its simulation only: that is
    /// the cost the budget bounds.
    pub chat_budget: ChatBudget,
}
