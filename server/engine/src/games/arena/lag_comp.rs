//! Lag compensation: where every living player was over the last [`MAX_REWIND_SECS`], so
//! that a shot is judged against the targets as its shooter saw them (WIRE.md, "Lag
//! compensation"). A client draws others interpolated between snapshots, so a target at a
//! view tick between two snapshot ticks is taken where the client drew it: interpolated
//! between its positions at those ticks, not where it truly was (which a strafing target's
//! turn can put several units off the drawn line). The history is simulation state derived
//! from positions, so replays rebuild it exactly; the rewind of each shot comes from its
//! input's `view_tick`, which recordings keep.

use std::collections::VecDeque;

use bevy_ecs::prelude::*;
use glam::Vec2;
use serde::{Deserialize, Serialize};

use super::Arena;
use super::components::{Combatant, Player};
use crate::bridge::ClientId;
use crate::sim::components::{NetId, Position};
use crate::sim::resources::{SimSettings, Tick};

/// Default longest rewind, milliseconds (`--max-rewind-ms`). A shooter's view is behind the
/// tick its input is applied at by its round trip, its interpolation delay and the input's
/// wait in the jitter buffer: measured at 150 ± 20 ms round trip, 250 to 270 ms (15 or 16
/// ticks at 60 Hz: 150 + ~80 for a 20 Hz stream with that jitter + 1 or 2 ticks of buffer).
/// Beyond the cap, favouring the shooter becomes unfair to the target (shot behind a wall it
/// reached long ago), and the shooter must lead a little more.
pub const DEFAULT_MAX_REWIND_MS: u16 = 300;

/// A living player at one tick, as a shot may hit it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Its network id (targets are kept in increasing order of it).
    pub id: NetId,
    /// Its client (a shot never hits its own shooter).
    pub client: ClientId,
    /// Where it was at the end of the tick's movement and collisions.
    pub pos: Vec2,
}

/// The living players at each of the last ticks, newest last. Saved state (a keyframe copies
/// it, a digest hashes it): it is derived from positions, so replays rebuild it exactly.
#[derive(Resource, Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHistory {
    ticks: VecDeque<(u64, Vec<Target>)>,
}

impl TargetHistory {
    /// Ticks held (at most the longest rewind plus one).
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    /// Whether no tick is held.
    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// The targets as they were `rewind` ticks before `tick`, if that tick is still held.
    pub fn at(&self, tick: u64, rewind: u32) -> Option<&[Target]> {
        self.at_tick(tick.checked_sub(u64::from(rewind))?)
    }

    fn at_tick(&self, wanted: u64) -> Option<&[Target]> {
        let (newest, _) = self.ticks.back()?;
        let back = usize::try_from(newest.checked_sub(wanted)?).ok()?;
        let index = self.ticks.len().checked_sub(back + 1)?;
        self.ticks.get(index).filter(|(t, _)| *t == wanted).map(|(_, targets)| targets.as_slice())
    }

    /// The targets as a client drew them at `view` (at most `now`): each interpolated between
    /// the snapshot ticks around `view` (`is_snapshot` says which ticks are), as the client's
    /// buffer does, unless it moved too far between them to be drawn sliding (a respawn). None
    /// when `view` is no longer held.
    pub fn drawn_at(
        &self,
        view: u64,
        now: u64,
        tick_rate: u16,
        is_snapshot: impl Fn(u64) -> bool,
    ) -> Option<Vec<Target>> {
        let exact = self.at_tick(view)?;
        let oldest = self.ticks.front().map_or(view, |(t, _)| *t);
        let before = (oldest..=view).rev().find(|&t| is_snapshot(t));
        let after = (view + 1..=now).find(|&t| is_snapshot(t)).unwrap_or(now);
        let (Some(s0), Some(a), Some(b)) = (before, before.and_then(|t| self.at_tick(t)), self.at_tick(after)) else {
            return Some(exact.to_vec());
        };
        if s0 == view || after <= s0 {
            return Some(exact.to_vec());
        }
        let span = (after - s0) as f32;
        let f = (view - s0) as f32 / span;
        // The client's teleport rule: farther than twice a player's speed allows, plus 64.
        let allowed = shared::movement::PLAYER_SPEED * span / f32::from(tick_rate.max(1)) * 2.0 + 64.0;
        Some(
            exact
                .iter()
                .map(|t| {
                    let pa = a.iter().find(|x| x.id == t.id).map(|x| x.pos);
                    let pb = b.iter().find(|x| x.id == t.id).map(|x| x.pos);
                    match (pa, pb) {
                        (Some(pa), Some(pb)) if pa.distance(pb) <= allowed => Target { pos: pa.lerp(pb, f), ..*t },
                        _ => *t,
                    }
                })
                .collect(),
        )
    }
}

