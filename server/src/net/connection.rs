//! One TCP connection before it becomes a game session: HTTP requests for static files (with
//! keep-alive), and the checks and answer of the WebSocket upgrade on `/ws`.
//!
//! `GET /stats` answers the simulation's tick statistics as JSON (`sim::stats`), also when no
//! web client is served.
//!
//! Answers before the upgrade: 400 for a plain request to `/ws` or a bad key, 426 with
//! `Sec-WebSocket-Version: 13` for another WebSocket version, 405 for other methods, 404 for
//! unknown files, 408/431 for slow or oversized request heads.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::http::{ReadError, Request, Response, linger_close, read_request};
use super::{NetContext, session, stopping, ws_config};

/// Serves requests on `stream` until it closes, fails, or upgrades to a game session.
pub async fn serve(mut stream: TcpStream, addr: SocketAddr, ctx: Arc<NetContext>) {
    let mut buf = Vec::new();
    let shutdown = stopping(ctx.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        let read = tokio::select! {
            _ = &mut shutdown => return,
            read = read_request(&mut stream, &mut buf, ctx.limits.http_timeout) => read,
        };
        let request = match read {
            Ok(request) => request,
            Err(ReadError::Closed) => return,
            Err(error) => {
                let response = match error {
                    ReadError::TooLarge => Response::text(431, "request head too large\n"),
                    ReadError::TimedOut => Response::text(408, "request head not received in time\n"),
                    _ => Response::text(400, "malformed HTTP request\n"),
                };
                let _ = response.write(&mut stream, false, false).await;
                linger_close(stream).await;
                return;
            }
        };
        let head_only = request.method == "HEAD";
        if request.path == "/ws" {
            match check_upgrade(&request) {
                Ok(accept) => {
                    upgrade(stream, buf, addr, accept, ctx).await;
                }
                Err(response) => {
                    let _ = response.write(&mut stream, head_only, false).await;
                    linger_close(stream).await;
                }
            }
            return;
        }
        let keep_alive = request.keep_alive();
        let written = match request.method.as_str() {
            "GET" | "HEAD" if request.path == "/stats" => {
                let json = serde_json::to_vec(&ctx.stats.snapshot()).unwrap_or_default();
                let response = Response {
                    status: 200,
                    headers: vec![("Content-Type", "application/json".into()), ("Cache-Control", "no-store".into())],
                    body: &json,
                };
                response.write(&mut stream, head_only, keep_alive).await
            }
            "GET" | "HEAD" => match ctx.web.lookup(&request.path).await {
                Some(file) => {
                    let response = Response {
                        status: 200,
                        headers: vec![
                            ("Content-Type", file.content_type.into()),
                            ("Cache-Control", "no-cache".into()),
                            ("X-Content-Type-Options", "nosniff".into()),
                        ],
                        body: &file.body,
                    };
                    response.write(&mut stream, head_only, keep_alive).await
                }
                None => Response::text(404, "not found\n").write(&mut stream, head_only, keep_alive).await,
            },
            _ => {
                let response = Response::text(405, "only GET and HEAD are served\n").with_header("Allow", "GET, HEAD");
                response.write(&mut stream, false, keep_alive).await
            }
        };
        if written.is_err() {
            return;
        }
        if !keep_alive {
            linger_close(stream).await;
            return;
        }
    }
}

/// Validates an upgrade request (RFC 6455, section 4.2.1); the `Sec-WebSocket-Accept` value
/// on success, the HTTP answer otherwise.
fn check_upgrade(request: &Request) -> Result<String, Response<'static>> {
    if request.method != "GET" {
        return Err(Response::text(405, "the WebSocket endpoint takes GET only\n").with_header("Allow", "GET"));
    }
    let wants_upgrade =
        request.header_has_token("upgrade", "websocket") && request.header_has_token("connection", "upgrade");
    if !wants_upgrade || request.minor_version < 1 {
        return Err(Response::text(400, "/ws only speaks WebSocket: send an HTTP/1.1 WebSocket upgrade request\n"));
    }
    if request.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(Response::text(426, "unsupported WebSocket version; this server speaks version 13\n")
            .with_header("Sec-WebSocket-Version", "13"));
    }
    // The key is 16 random bytes in base64: 24 characters ending in "==".
    match request.header("sec-websocket-key").map(str::trim) {
        Some(key) if key.len() == 24 && key.ends_with("==") => Ok(derive_accept_key(key.as_bytes())),
        _ => Err(Response::text(400, "missing or malformed Sec-WebSocket-Key\n")),
    }
    // Origin checks and authentication belong here, before the 101, when they come.
}

async fn upgrade(mut stream: TcpStream, leftover: Vec<u8>, addr: SocketAddr, accept: String, ctx: Arc<NetContext>) {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(ws_config())).await;
    session::run(ws, addr, ctx).await;
}
