//! One bot: one tokio task and one WebSocket connection, from connect to close.
//!
//! A bot connects when the connect gate lets it (bounded concurrency), says `Hello`, and then
//! reads everything the server sends, counting it into its [`ClientSlot`]. A *decoding* bot
//! decodes every message with `shared::codec` and applies each snapshot to a
//! [`ClientState`], counting failures; the others only look at the first bytes (the variant
//! index, and a snapshot's `last_input_seq`), which is what keeps 5000 of them cheap. Every
//! bot pings once a second; in play mode it also sends one `Input` per tick (60 Hz) and
//! measures how long each input takes to show up as a snapshot's `last_input_seq`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use shared::arena::Input;
use shared::snapshot::wire::{SliceSource, get_varint};
use shared::{ClientMessage, ClientState, InputFrame, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use super::mode::Mode;
use super::stats::{ClientSlot, Shared};
use engine::games::blobs::Steer;
use engine::net::conditioner::{self, Conditioned, LinkConditioner};
use engine::splitmix::SplitMix;

/// Variant indices of `ServerMessage` (the first byte of each message: bincode writes indices
/// below 251 as one byte).
const WELCOME: u8 = 0;
const SNAPSHOT: u8 = codec::SNAPSHOT_VARIANT;
const PONG: u8 = 2;
const SCOREBOARD: u8 = 5;

/// Inputs between two turns of a playing bot (a second at the default 60 inputs a second).
const TURN_EVERY: u32 = 60;
/// Inputs a bot keeps send times for; older unacknowledged ones are dropped and counted.
const MAX_PENDING_INPUTS: usize = 600;
/// Pings a bot keeps send times for.
const MAX_PENDING_PINGS: usize = 16;
/// How long a bot waits for the server's close frame after sending its own.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A bot's WebSocket: over the TCP stream itself, or through the link conditioner.
type Ws = WebSocketStream<Conditioned<TcpStream>>;

/// What every bot of a run shares.
#[derive(Debug)]
pub(super) struct Common {
    /// The server's address (resolved once: every bot talks to that address only).
    pub addr: SocketAddr,
    /// The WebSocket URL, for the handshake's request line and `Host`.
    pub url: String,
    /// Spectate or play.
    pub mode: Mode,
    /// Bots with an index below this decode every message fully.
    pub decode: usize,
    /// Names are the prefix and the bot's index.
    pub name_prefix: String,
    /// Time between two pings; `None`: no pings.
    pub ping_interval: Option<Duration>,
    /// Bounds how many bots connect and join at once.
    pub gate: Arc<Semaphore>,
    /// Time from starting to connect until `Welcome`.
    pub join_timeout: Duration,
    /// The counters.
    pub shared: Arc<Shared>,
    /// Testing only: delays on each bot's connection (off by default).
    pub link: LinkConditioner,
    /// Play mode: inputs per second.
    pub input_hz: f64,
    /// Matchmaking: the room type to ask a seat in before each WebSocket.
    pub matchmake: Option<String>,
}

/// WebSocket settings of a bot. The server fragments anything over 2 KiB, so a 4 KiB read
/// buffer costs one read per fragment; tungstenite's default of 128 KiB would be 640 MB for
/// 5000 bots. Bots write tiny messages straight to the socket.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(codec::MAX_SERVER_MESSAGE_BYTES))
}

