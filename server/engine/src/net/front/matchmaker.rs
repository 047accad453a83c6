//! The matchmaker, step one of a two-step join: an HTTP call reserves a seat, then the
//! WebSocket takes it (`/ws?room=ID&seat=TOKEN`, or `seat.TOKEN` as a subprotocol entry).
//!
//! - `POST /matchmake/joinOrCreate/TYPE`: a seat in the oldest open room of TYPE whose
//!   metadata matches the filters, or in a new room if none has one;
//! - `POST /matchmake/create/TYPE`: a seat in a new room;
//! - `POST /matchmake/join/TYPE`: a seat in an open room, 404 if none;
//! - `POST /matchmake/joinById/ID`: a seat in room ID, 404 if there is none, 409 if it is full.
//!
//! The body is optional JSON, `{ "spectate": bool, "filters": { KEY: VALUE, … } }` (400 if it
//! is anything else, 413 over 4 KiB). The answer is 200 with `{ "room", "type", "seat", "url",
//! "expires_in" }`. With auth on, a call takes a token (`Authorization: Bearer`; 401 without
//! one) and the seat is bound to its subject. 404 for an unknown type; 503 with `Retry-After`
//! while draining or at `--max-rooms`; 429 past `--matchmake-per-second` from one address.
//!
//! Picking a room and reserving its seat happen under one lock, and the seat book counts a
//! seat from its reservation ([`super::seats`]), so concurrent calls never overfill a room
//! and never make a second room while the first still has a place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::Front;
use super::access::ConnInfo;
use super::auth::TokenError;
use super::reply::{self, HttpResponse, ResponseExt};
use super::rooms::{CreateError, RoomInfo, valid_room_id};
use super::upgrade;
use crate::net::bucket::TokenBucket;

/// Largest body read.
const MAX_BODY: usize = 4096;
/// Addresses remembered before full allowances are forgotten.
const MAX_TRACKED: usize = 4096;

/// The matchmaker's state: one lock over picking and reserving, and each address's allowance.
pub struct Matchmaking {
    pick: Mutex<()>,
    allowances: Mutex<HashMap<IpAddr, TokenBucket>>,
    per_second: f64,
}

impl Matchmaking {
    /// `per_second` calls a second from one address, twice as many at once.
    pub fn new(per_second: u32) -> Matchmaking {
        Matchmaking { pick: Mutex::new(()), allowances: Mutex::default(), per_second: f64::from(per_second) }
    }

    fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        if allowances.len() >= MAX_TRACKED {
            allowances.retain(|_, bucket| !bucket.is_full(now));
        }
        let (rate, burst) = (self.per_second, self.per_second * 2.0);
        allowances.entry(ip).or_insert_with(|| TokenBucket::new(rate, burst, now)).take(now)
    }
}

/// What a call asks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    #[serde(default)]
    spectate: bool,
    #[serde(default)]
    filters: serde_json::Map<String, serde_json::Value>,
}

/// The answer.
#[derive(Debug, Serialize)]
struct Answer {
    room: String,
    #[serde(rename = "type")]
    kind: String,
    seat: String,
    url: String,
    expires_in: u64,
}

