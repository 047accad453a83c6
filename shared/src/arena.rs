//! The arena's replicated schema: its three kinds and their fields, as the engine's generic
//! replication sees them. (It lives beside the protocol until the arena becomes a game crate
//! of its own; nothing in the snapshot code depends on it.)

use std::sync::{Arc, OnceLock};

use crate::schema::{Encoding, Hint, KindBuilder, Motion, Schema};
use crate::snapshot::EntityRecord;
use crate::state::EntityKind;

/// Value slot of a player's health.
pub const HEALTH: usize = 0;
/// Value slot of a player's aim (1/4096 turn).
pub const AIM: usize = 1;
/// Aim steps per turn.
pub const AIM_STEPS: u32 = 4096;

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
    match Schema::new("arena", kinds) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Row;

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
