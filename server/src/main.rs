//! The `server` binary: serve a live game until SIGINT or SIGTERM, work with a recording
//! (`server replay FILE`), load and measure a server (`server bots`, `server bench w1`), or
//! set one up (`server token`, `server cert`).

use std::process::ExitCode;

use clap::Parser;
use engine::Server;
use engine::app::{init_logs, serve};
use engine::config::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Some(Command::Replay(args)) if !args.serve => {
            engine::record::cli::run(&args.cli_options(), &engine::games::catalog())
        }
        Some(Command::Replay(args)) => serve(|| Server::start_replay_file(&args)),
        // The load tools run their own runtime.
        Some(Command::Bots(args)) => engine::bots::main(&args),
        Some(Command::Bench(command)) => engine::bench::main(&command),
        Some(Command::Token(args)) => engine::setup_cli::token(&args),
        Some(Command::Cert(args)) => engine::setup_cli::cert(&args),
        None => serve(|| Server::start(&cli.config)),
    }
}
