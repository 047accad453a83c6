//! Simulation tests: scripted inputs stepped in memory, exact outcomes asserted.
//!
//! The tick rate is 64 Hz here so that one tick of player movement (200 / 64 = 3.125 units)
//! is exact in binary floating point, and positions can be compared with `==`.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use engine::games::arena::Arena;
use engine::harness::Harness;
use engine::sim::resources::SimSettings;
use std::f32::consts::{PI, TAU};

use glam::Vec2;
use shared::arena::{ArenaRecord, Buttons, Input};
use shared::{DisconnectReason, EntityKind, InputFrame, MapData, Rect, ServerMessage};

const RATE: u16 = 64;

fn settings() -> SimSettings {
    SimSettings { tick_rate: RATE, snapshot_rate: 16, max_players: 4, seed: 7 }
}

/// The arena with `npcs` NPCs and lag compensation capped at 200 ms.
fn arena(npcs: u32) -> Arena {
    Arena { npcs, max_rewind_ms: 200 }
}

/// A harness running the arena with `npcs` NPCs.
fn harness(settings: SimSettings, npcs: u32, map: MapData) -> Harness {
    Harness::new(arena(npcs), settings, map).expect("the arena")
}

/// 1000 x 1000, one wall at x ∈ [600, 700], one spawn point so joins are predictable.
fn test_map() -> MapData {
    MapData {
        id: "test".into(),
        width: 1000.0,
        height: 1000.0,
        walls: vec![Rect { x: 600.0, y: 0.0, w: 100.0, h: 1000.0 }],
        spawns: vec![Vec2::new(300.0, 500.0)],
    }
}

fn moving(seq: u32, dir: Vec2) -> InputFrame {
    frame(seq, Input { movement: dir, aim: 0.0, buttons: 0 })
}

/// Input number `seq` with the view tick unknown.
fn frame(seq: u32, input: Input) -> InputFrame {
    InputFrame::new(seq, 0, &input)
}

#[test]
fn join_is_welcomed_with_own_entity() {
    let mut h = harness(settings(), 0, test_map());
    let ann = h.connect(1, "ann");
    h.step(1);
    let mail = h.take_mail(ann);
    let Some(ServerMessage::Welcome(welcome)) = mail.first() else {
        panic!("first message must be Welcome, got {mail:?}")
    };
    assert_eq!(welcome.client_id, 1);
    assert_eq!((welcome.tick_rate, welcome.snapshot_rate), (RATE, 16));
    assert_eq!(welcome.map, test_map(), "the map travels in Welcome");
    let me = h.player(ann).expect("player spawned");
    assert_eq!(me.id, welcome.entity_id);
    assert_eq!((me.pos, me.health()), (Vec2::new(300.0, 500.0), 100));
}

#[test]
fn inputs_move_the_player_exactly() {
    let mut h = harness(settings(), 0, test_map());
    let ann = h.connect(1, "ann");
    h.step(1);
    for seq in 1..=32 {
        h.input(ann, moving(seq, Vec2::new(1.0, 0.0)));
        h.step(1);
    }
    assert_eq!(h.player(ann).map(|p| p.pos), Some(Vec2::new(300.0 + 32.0 * 3.125, 500.0)));
    // No new input: the last one stays held for 4 more ticks.
    h.step(4);
    assert_eq!(h.player(ann).map(|p| p.pos), Some(Vec2::new(300.0 + 36.0 * 3.125, 500.0)));
    // Snapshots acknowledge the last applied input.
    let last_ack = h.take_mail(ann).iter().rev().find_map(|m| match m {
        ServerMessage::Snapshot(snapshot) => Some(snapshot.last_input_seq),
        _ => None,
    });
    assert_eq!(last_ack, Some(32));
}

