//! The HTTP routes, served by hyper on each connection:
//!
//! - `GET /ws`: the WebSocket upgrade, checked by [`super::upgrade`] before the 101; the
//!   upgraded connection becomes a [`crate::net::session`] in its own task.
//! - `POST /api/announce[?room=ID]`: an admin broadcasts a line to every client of every room,
//!   or of one (see [`announce`]).
//! - `GET /api/rooms`, `POST /api/rooms?type=TYPE`: the rooms, and an admin's new room (see
//!   [`super::rooms`]).
//! - `POST /matchmake/{joinOrCreate,create,join}/TYPE`, `POST /matchmake/joinById/ID`: a seat
//!   in a room (see [`super::matchmaker`]); `/ws?room=ID&seat=TOKEN` then takes it.
//! - `GET /stats`: the default room's tick statistics as JSON (`sim::stats`).
//! - `GET /metrics`: Prometheus metrics (see [`scrape_refusal`] for who may read it and
//!   `/stats`).
//! - `GET /healthz`, `GET /readyz`: liveness and readiness (see [`super::health`]).
//! - `POST /api/drain`: an admin starts a drain (see [`drain`]).
//! - `GET /admin`: the operator's page (`web-client/admin.html`); its data come from
//!   `GET /api/admin/state`, and `POST /api/admin/kick?client=N` closes a client with 4001
//!   (both take an admin, see [`admin_refusal`]).
//! - `GET`/`HEAD` anything else: the web client's static files, or 404.
//!
//! Other methods get 405. hyper itself answers 400 for a request that is not HTTP and 431 for
//! a head over the size or header-count caps, and closes a connection whose head is not in by
//! the handshake timeout. Every answer carries the page policy ([`with_page_policy`]).
//!
//! An upgrade that passes its checks still takes two allowances before the 101, each held for
//! the session's life: behind a trusted proxy, the per-address allowances of the client the
//! proxy names (429), and with auth, a session slot of the token's name (409).

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

use super::Front;
use super::access::{ConnInfo, admin_refusal, scrape_refusal};
use super::admission::Refused;
use super::auth::{Role, Secret};
use super::matchmaker;
use super::reply::{HttpResponse, ResponseExt, body, closing, json, refused, text};
use super::rooms::{self, query_param, valid_room_id};
use super::upgrade::{self, Gate};
use crate::bridge::ToSim;
use crate::metrics::Metrics;
use crate::net::drain::seconds_left;
use crate::net::session::{self, Pass};
use crate::net::{conditioner, ws_config};

/// Largest announcement body read.
const MAX_ANNOUNCE_BODY: usize = 1024;

/// Routes one request.
pub async fn route(
    request: Request<Incoming>,
    conn: Arc<ConnInfo>,
    front: Arc<Front>,
) -> Result<HttpResponse, Infallible> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (_, "/ws") => websocket(request, conn, front),
        (&Method::POST, "/api/announce") => announce(request, &conn, &front).await,
        (_, "/api/announce") => text(StatusCode::METHOD_NOT_ALLOWED, "POST an announcement here\n").with_allow("POST"),
        (&Method::POST, "/api/drain") => drain(&request, &conn, &front),
        (&Method::POST, path) if path.starts_with("/matchmake/") => matchmaker::matchmake(request, &conn, &front).await,
        (_, path) if path.starts_with("/matchmake/") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "POST to matchmake\n").with_allow("POST")
        }
        (&Method::GET | &Method::HEAD, "/api/rooms") => rooms::list(&request, &front),
        (&Method::POST, "/api/rooms") => rooms::create(&request, &conn, &front),
        (_, "/api/rooms") => text(StatusCode::METHOD_NOT_ALLOWED, "GET the rooms, or POST ?type=TYPE to make one\n")
            .with_allow("GET, HEAD, POST"),
        (&Method::GET | &Method::HEAD, "/admin") => match front.web.lookup("/admin.html").await {
            Some(file) => body(StatusCode::OK, file.content_type, Bytes::from(file.body.into_owned())).no_store(),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
        (&Method::GET | &Method::HEAD, "/api/admin/state") => admin_state(&request, &conn, &front),
        (&Method::POST, "/api/admin/kick") => kick(&request, &conn, &front),
        (_, "/api/drain") => text(StatusCode::METHOD_NOT_ALLOWED, "POST to start a drain\n").with_allow("POST"),
        (&Method::GET | &Method::HEAD, "/healthz") => {
            match front.liveness.stuck(&front.rooms.ticks()) {
                None => text(StatusCode::OK, "ok\n").no_store(),
                Some(room) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("the simulation's tick is not advancing (room {room})\n"),
                )
                .no_store(),
            }
        }
        (&Method::GET | &Method::HEAD, "/readyz") => match front.shared.drain.deadline() {
            Some(deadline) => {
                let left = seconds_left(deadline);
                text(StatusCode::SERVICE_UNAVAILABLE, &format!("draining: closing in {left} s\n")).no_store()
            }
            // This probe holds a slot itself: none left besides it means full.
            None if front.admission.available() == 0 => {
                text(StatusCode::SERVICE_UNAVAILABLE, "full: at --max-connections\n").no_store()
            }
            None if !front.rooms.has_a_place() => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "full: every player slot of every room is taken (--max-players) and no room can be made (--max-rooms)\n",
            )
            .no_store(),
            None => text(StatusCode::OK, "ready\n").no_store(),
        },
        (&Method::GET | &Method::HEAD, "/metrics") => {
            serve_metrics(&front.shared.metrics, request.headers(), front.auth.as_ref())
        }
        (&Method::GET | &Method::HEAD, "/stats") => {
            if let Some(refusal) = scrape_refusal(request.headers(), front.auth.as_ref()) {
                return Ok(refusal);
            }
            match front.rooms.default_room() {
                Some(link) => json(StatusCode::OK, &link.stats.snapshot()).no_store(),
                None => text(StatusCode::NOT_FOUND, "no default room: see /api/rooms\n"),
            }
        }
        (&Method::GET | &Method::HEAD, path) => match front.web.lookup(path).await {
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
    Ok(with_page_policy(response))
}

