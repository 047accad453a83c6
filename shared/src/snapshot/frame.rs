//! The server's side of replication: [`Replicator`] turns the simulation's state at each
//! snapshot tick into an immutable quantized [`Frame`], keeping one dead-reckoning model per
//! entity. A world frame is the same for every client; deltas are computed between two
//! frames. With interest management (`interest`), a client may instead be sent a subset of a
//! world frame: a frame of its own, marked by [`Frame::view`].
//!
//! A frame's records are [`Records`]: chunks shared with the frame before wherever nothing
//! changed. The replicator takes either the whole state ([`Replicator::update`]) or only what
//! changed ([`Replicator::advance`], from a simulation's [`Changes`]): then it pays for those,
//! plus a cheap check of each moving one ([`Replicator::keeps`]), not for the world; and
//! since it keeps its own copy of the state ([`super::mirror`]), it can run on a thread of
//! its own, off the simulation's.

use std::sync::Arc;

use glam::Vec2;

use super::fields::{EntityRecord, Model};
use super::mirror::{Changes, Mirror, Touched};
use super::quant::{MAX_AGE, MAX_POS, POS_TOLERANCE, quantize_pos, quantize_vel};
use super::records::{Change, Records};
use crate::schema::{MAX_VALUES, Motion, Row, Schema};
use crate::state::EntityState;

/// How many snapshots back a client's baseline may be and still get a delta; an older one
/// (a client that has not been written to for 1.6 s at 20 Hz) gets a keyframe.
pub const HISTORY: u64 = 32;

/// The quantized world at one snapshot tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The schema its records follow.
    pub schema: Arc<Schema>,
    /// Position in the producer's sequence of frames, from 1.
    pub serial: u64,
    /// Frames of different epochs never serve as each other's baseline (a replay seek starts
    /// a new epoch).
    pub epoch: u64,
    /// The tick the state belongs to.
    pub tick: u64,
    /// Ticks per second, which the extrapolation needs.
    pub tick_rate: u16,
    /// 0 for the whole world (one frame shared by every client that sees everything); else
    /// the client whose view this frame is (see `interest`). Two frames with the same serial
    /// and different views hold different entities: caches of encoded deltas keyed by serial
    /// must tell them apart.
    pub view: u32,
    /// Every replicated entity, in increasing id (of the view, for a filtered frame).
    pub entities: Records,
}

impl Frame {
    /// Whether a client holding `self` can be sent a delta to `target`.
    pub fn can_base(&self, target: &Frame) -> bool {
        self.epoch == target.epoch
            && self.serial < target.serial
            && target.serial - self.serial <= HISTORY
            && self.tick < target.tick
    }
}

/// Keeps the dead-reckoning models and produces frames.
#[derive(Debug)]
pub struct Replicator {
    schema: Arc<Schema>,
    tick_rate: u16,
    serial: u64,
    epoch: u64,
    records: Records,
    /// The state as [`Replicator::advance`] was last told it.
    mirror: Mirror,
}

impl Replicator {
    /// A replicator with no history, for states of `schema`'s kinds.
    pub fn new(schema: Arc<Schema>, tick_rate: u16) -> Self {
        Replicator { schema, tick_rate, serial: 0, epoch: 0, records: Records::default(), mirror: Mirror::default() }
    }

    /// The schema its frames follow.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Forgets the models and starts a new epoch: the next frame will be sent as a keyframe
    /// to everyone (after a replay seek, when the world jumps).
    pub fn restart(&mut self) {
        self.epoch += 1;
        self.records = Records::default();
        self.mirror = Mirror::default();
    }

    /// The epoch the next frame will have.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The records of the last frame.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// The next frame, for the whole state `truth` (in increasing id) at `tick`.
    ///
    /// Each entity keeps its model (base position, velocity, base tick) while the truth stays
    /// within [`POS_TOLERANCE`] of the extrapolation and the quantized velocity is unchanged.
    /// When the velocity changes, the model is re-based at this tick: from the extrapolated
    /// position if the truth is within tolerance of it (so only the velocity is sent), else
    /// from the truth. When the truth drifts out of tolerance, it is re-based on the truth.
    pub fn update(&mut self, tick: u64, truth: &[EntityState]) -> Arc<Frame> {
        let mut next = Vec::with_capacity(truth.len());
        let mut old = self.records.iter().peekable();
        // A state of a kind the schema lacks has no rows to be written in: it is left out
        // rather than sent as something no client can read.
        for state in truth.iter().filter(|s| self.schema.kind(s.kind).is_some()) {
            while old.next_if(|r| r.id < state.id).is_some() {}
            let previous = old.next_if(|r| r.id == state.id && r.kind == state.kind);
            next.push(self.model(previous, state, tick));
        }
        drop(old);
        self.records = Records::from_sorted(next);
        self.frame(tick)
    }

