//! Recordings from strangers, against the real binary: `server replay` is run on crafted files
//! (headers out of the command line's bounds, bad maps, NPC counts the file does not back, held
//! runs too long, overlapping or of nobody, a flood of tiny events) under an address-space limit
//! (`prlimit --as`), and must refuse each with exit 2 and a clear message, fast, without
//! allocating beyond the limit. The shape that used to expand a few megabytes into tens of
//! gigabytes (long held runs for a full game) now reads into a few megabytes. Damaged tails
//! (the zeros a crash leaves, random bytes) replay up to the last good chunk with exit 3.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use engine::games::arena::Arena;
use engine::record::chunk::{assemble, split};
use engine::record::format::{Checksum, Chunk, Event, Header, TickRecord, map_hash};
use engine::record::reader::{Ending, Recording};
use engine::splitmix::SplitMix;

const BIN: &str = env!("CARGO_BIN_EXE_server");
/// The address space a hostile replay may use. The binary replays the checked-in crowd within
/// 64 MiB; this leaves it about 100 MB more.
const ADDRESS_SPACE: u64 = 160 << 20;

fn fixture_chunks(name: &str) -> Vec<Chunk> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/recordings").join(name);
    split(&std::fs::read(path).expect("checked-in recording"))
}

fn header_of(chunks: &[Chunk]) -> Header {
    match &chunks[0] {
        Chunk::Header(h) => h.clone(),
        other => panic!("not a header: {other:?}"),
    }
}

/// The fight recording with its header changed by `change` (the map hash recomputed after).
fn with_header(change: impl FnOnce(&mut Header)) -> Vec<u8> {
    let mut chunks = fixture_chunks("fight.rec");
    let mut header = header_of(&chunks);
    change(&mut header);
    header.map_hash = map_hash(&header.map);
    chunks[0] = Chunk::Header(header);
    assemble(&chunks).expect("assemble")
}

/// The arena settings a header carries.
fn arena_of(header: &Header) -> Arena {
    assert_eq!(header.game, "arena");
    shared::codec::decode(&header.game_settings).expect("arena settings")
}

/// Changes the arena settings `header` carries.
fn change_arena(header: &mut Header, change: impl FnOnce(&mut Arena)) {
    let mut arena = arena_of(header);
    change(&mut arena);
    header.game_settings = shared::codec::encode(&arena).expect("encode arena settings");
}

/// A header for hand-made recordings: the fight's map, `tick_rate`, 32 players, no NPCs.
fn bare_header(tick_rate: u16, checksum_interval: u32) -> Header {
    let mut header = header_of(&fixture_chunks("fight.rec"));
    header.tick_rate = tick_rate;
    header.snapshot_rate = 20;
    header.max_players = 32;
    change_arena(&mut header, |a| a.npcs = 0);
    header.checksum_interval = checksum_interval;
    header
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `server replay FILE ARGS…` under the address-space limit.
fn replay(bytes: &[u8], args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("crafted.rec");
    std::fs::write(&file, bytes).expect("write");
    replay_file(&file, args)
}

fn replay_file(file: &Path, args: &[&str]) -> Outcome {
    let began = Instant::now();
    let out = Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(BIN)
        .arg("replay")
        .arg(file)
        .args(args)
        .output()
        .expect("run prlimit");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: began.elapsed(),
    }
}

