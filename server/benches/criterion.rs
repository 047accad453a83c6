//! criterion benchmarks (`cargo bench -p server --bench criterion`): the tick of the W1 crowd
//! at N = 1000 and 10 000 with 100 players, snapshot encoding (a keyframe and a delta of the
//! crowd), and the decoders (a client `Input`, and a snapshot applied by a client).
//! `tick.rs`, `recording.rs` and `idle_connections.rs` print whole-run figures instead.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "benchmark: a panic is the failure report")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use engine::games::arena::Arena;
use engine::games::arena::lag_comp::DEFAULT_MAX_REWIND_MS;
use engine::harness::Harness;
use engine::map;
use engine::sim::resources::SimSettings;
use glam::Vec2;
use shared::arena::Input;
use shared::snapshot::{ClientState, Frame, Snapshot};
use shared::{ClientMessage, GameInput, InputFrame, codec};

fn crowd(npcs: u32, players: u32) -> Harness {
    let settings = SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 1000, seed: 1 };
    let arena = Arena { npcs, max_rewind_ms: DEFAULT_MAX_REWIND_MS };
    let mut h = Harness::new(arena, settings, map::load(None).expect("built-in map")).expect("the arena");
    for c in 1..=players {
        h.connect(c, "bench");
    }
    h.step(180);
    h
}

/// Two consecutive snapshot frames of the crowd.
fn frames(npcs: u32) -> (Arc<Frame>, Arc<Frame>) {
    let mut h = crowd(npcs, 1);
    let mut out: Vec<Arc<Frame>> = Vec::new();
    while out.len() < 2 {
        let last = h.last_frame().map(|f| f.serial);
        h.step(1);
        if let Some(frame) = h.last_frame().filter(|f| Some(f.serial) != last) {
            out.push(Arc::new(frame.clone()));
        }
    }
    (out[0].clone(), out[1].clone())
}

fn tick(c: &mut Criterion) {
    for npcs in [1000, 10_000] {
        let mut h = crowd(npcs, 100);
        c.bench_function(&format!("tick/{npcs} npcs, 100 players"), |b| {
            b.iter(|| {
                h.sim.step();
                black_box(h.sim.take_outbound());
            })
        });
    }
}

fn encode(c: &mut Criterion) {
    let (a, b) = frames(1000);
    c.bench_function("snapshot encode/keyframe, 1000 npcs", |bench| {
        bench.iter(|| {
            let mut body = Vec::new();
            Snapshot::between(None, black_box(&b)).write_body(&mut body);
            body
        })
    });
    c.bench_function("snapshot encode/delta, 1000 npcs", |bench| {
        bench.iter(|| {
            let mut body = Vec::new();
            Snapshot::between(Some(black_box(&a)), black_box(&b)).write_body(&mut body);
            body
        })
    });
}

fn decode(c: &mut Criterion) {
    let input = Input { movement: Vec2::new(0.6, -0.8), aim: 1.0, buttons: 1 };
    let bytes = codec::encode(&ClientMessage::Input(InputFrame::new(1234, 5000, &input))).expect("encodes");
    // The frame, then the arena's part of it, decoded and checked (as the server does both).
    c.bench_function("decode/client Input", |b| {
        b.iter(|| match codec::decode_client(black_box(&bytes)) {
            Ok(ClientMessage::Input(frame)) => Input::decode(&frame.data).ok(),
            _ => None,
        })
    });

    let (a, b) = frames(1000);
    let keyframe = codec::encode(&shared::ServerMessage::Snapshot(Snapshot::between(None, &a))).expect("encodes");
    let delta = codec::encode(&shared::ServerMessage::Snapshot(Snapshot::between(Some(&a), &b))).expect("encodes");
    let mut base = ClientState::new(shared::arena::schema(), 60);
    if let Ok(shared::ServerMessage::Snapshot(s)) = codec::decode_server(&keyframe) {
        base.apply(&s).expect("keyframe applies");
    }
    c.bench_function("decode/snapshot keyframe, 1000 npcs, decode and apply", |bench| {
        bench.iter(|| {
            let mut state = ClientState::new(shared::arena::schema(), 60);
            if let Ok(shared::ServerMessage::Snapshot(s)) = codec::decode_server(black_box(&keyframe)) {
                state.apply(&s).expect("applies");
            }
            state
        })
    });
    c.bench_function("decode/snapshot delta, 1000 npcs, decode and apply", |bench| {
        bench.iter_batched(
            || base.clone(),
            |mut state| {
                if let Ok(shared::ServerMessage::Snapshot(s)) = codec::decode_server(black_box(&delta)) {
                    state.apply(&s).expect("applies");
                }
                state
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = tick, encode, decode
}
criterion_main!(benches);