/// The longest rewind in ticks: `max_rewind_ms` rounded to whole ticks at `tick_rate`.
pub fn max_rewind_ticks(max_rewind_ms: u16, tick_rate: u16) -> u32 {
    (u32::from(max_rewind_ms) * u32::from(tick_rate) + 500) / 1000
}

/// The rewind a shot fired at `tick` by an input made while its client drew others at
/// `view_tick`: the difference, capped at `max`; 0 when unknown (0) or ahead.
pub fn rewind_ticks(tick: u64, view_tick: u32, max: u32) -> u32 {
    if view_tick == 0 {
        return 0;
    }
    let behind = tick.saturating_sub(u64::from(view_tick));
    u32::try_from(behind).unwrap_or(u32::MAX).min(max)
}

/// Adds this tick's living players (after collisions, before projectiles are swept) and forgets
/// ticks older than the longest rewind.
pub fn record_targets(
    mut history: ResMut<TargetHistory>,
    players: Query<(&NetId, &Player, &Position, &Combatant)>,
    arena: Res<Arena>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    // The longest rewind, plus a snapshot interval to interpolate from.
    let interval = usize::from(settings.tick_rate).div_ceil(usize::from(settings.snapshot_rate.max(1)));
    let keep = max_rewind_ticks(arena.max_rewind_ms, settings.tick_rate) as usize + interval + 1;
    // Reuse the oldest tick's allocation: no allocation per tick once warm.
    let mut targets = if history.ticks.len() >= keep {
        history.ticks.pop_front().map(|(_, v)| v).unwrap_or_default()
    } else {
        Vec::new()
    };
    targets.clear();
    targets.extend(
        players.iter().filter(|(.., combat)| combat.respawn_at.is_none()).map(|(id, player, pos, _)| Target {
            id: *id,
            client: player.client,
            pos: pos.0,
        }),
    );
    targets.sort_unstable_by_key(|t| t.id);
    history.ticks.push_back((tick.0, targets));
    while history.ticks.len() > keep {
        history.ticks.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewinds_are_capped_and_zero_when_unknown_or_ahead() {
        let at = |tick_rate, max_rewind_ms| max_rewind_ticks(max_rewind_ms, tick_rate);
        assert_eq!((at(60, 250), at(60, 200), at(30, 200), at(64, 200), at(60, 0)), (15, 12, 6, 13, 0));
        assert_eq!(rewind_ticks(1000, 0, 15), 0, "unknown");
        assert_eq!(rewind_ticks(1000, 1005, 15), 0, "ahead of the server");
        assert_eq!(rewind_ticks(1000, 991, 15), 9);
        assert_eq!(rewind_ticks(1000, 900, 15), 15, "capped");
        assert_eq!(rewind_ticks(1000, 900, 0), 0, "off");
    }

    #[test]
    fn the_history_answers_only_for_ticks_it_holds() {
        let mut history = TargetHistory::default();
        let target = |x: f32| Target { id: NetId(1), client: ClientId(1), pos: Vec2::new(x, 0.0) };
        for tick in 10..=30u64 {
            history.ticks.push_back((tick, vec![target(tick as f32)]));
        }
        assert_eq!(history.at(30, 0).map(|t| t[0].pos.x), Some(30.0));
        assert_eq!(history.at(30, 12).map(|t| t[0].pos.x), Some(18.0));
        assert_eq!(history.at(30, 25), None, "older than held");
        assert_eq!(history.at(40, 0), None, "newer than held");
    }

    #[test]
    fn between_snapshot_ticks_a_target_is_where_the_client_drew_it() {
        // Snapshots every 3 ticks; the target goes right 3 ticks, turns at tick 4, comes back.
        let mut history = TargetHistory::default();
        let xs = [0.0, 10.0, 20.0, 30.0, 40.0, 30.0, 20.0, 10.0];
        for (tick, x) in xs.iter().enumerate() {
            let t = Target { id: NetId(1), client: ClientId(1), pos: Vec2::new(*x, 0.0) };
            history.ticks.push_back((tick as u64, vec![t]));
        }
        let every_third = |t: u64| t.is_multiple_of(3);
        let drawn = |view| history.drawn_at(view, 7, 60, every_third).map(|t| t[0].pos.x);
        assert_eq!(drawn(3), Some(30.0), "a snapshot tick: as it was");
        let near = |x: Option<f32>, want: f32| x.is_some_and(|x| (x - want).abs() < 1e-4);
        assert!(
            near(drawn(4), 30.0 - 10.0 / 3.0),
            "drawn a third of the way from 30 (tick 3) to 20 (tick 6), not at its true 40"
        );
        assert!(near(drawn(5), 30.0 - 20.0 / 3.0), "two thirds of the way, not at its true 30");
        assert_eq!(drawn(7), Some(10.0), "after the newest snapshot tick: as it is");
    }
}
