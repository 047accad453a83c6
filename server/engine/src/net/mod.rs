//! The network layer: a tokio runtime serving HTTP and WebSockets on one TCP port, in three
//! layers, each importing only those below it:
//!
//! - [`front`]: the process's one HTTP front, from accept to upgrade ([`front::Front`]);
//! - [`session`]: one WebSocket session, and what sessions share ([`session::Shared`]) and
//!   the link to their simulation ([`session::SimLink`]);
//! - [`replication`]: the fan-out of what the simulation sends to each client's queue.
//!
//! Under all three: [`bucket`] (the token bucket of every rate limit), [`conditioner`] (test
//! latency on a socket; the load tools use it too), [`drain`], and here the limits of a
//! connection ([`NetLimits`]), the WebSocket settings and the shutdown signal.
//!
//! Path of a message: [`front::listener`] accepts a TCP connection under the
//! [`front::admission`] limits and completes [`front::tls`] if the port speaks it →
//! [`front::connection`] runs hyper's HTTP/1.1 → [`front::http`] routes each request: files,
//! `/stats`, `/api/announce`, or `/ws`, whose [`front::upgrade`] is checked (Origin by
//! [`front::origin`], token by [`front::auth`], subprotocol; a session slot of the token's name
//! by [`session::name_slots`]) before the 101 → [`session`]'s reader decodes and verifies each
//! binary message and sends it to the simulation as [`crate::bridge::ToSim`] through the
//! session's [`session::SimLink`]. Back: the simulation's [`crate::bridge::ToNet`] →
//! [`replication::router`] thread → the client's [`replication::send_queue`] → the session's
//! writer writes it to the socket; world states become snapshot bytes there, through the
//! link's [`replication::delta_cache`]. For testing, a [`conditioner`] can sit between the
//! upgraded socket and the WebSocket and delay both directions (`--sim-latency`,
//! `--sim-jitter`). [`front::health`] answers `/healthz` and `/readyz`; [`drain`] holds the
//! drain that `POST /api/drain` or SIGTERM starts; [`session::conn_log`] writes each
//! connection's first and last log line. Who the client is behind a reverse proxy is
//! [`front::proxy`]'s to say; the limits on it are [`front::admission`] (connections per address
//! and their rate), [`session::name_slots`] (sessions per token subject) and
//! [`session::chat_limit`] (chat), all on [`bucket`]s where they are rates.

pub mod bucket;
pub mod conditioner;
pub mod drain;
pub mod front;
pub mod replication;
pub mod session;

use std::time::Duration;

use shared::codec::{MAX_CLIENT_MESSAGE_BYTES, MAX_SERVER_MESSAGE_BYTES};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use conditioner::LinkConditioner;

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
