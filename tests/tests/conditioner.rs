//! The link conditioner end to end: the real server on 127.0.0.1 with `--sim-latency` and
//! `--sim-jitter`, a real WebSocket client timing `Ping` → `Pong` round trips.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::{Duration, Instant};

use engine::Config;
use integration_tests::{Client, start};
use shared::{ClientMessage, ServerMessage};

const MS: Duration = Duration::from_millis(1);

/// Sends `Ping { id }` and waits for its `Pong`, skipping snapshots; the round trip.
async fn round_trip(client: &mut Client, id: u32) -> Duration {
    let sent = Instant::now();
    client.send(&ClientMessage::Ping { id }).await;
    loop {
        if let ServerMessage::Pong { id: got } = client.next_message().await {
            assert_eq!(got, id, "pongs come back in order");
            return sent.elapsed();
        }
    }
}

/// The round trips of `count` pings, one after another, sorted.
async fn round_trips(client: &mut Client, count: u32) -> Vec<Duration> {
    let mut rtts = Vec::new();
    for id in 1..=count {
        rtts.push(round_trip(client, id).await);
    }
    rtts.sort();
    rtts
}

#[tokio::test]
async fn pings_take_twice_the_simulated_latency_and_stay_in_order() {
    let server = start(&["--sim-latency", "40", "--sim-jitter", "10"]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let rtts = round_trips(&mut ann, 30).await;
    let p50 = rtts[rtts.len() / 2];
    // Each way 30 to 50 ms: 60 to 100 ms, with room above for a loaded machine. Timers never
    // fire early, so the floor is exact.
    let (min, max) = (rtts[0], rtts[rtts.len() - 1]);
    eprintln!("round trips through the conditioner: min {min:?}, p50 {p50:?}, max {max:?}");
    assert!(min >= 60 * MS, "fastest round trip {min:?} beat 2 x (40 - 10) ms");
    assert!(max <= 250 * MS, "slowest round trip {max:?}");
    assert!(p50 >= 70 * MS, "median round trip {p50:?}");

    // A burst of pings sent back to back: the jitter must not reorder their pongs.
    let sent = Instant::now();
    for id in 100..120 {
        ann.send(&ClientMessage::Ping { id }).await;
    }
    let mut next = 100;
    while next < 120 {
        if let ServerMessage::Pong { id } = ann.next_message().await {
            assert_eq!(id, next, "pong {id} overtook pong {next}");
            next += 1;
        }
    }
    assert!(sent.elapsed() >= 60 * MS, "the burst came back after {:?}", sent.elapsed());

    // Snapshots still flow through the conditioned connection.
    ann.next_snapshot().await;
    ann.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn without_the_flags_round_trips_stay_short() {
    let server = start(&[]).await;
    let mut ann = Client::join(server.local_addr(), "ann").await;
    let rtts = round_trips(&mut ann, 30).await;
    let p50 = rtts[rtts.len() / 2];
    assert!(p50 < 20 * MS, "median round trip {p50:?} without a conditioner");
    ann.close().await;
    server.shutdown().await;
}

#[test]
fn the_flags_default_to_off_and_are_bounded() {
    let config = Config::from_args(["server"]).unwrap();
    assert!(!config.front.link_conditioner().is_on());
    let config = Config::from_args(["server", "--sim-latency", "75", "--sim-jitter", "10"]).unwrap();
    let link = config.front.link_conditioner();
    assert_eq!((link.latency_ms, link.jitter_ms), (75, 10));
    assert!(Config::from_args(["server", "--sim-latency", "10001"]).is_err(), "at most 10 s");
    assert!(Config::from_args(["server", "--sim-jitter", "-1"]).is_err());
}
