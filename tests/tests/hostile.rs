//! The hostile suite: the real `server` binary, as a child process with auth and small limits,
//! is attacked over real sockets on 127.0.0.1 while three witness clients keep playing (Hello,
//! then an Input at 60 Hz, reading every snapshot). Each attack must get exactly the answer
//! `shared/WIRE.md` documents (an HTTP status before the upgrade, a close code after it), the
//! server must keep serving, and at the end every witness must have received at least 99% of
//! the snapshots due to it and still be connected, until SIGTERM closes it with 1001.
//!
//! Four tests, each with its own server and witnesses, so that nextest runs them side by
//! side: refusals before the upgrade (with the connection caps, slowloris and the admin API);
//! close codes after it; bursts within the documented allowance, which must be answered, not
//! closed; and fuzzed messages, a ping-frame flood and clients that never read.
//!
//! Every client connects from loopback, mostly 127.0.0.1, so the per-address limit
//! (`PER_IP`) is sized for the witnesses plus the largest group an attack holds open at once;
//! the caps are reached on purpose only, from several 127.x addresses where needed.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use integration_tests::hostile::{
    Carrier, Response, Rng, ServerChild, Witness, WitnessReport, binary, closed_within, closing_within, connect_from,
    documented_code, exchange, exchange_on, hello, hex, join, mint, spawn_server, still_serving, ws_connect,
    ws_connect_with,
};
use shared::arena::{Buttons, Input};
use shared::{ClientMessage, DisconnectReason, InputFrame, PROTOCOL_VERSION, ReplayCommand, ServerMessage, codec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// `--max-connections`.
const MAX_CONNECTIONS: usize = 200;
/// `--max-connections-per-ip`: the witnesses, 50 slowloris and 10 silent connections and a
/// fresh join fit under it with room to spare.
const PER_IP: usize = 70;
/// `--max-players`.
const MAX_PLAYERS: usize = 8;
/// `--handshake-timeout`, in seconds.
const HANDSHAKE_SECS: u64 = 2;
/// Witnesses per server; all are players.
const WITNESSES: usize = 3;
/// The longest any one test may run before it fails (the server child is killed then too).
const TEST_LIMIT: Duration = Duration::from_secs(80);
/// The least time witnesses count snapshots: 200 of them at 20/s.
const MIN_WITNESS_TIME: Duration = Duration::from_secs(10);
/// The binary's default: time from upgrade to `Hello` (not a flag).
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A WebSocket key as RFC 6455's example has it.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A server under attack, its secrets, and the witnesses playing on it.
struct Arena {
    server: ServerChild,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    secret: PathBuf,
    witnesses: Vec<Witness>,
    /// Every token handed out, to check that none reaches the log.
    tokens: Vec<String>,
}

impl Arena {
    /// Starts the binary with auth and the suite's limits, and joins the witnesses (one per
    /// token carrier).
    fn start() -> Arena {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"hostile-suite secret: 48 bytes, not for real use").expect("secret written");
        let (max_connections, per_ip, players, handshake) =
            (MAX_CONNECTIONS.to_string(), PER_IP.to_string(), MAX_PLAYERS.to_string(), HANDSHAKE_SECS.to_string());
        let secret_arg = secret.display().to_string();
        let server = spawn_server(&[
            // SIGTERM closes at once: the witnesses check the 1001 (drains: tests/drain.rs).
            "--drain-timeout",
            "0",
            "--auth-secret-file",
            &secret_arg,
            "--max-connections",
            &max_connections,
            "--max-connections-per-ip",
            &per_ip,
            "--max-players",
            &players,
            "--handshake-timeout",
            &handshake,
            // The suite holds hundreds of sockets from a few loopback addresses with a handful
            // of tokens: the connection rate and the sessions per name are tried in audit.rs.
            "--connect-rate-per-ip",
            "0",
            "--max-sessions-per-name",
            "0",
        ]);
        let addr = server.addr();
        let mut arena = Arena { server, addr, dir, secret, witnesses: Vec::new(), tokens: Vec::new() };
        for (i, carrier) in [Carrier::Query, Carrier::Header, Carrier::Subprotocol].into_iter().enumerate() {
            let name = format!("witness{}", i + 1);
            let token = arena.token(&name, "player");
            arena.witnesses.push(Witness::join(addr, &name, &token, carrier));
        }
        arena
    }

    /// A token for `name` in `role`, minted by the binary, valid for an hour.
    fn token(&mut self, name: &str, role: &str) -> String {
        let token = mint(&self.secret, name, role, "1h");
        self.tokens.push(token.clone());
        token
    }

    /// Runs the attacks, bounded by [`TEST_LIMIT`], on a runtime of the test's own (the
    /// witnesses have theirs).
    fn attack<T>(&self, attacks: impl Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        runtime.block_on(async {
            tokio::time::timeout(TEST_LIMIT, attacks).await.expect("the attacks finished within the test's limit")
        })
    }

    /// The end of every test: each witness got >= 99% of its snapshots and was never
    /// disconnected; SIGTERM closes them with 1001 and the server exits 0 within 2 s (plus
    /// the time to notice); nothing panicked and no token was logged.
    fn finish(mut self) {
        // 99% of fewer than 200 snapshots leaves no room for the one in flight at each end of
        // the count: the witnesses play on until they have been counting for that long.
        for witness in &self.witnesses {
            std::thread::sleep(MIN_WITNESS_TIME.saturating_sub(witness.playing_for()));
        }
        let reports: Vec<WitnessReport> = self.witnesses.iter().map(Witness::report).collect();
        for report in &reports {
            println!("{report}");
        }
        for report in &reports {
            assert!(report.ended_early.is_none(), "{} was disconnected: {:?}", report.name, report.ended_early);
            assert!(report.percent() >= 99.0, "a witness fell below 99%: {report}");
        }
        let signalled = Instant::now();
        let status = self.server.terminate(Duration::from_secs(4)).expect("the server exits after SIGTERM");
        println!("server exited {status} {} ms after SIGTERM", signalled.elapsed().as_millis());
        for witness in std::mem::take(&mut self.witnesses) {
            let closing = witness.closed(Duration::from_secs(3));
            assert_eq!(
                (closing.reason, closing.code),
                (Some(DisconnectReason::ServerShutdown), Some(1001)),
                "shutdown closes witnesses with 1001: {closing:?}"
            );
        }
        assert!(status.success(), "the server exits 0 on SIGTERM: {status}");
        assert!(signalled.elapsed() < Duration::from_secs(3), "exit took {:?}", signalled.elapsed());
        let log = self.server.log();
        let panics: Vec<&String> = log.iter().filter(|l| l.contains("panicked")).collect();
        assert!(panics.is_empty(), "the server panicked: {panics:?}");
        for token in &self.tokens {
            assert!(!log.iter().any(|l| l.contains(token.as_str())), "a token was logged");
        }
        drop(self.dir);
    }
}

