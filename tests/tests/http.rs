//! HTTP before the upgrade: static files, and the answers to requests that are not a valid
//! WebSocket upgrade.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use integration_tests::{Client, header, http, start, status};

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn serves_the_embedded_web_client() {
    let server = start(&[]).await;
    let index = http(server.local_addr(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&index), 200, "{index}");
    assert!(header(&index, "content-type").is_some_and(|v| v.starts_with("text/html")), "{index}");
    assert!(index.contains("<canvas"), "the page has the game canvas");
    let module = http(server.local_addr(), "GET /src/main.js HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&module), 200);
    let js = header(&module, "content-type");
    assert!(js.is_some_and(|v| v.starts_with("text/javascript")), "ES modules need a JS MIME type");
    let head = http(server.local_addr(), "HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&head), 200);
    assert!(!head.contains("<canvas"), "HEAD has no body");
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_traversal_and_other_methods_are_refused() {
    let server = start(&[]).await;
    let addr = server.local_addr();
    assert_eq!(status(&http(addr, "GET /nope.js HTTP/1.1\r\nConnection: close\r\n\r\n").await), 404);
    assert_eq!(status(&http(addr, "GET /../Cargo.toml HTTP/1.1\r\nConnection: close\r\n\r\n").await), 404);
    assert_eq!(status(&http(addr, "GET /src/../../README.md HTTP/1.1\r\nConnection: close\r\n\r\n").await), 404);
    let post = http(addr, "POST / HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&post), 405);
    assert_eq!(header(&post, "allow").as_deref(), Some("GET, HEAD"), "{post}");
    assert_eq!(status(&http(addr, "NOT HTTP AT ALL\r\n\r\n").await), 400);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(status(&http(addr, &huge).await), 431);
    server.shutdown().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start(&[]).await;
    let two = "GET /style.css HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    let response = http(server.local_addr(), two).await;
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 2, "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_plain_get_of_ws_gets_400() {
    let server = start(&[]).await;
    let response = http(server.local_addr(), "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status(&response), 400, "{response}");
    assert!(response.contains("WebSocket"), "the body says what is expected: {response}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_unsupported_websocket_version_gets_426() {
    let server = start(&[]).await;
    let request = format!("GET /ws HTTP/1.1\r\nHost: x\r\n{UPGRADE}Sec-WebSocket-Version: 8\r\n\r\n");
    let response = http(server.local_addr(), &request).await;
    assert_eq!(status(&response), 426, "{response}");
    assert_eq!(header(&response, "sec-websocket-version").as_deref(), Some("13"), "{response}");
    let no_key = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(status(&http(server.local_addr(), no_key).await), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn headless_mode_serves_no_files_but_plays() {
    let server = start(&["--no-web"]).await;
    assert_eq!(status(&http(server.local_addr(), "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await), 404);
    let mut ann = Client::join(server.local_addr(), "ann").await;
    assert!(ann.next_snapshot().await.player(ann.id()).is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let server = start(&["--max-connections", "1"]).await;
    let _only = Client::connect(server.local_addr()).await;
    let response = http(server.local_addr(), "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&response), 503, "{response}");
    server.shutdown().await;
}
