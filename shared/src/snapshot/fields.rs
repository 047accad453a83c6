//! One entity's replicated state ([`EntityRecord`]) and one entry of a snapshot
//! ([`EntityUpdate`]), encoded and decoded by walking the kind's row table from the game's
//! [`Schema`] (after Quake III's `msg.c`: one table drives both directions).
//!
//! An entry on the wire is an op byte, an optional id gap, an optional mask extension, then
//! the rows whose bit is set in the mask, in table order (see `shared/WIRE.md`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::SnapshotError;
use super::quant::{MAX_ELAPSED, MAX_POS, MAX_VEL};
use super::wire::{Source, get_varint, get_zigzag, put_varint, put_zigzag};
use crate::schema::{MAX_TEXT, MAX_VALUES, Row, ValueWire};

/// The quantized replicated state of one entity: what a client holds after decoding, and
/// what the server's dead-reckoning model holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// Network id; records are kept in increasing id.
    pub id: u32,
    /// Index of its kind in the schema (fixed for its life; sent once, by the group it is
    /// created in).
    pub kind: u8,
    /// Owning client id (0: none; always 0 for a kind without an owner).
    pub owner: u32,
    /// The kind's value fields, quantized, in declared order (text fields excepted); unused
    /// slots are 0.
    pub values: [i32; MAX_VALUES],
    /// The kind's text field, if it has one and it is set.
    pub text: Option<Arc<str>>,
    /// Position at `base_tick`, in 1/4 world unit (0 for a kind with no position).
    pub pos: [i32; 2],
    /// Velocity in 1/16 world unit per second (0 unless dead-reckoned).
    pub vel: [i32; 2],
    /// The tick `pos` holds at. 0 for an entity at rest, whose position does not depend on it.
    pub base_tick: u64,
}

impl EntityRecord {
    /// A record with every row at its default: what a created entry's rows are relative to.
    pub fn blank(id: u32, kind: u8) -> Self {
        EntityRecord { id, kind, owner: 0, values: [0; MAX_VALUES], text: None, pos: [0, 0], vel: [0, 0], base_tick: 0 }
    }

    /// Its position at `tick`, in position units (dead reckoning, see `quant::extrapolate`).
    pub fn pos_at(&self, tick: u64, tick_rate: u16) -> [i64; 2] {
        super::quant::extrapolate(self.pos, self.vel, self.base_tick, tick, tick_rate)
    }

    /// Its dead-reckoned position at `tick`, in world units.
    pub fn world_pos_at(&self, tick: u64, tick_rate: u16) -> glam::Vec2 {
        let [x, y] = self.pos_at(tick, tick_rate);
        super::quant::pos_to_world([x as i32, y as i32])
    }

    /// The entity as a client sees it at `tick`: its dead-reckoned position and its velocity
    /// in world units, its values as quantized.
    pub fn to_state(&self, tick: u64, tick_rate: u16) -> crate::state::EntityState {
        crate::state::EntityState {
            id: self.id,
            kind: self.kind,
            owner: self.owner,
            pos: self.world_pos_at(tick, tick_rate),
            vel: self.world_vel(),
            values: self.values,
            text: self.text.clone(),
        }
    }

    /// Its velocity in world units per second.
    pub fn world_vel(&self) -> glam::Vec2 {
        super::quant::vel_to_world(self.vel)
    }

    /// Whether the motion (position, velocity, base tick) equals `other`'s.
    pub fn same_motion(&self, other: &EntityRecord) -> bool {
        (self.pos, self.vel, self.base_tick) == (other.pos, other.vel, other.base_tick)
    }

    /// The one canonical form: at rest, the base tick is 0.
    pub fn canonical(mut self) -> Self {
        if self.vel == [0, 0] {
            self.base_tick = 0;
        }
        self
    }
}

