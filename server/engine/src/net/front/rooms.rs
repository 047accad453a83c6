//! Rooms as the front sees them: a [`RoomDirectory`] to find a room's [`SimLink`] by id, make
//! a room of a type and list them, and the routes on it:
//!
//! - `GET /api/rooms[?type=TYPE]`: the rooms, as a JSON array of [`RoomInfo`] (with auth on,
//!   the `/stats` rule: a metrics or admin token);
//! - `POST /api/rooms?type=TYPE`: an admin makes a room (the admin API's rules): 201 with its
//!   [`RoomInfo`], 404 for an unknown type, 503 with `Retry-After` at `--max-rooms` or while
//!   draining.
//!
//! The directory is a trait because what makes rooms (games, simulation threads, recordings)
//! stands above the network layer: the server's composition implements it, and the front
//! only asks.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;

use super::Front;
use super::access::{self, ConnInfo};
use super::reply::{self, HttpResponse, ResponseExt};
use crate::net::session::SimLink;

/// A room's id, as it appears in `/ws?room=ID` and the API: at most this many bytes of
/// `[A-Za-z0-9_-]`.
pub const MAX_ROOM_ID: usize = 32;

/// One room, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomInfo {
    /// Its id.
    pub id: String,
    /// Its room type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The game it runs.
    pub game: String,
    /// Connected clients (players and spectators).
    pub clients: usize,
    /// The most players it takes.
    pub max_clients: u16,
    /// Whether it takes no more players: every place is taken or reserved.
    pub locked: bool,
    /// What the game says of it, for matchmaking filters.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// When it was made, in Unix seconds.
    pub created: u64,
    /// Its simulation's tick now.
    pub tick: u64,
    /// Its ticks' p99 duration so far, in microseconds (bucket bound).
    pub tick_p99_us: u64,
}

/// Why no room was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// No room type of that name.
    #[error("no room type {0:?}; the types are: {1}")]
    UnknownType(String, String),
    /// At `--max-rooms`.
    #[error("at --max-rooms ({0}): no room can be made now")]
    AtCapacity(usize),
    /// The process is draining.
    #[error("draining: no new rooms")]
    Draining,
    /// The game could not be set up, or a thread not started.
    #[error("the room could not start: {0}")]
    Failed(String),
}

/// A room found in the directory.
#[derive(Clone)]
pub struct RoomRef {
    /// Its id.
    pub id: String,
    /// Its simulation.
    pub link: Arc<SimLink>,
    /// The most players it takes.
    pub max_players: usize,
}

/// The rooms of a process.
pub trait RoomDirectory: Send + Sync {
    /// The room with this id, or with none the default room (which a `/ws` without a room
    /// joins), if there is one.
    fn room(&self, id: Option<&str>) -> Option<RoomRef>;
    /// The default room's link.
    fn default_room(&self) -> Option<Arc<SimLink>> {
        self.room(None).map(|room| room.link)
    }
    /// What room `id` is.
    fn info(&self, id: &str) -> Option<RoomInfo>;
    /// The room types, by name.
    fn types(&self) -> Vec<String>;
    /// Makes a room of type `kind`.
    fn create(&self, kind: &str) -> Result<RoomInfo, CreateError>;
    /// The rooms, of type `kind` if given, oldest first.
    fn list(&self, kind: Option<&str>) -> Vec<RoomInfo>;
    /// Every room's link (an announcement to all rooms).
    fn links(&self) -> Vec<Arc<SimLink>>;
    /// Every room's id and tick now (liveness).
    fn ticks(&self) -> Vec<(String, u64)> {
        self.list(None).into_iter().map(|room| (room.id, room.tick)).collect()
    }
    /// Whether a player could be placed now: some room has a free place, or a room can be
    /// made (readiness).
    fn has_a_place(&self) -> bool;
}

/// Whether `id` could name a room (checked before any lookup, so a hostile id costs nothing).
pub fn valid_room_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ROOM_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The value of query parameter `name`, if present (not percent-decoded: room ids and types
/// never need it).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// `GET /api/rooms[?type=TYPE]`.
pub fn list(request: &Request<Incoming>, front: &Front) -> HttpResponse {
    if let Some(refusal) = access::scrape_refusal(request.headers(), front.auth.as_ref()) {
        return refusal;
    }
    let kind = query_param(request.uri().query(), "type");
    let rooms = front.rooms.list(kind);
    reply::json(StatusCode::OK, &rooms).no_store()
}

/// `POST /api/rooms?type=TYPE`.
pub fn create(request: &Request<Incoming>, conn: &ConnInfo, front: &Front) -> HttpResponse {
    if let Some(refusal) = access::admin_refusal(request, conn, front) {
        return refusal;
    }
    let Some(kind) = query_param(request.uri().query(), "type") else {
        return reply::text(StatusCode::BAD_REQUEST, "give the room type as ?type=TYPE\n");
    };
    if front.shared.drain.is_draining() {
        return reply::text(StatusCode::SERVICE_UNAVAILABLE, "draining: no new rooms\n").with_retry_after("5");
    }
    match front.rooms.create(kind) {
        Ok(room) => {
            tracing::info!(addr = %conn.addr, room = %room.id, kind = %room.kind, "room made by an administrator");
            reply::json(StatusCode::CREATED, &room)
        }
        Err(e @ CreateError::UnknownType(..)) => reply::text(StatusCode::NOT_FOUND, &format!("{e}\n")),
        Err(e @ (CreateError::AtCapacity(_) | CreateError::Draining)) => {
            reply::text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n")).with_retry_after("5")
        }
        Err(e @ CreateError::Failed(_)) => {
            tracing::error!("{e}");
            reply::text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_short_and_plain() {
        assert!(valid_room_id("a1_B-9"));
        assert!(valid_room_id(&"x".repeat(MAX_ROOM_ID)));
        for bad in ["", "a b", "a/b", "é", "a%20", &"x".repeat(MAX_ROOM_ID + 1)] {
            assert!(!valid_room_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn query_params_match_whole_names() {
        assert_eq!(query_param(Some("spectate=1&room=abc"), "room"), Some("abc"));
        assert_eq!(query_param(Some("xroom=abc&room=d"), "room"), Some("d"));
        assert_eq!(query_param(Some("room"), "room"), None);
        assert_eq!(query_param(None, "room"), None);
    }
}
