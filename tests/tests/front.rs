//! The public face of the server over real sockets: wss with a pinned certificate, tokens at
//! the upgrade (name, role, where they are carried), the subprotocol, Origin, the per-address
//! limit and the handshake timeout.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::clock::unix_now;
use engine::net::front::auth::{Claims, Role, Secret};
use engine::net::front::upgrade::subprotocol;
use integration_tests::{Client, Connect, header, http, start, status};
use shared::{ClientMessage, DisconnectReason, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &[u8] = b"a test secret of more than thirty-two bytes";

/// A secret file in `dir`.
fn secret_file(dir: &Path) -> PathBuf {
    let path = dir.join("secret");
    std::fs::write(&path, SECRET).expect("secret written");
    path
}

fn token(name: &str, role: Role, ttl: i64) -> String {
    let now = unix_now();
    let exp = now.saturating_add_signed(ttl);
    Secret::from_bytes(SECRET).expect("secret").mint(&Claims { sub: name.into(), role, iat: now, exp })
}

/// A rustls client that trusts exactly the certificate in `pem`, with certificate checks on.
fn pinned(pem: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pem).expect("cert file") {
        roots.add(cert.expect("a certificate")).expect("a usable root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[tokio::test]
async fn wss_with_a_pinned_certificate_plays_and_plain_http_is_answered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key, _) = engine::net::front::tls::write_generated(dir.path(), &[]).expect("certificate written");
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let server = start(&["--tls-cert", &cert_arg, "--tls-key", &key_arg]).await;
    let addr = server.local_addr();

    let options = Connect { tls: Some(pinned(&cert)), ..Connect::default() };
    let mut ann = Client::connect_with(addr, &options).await.expect("wss upgrade").hello("ann").await;
    let snapshot = ann.next_snapshot().await;
    assert!(snapshot.player(ann.id()).is_some(), "a wss player gets snapshots with itself in them");

    // Another certificate in the roots: the handshake fails, so checks are really on.
    let other = tempfile::tempdir().expect("temp dir");
    let (other_cert, _, _) = engine::net::front::tls::write_generated(other.path(), &[]).expect("other certificate");
    let wrong = Connect { tls: Some(pinned(&other_cert)), ..Connect::default() };
    assert!(Client::connect_with(addr, &wrong).await.is_err(), "an unknown certificate is refused");

    // Plain HTTP to the TLS port gets a clear answer, not a hang.
    let response = http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status(&response), 400, "{response}");
    assert!(response.contains("https://"), "it says what to use: {response}");

    ann.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_token_names_the_player_and_its_role_applies_wherever_it_is_carried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = secret_file(dir.path()).display().to_string();
    let server = start(&["--auth-secret-file", &secret]).await;
    let addr = server.local_addr();

    // In the query: the token's name replaces the Hello's.
    let by_query = Connect { query: format!("token={}", token("ann", Role::Player, 600)), ..Connect::default() };
    let mut ann = Client::connect_with(addr, &by_query).await.expect("upgrade").hello("mallory").await;
    assert_ne!(ann.welcome.as_ref().expect("welcomed").entity_id, 0, "a player token plays");
    let named = |c: &Client| c.scoreboard.iter().find(|e| e.client == c.id()).map(|e| e.name.clone());
    while ann.scoreboards_received == 0 {
        ann.next_message().await;
    }
    assert_eq!(named(&ann).as_deref(), Some("ann"), "the scoreboard shows the token's name: {:?}", ann.scoreboard);

    // In a header, as a spectator: joins as a spectator although its Hello asks to play.
    let bearer = format!("Bearer {}", token("sam", Role::Spectator, 600));
    let by_header = Connect { headers: vec![("Authorization", bearer)], ..Connect::default() };
    let sam = Client::connect_with(addr, &by_header).await.expect("upgrade").hello("sam").await;
    assert_eq!(sam.welcome.as_ref().expect("welcomed").entity_id, 0, "a spectator token has no entity");

    // In the subprotocol list, beside ours: ours is selected, the token never echoed.
    let offered = format!("{}, bearer.{}", subprotocol(), token("bea", Role::Player, 600));
    let by_protocol = Connect { headers: vec![("Sec-WebSocket-Protocol", offered)], ..Connect::default() };
    let bea = Client::connect_with(addr, &by_protocol).await.expect("upgrade");
    assert_eq!(bea.protocol, Some(format!("arena.v{PROTOCOL_VERSION}")));
    let bea = bea.hello("whoever").await;
    assert_ne!(bea.welcome.as_ref().expect("welcomed").entity_id, 0);

    for client in [ann, sam, bea] {
        client.close().await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn refused_upgrades_get_401_403_or_400_and_nothing_is_upgraded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = secret_file(dir.path()).display().to_string();
    let server = start(&["--auth-secret-file", &secret]).await;
    let addr = server.local_addr();
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let good = token("ann", Role::Player, 600);
    let expired = token("ann", Role::Player, -120);
    let cases = [
        (String::new(), 401, "no token"),
        (format!("Authorization: Bearer {expired}\r\n"), 401, "expired"),
        (format!("Authorization: Bearer {good}x\r\n"), 401, "bad signature"),
        (format!("Authorization: Bearer {good}\r\nOrigin: https://evil.example\r\n"), 403, "foreign origin"),
        (format!("Authorization: Bearer {good}\r\nSec-WebSocket-Protocol: chat, superchat\r\n"), 400, "subprotocol"),
    ];
    for (extra, expected, why) in cases {
        let request = format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\n{upgrade}{extra}\r\n");
        let response = http(addr, &request).await;
        assert_eq!(status(&response), expected, "{why}: {response}");
        assert!(!response.contains("101"), "{why}: nothing is upgraded: {response}");
        assert!(header(&response, "sec-websocket-accept").is_none(), "{why}: {response}");
        if expected == 401 {
            let challenge = header(&response, "www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Bearer realm="), "{why}: {response}");
        }
        if why == "subprotocol" {
            assert!(response.contains(&subprotocol()), "the body names what is spoken: {response}");
        }
    }
    assert_eq!(server.connected_clients(), 0, "no session was started");
    server.shutdown().await;
}

