//! Recording a live session over real sockets and replaying it; serving a replay to
//! WebSocket spectators.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::PathBuf;
use std::time::Duration;

use engine::Server;
use engine::config::ReplayArgs;
use engine::record::reader::{Ending, Recording};
use engine::record::replay::Replayer;
use engine::sim::systems::snapshot::is_snapshot_tick;
use glam::Vec2;
use integration_tests::{Client, Snapshot, start};
use shared::arena::{ArenaRecord, Buttons};
use shared::snapshot::Replicator;
use shared::{ClientMessage, DisconnectReason, ReplayCommand, ServerMessage};

#[tokio::test]
async fn a_live_session_records_and_replays_to_the_same_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().to_str().expect("utf-8 path");
    let server = start(&["--record", record, "--npcs", "50", "--seed", "9"]).await;
    let path = server.recording_path().expect("recording").to_path_buf();
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let mut bob = Client::join(server.local_addr(), "bob").await;
    // Scripted play for about two seconds: both move and shoot, one input per frame.
    for frame in 0..120u32 {
        let angle = frame as f32 * 0.05;
        let aim = angle.rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
        ann.input(Vec2::new(angle.cos(), angle.sin()), aim, Buttons::FIRE).await;
        bob.input(Vec2::new(-angle.sin(), angle.cos()) * 0.5, -aim, (frame % 2) as u8).await;
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
    // The last snapshot ann sees, after her last input was applied.
    let last = ann.input(Vec2::ZERO, 0.0, 0).await;
    let seen: Snapshot = ann.snapshot_where(Duration::from_secs(2), |s| s.last_input_seq == last).await;
    bob.close().await;
    ann.close().await;
    server.shutdown().await;

    let recording = Recording::open(&path).expect("recording opens");
    assert!(matches!(recording.ending, Ending::Finished { .. }), "shutdown finishes the file: {:?}", recording.ending);
    assert!(recording.checksums.len() >= 3, "digests every second: {}", recording.checksums.len());
    let mut replayer = Replayer::new(&recording, true, &engine::games::catalog()).expect("same version");
    replayer.check_start().expect("initial state matches");
    // Replicate the replay as the live server did, at every snapshot tick: the frames, and so
    // what the client decoded, depend on the inputs alone.
    let header = &recording.header;
    let mut replicator = Replicator::new(shared::arena::schema(), header.tick_rate);
    let mut frame = None;
    for tick in (1..=seen.tick).filter(|t| is_snapshot_tick(*t, header.tick_rate, header.snapshot_rate)) {
        replayer.run_to(tick).unwrap_or_else(|d| panic!("{d}"));
        frame = Some(replicator.update(tick, &replayer.state().0));
    }
    let frame = frame.expect("snapshot ticks before the one seen");
    assert_eq!(frame.tick, seen.tick);
    assert_eq!(frame.entities, seen.records, "the replay at tick {} shows what the client decoded", seen.tick);
    assert_eq!(replayer.state().1, seen.scoreboard);
    replayer.run_to(u64::MAX).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(replayer.checked() as usize, recording.checksums.len(), "every digest verified");
}

#[tokio::test]
async fn a_live_server_refuses_replay_control() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    ann.send(&ClientMessage::ReplayControl(ReplayCommand::Pause)).await;
    let closing = ann.closing().await;
    assert_eq!((closing.reason, closing.code), (Some(DisconnectReason::ProtocolViolation), Some(1002)));
    assert!(closing.text.contains("not a replay"), "{}", closing.text);
    server.shutdown().await;
}

fn fight() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recordings/fight.rec")
}

async fn replay_server() -> Server {
    let args = ReplayArgs {
        file: fight(),
        until: None,
        dump_state: None,
        no_verify: false,
        serve: true,
        bind: "127.0.0.1:0".parse().expect("addr"),
        web_root: None,
        max_connections: 64,
        front: Default::default(),
    };
    Server::start_replay(&args, Recording::open(&fight()).expect("fixture")).await.expect("replay server starts")
}

/// The next `ReplayStatus`, skipping snapshots.
async fn status(client: &mut Client) -> (u64, u64, bool, u16) {
    loop {
        if let ServerMessage::ReplayStatus { tick, end_tick, paused, speed_percent } = client.next_message().await {
            return (tick, end_tick, paused, speed_percent);
        }
    }
}

#[tokio::test]
async fn spectators_watch_pause_seek_and_speed_up_a_replay() {
    let server = replay_server().await;
    let mut viewer = Client::join(server.local_addr(), "viewer").await;
    let welcome = viewer.welcome.clone().expect("welcome");
    assert_eq!((welcome.client_id, welcome.entity_id), (0, 0), "a spectator owns nothing");
    assert_eq!(welcome.map.id, "duel", "the recording's map");
    let (_, end, paused, speed) = status(&mut viewer).await;
    assert_eq!((end, paused, speed), (901, false, 100));
    let players = |s: &Snapshot| s.entities.iter().filter(|e| e.is(shared::EntityKind::Player)).count();
    let playing = viewer.snapshot_where(Duration::from_secs(2), |s| players(s) == 2).await;
    assert!(playing.tick >= 1, "the recorded players joined on tick 1");

    // Pause: the status says so, and the tick stops.
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Pause)).await;
    let (held, _, paused, _) = loop {
        let s = status(&mut viewer).await;
        if s.2 {
            break s;
        }
    };
    assert!(paused);
    tokio::time::sleep(Duration::from_millis(400)).await;
    viewer.send(&ClientMessage::Ping { id: 1 }).await;
    loop {
        match viewer.next_message().await {
            ServerMessage::Snapshot(snapshot) => assert_eq!(snapshot.tick, held, "no new ticks while paused"),
            ServerMessage::ReplayStatus { tick, .. } => assert_eq!(tick, held),
            ServerMessage::Pong { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }

    // Seek back to tick 120: status and snapshot of exactly that tick, equal to a replay's.
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Seek(120))).await;
    let (tick, _, paused, _) = status(&mut viewer).await;
    assert_eq!((tick, paused), (120, true), "seeking keeps the pause");
    let shown = viewer.next_snapshot().await;
    assert_eq!(shown.tick, 120);
    assert!(shown.keyframe, "a seek starts over with a keyframe");
    let recording = Recording::open(&fight()).expect("fixture");
    let mut reference = Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable");
    reference.run_to(120).expect("matches");
    let expected =
        Replicator::new(shared::arena::schema(), recording.header.tick_rate).update(120, &reference.state().0);
    assert_eq!(shown.records, expected.entities, "the spectator sees the replayed world");

    // Play at 4x: about 240 ticks per second.
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Speed(400))).await;
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Play)).await;
    let began = tokio::time::Instant::now();
    let later = viewer.snapshot_where(Duration::from_secs(3), |s| s.tick >= 120 + 120).await;
    let elapsed = began.elapsed().as_secs_f64();
    let rate = (later.tick - 120) as f64 / elapsed;
    assert!(rate > 90.0, "{rate:.0} ticks/s at 4x (1x would be 60)");

    // A speed the replay does not offer is refused.
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Speed(300))).await;
    let closing = viewer.closing().await;
    assert_eq!((closing.reason, closing.code), (Some(DisconnectReason::InvalidMessage), Some(1007)));
    server.shutdown().await;
}