enum Op<'a> {
    JoinOrCreate(&'a str),
    Create(&'a str),
    Join(&'a str),
    JoinById(&'a str),
}

/// Why no seat was given: the status and the line said.
struct Refusal(StatusCode, String);

impl From<CreateError> for Refusal {
    fn from(error: CreateError) -> Refusal {
        let status = match error {
            CreateError::UnknownType(..) => StatusCode::NOT_FOUND,
            CreateError::AtCapacity(_) | CreateError::Draining => StatusCode::SERVICE_UNAVAILABLE,
            CreateError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Refusal(status, error.to_string())
    }
}

/// `POST /matchmake/…`.
pub async fn matchmake(request: Request<Incoming>, conn: &ConnInfo, front: &Front) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let op = match path.trim_start_matches("/matchmake/").split_once('/') {
        Some(("joinOrCreate", kind)) => Op::JoinOrCreate(kind),
        Some(("create", kind)) => Op::Create(kind),
        Some(("join", kind)) => Op::Join(kind),
        Some(("joinById", id)) => Op::JoinById(id),
        _ => {
            return reply::text(
                StatusCode::NOT_FOUND,
                "matchmake with /matchmake/{joinOrCreate,create,join}/TYPE or /matchmake/joinById/ID\n",
            );
        }
    };
    if front.replay {
        return reply::text(StatusCode::NOT_FOUND, "a replay server has no rooms to join\n");
    }
    let client = front.proxies.client(conn.addr.ip(), request.headers());
    if !front.matchmaking.allow(client.ip) {
        return reply::text(StatusCode::TOO_MANY_REQUESTS, "too many matchmaking calls from your address: slow down\n")
            .with_retry_after("1");
    }
    if front.shared.drain.is_draining() {
        return reply::text(StatusCode::SERVICE_UNAVAILABLE, "draining: no new seats\n").with_retry_after("5");
    }
    let subject = match &front.auth {
        None => None,
        Some(secret) => {
            let claims = upgrade::bearer(request.headers())
                .ok_or(TokenError::Missing)
                .and_then(|token| secret.verify(&token, crate::clock::unix_now()));
            match claims {
                Ok(claims) if claims.role.may_connect() => Some(claims.sub),
                Ok(_) => return reply::text(StatusCode::FORBIDDEN, "a metrics token cannot matchmake\n"),
                Err(error) => return reply::refused(upgrade::unauthorized(error)),
            }
        }
    };
    let https = client.https.unwrap_or(conn.tls);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .map_or_else(|| conn.addr.to_string(), str::to_owned);
    let ask = match read_ask(request, front.shared.limits.handshake_timeout).await {
        Ok(ask) => ask,
        Err(refusal) => return refusal,
    };
    let seat = match pick(front, &op, &ask, subject.as_deref()) {
        Ok(seat) => seat,
        Err(Refusal(status, line)) => {
            let response = reply::text(status, &format!("{line}\n"));
            return if status == StatusCode::SERVICE_UNAVAILABLE { response.with_retry_after("5") } else { response };
        }
    };
    let (room, token) = seat;
    let scheme = if https { "wss" } else { "ws" };
    let answer = Answer {
        url: format!("{scheme}://{host}/ws?room={}&seat={token}", room.id),
        room: room.id,
        kind: room.kind,
        seat: token,
        expires_in: front.seats.ttl().as_secs(),
    };
    reply::json(StatusCode::OK, &answer).no_store()
}

async fn read_ask(request: Request<Incoming>, timeout: Duration) -> Result<Ask, HttpResponse> {
    let read = tokio::time::timeout(timeout, Limited::new(request.into_body(), MAX_BODY).collect());
    let bytes = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return Err(reply::text(StatusCode::PAYLOAD_TOO_LARGE, "a matchmaking body is at most 4 KiB\n")),
        Err(_) => return Err(reply::text(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n")),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Ask::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        reply::text(
            StatusCode::BAD_REQUEST,
            &format!("the body is JSON: {{ \"spectate\": bool, \"filters\": {{ … }} }} ({e})\n"),
        )
    })
}

/// Whether a room is open to `ask`: not full, and its metadata has every filter's value.
fn matches(room: &RoomInfo, ask: &Ask) -> bool {
    ask.filters.iter().all(|(key, value)| room.metadata.get(key) == Some(value))
}

/// Picks the room and reserves the seat, under the matchmaker's lock.
fn pick(front: &Front, op: &Op<'_>, ask: &Ask, subject: Option<&str>) -> Result<(RoomInfo, String), Refusal> {
    let _one_pick_at_a_time = front.matchmaking.pick.lock().unwrap_or_else(PoisonError::into_inner);
    let reserve = |room: &RoomInfo| {
        front.seats.reserve(&room.id, usize::from(room.max_clients), ask.spectate, subject).map(|t| (room.clone(), t))
    };
    let open = |kind: &str| -> Option<(RoomInfo, String)> {
        front.rooms.list(Some(kind)).iter().filter(|room| matches(room, ask)).find_map(reserve)
    };
    let create = |kind: &str| -> Result<(RoomInfo, String), Refusal> {
        let room = front.rooms.create(kind)?;
        reserve(&room).ok_or_else(|| Refusal(StatusCode::CONFLICT, format!("room {} takes no players", room.id)))
    };
    let known = |kind: &str| -> Result<(), Refusal> {
        match front.rooms.types().iter().any(|t| t == kind) {
            true => Ok(()),
            false => Err(CreateError::UnknownType(kind.to_owned(), front.rooms.types().join(", ")).into()),
        }
    };
    match *op {
        Op::JoinOrCreate(kind) => {
            known(kind)?;
            match open(kind) {
                Some(seat) => Ok(seat),
                None => create(kind),
            }
        }
        Op::Create(kind) => create(kind),
        Op::Join(kind) => {
            known(kind)?;
            open(kind).ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no open room of type {kind}")))
        }
        Op::JoinById(id) => {
            let room = valid_room_id(id)
                .then(|| front.rooms.info(id))
                .flatten()
                .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no room {id}")))?;
            reserve(&room).ok_or_else(|| Refusal(StatusCode::CONFLICT, format!("room {id} is full")))
        }
    }
}
