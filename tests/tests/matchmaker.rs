//! The matchmaker and its seats, over real sockets against the real server on loopback: the
//! two-step join (HTTP for a seat, then `/ws?room=ID&seat=TOKEN`), seats good once, for one
//! room and one subject, for `--seat-ttl`; concurrent join-or-creates that fill rooms exactly;
//! and every refusal the API documents.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use engine::clock::unix_now;
use engine::net::front::auth::{Claims, Role, Secret};
use integration_tests::{Client, Connect, header, http, start, status};

const SECRET: &[u8] = b"a test secret of more than thirty-two bytes";

fn matchmake_request(addr: SocketAddr, path: &str, body: &str, bearer: Option<&str>) -> String {
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "POST /matchmake/{path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn matchmake(addr: SocketAddr, path: &str, body: &str) -> String {
    http(addr, &matchmake_request(addr, path, body, None)).await
}

fn json(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {response}"))
}

/// A seat: (room, token), from a 200 (with the default 15 s `--seat-ttl`, or `ttl`).
async fn seat(addr: SocketAddr, path: &str) -> (String, String) {
    seat_for(addr, path, 15).await
}

async fn seat_for(addr: SocketAddr, path: &str, ttl: u64) -> (String, String) {
    let response = matchmake(addr, path, "").await;
    assert_eq!(status(&response), 200, "{response}");
    let answer = json(&response);
    let (room, token) = (answer["room"].as_str().unwrap().to_owned(), answer["seat"].as_str().unwrap().to_owned());
    assert_eq!(answer["expires_in"], ttl);
    assert_eq!(answer["url"].as_str().unwrap(), format!("ws://{addr}/ws?room={room}&seat={token}"));
    (room, token)
}

async fn upgrade_status(addr: SocketAddr, query: String) -> u16 {
    match Client::connect_with(addr, &Connect { query, ..Connect::default() }).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP answer, got {other}"),
    }
}

