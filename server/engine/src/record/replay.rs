//! Replaying a recording: a fresh simulation with the recorded settings, fed the recorded
//! events at their ticks, checked against every recorded digest. No sockets, no clock.
//!
//! Seeking: while it plays, the replayer keeps [`Keyframe`]s of the whole state, one every
//! [`KEYFRAME_SECS`] of play at first. It keeps at most [`MAX_KEYFRAMES`], holding at most
//! [`KEYFRAME_BUDGET_BYTES`] together: when more are due, it drops every other one and takes
//! them half as often from then on, so a long recording costs bounded memory (some 70 bytes
//! per entity per keyframe: 512 keyframes of a 1000-NPC crowd fit; a larger crowd gets fewer,
//! further apart). A seek goes to the last keyframe at or before its tick, unless it is already
//! between that keyframe and its tick, and steps from there: at most one keyframe interval of
//! re-simulation for any tick already played past, and whatever lies between for a tick
//! beyond.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use shared::{ClientMessage, EntityState, PROTOCOL_VERSION, ScoreEntry};

use super::format::{ENTITY_LISTING_EVERY, fold16};
use super::keyframe::Keyframe;
use super::reader::Recording;
use crate::bridge::ToSim;
use crate::sim::checksum::StateDigest;
use crate::sim::game::{Catalog, GameError};
use crate::sim::journal::JournalEntry;
use crate::sim::resources::SimSettings;
use crate::sim::{SIM_VERSION, Simulation};

/// Why a recording cannot be replayed by this build.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Recorded by a simulation whose behaviour differs from this one's.
    #[error(
        "this recording was made by simulation version {recorded}; this build is simulation version {ours}. \
         Replaying it would diverge, so it is refused: replay it with a build of version {recorded}."
    )]
    SimVersion {
        /// The recording's version.
        recorded: u32,
        /// Ours.
        ours: u32,
    },
    /// Its game is not one this build runs, or its settings are bad.
    #[error("cannot replay this recording: {0}")]
    Game(#[from] GameError),
    /// Its game's settings spawn more than the file backs.
    #[error("cannot replay this recording: {0}")]
    Unbacked(String),
    /// A keyframe did not restore (it was taken of another game).
    #[error("cannot restore a keyframe: {0}")]
    Keyframe(String),
}

/// The first difference between a replay and its recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The tick whose digest differs (the state was equal at the previous digest).
    pub tick: u64,
    /// The recorded whole-state hash.
    pub expected: u64,
    /// The replay's.
    pub actual: u64,
    /// Entities that differ: `(net id, what)`; empty when the checksum lists none.
    pub entities: Vec<(u32, EntityDiff)>,
    /// Whether the recorded checksum listed its entities (only every
    /// [`ENTITY_LISTING_EVERY`]th does), so that they could be compared.
    pub listed: bool,
    /// Without a listing here: the next recorded checksum that has one, if any. The state
    /// matched at every earlier checksum, so an earlier listing cannot name anything; replaying
    /// on to this tick (`replay --no-verify --to`) compares there.
    pub next_listing: Option<u64>,
}

/// How one entity differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityDiff {
    /// In both, with different state.
    Changed,
    /// In the recording, not in the replay.
    Missing,
    /// In the replay, not in the recording.
    Extra,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "diverged at tick {}: state hash {:016x}, recorded {:016x}", self.tick, self.actual, self.expected)?;
        if !self.listed {
            write!(
                f,
                "; this checksum lists no entities (only every {ENTITY_LISTING_EVERY}th does), so the diverging \
                 entities cannot be named here"
            )?;
            return match self.next_listing {
                Some(tick) => write!(f, "; the next listing is at tick {tick}"),
                None => write!(f, "; no later checksum lists them"),
            };
        }
        if self.entities.is_empty() {
            return write!(f, "; every entity matches, so the difference is global (RNG, id counter)");
        }
        let shown: Vec<String> = self.entities.iter().take(20).map(|(id, d)| format!("{id} ({d:?})")).collect();
        write!(f, "; {} entities differ: {}", self.entities.len(), shown.join(", "))?;
        if self.entities.len() > 20 {
            write!(f, ", …")?;
        }
        Ok(())
    }
}

