//! What a session is started with, besides the link to its simulation
//! ([`super::link::SimLink`]): its socket, what the upgrade vouched for, and what every session
//! in the process shares. The front hands these down; a session sees nothing else of it.

use std::sync::Arc;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;

use super::clients::ClientBoard;
use super::conn_log::ConnLog;
use crate::metrics::Metrics;
use crate::net::NetLimits;
use crate::net::conditioner::Conditioned;
use crate::net::drain::Drain;

/// An upgraded connection, plain or TLS, as a WebSocket; through the link conditioner when
/// that is on (testing only).
pub type Ws = WebSocketStream<Conditioned<TokioIo<Upgraded>>>;

/// What the upgrade settled before the `Hello`. Only this much of the token reaches a session,
/// so the session layer knows nothing of tokens or roles.
pub struct Pass {
    /// The token's name, which replaces the `Hello` name; `None` when auth is off.
    pub name: Option<String>,
    /// A spectator token or seat: the client joins as a spectator whatever its `Hello` asks.
    pub spectator: bool,
    /// The player's place in its room (the front's seat book), held while the session
    /// lives and given up at once if its `Hello` asks to spectate.
    pub place: Option<Box<dyn Send + Sync>>,
}

/// What every session in the process shares, whichever simulation it plays in.
pub struct Shared {
    /// Time and rate limits.
    pub limits: NetLimits,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The drain, once SIGTERM or `POST /api/drain` starts it.
    pub drain: Arc<Drain>,
    /// The Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The sessions as the admin page lists them (and kicks them).
    pub clients: ClientBoard,
    /// Each connection's first and last line, rate-limited.
    pub conn_log: ConnLog,
}
