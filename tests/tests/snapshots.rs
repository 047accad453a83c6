//! Protocol v3 over real sockets: keyframes then deltas, spectators, the scoreboard only on
//! change, version 2 clients told why, and a client whose writes block still being heard.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use futures_util::SinkExt;
use glam::Vec2;
use integration_tests::{Client, start};
use shared::arena::ArenaRecord;
use shared::{DisconnectReason, EntityKind, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_join_gets_a_keyframe_then_deltas_from_each_previous_snapshot() {
    let server = start(&["--npcs", "200"]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let first = ann.next_snapshot().await;
    assert!(first.keyframe, "the first snapshot is a keyframe");
    assert_eq!(first.entities.iter().filter(|e| e.is(EntityKind::Npc)).count(), 200);
    let mut previous = first.tick;
    let mut delta_bytes = 0;
    for _ in 0..20 {
        let next = ann.next_message().await;
        let ServerMessage::Snapshot(snapshot) = next else { continue };
        assert_eq!(snapshot.baseline_tick, Some(previous), "a reading client's baseline is its last snapshot");
        previous = snapshot.tick;
        delta_bytes += snapshot.to_bytes().len();
    }
    // 200 NPCs change phase about 100 times a second; a keyframe is about 9 bytes an NPC.
    assert!(
        delta_bytes < 20 * first.bytes / 4,
        "deltas ({delta_bytes} B for 20) are far below keyframes ({} B)",
        first.bytes
    );
    server.shutdown().await;
}

#[tokio::test]
async fn spectators_see_everything_and_take_no_player_slot() {
    let server = start(&["--npcs", "10", "--max-players", "1"]).await;
    let addr = server.local_addr();
    let mut ann = Client::join(addr, "ann").await;
    let mut eve = Client::spectate(addr, "eve").await;
    let welcome = eve.welcome.clone().expect("welcome");
    assert_eq!(welcome.entity_id, 0, "a spectator has no entity");
    assert_ne!(welcome.client_id, 0, "but a live spectator has a client id");
    let seen = eve.snapshot_where(2 * SECOND, |s| s.player(ann.id()).is_some()).await;
    assert_eq!(seen.entities.len(), 11, "10 NPCs and ann, nothing for eve");
    assert_eq!(
        seen.scoreboard.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["ann"],
        "spectators score nothing"
    );
    // The one player slot is ann's: another player is refused, another spectator is not.
    let mut bob = Client::connect(addr).await;
    bob.send(&shared::ClientMessage::Hello {
        protocol_version: shared::PROTOCOL_VERSION,
        name: "bob".into(),
        spectate: false,
    })
    .await;
    assert_eq!(bob.closing().await.code, Some(1013));
    let mut zed = Client::spectate(addr, "zed").await;
    assert!(zed.next_snapshot().await.keyframe);
    // A spectator's inputs move nothing.
    let before = eve.next_snapshot().await.entities;
    eve.input(Vec2::new(1.0, 0.0), 0.0, 0).await;
    let after = eve.next_snapshot().await;
    assert_eq!(after.entities.iter().filter(|e| e.is(EntityKind::Player)).count(), 1);
    assert_eq!(
        before.iter().find(|e| e.owner == ann.id()).map(|e| e.pos),
        ann.next_snapshot().await.player(ann.id()).map(|e| e.pos)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_scoreboard_is_sent_on_join_and_on_change_only() {
    let server = start(&[]).await;
    let addr = server.local_addr();
    let mut ann = Client::join(addr, "ann").await;
    ann.next_snapshot().await;
    assert_eq!((ann.scoreboards_received, ann.scoreboard.len()), (1, 1), "one scoreboard before the first snapshot");
    for _ in 0..20 {
        ann.next_snapshot().await;
    }
    assert_eq!(ann.scoreboards_received, 1, "nothing changed in a second: no scoreboard");
    let bob = Client::join(addr, "bob").await;
    let seen = ann.snapshot_where(2 * SECOND, |s| s.scoreboard.len() == 2).await;
    assert!(seen.player(bob.id()).is_some());
    assert_eq!(ann.scoreboards_received, 2, "bob's join changed it once");
    server.shutdown().await;
}

#[tokio::test]
async fn a_version_2_hello_is_refused_naming_both_versions() {
    let server = start(&[]).await;
    let mut old = Client::connect(server.local_addr()).await;
    // Version 2's Hello { protocol_version: 2, name: "ann" } has no `spectate` byte.
    old.send_raw(Message::Binary(vec![0u8, 2, 3, b'a', b'n', b'n'].into())).await;
    let closing = old.closing().await;
    assert_eq!((closing.reason, closing.code), (Some(DisconnectReason::VersionMismatch), Some(1002)));
    let ours = format!("speaks {}", shared::PROTOCOL_VERSION);
    assert!(closing.text.contains(&ours) && closing.text.contains("sent 2"), "{}", closing.text);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_whose_writes_block_is_still_heard() {
    // 20 000 NPCs make a keyframe of about 180 KB: the writes to a client that reads nothing
    // through a 4 KB window block at once. Its inputs must still be read and applied.
    let server = start(&["--npcs", "20000"]).await;
    let addr = server.local_addr();
    let mut watcher = Client::spectate(addr, "watcher").await;
    let stalled = Client::connect_small_window(addr).await.hello("stalled").await;
    let id = stalled.id();
    let start_x =
        watcher.snapshot_where(2 * SECOND, |s| s.player(id).is_some()).await.player(id).expect("joined").pos.x;
    let mut ws = stalled.into_inner();
    for seq in 1..=60u32 {
        let input = shared::arena::Input { movement: Vec2::new(1.0, 0.0), aim: 0.0, buttons: 0 };
        let frame = shared::InputFrame::new(seq, 0, &input);
        let bytes = shared::codec::encode(&shared::ClientMessage::Input(frame)).expect("encodes");
        ws.send(Message::Binary(bytes.into())).await.expect("the server still reads");
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
    let moved = watcher.snapshot_where(2 * SECOND, |s| s.player(id).is_some_and(|p| p.pos.x > start_x + 100.0)).await;
    assert!(moved.player(id).is_some(), "the stalled client's inputs moved its player");
    assert_eq!(server.connected_clients(), 2, "blocked for under the write timeout: still connected");
    server.shutdown().await;
}
