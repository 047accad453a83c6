//! A recording whose disk fails. The real binary records onto a 96 KiB tmpfs that fills: the
//! recording stops at once (`arena_recording_stopped` flips within 2 s, the error names the file
//! and the OS error), the match plays on (snapshots keep coming, the tick advances), and the
//! file replays up to its last complete chunk (exit 3). Where no tmpfs can be mounted, that test
//! says why and passes without it; the writer is also fed a file that fails through its seam
//! (`Writer::start`), which runs everywhere.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::BIN;
use loadtools::child::ServerChild;

use engine::bridge::{ClientId, ToSim};
use engine::games::arena::Arena;
use engine::record::reader::{Ending, Recording};
use engine::record::replay::Replayer;
use engine::record::writer::{RecordFile, Recorder, Writer, WriterOptions, header_for};
use engine::sim::Simulation;
use engine::sim::resources::SimSettings;
use futures_util::{SinkExt, StreamExt};
use shared::arena::Input;
use shared::{ClientMessage, InputFrame, PROTOCOL_VERSION, ServerMessage, codec};
use tokio_tungstenite::tungstenite::Message;

/// A tmpfs of `size` mounted on a new temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(self.dir.path()).status().is_ok_and(|s| s.success());
        if !ok {
            // Something still holds it (a test failed with the server up): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
        }
    }
}

/// Starts the binary on an ephemeral loopback port; the child (with its log) and its address.
fn spawn(flags: &[&str]) -> (ServerChild, SocketAddr) {
    let server = common::spawn(flags);
    let addr = server.addr();
    (server, addr)
}

/// How long the server may take to exit after SIGTERM, its recording flushed.
const EXIT: Duration = Duration::from_secs(30);

