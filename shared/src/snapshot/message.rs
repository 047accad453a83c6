//! The `Snapshot` message: a delta from the client's baseline (or a keyframe) to one frame,
//! stateless to parse, applied by [`super::ClientState`]. Its bytes are written once per
//! (baseline, target) pair as a shared body, after a tiny per-client head.
//!
//! Layout (after the `ServerMessage` variant index; see `shared/WIRE.md`):
//! `last_input_seq` · `tick` · `ago` (0: keyframe) · removed ids · created entries in three
//! kind groups · updated entries. Numbers are LEB128; ids are gap-coded.

use std::marker::PhantomData;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SnapshotError;
use super::fields::{EntityRecord, EntityUpdate};
use super::frame::Frame;
use super::wire::{SliceSource, Source, get_bounded, get_varint, put_varint};
use crate::state::EntityKind;

/// The kinds in the order of the created groups.
pub const KIND_GROUPS: [EntityKind; 3] = [EntityKind::Player, EntityKind::Npc, EntityKind::Projectile];
/// Op-byte bit: an id gap follows (else the id is the previous one plus 1).
const GAP_BIT: u8 = 0x80;
/// Op-byte bits that must be 0.
const RESERVED_BITS: u8 = 0x40;

/// One snapshot as sent to one client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Snapshot {
    /// Highest `Input::seq` of this client applied so far (0 before any); the per-client head.
    pub last_input_seq: u32,
    /// The tick the state belongs to.
    pub tick: u64,
    /// The tick of the snapshot this one is a delta from; `None` for a keyframe.
    pub baseline_tick: Option<u64>,
    /// Entities gone since the baseline, in increasing id.
    pub removed: Vec<u32>,
    /// Entities new since the baseline (all of them, in a keyframe), by kind group then id.
    pub created: Vec<EntityRecord>,
    /// Entities whose record changed, in increasing id, with only the changed fields.
    pub updated: Vec<EntityUpdate>,
}

impl Snapshot {
    /// The delta that takes a client holding `baseline` (or nothing) to `target`.
    pub fn between(baseline: Option<&Frame>, target: &Frame) -> Snapshot {
        let (tick, rate) = (target.tick, target.tick_rate);
        let mut snapshot = Snapshot { tick, baseline_tick: baseline.map(|b| b.tick), ..Default::default() };
        let old = baseline.map_or(&[][..], |b| &b.entities[..]);
        let mut old = old.iter().peekable();
        for record in &target.entities {
            while let Some(gone) = old.next_if(|o| o.id < record.id) {
                snapshot.removed.push(gone.id);
            }
            match old.next_if(|o| o.id == record.id) {
                Some(prev) if prev.kind == record.kind => {
                    let update = EntityUpdate::between(Some(prev), record, tick, rate);
                    if update.mask() != 0 {
                        snapshot.updated.push(update);
                    }
                }
                Some(prev) => {
                    snapshot.removed.push(prev.id);
                    snapshot.created.push(*record);
                }
                None => snapshot.created.push(*record),
            }
        }
        snapshot.removed.extend(old.map(|o| o.id));
        snapshot.created.sort_by_key(|r| (kind_group(r.kind), r.id));
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
    /// pair. Entries must be in the orders the fields document.
    pub fn write_body(&self, out: &mut Vec<u8>) {
        put_varint(out, self.tick);
        put_varint(out, self.baseline_tick.map_or(0, |b| self.tick - b));
        put_varint(out, self.removed.len() as u64);
        let mut prev: i64 = -1;
        for &id in &self.removed {
            put_varint(out, (i64::from(id) - prev - 1) as u64);
            prev = id.into();
        }
        for kind in KIND_GROUPS {
            let group = self.created.iter().filter(|r| r.kind == kind);
            put_varint(out, group.clone().count() as u64);
            write_entries(group.map(|r| EntityUpdate::between(None, r, self.tick, 0)), out);
        }
        put_varint(out, self.updated.len() as u64);
        write_entries(self.updated.iter().copied(), out);
    }

    /// The whole message's bytes after the variant index.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        Self::write_head(self.last_input_seq, &mut out);
        self.write_body(&mut out);
        out
    }

