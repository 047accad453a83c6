//! Running a game as a server process: the logs, the async runtime, the server, and a drain on
//! SIGINT or SIGTERM (or `POST /api/drain`). [`run`] is the whole `main` of a game of one's
//! own; the `server` binary uses [`serve`] for the games it ships.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::net::NetLimits;
use crate::server::{Server, StartError};
use crate::sim::game::Game;

/// Serves `game` with the server's command-line flags (`--bind`, `--tick-rate`, `--record`,
/// `--map` for a game without a world of its own, …) until a signal: a game's whole `main`.
pub fn run<G: Game>(game: G) -> ExitCode {
    let config = Config::parse();
    init_logs(LogFormat::Human);
    serve(|| Server::start_game(&config, game, NetLimits::default()))
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logs(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Runs the server `start` makes until a signal, then drains it and shuts it down.
pub fn serve<F: Future<Output = Result<Server, StartError>>>(start: impl FnOnce() -> F) -> ExitCode {
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