/// The motion of an entity's record: what the replicator keeps beside the entity to ask
/// [`Replicator::keeps`](super::Replicator::keeps) whether its record holds, without looking
/// the record up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// The record's kind.
    pub kind: u8,
    /// Its `pos`, `vel` and `base_tick`.
    pub pos: [i32; 2],
    /// Its velocity.
    pub vel: [i32; 2],
    /// Its base tick.
    pub base_tick: u64,
}

impl Model {
    /// The motion of `record`.
    pub fn of(record: &EntityRecord) -> Model {
        Model { kind: record.kind, pos: record.pos, vel: record.vel, base_tick: record.base_tick }
    }

    /// Whether it moves (an entity at rest whose state did not change keeps its record).
    pub fn moving(&self) -> bool {
        self.vel != [0, 0]
    }
}

/// A row's value as the wire carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    U(u64),
    I(i64),
    I2([i64; 2]),
    T(Arc<str>),
}

/// One entry of a snapshot: the rows present for one entity, as the wire carries them.
/// For a created entity they are relative to [`EntityRecord::blank`]; for an updated one, to
/// the client's record of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityUpdate {
    /// Network id.
    pub id: u32,
    /// New owner.
    pub owner: Option<u32>,
    /// New values, by slot.
    pub values: [Option<i32>; MAX_VALUES],
    /// The text (in a creation only).
    pub text: Option<Arc<str>>,
    /// Position units to add to the dead-reckoned position at the new base tick.
    pub pos: Option<[i32; 2]>,
    /// New velocity.
    pub vel: Option<[i32; 2]>,
    /// Ticks between the new base tick and the snapshot's tick (absent: 0).
    pub age: Option<u64>,
}

/// `Some(b)` where it differs from `a`.
fn differs<T: PartialEq>(a: T, b: T) -> Option<T> {
    if a != b { Some(b) } else { None }
}

impl EntityUpdate {
    fn get(&self, row: Row) -> Option<Value> {
        match row {
            Row::Owner => self.owner.map(|v| Value::U(v.into())),
            Row::Value { slot, wire: ValueWire::Varint { .. } | ValueWire::Byte } => {
                self.values.get(usize::from(slot)).copied().flatten().map(|v| Value::U(v as u64))
            }
            Row::Value { slot, wire: ValueWire::Zigzag { .. } } => {
                self.values.get(usize::from(slot)).copied().flatten().map(|v| Value::I(v.into()))
            }
            Row::Text { .. } => self.text.clone().map(Value::T),
            Row::Pos => self.pos.map(|[x, y]| Value::I2([x.into(), y.into()])),
            Row::Vel => self.vel.map(|[x, y]| Value::I2([x.into(), y.into()])),
            Row::Age => self.age.map(Value::U),
        }
    }

    fn set(&mut self, row: Row, value: Value) -> Result<(), SnapshotError> {
        let range = |what| SnapshotError::OutOfRange(what);
        // unsigned_abs: i64::MIN from the wire has no i64 absolute value (abs overflows).
        let pair = |[x, y]: [i64; 2], max: i64, what| {
            let max = max.unsigned_abs();
            if x.unsigned_abs() > max || y.unsigned_abs() > max { Err(range(what)) } else { Ok([x as i32, y as i32]) }
        };
        match (row, value) {
            (Row::Owner, Value::U(v)) => self.owner = Some(u32::try_from(v).map_err(|_| range("owner"))?),
            (Row::Value { slot, wire }, value @ (Value::U(_) | Value::I(_))) => {
                let v = match value {
                    Value::U(v) => i64::try_from(v).map_err(|_| range("field value"))?,
                    Value::I(v) => v,
                    _ => return Err(SnapshotError::Malformed("field does not match its wire type")),
                };
                if !wire.allows(v) {
                    return Err(range("field value"));
                }
                let cell = self.values.get_mut(usize::from(slot)).ok_or(range("field slot"))?;
                *cell = Some(v as i32);
            }
            (Row::Text { max }, Value::T(t)) if t.len() <= usize::from(max) => self.text = Some(t),
            (Row::Text { .. }, Value::T(_)) => return Err(range("text length")),
            (Row::Pos, Value::I2(v)) => self.pos = Some(pair(v, 4 * MAX_POS, "pos")?),
            (Row::Vel, Value::I2(v)) => self.vel = Some(pair(v, MAX_VEL, "vel")?),
            (Row::Age, Value::U(v)) if v <= MAX_ELAPSED as u64 => self.age = Some(v),
            (Row::Age, _) => return Err(range("base_tick age")),
            _ => return Err(SnapshotError::Malformed("field does not match its wire type")),
        }
        Ok(())
    }

