//! Every hostile case in `shared/WIRE.md`'s tables against one server (auth on, small limits)
//! while three witness players keep playing (an input every 16 ms, every snapshot counted).
//! Connections that must look like other addresses (the per-address and total limits, and
//! bulk cases) come from other loopback sources (127.0.0.2 to 127.0.0.9).

mod clients;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engine::clock::unix_now;
use engine::net::front::auth::{Claims, Role, Secret};
use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use integration_tests::{header, status};
use shared::arena::Input;
use shared::{ClientMessage, InputFrame, ServerMessage, codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::KEY;
use clients::{
    SECRET, SNAPSHOT_RATE, close_code, connect_from, hello, raw, spawn, token, upgrade_request, upgraded, witness,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_cases_get_their_documented_answers_while_witnesses_play_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).expect("secret");
    let (mut child, addr) = spawn(&secret);
    let stop = Arc::new(AtomicBool::new(false));
    let mut witnesses = Vec::new();
    for name in ["w1", "w2", "w3"] {
        witnesses.push(witness(addr, name, stop.clone()).await);
    }
    // Runs in the background: an upgraded connection that never says Hello (1008 at 10 s).
    let mut silent = upgraded(addr, "silent").await;
    let silent_check = tokio::spawn(async move { close_code(&mut silent, Duration::from_secs(14)).await });

    // ---- HTTP before the upgrade: nothing is upgraded.
    let good = token("mallory", Role::Player, 600);
    let other_secret = Secret::from_bytes(&[9u8; 32]).expect("key").mint(&Claims {
        sub: "mallory".into(),
        role: Role::Admin,
        iat: 0,
        exp: unix_now() + 600,
    });
    let expired = token("mallory", Role::Player, -120);
    let with_token = format!("/ws?token={good}");
    let many_headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(16 * 1024));
    let cases: Vec<(String, u16, &str)> = vec![
        ("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".into(), 400, "plain GET /ws"),
        (upgrade_request(addr, &with_token, "").replace(KEY, "short"), 400, "bad key"),
        (
            upgrade_request(addr, &with_token, "Sec-WebSocket-Protocol: chat, superchat\r\n"),
            400,
            "unknown subprotocols",
        ),
        ("\x16\x03\x01 not http at all\r\n\r\n".into(), 400, "garbage"),
        (upgrade_request(addr, "/ws", ""), 401, "no token"),
        (upgrade_request(addr, "/ws?token=garbage", ""), 401, "garbage token"),
        (upgrade_request(addr, &format!("/ws?token={other_secret}"), ""), 401, "another secret's token"),
        (upgrade_request(addr, &format!("/ws?token={expired}"), ""), 401, "expired token"),
        (upgrade_request(addr, &with_token, "Origin: https://evil.example\r\n"), 403, "foreign origin"),
        ("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(), 404, "unknown path"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(), 405, "POST /"),
        (upgrade_request(addr, &with_token, "").replace("Version: 13", "Version: 8"), 426, "version 8"),
        (upgrade_request(addr, &with_token, &huge_header), 431, "a 16 KiB header"),
        (upgrade_request(addr, &with_token, &many_headers), 431, "100 headers"),
    ];
    for (request, expected, why) in &cases {
        let response = raw(addr, request.as_bytes()).await;
        assert_eq!(status(&response), *expected, "{why}: {response}");
        assert!(header(&response, "sec-websocket-accept").is_none(), "{why}: nothing upgraded");
        if *expected == 401 {
            assert!(header(&response, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{why}");
        }
    }

    // ---- The admin API.
    let announce = |bearer: Option<&str>| {
        let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        format!("POST /api/announce HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 5\r\nConnection: close\r\n\r\nhello")
    };
    assert_eq!(status(&raw(addr, announce(None).as_bytes()).await), 401, "announce without a token");
    assert_eq!(status(&raw(addr, announce(Some(&good)).as_bytes()).await), 403, "announce as a player");
    let admin = token("op", Role::Admin, 600);
    assert_eq!(status(&raw(addr, announce(Some(&admin)).as_bytes()).await), 202, "announce as admin");

    // ---- 429 over the per-address limit, then recovery.
    let held: Vec<TcpStream> = futures_util::future::join_all((0..60).map(|_| connect_from("127.0.0.2", addr))).await;
    let mut extra = connect_from("127.0.0.2", addr).await;
    extra.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), extra.read_to_end(&mut answer)).await;
    assert_eq!(status(&String::from_utf8_lossy(&answer)), 429, "the 61st from one address");
    drop(held);

    // ---- 503 over the connection limit (150 in all), from several addresses, then recovery.
    let mut crowd = Vec::new();
    for source in ["127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        crowd.extend(futures_util::future::join_all((0..50).map(|_| connect_from(source, addr))).await);
    }
    let mut late = connect_from("127.0.0.6", addr).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), late.read_to_end(&mut answer)).await;
    assert_eq!(status(&String::from_utf8_lossy(&answer)), 503, "past --max-connections");
    drop(crowd);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // ---- Slowloris: 50 heads trickling in are cut off at the handshake timeout (2 s), and a
    // fresh player still gets in meanwhile.
    let started = Instant::now();
    let slow: Vec<JoinHandle<Duration>> = (0..50)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = connect_from("127.0.0.7", addr).await;
                let _ = stream.write_all(b"GET / HTTP/1.1\r\n").await;
                let begun = Instant::now();
                let mut sink = [0u8; 512];
                loop {
                    tokio::select! {
                        read = stream.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) { break },
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {
                            if stream.write_all(b"X-A: b\r\n").await.is_err() { break }
                        }
                    }
                    if begun.elapsed() > Duration::from_secs(10) {
                        break;
                    }
                }
                begun.elapsed()
            })
        })
        .collect();
    let mut fresh = upgraded(addr, "fresh").await;
    fresh.send(hello("fresh")).await.expect("hello");
    let welcomed = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(Message::Binary(bytes))) = fresh.next().await {
            if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Welcome(_))) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(welcomed, Ok(true), "a legitimate join gets in during the slowloris");
    let _ = fresh.close(None).await;
    for handle in slow {
        let held_for = handle.await.expect("slow client");
        assert!(held_for < Duration::from_secs(4), "a slow head was cut off after {held_for:?}");
    }
    eprintln!("slowloris: 50 cut off within {:?}", started.elapsed());

    // ---- After the upgrade: close codes.
    // Reads while it writes, as a real client does: the close frame is read even while the
    // offender is still sending (a flood).
    let ws_case = async |name: &str, messages: Vec<Message>, join: bool| -> u16 {
        let mut ws = upgraded(addr, name).await;
        if join {
            ws.send(hello(name)).await.expect("hello");
        }
        let (mut sink, mut stream) = ws.split();
        let reader = tokio::spawn(async move { close_code(&mut stream, Duration::from_secs(5)).await });
        for message in messages {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        reader.await.expect("reader")
    };
    let frame =
        |frame: InputFrame| Message::Binary(codec::encode(&ClientMessage::Input(frame)).expect("encode").into());
    let input = |movement: Vec2| frame(InputFrame::new(1, 0, &Input { movement, aim: 0.0, buttons: 0 }));
    // A game part one byte over the 64 the engine accepts, and one that is no arena input.
    let long_data = {
        let mut long = InputFrame::new(1, 0, &Input::default());
        long.data.resize(65, 0);
        frame(long)
    };
    let undecodable = frame(InputFrame { seq: 1, view_tick: 0, data: vec![0x01, 0x02, 0x03] });
    let pings: Vec<Message> = (0..300u32)
        .map(|id| Message::Binary(codec::encode(&ClientMessage::Ping { id }).expect("encode").into()))
        .collect();
    let fragments = vec![
        Message::Frame(WsFrame::message(vec![1u8; 200], OpCode::Data(Data::Binary), false)),
        Message::Frame(WsFrame::message(vec![1u8; 200], OpCode::Data(Data::Continue), true)),
    ];
    let after_upgrade: Vec<(&str, Vec<Message>, bool, u16)> = vec![
        ("input-before-hello", vec![input(Vec2::ZERO)], false, 1002),
        ("old-version", vec![Message::Binary(vec![0u8, 2, 3, b'a', b'n', b'n'].into())], false, 1002),
        ("text", vec![Message::Text("hello".into())], true, 1003),
        ("garbage", vec![Message::Binary(vec![0xff; 12].into())], true, 1007),
        ("nan", vec![input(Vec2::new(f32::NAN, 0.0))], true, 1007),
        ("long-input-data", vec![long_data], true, 1007),
        ("undecodable-input-data", vec![undecodable], true, 1007),
        ("flood", pings, true, 1008),
        ("oversized", vec![Message::Binary(vec![1u8; 300].into())], true, 1009),
        ("fragmented", fragments, true, 1009),
    ];
    for (name, messages, join, expected) in after_upgrade {
        assert_eq!(ws_case(name, messages, join).await, expected, "{name}");
    }
    // 1013: witnesses hold 3 of the 6 player slots.
    let mut fillers = Vec::new();
    for i in 0..3 {
        let name = format!("filler{i}");
        let mut ws = upgraded(addr, &name).await;
        ws.send(hello(&name)).await.expect("hello");
        fillers.push(ws);
    }
    assert_eq!(ws_case("one-too-many", vec![], true).await, 1013, "past --max-players");
    drop(fillers);

    // 20 clients at 200 messages a second for 2 s: busy but within the limit, so all served.
    let busy: Vec<JoinHandle<bool>> = (0..20)
        .map(|i| {
            tokio::spawn(async move {
                let stream = connect_from("127.0.0.9", addr).await;
                let url = format!("ws://{addr}/ws?token={}", token(&format!("busy{i}"), Role::Spectator, 600));
                let (ws, _) = client_async(url.into_client_request().expect("request"), stream).await.expect("upgrade");
                let (mut sink, mut stream) = ws.split();
                sink.send(hello("busy")).await.expect("hello");
                let reader = tokio::spawn(async move { close_code(&mut stream, Duration::from_secs(3)).await });
                let mut ticker = tokio::time::interval(Duration::from_millis(5));
                for id in 0..400u32 {
                    ticker.tick().await;
                    let ping = codec::encode(&ClientMessage::Ping { id }).expect("encode");
                    if sink.send(Message::Binary(ping.into())).await.is_err() {
                        return false;
                    }
                }
                // Still open: the reader saw no close while we sent, and times out.
                reader.await.expect("reader") == 0
            })
        })
        .collect();
    for (i, handle) in busy.into_iter().enumerate() {
        assert!(handle.await.expect("busy client"), "busy client {i} was closed at 200 messages/s");
    }

    // 100 fuzzed messages on their own connections: only documented codes.
    let documented = [0, 1002, 1003, 1007, 1008, 1009];
    let mut seed = 0x5EED_u64;
    for i in 0..100 {
        let mut bytes = Vec::new();
        for _ in 0..(i % 40 + 1) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            bytes.push((seed >> 33) as u8);
        }
        let mut ws = upgraded(addr, "fuzz").await;
        ws.send(hello("fuzz")).await.expect("hello");
        ws.send(Message::Binary(bytes.clone().into())).await.expect("send");
        // A message that happens to be valid leaves the connection open: close it ourselves.
        let code = close_code(&mut ws, Duration::from_millis(500)).await;
        assert!(documented.contains(&code), "fuzzed {bytes:02x?} closed with undocumented {code}");
    }

    // 20 clients that join and never read: dropped by the server in time, costing witnesses
    // nothing (their receipt is checked below).
    let mut sluggards = Vec::new();
    for i in 0..20 {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket.bind("127.0.0.8:0".parse().expect("addr")).expect("bind");
        let stream = socket.connect(addr).await.expect("connect");
        let url = format!("ws://{addr}/ws?token={}", token(&format!("sluggard{i}"), Role::Spectator, 600));
        let (mut ws, _) = client_async(url.into_client_request().expect("request"), stream).await.expect("upgrade");
        ws.send(hello("sluggard")).await.expect("hello");
        sluggards.push(ws);
    }

    // The silent connection is closed for its missing Hello.
    assert_eq!(silent_check.await.expect("silent task"), 1008, "no Hello within 10 s");

    // ---- Witnesses: >= 99% of their snapshots, still connected; then shutdown closes them
    // with 1001.
    let mut received = Vec::new();
    for w in &witnesses {
        let due = w.started.elapsed().as_secs_f64() * SNAPSHOT_RATE;
        let got = w.snapshots.load(Ordering::Relaxed) as f64;
        received.push(got / due);
        assert_eq!(w.closed_with.load(Ordering::Relaxed), 0, "a witness was closed");
    }
    eprintln!("witness receipt: {received:.4?}");
    for share in &received {
        assert!(*share >= 0.99, "a witness got {:.2}% of its snapshots: {received:?}", share * 100.0);
    }
    stop.store(true, Ordering::Relaxed);
    drop(sluggards);
    // SIGTERM, as an orchestrator would stop it.
    let pid = child.pid().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    for w in witnesses {
        tokio::time::timeout(Duration::from_secs(5), w.task).await.expect("witness ends").expect("witness task");
        assert_eq!(w.closed_with.load(Ordering::Relaxed), 1001, "shutdown closes a witness with 1001");
    }
    let status = child.wait_exit(Duration::from_secs(10)).expect("server exits");
    assert!(status.success(), "the server exits cleanly: {status}");
}
