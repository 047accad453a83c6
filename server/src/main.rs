//! The `server` binary: serve a live game until SIGINT or SIGTERM, work with a recording
//! (`server replay FILE`), load and measure a server (`server bots`, `server bench w1`), or
//! set one up (`server token`, `server cert`).

use std::process::ExitCode;

use clap::Parser;
use engine::config::{Cli, Command, LogFormat};
use engine::{Server, StartError};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => logs.json().init(),
    }
    match cli.command {
        Some(Command::Replay(args)) if !args.serve => engine::record::cli::run(&args.cli_options()),
        Some(Command::Replay(args)) => serve(|| Server::start_replay_file(&args)),
        // The load tools run their own runtime.
        Some(Command::Bots(args)) => engine::bots::main(&args),
        Some(Command::Bench(command)) => engine::bench::main(&command),
        Some(Command::Token(args)) => engine::setup_cli::token(&args),
        Some(Command::Cert(args)) => engine::setup_cli::cert(&args),
        None => serve(|| Server::start(&cli.config)),
    }
}

/// Runs a server until a signal, then shuts it down.
fn serve<F: Future<Output = Result<Server, StartError>>>(start: impl FnOnce() -> F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match start().await {
            Ok(server) => server,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        // A signal or `POST /api/drain` starts a drain; a second signal ends it at once.
        tokio::select! {
            _ = wait_for_signal() => {}
            _ = server.drain_requested() => {}
        }
        server.drain(wait_for_signal()).await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
