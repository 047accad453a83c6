//! Lag compensation: where every living player was over the last [`MAX_REWIND_SECS`], so
//! that a shot is judged against the targets as its shooter saw them (WIRE.md, "Lag
//! compensation"). The history is simulation state derived from positions, so replays rebuild
//! it exactly; the rewind of each shot comes from its input's `view_tick`, which recordings
//! keep.

use std::collections::VecDeque;

use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::bridge::ClientId;
use crate::sim::components::{Combatant, NetId, Player, Position};
use crate::sim::resources::{SimSettings, Tick};
use crate::sim::rules::ticks;

/// Longest rewind, seconds: beyond this, favouring the shooter is unfair to the target (shot
/// from behind a wall it reached long ago).
pub const MAX_REWIND_SECS: f32 = 0.2;

/// A living player at one tick, as a shot may hit it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The player's entity.
    pub entity: Entity,
    /// Its network id (targets are kept in increasing order of it).
    pub id: NetId,
    /// Its client (a shot never hits its own shooter).
    pub client: ClientId,
    /// Where it was at the end of the tick's movement and collisions.
    pub pos: Vec2,
}

/// The living players at each of the last ticks, newest last.
#[derive(Resource, Debug, Default)]
pub struct TargetHistory {
    ticks: VecDeque<(u64, Vec<Target>)>,
}

impl TargetHistory {
    /// The targets as they were `rewind` ticks before `tick`, if that tick is still held.
    pub fn at(&self, tick: u64, rewind: u32) -> Option<&[Target]> {
        let wanted = tick.checked_sub(u64::from(rewind))?;
        let (newest, _) = self.ticks.back()?;
        let back = usize::try_from(newest.checked_sub(wanted)?).ok()?;
        let index = self.ticks.len().checked_sub(back + 1)?;
        self.ticks.get(index).filter(|(t, _)| *t == wanted).map(|(_, targets)| targets.as_slice())
    }
}

/// The rewind a shot fired at `tick` by an input made while its client drew others at
/// `view_tick`: the difference, capped at [`MAX_REWIND_SECS`]; 0 when unknown (0) or ahead.
pub fn rewind_ticks(tick: u64, view_tick: u32, tick_rate: u16) -> u32 {
    if view_tick == 0 {
        return 0;
    }
    let behind = tick.saturating_sub(u64::from(view_tick));
    u32::try_from(behind).unwrap_or(u32::MAX).min(ticks(MAX_REWIND_SECS, tick_rate))
}

/// Adds this tick's living players (after collisions, before projectiles are swept) and forgets
/// ticks older than the longest rewind.
pub fn record_targets(
    mut history: ResMut<TargetHistory>,
    players: Query<(Entity, &NetId, &Player, &Position, &Combatant)>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    let keep = ticks(MAX_REWIND_SECS, settings.tick_rate) as usize + 1;
    // Reuse the oldest tick's allocation: no allocation per tick once warm.
    let mut targets = if history.ticks.len() >= keep {
        history.ticks.pop_front().map(|(_, v)| v).unwrap_or_default()
    } else {
        Vec::new()
    };
    targets.clear();
    targets.extend(
        players.iter().filter(|(.., combat)| combat.respawn_at.is_none()).map(|(entity, id, player, pos, _)| Target {
            entity,
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
        assert_eq!(rewind_ticks(1000, 0, 60), 0, "unknown");
        assert_eq!(rewind_ticks(1000, 1005, 60), 0, "ahead of the server");
        assert_eq!(rewind_ticks(1000, 991, 60), 9);
        assert_eq!(rewind_ticks(1000, 900, 60), 12, "200 ms at 60 Hz");
        assert_eq!(rewind_ticks(1000, 900, 30), 6, "200 ms at 30 Hz");
    }

    #[test]
    fn the_history_answers_only_for_ticks_it_holds() {
        let mut history = TargetHistory::default();
        let target =
            |x: f32| Target { entity: Entity::PLACEHOLDER, id: NetId(1), client: ClientId(1), pos: Vec2::new(x, 0.0) };
        for tick in 10..=30u64 {
            history.ticks.push_back((tick, vec![target(tick as f32)]));
        }
        assert_eq!(history.at(30, 0).map(|t| t[0].pos.x), Some(30.0));
        assert_eq!(history.at(30, 12).map(|t| t[0].pos.x), Some(18.0));
        assert_eq!(history.at(30, 25), None, "older than held");
        assert_eq!(history.at(40, 0), None, "newer than held");
    }
}