    /// The next frame, from what changed since the last call (whole, the first time): what
    /// [`Replicator::update`] would make from the whole state, for the cost of what changed
    /// and a [`Replicator::keeps`] of each moving entity. A replicator is driven either by
    /// `advance` or by `update`, not both: `update` does not keep the copy of the state that
    /// `advance` needs.
    pub fn advance(&mut self, changes: Changes) -> Arc<Frame> {
        let Changes { tick, whole, mut states, mut moves, mut removed } = changes;
        states.retain(|s| self.schema.kind(s.kind).is_some());
        // Storage order is runs sorted by id: a stable sort merges them in linear time.
        states.sort_by_key(|s| s.id);
        super::records::keep_last_of_each(&mut states, |s| s.id);
        if whole {
            let frame = self.update(tick, &states);
            let records = &self.records;
            self.mirror = Mirror::of_whole(states, |id| records.find(id).map(Model::of));
            return frame;
        }
        moves.sort_by_key(|m| m.0);
        super::records::keep_last_of_each(&mut moves, |m| m.0);
        removed.sort_unstable();
        removed.dedup();
        let mut mirror = std::mem::take(&mut self.mirror);
        mirror.apply(&removed, states, &moves);
        let mut upserts = Vec::new();
        for i in 0..mirror.ids.len() {
            let touched = std::mem::replace(&mut mirror.touched[i], Touched::No);
            if let Some(model) = &mirror.models[i] {
                // At rest and unchanged, or moving as its model says: its record holds.
                if touched == Touched::No && !model.moving() {
                    continue;
                }
                let state = &mirror.states[i];
                if touched != Touched::State && self.keeps(model, state.pos, state.vel, tick) {
                    continue;
                }
            }
            match self.remodel(&mirror.states[i], tick) {
                Some(record) => {
                    mirror.models[i] = Some(Model::of(&record));
                    upserts.push(record);
                }
                None if mirror.models[i].is_none() => {
                    mirror.models[i] = self.records.find(mirror.ids[i]).map(Model::of)
                }
                None => {}
            }
        }
        self.mirror = mirror;
        self.commit(tick, upserts, &removed)
    }

    /// Whether the record of an entity whose motion is `model` holds at `tick` for a truth at
    /// `pos` moving at `vel`, if its other fields are unchanged: what [`Replicator::update`]
    /// would decide, without the record.
    pub fn keeps(&self, model: &Model, pos: Vec2, vel: Vec2, tick: u64) -> bool {
        let motion = self.schema.kind(model.kind).map_or(Motion::None, |k| k.motion);
        let (pos, vel) = quantized_motion(motion, pos, vel);
        holds(model.pos, model.vel, model.base_tick, pos, vel, tick, self.tick_rate)
    }

    /// The record `state` has at `tick`, from its last one: `Some` when it differs from that
    /// one (or is new), for [`Replicator::commit`]; `None` when the record holds, or when the
    /// schema has no such kind.
    pub fn remodel(&self, state: &EntityState, tick: u64) -> Option<EntityRecord> {
        self.schema.kind(state.kind)?;
        let previous = self.records.find(state.id).filter(|r| r.kind == state.kind);
        let record = self.model(previous, state, tick);
        (previous != Some(&record)).then_some(record)
    }

