//! Interest management: which entities of a world [`Frame`] one client is sent. Owns the
//! uniform grid built once per frame ([`Grid`]), the view radius and its hysteresis band
//! ([`Interest`]), and each client's view ([`View`]): what it saw last and where it looks from.
//! Pure, like the rest of this module; the server's router calls it once per snapshot tick
//! (`server/engine/src/net/replication/router.rs`) and never touches the simulation's state.
//!
//! A filtered frame is an ordinary [`Frame`] holding a subset of the world frame's records,
//! unchanged (same dead-reckoning models, same serial and tick), with [`Frame::view`] set to
//! the client. Entities entering a client's view are therefore ordinary creations in its next
//! delta and entities leaving are ordinary removals: the wire format does not change, as long
//! as each client's delta is taken against the filtered frame it was actually sent.
//!
//! Rules (documented in the README):
//! - a player sees every entity within `radius` world units of its own player (positions
//!   extrapolated to the frame's tick); an entity it sees stays in view until it is beyond
//!   `radius ×` [`LEAVE_FACTOR`], so that nothing flickers in and out at the edge;
//! - its own player and its own projectiles are always in view (the client draws its player
//!   and predicts its shots, which fly farther than a small radius);
//! - a client with no entity (a spectator) sees the whole world: the shared world frame;
//! - a player whose entity is gone (it is leaving) keeps looking from where it last was.
//!
//! Cost per frame: O(entities) to build the grid, then per client O(entities in the cells
//! around it); never O(entities × clients).

use std::sync::Arc;

use super::fields::EntityRecord;
use super::frame::Frame;
use super::quant::POS_SCALE;
use super::records::Records;

/// An entity in view stays in view until it is beyond the radius times this.
pub const LEAVE_FACTOR: f32 = 1.1;
/// Largest view radius, world units (anything above sees a map of any sane size).
pub const MAX_RADIUS: f32 = 1_000_000.0;
/// Positions are clamped to this many position units for the grid, so that squared
/// distances fit in a `u64` (only hostile or broken states get anywhere near it).
const MAX_COORD: i64 = 1 << 30;

/// The view radius and its hysteresis band, in position units (1/4 world unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    enter: i64,
    leave: i64,
}

impl Interest {
    /// Interest at `radius` world units; `None` for 0 (or anything not a positive finite
    /// number): everyone sees everything.
    pub fn new(radius: f32) -> Option<Interest> {
        if !(radius.is_finite() && radius > 0.0) {
            return None;
        }
        let radius = radius.min(MAX_RADIUS);
        let enter = (f64::from(radius) * f64::from(POS_SCALE)).round() as i64;
        let leave = (enter as f64 * f64::from(LEAVE_FACTOR)).round() as i64;
        Some(Interest { enter: enter.max(1), leave: leave.max(enter) })
    }

    /// Within this distance (position units) an entity comes into view.
    pub fn enter(&self) -> i64 {
        self.enter
    }

    /// Beyond this distance (position units) an entity in view leaves it.
    pub fn leave(&self) -> i64 {
        self.leave
    }

    /// The grid's cell size: half the radius. A view's square then spans 5 or 6 cells a side
    /// (about 2.4 times the circle's area is visited) where cells of the whole radius would
    /// span 3 or 4 (up to 4.2 times); cells are cheap, distance checks are what counts.
    pub fn cell(&self) -> i64 {
        (self.enter / 2).max(1)
    }
}

/// One frame's entities bucketed by position into square cells, plus an index of who owns
/// what. Built once per frame, shared by every client's query.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Each entity's position at the frame's tick (position units, clamped), by frame index.
    points: Vec<[i64; 2]>,
    origin: [i64; 2],
    cell: i64,
    cols: usize,
    rows: usize,
    /// Cell `c` holds `items[starts[c]..starts[c + 1]]`: frame indices, increasing.
    starts: Vec<u32>,
    items: Vec<u32>,
    /// `(owner, frame index)` of every player and projectile with an owner, sorted.
    owned: Vec<(u32, u32)>,
}

