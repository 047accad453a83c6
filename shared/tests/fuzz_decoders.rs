//! Bounded, structure-aware fuzzing of every decoder a peer's bytes reach: client messages (and
//! their `verify`), server messages, and snapshots applied on top of the right baseline.
//! Thousands of cases each, seeded (the same cases every run), no panics; `FUZZ_CASES` scales
//! the counts for longer local runs. The snapshot cases complement `snapshot_props.rs`, whose
//! mutations are applied to an empty client state.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use glam::Vec2;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shared::arena::Input;
use shared::snapshot::{Frame, Replicator};
use shared::{
    ClientMessage, ClientState, ConnectionState, EntityKind, EntityState, GameInput, InputFrame, ReplayCommand,
    ServerMessage, Snapshot, codec,
};

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    let config = Config { cases: cases(default_cases), failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Any f32, NaN and infinities included, by its bits.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![any::<u32>().prop_map(f32::from_bits), -4.0f32..4.0, Just(f32::NAN), Just(f32::INFINITY)]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,30}", "[\\x00-\\x1f a-z]{0,8}", ".{190,210}"]
}

/// Every client message shape, with fields in and out of their legal ranges. A new variant is
/// one more arm here.
fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u16>(), text(), any::<bool>()).prop_map(|(protocol_version, name, spectate)| ClientMessage::Hello {
            protocol_version,
            name,
            spectate
        }),
        (any::<u32>(), any_f32(), any_f32(), any_f32(), any::<u8>()).prop_map(|(seq, x, y, aim, buttons)| {
            ClientMessage::Input(InputFrame::new(seq, 0, &Input { movement: Vec2::new(x, y), aim, buttons }))
        }),
        any::<u32>().prop_map(|id| ClientMessage::Ping { id }),
        prop_oneof![
            Just(ReplayCommand::Play),
            Just(ReplayCommand::Pause),
            any::<u16>().prop_map(ReplayCommand::Speed),
            any::<u64>().prop_map(ReplayCommand::Seek),
        ]
        .prop_map(ClientMessage::ReplayControl),
        text().prop_map(|text| ClientMessage::Chat { text }),
    ]
}

/// A mutation of an encoded message: bit flips, cuts, inserted bytes, a corrupted varint.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    BigVarint(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::BigVarint),
    ];
    prop::collection::vec(one, 0..4)
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Flip(at, bit) if !bytes.is_empty() => bytes[at % len] ^= 1 << bit,
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
            // bincode's u64 varint marker followed by a huge value: a length or count no
            // buffer could back.
            Mutation::BigVarint(at) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, [253, 255, 255, 255, 255, 255, 255, 255, 127]);
            }
            Mutation::Flip(..) => {}
        }
    }
    bytes
}

/// The close codes a refused client message may bring (WIRE.md).
fn refusal_code(message: &ClientMessage) -> Option<u16> {
    let mut codes = [ConnectionState::AwaitingHello, ConnectionState::Playing]
        .map(|state| message.verify(state).err().map(|e| e.reason().close_code()));
    codes.sort();
    codes[1]
}

