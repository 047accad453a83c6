//! The `Snapshot` message: a delta from the client's baseline (or a keyframe) to one frame,
//! stateless to parse given the game's [`Schema`], applied by [`super::ClientState`]. Its
//! bytes are written once per (baseline, target) pair as a shared body, after a tiny
//! per-client head.
//!
//! Layout (after the `ServerMessage` variant index; see `shared/WIRE.md`):
//! `last_input_seq` · `tick` · `ago` (0: keyframe) · removed ids · created entries in one
//! group per kind · updated entries in one group per kind. Numbers are LEB128; ids are
//! gap-coded within a group; each entry's rows follow its kind's table.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SnapshotError;
use super::fields::{EntityRecord, EntityUpdate};
use super::frame::Frame;
use super::wire::{SliceSource, Source, get_bounded, get_varint, put_varint};
use crate::schema::Schema;

/// Op-byte bit: an id gap follows (else the id is the previous one plus 1).
const GAP_BIT: u8 = 0x80;
/// Op-byte bit: the mask goes on past its low 6 bits, in a varint after the gap.
const MORE_BIT: u8 = 0x40;
/// The mask bits the op byte holds.
const OP_MASK: u32 = 0x3f;

/// One snapshot as sent to one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The schema its entries follow.
    pub schema: Arc<Schema>,
    /// Highest `Input::seq` of this client applied so far (0 before any); the per-client head.
    pub last_input_seq: u32,
    /// The tick the state belongs to.
    pub tick: u64,
    /// The tick of the snapshot this one is a delta from; `None` for a keyframe.
    pub baseline_tick: Option<u64>,
    /// Entities gone since the baseline, in increasing id.
    pub removed: Vec<u32>,
    /// Entities new since the baseline (all of them, in a keyframe), by kind then id.
    pub created: Vec<EntityRecord>,
    /// Entities whose record changed, by kind then id, with only the changed rows, each with
    /// its kind.
    pub updated: Vec<(u8, EntityUpdate)>,
}

impl Default for Snapshot {
    /// An empty keyframe of the arena (whose schema the serde path decodes with).
    fn default() -> Self {
        Snapshot::empty(crate::arena::schema())
    }
}

impl Snapshot {
    /// An empty keyframe at tick 0 following `schema`.
    pub fn empty(schema: Arc<Schema>) -> Snapshot {
        Snapshot {
            schema,
            last_input_seq: 0,
            tick: 0,
            baseline_tick: None,
            removed: Vec::new(),
            created: Vec::new(),
            updated: Vec::new(),
        }
    }

    /// The delta that takes a client holding `baseline` (or nothing) to `target`. Chunks of
    /// records the two frames share are skipped whole: the cost is that of what changed.
    pub fn between(baseline: Option<&Frame>, target: &Frame) -> Snapshot {
        let (tick, rate) = (target.tick, target.tick_rate);
        let mut snapshot =
            Snapshot { tick, baseline_tick: baseline.map(|b| b.tick), ..Snapshot::empty(target.schema.clone()) };
        let old_chunks = baseline.map_or(&[][..], |b| b.entities.chunks());
        // The baseline's read position: chunk, and record within it.
        let (mut oc, mut oi) = (0, 0);
        let next_old = |oc: &mut usize, oi: &mut usize| -> Option<&EntityRecord> {
            let chunk = old_chunks.get(*oc)?;
            let record = chunk.get(*oi)?;
            *oi += 1;
            if *oi == chunk.len() {
                (*oc, *oi) = (*oc + 1, 0);
            }
            Some(record)
        };
        let peek_old = |oc: usize, oi: usize| old_chunks.get(oc).and_then(|c| c.get(oi));
        for chunk in target.entities.chunks() {
            let first = chunk.first().map_or(u32::MAX, |r| r.id);
            while peek_old(oc, oi).is_some_and(|o| o.id < first) {
                if let Some(gone) = next_old(&mut oc, &mut oi) {
                    snapshot.removed.push(gone.id);
                }
            }
            if oi == 0 && old_chunks.get(oc).is_some_and(|o| Arc::ptr_eq(o, chunk)) {
                oc += 1;
                continue;
            }
            for record in chunk.iter() {
                while peek_old(oc, oi).is_some_and(|o| o.id < record.id) {
                    if let Some(gone) = next_old(&mut oc, &mut oi) {
                        snapshot.removed.push(gone.id);
                    }
                }
                let prev =
                    if peek_old(oc, oi).is_some_and(|o| o.id == record.id) { next_old(&mut oc, &mut oi) } else { None };
                match prev {
                    Some(prev) if prev == record => {}
                    Some(prev) if prev.kind == record.kind => {
                        let update = EntityUpdate::between(Some(prev), record, tick, rate);
                        if !update.is_empty(target.schema.rows(record.kind)) {
                            snapshot.updated.push((record.kind, update));
                        }
                    }
                    Some(prev) => {
                        snapshot.removed.push(prev.id);
                        snapshot.created.push(record.clone());
                    }
                    None => snapshot.created.push(record.clone()),
                }
            }
        }
        while let Some(gone) = next_old(&mut oc, &mut oi) {
            snapshot.removed.push(gone.id);
        }
        snapshot.created.sort_by_key(|r| (r.kind, r.id));
        snapshot.updated.sort_by_key(|(kind, u)| (*kind, u.id));
        snapshot
    }

