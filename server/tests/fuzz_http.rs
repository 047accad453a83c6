//! Bounded fuzzing of HTTP and the upgrade: structure-aware request heads through
//! `net::front::upgrade::check` (no sockets, thousands of cases), then mutated requests sent over
//! real sockets to a real server with auth on. No panic anywhere (a panic hook counts them,
//! the server's tasks included, as they run in this process); every answer is a documented
//! status; the server keeps serving a player throughout.
//!
//! `FUZZ_CASES` scales the case counts for longer local runs.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use engine::net::front::auth::{Claims, Role, Secret};
use engine::net::front::origin::OriginPolicy;
use engine::net::front::upgrade::{self, Gate};
use engine::{Config, Server};
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use shared::{ClientMessage, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &[u8] = b"fuzzing secret, thirty-two bytes or more";

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn secret() -> Secret {
    Secret::from_bytes(SECRET).expect("secret")
}

fn good_token() -> String {
    secret().mint(&Claims { sub: "fuzz".into(), role: Role::Player, iat: 0, exp: u64::MAX / 2 })
}

/// Header names an upgrade looks at, plus noise.
const NAMES: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Protocol",
    "Origin",
    "Authorization",
    "X-Noise",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("websocket".to_owned()),
        Just("Upgrade".to_owned()),
        Just("13".to_owned()),
        Just("dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
        Just(upgrade::subprotocol()),
        Just("chat, superchat".to_owned()),
        Just("https://evil.example".to_owned()),
        Just("http://localhost:1".to_owned()),
        Just(format!("Bearer {}", good_token())),
        Just(format!("bearer.{}", good_token())),
        "[ -~]{0,64}",
        "\\PC{0,32}",
    ]
}

/// A request head: method, path and query, headers. Each header of a valid upgrade is there
/// most of the time, mostly with a right value, so every check is reached; noise follows.
fn head() -> impl Strategy<Value = (String, String, Vec<(usize, String)>)> {
    let method = prop_oneof![8 => Just("GET".to_owned()), 1 => Just("POST".to_owned()), 1 => "[A-Z]{1,8}"];
    let path = prop_oneof![
        Just("/ws".to_owned()),
        Just(format!("/ws?token={}", good_token())),
        "/ws\\?token=[ -~]{0,40}",
        "/[a-z?=&%]{0,20}",
    ];
    let right = [
        "game.example".to_owned(),
        "websocket".to_owned(),
        "Upgrade".to_owned(),
        "13".to_owned(),
        "dGhlIHNhbXBsZSBub25jZQ==".to_owned(),
        upgrade::subprotocol(),
        "http://game.example".to_owned(),
        format!("Bearer {}", good_token()),
    ];
    let usual: Vec<_> = right
        .into_iter()
        .map(|good| prop::option::weighted(0.85, prop_oneof![4 => Just(good), 1 => value()]))
        .collect();
    let extra = prop::collection::vec((0..NAMES.len(), value()), 0..4);
    (method, path, usual, extra).prop_map(|(method, path, usual, extra)| {
        let mut headers: Vec<(usize, String)> =
            usual.into_iter().enumerate().filter_map(|(name, value)| value.map(|v| (name, v))).collect();
        headers.extend(extra);
        (method, path, headers)
    })
}

#[test]
fn upgrade_checks_never_panic_and_answer_only_documented_statuses() {
    let origins = OriginPolicy::default();
    let secret = secret();
    let config = ProptestConfig { cases: cases(5000), failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let outcomes = std::cell::RefCell::new(BTreeMap::<u16, usize>::new());
    runner
        .run(&head(), |(method, path, headers)| {
            let mut builder = hyper::Request::builder().method(method.as_str()).uri(path.as_str());
            for (name, value) in &headers {
                builder = builder.header(NAMES[*name], value.as_str());
            }
            // Heads hyper itself would refuse (bad characters) never reach the check.
            let Ok(request) = builder.body(()) else { return Ok(()) };
            let (parts, ()) = request.into_parts();
            for auth in [None, Some(&secret)] {
                let gate = Gate { origins: &origins, auth, now: 1000, https: false };
                let status = match upgrade::check(&parts, &gate) {
                    Ok(accepted) => {
                        prop_assert_eq!(&parts.method, &hyper::Method::GET);
                        prop_assert!(auth.is_none() || accepted.identity.name.is_some(), "auth on: a name");
                        101
                    }
                    Err(refusal) => refusal.status.as_u16(),
                };
                prop_assert!([101, 400, 401, 403, 405, 426].contains(&status), "undocumented status {}", status);
                *outcomes.borrow_mut().entry(status).or_default() += 1;
            }
            Ok(())
        })
        .expect("no failing case");
    // The generator must reach every answer, or the fuzzing proves little.
    let outcomes = outcomes.into_inner();
    for status in [101, 400, 401, 403, 405, 426] {
        assert!(outcomes.get(&status).copied().unwrap_or(0) > 0, "status {status} never produced: {outcomes:?}");
    }
}

/// A valid upgrade request with a token, to mutate.
fn valid_request(addr: SocketAddr) -> Vec<u8> {
    format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {}\r\n\r\n",
        good_token(),
        upgrade::subprotocol()
    )
    .into_bytes()
}

