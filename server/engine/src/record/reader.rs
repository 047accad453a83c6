//! Opening recordings. Every way a file can be bad has its own error with a clear message;
//! nothing in a file can make the reader panic or allocate without bound.
//!
//! Recordings come from strangers (bug reports), so a file is held to what a server writes:
//! the header to the command line's bounds and its map to a map file's checks, a game that
//! spawns more than [`UNBACKED_SPAWNS`] entities at start backed by the first checksum's
//! listing ([`Recording::check_backed`], which the replay calls once the game has read its
//! settings), held runs kept as runs (at most a
//! second long, one input per player and tick, only for players who joined, at most the player
//! limit), chunks at most a checksum interval apart, and what it decodes to within a budget
//! ([`DECODE_FLOOR_BYTES`] plus [`DECODE_BYTES_PER_FILE_BYTE`] per byte). What follows the last
//! complete chunk (a chunk cut short, a crash's zeros, garbage) ends the file
//! ([`Ending::Cut`]); damage followed by an intact chunk is corruption and is refused.

use std::collections::BTreeMap;
use std::path::Path;

use shared::InputFrame;

use crate::bridge::ClientId;
use crate::limits;
use crate::sim::journal::JournalEntry;

use super::chunk::{ReadChunk, read_chunk};
use super::format::{
    Checksum, Chunk, Event, FORMAT_VERSION, Header, InputDelta, MAGIC, MAX_CHUNK_BYTES, OLDEST_FORMAT_VERSION, map_hash,
};

/// Why a file could not be opened as a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not start with the recording magic.
    #[error("{path} is not a recording (it does not start with \"ARENAREC\")")]
    NotARecording {
        /// The file.
        path: String,
    },
    /// Another version of the file layout.
    #[error(
        "{path} is a recording in format version {found}; this build reads format version {supported}{older}",
        older = if super::format::OLDEST_FORMAT_VERSION < *supported {
            format!(" (and back to {})", super::format::OLDEST_FORMAT_VERSION)
        } else {
            " only (older files come from a server whose simulation this one cannot replay)".to_owned()
        }
    )]
    UnsupportedFormat {
        /// The file.
        path: String,
        /// The file's version.
        found: u16,
        /// Ours.
        supported: u16,
    },
    /// Damaged content.
    #[error("{path} is corrupted: chunk {index} at byte {offset}: {why}")]
    Corrupted {
        /// The file.
        path: String,
        /// Which chunk (0 is the header).
        index: usize,
        /// Its byte offset.
        offset: usize,
        /// What is wrong.
        why: String,
    },
    /// The header's settings are outside what the command line allows, or its map is invalid.
    #[error("{path} cannot be replayed: its header is invalid: {why}")]
    BadHeader {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Decoding would take more memory than the decode budget allows.
    #[error(
        "{path} cannot be replayed: by byte {offset} it decodes to more than {} MiB, more than a recording of its \
         size ever takes (a crafted file?)", budget >> 20
    )]
    TooLarge {
        /// The file.
        path: String,
        /// The budget, bytes.
        budget: usize,
        /// Where it was exceeded.
        offset: usize,
    },
    /// The file ends before its header is complete.
    #[error("{path} is truncated: it ends before its header is complete ({len} bytes)")]
    NoHeader {
        /// The file.
        path: String,
        /// Its length.
        len: usize,
    },
}

/// How a recording ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// With an end marker: the server stopped cleanly after `last_tick`.
    Finished {
        /// The last tick.
        last_tick: u64,
    },
    /// Without one: the writer was stopped abruptly (a crash, `kill -9`, a full disk).
    /// Everything up to the last complete chunk is here; `last_tick` is the last tick it covers.
    Cut {
        /// Last tick known from complete chunks.
        last_tick: u64,
        /// Where the good data ends: the byte offset just past the last complete chunk.
        good_bytes: usize,
        /// Bytes after it that are not a complete chunk.
        trailing_bytes: usize,
        /// Why those bytes are not a chunk, when they are not simply the start of one cut short
        /// (the zeros or garbage a crash can leave at the end of a file).
        damage: Option<String>,
    },
}

impl Ending {
    /// The last tick the recording covers.
    pub fn last_tick(&self) -> u64 {
        match self {
            Ending::Finished { last_tick } | Ending::Cut { last_tick, .. } => *last_tick,
        }
    }
}

