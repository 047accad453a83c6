//! Bounded memory, without sockets: players and spectators join, play (moving and shooting, so
//! shots are spawned and despawned) and leave, wave after wave, through the harness; the
//! simulation's per-client and per-despawn tables must come back to their baseline after
//! every wave, and the World must not keep what it removed (`Simulation::footprint`).
//! `server bench soak` measures the same over the real network for half an hour.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use engine::games::arena::Arena;
use engine::games::arena::lag_comp::TargetHistory;
use engine::harness::Harness;
use engine::sim::Footprint;
use engine::sim::resources::SimSettings;
use glam::Vec2;
use shared::MapData;
use shared::arena::{Buttons, Input};

const NPCS: u32 = 50;
const WAVES: u32 = 20;
const PER_WAVE: u32 = 12;

fn settings() -> SimSettings {
    SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 64, seed: 11 }
}

fn arena() -> Arena {
    Arena { npcs: NPCS, max_rewind_ms: 300 }
}

/// How many ticks of targets the arena's lag compensation holds.
fn lag_comp_ticks(h: &Harness) -> usize {
    h.sim.world().resource::<TargetHistory>().len()
}

fn map() -> MapData {
    engine::map::load(None).expect("the built-in map loads")
}

/// One wave: `PER_WAVE` clients (every third a spectator) join, the players run and shoot
/// for 2 s, everyone leaves, then 2 s pass for the last shots (1.5 s of flight) to expire.
fn wave(h: &mut Harness, first: u32) {
    let clients: Vec<_> = (first..first + PER_WAVE)
        .map(|id| if id % 3 == 0 { (h.spectate(id, "watcher"), false) } else { (h.connect(id, "churn"), true) })
        .collect();
    h.step(1);
    for seq in 1..=120u32 {
        for (i, &(client, plays)) in clients.iter().enumerate() {
            if plays {
                let aim = (seq as f32 * 0.05 + i as f32).sin() * std::f32::consts::PI;
                let buttons = if seq % 10 == 0 { Buttons::FIRE } else { 0 };
                h.play(client, seq, &Input { movement: Vec2::new(aim.cos(), aim.sin()), aim, buttons });
            }
        }
        h.step(1);
    }
    for &(client, _) in &clients {
        h.take_mail(client);
        h.disconnect(client);
    }
    h.step(120);
}

#[test]
fn joins_and_leaves_leave_no_table_behind() {
    let mut h = Harness::new(arena(), settings(), map()).expect("the arena");
    h.step(120);
    let baseline: Footprint = h.sim.footprint();
    let baseline_lag_comp_ticks = lag_comp_ticks(&h);
    assert_eq!((baseline.pending, baseline.players, baseline.spectators), (0, 0, 0));
    let mut most_removed = 0;
    for w in 0..WAVES {
        wave(&mut h, 1 + w * PER_WAVE);
        let now = h.sim.footprint();
        assert_eq!((now.pending, now.players, now.spectators), (0, 0, 0), "wave {w}: the roster empties");
        assert_eq!(now.entities, baseline.entities, "wave {w}: players and shots are gone, the crowd remains");
        assert_eq!(lag_comp_ticks(&h), baseline_lag_comp_ticks, "wave {w}: the rewind history keeps its length");
        most_removed = most_removed.max(now.removed_component_messages);
    }
    // 160 players and their shots were despawned, each removing a dozen components: a World
    // that kept those messages would hold thousands. Two steps' worth are allowed.
    assert!(most_removed <= 200, "removed-component messages pile up: {most_removed}");
}
