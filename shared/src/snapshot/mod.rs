//! Quantized delta snapshots with dead reckoning: pure, no I/O; used by the server, the load
//! bots and the tests, and mirrored by `web-client/src/snapshot.js`.
//!
//! - [`quant`]: wire units, ranges and errors; the integer extrapolation.
//! - [`fields`]: [`EntityRecord`] (one entity's quantized state), its motion ([`Model`]),
//!   and [`EntityUpdate`] (one entry), encoded and decoded by walking the kind's row table
//!   (`crate::schema`).
//! - [`frame`]: the server side: [`Replicator`] keeps a dead-reckoning model per entity and
//!   makes one immutable [`Frame`] per snapshot tick, from the whole state or from what changed.
//! - [`mirror`]: [`Changes`], what a simulation reports at a snapshot tick, and the
//!   replicator's copy of its state, which lets the replicator run on a thread of its own.
//! - [`records`]: [`Records`], a frame's records in chunks shared between frames.
//! - [`message`]: the [`Snapshot`] message: the delta between two frames (or a keyframe),
//!   its bytes, its parser.
//! - [`client`]: [`ClientState`], which applies snapshots in order.
//! - [`interest`]: which entities each client is sent: a grid per frame, a view per client.
//! - [`wire`]: varint and zigzag primitives.

pub mod client;
pub mod fields;
pub mod frame;
pub mod interest;
pub mod message;
pub mod mirror;
pub mod quant;
pub mod records;
pub mod wire;

pub use client::ClientState;
pub use fields::{EntityRecord, EntityUpdate, Model};
pub use frame::{Frame, HISTORY, Replicator};
pub use interest::{Grid, Interest, View};
pub use message::Snapshot;
pub use mirror::Changes;
pub use records::{Change, Records};

/// Why snapshot bytes could not be parsed or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes ended inside a value.
    #[error("snapshot truncated")]
    Truncated,
    /// The bytes do not follow the layout.
    #[error("malformed snapshot: {0}")]
    Malformed(&'static str),
    /// A value outside its documented range.
    #[error("snapshot value out of range: {0}")]
    OutOfRange(&'static str),
    /// A delta based on a snapshot the client does not hold.
    #[error("delta based on tick {wanted}, but the client holds {held:?}")]
    Baseline {
        /// The tick the client holds.
        held: Option<u64>,
        /// The tick the delta is based on.
        wanted: u64,
    },
    /// A removal or update of an entity the client does not have.
    #[error("entity {0} is not in the baseline")]
    UnknownEntity(u32),
    /// A creation of an entity the client already has.
    #[error("entity {0} created twice")]
    DuplicateEntity(u32),
}
