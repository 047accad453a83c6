//! The recording file format, version 4.
//!
//! ```text
//! file    = magic "ARENAREC" (8 bytes) · format version (u16 LE) · chunk*
//! chunk   = payload length (u32 LE) · payload · CRC-32 of payload (u32 LE, IEEE, as zlib)
//! payload = one `Chunk` encoded with the protocol's codec (bincode 2 standard, see
//!           shared/WIRE.md for the primitive encodings)
//! ```
//!
//! The first chunk is a [`Chunk::Header`]. Then, in tick order, [`Chunk::Ticks`] batches (the
//! writer emits one at least every second) and [`Chunk::Checksum`]s (at tick 0 and every
//! `checksum_interval` ticks). A cleanly stopped server ends the file with [`Chunk::End`]; a
//! file without it was cut short (crash, `kill -9`) and is readable up to its last complete
//! chunk. The file is append-only: nothing written is ever rewritten. A recording past
//! `--record-max-bytes` goes on in another file of this same layout (`….part2.rec`) whose first
//! chunks after its header repeat the earlier parts' tick batches and checksums (see
//! `record::writer::WriterOptions::max_bytes`), so each file replays from tick 0 on its own.
//!
//! The header names the game and carries its settings, encoded by the game; inputs are the
//! game's bytes, which the format never looks into. They are stored as deltas against the same
//! client's previous input ([`InputDelta`]), and only when they say something new: a tick whose
//! applied input is the previous one with `seq` one higher, the same game bytes, and
//! `view_tick` advanced by a steady step (a held key, a steady client) is not
//! written one by one but as part of an [`Event::Held`] run, written once at the run's first
//! tick. A tick that applied no input for a playing client (nothing was waiting: the input in
//! force repeated, and its `seq` stays) has no event and lies outside every run. So every tick's
//! applied inputs, and only those, are known exactly: the replay feeds the same ones.
//!
//! A [`Checksum`] always carries the whole-state hash; the per-entity hashes that name
//! diverging entities are listed only every [`ENTITY_LISTING_EVERY`]th checksum (at ticks that
//! are multiples of `ENTITY_LISTING_EVERY × checksum_interval`), since in a crowd they
//! outweigh everything else in the file.
//!
//! Layout history: version 3 was the arena's alone (its settings in the header, its input's
//! fields in every delta); version 4 is the engine's, for any game. A version-3 file is
//! refused with a clear error: it was made by simulation version 3, which no longer runs.

use serde::{Deserialize, Serialize};
use shared::{InputFrame, MapData};

/// First bytes of every recording.
pub const MAGIC: [u8; 8] = *b"ARENAREC";
/// Version of this file layout, written into new files. Version 2 added [`Event::Chat`];
/// version 3 added the view tick (lag compensation); version 4 made the header and inputs
/// the engine's (any game). Each came with a new simulation version, so older files, which
/// that version could not replay anyway, are refused with a clear error.
pub const FORMAT_VERSION: u16 = 4;
/// Oldest file layout still read.
pub const OLDEST_FORMAT_VERSION: u16 = 4;
/// Largest chunk payload a reader accepts (a corrupted length must not allocate gigabytes; the
/// protocol codec decodes at most this much anyway). A checksum listing a million entities takes
/// about 3 MiB.
pub const MAX_CHUNK_BYTES: u32 = 16 * 1024 * 1024;
/// Largest [`Chunk::Ticks`] payload a reader accepts. Events decode to some 30 times their
/// encoded size, so this bounds what one chunk costs in memory while it is read (about 30 MiB);
/// the writer cuts batches long before (see `record::writer::BATCH_BYTES`).
pub const MAX_TICKS_CHUNK_BYTES: u32 = 1024 * 1024;
/// The first payload byte of a [`Chunk::Ticks`] (its variant index).
pub const TICKS_VARIANT: u8 = 1;
/// The first payload byte of a [`Chunk::Checksum`].
pub const CHECKSUM_VARIANT: u8 = 2;
/// Default ticks between two state digests.
pub const DEFAULT_CHECKSUM_INTERVAL: u32 = 60;
/// Every how many checksums one lists the per-entity hashes (counted by tick: a checksum at a
/// multiple of `ENTITY_LISTING_EVERY × checksum_interval` ticks, tick 0 included, lists them).
pub const ENTITY_LISTING_EVERY: u64 = 10;

