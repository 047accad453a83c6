//! `server replay FILE` without `--serve`: replay as fast as possible, verify, report.
//!
//! Exit codes ([`EXIT_CODES`]): 0 replayed (and verified) to the end marker, 1 diverged, 2 the
//! file cannot be replayed, 3 the file is cut short (no end marker: a crash, a full disk, a
//! damaged tail) and what it holds replayed (and verified) up to its last complete chunk.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::reader::{Ending, Recording};
use super::replay::{Replayer, dump_state, scoreboard_text};
use crate::sim::game::Catalog;

/// The exit codes, as `server replay --help` lists them.
pub const EXIT_CODES: &str = "Exit codes:
  0  replayed to its end marker, every checksum verified (with --no-verify: replayed)
  1  diverged: the first differing tick (and entities) on stderr
  2  cannot be replayed: not a recording, damaged, another version, an invalid header
  3  cut short (no end marker: a crash, a full disk, a damaged tail): replayed and verified up to
     its last complete chunk, whose end the output names";

/// Exit code of a replay of a file without an end marker that verified up to its last chunk.
pub const EXIT_TRUNCATED: u8 = 3;

/// What a replay to the end is asked to do. The flags are parsed in `config` (`ReplayArgs`),
/// which sits above this module and hands them down as these plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The recording file.
    pub file: PathBuf,
    /// Stop after this tick.
    pub until: Option<u64>,
    /// Print the state at this tick in a readable form.
    pub dump_state: Option<u64>,
    /// Verify the recorded checksums.
    pub verify: bool,
}

/// Runs the replay the options describe, printing to stdout (errors to stderr). Output
/// errors (a closed pipe, as with `| head`) are ignored: the replay's verdict is the exit code.
/// The recording's game comes from `catalog`.
pub fn run(args: &Options, catalog: &Catalog) -> ExitCode {
    run_to(args, catalog, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`.
pub fn run_to(args: &Options, catalog: &Catalog, out: &mut impl Write) -> ExitCode {
    let recording = match Recording::open(&args.file) {
        Ok(recording) => recording,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let h = &recording.header;
    let _ = writeln!(
        out,
        "recording {}: simulation version {}, game {}, seed {}, {} Hz, map {} ({} checksums)",
        args.file.display(),
        h.sim_version,
        h.game,
        h.seed,
        h.tick_rate,
        h.map.id,
        recording.checksums.len()
    );
    match &recording.ending {
        Ending::Finished { last_tick } => {
            let _ = writeln!(out, "ends cleanly at tick {last_tick}");
        }
        Ending::Cut { last_tick, good_bytes, trailing_bytes, damage } => {
            let tail = match damage {
                _ if *trailing_bytes == 0 => "nothing after it".to_owned(),
                None => format!("the {trailing_bytes} bytes after it, an incomplete chunk, are ignored"),
                Some(why) => format!("the {trailing_bytes} bytes after it are not a chunk ({why}) and are ignored"),
            };
            let _ = writeln!(
                out,
                "ends at tick {last_tick} without an end marker: the server did not stop cleanly; the good data \
                 ends at byte {good_bytes}, after its last complete chunk; {tail}"
            );
        }
    }
    // Straight through, never seeking: no keyframes to keep.
    let mut replayer = match Replayer::new(&recording, args.verify, catalog).map(Replayer::without_keyframes) {
        Ok(replayer) => replayer,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let until = args.until.unwrap_or(u64::MAX).min(replayer.end_tick());
    let began = Instant::now();
    let mut result = replayer.check_start();
    if result.is_ok()
        && let Some(at) = args.dump_state.filter(|at| *at <= until)
    {
        result = replayer.run_to(at);
        if result.is_ok() {
            let _ = write!(out, "{}", dump_state(&mut replayer));
        }
    }
    if result.is_ok() {
        result = replayer.run_to(until);
    }
    let wall = began.elapsed().as_secs_f64();
    let ticks = replayer.tick();
    let simulated = ticks as f64 / f64::from(h.tick_rate);
    let _ = writeln!(
        out,
        "replayed {ticks} ticks ({simulated:.1} s of play) in {wall:.3} s: {:.1}x real time; {} checksums verified",
        simulated / wall.max(1e-9),
        replayer.checked()
    );
    let (_, scores) = replayer.state();
    let _ = write!(out, "{}", scoreboard_text(&replayer.schema(), &scores));
    match result {
        Ok(()) if matches!(recording.ending, Ending::Cut { .. }) => {
            let _ = writeln!(
                out,
                "truncated: the file ends at tick {} without an end marker; replayed{} up to tick {ticks}; exit code \
                 {EXIT_TRUNCATED}",
                recording.ending.last_tick(),
                if args.verify { " and verified" } else { "" }
            );
            ExitCode::from(EXIT_TRUNCATED)
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(divergence) => {
            eprintln!("error: {divergence}");
            ExitCode::from(1)
        }
    }
}
