//! Bounded memory through the real network layer: waves of players (sending inputs and
//! shooting), spectators, clients that never say `Hello`, and clients that drop their socket
//! without a close, against a server on 127.0.0.1. After each wave every per-client table
//! must be empty again: the router's registry (`Server::connected_clients`), the client
//! board (`GET /api/admin/state`) and the `arena_clients` gauges (`GET /metrics`).
//! The simulation's own tables are checked in `server/tests/bounded_memory.rs`; the RSS over
//! half an hour by `server bench soak` (README, Load tools).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use glam::Vec2;
use integration_tests::{Client, http, start, status};
use serde_json::Value;
use shared::arena::Buttons;

const WAVES: usize = 4;

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

/// The `arena_clients{state=…}` gauges of a Prometheus page, summed.
fn clients_gauge(page: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with("arena_clients{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wave(addr: std::net::SocketAddr, w: usize) {
    let mut players = Vec::new();
    for i in 0..6 {
        players.push(Client::join(addr, &format!("p{w}-{i}")).await);
    }
    let mut spectators = Vec::new();
    for i in 0..4 {
        spectators.push(Client::spectate(addr, &format!("s{w}-{i}")).await);
    }
    // Connected, upgraded, and never a `Hello`.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(Client::connect(addr).await);
    }
    for step in 0..30u32 {
        for p in &mut players {
            let buttons = if step % 10 == 0 { Buttons::FIRE } else { 0 };
            p.input(Vec2::new(1.0, 0.0), 0.0, buttons).await;
        }
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
    // Half leave with a close frame, half just drop the socket.
    for (i, p) in players.into_iter().chain(spectators).enumerate() {
        if i % 2 == 0 {
            p.close().await;
        } else {
            drop(p.into_inner());
        }
    }
    drop(silent);
}

#[tokio::test]
async fn every_per_client_table_empties_after_each_wave() {
    // Waves of clients from 127.0.0.1 at once: no per-address connection rate (its table is
    // bounded by the admission unit tests).
    let server =
        start(&["--npcs", "50", "--no-web", "--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"]).await;
    let addr = server.local_addr();
    for w in 0..WAVES {
        wave(addr, w).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while server.connected_clients() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.connected_clients(), 0, "wave {w}: the registry empties");
        let state = http(addr, &get("/api/admin/state")).await;
        assert_eq!(status(&state), 200, "{state}");
        let body: Value = serde_json::from_str(state.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
        assert_eq!(body["clients"].as_array().map(Vec::len), Some(0), "wave {w}: the client board empties: {body}");
        let metrics = http(addr, &get("/metrics")).await;
        assert_eq!(status(&metrics), 200);
        assert!(metrics.contains("arena_clients{"), "{metrics}");
        assert_eq!(clients_gauge(&metrics), 0.0, "wave {w}: no client counted in any state");
    }
    server.shutdown().await;
}