/// `GET path` on loopback; the whole answer.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn stopped_metric(addr: SocketAddr) -> Option<f64> {
    let text = get(addr, "/metrics");
    let line = text.lines().find(|l| l.starts_with("arena_recording_stopped "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Joins as a player and counts the newest snapshot tick into `tick` until the socket ends.
async fn play(addr: SocketAddr, tick: Arc<AtomicU64>) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await.expect("upgrade");
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "disk".into(), spectate: false };
    ws.send(Message::Binary(codec::encode(&hello).expect("encode").into())).await.expect("send");
    let mut seq = 0;
    while let Some(message) = ws.next().await {
        let Ok(message) = message else {
            println!("player socket: {message:?}");
            break;
        };
        if let Message::Close(frame) = &message {
            println!("player closed: {frame:?}");
        }
        if let Ok(ServerMessage::Snapshot(snapshot)) = codec::decode_server(&message.into_data()) {
            tick.fetch_max(snapshot.tick, Ordering::Relaxed);
            // An input per snapshot that turns, so the file also holds inputs.
            seq += 1;
            let angle = seq as f32 * 0.3;
            let movement = glam::Vec2::new(angle.cos(), angle.sin());
            let input = Input { movement, aim: angle.sin(), buttons: 0 };
            let bytes = codec::encode(&ClientMessage::Input(InputFrame::new(seq, 0, &input))).expect("encode");
            if ws.send(Message::Binary(bytes.into())).await.is_err() {
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_recording_at_once_and_the_match_plays_on() {
    let mount = match Tmpfs::mount("96k") {
        Ok(mount) => mount,
        Err(why) => {
            println!("SKIPPED the tmpfs part: {why}; the failing-file seam test covers the writer");
            return;
        }
    };
    let dir = mount.path().to_str().expect("utf-8").to_owned();
    // A digest every tick, listing 1000 NPCs every tenth: about 20 KB a second.
    let (mut server, addr) =
        // /metrics is polled every 50 ms on new connections: no per-address connection rate.
        spawn(&["--record", &dir, "--npcs", "1000", "--checksum-interval", "1", "--drain-timeout", "0", "--connect-rate-per-ip", "0"]);
    let tick = Arc::new(AtomicU64::new(0));
    let player = tokio::spawn(play(addr, tick.clone()));

    let file = std::fs::read_dir(mount.path()).expect("list").next().expect("a recording").expect("entry").path();
    let began = Instant::now();
    let (mut size, mut grew_at) = (0, Instant::now());
    let flipped_at = loop {
        assert!(began.elapsed() < Duration::from_secs(60), "the disk never filled, or the metric never flipped");
        let now = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if now != size {
            (size, grew_at) = (now, Instant::now());
        }
        if stopped_metric(addr) == Some(1.0) {
            break Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let lag = flipped_at - grew_at;
    println!("file stopped at {size} bytes; metric flipped {lag:?} after its last growth");
    assert!(lag <= Duration::from_secs(2), "arena_recording_stopped flipped {lag:?} after the last write");
    assert!(size > 64 * 1024, "the disk filled: {size} bytes");
    {
        let log = server.log();
        let error = log.iter().find(|l| l.contains("RECORDING STOPPED: writing")).expect("an error line");
        assert!(error.contains("ERROR"), "{error}");
        assert!(error.contains(file.to_str().expect("utf-8")), "names the file: {error}");
        assert!(error.contains("No space left on device"), "the OS error: {error}");
    }

    // The match plays on: snapshots keep coming and the tick advances.
    let before = tick.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = tick.load(Ordering::Relaxed);
    assert!(after >= before + 30, "snapshots kept coming: tick {before} then {after}");
    assert!(get(addr, "/healthz").starts_with("HTTP/1.1 200"), "the simulation is healthy");

    let status = server.terminate(EXIT).expect("exits");
    assert!(status.success(), "exits cleanly: {status:?}");
    player.abort();

    let out = Command::new(BIN).arg("replay").arg(&file).output().expect("replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "cut short, verified: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("without an end marker") && stdout.contains("replayed and verified up to tick"),
        "{stdout}"
    );
    drop(server);
    drop(mount);
}

/// Takes `budget` bytes, then fails every write with ENOSPC.
struct FailingFile {
    written: Arc<Mutex<Vec<u8>>>,
    budget: usize,
}

impl Write for FailingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut written = self.written.lock().unwrap();
        let room = self.budget.saturating_sub(written.len());
        if room == 0 {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        let n = room.min(buf.len());
        written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RecordFile for FailingFile {
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_whose_file_fails_stops_the_recorder_and_leaves_a_readable_file() {
    let settings = SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 8, seed: 3 };
    let arena = Arena { npcs: 50, max_rewind_ms: 300 };
    let mut sim = Simulation::new(arena, settings, engine::map::load(None).expect("map")).expect("the arena");
    let header = header_for(&sim, 10, 0);
    let written = Arc::new(Mutex::new(Vec::new()));
    let file = FailingFile { written: written.clone(), budget: 6000 };
    let options = WriterOptions::for_tick_rate(60);
    let (writer, tx) = Writer::start(file, &PathBuf::from("failing.rec"), &header, options).expect("starts");
    let recorder = Recorder::attach(&mut sim, tx, 10);
    let client = ClientId(1);
    sim.push(ToSim::Connected { client, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)) });
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "ann".into(), spectate: false };
    sim.push(ToSim::Message { client, message: hello });

    // Play at about 4x real time until the writer has failed and the recorder knows it.
    let began = Instant::now();
    let mut failed_at = None;
    let mut seq = 0;
    while !recorder.stopped() {
        assert!(began.elapsed() < Duration::from_secs(30), "the recorder never noticed");
        seq += 1;
        let angle = seq as f32 * 0.2;
        let input = Input { movement: glam::Vec2::new(angle.cos(), angle.sin()), aim: angle.sin(), ..Input::default() };
        sim.push(ToSim::Message { client, message: ClientMessage::Input(InputFrame::new(seq, 0, &input)) });
        sim.step();
        drop(sim.take_outbound());
        recorder.after_step(&mut sim);
        if failed_at.is_none() && written.lock().unwrap().len() >= 6000 {
            failed_at = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    let noticed = failed_at.expect("the file filled").elapsed();
    assert!(noticed <= Duration::from_secs(2), "noticed {noticed:?} after the file filled");
    // The simulation goes on: stepping never blocks and sends nothing more.
    let tick = sim.tick();
    for _ in 0..120 {
        sim.step();
        recorder.after_step(&mut sim);
    }
    assert_eq!(sim.tick(), tick + 120);
    let error = writer.join().expect_err("the writer reports the failure");
    assert!(error.to_string().contains("writing failing.rec failed"), "{error}");

    let bytes = written.lock().unwrap().clone();
    let recording = Recording::parse(&bytes, "failing.rec").expect("readable");
    let Ending::Cut { last_tick, good_bytes, .. } = recording.ending else { panic!("{:?}", recording.ending) };
    assert!(good_bytes <= 6000 && last_tick > 0, "{good_bytes} bytes, tick {last_tick}");
    let mut replayer = Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable");
    replayer.run_to(u64::MAX).unwrap_or_else(|d| panic!("{d}"));
    assert!(replayer.checked() > 1, "verified {} checksums", replayer.checked());
}

/// Replays `file` with the binary: exit code and stdout.
fn replay_cli(file: &Path) -> (Option<i32>, String) {
    let out = Command::new(BIN).arg("replay").arg(file).output().expect("replay");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_record_max_bytes_the_recording_goes_on_in_a_new_file_that_replays_on_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().to_str().expect("utf-8");
    // Listing 2000 NPCs every tenth tick: about 36 KB a second, a part every two seconds.
    let flags = ["--record", record, "--record-max-bytes", "64K", "--npcs", "2000", "--checksum-interval", "1"];
    let (mut server, addr) = spawn(&[&flags[..], &["--drain-timeout", "0"]].concat());
    let tick = Arc::new(AtomicU64::new(0));
    let player = tokio::spawn(play(addr, tick.clone()));
    let began = Instant::now();
    while std::fs::read_dir(dir.path()).expect("list").count() < 3 {
        assert!(began.elapsed() < Duration::from_secs(60), "no third part");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = get(addr, "/metrics");
    let written = metrics.lines().find_map(|l| l.strip_prefix("arena_recording_written_bytes_total "));
    let written: u64 = written.and_then(|v| v.trim().parse().ok()).expect("the bytes metric");
    assert!(written > 2 * (64 << 10), "the metric counts every part: {written}");
    assert!(server.terminate(EXIT).expect("exits").success());
    player.abort();

    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").path()).collect();
    // `X.rec`, then `X.part2.rec` … `X.part9.rec`, then `X.part10.rec` …
    files.sort_by_key(|f| (f.as_os_str().len(), f.clone()));
    let first = files[0].clone();
    let stem = first.file_stem().and_then(|s| s.to_str()).expect("name").to_owned();
    assert!(stem.starts_with("match-") && stem.ends_with("-seed1"), "{stem}");
    let mut previous_end = 0;
    for (i, file) in files.iter().enumerate() {
        let expected = if i == 0 { format!("{stem}.rec") } else { format!("{stem}.part{}.rec", i + 1) };
        assert_eq!(file.file_name().and_then(|n| n.to_str()), Some(expected.as_str()), "part names: {files:?}");
        let size = std::fs::metadata(file).expect("size").len();
        let recording = Recording::open(file).expect("reads");
        let Ending::Finished { last_tick } = recording.ending else { panic!("{file:?}: {:?}", recording.ending) };
        if i + 1 < files.len() {
            assert!((64 << 10..100 << 10).contains(&size), "a finished part is about the cap: {size} bytes");
        }
        assert!(last_tick > previous_end, "part {} goes on after tick {previous_end}: {last_tick}", i + 1);
        // Each part starts at tick 0: the earlier parts' events and digests, then its own.
        assert_eq!(recording.checksums.keys().next(), Some(&0), "{file:?}");
        let (code, out) = replay_cli(file);
        assert_eq!(code, Some(0), "{file:?} replays on its own: {out}");
        assert!(out.contains(&format!("replayed {last_tick} ticks")), "{out}");
        previous_end = last_tick;
    }
    let log = server.log();
    assert!(log.iter().any(|l| l.contains("recording goes on in part 2")), "the roll-over is logged");
}

/// With a cap so small that the match's events alone fill half of it, the recording stops
/// (every part would be all history) instead of rolling over forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_the_history_alone_fills_stops_the_recording_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().to_str().expect("utf-8");
    let flags = ["--record", record, "--record-max-bytes", "4K", "--checksum-interval", "1", "--drain-timeout", "0"];
    let (mut server, addr) = spawn(&flags);
    let tick = Arc::new(AtomicU64::new(0));
    let player = tokio::spawn(play(addr, tick.clone()));
    let began = Instant::now();
    while stopped_metric(addr) != Some(1.0) {
        assert!(began.elapsed() < Duration::from_secs(60), "the recording never stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.log().iter().any(|l| l.contains("RECORDING STOPPED: the match's events alone take")));
    assert!(server.terminate(EXIT).expect("exits").success());
    player.abort();
    for file in std::fs::read_dir(dir.path()).expect("list") {
        let (code, out) = replay_cli(&file.expect("entry").path());
        assert_eq!(code, Some(0), "every part replays: {out}");
    }
}