/// An upgrade request head for `target`, with this version, key and extra header lines.
fn ws_head(addr: SocketAddr, target: &str, version: &str, key: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: {key}\r\n{extra}\r\n"
    )
}

/// A well-formed upgrade request head with extra header lines.
fn upgrade(addr: SocketAddr, target: &str, extra: &str) -> String {
    ws_head(addr, target, "13", KEY, extra)
}

/// The first bytes of a request, for failure messages.
fn shown(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(&request[..request.len().min(300)]).into_owned();
    if request.len() > 300 { format!("{text}… ({} bytes)", request.len()) } else { text }
}

/// Sends `request` on a fresh connection: the answer must be `status`, nothing upgraded, and
/// the server must still serve afterwards.
async fn refused(addr: SocketAddr, what: &str, request: &[u8], status: u16) -> Response {
    let response = exchange(addr, request).await;
    assert_eq!(response.status, status, "{what}: sent {:?}\ngot {:?}", shown(request), response.raw);
    assert!(!response.upgraded(), "{what}: nothing may be upgraded: {:?}", response.raw);
    assert!(response.header("sec-websocket-accept").is_none(), "{what}: {:?}", response.raw);
    // The server's own refusals say why; hyper's parser answers malformed heads (400, 431)
    // with an empty body.
    if !matches!(what, "malformed HTTP" | "a 16 KiB header" | "100 headers") {
        assert!(!response.body().is_empty(), "{what}: the body says why: {:?}", response.raw);
    }
    assert!(still_serving(addr).await, "{what}: the server stopped serving");
    response
}

/// An HS256 JWT over these JSON parts, signed with `secret`, built from the format
/// `server/engine/src/net/auth.rs` documents rather than with the server's own code.
fn forge(secret: &[u8], header: &str, claims: &str) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
}

/// Opens `count` connections from `ip` that send nothing yet.
async fn hold(addr: SocketAddr, ip: [u8; 4], count: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        held.push(connect_from(IpAddr::from(ip), addr).await);
    }
    held
}