/// Runs bot `index` until the server ends its connection or `stop` turns true.
pub(super) async fn run(common: Arc<Common>, index: usize, mut stop: watch::Receiver<bool>) {
    let shared = common.shared.clone();
    let permit = tokio::select! {
        permit = common.gate.clone().acquire_owned() => match permit {
            Ok(permit) => permit,
            Err(_) => return,
        },
        _ = stop.wait_for(|s| *s) => return,
    };
    let began = Instant::now();
    let deadline = began + common.join_timeout;
    let connected = tokio::select! {
        result = tokio::time::timeout_at(deadline, connect(&common, index)) => result,
        _ = stop.wait_for(|s| *s) => return,
    };
    let ws = match connected {
        Ok(Ok(ws)) => ws,
        Ok(Err(reason)) => return shared.on_failed(index, false, reason),
        Err(_) => return shared.on_failed(index, false, "connect timeout".into()),
    };
    shared.on_connected(index);
    let Some(slot) = shared.slots.get(index) else { return };
    let mut bot = Bot {
        index,
        slot,
        shared: &shared,
        common: &common,
        permit: Some(permit),
        joined: false,
        settled: false,
        decoder: (index < common.decode).then(|| ClientState::new(shared::arena::schema(), 0)),
        join_bytes: Some(0),
        last_snapshot: None,
        pending_inputs: VecDeque::new(),
        pending_pings: VecDeque::new(),
        next_seq: 1,
        next_ping: 1,
        rng: SplitMix(0x9E37_79B9_7F4A_7C15 ^ index as u64),
        heading: 0.0,
        game: PlayedGame::Unknown,
        began,
    };
    bot.session(ws, deadline, stop).await;
}

/// Matchmaking (if asked), TCP connect and WebSocket handshake; the error is a short reason
/// for the failure table.
async fn connect(common: &Common, index: usize) -> Result<Ws, String> {
    let url = match &common.matchmake {
        None => common.url.clone(),
        Some(kind) => matchmake(common, kind).await?,
    };
    let stream = TcpStream::connect(common.addr).await.map_err(|e| format!("connect: {}", e.kind()))?;
    // Inputs and pings are tiny and latency is measured: no Nagle delay.
    let _ = stream.set_nodelay(true);
    // Conditioned from the first byte, so the handshake pays the simulated round trip too.
    let stream = conditioner::condition(stream, common.link, index as u64);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config())).await.map_err(
        |e| match e {
            WsError::Http(response) => format!("handshake: HTTP {}", response.status().as_u16()),
            WsError::Io(e) => format!("handshake: {}", e.kind()),
            e => format!("handshake: {e}"),
        },
    )?;
    Ok(ws)
}

/// `POST /matchmake/joinOrCreate/TYPE` on its own connection: the seat's WebSocket URL.
async fn matchmake(common: &Common, kind: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(common.addr).await.map_err(|e| format!("matchmake: {}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "POST /matchmake/joinOrCreate/{kind} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        common.addr
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("matchmake: {}", e.kind()))?;
    let mut response = Vec::with_capacity(512);
    stream.read_to_end(&mut response).await.map_err(|e| format!("matchmake: {}", e.kind()))?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1).unwrap_or("?");
    if status != "200" {
        return Err(format!("matchmake: HTTP {status}"));
    }
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let answer: serde_json::Value = serde_json::from_str(body).map_err(|_| "matchmake: not JSON".to_owned())?;
    answer["url"].as_str().map(str::to_owned).ok_or_else(|| "matchmake: no url".to_owned())
}

/// How a session loop ended.
enum Ending {
    /// The run is over: close politely.
    Stop,
    /// The server closed (with this code) or the connection failed; nothing more to send.
    Gone(String),
    /// No `Welcome` in time.
    JoinTimeout,
}

struct Bot<'a> {
    index: usize,
    slot: &'a ClientSlot,
    shared: &'a Shared,
    common: &'a Common,
    /// Held until joined, so that at most `--connect-concurrency` bots are joining at once.
    permit: Option<OwnedSemaphorePermit>,
    joined: bool,
    /// Whether this bot counted itself as done joining (see [`Shared::on_settled`]).
    settled: bool,
    /// The decoding bots' world; its tick rate is set from `Welcome`.
    decoder: Option<ClientState>,
    /// Bytes received from `Welcome` through the first snapshot; `None` once that arrived.
    join_bytes: Option<u64>,
    last_snapshot: Option<Instant>,
    /// (seq, sent at) of inputs no snapshot has acknowledged yet, in seq order.
    pending_inputs: VecDeque<(u32, Instant)>,
    /// (id, sent at) of pings without a pong yet.
    pending_pings: VecDeque<(u32, Instant)>,
    next_seq: u32,
    next_ping: u32,
    rng: SplitMix,
    heading: f32,
    /// The game the server runs, from `Welcome`: how a playing bot makes its input.
    game: PlayedGame,
    /// When it started to join (matchmaking or connecting).
    began: Instant,
}