    /// The next frame: the last one's records with `upserts` (records from
    /// [`Replicator::remodel`] at this `tick`) and `removed` ids applied. The caller vouches
    /// that every entity not upserted nor removed keeps its record: its state is unchanged
    /// and it is at rest, or [`Replicator::keeps`] said so.
    pub fn commit(&mut self, tick: u64, upserts: Vec<EntityRecord>, removed: &[u32]) -> Arc<Frame> {
        let mut changes: Vec<Change> = removed
            .iter()
            .filter(|id| self.records.contains(**id))
            .map(|&id| Change::Remove(id))
            .chain(upserts.into_iter().map(Change::Upsert))
            .collect();
        // An upsert wins over a removal of the same id (a new entity that took a freed id).
        changes.sort_by_key(|c| (c.id(), matches!(c, Change::Upsert(_))));
        super::records::keep_last_of_each(&mut changes, Change::id);
        self.records.apply(&changes);
        self.frame(tick)
    }

    fn frame(&mut self, tick: u64) -> Arc<Frame> {
        self.serial += 1;
        Arc::new(Frame {
            schema: self.schema.clone(),
            serial: self.serial,
            epoch: self.epoch,
            tick,
            tick_rate: self.tick_rate,
            view: 0,
            entities: self.records.clone(),
        })
    }

    fn model(&self, previous: Option<&EntityRecord>, state: &EntityState, tick: u64) -> EntityRecord {
        // What the kind does not replicate stays at its default, so that a client's record
        // equals this one.
        let kind = self.schema.kind(state.kind);
        let motion = kind.map_or(Motion::None, |k| k.motion);
        let (pos, vel) = quantized_motion(motion, state.pos, state.vel);
        let mut record = EntityRecord {
            id: state.id,
            kind: state.kind,
            owner: if kind.is_some_and(|k| k.owned) { state.owner } else { 0 },
            values: [0; MAX_VALUES],
            text: None,
            pos,
            vel,
            base_tick: tick,
        };
        // Values are clamped into their rows' ranges and texts cut to their length, so that
        // whatever a game leaves in its state, every frame encodes and decodes.
        for row in self.schema.rows(state.kind) {
            match *row {
                Row::Value { slot, wire } => {
                    let slot = usize::from(slot);
                    record.values[slot] = wire.clamp(state.values[slot].into());
                }
                Row::Text { max } => record.text = state.text.as_ref().map(|t| cut(t, usize::from(max))),
                _ => {}
            }
        }
        if let Some(prev) = previous {
            if holds(prev.pos, prev.vel, prev.base_tick, pos, vel, tick, self.tick_rate) {
                (record.pos, record.vel, record.base_tick) = (prev.pos, prev.vel, prev.base_tick);
            } else {
                let predicted = prev.pos_at(tick, self.tick_rate);
                let within = (0..2).all(|i| (i64::from(pos[i]) - predicted[i]).abs() <= POS_TOLERANCE);
                if vel != prev.vel && within && predicted.iter().all(|p| p.abs() <= MAX_POS) {
                    record.pos = [predicted[0] as i32, predicted[1] as i32];
                }
            }
        }
        record.canonical()
    }
}

/// The quantized truth a kind of `motion` replicates: none, a position, or both.
fn quantized_motion(motion: Motion, pos: Vec2, vel: Vec2) -> ([i32; 2], [i32; 2]) {
    let pos = if motion == Motion::None { [0, 0] } else { quantize_pos(pos) };
    let vel = if motion == Motion::DeadReckoned { quantize_vel(vel) } else { [0, 0] };
    (pos, vel)
}

