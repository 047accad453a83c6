//! The HTTP front: everything a connection meets before it is a game session, and the routes
//! that never become one.
//!
//! It owns the TCP port ([`listener`], [`tls`]) and its limits ([`admission`]), hyper's
//! HTTP/1.1 on each connection ([`connection`]), the routes ([`http`]): the web client's files
//! ([`web_files`]), `/stats`, `/metrics`, the admin API, liveness and readiness ([`health`]),
//! and the checks of a WebSocket upgrade ([`upgrade`]: Origin by [`origin`], token by
//! [`auth`]). Who the client is behind a reverse proxy is [`proxy`]'s to say. An upgrade that
//! passes becomes a [`crate::net::session`], which the front starts and afterwards reaches only
//! through the client board (the admin's kick).
//!
//! Its state is one [`Front`] per process. What the sessions need of it is set apart in
//! [`Shared`], and the simulation behind it in a [`SimLink`], so that one front can serve more
//! than one simulation: a session is handed those two, never the front.

pub mod admission;
pub mod auth;
pub mod connection;
pub mod health;
pub mod http;
pub mod listener;
pub mod origin;
pub mod proxy;
pub mod tls;
pub mod upgrade;
pub mod web_files;

use std::sync::Arc;
use std::time::Duration;

use admission::Admission;
use auth::Secret;
use health::Liveness;
use origin::OriginPolicy;
use proxy::TrustedProxies;
use web_files::WebRoot;

use crate::net::session::name_slots::NameSlots;
use crate::net::session::{Shared, SimLink};

/// What every connection of the process shares, from accept to upgrade. One front serves the
/// process; the simulation behind it is reached through [`Front::link`].
pub struct Front {
    /// What the front hands every session: limits, shutdown, drain, metrics, the client board
    /// and the connection log (the front reads them too).
    pub shared: Arc<Shared>,
    /// The simulation this front serves.
    pub link: Arc<SimLink>,
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
