//! The HTTP routes, served by hyper on each connection:
//!
//! - `GET /ws`: the WebSocket upgrade, checked by [`super::upgrade`] before the 101; the
//!   upgraded connection becomes a [`super::session`] in its own task.
//! - `POST /api/announce`: an admin broadcasts a line to every client (see [`announce`]).
//! - `GET /stats`: the simulation's tick statistics as JSON (`sim::stats`).
//! - `GET /metrics`: Prometheus metrics (see [`crate::metrics::scrape_refusal`] for who may
//!   read it and `/stats`).
//! - `GET /healthz`, `GET /readyz`: liveness and readiness (see [`super::health`]).
//! - `POST /api/drain`: an admin starts a drain (see [`drain`]).
//! - `GET /admin`: the operator's page (`web-client/admin.html`); its data come from
//!   `GET /api/admin/state`, and `POST /api/admin/kick?client=N` closes a client with 4001
//!   (both take an admin, see [`admin_refusal`]).
//! - `GET`/`HEAD` anything else: the web client's static files, or 404.
//!
//! Other methods get 405. hyper itself answers 400 for a request that is not HTTP and 431 for
//! a head over the size or header-count caps, and closes a connection whose head is not in by
//! the handshake timeout.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

use super::admission::Admitted;
use super::auth::{Role, TokenError};
use super::conditioner;
use super::health;
use super::upgrade::{self, Gate, Refusal};
use super::{NetContext, session, ws_config};
use crate::bridge::ToSim;

/// Largest announcement body read.
const MAX_ANNOUNCE_BODY: usize = 1024;

/// One connection's facts, for every request on it.
pub struct ConnInfo {
    /// The peer.
    pub addr: SocketAddr,
    /// The connection's slot; the session holds it on after an upgrade.
    pub slot: Arc<Admitted>,
}

/// A response with a small in-memory body.
pub type HttpResponse = Response<Full<Bytes>>;

/// Routes one request.
pub async fn route(
    request: Request<Incoming>,
    conn: Arc<ConnInfo>,
    ctx: Arc<NetContext>,
) -> Result<HttpResponse, Infallible> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (_, "/ws") => websocket(request, conn, ctx),
        (&Method::POST, "/api/announce") => announce(request, &conn, &ctx).await,
        (_, "/api/announce") => text(StatusCode::METHOD_NOT_ALLOWED, "POST an announcement here\n").with_allow("POST"),
        (&Method::POST, "/api/drain") => drain(&request, &conn, &ctx),
        (&Method::GET | &Method::HEAD, "/admin") => match ctx.web.lookup("/admin.html").await {
            Some(file) => body(StatusCode::OK, file.content_type, Bytes::from(file.body.into_owned())).no_store(),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
        (&Method::GET | &Method::HEAD, "/api/admin/state") => admin_state(&request, &conn, &ctx),
        (&Method::POST, "/api/admin/kick") => kick(&request, &conn, &ctx),
        (_, "/api/drain") => text(StatusCode::METHOD_NOT_ALLOWED, "POST to start a drain\n").with_allow("POST"),
        (&Method::GET | &Method::HEAD, "/healthz") => {
            if ctx.liveness.alive(ctx.stats.snapshot().tick) {
                text(StatusCode::OK, "ok\n").no_store()
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "the simulation's tick is not advancing\n").no_store()
            }
        }
        (&Method::GET | &Method::HEAD, "/readyz") => match ctx.drain.deadline() {
            Some(deadline) => {
                let left = health::seconds_left(deadline);
                text(StatusCode::SERVICE_UNAVAILABLE, &format!("draining: closing in {left} s\n")).no_store()
            }
            // This probe holds a slot itself: none left besides it means full.
            None if ctx.admission.available() == 0 => {
                text(StatusCode::SERVICE_UNAVAILABLE, "full: at --max-connections\n").no_store()
            }
            None => text(StatusCode::OK, "ready\n").no_store(),
        },
        (&Method::GET | &Method::HEAD, "/metrics") => {
            crate::metrics::serve(&ctx.metrics, request.headers(), ctx.auth.as_ref())
        }
        (&Method::GET | &Method::HEAD, "/stats") => {
            if let Some(refusal) = crate::metrics::scrape_refusal(request.headers(), ctx.auth.as_ref()) {
                return Ok(refusal);
            }
            let json = serde_json::to_vec(&ctx.stats.snapshot()).unwrap_or_default();
            body(StatusCode::OK, "application/json", json.into()).no_store()
        }
        (&Method::GET | &Method::HEAD, path) => match ctx.web.lookup(path).await {
            Some(file) => {
                let bytes = match file.body {
                    Cow::Borrowed(embedded) => Bytes::from_static(embedded),
                    Cow::Owned(read) => Bytes::from(read),
                };
                let mut response = body(StatusCode::OK, file.content_type, bytes);
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                response
            }
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served\n").with_allow("GET, HEAD"),
    };
    Ok(response)
}

