//! Bounded fuzzing of the recording reader: the checked-in recordings, damaged at the byte level
//! (flips, cuts, inserted bytes, huge length fields) and at the chunk level (chunks dropped,
//! duplicated, swapped, re-framed with valid checksums around bad content), are read, and
//! replayed when they still read. No panic, every failure a `RecordingError` with a message;
//! a declared chunk length is never allocated before it is checked. Crafted headers (every field
//! drawn over its whole range) are refused unless within the command line's bounds (the engine's
//! fields by the reader, the game's settings by the replay), and crafted
//! held runs and joins read only within the decode budget, one input per player and tick.
//! `FUZZ_CASES` scales the counts.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::PathBuf;

use engine::games::arena::Arena;
use engine::limits;
use engine::record::chunk::{assemble, split};
use engine::record::format::{Checksum, Chunk, Event, Header, TickRecord, map_hash};
use engine::record::reader::{DECODE_BYTES_PER_FILE_BYTE, DECODE_FLOOR_BYTES, Recording, UNBACKED_SPAWNS};
use engine::record::replay::{ReplayError, Replayer};
use engine::sim::game::GameError;
use engine::sim::journal::JournalEntry;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    let config = Config { cases: cases(default_cases), failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/recordings").join(name);
    std::fs::read(path).expect("checked-in recording")
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// Four bytes of 0xff (a length of 4 GiB if it lands on one).
    HugeLength(usize),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip(at, bit)),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Damage::Insert(at, b)),
        any::<usize>().prop_map(Damage::HugeLength),
    ];
    prop::collection::vec(one, 1..4)
}

fn apply(mut bytes: Vec<u8>, damage: &[Damage]) -> Vec<u8> {
    for d in damage {
        let len = bytes.len().max(1);
        match d {
            Damage::Flip(at, bit) if !bytes.is_empty() => bytes[at % len] ^= 1 << bit,
            Damage::Flip(..) => {}
            Damage::Truncate(at) => bytes.truncate(at % len),
            Damage::Insert(at, extra) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, extra.iter().copied());
            }
            Damage::HugeLength(at) => {
                let at = at % len;
                let end = (at + 4).min(bytes.len());
                bytes[at..end].fill(0xff);
            }
        }
    }
    bytes
}

/// Reads `bytes`; if they read, replays a bounded stretch with verification. Neither may panic.
fn read_and_replay(bytes: &[u8], ticks: u64) -> Result<(), TestCaseError> {
    match Recording::parse(bytes, "fuzzed.rec") {
        Ok(recording) => {
            if let Ok(mut replayer) = Replayer::new(&recording, true, &engine::games::catalog()) {
                let _ = replayer.check_start();
                let _ = replayer.run_to(ticks);
            }
        }
        Err(error) => prop_assert!(error.to_string().starts_with("fuzzed.rec"), "{error}"),
    }
    Ok(())
}

#[test]
fn byte_level_damage_never_panics_the_reader_or_the_replay() {
    for (name, replay_ticks) in [("fight.rec", 120), ("crowd500.rec", 20)] {
        let good = fixture(name);
        runner(1500)
            .run(&damage(), |how| {
                let bytes = apply(good.clone(), &how);
                read_and_replay(&bytes, replay_ticks)
            })
            .expect("no failing case");
    }
}

/// Chunk-level damage: each chunk is re-framed with a valid length and checksum, so the reader
/// must rely on its own checks of content and order, not on the frame's checksum.
#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Moves a chunk to the front, before the header.
    Front(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let one = prop_oneof![
        any::<usize>().prop_map(Edit::Drop),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        any::<usize>().prop_map(Edit::Front),
    ];
    prop::collection::vec(one, 1..4)
}

#[test]
fn reordered_dropped_and_duplicated_chunks_are_refused_or_replayed_without_panics() {
    let good = split(&fixture("fight.rec"));
    assert!(good.len() > 10, "the fixture has chunks to shuffle");
    let read_ok = std::cell::Cell::new(0u32);
    runner(800)
        .run(&edits(), |how| {
            let mut chunks: Vec<Chunk> = good.clone();
            for edit in &how {
                let n = chunks.len();
                if n == 0 {
                    break;
                }
                match *edit {
                    Edit::Drop(i) => {
                        chunks.remove(i % n);
                    }
                    Edit::Duplicate(i) => chunks.insert(i % n, chunks[i % n].clone()),
                    Edit::Swap(a, b) => chunks.swap(a % n, b % n),
                    Edit::Front(i) => {
                        let chunk = chunks.remove(i % n);
                        chunks.insert(0, chunk);
                    }
                }
            }
            let bytes = assemble(&chunks).expect("assembles");
            if Recording::parse(&bytes, "fuzzed.rec").is_ok() {
                read_ok.set(read_ok.get() + 1);
            }
            read_and_replay(&bytes, 300)
        })
        .expect("no failing case");
    // Dropping a trailing tick chunk, say, still reads: the generator reached both outcomes.
    let read_ok = read_ok.get();
    assert!(read_ok > 0 && read_ok < cases(800), "some edits read, some are refused: {read_ok}");
}

