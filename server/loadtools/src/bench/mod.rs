//! `server bench WORKLOAD`: benchmark workloads run end to end against a real server process.
//!
//! - [`w1`]: the W1 crowd (`../shared/WORKLOADS.md`): the server with N NPCs, M bots, the W1
//!   figures as one JSON object on stdout and a short table on stderr.
//! - [`w2`]: W2 matches: a `w2` room type, 4 R bots through the matchmaker, the W2 figures
//!   (per room and per client) as JSON and a table.
//! - [`soak`]: players and spectators joining and leaving at a set rate for a long time; the
//!   server's RSS over time and its slope as JSON (memory that grows per tick or per join).
//! - [`stats`]: `GET /stats` from the server child (tick rate and percentiles).
//!
//! The server child is a [`crate::child::ServerChild`] started from this same binary
//! ([`server_command`]); the bots come from [`crate::bots`] and run in this process, on the same machine as the
//! server: each report states how much CPU they took, so that a reader can tell when the load
//! tool, not the server, was the limit.

pub mod soak;
pub mod stats;
pub mod w1;
pub mod w2;

use std::process::ExitCode;

use clap::Subcommand;

use crate::bots::BotsReport;
use crate::child::{ChildError, ServerCommand};

/// Lines of the server child's log kept for error messages.
pub const TAIL_LINES: usize = 30;
/// Combined CPU (server + load tool) above this share of the cores means they competed.
pub const SATURATED: f64 = 0.9;

/// How a run shared the machine: the cores, whether server and load tool together nearly used
/// them all (then the load tool, not the server, may have been the limit), and that in a
/// sentence for the report's note.
pub struct CpuShare {
    /// Cores available.
    pub cores: u64,
    /// Whether server and load tool together used at least [`SATURATED`] of them.
    pub saturated: bool,
    /// The sentence.
    pub note: String,
}

/// The share of a window in which the server used `server_cpu` and the load tool `own_cpu`
/// CPU seconds per second.
pub fn cpu_share(server_cpu: f64, own_cpu: f64) -> CpuShare {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let busy = server_cpu + own_cpu;
    let saturated = busy >= SATURATED * cores as f64;
    let verdict = if saturated {
        "they competed for CPU, so these figures may be limited by the load tool, not the server"
    } else {
        "the load tool had CPU to spare"
    };
    let note =
        format!("server and load tool together used {busy:.2} of {cores} cores (load tool {own_cpu:.2}): {verdict}");
    CpuShare { cores, saturated, note }
}

/// The last lines of a workload's table: the closes and failures, decode errors, the note.
pub fn table_tail(lines: &mut Vec<String>, bots: &BotsReport, note: &str) {
    if !bots.closes_by_code.is_empty() || !bots.failures.is_empty() {
        lines.push(format!("  closes {:?}, failures {:?}", bots.closes_by_code, bots.failures));
    }
    if bots.decode_errors > 0 {
        lines.push(format!("  DECODE ERRORS: {}", bots.decode_errors));
    }
    lines.push(format!("  {note}"));
}

/// The workloads `server bench` runs.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum BenchCommand {
    /// W1 crowd: a server child with N wandering NPCs and M clients receiving snapshots; prints
    /// bytes and messages per client per second, server CPU and RSS, ticks per second and tick
    /// p50/p99 as JSON.
    W1(w1::W1Args),
    /// W2 matches: R rooms of 4 players and 16 NPCs, filled through the matchmaker; prints
    /// bytes and snapshots per client per second, server CPU and RSS per room, room tick rates,
    /// join and input → state times as JSON.
    W2(w2::W2Args),
    /// Soak: players and spectators join and leave at a set rate for a set time against a
    /// server child; prints its RSS over time and the slope as JSON.
    Soak(soak::SoakArgs),
}

/// `server bench …`: runs on its own runtime; stops on SIGINT or SIGTERM (stopping the server
/// child too). Exit 1 when the run fails.
pub fn main(command: &BenchCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        BenchCommand::Soak(args) => report(&runtime, soak::run(args), soak::table),
        BenchCommand::W2(args) => report(&runtime, w2::run(args), w2::table),
        BenchCommand::W1(args) => report(&runtime, w1::run(args), w1::table),
    }
}

/// Runs one workload until it ends or a signal comes (dropping the run drops the server
/// child's guard, which kills it), then prints its table on stderr and its JSON on stdout.
fn report<R: serde::Serialize>(
    runtime: &tokio::runtime::Runtime,
    run: impl Future<Output = Result<R, w1::BenchError>>,
    table: fn(&R) -> String,
) -> ExitCode {
    let result = runtime.block_on(async {
        tokio::select! {
            result = run => result,
            () = interrupted() => Err(w1::BenchError::Interrupted),
        }
    });
    match result {
        Ok(report) => {
            eprintln!("{}", table(&report));
            print_json(&report)
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a report as pretty JSON on stdout.
fn print_json(report: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(report) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM; never if neither can be listened for.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// This executable as the server child, with `flags`; with `echo`, its log is copied to
/// stderr. It keeps only the last [`TAIL_LINES`] of the log: a soak runs for hours.
pub fn server_command(flags: &[String], echo: bool) -> Result<ServerCommand, ChildError> {
    let exe = std::env::current_exe().map_err(ChildError::Exe)?;
    // The address line is logged at info level by `engine::server`: keep it visible whatever
    // RUST_LOG the user set.
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.trim().is_empty() => format!("{filter},engine::server=info"),
        _ => "info".to_owned(),
    };
    Ok(ServerCommand::new(exe).args(flags).rust_log(filter).echo(echo).keep_lines(TAIL_LINES))
}

/// The flags every benchmark's server child starts with: headless on an ephemeral loopback
/// port, `npcs` NPCs, room for `max_connections`, and no per-address limits (every bot of the
/// load tool connects from 127.0.0.1, as fast as it can).
pub fn base_flags(npcs: u32, max_connections: u32) -> Vec<String> {
    let flags = ["--bind", "127.0.0.1:0", "--no-web", "--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"];
    let mut flags: Vec<String> = flags.into_iter().map(String::from).collect();
    flags.extend(["--npcs".into(), npcs.to_string(), "--max-connections".into(), max_connections.to_string()]);
    flags
}
