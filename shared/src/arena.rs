//! The arena's part of the protocol: its replicated schema (three kinds and their fields, as
//! the engine's generic replication sees them) and its input. It lives beside the protocol,
//! where the Rust clients (bots, tests) find it; nothing in the engine's generic code depends
//! on it.

use std::sync::{Arc, OnceLock};

use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::input::GameInput;
use crate::schema::{Encoding, Hint, KindBuilder, Motion, Schema};
use crate::snapshot::EntityRecord;
use crate::state::EntityKind;

/// Value slot of a player's health.
pub const HEALTH: usize = 0;
/// Value slot of a player's aim (1/4096 turn).
pub const AIM: usize = 1;
/// Aim steps per turn.
pub const AIM_STEPS: u32 = 4096;
/// Scoreboard column of a player's kills.
pub const KILLS: usize = 0;
/// Scoreboard column of a player's deaths.
pub const DEATHS: usize = 1;

/// The arena's schema, built once.
pub fn schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| Arc::new(build())).clone()
}

fn build() -> Schema {
    let kinds = vec![
        KindBuilder::new("Player")
            .avatar()
            .motion(Motion::DeadReckoned)
            .field("health", Encoding::Byte, Hint::Snap)
            .field("aim", Encoding::Angle { steps: AIM_STEPS }, Hint::InterpolateAngle)
            .build(),
        KindBuilder::new("Npc").motion(Motion::DeadReckoned).build(),
        KindBuilder::new("Projectile").owned().motion(Motion::DeadReckoned).build(),
    ];
    match Schema::new("arena", kinds).and_then(|s| s.with_scores(["kills", "deaths"])) {
        Ok(schema) => schema,
        // A fixed table, checked by the test below: it cannot fail at run time.
        Err(e) => unreachable!("the arena schema is valid: {e}"),
    }
}

impl EntityKind {
    /// Its index in the arena's schema.
    pub fn index(self) -> u8 {
        match self {
            EntityKind::Player => 0,
            EntityKind::Npc => 1,
            EntityKind::Projectile => 2,
        }
    }

    /// The kind at `index` of the arena's schema.
    pub fn from_index(index: u8) -> Option<EntityKind> {
        [EntityKind::Player, EntityKind::Npc, EntityKind::Projectile].get(usize::from(index)).copied()
    }
}

/// The arena's fields of a record, by name.
pub trait ArenaRecord {
    /// What it is (`None` for a kind the arena does not have).
    fn arena_kind(&self) -> Option<EntityKind>;
    /// Whether it is of `kind`.
    fn is(&self, kind: EntityKind) -> bool {
        self.arena_kind() == Some(kind)
    }
    /// A player's health (0 for other kinds).
    fn health(&self) -> u8;
    /// A player's aim in 1/4096 turn (0 for other kinds).
    fn aim(&self) -> i16;
}

/// Implements [`ArenaRecord`] for a type with the engine's `kind` and `values` fields.
macro_rules! arena_record {
    ($ty:ty) => {
        impl ArenaRecord for $ty {
            fn arena_kind(&self) -> Option<EntityKind> {
                EntityKind::from_index(self.kind)
            }

            fn health(&self) -> u8 {
                if self.is(EntityKind::Player) { self.values[HEALTH].clamp(0, 255) as u8 } else { 0 }
            }

            fn aim(&self) -> i16 {
                if self.is(EntityKind::Player) { self.values[AIM] as i16 } else { 0 }
            }
        }
    };
}

arena_record!(EntityRecord);
arena_record!(crate::state::EntityState);

/// Button bits carried in [`Input::buttons`].
pub struct Buttons;

impl Buttons {
    /// Fire the weapon (held: fires at the weapon's rate).
    pub const FIRE: u8 = 1 << 0;
    /// Every bit a client may set; any other bit makes the input invalid.
    pub const ALL: u8 = Self::FIRE;
}

/// Movement may exceed unit length by this much, to absorb client rounding.
const MOVE_LEN_SLACK: f32 = 1e-3;

