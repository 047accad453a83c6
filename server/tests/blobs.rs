//! The blobs game, written only through the game API: its rules (pellets, eating, decay, mass
//! and speed), its scoreboard, and that a session records and replays bit for bit.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use engine::games::blobs::rules::{self, START_MASS};
use engine::games::blobs::{Blob, Blobs, Pellet, Steer};
use engine::harness::Harness;
use engine::record::reader::Recording;
use engine::record::replay::Replayer;
use engine::sim::components::{NetId, Position};
use engine::sim::resources::SimSettings;
use glam::Vec2;
use shared::{InputFrame, MapData};

fn settings(seed: u64) -> SimSettings {
    SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 16, seed }
}

fn harness(pellets: u32, seed: u64) -> Harness {
    let any_map = engine::map::load(None).expect("map");
    Harness::new(Blobs { pellets }, settings(seed), any_map).expect("blobs")
}

fn blob_of(h: &mut Harness, owner: u32) -> (NetId, Vec2, Blob) {
    let world = h.sim.world_mut();
    let mut q = world.query::<(&NetId, &Position, &Blob, &engine::sim::components::Replicated)>();
    q.iter(world).find(|(.., r)| r.owner == owner).map(|(id, p, b, _)| (*id, p.0, b.clone())).expect("a blob")
}

fn place(h: &mut Harness, owner: u32, at: Vec2, mass: f32) {
    let world = h.sim.world_mut();
    let mut q = world.query::<(&mut Position, &mut Blob, &engine::sim::components::Replicated)>();
    for (mut pos, mut blob, r) in q.iter_mut(world) {
        if r.owner == owner {
            pos.0 = at;
            blob.mass = mass;
        }
    }
}

#[test]
fn the_world_is_blobs_own_with_its_pellets_and_the_view_radius_it_needs() {
    let mut h = harness(1500, 1);
    let map: MapData = h.sim.map().clone();
    assert_eq!((map.id.as_str(), map.width, map.height), ("blobs", 4000.0, 4000.0), "not the arena's map");
    assert!(h.sim.default_view_radius() >= 1000.0, "a large world needs interest management");
    let world = h.sim.world_mut();
    let pellets: Vec<Vec2> =
        world.query_filtered::<&Position, bevy_ecs::query::With<Pellet>>().iter(world).map(|p| p.0).collect();
    assert_eq!(pellets.len(), 1500);
    assert!(pellets.iter().all(|p| (0.0..=4000.0).contains(&p.x) && (0.0..=4000.0).contains(&p.y)));
    let spread = pellets.iter().filter(|p| p.x < 2000.0).count();
    assert!((600..900).contains(&spread), "spread over the world: {spread} of 1500 in the west half");
    let mut other = harness(1500, 2);
    let world = other.sim.world_mut();
    let first: Vec2 = world.query_filtered::<&Position, bevy_ecs::query::With<Pellet>>().iter(world).next().unwrap().0;
    assert_ne!(first, pellets[0], "another seed, other spots");
}

#[test]
fn a_blob_steers_toward_its_pointer_slower_as_it_grows() {
    let mut h = harness(0, 1);
    let a = h.connect(1, "ann");
    h.step(1);
    place(&mut h, 1, Vec2::splat(2000.0), START_MASS);
    let speed_at = |h: &mut Harness, seq: u32| {
        let before = blob_of(h, 1).1;
        h.play(a, seq, &Steer { toward: Vec2::new(500.0, 0.0) });
        h.step(1);
        (blob_of(h, 1).1 - before) * 60.0
    };
    let v = speed_at(&mut h, 1);
    assert!(v.y.abs() < 1e-3 && (v.x - rules::speed(START_MASS)).abs() < 0.5, "toward the pointer at full speed: {v}");
    place(&mut h, 1, Vec2::splat(2000.0), 200.0);
    let heavy = speed_at(&mut h, 2);
    assert!(heavy.x < v.x * 0.5, "mass 200 is slower: {heavy} vs {v}");
    place(&mut h, 1, Vec2::splat(2000.0), START_MASS);
    h.play(a, 3, &Steer { toward: Vec2::new(0.0, 5.0) });
    h.step(1);
    let before = blob_of(&mut h, 1).1;
    h.step(1);
    let slow = (blob_of(&mut h, 1).1 - before).y * 60.0;
    assert!(slow > 0.0 && slow < rules::speed(START_MASS) * 0.5, "a pointer inside the blob slows it: {slow}");
    // Out of range input never reaches the game.
    h.input(a, InputFrame::new(4, 0, &Steer { toward: Vec2::new(f32::NAN, 0.0) }));
    h.step(1);
    assert!(blob_of(&mut h, 1).1.is_finite());
}