/// Seconds of play between two keyframes, at first.
pub const KEYFRAME_SECS: u64 = 1;
/// Most keyframes kept; beyond, every other one goes and the interval doubles.
pub const MAX_KEYFRAMES: usize = 512;
/// Most memory all keyframes together may hold; beyond, they are thinned the same way.
pub const KEYFRAME_BUDGET_BYTES: usize = 64 << 20;

/// A simulation being driven by a recording.
pub struct Replayer<'r> {
    recording: &'r Recording,
    sim: Simulation,
    verify: bool,
    checked: u64,
    /// Keyframes in increasing tick, the first at tick 0; see the module doc.
    keyframes: Vec<Keyframe>,
    /// Ticks between two keyframes (doubles as they are thinned).
    keyframe_every: u64,
    /// What the keyframes hold, roughly (`Keyframe::approx_bytes`).
    keyframe_bytes: usize,
    /// Whether keyframes are taken beyond tick 0's (off for a straight verification run,
    /// which never seeks: see [`Replayer::without_keyframes`]).
    keyframes_on: bool,
}

impl<'r> Replayer<'r> {
    /// Whether this build can replay `recording`: only one made by the same simulation version.
    pub fn check_version(recording: &Recording) -> Result<(), ReplayError> {
        let recorded = recording.header.sim_version;
        if recorded != SIM_VERSION {
            return Err(ReplayError::SimVersion { recorded, ours: SIM_VERSION });
        }
        Ok(())
    }

    /// Whether this build can replay `recording` with the games of `catalog`: the same
    /// simulation version, a game it knows with good settings, and a file that backs what the
    /// game spawns at start.
    pub fn check_replayable(recording: &Recording, catalog: &Catalog) -> Result<(), ReplayError> {
        Self::check_version(recording)?;
        let header = &recording.header;
        let spawns = catalog.inspect(&header.game, &header.game_settings)?;
        recording.check_backed(spawns).map_err(ReplayError::Unbacked)
    }

    /// A replay at tick 0, of the recording's game from `catalog`. Refuses what
    /// [`Replayer::check_replayable`] refuses.
    pub fn new(recording: &'r Recording, verify: bool, catalog: &Catalog) -> Result<Self, ReplayError> {
        Self::check_replayable(recording, catalog)?;
        let header = &recording.header;
        let settings = SimSettings {
            tick_rate: header.tick_rate,
            snapshot_rate: header.snapshot_rate,
            max_players: header.max_players,
            seed: header.seed,
        };
        let mut sim = catalog.make(&header.game, &header.game_settings, settings, header.map.clone())?;
        sim.set_snapshots(false);
        let keyframes = vec![Keyframe::capture(&mut sim)];
        let keyframe_bytes = keyframes.iter().map(Keyframe::approx_bytes).sum();
        let keyframe_every = KEYFRAME_SECS * u64::from(header.tick_rate.max(1));
        Ok(Replayer {
            recording,
            sim,
            verify,
            checked: 0,
            keyframes,
            keyframe_every,
            keyframe_bytes,
            keyframes_on: true,
        })
    }

    /// Takes no keyframes: for a run straight through (verification), which never seeks back
    /// and so need not pay for them in time or memory. A seek still works, from tick 0.
    pub fn without_keyframes(mut self) -> Self {
        self.keyframes_on = false;
        self
    }

    /// The recording.
    pub fn recording(&self) -> &Recording {
        self.recording
    }

    /// The last replayed tick.
    pub fn tick(&self) -> u64 {
        self.sim.tick()
    }

    /// The recording's last tick.
    pub fn end_tick(&self) -> u64 {
        self.recording.ending.last_tick()
    }

    /// Digests verified so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Verifies the initial state (tick 0) against the recording.
    pub fn check_start(&mut self) -> Result<(), Divergence> {
        self.check()
    }

