//! Combat stage: applies the tick's hits in order: damage, death, kill and death counts.

use bevy_ecs::prelude::*;

use crate::games::arena::Hits;
use crate::games::arena::components::{Combatant, Player};
use crate::games::arena::rules::{PROJECTILE_DAMAGE, RESPAWN_DELAY_SECS, ticks};
use crate::sim::components::NetId;
use crate::sim::resources::{Roster, SimSettings, Tick};

/// Damages victims; a victim brought to 0 dies, scoring a kill for its shooter.
pub fn apply_hits(
    mut hits: ResMut<Hits>,
    mut players: Query<(&NetId, &mut Player, &mut Combatant)>,
    roster: Res<Roster>,
    settings: Res<SimSettings>,
    tick: Res<Tick>,
) {
    for hit in hits.0.drain(..) {
        // Few players: a scan is cheaper than an index kept up to date.
        let Some((_, mut victim, mut combat)) = players.iter_mut().find(|(id, ..)| **id == hit.victim) else {
            continue;
        };
        if combat.respawn_at.is_some() {
            continue; // already killed by an earlier hit this tick
        }
        combat.health = combat.health.saturating_sub(PROJECTILE_DAMAGE);
        if combat.health > 0 {
            continue;
        }
        combat.respawn_at = Some(tick.0 + u64::from(ticks(RESPAWN_DELAY_SECS, settings.tick_rate)));
        victim.deaths += 1;
        let victim_client = victim.client;
        if hit.shooter == victim_client {
            continue;
        }
        if let Some(&killer) = roster.players.get(&hit.shooter)
            && let Ok((_, mut killer, _)) = players.get_mut(killer)
        {
            killer.kills += 1;
        }
    }
}
