//! Writing recordings. The simulation thread calls [`Recorder::after_step`], which only sends
//! messages over a channel; the writer thread encodes and writes them, flushing at least once a
//! second. A slow disk delays the file, never a tick.
//!
//! The channel is bounded ([`QUEUE_SECONDS`] of play). If the writer falls that far behind,
//! the recorder stops recording: it logs an error, puts a stop notice in the slot it kept
//! free, and sends nothing more; the writer ends the file with an end marker at the last tick
//! it got, so the file is a complete, verifiable recording of the match up to there. Memory
//! stays bounded and the tick never blocks.
//!
//! Tick batches are cut at every simulated second (so the same run gives the same chunks),
//! and also whenever a wall-clock second passes first (so a slow simulation still reaches the
//! disk every second).
//!
//! Durability: the writer calls `sync_data` at most every `sync_every` (1 s by default), and
//! syncs the directory once the file is created, so a crash of the machine loses at most that
//! much. A write, flush or sync error (a full disk, an I/O error) stops the recording at once:
//! the thread logs the path and the OS error, drops whatever it had not written, and ends; the
//! recorder sees the channel closed at the next tick and reports itself stopped
//! (`arena_recording_stopped`). The file keeps every chunk written whole and replays up to the
//! last one (`server replay` exits 3: cut short, verified). The game goes on unrecorded.
//!
//! The writer thread also compresses inputs (see `record::format`): it keeps each client's
//! last applied input, writes an input that says something new as a delta, and gathers held
//! inputs into runs ([`Event::Held`]) that it closes when the client's next tick breaks them
//! and, at the latest, when the batch is written, so a run never spans two batches.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use shared::InputFrame;

use super::chunk::write_chunk;
use super::format::{
    CHECKSUM_VARIANT, Checksum, Chunk, Event, FORMAT_VERSION, Header, InputDelta, MAGIC, MAX_CHUNK_BYTES,
    TICKS_VARIANT, TickRecord, map_hash,
};
use crate::bridge::ClientId;
use crate::sim::journal::JournalEntry;
use crate::sim::{SIM_VERSION, Simulation};

/// Longest time recorded events wait in memory before they are written and flushed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Seconds of play the writer may fall behind before recording stops.
pub const QUEUE_SECONDS: usize = 30;
/// Default time between two `sync_data` calls (`--record-sync-interval`).
pub const DEFAULT_SYNC_EVERY: Duration = Duration::from_secs(1);
/// A tick batch is written once its events take about this many bytes, before its second is
/// up, so no batch comes near what a reader accepts (`format::MAX_TICKS_CHUNK_BYTES`).
pub const BATCH_BYTES: usize = 256 * 1024;

/// Where the writer thread writes: a file, or in tests one that fails on purpose.
pub trait RecordFile: Write + Send + Sized + 'static {
    /// Makes the data written so far durable (`File::sync_data`).
    fn sync_data(&self) -> io::Result<()>;

    /// Creates the file for the next part of a recording at `path` (see [`WriterOptions::max_bytes`]).
    fn create_part(path: &Path) -> io::Result<Self> {
        Err(io::Error::new(io::ErrorKind::Unsupported, format!("cannot create {}", path.display())))
    }
}

impl RecordFile for File {
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn create_part(path: &Path) -> io::Result<Self> {
        create_synced(path)
    }
}

