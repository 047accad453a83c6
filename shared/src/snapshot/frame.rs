//! The server's side of replication: [`Replicator`] turns the simulation's state at each
//! snapshot tick into an immutable quantized [`Frame`], keeping one dead-reckoning model per
//! entity. A world frame is the same for every client; deltas are computed between two
//! frames. With interest management (`interest`), a client may instead be sent a subset of a
//! world frame: a frame of its own, marked by [`Frame::view`].

use std::sync::Arc;

use super::fields::EntityRecord;
use super::quant::{MAX_AGE, MAX_POS, POS_TOLERANCE, quantize_pos, quantize_vel};
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
    pub entities: Vec<EntityRecord>,
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
    records: Vec<EntityRecord>,
}

impl Replicator {
    /// A replicator with no history, for states of `schema`'s kinds.
    pub fn new(schema: Arc<Schema>, tick_rate: u16) -> Self {
        Replicator { schema, tick_rate, serial: 0, epoch: 0, records: Vec::new() }
    }

    /// The schema its frames follow.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Forgets the models and starts a new epoch: the next frame will be sent as a keyframe
    /// to everyone (after a replay seek, when the world jumps).
    pub fn restart(&mut self) {
        self.epoch += 1;
        self.records.clear();
    }

    /// The epoch the next frame will have.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The next frame, for the state `truth` (in increasing id) at `tick`.
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
        self.records = next;
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
        let pos = if motion == Motion::None { [0, 0] } else { quantize_pos(state.pos) };
        let vel = if motion == Motion::DeadReckoned { quantize_vel(state.vel) } else { [0, 0] };
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
            let predicted = prev.pos_at(tick, self.tick_rate);
            let within = (0..2).all(|i| (i64::from(pos[i]) - predicted[i]).abs() <= POS_TOLERANCE);
            let stale = prev.vel != [0, 0] && tick.saturating_sub(prev.base_tick) >= MAX_AGE;
            if vel == prev.vel && within && !stale {
                (record.pos, record.base_tick) = (prev.pos, prev.base_tick);
            } else if vel != prev.vel && within && predicted.iter().all(|p| p.abs() <= MAX_POS) {
                record.pos = [predicted[0] as i32, predicted[1] as i32];
            }
        }
        record.canonical()
    }
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
        let model = first.entities[0].pos_at(181, 60);
        assert_eq!(stopped.entities[0].pos, [model[0] as i32, model[1] as i32]);
        assert_eq!((stopped.entities[0].vel, stopped.entities[0].base_tick), ([0, 0], 0));
    }

    #[test]
    fn drift_beyond_tolerance_is_corrected_from_the_truth() {
        let mut rep = Replicator::new(crate::arena::schema(), 60);
        rep.update(1, &[npc(1, Vec2::new(100.0, 100.0), Vec2::new(100.0, 0.0))]);
        // Held against a wall: the truth does not move while the velocity says it does.
        let frame = rep.update(4, &[npc(1, Vec2::new(100.0, 100.0), Vec2::new(100.0, 0.0))]);
        assert_eq!((frame.entities[0].pos, frame.entities[0].base_tick), ([400, 400], 4));
    }
}