impl Grid {
    /// Buckets `frame`'s entities into cells of `cell` position units (grown if the entities
    /// are spread so far that there would be more than a few cells per entity).
    pub fn build(frame: &Frame, cell: i64) -> Grid {
        let n = frame.entities.len();
        let points: Vec<[i64; 2]> = frame
            .entities
            .iter()
            .map(|r| {
                let p = r.pos_at(frame.tick, frame.tick_rate);
                [p[0].clamp(-MAX_COORD, MAX_COORD), p[1].clamp(-MAX_COORD, MAX_COORD)]
            })
            .collect();
        let mut lo = [i64::MAX; 2];
        let mut hi = [i64::MIN; 2];
        for p in &points {
            for axis in 0..2 {
                lo[axis] = lo[axis].min(p[axis]);
                hi[axis] = hi[axis].max(p[axis]);
            }
        }
        if n == 0 {
            (lo, hi) = ([0, 0], [0, 0]);
        }
        let span = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        // At most about 4 cells per entity (and 64 for tiny worlds): a far-flung outlier must
        // not make the grid huge.
        let max_cells = (4 * n).max(64) as i64;
        let side = (max_cells as f64).sqrt() as i64;
        let cell = cell.max(1).max(span / side.max(1) + 1);
        let cols = ((hi[0] - lo[0]) / cell + 1) as usize;
        let rows = ((hi[1] - lo[1]) / cell + 1) as usize;
        let cell_of = |p: &[i64; 2]| ((p[1] - lo[1]) / cell) as usize * cols + ((p[0] - lo[0]) / cell) as usize;
        let mut starts = vec![0u32; cols * rows + 1];
        for p in &points {
            starts[cell_of(p) + 1] += 1;
        }
        for c in 1..starts.len() {
            starts[c] += starts[c - 1];
        }
        let mut fill = starts.clone();
        let mut items = vec![0u32; n];
        for (i, p) in points.iter().enumerate() {
            let c = cell_of(p);
            items[fill[c] as usize] = i as u32;
            fill[c] += 1;
        }
        let mut owned: Vec<(u32, u32)> =
            frame.entities.iter().enumerate().filter(|(_, r)| r.owner != 0).map(|(i, r)| (r.owner, i as u32)).collect();
        owned.sort_unstable();
        Grid { points, origin: lo, cell, cols, rows, starts, items, owned }
    }

    /// Appends the frame indices of every entity in the cells that the square of half-side
    /// `radius` around `center` touches (a superset of those within `radius`).
    pub fn near(&self, center: [i64; 2], radius: i64, out: &mut Vec<u32>) {
        let span = |axis: usize, count: usize| {
            let lo = (center[axis].saturating_sub(radius) - self.origin[axis]).div_euclid(self.cell);
            let hi = (center[axis].saturating_add(radius) - self.origin[axis]).div_euclid(self.cell);
            (hi >= 0 && lo < count as i64).then(|| (lo.max(0) as usize, hi.min(count as i64 - 1) as usize))
        };
        let (Some((x0, x1)), Some((y0, y1))) = (span(0, self.cols), span(1, self.rows)) else { return };
        for row in y0..=y1 {
            // The cells of one row are contiguous.
            let from = self.starts[row * self.cols + x0] as usize;
            let to = self.starts[row * self.cols + x1 + 1] as usize;
            out.extend_from_slice(&self.items[from..to]);
        }
    }

    /// Frame indices of the players and projectiles owned by `client`, increasing.
    pub fn owned_by(&self, client: u32) -> impl Iterator<Item = u32> + '_ {
        let from = self.owned.partition_point(|&(owner, _)| owner < client);
        self.owned[from..].iter().take_while(move |&&(owner, _)| owner == client).map(|&(_, i)| i)
    }

    /// Where frame entity `index` is at the frame's tick (position units).
    pub fn point(&self, index: u32) -> Option<[i64; 2]> {
        self.points.get(index as usize).copied()
    }

    /// Squared distance (position units²) from `center` to frame entity `index`.
    fn distance2(&self, center: [i64; 2], index: u32) -> u64 {
        let p = self.points.get(index as usize).copied().unwrap_or([MAX_COORD, MAX_COORD]);
        let (dx, dy) = ((p[0] - center[0]).unsigned_abs(), (p[1] - center[1]).unsigned_abs());
        dx * dx + dy * dy
    }
}

/// One client's view: where it looks from and what it was given last (for the hysteresis).
#[derive(Debug, Clone, Default)]
pub struct View {
    center: Option<[i64; 2]>,
    last: Option<Arc<Frame>>,
    /// Buffers reused from frame to frame.
    near: Vec<u32>,
    picked: Vec<u32>,
}

impl View {
    /// Where this view looks from (position units), once it has had a player.
    pub fn center(&self) -> Option<[i64; 2]> {
        self.center
    }

