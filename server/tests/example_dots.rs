//! The minimal example game (`server/examples/dots.rs`), exercised the three ways the engine
//! runs a game: stepped in memory with scripted inputs (the sockets-free harness), recorded and
//! replayed bit for bit, and served by the real server over a WebSocket on 127.0.0.1.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

#[path = "../examples/dots.rs"]
mod dots;

use std::time::Duration;

use dots::{Dots, SPEED, Walk};
use engine::config::Config;
use engine::harness::Harness;
use engine::net::NetLimits;
use engine::record::reader::Recording;
use engine::record::replay::Replayer;
use engine::sim::game::Catalog;
use engine::sim::resources::SimSettings;
use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use shared::{ClientMessage, ClientState, InputFrame, PROTOCOL_VERSION, ServerMessage, codec};
use tokio_tungstenite::tungstenite::Message;

fn settings() -> SimSettings {
    SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 8, seed: 7 }
}

fn harness() -> Harness {
    Harness::new(Dots, settings(), engine::map::load(None).expect("map")).expect("the dots game")
}

#[test]
fn dots_walk_where_their_inputs_say_and_clients_see_it() {
    let mut h = harness();
    let (a, b) = (h.connect(1, "ann"), h.connect(2, "bob"));
    h.step(1);
    let start = h.player(a).expect("ann has a dot").pos;
    assert_eq!(start, Vec2::new(400.0, 300.0), "the game's own map, not the default arena");
    for seq in 1..=60 {
        h.play(a, seq, &Walk(Vec2::X));
        h.play(b, seq, &Walk(Vec2::new(0.0, -1.0)));
        h.step(1);
    }
    let (ann, bob) = (h.player(a).expect("ann").pos, h.player(b).expect("bob").pos);
    assert!((ann.x - (start.x + SPEED)).abs() < 1e-2, "a second at 200 units/s: {ann}");
    assert!((bob.y - (start.y - SPEED)).abs() < 1e-2, "{bob}");
    // What ann's client decoded through the real encoder matches the world, within quantization.
    // (Dead-reckoned to now from the last snapshot, a tick or two old.)
    let view = h.client_state(a).expect("ann's view");
    assert!(view.tick().is_some_and(|t| t + 3 > h.sim.tick()), "snapshots kept coming");
    let bob_seen = view.entities().iter().find(|e| e.owner == 2).expect("bob's dot");
    let seen = bob_seen.world_pos_at(h.sim.tick(), 60);
    assert!(seen.distance(bob) < 1.0, "ann sees bob at {seen}, he is at {bob}");
    // A bad input never reaches the game: the frame's game part is checked.
    h.input(a, InputFrame::new(61, 0, &Walk(Vec2::new(3.0, 0.0))));
    h.step(1);
    assert!((h.player(a).expect("ann").pos.x - ann.x - SPEED / 60.0).abs() < 1e-3, "still walking as before");
}

#[test]
fn a_dots_session_replays_bit_for_bit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dots.rec");
    let mut h = harness();
    h.record_to(&path, 30).expect("create recording");
    let a = h.connect(1, "ann");
    for seq in 1..=300u32 {
        let angle = seq as f32 / 40.0;
        h.play(a, seq, &Walk(Vec2::new(angle.cos(), angle.sin())));
        if seq == 120 {
            h.connect(2, "bob");
        }
        h.step(1);
    }
    let end = h.sim.digest();
    h.finish_recording().expect("recording written");
    let recording = Recording::open(&path).expect("opens");
    assert_eq!(recording.header.game, "dots");
    let refused =
        Replayer::new(&recording, true, &engine::games::catalog()).err().expect("unknown to the server's catalog");
    assert!(refused.to_string().contains("dots"), "{refused}");
    let catalog = Catalog::default().with::<Dots>();
    let mut replayer = Replayer::new(&recording, true, &catalog).expect("replayable");
    replayer.check_start().expect("tick 0 matches");
    replayer.run_to(u64::MAX).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(replayer.tick(), 300);
    assert!(replayer.checked() >= 10, "every checksum verified: {}", replayer.checked());
    assert_eq!(replayer.digest(), end, "the same world at the end");
    replayer.seek(150);
    replayer.seek(300);
    assert_eq!(replayer.digest().hash, end.hash, "back and forth through keyframes");
}

#[tokio::test]
async fn the_real_server_serves_dots_over_a_websocket() {
    let config = Config::from_args(["server", "--bind", "127.0.0.1:0", "--no-web"]).expect("flags");
    let server = engine::Server::start_game(&config, Dots, NetLimits::default()).await.expect("starts");
    let url = format!("ws://{}/ws", server.local_addr());
    let stream = tokio::net::TcpStream::connect(server.local_addr()).await.expect("connects");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.expect("upgrades");
    let send = |m: &ClientMessage| Message::Binary(codec::encode(m).expect("encodes").into());
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "ann".into(), spectate: false };
    ws.send(send(&hello)).await.expect("hello");
    let mut state: Option<(ClientState, u32)> = None;
    let mut seq = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut first_x = None;
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(Ok(Message::Binary(bytes)))) = tokio::time::timeout(Duration::from_millis(50), ws.next()).await
        else {
            if state.is_some() {
                seq += 1;
                ws.send(send(&ClientMessage::Input(InputFrame::new(seq, 0, &Walk(Vec2::X))))).await.expect("input");
            }
            continue;
        };
        let message = match &state {
            Some((s, _)) => codec::decode_server_with(&bytes, s.schema()),
            None => codec::decode_server(&bytes),
        }
        .expect("decodes");
        match message {
            ServerMessage::Welcome(w) => {
                assert_eq!(w.schema.game(), "dots");
                assert_eq!(w.map.id, "dots");
                state = Some((ClientState::new(w.schema.clone(), w.tick_rate), w.entity_id));
            }
            ServerMessage::Snapshot(snapshot) => {
                let (s, me) = state.as_mut().expect("welcomed first");
                s.apply(&snapshot).expect("applies");
                let tick = s.tick().expect("a snapshot");
                let x = s.entities().iter().find(|e| e.id == *me).expect("own dot").world_pos_at(tick, 60).x;
                let from = *first_x.get_or_insert(x);
                if x > from + 50.0 {
                    server.shutdown().await;
                    return;
                }
                seq += 1;
                ws.send(send(&ClientMessage::Input(InputFrame::new(seq, 0, &Walk(Vec2::X))))).await.expect("input");
            }
            _ => {}
        }
    }
    panic!("the own dot did not walk 50 units to the right in 10 s (from {first_x:?})");
}