#[tokio::test]
async fn join_or_create_fills_a_room_then_makes_one_and_a_seat_is_good_once_for_its_room() {
    let server = start(&["--max-players", "2"]).await;
    let addr = server.local_addr();
    let (first, a) = seat(addr, "joinOrCreate/arena").await;
    let (again, b) = seat(addr, "joinOrCreate/arena").await;
    assert_eq!(first, again, "the default room has two places");
    let (second, c) = seat(addr, "joinOrCreate/arena").await;
    assert_ne!(second, first, "a full room makes a new one");

    // A seat shown to the wrong room is refused and stays good for its own.
    assert_eq!(upgrade_status(addr, format!("room={second}&seat={a}")).await, 401);
    let options = Connect { query: format!("room={first}&seat={a}"), ..Connect::default() };
    let mut ann = Client::connect_with(addr, &options).await.expect("the seat's room").hello("ann").await;
    assert!(ann.next_snapshot().await.player(ann.id()).is_some(), "ann plays");
    assert_eq!(upgrade_status(addr, format!("room={first}&seat={a}")).await, 401, "used once");
    assert_eq!(upgrade_status(addr, format!("room={first}&seat=forged")).await, 401);
    // The subprotocol carries a seat as it carries a token.
    let options = Connect {
        query: format!("room={first}"),
        headers: vec![("Sec-WebSocket-Protocol", format!("{}, seat.{b}", engine::net::front::upgrade::subprotocol()))],
        ..Connect::default()
    };
    let bob = Client::connect_with(addr, &options).await.expect("seat as a subprotocol entry").hello("bob").await;
    assert_ne!(bob.id(), ann.id());

    // The first room is full (two seats taken), so joinById is 409; the second has a place.
    let full = matchmake(addr, &format!("joinById/{first}"), "").await;
    assert_eq!(status(&full), 409, "{full}");
    let (by_id, _) = seat(addr, &format!("joinById/{second}")).await;
    assert_eq!(by_id, second);
    // A spectator's seat takes no place, even in a full room.
    let watch = matchmake(addr, &format!("joinById/{first}"), r#"{"spectate": true}"#).await;
    assert_eq!(status(&watch), 200, "{watch}");
    let token = json(&watch)["seat"].as_str().unwrap().to_owned();
    let options = Connect { query: format!("room={first}&seat={token}"), ..Connect::default() };
    let eve = Client::connect_with(addr, &options).await.expect("a spectator's seat").hello("eve").await;
    assert_eq!(eve.welcome.as_ref().unwrap().entity_id, 0, "a spectator's seat spectates");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_join_or_creates_fill_every_room_exactly() {
    let flags = [
        "--max-players",
        "4",
        "--matchmake-per-second",
        "1000",
        "--connect-rate-per-ip",
        "1000",
        "--connect-burst-per-ip",
        "1000",
    ];
    let server = start(&flags).await;
    let addr = server.local_addr();
    let calls: Vec<_> =
        (0..40).map(|_| tokio::spawn(async move { matchmake(addr, "joinOrCreate/arena", "").await })).collect();
    let mut per_room: HashMap<String, usize> = HashMap::new();
    for call in calls {
        let response = call.await.expect("joins");
        assert_eq!(status(&response), 200, "no call fails: {response}");
        *per_room.entry(json(&response)["room"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(per_room.len(), 10, "40 seats of 4 a room: {per_room:?}");
    assert!(per_room.values().all(|&n| n == 4), "no room over- or under-filled: {per_room:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn refusals_are_the_documented_statuses() {
    let server =
        start(&["--max-players", "1", "--max-rooms", "1", "--seat-ttl", "1", "--matchmake-per-second", "1000"]).await;
    let addr = server.local_addr();
    assert_eq!(status(&matchmake(addr, "joinOrCreate/chess", "").await), 404, "unknown type");
    assert_eq!(status(&matchmake(addr, "join/chess", "").await), 404);
    assert_eq!(status(&matchmake(addr, "joinById/nosuchroom", "").await), 404);
    assert_eq!(status(&matchmake(addr, "teleport/arena", "").await), 404, "unknown call");
    assert_eq!(status(&matchmake(addr, "joinOrCreate/arena", "{not json").await), 400);
    assert_eq!(status(&matchmake(addr, "joinOrCreate/arena", r#"{"spectate": "yes"}"#).await), 400);
    assert_eq!(status(&matchmake(addr, "joinOrCreate/arena", r#"{"colour": "red"}"#).await), 400, "unknown field");
    let big = format!(r#"{{"filters": {{"k": "{}"}}}}"#, "x".repeat(5000));
    assert_eq!(status(&matchmake(addr, "joinOrCreate/arena", &big).await), 413);
    let get =
        http(addr, &format!("GET /matchmake/joinOrCreate/arena HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"))
            .await;
    assert_eq!(status(&get), 405);

    // A filter no room's metadata has finds no open room.
    assert_eq!(status(&matchmake(addr, "join/arena", r#"{"filters": {"mode": "ranked"}}"#).await), 404);
    let (room, token) = seat_for(addr, "join/arena", 1).await;
    // The only place is reserved, and --max-rooms 1 allows no second room.
    let capped = matchmake(addr, "joinOrCreate/arena", "").await;
    assert_eq!(status(&capped), 503, "{capped}");
    assert_eq!(header(&capped, "retry-after").as_deref(), Some("5"));
    assert_eq!(status(&matchmake(addr, "join/arena", "").await), 404, "no open room");
    // After --seat-ttl the seat is dead and its place free again.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(upgrade_status(addr, format!("room={room}&seat={token}")).await, 401, "expired");
    let (again, _) = seat_for(addr, "join/arena", 1).await;
    assert_eq!(again, room);
    server.shutdown().await;
}

#[tokio::test]
async fn calls_past_the_per_address_rate_are_429() {
    let server = start(&["--matchmake-per-second", "2"]).await;
    let addr = server.local_addr();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(status(&matchmake(addr, "joinOrCreate/arena", r#"{"spectate": true}"#).await));
    }
    assert_eq!(&statuses[..4], [200; 4], "twice the rate at once: {statuses:?}");
    assert!(statuses[4..].contains(&429), "then refused: {statuses:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn with_auth_a_seat_takes_a_token_and_is_bound_to_its_subject() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).expect("secret written");
    let server = start(&["--auth-secret-file", secret.to_str().unwrap(), "--max-sessions-per-name", "1"]).await;
    let addr = server.local_addr();
    let mint = |name: &str, role: Role| {
        let now = unix_now();
        Secret::from_bytes(SECRET).expect("secret").mint(&Claims { sub: name.into(), role, iat: now, exp: now + 600 })
    };
    let (ann, bob) = (mint("ann", Role::Player), mint("bob", Role::Player));
    let anonymous = http(addr, &matchmake_request(addr, "joinOrCreate/arena", "", None)).await;
    assert_eq!(status(&anonymous), 401, "{anonymous}");
    let metrics = http(addr, &matchmake_request(addr, "joinOrCreate/arena", "", Some(&mint("m", Role::Metrics)))).await;
    assert_eq!(status(&metrics), 403, "{metrics}");
    let response = http(addr, &matchmake_request(addr, "joinOrCreate/arena", "", Some(&ann))).await;
    assert_eq!(status(&response), 200, "{response}");
    let answer = json(&response);
    let query = format!("room={}&seat={}", answer["room"].as_str().unwrap(), answer["seat"].as_str().unwrap());
    let with = |token: &str| Connect {
        query: query.clone(),
        headers: vec![("Authorization", format!("Bearer {token}"))],
        ..Connect::default()
    };
    match Client::connect_with(addr, &with(&bob)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("bob took ann's seat: {:?}", other.map(|c| c.id())),
    }
    let client = Client::connect_with(addr, &with(&ann)).await.expect("ann's own seat").hello("ignored").await;
    assert_ne!(client.welcome.as_ref().unwrap().entity_id, 0, "ann plays in her seat");

    // A refusal before the seat is checked (ann's one session is open: 409) leaves it good.
    let response = http(addr, &matchmake_request(addr, "joinOrCreate/arena", "", Some(&ann))).await;
    let answer = json(&response);
    let query = format!("room={}&seat={}", answer["room"].as_str().unwrap(), answer["seat"].as_str().unwrap());
    let second = Connect { query, headers: vec![("Authorization", format!("Bearer {ann}"))], ..Connect::default() };
    match Client::connect_with(addr, &second).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 409),
        other => panic!("a second session of ann: {:?}", other.map(|c| c.id())),
    }
    client.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match Client::connect_with(addr, &second).await {
            Ok(_) => break,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status().as_u16() == 409 => {
                assert!(std::time::Instant::now() < deadline, "ann's first session never ended");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("the seat was used up by the 409: {other}"),
        }
    }
    server.shutdown().await;
}
