//! Golden vectors: sample messages with their exact bytes, checked in at
//! `shared/tests/golden_vectors.json`. This test fails when an encoding changes; the web
//! client's `node --test` suite decodes and encodes the same file, so a protocol change that
//! is not mirrored in `web-client/src/protocol.js` fails CI too.
//!
//! The same file carries the protocol's tables (`tables`: variant names in wire order, replay
//! speeds, limits), read off the real types here, which the JS tests compare with its own: no
//! test reads Rust source.
//!
//! After an intended change: `UPDATE_GOLDEN=1 cargo test -p shared --test golden`, then bump
//! `PROTOCOL_VERSION` and update the JS codec and `shared/WIRE.md`.

#![allow(clippy::expect_used, reason = "test helpers: a panic is the failure report")]

use std::path::PathBuf;

use glam::Vec2;
use serde_json::{Value, json};
use shared::arena::{AIM, HEALTH};
use shared::arena::{Buttons, Input};
use shared::schema::Encoding;
use shared::snapshot::{Frame, Replicator, Snapshot};
use shared::{
    ChatLine, ClientMessage, DisconnectReason, EntityKind, EntityState, InputFrame, MapData, PROTOCOL_VERSION, Rect,
    ReplayCommand, ScoreEntry, ServerMessage, Welcome, codec,
};

fn client_samples() -> Vec<(&'static str, ClientMessage)> {
    vec![
        ("hello", ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "ann".into(), spectate: false }),
        (
            "hello_unicode",
            ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "Zoë ⚔".into(), spectate: false },
        ),
        (
            "hello_spectator",
            ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "eve".into(), spectate: true },
        ),
        (
            "input_fire",
            ClientMessage::Input(InputFrame::new(
                300,
                70_000,
                &Input { movement: Vec2::new(0.6, -0.8), aim: -1.5, buttons: Buttons::FIRE },
            )),
        ),
        (
            "input_idle_large_seq",
            ClientMessage::Input(InputFrame::new(
                4_000_000_000,
                0,
                &Input { movement: Vec2::ZERO, aim: 3.0, buttons: 0 },
            )),
        ),
        ("ping", ClientMessage::Ping { id: 70_000 }),
        ("replay_play", ClientMessage::ReplayControl(ReplayCommand::Play)),
        ("replay_pause", ClientMessage::ReplayControl(ReplayCommand::Pause)),
        ("replay_speed", ClientMessage::ReplayControl(ReplayCommand::Speed(400))),
        ("replay_seek", ClientMessage::ReplayControl(ReplayCommand::Seek(4_294_967_296))),
        ("chat", ClientMessage::Chat { text: "gg ⚔ <b>wp</b>".into() }),
        ("chat_long", ClientMessage::Chat { text: "é".repeat(100) }),
    ]
}

fn entity(id: u32, kind: EntityKind, pos: Vec2, vel: Vec2) -> EntityState {
    EntityState { pos, vel, ..EntityState::new(id, kind.index()) }
}

/// Three frames of a small world, made by the real replicator: a keyframe's worth of
/// entities with id gaps up to `u32::MAX`, then a tick where a player turns and is hit, an
/// NPC stops, one starts, one bounces, and a projectile appears; then one where entities go.
fn frames() -> [std::sync::Arc<Frame>; 3] {
    let player = |health: u8, aim: f32, vel: Vec2, pos: Vec2| {
        let mut state = EntityState { owner: 3, ..entity(250, EntityKind::Player, pos, vel) };
        state.values[HEALTH] = health.into();
        state.values[AIM] = Encoding::Angle { steps: shared::arena::AIM_STEPS }.quantize(aim);
        state
    };
    let mut rep = Replicator::new(shared::arena::schema(), 60);
    let a = rep.update(
        4_294_967_301,
        &[
            entity(1, EntityKind::Npc, Vec2::new(10.0, 20.0), Vec2::ZERO),
            entity(2, EntityKind::Npc, Vec2::new(1999.75, 0.125), Vec2::new(100.0, 0.0)),
            entity(3, EntityKind::Npc, Vec2::new(500.0, 500.0), Vec2::new(-60.0, 80.0)),
            player(100, std::f32::consts::FRAC_PI_4, Vec2::new(-200.0, 0.0), Vec2::new(1234.5, 600.0)),
            EntityState {
                owner: 65_536,
                ..entity(65_535, EntityKind::Projectile, Vec2::new(5.0, 6.0), Vec2::new(0.0, 600.0))
            },
            entity(u32::MAX, EntityKind::Npc, Vec2::new(0.0, 2000.0), Vec2::ZERO),
        ],
    );
    let b = rep.update(
        4_294_967_304,
        &[
            entity(1, EntityKind::Npc, Vec2::new(10.0, 20.0), Vec2::new(0.0, -100.0)),
            entity(2, EntityKind::Npc, Vec2::new(1995.0, 0.125), Vec2::new(-100.0, 0.0)),
            entity(3, EntityKind::Npc, Vec2::new(497.0, 504.0), Vec2::ZERO),
            player(75, -1.5, Vec2::new(0.0, 200.0), Vec2::new(1224.5, 600.0)),
            EntityState {
                owner: 3,
                ..entity(300, EntityKind::Projectile, Vec2::new(1240.0, 620.0), Vec2::new(0.0, 600.0))
            },
            EntityState {
                owner: 65_536,
                ..entity(65_535, EntityKind::Projectile, Vec2::new(5.0, 36.0), Vec2::new(0.0, 600.0))
            },
            entity(u32::MAX, EntityKind::Npc, Vec2::new(0.0, 2000.0), Vec2::ZERO),
        ],
    );
    let c = rep.update(
        4_294_967_307,
        &[
            entity(1, EntityKind::Npc, Vec2::new(10.0, 15.0), Vec2::new(0.0, -100.0)),
            entity(3, EntityKind::Npc, Vec2::new(497.0, 504.0), Vec2::ZERO),
            player(75, -1.5, Vec2::new(0.0, 200.0), Vec2::new(1224.5, 610.0)),
        ],
    );
    [a, b, c]
}