/// Answers an upgrade request: 101 and a session task, or the refusal.
fn websocket(mut request: Request<Incoming>, conn: Arc<ConnInfo>, ctx: Arc<NetContext>) -> HttpResponse {
    if ctx.drain.is_draining() {
        let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "draining: this server takes no new players\n");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let (head, body) = request.into_parts();
    let gate = Gate { origins: &ctx.origins, auth: ctx.auth.as_ref(), now: crate::record::writer::unix_now() };
    let accepted = match upgrade::check(&head, &gate) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            // Debug, not info: a flood of bad requests must not flood the log (and the request,
            // which may hold a token, is never logged).
            tracing::debug!(addr = %conn.addr, status = refusal.status.as_u16(), "upgrade refused");
            // A refused WebSocket client does not send another request on this connection.
            let mut response = refused(refusal);
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    request = Request::from_parts(head, body);
    let on_upgrade = hyper::upgrade::on(&mut request);
    let identity = accepted.identity;
    tokio::spawn(async move {
        // The slot stays taken while the session lives.
        let conn = conn;
        match on_upgrade.await {
            Ok(upgraded) => {
                // Off (the default), this is the upgraded socket itself.
                let io =
                    conditioner::condition(TokioIo::new(upgraded), ctx.limits.link, conditioner::seed_for(conn.addr));
                let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, Some(ws_config())).await;
                session::run(ws, conn.addr, identity, ctx).await;
            }
            Err(e) => tracing::debug!(addr = %conn.addr, "upgrade failed: {e}"),
        }
        drop(conn);
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accepted.accept_key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    if let Some(protocol) = accepted.protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

/// `POST /api/drain`: starts a drain (no new players, `Draining` to everyone, 1001 at the
/// end of `--drain-timeout`, then the server exits), with the announcement's access rules:
/// an admin token with auth on, loopback only with auth off, and an allowed `Origin`. 202 with
/// the seconds left (also when a drain was already under way); 404 on a replay server.
fn drain(request: &Request<Incoming>, conn: &ConnInfo, ctx: &NetContext) -> HttpResponse {
    if ctx.replay {
        return text(StatusCode::NOT_FOUND, "a replay server is stopped, not drained\n");
    }
    if let Some(refusal) = admin_refusal(request, conn, ctx) {
        return refusal;
    }
    if ctx.drain.start(ctx.drain_timeout) {
        tracing::info!(addr = %conn.addr, seconds = ctx.drain_timeout.as_secs(), "drain requested");
    }
    let left = ctx.drain.deadline().map_or(0, health::seconds_left);
    text(StatusCode::ACCEPTED, &format!("draining: closing in {left} s\n"))
}

/// `GET /api/admin/state`: what the admin page plots and lists, as JSON: the time, the tick
/// and its cumulative duration histogram (the page takes per-second percentiles from two
/// reads), the process's CPU seconds, bytes sent to all clients so far, and the client table.
fn admin_state(request: &Request<Incoming>, conn: &ConnInfo, ctx: &NetContext) -> HttpResponse {
    if let Some(refusal) = admin_refusal(request, conn, ctx) {
        return refusal;
    }
    let stats = ctx.stats.snapshot();
    let clients = ctx.clients.rows();
    let state = serde_json::json!({
        "unix_s": crate::record::writer::unix_now(),
        "tick": stats.tick,
        "tick_rate": stats.tick_rate,
        "overruns": stats.overruns,
        "tick_buckets_us": stats.buckets,
        "cpu_s": crate::bench::child::cpu_seconds("self").ok(),
        "bytes_out": ctx.clients.bytes_out(),
        "draining": ctx.drain.is_draining(),
        "clients": clients,
    });
    body(StatusCode::OK, "application/json", serde_json::to_vec(&state).unwrap_or_default().into()).no_store()
}

/// `POST /api/admin/kick?client=N`: closes client N with `Kicked` (4001). 404 if there is no
/// such client, 400 without a client id.
fn kick(request: &Request<Incoming>, conn: &ConnInfo, ctx: &NetContext) -> HttpResponse {
    if let Some(refusal) = admin_refusal(request, conn, ctx) {
        return refusal;
    }
    let id = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("client="))
        .and_then(|v| v.parse::<u32>().ok());
    let Some(id) = id else { return text(StatusCode::BAD_REQUEST, "give the client as ?client=N\n") };
    if ctx.clients.kick(crate::bridge::ClientId(id)) {
        tracing::info!(addr = %conn.addr, client = id, "kicked by an administrator");
        text(StatusCode::OK, &format!("client {id} kicked\n"))
    } else {
        text(StatusCode::NOT_FOUND, &format!("no client {id}\n"))
    }
}

/// The admin API's access rules (see [`announce`]): the refusal to send, if the request breaks
/// them.
fn admin_refusal(request: &Request<Incoming>, conn: &ConnInfo, ctx: &NetContext) -> Option<HttpResponse> {
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !ctx.origins.allows(origin, host) {
        return Some(text(StatusCode::FORBIDDEN, "this page's origin may not use the admin API\n"));
    }
    match &ctx.auth {
        Some(secret) => {
            let claims = upgrade::bearer(headers)
                .ok_or(TokenError::Missing)
                .and_then(|token| secret.verify(&token, crate::record::writer::unix_now()));
            match claims {
                Ok(claims) if claims.role == Role::Admin => None,
                Ok(_) => Some(text(StatusCode::FORBIDDEN, "the admin API takes an admin token\n")),
                Err(error) => Some(refused(upgrade::unauthorized(error))),
            }
        }
        None if conn.addr.ip().to_canonical().is_loopback() => None,
        None => Some(text(StatusCode::FORBIDDEN, "auth is off: the admin API takes requests from loopback only\n")),
    }
}

/// `POST /api/announce`: the body (plain UTF-8 text, the chat rules) is broadcast to every
/// client as a chat line from "server", and recorded.
///
/// With auth on it takes an admin token as `Authorization: Bearer` (401 without a valid one,
/// 403 for another role). With auth off it takes requests from loopback addresses only (403
/// otherwise). A browser `Origin` must pass the allow-list, so no web page can post here from a
/// visitor's browser. 400 for a bad text, 413 for a body over 1 KiB, 404 on a replay server.
async fn announce(request: Request<Incoming>, conn: &ConnInfo, ctx: &NetContext) -> HttpResponse {
    if ctx.replay {
        return text(StatusCode::NOT_FOUND, "a replay server takes no announcements\n");
    }
    if let Some(refusal) = admin_refusal(&request, conn, ctx) {
        return refusal;
    }
    let read = tokio::time::timeout(
        ctx.limits.handshake_timeout,
        Limited::new(request.into_body(), MAX_ANNOUNCE_BODY).collect(),
    );
    let bytes = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return text(StatusCode::PAYLOAD_TOO_LARGE, "an announcement body is at most 1 KiB\n"),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n"),
    };
    let line = match std::str::from_utf8(&bytes).map(str::trim) {
        Ok(line) if shared::message::verify_chat(line).is_ok() => line,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "an announcement is 1 to 200 bytes of UTF-8 text with no control characters\n",
            );
        }
    };
    tracing::info!(addr = %conn.addr, "announcement");
    if ctx.to_sim.send(ToSim::Announce { text: line.to_owned() }).is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the simulation is not running\n");
    }
    text(StatusCode::ACCEPTED, "announced\n")
}

/// The HTTP answer for a refused upgrade.
pub fn refused(refusal: Refusal) -> HttpResponse {
    let mut response = text(refusal.status, &refusal.body);
    for (name, value) in refusal.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A plain-text response.
pub fn text(status: StatusCode, message: &str) -> HttpResponse {
    body(status, "text/plain; charset=utf-8", Bytes::copy_from_slice(message.as_bytes()))
}

fn body(status: StatusCode, content_type: &'static str, bytes: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

trait ResponseExt {
    fn with_allow(self, methods: &'static str) -> Self;
    fn no_store(self) -> Self;
}

impl ResponseExt for HttpResponse {
    fn with_allow(mut self, methods: &'static str) -> Self {
        self.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods));
        self
    }

    fn no_store(mut self) -> Self {
        self.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self
    }
}