/// Waits until the server takes a plain request again (held slots given back).
async fn slots_come_back(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !still_serving(addr).await {
        assert!(Instant::now() < deadline, "connection slots never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Before the upgrade
// ---------------------------------------------------------------------------------------------

#[test]
fn before_the_upgrade_every_refusal_is_the_documented_status() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let player = arena.token("mallory", "player");
    let admin = arena.token("root", "admin");
    let fresh = arena.token("fresh", "player");
    // Signed with another secret, by the binary itself.
    let other_secret = arena.dir.path().join("other-secret");
    std::fs::write(&other_secret, b"another secret, also more than 32 bytes long").expect("written");
    let foreign = mint(&other_secret, "eve", "admin", "1h");
    let secret = std::fs::read(&arena.secret).expect("secret");
    let jwt = r#"{"alg":"HS256","typ":"JWT"}"#;
    let now = unix_now();
    // Expired beyond the 30 s of allowed clock skew.
    let expired =
        forge(&secret, jwt, &format!(r#"{{"sub":"old","role":"player","iat":{},"exp":{}}}"#, now - 600, now - 120));
    // The same forge, unexpired, is accepted: the refusal above is for the expiry alone.
    let forged_ok =
        forge(&secret, jwt, &format!(r#"{{"sub":"forged","role":"player","iat":{now},"exp":{}}}"#, now + 600));
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"eve","role":"admin","iat":{now},"exp":{}}}"#, now + 600))
    );
    arena.tokens.extend([foreign.clone(), expired.clone(), forged_ok.clone(), alg_none.clone()]);
    let with_token = format!("/ws?token={player}");

    arena.attack(async {
        // -- The connection caps, first, while only the witnesses hold slots: 127.0.0.1 holds
        // PER_IP - 3 more, then one more gets 429; other loopback addresses fill the server
        // to MAX_CONNECTIONS, then one more gets 503.
        let started = Instant::now();
        let mut held = hold(addr, [127, 0, 0, 1], PER_IP - WITNESSES).await;
        let over = exchange_on(
            connect_from(IpAddr::from([127, 0, 0, 1]), addr).await,
            b"GET / HTTP/1.1\r\nHost: arena\r\n\r\n",
        )
        .await;
        assert_eq!(
            over.status,
            429,
            "{} held from 127.0.0.1 besides the witnesses, then one more: {:?}",
            PER_IP - WITNESSES,
            over.raw
        );
        assert!(over.header("retry-after").is_some(), "429 says when to retry: {:?}", over.raw);
        let mut filled = WITNESSES + held.len();
        let mut ip = 2;
        while filled < MAX_CONNECTIONS {
            let n = (MAX_CONNECTIONS - filled).min(PER_IP);
            held.extend(hold(addr, [127, 0, 0, ip], n).await);
            filled += n;
            ip += 1;
        }
        let full = exchange_on(
            connect_from(IpAddr::from([127, 0, 0, ip]), addr).await,
            b"GET / HTTP/1.1\r\nHost: arena\r\n\r\n",
        )
        .await;
        assert_eq!(
            full.status, 503,
            "{MAX_CONNECTIONS} connections held, then one more from a new address: {:?}",
            full.raw
        );
        assert!(full.header("retry-after").is_some(), "503 says when to retry: {:?}", full.raw);
        // Every held connection was admitted: each still gets its page.
        let mut pages = JoinSet::new();
        for stream in held {
            pages.spawn(exchange_on(stream, b"GET /healthz HTTP/1.1\r\nHost: arena\r\nConnection: close\r\n\r\n"));
        }
        while let Some(page) = pages.join_next().await {
            let page = page.expect("exchange task");
            assert_eq!(page.status, 200, "a held connection was admitted: {:?}", page.raw);
        }
        slots_come_back(addr).await;
        println!("caps: 429 and 503 in {} ms", started.elapsed().as_millis());

        // -- Requests refused before any upgrade.
        let started = Instant::now();
        let plain = format!("GET {with_token} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        let response = refused(addr, "plain GET /ws", plain.as_bytes(), 400).await;
        assert!(response.body().contains("WebSocket"), "the body says what /ws expects: {}", response.raw);
        let bad_key = ws_head(addr, &with_token, "13", "not-a-websocket-key", "");
        let response = refused(addr, "bad Sec-WebSocket-Key", bad_key.as_bytes(), 400).await;
        assert!(response.body().contains("Sec-WebSocket-Key"), "{}", response.raw);
        let unknown = upgrade(addr, &with_token, "Sec-WebSocket-Protocol: chat, superchat\r\n");
        let response = refused(addr, "only unknown subprotocols", unknown.as_bytes(), 400).await;
        let ours = format!("arena.v{PROTOCOL_VERSION}");
        assert!(response.body().contains(&ours), "the body names {ours}: {}", response.raw);
        for garbage in [
            b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            b"GET /ws HTTP/9.9\x00\xff\r\nHost: \x01\r\n\r\n".to_vec(),
        ] {
            refused(addr, "malformed HTTP", &garbage, 400).await;
        }

        // Tokens: missing, garbage, signed with another secret, expired, alg none.
        let cases = [
            ("no token", upgrade(addr, "/ws", "")),
            ("garbage token", upgrade(addr, "/ws?token=garbage", "")),
            ("garbage bearer", upgrade(addr, "/ws", "Authorization: Bearer a.b.c\r\n")),
            ("another secret", upgrade(addr, &format!("/ws?token={foreign}"), "")),
            (
                "another secret, as subprotocol",
                upgrade(addr, "/ws", &format!("Sec-WebSocket-Protocol: {ours}, bearer.{foreign}\r\n")),
            ),
            ("expired", upgrade(addr, "/ws", &format!("Authorization: Bearer {expired}\r\n"))),
            ("alg none", upgrade(addr, &format!("/ws?token={alg_none}"), "")),
        ];
        for (what, request) in cases {
            let response = refused(addr, what, request.as_bytes(), 401).await;
            let challenge = response.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Bearer realm=\"arena\""), "{what}: a Bearer challenge: {}", response.raw);
            if what == "no token" {
                assert!(!challenge.contains("error="), "a missing token is not an invalid one: {challenge}");
            } else {
                assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
            }
            for token in [&foreign, &expired, &alg_none] {
                assert!(!response.raw.contains(token.as_str()), "{what}: a token is never echoed");
            }
        }
        let mut ws = ws_connect(addr, &forged_ok).await;
        assert_ne!(join(&mut ws, "forged", false).await.entity_id, 0, "an unexpired forge plays");
        ws.close(None).await.expect("close");

        let evil = upgrade(addr, &with_token, "Origin: https://evil.example\r\n");
        refused(addr, "foreign Origin with a valid token", evil.as_bytes(), 403).await;
        refused(addr, "unknown path", b"GET /no/such/file HTTP/1.1\r\nHost: arena\r\nConnection: close\r\n\r\n", 404)
            .await;
        let response = refused(
            addr,
            "POST /",
            b"POST / HTTP/1.1\r\nHost: arena\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            405,
        )
        .await;
        assert!(response.header("allow").is_some(), "405 names the allowed methods: {}", response.raw);
        let v8 = ws_head(addr, &with_token, "8", KEY, "");
        let response = refused(addr, "Sec-WebSocket-Version: 8", v8.as_bytes(), 426).await;
        assert_eq!(response.header("sec-websocket-version").as_deref(), Some("13"), "{}", response.raw);
        let big = upgrade(addr, &with_token, &format!("X-Padding: {}\r\n", "a".repeat(16 * 1024)));
        refused(addr, "a 16 KiB header", big.as_bytes(), 431).await;
        let many: String = (0..100).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
        refused(addr, "100 headers", upgrade(addr, &with_token, &many).as_bytes(), 431).await;
        println!("refusals: {} ms", started.elapsed().as_millis());

        // -- Slowloris: 50 connections trickle a request head at one byte a second, 10 more
        // send nothing at all; the server closes each within the handshake timeout + 1 s,
        // while a fresh player still gets in.
        let started = Instant::now();
        let trickled = upgrade(addr, &with_token, "").into_bytes();
        let mut slow = JoinSet::new();
        for i in 0..60 {
            let head = if i < 50 { trickled.clone() } else { Vec::new() };
            slow.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let opened = Instant::now();
                let mut received = Vec::new();
                let mut next = head.iter();
                // The first byte at once, then one a second.
                let mut trickle = tokio::time::interval(Duration::from_secs(1));
                let give_up = tokio::time::sleep(Duration::from_secs(10));
                tokio::pin!(give_up);
                loop {
                    let mut buffer = [0u8; 1024];
                    tokio::select! {
                        read = tokio::io::AsyncReadExt::read(&mut stream, &mut buffer) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(n) => received.extend_from_slice(&buffer[..n]),
                        },
                        _ = trickle.tick(), if !head.is_empty() => {
                            if let Some(byte) = next.next() && stream.write_all(&[*byte]).await.is_err() {
                                break;
                            }
                        }
                        () = &mut give_up => break,
                    }
                }
                (i, opened.elapsed(), Response::from_bytes(&received))
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut newcomer = ws_connect(addr, &fresh).await;
        let welcome = join(&mut newcomer, "fresh", false).await;
        assert_ne!(welcome.entity_id, 0, "a fresh player joins during the slowloris");
        let limit = Duration::from_secs(HANDSHAKE_SECS + 1);
        let mut slowest = Duration::ZERO;
        let mut answers = std::collections::BTreeMap::<u16, usize>::new();
        while let Some(result) = slow.join_next().await {
            let (i, after, answer) = result.expect("slow task");
            let kind = if i < 50 { "trickling" } else { "silent" };
            assert!(after <= limit, "{kind} connection {i} was closed after {after:?}, over {limit:?}");
            assert!(
                after >= Duration::from_millis(HANDSHAKE_SECS * 1000 - 100),
                "{kind} connection {i} closed early, after {after:?}: {:?}",
                answer.raw
            );
            assert!(!answer.upgraded(), "{kind} connection {i}: {:?}", answer.raw);
            slowest = slowest.max(after);
            *answers.entry(answer.status).or_default() += 1;
        }
        // The newcomer really plays: its snapshots arrive.
        loop {
            match tokio::time::timeout(Duration::from_secs(2), newcomer.next()).await.expect("a snapshot in time") {
                Some(Ok(Message::Binary(bytes))) => {
                    if let ServerMessage::Snapshot(_) = codec::decode_server(&bytes).expect("decodes") {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the newcomer was cut off: {other:?}"),
            }
        }
        newcomer.close(None).await.expect("close");
        assert!(still_serving(addr).await, "serving after the slowloris");
        println!(
            "slowloris: 60 closed, the slowest after {} ms, answers by status (0: none) {answers:?}; total {} ms",
            slowest.as_millis(),
            started.elapsed().as_millis()
        );
    });

    // -- The admin API: 401 without a token, 403 with a player's, 202 with an admin's; every
    // witness hears the announcement as a chat line from the server (client 0).
    arena.attack(async {
        let text = "hostile suite: the server is under attack";
        let post = |auth: &str| {
            format!(
                "POST /api/announce HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: text/plain\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
        };
        let response = refused(addr, "announce without a token", post("").as_bytes(), 401).await;
        assert!(response.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{}", response.raw);
        refused(
            addr,
            "announce with a player token",
            post(&format!("Authorization: Bearer {player}\r\n")).as_bytes(),
            403,
        )
        .await;
        let response = exchange(addr, post(&format!("Authorization: Bearer {admin}\r\n")).as_bytes()).await;
        assert_eq!(response.status, 202, "an admin announces: {}", response.raw);
        let deadline = Instant::now() + Duration::from_secs(3);
        for witness in &arena.witnesses {
            loop {
                let heard =
                    witness.chat().into_iter().any(|line| line.from == 0 && line.name == "server" && line.text == text);
                if heard {
                    break;
                }
                assert!(Instant::now() < deadline, "no announcement reached a witness: {:?}", witness.chat());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    arena.finish();
}

// ---------------------------------------------------------------------------------------------
// After the upgrade
// ---------------------------------------------------------------------------------------------

/// Connects with `token` (joining as a player first if `joined`), sends `messages`, and
/// checks the server closed this connection with `reason` and its documented code, saying
/// why, and kept serving. Returns the close text.
async fn closed_for(
    addr: SocketAddr,
    token: &str,
    what: &str,
    joined: bool,
    messages: Vec<Message>,
    reason: DisconnectReason,
) -> String {
    let mut ws = ws_connect(addr, token).await;
    if joined {
        join(&mut ws, "offender", false).await;
    }
    for message in messages {
        ws.send(message).await.unwrap_or_else(|e| panic!("{what}: send: {e}"));
    }
    let (closing, _) = closed_within(&mut ws, Duration::from_secs(5), what).await;
    let code = documented_code(reason);
    assert_eq!((closing.reason, closing.code), (Some(reason), Some(code)), "{what}: {closing:?}");
    assert!(!closing.text.is_empty(), "{what}: the close frame says why");
    assert!(still_serving(addr).await, "{what}: the server stopped serving");
    closing.text
}

/// `bytes` as fragments of `size`: a binary frame, then continuation frames, the last final.
fn fragments(bytes: &[u8], size: usize) -> Vec<Message> {
    let count = bytes.len().div_ceil(size);
    bytes
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let opcode = if i == 0 { Data::Binary } else { Data::Continue };
            Message::Frame(Frame::message(piece.to_vec(), OpCode::Data(opcode), i + 1 == count))
        })
        .collect()
}

/// Waits until the witness's scoreboard has `count` rows: that many players on the server.
async fn players_are(witness: &Witness, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while witness.scoreboard().len() != count {
        assert!(Instant::now() < deadline, "expected {count} players, the scoreboard says {:?}", witness.scoreboard());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn after_the_upgrade_every_violation_gets_its_documented_close_code() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let token = arena.token("offender", "player");
    let players: Vec<String> =
        (0..=MAX_PLAYERS - WITNESSES).map(|i| arena.token(&format!("extra{i}"), "player")).collect();
    arena.attack(async {
        // 1008: no Hello within the hello timeout. It runs beside the other cases.
        let silent = {
            let token = token.clone();
            tokio::spawn(async move {
                let mut ws = ws_connect(addr, &token).await;
                closing_within(&mut ws, HELLO_TIMEOUT + Duration::from_secs(5)).await
            })
        };

        // One case per line: what is sent (after a Hello if joined), and the reason (so the
        // close code) WIRE.md gives for it.
        let input = InputFrame::new(1, 0, &Input { movement: Vec2::X, aim: 0.0, buttons: 0 });
        let nan = InputFrame::new(1, 0, &Input { movement: Vec2::new(f32::NAN, 0.0), aim: 0.0, buttons: 0 });
        let wide_aim = InputFrame::new(1, 0, &Input { movement: Vec2::ZERO, aim: 100.0, buttons: Buttons::FIRE });
        let unknown_button = InputFrame::new(1, 0, &Input { movement: Vec2::ZERO, aim: 0.0, buttons: 0x80 });
        // A game part of 65 bytes, one over `shared::input::MAX_INPUT_BYTES`: a legal arena
        // input followed by padding, so only its length is wrong.
        let mut long_data = input.clone();
        long_data.data.resize(65, 0);
        // A game part that is no arena input: three bytes where movement alone takes eight.
        let undecodable = InputFrame { seq: 1, view_tick: 0, data: vec![0x01, 0x02, 0x03] };
        // Version 2's Hello had no `spectate`: 00 02 03 "old".
        let v2_hello = Message::Binary(vec![0x00, 0x02, 0x03, b'o', b'l', b'd'].into());
        let garbage = || Message::Binary(vec![0xFF, 0x00, 0x13].into());
        // A chat line of 300 bytes, sent in fragments of 100: each under the limit, the
        // message over it.
        let mut long_chat = codec::encode(&ClientMessage::Chat { text: "x".repeat(200) }).expect("encodes");
        long_chat.extend(std::iter::repeat_n(b'x', 300 - long_chat.len()));
        use DisconnectReason::{InvalidMessage, MessageTooBig, ProtocolViolation, TextFrame, VersionMismatch};
        let cases = [
            ("Input before Hello", false, vec![binary(&ClientMessage::Input(input))], ProtocolViolation),
            ("Hello of protocol version 2", false, vec![v2_hello], VersionMismatch),
            ("a second Hello", true, vec![binary(&hello("again", false))], ProtocolViolation),
            (
                "ReplayControl on a live server",
                true,
                vec![binary(&ClientMessage::ReplayControl(ReplayCommand::Pause))],
                ProtocolViolation,
            ),
            ("text frame", true, vec![Message::Text("hello".into())], TextFrame),
            ("garbage binary before Hello", false, vec![garbage()], InvalidMessage),
            ("garbage binary", true, vec![garbage()], InvalidMessage),
            ("NaN in Input", true, vec![binary(&ClientMessage::Input(nan))], InvalidMessage),
            ("aim out of range in Input", true, vec![binary(&ClientMessage::Input(wide_aim))], InvalidMessage),
            ("unknown button bits in Input", true, vec![binary(&ClientMessage::Input(unknown_button))], InvalidMessage),
            ("Input with 65 bytes of game input", true, vec![binary(&ClientMessage::Input(long_data))], InvalidMessage),
            (
                "Input whose game part is no arena input",
                true,
                vec![binary(&ClientMessage::Input(undecodable))],
                InvalidMessage,
            ),
            ("empty binary message", true, vec![Message::Binary(Vec::new().into())], InvalidMessage),
            ("message over the limit", true, vec![Message::Binary(vec![0x02; 300].into())], MessageTooBig),
            (
                "message over the limit before Hello",
                false,
                vec![Message::Binary(vec![0x00; 4096].into())],
                MessageTooBig,
            ),
            ("fragmented message over the limit", true, fragments(&long_chat, 100), MessageTooBig),
        ];
        for (what, joined, messages, reason) in cases {
            let why = closed_for(addr, &token, what, joined, messages, reason).await;
            if reason == VersionMismatch {
                assert!(why.contains(&PROTOCOL_VERSION.to_string()) && why.contains('2'), "names both versions: {why}");
            }
            if what.ends_with("in Input") || what.contains("no arena input") {
                assert!(why.contains("invalid input: "), "{what}: the game refused it: {why}");
            }
            if what.contains("65 bytes") {
                assert!(why.contains("64 bytes"), "{what}: refused for its length: {why}");
            }
        }

        // 1008: Pings at 500/s, twice the sustained rate, from a client that reads its Pongs:
        // the burst allowance runs out within a second.
        let mut ws = ws_connect(addr, &token).await;
        join(&mut ws, "flooder", false).await;
        let (mut sink, mut stream) = ws.split();
        let flooding = async {
            let mut pace = tokio::time::interval(Duration::from_millis(2));
            for id in 0..2500 {
                pace.tick().await;
                if sink.send(binary(&ClientMessage::Ping { id })).await.is_err() {
                    break;
                }
            }
            std::future::pending::<()>().await;
        };
        let mut pongs = 0;
        let reading = async {
            let mut reason = None;
            loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(bytes))) => match codec::decode_server(&bytes).expect("decodes") {
                        ServerMessage::Pong { .. } => pongs += 1,
                        ServerMessage::Disconnect { reason: r, .. } => reason = Some(r),
                        _ => {}
                    },
                    Some(Ok(Message::Close(frame))) => break (reason, frame.map(|f| u16::from(f.code))),
                    Some(Ok(_)) => {}
                    other => panic!("Ping flood: the connection ended without a close frame: {other:?}"),
                }
            }
        };
        let flood_started = Instant::now();
        let closing = tokio::time::timeout(Duration::from_secs(8), async {
            tokio::select! {
                closing = reading => closing,
                () = flooding => unreachable!("the flood never ends by itself"),
            }
        })
        .await
        .expect("a Ping flood at 500/s is closed");
        assert_eq!(closing, (Some(DisconnectReason::RateLimited), Some(1008)), "Ping flood after {pongs} Pongs");
        println!("Ping flood at 500/s: 1008 after {pongs} Pongs, {} ms", flood_started.elapsed().as_millis());
        assert!(still_serving(addr).await, "serving after the Ping flood");

        // 1013: the witnesses are 3 of the 8 players; 5 more fill the server, the next is
        // refused, and a spectator still gets in. First, the offenders above must be gone.
        players_are(&arena.witnesses[0], WITNESSES).await;
        let mut extras = Vec::new();
        for token in &players[..MAX_PLAYERS - WITNESSES] {
            let mut ws = ws_connect(addr, token).await;
            assert_ne!(join(&mut ws, "extra", false).await.entity_id, 0, "players up to --max-players join");
            extras.push(ws);
        }
        players_are(&arena.witnesses[0], MAX_PLAYERS).await;
        let late = &players[MAX_PLAYERS - WITNESSES];
        let late_hello = vec![binary(&hello("late", false))];
        closed_for(addr, late, "join over --max-players", false, late_hello, DisconnectReason::ServerFull).await;
        let mut watcher = ws_connect(addr, late).await;
        assert_eq!(join(&mut watcher, "watcher", true).await.entity_id, 0, "a spectator takes no player slot");
        for ws in &mut extras {
            ws.close(None).await.expect("close");
        }

        // The silent connection's 1008.
        let (closing, after) = silent.await.expect("task").expect("the silent connection was closed");
        assert_eq!(
            (closing.reason, closing.code),
            (Some(DisconnectReason::Timeout), Some(1008)),
            "no Hello: {closing:?}"
        );
        assert!(after >= HELLO_TIMEOUT - Duration::from_millis(200), "not before the hello timeout: {after:?}");
        assert!(after <= HELLO_TIMEOUT + Duration::from_secs(1), "within a second of the hello timeout: {after:?}");
        println!("no Hello: 1008 after {} ms", after.as_millis());
    });
    arena.finish();
}

/// Sends `messages` in one burst after a `Hello`, reading everything that comes back until
/// `done` says the answers are all in; what came back, or how the connection ended first.
async fn burst(
    addr: SocketAddr,
    token: &str,
    messages: &[ClientMessage],
    mut done: impl FnMut(&[ServerMessage]) -> bool,
) -> Result<Vec<ServerMessage>, String> {
    let mut ws = ws_connect(addr, token).await;
    join(&mut ws, "burst", false).await;
    for message in messages {
        ws.feed(binary(message)).await.expect("send");
    }
    ws.flush().await.expect("flush");
    let mut answers = Vec::new();
    while !done(&answers) {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Err(_) => return Err(format!("answers stopped after {} messages", answers.len())),
            Ok(Some(Ok(Message::Binary(bytes)))) => match codec::decode_server(&bytes).expect("decodes") {
                ServerMessage::Disconnect { reason, message } => {
                    return Err(format!("closed with {reason:?} ({message}) after {} answers", answers.len()));
                }
                answer => answers.push(answer),
            },
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed: {frame:?}")),
            Ok(Some(Ok(_))) => {}
            Ok(other) => return Err(format!("connection ended: {other:?}")),
        }
    }
    let _ = ws.close(None).await;
    Ok(answers)
}

/// WIRE.md: more than 240 messages per second is refused only when sustained, "bursts of 120
/// pass"; and a chat line over the chat rate gets a `Notice`, with no disconnect. A burst
/// under the allowance whose every message has an answer must therefore be answered, from a
/// client that reads all along.
#[test]
fn a_burst_within_the_allowance_is_answered_not_closed() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let token = arena.token("burst", "player");
    let outcomes = arena.attack(async {
        let pings: Vec<ClientMessage> = (0..100).map(|id| ClientMessage::Ping { id }).collect();
        let pongs = |answers: &[ServerMessage]| {
            answers.iter().filter(|m| matches!(m, ServerMessage::Pong { .. })).count() == 100
        };
        let ping_burst = burst(addr, &token, &pings, pongs).await;
        let lines: Vec<ClientMessage> = (0..100).map(|i| ClientMessage::Chat { text: format!("line {i}") }).collect();
        let notices = |answers: &[ServerMessage]| {
            answers.iter().filter(|m| matches!(m, ServerMessage::Notice { .. })).count() == 95
        };
        let chat_burst = burst(addr, &token, &lines, notices).await;
        // 20 clients at 200 messages a second for 2 s: busy, but under the sustained 240.
        let mut busy = JoinSet::new();
        for i in 0..20u32 {
            let token = token.clone();
            busy.spawn(async move {
                let mut ws = ws_connect(addr, &token).await;
                join(&mut ws, "busy", true).await;
                let (mut sink, mut stream) = ws.split();
                let reader = tokio::spawn(async move {
                    // Snapshots keep coming, so stop at the last Pong or a deadline.
                    let mut pongs = 0u32;
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
                    while pongs < 400 {
                        let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, stream.next()).await else {
                            break;
                        };
                        match message {
                            Message::Binary(bytes) => {
                                if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Pong { .. })) {
                                    pongs += 1;
                                }
                            }
                            Message::Close(frame) => return Err(format!("busy client {i} closed: {frame:?}")),
                            _ => {}
                        }
                    }
                    Ok(pongs)
                });
                let mut ticker = tokio::time::interval(Duration::from_millis(5));
                for id in 0..400u32 {
                    ticker.tick().await;
                    sink.send(binary(&ClientMessage::Ping { id })).await.map_err(|e| format!("send: {e}"))?;
                }
                match reader.await.expect("reader") {
                    Ok(400) => Ok(()),
                    Ok(pongs) => Err(format!("busy client {i}: {pongs} of 400 Pongs")),
                    Err(e) => Err(e),
                }
            });
        }
        let mut sustained = Ok(());
        while let Some(outcome) = busy.join_next().await {
            if let Err(e) = outcome.expect("busy task") {
                sustained = Err(e);
            }
        }
        assert!(still_serving(addr).await, "serving after the bursts");
        [
            ("100 Pings", ping_burst.map(|_| ())),
            ("100 chat lines", chat_burst.map(|_| ())),
            ("20 clients at 200 messages/s", sustained),
        ]
    });
    let failed: Vec<String> =
        outcomes.iter().filter_map(|(what, outcome)| outcome.as_ref().err().map(|e| format!("{what}: {e}"))).collect();
    arena.finish();
    assert!(failed.is_empty(), "a burst within the allowed 120 messages was not answered: {failed:?}");
}

