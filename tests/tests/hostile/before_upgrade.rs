//! Before the upgrade: every refusal is the documented HTTP status, nothing is upgraded, and
//! the connection caps, slowloris and the admin API are tried on the way.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use integration_tests::hostile::{
    Response, connect_from, exchange, exchange_on, join, mint, still_serving, ws_connect,
};
use shared::{PROTOCOL_VERSION, ServerMessage, codec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::KEY;
use crate::arena::{Arena, HANDSHAKE_SECS, MAX_CONNECTIONS, PER_IP, WITNESSES};

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
/// `server/engine/src/net/front/auth.rs` documents rather than with the server's own code.
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
