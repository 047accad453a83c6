//! Movement stage for players: integrate velocity. (NPCs move in `crowd`, projectiles in the
//! collision sweep, which needs their path.)

use bevy_ecs::prelude::*;
use shared::movement;

use crate::games::arena::components::Player;
use crate::sim::components::{Position, Velocity};
use crate::sim::resources::SimSettings;

/// `position += velocity * dt` for every player. Order-independent.
pub fn move_players(mut players: Query<(&mut Position, &Velocity), With<Player>>, settings: Res<SimSettings>) {
    let dt = settings.dt();
    for (mut pos, vel) in &mut players {
        pos.0 = movement::integrate(pos.0, vel.0, dt);
    }
}
