//! The field table, after Quake III's `msg.c`: one list of the fields of [`EntityRecord`]
//! that a snapshot can carry, in wire order, each with its wire type. The encoder and decoder
//! here walk it, and the JavaScript decoder walks a copy that the golden vectors check
//! against this one; a test fails when `EntityRecord` gains a field this table lacks.
//!
//! An entry on the wire is an op byte, an optional id gap, then the fields whose bit is set
//! in the op byte's mask, in table order (see `shared/WIRE.md`).

use serde::{Deserialize, Serialize};

use super::SnapshotError;
use super::quant::{MAX_ELAPSED, MAX_POS, MAX_VEL};
use super::wire::{Source, get_varint, get_zigzag, put_varint, put_zigzag};
use crate::state::{EntityKind, EntityState};

/// The quantized replicated state of one entity: what a client holds after decoding, and
/// what the server's dead-reckoning model holds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// Network id; records are kept in increasing id.
    pub id: u32,
    /// What the entity is (fixed for its life; sent once, by the group it is created in).
    pub kind: EntityKind,
    /// Owning client id (player: its client; projectile: the shooter; else 0).
    pub owner: u32,
    /// Health (players), else 0.
    pub health: u8,
    /// Aim in 1/4096 turn (players), else 0.
    pub aim: i16,
    /// Position at `base_tick`, in 1/4 world unit.
    pub pos: [i32; 2],
    /// Velocity in 1/16 world unit per second.
    pub vel: [i32; 2],
    /// The tick `pos` holds at. 0 for an entity at rest, whose position does not depend on it.
    pub base_tick: u64,
}

impl EntityRecord {
    /// A record with every table field at its default: what a created entry's fields are
    /// relative to.
    pub fn blank(id: u32, kind: EntityKind) -> Self {
        EntityRecord { id, kind, owner: 0, health: 0, aim: 0, pos: [0, 0], vel: [0, 0], base_tick: 0 }
    }

    /// Its position at `tick`, in position units (dead reckoning, see `quant::extrapolate`).
    pub fn pos_at(&self, tick: u64, tick_rate: u16) -> [i64; 2] {
        super::quant::extrapolate(self.pos, self.vel, self.base_tick, tick, tick_rate)
    }

    /// The entity as a client sees it at `tick`, in world units: its dead-reckoned position,
    /// its velocity and aim unquantized.
    pub fn to_state(&self, tick: u64, tick_rate: u16) -> EntityState {
        let [x, y] = self.pos_at(tick, tick_rate);
        EntityState {
            id: self.id,
            kind: self.kind,
            pos: super::quant::pos_to_world([x as i32, y as i32]),
            vel: super::quant::vel_to_world(self.vel),
            aim: super::quant::aim_to_radians(self.aim),
            health: self.health,
            owner: self.owner,
        }
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

/// How a field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Wire {
    /// Unsigned LEB128 varint.
    Varint,
    /// One raw byte.
    Byte,
    /// Zigzag then LEB128.
    Zigzag,
    /// Two zigzag varints: x then y.
    ZigzagPair,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    /// The [`EntityRecord`] field it carries.
    pub name: &'static str,
    /// How it is written.
    pub wire: Wire,
    /// What the value on the wire is, for readers of WIRE.md and the JS decoder.
    pub carries: &'static str,
}

/// The table. Bit `i` of an entry's mask says that field `i` follows. `id` and `kind` are
/// structural (the id by its gap, the kind by the created group), so they are not rows.
pub const FIELDS: [FieldSpec; 6] = [
    FieldSpec { name: "owner", wire: Wire::Varint, carries: "the value" },
    FieldSpec { name: "health", wire: Wire::Byte, carries: "the value" },
    FieldSpec { name: "aim", wire: Wire::Zigzag, carries: "the value" },
    FieldSpec {
        name: "pos",
        wire: Wire::ZigzagPair,
        carries: "offset from the dead-reckoned position at the new base tick",
    },
    FieldSpec { name: "vel", wire: Wire::ZigzagPair, carries: "the value" },
    FieldSpec { name: "base_tick", wire: Wire::Varint, carries: "age: snapshot tick minus base tick" },
];

/// Fields of [`EntityRecord`] that are not table rows.
pub const STRUCTURAL: [&str; 2] = ["id", "kind"];

/// Mask bits of the motion fields: any of them present re-bases the motion.
pub const MOTION_MASK: u8 = 0b11_1000;

/// A field's value as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    U(u64),
    I(i64),
    I2([i64; 2]),
}

