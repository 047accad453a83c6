//! Interest management over real sockets (`--view-radius`): players far apart do not see each
//! other, see each other once one walks near, and lose sight again when it walks away;
//! spectators see everything; and a player in a big crowd is sent far fewer bytes with a
//! radius than without. Every snapshot is applied by the test client, which fails on any
//! delta that does not fit the state it holds.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use glam::Vec2;
use integration_tests::{Client, Snapshot, start};
use shared::EntityKind;
use shared::arena::ArenaRecord;

const SECOND: Duration = Duration::from_secs(1);

/// An open field, 2000 × 1000, with two spawn points 1000 units apart.
const FIELD: &str = r#"{"id":"field","width":2000,"height":1000,"walls":[],"spawns":[[500,500],[1500,500]]}"#;

fn own(snapshot: &Snapshot, client: u32) -> Vec2 {
    snapshot.player(client).expect("a player always sees itself").pos
}

/// Joins `name` until it spawns at a point other than `other` (spawn points are drawn at
/// random); returns it with its position.
async fn join_away_from(addr: std::net::SocketAddr, name: &str, other: Vec2) -> (Client, Vec2) {
    for _ in 0..20 {
        let mut client = Client::join(addr, name).await;
        let id = client.id();
        let pos = own(&client.next_snapshot().await, id);
        if pos.distance(other) > 900.0 {
            return (client, pos);
        }
        client.close().await;
    }
    panic!("{name} never spawned away from {other}");
}

#[tokio::test]
async fn players_see_each_other_only_within_the_radius() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("field.json");
    std::fs::write(&map, FIELD).unwrap();
    let server = start(&["--map", map.to_str().unwrap(), "--view-radius", "300"]).await;
    let addr = server.local_addr();
    let mut ann = Client::join(addr, "ann").await;
    let ann_pos = own(&ann.next_snapshot().await, ann.id());
    let (mut bob, bob_pos) = join_away_from(addr, "bob", ann_pos).await;
    let (a, b) = (ann.id(), bob.id());
    let mut eve = Client::spectate(addr, "eve").await;

    // 1000 units apart: neither sees the other; the spectator sees both.
    let seen = eve.snapshot_where(2 * SECOND, |s| s.player(a).is_some() && s.player(b).is_some()).await;
    assert_eq!(seen.entities.len(), 2);
    for _ in 0..10 {
        let (sa, sb) = (ann.next_snapshot().await, bob.next_snapshot().await);
        assert_eq!(sa.entities.iter().map(|e| e.owner).collect::<Vec<_>>(), [a], "ann sees only herself");
        assert_eq!(sb.entities.iter().map(|e| e.owner).collect::<Vec<_>>(), [b], "bob sees only himself");
    }

    // Bob walks toward ann at full speed; she sees him once he is within 300 units.
    let toward = (ann_pos - bob_pos).normalize();
    bob.input(toward, 0.0, 0).await;
    let met = ann.snapshot_where(10 * SECOND, |s| s.player(b).is_some()).await;
    let distance = own(&met, a).distance(met.player(b).unwrap().pos);
    assert!((270.0..=301.0).contains(&distance), "ann first sees bob {distance} units away");
    bob.input(Vec2::ZERO, 0.0, 0).await;
    let near = bob.snapshot_where(2 * SECOND, |s| s.player(a).is_some()).await;
    assert!(own(&near, b).distance(ann_pos) <= 300.5, "and bob sees her");
    assert_eq!(near.entities.iter().filter(|e| e.is(EntityKind::Player)).count(), 2);

    // He walks back: she keeps seeing him through the band, and loses him beyond 330 units.
    bob.input(-toward, 0.0, 0).await;
    let mut farthest_seen = 0.0f32;
    let gone = ann
        .snapshot_where(10 * SECOND, |s| match s.player(b) {
            Some(p) => {
                farthest_seen = farthest_seen.max(p.pos.distance(ann_pos));
                false
            }
            None => true,
        })
        .await;
    assert!(farthest_seen > 310.0, "seen up to {farthest_seen} units away: the band keeps him");
    assert!(farthest_seen <= 331.0, "seen up to {farthest_seen} units away: beyond the band he goes");
    assert_eq!(gone.entities.len(), 1);
    let everyone = eve.next_snapshot().await;
    assert!(everyone.player(a).is_some() && everyone.player(b).is_some(), "the spectator still sees both");
    server.shutdown().await;
}

/// Bytes of the first 40 snapshots a player gets (keyframe included), and the last state.
async fn forty_snapshots(flags: &[&str]) -> (usize, Snapshot, Snapshot) {
    let server = start(flags).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let mut bytes = 0;
    let mut last = None;
    for _ in 0..40 {
        let snapshot = ann.next_snapshot().await;
        bytes += snapshot.bytes;
        last = Some(snapshot);
    }
    let mut eve = Client::spectate(server.local_addr(), "eve").await;
    let spectated = eve.next_snapshot().await;
    server.shutdown().await;
    (bytes, last.unwrap(), spectated)
}

#[tokio::test]
async fn a_radius_cuts_what_a_player_in_a_crowd_is_sent() {
    let crowd = ["--npcs", "3000", "--seed", "3"];
    let (all_bytes, all, _) = forty_snapshots(&crowd).await;
    let (view_bytes, view, spectated) = forty_snapshots(&[&crowd[..], &["--view-radius", "300"]].concat()).await;
    let npcs = |s: &Snapshot| s.entities.iter().filter(|e| e.is(EntityKind::Npc)).count();
    assert_eq!(npcs(&all), 3000, "without a radius, everything");
    assert_eq!(npcs(&spectated), 3000, "a spectator sees everything even with a radius");
    // π · 300² / 2000² ≈ 7% of the crowd at most, minus what the map's edge cuts off.
    let me = own(&view, view.entities.iter().find(|e| e.is(EntityKind::Player)).unwrap().owner);
    assert!(npcs(&view) > 0 && npcs(&view) < 300, "{} NPCs in view", npcs(&view));
    for npc in view.entities.iter().filter(|e| e.is(EntityKind::Npc)) {
        assert!(npc.pos.distance(me) <= 331.0, "NPC {} is {} units away", npc.id, npc.pos.distance(me));
    }
    assert!(view_bytes * 5 < all_bytes, "{view_bytes} bytes with a radius, {all_bytes} without");
}
