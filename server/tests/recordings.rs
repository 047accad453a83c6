//! Recordings: the checked-in ones replay and match every checksum; replays are identical
//! however threads are scheduled; bad files get clear errors; divergence names tick and
//! entities.
//!
//! The checked-in recordings in `tests/recordings/` are produced by the scripts below. After an
//! intended change to the simulation, bump `SIM_VERSION` and regenerate them with
//! `UPDATE_RECORDINGS=1 cargo test -p server --test recordings`; the new files show in the diff.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engine::games::arena::Arena;
use engine::harness::Harness;
use engine::record::chunk::{assemble, split};
use engine::record::format::Chunk;
use engine::record::reader::{Ending, Recording};
use engine::record::replay::{EntityDiff, Replayer};
use engine::sim::resources::SimSettings;
use glam::Vec2;
use shared::arena::{ArenaRecord, Buttons, Input};
use shared::{EntityKind, InputFrame, MapData, Rect};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/recordings").join(name)
}

/// A replay of `recording` with the games this server ships.
fn replay_of(recording: &Recording, verify: bool) -> Result<Replayer<'_>, engine::record::replay::ReplayError> {
    Replayer::new(recording, verify, &engine::games::catalog())
}

/// Runs `script` on an arena harness that records into `path`.
fn record(path: &Path, settings: SimSettings, arena: Arena, map: MapData, script: impl FnOnce(&mut Harness)) {
    let _ = std::fs::remove_file(path);
    let mut h = Harness::new(arena, settings, map).expect("the arena");
    h.record_to(path, 60).expect("create recording");
    script(&mut h);
    h.finish_recording().expect("recording written");
}

fn duel_map() -> MapData {
    MapData {
        id: "duel".into(),
        width: 1200.0,
        height: 800.0,
        walls: vec![Rect { x: 580.0, y: 100.0, w: 40.0, h: 200.0 }, Rect { x: 580.0, y: 500.0, w: 40.0, h: 200.0 }],
        spawns: vec![Vec2::new(600.0, 400.0)],
    }
}

/// Sends one input per tick for each scripted player, like a real client does.
struct Pad {
    seq: u32,
}

impl Pad {
    fn send(&mut self, h: &mut Harness, client: engine::bridge::ClientId, movement: Vec2, aim: f32, fire: bool) {
        self.seq += 1;
        let buttons = if fire { Buttons::FIRE } else { 0 };
        // Drawing others 6 ticks (100 ms) behind the tick that applies it: shots are rewound.
        let view_tick = (h.sim.tick() + 1).saturating_sub(6) as u32;
        h.input(client, InputFrame::new(self.seq, view_tick, &Input { movement, aim, buttons }));
    }
}

/// Two players fight: ann kills bob, bob respawns and kills ann; carl joins and leaves; ann
/// chats and the server announces.
fn fight(h: &mut Harness) {
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    h.step(1);
    let (mut pa, mut pb, mut pc) = (Pad { seq: 0 }, Pad { seq: 0 }, Pad { seq: 0 });
    let mut carl = None;
    for t in 0..900u32 {
        if t == 50 {
            carl = Some(h.connect(3, "carl"));
        }
        if t == 300
            && let Some(c) = carl.take()
        {
            h.disconnect(c);
        }
        if let Some(c) = carl {
            pc.send(h, c, Vec2::new(0.0, if t % 120 < 60 { -1.0 } else { 1.0 }), 1.5, false);
        }
        let wobble = ((t % 7) as f32 - 3.0) * 0.01;
        // Chat is recorded too, and changes nothing in the world.
        if t == 230 {
            h.chat(ann, "gg <b>bob</b>");
        }
        if t == 240 {
            h.announce("round two");
        }
        match t {
            // Walk apart along y = 400: ann to the right, bob to the left.
            0..100 => {
                pa.send(h, ann, Vec2::X, 0.0, false);
                pb.send(h, bob, -Vec2::X, 0.0, false);
            }
            // Ann fires at bob (four hits kill him); bob stands still, then respawns.
            100..400 => {
                pa.send(h, ann, Vec2::ZERO, std::f32::consts::PI - wobble.abs(), t < 220);
                pb.send(h, bob, Vec2::ZERO, 0.0, false);
            }
            // Bob (respawned in the middle) fires back at ann.
            _ => {
                pa.send(h, ann, Vec2::ZERO, std::f32::consts::PI, false);
                pb.send(h, bob, Vec2::ZERO, wobble, true);
            }
        }
        h.step(1);
    }
}

fn fight_settings() -> SimSettings {
    SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 8, seed: 42 }
}