#[test]
fn walls_and_map_edges_stop_players() {
    let mut h = harness(settings(), 0, test_map());
    let ann = h.connect(1, "ann");
    h.step(1);
    // 300 → wall at 600: the circle (radius 16) stops with its edge on the wall.
    h.input(ann, moving(1, Vec2::X));
    h.step(200);
    assert_eq!(h.player(ann).map(|p| p.pos), Some(Vec2::new(584.0, 500.0)));
    // Up into the map edge.
    h.input(ann, moving(2, -Vec2::Y));
    h.step(300);
    assert_eq!(h.player(ann).map(|p| p.pos), Some(Vec2::new(584.0, 16.0)));
}

#[test]
fn shots_hit_kill_score_and_the_victim_respawns() {
    let mut h = harness(settings(), 0, test_map());
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    h.step(1);
    // Both spawn at (300, 500). Bob walks left 64 ticks (200 units) to (100, 500); ann stays.
    h.input(bob, moving(1, -Vec2::X));
    h.step(64);
    h.input(bob, moving(2, Vec2::ZERO));
    h.step(1);
    assert_eq!(h.player(bob).map(|p| p.pos), Some(Vec2::new(100.0, 500.0)));

    // Ann aims left (π) and holds fire: a shot every 13 ticks (0.2 s at 64 Hz).
    let fire = frame(1, Input { movement: Vec2::ZERO, aim: std::f32::consts::PI, buttons: Buttons::FIRE });
    h.input(ann, fire);
    h.step(1);
    let shots = h.entities().into_iter().filter(|e| e.is(EntityKind::Projectile)).count();
    assert_eq!(shots, 1, "one projectile after the first tick of fire");
    let mut died_at = None;
    for tick in 0..200 {
        h.step(1);
        if died_at.is_none() && h.player(bob).is_some_and(|b| b.health() == 0) {
            died_at = Some(tick);
        }
    }
    let died_at = died_at.expect("bob dies after four hits");
    // Shots leave at x = 279 on ticks 0, 13, 26 and 39 after the trigger (cooldown 0.2 s =
    // 13 ticks) and move 9.375 units in the tick they are fired; the fourth touches bob
    // (x ≤ 100 + 16 + 4) 16 ticks later, on tick 55, which is loop index 54.
    assert_eq!(died_at, 54, "bob died at tick {died_at}");
    let ann_state = h.player(ann).expect("ann");
    let bob_state = h.player(bob).expect("bob");
    assert_eq!(bob_state.health(), 100, "respawned 2 s (128 ticks) after death");
    assert_eq!(bob_state.pos, Vec2::new(300.0, 500.0), "at the only spawn point");
    let board = h.sim.state().1;
    let score = |c: u32| board.iter().find(|s| s.client == c).map(|s| (s.values[0], s.values[1]));
    assert_eq!(score(1), Some((1, 0)), "ann scored the kill");
    assert_eq!(score(2), Some((0, 1)), "bob died once");
    assert_eq!(board.iter().map(|s| s.client).collect::<Vec<_>>(), [1, 2], "most kills first");
    assert!(ann_state.health() == 100, "ann is never hit by her own shots");
}

#[test]
fn projectiles_stop_at_walls() {
    // The wall now ends at y = 400, so bob can walk around it.
    let mut map = test_map();
    map.walls[0].h = 400.0;
    let mut h = harness(settings(), 0, map);
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    h.step(1);
    // Bob walks right under the wall to (800, 500), then up behind it to (800, 200).
    h.input(bob, moving(1, Vec2::X));
    h.step(160);
    h.input(bob, moving(2, -Vec2::Y));
    h.step(96);
    h.input(bob, moving(3, Vec2::ZERO));
    h.step(1);
    assert_eq!(h.player(bob).map(|b| b.pos), Some(Vec2::new(800.0, 200.0)));
    // Ann, still at (300, 500), fires straight at him: the line crosses the wall.
    let aim = f32::atan2(-300.0, 500.0);
    h.input(ann, frame(1, Input { movement: Vec2::ZERO, aim, buttons: Buttons::FIRE }));
    h.step(150);
    assert_eq!(h.player(bob).map(|b| b.health()), Some(100), "the wall absorbs every shot");
    let flying: Vec<_> = h.entities().into_iter().filter(|e| e.is(EntityKind::Projectile)).collect();
    assert!(!flying.is_empty(), "ann is still firing");
    assert!(flying.iter().all(|p| p.pos.x < 600.0), "no projectile beyond the wall: {flying:?}");
    // Control: with the wall gone, the same shots kill him.
    h.sim.world_mut().resource_mut::<engine::sim::resources::WorldMap>().0.walls.clear();
    h.step(150);
    assert_eq!(h.sim.state().1.iter().find(|s| s.client == 2).map(|s| s.values[1]), Some(1));
}