    fn has(&self, row: Row) -> bool {
        match row {
            Row::Owner => self.owner.is_some(),
            Row::Value { slot, .. } => self.values.get(usize::from(slot)).is_some_and(Option::is_some),
            Row::Text { .. } => self.text.is_some(),
            Row::Pos => self.pos.is_some(),
            Row::Vel => self.vel.is_some(),
            Row::Age => self.age.is_some(),
        }
    }

    /// The mask of the present rows of a kind whose table is `rows`.
    pub fn mask(&self, rows: &[Row]) -> u32 {
        rows.iter().enumerate().filter(|(_, r)| self.has(**r)).fold(0, |m, (i, _)| m | 1 << i)
    }

    /// Whether no row of `rows` is present.
    pub fn is_empty(&self, rows: &[Row]) -> bool {
        self.mask(rows) == 0
    }

    /// Writes the present rows in table order.
    pub(super) fn write_fields(&self, rows: &[Row], out: &mut Vec<u8>) {
        for &row in rows {
            match self.get(row) {
                None => {}
                Some(Value::U(v)) if matches!(row, Row::Value { wire: ValueWire::Byte, .. }) => out.push(v as u8),
                Some(Value::U(v)) => put_varint(out, v),
                Some(Value::I(v)) => put_zigzag(out, v),
                Some(Value::I2([x, y])) => {
                    put_zigzag(out, x);
                    put_zigzag(out, y);
                }
                Some(Value::T(t)) => {
                    put_varint(out, t.len() as u64);
                    out.extend_from_slice(t.as_bytes());
                }
            }
        }
    }