    /// Whether this is a keyframe (full state, no baseline).
    pub fn is_keyframe(&self) -> bool {
        self.baseline_tick.is_none()
    }

    /// Appends the per-client head: `last_input_seq`.
    pub fn write_head(last_input_seq: u32, out: &mut Vec<u8>) {
        put_varint(out, last_input_seq.into());
    }

    /// Appends everything after the head; the same for every client of a (baseline, target)
    /// pair. Entries must be in the orders the fields document, of kinds the schema has.
    pub fn write_body(&self, out: &mut Vec<u8>) {
        put_varint(out, self.tick);
        put_varint(out, self.baseline_tick.map_or(0, |b| self.tick - b));
        put_varint(out, self.removed.len() as u64);
        let mut prev: i64 = -1;
        for &id in &self.removed {
            put_varint(out, (i64::from(id) - prev - 1) as u64);
            prev = id.into();
        }
        let kinds = self.schema.kinds().len() as u8;
        for kind in 0..kinds {
            let group = self.created.iter().filter(|r| r.kind == kind);
            put_varint(out, group.clone().count() as u64);
            let rows = self.schema.rows(kind);
            write_entries(group.map(|r| EntityUpdate::between(None, r, self.tick, 0)), rows, out);
        }
        for kind in 0..kinds {
            let group = self.updated.iter().filter(|(k, _)| *k == kind);
            put_varint(out, group.clone().count() as u64);
            write_entries(group.map(|(_, u)| u.clone()), self.schema.rows(kind), out);
        }
    }

    /// The whole message's bytes after the variant index.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        Self::write_head(self.last_input_seq, &mut out);
        self.write_body(&mut out);
        out
    }

    /// Parses a snapshot (after the variant index) whose entries follow `schema`.
    /// `tick_rate` is not needed: created records are relative to blank records, which do
    /// not move.
    pub fn parse(schema: &Arc<Schema>, src: &mut impl Source) -> Result<Snapshot, SnapshotError> {
        let last_input_seq = get_bounded(src, u32::MAX.into(), "last_input_seq")? as u32;
        let tick = get_varint(src)?;
        let ago = get_varint(src)?;
        let baseline_tick = match ago {
            0 => None,
            ago => Some(tick.checked_sub(ago).ok_or(SnapshotError::OutOfRange("baseline before tick 0"))?),
        };
        let mut snapshot = Snapshot { last_input_seq, tick, baseline_tick, ..Snapshot::empty(schema.clone()) };
        let count = get_count(src)?;
        let mut prev: i64 = -1;
        snapshot.removed.reserve(count.min(1024));
        for _ in 0..count {
            let id = next_id(prev, get_varint(src)?)?;
            snapshot.removed.push(id);
            prev = id.into();
        }
        let kinds = schema.kinds().len() as u8;
        for kind in 0..kinds {
            let count = get_count(src)?;
            let mut prev: i64 = -1;
            for _ in 0..count {
                let update = read_entry(&mut prev, schema, kind, src)?;
                let blank = EntityRecord::blank(update.id, kind);
                snapshot.created.push(update.apply(&blank, tick, 1)?);
            }
        }
        for kind in 0..kinds {
            let count = get_count(src)?;
            let mut prev: i64 = -1;
            snapshot.updated.reserve(count.min(1024));
            for _ in 0..count {
                let update = read_entry(&mut prev, schema, kind, src)?;
                if update.is_empty(schema.rows(kind)) {
                    return Err(SnapshotError::Malformed("update with no fields"));
                }
                if update.text.is_some() {
                    return Err(SnapshotError::Malformed("text in an update: it is set at creation"));
                }
                snapshot.updated.push((kind, update));
            }
        }
        Ok(snapshot)
    }

    /// Parses exactly `bytes`.
    pub fn from_bytes(schema: &Arc<Schema>, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let mut src = SliceSource::new(bytes);
        let snapshot = Self::parse(schema, &mut src)?;
        match bytes.len() - src.position() {
            0 => Ok(snapshot),
            _ => Err(SnapshotError::Malformed("trailing bytes after the snapshot")),
        }
    }
}

