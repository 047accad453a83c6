//! The `server` binary: serve a live game until SIGINT or SIGTERM, work with a recording
//! (`server replay FILE`), load and measure a server (`server bots`, `server bench w1`), or
//! set one up (`server token`, `server cert`).
//!
//! Its command line is the engine's flags and subcommands (`engine::config`) plus the load
//! tools' (`loadtools`); the engine knows nothing of the load tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine::Server;
use engine::app::{init_logs, serve};
use engine::config::{Config, LogFormat};
use loadtools::bench::BenchCommand;
use loadtools::bots::BotsArgs;

/// The whole command line: serve a live game (no subcommand), work with a recording, or load
/// and measure a server.
#[derive(Parser, Debug, Clone)]
#[command(name = "server", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// What to do instead of serving a live game.
    #[command(subcommand)]
    command: Option<Command>,
    /// Live server settings.
    #[command(flatten)]
    config: Config,
    /// Log lines on stderr: `human` (the default) or `json`, one object per line, for log
    /// shippers. The level is set with `RUST_LOG`.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

/// Subcommands: the engine's, then the load tools'.
#[derive(Subcommand, Debug, Clone)]
enum Command {
    /// Replay, token, cert.
    #[command(flatten)]
    Engine(engine::config::Command),
    /// Load a running server with WebSocket bots and print what they received as JSON.
    Bots(BotsArgs),
    /// Run a benchmark workload against a server child and print its figures as JSON.
    #[command(subcommand)]
    Bench(BenchCommand),
}

fn main() -> ExitCode {
    use engine::config::Command as Engine;
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Some(Command::Engine(Engine::Replay(args))) if !args.serve => {
            engine::record::cli::run(&args.cli_options(), &engine::games::catalog())
        }
        Some(Command::Engine(Engine::Replay(args))) => serve(|| Server::start_replay_file(&args)),
        Some(Command::Engine(Engine::Token(args))) => engine::setup_cli::token(&args),
        Some(Command::Engine(Engine::Cert(args))) => engine::setup_cli::cert(&args),
        // The load tools run their own runtime.
        Some(Command::Bots(args)) => loadtools::bots::main(&args),
        Some(Command::Bench(command)) => loadtools::bench::main(&command),
        None => serve(|| Server::start(&cli.config)),
    }
}
