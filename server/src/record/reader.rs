//! Opening recordings. Every way a file can be bad has its own error with a clear message;
//! nothing in a file can make the reader panic or allocate without bound.

use std::collections::BTreeMap;
use std::path::Path;

use shared::Input;

use crate::bridge::ClientId;
use crate::sim::journal::JournalEntry;

use super::chunk::{ReadChunk, read_chunk};
use super::format::{
    Checksum, Chunk, Event, FORMAT_VERSION, Header, InputDelta, MAGIC, OLDEST_FORMAT_VERSION, map_hash,
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
    /// Without one: the writer was stopped abruptly. Everything up to the last complete chunk
    /// is here; `last_tick` is the last tick it covers.
    Cut {
        /// Last tick known from complete chunks.
        last_tick: u64,
        /// Bytes of an incomplete chunk after the last complete one.
        trailing_bytes: usize,
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

/// A whole recording in memory, inputs decoded from their deltas and held runs. Two
/// recordings are equal when they say the same, however their chunks and runs were cut: each
/// tick's entries are in journal order, except that its inputs (always last) are in client
/// order, since a held run places its inputs before the later chunks are read.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Settings and map.
    pub header: Header,
    /// Events by tick, as the simulation journaled them: every applied input, decoded from its
    /// delta or held run.
    pub ticks: BTreeMap<u64, Vec<JournalEntry>>,
    /// Digests by tick.
    pub checksums: BTreeMap<u64, Checksum>,
    /// How it ends.
    pub ending: Ending,
}

impl Recording {
    /// Reads and checks a recording file.
    pub fn open(path: &Path) -> Result<Recording, RecordingError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RecordingError::Io { path: shown.clone(), source })?;
        Self::parse(&bytes, &shown)
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
        let mut offset = 10;
        let mut index = 0;
        let mut header = None;
        let mut ticks: BTreeMap<u64, Vec<JournalEntry>> = BTreeMap::new();
        let mut checksums = BTreeMap::new();
        let mut previous: BTreeMap<u32, Input> = BTreeMap::new();
        let mut last_tick = 0u64;
        // The last tick a held run covers; it may be beyond `last_tick`.
        let mut covered = 0u64;
        let ending = loop {
            let rest = &bytes[offset..];
            let (chunk, used) = match read_chunk(rest) {
                ReadChunk::Chunk(chunk, used) => (*chunk, used),
                ReadChunk::Eof => break Ending::Cut { last_tick: last_tick.max(covered), trailing_bytes: 0 },
                ReadChunk::Truncated => {
                    break Ending::Cut { last_tick: last_tick.max(covered), trailing_bytes: rest.len() };
                }
                ReadChunk::Corrupt(why) => return Err(corrupt(index, offset, why)),
            };
            match (chunk, header.is_some()) {
                (Chunk::Header(h), false) => {
                    if map_hash(&h.map) != h.map_hash {
                        return Err(corrupt(index, offset, "the map does not match its hash".into()));
                    }
                    header = Some(h);
                }
                (Chunk::Header(_), true) => return Err(corrupt(index, offset, "a second header".into())),
                (_, false) => return Err(corrupt(index, offset, "the first chunk is not a header".into())),
                (Chunk::Ticks(records), true) => {
                    for record in records {
                        if record.tick <= last_tick {
                            return Err(corrupt(index, offset, format!("tick {} is out of order", record.tick)));
                        }
                        last_tick = record.tick;
                        let longest = u32::from(header.as_ref().map_or(1, |h: &Header| h.tick_rate.max(1)));
                        for event in record.events {
                            let end = decode_event(record.tick, event, &mut previous, &mut ticks, longest)
                                .map_err(|why| corrupt(index, offset, why))?;
                            covered = covered.max(end);
                        }
                    }
                }
                (Chunk::Checksum(checksum), true) => {
                    last_tick = last_tick.max(checksum.tick);
                    checksums.insert(checksum.tick, checksum);
                }
                (Chunk::End { last_tick: end }, true) => {
                    if end < last_tick.max(covered) {
                        let last = last_tick.max(covered);
                        return Err(corrupt(index, offset, format!("ends at tick {end}, before tick {last}")));
                    }
                    let after = offset + used;
                    if after != bytes.len() {
                        return Err(corrupt(index + 1, after, "bytes after the end marker".into()));
                    }
                    break Ending::Finished { last_tick: end };
                }
            }
            offset += used;
            index += 1;
        };
        let header = header.ok_or(RecordingError::NoHeader { path: path.clone(), len: bytes.len() })?;
        for entries in ticks.values_mut() {
            entries.sort_by_key(|entry| match entry {
                JournalEntry::Input { client, .. } => (1, client.0),
                _ => (0, 0),
            });
        }
        Ok(Recording { header, ticks, checksums, ending })
    }
}

/// Decodes one event at `tick` into `ticks`; returns the last tick it covers. A held run
/// longer than `longest` ticks (the writer cuts them at every batch, so at most a second) is
/// refused, so no file can make the reader allocate without bound.
fn decode_event(
    tick: u64,
    event: Event,
    previous: &mut BTreeMap<u32, Input>,
    ticks: &mut BTreeMap<u64, Vec<JournalEntry>>,
    longest: u32,
) -> Result<u64, String> {
    let entry = match event {
        Event::Join { client, name } => {
            previous.remove(&client);
            JournalEntry::Join { client: ClientId(client), name }
        }
        Event::Leave { client } => {
            previous.remove(&client);
            JournalEntry::Leave { client: ClientId(client) }
        }
        Event::Input { client, delta } => {
            let input = delta.apply(&previous.get(&client).copied().unwrap_or_default());
            previous.insert(client, input);
            JournalEntry::Input { client: ClientId(client), input }
        }
        Event::Held { client, ticks: run, view_step } => {
            let end = tick.checked_add(u64::from(run));
            let Some(end) = end.filter(|_| (1..=longest).contains(&run)) else {
                return Err(format!("a held run of {run} ticks at tick {tick} (1 to {longest} allowed)"));
            };
            let mut input = previous.get(&client).copied().unwrap_or_default();
            for at in tick..end {
                input = InputDelta::held(&input, view_step);
                ticks.entry(at).or_default().push(JournalEntry::Input { client: ClientId(client), input });
            }
            previous.insert(client, input);
            return Ok(end - 1);
        }
        Event::Chat { client, name, text } => JournalEntry::Chat { client: ClientId(client), name, text },
    };
    ticks.entry(tick).or_default().push(entry);
    Ok(tick)
}
