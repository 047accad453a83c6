//! The admin API behind `/admin`, against the real binary: the state it serves (clients with
//! their name, role, address and bytes), a kick that closes a client with `Kicked` (4001), and
//! who may use it (loopback with auth off; an admin token with auth on: 401 without one, 403
//! for another role).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use integration_tests::hostile::{closed_within, join, mint, spawn_server, ws_connect};
use integration_tests::{http, status};
use serde_json::Value;
use shared::DisconnectReason;

fn request(method: &str, path: &str, token: Option<&str>) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
}

fn json_body(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON ({e}): {body}"))
}

#[tokio::test]
async fn the_state_lists_clients_and_a_kick_closes_one_with_4001() {
    let server = spawn_server(&["--no-web", "--drain-timeout", "0"]);
    let mut ann = ws_connect(server.addr(), "").await;
    let welcome = join(&mut ann, "ann", false).await;
    let mut eve = ws_connect(server.addr(), "").await;
    join(&mut eve, "eve", true).await;

    let state = http(server.addr(), &request("GET", "/api/admin/state", None)).await;
    assert_eq!(status(&state), 200, "{state}");
    let state = json_body(&state);
    assert!(state["tick"].as_u64().is_some_and(|t| t > 0), "{state}");
    assert!(state["tick_buckets_us"].as_array().is_some_and(|b| !b.is_empty()), "{state}");
    assert!(state["bytes_out"].as_u64().is_some_and(|b| b > 0), "{state}");
    let clients = state["clients"].as_array().expect("clients");
    assert_eq!(clients.len(), 2, "{state}");
    let row = clients.iter().find(|c| c["name"] == "ann").expect("ann listed");
    assert_eq!(row["client"], welcome.client_id, "{row}");
    assert_eq!(row["spectator"], false, "{row}");
    assert!(row["addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "{row}");
    assert!(clients.iter().any(|c| c["name"] == "eve" && c["spectator"] == true), "{state}");

    let kicked =
        http(server.addr(), &request("POST", &format!("/api/admin/kick?client={}", welcome.client_id), None)).await;
    assert_eq!(status(&kicked), 200, "{kicked}");
    let (closing, _) = closed_within(&mut ann, Duration::from_secs(5), "a kicked client").await;
    assert_eq!(closing.reason, Some(DisconnectReason::Kicked), "{closing:?}");
    assert_eq!(closing.code, Some(4001), "{closing:?}");

    let unknown = http(server.addr(), &request("POST", "/api/admin/kick?client=999", None)).await;
    assert_eq!(status(&unknown), 404, "{unknown}");
    let no_id = http(server.addr(), &request("POST", "/api/admin/kick", None)).await;
    assert_eq!(status(&no_id), 400, "{no_id}");
    let page = http(server.addr(), &request("GET", "/admin", None)).await;
    assert_eq!(status(&page), 404, "--no-web serves no admin page either: {page}");
    drop(eve);
}

#[tokio::test]
async fn with_auth_on_the_admin_api_takes_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"the admin test's secret, 32 bytes or more").unwrap();
    let server = spawn_server(&["--auth-secret-file", secret.to_str().unwrap()]);
    let anonymous = http(server.addr(), &request("GET", "/api/admin/state", None)).await;
    assert_eq!(status(&anonymous), 401, "{anonymous}");
    let player = mint(&secret, "pat", "player", "1h");
    let refused = http(server.addr(), &request("POST", "/api/admin/kick?client=1", Some(&player))).await;
    assert_eq!(status(&refused), 403, "{refused}");
    let admin = mint(&secret, "root", "admin", "1h");
    let state = http(server.addr(), &request("GET", "/api/admin/state", Some(&admin))).await;
    assert_eq!(status(&state), 200, "{state}");
    // The page itself holds no data: it is served to anyone, and asks for a token.
    let page = http(server.addr(), &request("GET", "/admin", None)).await;
    assert_eq!(status(&page), 200, "{page}");
    assert!(page.contains("src/admin.js"), "the admin page");
}