/// A run of held inputs (`format::Event::Held`), kept as a run: it expands one input at a time
/// as a replay reaches its ticks, so that a few bytes of file never become megabytes of memory.
/// Its game bytes are kept once, in [`Recording::held_inputs`], for every run that repeats
/// them (a client's runs, one after another, hold the same key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldRun {
    /// The client.
    pub client: ClientId,
    /// The sequence number of the input applied at the run's first tick.
    pub seq: u32,
    /// Its view tick.
    pub view_tick: u32,
    /// Consecutive ticks, at least 1.
    pub ticks: u32,
    /// How much the view tick advances per tick.
    pub view_step: u32,
    /// Its game bytes: an index into [`Recording::held_inputs`].
    pub data: u32,
}

impl HeldRun {
    /// The input applied `offset` ticks after the run's first (`offset < ticks`), its game
    /// bytes taken from `inputs`.
    pub fn input_at(&self, offset: u32, inputs: &[Box<[u8]>]) -> InputFrame {
        InputFrame {
            seq: self.seq.wrapping_add(offset),
            view_tick: self.view_tick.wrapping_add(offset.wrapping_mul(self.view_step)),
            data: inputs.get(self.data as usize).map(|d| d.to_vec()).unwrap_or_default(),
        }
    }
}

/// Memory a recording may take once read, beyond the file itself: this floor plus
/// [`DECODE_BYTES_PER_FILE_BYTE`] per byte of file. Recordings the server writes take at most
/// about 10 per byte (one input a tick changing one field; held runs stay runs; the fixtures,
/// checked in `tests/recordings.rs`, take 8 and less); a crafted file that would take more is
/// refused, so a file of 4 MB never costs more than about 75 MB, beyond the file itself.
pub const DECODE_FLOOR_BYTES: usize = 8 << 20;
/// See [`DECODE_FLOOR_BYTES`].
pub const DECODE_BYTES_PER_FILE_BYTE: usize = 16;
/// Entities a game's settings may spawn at start without the file backing them. Beyond, the
/// first checksum must list at least as many entities (about 3 bytes each in the file): a
/// simulation costs a few hundred bytes per entity, so a replay's memory stays proportional to
/// the size of its file.
pub const UNBACKED_SPAWNS: u64 = 10_000;

/// A whole recording in memory. [`Recording::entries_at`] gives a tick's journal as the
/// simulation wrote it: its entries in journal order, except that its inputs (always last) are
/// in client order; two recordings that say the same have the same [`Recording::journal`],
/// however their chunks and runs were cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Settings and map.
    pub header: Header,
    /// Events by tick, as the simulation journaled them, except the inputs of held runs: joins,
    /// leaves, chat, and the inputs written one by one (decoded from their deltas).
    pub ticks: BTreeMap<u64, Vec<JournalEntry>>,
    /// Held runs by their first tick, in client order.
    pub held: BTreeMap<u64, Vec<HeldRun>>,
    /// The game bytes of the held runs (each distinct run of repeats kept once).
    pub held_inputs: Vec<Box<[u8]>>,
    /// Digests by tick.
    pub checksums: BTreeMap<u64, Checksum>,
    /// How it ends.
    pub ending: Ending,
    /// Roughly the bytes the decoded recording holds (checked against the decode budget).
    pub decoded_bytes: usize,
}

impl Recording {
    /// Whether the file backs the `spawns` entities its game's settings make at start: beyond
    /// [`UNBACKED_SPAWNS`], its first checksum must list at least as many (building them is a
    /// replay's largest allocation).
    pub fn check_backed(&self, spawns: u64) -> Result<(), String> {
        if spawns <= UNBACKED_SPAWNS {
            return Ok(());
        }
        let listed = self.checksums.values().next().and_then(|c| c.listing.as_ref());
        let listed = listed.map_or(0, |l| l.id_gaps.len().min(l.entity_hashes.len() / 2));
        if (listed as u64) < spawns {
            return Err(format!(
                "its game spawns {spawns} entities at start, but its first checksum lists {listed}; beyond \
                 {UNBACKED_SPAWNS} a recording must list them (a recording cut before its first checksum cannot be \
                 replayed)"
            ));
        }
        Ok(())
    }

