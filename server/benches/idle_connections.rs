//! Memory benchmark: resident memory of the real `server` binary (with the W1 crowd of 1000
//! NPCs) before and after idle WebSocket spectators (upgraded, joined, receiving snapshots,
//! sending nothing). Run with `cargo bench -p server --bench idle_connections` (optionally
//! `-- CONNECTIONS [NPCS]`; 500 and 1000 by default). `server bench w1` measures the same
//! figure under the full W1 load.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "benchmark: a panic is the failure report")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use shared::{ClientMessage, PROTOCOL_VERSION, codec};
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

#[tokio::main]
async fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let count = numbers.first().copied().unwrap_or(500);
    let npcs = numbers.get(1).copied().unwrap_or(1000).to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--bind", "127.0.0.1:0", "--no-web", "--npcs", &npcs, "--max-connections", "10000"])
        // Every client comes from 127.0.0.1, as fast as it can: no per-address limits.
        .args(["--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn server");
    let mut server = Running(child);
    let pid = server.0.id();
    let mut lines = BufReader::new(server.0.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("address line").expect("stderr");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);

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
    let after = rss_kib(pid);
    println!(
        "server VmRSS ({npcs} NPCs): {before} KiB idle, {after} KiB with {count} idle WebSocket spectators \
         (+{} KiB, {:.1} KiB per connection); {received} messages read by the clients",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / count as f64,
    );
}
