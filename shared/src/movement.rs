//! How a player moves: the one set of movement and wall-collision rules that the server's
//! simulation applies and that clients replay to predict their own player.
//!
//! Every operation is single-precision and in a fixed order (no fused multiply-add, walls in
//! map order), so that a client in another language reproduces it bit for bit: the web client
//! (`web-client/src/movement.js`) does, with `Math.fround` after each operation, and the golden
//! trajectories in `shared/tests/trajectories.json` hold both to it.

use glam::Vec2;

use crate::map::{MapData, Rect};

/// Player circle radius, world units.
pub const PLAYER_RADIUS: f32 = 16.0;
/// Player speed at full stick, units per second.
pub const PLAYER_SPEED: f32 = 200.0;

/// The velocity a movement input gives, units per second.
pub fn velocity(movement: Vec2) -> Vec2 {
    movement * PLAYER_SPEED
}

/// Where a player at `pos` going at `vel` is after `dt` seconds, walls ignored.
pub fn integrate(pos: Vec2, vel: Vec2, dt: f32) -> Vec2 {
    pos + vel * dt
}

/// Pushes a player out of every wall, in map order, then inside the map's bounds.
pub fn confine(pos: Vec2, map: &MapData) -> Vec2 {
    let lo = Vec2::splat(PLAYER_RADIUS);
    let hi = Vec2::new(map.width, map.height) - lo;
    let mut p = pos;
    for wall in &map.walls {
        p = push_circle_out_of_rect(p, PLAYER_RADIUS, wall);
    }
    p.clamp(lo, hi.max(lo))
}

/// One tick of a living player: move along the input's `movement` for `dt`, then confine.
pub fn step(pos: Vec2, movement: Vec2, map: &MapData, dt: f32) -> Vec2 {
    confine(integrate(pos, velocity(movement), dt), map)
}

/// Pushes a circle at `center` with `radius` out of `wall` along the axis of least
/// penetration. Returns the corrected center (unchanged when not overlapping).
pub fn push_circle_out_of_rect(center: Vec2, radius: f32, wall: &Rect) -> Vec2 {
    let closest = center.clamp(wall.min(), wall.max());
    let offset = center - closest;
    let dist_sq = offset.length_squared();
    if dist_sq > 0.0 {
        if dist_sq >= radius * radius {
            return center;
        }
        // Center outside the rect: move along the line to the closest point.
        let dist = dist_sq.sqrt();
        return closest + offset * (radius / dist);
    }
    // Center inside the rect: leave through the nearest side.
    let to_left = center.x - wall.x;
    let to_right = wall.x + wall.w - center.x;
    let to_top = center.y - wall.y;
    let to_bottom = wall.y + wall.h - center.y;
    let least = to_left.min(to_right).min(to_top).min(to_bottom);
    if least == to_left {
        Vec2::new(wall.x - radius, center.y)
    } else if least == to_right {
        Vec2::new(wall.x + wall.w + radius, center.y)
    } else if least == to_top {
        Vec2::new(center.x, wall.y - radius)
    } else {
        Vec2::new(center.x, wall.y + wall.h + radius)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALL: Rect = Rect { x: 100.0, y: 100.0, w: 50.0, h: 20.0 };

    fn map() -> MapData {
        MapData { id: "t".into(), width: 400.0, height: 300.0, walls: vec![WALL], spawns: vec![Vec2::splat(50.0)] }
    }

    #[test]
    fn circle_is_pushed_out_of_walls() {
        let far = Vec2::new(0.0, 0.0);
        assert_eq!(push_circle_out_of_rect(far, 10.0, &WALL), far);
        // Touching the left side from outside, 4 units deep.
        assert_eq!(push_circle_out_of_rect(Vec2::new(94.0, 110.0), 10.0, &WALL), Vec2::new(90.0, 110.0));
        // Center inside, nearest to the top side.
        assert_eq!(push_circle_out_of_rect(Vec2::new(120.0, 102.0), 10.0, &WALL), Vec2::new(120.0, 90.0));
        // Near a corner: pushed diagonally to exactly radius away.
        let out = push_circle_out_of_rect(Vec2::new(155.0, 125.0), 10.0, &WALL);
        assert!((out.distance(WALL.max()) - 10.0).abs() < 1e-4, "{out}");
    }

    #[test]
    fn a_step_moves_at_speed_and_stops_at_walls_and_bounds() {
        let dt = 1.0 / 60.0;
        let moved = step(Vec2::splat(50.0), Vec2::X, &map(), dt);
        assert!((moved.x - (50.0 + PLAYER_SPEED * dt)).abs() < 1e-4, "one tick at full speed: {moved}");
        let at_wall = step(Vec2::new(WALL.x - PLAYER_RADIUS, 110.0), Vec2::X, &map(), dt);
        assert_eq!(at_wall, Vec2::new(WALL.x - PLAYER_RADIUS, 110.0), "held against the wall's left side");
        let at_bound = step(Vec2::new(PLAYER_RADIUS, 250.0), -Vec2::X, &map(), dt);
        assert_eq!(at_bound, Vec2::new(PLAYER_RADIUS, 250.0), "held inside the map");
    }
}