    /// Reads and checks a recording file.
    pub fn open(path: &Path) -> Result<Recording, RecordingError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RecordingError::Io { path: shown.clone(), source })?;
        Self::parse(&bytes, &shown)
    }

    /// The journal of `tick`: its recorded entries, then every input applied at it (written
    /// one by one or part of a held run) in client order.
    pub fn entries_at(&self, tick: u64) -> Vec<JournalEntry> {
        let longest = u64::from(self.header.tick_rate.max(1));
        let mut out: Vec<JournalEntry> = self.ticks.get(&tick).cloned().unwrap_or_default();
        let before = out.len();
        for (start, runs) in self.held.range(tick.saturating_sub(longest - 1)..=tick) {
            for run in runs.iter().filter(|run| start + u64::from(run.ticks) > tick) {
                let frame = run.input_at((tick - start) as u32, &self.held_inputs);
                out.push(JournalEntry::Input { client: run.client, frame });
            }
        }
        if out.len() > before {
            sort_inputs_last(&mut out);
        }
        out
    }

    /// Every tick's journal ([`Recording::entries_at`]) up to the last tick, ticks without
    /// entries left out (for tests and tools; a replay takes one tick at a time).
    pub fn journal(&self) -> BTreeMap<u64, Vec<JournalEntry>> {
        let last = self.ending.last_tick();
        let held_ticks = self
            .held
            .iter()
            .flat_map(|(start, runs)| runs.iter().flat_map(move |run| *start..start + u64::from(run.ticks)));
        let ticks: std::collections::BTreeSet<u64> = self.ticks.keys().copied().chain(held_ticks).collect();
        ticks.into_iter().filter(|t| *t <= last).map(|t| (t, self.entries_at(t))).collect()
    }

    /// Parses a recording from bytes; `path` is only for messages.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Recording, RecordingError> {
        let path = path.to_owned();
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(RecordingError::NotARecording { path });
        }
        let Some(version) = bytes.get(8..10) else {
            return Err(RecordingError::NoHeader { path, len: bytes.len() });
        };
        let found = u16::from_le_bytes([version[0], version[1]]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&found) {
            return Err(RecordingError::UnsupportedFormat { path, found, supported: FORMAT_VERSION });
        }
        let corrupt = |index: usize, offset: usize, why: String| RecordingError::Corrupted {
            path: path.clone(),
            index,
            offset,
            why,
        };
        let budget = DECODE_FLOOR_BYTES.saturating_add(DECODE_BYTES_PER_FILE_BYTE.saturating_mul(bytes.len()));
        let mut state = Decoded::default();
        let mut offset = 10;
        let mut index = 0;
        let mut header: Option<Header> = None;
        let mut checksums = BTreeMap::new();
        let mut last_tick = 0u64;
        let ending = loop {
            let rest = &bytes[offset..];
            let cut = |last_tick: u64, covered: u64, damage: Option<String>| Ending::Cut {
                last_tick: last_tick.max(covered),
                good_bytes: offset,
                trailing_bytes: rest.len(),
                damage,
            };
            let (chunk, used) = match read_chunk(rest) {
                ReadChunk::Chunk(chunk, used) => (*chunk, used),
                ReadChunk::Eof | ReadChunk::Truncated => break cut(last_tick, state.covered, None),
                // Damage with an intact chunk after it is corruption in the middle of the file;
                // with nothing intact after it, it is a damaged tail (a crash leaves zeros or
                // garbage at the end of a file), and the file replays up to it.
                ReadChunk::Corrupt(why) if header.is_some() && !intact_chunk_after(rest) => {
                    break cut(last_tick, state.covered, Some(why));
                }
                ReadChunk::Corrupt(why) => return Err(corrupt(index, offset, why)),
            };
            match (chunk, &header) {
                (Chunk::Header(h), None) => {
                    check_header(&h).map_err(|why| RecordingError::BadHeader { path: path.clone(), why })?;
                    header = Some(h);
                }
                (Chunk::Header(_), Some(_)) => return Err(corrupt(index, offset, "a second header".into())),
                (_, None) => return Err(corrupt(index, offset, "the first chunk is not a header".into())),
                (Chunk::Ticks(records), Some(h)) => {
                    let longest = u32::from(h.tick_rate.max(1));
                    for record in records {
                        if record.tick <= last_tick {
                            return Err(corrupt(index, offset, format!("tick {} is out of order", record.tick)));
                        }
                        check_gap(last_tick, record.tick, h).map_err(|why| corrupt(index, offset, why))?;
                        last_tick = record.tick;
                        for event in record.events {
                            state.event(record.tick, event, longest, h).map_err(|why| corrupt(index, offset, why))?;
                        }
                        // A tick's entries all come in its one record: no slack kept.
                        if let Some(entries) = state.ticks.get_mut(&record.tick) {
                            entries.shrink_to_fit();
                        }
                    }
                }
                (Chunk::Checksum(checksum), Some(h)) => {
                    check_gap(last_tick, checksum.tick, h).map_err(|why| corrupt(index, offset, why))?;
                    last_tick = last_tick.max(checksum.tick);
                    state.bytes += CHECKSUM_BYTES
                        + checksum.listing.as_ref().map_or(0, |l| l.id_gaps.len() * 4 + l.entity_hashes.len());
                    checksums.insert(checksum.tick, checksum);
                }
                (Chunk::End { last_tick: end }, Some(h)) => {
                    check_gap(last_tick.max(state.covered), end, h).map_err(|why| corrupt(index, offset, why))?;
                    if end < last_tick.max(state.covered) {
                        let last = last_tick.max(state.covered);
                        return Err(corrupt(index, offset, format!("ends at tick {end}, before tick {last}")));
                    }
                    let after = offset + used;
                    if after != bytes.len() {
                        return Err(corrupt(index + 1, after, "bytes after the end marker".into()));
                    }
                    break Ending::Finished { last_tick: end };
                }
            }
            if state.bytes > budget {
                return Err(RecordingError::TooLarge { path, budget, offset });
            }
            offset += used;
            index += 1;
        };
        let header = header.ok_or(RecordingError::NoHeader { path: path.clone(), len: bytes.len() })?;
        let Decoded { mut ticks, held, held_inputs, bytes: decoded_bytes, .. } = state;
        for entries in ticks.values_mut() {
            sort_inputs_last(&mut entries[..]);
        }
        Ok(Recording { header, ticks, held, held_inputs, checksums, ending, decoded_bytes })
    }
}

