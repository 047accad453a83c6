//! Collision geometry: circles against axis-aligned walls and moving points. Pure functions.

use glam::Vec2;
use shared::Rect;

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

/// First time `t` in `[0, 1]` at which the segment `from + t * delta` enters `wall`
/// grown by `radius` on every side (slab test), if it does.
pub fn segment_hits_rect(from: Vec2, delta: Vec2, wall: &Rect, radius: f32) -> Option<f32> {
    let min = wall.min() - Vec2::splat(radius);
    let max = wall.max() + Vec2::splat(radius);
    let mut t_enter = 0.0f32;
    let mut t_exit = 1.0f32;
    for axis in 0..2 {
        let (p, d, lo, hi) = (from[axis], delta[axis], min[axis], max[axis]);
        if d == 0.0 {
            if p < lo || p > hi {
                return None;
            }
            continue;
        }
        let (mut t0, mut t1) = ((lo - p) / d, (hi - p) / d);
        if t0 > t1 {
            std::mem::swap(&mut t0, &mut t1);
        }
        t_enter = t_enter.max(t0);
        t_exit = t_exit.min(t1);
        if t_enter > t_exit {
            return None;
        }
    }
    Some(t_enter)
}

/// First time `t` in `[0, 1]` at which the segment `from + t * delta` comes within `radius`
/// of `center`, if it does.
pub fn segment_hits_circle(from: Vec2, delta: Vec2, center: Vec2, radius: f32) -> Option<f32> {
    let f = from - center;
    let c = f.length_squared() - radius * radius;
    if c <= 0.0 {
        return Some(0.0);
    }
    let a = delta.length_squared();
    if a == 0.0 {
        return None;
    }
    let b = f.dot(delta);
    let disc = b * b - a * c;
    if b >= 0.0 || disc < 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / a;
    (t <= 1.0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALL: Rect = Rect { x: 100.0, y: 100.0, w: 50.0, h: 20.0 };

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
    fn segments_hit_rects_and_circles() {
        let t = segment_hits_rect(Vec2::new(0.0, 110.0), Vec2::new(200.0, 0.0), &WALL, 0.0);
        assert_eq!(t, Some(0.5));
        assert_eq!(segment_hits_rect(Vec2::new(0.0, 0.0), Vec2::new(200.0, 0.0), &WALL, 0.0), None);
        let t = segment_hits_circle(Vec2::ZERO, Vec2::new(100.0, 0.0), Vec2::new(50.0, 0.0), 10.0);
        assert_eq!(t, Some(0.4));
        assert_eq!(segment_hits_circle(Vec2::ZERO, Vec2::new(100.0, 0.0), Vec2::new(50.0, 20.0), 10.0), None);
        assert_eq!(segment_hits_circle(Vec2::ZERO, Vec2::new(30.0, 0.0), Vec2::new(50.0, 0.0), 10.0), None);
        assert_eq!(segment_hits_circle(Vec2::new(45.0, 0.0), Vec2::X, Vec2::new(50.0, 0.0), 10.0), Some(0.0));
    }
}
