//! Collision geometry of moving points (projectiles) against walls and circles. Pure
//! functions. How players meet walls is in [`shared::movement`], which clients replay.

use glam::Vec2;
use shared::Rect;

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
