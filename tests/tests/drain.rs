//! Health, readiness and the drain, against the real server binary on 127.0.0.1: `/healthz`
//! and `/readyz` answer 200 while it plays; `POST /api/drain` (loopback, auth off) turns
//! `/readyz` to 503, refuses new players with 503, warns every connected client with
//! `Draining` and the seconds left, closes them with 1001 when the time is up, and the process
//! exits 0 with nobody cut off without warning.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use integration_tests::hostile::{closed_within, exchange, join, spawn_server, ws_connect};
use shared::{ServerMessage, codec};
use tokio_tungstenite::tungstenite::Message;

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

#[test]
fn a_drain_warns_every_client_then_closes_them_and_exits() {
    let mut server = spawn_server(&["--no-web", "--drain-timeout", "3"]);
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let healthz = exchange(addr, &get("/healthz")).await;
        assert_eq!(healthz.status, 200, "alive: {}", healthz.raw);
        let readyz = exchange(addr, &get("/readyz")).await;
        assert_eq!(readyz.status, 200, "ready: {}", readyz.raw);

        let mut players = Vec::new();
        for name in ["ann", "bob"] {
            let mut ws = ws_connect(addr, "").await;
            join(&mut ws, name, false).await;
            players.push(ws);
        }
        let mut spectator = ws_connect(addr, "").await;
        join(&mut spectator, "eve", true).await;
        players.push(spectator);

        let asked = Instant::now();
        let drain = exchange(
            addr,
            b"POST /api/drain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(drain.status, 202, "drain accepted: {}", drain.raw);
        assert!(drain.raw.contains("closing in 3 s"), "says when: {}", drain.raw);

        let readyz = exchange(addr, &get("/readyz")).await;
        assert_eq!(readyz.status, 503, "not ready while draining: {}", readyz.raw);
        let healthz = exchange(addr, &get("/healthz")).await;
        assert_eq!(healthz.status, 200, "still alive while draining: {}", healthz.raw);
        let upgrade = exchange(
            addr,
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert_eq!(upgrade.status, 503, "no new players: {}", upgrade.raw);

        for (i, ws) in players.iter_mut().enumerate() {
            // The warning comes first, with the time left.
            let warned = tokio::time::timeout(Duration::from_secs(2), async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Binary(bytes))) => {
                            if let Ok(ServerMessage::Draining { seconds }) = codec::decode_server(&bytes) {
                                return Some(seconds);
                            }
                        }
                        Some(Ok(Message::Close(frame))) => panic!("client {i} closed before the warning: {frame:?}"),
                        Some(Ok(_)) => {}
                        _ => return None,
                    }
                }
            })
            .await;
            let seconds = warned.ok().flatten().unwrap_or_else(|| panic!("client {i} got no Draining warning"));
            assert!((2..=3).contains(&seconds), "client {i}: {seconds} s left");
        }
        for (i, ws) in players.iter_mut().enumerate() {
            let (closing, _) = closed_within(ws, Duration::from_secs(6), "a drained client").await;
            assert_eq!(closing.code, Some(1001), "client {i} closed with 1001: {closing:?}");
        }
        let waited = asked.elapsed();
        assert!(waited >= Duration::from_millis(2500), "clients kept the drain's time: {waited:?}");
    });
    let status = server.wait_exit(Duration::from_secs(5)).expect("the server exits");
    assert!(status.success(), "the server exits 0 after a drain: {status}");
}

#[test]
fn sigterm_drains_too_and_a_second_signal_is_not_needed_once_everyone_left() {
    let mut server = spawn_server(&["--no-web", "--drain-timeout", "20"]);
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut ws = runtime.block_on(async {
        let mut ws = ws_connect(addr, "").await;
        join(&mut ws, "ann", false).await;
        ws
    });
    let pid = server.pid().to_string();
    let signalled = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(signalled.success());
    runtime.block_on(async {
        let warned = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Ok(ServerMessage::Draining { seconds }) = codec::decode_server(&bytes) {
                            return seconds;
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("no Draining warning after SIGTERM: {other:?}"),
                }
            }
        })
        .await
        .expect("warned in time");
        assert!((19..=20).contains(&warned), "{warned} s left");
        // The player leaves on its own: the drain need not wait out its 20 s.
        let _ = ws.close(None).await;
    });
    let started = Instant::now();
    let status = server.wait_exit(Duration::from_secs(5)).expect("the server exits");
    assert!(status.success(), "exits 0: {status}");
    assert!(started.elapsed() < Duration::from_secs(5), "once everyone left");
}
