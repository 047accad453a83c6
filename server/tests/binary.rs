//! The `server` binary as an operator runs it: flags, start-up errors, and signals.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::process::Command;
use std::time::{Duration, Instant};

use engine::record::reader::{Ending, Recording};
use engine::record::replay::Replayer;
use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use shared::arena::Input;
use shared::{ClientMessage, DisconnectReason, InputFrame, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

mod common;

use common::{BIN, spawn};

#[test]
fn help_lists_every_flag_with_its_default() {
    let out = Command::new(BIN).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "--bind <BIND>",
        "[default: 127.0.0.1:8080]",
        "--game <GAME>",
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
        "--record <DIR>",
        "--checksum-interval <CHECKSUM_INTERVAL>",
        "--record-sync-interval <SECS>",
        "--record-max-bytes <BYTES>",
        "[default: 1G]",
        "replay",
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
    for (flag, value, expected) in [
        ("--record-max-bytes", "100", "not a size of at least 4096 bytes"),
        ("--record-max-bytes", "1T", "not a size of at least 4096 bytes"),
        ("--record-sync-interval", "7200", "not a number of seconds in [0, 3600]"),
        ("--checksum-interval", "216001", "216001 is not in 1..=216000"),
    ] {
        let out = Command::new(BIN).args([flag, value]).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }
}

#[test]
fn replay_help_lists_the_exit_codes() {
    let out = Command::new(BIN).args(["replay", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    for code in ["0  replayed to its end marker", "1  diverged", "2  cannot be replayed", "3  cut short"] {
        assert!(help.contains(code), "{code:?} in {help}");
    }
}

/// Joins the game at `addr` and returns the socket after `Welcome`.
async fn join(addr: &str) -> WebSocketStream<TcpStream> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = client_async(format!("ws://{addr}/ws"), stream).await.expect("upgrade");
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "op".into(), spectate: false };
    ws.send(Message::Binary(codec::encode(&hello).expect("encode").into())).await.expect("send");
    let first = ws.next().await.expect("a message").expect("ok");
    assert!(matches!(codec::decode_server(&first.into_data()), Ok(ServerMessage::Welcome(_))));
    ws
}

/// Sends an input per 16 ms for `frames` frames, walking in a circle.
async fn play(ws: &mut WebSocketStream<TcpStream>, frames: u32) {
    for seq in 1..=frames {
        let angle = seq as f32 * 0.1;
        let input = Input { movement: Vec2::new(angle.cos(), angle.sin()), aim: 0.5, buttons: 0 };
        let bytes = codec::encode(&ClientMessage::Input(InputFrame::new(seq, 0, &input))).expect("encode");
        ws.send(Message::Binary(bytes.into())).await.expect("send");
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
}

/// The single recording file in `dir`.
fn recording_in(dir: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir).expect("list").map(|e| e.expect("entry").path()).collect();
    assert_eq!(files.len(), 1, "one recording per run: {files:?}");
    let name = files[0].file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    assert!(name.starts_with("match-") && name.ends_with("-seed1.rec"), "clear file name: {name}");
    files[0].clone()
}

#[tokio::test]
async fn kill_9_leaves_a_recording_readable_up_to_its_last_complete_chunk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = spawn(&["--npcs", "20", "--record", dir.path().to_str().expect("utf-8")]);
    let mut ws = join(&server.addr().to_string()).await;
    play(&mut ws, 100).await;
    // Past the writer's one-second flush.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.kill().expect("SIGKILL, reaped");

    let recording = Recording::open(&recording_in(dir.path())).expect("readable after kill -9");
    let Ending::Cut { last_tick, .. } = recording.ending else { panic!("no end marker: {:?}", recording.ending) };
    assert!(last_tick >= 60, "at least a second survived: {last_tick}");
    let inputs = recording.ticks.values().flatten().count();
    assert!(inputs >= 50, "the inputs sent before the last flush are there: {inputs}");
    let mut replayer = Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable");
    replayer.run_to(u64::MAX).unwrap_or_else(|d| panic!("{d}"));

    let out = Command::new(BIN).arg("replay").arg(recording_in(dir.path())).output().expect("replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "cut short but verified: {stdout}");
    assert!(stdout.contains(&format!("ends at tick {last_tick} without an end marker")), "{stdout}");
    assert!(stdout.contains(&format!("replayed and verified up to tick {last_tick}; exit code 3")), "{stdout}");

    // A crash often leaves zeros after the last write (the size grew, the data never came):
    // they read as a zero-length chunk whose CRC matches, and must not cost the file.
    let path = recording_in(dir.path());
    let good = std::fs::metadata(&path).expect("size").len();
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    std::io::Write::write_all(&mut file, &[0; 64]).expect("append");
    let out = Command::new(BIN).arg("replay").arg(&path).output().expect("replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let Ending::Cut { good_bytes, .. } = Recording::open(&path).expect("reads").ending else { panic!("cut") };
    assert!(good_bytes as u64 <= good, "the good data ends at or before the old end");
    assert!(stdout.contains(&format!("the good data ends at byte {good_bytes}")), "{stdout}");
    assert!(stdout.contains(&format!("replayed and verified up to tick {last_tick}")), "{stdout}");
}

#[tokio::test]
async fn sigterm_without_drain_time_closes_clients_with_1001_and_exits_0_within_2_s() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().to_str().expect("utf-8");
    let mut server = spawn(&["--npcs", "100", "--record", record, "--drain-timeout", "0"]);
    let mut ws = join(&server.addr().to_string()).await;
    play(&mut ws, 20).await;

    let pid = server.pid().to_string();
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

    let exit = server
        .wait_exit(Duration::from_secs(2).saturating_sub(signalled.elapsed()))
        .expect("still running 2 s after SIGTERM");
    assert!(exit.success(), "exit status {exit:?}");

    // The recording is complete and marked finished.
    let recording = Recording::open(&recording_in(dir.path())).expect("readable");
    assert!(matches!(recording.ending, Ending::Finished { .. }), "{:?}", recording.ending);
    Replayer::new(&recording, true, &engine::games::catalog())
        .expect("replayable")
        .run_to(u64::MAX)
        .unwrap_or_else(|d| panic!("{d}"));
}
