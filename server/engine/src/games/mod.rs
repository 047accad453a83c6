//! The games this server ships, each written only through the engine's game API
//! ([`crate::sim::game`]), and the [`catalog`] of them that `--game` and replays choose from.

pub mod arena;
pub mod blobs;

use crate::sim::game::Catalog;

/// Every game this server ships.
pub fn catalog() -> Catalog {
    Catalog::default().with::<arena::Arena>().with::<blobs::Blobs>()
}