/// Creates `path` (never overwriting) and syncs its directory, so that the new name survives a
/// crash of the machine.
fn create_synced(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Default size at which a recording goes on in a new file (`--record-max-bytes`).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// The name of part `part` (2 and up) of the recording whose first file is `first`:
/// `match-…-seed1.rec` goes on in `match-…-seed1.part2.rec`, `….part3.rec`, …
pub fn part_path(first: &Path, part: u32) -> PathBuf {
    let stem = first.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    first.with_file_name(format!("{stem}.part{part}.rec"))
}

/// How the writer thread writes.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Messages the channel holds; [`WriterOptions::for_tick_rate`] gives [`QUEUE_SECONDS`].
    pub capacity: usize,
    /// Time between two `sync_data` calls; zero syncs at every flush.
    pub sync_every: Duration,
    /// Once a file holds this many bytes, it is finished (with its end marker) and the
    /// recording goes on in the next part ([`part_path`]). A part replays on its own: it
    /// starts with the events of every earlier part and their whole-state checksums (without
    /// the per-entity listings, except tick 0's), then its own ticks, so the replay runs the
    /// match from tick 0, verifying as it goes. If those events alone reach half of this, the
    /// recording stops instead (logged at error, `arena_recording_stopped`).
    pub max_bytes: u64,
}

