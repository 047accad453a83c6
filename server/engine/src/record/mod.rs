//! Recording matches and replaying them deterministically.
//!
//! A recording holds the simulation's settings and map, then, tick by tick, the events the
//! simulation consumed (joins, leaves, inputs as applied), and every N ticks a digest of the
//! whole state. Replaying feeds the events back at their ticks into a fresh simulation with
//! the same settings and checks every digest: same inputs, same world.
//!
//! - [`format`](mod@format): the file layout (documented there) and its types.
//! - [`chunk`]: length-prefixed, CRC-checked chunks, reading and writing.
//! - [`writer`]: the writer thread; the simulation hands it records over a channel and never
//!   touches the disk.
//! - [`reader`]: opening a file, with a clear error for every kind of bad file.
//! - [`replay`]: stepping a recording: verification, seeking, state dumps; [`cli`] runs it.
//! - [`keyframe`]: the whole simulation state copied aside, so seeking back is fast.
//! - [`spectate`]: serving a replay to browsers through the live snapshot path.

pub mod chunk;
pub mod cli;
pub mod format;
pub mod keyframe;
pub mod reader;
pub mod replay;
pub mod spectate;
pub mod writer;
