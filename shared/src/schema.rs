//! A game's replicated schema: its entity kinds and, per kind, the fields a snapshot carries,
//! each with its type and wire encoding. One description drives the encoder and the decoder
//! of every snapshot entry (after Quake III's `msg.c` field table), on the server, in the Rust
//! clients and, sent in `Welcome`, in the browser.
//!
//! Every kind's entry is a list of *rows* in a fixed order (see [`Kind::rows`]):
//! - `owner`, if the kind has one (the client that controls or fired it);
//! - the kind's own fields, in declared order;
//! - its motion: `pos` for a static entity; `pos`, `vel` and `base_tick` (sent as its age)
//!   for a dead-reckoned one; nothing for an entity with no place in the world.
//!
//! Bit `i` of an entry's mask says row `i` follows. The engine's quantization of positions
//! and velocities (`snapshot::quant`) is the same for every game; a field's own quantization
//! is its [`Encoding`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most fields a kind may declare besides its owner and motion (each takes one `i32` slot of
/// an entity record; a text field takes the record's one text slot instead).
pub const MAX_VALUES: usize = 6;
/// Most kinds a schema may declare (a kind travels as one byte).
pub const MAX_KINDS: usize = 32;
/// Longest name of a game, kind, field or enum variant, in bytes.
pub const MAX_NAME: usize = 32;
/// Most variants of an enum field.
pub const MAX_VARIANTS: usize = 64;
/// Longest text field, in bytes.
pub const MAX_TEXT: u16 = 64;
/// Most columns a scoreboard may have.
pub const MAX_SCORES: usize = 8;

/// How a field's value is quantized and written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Encoding {
    /// An unsigned integer in `0..=max`: LEB128 varint.
    UInt {
        /// Largest value (at most `i32::MAX`).
        max: u32,
    },
    /// One raw byte, `0..=255`.
    Byte,
    /// A signed integer in `min..=max`: zigzag varint.
    Int {
        /// Smallest value.
        min: i32,
        /// Largest value.
        max: i32,
    },
    /// An angle in radians, quantized to `steps` per turn, wrapped to `[-steps/2, steps/2)`:
    /// zigzag varint.
    Angle {
        /// Steps per turn (2 to 65 536, even).
        steps: u32,
    },
    /// A real number quantized to `1/scale`, clamped to `[min, max]`: zigzag varint of the
    /// scaled value.
    Scalar {
        /// Steps per unit.
        scale: f32,
        /// Smallest value, in units.
        min: f32,
        /// Largest value, in units.
        max: f32,
    },
    /// One of named variants: varint index.
    Enum {
        /// The variants' names, in index order.
        variants: Vec<String>,
    },
    /// UTF-8 text of at most `max_bytes`, set when the entity is created and never changed:
    /// sent only in its creation, as a varint length then the bytes.
    Text {
        /// Longest text (at most [`MAX_TEXT`]).
        max_bytes: u16,
    },
}

/// How a client should show a field between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Hint {
    /// Take the newest value (counters, states, names).
    #[default]
    Snap,
    /// Blend linearly between snapshots (a health bar, a size).
    Interpolate,
    /// Blend along the shorter way round (an angle).
    InterpolateAngle,
}

/// One replicated field of a kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Its name, unique within the kind.
    pub name: String,
    /// How it is quantized and written.
    pub encoding: Encoding,
    /// How clients show it between snapshots.
    pub hint: Hint,
}

/// Where an entity of a kind is in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Motion {
    /// Nowhere (a team, a match clock): no position rows, never filtered by interest.
    None,
    /// A position that changes only by being set (a pellet, a wall): one `pos` row.
    Static,
    /// A position and velocity, dead-reckoned between updates: `pos`, `vel` and `base_tick`
    /// rows. Clients extrapolate and interpolate it.
    DeadReckoned,
}

/// One entity kind: its name, its fields, and what the engine knows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kind {
    /// Its name, unique within the schema; the client draws by it.
    pub name: String,
    /// Whether entities of this kind name an owning client (replicated as the `owner` row;
    /// interest management always shows a client what it owns).
    pub owned: bool,
    /// Whether an owned entity of this kind is its owner's avatar: the point a player's view
    /// is centred on, and what its client predicts.
    pub avatar: bool,
    /// Where it is.
    pub motion: Motion,
    /// Its own fields, in wire order.
    pub fields: Vec<Field>,
}

