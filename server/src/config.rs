//! Command-line configuration (clap). `server --help`, `server replay --help`,
//! `server bots --help` and `server bench w1 --help` list every flag with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench::BenchCommand;
use crate::bots::BotsArgs;
use crate::net::web_files::WebRoot;
use crate::record::format::DEFAULT_CHECKSUM_INTERVAL;
use crate::sim::resources::SimSettings;

/// The whole command line: serve a live game (no subcommand), work with a recording, or load
/// and measure a server.
#[derive(Parser, Debug, Clone)]
#[command(name = "server", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do instead of serving a live game.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Live server settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Replay a recording: verify it as fast as possible, or serve it to browsers (--serve).
    Replay(ReplayArgs),
    /// Load a running server with WebSocket bots and print what they received as JSON.
    Bots(BotsArgs),
    /// Run a benchmark workload against a server child and print its figures as JSON.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Authoritative game server: fixed-tick simulation, WebSocket clients, built-in web client.
#[derive(Parser, Debug, Clone)]
#[command(name = "server", version, about)]
pub struct Config {
    /// Address to listen on for HTTP and WebSocket (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Simulation ticks per second.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub tick_rate: u16,
    /// Snapshots sent to clients per second (at most the tick rate).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub snapshot_rate: u16,
    /// Wandering NPCs to spawn (the W1 crowd benchmark workload).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub npcs: u32,
    /// Most players at once; later joins are refused with close code 1013.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_players: u16,
    /// Most simultaneous TCP connections (HTTP and WebSocket); more get HTTP 503.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seed of the simulation's random generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Map file (JSON); the built-in arena by default.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Serve the web client from this directory instead of the copy built into the binary.
    #[arg(long, value_name = "DIR", conflicts_with = "no_web")]
    pub web_root: Option<PathBuf>,
    /// Serve no web client (headless: only the WebSocket endpoint).
    #[arg(long)]
    pub no_web: bool,
    /// Record the run into a new file in this directory (off by default).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Ticks between two state checksums in a recording.
    #[arg(long, default_value_t = DEFAULT_CHECKSUM_INTERVAL, value_parser = clap::value_parser!(u32).range(1..))]
    pub checksum_interval: u32,
}

/// `server replay FILE`.
#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// The recording file.
    pub file: PathBuf,
    /// Stop after this tick.
    #[arg(long, value_name = "TICK")]
    pub until: Option<u64>,
    /// Print the state at this tick in a readable form.
    #[arg(long, value_name = "TICK")]
    pub dump_state: Option<u64>,
    /// Do not verify the recorded checksums.
    #[arg(long)]
    pub no_verify: bool,
    /// Serve the replay to browsers (as spectators) instead of running it to the end.
    #[arg(long)]
    pub serve: bool,
    /// Address to serve on, with --serve.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub bind: SocketAddr,
    /// Serve the web client from this directory, with --serve.
    #[arg(long, value_name = "DIR", requires = "serve")]
    pub web_root: Option<PathBuf>,
    /// Most simultaneous TCP connections, with --serve.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl ReplayArgs {
    /// Where static files come from.
    pub fn web_root(&self) -> WebRoot {
        self.web_root.clone().map_or(WebRoot::Embedded, WebRoot::Dir)
    }
}

impl Config {
    /// Parses command-line style arguments (the first is the program name); the error is
    /// clap's message.
    pub fn from_args<I, T>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args).map_err(|e| e.to_string())
    }

    /// The simulation settings the flags describe.
    pub fn sim_settings(&self) -> SimSettings {
        SimSettings {
            tick_rate: self.tick_rate,
            snapshot_rate: self.snapshot_rate.min(self.tick_rate),
            max_players: self.max_players,
            seed: self.seed,
            npcs: self.npcs,
        }
    }

    /// Where static files come from.
    pub fn web_root(&self) -> WebRoot {
        match (&self.web_root, self.no_web) {
            (_, true) => WebRoot::Disabled,
            (Some(dir), false) => WebRoot::Dir(dir.clone()),
            (None, false) => WebRoot::Embedded,
        }
    }
}