#[tokio::test]
async fn an_open_server_takes_no_token_and_checks_hello_as_before() {
    let server = start(&[]).await;
    let addr = server.local_addr();
    // Our subprotocol offered: selected; a wrong version in Hello is still refused with 1002.
    let options = Connect { headers: vec![("Sec-WebSocket-Protocol", subprotocol())], ..Connect::default() };
    let mut old = Client::connect_with(addr, &options).await.expect("upgrade");
    assert_eq!(old.protocol, Some(subprotocol()));
    old.send(&ClientMessage::Hello { protocol_version: PROTOCOL_VERSION - 1, name: "old".into(), spectate: false })
        .await;
    let closing = old.closing().await;
    assert_eq!(
        (closing.reason, closing.code),
        (Some(DisconnectReason::VersionMismatch), Some(1002)),
        "{}",
        closing.text
    );
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_per_address_limit_get_429() {
    let server = start(&["--max-connections-per-ip", "2"]).await;
    let addr = server.local_addr();
    let held = [TcpStream::connect(addr).await.expect("1st"), TcpStream::connect(addr).await.expect("2nd")];
    let response = http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status(&response), 429, "{response}");
    assert!(header(&response, "retry-after").is_some(), "{response}");
    drop(held);
    // The slots come back once the held connections are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = http(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        if status(&response) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never came back: {response}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_head_that_trickles_in_is_cut_off_at_the_handshake_timeout() {
    let server = start(&["--handshake-timeout", "1"]).await;
    let addr = server.local_addr();
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.expect("first bytes");
    let mut rest = b"X-Slow: 1\r\n".iter().cycle();
    let mut sink = [0u8; 256];
    let closed_after = loop {
        tokio::select! {
            read = slow.read(&mut sink) => match read {
                Ok(0) | Err(_) => break started.elapsed(),
                Ok(_) => {} // hyper may answer before closing
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let byte = [*rest.next().expect("endless")];
                if slow.write_all(&byte).await.is_err() {
                    break started.elapsed();
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the slow head was never cut off");
    };
    assert!(closed_after >= Duration::from_millis(900), "not before the timeout: {closed_after:?}");
    // A normal request still gets through.
    let response = http(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&response), 200, "{response}");
    server.shutdown().await;
}