#[test]
fn disconnect_removes_the_player() {
    let mut h = harness(settings(), 0, test_map());
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    h.step(1);
    assert!(h.player(bob).is_some());
    h.disconnect(bob);
    h.step(1);
    assert!(h.player(bob).is_none(), "bob's entity is gone");
    assert_eq!(h.sim.state().1.len(), 1, "and so is his scoreboard row");
    assert!(h.player(ann).is_some());
}

#[test]
fn joins_beyond_max_players_are_refused() {
    let mut h = harness(SimSettings { max_players: 2, ..settings() }, 0, test_map());
    let ids: Vec<_> = (1..=3).map(|c| h.connect(c, "p")).collect();
    h.step(1);
    assert_eq!(h.closed(ids[2]), Some(DisconnectReason::ServerFull));
    assert!(h.closed(ids[0]).is_none() && h.closed(ids[1]).is_none());
    assert!(h.player(ids[2]).is_none());
}

#[test]
fn snapshots_go_out_at_the_snapshot_rate_in_id_order() {
    let mut h = harness(settings(), 50, test_map());
    let ann = h.connect(1, "ann");
    h.step(64);
    let snapshots: Vec<_> = h
        .take_mail(ann)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Snapshot(snapshot) => Some(snapshot),
            _ => None,
        })
        .collect();
    let ticks: Vec<u64> = snapshots.iter().map(|s| s.tick).collect();
    assert_eq!(ticks, (1..=16).map(|k| k * 4).collect::<Vec<_>>(), "16 snapshots/s at 64 Hz");
    assert!(snapshots[0].is_keyframe(), "the first snapshot is a keyframe");
    assert!(snapshots[1..].iter().all(|s| s.baseline_tick == Some(s.tick - 4)), "then deltas from the previous one");
    let entities = h.client_state(ann).expect("ann decoded snapshots").entities();
    assert_eq!(entities.len(), 51, "50 NPCs and ann");
    assert!(entities.windows(2).all(|w| w[0].id < w[1].id), "entities in increasing id");
    assert_eq!(h.last_frame().expect("a frame").entities, *entities, "ann holds exactly the server's frame");
}

#[test]
fn same_seed_and_inputs_give_the_same_world() {
    let run = |seed: u64| {
        let mut h = harness(SimSettings { seed, ..settings() }, 300, test_map());
        let ann = h.connect(1, "ann");
        let bob = h.connect(2, "bob");
        for seq in 1..=300u32 {
            // Turning on past a half turn: the aim, an angle in [-π, π] (the simulation applies
            // only inputs that pass the game's checks), wraps round.
            let angle = seq as f32 * 0.05 - 3.0;
            let aim = |a: f32| (a + PI).rem_euclid(TAU) - PI;
            h.input(ann, frame(seq, Input { movement: Vec2::new(0.6, 0.8), aim: aim(angle), buttons: Buttons::FIRE }));
            h.input(
                bob,
                frame(seq, Input { movement: Vec2::new(-0.8, 0.6), aim: aim(-angle), buttons: (seq % 2) as u8 }),
            );
            h.step(1);
        }
        h.sim.state()
    };
    let (a, b) = (run(11), run(11));
    assert_eq!(a, b, "identical seeds and inputs must give identical state");
    let c = run(12);
    assert_ne!(a.0, c.0, "another seed places the crowd elsewhere");
}

