//! [`Changes`], what a simulation reports of its replicated state at a snapshot tick, and
//! [`Mirror`], the replicator's copy of that state, which the changes keep up to date.
//!
//! They let the replicator run away from the simulation: the simulation's snapshot stage
//! names what its change detection saw change (cheap, and proportional to that), and
//! whoever holds the [`Replicator`](super::Replicator) turns it into a frame on its own
//! thread. The frame depends only on the sequence of changes, so a replay that reproduces
//! the simulation reproduces the frames.

use glam::Vec2;

use super::fields::Model;
use crate::state::EntityState;

/// What changed in a simulation's replicated state since its last report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The simulation's tick.
    pub tick: u64,
    /// `states` is the whole state: every entity not in it is gone. The first report, and
    /// the first after the simulation stopped tracking changes, are whole.
    pub whole: bool,
    /// The entities that are new, or whose fields or velocity changed (any order).
    pub states: Vec<EntityState>,
    /// The entities that only moved: their new position, the rest as last reported.
    pub moves: Vec<(u32, Vec2)>,
    /// The entities despawned.
    pub removed: Vec<u32>,
}

/// How an entry changed in the batch being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Touched {
    /// Not at all.
    No,
    /// Its position only.
    Moved,
    /// Its fields or velocity, or it is new.
    State,
}

/// The last reported state of every replicated entity, in increasing id, with the motion of
/// its last record and how the batch being applied touched it. Held as columns: a pass over
/// every entity reads the ids, marks and models alone, not the whole states.
#[derive(Debug, Clone, Default)]
pub(super) struct Mirror {
    pub ids: Vec<u32>,
    pub states: Vec<EntityState>,
    pub models: Vec<Option<Model>>,
    pub touched: Vec<Touched>,
}

impl Mirror {
    /// A mirror of `whole` (in increasing id), whose models are `model_of` each entity's.
    pub fn of_whole(whole: Vec<EntityState>, model_of: impl Fn(u32) -> Option<Model>) -> Self {
        Mirror {
            ids: whole.iter().map(|s| s.id).collect(),
            models: whole.iter().map(|s| model_of(s.id)).collect(),
            touched: vec![Touched::No; whole.len()],
            states: whole,
        }
    }

    fn insert(&mut self, at: usize, state: EntityState) {
        self.ids.insert(at, state.id);
        self.states.insert(at, state);
        self.models.insert(at, None);
        self.touched.insert(at, Touched::State);
    }

    /// Applies a batch: `removed`, `states` and `moves` each in strictly increasing id. Every
    /// entity they touch is marked, for the replicator's next pass.
    pub fn apply(&mut self, removed: &[u32], states: Vec<EntityState>, moves: &[(u32, Vec2)]) {
        if !removed.is_empty() {
            self.remove(removed);
        }
        for state in states {
            // Ids only grow within a run, so a new entity almost always goes at the end.
            let at = match self.ids.last() {
                Some(&last) if state.id <= last => self.ids.binary_search(&state.id),
                _ => Err(self.ids.len()),
            };
            match at {
                Ok(i) => {
                    // A different kind under the same id is a new entity: the old model is not its.
                    if self.states[i].kind != state.kind {
                        self.models[i] = None;
                    }
                    self.states[i] = state;
                    self.touched[i] = Touched::State;
                }
                Err(i) => self.insert(i, state),
            }
        }
        // Both in increasing id: one walk of the ids.
        let mut at = 0;
        for &(id, pos) in moves {
            while self.ids.get(at).is_some_and(|&i| i < id) {
                at += 1;
            }
            if self.ids.get(at) != Some(&id) {
                continue;
            }
            self.states[at].pos = pos;
            if self.touched[at] == Touched::No {
                self.touched[at] = Touched::Moved;
            }
        }
    }

    fn remove(&mut self, removed: &[u32]) {
        let mut kept = 0;
        for i in 0..self.ids.len() {
            if removed.binary_search(&self.ids[i]).is_ok() {
                continue;
            }
            self.ids.swap(kept, i);
            self.states.swap(kept, i);
            self.models.swap(kept, i);
            self.touched.swap(kept, i);
            kept += 1;
        }
        self.ids.truncate(kept);
        self.states.truncate(kept);
        self.models.truncate(kept);
        self.touched.truncate(kept);
    }
}
