//! The game protocol end to end: the real server on 127.0.0.1, real WebSocket clients.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use engine::net::NetLimits;
use futures_util::SinkExt;
use glam::Vec2;
use integration_tests::{Client, start, start_with_limits};
use shared::arena::{ArenaRecord, Buttons, Input};
use shared::{ClientMessage, DisconnectReason, EntityKind, InputFrame, PROTOCOL_VERSION, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn handshake_welcomes_and_snapshots_follow() {
    let server = start(&["--npcs", "10"]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let welcome = ann.welcome.clone().expect("welcome");
    assert!(welcome.client_id >= 1, "client ids start at 1");
    assert_eq!((welcome.tick_rate, welcome.snapshot_rate), (60, 20), "defaults");
    assert_eq!(welcome.map.id, "arena", "built-in map");
    let snapshot = ann.next_snapshot().await;
    let me = snapshot.player(welcome.client_id).expect("own player in the snapshot");
    assert_eq!((me.id, me.health()), (welcome.entity_id, 100));
    assert_eq!(snapshot.entities.iter().filter(|e| e.is(EntityKind::Npc)).count(), 10, "--npcs 10");
    assert_eq!(snapshot.scoreboard.len(), 1);
    assert_eq!(snapshot.scoreboard[0].name, "ann");
    server.shutdown().await;
}

#[tokio::test]
async fn an_input_moves_the_player_in_later_snapshots() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let id = ann.id();
    let start_x = ann.next_snapshot().await.player(id).expect("player").pos.x;
    let mut last = 0;
    for _ in 0..30 {
        last = ann.input(Vec2::X, 0.0, 0).await;
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
    let moved = ann.snapshot_where(2 * SECOND, |s| s.last_input_seq == last).await;
    let me = moved.player(id).expect("player");
    // 30 inputs at 200 units/s for 1/60 s each: 100 units, less if a wall is in the way,
    // more while the last input stays held.
    assert!(me.pos.x > start_x + 50.0, "x went from {start_x} to {}", me.pos.x);
    assert_eq!(moved.last_input_seq, last, "snapshots acknowledge applied inputs");
    server.shutdown().await;
}

#[tokio::test]
async fn two_clients_see_each_other_and_a_leaver_disappears() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let bob = Client::join(server.local_addr(), "bob").await;
    let bob_id = bob.id();
    let seen = ann.snapshot_where(2 * SECOND, |s| s.player(bob_id).is_some()).await;
    assert_eq!(seen.scoreboard.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["ann", "bob"]);
    bob.close().await;
    let after = ann.snapshot_where(2 * SECOND, |s| s.player(bob_id).is_none()).await;
    assert_eq!(after.scoreboard.len(), 1, "bob's row is gone too");
    server.shutdown().await;
}

/// Joins a bystander, runs `offend` on a second client, and checks how the offender was
/// closed and that the bystander kept getting fresh snapshots throughout.
async fn offender_is_closed_alone(
    flags: &[&str],
    limits: NetLimits,
    join_offender: bool,
    offend: impl AsyncFnOnce(&mut Client),
    reason: DisconnectReason,
    code: u16,
) -> String {
    let server = start_with_limits(flags, limits).await;
    let mut bystander = Client::join(server.local_addr(), "bystander").await;
    let before = bystander.next_snapshot().await.tick;
    let mut offender = if join_offender {
        Client::join(server.local_addr(), "offender").await
    } else {
        Client::connect(server.local_addr()).await
    };
    offend(&mut offender).await;
    let closing = offender.closing().await;
    assert_eq!(closing.reason, Some(reason), "Disconnect message before the close: {closing:?}");
    assert_eq!(closing.code, Some(code), "close code: {closing:?}");
    assert!(!closing.text.is_empty(), "the close frame says why");
    // The bystander is unaffected: snapshots keep coming, a second's worth of ticks later.
    let after = bystander.snapshot_where(3 * SECOND, |s| s.tick >= before + 60).await;
    assert!(after.player(bystander.id()).is_some());
    server.shutdown().await;
    closing.text
}

#[tokio::test]
async fn a_text_frame_gets_1003() {
    let why = offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async |c| c.send_raw(Message::Text("hello".into())).await,
        DisconnectReason::TextFrame,
        1003,
    )
    .await;
    assert!(why.contains("binary"), "{why}");
}