/// On every answer: pages send no `Referer` (a URL is never a place for a secret, but a page's
/// own address should not travel to what it loads either), and no site may frame them
/// (clickjacking the admin page's buttons).
fn with_page_policy(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    response
}

/// Answers an upgrade request: 101 and a session task, or the refusal.
fn websocket(mut request: Request<Incoming>, conn: Arc<ConnInfo>, front: Arc<Front>) -> HttpResponse {
    if front.shared.drain.is_draining() {
        let response = text(StatusCode::SERVICE_UNAVAILABLE, "draining: this server takes no new players\n");
        return closing(response.with_retry_after("5"));
    }
    let client = conn.client(request.headers(), &front);
    // Behind a trusted proxy the client's address is all we know of it (no port).
    let addr = if client.via_proxy { SocketAddr::new(client.ip, 0) } else { conn.addr };
    let (head, body) = request.into_parts();
    let gate = Gate {
        origins: &front.origins,
        auth: front.auth.as_ref(),
        now: crate::clock::unix_now(),
        https: conn.https(&client),
    };
    let accepted = match upgrade::check(&head, &gate) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            // Debug, not info: a flood of bad requests must not flood the log (and the request,
            // which may hold a token, is never logged).
            tracing::debug!(%addr, status = refusal.status.as_u16(), "upgrade refused");
            return closing(refused(refusal));
        }
    };
    let identity = accepted.identity;
    // A proxy's connection took no per-address allowance at accept: its client takes one now.
    let forwarded = match client.via_proxy.then(|| front.admission.admit_forwarded(client.ip)) {
        None => None,
        Some(Ok(slot)) => Some(slot),
        Some(Err(why)) => {
            let body = match why {
                Refused::TooFast => "too many new connections from your address: slow down\n",
                _ => "too many connections from your address, try again later\n",
            };
            tracing::debug!(%addr, ?why, "forwarded upgrade refused");
            return closing(text(StatusCode::TOO_MANY_REQUESTS, body).with_retry_after("5"));
        }
    };
    let name_slot = match &identity.name {
        None => None,
        Some(name) => match front.name_slots.take(name) {
            Some(slot) => Some(slot),
            None => {
                let max = front.name_slots.max();
                tracing::debug!(%addr, max, "upgrade refused: the token's name holds every session it may");
                let body = format!(
                    "this token's name already has {max} open sessions (--max-sessions-per-name); close one first\n"
                );
                return closing(text(StatusCode::CONFLICT, &body));
            }
        },
    };
    // The room is looked up only for a request that passed the checks: no one learns which
    // rooms exist without the right to join them.
    let room = match query_param(head.uri.query(), "room") {
        None => front.rooms.room(None),
        Some(id) if valid_room_id(id) => front.rooms.room(Some(id)),
        Some(_) => None,
    };
    let Some(room) = room else {
        tracing::debug!(%addr, "upgrade refused: no such room");
        return closing(text(StatusCode::NOT_FOUND, "no such room: see /api/rooms\n"));
    };
    // Last before the 101, so that a seat is used up only by an upgrade that happens (a 409 or
    // 429 above leaves it good). Without a seat, a player takes a free place if there is one
    // (else the simulation answers a full room's Hello).
    let (place, seat_spectates) = match &accepted.seat {
        Some(token) => match front.seats.take(token, &room.id, identity.name.as_deref()) {
            Ok(taken) => (Some(taken.place), taken.spectate),
            Err(error) => {
                tracing::debug!(%addr, %error, "upgrade refused: seat");
                return closing(text(StatusCode::UNAUTHORIZED, &format!("{error}\n")));
            }
        },
        None if front.replay => (None, false),
        None => (front.seats.place(&room.id, room.max_players), false),
    };
    request = Request::from_parts(head, body);
    let on_upgrade = hyper::upgrade::on(&mut request);
    // The token's role is the front's business: the session hears only what it implies.
    let spectator = identity.role == Role::Spectator || seat_spectates;
    let place = place.map(|place| Box::new(place) as Box<dyn Send + Sync>);
    let pass = Pass { name: identity.name, spectator, place };
    let (shared, link) = (front.shared.clone(), room.link);
    tokio::spawn(async move {
        // The slots stay taken while the session lives.
        let held = (conn, forwarded, name_slot);
        match on_upgrade.await {
            Ok(upgraded) => {
                // Off (the default), this is the upgraded socket itself.
                let io =
                    conditioner::condition(TokioIo::new(upgraded), shared.limits.link, conditioner::seed_for(addr));
                let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, Some(ws_config())).await;
                session::run(ws, addr, pass, shared, link).await;
            }
            Err(e) => tracing::debug!(%addr, "upgrade failed: {e}"),
        }
        drop(held);
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
fn drain(request: &Request<Incoming>, conn: &ConnInfo, front: &Front) -> HttpResponse {
    if front.replay {
        return text(StatusCode::NOT_FOUND, "a replay server is stopped, not drained\n");
    }
    if let Some(refusal) = admin_refusal(request, conn, front) {
        return refusal;
    }
    if front.shared.drain.start(front.drain_timeout) {
        tracing::info!(addr = %conn.addr, seconds = front.drain_timeout.as_secs(), "drain requested");
    }
    let left = front.shared.drain.deadline().map_or(0, seconds_left);
    text(StatusCode::ACCEPTED, &format!("draining: closing in {left} s\n"))
}

/// `GET /api/admin/state`: what the admin page plots and lists, as JSON: the time, the default
/// room's tick and its cumulative duration histogram (the page takes per-second percentiles
/// from two reads), the process's CPU seconds, bytes sent to all clients so far, the client
/// table (each row with its room) and the rooms (as `GET /api/rooms` lists them).
fn admin_state(request: &Request<Incoming>, conn: &ConnInfo, front: &Front) -> HttpResponse {
    if let Some(refusal) = admin_refusal(request, conn, front) {
        return refusal;
    }
    let stats = front.rooms.default_room().map(|link| link.stats.snapshot()).unwrap_or_default();
    let clients = front.shared.clients.rows();
    let state = serde_json::json!({
        "unix_s": crate::clock::unix_now(),
        "tick": stats.tick,
        "tick_rate": stats.tick_rate,
        "overruns": stats.overruns,
        "tick_buckets_us": stats.buckets,
        "cpu_s": crate::procstat::cpu_seconds("self").ok(),
        "bytes_out": front.shared.clients.bytes_out(),
        "draining": front.shared.drain.is_draining(),
        "clients": clients,
        "rooms": front.rooms.list(None),
    });
    body(StatusCode::OK, "application/json", serde_json::to_vec(&state).unwrap_or_default().into()).no_store()
}

/// `POST /api/admin/kick?client=N`: closes client N with `Kicked` (4001). 404 if there is no
/// such client, 400 without a client id.
fn kick(request: &Request<Incoming>, conn: &ConnInfo, front: &Front) -> HttpResponse {
    if let Some(refusal) = admin_refusal(request, conn, front) {
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
    if front.shared.clients.kick(crate::bridge::ClientId(id)) {
        tracing::info!(addr = %conn.addr, client = id, "kicked by an administrator");
        text(StatusCode::OK, &format!("client {id} kicked\n"))
    } else {
        text(StatusCode::NOT_FOUND, &format!("no client {id}\n"))
    }
}

/// Who may scrape `GET /metrics`, and the answer.
///
/// With auth off, anyone who can reach the port (like `/stats`: such a server lets anyone
/// join anyway). With auth on, see [`scrape_refusal`].
fn serve_metrics(metrics: &Metrics, headers: &HeaderMap, auth: Option<&Secret>) -> HttpResponse {
    if let Some(refusal) = scrape_refusal(headers, auth) {
        return refusal;
    }
    body(StatusCode::OK, crate::metrics::CONTENT_TYPE, Bytes::from(metrics.render())).no_store()
}

/// `POST /api/announce[?room=ID]`: the body (plain UTF-8 text, the chat rules) is broadcast to
/// every client of every room, or of room ID (404 if there is none), as a chat line from
/// "server", and recorded in each room's recording.
///
/// With auth on it takes an admin token as `Authorization: Bearer` (401 without a valid one,
/// 403 for another role). With auth off it takes requests from this machine only, addressed to
/// a loopback name (403 otherwise: see [`admin_refusal`]). A browser `Origin` must pass the allow-list, so no web page can post here from a
/// visitor's browser. 400 for a bad text, 413 for a body over 1 KiB, 404 on a replay server.
async fn announce(request: Request<Incoming>, conn: &ConnInfo, front: &Front) -> HttpResponse {
    if front.replay {
        return text(StatusCode::NOT_FOUND, "a replay server takes no announcements\n");
    }
    if let Some(refusal) = admin_refusal(&request, conn, front) {
        return refusal;
    }
    let room = match query_param(request.uri().query(), "room") {
        None => None,
        Some(id) if valid_room_id(id) => Some(id.to_owned()),
        Some(_) => return text(StatusCode::NOT_FOUND, "no such room: see /api/rooms\n"),
    };
    let read = tokio::time::timeout(
        front.shared.limits.handshake_timeout,
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
    let links = match room {
        None => front.rooms.links(),
        Some(id) => match front.rooms.room(Some(&id)) {
            Some(room) => vec![room.link],
            None => return text(StatusCode::NOT_FOUND, "no such room: see /api/rooms\n"),
        },
    };
    tracing::info!(addr = %conn.addr, rooms = links.len(), "announcement");
    let sent = links.iter().filter(|link| link.to_sim.send(ToSim::Announce { text: line.to_owned() }).is_ok()).count();
    if sent == 0 && !links.is_empty() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the simulation is not running\n");
    }
    text(StatusCode::ACCEPTED, &format!("announced in {sent} room(s)\n"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use super::*;
    use crate::net::front::auth::Claims;

    #[test]
    fn with_auth_on_scrapes_take_a_metrics_or_admin_token() {
        let metrics = Metrics::new();
        let secret = Secret::from_bytes(&[7; 32]).unwrap();
        let now = crate::clock::unix_now();
        let token = |role| secret.mint(&Claims { sub: "prometheus".into(), role, iat: now, exp: now + 60 });
        let bearer = |token: String| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
            headers
        };
        let none = HeaderMap::new();
        let status = |headers: &HeaderMap, auth| serve_metrics(&metrics, headers, auth).status();
        assert_eq!(status(&none, None), StatusCode::OK, "auth off: open");
        assert_eq!(status(&none, Some(&secret)), StatusCode::UNAUTHORIZED);
        assert_eq!(status(&bearer("x.y.z".into()), Some(&secret)), StatusCode::UNAUTHORIZED);
        assert_eq!(status(&bearer(token(Role::Player)), Some(&secret)), StatusCode::FORBIDDEN);
        assert_eq!(status(&bearer(token(Role::Spectator)), Some(&secret)), StatusCode::FORBIDDEN);
        for role in [Role::Admin, Role::Metrics] {
            let answer = serve_metrics(&metrics, &bearer(token(role)), Some(&secret));
            assert_eq!(answer.status(), StatusCode::OK, "{role}");
            assert_eq!(answer.headers().get(header::CONTENT_TYPE).unwrap(), crate::metrics::CONTENT_TYPE);
        }
    }
}