    /// Reads the rows named by `mask`, in table order.
    pub(super) fn read_fields(id: u32, mask: u32, rows: &[Row], src: &mut impl Source) -> Result<Self, SnapshotError> {
        if rows.len() < 32 && mask >> rows.len() != 0 {
            return Err(SnapshotError::Malformed("mask names a row the kind does not have"));
        }
        let mut update = EntityUpdate { id, ..Default::default() };
        for (i, &row) in rows.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            let value = match row {
                Row::Owner | Row::Age | Row::Value { wire: ValueWire::Varint { .. }, .. } => Value::U(get_varint(src)?),
                Row::Value { wire: ValueWire::Byte, .. } => Value::U(src.byte()?.into()),
                Row::Value { wire: ValueWire::Zigzag { .. }, .. } => Value::I(get_zigzag(src)?),
                Row::Pos | Row::Vel => Value::I2([get_zigzag(src)?, get_zigzag(src)?]),
                Row::Text { .. } => Value::T(read_text(src)?),
            };
            update.set(row, value)?;
        }
        Ok(update)
    }

    /// What `record` becomes with this update applied at `tick`: plain rows are replaced;
    /// if any motion row is present, the motion is re-based at `tick − age`, from where the
    /// old motion had carried the entity by then, plus `pos`, with the new velocity.
    pub fn apply(&self, record: &EntityRecord, tick: u64, tick_rate: u16) -> Result<EntityRecord, SnapshotError> {
        let mut next = record.clone();
        next.owner = self.owner.unwrap_or(next.owner);
        for (cell, new) in next.values.iter_mut().zip(self.values) {
            *cell = new.unwrap_or(*cell);
        }
        if let Some(text) = &self.text {
            next.text = Some(text.clone());
        }
        if self.pos.is_some() || self.vel.is_some() || self.age.is_some() {
            let age = self.age.unwrap_or(0);
            let base_tick = tick.checked_sub(age).ok_or(SnapshotError::OutOfRange("age beyond the snapshot's tick"))?;
            let elapsed = super::quant::elapsed(record.base_tick, base_tick);
            if record.vel != [0, 0] && elapsed.unsigned_abs() > MAX_ELAPSED as u64 {
                return Err(SnapshotError::OutOfRange("extrapolation span"));
            }
            let from = record.pos_at(base_tick, tick_rate);
            let add = self.pos.unwrap_or([0, 0]);
            let pos = [from[0].saturating_add(add[0].into()), from[1].saturating_add(add[1].into())];
            if pos.iter().any(|p| p.unsigned_abs() > MAX_POS.unsigned_abs()) {
                return Err(SnapshotError::OutOfRange("pos"));
            }
            next.pos = [pos[0] as i32, pos[1] as i32];
            next.vel = self.vel.unwrap_or(record.vel);
            next.base_tick = base_tick;
        }
        Ok(next.canonical())
    }

    /// The entry that takes a client holding `from` (or nothing: `None`, for a creation) to
    /// `to`, at `tick`. Every row that differs is present (the text only in a creation); an
    /// unchanged entity gives an update with an empty mask.
    pub fn between(from: Option<&EntityRecord>, to: &EntityRecord, tick: u64, tick_rate: u16) -> Self {
        let blank = EntityRecord::blank(to.id, to.kind);
        let created = from.is_none();
        let from = from.unwrap_or(&blank);
        let mut update = EntityUpdate {
            id: to.id,
            owner: differs(from.owner, to.owner),
            text: if created { to.text.clone() } else { None },
            ..Default::default()
        };
        for ((cell, old), new) in update.values.iter_mut().zip(from.values).zip(to.values) {
            *cell = differs(old, new);
        }
        if !from.same_motion(to) {
            let age = if to.vel == [0, 0] { 0 } else { tick.saturating_sub(to.base_tick) };
            let base_tick = tick - age;
            let expected = from.pos_at(base_tick, tick_rate);
            let add = [i64::from(to.pos[0]) - expected[0], i64::from(to.pos[1]) - expected[1]];
            update.vel = differs(from.vel, to.vel);
            update.age = differs(0, age);
            // Some motion row must be present to re-base, and pos carries any remainder.
            if add != [0, 0] || (update.vel.is_none() && update.age.is_none()) {
                update.pos = Some([add[0] as i32, add[1] as i32]);
            }
        }
        update
    }
}