impl WriterOptions {
    /// [`QUEUE_SECONDS`] of messages at `tick_rate`, syncing every [`DEFAULT_SYNC_EVERY`], a new
    /// part every [`DEFAULT_MAX_BYTES`].
    pub fn for_tick_rate(tick_rate: u16) -> Self {
        // A tick message per tick, and at most one digest per tick.
        WriterOptions {
            capacity: 2 * QUEUE_SECONDS * usize::from(tick_rate.max(1)),
            sync_every: DEFAULT_SYNC_EVERY,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What the simulation thread sends the writer.
#[derive(Debug)]
pub enum RecordMsg {
    /// The journal of one tick (possibly empty).
    Tick {
        /// The tick.
        tick: u64,
        /// What it consumed.
        entries: Vec<JournalEntry>,
    },
    /// A state digest.
    Checksum(Checksum),
    /// The simulation stopped cleanly after `last_tick`.
    Finish {
        /// The last tick.
        last_tick: u64,
    },
    /// The writer fell too far behind: end the file at the last tick received.
    Stop,
}

/// The header for recording `sim` from now on.
pub fn header_for(sim: &Simulation, checksum_interval: u32, started_unix: u64) -> Header {
    let settings = sim.settings();
    let map = sim.world().resource::<crate::sim::resources::WorldMap>().0.clone();
    Header {
        protocol_version: shared::PROTOCOL_VERSION,
        sim_version: SIM_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix,
        seed: settings.seed,
        tick_rate: settings.tick_rate,
        snapshot_rate: settings.snapshot_rate,
        max_players: settings.max_players,
        game: sim.game().name.to_owned(),
        game_settings: sim.game().settings.clone(),
        checksum_interval,
        map_hash: map_hash(&map),
        map,
    }
}

/// The simulation side of a recording: turns each step into messages for the writer.
pub struct Recorder {
    tx: Sender<RecordMsg>,
    checksum_interval: u64,
    /// Set once the writer fell behind and recording stopped.
    stopped: Cell<bool>,
}

impl Recorder {
    /// Starts journaling `sim` and sends the tick-0 digest (or the current tick's).
    pub fn attach(sim: &mut Simulation, tx: Sender<RecordMsg>, checksum_interval: u32) -> Recorder {
        sim.set_journal(true);
        let recorder =
            Recorder { tx, checksum_interval: u64::from(checksum_interval.max(1)), stopped: Cell::new(false) };
        recorder.send_digest(sim);
        recorder
    }

    /// Call after every step: sends the tick's journal, and a digest when one is due. Never
    /// blocks.
    pub fn after_step(&self, sim: &mut Simulation) {
        let tick = sim.tick();
        let entries = sim.take_journal();
        self.send(RecordMsg::Tick { tick, entries });
        if tick.is_multiple_of(self.checksum_interval) {
            self.send_digest(sim);
        }
    }

    /// Marks the recording complete.
    pub fn finish(self, sim: &Simulation) {
        self.send(RecordMsg::Finish { last_tick: sim.tick() });
    }

    /// Whether recording stopped: the writer fell behind, or failed.
    pub fn stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Messages waiting for the writer thread: its lag (`GET /metrics`).
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    fn send_digest(&self, sim: &mut Simulation) {
        if !self.stopped.get() {
            let list = Checksum::lists_at(sim.tick(), self.checksum_interval);
            self.send(RecordMsg::Checksum(Checksum::from_digest(&sim.digest(), list)));
        }
    }

    /// Sends one message, keeping the channel's last slot for [`RecordMsg::Stop`]; only this
    /// thread sends, so the slot is there when it is needed.
    fn send(&self, message: RecordMsg) {
        if self.stopped.get() {
            return;
        }
        let full = self.tx.capacity().is_some_and(|capacity| self.tx.len() + 1 >= capacity);
        if full {
            self.stopped.set(true);
            tracing::error!(
                queued = self.tx.len(),
                "RECORDING STOPPED: the recording writer fell {QUEUE_SECONDS} s behind (disk too slow or full?); \
                 the file ends at the last tick written and stays valid; the game goes on unrecorded"
            );
            let _ = self.tx.try_send(RecordMsg::Stop);
            return;
        }
        match self.tx.try_send(message) {
            Ok(()) => {}
            // Not reached: the capacity check above runs on the only sending thread.
            Err(TrySendError::Full(_)) => self.stopped.set(true),
            Err(TrySendError::Disconnected(_)) => {
                self.stopped.set(true);
                tracing::error!(
                    "RECORDING STOPPED: the recording writer failed (its error is logged above); the file replays \
                     up to its last complete chunk; the game goes on unrecorded"
                );
            }
        }
    }
}

/// The writer thread.
pub struct Writer {
    handle: JoinHandle<io::Result<PathBuf>>,
    path: PathBuf,
    bytes: Arc<AtomicU64>,
}

impl Writer {
    /// Creates `path` (never overwriting), writes the header, and starts the thread. Returns
    /// the writer and the sender for a [`Recorder`].
    pub fn create(path: &Path, header: &Header) -> io::Result<(Writer, Sender<RecordMsg>)> {
        Self::create_with(path, header, WriterOptions::for_tick_rate(header.tick_rate))
    }

    /// [`Writer::create`] with a channel of `capacity` messages (tests use a small one).
    pub fn create_with_queue(path: &Path, header: &Header, capacity: usize) -> io::Result<(Writer, Sender<RecordMsg>)> {
        Self::create_with(path, header, WriterOptions { capacity, ..WriterOptions::for_tick_rate(header.tick_rate) })
    }

    /// [`Writer::create`] with these options. Syncs the file's directory, so that the new
    /// name survives a crash of the machine.
    pub fn create_with(
        path: &Path,
        header: &Header,
        options: WriterOptions,
    ) -> io::Result<(Writer, Sender<RecordMsg>)> {
        Self::start(create_synced(path)?, path, header, options)
    }

    /// Writes the header to `file` and starts the thread that writes the rest to it; `path`
    /// names it in messages. The seam for tests that hand it a file that fails.
    pub fn start<F: RecordFile>(
        file: F,
        path: &Path,
        header: &Header,
        options: WriterOptions,
    ) -> io::Result<(Writer, Sender<RecordMsg>)> {
        let mut out = BufWriter::new(file);
        let written = start_file(&mut out, header)?;
        let (tx, rx) = bounded(options.capacity.max(2));
        let bytes = Arc::new(AtomicU64::new(written));
        let mut part = Part {
            first: path.to_path_buf(),
            path: path.to_path_buf(),
            number: 1,
            header: header.clone(),
            written,
            earlier: 0,
            bytes: bytes.clone(),
            options,
        };
        let handle = thread::Builder::new().name("recorder".into()).spawn(move || {
            match write_loop(&mut out, &rx, &mut part) {
                Ok(()) => Ok(part.path),
                Err(e) => {
                    // What is still buffered would follow a chunk that may be incomplete; it
                    // goes, and the file ends at its last complete chunk.
                    drop(out.into_parts());
                    let shown = part.path;
                    tracing::error!(
                        path = %shown.display(),
                        error = %e,
                        "RECORDING STOPPED: writing {} failed: {e}; the file replays up to its last complete \
                         chunk; the game goes on unrecorded",
                        shown.display()
                    );
                    Err(io::Error::new(e.kind(), format!("writing {} failed: {e}", shown.display())))
                }
            }
        })?;
        Ok((Writer { handle, path: path.to_path_buf(), bytes }, tx))
    }

    /// Creates a new recording file in `dir`, named `match-TIME-ROOM-seedSEED.rec` from the
    /// start time in UTC, the room's id and the seed.
    pub fn create_in(
        dir: &Path,
        room: &str,
        header: &Header,
        options: WriterOptions,
    ) -> io::Result<(Writer, Sender<RecordMsg>)> {
        std::fs::create_dir_all(dir)?;
        let stamp = utc_stamp(header.started_unix);
        for attempt in 1..100 {
            let suffix = if attempt == 1 { String::new() } else { format!("-{attempt}") };
            let path = dir.join(format!("match-{stamp}-{room}-seed{}{suffix}.rec", header.seed));
            match Self::create_with(&path, header, options) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                other => return other,
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free recording file name"))
    }

    /// The file being written (the first part).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written to disk so far, all parts together (`arena_recording_written_bytes_total`).
    pub fn bytes(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Waits for the writer to finish (after the sender side is finished or dropped).
    pub fn join(self) -> io::Result<PathBuf> {
        self.handle.join().map_err(|_| io::Error::other("recording writer panicked"))?
    }
}

/// `YYYYMMDD-HHMMSS` in UTC (civil-from-days, H. Hinnant).
fn utc_stamp(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Writes the magic, the format version and the header; the bytes written.
fn start_file<F: RecordFile>(out: &mut BufWriter<F>, header: &Header) -> io::Result<u64> {
    out.write_all(&MAGIC)?;
    out.write_all(&FORMAT_VERSION.to_le_bytes())?;
    let header_bytes = write_chunk(out, &Chunk::Header(header.clone()))?;
    out.flush()?;
    out.get_ref().sync_data()?;
    Ok((MAGIC.len() + 2 + header_bytes) as u64)
}

/// The file being written, and what starting the next part takes.
struct Part {
    first: PathBuf,
    path: PathBuf,
    number: u32,
    header: Header,
    /// Bytes written to this part.
    written: u64,
    /// Bytes of the finished parts.
    earlier: u64,
    /// What the metrics read: `earlier + written` as of the last flush.
    bytes: Arc<AtomicU64>,
    options: WriterOptions,
}

/// Whether the recording goes on after [`next_part`].
enum Rolled {
    On,
    Stopped,
}

fn write_loop<F: RecordFile>(out: &mut BufWriter<F>, rx: &Receiver<RecordMsg>, part: &mut Part) -> io::Result<()> {
    let tick_rate = u64::from(part.header.tick_rate.max(1));
    let sync_every = part.options.sync_every;
    let mut batch = Batch::default();
    let mut next_flush = Instant::now() + FLUSH_EVERY;
    let mut next_sync = Instant::now() + sync_every;
    let mut last_tick = 0;
    loop {
        let message = match rx.recv_timeout(next_flush.saturating_duration_since(Instant::now())) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Timeout) => None,
            // The simulation is gone without finishing: keep what we have, no end marker.
            Err(RecvTimeoutError::Disconnected) => {
                batch.flush(out)?;
                out.flush()?;
                return out.get_ref().sync_data();
            }
        };
        let mut second_done = false;
        match message {
            Some(RecordMsg::Tick { tick, entries }) => {
                last_tick = tick;
                batch.add_tick(tick, entries);
                second_done = tick.is_multiple_of(tick_rate) || batch.bytes >= BATCH_BYTES;
            }
            None => {}
            Some(RecordMsg::Checksum(checksum)) => {
                part.written += batch.flush(out)? as u64;
                part.written += write_chunk(out, &Chunk::Checksum(checksum))? as u64;
            }
            Some(RecordMsg::Finish { last_tick }) => {
                batch.flush(out)?;
                write_chunk(out, &Chunk::End { last_tick })?;
                out.flush()?;
                return out.get_ref().sync_data();
            }
            Some(RecordMsg::Stop) => {
                batch.flush(out)?;
                write_chunk(out, &Chunk::End { last_tick })?;
                out.flush()?;
                tracing::error!(last_tick, "recording stopped early; it is complete up to this tick");
                return out.get_ref().sync_data();
            }
        }
        if second_done || Instant::now() >= next_flush {
            part.written += batch.flush(out)? as u64;
            out.flush()?;
            part.bytes.store(part.earlier + part.written, Ordering::Relaxed);
            next_flush = Instant::now() + FLUSH_EVERY;
            if Instant::now() >= next_sync {
                out.get_ref().sync_data()?;
                next_sync = Instant::now() + sync_every;
            }
            if part.written >= part.options.max_bytes {
                // Runs were closed by the flush above; the next part starts clean.
                if let Rolled::Stopped = next_part(out, part, last_tick)? {
                    return Ok(());
                }
            }
        }
    }
}

/// Finishes the current file at `last_tick` and goes on in the next part: its header, then the
/// events and whole-state checksums of every earlier tick, copied from the file just finished.
fn next_part<F: RecordFile>(out: &mut BufWriter<F>, part: &mut Part, last_tick: u64) -> io::Result<Rolled> {
    part.earlier += part.written + write_chunk(out, &Chunk::End { last_tick })? as u64;
    out.flush()?;
    out.get_ref().sync_data()?;
    let path = part_path(&part.first, part.number + 1);
    let mut next = BufWriter::new(F::create_part(&path)?);
    let header = start_file(&mut next, &part.header)?;
    let prefix = copy_history(&part.path, &mut next)?;
    next.flush()?;
    next.get_ref().sync_data()?;
    let finished = std::mem::replace(&mut part.path, path);
    *out = next;
    part.number += 1;
    part.written = header + prefix;
    part.bytes.store(part.earlier + part.written, Ordering::Relaxed);
    if prefix >= part.options.max_bytes / 2 {
        write_chunk(out, &Chunk::End { last_tick })?;
        out.flush()?;
        out.get_ref().sync_data()?;
        tracing::error!(
            path = %part.path.display(),
            "RECORDING STOPPED: the match's events alone take {prefix} bytes, half of --record-max-bytes ({}); \
             every part would be all history. The recording ends at tick {last_tick}; the game goes on unrecorded",
            part.options.max_bytes
        );
        return Ok(Rolled::Stopped);
    }
    tracing::info!(
        finished = %finished.display(),
        path = %part.path.display(),
        history_bytes = prefix,
        "recording goes on in part {} after tick {last_tick}",
        part.number
    );
    Ok(Rolled::On)
}

/// Copies the tick batches and checksums of the recording at `from` to `out`, the checksums
/// without their entity listings except tick 0's (which backs a crowd: see `record::reader`);
/// the bytes written. Reads one chunk at a time.
fn copy_history(from: &Path, out: &mut impl Write) -> io::Result<u64> {
    let mut file = io::BufReader::new(File::open(from)?);
    let mut skip = [0u8; MAGIC.len() + 2];
    file.read_exact(&mut skip)?;
    let mut written = 0u64;
    loop {
        let mut len = [0u8; 4];
        match file.read_exact(&mut len) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(written),
            other => other?,
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_CHUNK_BYTES {
            return Err(io::Error::other(format!("{}: a chunk of {len} bytes", from.display())));
        }
        let mut payload = vec![0u8; len as usize + 4];
        file.read_exact(&mut payload)?;
        match payload.first() {
            Some(&TICKS_VARIANT) => {
                out.write_all(&len.to_le_bytes())?;
                out.write_all(&payload)?;
                written += u64::from(len) + 8;
            }
            Some(&CHECKSUM_VARIANT) => {
                let body = &payload[..len as usize];
                let Ok(Chunk::Checksum(mut checksum)) = shared::codec::decode::<Chunk>(body) else {
                    return Err(io::Error::other(format!("{}: an undecodable checksum", from.display())));
                };
                if checksum.tick != 0 {
                    checksum.listing = None;
                }
                written += write_chunk(out, &Chunk::Checksum(checksum))? as u64;
            }
            // The header and the end marker.
            _ => {}
        }
    }
}

/// A run of held inputs being gathered.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    ticks: u32,
    view_step: u32,
}

/// The ticks not written yet, and what compressing the next ones needs.
#[derive(Debug, Default)]
struct Batch {
    /// Events by tick, not written yet.
    pending: BTreeMap<u64, Vec<Event>>,
    /// Each playing client's last applied input (kept across batches).
    previous: BTreeMap<u32, InputFrame>,
    /// Open runs by client; closed at the latest when the batch is written.
    runs: BTreeMap<u32, Run>,
    /// Roughly the bytes the pending events take encoded.
    bytes: usize,
}

impl Batch {
    /// Takes one tick's journal.
    fn add_tick(&mut self, tick: u64, entries: Vec<JournalEntry>) {
        let mut held_now: Vec<(u32, u32)> = Vec::new();
        for entry in entries {
            match entry {
                JournalEntry::Join { client, name } => {
                    self.forget(client);
                    self.event(tick, Event::Join { client: client.0, name });
                }
                JournalEntry::Leave { client } => {
                    self.forget(client);
                    self.event(tick, Event::Leave { client: client.0 });
                }
                JournalEntry::Chat { client, name, text } => {
                    self.event(tick, Event::Chat { client: client.0, name, text })
                }
                JournalEntry::Input { client, frame } => {
                    let empty = InputFrame::default();
                    let before = self.previous.get(&client.0).unwrap_or(&empty);
                    let view_step = frame.view_tick.wrapping_sub(before.view_tick);
                    let delta =
                        (!InputDelta::is_held(before, &frame, view_step)).then(|| InputDelta::between(before, &frame));
                    self.previous.insert(client.0, frame);
                    match delta {
                        None => held_now.push((client.0, view_step)),
                        Some(delta) => self.event(tick, Event::Input { client: client.0, delta }),
                    }
                }
            }
        }
        // A run goes on only through consecutive ticks that each applied a held input with
        // its view step; any other tick of its client ends it.
        let broken: Vec<u32> = self
            .runs
            .iter()
            .filter(|(client, run)| {
                run.start + u64::from(run.ticks) != tick || !held_now.contains(&(**client, run.view_step))
            })
            .map(|(client, _)| *client)
            .collect();
        for client in broken {
            self.close(client);
        }
        for (client, view_step) in held_now {
            self.runs.entry(client).or_insert(Run { start: tick, ticks: 0, view_step }).ticks += 1;
        }
    }

    /// A client joined or left: its next input is a delta from nothing.
    fn forget(&mut self, client: ClientId) {
        self.close(client.0);
        self.previous.remove(&client.0);
    }

    fn event(&mut self, tick: u64, event: Event) {
        // Each event's fixed fields take at most about 40 bytes; names and text add theirs.
        self.bytes += 40
            + match &event {
                Event::Join { name, .. } => name.len(),
                Event::Chat { name, text, .. } => name.len() + text.len(),
                Event::Input { delta, .. } => delta.data.as_ref().map_or(0, Vec::len),
                _ => 0,
            };
        self.pending.entry(tick).or_default().push(event);
    }

    /// Ends `client`'s run, if any, writing it at its first tick.
    fn close(&mut self, client: u32) {
        if let Some(run) = self.runs.remove(&client) {
            self.event(run.start, Event::Held { client, ticks: run.ticks, view_step: run.view_step });
        }
    }

    /// Closes every run and writes the pending ticks as one chunk; the bytes written.
    fn flush(&mut self, out: &mut impl Write) -> io::Result<usize> {
        let open: Vec<u32> = self.runs.keys().copied().collect();
        for client in open {
            self.close(client);
        }
        self.bytes = 0;
        if self.pending.is_empty() {
            return Ok(0);
        }
        let records = std::mem::take(&mut self.pending).into_iter().map(|(tick, events)| TickRecord { tick, events });
        write_chunk(out, &Chunk::Ticks(records.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::record::chunk::{assemble, split};
    use crate::record::reader::Recording;
    use glam::Vec2;
    use shared::arena::Input;

    /// Held runs, starved ticks, merged inputs (seq jumps), view steps of 0 and 1, a leave and
    /// a rejoin, cut by batches at odd places: the reader gives back exactly the journal.
    #[test]
    fn held_runs_and_gaps_round_trip_exactly() {
        let mut journal: BTreeMap<u64, Vec<JournalEntry>> = BTreeMap::new();
        let (a, b) = (ClientId(1), ClientId(2));
        journal.insert(1, vec![JournalEntry::Join { client: a, name: "a".into() }]);
        journal.insert(2, vec![JournalEntry::Join { client: b, name: "b".into() }]);
        let mut ia = Input { movement: Vec2::X, aim: 0.5, buttons: 0 };
        let (mut seq_a, mut view_a, mut seq_b) = (0, 0, 0);
        for tick in 3..200u64 {
            let entries = journal.entry(tick).or_default();
            if tick % 7 != 0 {
                seq_a += if tick % 11 == 0 { 2 } else { 1 };
                view_a += u32::from(tick > 50);
                if tick % 40 == 0 {
                    ia.aim += 0.25;
                }
                entries.push(JournalEntry::Input { client: a, frame: InputFrame::new(seq_a, view_a, &ia) });
            }
            if tick == 120 {
                entries.insert(0, JournalEntry::Leave { client: b });
            } else if tick == 130 {
                entries.insert(0, JournalEntry::Join { client: b, name: "b".into() });
                seq_b = 0;
            } else if !(120..=130).contains(&tick) && tick % 13 != 0 {
                seq_b += 1;
                entries.push(JournalEntry::Input { client: b, frame: InputFrame::new(seq_b, 0, &Input::default()) });
            }
        }
        let mut batch = Batch::default();
        let mut chunks = Vec::new();
        for tick in 1..200u64 {
            batch.add_tick(tick, journal.get(&tick).cloned().unwrap_or_default());
            if tick % 23 == 0 || tick % 60 == 0 {
                let mut bytes = Vec::new();
                batch.flush(&mut bytes).expect("flush");
                chunks.extend(chunks_of(&bytes));
            }
        }
        let mut bytes = Vec::new();
        batch.flush(&mut bytes).expect("flush");
        chunks.extend(chunks_of(&bytes));
        let map = crate::map::load(None).expect("map");
        let header = Header {
            protocol_version: shared::PROTOCOL_VERSION,
            sim_version: SIM_VERSION,
            server_version: String::new(),
            started_unix: 0,
            seed: 1,
            tick_rate: 60,
            snapshot_rate: 20,
            max_players: 8,
            game: "arena".into(),
            game_settings: Vec::new(),
            checksum_interval: 60,
            map_hash: map_hash(&map),
            map,
        };
        let mut all = vec![Chunk::Header(header)];
        all.extend(chunks);
        let held = all.iter().filter_map(|c| if let Chunk::Ticks(r) = c { Some(r) } else { None }).flatten();
        assert!(held.flat_map(|r| &r.events).any(|e| matches!(e, Event::Held { ticks, .. } if *ticks > 3)));
        let recording = Recording::parse(&assemble(&all).expect("assemble"), "t.rec").expect("parses");
        journal.retain(|_, entries| !entries.is_empty());
        assert_eq!(recording.journal(), journal);
        assert!(!recording.held.is_empty(), "held runs stay runs in memory");
    }

    fn chunks_of(bytes: &[u8]) -> Vec<Chunk> {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.extend_from_slice(bytes);
        split(&file)
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(1_795_000_000), "20261118-110640", "checked against Python datetime");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000", "leap day");
    }
}
