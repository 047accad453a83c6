//! The client's side: [`ClientState`] applies snapshots in order and holds the quantized
//! world, exactly as the server's frame at the same tick.

use std::sync::Arc;

use super::SnapshotError;
use super::fields::EntityRecord;
use super::message::Snapshot;
use crate::schema::Schema;

/// What a client knows of the world: the entities of the last applied snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientState {
    schema: Arc<Schema>,
    tick_rate: u16,
    tick: Option<u64>,
    entities: Vec<EntityRecord>,
}

impl ClientState {
    /// An empty state for a server of `schema` ticking at `tick_rate` (both from `Welcome`).
    pub fn new(schema: Arc<Schema>, tick_rate: u16) -> Self {
        ClientState { schema, tick_rate, tick: None, entities: Vec::new() }
    }

    /// The schema its records follow.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The tick of the last applied snapshot.
    pub fn tick(&self) -> Option<u64> {
        self.tick
    }

    /// Ticks per second.
    pub fn tick_rate(&self) -> u16 {
        self.tick_rate
    }

    /// The entities, in increasing id.
    pub fn entities(&self) -> &[EntityRecord] {
        &self.entities
    }

    /// Applies the next snapshot. A delta must be based on the tick this state holds; on any
    /// error the state is left as it was (and a client should reconnect for a keyframe).
    pub fn apply(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let empty = Vec::new();
        let base = match snapshot.baseline_tick {
            None => &empty,
            Some(tick) if Some(tick) == self.tick => &self.entities,
            Some(tick) => return Err(SnapshotError::Baseline { held: self.tick, wanted: tick }),
        };
        let (tick, rate) = (snapshot.tick, self.tick_rate);
        let mut out = Vec::with_capacity(base.len() + snapshot.created.len());
        let mut removed = snapshot.removed.iter().copied().peekable();
        // Updates travel grouped by kind; applying them walks the baseline in id order.
        let mut by_id: Vec<&(u8, super::EntityUpdate)> = snapshot.updated.iter().collect();
        by_id.sort_unstable_by_key(|(_, u)| u.id);
        let mut updated = by_id.into_iter().map(|(kind, u)| (*kind, u)).peekable();
        for record in base {
            if let Some(id) = removed.next_if(|&id| id <= record.id) {
                if id < record.id {
                    return Err(SnapshotError::UnknownEntity(id));
                }
                continue;
            }
            match updated.next_if(|(_, u)| u.id <= record.id) {
                Some((_, u)) if u.id < record.id => return Err(SnapshotError::UnknownEntity(u.id)),
                Some((kind, _)) if kind != record.kind => {
                    return Err(SnapshotError::Malformed("update of an entity as another kind"));
                }
                Some((_, u)) => out.push(u.apply(record, tick, rate)?),
                None => out.push(record.clone()),
            }
        }
        if let Some(id) = removed.next().or(updated.next().map(|(_, u)| u.id)) {
            return Err(SnapshotError::UnknownEntity(id));
        }
        if !snapshot.created.is_empty() {
            out.extend_from_slice(&snapshot.created);
            out.sort_unstable_by_key(|r| r.id);
            if let Some(pair) = out.windows(2).find(|w| w[0].id == w[1].id) {
                return Err(SnapshotError::DuplicateEntity(pair[0].id));
            }
        }
        self.entities = out;
        self.tick = Some(tick);
        Ok(())
    }
}