#[tokio::test]
async fn garbage_gets_1007() {
    let why = offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async |c| c.send_raw(Message::Binary(vec![0xFF, 0x00, 0x13].into())).await,
        DisconnectReason::InvalidMessage,
        1007,
    )
    .await;
    assert!(why.contains("malformed"), "{why}");
}

#[tokio::test]
async fn trailing_bytes_get_1007() {
    let mut ping = shared::codec::encode(&ClientMessage::Ping { id: 1 }).expect("encodes");
    ping.push(0);
    offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async move |c| c.send_raw(Message::Binary(ping.into())).await,
        DisconnectReason::InvalidMessage,
        1007,
    )
    .await;
}

#[tokio::test]
async fn a_message_over_the_limit_gets_1009() {
    offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async |c| c.send_raw(Message::Binary(vec![1u8; 10_000].into())).await,
        DisconnectReason::MessageTooBig,
        1009,
    )
    .await;
}

#[tokio::test]
async fn a_nan_input_gets_1007_and_is_never_simulated() {
    let bad = InputFrame::new(1, 0, &Input { movement: Vec2::new(f32::NAN, 0.0), aim: 0.0, buttons: 0 });
    let why = offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async move |c| c.send(&ClientMessage::Input(bad)).await,
        DisconnectReason::InvalidMessage,
        1007,
    )
    .await;
    assert!(why.contains("movement"), "{why}");
}

#[tokio::test]
async fn an_out_of_range_aim_gets_1007() {
    let bad = InputFrame::new(1, 0, &Input { movement: Vec2::ZERO, aim: 100.0, buttons: Buttons::FIRE });
    offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async move |c| c.send(&ClientMessage::Input(bad)).await,
        DisconnectReason::InvalidMessage,
        1007,
    )
    .await;
}

#[tokio::test]
async fn a_protocol_version_mismatch_is_rejected() {
    let why = offender_is_closed_alone(
        &[],
        NetLimits::default(),
        false,
        async |c| {
            c.send(&ClientMessage::Hello { protocol_version: PROTOCOL_VERSION + 1, name: "x".into(), spectate: false })
                .await
        },
        DisconnectReason::VersionMismatch,
        1002,
    )
    .await;
    assert!(why.contains("protocol version mismatch"), "{why}");
}

#[tokio::test]
async fn input_before_hello_is_a_protocol_violation() {
    offender_is_closed_alone(
        &[],
        NetLimits::default(),
        false,
        async |c| {
            c.input(Vec2::X, 0.0, 0).await;
        },
        DisconnectReason::ProtocolViolation,
        1002,
    )
    .await;
}

#[tokio::test]
async fn a_second_hello_is_a_protocol_violation() {
    offender_is_closed_alone(
        &[],
        NetLimits::default(),
        true,
        async |c| {
            c.send(&ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "again".into(), spectate: false })
                .await
        },
        DisconnectReason::ProtocolViolation,
        1002,
    )
    .await;
}

#[tokio::test]
async fn silence_after_upgrade_times_out_with_1008() {
    let limits = NetLimits { hello_timeout: Duration::from_millis(300), ..NetLimits::default() };
    offender_is_closed_alone(&[], limits, false, async |_| {}, DisconnectReason::Timeout, 1008).await;
}

#[tokio::test]
async fn flooding_gets_1008() {
    let limits = NetLimits { messages_per_second: 50, message_burst: 20, ..NetLimits::default() };
    offender_is_closed_alone(
        &[],
        limits,
        true,
        async |c| {
            for id in 0..100 {
                c.send(&ClientMessage::Ping { id }).await;
            }
        },
        DisconnectReason::RateLimited,
        1008,
    )
    .await;
}