/// Rough bytes of one tick's slot in a map (key, vector, the tree's share).
const TICK_BYTES: usize = 64;
/// Rough bytes of one digest in the map, without its listing.
const CHECKSUM_BYTES: usize = 96;

/// What the chunks decoded to so far.
#[derive(Debug, Default)]
struct Decoded {
    ticks: BTreeMap<u64, Vec<JournalEntry>>,
    held: BTreeMap<u64, Vec<HeldRun>>,
    held_inputs: Vec<Box<[u8]>>,
    /// Each client's last applied input, and the index of its game bytes in `held_inputs`
    /// once a held run has repeated them.
    previous: BTreeMap<u32, (InputFrame, Option<u32>)>,
    /// The players in the game, each with the last tick an input of theirs covers.
    joined: BTreeMap<u32, u64>,
    /// The last tick a held run covers (it may be beyond the last tick with events).
    covered: u64,
    /// Roughly the bytes all this holds.
    bytes: usize,
}

impl Decoded {
    /// Decodes one event at `tick`. A held run longer than `longest` ticks (the writer cuts them
    /// at every batch, so at most a second) is refused.
    fn event(&mut self, tick: u64, event: Event, longest: u32, h: &Header) -> Result<(), String> {
        let entry = match event {
            Event::Join { client, name } => {
                if self.joined.contains_key(&client) {
                    return Err(format!("client {client} joins at tick {tick} while in the game"));
                }
                if self.joined.len() >= usize::from(h.max_players) {
                    return Err(format!("a join at tick {tick} beyond the limit of {} players", h.max_players));
                }
                self.joined.insert(client, 0);
                self.previous.remove(&client);
                self.bytes += name.len();
                JournalEntry::Join { client: ClientId(client), name }
            }
            Event::Leave { client } => {
                if self.joined.remove(&client).is_none() {
                    return Err(format!("client {client} leaves at tick {tick} without having joined"));
                }
                self.previous.remove(&client);
                JournalEntry::Leave { client: ClientId(client) }
            }
            Event::Input { client, delta } => {
                self.take_ticks(client, tick, tick)?;
                let empty = (InputFrame::default(), None);
                let (before, interned) = self.previous.get(&client).unwrap_or(&empty);
                let frame = delta.apply(before);
                let interned = if frame.data == before.data { *interned } else { None };
                self.bytes += frame.data.len();
                self.remember(client, frame.clone(), interned);
                JournalEntry::Input { client: ClientId(client), frame }
            }
            Event::Held { client, ticks: run, view_step } => {
                let end = tick.checked_add(u64::from(run));
                let Some(end) = end.filter(|_| (1..=longest).contains(&run)) else {
                    return Err(format!("a held run of {run} ticks at tick {tick} (1 to {longest} allowed)"));
                };
                self.take_ticks(client, tick, end - 1)?;
                let (before, interned) = self.previous.get(&client).cloned().unwrap_or_default();
                let first = InputDelta::held(&before, view_step);
                let data = match interned {
                    Some(index) => index,
                    None => {
                        self.bytes += first.data.len() + std::mem::size_of::<Box<[u8]>>();
                        self.held_inputs.push(first.data.as_slice().into());
                        u32::try_from(self.held_inputs.len() - 1).map_err(|_| "too many held runs".to_owned())?
                    }
                };
                let held = HeldRun {
                    client: ClientId(client),
                    seq: first.seq,
                    view_tick: first.view_tick,
                    ticks: run,
                    view_step,
                    data,
                };
                let last = InputFrame { data: first.data, ..held.input_at(run - 1, &[]) };
                self.remember(client, last, Some(data));
                if !self.held.contains_key(&tick) {
                    self.bytes += TICK_BYTES;
                }
                let runs = self.held.entry(tick).or_default();
                if runs.iter().any(|r| r.client == held.client) {
                    return Err(format!("two held runs of client {client} at tick {tick}"));
                }
                runs.push(held);
                runs.sort_by_key(|r| r.client.0);
                self.bytes += std::mem::size_of::<HeldRun>();
                self.covered = self.covered.max(end - 1);
                return Ok(());
            }
            Event::Chat { client, name, text } => {
                self.bytes += name.len() + text.len();
                JournalEntry::Chat { client: ClientId(client), name, text }
            }
        };
        if !self.ticks.contains_key(&tick) {
            self.bytes += TICK_BYTES;
        }
        self.bytes += std::mem::size_of::<JournalEntry>();
        self.ticks.entry(tick).or_default().push(entry);
        self.covered = self.covered.max(tick);
        Ok(())
    }

