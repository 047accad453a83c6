//! The wire protocol between the game server and its clients.
//!
//! Module map:
//! - [`message`]: the [`ClientMessage`] and [`ServerMessage`] enums, grouped by connection state,
//!   and their validation (`verify`).
//! - [`input`]: one tick of player input: the engine's frame around a game's own input.
//! - [`state`]: the simulation's entity state as the snapshot stage gathers it, and the
//!   scoreboard.
//! - [`schema`]: a game's replicated schema: kinds, fields, encodings, the row tables that
//!   drive every snapshot entry's encoder and decoder; sent to clients in `Welcome`.
//! - [`snapshot`]: quantization, dead reckoning, delta encode and decode, interest.
//! - [`arena`]: the arena's schema and input.
//! - [`map`]: the arena description loaded from `assets/` and sent in `Welcome`.
//! - [`movement`]: how a player moves and meets walls, applied by the server and replayed by
//!   clients to predict their own player.
//! - [`codec`]: the single bincode configuration, `encode`/`decode`, size limits.
//!
//! The byte layout is documented in `shared/WIRE.md`; the browser client follows it and the
//! golden vectors in `shared/tests/golden_vectors.json` hold both sides to it.

pub mod arena;
pub mod codec;
pub mod input;
pub mod map;
pub mod message;
pub mod movement;
pub mod schema;
pub mod snapshot;
pub mod state;

pub use codec::{CodecError, decode, encode};
pub use input::{GameInput, InputFrame};
pub use map::{MapData, Rect};
pub use message::{
    ChatLine, ClientMessage, ConnectionState, DisconnectReason, InvalidMessage, REPLAY_SPEEDS, ReplayCommand,
    ServerMessage, Welcome,
};
pub use schema::Schema;
pub use snapshot::{ClientState, EntityRecord, Snapshot};
pub use state::{EntityKind, EntityState, ScoreEntry};

/// Bumped on any change to the bytes on the wire. A client with another version is refused.
pub const PROTOCOL_VERSION: u16 = 7;