/// Exit 2, a message containing `expected`, within a second.
fn assert_refused(bytes: &[u8], expected: &str) {
    let out = replay(bytes, &[]);
    assert_eq!(out.code, Some(2), "refused with exit 2: {}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains(expected), "{expected:?} in: {}", out.stderr);
    assert!(!out.stderr.contains("memory allocation"), "no allocation failure: {}", out.stderr);
    assert!(out.took < Duration::from_secs(1), "refused in {:?}", out.took);
}

#[test]
fn the_limit_leaves_a_real_replay_room() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/recordings/crowd500.rec");
    let out = replay_file(&path, &[]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
}

type HeaderChange = Box<dyn Fn(&mut Header)>;

#[test]
fn headers_outside_the_command_lines_bounds_are_refused() {
    let cases: [(&str, HeaderChange); 7] = [
        ("tick rate 0 is outside 1 to 1000", Box::new(|h| h.tick_rate = 0)),
        ("tick rate 65535 is outside 1 to 1000", Box::new(|h| h.tick_rate = u16::MAX)),
        ("snapshot rate 0 is outside 1 to the tick rate (60)", Box::new(|h| h.snapshot_rate = 0)),
        ("snapshot rate 61 is outside 1 to the tick rate (60)", Box::new(|h| h.snapshot_rate = 61)),
        ("a player limit of 0", Box::new(|h| h.max_players = 0)),
        ("a checksum interval of 0 ticks is outside 1 to 216000", Box::new(|h| h.checksum_interval = 0)),
        ("a checksum interval of 4294967295 ticks", Box::new(|h| h.checksum_interval = u32::MAX)),
    ];
    for (expected, change) in cases {
        let bytes = with_header(change);
        assert_refused(&bytes, expected);
        assert_refused(&bytes, "crafted.rec cannot be replayed: its header is invalid: ");
    }
}

/// The game's settings in the header are the game's to check, as `--npcs` and `--max-rewind-ms`
/// are on the command line: the replay refuses them before it builds anything.
#[test]
fn game_settings_outside_the_command_lines_bounds_are_refused() {
    let cases: [(&str, HeaderChange); 4] = [
        (
            "bad arena settings: 1000000000 NPCs is more than the 1000000 allowed",
            Box::new(|h| change_arena(h, |a| a.npcs = 1_000_000_000)),
        ),
        (
            "bad arena settings: a rewind of 60000 ms is more than the 1000 ms allowed",
            Box::new(|h| change_arena(h, |a| a.max_rewind_ms = 60_000)),
        ),
        ("bad arena settings: ", Box::new(|h| h.game_settings.clear())),
        ("no game named \"chess\"", Box::new(|h| h.game = "chess".into())),
    ];
    for (expected, change) in cases {
        let bytes = with_header(change);
        assert_refused(&bytes, expected);
        assert_refused(&bytes, "error: cannot replay this recording: ");
    }
}

#[test]
fn bad_maps_are_refused_as_a_map_file_would_be() {
    assert_refused(&with_header(|h| h.map.spawns.clear()), "its map is invalid: needs 1 to");
    assert_refused(&with_header(|h| h.map.width = f32::INFINITY), "its map is invalid: width and height");
    assert_refused(&with_header(|h| h.map.walls[0].w = f32::NAN), "its map is invalid: wall 0");
    let spawn = with_header(|h| {
        let wall = h.map.walls[0];
        h.map.spawns[0] = glam::Vec2::new(wall.x + wall.w / 2.0, wall.y + wall.h / 2.0);
    });
    assert_refused(&spawn, "lies inside wall 0");
    // A map changed after its hash was taken.
    let mut chunks = fixture_chunks("fight.rec");
    let mut header = header_of(&chunks);
    header.map.width += 1.0;
    chunks[0] = Chunk::Header(header);
    assert_refused(&assemble(&chunks).expect("assemble"), "the map does not match its hash");
}

/// A million NPCs is a valid command line, and about a gigabyte of simulation: a header may
/// claim it only if its first checksum lists that crowd (3 bytes each), so the file pays for it.
#[test]
fn a_crowd_the_file_does_not_list_is_refused_before_it_is_built() {
    assert_refused(
        &with_header(|h| change_arena(h, |a| a.npcs = 1_000_000)),
        "its game spawns 1000000 entities at start, but its first checksum lists",
    );
    // A crowd of up to 10 000 needs no listing: it is built (and then diverges at tick 0, since
    // the fight had none).
    let out = replay(&with_header(|h| change_arena(h, |a| a.npcs = 10_000)), &[]);
    assert_eq!(out.code, Some(1), "built and diverged: {}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("diverged at tick 0"), "{}", out.stderr);
}

/// `Ticks` chunks of `records`, cut so that none comes near the reader's limit.
fn ticks_chunks(records: Vec<TickRecord>) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        chunks.push(Chunk::Ticks(records.by_ref().take(2000).collect()));
    }
    chunks
}

