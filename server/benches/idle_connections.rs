//! Memory benchmark: resident memory of the real `server` binary (with the W1 crowd of 1000
//! NPCs) before and after idle WebSocket spectators (upgraded, joined, receiving snapshots,
//! sending nothing). Run with `cargo bench -p server --bench idle_connections` (optionally
//! `-- CONNECTIONS [NPCS]`; 500 and 1000 by default). `server bench w1` measures the same
//! figure under the full W1 load.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "benchmark: a panic is the failure report")]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use loadtools::child::ServerCommand;
use shared::{ClientMessage, PROTOCOL_VERSION, codec};
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let count = numbers.first().copied().unwrap_or(500);
    let npcs = numbers.get(1).copied().unwrap_or(1000).to_string();
    let server = ServerCommand::new(env!("CARGO_BIN_EXE_server"))
        .args(["--bind", "127.0.0.1:0", "--no-web", "--npcs", &npcs, "--max-connections", "10000"])
        // Every client comes from 127.0.0.1, as fast as it can: no per-address limits.
        .args(["--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"])
        .keep_lines(100)
        .start()
        .await
        .expect("the server starts");
    let addr = server.addr().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib().expect("VmRSS");

    let mut clients = Vec::with_capacity(count);
    for i in 0..count {
        let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        let (mut ws, _) = client_async(format!("ws://{addr}/ws"), stream).await.expect("upgrade");
        let hello =
            ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: format!("idle{i}"), spectate: true };
        ws.send(Message::Binary(codec::encode(&hello).expect("encode").into())).await.expect("send");
        clients.push(ws);
    }
    // Keep reading so every client is healthy, for a few seconds of snapshots.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut received = 0usize;
    while tokio::time::Instant::now() < deadline {
        for ws in &mut clients {
            while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(1), ws.next()).await {
                received += 1;
            }
        }
    }
    let after = server.rss_kib().expect("VmRSS");
    println!(
        "server VmRSS ({npcs} NPCs): {before} KiB idle, {after} KiB with {count} idle WebSocket spectators \
         (+{} KiB, {:.1} KiB per connection); {received} messages read by the clients",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / count as f64,
    );
}