#[test]
fn client_messages_decode_verify_and_round_trip_without_panics() {
    let decoded_ok = std::cell::Cell::new(0u32);
    runner(4000)
        .run(&(client_message(), mutations()), |(message, how)| {
            let bytes = mutate(codec::encode(&message).expect("encodes"), &how);
            let _ = codec::hello_version(&bytes);
            match codec::decode_client(&bytes) {
                Ok(decoded) => {
                    decoded_ok.set(decoded_ok.get() + 1);
                    // The game's part decodes under its own checks (a mutated one may not).
                    if let ClientMessage::Input(frame) = &decoded
                        && frame.verify().is_ok()
                        && let Ok(input) = Input::decode(&frame.data)
                    {
                        prop_assert_eq!(input.verify(), Ok(()));
                    }
                    if let Some(code) = refusal_code(&decoded) {
                        prop_assert!([1002, 1007].contains(&code), "undocumented close {code} for {decoded:?}");
                    }
                    // What decodes re-encodes to something that decodes the same (compared as
                    // bytes: NaN != NaN).
                    let again = codec::encode(&decoded).expect("re-encodes");
                    let twice = codec::decode_client(&again).expect("decodes again");
                    prop_assert_eq!(codec::encode(&twice).expect("encodes"), again);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        })
        .expect("no failing case");
    let decoded_ok = decoded_ok.get();
    assert!(decoded_ok > 500, "the mutations left enough messages decodable to check verify: {decoded_ok}");
}

#[test]
fn arbitrary_bytes_never_panic_the_client_or_server_decoders() {
    runner(6000)
        .run(&prop::collection::vec(any::<u8>(), 0..300), |bytes| {
            let _ = codec::hello_version(&bytes);
            if let Ok(message) = codec::decode_client(&bytes) {
                let _ = refusal_code(&message);
            }
            if let Ok(ServerMessage::Snapshot(snapshot)) = codec::decode_server(&bytes) {
                let _ = ClientState::new(shared::arena::schema(), 60).apply(&snapshot);
            }
            Ok(())
        })
        .expect("no failing case");
}

fn entity() -> impl Strategy<Value = EntityState> {
    let kind = prop_oneof![Just(EntityKind::Player), Just(EntityKind::Npc), Just(EntityKind::Projectile)];
    (0u32..40, kind, any_f32(), any_f32(), -500.0f32..500.0, -500.0f32..500.0, any::<u8>()).prop_map(
        |(id, kind, x, y, vx, vy, health)| {
            let mut state = EntityState {
                pos: Vec2::new(x.clamp(-1.0e6, 1.0e6), y.clamp(-1.0e6, 1.0e6)),
                vel: Vec2::new(vx, vy),
                owner: id,
                ..EntityState::new(id * 7, kind.index())
            };
            state.values[shared::arena::HEALTH] = health.into();
            state.values[shared::arena::AIM] = 341;
            state
        },
    )
}

/// Two frames of a random world, made by the real replicator.
fn two_frames() -> impl Strategy<Value = (Frame, Frame)> {
    (prop::collection::vec(entity(), 0..30), prop::collection::vec(entity(), 0..30), 1u64..40).prop_map(
        |(mut a, mut b, gap)| {
            for world in [&mut a, &mut b] {
                world.sort_by_key(|e| e.id);
                world.dedup_by_key(|e| e.id);
            }
            let mut replicator = Replicator::new(shared::arena::schema(), 60);
            let first = replicator.update(100, &a);
            let second = replicator.update(100 + gap, &b);
            ((*first).clone(), (*second).clone())
        },
    )
}

#[test]
fn mutated_deltas_on_the_right_baseline_never_panic_and_never_claim_more_than_their_bytes() {
    let applied = std::cell::Cell::new(0u32);
    runner(3000)
        .run(&(two_frames(), mutations(), any::<u32>()), |((a, b), how, seq)| {
            let mut holder = ClientState::new(shared::arena::schema(), 60);
            let keyframe = Snapshot { last_input_seq: seq, ..Snapshot::between(None, &a) };
            holder.apply(&keyframe).expect("a keyframe applies");
            let delta = ServerMessage::Snapshot(Snapshot { last_input_seq: seq, ..Snapshot::between(Some(&a), &b) });
            let bytes = mutate(codec::encode(&delta).expect("encodes"), &how);
            if let Ok(ServerMessage::Snapshot(snapshot)) = codec::decode_server(&bytes) {
                let claimed = snapshot.removed.len() + snapshot.created.len() + snapshot.updated.len();
                prop_assert!(claimed <= bytes.len(), "{claimed} entries from {} bytes", bytes.len());
                let before = holder.clone();
                match holder.apply(&snapshot) {
                    Ok(()) => applied.set(applied.get() + 1),
                    Err(_) => prop_assert_eq!(&holder, &before, "a refused snapshot leaves the state"),
                }
            }
            Ok(())
        })
        .expect("no failing case");
    let applied = applied.get();
    assert!(applied > 300, "enough deltas still applied to exercise apply: {applied}");
}

#[test]
fn huge_declared_counts_are_refused_without_reading_past_the_input() {
    // Snapshot variant, last_input_seq 0, tick 5, keyframe, then a removed count of 2^62.
    let mut bytes = vec![1, 0, 5, 0];
    bytes.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    assert!(codec::decode_server(&bytes).is_err(), "a count no input could back");
    let started = std::time::Instant::now();
    for count in [u32::MAX as u64, 1 << 40] {
        let mut bytes = vec![1, 0, 5, 0, 0, 0, 0];
        let mut varint = count;
        while varint >= 0x80 {
            bytes.push((varint as u8) | 0x80);
            varint >>= 7;
        }
        bytes.push(varint as u8);
        assert!(codec::decode_server(&bytes).is_err(), "count {count}");
    }
    assert!(started.elapsed().as_secs() < 5, "refused at once, not after looping over the count");
}