#[test]
fn crowd_follows_w1() {
    let mut h = harness(SimSettings { tick_rate: 60, snapshot_rate: 20, ..settings() }, 2000, test_map());
    let before = h.entities();
    let idle_before: Vec<_> = before.iter().filter(|e| e.vel == Vec2::ZERO).collect();
    let share = idle_before.len() as f32 / before.len() as f32;
    assert!((0.45..0.55).contains(&share), "about half start idle: {share}");
    h.step(1);
    let after = h.entities();
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.id, b.id);
        assert!(b.pos.cmpge(Vec2::ZERO).all() && b.pos.cmple(Vec2::splat(2000.0)).all(), "{b:?} left the square");
        let speed = b.vel.length();
        assert!(speed == 0.0 || (speed - 100.0).abs() < 1e-3, "speed {speed}");
        if a.vel == Vec2::ZERO {
            // An NPC idle at tick 0 has 60+ ticks of idleness left: nothing changes at all.
            assert_eq!(a, b, "idle NPC changed");
        } else {
            assert_eq!(b.pos, a.pos + a.vel * (1.0 / 60.0), "moving NPC advances by v·dt");
        }
    }
    // Over 10 s every NPC changes phase at least three times; the idle share stays near half.
    h.step(600);
    let idle = h.entities().iter().filter(|e| e.vel == Vec2::ZERO).count();
    assert!((800..1200).contains(&idle), "{idle} of 2000 idle after 10 s");
}

/// Bob walks up to (300, 300), then strafes right at full speed. Ann, at the spawn point
/// (300, 500), fires one shot aimed where Bob will be on her screen, which shows him `seen_back`
/// ticks in the past: the shot meets him at (400, 300) if he is where she saw him. Her input
/// says she drew others at `view_back` ticks before the tick it is applied (None: unknown).
/// Returns Bob's health after the shot's flight.
fn strafe_shot(seen_back: u32, view_back: Option<u32>) -> u8 {
    let mut h = harness(settings(), 0, test_map());
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    h.step(1);
    h.input(bob, moving(1, -Vec2::Y));
    h.step(64);
    assert_eq!(h.player(bob).map(|b| b.pos), Some(Vec2::new(300.0, 300.0)));
    h.input(bob, moving(2, Vec2::X));
    let start = h.sim.tick() + 1; // Bob's first step right
    // The shot flies 202.6 units (from 21 units out) at 9.375 a tick: 21.6 ticks. On Ann's
    // screen Bob reaches x = 400 (32 ticks of strafing) at her fire tick + 21.6 - seen_back.
    let fire = start + 32 + u64::from(seen_back) - 22;
    h.step((fire - 1 - h.sim.tick()) as u32);
    let aim = f32::atan2(-200.0, 100.0);
    let view_tick = view_back.map_or(0, |back| (fire - u64::from(back)) as u32);
    h.input(ann, InputFrame::new(1, view_tick, &Input { movement: Vec2::ZERO, aim, buttons: Buttons::FIRE }));
    h.step(1);
    h.input(ann, InputFrame::new(2, view_tick + 1, &Input { movement: Vec2::ZERO, aim, buttons: 0 }));
    h.step(40);
    assert!(h.player(ann).is_some_and(|a| a.health() == 100), "ann is never hit");
    h.player(bob).map(|b| b.health()).expect("bob is alive")
}

#[test]
fn a_shot_is_judged_where_the_shooter_saw_the_target() {
    assert_eq!(strafe_shot(10, Some(10)), 75, "compensated by the 10 ticks she was behind: a hit");
    assert_eq!(strafe_shot(10, None), 100, "without compensation Bob is 31 units further on: a miss");
    assert_eq!(strafe_shot(0, Some(0)), 75, "a shooter who was not behind hits as before");
    assert_eq!(strafe_shot(0, None), 100 - 25, "and needs no view tick for it");
}