/// The games a playing bot knows how to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlayedGame {
    /// Not known yet (no `Welcome`), or one the bots cannot play: no input is sent.
    Unknown,
    /// The arena: walk straight ahead.
    Arena,
    /// Blobs: point straight ahead, far enough for full speed.
    Blobs,
}

impl PlayedGame {
    fn of(welcome: &shared::Welcome) -> Self {
        match welcome.schema.game() {
            "arena" => PlayedGame::Arena,
            "blobs" => PlayedGame::Blobs,
            _ => PlayedGame::Unknown,
        }
    }
}

impl Bot<'_> {
    async fn session(&mut self, mut ws: Ws, join_deadline: Instant, mut stop: watch::Receiver<bool>) {
        let spectate = self.common.mode == Mode::Idle;
        let name = format!("{}{}", self.common.name_prefix, self.index);
        let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name, spectate };
        let ending = match codec::encode(&hello) {
            Ok(bytes) => match ws.send(Message::Binary(bytes.into())).await {
                Ok(()) => self.read_loop(&mut ws, join_deadline, &mut stop).await,
                Err(e) => Ending::Gone(abnormal(&e)),
            },
            Err(e) => Ending::Gone(format!("cannot encode Hello: {e}")),
        };
        self.permit = None;
        if self.joined {
            self.settle();
        }
        match ending {
            Ending::Stop => {
                self.shared.on_closed_by_us(self.index);
                let bye = CloseFrame { code: CloseCode::Normal, reason: "load test over".into() };
                let _ = tokio::time::timeout(CLOSE_GRACE, async {
                    if ws.close(Some(bye)).await.is_ok() {
                        // Read until the server's close frame completes the closing handshake.
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                })
                .await;
            }
            Ending::Gone(code) if self.joined => self.shared.on_ended(self.index, code),
            Ending::Gone(code) => {
                self.shared.on_close_before_join(code.clone());
                self.shared.on_failed(self.index, true, format!("closed before Welcome: {code}"));
            }
            Ending::JoinTimeout => self.shared.on_failed(self.index, true, "no Welcome in time".into()),
        }
    }

    async fn read_loop(&mut self, ws: &mut Ws, join_deadline: Instant, stop: &mut watch::Receiver<bool>) -> Ending {
        let start = Instant::now();
        // Spread the bots' pings over the interval, so 5000 do not ping in the same millisecond.
        let every = self.common.ping_interval.unwrap_or(Duration::from_secs(1));
        let spread = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        let phase = Duration::from_millis((self.index as u64).wrapping_mul(7919) % spread);
        let mut ping = tokio::time::interval_at(start + every + phase, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // One input per tick at 60 Hz, as a browser sends; --input-hz makes the clock fast or slow.
        let mut input = tokio::time::interval(Duration::from_secs_f64(1.0 / self.common.input_hz));
        input.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let play = self.common.mode == Mode::Play;
        let pings = self.common.ping_interval.is_some();
        let mut close_code: Option<String> = None;
        loop {
            if *stop.borrow() && close_code.is_none() {
                return Ending::Stop;
            }
            tokio::select! {
                message = ws.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => self.on_message(&bytes),
                    Some(Ok(Message::Text(text))) => self.count(text.len()),
                    Some(Ok(Message::Close(frame))) => {
                        // Keep reading: tungstenite answers the close, then the stream ends.
                        let code = frame.map_or(1005, |f| u16::from(f.code));
                        close_code.get_or_insert(code.to_string());
                    }
                    Some(Ok(_)) => {} // WebSocket ping/pong: tungstenite answers pings itself.
                    Some(Err(e)) => return Ending::Gone(close_code.unwrap_or_else(|| abnormal(&e))),
                    None => return Ending::Gone(close_code.unwrap_or_else(|| "none".into())),
                },
                _ = ping.tick(), if pings && self.joined && close_code.is_none() => {
                    let id = self.next_ping;
                    self.next_ping = self.next_ping.wrapping_add(1);
                    if self.pending_pings.len() == MAX_PENDING_PINGS {
                        self.pending_pings.pop_front();
                    }
                    self.pending_pings.push_back((id, Instant::now()));
                    if let Err(e) = send(ws, &ClientMessage::Ping { id }).await {
                        return Ending::Gone(close_after_send_error(ws, &e).await);
                    }
                }
                _ = input.tick(), if play && self.joined && self.game != PlayedGame::Unknown && close_code.is_none() => {
                    let message = self.next_input();
                    if let Err(e) = send(ws, &message).await {
                        return Ending::Gone(close_after_send_error(ws, &e).await);
                    }
                }
                _ = tokio::time::sleep_until(join_deadline), if !self.settled => {
                    if !self.joined {
                        return Ending::JoinTimeout;
                    }
                    // Joined but no snapshot yet (a paused replay sends none): stop holding up
                    // the connect phase.
                    self.settle();
                }
                _ = stop.changed(), if close_code.is_none() => return Ending::Stop,
            }
        }
    }

    /// The next input: straight ahead, turning to a new random heading every second.
    fn next_input(&mut self) -> ClientMessage {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if seq % TURN_EVERY == 1 {
            self.heading = self.rng.angle();
        }
        if self.pending_inputs.len() == MAX_PENDING_INPUTS {
            self.pending_inputs.pop_front();
            self.shared.inputs_unacknowledged.fetch_add(1, Ordering::Relaxed);
        }
        self.pending_inputs.push_back((seq, Instant::now()));
        self.shared.inputs_sent.fetch_add(1, Ordering::Relaxed);
        let (sin, cos) = self.heading.sin_cos();
        let ahead = Vec2::new(cos, sin);
        ClientMessage::Input(match self.game {
            PlayedGame::Blobs => InputFrame::new(seq, 0, &Steer { toward: ahead * 400.0 }),
            _ => InputFrame::new(seq, 0, &Input { movement: ahead, aim: self.heading, buttons: 0 }),
        })
    }

    fn count(&self, len: usize) {
        self.slot.bytes.fetch_add(len as u64, Ordering::Relaxed);
        self.slot.messages.fetch_add(1, Ordering::Relaxed);
        self.shared.frame_max.fetch_max(len as u64, Ordering::Relaxed);
    }

    fn on_message(&mut self, bytes: &[u8]) {
        let now = Instant::now();
        self.count(bytes.len());
        let variant = bytes.first().copied();
        if matches!(variant, Some(WELCOME | SNAPSHOT | SCOREBOARD))
            && let Some(join) = self.join_bytes.as_mut()
        {
            *join += bytes.len() as u64;
        }
        if self.decoder.is_some() {
            return self.decode(bytes, now);
        }
        match variant {
            Some(WELCOME) => {
                if let Ok(ServerMessage::Welcome(welcome)) = codec::decode_server(bytes) {
                    self.game = PlayedGame::of(&welcome);
                }
                self.on_welcome();
            }
            Some(SNAPSHOT) => {
                // Only the head: `last_input_seq` is the first LEB128 varint after the variant.
                let seq = get_varint(&mut SliceSource::new(&bytes[1..])).ok().and_then(|s| u32::try_from(s).ok());
                self.on_snapshot(seq, now);
            }
            Some(PONG) => {
                if let Ok(ServerMessage::Pong { id }) = codec::decode_server(bytes) {
                    self.on_pong(id, now);
                }
            }
            _ => {}
        }
    }

    /// A decoding bot's path: every message through the real decoder, every snapshot applied.
    fn decode(&mut self, bytes: &[u8], now: Instant) {
        // Snapshots follow the schema the server's Welcome named.
        let decoded = match &self.decoder {
            Some(state) => codec::decode_server_with(bytes, state.schema()),
            None => codec::decode_server(bytes),
        };
        let message = match decoded {
            Ok(message) => message,
            Err(_) => {
                self.shared.decode_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        self.shared.decoded.fetch_add(1, Ordering::Relaxed);
        match message {
            ServerMessage::Welcome(welcome) => {
                self.game = PlayedGame::of(&welcome);
                self.decoder = Some(ClientState::new(welcome.schema.clone(), welcome.tick_rate));
                self.on_welcome();
            }
            ServerMessage::Snapshot(snapshot) => {
                if let Some(state) = self.decoder.as_mut()
                    && state.apply(&snapshot).is_err()
                {
                    self.shared.decode_errors.fetch_add(1, Ordering::Relaxed);
                }
                self.on_snapshot(Some(snapshot.last_input_seq), now);
            }
            ServerMessage::Pong { id } => self.on_pong(id, now),
            _ => {}
        }
    }

    fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            self.shared.on_settled();
        }
    }

    fn on_welcome(&mut self) {
        if !self.joined {
            self.joined = true;
            self.permit = None;
            self.shared.on_joined(self.index);
        }
    }

    fn on_snapshot(&mut self, last_input_seq: Option<u32>, now: Instant) {
        self.slot.snapshots.fetch_add(1, Ordering::Relaxed);
        if let Some(join) = self.join_bytes.take() {
            self.shared.on_join_bytes(join);
            self.shared.join_time.record(now - self.began);
            self.settle();
        }
        if let Some(previous) = self.last_snapshot.replace(now) {
            self.shared.interarrival.record(now - previous);
        }
        if let Some(seq) = last_input_seq {
            // Every input up to `seq` has now been applied and shown back.
            while let Some(&(sent_seq, sent_at)) = self.pending_inputs.front() {
                if sent_seq > seq {
                    break;
                }
                self.pending_inputs.pop_front();
                self.shared.input_latency.record(now - sent_at);
            }
        }
    }

    fn on_pong(&mut self, id: u32, now: Instant) {
        while let Some((sent_id, sent_at)) = self.pending_pings.pop_front() {
            if sent_id == id {
                self.shared.ping_rtt.record(now - sent_at);
                break;
            }
        }
    }
}

async fn send(ws: &mut Ws, message: &ClientMessage) -> Result<(), WsError> {
    match codec::encode(message) {
        Ok(bytes) => ws.send(Message::Binary(bytes.into())).await,
        // Our own messages always encode; treat the impossible as a broken connection.
        Err(e) => Err(WsError::Io(std::io::Error::other(e))),
    }
}

/// The close table's key after a failed send: the server may have closed the connection
/// with a code we have not read yet (a rate limit, say), so read briefly for it.
async fn close_after_send_error(ws: &mut Ws, error: &WsError) -> String {
    let read_close = async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(frame) = message {
                return Some(frame.map_or(1005, |f| u16::from(f.code)));
            }
        }
        None
    };
    match tokio::time::timeout(Duration::from_secs(1), read_close).await {
        Ok(Some(code)) => code.to_string(),
        _ => abnormal(error),
    }
}

/// The close table's key for a connection that ended without a close frame.
fn abnormal(e: &WsError) -> String {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "none".into(),
        WsError::Io(e) => format!("none ({})", e.kind()),
        WsError::Protocol(_) => "none (protocol error)".into(),
        WsError::Capacity(_) => "none (message too big)".into(),
        _ => "none (error)".into(),
    }
}