    /// Claims ticks `from..=to` for inputs of `client`: a playing client, one input per tick.
    fn take_ticks(&mut self, client: u32, from: u64, to: u64) -> Result<(), String> {
        let Some(busy) = self.joined.get_mut(&client) else {
            return Err(format!("an input of client {client} at tick {from}, which is not in the game"));
        };
        if *busy >= from {
            return Err(format!("a second input of client {client} at tick {from}"));
        }
        *busy = to;
        Ok(())
    }

    fn remember(&mut self, client: u32, input: InputFrame, interned: Option<u32>) {
        if self.previous.insert(client, (input, interned)).is_none() {
            self.bytes += TICK_BYTES;
        }
    }
}

/// The writer puts a checksum every `checksum_interval` ticks, so no chunk is further than that
/// from the one before: a file cannot make a replay step through ticks it does not pay for.
fn check_gap(before: u64, tick: u64, h: &Header) -> Result<(), String> {
    if tick > before.saturating_add(u64::from(h.checksum_interval)) {
        return Err(format!(
            "tick {tick} follows tick {before}, more than the checksum interval ({}) later",
            h.checksum_interval
        ));
    }
    Ok(())
}

/// Puts a tick's inputs last, in client order, the other entries keeping their order.
fn sort_inputs_last(entries: &mut [JournalEntry]) {
    entries.sort_by_key(|entry| match entry {
        JournalEntry::Input { client, .. } => (1, client.0),
        _ => (0, 0),
    });
}

/// Whether the bytes after the damaged chunk at the start of `rest`, where its length field says
/// it ends, start an intact chunk.
fn intact_chunk_after(rest: &[u8]) -> bool {
    let Some(len) = rest.get(..4) else { return false };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    if len == 0 || len > MAX_CHUNK_BYTES {
        return false;
    }
    let next = 8 + len as usize;
    rest.get(next..).is_some_and(|after| matches!(read_chunk(after), ReadChunk::Chunk(..)))
}

/// Holds a header to the bounds the command line sets ([`crate::limits`]) and its map to the
/// checks a map file gets.
fn check_header(h: &Header) -> Result<(), String> {
    let rate = 1..=limits::MAX_TICK_RATE;
    if !rate.contains(&h.tick_rate) {
        return Err(format!("tick rate {} is outside 1 to {}", h.tick_rate, limits::MAX_TICK_RATE));
    }
    if !(1..=h.tick_rate).contains(&h.snapshot_rate) {
        return Err(format!("snapshot rate {} is outside 1 to the tick rate ({})", h.snapshot_rate, h.tick_rate));
    }
    if h.max_players == 0 {
        return Err("a player limit of 0".into());
    }
    if !(1..=limits::MAX_CHECKSUM_INTERVAL).contains(&h.checksum_interval) {
        return Err(format!(
            "a checksum interval of {} ticks is outside 1 to {}",
            h.checksum_interval,
            limits::MAX_CHECKSUM_INTERVAL
        ));
    }
    h.map.validate().map_err(|why| format!("its map is invalid: {why}"))?;
    if map_hash(&h.map) != h.map_hash {
        return Err("the map does not match its hash".into());
    }
    Ok(())
}
