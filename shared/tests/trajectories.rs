//! Golden trajectories of the movement rules: input sequences with the position after every
//! tick, on the real arena and on a map of awkward walls (corners, overlaps, a thin wall,
//! bounds). Checked in at `shared/tests/trajectories.json`; the web client's `node --test`
//! suite replays the same inputs through `web-client/src/movement.js` and must get every
//! position bit for bit, so client prediction agrees with the server.
//!
//! After an intended change to `shared::movement`: `UPDATE_GOLDEN=1 cargo test -p shared --test
//! trajectories`, and change `movement.js` to match.

#![allow(clippy::expect_used, reason = "test helpers: a panic is the failure report")]

use std::path::PathBuf;

use glam::Vec2;
use serde_json::{Value, json};
use shared::movement::{PLAYER_RADIUS, PLAYER_SPEED, step};
use shared::{MapData, Rect};

const TICK_RATE: u16 = 60;

/// A small deterministic generator, so the file does not depend on a crate's algorithm.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

fn arena() -> MapData {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/maps/arena.json");
    let text = std::fs::read_to_string(&path).expect("read the arena map");
    serde_json::from_str(&text).expect("parse the arena map")
}

fn awkward() -> MapData {
    MapData {
        id: "awkward".into(),
        width: 300.0,
        height: 200.0,
        walls: vec![
            Rect { x: 100.0, y: 60.0, w: 40.0, h: 40.0 },
            Rect { x: 130.0, y: 90.0, w: 40.0, h: 40.0 }, // overlaps the first at a corner
            Rect { x: 220.0, y: 0.0, w: 2.0, h: 150.0 },  // thinner than a player
            Rect { x: 40.0, y: 150.0, w: 60.0, h: 10.5 },
        ],
        spawns: vec![Vec2::new(50.0, 50.0)],
    }
}

/// A movement the client could send: a unit direction at a whole degree, or half a stick, or
/// none; single precision as on the wire.
fn movement(rng: &mut Lcg) -> Vec2 {
    match rng.below(10) {
        0 => Vec2::ZERO,
        1 => {
            let a = f64::from(rng.below(360)).to_radians();
            Vec2::new((a.cos() * 0.5) as f32, (a.sin() * 0.5) as f32)
        }
        _ => {
            let a = f64::from(rng.below(360)).to_radians();
            Vec2::new(a.cos() as f32, a.sin() as f32)
        }
    }
}

/// `ticks` ticks from `start`, holding each random movement for 1 to 40 ticks.
fn random_run(map: &MapData, start: Vec2, seed: u64, ticks: usize) -> (Vec<Vec2>, Vec<Vec2>) {
    let mut rng = Lcg(seed);
    let mut inputs = Vec::with_capacity(ticks);
    while inputs.len() < ticks {
        let m = movement(&mut rng);
        let hold = 1 + rng.below(40) as usize;
        inputs.extend(std::iter::repeat_n(m, hold.min(ticks - inputs.len())));
    }
    run(map, start, inputs)
}

fn run(map: &MapData, start: Vec2, inputs: Vec<Vec2>) -> (Vec<Vec2>, Vec<Vec2>) {
    let dt = 1.0 / f32::from(TICK_RATE);
    let mut pos = start;
    let positions = inputs
        .iter()
        .map(|m| {
            pos = step(pos, *m, map, dt);
            pos
        })
        .collect();
    (inputs, positions)
}

fn map_json(map: &MapData) -> Value {
    json!({
        "width": map.width,
        "height": map.height,
        "walls": map.walls.iter().map(|w| json!([w.x, w.y, w.w, w.h])).collect::<Vec<_>>(),
    })
}

fn pairs(v: &[Vec2]) -> Value {
    Value::Array(v.iter().map(|p| json!([p.x, p.y])).collect())
}

fn cases() -> Value {
    let arena = arena();
    let awkward = awkward();
    let diagonal = Vec2::new(std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2);
    let mut cases = vec![
        (
            "into the arena's north wall",
            &arena,
            Vec2::new(500.0, 100.0),
            run(&arena, Vec2::new(500.0, 100.0), vec![-Vec2::Y; 90]),
        ),
        (
            "along the awkward corner",
            &awkward,
            Vec2::new(60.0, 40.0),
            run(&awkward, Vec2::new(60.0, 40.0), vec![diagonal; 120]),
        ),
        (
            "through the thin wall",
            &awkward,
            Vec2::new(180.0, 60.0),
            run(&awkward, Vec2::new(180.0, 60.0), vec![Vec2::X; 60]),
        ),
        (
            "into the map's corner",
            &awkward,
            Vec2::new(250.0, 170.0),
            run(&awkward, Vec2::new(250.0, 170.0), vec![diagonal; 60]),
        ),
    ];
    let runs: Vec<_> = [(1u64, Vec2::new(200.0, 200.0)), (2, Vec2::new(1800.0, 200.0)), (3, Vec2::new(1000.0, 1000.0))]
        .into_iter()
        .map(|(seed, start)| (seed, start, random_run(&arena, start, seed, 600)))
        .collect();
    let awkward_runs: Vec<_> = [(4u64, Vec2::new(50.0, 50.0)), (5, Vec2::new(190.0, 180.0))]
        .into_iter()
        .map(|(seed, start)| (seed, start, random_run(&awkward, start, seed, 600)))
        .collect();
    let names: Vec<String> =
        runs.iter().chain(&awkward_runs).map(|(seed, ..)| format!("random inputs, seed {seed}")).collect();
    for ((_, start, run), name) in runs.into_iter().zip(&names) {
        cases.push((name.as_str(), &arena, start, run));
    }
    for ((_, start, run), name) in awkward_runs.into_iter().zip(&names[3..]) {
        cases.push((name.as_str(), &awkward, start, run));
    }
    json!({
        "about": "shared::movement::step from start, one input per tick; positions after each tick. Generated by shared/tests/trajectories.rs.",
        "tick_rate": TICK_RATE,
        "player_radius": PLAYER_RADIUS,
        "player_speed": PLAYER_SPEED,
        "cases": cases.into_iter().map(|(name, map, start, (inputs, positions))| json!({
            "name": name,
            "map": map_json(map),
            "start": [start.x, start.y],
            "inputs": pairs(&inputs),
            "positions": pairs(&positions),
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn trajectories_match_the_checked_in_file() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/trajectories.json");
    let text = serde_json::to_string(&cases()).expect("serialize") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("write the trajectories");
    }
    let stored = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (create it with UPDATE_GOLDEN=1)", path.display()));
    assert!(
        stored == text,
        "trajectories differ from {}: the movement rules changed; if intended, rerun with UPDATE_GOLDEN=1 and update web-client/src/movement.js",
        path.display()
    );
}

#[test]
fn trajectories_touch_walls_and_bounds() {
    let cases = cases();
    let mut held = 0;
    for case in cases["cases"].as_array().expect("cases") {
        let inputs = case["inputs"].as_array().expect("inputs");
        let positions = case["positions"].as_array().expect("positions");
        let mut prev = &case["start"];
        for (input, pos) in inputs.iter().zip(positions) {
            let moving = input[0].as_f64() != Some(0.0) || input[1].as_f64() != Some(0.0);
            if moving && pos == prev {
                held += 1;
            }
            prev = pos;
        }
    }
    assert!(held > 100, "the cases must exercise walls and bounds (ticks held in place: {held})");
}