// ---------------------------------------------------------------------------------------------
// Fuzzed messages and clients that never read
// ---------------------------------------------------------------------------------------------

/// A random binary message from case `seed`: random bytes, valid messages mutated, truncated
/// or extended, Inputs with random float bits, Hellos and chat lines with random contents.
fn fuzzed(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let f = |rng: &mut Rng| f32::from_bits(rng.next_u64() as u32);
    let valid = |rng: &mut Rng| -> ClientMessage {
        match rng.below(5) {
            0 => hello("fuzz", rng.below(2) == 0),
            1 => ClientMessage::Input(InputFrame::new(
                rng.next_u64() as u32,
                0,
                &Input { movement: Vec2::X, aim: 0.5, buttons: 1 },
            )),
            2 => ClientMessage::Ping { id: rng.next_u64() as u32 },
            3 => ClientMessage::Chat { text: "hi".into() },
            _ => ClientMessage::ReplayControl(ReplayCommand::Seek(rng.next_u64())),
        }
    };
    match rng.below(8) {
        0 => {
            let len = rng.below(301);
            rng.bytes(len)
        }
        1 => {
            let mut bytes = codec::encode(&valid(&mut rng)).expect("encodes");
            for _ in 0..=rng.below(3) {
                let bit = rng.below(bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            bytes
        }
        2 => {
            let mut bytes = codec::encode(&valid(&mut rng)).expect("encodes");
            bytes.truncate(rng.below(bytes.len()));
            bytes
        }
        3 => {
            let mut bytes = codec::encode(&valid(&mut rng)).expect("encodes");
            let more = 1 + rng.below(8);
            bytes.extend(rng.bytes(more));
            bytes
        }
        4 => {
            let seq = rng.next_u64() as u32;
            let input = Input {
                movement: Vec2::new(f(&mut rng), f(&mut rng)),
                aim: f(&mut rng),
                buttons: rng.next_u64() as u8,
            };
            let view_tick = rng.next_u64() as u32;
            codec::encode(&ClientMessage::Input(InputFrame::new(seq, view_tick, &input))).expect("encodes")
        }
        5 => {
            // A Hello with any version and any name bytes (maybe not UTF-8, maybe too long).
            let mut bytes = vec![0x00, 0xFB];
            bytes.extend_from_slice(&(rng.next_u64() as u16).to_le_bytes());
            let len = rng.below(40);
            bytes.push(len as u8);
            bytes.extend(rng.bytes(len));
            bytes.push(rng.below(3) as u8);
            bytes
        }
        6 => {
            // Any variant index, in each varint width.
            let mut bytes = match rng.below(4) {
                0 => vec![rng.next_u64() as u8],
                1 => vec![0xFB, rng.next_u64() as u8, rng.next_u64() as u8],
                2 => [vec![0xFC], rng.bytes(4)].concat(),
                _ => [vec![0xFD], rng.bytes(8)].concat(),
            };
            let more = rng.below(20);
            bytes.extend(rng.bytes(more));
            bytes
        }
        _ => {
            // A chat line with random characters, control ones included, of any length.
            let len = rng.below(260);
            let text: String = (0..len).map(|_| char::from_u32(rng.below(0x250) as u32).unwrap_or('?')).collect();
            codec::encode(&ClientMessage::Chat { text }).expect("encodes")
        }
    }
}

#[test]
fn fuzzed_messages_get_documented_close_codes_and_clients_that_never_read_hurt_no_one() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let token = arena.token("fuzzer", "player");
    let sleeper = arena.token("sleeper", "spectator");
    let never_reading = arena.attack(async {
        // -- 100 fuzzed messages, each from its own connection, 20 connections at a time;
        // half of them after a Hello (as spectators, so the player cap is not what answers).
        let started = Instant::now();
        let token = Arc::new(token);
        let gate = Arc::new(tokio::sync::Semaphore::new(20));
        let mut cases = JoinSet::new();
        for seed in 0..100u64 {
            let (token, gate) = (token.clone(), gate.clone());
            cases.spawn(async move {
                let _turn = gate.acquire_owned().await.expect("semaphore");
                let bytes = fuzzed(seed);
                let mut ws = ws_connect(addr, &token).await;
                let joined = seed % 2 == 1;
                if joined {
                    join(&mut ws, "fuzz", true).await;
                }
                ws.send(Message::Binary(bytes.clone().into())).await.expect("send the fuzzed message");
                let outcome = closing_within(&mut ws, Duration::from_millis(1500)).await;
                if outcome.is_none() {
                    // A legal message after all (a Ping, an Input, a Hello, a chat line).
                    let _ = ws.close(None).await;
                }
                (seed, joined, bytes, outcome.map(|(closing, _)| closing))
            });
        }
        let mut tally = std::collections::BTreeMap::<String, usize>::new();
        while let Some(case) = cases.join_next().await {
            let (seed, joined, bytes, outcome) = case.expect("fuzz task");
            let what = format!("fuzz case {seed} (after Hello: {joined}): {}", hex(&bytes));
            let key = match outcome {
                None => "still open (a legal message)".to_owned(),
                Some(closing) => {
                    let reason =
                        closing.reason.unwrap_or_else(|| panic!("{what}: closed without a Disconnect: {closing:?}"));
                    let code =
                        closing.code.unwrap_or_else(|| panic!("{what}: closed without a close frame: {closing:?}"));
                    assert_eq!(
                        code,
                        documented_code(reason),
                        "{what}: {reason:?} must close with its documented code: {closing:?}"
                    );
                    assert!(
                        matches!(code, 1002 | 1007 | 1009 | 1013),
                        "{what}: one message can only be illegal, malformed, too big or a join too many: {closing:?}"
                    );
                    format!("{code} {reason:?}")
                }
            };
            *tally.entry(key).or_default() += 1;
        }
        assert!(still_serving(addr).await, "serving after the fuzz");
        println!("fuzz: 100 messages in {} ms: {tally:?}", started.elapsed().as_millis());

        // -- A flood of WebSocket Ping control frames (not game messages) at 5000/s for 2 s,
        // from a client that reads its Pongs: if the server closes it, it must be with a
        // documented code; either way the witnesses must not notice.
        let mut ws = ws_connect(addr, &token).await;
        join(&mut ws, "pinger", false).await;
        let (mut sink, mut stream) = ws.split();
        let reading = tokio::spawn(async move {
            let (mut pongs, mut reason) = (0u64, None);
            loop {
                match stream.next().await {
                    Some(Ok(Message::Pong(_))) => pongs += 1,
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Ok(ServerMessage::Disconnect { reason: r, .. }) = codec::decode_server(&bytes) {
                            reason = Some(r);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return (pongs, reason, frame.map(|f| u16::from(f.code))),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return (pongs, reason, None),
                }
            }
        });
        let flood_started = Instant::now();
        let mut pace = tokio::time::interval(Duration::from_millis(10));
        let mut sent = 0;
        'flood: while flood_started.elapsed() < Duration::from_secs(2) {
            pace.tick().await;
            for _ in 0..50 {
                if sink.feed(Message::Ping(b"flood".to_vec().into())).await.is_err() {
                    break 'flood;
                }
                sent += 1;
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
        let (pongs, reason, code) = tokio::time::timeout(Duration::from_secs(5), reading)
            .await
            .expect("the ping-frame flooder's connection ends after its close")
            .expect("reader task");
        if let Some(reason) = reason {
            assert_eq!(code, Some(documented_code(reason)), "ping-frame flood closed with {reason:?}");
        }
        assert!(still_serving(addr).await, "serving after the ping-frame flood");
        println!(
            "ping-frame flood: {sent} Ping frames in 2 s, {pongs} Pongs, closed by the server: {reason:?} {code:?}"
        );

        // -- 20 clients join, then never read again (a small receive window, so the server's
        // writes to them back up); the witnesses must not notice.
        let mut sleepers = Vec::new();
        for _ in 0..20 {
            let mut ws = ws_connect_with(addr, &format!("token={sleeper}"), &[], Some(4096)).await.expect("upgrade");
            ws.send(binary(&hello("sleeper", true))).await.expect("send Hello");
            sleepers.push(ws);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(still_serving(addr).await, "serving beside clients that never read");
        sleepers
    });
    arena.finish();
    // Held until after the shutdown: they must not delay it.
    drop(never_reading);
}
