//! Who may use what: one connection's facts ([`ConnInfo`]), and the access rules of the admin
//! API ([`admin_refusal`]) and of the figures (`/metrics`, `/stats`, `/api/rooms`:
//! [`scrape_refusal`]). Each rule answers the refusal to send, or `None` to go on.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header;
use hyper::{HeaderMap, Request, StatusCode};

use super::Front;
use super::admission::Admitted;
use super::auth::{Role, Secret, TokenError};
use super::origin::is_loopback_host;
use super::proxy::ClientAddr;
use super::reply::{HttpResponse, refused, text};
use super::upgrade;

/// The refusal of the admin API to anyone but this machine when auth is off.
pub const ADMIN_NEEDS_AUTH: &str = "auth is off: the admin API takes requests only from this machine, addressed \
    to localhost, 127.0.0.1 or [::1]. To manage the server from anywhere else (or behind a reverse proxy), start it \
    with --auth-secret-file and send an admin token (server token --role admin)\n";

/// One connection's facts, for every request on it.
pub struct ConnInfo {
    /// The peer.
    pub addr: SocketAddr,
    /// The connection's slot; the session holds it on after an upgrade.
    pub slot: Arc<Admitted>,
    /// Whether the connection speaks TLS.
    pub tls: bool,
    /// Whether the peer is a `--trusted-proxy` (each request then names its own client).
    pub via_proxy: bool,
}

impl ConnInfo {
    /// Who sent `headers` on this connection: the peer, or the client a trusted proxy names.
    pub fn client(&self, headers: &hyper::HeaderMap, front: &Front) -> ClientAddr {
        front.proxies.client(self.addr.ip(), headers)
    }

    /// Whether a request on this connection came by https: this port's TLS, or the proxy's word.
    pub fn https(&self, client: &ClientAddr) -> bool {
        client.https.unwrap_or(self.tls)
    }
}

/// The admin API's access rules (see `http::announce`): the refusal to send, if the request breaks
/// them.
///
/// With auth off, only this machine may: a loopback client (behind a trusted proxy, the client
/// it names) that addresses the server by a loopback name. The `Host` matters as much as the
/// peer: behind a reverse proxy on the same machine every peer is loopback, and a DNS-rebinding
/// page (a foreign name pointed at 127.0.0.1) reaches us from the visitor's own loopback with
/// an `Origin` that matches its `Host`.
pub fn admin_refusal(request: &Request<Incoming>, conn: &ConnInfo, front: &Front) -> Option<HttpResponse> {
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let client = conn.client(headers, front);
    if !front.origins.allows(origin, host, conn.https(&client)) {
        return Some(text(StatusCode::FORBIDDEN, "this page's origin may not use the admin API\n"));
    }
    match &front.auth {
        Some(secret) => {
            let claims = upgrade::bearer(headers)
                .ok_or(TokenError::Missing)
                .and_then(|token| secret.verify(&token, crate::clock::unix_now()));
            match claims {
                Ok(claims) if claims.role == Role::Admin => None,
                Ok(_) => Some(text(StatusCode::FORBIDDEN, "the admin API takes an admin token\n")),
                Err(error) => Some(refused(upgrade::unauthorized(error))),
            }
        }
        None if client.ip.is_loopback() && is_loopback_host(host) => None,
        None => Some(text(StatusCode::FORBIDDEN, ADMIN_NEEDS_AUTH)),
    }
}

/// The access rule of `GET /metrics` and `GET /stats`: the refusal to send, if any.
///
/// With auth off, none. With auth on, only the holder of a `metrics` or `admin` token as
/// `Authorization: Bearer` (Prometheus's `authorization` scrape setting) may read: the figures
/// hold no names or addresses, but an Internet-facing server need not tell the world its
/// player counts and load. A scraper gets a `metrics` token, which can do nothing else.
/// Loopback is not exempt: behind a reverse proxy every request comes from loopback. 401
/// without a valid token, 403 for another role.
pub fn scrape_refusal(headers: &HeaderMap, auth: Option<&Secret>) -> Option<HttpResponse> {
    let secret = auth?;
    let claims = upgrade::bearer(headers)
        .ok_or(TokenError::Missing)
        .and_then(|token| secret.verify(&token, crate::clock::unix_now()));
    match claims {
        Ok(claims) if claims.role.may_scrape() => None,
        Ok(_) => Some(text(StatusCode::FORBIDDEN, "/metrics and /stats take a metrics or admin token\n")),
        Err(error) => Some(refused(upgrade::unauthorized(error))),
    }
}