    /// Parses a snapshot (after the variant index). `tick_rate` is not needed: created
    /// records are relative to blank records, which do not move.
    pub fn parse(src: &mut impl Source) -> Result<Snapshot, SnapshotError> {
        let last_input_seq = get_bounded(src, u32::MAX.into(), "last_input_seq")? as u32;
        let tick = get_varint(src)?;
        let ago = get_varint(src)?;
        let baseline_tick = match ago {
            0 => None,
            ago => Some(tick.checked_sub(ago).ok_or(SnapshotError::OutOfRange("baseline before tick 0"))?),
        };
        let mut snapshot = Snapshot { last_input_seq, tick, baseline_tick, ..Default::default() };
        let count = get_count(src)?;
        let mut prev: i64 = -1;
        snapshot.removed.reserve(count.min(1024));
        for _ in 0..count {
            let id = next_id(prev, get_varint(src)?)?;
            snapshot.removed.push(id);
            prev = id.into();
        }
        for kind in KIND_GROUPS {
            let count = get_count(src)?;
            let mut prev: i64 = -1;
            for _ in 0..count {
                let update = read_entry(&mut prev, src)?;
                let blank = EntityRecord::blank(update.id, kind);
                snapshot.created.push(update.apply(&blank, tick, 1)?);
            }
        }
        let count = get_count(src)?;
        let mut prev: i64 = -1;
        snapshot.updated.reserve(count.min(1024));
        for _ in 0..count {
            let update = read_entry(&mut prev, src)?;
            if update.mask() == 0 {
                return Err(SnapshotError::Malformed("update with no fields"));
            }
            snapshot.updated.push(update);
        }
        Ok(snapshot)
    }

    /// Parses exactly `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let mut src = SliceSource::new(bytes);
        let snapshot = Self::parse(&mut src)?;
        match bytes.len() - src.position() {
            0 => Ok(snapshot),
            _ => Err(SnapshotError::Malformed("trailing bytes after the snapshot")),
        }
    }
}

fn kind_group(kind: EntityKind) -> usize {
    KIND_GROUPS.iter().position(|k| *k == kind).unwrap_or(KIND_GROUPS.len())
}

fn write_entries(entries: impl Iterator<Item = EntityUpdate>, out: &mut Vec<u8>) {
    let mut prev: i64 = -1;
    for update in entries {
        let gap = (i64::from(update.id) - prev - 1) as u64;
        prev = update.id.into();
        if gap == 0 {
            out.push(update.mask());
        } else {
            out.push(update.mask() | GAP_BIT);
            put_varint(out, gap);
        }
        update.write_fields(out);
    }
}

fn read_entry(prev: &mut i64, src: &mut impl Source) -> Result<EntityUpdate, SnapshotError> {
    let op = src.byte()?;
    if op & RESERVED_BITS != 0 {
        return Err(SnapshotError::Malformed("reserved op-byte bit set"));
    }
    let gap = if op & GAP_BIT != 0 {
        match get_varint(src)? {
            0 => return Err(SnapshotError::Malformed("explicit id gap of 0")),
            gap => gap,
        }
    } else {
        0
    };
    let id = next_id(*prev, gap)?;
    *prev = id.into();
    EntityUpdate::read_fields(id, op & !GAP_BIT, src)
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
/// prefix); in human-readable formats (the golden vectors' JSON), its fields.
impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return Snapshot::serialize(self, serializer);
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
            return Snapshot::deserialize(deserializer);
        }
        deserializer.deserialize_tuple(usize::MAX, BytesVisitor)
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
        match Snapshot::parse(&mut src) {
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
