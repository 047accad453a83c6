//! Property tests of the snapshot format: random worlds (creations, removals, straight
//! moves, rests, bounces, teleports, aim and health changes) replicated to clients that skip
//! random snapshots. Every client, decoding only what it was sent, must hold exactly the
//! server's frame, every time. Also: the encoder and decoders never panic, and the
//! cross-language stream file that `web-client/tests` decodes is what this code produces.
//!
//! Regenerate the stream file after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p shared --test snapshot_props`.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::collections::BTreeMap;
use std::f32::consts::PI;
use std::path::PathBuf;
use std::sync::Arc;

use glam::Vec2;
use serde_json::{Value, json};
use shared::schema::{Encoding, Hint, KindBuilder, Motion, Schema};
use shared::snapshot::{ClientState, Frame, Replicator, Snapshot, SnapshotError};
use shared::{EntityState, ServerMessage, codec};

mod common;

use common::Rng;

/// Speeds the random worlds' entities move at.
const SPEEDS: [f32; 4] = [100.0, 200.0, 600.0, 33.3];

/// A schema with every encoding, a static kind, a kind with no owner, and a kind of more rows
/// than the op byte's mask holds (so that the mask extension is exercised).
fn schema() -> Arc<Schema> {
    let rich = KindBuilder::new("rich")
        .avatar()
        .motion(Motion::DeadReckoned)
        .field("hp", Encoding::Byte, Hint::Interpolate)
        .field("aim", Encoding::Angle { steps: 4096 }, Hint::InterpolateAngle)
        .field("mass", Encoding::Scalar { scale: 10.0, min: 0.0, max: 5000.0 }, Hint::Interpolate)
        .field("name", Encoding::Text { max_bytes: 24 }, Hint::Snap)
        .field("color", Encoding::Enum { variants: vec!["red".into(), "green".into(), "blue".into()] }, Hint::Snap)
        .field("level", Encoding::UInt { max: 1_000_000 }, Hint::Snap)
        .build();
    let wall =
        KindBuilder::new("wall").motion(Motion::Static).field("t", Encoding::Int { min: -5, max: 5 }, Hint::Snap);
    let crowd = KindBuilder::new("crowd").motion(Motion::DeadReckoned).build();
    let shot = KindBuilder::new("shot").owned().motion(Motion::DeadReckoned).build();
    let schema = Schema::new("props", vec![rich, wall.build(), crowd, shot]).and_then(|s| s.with_scores(["points"]));
    Arc::new(schema.expect("valid schema"))
}

/// Random in-range values for kind `kind`'s fields.
fn values(rng: &mut Rng, kind: u8, state: &mut EntityState) {
    if kind == 0 {
        state.values = [
            rng.below(256) as i32,
            rng.below(4096) as i32 - 2048,
            rng.below(50_001) as i32,
            rng.below(3) as i32,
            rng.below(1_000_001) as i32,
            0,
        ];
    } else if kind == 1 {
        state.values[0] = rng.below(11) as i32 - 5;
    }
}

const NAMES: [&str; 4] = ["ann", "Zoë ⚔", "b", "twenty-four bytes, max!!"];

/// A toy world with the behaviours the encoder must survive.
struct World {
    entities: BTreeMap<u32, EntityState>,
    next_id: u32,
}

impl World {
    fn new() -> Self {
        World { entities: BTreeMap::new(), next_id: 1 }
    }

    fn spawn(&mut self, rng: &mut Rng) {
        let kind = rng.below(4) as u8;
        // Mostly consecutive ids, sometimes a jump (ids are never reused).
        self.next_id += if rng.chance(20) { 1 + rng.below(100_000) as u32 } else { 1 };
        let vel = if rng.chance(50) && kind != 1 { rng.vel_among(&SPEEDS) } else { Vec2::ZERO };
        let mut state = EntityState {
            pos: Vec2::new(rng.f32(0.0, 2000.0), rng.f32(0.0, 2000.0)),
            vel,
            owner: if kind == 0 || kind == 3 { rng.below(5) as u32 } else { 0 },
            text: (kind == 0 && rng.chance(70)).then(|| NAMES[rng.below(4) as usize].into()),
            ..EntityState::new(self.next_id, kind)
        };
        values(rng, kind, &mut state);
        self.entities.insert(state.id, state);
    }