fn joins(tick: u64, clients: std::ops::RangeInclusive<u32>) -> TickRecord {
    TickRecord { tick, events: clients.map(|client| Event::Join { client, name: format!("p{client}") }).collect() }
}

fn file(header: Header, mut rest: Vec<Chunk>) -> Vec<u8> {
    rest.insert(0, Chunk::Header(header));
    assemble(&rest).expect("assemble")
}

#[test]
fn held_runs_too_long_overlapping_or_of_nobody_are_refused() {
    let held = |client, ticks| Event::Held { client, ticks, view_step: 1 };
    // A run of 65 535 ticks: once 65 535 inputs from six bytes.
    let long = vec![joins(1, 1..=1), TickRecord { tick: 2, events: vec![held(1, u32::from(u16::MAX))] }];
    assert_refused(&file(bare_header(60, 60), ticks_chunks(long)), "a held run of 65535 ticks at tick 2 (1 to 60");
    // Two runs of one client over the same ticks.
    let overlapping = vec![
        joins(1, 1..=1),
        TickRecord { tick: 2, events: vec![held(1, 30)] },
        TickRecord { tick: 3, events: vec![held(1, 30)] },
    ];
    assert_refused(&file(bare_header(60, 60), ticks_chunks(overlapping)), "a second input of client 1 at tick 3");
    // Runs of a client that never joined.
    let nobody = vec![TickRecord { tick: 2, events: vec![held(7, 30)] }];
    assert_refused(&file(bare_header(60, 60), ticks_chunks(nobody)), "an input of client 7 at tick 2, which is not");
    // More players than the header's limit.
    let crowd = vec![joins(1, 1..=33)];
    assert_refused(&file(bare_header(60, 60), ticks_chunks(crowd)), "beyond the limit of 32 players");
}

