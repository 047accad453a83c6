//! The ranges the simulation's settings may take. The command line (`config`, `bench`) refuses
//! a flag outside them and the recording reader (`record::reader`) a header outside them, so a
//! file claims nothing the command line would refuse; both sit above this module, which needs
//! nothing of the engine.

/// Most ticks (and snapshots) per second.
pub const MAX_TICK_RATE: u16 = 1000;
/// Longest lag-compensation rewind, milliseconds.
pub const MAX_REWIND_MS: u16 = 1000;
/// Most NPCs.
pub const MAX_NPCS: u32 = 1_000_000;
/// Most ticks between two checksums of a recording (an hour at 60 Hz). It also bounds the
/// ticks a recording may skip between two chunks, so that a replay's length is paid for by
/// the file's checksums, and a crafted file diverges within this many ticks.
pub const MAX_CHECKSUM_INTERVAL: u32 = 216_000;

/// A view radius in world units, 0 (off) to 1 000 000 (clap value parser of the server's and
/// the bench's `--view-radius`).
pub fn view_radius(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(r) if r.is_finite() && (0.0..=shared::snapshot::interest::MAX_RADIUS).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a radius in world units in [0, 1000000]")),
    }
}

/// Most `--sim-threads`.
pub const MAX_SIM_THREADS: u16 = 256;
/// Most `--max-rooms`.
pub const MAX_ROOMS: u32 = 100_000;
