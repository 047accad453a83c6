//! Support shared by the tests that run the `server` binary as a child process.
#![allow(dead_code, reason = "each test binary uses its own part of it")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_server");

/// Kills the child we started (by its own handle) if a test fails before it exits.
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
/// "listening on" line; returns it and the address (`127.0.0.1:PORT`).
pub fn spawn(flags: &[&str]) -> (Running, String) {
    let (running, addr, _log) = spawn_logged(flags);
    (running, addr)
}

/// [`spawn`], also keeping every later line of the server's log.
pub fn spawn_logged(flags: &[&str]) -> (Running, String, Arc<Mutex<Vec<String>>>) {
    let child = Command::new(BIN)
        .args(["--bind", "127.0.0.1:0"])
        .args(flags)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut running = Running(child);
    let stderr = running.0.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").expect("read stderr");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
        }
    });
    (running, addr, log)
}