fn fight_arena() -> Arena {
    Arena { npcs: 0, max_rewind_ms: engine::games::arena::lag_comp::DEFAULT_MAX_REWIND_MS }
}

/// One player wanders among 500 W1 NPCs.
fn crowd(h: &mut Harness) {
    let ann = h.connect(1, "ann");
    h.step(1);
    let mut pad = Pad { seq: 0 };
    for t in 0..600u32 {
        let angle = (t / 40) as f32 * 1.3;
        // Aiming back the way she walks: the opposite angle, in [-π, π] (the simulation applies
        // only inputs that pass the game's checks).
        let aim = angle.rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
        pad.send(h, ann, Vec2::new(angle.cos(), angle.sin()) * 0.9, aim, t % 90 < 10);
        h.step(1);
    }
}

fn crowd_settings() -> SimSettings {
    SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 8, seed: 7 }
}

fn crowd_arena() -> Arena {
    Arena { npcs: 500, max_rewind_ms: engine::games::arena::lag_comp::DEFAULT_MAX_REWIND_MS }
}

type Script = fn(&mut Harness);

fn fixtures() -> [(&'static str, SimSettings, Arena, MapData, Script); 2] {
    let arena_map = engine::map::load(None).expect("built-in map");
    [
        ("fight.rec", fight_settings(), fight_arena(), duel_map(), fight),
        ("crowd500.rec", crowd_settings(), crowd_arena(), arena_map, crowd),
    ]
}

#[test]
fn checked_in_recordings_are_what_the_scripts_produce() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, settings, arena, map, script) in fixtures() {
        let fresh = dir.path().join(name);
        record(&fresh, settings, arena, map, script);
        let fresh_bytes = std::fs::read(&fresh).expect("read fresh");
        if std::env::var_os("UPDATE_RECORDINGS").is_some() {
            std::fs::write(fixture(name), &fresh_bytes).expect("update fixture");
            continue;
        }
        let stored = Recording::open(&fixture(name)).expect("checked-in recording (UPDATE_RECORDINGS=1 creates it)");
        let fresh = Recording::parse(&fresh_bytes, name).expect("fresh recording parses");
        assert!(
            stored == fresh,
            "{name}: the script now records something else. If the simulation changed on purpose, bump \
             SIM_VERSION and regenerate with UPDATE_RECORDINGS=1 cargo test -p server --test recordings"
        );
    }
}

#[test]
fn checked_in_recordings_replay_and_match_every_checksum() {
    for (name, ..) in fixtures() {
        let recording = Recording::open(&fixture(name)).expect("opens");
        assert!(matches!(recording.ending, Ending::Finished { .. }), "{name} was finished cleanly");
        let mut replayer = replay_of(&recording, true).expect("same simulation version");
        replayer.check_start().expect("initial state matches");
        replayer.run_to(u64::MAX).unwrap_or_else(|d| panic!("{name}: {d}"));
        assert_eq!(replayer.tick(), recording.ending.last_tick());
        assert_eq!(replayer.checked() as usize, recording.checksums.len(), "{name}: every checksum verified");
        assert!(recording.checksums.len() >= 10, "{name} has checksums along the way");
    }
}

#[test]
fn the_fight_recording_has_hits_a_death_a_respawn_and_scores() {
    let recording = Recording::open(&fixture("fight.rec")).expect("opens");
    let mut replayer = replay_of(&recording, true).expect("replayable");
    let (mut saw_hit, mut saw_death, mut saw_respawn) = (false, false, false);
    let mut bob_was_dead = false;
    while replayer.tick() < replayer.end_tick() {
        replayer.step().expect("matches");
        let (entities, _) = replayer.state();
        let bob = entities.iter().find(|e| e.is(EntityKind::Player) && e.owner == 2).expect("bob");
        saw_hit |= bob.health() > 0 && bob.health() < 100;
        saw_death |= bob.health() == 0;
        saw_respawn |= bob_was_dead && bob.health() == 100;
        bob_was_dead = bob.health() == 0 || (bob_was_dead && bob.health() != 100);
    }
    assert!(saw_hit && saw_death && saw_respawn, "hit {saw_hit}, death {saw_death}, respawn {saw_respawn}");
    let (_, scores) = replayer.state();
    let score = |c: u32| scores.iter().find(|s| s.client == c).map(|s| (s.values[0], s.values[1]));
    assert_eq!(score(1), Some((1, 1)), "ann killed bob, then bob killed ann");
    assert_eq!(score(2), Some((1, 1)));
    assert_eq!(score(3), None, "carl left");
}