/// Everything that shapes the simulation, and some context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// `shared::PROTOCOL_VERSION` of the recording server (informative).
    pub protocol_version: u16,
    /// `sim::SIM_VERSION` of the recording server; a replay requires the same.
    pub sim_version: u32,
    /// Version of the server that recorded (informative).
    pub server_version: String,
    /// Seconds since the Unix epoch when recording began (informative; 0 in fixtures).
    pub started_unix: u64,
    /// RNG seed.
    pub seed: u64,
    /// Ticks per second.
    pub tick_rate: u16,
    /// Snapshots per second.
    pub snapshot_rate: u16,
    /// Player limit (joins beyond it were refused, and are not in the recording).
    pub max_players: u16,
    /// The game's name (`Game::NAME`).
    pub game: String,
    /// The game's settings, encoded by the game with the protocol codec.
    pub game_settings: Vec<u8>,
    /// Ticks between state digests.
    pub checksum_interval: u32,
    /// The map, whole, so a replay needs no other file.
    pub map: MapData,
    /// FNV-1a 64 of the map's encoding with the protocol codec, to detect a damaged map.
    pub map_hash: u64,
}

/// One chunk's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Chunk {
    /// Always first.
    Header(Header),
    /// Events of consecutive ticks; ticks without events are omitted.
    Ticks(Vec<TickRecord>),
    /// The state digest at a tick, after that tick's step.
    Checksum(Checksum),
    /// The server stopped cleanly after this tick.
    End {
        /// The last simulated tick.
        last_tick: u64,
    },
}

/// The events consumed in one tick, in consumption order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickRecord {
    /// The tick.
    pub tick: u64,
    /// Its events.
    pub events: Vec<Event>,
}

/// One consumed event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A player joined.
    Join {
        /// Client id.
        client: u32,
        /// Name.
        name: String,
    },
    /// A player left.
    Leave {
        /// Client id.
        client: u32,
    },
    /// A player's input was applied.
    Input {
        /// Client id.
        client: u32,
        /// The input, as a delta against this client's previous one.
        delta: InputDelta,
    },
    /// A run of held inputs: at this tick and the `ticks - 1` following ones, this client's
    /// applied input was its previous one with `seq` one higher and `view_tick` higher by
    /// `view_step` (wrapping), the game's bytes unchanged. A run never outlasts its batch, so
    /// `ticks` is at most the tick rate.
    Held {
        /// Client id.
        client: u32,
        /// Consecutive ticks, at least 1.
        ticks: u32,
        /// How much the view tick advances per input (1 for a client drawing at a steady
        /// delay; 0 for one that sends no view tick).
        view_step: u32,
    },
    /// A chat line was broadcast (format version 2).
    Chat {
        /// Sender's client id; 0 for a server announcement.
        client: u32,
        /// Sender's name as broadcast.
        name: String,
        /// The line.
        text: String,
    },
}

/// An input as what differs from the same client's previous input (an empty frame before the
/// first). `None` means "as before"; for `seq`, "previous plus one"; for `view_tick`,
/// "previous plus one" (a client drawing at a steady delay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDelta {
    /// Sequence number, unless it is the previous plus one.
    pub seq: Option<u32>,
    /// View tick, unless it is the previous plus one.
    pub view_tick: Option<u32>,
    /// The game's bytes, if changed.
    pub data: Option<Vec<u8>>,
}

impl InputDelta {
    /// The delta from `previous` to `input`.
    pub fn between(previous: &InputFrame, input: &InputFrame) -> Self {
        InputDelta {
            seq: (input.seq != previous.seq.wrapping_add(1)).then_some(input.seq),
            view_tick: (input.view_tick != previous.view_tick.wrapping_add(1)).then_some(input.view_tick),
            data: (input.data != previous.data).then(|| input.data.clone()),
        }
    }

    /// `previous` advanced by one held tick: `seq` plus one, `view_tick` plus `view_step`.
    pub fn held(previous: &InputFrame, view_step: u32) -> InputFrame {
        InputFrame {
            seq: previous.seq.wrapping_add(1),
            view_tick: previous.view_tick.wrapping_add(view_step),
            data: previous.data.clone(),
        }
    }

    /// Whether `input` is `previous` held one more tick with this view step.
    pub fn is_held(previous: &InputFrame, input: &InputFrame, view_step: u32) -> bool {
        input.seq == previous.seq.wrapping_add(1)
            && input.view_tick == previous.view_tick.wrapping_add(view_step)
            && input.data == previous.data
    }

