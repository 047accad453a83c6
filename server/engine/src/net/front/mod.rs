//! The HTTP front: everything a connection meets before it is a game session, and the routes
//! that never become one.
//!
//! It owns the TCP port ([`listener`], [`tls`]) and its limits ([`admission`]), hyper's
//! HTTP/1.1 on each connection ([`connection`]), the routes ([`http`]): the web client's files
//! ([`web_files`]), `/stats`, `/metrics`, the admin API, liveness and readiness ([`health`]),
//! the rooms ([`rooms`]) and the matchmaker ([`matchmaker`]), whose seats ([`seats`]) the
//! upgrade takes, and the checks of a WebSocket upgrade ([`upgrade`]: Origin by [`origin`],
//! token by [`auth`]). Who the client is behind a reverse proxy is [`proxy`]'s to say; who may
//! use what is [`access`]'s, and the answers are built by [`reply`]. An upgrade that passes
//! becomes a [`crate::net::session`], which the front starts and afterwards reaches only
//! through the client board (the admin's kick).
//!
//! Its state is one [`Front`] per process. What the sessions need of it is set apart in
//! [`Shared`], and each room's simulation is reached through its
//! [`SimLink`](crate::net::session::SimLink), which the
//! front finds in its [`rooms::RoomDirectory`]: a session is handed those two, never the
//! front.

pub mod access;
pub mod admission;
pub mod auth;
pub mod connection;
pub mod health;
pub mod http;
pub mod listener;
pub mod matchmaker;
pub mod origin;
pub mod proxy;
pub mod reply;
pub mod rooms;
pub mod seats;
pub mod tls;
pub mod upgrade;
pub mod web_files;

use std::sync::Arc;
use std::time::Duration;

use admission::Admission;
use auth::Secret;
use health::Liveness;
use matchmaker::Matchmaking;
use origin::OriginPolicy;
use proxy::TrustedProxies;
use rooms::RoomDirectory;
use seats::Seats;
use web_files::WebRoot;

use crate::net::session::Shared;
use crate::net::session::name_slots::NameSlots;

/// What every connection of the process shares, from accept to upgrade. One front serves the
/// process; its rooms are reached through [`Front::rooms`].
pub struct Front {
    /// What the front hands every session: limits, shutdown, drain, metrics, the client board
    /// and the connection log (the front reads them too).
    pub shared: Arc<Shared>,
    /// The rooms this front serves.
    pub rooms: Arc<dyn RoomDirectory>,
    /// Whether this is a replay server (no drain, no announcements, no matchmaking).
    pub replay: bool,
    /// The matchmaker's seats, and every room's places.
    pub seats: Arc<Seats>,
    /// The matchmaker's lock and per-address allowances.
    pub matchmaking: Matchmaking,
    /// Static files.
    pub web: WebRoot,
    /// Browser origins allowed to connect.
    pub origins: OriginPolicy,
    /// The token key; `None` runs open.
    pub auth: Option<Secret>,
    /// `--trusted-proxy`: whose `Forwarded`/`X-Forwarded-For` name the client.
    pub proxies: TrustedProxies,
    /// The connection limits (readiness: is there room).
    pub admission: Arc<Admission>,
    /// `--max-sessions-per-name`: sessions each token subject holds.
    pub name_slots: Arc<NameSlots>,
    /// What `/healthz` last saw of the tick.
    pub liveness: Liveness,
    /// `--drain-timeout`: how long a drain gives clients.
    pub drain_timeout: Duration,
}
