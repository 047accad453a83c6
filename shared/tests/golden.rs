//! Golden vectors: sample messages with their exact bytes, checked in at
//! `shared/tests/golden_vectors.json`. This test fails when an encoding changes; the web
//! client's `node --test` suite decodes and encodes the same file, so a protocol change that
//! is not mirrored in `web-client/src/protocol.js` fails CI too.
//!
//! After an intended change: `UPDATE_GOLDEN=1 cargo test -p shared --test golden`, then bump
//! `PROTOCOL_VERSION` and update the JS codec and `shared/WIRE.md`.

#![allow(clippy::expect_used, reason = "test helpers: a panic is the failure report")]

use std::path::PathBuf;

use glam::Vec2;
use serde_json::{Value, json};
use shared::{
    Buttons, ClientMessage, DisconnectReason, EntityKind, EntityState, Input, MapData, PROTOCOL_VERSION, Rect,
    ReplayCommand, ScoreEntry, ServerMessage, Welcome, codec,
};

fn client_samples() -> Vec<(&'static str, ClientMessage)> {
    vec![
        ("hello", ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "ann".into() }),
        ("hello_unicode", ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "Zoë ⚔".into() }),
        (
            "input_fire",
            ClientMessage::Input(Input { seq: 300, movement: Vec2::new(0.6, -0.8), aim: -1.5, buttons: Buttons::FIRE }),
        ),
        (
            "input_idle_large_seq",
            ClientMessage::Input(Input { seq: 4_000_000_000, movement: Vec2::ZERO, aim: 3.0, buttons: 0 }),
        ),
        ("ping", ClientMessage::Ping { id: 70_000 }),
        ("replay_play", ClientMessage::ReplayControl(ReplayCommand::Play)),
        ("replay_pause", ClientMessage::ReplayControl(ReplayCommand::Pause)),
        ("replay_speed", ClientMessage::ReplayControl(ReplayCommand::Speed(400))),
        ("replay_seek", ClientMessage::ReplayControl(ReplayCommand::Seek(4_294_967_296))),
    ]
}

fn entity(id: u32, kind: EntityKind, owner: u32) -> EntityState {
    EntityState {
        id,
        kind,
        pos: Vec2::new(1234.5, 0.125),
        vel: Vec2::new(-200.0, 99.75),
        aim: std::f32::consts::FRAC_PI_4,
        health: 100,
        owner,
    }
}

fn server_samples() -> Vec<(&'static str, ServerMessage)> {
    vec![
        (
            "welcome",
            ServerMessage::Welcome(Welcome {
                client_id: 3,
                entity_id: 251,
                tick_rate: 60,
                snapshot_rate: 20,
                map: MapData {
                    id: "mini".into(),
                    width: 400.0,
                    height: 300.0,
                    walls: vec![Rect { x: 10.0, y: 20.0, w: 30.5, h: 40.0 }],
                    spawns: vec![Vec2::new(100.0, 100.0), Vec2::new(300.0, 200.0)],
                },
            }),
        ),
        (
            "snapshot",
            ServerMessage::Snapshot {
                tick: 4_294_967_301,
                last_input_seq: 250,
                entities: vec![
                    entity(250, EntityKind::Player, 3),
                    EntityState { health: 0, ..entity(251, EntityKind::Player, 65_536) },
                    EntityState { aim: 0.0, health: 0, ..entity(65_535, EntityKind::Npc, 0) },
                    entity(u32::MAX, EntityKind::Projectile, 3),
                ],
                scoreboard: vec![
                    ScoreEntry { client: 3, name: "ann".into(), kills: 2, deaths: 0 },
                    ScoreEntry { client: 65_536, name: "Zoë".into(), kills: 0, deaths: 1000 },
                ],
            },
        ),
        (
            "snapshot_empty",
            ServerMessage::Snapshot { tick: 0, last_input_seq: 0, entities: vec![], scoreboard: vec![] },
        ),
        ("pong", ServerMessage::Pong { id: 70_000 }),
        (
            "disconnect_version",
            ServerMessage::Disconnect {
                reason: DisconnectReason::VersionMismatch,
                message: "protocol version mismatch".into(),
            },
        ),
        (
            "disconnect_rate",
            ServerMessage::Disconnect {
                reason: DisconnectReason::RateLimited,
                message: "over 240 messages per second".into(),
            },
        ),
        ("disconnect_full", ServerMessage::Disconnect { reason: DisconnectReason::ServerFull, message: String::new() }),
        (
            "welcome_spectator",
            ServerMessage::Welcome(Welcome {
                client_id: 0,
                entity_id: 0,
                tick_rate: 60,
                snapshot_rate: 20,
                map: MapData { id: "m".into(), width: 10.0, height: 10.0, walls: vec![], spawns: vec![Vec2::ONE] },
            }),
        ),
        (
            "replay_status",
            ServerMessage::ReplayStatus { tick: 1800, end_tick: 36_000, paused: true, speed_percent: 200 },
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn vector(name: &str, direction: &str, value: Value, bytes: Vec<u8>) -> Value {
    json!({ "name": name, "direction": direction, "value": value, "hex": hex(&bytes) })
}

fn build() -> Value {
    let mut vectors = Vec::new();
    for (name, msg) in client_samples() {
        let bytes = codec::encode(&msg).expect("client sample encodes");
        let back = codec::decode_client(&bytes).expect("client sample decodes");
        assert_eq!(back, msg, "{name} must round-trip");
        vectors.push(vector(name, "client", serde_json::to_value(&msg).expect("json"), bytes));
    }
    for (name, msg) in server_samples() {
        let bytes = codec::encode(&msg).expect("server sample encodes");
        let back = codec::decode_server(&bytes).expect("server sample decodes");
        assert_eq!(back, msg, "{name} must round-trip");
        vectors.push(vector(name, "server", serde_json::to_value(&msg).expect("json"), bytes));
    }
    json!({ "protocol_version": PROTOCOL_VERSION, "vectors": vectors })
}

#[test]
fn golden_vectors_match_the_checked_in_file() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden_vectors.json");
    let built = build();
    let text = serde_json::to_string_pretty(&built).expect("json") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("write golden file");
        return;
    }
    let stored = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (create it with UPDATE_GOLDEN=1)", path.display()));
    let stored: Value = serde_json::from_str(&stored).expect("golden file is JSON");
    assert_eq!(
        stored,
        built,
        "encodings differ from {}; if the change is intended, rerun with UPDATE_GOLDEN=1, bump \
         PROTOCOL_VERSION and update web-client/src/protocol.js",
        path.display()
    );
}