    /// The input this delta makes of `previous`.
    pub fn apply(&self, previous: &InputFrame) -> InputFrame {
        InputFrame {
            seq: self.seq.unwrap_or(previous.seq.wrapping_add(1)),
            view_tick: self.view_tick.unwrap_or(previous.view_tick.wrapping_add(1)),
            data: self.data.clone().unwrap_or_else(|| previous.data.clone()),
        }
    }
}

/// A state digest as stored.
///
/// The whole-state hash verifies; the per-entity part only names the entities that differ
/// once it fails, so it is listed only at some checksums (see [`ENTITY_LISTING_EVERY`]) and
/// stored compactly. A changed entity escapes a listing with probability 2^-16; the
/// divergence itself never escapes the whole-state hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// The tick.
    pub tick: u64,
    /// Whole-state hash (see `sim::checksum`).
    pub hash: u64,
    /// The per-entity hashes, at listing checksums only.
    pub listing: Option<EntityListing>,
}

/// Per-entity hashes: ids as gaps from the previous id (one byte for consecutive ids) and each
/// entity's hash folded to 16 bits (two bytes, little-endian).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityListing {
    /// Entity ids in increasing order, each as the gap from the previous one (from 0).
    pub id_gaps: Vec<u32>,
    /// The entities' folded 16-bit hashes, two bytes each, in the same order.
    pub entity_hashes: Vec<u8>,
}

impl Checksum {
    /// Stores a digest; with `list`, with its per-entity hashes.
    pub fn from_digest(digest: &crate::sim::checksum::StateDigest, list: bool) -> Self {
        let listing = list.then(|| {
            let mut previous = 0;
            let mut id_gaps = Vec::with_capacity(digest.entities.len());
            let mut entity_hashes = Vec::with_capacity(digest.entities.len() * 2);
            for &(id, hash) in &digest.entities {
                id_gaps.push(id.wrapping_sub(previous));
                previous = id;
                entity_hashes.extend_from_slice(&fold16(hash).to_le_bytes());
            }
            EntityListing { id_gaps, entity_hashes }
        });
        Checksum { tick: digest.tick, hash: digest.hash, listing }
    }

    /// Whether a checksum at `tick` lists the entities, with checksums every `interval` ticks.
    pub fn lists_at(tick: u64, interval: u64) -> bool {
        tick.is_multiple_of(interval.max(1).saturating_mul(ENTITY_LISTING_EVERY))
    }

    /// `(net id, folded hash)` of every entity, in increasing id, if this checksum lists them.
    pub fn entities(&self) -> Option<Vec<(u32, u16)>> {
        let listing = self.listing.as_ref()?;
        let ids = listing.id_gaps.iter().scan(0u32, |id, gap| {
            *id = id.wrapping_add(*gap);
            Some(*id)
        });
        let hashes = listing.entity_hashes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        Some(ids.zip(hashes).collect())
    }
}

/// Folds a 32-bit entity hash to the 16 bits a recording keeps.
pub fn fold16(hash: u32) -> u16 {
    (hash ^ (hash >> 16)) as u16
}

/// FNV-1a 64 of the map's protocol encoding.
pub fn map_hash(map: &MapData) -> u64 {
    crate::sim::checksum::fnv1a64(&shared::codec::encode(map).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_deltas_round_trip_and_are_small_for_held_keys() {
        let frame = |seq, view_tick, data: &[u8]| InputFrame { seq, view_tick, data: data.to_vec() };
        let a = frame(7, 90, &[1, 2, 3]);
        let b = frame(8, 91, &[1, 2, 3]);
        let held = InputDelta::between(&a, &b);
        assert_eq!(held, InputDelta { seq: None, view_tick: None, data: None });
        assert_eq!(held.apply(&a), b);
        assert_eq!(shared::codec::encode(&held).expect("encodes").len(), 3, "three None tags");
        let c = frame(20, 0, &[]);
        let delta = InputDelta::between(&b, &c);
        assert_eq!(delta.apply(&b), c);
        assert!(InputDelta::is_held(&a, &b, 1) && InputDelta::held(&a, 1) == b);
        let frozen = frame(8, 90, &[1, 2, 3]);
        assert!(InputDelta::is_held(&a, &frozen, 0) && !InputDelta::is_held(&a, &frozen, 1));
        assert!(!InputDelta::is_held(&b, &frame(9, 92, &[1, 2, 4]), 1), "other game bytes");
        assert!(!InputDelta::is_held(&a, &frame(9, 91, &[1, 2, 3]), 1), "two inputs merged: seq jumps");
    }
}