    fn step(&mut self, rng: &mut Rng, dt: f32) {
        if rng.chance(10) || self.entities.len() < 3 {
            self.spawn(rng);
        }
        if rng.chance(5) && !self.entities.is_empty() {
            let victim = *self.entities.keys().nth(rng.below(self.entities.len() as u64) as usize).unwrap();
            self.entities.remove(&victim);
        }
        for e in self.entities.values_mut() {
            let moves = e.kind != 1;
            e.pos += e.vel * dt;
            match rng.below(200) {
                0 => e.vel = Vec2::ZERO,
                1 if moves => e.vel = rng.vel_among(&SPEEDS),
                2 => e.vel.x = -e.vel.x,
                3 => e.pos = Vec2::new(rng.f32(0.0, 2000.0), rng.f32(0.0, 2000.0)),
                4 | 5 => values(rng, e.kind, e),
                6 => e.pos.y += 1.5, // a nudge past the tolerance
                7 => e.values[1] = Encoding::Angle { steps: 4096 }.quantize(rng.f32(-PI, PI)) * i32::from(e.kind == 0),
                _ => {}
            }
        }
    }

    fn truth(&self) -> Vec<EntityState> {
        self.entities.values().cloned().collect()
    }
}

/// A client as the server's send path sees it: its baseline is the last frame it was sent.
struct Client {
    baseline: Option<Arc<Frame>>,
    state: ClientState,
    skip_percent: u64,
    received: Vec<Value>,
}

impl Client {
    /// Sends `frame` the way the server does (shared body, per-client head) and applies it.
    fn receive(&mut self, frame: &Arc<Frame>, last_input_seq: u32) {
        let base = self.baseline.as_deref().filter(|b| b.can_base(frame));
        let snapshot = Snapshot::between(base, frame);
        let mut bytes = codec::snapshot_head(last_input_seq);
        snapshot.write_body(&mut bytes);
        let ServerMessage::Snapshot(decoded) =
            codec::decode_server_with(&bytes, self.state.schema()).expect("snapshot decodes")
        else {
            panic!("not a snapshot")
        };
        assert_eq!(decoded, Snapshot { last_input_seq, ..snapshot }, "parse inverts write");
        self.state.apply(&decoded).expect("snapshot applies");
        assert_eq!(frame.entities, *self.state.entities(), "client state equals the frame at tick {}", frame.tick);
        let probe = frame.tick + 7;
        let positions: Vec<Value> = self
            .state
            .entities()
            .iter()
            .map(|r| json!([r.id, r.pos_at(probe, 60)[0], r.pos_at(probe, 60)[1]]))
            .collect();
        self.received.push(json!({
            "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "tick": frame.tick,
            "entities": serde_json::to_value(self.state.entities()).unwrap(),
            "probe_tick": probe,
            "positions": positions,
        }));
        self.baseline = Some(frame.clone());
    }
}

/// Runs one random case; returns what each client received.
fn run_case(seed: u64, ticks: u64, clients: usize) -> Vec<Vec<Value>> {
    let mut rng = Rng(seed);
    let mut world = World::new();
    let mut rep = Replicator::new(schema(), 60);
    let mut clients: Vec<Client> = (0..clients)
        .map(|i| Client {
            baseline: None,
            state: ClientState::new(schema(), 60),
            skip_percent: [0, 30, 70, 95][i % 4],
            received: Vec::new(),
        })
        .collect();
    for tick in 1..=ticks {
        world.step(&mut rng, 1.0 / 60.0);
        if tick % 3 != 0 {
            continue;
        }
        let frame = rep.update(tick, &world.truth());
        for client in &mut clients {
            if !rng.chance(client.skip_percent) {
                client.receive(&frame, tick as u32);
            }
        }
    }
    clients.into_iter().map(|c| c.received).collect()
}

#[test]
fn every_client_reproduces_every_frame_exactly() {
    for seed in 0..60 {
        run_case(seed, 900, 4);
    }
}

#[test]
fn quiet_worlds_cost_nothing() {
    // 200 entities at rest or in straight lines (no bounces in 3 s): after the keyframe,
    // every delta is empty.
    let mut rng = Rng(7);
    let truth: Vec<EntityState> = (1..=200)
        .map(|id| EntityState {
            pos: Vec2::new(rng.f32(800.0, 1200.0), rng.f32(800.0, 1200.0)),
            vel: if id % 2 == 0 { rng.vel_among(&SPEEDS) * 0.5 } else { Vec2::ZERO },
            ..EntityState::new(id, 2)
        })
        .collect();
    let mut rep = Replicator::new(schema(), 60);
    let mut previous = rep.update(3, &truth);
    for tick in (6..=180).step_by(3) {
        let moved: Vec<EntityState> = truth
            .iter()
            .map(|e| EntityState { pos: e.pos + e.vel * ((tick - 3) as f32 / 60.0), ..e.clone() })
            .collect();
        let frame = rep.update(tick, &moved);
        let delta = Snapshot::between(Some(&previous), &frame);
        assert!(
            delta.removed.is_empty() && delta.created.is_empty() && delta.updated.is_empty(),
            "tick {tick}: {delta:?}"
        );
        let mut body = Vec::new();
        delta.write_body(&mut body);
        assert!(body.len() <= 12, "an empty delta is a few bytes, got {}", body.len());
        previous = frame;
    }
}

