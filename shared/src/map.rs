//! The arena: bounds, walls and spawn points. Loaded by the server from a JSON file in
//! `assets/maps/` and sent to each client in `Welcome`, so both draw the same map.

use glam::Vec2;
use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle: top-left corner and size, in world units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width, positive.
    pub w: f32,
    /// Height, positive.
    pub h: f32,
}

impl Rect {
    /// The corner with the smallest coordinates.
    pub fn min(&self) -> Vec2 {
        Vec2::new(self.x, self.y)
    }

    /// The corner with the largest coordinates.
    pub fn max(&self) -> Vec2 {
        Vec2::new(self.x + self.w, self.y + self.h)
    }

    /// Whether `p` lies inside or on the edge.
    pub fn contains(&self, p: Vec2) -> bool {
        p.cmpge(self.min()).all() && p.cmple(self.max()).all()
    }
}

/// Most walls a map may have; keeps `Welcome` small and collision cheap.
pub const MAX_WALLS: usize = 256;
/// Most spawn points a map may have.
pub const MAX_SPAWNS: usize = 64;
/// Largest map side, in world units.
pub const MAX_SIDE: f32 = 100_000.0;

/// A playable map. World coordinates run from (0, 0) to (`width`, `height`), y pointing down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapData {
    /// Short identifier, e.g. `"arena"`.
    pub id: String,
    /// World width in units.
    pub width: f32,
    /// World height in units.
    pub height: f32,
    /// Solid rectangles players and projectiles cannot pass.
    pub walls: Vec<Rect>,
    /// Where players appear; at least one, none inside a wall.
    pub spawns: Vec<Vec2>,
}

impl MapData {
    /// Checks that the map is usable; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > 64 {
            return Err("id must be 1 to 64 bytes".into());
        }
        let side_ok = |s: f32| s.is_finite() && s > 0.0 && s <= MAX_SIDE;
        if !side_ok(self.width) || !side_ok(self.height) {
            return Err(format!("width and height must be in (0, {MAX_SIDE}]"));
        }
        if self.walls.len() > MAX_WALLS {
            return Err(format!("at most {MAX_WALLS} walls"));
        }
        for (i, wall) in self.walls.iter().enumerate() {
            let finite = [wall.x, wall.y, wall.w, wall.h].iter().all(|v| v.is_finite());
            if !finite || wall.w <= 0.0 || wall.h <= 0.0 {
                return Err(format!("wall {i} must have finite coordinates and positive size"));
            }
        }
        if self.spawns.is_empty() || self.spawns.len() > MAX_SPAWNS {
            return Err(format!("needs 1 to {MAX_SPAWNS} spawn points"));
        }
        let bounds = Rect { x: 0.0, y: 0.0, w: self.width, h: self.height };
        for (i, spawn) in self.spawns.iter().enumerate() {
            if !spawn.is_finite() || !bounds.contains(*spawn) {
                return Err(format!("spawn {i} lies outside the map"));
            }
            if let Some(w) = self.walls.iter().position(|wall| wall.contains(*spawn)) {
                return Err(format!("spawn {i} lies inside wall {w}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> MapData {
        MapData {
            id: "t".into(),
            width: 100.0,
            height: 100.0,
            walls: vec![Rect { x: 10.0, y: 10.0, w: 10.0, h: 10.0 }],
            spawns: vec![Vec2::new(50.0, 50.0)],
        }
    }

    #[test]
    fn validates() {
        assert_eq!(map().validate(), Ok(()));
        let mut m = map();
        m.spawns = vec![Vec2::new(15.0, 15.0)];
        assert_eq!(m.validate(), Err("spawn 0 lies inside wall 0".into()));
        let mut m = map();
        m.spawns.clear();
        assert!(m.validate().is_err());
        let mut m = map();
        m.walls[0].w = f32::NAN;
        assert!(m.validate().is_err());
        let mut m = map();
        m.width = -1.0;
        assert!(m.validate().is_err());
    }
}