/// One entry of a snapshot: the fields present for one entity, as the wire carries them.
/// For a created entity they are relative to [`EntityRecord::blank`]; for an updated one, to
/// the client's record of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityUpdate {
    /// Network id.
    pub id: u32,
    /// New owner.
    pub owner: Option<u32>,
    /// New health.
    pub health: Option<u8>,
    /// New aim.
    pub aim: Option<i16>,
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
    fn get(&self, field: usize) -> Option<Value> {
        match field {
            0 => self.owner.map(|v| Value::U(v.into())),
            1 => self.health.map(|v| Value::U(v.into())),
            2 => self.aim.map(|v| Value::I(v.into())),
            3 => self.pos.map(|[x, y]| Value::I2([x.into(), y.into()])),
            4 => self.vel.map(|[x, y]| Value::I2([x.into(), y.into()])),
            5 => self.age.map(Value::U),
            _ => None,
        }
    }

    fn set(&mut self, field: usize, value: Value) -> Result<(), SnapshotError> {
        let range = |what| SnapshotError::OutOfRange(what);
        // unsigned_abs: i64::MIN from the wire has no i64 absolute value (abs overflows).
        let pair = |[x, y]: [i64; 2], max: i64, what| {
            let max = max.unsigned_abs();
            if x.unsigned_abs() > max || y.unsigned_abs() > max { Err(range(what)) } else { Ok([x as i32, y as i32]) }
        };
        match (field, value) {
            (0, Value::U(v)) => self.owner = Some(u32::try_from(v).map_err(|_| range("owner"))?),
            (1, Value::U(v)) => self.health = Some(u8::try_from(v).map_err(|_| range("health"))?),
            (2, Value::I(v)) if (-2048..2048).contains(&v) => self.aim = Some(v as i16),
            (3, Value::I2(v)) => self.pos = Some(pair(v, 4 * MAX_POS, "pos")?),
            (4, Value::I2(v)) => self.vel = Some(pair(v, MAX_VEL, "vel")?),
            (5, Value::U(v)) if v <= MAX_ELAPSED as u64 => self.age = Some(v),
            (2, _) => return Err(range("aim")),
            (5, _) => return Err(range("base_tick age")),
            _ => return Err(SnapshotError::Malformed("field does not match its wire type")),
        }
        Ok(())
    }

    /// The field mask of the present fields.
    pub fn mask(&self) -> u8 {
        (0..FIELDS.len()).filter(|&i| self.get(i).is_some()).fold(0, |m, i| m | 1 << i)
    }

    /// Writes the present fields in table order.
    pub(super) fn write_fields(&self, out: &mut Vec<u8>) {
        for (i, spec) in FIELDS.iter().enumerate() {
            match (self.get(i), spec.wire) {
                (None, _) => {}
                (Some(Value::U(v)), Wire::Varint) => put_varint(out, v),
                (Some(Value::U(v)), Wire::Byte) => out.push(v as u8),
                (Some(Value::I(v)), Wire::Zigzag) => put_zigzag(out, v),
                (Some(Value::I2([x, y])), Wire::ZigzagPair) => {
                    put_zigzag(out, x);
                    put_zigzag(out, y);
                }
                (Some(other), wire) => unreachable!("field {i} holds {other:?}, table says {wire:?}"),
            }
        }
    }

    /// Reads the fields named by `mask`, in table order.
    pub(super) fn read_fields(id: u32, mask: u8, src: &mut impl Source) -> Result<Self, SnapshotError> {
        let mut update = EntityUpdate { id, ..Default::default() };
        for (i, spec) in FIELDS.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            let value = match spec.wire {
                Wire::Varint => Value::U(get_varint(src)?),
                Wire::Byte => Value::U(src.byte()?.into()),
                Wire::Zigzag => Value::I(get_zigzag(src)?),
                Wire::ZigzagPair => Value::I2([get_zigzag(src)?, get_zigzag(src)?]),
            };
            update.set(i, value)?;
        }
        Ok(update)
    }

    /// What `record` becomes with this update applied at `tick`: plain fields are replaced;
    /// if any motion field is present, the motion is re-based at `tick − age`, from where the
    /// old motion had carried the entity by then, plus `pos`, with the new velocity.
    pub fn apply(&self, record: &EntityRecord, tick: u64, tick_rate: u16) -> Result<EntityRecord, SnapshotError> {
        let mut next = *record;
        next.owner = self.owner.unwrap_or(next.owner);
        next.health = self.health.unwrap_or(next.health);
        next.aim = self.aim.unwrap_or(next.aim);
        if self.mask() & MOTION_MASK != 0 {
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
    /// `to`, at `tick`. Every field that differs is present; an unchanged entity gives an
    /// update with an empty mask.
    pub fn between(from: Option<&EntityRecord>, to: &EntityRecord, tick: u64, tick_rate: u16) -> Self {
        let blank = EntityRecord::blank(to.id, to.kind);
        let from = from.unwrap_or(&blank);
        let mut update = EntityUpdate {
            id: to.id,
            owner: differs(from.owner, to.owner),
            health: differs(from.health, to.health),
            aim: differs(from.aim, to.aim),
            ..Default::default()
        };
        if !from.same_motion(to) {
            let age = if to.vel == [0, 0] { 0 } else { tick.saturating_sub(to.base_tick) };
            let base_tick = tick - age;
            let expected = from.pos_at(base_tick, tick_rate);
            let add = [i64::from(to.pos[0]) - expected[0], i64::from(to.pos[1]) - expected[1]];
            update.vel = differs(from.vel, to.vel);
            update.age = differs(0, age);
            // Some motion field must be present to re-base, and pos carries any remainder.
            if add != [0, 0] || (update.vel.is_none() && update.age.is_none()) {
                update.pos = Some([add[0] as i32, add[1] as i32]);
            }
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_negative_wire_value_is_out_of_range_not_an_overflow() {
        let mut update = EntityUpdate::default();
        for field in [3, 4] {
            for v in [[i64::MIN, 0], [0, i64::MIN], [i64::MAX, 0]] {
                assert!(matches!(update.set(field, Value::I2(v)), Err(SnapshotError::OutOfRange(_))), "{field} {v:?}");
            }
        }
        assert!(update.set(3, Value::I2([-4 * MAX_POS, 4 * MAX_POS])).is_ok(), "the bounds themselves pass");
    }

    #[test]
    fn the_table_names_every_record_field() {
        let record = EntityRecord::blank(1, EntityKind::Npc);
        // Destructuring without `..` stops compiling when a field is added to the record.
        let EntityRecord { id: _, kind: _, owner: _, health: _, aim: _, pos: _, vel: _, base_tick: _ } = record;
        let value = serde_json::to_value(record).expect("serializable");
        let mut names: Vec<&str> = value.as_object().expect("a map").keys().map(String::as_str).collect();
        names.retain(|n| !STRUCTURAL.contains(n));
        let mut table: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        table.sort_unstable();
        assert_eq!(names, table, "FIELDS must have a row for every EntityRecord field but id and kind");
        // And every row is reachable through the update's accessors.
        let EntityUpdate { id: _, owner: _, health: _, aim: _, pos: _, vel: _, age: _ } = EntityUpdate::default();
        let full = EntityUpdate {
            id: 1,
            owner: Some(1),
            health: Some(1),
            aim: Some(1),
            pos: Some([1, 1]),
            vel: Some([1, 1]),
            age: Some(1),
        };
        assert_eq!(full.mask(), (1u8 << FIELDS.len()) - 1, "every table row maps to an update field");
    }

    #[test]
    fn fields_round_trip_through_the_table() {
        let update = EntityUpdate {
            id: 9,
            owner: Some(70_000),
            health: Some(255),
            aim: Some(-2048),
            pos: Some([-5, 40_000]),
            vel: None,
            age: Some(3),
        };
        let mut out = Vec::new();
        update.write_fields(&mut out);
        let back = EntityUpdate::read_fields(9, update.mask(), &mut super::super::wire::SliceSource::new(&out))
            .expect("decodes");
        assert_eq!(back, update);
    }

    #[test]
    fn between_then_apply_reaches_the_target() {
        let rate = 60;
        let from =
            EntityRecord { pos: [400, 400], vel: [1600, 0], base_tick: 30, ..EntityRecord::blank(3, EntityKind::Npc) };
        // Stopped at tick 90 where the motion had carried it: only the velocity is sent.
        let stopped = EntityRecord { pos: from.pos_at(90, rate).map(|p| p as i32), vel: [0, 0], base_tick: 0, ..from };
        let update = EntityUpdate::between(Some(&from), &stopped, 90, rate);
        assert_eq!((update.pos, update.vel, update.age), (None, Some([0, 0]), None));
        assert_eq!(update.apply(&from, 90, rate).expect("applies"), stopped);
        // Re-based at 84 by a bounce, seen first at 90: age 6 and the correction.
        let bounced = EntityRecord { pos: [801, 399], vel: [-1600, 0], base_tick: 84, ..from };
        let update = EntityUpdate::between(Some(&from), &bounced, 90, rate);
        assert_eq!(update.age, Some(6));
        assert_eq!(update.apply(&from, 90, rate).expect("applies"), bounced);
        // Created: relative to the blank record.
        let created = EntityUpdate::between(None, &bounced, 90, rate);
        let blank = EntityRecord::blank(3, EntityKind::Npc);
        assert_eq!(created.apply(&blank, 90, rate).expect("applies"), bounced);
        assert_eq!(EntityUpdate::between(Some(&from), &from, 90, rate).mask(), 0, "unchanged: empty mask");
    }
}