#[test]
fn the_encoder_never_panics_on_any_state() {
    let mut rng = Rng(99);
    let wild = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 0.0, -0.0, 1e-30, 3e9];
    for round in 0..300u64 {
        let mut rep = Replicator::new(schema(), [1u16, 60, 1000][round as usize % 3]);
        let mut client = ClientState::new(schema(), rep_rate(round));
        let mut baseline: Option<Arc<Frame>> = None;
        for step in 0..8u64 {
            let mut ids: Vec<u32> = (0..rng.below(12)).map(|_| rng.next() as u32).collect();
            ids.sort_unstable();
            ids.dedup();
            let pick = |rng: &mut Rng| wild[rng.below(wild.len() as u64) as usize];
            let truth: Vec<EntityState> = ids
                .iter()
                .map(|&id| EntityState {
                    id,
                    // Kind 4 is none the schema declares: it must encode as an entity of no rows.
                    kind: rng.below(5) as u8,
                    pos: Vec2::new(pick(&mut rng), pick(&mut rng)),
                    vel: Vec2::new(pick(&mut rng), pick(&mut rng)),
                    owner: rng.next() as u32,
                    values: std::array::from_fn(|_| rng.next() as i32),
                    text: rng.chance(50).then(|| "ü".repeat(rng.below(40) as usize).into()),
                })
                .collect();
            let tick = round * 1000 + step * 70_000 + 1;
            let frame = rep.update(tick, &truth);
            let snapshot = Snapshot::between(baseline.as_deref().filter(|b| b.can_base(&frame)), &frame);
            let bytes = codec::encode(&ServerMessage::Snapshot(snapshot)).expect("encodes");
            let ServerMessage::Snapshot(back) = codec::decode_server_with(&bytes, client.schema()).expect("decodes")
            else {
                panic!()
            };
            client.apply(&back).expect("applies");
            assert_eq!(frame.entities, *client.entities());
            baseline = Some(frame);
        }
    }
}

fn rep_rate(round: u64) -> u16 {
    [1u16, 60, 1000][round as usize % 3]
}

#[test]
fn decoders_reject_truncated_and_garbage_frames() {
    let frames = run_case(3, 300, 2);
    let mut rng = Rng(5);
    for received in &frames {
        for frame in received.iter().take(20) {
            let hex = frame["hex"].as_str().unwrap();
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            for cut in 1..bytes.len() {
                assert!(
                    codec::decode_server_with(&bytes[..cut], &schema()).is_err(),
                    "a {cut}-byte prefix must not decode"
                );
            }
            // Flipped bytes: an error or a different snapshot, never a panic.
            for _ in 0..50 {
                let mut bad = bytes.clone();
                let at = rng.below(bad.len() as u64) as usize;
                bad[at] ^= 1 << rng.below(8);
                if let Ok(ServerMessage::Snapshot(s)) = codec::decode_server_with(&bad, &schema()) {
                    let _ = ClientState::new(schema(), 60).apply(&s);
                }
            }
        }
    }
    for _ in 0..5000 {
        let len = rng.below(40) as usize;
        let mut garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(first) = garbage.first_mut() {
            *first = 1; // always the Snapshot variant
        }
        if let Ok(ServerMessage::Snapshot(s)) = codec::decode_server_with(&garbage, &schema()) {
            let _ = ClientState::new(schema(), 60).apply(&s);
        }
    }
    // A delta on the wrong baseline is refused and leaves the state as it was.
    let mut state = ClientState::new(schema(), 60);
    let delta = Snapshot { tick: 10, baseline_tick: Some(7), ..Snapshot::empty(schema()) };
    assert_eq!(state.apply(&delta), Err(SnapshotError::Baseline { held: None, wanted: 7 }));
    assert_eq!(state, ClientState::new(schema(), 60));
}

#[test]
fn cross_language_stream_matches_the_checked_in_file() {
    let clients = run_case(2026, 240, 3);
    let built = json!({
        "tick_rate": 60,
        "schema": serde_json::to_value(&*schema()).unwrap(),
        "clients": clients.into_iter().enumerate().map(|(i, frames)| json!({
            "name": format!("client {i} (skips {}%)", [0, 30, 70][i]),
            "frames": frames,
        })).collect::<Vec<_>>(),
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshot_stream.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string(&built).unwrap() + "\n").expect("write stream file");
        return;
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read the stream file"))
        .expect("the stream file is JSON");
    assert_eq!(stored, built, "{} differs; regenerate with UPDATE_GOLDEN=1 if intended", path.display());
}