fn fight_header() -> Header {
    match &split(&fixture("fight.rec"))[0] {
        Chunk::Header(h) => h.clone(),
        other => panic!("{other:?}"),
    }
}

/// Header fields drawn over their whole ranges, with a bias to the edges of the valid ones.
fn header_fields() -> impl Strategy<Value = (u16, u16, u16, u32, u16, u32, u8)> {
    let rate = prop_oneof![Just(0u16), Just(1), Just(60), Just(1000), Just(1001), any::<u16>()];
    let unbacked = UNBACKED_SPAWNS as u32;
    let npcs = prop_oneof![Just(0u32), Just(unbacked), Just(unbacked + 1), Just(1_000_000), any::<u32>()];
    let interval = prop_oneof![Just(0u32), Just(1), Just(216_000), Just(216_001), any::<u32>()];
    (rate.clone(), rate, any::<u16>(), npcs, any::<u16>(), interval, 0u8..6)
}

#[test]
fn crafted_headers_are_refused_unless_within_the_command_lines_bounds() {
    let good = split(&fixture("fight.rec"));
    runner(400)
        .run(&header_fields(), |(tick_rate, snapshot_rate, max_players, npcs, rewind, interval, map_damage)| {
            let mut h = fight_header();
            (h.tick_rate, h.snapshot_rate, h.max_players) = (tick_rate, snapshot_rate, max_players);
            h.game_settings = shared::codec::encode(&Arena { npcs, max_rewind_ms: rewind }).expect("encode");
            h.checksum_interval = interval;
            match map_damage {
                0 => h.map.spawns.clear(),
                1 => h.map.height = f32::NAN,
                2 => h.map.walls.push(shared::Rect { x: 0.0, y: 0.0, w: -1.0, h: 1.0 }),
                _ => {}
            }
            h.map_hash = map_hash(&h.map);
            // The engine's fields, which the reader checks.
            let header_valid = (1..=limits::MAX_TICK_RATE).contains(&tick_rate)
                && (1..=tick_rate).contains(&snapshot_rate)
                && max_players >= 1
                && (1..=limits::MAX_CHECKSUM_INTERVAL).contains(&interval)
                && map_damage >= 3;
            // The arena's, which the replay checks before it builds anything: in range, and a
            // crowd beyond the unbacked limit only if the file lists it (this one lists none).
            let settings_valid = npcs <= limits::MAX_NPCS && rewind <= limits::MAX_REWIND_MS;
            let backed = u64::from(npcs) <= UNBACKED_SPAWNS;
            let mut chunks = good.clone();
            chunks[0] = Chunk::Header(h);
            // Only the header is kept: what follows was recorded under other settings.
            chunks.truncate(2);
            let bytes = assemble(&chunks).expect("assemble");
            match Recording::parse(&bytes, "fuzzed.rec") {
                Ok(recording) => {
                    prop_assert!(header_valid, "accepted {:?}", recording.header);
                    match Replayer::check_replayable(&recording, &engine::games::catalog()) {
                        Ok(()) => prop_assert!(settings_valid && backed, "replays {npcs} NPCs, rewind {rewind} ms"),
                        Err(ReplayError::Game(GameError::Settings { game: "arena", .. })) => {
                            prop_assert!(!settings_valid, "refused valid settings: {npcs} NPCs, rewind {rewind} ms");
                        }
                        Err(ReplayError::Unbacked(why)) => {
                            prop_assert!(settings_valid && !backed, "refused as unbacked: {why}");
                            prop_assert!(why.contains(&format!("its game spawns {npcs} entities at start")), "{why}");
                        }
                        Err(other) => prop_assert!(false, "refused for another reason: {other}"),
                    }
                    read_and_replay(&bytes, 30)?;
                }
                Err(error) => {
                    prop_assert!(!header_valid, "refused a valid header: {error}");
                    prop_assert!(error.to_string().starts_with("fuzzed.rec cannot be replayed: its header is invalid"));
                }
            }
            Ok(())
        })
        .expect("no failing case");
}

#[derive(Debug, Clone)]
enum Crafted {
    Join(u32),
    Leave(u32),
    Held(u32, u32, u32),
    Input(u32),
}

