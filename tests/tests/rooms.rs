//! Rooms: one process hosts many matches. A `/ws` without a room joins the default room;
//! `POST /api/rooms?type=T` makes another, `/ws?room=ID` joins it, `GET /api/rooms` lists
//! them, and an empty room is disposed of after `--room-empty-ttl`. Real sockets, the real
//! server on loopback.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration_tests::{Client, Connect, WAIT, header, http, start, status};
use shared::ServerMessage;
use shared::arena::ArenaRecord as _;

fn get(addr: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

fn post(addr: SocketAddr, path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn json(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {response}"))
}

async fn rooms(addr: SocketAddr) -> Vec<serde_json::Value> {
    let response = http(addr, &get(addr, "/api/rooms")).await;
    assert_eq!(status(&response), 200, "{response}");
    json(&response).as_array().cloned().expect("an array")
}

async fn make_room(addr: SocketAddr, kind: &str) -> String {
    let response = http(addr, &post(addr, &format!("/api/rooms?type={kind}"), "")).await;
    assert_eq!(status(&response), 201, "{response}");
    json(&response)["id"].as_str().expect("an id").to_owned()
}

async fn join_room(addr: SocketAddr, room: &str, name: &str) -> Client {
    let options = Connect { query: format!("room={room}"), ..Connect::default() };
    Client::connect_with(addr, &options).await.expect("upgrades").hello(name).await
}

/// The owners of the players in `client`'s next few snapshots.
async fn player_owners(client: &mut Client) -> Vec<u32> {
    let mut owners = Vec::new();
    for _ in 0..5 {
        let snapshot = client.next_snapshot().await;
        for e in snapshot.entities.iter().filter(|e| e.is(shared::EntityKind::Player)) {
            if !owners.contains(&e.owner) {
                owners.push(e.owner);
            }
        }
    }
    owners.sort_unstable();
    owners
}

/// The first chat line `client` gets within 1.5 s.
async fn heard(client: &mut Client) -> Option<String> {
    let until = Instant::now() + Duration::from_millis(1500);
    while let Ok(message) = tokio::time::timeout_at(until.into(), client.next_message()).await {
        if let ServerMessage::Chat(line) = message {
            return Some(line.text);
        }
    }
    None
}

#[tokio::test]
async fn rooms_are_separate_matches_and_an_empty_one_is_disposed_of() {
    let server = start(&["--room-empty-ttl", "1", "--sim-threads", "2"]).await;
    let addr = server.local_addr();

    let listed = rooms(addr).await;
    assert_eq!(listed.len(), 1, "the default room: {listed:?}");
    let default = listed[0]["id"].as_str().expect("id").to_owned();
    assert_eq!((listed[0]["type"].as_str(), listed[0]["game"].as_str()), (Some("arena"), Some("arena")));
    assert_eq!(listed[0]["clients"], 0);
    assert_eq!(listed[0]["max_clients"], 32);
    assert_eq!(listed[0]["locked"], false);

    let other = make_room(addr, "arena").await;
    assert_ne!(other, default);
    let mut ann = Client::join(addr, "ann").await;
    let mut bob = join_room(addr, &other, "bob").await;
    let mut cat = join_room(addr, &other, "cat").await;
    assert!(ann.id() != bob.id() && bob.id() != cat.id() && ann.id() != cat.id(), "ids are unique in the process");

    assert_eq!(player_owners(&mut ann).await, vec![ann.id()], "the default room holds ann alone");
    let mut both = vec![bob.id(), cat.id()];
    both.sort_unstable();
    assert_eq!(player_owners(&mut bob).await, both, "bob's room holds bob and cat");
    assert_eq!(player_owners(&mut cat).await, both);

    let listed = rooms(addr).await;
    let clients: Vec<_> = listed.iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r["clients"].clone())).collect();
    assert_eq!(clients, vec![(default.clone(), 1.into()), (other.clone(), 2.into())], "oldest first");
    let only_blobs = http(addr, &get(addr, "/api/rooms?type=blobs")).await;
    assert_eq!(json(&only_blobs), serde_json::json!([]), "filtered by type");

    // An announcement to one room reaches only that room.
    let response = http(addr, &post(addr, &format!("/api/announce?room={other}"), "to bob's room")).await;
    assert_eq!(status(&response), 202, "{response}");
    assert_eq!(heard(&mut bob).await.as_deref(), Some("to bob's room"));
    assert_eq!(heard(&mut ann).await, None, "the default room did not hear it");

    // Empty for a second, the made room goes; the default room stays, empty or not.
    bob.close().await;
    cat.close().await;
    ann.close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let ids: Vec<_> = rooms(addr).await.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        if ids == [default.clone()] {
            break;
        }
        assert!(Instant::now() < deadline, "the empty room was not disposed of: {ids:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Metrics by room type and a distribution of clients per room, never a series per room.
    let metrics = http(addr, &get(addr, "/metrics")).await;
    for line in [
        "arena_rooms{type=\"arena\"} 1",
        "arena_rooms_made_total{type=\"arena\"} 2",
        "arena_rooms_disposed_total{type=\"arena\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = http(addr, &get(addr, "/metrics")).await;
        let sampled = ["le=\"0\"} 1", "le=\"+Inf\"} 1"]
            .iter()
            .all(|tail| metrics.lines().any(|l| l.starts_with("arena_rooms_by_clients{") && l.ends_with(tail)));
        if sampled {
            assert!(!metrics.contains(&other), "no series names a room");
            break;
        }
        assert!(Instant::now() < deadline, "one empty room sampled:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = Client::connect_with(addr, &Connect { query: format!("room={other}"), ..Connect::default() }).await;
    match gone {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 404),
        Err(other) => panic!("expected a 404 for a disposed room, got {other}"),
        Ok(_) => panic!("a disposed room was joined"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_rooms_and_types_are_404_bad_requests_400_and_the_cap_503() {
    let server = start(&["--max-rooms", "2"]).await;
    let addr = server.local_addr();
    for query in ["room=nosuchroom", "room=bad%20id", &format!("room={}", "x".repeat(33))] {
        let refused = Client::connect_with(addr, &Connect { query: query.into(), ..Connect::default() }).await;
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 404, "{query}")
            }
            Err(other) => panic!("{query}: expected a 404, got {other}"),
            Ok(_) => panic!("{query}: joined a room that does not exist"),
        }
    }
    let unknown = http(addr, &post(addr, "/api/rooms?type=chess", "")).await;
    assert_eq!(status(&unknown), 404, "{unknown}");
    assert!(unknown.contains("arena"), "names the types there are: {unknown}");
    let untyped = http(addr, &post(addr, "/api/rooms", "")).await;
    assert_eq!(status(&untyped), 400, "{untyped}");
    make_room(addr, "arena").await;
    let full = http(addr, &post(addr, "/api/rooms?type=arena", "")).await;
    assert_eq!(status(&full), 503, "the default room and one more make --max-rooms 2: {full}");
    assert_eq!(header(&full, "retry-after").as_deref(), Some("5"));
    let put = http(
        addr,
        &format!("PUT /api/rooms HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status(&put), 405, "{put}");
    // A page of another origin may not make rooms from a visitor's browser.
    let foreign = format!(
        "POST /api/rooms?type=arena HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(status(&http(addr, &foreign).await), 403);
    assert_eq!(rooms(addr).await.len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn room_types_carry_their_game_and_settings() {
    let server =
        start(&["--room-type", "duel=arena,max-players=2", "--room-type", "feast=blobs,pellets=10,view-radius=0"])
            .await;
    let addr = server.local_addr();
    let duel = make_room(addr, "duel").await;
    let feast = make_room(addr, "feast").await;
    let listed = rooms(addr).await;
    let find = |id: &str| listed.iter().find(|r| r["id"] == id).cloned().expect("listed");
    assert_eq!((find(&duel)["game"].clone(), find(&duel)["max_clients"].clone()), ("arena".into(), 2.into()));
    assert_eq!(find(&feast)["game"], "blobs");
    let mut blob = join_room(addr, &feast, "blob").await;
    assert_eq!(blob.welcome.as_ref().unwrap().schema.game(), "blobs", "the room runs its type's game");
    let pellets = blob.next_snapshot().await.records.len();
    assert_eq!(pellets, 11, "10 pellets and the blob itself, all in view with view-radius=0");
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_room_type_stops_the_start_with_its_reason() {
    for (spec, why) in [
        ("duel=chess", "no game \"chess\""),
        ("duel=arena,max-players=0", "max-players=0"),
        ("duel=arena,armour=3", "no setting \"armour\""),
        ("arena=blobs", "defined twice"),
    ] {
        let config =
            engine::Config::from_args(["server", "--bind", "127.0.0.1:0", "--room-type", spec]).expect("parses");
        match engine::Server::start(&config).await {
            Err(e) => assert!(e.to_string().contains(why), "{spec}: {e}"),
            Ok(_) => panic!("{spec} started"),
        }
    }
    for bad in ["duel", "bad name=arena", "duel=arena,npcs"] {
        assert!(engine::Config::from_args(["server", "--room-type", bad]).is_err(), "{bad} is refused by the parser");
    }
}
