//! The network layer: a tokio runtime serving HTTP and WebSockets on one TCP port.
//!
//! Path of a message: [`listener`] accepts a TCP connection under the [`admission`] limits and
//! completes [`tls`] if the port speaks it → [`connection`] runs hyper's HTTP/1.1 → [`http`]
//! routes each request: files, `/stats`, `/api/announce`, or `/ws`, whose [`upgrade`] is checked
//! (Origin by [`origin`], token by [`auth`], subprotocol) before the 101 → [`session`] decodes
//! and verifies each binary message and sends it to the simulation as
//! [`crate::bridge::ToSim`]. Back: the simulation's
//! [`crate::bridge::ToNet`] → [`router`] thread → the client's [`send_queue`] → [`session`]
//! writes it to the socket; world states become snapshot bytes there, through the shared
//! [`delta_cache`]. For testing, a [`conditioner`] can sit between the upgraded socket and the
//! WebSocket and delay both directions (`--sim-latency`, `--sim-jitter`). [`health`](front::health) answers
//! `/healthz` and `/readyz`, [`drain`] holds the drain; [`conn_log`] writes each connection's first
//! and last log line. Who the client is behind a reverse proxy is [`proxy`]'s to say; the
//! limits on it are [`admission`] (connections per address and their rate), [`name_slots`]
//! (sessions per token subject) and [`chat_limit`] (chat), all on [`bucket`]s where they
//! are rates.

pub mod bucket;
pub mod conditioner;
pub mod drain;
pub mod front;
pub mod replication;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use shared::codec::{MAX_CLIENT_MESSAGE_BYTES, MAX_SERVER_MESSAGE_BYTES};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::bridge::ToSim;
use crate::sim::stats::TickStats;
use conditioner::LinkConditioner;
use front::auth::Secret;
use front::origin::OriginPolicy;
use front::web_files::WebRoot;
use front::{admission, health, proxy};
use replication::delta_cache::DeltaCache;
use replication::router::Registry;
use session::{chat_limit, clients, conn_log, name_slots};

/// Time limits of a connection. The defaults suit production; tests shorten them.
#[derive(Debug, Clone)]
pub struct NetLimits {
    /// Time to complete a TLS handshake, and to send a complete HTTP request head (also the
    /// idle time allowed between keep-alive requests). Short, against slowloris.
    pub handshake_timeout: Duration,
    /// Time from upgrade to `Hello`.
    pub hello_timeout: Duration,
    /// Interval of server WebSocket pings.
    pub ping_interval: Duration,
    /// Silence after which a client is dropped.
    pub idle_timeout: Duration,
    /// Time one frame may take to write before the client is dropped as stalled.
    pub write_timeout: Duration,
    /// Sustained client messages per second (inputs at 60 Hz plus pings fit with room).
    pub messages_per_second: u32,
    /// Burst of client messages allowed above the sustained rate.
    pub message_burst: u32,
    /// `SO_SNDBUF` of each connection (the kernel doubles it for bookkeeping).
    pub send_buffer_bytes: usize,
    /// Testing only: delay every WebSocket byte each way (`--sim-latency`, `--sim-jitter`);
    /// off by default.
    pub link: LinkConditioner,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            handshake_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            messages_per_second: 240,
            message_burst: 120,
            send_buffer_bytes: 64 * 1024,
            link: LinkConditioner::default(),
        }
    }
}

/// WebSocket settings for game connections. Client messages are tiny (under 40 bytes), so the
/// frame and message limits are [`MAX_CLIENT_MESSAGE_BYTES`], and the read buffer is 1 KiB,
/// not tungstenite's 128 KiB, which would cost 128 MiB per thousand clients for nothing.
/// Writes go straight to the socket (one frame per send; large messages are fragmented by the
/// session, so the write buffer stays small).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * MAX_SERVER_MESSAGE_BYTES)
        .max_message_size(Some(MAX_CLIENT_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE_BYTES))
}

/// Resolves once the server is shutting down (or is gone).
pub async fn stopping(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// What every connection task shares.
pub struct NetContext {
    /// Into the simulation.
    pub to_sim: Sender<ToSim>,
    /// Client queues, shared with the router.
    pub registry: Arc<Registry>,
    /// Static files.
    pub web: WebRoot,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Time and rate limits.
    pub limits: NetLimits,
    /// Whether the simulation behind this layer is a replay, which takes `ReplayControl`.
    pub replay: bool,
    /// The running game's check of an input's game part.
    pub check_input: crate::sim::game::InputCheck,
    /// Encoded snapshot bodies, shared by every session.
    pub deltas: DeltaCache,
    /// The simulation's tick statistics, served at `GET /stats`.
    pub stats: Arc<TickStats>,
    /// The Prometheus metrics, served at `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Browser origins allowed to connect.
    pub origins: OriginPolicy,
    /// The token key; `None` runs open.
    pub auth: Option<Secret>,
    /// The drain, once SIGTERM or `POST /api/drain` starts it.
    pub drain: Arc<drain::Drain>,
    /// What `/healthz` last saw of the tick.
    pub liveness: health::Liveness,
    /// The connection limits (readiness: is there room).
    pub admission: Arc<admission::Admission>,
    /// `--drain-timeout`: how long a drain gives clients.
    pub drain_timeout: std::time::Duration,
    /// Each connection's first and last line, rate-limited.
    pub conn_log: conn_log::ConnLog,
    /// The sessions as the admin page lists them (and kicks them).
    pub clients: clients::ClientBoard,
    /// `--trusted-proxy`: whose `Forwarded`/`X-Forwarded-For` name the client.
    pub proxies: proxy::TrustedProxies,
    /// `--max-sessions-per-name`: sessions each token subject holds.
    pub name_slots: Arc<name_slots::NameSlots>,
    /// `--chat-lines-per-second`: the chat budget of all clients together.
    pub chat_budget: chat_limit::ChatBudget,
}
