//! Game constants: how fast, how big, how hard. One place, so balance changes are one diff.

pub use shared::movement::{PLAYER_RADIUS, PLAYER_SPEED};
/// Health at spawn.
pub const MAX_HEALTH: u8 = 100;
/// Projectile radius, world units.
pub const PROJECTILE_RADIUS: f32 = 4.0;
/// Projectile speed, units per second.
pub const PROJECTILE_SPEED: f32 = 600.0;
/// How long a projectile flies before it vanishes, seconds.
pub const PROJECTILE_LIFETIME_SECS: f32 = 1.5;
/// Minimum time between two shots of one player, seconds.
pub const FIRE_INTERVAL_SECS: f32 = 0.2;
/// Health a hit removes.
pub const PROJECTILE_DAMAGE: u8 = 25;
/// Time from death to respawn, seconds.
pub const RESPAWN_DELAY_SECS: f32 = 2.0;

/// W1 crowd (`../shared/WORKLOADS.md`): the square the NPCs live in, side length.
pub const CROWD_SIDE: f32 = 2000.0;
/// W1 crowd: NPC speed while moving, units per second.
pub const CROWD_SPEED: f32 = 100.0;
/// W1 crowd: shortest and longest phase, seconds (60 and 180 ticks at 60 Hz).
pub const CROWD_PHASE_SECS: (f32, f32) = (1.0, 3.0);

/// Whole ticks in `secs` at `tick_rate`, at least 1.
pub fn ticks(secs: f32, tick_rate: u16) -> u32 {
    ((secs * f32::from(tick_rate)).round() as u32).max(1)
}
