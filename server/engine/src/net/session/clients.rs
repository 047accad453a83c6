//! The clients an operator sees on `/admin`: one [`ClientInfo`] per WebSocket session (its
//! address, name, bytes sent, round trip, snapshots superseded), listed by the admin API, and
//! the handle to close one (a kick).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use serde::Serialize;
use shared::DisconnectReason;

use crate::bridge::ClientId;
use crate::net::replication::send_queue::SendQueue;

/// One session, as the admin API shows it.
pub struct ClientInfo {
    /// The peer.
    pub addr: SocketAddr,
    /// Its room's id.
    pub room: String,
    /// Set once, from the `Hello` (or the token).
    pub name: OnceLock<String>,
    /// Whether it joined as a spectator.
    pub spectator: OnceLock<bool>,
    /// Payload bytes written to it.
    pub bytes_out: AtomicU64,
    /// Milliseconds (since the board started) the last WebSocket ping went out; 0: none yet.
    ping_sent_ms: AtomicU64,
    /// The last ping's round trip in microseconds; `u32::MAX` until one came back.
    rtt_us: AtomicU32,
    queue: Arc<SendQueue>,
}

impl ClientInfo {
    /// A ping went out now.
    pub fn ping_sent(&self, board: &ClientBoard) {
        self.ping_sent_ms.store(board.now_ms().max(1), Ordering::Relaxed);
    }

    /// A pong came back now: the round trip since the last ping.
    pub fn pong_received(&self, board: &ClientBoard) {
        let sent = self.ping_sent_ms.load(Ordering::Relaxed);
        if sent > 0 {
            let us = board.epoch.elapsed().as_micros().saturating_sub(u128::from(sent) * 1000);
            self.rtt_us.store(u32::try_from(us).unwrap_or(u32::MAX - 1), Ordering::Relaxed);
        }
    }
}

/// A row of the admin API's client table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClientRow {
    /// Client id.
    pub client: u32,
    /// Its room's id.
    pub room: String,
    /// Name, once it joined.
    pub name: Option<String>,
    /// Whether it spectates.
    pub spectator: bool,
    /// The peer's address.
    pub addr: String,
    /// The last WebSocket ping's round trip, if one came back.
    pub rtt_ms: Option<f64>,
    /// Payload bytes sent to it so far (the page turns them into a rate).
    pub bytes_out: u64,
    /// World states superseded in its queue because it read too slowly.
    pub superseded: u64,
}

/// Every session, by client id.
pub struct ClientBoard {
    epoch: Instant,
    clients: Mutex<BTreeMap<ClientId, Arc<ClientInfo>>>,
    /// Payload bytes written to every client since start.
    bytes_out: AtomicU64,
}

impl Default for ClientBoard {
    fn default() -> Self {
        ClientBoard { epoch: Instant::now(), clients: Mutex::default(), bytes_out: AtomicU64::new(0) }
    }
}

impl ClientBoard {
    /// `bytes` were written to `info`'s client.
    pub fn sent(&self, info: &ClientInfo, bytes: usize) {
        info.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Payload bytes written to every client since start.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ClientId, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A session starts.
    pub fn insert(&self, client: ClientId, addr: SocketAddr, room: &str, queue: Arc<SendQueue>) -> Arc<ClientInfo> {
        let info = Arc::new(ClientInfo {
            addr,
            room: room.to_owned(),
            name: OnceLock::new(),
            spectator: OnceLock::new(),
            bytes_out: AtomicU64::new(0),
            ping_sent_ms: AtomicU64::new(0),
            rtt_us: AtomicU32::new(u32::MAX),
            queue,
        });
        self.lock().insert(client, info.clone());
        info
    }

    /// A session ended.
    pub fn remove(&self, client: ClientId) {
        self.lock().remove(&client);
    }

    /// The table, in client order.
    pub fn rows(&self) -> Vec<ClientRow> {
        self.lock()
            .iter()
            .map(|(client, info)| {
                let rtt = info.rtt_us.load(Ordering::Relaxed);
                ClientRow {
                    client: client.0,
                    room: info.room.clone(),
                    name: info.name.get().cloned(),
                    spectator: info.spectator.get().copied().unwrap_or(false),
                    addr: info.addr.to_string(),
                    rtt_ms: (rtt != u32::MAX).then(|| f64::from(rtt) / 1000.0),
                    bytes_out: info.bytes_out.load(Ordering::Relaxed),
                    superseded: info.queue.superseded(),
                }
            })
            .collect()
    }

    /// Closes `client` as kicked; false if there is no such client.
    pub fn kick(&self, client: ClientId) -> bool {
        let Some(info) = self.lock().get(&client).cloned() else { return false };
        info.queue.close(DisconnectReason::Kicked, "removed by an administrator".into());
        true
    }
}
