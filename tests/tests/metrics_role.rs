//! The `metrics` role against the real binary with auth on: a token minted with `server token
//! --role metrics` reads `/metrics` and `/stats` and nothing else (403 on the admin API, with
//! nothing done; 403 on `/ws` before any upgrade, whichever way the token is carried). An admin
//! token still gets everything; a player token gets neither `/metrics` nor `/stats`. With auth
//! off `/stats` stays open (the benchmark reads it so).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::net::SocketAddr;

use integration_tests::hostile::{exchange, join, mint, spawn_server, ws_connect, ws_connect_with};
use integration_tests::{http, status};
use serde_json::Value;
use shared::PROTOCOL_VERSION;

/// A request with an optional bearer token and an empty body, closed after the answer.
fn request(method: &str, path: &str, token: Option<&str>) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
}

/// A `POST /api/announce` of `text`.
fn announce(text: &str, token: &str) -> String {
    format!(
        "POST /api/announce HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
}

/// A well-formed WebSocket upgrade head (closed after the answer if refused).
fn upgrade(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// The clients `/api/admin/state` lists, as (id, name).
async fn clients(addr: SocketAddr, admin: &str) -> Vec<(u64, String)> {
    let response = http(addr, &request("GET", "/api/admin/state", Some(admin))).await;
    assert_eq!(status(&response), 200, "{response}");
    let state: Value = serde_json::from_str(body(&response)).unwrap_or_else(|e| panic!("JSON ({e}): {response}"));
    state["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| (c["client"].as_u64().expect("id"), c["name"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_metrics_token_scrapes_and_does_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"the metrics role test's secret, 32 bytes or more").unwrap();
    // Dozens of requests from 127.0.0.1 in a moment: the connection rate is tried in audit.rs.
    let server =
        spawn_server(&["--no-web", "--auth-secret-file", secret.to_str().unwrap(), "--connect-rate-per-ip", "0"]);
    let addr = server.addr();
    let scraper = mint(&secret, "prometheus", "metrics", "1h");
    let admin = mint(&secret, "root", "admin", "1h");
    let player = mint(&secret, "pat", "player", "1h");

    // A player in the game, to be left alone by everything the scraper tries.
    let mut pat = ws_connect(addr, &player).await;
    let welcome = join(&mut pat, "ignored", false).await;

    // It reads /metrics and /stats.
    let metrics = http(addr, &request("GET", "/metrics", Some(&scraper))).await;
    assert_eq!(status(&metrics), 200, "{metrics}");
    assert!(body(&metrics).contains("arena_tick_duration_seconds"), "{metrics}");
    let stats = http(addr, &request("GET", "/stats", Some(&scraper))).await;
    assert_eq!(status(&stats), 200, "{stats}");
    let stats: Value = serde_json::from_str(body(&stats)).unwrap_or_else(|e| panic!("JSON ({e}): {stats}"));
    assert!(stats["tick"].as_u64().is_some_and(|t| t > 0), "{stats}");

    // Not the admin API: 403 each, and nothing happens.
    let kick = format!("/api/admin/kick?client={}", welcome.client_id);
    for (what, req) in [
        ("state", request("GET", "/api/admin/state", Some(&scraper))),
        ("kick", request("POST", &kick, Some(&scraper))),
        ("drain", request("POST", "/api/drain", Some(&scraper))),
        ("announce", announce("the scraper speaks", &scraper)),
    ] {
        let response = http(addr, &req).await;
        assert_eq!(status(&response), 403, "{what}: {response}");
        assert!(body(&response).contains("admin token"), "{what}: the body says what it takes: {response}");
    }
    let ready = http(addr, &request("GET", "/readyz", None)).await;
    assert_eq!(status(&ready), 200, "not draining: {ready}");
    assert_eq!(clients(addr, &admin).await, vec![(u64::from(welcome.client_id), "pat".to_owned())], "pat not kicked");

    // Not a game socket: 403 before the upgrade, however the token is carried.
    let protocol = format!("Sec-WebSocket-Protocol: arena.v{PROTOCOL_VERSION}, bearer.{scraper}\r\n");
    for (what, head) in [
        ("Authorization", upgrade("/ws", &format!("Authorization: Bearer {scraper}\r\n"))),
        ("?token=", upgrade(&format!("/ws?token={scraper}"), "")),
        ("subprotocol", upgrade("/ws", &protocol)),
    ] {
        let response = exchange(addr, head.as_bytes()).await;
        assert_eq!(response.status, 403, "{what}: {}", response.raw);
        assert!(!response.upgraded(), "{what}: nothing upgraded: {}", response.raw);
        assert!(response.body().contains("metrics token"), "{what}: the body says why: {}", response.raw);
        assert!(!response.raw.contains(&scraper), "{what}: the token is not echoed");
    }
    assert_eq!(clients(addr, &admin).await.len(), 1, "no client was added by the scraper");

    // A player token reads neither; no token gets the 401 challenge.
    for path in ["/metrics", "/stats"] {
        let refused = http(addr, &request("GET", path, Some(&player))).await;
        assert_eq!(status(&refused), 403, "{path} with a player token: {refused}");
        let anonymous = http(addr, &request("GET", path, None)).await;
        assert_eq!(status(&anonymous), 401, "{path} without a token: {anonymous}");
    }

    // An admin still gets everything: scrape, state, announce, a socket, kick, drain.
    for path in ["/metrics", "/stats", "/api/admin/state"] {
        let response = http(addr, &request("GET", path, Some(&admin))).await;
        assert_eq!(status(&response), 200, "{path} with an admin token: {response}");
    }
    let announced = http(addr, &announce("the admin speaks", &admin)).await;
    assert_eq!(status(&announced), 202, "{announced}");
    let mut root = ws_connect_with(addr, &format!("token={admin}"), &[], None).await.expect("an admin plays");
    join(&mut root, "root", false).await;
    let kicked = http(addr, &request("POST", &kick, Some(&admin))).await;
    assert_eq!(status(&kicked), 200, "{kicked}");
    let drain = http(addr, &request("POST", "/api/drain", Some(&admin))).await;
    assert_eq!(status(&drain), 202, "{drain}");
    let ready = http(addr, &request("GET", "/readyz", None)).await;
    assert_eq!(status(&ready), 503, "draining now: {ready}");
}

#[tokio::test]
async fn with_auth_off_stats_stays_open() {
    let server = spawn_server(&["--no-web", "--connect-rate-per-ip", "0"]);
    let stats = http(server.addr(), &request("GET", "/stats", None)).await;
    assert_eq!(status(&stats), 200, "{stats}");
    let metrics = http(server.addr(), &request("GET", "/metrics", None)).await;
    assert_eq!(status(&metrics), 200, "{metrics}");
}