fn snapshot(last_input_seq: u32, baseline: Option<&Frame>, target: &Frame) -> ServerMessage {
    ServerMessage::Snapshot(Snapshot { last_input_seq, ..Snapshot::between(baseline, target) })
}

fn server_samples() -> Vec<(&'static str, ServerMessage)> {
    let [a, b, c] = frames();
    vec![
        (
            "welcome",
            ServerMessage::Welcome(Welcome {
                client_id: 3,
                entity_id: 251,
                tick_rate: 60,
                snapshot_rate: 20,
                schema: shared::arena::schema(),
                map: MapData {
                    id: "mini".into(),
                    width: 400.0,
                    height: 300.0,
                    walls: vec![Rect { x: 10.0, y: 20.0, w: 30.5, h: 40.0 }],
                    spawns: vec![Vec2::new(100.0, 100.0), Vec2::new(300.0, 200.0)],
                },
            }),
        ),
        ("snapshot_keyframe", snapshot(250, None, &a)),
        ("snapshot_delta", snapshot(251, Some(&a), &b)),
        ("snapshot_removal", snapshot(70_000, Some(&b), &c)),
        ("snapshot_skipped", snapshot(0, Some(&a), &c)),
        ("snapshot_empty", snapshot(0, Some(&c), &Frame { tick: c.tick + 3, ..(*c).clone() })),
        (
            "scoreboard",
            ServerMessage::Scoreboard(vec![
                ScoreEntry { client: 3, name: "ann".into(), values: vec![2, 0] },
                ScoreEntry { client: 65_536, name: "Zoë".into(), values: vec![0, -1000] },
            ]),
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
                schema: shared::arena::schema(),
                map: MapData { id: "m".into(), width: 10.0, height: 10.0, walls: vec![], spawns: vec![Vec2::ONE] },
            }),
        ),
        (
            "replay_status",
            ServerMessage::ReplayStatus { tick: 1800, end_tick: 36_000, paused: true, speed_percent: 200 },
        ),
        (
            "chat_line",
            ServerMessage::Chat(ChatLine {
                from: 70_000,
                name: "Zoë".into(),
                tick: 4_294_967_296,
                text: "gg ⚔".into(),
            }),
        ),
        (
            "chat_announcement",
            ServerMessage::Chat(ChatLine { from: 0, name: "server".into(), tick: 60, text: "restart in 5 min".into() }),
        ),
        ("notice", ServerMessage::Notice { text: "chat: at most 5 lines per 10 s".into() }),
        ("draining", ServerMessage::Draining { seconds: 30 }),
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
    json!({
        "protocol_version": PROTOCOL_VERSION,
        "schema": serde_json::to_value(&*shared::arena::schema()).expect("json"),
        "tables": tables(),
        "vectors": vectors,
    })
}

/// The name serde gives a value's variant: the key of `{"Variant": …}` or the unit string.
fn variant_name(value: &Value) -> String {
    match value {
        Value::String(name) => name.clone(),
        Value::Object(map) if map.len() == 1 => map.keys().next().cloned().expect("one key"),
        other => panic!("not an externally tagged enum value: {other}"),
    }
}

/// Variant names in wire order, from values of an enum (bincode writes the variant index
/// first, one byte below 251): every index from 0 up must be present, once per name.
fn variant_table<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> Vec<String> {
    let mut by_index = std::collections::BTreeMap::new();
    for value in values {
        let index = codec::encode(&value).expect("encodes")[0];
        let name = variant_name(&serde_json::to_value(&value).expect("json"));
        let known = by_index.entry(index).or_insert_with(|| name.clone());
        assert_eq!(*known, name, "variant index {index} has one name");
    }
    let names: Vec<String> = by_index.values().cloned().collect();
    assert_eq!(by_index.keys().copied().collect::<Vec<u8>>(), (0..names.len() as u8).collect::<Vec<u8>>());
    names
}

/// The tables the JS codec keeps its own copy of.
fn tables() -> Value {
    let commands = client_samples().into_iter().filter_map(|(_, m)| match m {
        ClientMessage::ReplayControl(command) => Some(command),
        _ => None,
    });
    json!({
        "client_variants": variant_table(client_samples().into_iter().map(|(_, m)| m)),
        "server_variants": variant_table(server_samples().into_iter().map(|(_, m)| m)),
        "replay_commands": variant_table(commands),
        "disconnect_reasons": variant_table(DisconnectReason::ALL),
        "replay_speeds": shared::REPLAY_SPEEDS,
        "max_name_bytes": shared::message::MAX_NAME_BYTES,
        "max_chat_bytes": shared::message::MAX_CHAT_BYTES,
        "max_client_message_bytes": codec::MAX_CLIENT_MESSAGE_BYTES,
        "max_server_message_bytes": codec::MAX_SERVER_MESSAGE_BYTES,
        "button_fire": Buttons::FIRE,
        "max_input_bytes": shared::input::MAX_INPUT_BYTES,
        "schema_limits": {
            "max_values": shared::schema::MAX_VALUES,
            "max_kinds": shared::schema::MAX_KINDS,
            "max_text": shared::schema::MAX_TEXT,
            "max_scores": shared::schema::MAX_SCORES,
        },
    })
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
