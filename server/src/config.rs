//! Command-line configuration (clap). `server --help` lists every flag with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::net::web_files::WebRoot;
use crate::sim::resources::SimSettings;

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