/// One tick of an arena player's controls (the game part of an
/// [`InputFrame`](crate::input::InputFrame)).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Input {
    /// Desired movement direction, length at most 1 (zero: stand still).
    pub movement: Vec2,
    /// Aim angle in radians, in [-π, π], 0 pointing along +x, π/2 along +y (screen down).
    pub aim: f32,
    /// Held buttons, a set of [`Buttons`] bits.
    pub buttons: u8,
}

impl Input {
    /// Whether the fire button is held.
    pub fn fire(&self) -> bool {
        self.buttons & Buttons::FIRE != 0
    }
}

impl GameInput for Input {
    fn verify(&self) -> Result<(), &'static str> {
        if !self.movement.is_finite() {
            return Err("movement is not finite");
        }
        if self.movement.length_squared() > (1.0 + MOVE_LEN_SLACK) * (1.0 + MOVE_LEN_SLACK) {
            return Err("movement longer than 1");
        }
        if !self.aim.is_finite() {
            return Err("aim is not finite");
        }
        if self.aim.abs() > std::f32::consts::PI + 1e-4 {
            return Err("aim outside [-pi, pi]");
        }
        if self.buttons & !Buttons::ALL != 0 {
            return Err("unknown button bits");
        }
        Ok(())
    }

    /// Movement and aim are the later input's; the buttons add up, so no shot is lost.
    fn merge(&mut self, older: &Self) {
        self.buttons |= older.buttons;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Row;

    fn input(movement: Vec2, aim: f32, buttons: u8) -> Input {
        Input { movement, aim, buttons }
    }

    #[test]
    fn inputs_accept_legal_ranges() {
        let diag = Vec2::new(1.0, 1.0).normalize();
        assert_eq!(input(diag, std::f32::consts::PI, Buttons::FIRE).verify(), Ok(()));
        assert_eq!(input(Vec2::ZERO, -std::f32::consts::PI, 0).verify(), Ok(()));
    }

    #[test]
    fn inputs_refuse_nan_infinite_and_out_of_range() {
        assert!(input(Vec2::new(f32::NAN, 0.0), 0.0, 0).verify().is_err());
        assert!(input(Vec2::new(0.0, f32::INFINITY), 0.0, 0).verify().is_err());
        assert!(input(Vec2::new(1.0, 1.0), 0.0, 0).verify().is_err(), "unnormalized diagonal");
        assert!(input(Vec2::ZERO, f32::NAN, 0).verify().is_err());
        assert!(input(Vec2::ZERO, 4.0, 0).verify().is_err());
        assert!(input(Vec2::ZERO, 0.0, 0x80).verify().is_err());
    }

    #[test]
    fn an_input_travels_in_a_frame_and_decodes_checked() {
        let ok = input(Vec2::new(0.6, 0.8), 1.0, Buttons::FIRE);
        let frame = crate::input::InputFrame::new(7, 90, &ok);
        assert_eq!(frame.data.len(), 13, "two f32 of movement, one of aim, the buttons");
        assert_eq!(Input::decode(&frame.data), Ok(ok));
        let bad = crate::input::InputFrame::new(8, 90, &input(Vec2::ZERO, 9.0, 0));
        assert!(Input::decode(&bad.data).is_err());
        assert!(Input::decode(&frame.data[..12]).is_err(), "cut short");
        let mut long = frame.data.clone();
        long.push(0);
        assert!(Input::decode(&long).is_err(), "trailing bytes");
    }

    #[test]
    fn the_arena_schema_is_valid_and_keeps_its_rows() {
        let schema = build();
        assert_eq!(schema.rows(EntityKind::Player.index()).len(), 6, "owner, health, aim, pos, vel, age");
        assert_eq!(schema.rows(EntityKind::Npc.index()), [Row::Pos, Row::Vel, Row::Age]);
        assert_eq!(schema.rows(EntityKind::Projectile.index())[0], Row::Owner);
        assert_eq!(schema.slot(0, "health"), Some(HEALTH));
        assert_eq!(schema.slot(0, "aim"), Some(AIM));
        for kind in [EntityKind::Player, EntityKind::Npc, EntityKind::Projectile] {
            assert_eq!(EntityKind::from_index(kind.index()), Some(kind));
            assert_eq!(schema.kind_index(&format!("{kind:?}")), Some(kind.index()));
        }
    }
}