#[tokio::test]
async fn joins_beyond_max_players_get_1013() {
    offender_is_closed_alone(
        &["--max-players", "1"],
        NetLimits::default(),
        false,
        async |c| {
            c.send(&ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "late".into(), spectate: false })
                .await
        },
        DisconnectReason::ServerFull,
        1013,
    )
    .await;
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    ann.send(&ClientMessage::Ping { id: 4242 }).await;
    loop {
        match ann.next_message().await {
            ServerMessage::Pong { id } => {
                assert_eq!(id, 4242);
                break;
            }
            ServerMessage::Snapshot { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_client_delays_no_one_and_is_dropped() {
    // A keyframe of about 180 KB into a 4 KB receive window and the server's bounded send
    // buffer: the server's write to the stalled client blocks at once, and it is dropped
    // after the write timeout.
    let limits = NetLimits { write_timeout: SECOND, ..NetLimits::default() };
    let server = start_with_limits(&["--npcs", "20000"], limits).await;
    let mut reader = Client::join(server.local_addr(), "reader").await;
    // What this machine's debug build does with 20000 NPCs and one reader: the yardstick (a
    // debug simulation of this crowd need not keep 60 Hz; it must not slow down for a stall).
    let (alone_ticks, alone_snapshots) = watch(&mut reader, 2 * SECOND).await;
    let stalled = Client::connect_small_window(server.local_addr()).await.hello("stalled").await;
    let _held_open_but_never_read = stalled.into_inner();
    assert_eq!(server.connected_clients(), 2);
    let (ticks, snapshots) = watch(&mut reader, 3 * SECOND).await;
    // Rates per second, against the yardstick's, with room for a noisy machine but not for a
    // blocked server (which would send nothing and tick nothing until the write timeout).
    let (alone_tps, tps) = (alone_ticks as f64 / 2.0, ticks as f64 / 3.0);
    let (alone_sps, sps) = (alone_snapshots as f64 / 2.0, snapshots as f64 / 3.0);
    assert!(tps >= 0.75 * alone_tps, "{tps:.1} ticks/s while another client stalled, {alone_tps:.1} before");
    assert!(sps >= 0.75 * alone_sps, "{sps:.1} snapshots/s while another client stalled, {alone_sps:.1} before");
    assert!(snapshots >= 20, "only {snapshots} snapshots in 3 s while another client stalled");
    // The stall was real: the server gave up on the stalled client, and only on it.
    reader.snapshot_where(5 * SECOND, |_| server.connected_clients() == 1).await;
    server.shutdown().await;
}

/// Reads snapshots for `how_long`: the ticks they advanced, and how many came.
async fn watch(reader: &mut Client, how_long: Duration) -> (u64, u32) {
    let first = reader.next_snapshot().await.tick;
    let started = tokio::time::Instant::now();
    let (mut last, mut count) = (first, 0u32);
    while started.elapsed() < how_long {
        let snapshot = reader.next_snapshot().await;
        assert!(snapshot.tick > last, "ticks only move forward");
        last = snapshot.tick;
        count += 1;
    }
    (last - first, count)
}

#[tokio::test]
async fn shutdown_closes_every_client_with_1001() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let mut lurker = Client::connect(server.local_addr()).await;
    let began = tokio::time::Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    for client in [&mut ann, &mut lurker] {
        let closing = client.closing().await;
        assert_eq!(closing.reason, Some(DisconnectReason::ServerShutdown), "{closing:?}");
        assert_eq!(closing.code, Some(1001), "{closing:?}");
    }
    stopping.await.expect("shutdown completes");
    assert!(began.elapsed() < 2 * SECOND, "shutdown took {:?}", began.elapsed());
}

#[tokio::test]
async fn a_client_close_is_answered_and_removes_the_player() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let bob = Client::join(server.local_addr(), "bob").await;
    let bob_id = bob.id();
    let mut ws = bob.into_inner();
    ws.close(None).await.expect("send close");
    // The server answers the close frame (RFC 6455) and ends the stream.
    let answered = tokio::time::timeout(integration_tests::WAIT, async {
        use futures_util::StreamExt;
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert_eq!(answered, Ok(true), "close frame answered");
    ann.snapshot_where(2 * SECOND, |s| s.player(bob_id).is_none()).await;
    assert_eq!(server.connected_clients(), 1);
    let _ = ws.flush().await;
    server.shutdown().await;
}
