//! [`Records`]: a frame's entity records in increasing id, held in chunks that consecutive
//! frames share. A frame that differs from the one before in a few entities copies only the
//! chunks those entities fall in: making it, holding a history of frames, and dropping one
//! cost what changed, not the world; and two frames can be diffed chunk by chunk, skipping the
//! chunks they share.

use std::fmt;
use std::sync::Arc;

use super::fields::EntityRecord;

/// Records per chunk when a run of records is cut into chunks. A chunk grows to twice this
/// before it is split, and a chunk under a quarter of it is merged into its neighbour. Small,
/// because a change copies its whole chunk: at 100 000 entities and a few thousand changes
/// a frame, 32 leaves about a third of the chunks shared.
pub const CHUNK: usize = 32;

/// One change to a set of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert this record, or replace the one with its id.
    Upsert(EntityRecord),
    /// Remove the record with this id (nothing if there is none).
    Remove(u32),
}

impl Change {
    /// The id it is about.
    pub fn id(&self) -> u32 {
        match self {
            Change::Upsert(record) => record.id,
            Change::Remove(id) => *id,
        }
    }
}

/// Entity records in strictly increasing id, in shared chunks (never empty ones). Cloning is a
/// copy of the chunk pointers.
#[derive(Clone, Default)]
pub struct Records {
    chunks: Vec<Arc<Vec<EntityRecord>>>,
    /// `starts[i]`: the index of chunk `i`'s first record.
    starts: Vec<usize>,
    /// `lasts[i]`: the id of chunk `i`'s last record (searched without touching the chunks).
    lasts: Vec<u32>,
    len: usize,
}

impl Records {
    /// Records from a vector already in strictly increasing id.
    pub fn from_sorted(records: Vec<EntityRecord>) -> Self {
        debug_assert!(records.windows(2).all(|w| w[0].id < w[1].id), "records in increasing id");
        let mut out = Records::default();
        let mut rest = records.into_iter().peekable();
        while rest.peek().is_some() {
            out.chunks.push(Arc::new(rest.by_ref().take(CHUNK).collect()));
        }
        out.reindex();
        out
    }

    fn reindex(&mut self) {
        self.starts.clear();
        self.lasts.clear();
        let mut at = 0;
        for chunk in &self.chunks {
            self.starts.push(at);
            self.lasts.push(chunk.last().map_or(0, |r| r.id));
            at += chunk.len();
        }
        self.len = at;
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records in increasing id.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &EntityRecord> + Clone + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The chunks, in order: two frames holding the same chunk (`Arc::ptr_eq`) hold the same
    /// records over its ids.
    pub fn chunks(&self) -> &[Arc<Vec<EntityRecord>>] {
        &self.chunks
    }

    /// The record at position `index` (0: the lowest id).
    pub fn get(&self, index: usize) -> Option<&EntityRecord> {
        let chunk = self.starts.partition_point(|&s| s <= index).checked_sub(1)?;
        self.chunks.get(chunk)?.get(index - self.starts[chunk])
    }

    /// The record with id `id`.
    pub fn find(&self, id: u32) -> Option<&EntityRecord> {
        let chunk = self.lasts.partition_point(|&last| last < id);
        let records = self.chunks.get(chunk)?;
        records.binary_search_by_key(&id, |r| r.id).ok().map(|i| &records[i])
    }

    /// Whether a record has id `id`.
    pub fn contains(&self, id: u32) -> bool {
        self.find(id).is_some()
    }

    /// A copy of the records, in one vector.
    pub fn to_vec(&self) -> Vec<EntityRecord> {
        self.iter().cloned().collect()
    }

    /// Applies `changes` (in strictly increasing id). Chunks that no change falls in are kept
    /// as they are, shared with every other holder; the others are rebuilt, split when they
    /// grow past `2 × CHUNK` and merged into their neighbour when they shrink under
    /// `CHUNK / 4`.
    pub fn apply(&mut self, changes: &[Change]) {
        debug_assert!(changes.windows(2).all(|w| w[0].id() < w[1].id()), "changes in increasing id");
        if changes.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.chunks);
        let mut out: Vec<Arc<Vec<EntityRecord>>> = Vec::with_capacity(old.len() + 1);
        let mut pending = changes;
        let count = old.len();
        for (i, chunk) in old.into_iter().enumerate() {
            // A change belongs to the first chunk whose last id is at least its id; past the
            // last chunk's, to the last one.
            let last = i + 1 == count;
            let upto = chunk.last().map_or(u32::MAX, |r| r.id);
            let take = if last { pending.len() } else { pending.partition_point(|c| c.id() <= upto) };
            let (mine, rest) = pending.split_at(take);
            pending = rest;
            if mine.is_empty() {
                out.push(chunk);
            } else {
                push_rebuilt(&mut out, merge(&chunk, mine));
            }
        }
        if !pending.is_empty() {
            push_rebuilt(&mut out, merge(&[], pending));
        }
        self.chunks = out;
        self.reindex();
    }
}

/// `records` with `changes` applied (both in increasing id).
fn merge(records: &[EntityRecord], changes: &[Change]) -> Vec<EntityRecord> {
    let mut out = Vec::with_capacity(records.len() + changes.len());
    let mut old = records.iter().peekable();
    for change in changes {
        while let Some(r) = old.next_if(|r| r.id < change.id()) {
            out.push(r.clone());
        }
        old.next_if(|r| r.id == change.id());
        if let Change::Upsert(record) = change {
            out.push(record.clone());
        }
    }
    out.extend(old.cloned());
    out
}

