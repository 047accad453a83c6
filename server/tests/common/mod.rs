//! Support shared by the tests that run the `server` binary as a child process.
#![allow(dead_code, reason = "each test binary uses its own part of it")]

use std::process::Child;

use loadtools::child::{ServerChild, ServerCommand};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_server");

/// Kills a child that is not a server (a `server bots` or `server bench` run, which ends by
/// itself) if a test fails before it exits; by its own handle, so only the process we started.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the binary on an ephemeral loopback port with `flags` and waits for its
/// "listening on" line. The child keeps every line of its log and is killed when dropped.
pub fn spawn(flags: &[&str]) -> ServerChild {
    ServerCommand::new(BIN).args(["--bind", "127.0.0.1:0"]).args(flags).spawn().unwrap_or_else(|e| panic!("{e}"))
}