fn write_entries(entries: impl Iterator<Item = EntityUpdate>, rows: &[crate::schema::Row], out: &mut Vec<u8>) {
    let mut prev: i64 = -1;
    for update in entries {
        let gap = (i64::from(update.id) - prev - 1) as u64;
        prev = update.id.into();
        let mask = update.mask(rows);
        let mut op = (mask & OP_MASK) as u8;
        if gap != 0 {
            op |= GAP_BIT;
        }
        if mask > OP_MASK {
            op |= MORE_BIT;
        }
        out.push(op);
        if gap != 0 {
            put_varint(out, gap);
        }
        if mask > OP_MASK {
            put_varint(out, u64::from(mask >> 6));
        }
        update.write_fields(rows, out);
    }
}

fn read_entry(prev: &mut i64, schema: &Schema, kind: u8, src: &mut impl Source) -> Result<EntityUpdate, SnapshotError> {
    let op = src.byte()?;
    let gap = if op & GAP_BIT != 0 {
        match get_varint(src)? {
            0 => return Err(SnapshotError::Malformed("explicit id gap of 0")),
            gap => gap,
        }
    } else {
        0
    };
    let mut mask = u32::from(op) & OP_MASK;
    if op & MORE_BIT != 0 {
        match get_bounded(src, u64::from(u32::MAX >> 6), "mask")? {
            0 => return Err(SnapshotError::Malformed("mask extension of 0")),
            more => mask |= (more as u32) << 6,
        }
    }
    let id = next_id(*prev, gap)?;
    *prev = id.into();
    EntityUpdate::read_fields(id, mask, schema.rows(kind), src)
}

fn next_id(prev: i64, gap: u64) -> Result<u32, SnapshotError> {
    let id = i128::from(prev) + 1 + i128::from(gap);
    u32::try_from(id).map_err(|_| SnapshotError::OutOfRange("entity id"))
}

fn get_count(src: &mut impl Source) -> Result<usize, SnapshotError> {
    let count = get_varint(src)?;
    // Every entry takes at least one byte.
    match src.remaining_hint() {
        Some(left) if count > left as u64 => Err(SnapshotError::Truncated),
        _ => usize::try_from(count).map_err(|_| SnapshotError::OutOfRange("count")),
    }
}

/// In bincode, a snapshot is its own byte layout written as a tuple of `u8`s (no length
/// prefix). Deserializing through serde has no way to be handed a schema, so it reads the
/// arena's: a client of another game decodes with `codec::decode_server_with`.
impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return SnapshotFields::from(self).serialize(serializer);
        }
        let bytes = self.to_bytes();
        let mut tuple = serializer.serialize_tuple(bytes.len())?;
        for b in &bytes {
            tuple.serialize_element(b)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let f = SnapshotFields::deserialize(deserializer)?;
            return Ok(Snapshot {
                schema: crate::arena::schema(),
                last_input_seq: f.last_input_seq,
                tick: f.tick,
                baseline_tick: f.baseline_tick,
                removed: f.removed,
                created: f.created,
                updated: f.updated,
            });
        }
        deserializer.deserialize_tuple(usize::MAX, BytesVisitor)
    }
}

/// A snapshot's fields without its schema: its human-readable form (the golden vectors'
/// JSON, which the web client's tests compare their decoding with).
#[derive(Serialize, Deserialize)]
struct SnapshotFields {
    last_input_seq: u32,
    tick: u64,
    baseline_tick: Option<u64>,
    removed: Vec<u32>,
    created: Vec<EntityRecord>,
    updated: Vec<(u8, EntityUpdate)>,
}

impl From<&Snapshot> for SnapshotFields {
    fn from(s: &Snapshot) -> Self {
        SnapshotFields {
            last_input_seq: s.last_input_seq,
            tick: s.tick,
            baseline_tick: s.baseline_tick,
            removed: s.removed.clone(),
            created: s.created.clone(),
            updated: s.updated.clone(),
        }
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Snapshot;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("snapshot bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Snapshot, A::Error> {
        let mut src = SeqSource { seq, error: None, _de: PhantomData };
        match Snapshot::parse(&crate::arena::schema(), &mut src) {
            Ok(snapshot) => Ok(snapshot),
            Err(e) => Err(src.error.take().unwrap_or_else(|| de::Error::custom(e))),
        }
    }
}

/// Reads a serde sequence of `u8` one element at a time.
struct SeqSource<'de, A: SeqAccess<'de>> {
    seq: A,
    error: Option<A::Error>,
    _de: PhantomData<&'de ()>,
}

impl<'de, A: SeqAccess<'de>> Source for SeqSource<'de, A> {
    fn byte(&mut self) -> Result<u8, SnapshotError> {
        match self.seq.next_element::<u8>() {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(SnapshotError::Truncated),
            Err(e) => {
                self.error = Some(e);
                Err(SnapshotError::Truncated)
            }
        }
    }

    fn remaining_hint(&self) -> Option<usize> {
        None
    }
}