    /// The frame this view made last, if any (a spectator's view makes none).
    pub fn last(&self) -> Option<&Arc<Frame>> {
        self.last.as_ref()
    }

    /// The frame for `client`: `world` itself for a client that never had an entity (a
    /// spectator), else the entities in its view (see the module's rules), as a frame with
    /// `view = client`. `grid` must be built from `world`.
    pub fn frame_for(&mut self, interest: &Interest, grid: &Grid, world: &Arc<Frame>, client: u32) -> Arc<Frame> {
        if client == 0 {
            // 0 is nobody's client id (NPCs are owned by 0), and view 0 means "the world".
            return world.clone();
        }
        let own_player = grid.owned_by(client).find(|&i| {
            world.entities.get(i as usize).is_some_and(|r| world.schema.kind(r.kind).is_some_and(|k| k.avatar))
        });
        if let Some(point) = own_player.and_then(|i| grid.point(i)) {
            self.center = Some(point);
        }
        let Some(center) = self.center else { return world.clone() };
        let enter2 = (interest.enter as u64).pow(2);
        let leave2 = (interest.leave as u64).pow(2);
        let was_in_view = |id: u32| self.last.as_ref().is_some_and(|l| l.entities.contains(id));
        let (mut near, mut picked) = (std::mem::take(&mut self.near), std::mem::take(&mut self.picked));
        near.clear();
        picked.clear();
        grid.near(center, interest.leave, &mut near);
        for &i in &near {
            let d2 = grid.distance2(center, i);
            let keep =
                d2 <= enter2 || (d2 <= leave2 && world.entities.get(i as usize).is_some_and(|r| was_in_view(r.id)));
            if keep {
                picked.push(i);
            }
        }
        picked.extend(grid.owned_by(client));
        // Frame indices follow ids, so sorting them puts the records in id order.
        picked.sort_unstable();
        picked.dedup();
        let entities: Vec<EntityRecord> =
            picked.iter().filter_map(|&i| world.entities.get(i as usize)).cloned().collect();
        (self.near, self.picked) = (near, picked);
        let frame = Arc::new(Frame {
            schema: world.schema.clone(),
            serial: world.serial,
            epoch: world.epoch,
            tick: world.tick,
            tick_rate: world.tick_rate,
            view: client,
            entities: Records::from_sorted(entities),
        });
        self.last = Some(frame.clone());
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EntityKind;

    fn npc(id: u32, x: f32, y: f32) -> EntityRecord {
        EntityRecord {
            pos: [(x * POS_SCALE) as i32, (y * POS_SCALE) as i32],
            ..EntityRecord::blank(id, EntityKind::Npc.index())
        }
    }

    fn player(id: u32, client: u32, x: f32, y: f32) -> EntityRecord {
        EntityRecord { kind: EntityKind::Player.index(), owner: client, ..npc(id, x, y) }
    }

    fn world(serial: u64, entities: Vec<EntityRecord>) -> Arc<Frame> {
        Arc::new(Frame {
            schema: crate::arena::schema(),
            serial,
            epoch: 0,
            tick: serial * 3,
            tick_rate: 60,
            view: 0,
            entities: Records::from_sorted(entities),
        })
    }

    fn ids(frame: &Frame) -> Vec<u32> {
        frame.entities.iter().map(|r| r.id).collect()
    }

    #[test]
    fn the_grid_finds_every_entity_within_the_radius_and_only_nearby_cells() {
        // A 50 × 50 lattice, 10 units apart, and queries all over (and outside) it.
        let entities: Vec<_> =
            (0..2500u32).map(|i| npc(i + 1, (i % 50) as f32 * 10.0, (i / 50) as f32 * 10.0)).collect();
        let frame = world(1, entities);
        let interest = Interest::new(35.0).expect("a radius");
        let grid = Grid::build(&frame, interest.cell());
        for center in [[0, 0], [1000, 1000], [1996, 4], [-200, 900], [2100, 2100], [5000, 5000]] {
            let mut near = Vec::new();
            grid.near(center, interest.enter(), &mut near);
            let brute: Vec<u32> =
                (0..2500u32).filter(|&i| grid.distance2(center, i) <= (interest.enter() as u64).pow(2)).collect();
            let mut found: Vec<u32> = near
                .iter()
                .copied()
                .filter(|&i| grid.distance2(center, i) <= (interest.enter() as u64).pow(2))
                .collect();
            found.sort_unstable();
            assert_eq!(found, brute, "around {center:?}");
            assert!(near.len() <= 2500 / 10, "{} candidates: only the cells around {center:?}", near.len());
        }
    }

    #[test]
    fn a_far_outlier_does_not_blow_up_the_grid() {
        let frame = world(1, vec![npc(1, 0.0, 0.0), npc(2, 60_000_000.0, -60_000_000.0), npc(3, 5.0, 5.0)]);
        let grid = Grid::build(&frame, 4);
        assert!(grid.cols * grid.rows <= 64, "{} × {} cells", grid.cols, grid.rows);
        let mut near = Vec::new();
        grid.near([0, 0], 40, &mut near);
        assert!(near.contains(&0) && near.contains(&2));
    }

    #[test]
    fn players_see_within_the_radius_and_keep_what_they_saw_until_the_band_ends() {
        let interest = Interest::new(100.0).expect("a radius");
        let mut view = View::default();
        // Client 7's player at (500, 500); NPCs at 50, 99, 105 and 300 units to its right.
        let at = |x: f32| {
            vec![
                player(1, 7, 500.0, 500.0),
                npc(2, 550.0, 500.0),
                npc(3, 599.0, 500.0),
                npc(4, 500.0 + x, 500.0),
                npc(5, 800.0, 500.0),
            ]
        };
        let first = world(1, at(105.0));
        let grid = Grid::build(&first, interest.cell());
        let seen = view.frame_for(&interest, &grid, &first, 7);
        assert_eq!(ids(&seen), [1, 2, 3], "105 and 300 units away: not in view");
        assert_eq!((seen.view, seen.serial, seen.tick), (7, 1, 3));
        assert_eq!(seen.entities.to_vec(), first.entities.to_vec()[..3], "records are the world's, unchanged");
        // NPC 4 comes within the radius, then drifts out into the band (105, within 110):
        // it stays; beyond 110 it leaves.
        for (serial, x, expected) in [
            (2, 95.0, vec![1, 2, 3, 4]),
            (3, 105.0, vec![1, 2, 3, 4]),
            (4, 111.0, vec![1, 2, 3]),
            (5, 105.0, vec![1, 2, 3]),
        ] {
            let frame = world(serial, at(x));
            let grid = Grid::build(&frame, interest.cell());
            assert_eq!(ids(&view.frame_for(&interest, &grid, &frame, 7)), expected, "NPC 4 at {x} units");
        }
    }

    #[test]
    fn own_entities_are_always_in_view_and_spectators_see_everything() {
        let interest = Interest::new(50.0).expect("a radius");
        let shot = EntityRecord { kind: EntityKind::Projectile.index(), owner: 7, ..npc(4, 1900.0, 1900.0) };
        let foreign_shot = EntityRecord { kind: EntityKind::Projectile.index(), owner: 8, ..npc(5, 1900.0, 1900.0) };
        let frame = world(
            1,
            vec![player(1, 7, 10.0, 10.0), player(2, 8, 1000.0, 1000.0), npc(3, 20.0, 20.0), shot, foreign_shot],
        );
        let grid = Grid::build(&frame, interest.cell());
        assert_eq!(ids(&View::default().frame_for(&interest, &grid, &frame, 7)), [1, 3, 4], "its shot, far away");
        assert_eq!(ids(&View::default().frame_for(&interest, &grid, &frame, 8)), [2, 5]);
        let spectator = View::default().frame_for(&interest, &grid, &frame, 9);
        assert!(Arc::ptr_eq(&spectator, &frame), "a client with no entity gets the shared world frame");
        // A player whose entity is gone keeps its last point of view.
        let mut view = View::default();
        view.frame_for(&interest, &grid, &frame, 7);
        let gone = world(2, vec![player(2, 8, 1000.0, 1000.0), npc(3, 20.0, 20.0)]);
        let grid = Grid::build(&gone, interest.cell());
        assert_eq!(ids(&view.frame_for(&interest, &grid, &gone, 7)), [3]);
    }

    #[test]
    fn no_radius_means_no_interest() {
        assert_eq!(Interest::new(0.0), None);
        assert_eq!(Interest::new(-1.0), None);
        assert_eq!(Interest::new(f32::NAN), None);
        let i = Interest::new(400.0).expect("a radius");
        assert_eq!((i.enter(), i.leave(), i.cell()), (1600, 1760, 800));
    }
}