#[test]
fn pellets_feed_blobs_and_come_back_elsewhere() {
    let mut h = harness(200, 3);
    h.connect(1, "ann");
    h.step(1);
    let world = h.sim.world_mut();
    let (pid, ppos) = {
        let mut q = world.query_filtered::<(&NetId, &Position), bevy_ecs::query::With<Pellet>>();
        q.iter(world).map(|(id, p)| (*id, p.0)).next().unwrap()
    };
    place(&mut h, 1, ppos, START_MASS);
    h.step(1);
    let (_, _, blob) = blob_of(&mut h, 1);
    assert!(blob.mass >= START_MASS + 1.0, "ate the pellet: {}", blob.mass);
    let world = h.sim.world_mut();
    let mut q = world.query::<(&NetId, &Position)>();
    let moved = q.iter(world).find(|(id, _)| **id == pid).expect("the same pellet, still there").1.0;
    assert!(moved.distance(ppos) > 1.0, "respawned elsewhere: {ppos} -> {moved}");
    let count = world.query_filtered::<(), bevy_ecs::query::With<Pellet>>().iter(world).count();
    assert_eq!(count, 200, "as many pellets as ever");
}

/// Two blobs: `big` (mass 100) and another of `mass` at `offset` from it; one step.
fn meet(mass: f32, offset: Vec2) -> (Blob, (NetId, Vec2, Blob), Harness) {
    let mut h = harness(0, 4);
    h.connect(1, "big");
    h.connect(2, "other");
    h.step(1);
    let at = Vec2::splat(1000.0);
    place(&mut h, 1, at, 100.0);
    place(&mut h, 2, at + offset, mass);
    h.step(1);
    (blob_of(&mut h, 1).2, blob_of(&mut h, 2), h)
}

#[test]
fn a_blob_eats_a_smaller_one_whose_centre_it_covers_and_the_eaten_starts_again() {
    let reach = rules::radius(100.0);
    let (big, (_, pos, eaten), mut h) = meet(79.0, Vec2::new(reach - 5.0, 0.0));
    assert!(big.mass > 178.0, "100 + 79, less a tick of decay: {}", big.mass);
    assert_eq!(big.eaten, 1);
    assert_eq!(eaten.mass, START_MASS, "the eaten start again small");
    assert!(pos.distance(Vec2::splat(1000.0)) > 1.0, "somewhere else");
    h.step(60);
    let (_, scores) = h.sim.state();
    assert_eq!(scores.iter().map(|s| s.client).collect::<Vec<_>>(), [1, 2], "heaviest first: {scores:?}");
    let (big, (_, _, other), _) = meet(81.0, Vec2::new(reach - 5.0, 0.0));
    assert!(big.eaten == 0 && other.mass > 80.0, "81 is not under 0.8 of 100");
    let (big, (_, _, other), _) = meet(50.0, Vec2::new(reach + 1.0, 0.0));
    assert!(big.eaten == 0 && other.mass == 50.0, "touching is not covering the centre");
}

#[test]
fn mass_above_fifty_decays_slowly() {
    let mut h = harness(0, 5);
    h.connect(1, "ann");
    h.step(1);
    place(&mut h, 1, Vec2::splat(100.0), 150.0);
    h.step(600);
    let mass = blob_of(&mut h, 1).2.mass;
    let expected = 50.0 + 100.0 * (1.0 - rules::DECAY_PER_SEC / 60.0f32).powi(600);
    assert!((mass - expected).abs() < 0.5, "ten seconds: {mass}, expected about {expected}");
    place(&mut h, 1, Vec2::splat(100.0), 40.0);
    h.step(600);
    assert_eq!(blob_of(&mut h, 1).2.mass, 40.0, "no decay at or below 50");
}

#[test]
fn a_blobs_session_replays_bit_for_bit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("blobs.rec");
    let mut h = harness(1500, 9);
    h.record_to(&path, 60).expect("create recording");
    let clients: Vec<_> = (1..=6).map(|c| h.connect(c, &format!("b{c}"))).collect();
    for seq in 1..=900u32 {
        for (i, c) in clients.iter().enumerate() {
            let angle = (seq / 60) as f32 * 0.7 + i as f32;
            h.play(*c, seq, &Steer { toward: Vec2::new(angle.cos(), angle.sin()) * 300.0 });
        }
        h.step(1);
    }
    let end = h.sim.digest();
    h.finish_recording().expect("recording written");
    let recording = Recording::open(&path).expect("opens");
    assert_eq!(recording.header.game, "blobs");
    let mut replayer = Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable");
    replayer.check_start().expect("tick 0");
    replayer.run_to(u64::MAX).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(replayer.digest(), end);
    assert!(replayer.checked() >= 15);
    replayer.seek(200);
    replayer.seek(900);
    assert_eq!(replayer.digest().hash, end.hash, "seek back and forth through keyframes");
}
