//! Chat over real sockets: lines reach players and spectators with sender, name and tick; the
//! rate limit answers with a notice and no disconnect; bad lines close with 1007; admin
//! announcements over HTTP reach every socket; a live session's chat is recorded, and a served
//! replay plays it back.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::PathBuf;
use std::time::Duration;

use engine::Server;
use engine::clock::unix_now;
use engine::config::ReplayArgs;
use engine::net::front::auth::{Claims, Role, Secret};
use engine::record::reader::Recording;
use integration_tests::{Client, http, start, status};
use shared::{ChatLine, ClientMessage, DisconnectReason, ReplayCommand, ServerMessage};

const SECRET: &[u8] = b"the chat test's secret, over thirty-two bytes";

/// The next chat line or notice, skipping everything else.
async fn next_chat(client: &mut Client) -> ServerMessage {
    loop {
        let message = client.next_message().await;
        if matches!(message, ServerMessage::Chat(_) | ServerMessage::Notice { .. }) {
            return message;
        }
    }
}

/// Chat lines and notices that arrive within `window`.
async fn chat_within(client: &mut Client, window: Duration) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(window, async {
        loop {
            seen.push(next_chat(client).await);
        }
    })
    .await;
    seen
}

fn say(text: &str) -> ClientMessage {
    ClientMessage::Chat { text: text.into() }
}

#[tokio::test]
async fn a_line_reaches_players_and_spectators_and_the_sixth_in_ten_seconds_is_dropped_with_a_notice() {
    let server = start(&[]).await;
    let addr = server.local_addr();
    let mut ann = Client::join(addr, "ann").await;
    let mut bob = Client::join(addr, "bob").await;
    let mut eve = Client::spectate(addr, "eve").await;

    ann.send(&say("hello <b>all</b>")).await;
    for client in [&mut ann, &mut bob, &mut eve] {
        match next_chat(client).await {
            ServerMessage::Chat(ChatLine { from, name, tick, text }) => {
                assert_eq!((from, name.as_str(), text.as_str()), (1, "ann", "hello <b>all</b>"));
                assert!(tick > 0, "stamped with the tick");
            }
            other => panic!("expected ann's line, got {other:?}"),
        }
    }
    // A spectator chats under its own name.
    eve.send(&say("watching")).await;
    match next_chat(&mut bob).await {
        ServerMessage::Chat(line) => assert_eq!((line.from, line.name.as_str()), (eve.id(), "eve")),
        other => panic!("expected eve's line, got {other:?}"),
    }

    for i in 2..=6 {
        ann.send(&say(&format!("line {i}"))).await;
    }
    let to_ann = chat_within(&mut ann, Duration::from_millis(700)).await;
    let to_bob = chat_within(&mut bob, Duration::from_millis(300)).await;
    let notices = to_ann.iter().filter(|m| matches!(m, ServerMessage::Notice { .. })).count();
    assert_eq!(notices, 1, "one notice for the sixth line: {to_ann:?}");
    let lines: Vec<String> = to_bob
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Chat(line) if line.from == 1 => Some(line.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines, ["line 2", "line 3", "line 4", "line 5"], "the sixth was not broadcast");
    let snapshot = ann.next_snapshot().await;
    assert!(snapshot.player(ann.id()).is_some(), "the sender plays on");
    for client in [ann, bob, eve] {
        client.close().await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_overlong_line_or_a_control_character_gets_1007() {
    let server = start(&[]).await;
    let addr = server.local_addr();
    for (text, why) in [("x".repeat(201), "201 bytes"), ("a\u{1b}[2Jb".to_owned(), "an escape code")] {
        let mut offender = Client::join(addr, "offender").await;
        offender.send(&say(&text)).await;
        let closing = offender.closing().await;
        assert_eq!((closing.reason, closing.code), (Some(DisconnectReason::InvalidMessage), Some(1007)), "{why}");
        assert!(closing.text.contains("chat"), "{why}: {}", closing.text);
    }
    server.shutdown().await;
}

fn token(role: Role) -> String {
    let now = unix_now();
    Secret::from_bytes(SECRET).expect("secret").mint(&Claims { sub: "op".into(), role, iat: now, exp: now + 600 })
}

fn announce(addr: std::net::SocketAddr, bearer: Option<&str>, body: &str) -> String {
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "POST /api/announce HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn an_admin_announcement_reaches_every_socket_and_others_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).expect("secret file");
    let secret = secret.display().to_string();
    let server = start(&["--auth-secret-file", &secret]).await;
    let addr = server.local_addr();
    let player = token(Role::Player);
    let mut ann = integration_tests::Client::connect_with(
        addr,
        &integration_tests::Connect { query: format!("token={player}"), ..Default::default() },
    )
    .await
    .expect("upgrade")
    .hello("ann")
    .await;

    let refused = [
        (None, "hi", 401, "no token"),
        (Some(player.as_str()), "hi", 403, "a player token"),
        (Some("garbage"), "hi", 401, "a bad token"),
    ];
    for (bearer, body, expected, why) in refused {
        let response = http(addr, &announce(addr, bearer, body)).await;
        assert_eq!(status(&response), expected, "{why}: {response}");
    }
    let admin = token(Role::Admin);
    let response = http(addr, &announce(addr, Some(&admin), "a\u{7}b")).await;
    assert_eq!(status(&response), 400, "a control character: {response}");
    let response = http(addr, &announce(addr, Some(&admin), &"x".repeat(2000))).await;
    assert_eq!(status(&response), 413, "over 1 KiB: {response}");
    let response = http(addr, &announce(addr, Some(&admin), "restart in 5 minutes")).await;
    assert_eq!(status(&response), 202, "{response}");
    match next_chat(&mut ann).await {
        ServerMessage::Chat(line) => {
            assert_eq!((line.from, line.name.as_str(), line.text.as_str()), (0, "server", "restart in 5 minutes"));
        }
        other => panic!("expected the announcement, got {other:?}"),
    }
    ann.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_served_replay_plays_recorded_chat_back_and_viewers_cannot_chat() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recordings/fight.rec");
    let args = ReplayArgs {
        file: fixture.clone(),
        until: None,
        dump_state: None,
        no_verify: false,
        serve: true,
        bind: "127.0.0.1:0".parse().expect("addr"),
        web_root: None,
        max_connections: 64,
        front: Default::default(),
    };
    let server = Server::start_replay(&args, Recording::open(&fixture).expect("fixture")).await.expect("starts");
    let mut viewer = Client::spectate(server.local_addr(), "viewer").await;
    // The recorded lines are at ticks 232 and 242 (server/tests/recordings.rs): start just
    // before them, at 4x.
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Seek(200))).await;
    viewer.send(&ClientMessage::ReplayControl(ReplayCommand::Speed(400))).await;
    let mut lines = Vec::new();
    while lines.len() < 2 {
        if let ServerMessage::Chat(line) = next_chat(&mut viewer).await {
            lines.push((line.tick, line.from, line.name, line.text));
        }
    }
    assert_eq!(
        lines,
        [(232, 1, "ann".to_owned(), "gg <b>bob</b>".to_owned()), (242, 0, "server".to_owned(), "round two".to_owned())]
    );
    viewer.send(&say("hi")).await;
    match next_chat(&mut viewer).await {
        ServerMessage::Notice { text } => assert!(text.contains("replays"), "{text}"),
        other => panic!("expected a notice, got {other:?}"),
    }
    viewer.close().await;
    server.shutdown().await;
}
