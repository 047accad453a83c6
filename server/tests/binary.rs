//! The `server` binary as an operator runs it: flags, start-up errors, and signals.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use shared::{ClientMessage, DisconnectReason, PROTOCOL_VERSION, ServerMessage, codec};
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_server");

/// Kills the child we started (by its own handle) if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the binary on an ephemeral port and waits for its "listening on" line.
fn spawn(flags: &[&str]) -> (Running, String) {
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
    std::thread::spawn(move || for _ in lines {});
    (running, addr)
}

#[test]
fn help_lists_every_flag_with_its_default() {
    let out = Command::new(BIN).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "--bind <BIND>",
        "[default: 127.0.0.1:8080]",
        "--tick-rate <TICK_RATE>",
        "[default: 60]",
        "--snapshot-rate <SNAPSHOT_RATE>",
        "[default: 20]",
        "--npcs <NPCS>",
        "--max-players <MAX_PLAYERS>",
        "--seed <SEED>",
        "--map <FILE>",
        "--web-root <DIR>",
        "--no-web",
    ] {
        assert!(help.contains(expected), "--help lacks {expected:?}:\n{help}");
    }
}

#[test]
fn a_missing_map_file_is_a_clear_start_up_error() {
    let out =
        Command::new(BIN).args(["--bind", "127.0.0.1:0", "--map", "/nonexistent/map.json"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read map /nonexistent/map.json"), "{stderr}");
}

#[test]
fn invalid_flags_are_refused_before_start() {
    let out = Command::new(BIN).args(["--tick-rate", "0"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tick-rate"));
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_0_within_2_s() {
    let (mut server, addr) = spawn(&["--npcs", "100"]);
    let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let (mut ws, _) = client_async(format!("ws://{addr}/ws"), stream).await.expect("upgrade");
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "op".into() };
    ws.send(Message::Binary(codec::encode(&hello).expect("encode").into())).await.expect("send");
    let first = ws.next().await.expect("a message").expect("ok");
    assert!(matches!(codec::decode_server(&first.into_data()), Ok(ServerMessage::Welcome(_))));

    let pid = server.0.id().to_string();
    let signalled = Instant::now();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(status.success());

    let mut disconnect = None;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(2), ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Disconnect { reason, .. }) = codec::decode_server(&bytes) {
                    disconnect = Some(reason);
                }
            }
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(disconnect, Some(DisconnectReason::ServerShutdown));
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));

    let exit = loop {
        if let Some(exit) = server.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(signalled.elapsed() < Duration::from_secs(2), "still running 2 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit:?}");
}