/// Every digest of a replay, from start to end.
fn all_digests(recording: &Recording, disturb: impl Fn()) -> Vec<(u64, u64)> {
    let mut replayer = replay_of(recording, true).expect("replayable");
    let mut digests = vec![(0, replayer.digest().hash)];
    while replayer.tick() < replayer.end_tick() {
        replayer.step().expect("matches");
        disturb();
        digests.push((replayer.tick(), replayer.digest().hash));
    }
    digests
}

/// Ann fires at bob, who strafes across her line of fire: which shots hit depends on where lag
/// compensation remembers bob (her inputs draw others 6 ticks back).
fn strafe(h: &mut Harness) {
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    h.step(1);
    let (mut pa, mut pb) = (Pad { seq: 0 }, Pad { seq: 0 });
    for t in 0..900u32 {
        if t < 100 {
            pa.send(h, ann, Vec2::X, 0.0, false);
            pb.send(h, bob, -Vec2::X, 0.0, false);
        } else {
            pa.send(h, ann, Vec2::ZERO, std::f32::consts::PI, true);
            pb.send(h, bob, Vec2::new(0.0, if (t / 9) % 2 == 0 { 1.0 } else { -1.0 }), 0.0, false);
        }
        h.step(1);
    }
}

/// Keyframes are exact: seeking back (to a keyframe, between two, to tick 0) or forward, then
/// stepping on, gives the straight run's digest at every tick and passes every checksum.
#[test]
fn seeking_through_keyframes_gives_the_straight_runs_digests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let strafed = dir.path().join("strafe.rec");
    record(&strafed, fight_settings(), fight_arena(), duel_map(), strafe);
    for (name, path) in
        [("fight.rec", fixture("fight.rec")), ("crowd500.rec", fixture("crowd500.rec")), ("strafe", strafed)]
    {
        let recording = Recording::open(&path).expect("opens");
        let straight = all_digests(&recording, || {});
        let end = recording.ending.last_tick();
        let mut replayer = replay_of(&recording, true).expect("replayable");
        replayer.run_to(u64::MAX).expect("matches");
        let (kept, every, bytes) = replayer.keyframes();
        assert_eq!((kept as u64, every), (end / 60 + 1, 60), "{name}: a keyframe a second, tick 0 included");
        assert!(bytes > 0 && bytes < 8 << 20, "{name}: {bytes} bytes of keyframes");
        for target in [0, 1, 59, 60, 61, 250, 300, 301, 599, 600, 601, 777, end - 1, 10, 899, end, 420, 419] {
            let target = target.min(end);
            replayer.seek(target);
            assert_eq!(replayer.tick(), target, "{name}");
            assert_eq!(replayer.digest().hash, straight[target as usize].1, "{name}: seek to {target}");
            for _ in 0..130 {
                if replayer.tick() >= end {
                    break;
                }
                replayer.step().unwrap_or_else(|d| panic!("{name}: after a seek to {target}: {d}"));
                let tick = replayer.tick();
                assert_eq!(replayer.digest().hash, straight[tick as usize].1, "{name}: tick {tick} after {target}");
            }
        }
    }
}

#[test]
fn a_recording_replays_identically_twice_and_under_load() {
    let recording = Recording::open(&fixture("crowd500.rec")).expect("opens");
    let first = all_digests(&recording, || {});
    let second = all_digests(&recording, || {});
    assert_eq!(first, second, "two replays differ");

    // Other threads competing for both cores, and this one yielding between ticks.
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                x
            })
        })
        .collect();
    let loaded = all_digests(&recording, std::thread::yield_now);
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        hog.join().expect("hog thread");
    }
    assert_eq!(first, loaded, "a replay under load differs");
    assert_eq!(first.len() as u64, recording.ending.last_tick() + 1);
}

/// A copy of the crowd recording whose digests from tick `from` on are tampered with, as if
/// the simulation had changed there: where entities are listed, entity 7's hash differs and
/// entity 3 is missing.
fn tampered_crowd(from: u64) -> Vec<u8> {
    let mut chunks = split(&std::fs::read(fixture("crowd500.rec")).expect("read"));
    for chunk in &mut chunks {
        if let Chunk::Checksum(c) = chunk
            && c.tick >= from
        {
            c.hash ^= 1;
            if let Some(listing) = &mut c.listing {
                listing.entity_hashes[7 * 2] ^= 1;
                // Drop entity 3: its bytes, and its gap (merged into the next entity's).
                listing.entity_hashes.drain(3 * 2..4 * 2);
                let gap = listing.id_gaps.remove(3);
                listing.id_gaps[3] += gap;
            }
        }
    }
    assemble(&chunks).expect("assemble")
}