    /// Replays one tick; with verification on, checks its digest if one was recorded.
    pub fn step(&mut self) -> Result<(), Divergence> {
        let tick = self.sim.tick() + 1;
        for event in &self.recording.entries_at(tick) {
            feed(&mut self.sim, event);
        }
        self.sim.step();
        drop(self.sim.take_outbound());
        self.keep_keyframe();
        self.check()
    }

    /// Takes a keyframe if one is due at this tick and not taken yet; thins them when too many.
    fn keep_keyframe(&mut self) {
        if !self.keyframes_on {
            return;
        }
        let tick = self.sim.tick();
        let newest = self.keyframes.last().map_or(0, Keyframe::tick);
        if !tick.is_multiple_of(self.keyframe_every) || tick <= newest {
            return;
        }
        let keyframe = Keyframe::capture(&mut self.sim);
        self.keyframe_bytes += keyframe.approx_bytes();
        self.keyframes.push(keyframe);
        // Tick 0's keyframe always stays (0 is a multiple of every interval).
        while self.keyframes.len() > 1
            && (self.keyframes.len() > MAX_KEYFRAMES || self.keyframe_bytes > KEYFRAME_BUDGET_BYTES)
        {
            self.keyframe_every = self.keyframe_every.saturating_mul(2);
            let every = self.keyframe_every;
            self.keyframes.retain(|k| k.tick().is_multiple_of(every));
            self.keyframe_bytes = self.keyframes.iter().map(Keyframe::approx_bytes).sum();
        }
    }

    /// Keyframes held now, the ticks between two of them, and roughly the bytes they hold.
    pub fn keyframes(&self) -> (usize, u64, usize) {
        (self.keyframes.len(), self.keyframe_every, self.keyframe_bytes)
    }

    /// Replays up to `tick` (or the end), stopping at the first divergence.
    pub fn run_to(&mut self, tick: u64) -> Result<(), Divergence> {
        let target = tick.min(self.end_tick());
        while self.sim.tick() < target {
            self.step()?;
        }
        Ok(())
    }

    /// Moves to `tick` (at most the end): from the last keyframe at or before it, unless the
    /// replay is already between that keyframe and `tick`, then forward by replaying
    /// (unverified).
    pub fn seek(&mut self, tick: u64) {
        let target = tick.min(self.end_tick());
        let now = self.sim.tick();
        let at = self.keyframes.partition_point(|k| k.tick() <= target);
        if let Some(keyframe) = at.checked_sub(1).and_then(|i| self.keyframes.get(i))
            && (target < now || keyframe.tick() > now)
            && let Err(e) = keyframe.restore(&mut self.sim)
        {
            // Keyframes are taken of this very simulation, so this cannot happen; stepping on
            // from where the replay stands is the safe answer if it ever did.
            tracing::error!("{}", ReplayError::Keyframe(e));
        }
        let verify = std::mem::replace(&mut self.verify, false);
        let _ = self.run_to(tick);
        self.verify = verify;
    }

    /// The replicated state now (entities in id order, scoreboard).
    pub fn state(&mut self) -> (Vec<EntityState>, Vec<ScoreEntry>) {
        self.sim.state()
    }

    /// The state digest now.
    pub fn digest(&mut self) -> StateDigest {
        self.sim.digest()
    }

    /// The replicated schema of the recording's game.
    pub fn schema(&self) -> std::sync::Arc<shared::Schema> {
        self.sim.schema()
    }

    fn check(&mut self) -> Result<(), Divergence> {
        if !self.verify {
            return Ok(());
        }
        let Some(expected) = self.recording.checksums.get(&self.sim.tick()) else { return Ok(()) };
        let actual = self.sim.digest();
        self.checked += 1;
        if actual.hash == expected.hash {
            return Ok(());
        }
        let ours: Vec<(u32, u16)> = actual.entities.iter().map(|&(id, h)| (id, fold16(h))).collect();
        let listing = expected.entities();
        let next_listing = match listing {
            Some(_) => None,
            None => {
                self.recording.checksums.range(actual.tick + 1..).find(|(_, c)| c.listing.is_some()).map(|(t, _)| *t)
            }
        };
        Err(Divergence {
            tick: actual.tick,
            expected: expected.hash,
            actual: actual.hash,
            listed: listing.is_some(),
            entities: listing.map(|theirs| diff_entities(&theirs, &ours)).unwrap_or_default(),
            next_listing,
        })
    }
}