#[test]
fn the_rewind_is_capped_at_200_ms() {
    // 13 ticks at 64 Hz (200 ms) still hit; 30 ticks are rewound by 13 only, and Bob is 53
    // units on from where she saw him.
    assert_eq!(strafe_shot(13, Some(13)), 75, "at the cap: a hit");
    assert_eq!(strafe_shot(30, Some(30)), 100, "beyond the cap: judged 13 ticks back, a miss");
}

/// Ids near the end of the u32 space start again from 1, passing over 0 and every live id:
/// a client never sees one id name two entities.
#[test]
fn entity_ids_start_again_before_they_wrap_and_skip_live_ones() {
    use engine::sim::resources::{NET_ID_HEADROOM, NetIds};
    let mut h = harness(settings(), 3, test_map());
    let ann = h.connect(1, "ann");
    h.step(1);
    let before: Vec<u32> = h.entities().iter().map(|e| e.id).collect();
    assert_eq!(before, vec![1, 2, 3, 4], "three NPCs, then Ann");
    // As if 4 billion shots had been fired: the count is at the end of its headroom.
    let last = u32::MAX - NET_ID_HEADROOM;
    h.sim.world_mut().insert_resource(NetIds::resume(last, before.iter().copied()));
    let fire = frame(1, Input { movement: Vec2::ZERO, aim: 0.0, buttons: Buttons::FIRE });
    h.input(ann, fire);
    let bob = h.connect(2, "bob");
    h.step(30);
    let ids: Vec<u32> = h.entities().iter().map(|e| e.id).collect();
    assert!(!ids.contains(&0), "never 0: {ids:?}");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "every live id once: {ids:?}");
    assert!(ids.iter().all(|&id| id < 100), "the count started again from the bottom: {ids:?}");
    assert!(ids.contains(&5), "the first new id is the first free one after the live 1 to 4: {ids:?}");
    assert!(h.player(bob).is_some() && h.player(ann).is_some());
}

/// The snapshot stage builds each frame from what changed (change detection, each entity's
/// model, frames sharing records); a replicator given the whole state at every snapshot tick
/// must produce exactly the same records, through joins, moves, stops, shots, hits, deaths,
/// respawns, leaves and the crowd's phases and bounces.
#[test]
fn frames_built_from_changes_are_the_frames_of_the_whole_state() {
    let mut h = harness(settings(), 300, test_map());
    let mut full = shared::snapshot::Replicator::new(shared::arena::schema(), RATE);
    let ann = h.connect(1, "ann");
    let bob = h.connect(2, "bob");
    let mut compared = 0;
    let mut last_tick = 0;
    for tick in 1..=1200u32 {
        match tick {
            40 => h.input(bob, moving(1, Vec2::new(-1.0, 0.3))),
            90 => h.input(bob, moving(2, Vec2::ZERO)),
            100..=400 if tick % 50 == 0 => {
                let aim = if tick % 100 == 0 { std::f32::consts::PI } else { 0.5 };
                h.input(ann, frame(tick, Input { movement: Vec2::ZERO, aim, buttons: Buttons::FIRE }));
            }
            450 => h.input(ann, frame(999, Input { movement: Vec2::Y, aim: 1.0, buttons: 0 })),
            500 => h.disconnect(bob),
            600 => {
                let _ = h.connect(3, "cy");
            }
            _ => {}
        }
        h.step(1);
        let Some(frame) = h.last_frame().filter(|f| f.tick != last_tick) else { continue };
        last_tick = frame.tick;
        let frame_entities = frame.entities.clone();
        let expected = full.update(last_tick, &h.sim.state().0);
        assert_eq!(frame_entities, expected.entities, "tick {last_tick}");
        compared += 1;
    }
    assert!(compared >= 290, "{compared} frames compared");
}
