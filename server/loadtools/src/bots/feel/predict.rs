//! The feel bot's own-player prediction: the web client's `prediction.js` in Rust, on the same
//! rules (`shared::movement`). Each input sent steps the prediction; each snapshot restarts it
//! from the server's position after `last_input_seq` and replays the inputs not yet applied.
//! The distance this moves the prediction is the correction a player would see.

use std::collections::VecDeque;

use glam::Vec2;
use shared::MapData;
use shared::movement::step;

/// A correction longer than this is a respawn or a teleport, not a misprediction.
pub const SNAP_DISTANCE: f32 = 100.0;
/// Inputs kept unacknowledged at most.
const MAX_PENDING: usize = 120;

/// One player's prediction.
pub struct Predictor {
    map: MapData,
    dt: f32,
    pending: VecDeque<(u32, Vec2)>,
    /// Predicted position, once a snapshot has shown the player.
    pub pos: Option<Vec2>,
    alive: bool,
    /// Corrections of a living player, world units.
    pub corrections: Vec<f32>,
    /// Corrections over [`SNAP_DISTANCE`] (respawns).
    pub snaps: u64,
}

impl Predictor {
    /// A prediction on `map` at `tick_rate`.
    pub fn new(map: MapData, tick_rate: u16) -> Self {
        Predictor {
            map,
            dt: 1.0 / f32::from(tick_rate.max(1)),
            pending: VecDeque::new(),
            pos: None,
            alive: false,
            corrections: Vec::new(),
            snaps: 0,
        }
    }

    /// An input with `seq` and `movement` was sent.
    pub fn input(&mut self, seq: u32, movement: Vec2) {
        self.pending.push_back((seq, movement));
        if self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
        }
        if let Some(pos) = self.pos.filter(|_| self.alive) {
            self.pos = Some(step(pos, movement, &self.map, self.dt));
        }
    }

    /// A snapshot showed the player at `server_pos` with `health` after input `ack`.
    /// Returns the correction, if the player is alive and was predicted before.
    pub fn reconcile(&mut self, server_pos: Vec2, health: u8, ack: u32) -> Option<f32> {
        while self.pending.front().is_some_and(|&(seq, _)| seq.wrapping_sub(ack) as i32 <= 0) {
            self.pending.pop_front();
        }
        let was_alive = self.alive;
        self.alive = health > 0;
        let mut pos = server_pos;
        if self.alive {
            for &(_, movement) in &self.pending {
                pos = step(pos, movement, &self.map, self.dt);
            }
        }
        let before = self.pos.replace(pos)?;
        let error = before.distance(pos);
        if !self.alive {
            return None;
        }
        if error > SNAP_DISTANCE || !was_alive {
            // Back from the dead at a spawn point (however near): a teleport, not a
            // misprediction.
            self.snaps += 1;
        } else {
            self.corrections.push(error);
        }
        Some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_map() -> MapData {
        MapData { id: "t".into(), width: 2000.0, height: 2000.0, walls: vec![], spawns: vec![Vec2::splat(100.0)] }
    }

    #[test]
    fn a_server_that_agrees_needs_no_correction() {
        let mut p = Predictor::new(open_map(), 60);
        assert_eq!(p.reconcile(Vec2::splat(500.0), 100, 0), None, "first sight");
        let mut server = Vec2::splat(500.0);
        for seq in 1..=30 {
            p.input(seq, Vec2::X);
            if seq <= 25 {
                server = step(server, Vec2::X, &open_map(), 1.0 / 60.0);
            }
        }
        assert_eq!(p.reconcile(server, 100, 25), Some(0.0), "5 inputs in flight replayed exactly");
        assert_eq!(p.corrections, [0.0]);
    }

    #[test]
    fn a_respawn_is_a_snap_and_a_dead_player_stays_put() {
        let mut p = Predictor::new(open_map(), 60);
        p.reconcile(Vec2::splat(500.0), 100, 0);
        assert!(p.reconcile(Vec2::splat(100.0), 100, 0).is_some_and(|e| e > SNAP_DISTANCE));
        assert_eq!(p.snaps, 1);
        p.reconcile(Vec2::splat(100.0), 0, 0);
        p.input(1, Vec2::X);
        assert_eq!(p.pos, Some(Vec2::splat(100.0)));
    }
}