#[test]
fn a_cut_recording_replays_up_to_its_last_complete_chunk() {
    let bytes = std::fs::read(fixture("fight.rec")).expect("read");
    // Cut inside the last chunks, as `kill -9` during a write would.
    let cut = &bytes[..bytes.len() - 30];
    let recording = Recording::parse(cut, "cut.rec").expect("readable");
    let Ending::Cut { last_tick, trailing_bytes, .. } = recording.ending else { panic!("{:?}", recording.ending) };
    assert!(trailing_bytes > 0, "the partial chunk is reported");
    assert!(last_tick > 600, "most of the match survives: {last_tick}");
    let mut replayer = replay_of(&recording, true).expect("replayable");
    replayer.run_to(u64::MAX).expect("what is there matches");
    assert_eq!(replayer.tick(), last_tick);
}

#[test]
fn chat_is_recorded_and_an_older_format_is_refused_by_its_version() {
    let fight = Recording::open(&fixture("fight.rec")).expect("opens");
    let lines: Vec<_> = fight
        .ticks
        .iter()
        .flat_map(|(tick, entries)| entries.iter().map(move |e| (*tick, e)))
        .filter_map(|(tick, e)| match e {
            engine::sim::journal::JournalEntry::Chat { client, name, text } => {
                Some((tick, client.0, name.as_str(), text.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(lines, [(232, 1, "ann", "gg <b>bob</b>"), (242, 0, "server", "round two")]);

    // Version 4 changed the header and every input's layout (the engine's, for any game) along
    // with the simulation: a version-3 file is refused by its version, before anything misreads
    // it.
    let mut bytes = std::fs::read(fixture("crowd500.rec")).expect("read");
    bytes[8..10].copy_from_slice(&3u16.to_le_bytes());
    let refused = Recording::parse(&bytes, "v3.rec").expect_err("v3 refused").to_string();
    assert!(refused.contains("format version 3"), "{refused}");
}

#[test]
fn bad_files_get_clear_errors() {
    let good = std::fs::read(fixture("fight.rec")).expect("read");
    let err = |bytes: &[u8]| Recording::parse(bytes, "x.rec").expect_err("refused").to_string();

    assert_eq!(err(b"hello, world\n"), "x.rec is not a recording (it does not start with \"ARENAREC\")");
    assert_eq!(err(b""), "x.rec is not a recording (it does not start with \"ARENAREC\")");

    let mut foreign = good.clone();
    foreign[8..10].copy_from_slice(&99u16.to_le_bytes());
    assert_eq!(
        err(&foreign),
        "x.rec is a recording in format version 99; this build reads format version 4 only (older files come \
         from a server whose simulation this one cannot replay)"
    );

    assert_eq!(err(&good[..40]), "x.rec is truncated: it ends before its header is complete (40 bytes)");

    let mut flipped = good.clone();
    let middle = good.len() / 2;
    flipped[middle] ^= 0x10;
    let message = err(&flipped);
    assert!(message.starts_with("x.rec is corrupted: chunk "), "{message}");
    assert!(message.contains("CRC mismatch"), "{message}");

    let mut huge = good.clone();
    huge[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    let message = err(&huge);
    assert!(message.contains("chunk 0 at byte 10") && message.contains("exceeds the limit"), "{message}");

    let missing = std::path::Path::new("/nonexistent/x.rec");
    let message = Recording::open(missing).expect_err("refused").to_string();
    assert!(message.starts_with("cannot read /nonexistent/x.rec"), "{message}");
}

#[test]
fn a_recording_of_another_simulation_version_is_refused() {
    let mut chunks = split(&std::fs::read(fixture("fight.rec")).expect("read"));
    let Chunk::Header(header) = &mut chunks[0] else { panic!("header first") };
    header.sim_version += 1;
    let recorded = header.sim_version;
    let recording =
        Recording::parse(&assemble(&chunks).expect("assemble"), "old.rec").expect("the file itself is fine");
    let message = replay_of(&recording, true).err().expect("refused").to_string();
    assert!(
        message.starts_with(&format!(
            "this recording was made by simulation version {recorded}; this build is simulation version {}",
            engine::sim::SIM_VERSION
        )),
        "{message}"
    );
}

#[test]
fn a_divergence_names_the_first_tick_and_the_entities() {
    // Tick 600 is the 10th checksum after tick 0: the next one that lists the entities.
    let recording = Recording::parse(&tampered_crowd(600), "t.rec").expect("parses");
    let mut replayer = replay_of(&recording, true).expect("replayable");
    let divergence = replayer.run_to(u64::MAX).expect_err("diverges");
    assert_eq!(divergence.tick, 600, "the first tampered checksum");
    assert!(divergence.listed);
    // Entity 7's hash was changed, then entity 3 removed from the recorded list (so the
    // listing's 4th id is entity 4's; entity 3 is the replay's 4th).
    let ours = replayer.digest().entities;
    let (id3, id7) = (ours[3].0, ours[7].0);
    assert_eq!(divergence.entities, vec![(id3, EntityDiff::Extra), (id7, EntityDiff::Changed)]);
    let text = divergence.to_string();
    assert!(text.starts_with("diverged at tick 600"), "{text}");
    assert!(text.contains(&format!("{id7} (Changed)")), "{text}");
}

#[test]
fn entities_are_listed_every_tenth_checksum_and_a_divergence_between_says_so() {
    let recording = Recording::open(&fixture("crowd500.rec")).expect("opens");
    let listed: Vec<u64> = recording.checksums.values().filter(|c| c.listing.is_some()).map(|c| c.tick).collect();
    assert_eq!(listed, [0, 600]);
    assert_eq!(recording.checksums.len(), 11, "the whole-state hash is at every checksum");

    let recording = Recording::parse(&tampered_crowd(240), "t.rec").expect("parses");
    let mut replayer = replay_of(&recording, true).expect("replayable");
    let divergence = replayer.run_to(u64::MAX).expect_err("diverges");
    assert_eq!((divergence.tick, divergence.listed, divergence.next_listing), (240, false, Some(600)));
    assert!(divergence.entities.is_empty());
    let text = divergence.to_string();
    assert!(text.contains("cannot be named here; the next listing is at tick 600"), "{text}");
}

/// Runs `server replay ARGS…`; exit code, stdout, stderr.
fn replay_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server")).arg("replay").args(args).output().expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_replay_command_verifies_and_reports() {
    let fight = fixture("fight.rec");
    let (code, out, err) = replay_cli(&[fight.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("ends cleanly at tick 901"), "{out}");
    assert!(out.contains("replayed 901 ticks (15.0 s of play)"), "{out}");
    assert!(out.contains("x real time; 16 checksums verified"), "{out}");
    assert!(out.contains("scoreboard (2 players)") && out.contains("ann") && out.contains("bob"), "{out}");

    let (code, out, _) =
        replay_cli(&[fight.to_str().expect("utf-8"), "--until", "100", "--dump-state", "50", "--no-verify"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("state at tick 50 (hash "), "{out}");
    assert!(out.contains("Player") && out.contains("owner 1") && out.contains("owner 2"), "{out}");
    assert!(out.contains("replayed 100 ticks") && out.contains("0 checksums verified"), "{out}");
}

#[test]
fn the_replay_command_fails_on_divergence_and_bad_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tampered = dir.path().join("tampered.rec");
    std::fs::write(&tampered, tampered_crowd(240)).expect("write");
    let (code, out, err) = replay_cli(&[tampered.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "divergence exits 1: {out}{err}");
    assert!(err.contains("error: diverged at tick 240"), "{err}");
    assert!(err.contains("cannot be named here"), "{err}");
    assert!(out.contains("replayed 240 ticks"), "stops at the first divergence: {out}");
    std::fs::write(&tampered, tampered_crowd(600)).expect("write");
    let (code, _, err) = replay_cli(&[tampered.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("error: diverged at tick 600") && err.contains("2 entities differ"), "{err}");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a recording").expect("write");
    let (code, _, err) = replay_cli(&[text.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "an unusable file exits 2");
    assert!(err.contains("is not a recording"), "{err}");
}

/// What a recording costs once read stays well inside the reader's decode budget: the fixtures
/// take a few bytes of memory per byte of file (`DECODE_BYTES_PER_FILE_BYTE` allows 16; they
/// must stay within three quarters of it).
#[test]
fn recordings_decode_well_within_the_budget() {
    for name in ["fight.rec", "crowd500.rec"] {
        let bytes = std::fs::read(fixture(name)).expect("read");
        let recording = Recording::parse(&bytes, name).expect("reads");
        let ratio = recording.decoded_bytes as f64 / bytes.len() as f64;
        println!("{name}: {} bytes decode to about {} ({ratio:.1} per byte)", bytes.len(), recording.decoded_bytes);
        let allowed = engine::record::reader::DECODE_BYTES_PER_FILE_BYTE as f64;
        assert!(ratio <= allowed * 0.75, "{name}: {ratio:.1} of {allowed}");
    }
}