/// The shape that used to explode: 32 players holding keys in runs of a full second at 1000 Hz.
/// 2 MB of file were 27 GB of inputs once expanded; runs now stay runs.
#[test]
fn long_held_runs_of_a_full_game_read_into_little_memory() {
    let mut records = vec![joins(1, 1..=32)];
    let mut checksums = Vec::new();
    for run in 0..15_000u64 {
        let tick = 2 + run * 1000;
        let events = (1..=32).map(|client| Event::Held { client, ticks: 1000, view_step: 1 }).collect();
        records.push(TickRecord { tick, events });
    }
    let mut chunks = ticks_chunks(records);
    checksums.push(Chunk::Checksum(Checksum { tick: 0, hash: 0, listing: None }));
    chunks.splice(0..0, checksums);
    let bytes = file(bare_header(1000, 216_000), chunks);
    assert!(bytes.len() < 3 << 20, "a small file: {} bytes", bytes.len());
    let recording = Recording::parse(&bytes, "held.rec").expect("well formed");
    let inputs: u64 = recording.held.values().flatten().map(|run| u64::from(run.ticks)).sum();
    assert_eq!(inputs, 15_000 * 32 * 1000, "480 million inputs, as runs");
    // About 18 MB: 1216 bytes per tick with runs, where expanded inputs took 1.8 MB.
    assert!(recording.decoded_bytes < 20 << 20, "decodes to {} bytes", recording.decoded_bytes);
    assert_eq!(recording.entries_at(1500).len(), 32, "one input per player at a tick");

    // The binary reads it under the limit and replays a stretch of it; the tick-0 checksum
    // is wrong, so it diverges there: exit 1, not an allocation failure.
    let out = replay(&bytes, &["--until", "100"]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("diverged at tick 0"), "{}", out.stderr);
    let out = replay(&bytes, &["--until", "2000", "--no-verify"]);
    assert_eq!(out.code, Some(3), "cut short, replayed: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("replayed 2000 ticks"), "{}", out.stdout);
}

/// Tiny events that decode to far more than their bytes (a player joining and leaving, five
/// bytes for two entries) are stopped by the decode budget, with a clear message and within
/// the limit.
#[test]
fn a_flood_of_tiny_events_is_stopped_by_the_decode_budget() {
    let records: Vec<TickRecord> = (1..=1000u64)
        .map(|tick| TickRecord {
            tick,
            events: (0..400)
                .flat_map(|_| [Event::Join { client: 1, name: String::new() }, Event::Leave { client: 1 }])
                .collect(),
        })
        .collect();
    let mut chunks: Vec<Chunk> = vec![Chunk::Checksum(Checksum { tick: 0, hash: 0, listing: None })];
    for record in records {
        chunks.push(Chunk::Ticks(vec![record]));
    }
    let bytes = file(bare_header(60, 60), chunks);
    assert!(bytes.len() < 3 << 20, "{} bytes", bytes.len());
    let out = replay(&bytes, &[]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("decodes to more than") && out.stderr.contains("a crafted file?"), "{}", out.stderr);
    // The budget runs out after about 1.3 MB, half a million events: a debug build decodes
    // them in about 1.5 s (2.7 µs an event), a release build in a fraction of that.
    assert!(out.took < Duration::from_secs(3), "refused in {:?}", out.took);
    println!("{} bytes refused in {:?}", bytes.len(), out.took);
}

/// The fight recording without its end marker, as a crash leaves it, and the offset where its
/// good data ends.
fn cut_fight() -> (Vec<u8>, usize, u64) {
    let mut chunks = fixture_chunks("fight.rec");
    assert!(matches!(chunks.pop(), Some(Chunk::End { .. })));
    let bytes = assemble(&chunks).expect("assemble");
    let recording = Recording::parse(&bytes, "cut.rec").expect("reads");
    let len = bytes.len();
    (bytes, len, recording.ending.last_tick())
}

#[test]
fn a_zero_tail_replays_up_to_the_last_good_chunk_with_exit_3() {
    let (mut bytes, good, last_tick) = cut_fight();
    bytes.extend_from_slice(&[0; 64]);
    let recording = Recording::parse(&bytes, "zeros.rec").expect("reads up to the tail");
    let Ending::Cut { good_bytes, trailing_bytes, damage, .. } = &recording.ending else { panic!() };
    assert_eq!((*good_bytes, *trailing_bytes), (good, 64));
    assert!(damage.as_deref().is_some_and(|d| d.contains("undecodable")), "{damage:?}");

    let out = replay(&bytes, &[]);
    assert_eq!(out.code, Some(3), "truncated but verified: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(&format!("ends at tick {last_tick} without an end marker")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("the good data ends at byte {good}")), "{}", out.stdout);
    assert!(out.stdout.contains("the 64 bytes after it are not a chunk"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("replayed and verified up to tick {last_tick}; exit code 3")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("16 checksums verified"), "{}", out.stdout);
}

#[test]
fn a_random_tail_replays_up_to_the_last_good_chunk_with_exit_3() {
    let (clean, good, last_tick) = cut_fight();
    let mut rng = SplitMix(14);
    for len in [1usize, 7, 100, 5000] {
        let mut bytes = clean.clone();
        bytes.extend((0..len).map(|_| rng.next_u64() as u8));
        let out = replay(&bytes, &[]);
        assert_eq!(out.code, Some(3), "{len} random bytes: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(&format!("the good data ends at byte {good}")), "{}", out.stdout);
        assert!(out.stdout.contains(&format!("verified up to tick {last_tick}")), "{}", out.stdout);
    }
}

#[test]
fn damage_in_the_middle_is_still_refused_as_corrupt() {
    let (mut bytes, good, _) = cut_fight();
    bytes[good / 2] ^= 0x10;
    let out = replay(&bytes, &[]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("is corrupted: chunk") && out.stderr.contains("CRC mismatch"), "{}", out.stderr);
}