/// What a row of an entry carries, and where the record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// The owner: varint.
    Owner,
    /// Value slot `slot` of the record, written as `wire`.
    Value {
        /// Index into `EntityRecord::values`.
        slot: u8,
        /// How it is written.
        wire: ValueWire,
    },
    /// The record's text (creation only): varint length then the bytes.
    Text {
        /// Longest text, in bytes.
        max: u16,
    },
    /// Position: two zigzag varints, an offset from the dead-reckoned position.
    Pos,
    /// Velocity: two zigzag varints.
    Vel,
    /// Base tick, sent as its age (snapshot tick − base tick): varint.
    Age,
}

/// How one value slot is written, with its legal range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueWire {
    /// Varint in `0..=max`.
    Varint {
        /// Largest value.
        max: u32,
    },
    /// One byte.
    Byte,
    /// Zigzag varint in `min..=max`.
    Zigzag {
        /// Smallest value.
        min: i32,
        /// Largest value.
        max: i32,
    },
}

impl ValueWire {
    /// Whether `v` is in range.
    pub fn allows(&self, v: i64) -> bool {
        match *self {
            ValueWire::Varint { max } => (0..=i64::from(max)).contains(&v),
            ValueWire::Byte => (0..=255).contains(&v),
            ValueWire::Zigzag { min, max } => (i64::from(min)..=i64::from(max)).contains(&v),
        }
    }

    /// `v` clamped into range.
    pub fn clamp(&self, v: i64) -> i32 {
        match *self {
            ValueWire::Varint { max } => v.clamp(0, i64::from(max)) as i32,
            ValueWire::Byte => v.clamp(0, 255) as i32,
            ValueWire::Zigzag { min, max } => v.clamp(i64::from(min), i64::from(max)) as i32,
        }
    }
}

impl Encoding {
    /// How the quantized value is written.
    fn wire(&self) -> Option<ValueWire> {
        Some(match self {
            Encoding::UInt { max } => ValueWire::Varint { max: *max },
            Encoding::Byte => ValueWire::Byte,
            Encoding::Int { min, max } => ValueWire::Zigzag { min: *min, max: *max },
            Encoding::Angle { steps } => {
                let half = (*steps / 2) as i32;
                ValueWire::Zigzag { min: -half, max: half - 1 }
            }
            Encoding::Scalar { scale, min, max } => ValueWire::Zigzag {
                min: (f64::from(*min) * f64::from(*scale)).round() as i32,
                max: (f64::from(*max) * f64::from(*scale)).round() as i32,
            },
            Encoding::Enum { variants } => ValueWire::Varint { max: variants.len().saturating_sub(1) as u32 },
            Encoding::Text { .. } => return None,
        })
    }

    /// The quantized value of `value` (in the field's units: radians for an angle): rounded
    /// and clamped into range; NaN becomes 0 (clamped).
    pub fn quantize(&self, value: f32) -> i32 {
        let Some(wire) = self.wire() else { return 0 };
        let v = if value.is_nan() { 0.0 } else { f64::from(value) };
        let q = match self {
            Encoding::Angle { steps } => {
                if !v.is_finite() {
                    return 0;
                }
                let steps = f64::from(*steps);
                let s = (v / std::f64::consts::TAU * steps).round();
                let half = steps / 2.0;
                ((s + half).rem_euclid(steps) - half) as i64
            }
            Encoding::Scalar { scale, .. } => (v * f64::from(*scale)).round() as i64,
            _ => v.round() as i64,
        };
        wire.clamp(q)
    }

    /// A quantized value back in the field's units.
    pub fn unquantize(&self, q: i32) -> f32 {
        match self {
            Encoding::Angle { steps } => (f64::from(q) * std::f64::consts::TAU / f64::from(*steps)) as f32,
            Encoding::Scalar { scale, .. } => (f64::from(q) / f64::from(*scale)) as f32,
            _ => q as f32,
        }
    }
}

/// Why a schema was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad schema: {0}")]
pub struct SchemaError(pub String);

/// The serde form of a [`Schema`]: what `Welcome` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SchemaDesc {
    game: String,
    kinds: Vec<Kind>,
    scores: Vec<String>,
}

/// A game's schema, checked and with each kind's row table built. Only valid schemas exist:
/// [`Schema::new`] and deserialization both check.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "SchemaDesc", into = "SchemaDesc")]
pub struct Schema {
    game: String,
    kinds: Vec<Kind>,
    scores: Vec<String>,
    rows: Vec<Vec<Row>>,
    hash: u64,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema").field("game", &self.game).field("hash", &format_args!("{:016x}", self.hash)).finish()
    }
}