/// Appends a rebuilt run of records as chunks: cut if long, merged into the previous chunk if
/// short (a copy of that one, which may be shared), dropped if empty.
fn push_rebuilt(out: &mut Vec<Arc<Vec<EntityRecord>>>, mut records: Vec<EntityRecord>) {
    if records.len() < CHUNK / 4
        && let Some(previous) = out.last_mut().filter(|p| p.len() + records.len() <= 2 * CHUNK)
    {
        Arc::make_mut(previous).append(&mut records);
        return;
    }
    if records.is_empty() {
        return;
    }
    if records.len() <= 2 * CHUNK {
        out.push(Arc::new(records));
        return;
    }
    let mut rest = records.into_iter().peekable();
    while rest.peek().is_some() {
        out.push(Arc::new(rest.by_ref().take(CHUNK).collect()));
    }
}

/// Of each run of items with the same id in `items` (sorted by id), keeps the last.
pub(super) fn keep_last_of_each<T>(items: &mut Vec<T>, id: impl Fn(&T) -> u32) {
    items.reverse();
    items.dedup_by_key(|item| id(item));
    items.reverse();
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Equal when they hold the same records, however chunked.
impl PartialEq for Records {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Records {}

impl PartialEq<[EntityRecord]> for Records {
    fn eq(&self, other: &[EntityRecord]) -> bool {
        self.len == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq<Vec<EntityRecord>> for Records {
    fn eq(&self, other: &Vec<EntityRecord>) -> bool {
        *self == other[..]
    }
}

impl PartialEq<Records> for [EntityRecord] {
    fn eq(&self, other: &Records) -> bool {
        other == self
    }
}

impl PartialEq<Records> for Vec<EntityRecord> {
    fn eq(&self, other: &Records) -> bool {
        other == &self[..]
    }
}

impl From<Vec<EntityRecord>> for Records {
    /// Records from any vector: sorted by id (and deduplicated: the last of a duplicated id
    /// stays).
    fn from(mut records: Vec<EntityRecord>) -> Self {
        records.sort_by_key(|r| r.id);
        keep_last_of_each(&mut records, |r| r.id);
        Records::from_sorted(records)
    }
}

impl FromIterator<EntityRecord> for Records {
    /// Records from any order, as [`From<Vec<EntityRecord>>`] takes them.
    fn from_iter<I: IntoIterator<Item = EntityRecord>>(iter: I) -> Self {
        Records::from(iter.into_iter().collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u32, x: i32) -> EntityRecord {
        EntityRecord { pos: [x, 0], ..EntityRecord::blank(id, 1) }
    }

    /// A deterministic xorshift, for random change sets.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_changes_give_what_a_plain_vector_gives_and_untouched_chunks_stay_shared() {
        let mut seed = 7u64;
        let mut plain: Vec<EntityRecord> = (0..1000).map(|i| record(i * 3, 0)).collect();
        let mut records = Records::from_sorted(plain.clone());
        for round in 0..300 {
            let before = records.clone();
            let mut changes: Vec<Change> = (0..(next(&mut seed) % 40))
                .map(|_| {
                    let id = (next(&mut seed) % 3300) as u32;
                    if next(&mut seed).is_multiple_of(3) {
                        Change::Remove(id)
                    } else {
                        Change::Upsert(record(id, round))
                    }
                })
                .collect();
            changes.sort_by_key(Change::id);
            changes.dedup_by_key(|c| c.id());
            for change in &changes {
                plain.retain(|r| r.id != change.id());
                if let Change::Upsert(r) = change {
                    plain.push(r.clone());
                }
            }
            plain.sort_by_key(|r| r.id);
            records.apply(&changes);
            assert_eq!(records, plain, "round {round}");
            assert!(records.chunks().iter().all(|c| !c.is_empty() && c.len() <= 2 * CHUNK));
            for (i, r) in plain.iter().enumerate() {
                assert_eq!(records.get(i), Some(r));
            }
            assert!(plain.iter().all(|r| records.find(r.id) == Some(r)));
            assert_eq!((records.find(1), records.get(plain.len())), (plain.iter().find(|r| r.id == 1), None));
            // Chunks no change fell in are the same allocations as before.
            let touched = |c: &Arc<Vec<EntityRecord>>| {
                let (lo, hi) = (c[0].id, c[c.len() - 1].id);
                changes.iter().any(|ch| (lo..=hi).contains(&ch.id()))
            };
            let shared = before.chunks().iter().filter(|c| !touched(c)).count();
            let kept = before.chunks().iter().filter(|c| records.chunks().iter().any(|n| Arc::ptr_eq(c, n))).count();
            assert!(kept + 2 >= shared, "round {round}: {kept} chunks kept of {shared} untouched");
        }
    }

    #[test]
    fn removing_everything_and_starting_again() {
        let mut records = Records::from_sorted((1..=500).map(|i| record(i, 0)).collect());
        records.apply(&(1..=500).map(Change::Remove).collect::<Vec<_>>());
        assert!(records.is_empty() && records.chunks().is_empty());
        records.apply(&[Change::Upsert(record(9, 1))]);
        assert_eq!(records, vec![record(9, 1)]);
    }
}