/// Mutates a request: byte flips, cuts, inserted bytes, repeated or huge headers, garbage.
fn mutate(rng: &mut TestRng, request: &[u8]) -> Vec<u8> {
    let mut bytes = request.to_vec();
    let rounds = rng.random_range(1..4);
    for _ in 0..rounds {
        let at = rng.random_range(0..bytes.len().max(1));
        match rng.random_range(0..7) {
            0 if !bytes.is_empty() => {
                let at = at.min(bytes.len() - 1);
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            0 => {}
            1 => bytes.truncate(at),
            2 => bytes.insert(at.min(bytes.len()), rng.random()),
            3 => {
                let at = at.min(bytes.len());
                bytes.splice(at..at, b"\r\n".iter().copied()).for_each(drop);
            }
            4 => {
                let header = format!("X-Big: {}\r\n", "a".repeat(rng.random_range(1..20_000)));
                let end = bytes.len().saturating_sub(2);
                bytes.splice(end..end, header.into_bytes()).for_each(drop);
            }
            5 => {
                let many: String = (0..rng.random_range(1..120)).map(|i| format!("X-{i}: v\r\n")).collect();
                let end = bytes.len().saturating_sub(2);
                bytes.splice(end..end, many.into_bytes()).for_each(drop);
            }
            _ => bytes = (0..rng.random_range(0..300)).map(|_| rng.random()).collect(),
        }
    }
    bytes
}

/// Sends `request`, half-closes, and returns the status line's code, or `None` if the server
/// closed without answering.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before the whole request is written (e.g. 431).
    let _ = stream.write_all(request).await;
    let _ = stream.shutdown().await;
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
            }
            if response.len() > 64 * 1024 {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server neither answered nor closed within 10 s: {:?}", String::from_utf8_lossy(request));
    let text = String::from_utf8_lossy(&response);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|code| code.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_over_real_sockets_get_documented_answers_and_the_game_goes_on() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_path = dir.path().join("secret");
    std::fs::write(&secret_path, SECRET).expect("secret file");
    let secret_arg = secret_path.display().to_string();
    let config = Config::from_args([
        "server",
        "--bind",
        "127.0.0.1:0",
        "--auth-secret-file",
        &secret_arg,
        "--max-connections-per-ip",
        "0",
        // Thousands of requests from one address, upgrades with one token: the parsers are
        // under test here, not the rate (tests/tests/audit.rs tries that).
        "--connect-rate-per-ip",
        "0",
        "--max-sessions-per-name",
        "0",
        "--handshake-timeout",
        "2",
    ])
    .expect("flags");
    let server = Server::start(&config).await.expect("server starts");
    let addr = server.local_addr();

    // A player keeps playing through it all.
    let url = format!("ws://{addr}/ws?token={}", good_token());
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut player, _) = tokio_tungstenite::client_async(url, tcp).await.expect("player upgrade");
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: "p".into(), spectate: false };
    player.send(Message::Binary(codec::encode(&hello).expect("encode").into())).await.expect("hello");

    let total = cases(2000) as usize;
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let base = valid_request(addr);
    let requests: Vec<Vec<u8>> = (0..total).map(|_| mutate(&mut rng, &base)).collect();
    let mut outcomes: BTreeMap<Option<u16>, usize> = BTreeMap::new();
    let documented = [101, 200, 400, 401, 403, 404, 405, 426, 431];
    for batch in requests.chunks(32) {
        let answers = futures_util::future::join_all(batch.iter().map(|r| exchange(addr, r))).await;
        for (request, answer) in batch.iter().zip(answers) {
            if let Some(status) = answer {
                assert!(
                    documented.contains(&status),
                    "undocumented {status} for {:?}",
                    String::from_utf8_lossy(request)
                );
            }
            *outcomes.entry(answer).or_default() += 1;
        }
        // Keep the player's socket drained, as a real client would.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), player.next()).await {}
    }
    let mut snapshots = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while snapshots < 5 && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Binary(bytes)))) = tokio::time::timeout(Duration::from_secs(1), player.next()).await
            && matches!(codec::decode_server(&bytes), Ok(ServerMessage::Snapshot(_)))
        {
            snapshots += 1;
        }
    }
    assert_eq!(snapshots, 5, "the player still gets snapshots after {total} hostile requests");
    assert_eq!(panics.load(Ordering::SeqCst), 0, "no panic in the server's tasks");
    for status in [Some(400), Some(401), Some(431)] {
        assert!(outcomes.contains_key(&status), "mutations should reach {status:?}: {outcomes:?}");
    }
    eprintln!("answers: {outcomes:?}");
    server.shutdown().await;
}