/// Feeds a journaled event back into the simulation's inbox the way the network delivered it.
fn feed(sim: &mut Simulation, event: &JournalEntry) {
    match *event {
        JournalEntry::Join { client, ref name } => {
            sim.push(ToSim::Connected { client, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)) });
            let hello =
                ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.clone(), spectate: false };
            sim.push(ToSim::Message { client, message: hello });
        }
        JournalEntry::Leave { client } => sim.push(ToSim::Disconnected { client }),
        JournalEntry::Input { client, ref frame } => {
            sim.push(ToSim::Message { client, message: ClientMessage::Input(frame.clone()) })
        }
        // Chat changes no state; a served replay plays it back itself (`record::spectate`).
        JournalEntry::Chat { .. } => {}
    }
}

fn diff_entities(expected: &[(u32, u16)], actual: &[(u32, u16)]) -> Vec<(u32, EntityDiff)> {
    let (mut e, mut a) = (expected.iter().peekable(), actual.iter().peekable());
    let mut out = Vec::new();
    loop {
        match (e.peek(), a.peek()) {
            (Some(&&(ei, eh)), Some(&&(ai, ah))) => {
                if ei == ai {
                    if eh != ah {
                        out.push((ei, EntityDiff::Changed));
                    }
                    e.next();
                    a.next();
                } else if ei < ai {
                    out.push((ei, EntityDiff::Missing));
                    e.next();
                } else {
                    out.push((ai, EntityDiff::Extra));
                    a.next();
                }
            }
            (Some(&&(ei, _)), None) => {
                out.push((ei, EntityDiff::Missing));
                e.next();
            }
            (None, Some(&&(ai, _))) => {
                out.push((ai, EntityDiff::Extra));
                a.next();
            }
            (None, None) => return out,
        }
    }
}

/// The state at the current tick as readable text, one entity per line.
pub fn dump_state(replayer: &mut Replayer<'_>) -> String {
    let tick = replayer.tick();
    let digest = replayer.digest();
    let (entities, scores) = replayer.state();
    let schema = replayer.schema();
    let mut out = format!("state at tick {tick} (hash {:016x}), {} entities\n", digest.hash, entities.len());
    for e in &entities {
        let _ = writeln!(
            out,
            "  #{:<6} {:<10} pos ({:>9.3}, {:>9.3})  vel ({:>8.3}, {:>8.3})  values {:?}  owner {}",
            e.id,
            schema.kind(e.kind).map_or_else(|| format!("kind {}", e.kind), |k| k.name.clone()),
            e.pos.x,
            e.pos.y,
            e.vel.x,
            e.vel.y,
            e.values,
            e.owner
        );
    }
    out.push_str(&scoreboard_text(&schema, &scores));
    out
}

/// The scoreboard as readable text, in the game's order (best first), each value named by its
/// column.
pub fn scoreboard_text(schema: &shared::Schema, scores: &[ScoreEntry]) -> String {
    let mut out = format!("scoreboard ({} players)\n", scores.len());
    for row in scores {
        let _ = write!(out, "  {:<24}", row.name);
        for (column, value) in schema.scores().iter().zip(&row.values) {
            let _ = write!(out, " {column} {value:>4} ");
        }
        let _ = writeln!(out, " (client {})", row.client);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_diffs_name_changed_missing_and_extra() {
        let expected = [(1, 10), (2, 20), (4, 40)];
        let actual = [(1, 10), (2, 21), (3, 30)];
        assert_eq!(
            diff_entities(&expected, &actual),
            vec![(2, EntityDiff::Changed), (3, EntityDiff::Extra), (4, EntityDiff::Missing)]
        );
    }
}