/// Whether a model (`base`, `model_vel` from `base_tick`) still stands for a quantized truth
/// at `pos` moving at `vel` at `tick`: the same velocity, within tolerance of where the model
/// has it, and not so old that it must be re-based.
fn holds(
    base: [i32; 2],
    model_vel: [i32; 2],
    base_tick: u64,
    pos: [i32; 2],
    vel: [i32; 2],
    tick: u64,
    rate: u16,
) -> bool {
    if vel != model_vel {
        return false;
    }
    let stale = model_vel != [0, 0] && tick.saturating_sub(base_tick) >= MAX_AGE;
    !stale && super::quant::within(pos, base, model_vel, base_tick, tick, rate, POS_TOLERANCE)
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &Arc<str>, max: usize) -> Arc<str> {
    if text.len() <= max {
        return text.clone();
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    Arc::from(&text[..end])
}

#[cfg(test)]
mod tests {
    use glam::Vec2;

    use super::*;
    use crate::state::EntityKind;

    fn npc(id: u32, pos: Vec2, vel: Vec2) -> EntityState {
        EntityState { pos, vel, ..EntityState::new(id, EntityKind::Npc.index()) }
    }

    #[test]
    fn straight_lines_and_rest_keep_their_model() {
        let mut rep = Replicator::new(crate::arena::schema(), 60);
        let vel = Vec2::new(100.0, 0.0);
        let first = rep.update(3, &[npc(1, Vec2::new(10.0, 10.0), vel), npc(2, Vec2::new(5.0, 5.0), Vec2::ZERO)]);
        let mut pos = Vec2::new(10.0, 10.0);
        for tick in 4..=180 {
            pos += vel / 60.0;
            let frame = rep.update(tick, &[npc(1, pos, vel), npc(2, Vec2::new(5.0, 5.0), Vec2::ZERO)]);
            assert_eq!(frame.entities, first.entities, "tick {tick}: nothing to send");
        }
        // It moves one last tick and stops: re-based where the model had it, velocity 0.
        pos += vel / 60.0;
        let stopped = rep.update(181, &[npc(1, pos, Vec2::ZERO), npc(2, Vec2::new(5.0, 5.0), Vec2::ZERO)]);
        let model = first.entities.to_vec()[0].pos_at(181, 60);
        let stopped = stopped.entities.to_vec();
        assert_eq!(stopped[0].pos, [model[0] as i32, model[1] as i32]);
        assert_eq!((stopped[0].vel, stopped[0].base_tick), ([0, 0], 0));
    }

    /// A deterministic xorshift.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn advancing_by_changes_makes_the_frames_the_whole_state_makes() {
        let (mut whole, mut changed) =
            (Replicator::new(crate::arena::schema(), 60), Replicator::new(crate::arena::schema(), 60));
        let mut seed = 11u64;
        let mut world: Vec<EntityState> =
            (1..=300).map(|i| npc(i, Vec2::new(i as f32, 50.0), Vec2::new((i % 3) as f32 * 40.0, 0.0))).collect();
        let mut next_id = 301;
        let mut report = Changes { tick: 3, whole: true, states: world.clone(), ..Changes::default() };
        for round in 1..=200u64 {
            let tick = round * 3;
            report.tick = tick;
            let a = whole.update(tick, &world);
            let b = changed.advance(std::mem::take(&mut report));
            assert_eq!(a.entities, b.entities, "round {round}");
            // The world steps: everyone moving moves; some turn, stop, start, spawn, despawn, or
            // are held still while their velocity says they move (reported as nothing).
            let mut removed = Vec::new();
            for state in &mut world {
                let roll = next(&mut seed) % 100;
                if roll < 3 {
                    state.vel = Vec2::new((next(&mut seed) % 200) as f32 - 100.0, 30.0);
                    report.states.push(state.clone());
                } else if roll < 4 {
                    removed.push(state.id);
                } else if roll < 6 {
                    continue;
                } else if roll < 7 {
                    state.values[0] = (next(&mut seed) % 50) as i32;
                    report.states.push(state.clone());
                } else if state.vel != Vec2::ZERO {
                    state.pos += state.vel * 3.0 / 60.0;
                    report.moves.push((state.id, state.pos));
                }
            }
            world.retain(|s| !removed.contains(&s.id));
            report.removed = removed;
            for _ in 0..next(&mut seed) % 4 {
                let fresh = npc(next_id, Vec2::new(10.0, 10.0), Vec2::new(20.0, 0.0));
                next_id += 1;
                report.states.push(fresh.clone());
                world.push(fresh);
            }
            // Reported in storage order, not id order.
            report.moves.reverse();
        }
    }

    #[test]
    fn drift_beyond_tolerance_is_corrected_from_the_truth() {
        let mut rep = Replicator::new(crate::arena::schema(), 60);
        rep.update(1, &[npc(1, Vec2::new(100.0, 100.0), Vec2::new(100.0, 0.0))]);
        // Held against a wall: the truth does not move while the velocity says it does.
        let frame = rep.update(4, &[npc(1, Vec2::new(100.0, 100.0), Vec2::new(100.0, 0.0))]);
        let record = frame.entities.to_vec()[0].clone();
        assert_eq!((record.pos, record.base_tick), ([400, 400], 4));
    }
}