/// Records of events, each event with whether it keeps to the rules (nine in ten do: the
/// mapping below bends those into valid ones, so that files read often enough to be replayed).
fn crafted_ticks() -> impl Strategy<Value = Vec<(u64, Vec<(Crafted, bool)>)>> {
    let client = prop_oneof![1u32..6, 0u32..40, any::<u32>()];
    let run = prop_oneof![1u32..=60, 0u32..2000, any::<u32>()];
    let event = prop_oneof![
        client.clone().prop_map(Crafted::Join),
        client.clone().prop_map(Crafted::Leave),
        (client.clone(), run, 0u32..3).prop_map(|(c, t, v)| Crafted::Held(c, t, v)),
        client.prop_map(Crafted::Input),
    ];
    let gap = prop_oneof![8 => 1u64..5, 1 => 1u64..100, 1 => any::<u64>()];
    let events = prop::collection::vec((event, prop::bool::weighted(0.9)), 0..12);
    prop::collection::vec((gap, events), 1..40)
}

/// Crafted joins, leaves, inputs and held runs: whatever reads feeds one input per player and
/// tick, never more players than the limit, within the decode budget.
#[test]
fn crafted_held_runs_read_only_within_their_bounds() {
    let mut header = fight_header();
    header.max_players = 8;
    // The game's bytes of an input that changes the movement only.
    let moving_right =
        shared::codec::encode(&shared::arena::Input { movement: glam::Vec2::X, ..Default::default() }).expect("encode");
    let accepted = std::cell::Cell::new(0u32);
    runner(600)
        .run(&crafted_ticks(), |records| {
            let mut tick = 0u64;
            let mut ticks = Vec::new();
            // Players in the game, each with the last tick its inputs cover.
            let mut joined: std::collections::BTreeMap<u32, u64> = Default::default();
            for (gap, events) in records {
                tick = tick.saturating_add(gap);
                let events = events
                    .into_iter()
                    .filter_map(|(e, obey)| {
                        if !obey {
                            return Some(e);
                        }
                        match e {
                            Crafted::Join(c) | Crafted::Leave(c) if joined.remove(&c).is_some() => {
                                Some(Crafted::Leave(c))
                            }
                            Crafted::Join(c) if joined.len() < 8 => {
                                joined.insert(c, 0);
                                Some(Crafted::Join(c))
                            }
                            Crafted::Held(c, t, v) if joined.get(&c).is_some_and(|b| *b < tick) => {
                                let t = t.clamp(1, 60);
                                joined.insert(c, tick.saturating_add(u64::from(t) - 1));
                                Some(Crafted::Held(c, t, v))
                            }
                            Crafted::Input(c) if joined.get(&c).is_some_and(|b| *b < tick) => {
                                joined.insert(c, tick);
                                Some(Crafted::Input(c))
                            }
                            _ => None,
                        }
                    })
                    .map(|e| match e {
                        Crafted::Join(client) => Event::Join { client, name: "x".into() },
                        Crafted::Leave(client) => Event::Leave { client },
                        Crafted::Held(client, ticks, view_step) => Event::Held { client, ticks, view_step },
                        Crafted::Input(client) => Event::Input {
                            client,
                            delta: engine::record::format::InputDelta {
                                seq: None,
                                view_tick: None,
                                data: Some(moving_right.clone()),
                            },
                        },
                    })
                    .collect();
                ticks.push(TickRecord { tick, events });
            }
            let checksum = Chunk::Checksum(Checksum { tick: 0, hash: 0, listing: None });
            let chunks = vec![Chunk::Header(header.clone()), checksum, Chunk::Ticks(ticks)];
            let bytes = assemble(&chunks).expect("assemble");
            let Ok(recording) = Recording::parse(&bytes, "fuzzed.rec") else {
                return read_and_replay(&bytes, 0);
            };
            accepted.set(accepted.get() + 1);
            let budget = DECODE_FLOOR_BYTES + DECODE_BYTES_PER_FILE_BYTE * bytes.len();
            prop_assert!(recording.decoded_bytes <= budget);
            for (tick, entries) in recording.journal() {
                let mut clients: Vec<u32> = entries
                    .iter()
                    .filter_map(|e| if let JournalEntry::Input { client, .. } = e { Some(client.0) } else { None })
                    .collect();
                let inputs = clients.len();
                clients.dedup();
                prop_assert_eq!(clients.len(), inputs, "one input per client at tick {}", tick);
                prop_assert!(inputs <= 8, "{} inputs at tick {}", inputs, tick);
            }
            read_and_replay(&bytes, 200)
        })
        .expect("no failing case");
    assert!(accepted.get() > 0, "some crafted files read");
}