/// Two schemas are equal when their encodings are (the hash is of the encoding; the kinds are
/// compared too, so that a hash collision cannot make two schemas equal).
impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
            || (self.hash == other.hash
                && self.game == other.game
                && self.kinds == other.kinds
                && self.scores == other.scores)
    }
}

impl Eq for Schema {}

impl From<Schema> for SchemaDesc {
    fn from(s: Schema) -> Self {
        SchemaDesc { game: s.game, kinds: s.kinds, scores: s.scores }
    }
}

impl TryFrom<SchemaDesc> for Schema {
    type Error = SchemaError;

    fn try_from(desc: SchemaDesc) -> Result<Self, SchemaError> {
        Schema::new(desc.game, desc.kinds)?.with_scores(desc.scores)
    }
}

impl Schema {
    /// Checks `kinds` and builds their row tables.
    pub fn new(game: impl Into<String>, kinds: Vec<Kind>) -> Result<Schema, SchemaError> {
        let game = game.into();
        let bad = |why: String| Err(SchemaError(why));
        check_name("game", &game)?;
        if kinds.is_empty() || kinds.len() > MAX_KINDS {
            return bad(format!("{} kinds (1 to {MAX_KINDS})", kinds.len()));
        }
        let mut rows = Vec::with_capacity(kinds.len());
        for (k, kind) in kinds.iter().enumerate() {
            check_name("kind", &kind.name)?;
            if kinds[..k].iter().any(|other| other.name == kind.name) {
                return bad(format!("kind {:?} declared twice", kind.name));
            }
            if kind.avatar && !(kind.owned && kind.motion != Motion::None) {
                return bad(format!("avatar kind {:?} must be owned and have a position", kind.name));
            }
            rows.push(kind_rows(kind)?);
        }
        let mut schema = Schema { game, kinds, scores: Vec::new(), rows, hash: 0 };
        schema.hash = schema.compute_hash()?;
        Ok(schema)
    }

    /// This schema with a scoreboard of these columns (at most [`MAX_SCORES`], named like
    /// fields): each `ScoreEntry`'s values, in this order. Without, rows carry a name only.
    pub fn with_scores<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Result<Schema, SchemaError> {
        let columns: Vec<String> = columns.into_iter().map(Into::into).collect();
        if columns.len() > MAX_SCORES {
            return Err(SchemaError(format!("{} score columns (at most {MAX_SCORES})", columns.len())));
        }
        for (i, column) in columns.iter().enumerate() {
            check_name("score column", column)?;
            if columns[..i].contains(column) {
                return Err(SchemaError(format!("score column {column:?} declared twice")));
            }
        }
        self.scores = columns;
        self.hash = self.compute_hash()?;
        Ok(self)
    }

    /// The bytes `Welcome` carries (bincode `standard`, as `codec` writes them), hashed here
    /// without going through `codec`, which sits above the message types.
    fn compute_hash(&self) -> Result<u64, SchemaError> {
        let desc = SchemaDesc { game: self.game.clone(), kinds: self.kinds.clone(), scores: self.scores.clone() };
        let bytes = bincode::serde::encode_to_vec(&desc, bincode::config::standard())
            .map_err(|e| SchemaError(e.to_string()))?;
        Ok(fnv1a(&bytes))
    }

    /// The scoreboard's columns, in the order of each row's values.
    pub fn scores(&self) -> &[String] {
        &self.scores
    }

    /// The game's name (the web client loads the game's module by it).
    pub fn game(&self) -> &str {
        &self.game
    }

    /// The kinds, by index.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// Kind `index`, if declared.
    pub fn kind(&self, index: u8) -> Option<&Kind> {
        self.kinds.get(usize::from(index))
    }

    /// The index of the kind named `name`.
    pub fn kind_index(&self, name: &str) -> Option<u8> {
        self.kinds.iter().position(|k| k.name == name).map(|i| i as u8)
    }

    /// Kind `index`'s rows in wire order; empty for an undeclared kind.
    pub fn rows(&self, index: u8) -> &[Row] {
        self.rows.get(usize::from(index)).map_or(&[], Vec::as_slice)
    }

    /// A 64-bit FNV-1a hash of the schema's encoding: two servers with the same hash send
    /// the same entries, so a client built for one can read the other.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The value slot of field `field` of kind `kind`, if it has one.
    pub fn slot(&self, kind: u8, field: &str) -> Option<usize> {
        let kind = self.kind(kind)?;
        let mut slot = 0;
        for f in &kind.fields {
            if matches!(f.encoding, Encoding::Text { .. }) {
                continue;
            }
            if f.name == field {
                return Some(slot);
            }
            slot += 1;
        }
        None
    }
}