fn read_text(src: &mut impl Source) -> Result<Arc<str>, SnapshotError> {
    let len = get_varint(src)?;
    if len > u64::from(MAX_TEXT) {
        return Err(SnapshotError::OutOfRange("text length"));
    }
    let bytes = (0..len).map(|_| src.byte()).collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map(Arc::from).map_err(|_| SnapshotError::Malformed("text is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::{AIM, HEALTH};
    use crate::state::EntityKind;

    fn rows(kind: EntityKind) -> Vec<Row> {
        crate::arena::schema().rows(kind.index()).to_vec()
    }

    #[test]
    fn the_most_negative_wire_value_is_out_of_range_not_an_overflow() {
        let mut update = EntityUpdate::default();
        for row in [Row::Pos, Row::Vel] {
            for v in [[i64::MIN, 0], [0, i64::MIN], [i64::MAX, 0]] {
                assert!(matches!(update.set(row, Value::I2(v)), Err(SnapshotError::OutOfRange(_))), "{row:?} {v:?}");
            }
        }
        assert!(update.set(Row::Pos, Value::I2([-4 * MAX_POS, 4 * MAX_POS])).is_ok(), "the bounds themselves pass");
        let aim = rows(EntityKind::Player)[2];
        assert!(matches!(update.set(aim, Value::I(2048)), Err(SnapshotError::OutOfRange(_))));
        assert!(matches!(update.set(aim, Value::U(u64::MAX)), Err(SnapshotError::OutOfRange(_))));
    }

    #[test]
    fn fields_round_trip_through_the_table() {
        let mut values = [None; MAX_VALUES];
        values[HEALTH] = Some(255);
        values[AIM] = Some(-2048);
        let update = EntityUpdate {
            id: 9,
            owner: Some(70_000),
            values,
            text: None,
            pos: Some([-5, 40_000]),
            vel: None,
            age: Some(3),
        };
        let rows = rows(EntityKind::Player);
        let mut out = Vec::new();
        update.write_fields(&rows, &mut out);
        let back =
            EntityUpdate::read_fields(9, update.mask(&rows), &rows, &mut super::super::wire::SliceSource::new(&out))
                .expect("decodes");
        assert_eq!(back, update);
        assert_eq!(update.mask(&rows), 0b10_1111);
        assert!(
            EntityUpdate::read_fields(9, 1 << 6, &rows, &mut super::super::wire::SliceSource::new(&out)).is_err(),
            "a row the kind does not have"
        );
    }

    #[test]
    fn text_rows_carry_utf8_and_refuse_the_rest() {
        let rows = [Row::Text { max: 24 }, Row::Pos];
        let update = EntityUpdate { id: 1, text: Some("blöb".into()), pos: Some([1, 2]), ..Default::default() };
        let mut out = Vec::new();
        update.write_fields(&rows, &mut out);
        let read =
            |bytes: &[u8]| EntityUpdate::read_fields(1, 0b11, &rows, &mut super::super::wire::SliceSource::new(bytes));
        assert_eq!(read(&out).expect("decodes"), update);
        assert!(read(&[2, 0xff, 0xfe, 0, 0]).is_err(), "not UTF-8");
        assert!(read(&[200]).is_err(), "longer than any text field");
    }

    #[test]
    fn between_then_apply_reaches_the_target() {
        let rate = 60;
        let npc = EntityKind::Npc.index();
        let from = EntityRecord { pos: [400, 400], vel: [1600, 0], base_tick: 30, ..EntityRecord::blank(3, npc) };
        // Stopped at tick 90 where the motion had carried it: only the velocity is sent.
        let stopped =
            EntityRecord { pos: from.pos_at(90, rate).map(|p| p as i32), vel: [0, 0], base_tick: 0, ..from.clone() };
        let update = EntityUpdate::between(Some(&from), &stopped, 90, rate);
        assert_eq!((update.pos, update.vel, update.age), (None, Some([0, 0]), None));
        assert_eq!(update.apply(&from, 90, rate).expect("applies"), stopped);
        // Re-based at 84 by a bounce, seen first at 90: age 6 and the correction.
        let bounced = EntityRecord { pos: [801, 399], vel: [-1600, 0], base_tick: 84, ..from.clone() };
        let update = EntityUpdate::between(Some(&from), &bounced, 90, rate);
        assert_eq!(update.age, Some(6));
        assert_eq!(update.apply(&from, 90, rate).expect("applies"), bounced);
        // Created: relative to the blank record.
        let created = EntityUpdate::between(None, &bounced, 90, rate);
        let blank = EntityRecord::blank(3, npc);
        assert_eq!(created.apply(&blank, 90, rate).expect("applies"), bounced);
        assert!(EntityUpdate::between(Some(&from), &from, 90, rate).is_empty(&rows(EntityKind::Npc)), "unchanged");
        // Text goes with the creation only.
        let named = EntityRecord { text: Some("ann".into()), ..bounced.clone() };
        assert_eq!(EntityUpdate::between(None, &named, 90, rate).text.as_deref(), Some("ann"));
        assert_eq!(EntityUpdate::between(Some(&bounced), &named, 90, rate).text, None);
    }
}
