//! Output stage: what the arena shows. A player's health and aim go into its replicated fields;
//! the scoreboard is kept, rows in client order.

use bevy_ecs::prelude::*;
use shared::ScoreEntry;
use shared::arena::{AIM, AIM_STEPS, DEATHS, HEALTH, KILLS};
use shared::schema::Encoding;

use crate::games::arena::components::{Combatant, Player};
use crate::sim::components::Replicated;
use crate::sim::resources::Scoreboard;

/// Writes each player's health and aim into its replicated fields, where they changed (an
/// unchanged player costs the snapshot stage nothing).
pub fn show_players(mut players: Query<(&Combatant, &mut Replicated), Changed<Combatant>>) {
    for (combat, mut replicated) in &mut players {
        let mut values = replicated.values;
        values[HEALTH] = combat.health.into();
        values[AIM] = Encoding::Angle { steps: AIM_STEPS }.quantize(combat.aim);
        if replicated.values != values {
            replicated.values = values;
        }
    }
}

/// Keeps the scoreboard: every player's kills and deaths, most kills first (then fewest deaths,
/// then client id), when a player's score changed or someone joined or left.
pub fn keep_scoreboard(players: Query<Ref<Player>>, mut scoreboard: ResMut<Scoreboard>) {
    let changed = players.iter().any(|p| p.is_changed());
    if !changed && scoreboard.0.len() == players.iter().count() {
        return;
    }
    let mut rows: Vec<ScoreEntry> = players
        .iter()
        .map(|p| ScoreEntry { client: p.client.0, name: p.name.clone(), values: vec![score(p.kills), score(p.deaths)] })
        .collect();
    rows.sort_unstable_by_key(|s| (std::cmp::Reverse(s.values[KILLS]), s.values[DEATHS], s.client));
    scoreboard.set_if_neq(Scoreboard(rows));
}

/// A count as a scoreboard value (saturating: four billion kills is plenty).
fn score(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}