fn check_name(what: &str, name: &str) -> Result<(), SchemaError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(SchemaError(format!("{what} name {name:?}: 1 to {MAX_NAME} of [A-Za-z0-9_-]"))) }
}

/// The row table of one kind (see the module's layout).
fn kind_rows(kind: &Kind) -> Result<Vec<Row>, SchemaError> {
    let bad = |why: String| Err(SchemaError(format!("kind {:?}: {why}", kind.name)));
    let mut rows = Vec::new();
    if kind.owned {
        rows.push(Row::Owner);
    }
    let (mut slot, mut texts) = (0u8, 0);
    for (i, field) in kind.fields.iter().enumerate() {
        check_name("field", &field.name)?;
        let reserved = ["owner", "pos", "vel", "base_tick", "id", "kind"];
        if reserved.contains(&field.name.as_str()) || kind.fields[..i].iter().any(|f| f.name == field.name) {
            return bad(format!("field name {:?} is reserved or used twice", field.name));
        }
        match &field.encoding {
            Encoding::Text { max_bytes } => {
                texts += 1;
                if texts > 1 || *max_bytes == 0 || *max_bytes > MAX_TEXT {
                    return bad(format!("at most one text field, of 1 to {MAX_TEXT} bytes"));
                }
                rows.push(Row::Text { max: *max_bytes });
                continue;
            }
            Encoding::UInt { max } if *max > i32::MAX as u32 => {
                return bad(format!("{}: max above 2^31-1", field.name));
            }
            Encoding::Int { min, max } if min > max => return bad(format!("{}: min above max", field.name)),
            Encoding::Angle { steps } if !(2..=65_536).contains(steps) || steps % 2 != 0 => {
                return bad(format!("{}: angle steps must be even, 2 to 65536", field.name));
            }
            Encoding::Scalar { scale, min, max } => {
                let limit = f64::from(i32::MAX / 2);
                let fine = scale.is_finite()
                    && *scale > 0.0
                    && min.is_finite()
                    && max.is_finite()
                    && min <= max
                    && (f64::from(*min) * f64::from(*scale)).abs() <= limit
                    && (f64::from(*max) * f64::from(*scale)).abs() <= limit;
                if !fine {
                    return bad(format!(
                        "{}: scalar needs scale > 0, min <= max, and a scaled range within 2^30",
                        field.name
                    ));
                }
            }
            Encoding::Enum { variants } => {
                if variants.is_empty() || variants.len() > MAX_VARIANTS {
                    return bad(format!("{}: 1 to {MAX_VARIANTS} variants", field.name));
                }
                for v in variants {
                    check_name("variant", v)?;
                }
            }
            _ => {}
        }
        if usize::from(slot) >= MAX_VALUES {
            return bad(format!("more than {MAX_VALUES} value fields"));
        }
        let wire = field.encoding.wire().ok_or_else(|| SchemaError("unreachable: text handled above".into()))?;
        rows.push(Row::Value { slot, wire });
        slot += 1;
    }
    match kind.motion {
        Motion::None => {}
        Motion::Static => rows.push(Row::Pos),
        Motion::DeadReckoned => rows.extend([Row::Pos, Row::Vel, Row::Age]),
    }
    if rows.len() > 30 {
        return bad("more than 30 rows".into());
    }
    Ok(rows)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A builder for a kind, so that a game's schema reads as a list.
#[derive(Debug, Clone)]
pub struct KindBuilder(Kind);

impl KindBuilder {
    /// A kind with no owner, no position and no fields.
    pub fn new(name: &str) -> Self {
        KindBuilder(Kind { name: name.into(), owned: false, avatar: false, motion: Motion::None, fields: Vec::new() })
    }

    /// Entities of this kind name an owning client.
    pub fn owned(mut self) -> Self {
        self.0.owned = true;
        self
    }

    /// An owned entity of this kind is its owner's avatar (implies owned).
    pub fn avatar(mut self) -> Self {
        self.0.owned = true;
        self.0.avatar = true;
        self
    }

    /// Where it is.
    pub fn motion(mut self, motion: Motion) -> Self {
        self.0.motion = motion;
        self
    }

    /// Adds a field.
    pub fn field(mut self, name: &str, encoding: Encoding, hint: Hint) -> Self {
        self.0.fields.push(Field { name: name.into(), encoding, hint });
        self
    }

    /// The kind.
    pub fn build(self) -> Kind {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> KindBuilder {
        KindBuilder::new(name)
    }

    #[test]
    fn rows_follow_owner_fields_then_motion() {
        let schema = Schema::new(
            "t",
            vec![
                kind("a")
                    .avatar()
                    .motion(Motion::DeadReckoned)
                    .field("hp", Encoding::Byte, Hint::Interpolate)
                    .field("name", Encoding::Text { max_bytes: 16 }, Hint::Snap)
                    .field("aim", Encoding::Angle { steps: 4096 }, Hint::InterpolateAngle)
                    .build(),
                kind("b").motion(Motion::Static).build(),
                kind("c").build(),
            ],
        )
        .expect("valid");
        let byte = Row::Value { slot: 0, wire: ValueWire::Byte };
        let aim = Row::Value { slot: 1, wire: ValueWire::Zigzag { min: -2048, max: 2047 } };
        assert_eq!(schema.rows(0), [Row::Owner, byte, Row::Text { max: 16 }, aim, Row::Pos, Row::Vel, Row::Age]);
        assert_eq!(schema.rows(1), [Row::Pos]);
        assert!(schema.rows(2).is_empty() && schema.rows(3).is_empty());
        assert_eq!((schema.slot(0, "aim"), schema.slot(0, "name"), schema.kind_index("b")), (Some(1), None, Some(1)));
        let bytes = crate::codec::encode(&schema).expect("encodes");
        let back: Schema = crate::codec::decode(&bytes).expect("decodes");
        assert_eq!((back.hash(), back.rows(0)), (schema.hash(), schema.rows(0)));
    }

    #[test]
    fn bad_schemas_are_refused_also_when_decoded() {
        let too_many = (0..=MAX_VALUES).fold(kind("k"), |k, i| k.field(&format!("f{i}"), Encoding::Byte, Hint::Snap));
        for kinds in [
            vec![],
            vec![too_many.build()],
            vec![kind("k").build(), kind("k").build()],
            vec![kind("k").field("pos", Encoding::Byte, Hint::Snap).build()],
            vec![kind("k").field("a", Encoding::Angle { steps: 3 }, Hint::Snap).build()],
            vec![kind("k").field("a", Encoding::Scalar { scale: 0.0, min: 0.0, max: 1.0 }, Hint::Snap).build()],
            vec![kind("k").field("a", Encoding::Enum { variants: vec![] }, Hint::Snap).build()],
            vec![kind("bad name").build()],
            vec![KindBuilder(Kind { avatar: true, ..kind("k").build() }).build()],
        ] {
            assert!(Schema::new("g", kinds.clone()).is_err(), "{kinds:?}");
            let bytes =
                crate::codec::encode(&SchemaDesc { game: "g".into(), kinds, scores: Vec::new() }).expect("encodes");
            assert!(crate::codec::decode::<Schema>(&bytes).is_err());
        }
    }

    #[test]
    fn quantization_rounds_clamps_and_wraps() {
        let angle = Encoding::Angle { steps: 4096 };
        assert_eq!(angle.quantize(std::f32::consts::PI), -2048, "π wraps to −π");
        assert_eq!(angle.quantize(-std::f32::consts::FRAC_PI_2), -1024);
        assert_eq!(angle.quantize(f32::NAN), 0);
        let mass = Encoding::Scalar { scale: 10.0, min: 0.0, max: 100.0 };
        assert_eq!((mass.quantize(12.34), mass.quantize(1e9), mass.quantize(-1.0)), (123, 1000, 0));
        assert!((mass.unquantize(123) - 12.3).abs() < 1e-6);
        assert_eq!(Encoding::Byte.quantize(300.0), 255);
        assert_eq!(Encoding::Enum { variants: vec!["a".into(), "b".into()] }.quantize(7.0), 1);
    }

    #[test]
    fn score_columns_are_checked_and_hashed() {
        let base = || Schema::new("g", vec![KindBuilder::new("k").build()]).expect("valid");
        let scored = base().with_scores(["kills", "deaths"]).expect("valid columns");
        assert_eq!(scored.scores(), ["kills", "deaths"]);
        assert_ne!(scored.hash(), base().hash(), "the columns are part of the protocol");
        let bytes = bincode::serde::encode_to_vec(&scored, bincode::config::standard()).expect("encodes");
        let (back, _): (Schema, _) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decodes");
        assert_eq!(back, scored);
        assert!(base().with_scores(["a", "a"]).is_err(), "twice");
        assert!(base().with_scores([""]).is_err(), "empty name");
        assert!(base().with_scores((0..=MAX_SCORES).map(|i| format!("c{i}"))).is_err(), "too many");
    }
}
